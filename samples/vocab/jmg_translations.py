#!/usr/bin/env python3
"""Write jmg_ms.csv (value,text): JMG's commodity codes with their Malay labels.

Usage: /usr/bin/python3 jmg_translations.py [METADATA_JSON] [OUT_CSV]
(defaults: ../data/deposits/malaysia_datagovmy_mineral_extraction_metadata_en_ms.json and
jmg_ms.csv beside this script).

The labels are data.gov.my's translations_ms map (CC BY 4.0, JMG/DOSM via data.gov.my),
taken as they are.  Its keys use hyphens where the data's values use underscores
("iron-ore" for iron_ore; "tin_ore" already has one): each key is written with its
hyphens made underscores, the only change.  Labels left in English upstream ("Tin Ore",
"Monazite (Rare Earth)") stay so: lode's vocabularies decide what they name.
"""
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "data", "deposits", "malaysia_datagovmy_mineral_extraction_metadata_en_ms.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "jmg_ms.csv")
with open(src, encoding="utf-8") as f:
    ms = json.load(f)["translations_ms"]
with open(dst, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["value", "text"])
    for key in sorted(ms):
        w.writerow([key.replace("-", "_"), ms[key]])
