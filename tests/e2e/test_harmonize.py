#!/usr/bin/python3
"""Harmonized deposit records (issue 16; docs/harmonize.md).

samples/deposits.yaml maps real records (samples/data/deposits) onto the deposit_site
schema and a production table.  The expected URIs are looked up in lode's copy of the
CGI vocabulary (vocab/CommodityCode.csv) with Python's csv module, by code or by Malay
label as data.gov.my's metadata gives it; the bundle is read back through lode extract
and GDAL (ogr), h5py and tests/bundle_digest.py.

Same runner, flags and output as test_raster.py.
"""
import csv
import hashlib
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from lodetest import Skip, assert_no_crash, lode, lode_ok, main, test, write_manifest  # noqa: E402

import bundle_digest as bd  # noqa: E402
from osgeo import ogr  # noqa: E402

ogr.UseExceptions()

SAMPLES = os.path.join(REPO, "samples")
DEPOSITS = os.path.join(SAMPLES, "deposits.yaml")
DATA = os.path.join(SAMPLES, "data", "deposits")
VOCAB = os.path.join(REPO, "vocab", "CommodityCode.csv")
NIL = "http://www.opengis.net/def/nil/ogc/0/unknown"
TARGET = {"crs": "EPSG:4326", "bounds": [-180, -90, 180, 90], "resolution": 1}


