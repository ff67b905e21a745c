#!/usr/bin/env python3
"""Make the deposit files of samples/data/deposits from the collected originals.

Usage: /usr/bin/python3 subset.py SRC_DIR [OUT_DIR]     (OUT_DIR: this script's folder)

SRC_DIR holds the files described in PROVENANCE.md (here: the copies collected in
/work/shared/data/deposits).  Rows are cut, never changed (bytes of kept rows, BOM and
line ends as in the original):
  * usgs_pp1802_critical_minerals_world.csv: the header, every row whose LOCATION is a
    South-East Asian country, and the first 5 rows whose CRITICAL_MINERAL names
    "Niobium and Tantalum", the first 2 naming "Platinum-Group Elements" and the first
    2 naming "Zirconium and Hafnium" (group names a field map must split or map).
  * mrds_grouped_tungsten_greatbasin_GBW.csv: the header and the first 100 records.
  * every other file: copied whole.
"""
import csv
import io
import os
import shutil
import sys

SEA = {"Malaysia", "Indonesia", "Thailand", "Myanmar", "Burma", "Vietnam", "Laos", "Cambodia",
       "Philippines", "Brunei", "Singapore", "Timor-Leste"}
WHOLE = ["malaysia_jmg_mineral_extraction_by_state_2016_2021.csv",
         "malaysia_datagovmy_mineral_extraction_metadata_en_ms.json",
         "mrds_commodity_codes.csv", "usgs_ofr20051294_SEAsia.geojson", "usgs_ree_SEAsia.geojson"]


def records(path):
    """(raw text, parsed row) per CSV record, the header first (a quoted field may hold a
    line end: lines are gathered until they parse as one record)."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    out, buf = [], ""
    for line in lines:
        buf += line
        if buf.count('"') % 2:
            continue
        out.append((buf, next(csv.reader(io.StringIO(buf, newline="")))))
        buf = ""
    return out


def main():
    src = sys.argv[1]
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    for name in WHOLE:
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    recs = records(os.path.join(src, "usgs_pp1802_critical_minerals_world.csv"))
    head, keep, quota = recs[0], [], {"Niobium and Tantalum": 5, "Platinum-Group Elements": 2,
                                      "Zirconium and Hafnium": 2}
    col = {n: i for i, n in enumerate(head[1])}
    for raw, row in recs[1:]:
        take = row[col["LOCATION"]] in SEA
        for g in quota:
            if g in row[col["CRITICAL_MINERAL"]].split("; ") and quota[g] > 0 and not take:
                quota[g] -= 1
                take = True
        if take:
            keep.append(raw)
    with open(os.path.join(dst, "usgs_pp1802_critical_minerals_SEAsia.csv"), "w", encoding="utf-8",
              newline="") as f:
        f.write(head[0] + "".join(keep))
    recs = records(os.path.join(src, "mrds_grouped_tungsten_greatbasin_GBW.csv"))
    with open(os.path.join(dst, "mrds_grouped_tungsten_greatbasin_GBW_100.csv"), "w", encoding="utf-8",
              newline="") as f:
        f.write("".join(raw for raw, _ in recs[:101]))


if __name__ == "__main__":
    main()