def cgi_rows():
    with open(VOCAB, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def by_code(code):
    hits = [r["uri"] for r in cgi_rows() if r["code"] == code]
    assert len(hits) == 1, "code %s: %r in %s" % (code, hits, VOCAB)
    return hits[0]


def by_malay(label):
    hits = [r["uri"] for r in cgi_rows()
            if label.lower() in [x.strip().lower() for x in r["labels_ms"].split(";")]]
    assert len(hits) == 1, "Malay label %s: %r in %s" % (label, hits, VOCAB)
    return hits[0]


def deposits(ctx):
    """samples/deposits.yaml run once: the bundle and its extract (GeoPackages)."""
    if "dep" in ctx.cache:
        if isinstance(ctx.cache["dep"], Exception):
            raise ctx.cache["dep"]
        return ctx.cache["dep"]
    tdir = os.path.join(ctx.work, "_fixtures", "deposits")
    shutil.rmtree(tdir, ignore_errors=True)
    os.makedirs(tdir)
    try:
        out = os.path.join(tdir, "deposits.nc")
        lode_ok(ctx, ["run", DEPOSITS, "-o", out, "-q"], tdir)
        lode_ok(ctx, ["verify", out, "-q"], tdir)
        lode_ok(ctx, ["extract", out, "-o", os.path.join(tdir, "x"), "-q"], tdir)
        fx = {"dir": tdir, "bundle": out, "x": os.path.join(tdir, "x")}
    except (Skip, AssertionError, RuntimeError) as e:
        ctx.cache["dep"] = AssertionError("fixture: %s" % e)
        raise ctx.cache["dep"]
    ctx.cache["dep"] = fx
    return fx


def ogr_list(v):
    """A list field as OGR reads it back from a GeoPackage: "(N:a,b,...)" (GPKG has no
    list type; ogr2ogr writes the same, docs/harmonize.md), or None."""
    if v is None or isinstance(v, list):
        return v
    assert v.startswith("(") and v.endswith(")") and ":" in v, v
    n, items = v[1:-1].split(":", 1)
    out = items.split(",") if items else []
    assert len(out) == int(n), v
    return out


def rows(gpkg, layer, where=None):
    ds = ogr.Open(gpkg)
    lyr = ds.GetLayerByName(layer)
    if where:
        lyr.SetAttributeFilter(where)
    out = []
    for f in lyr:
        defn = lyr.GetLayerDefn()
        out.append({defn.GetFieldDefn(i).GetName():
                    ogr_list(f.GetField(i)) if defn.GetFieldDefn(i).GetName().startswith("commodities")
                    else f.GetField(i) for i in range(f.GetFieldCount())})
    return out


def one(gpkg, layer, where):
    r = rows(gpkg, layer, where)
    assert len(r) == 1, "%s %s: %d rows" % (layer, where, len(r))
    return r[0]


def lineage(bundle, name, table=False):
    import h5py
    with h5py.File(bundle, "r") as f:
        v = f["%s/%s" % (name, name)] if table else f[name]
        a = v.attrs["lode_lineage"]
        return json.loads(a.decode() if isinstance(a, bytes) else a)


@test
def test_named_records(ctx, tdir):
    fx = deposits(ctx)
    x = fx["x"]
    sn, au, ag, cu, w = (by_code(c) for c in ("Sn", "Au", "Ag", "Cu", "W"))
    ofr = os.path.join(x, "sites_ofr20051294.gpkg")
    kinta = one(ofr, "sites_ofr20051294", "name = 'Kinta Valley'")
    assert kinta["commodities"] == [sn], kinta
    assert kinta["commodities_original"] == ["Sn"], kinta
    mamut = one(ofr, "sites_ofr20051294", "name = 'Mamut'")
    assert sorted(mamut["commodities"]) == sorted([cu, ag, au]), mamut
    assert mamut["commodities_original"] == ["Ag", "Au", "Cu"], mamut
    pp = os.path.join(x, "sites_pp1802.gpkg")
    gb = one(pp, "sites_pp1802", "name = 'Greenbushes'")
    assert gb["commodities"] == [by_code(c) for c in ("Be", "Li", "Nb", "Ta", "Sn")], gb
    assert gb["identifier"].startswith("https://mrdata.usgs.gov/pp1802/record/"), gb
    # REE database: minerals (a JSON list of {role, abbr, name}), the ree and ore ones
    # mapped through the mineral -> commodity map, in the source's order.
    ree = os.path.join(x, "sites_ree.gpkg")
    bb = one(ree, "sites_ree", "name = 'Batang Berjuntai area'")
    assert bb["commodities_original"] == ["monazite", "xenotime", "cassiterite", "ilmenite", "zircon",
                                          "rutile"], bb
    assert bb["commodities"] == [by_code(c) for c in ("REE", "REE", "Sn", "Ilm", "Zir", "TiRt")], bb
    # World phosphate database: symbol arrays; P is CGI's code P ("phosphorous", the
    # element), not phosphate rock (PhosR): docs/harmonize.md section 7.
    ph = os.path.join(x, "sites_phosphate.gpkg")
    ch = one(ph, "sites_phosphate", "name = 'Chuping'")
    assert ch["commodities"] == [by_code("P")] and ch["commodities_original"] == ["P"], ch
    assert ch["identifier"] == "http://mrdata.usgs.gov/phosphate/record/1499" and ch["source_id"] == "1499", ch
    assert ch["deposit_model"] == NIL and ch["deposit_model_original"] == \
        "Guano and replacement by guano-derived phosphate", ch
    with open(os.path.join(DATA, "usgs_phosphate_SEAsia.geojson"), encoding="utf-8") as f:
        src = {ft["id"]: ft["properties"] for ft in json.load(f)["features"]}
    got = rows(ph, "sites_phosphate")
    assert len(got) == len(src) and {"Al", "P"} in [set(p["commodity"]) for p in src.values()], len(got)
    for r in got:
        assert r["commodities"] == [by_code(c) for c in src[r["identifier"]]["commodity"]], r
    mrds = os.path.join(x, "sites_mrds.gpkg")
    alh = one(mrds, "sites_mrds", "name = 'Alhambra Mine'")
    assert alh["commodities"] == [au, ag, w], alh
    assert alh["commodities_original"] == ["AU", "AG", "W"], alh


@test
def test_malay_labels_and_user_map(ctx, tdir):
    fx = deposits(ctx)
    meta = json.load(open(os.path.join(DATA, "malaysia_datagovmy_mineral_extraction_metadata_en_ms.json"),
                          encoding="utf-8"))["translations_ms"]
    assert meta["gold"] == "Emas" and meta["bauxite"] == "Bauksit", meta
    prod = os.path.join(fx["x"], "production_by_state.gpkg")
    allrows = rows(prod, "production_by_state")

    def uris_of(code):
        return {tuple(r["commodities"]) for r in allrows if r["commodities_original"] and
                set(r["commodities_original"]) == {code}}
    for code in ("gold", "bauxite", "coal", "silver"):
        assert uris_of(code) == {(by_malay(meta[code]),)}, (code, uris_of(code))
    assert uris_of("tin_ore") == {(by_code("Sn"),)}, uris_of("tin_ore")
    # National totals left out: every state row of the source, none of "Malaysia".
    with open(os.path.join(DATA, "malaysia_jmg_mineral_extraction_by_state_2016_2021.csv"),
              encoding="utf-8-sig", newline="") as f:
        src = [x for x in csv.DictReader(f) if x["state"] != "Malaysia"]
    assert len(allrows) == len(src) and not [x for x in allrows if x["state"] == "Malaysia"], (len(allrows), len(src))
    # One value, two concepts (the user map's "A|B"): struverite -> niobium and tantalum,
    # its original beside each URI; a code without a concept kept with the nil reason.
    assert uris_of("struverite") == {(by_code("Nb"), by_code("Ta"))}, uris_of("struverite")
    assert {tuple(r["commodities_original"]) for r in allrows if "struverite" in r["commodities_original"]} == \
        {("struverite", "struverite")}
    assert uris_of("earth_materials") == {(NIL,)}, uris_of("earth_materials")
    y = [r for r in allrows if r["state"] == "Perak" and r["commodities_original"] == ["tin_ore"] and
         r["year"] == "2016/01/01"]
    assert len(y) == 1 and y[0]["production"] == 3182.0, y   # the source row: Perak,metallic,tin_ore,1/1/16,3182
    # Counts stay exact: a value mapped to two URIs is one value, mapped, counted in 'several'.
    c = {x["field"]: x for x in lineage(fx["bundle"], "production_by_state", table=True)["harmonize"]["counts"]}
    nstru = sum(1 for x in src if x["commodity"] == "struverite")
    nearth = sum(1 for x in src if x["commodity"] == "earth_materials")
    assert nstru > 0 and c["commodities"]["several"] == nstru, (nstru, c)
    assert c["commodities"]["values"] == len(src) and c["commodities"]["unmapped"] == nearth, (c, nearth)
    assert c["commodities"]["mapped"] == len(src) - nearth, c


@test
def test_several_uris_refused_in_one_uri_field(ctx, tdir):
    src = os.path.join(tdir, "s.csv")
    voc = os.path.join(tdir, "v.csv")
    nb, ta = by_code("Nb"), by_code("Ta")
    with open(src, "w") as f:
        f.write("id,product\n1,Tin\n2,struverite\n")
    with open(voc, "w") as f:
        f.write("value,uri\nstruverite,%s | %s\n" % (nb, ta))
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, TARGET, [{"name": "s", "source": src}])
    with open(man, "a") as f:
        f.write("    harmonize:\n      vocabularies: {u: %s, c: cgi:CommodityCode}\n"
                "      fields: [{name: commodity, from: product, vocabulary: [u, c]}]\n" % voc)
    out = os.path.join(tdir, "s.nc")
    r = lode(ctx, ["run", man, "-o", out, "-q"], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "'struverite' maps to several concepts" in r.err and "list: true" in r.err, r.brief()
    assert "field 'commodity'" in r.err and nb in r.err and ta in r.err and not os.path.exists(out), r.err
    with open(man) as f:
        text = f.read()
    with open(man, "w") as f:
        f.write(text.replace("vocabulary: [u, c]}", "vocabulary: [u, c], list: true}"))
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    x = os.path.join(tdir, "x")
    lode_ok(ctx, ["extract", out, "-o", x, "-q"], tdir)
    got = [(ogr_list(r["commodity"]), ogr_list(r["commodity_original"])) for r in rows(os.path.join(x, "s.gpkg"), "s")]
    assert got == [([by_code("Sn")], ["Tin"]), ([nb, ta], ["struverite", "struverite"])], got
    # Several rows with one value stay ambiguous: refused, naming both.
    with open(voc, "w") as f:
        f.write("value,uri\nstruverite,%s\nstruverite,%s\n" % (nb, ta))
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "t.nc"), "-q"], tdir)
    assert r.rc == 1 and "ambiguous" in r.err and nb in r.err and ta in r.err, r.brief()


COUNTRY = os.path.join(SAMPLES, "vocab", "country.csv")
ISO_CODES = "/usr/share/iso-codes/json/iso_3166-1.json"   # Debian's iso-codes, when installed


def country_of(name):
    """The code samples/vocab/country.csv gives a spelling, looked up here with csv."""
    with open(COUNTRY, encoding="utf-8", newline="") as f:
        hits = [r["uri"] for r in csv.DictReader(f)
                if name.strip().lower() in [x.strip().lower() for x in
                                            [r["code"], r["label_en"]] + r["labels_en_alt"].split(";")]]
    assert len(hits) == 1, "country %r: %r in %s" % (name, hits, COUNTRY)
    return hits[0]


@test
def test_country_names_normalised(ctx, tdir):
    # The map's codes and names are ISO 3166-1's (Debian iso-codes), where installed.
    with open(COUNTRY, encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    if os.path.exists(ISO_CODES):
        iso = {c["alpha_2"]: c for c in json.load(open(ISO_CODES, encoding="utf-8"))["3166-1"]}
        for r in table:
            c = iso[r["uri"]]
            assert r["code"] == c["alpha_3"] and r["label_en"] == c["name"], (r, c)
            for k in ("official_name", "common_name"):
                assert k not in c or c[k] == r["label_en"] or c[k] in r["labels_en_alt"].split(";"), (r, c)
    assert country_of("Burma") == country_of("Myanmar") == country_of("Union of Myanmar") == "MM"
    # The bundle: every site's country is the map's code for its source's spelling; the
    # USGS databases' "Burma" (OFR 2005-1294, REE) and PP 1802's "Myanmar" are one value.
    fx = deposits(ctx)
    seen = {}
    for layer in ("sites_ofr20051294", "sites_ree", "sites_phosphate", "sites_pp1802"):
        for r in rows(os.path.join(fx["x"], layer + ".gpkg"), layer):
            assert r["country"] == country_of(r["country_original"]), (layer, r)
            seen.setdefault(r["country"], set()).add(r["country_original"])
    assert seen["MM"] == {"Burma", "Myanmar"} and seen["VN"] == {"Vietnam"}, seen
    assert {r["country"] for r in rows(os.path.join(fx["x"], "sites_mrds.gpkg"), "sites_mrds")} == {"US"}
    # Three spellings in one layer come out as one value, each kept as the source wrote it.
    src = os.path.join(tdir, "c.csv")
    spellings = ["Burma", "Myanmar", "Union of Myanmar", "  MYANMAR (burma) ", "Viet Nam", "Vietnam"]
    with open(src, "w") as f:
        f.write("id,country\n" + "".join('%d,"%s"\n' % (i, v) for i, v in enumerate(spellings)))
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, TARGET, [{"name": "c", "source": src}])
    with open(man, "a") as f:
        f.write("    harmonize:\n      vocabularies: {country: %s}\n"
                "      fields: [{name: country, vocabulary: country}]\n" % COUNTRY)
    out = os.path.join(tdir, "c.nc")
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    lode_ok(ctx, ["extract", out, "-o", os.path.join(tdir, "x"), "-q"], tdir)
    got = [(r["country"], r["country_original"]) for r in rows(os.path.join(tdir, "x", "c.gpkg"), "c")]
    assert got == [("MM", "Burma"), ("MM", "Myanmar"), ("MM", "Union of Myanmar"), ("MM", "MYANMAR (burma)"),
                   ("VN", "Viet Nam"), ("VN", "Vietnam")], got
    c = lineage(out, "c", table=True)["harmonize"]["counts"][0]
    assert c["mapped"] == 6 and c["unmapped"] == 0, c
    # A spelling the map lacks is refused (the default), named.
    with open(src, "a") as f:
        f.write("9,Birma\n")
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "d.nc"), "-q"], tdir)
    assert r.rc == 1 and "'Birma' (1)" in r.err, r.brief()


@test
def test_unknown_refused_with_counts(ctx, tdir):
    src = os.path.join(DATA, "malaysia_jmg_mineral_extraction_by_state_2016_2021.csv")
    man = os.path.join(tdir, "m.yaml")
    with open(man, "w") as f:
        f.write("target: {crs: EPSG:4326, bounds: [-180, -90, 180, 90], resolution: 1}\n"
                "datasets:\n  - name: prod\n    source: %s\n    where: \"state <> 'Malaysia'\"\n"
                "    harmonize:\n      vocabularies: {commodity: cgi:CommodityCode}\n"
                "      fields:\n        - {name: commodity, from: commodity, vocabulary: commodity}\n" % src)
    out = os.path.join(tdir, "p.nc")
    r = lode(ctx, ["run", man, "-o", out, "-q"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    # Counted from the source with csv: each unmatched code appears 16 states x 6 years.
    with open(src, encoding="utf-8-sig", newline="") as f:
        codes = [x["commodity"] for x in csv.DictReader(f) if x["state"] != "Malaysia"]
    names = {n.strip().lower() for row in cgi_rows()
             for n in [row["label_en"], row["code"]] + row["labels_ms"].split(";") + row["labels_en_alt"].split(";")}
    unmapped = sorted({c for c in codes if c.lower() not in names})
    assert "tin_ore" in unmapped and "struverite" in unmapped, unmapped
    for c in unmapped:
        assert "'%s' (%d)" % (c, codes.count(c)) in r.err, (c, r.err)
    assert "%d values in %d distinct forms" % (sum(codes.count(c) for c in unmapped), len(unmapped)) in r.err, r.err
    assert not os.path.exists(out), "a refused run left its bundle"
    # A rule's own policy over the dataset's: nil on the rule keeps them, counted ...
    text = open(man).read()
    with open(man, "w") as f:
        f.write(text.replace("vocabulary: commodity}", "vocabulary: commodity, unmapped: nil}"))
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    c = lineage(out, "prod", table=True)["harmonize"]["counts"][0]
    assert c["unmapped"] == sum(codes.count(x) for x in unmapped) and c["unmapped_kept"] is True, c
    # ... refuse on the rule refuses them under a dataset's nil.
    with open(man, "w") as f:
        f.write(text.replace("vocabulary: commodity}", "vocabulary: commodity, unmapped: refuse}")
                .replace("      fields:", "      unmapped: nil\n      fields:"))
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "q.nc"), "-q"], tdir)
    assert r.rc == 1 and "'struverite' (%d)" % codes.count("struverite") in r.err, r.brief()


@test
def test_field_map_within_max_memory(ctx, tdir):
    """--max-memory counts what the field map makes beside the layer as read: a table
    that reads within the bound but whose copied text would not fit is refused, naming
    the dataset, the field and the bound, and leaves no bundle; a larger bound gives the
    same bytes as no bound."""
    src = os.path.join(tdir, "big.csv")
    with open(src, "w", encoding="utf-8") as f:
        f.write("site_id,commodity,note\n")
        for i in range(10000):
            f.write("S%05d,%s,%s\n" % (i, ("Au", "Sn", "Cu")[i % 3], ("note %05d " % i) * 20))
    man = os.path.join(tdir, "m.yaml")
    with open(man, "w") as f:
        f.write("target: {crs: EPSG:4326, bounds: [-180, -90, 180, 90], resolution: 1}\n"
                "datasets:\n  - name: big\n    source: %s\n"
                "    harmonize:\n      vocabularies: {commodity: cgi:CommodityCode}\n"
                "      fields:\n        - {name: site_id, from: site_id}\n"
                "        - {name: commodity, from: commodity, vocabulary: commodity}\n"
                "        - {name: note, from: note}\n" % src)
    out = os.path.join(tdir, "b.nc")
    # The notes alone are 10000 x 221 bytes: about 2 MB read, more once copied.
    r = lode(ctx, ["run", man, "-o", out, "--max-memory", "3M"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    for want in ("dataset 'big'", "field map (harmonize:)", "by field '", "--max-memory allows (3.0 MB)"):
        assert want in r.err, (want, r.err)
    assert not os.path.exists(out), "a refused run left its bundle"
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    lode_ok(ctx, ["run", man, "-o", os.path.join(tdir, "c.nc"), "-q", "--max-memory", "16M"], tdir)
    assert open(out, "rb").read() == open(os.path.join(tdir, "c.nc"), "rb").read(), \
        "the bundle differs with --max-memory 16M"
    ds = ogr.Open(out)  # GDAL names a table group by its path
    t = ds.GetLayerByName("/big") or ds.GetLayerByName("big")
    assert t is not None and t.GetFeatureCount() == 10000, t and t.GetFeatureCount()
    assert t.GetNextFeature().GetField("note") == ("note %05d " % 0) * 20


@test
def test_ambiguous_refused(ctx, tdir):
    src = os.path.join(tdir, "k.csv")
    with open(src, "w") as f:
        f.write("id,komoditi\n1,Kalium\n")
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, TARGET, [{"name": "k", "source": src}])
    with open(man, "a") as f:
        f.write("    harmonize:\n      vocabularies: {c: cgi:CommodityCode}\n"
                "      fields: [{name: k, from: komoditi, vocabulary: c}]\n")
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "k.nc"), "-q"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    for uri in [x["uri"] for x in cgi_rows() if "kalium" in x["labels_ms"].split(";")]:
        assert uri in r.err, (uri, r.err)
    assert "ambiguous" in r.err, r.err


@test
def test_lineage_and_digest_follow_vocabulary(ctx, tdir):
    fx = deposits(ctx)
    lin = lineage(fx["bundle"], "production_by_state", table=True)
    h = lin["harmonize"]
    files = {v["name"]: v for v in h["vocabularies"] + h["translations"]}
    for name, path in (("commodity", VOCAB), ("jmg", os.path.join(SAMPLES, "vocab", "jmg_commodity.csv")),
                       ("jmg_ms", os.path.join(SAMPLES, "vocab", "jmg_ms.csv"))):
        want = hashlib.sha256(open(path, "rb").read()).hexdigest()
        assert files[name]["sha256"] == want, (name, files[name], want)
    assert files["commodity"]["version"].startswith("cgi-vocabs@8c732a1d"), files["commodity"]
    assert [r["name"] for r in h["fields"]] == ["state", "commodities", "year", "production"], h["fields"]
    assert h["fields"][1]["list"] is True, h["fields"]
    assert h["fields"][2]["date"] == "%m/%d/%y", h["fields"]
    counts = {c["field"]: c for c in h["counts"]}
    assert counts["commodities"]["values"] == 1980 and counts["commodities"]["mapped"] + \
        counts["commodities"]["unmapped"] == 1980, counts
    assert lineage(fx["bundle"], "sites_mrds")["schema"] == {"name": "deposit_site", "version": "1.1"}
    ls = lode_ok(ctx, ["ls", fx["bundle"]], fx["dir"]).out
    c = counts["commodities"]
    assert "mapped:     commodities: %d mapped, %d unmapped (nil), %d empty" % (
        c["mapped"], c["unmapped"], c["empty"]) in ls, ls
    assert ls.count("schema:     deposit_site 1.1") == 5, ls
    # A changed user vocabulary (one row added) changes the plan's key and the bundle.
    d = os.path.join(tdir, "s")
    shutil.copytree(SAMPLES, d, ignore=shutil.ignore_patterns("generated", "*.tif", "*.nc"))
    keys = []
    for step in (0, 1):
        if step:
            with open(os.path.join(d, "vocab", "jmg_commodity.csv"), "a") as f:
                f.write("Bahan Bumi,http://resource.geosciml.org/classifier/cgi/commodity-code/earth-materials,x\n")
        w = os.path.join(tdir, "w%d" % step)
        lode_ok(ctx, ["plan", os.path.join(d, "deposits.yaml"), "-w", w, "-q"], tdir)
        plan = json.load(open(os.path.join(w, "plan.json")))
        keys.append({x["name"]: x["key"] for x in plan["datasets"]})
        out = os.path.join(tdir, "b%d.nc" % step)
        lode_ok(ctx, ["run", os.path.join(d, "deposits.yaml"), "-o", out, "-q"], tdir)
        keys[-1]["digest"] = bd.bundle_digest(out)
    assert keys[0]["production_by_state"] != keys[1]["production_by_state"], keys
    assert keys[0]["sites_mrds"] == keys[1]["sites_mrds"], keys
    assert keys[0]["digest"] != keys[1]["digest"], keys


@test
def test_staged_equals_run(ctx, tdir):
    fx = deposits(ctx)
    w = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", DEPOSITS, "-w", w, "-q"], tdir)
    lode_ok(ctx, ["reproject", "-w", w, "-q"], tdir)
    out = os.path.join(tdir, "staged.nc")
    lode_ok(ctx, ["package", "-w", w, "-o", out, "-q"], tdir)
    assert bd.bundle_digest(out) == bd.bundle_digest(fx["bundle"]), "staged and run bundles differ"


@test
def test_units_and_dates_exact(ctx, tdir):
    src = os.path.join(tdir, "g.csv")
    with open(src, "w") as f:
        f.write("id,ppm,pct,gt,mt,d\n1,250,0.1,3.5,1.5,1/1/16\n2,1,2.5,0.25,0.004,12/31/99\n3,,,,,\n")
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, TARGET, [{"name": "g", "source": src}])
    with open(man, "a") as f:
        f.write("    harmonize:\n      fields:\n"
                "        - {name: pct_from_ppm, from: ppm, convert: ppm_to_percent}\n"
                "        - {name: ppm_from_pct, from: pct, convert: percent_to_ppm}\n"
                "        - {name: ppm_from_gt, from: gt, convert: g_per_t_to_ppm}\n"
                "        - {name: t_from_mt, from: mt, convert: Mt_to_t}\n"
                "        - {name: day, from: d, date: \"%m/%d/%y\"}\n")
    out = os.path.join(tdir, "g.nc")
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    lode_ok(ctx, ["extract", out, "-o", os.path.join(tdir, "x"), "-q"], tdir)
    r = rows(os.path.join(tdir, "x", "g.gpkg"), "g")
    assert [x["pct_from_ppm"] for x in r] == [250 / 10000, 1 / 10000, None], r
    assert [x["ppm_from_pct"] for x in r] == [0.1 * 10000, 2.5 * 10000, None], r
    assert [x["ppm_from_gt"] for x in r] == [3.5, 0.25, None], r
    assert [x["t_from_mt"] for x in r] == [1.5e6, 4000.0, None], r
    assert r[0]["pct_from_ppm"] == 0.025 and r[1]["t_from_mt"] == 4000.0, r
    assert [x["day"] for x in r] == ["2016/01/01", "1999/12/31", None], r
    # A date that does not exist is refused, naming the feature.
    with open(src, "w") as f:
        f.write("id,ppm,pct,gt,mt,d\n1,250,0.1,3.5,1.5,2/29/21\n")
    rr = lode(ctx, ["run", man, "-o", os.path.join(tdir, "bad.nc"), "-q"], tdir)
    assert rr.rc == 1 and "feature 1: '2/29/21' is not a date" in rr.err, rr.brief()


@test
def test_manifest_errors(ctx, tdir):
    man = os.path.join(tdir, "m.yaml")
    with open(man, "w") as f:
        f.write("target: {crs: EPSG:4326, bounds: [-180, -90, 180, 90], resolution: 1}\n"
                "datasets:\n  - name: s\n    source: x.csv\n    schema: deposit_site\n"
                "    harmonize:\n      vocabularies: {c: cgi:CommodityCod}\n"
                "      fields:\n"
                "        - {name: a, from: x, vocabulay: c}\n"
                "        - {name: b, from: x, convert: ppm_to_percnt}\n"
                "        - {name: c, from: x, vocabulary: nope}\n"
                "        - {name: d, from: x, date: \"%q\"}\n"
                "        - {name: e, from: x, list: true}\n"
                "        - {name: f, from: x, vocabulary: c, list: yes}\n")
    r = lode(ctx, ["plan", man], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    for want in ("m.yaml:7:", "not a built-in vocabulary", "m.yaml:9:", "did you mean 'vocabulary'",
                 "m.yaml:10:", "did you mean 'ppm_to_percent'", "vocabulary 'nope' is not one of",
                 "m.yaml:12:", "not a date format", "m.yaml:13:", "field 'e': list (a list of URIs) goes with "
                 "vocabulary", "m.yaml:14:", "expected true or false"):
        assert want in r.err, (want, r.err)
    # A from field the layer lacks: named at plan with its rule's line and the fields it has.
    src = os.path.join(DATA, "usgs_ofr20051294_SEAsia.geojson")
    with open(man, "w") as f:
        f.write("target: {crs: EPSG:4326, bounds: [-180, -90, 180, 90], resolution: 1}\n"
                "datasets:\n  - name: s\n    source: %s\n"
                "    harmonize:\n      fields:\n"
                "        - {name: n, from: depname}\n" % src)
    r = lode(ctx, ["plan", man], tdir)
    assert r.rc == 1, r.brief()
    assert "m.yaml:3: dataset 's': harmonize: the layer has no field 'depname' (field 'n', line 7)" in r.err, r.err
    assert "dep_name" in r.err, r.err
    # A field map that does not fit the schema: every misfit named.
    src = os.path.join(DATA, "usgs_ofr20051294_SEAsia.geojson")
    with open(man, "w") as f:
        f.write("target: {crs: EPSG:4326, bounds: [-180, -90, 180, 90], resolution: 1}\n"
                "datasets:\n  - name: s\n    source: %s\n    schema: deposit_site\n"
                "    harmonize:\n      fields:\n"
                "        - {name: identifier, from: id}\n"
                "        - {name: name, from: dep_name}\n"
                "        - {name: last_updated, from: id, type: Integer}\n"
                "        - {name: extra, from: id}\n" % src)
    r = lode(ctx, ["plan", man], tdir)
    assert r.rc == 1, r.brief()
    for want in ("does not fit schema deposit_site 1.1", "source_id (String): not made",
                 "commodities (StringList): not made", "last_updated (Date): made with another type",
                 "extra (line 11): not in the schema"):
        assert want in r.err, (want, r.err)


@test
def test_schema_command(ctx, tdir):
    fx = deposits(ctx)
    r = lode_ok(ctx, ["schema", "--json"], tdir)
    s = json.loads(r.out)
    assert [x["name"] for x in s] == ["deposit_site"], s
    names = [f["name"] for f in s[0]["fields"]]
    got = [k for k in rows(os.path.join(fx["x"], "sites_mrds.gpkg"), "sites_mrds")[0]]
    assert [k for k in got if not k.endswith("_original") or k in names] == names, (got, names)
    t = lode_ok(ctx, ["schema", "deposit_site"], tdir).out
    assert "deposit_site 1.1" in t and "commodities" in t and "country" in t, t
    bad = lode(ctx, ["schema", "nope"], tdir)
    assert bad.rc == 2 and "no schema 'nope'" in bad.err, bad.brief()


if __name__ == "__main__":
    main()
