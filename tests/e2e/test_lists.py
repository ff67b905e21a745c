#!/usr/bin/python3
"""List fields and JSON strings (issue 15 item 2; bundle-format.md 5.3).

A GeoJSON source made here holds StringList, IntegerList, Integer64List and RealList
fields (GDAL's GeoJSON reader types JSON arrays so) with non-empty, empty and null lists,
non-ASCII text, an integer beyond 2^53 and a real that needs 17 digits, and an object
property (String of sub-type JSON).  The references are GDAL's: the lists as OGR reads
them from the source, ogr2ogr -f GPKG and -f CSV of the source; h5py and json read the
bundle; tests/bundle_digest.py recomputes the digests.

Same runner, flags and output as test_raster.py.
"""
import json
import os
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from lodetest import Skip, assert_no_crash, lode, lode_ok, main, test, tool, write_manifest  # noqa: E402

import bundle_digest as bd  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import ogr  # noqa: E402

ogr.UseExceptions()

TARGET = {"crs": "EPSG:4326", "bounds": [101.6, 3.65, 102.05, 4.0], "resolution": 0.001}
FEATURES = [
    ({"tags": ["a", "é b", ""], "ns": [1, -2, 2147483647], "big": [9007199254740993, -1],
      "rs": [1.5, 0.1, -0.0], "meta": {"k": [1, 2], "s": "x"}}, [101.7, 3.8]),
    ({"tags": [], "ns": [], "big": [], "rs": [], "meta": None}, [101.8, 3.9]),
    ({"tags": None, "ns": None, "big": None, "rs": None, "meta": {}}, [101.9, 3.7]),
    ({"tags": ["only"], "ns": [0], "big": [0], "rs": [1e-300], "meta": [1, "two"]}, None),
]
LISTS = {"tags": "StringList", "ns": "IntegerList", "big": "Integer64List", "rs": "RealList"}


def source(tdir):
    path = os.path.join(tdir, "lists.geojson")
    feats = [{"type": "Feature", "properties": p,
              "geometry": {"type": "Point", "coordinates": c} if c else None} for p, c in FEATURES]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": feats}, f, ensure_ascii=False)
    return path


def fixture(ctx):
    if "lists" in ctx.cache:
        if isinstance(ctx.cache["lists"], Exception):
            raise ctx.cache["lists"]
        return ctx.cache["lists"]
    tdir = os.path.join(ctx.work, "_fixtures", "lists")
    os.makedirs(tdir, exist_ok=True)
    try:
        src = source(tdir)
        man = os.path.join(tdir, "m.yaml")
        write_manifest(man, TARGET, [{"name": "lists", "source": src}], {"max_error_m": 20})
        out = os.path.join(tdir, "l.nc")
        lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
        fx = {"dir": tdir, "src": src, "bundle": out, "man": man}
    except (Skip, AssertionError, RuntimeError) as e:
        ctx.cache["lists"] = AssertionError("fixture: %s" % e)
        raise ctx.cache["lists"]
    ctx.cache["lists"] = fx
    return fx


def ogr_rows(path, layer=None):
    """[{field: (type name, value or None)}] as OGR reads them (lists as Python lists)."""
    ds = ogr.Open(path)
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    out = []
    for f in lyr:
        row = {}
        for i in range(defn.GetFieldCount()):
            fd = defn.GetFieldDefn(i)
            t = fd.GetTypeName() + ("(JSON)" if fd.GetSubType() == ogr.OFSTJSON else "")
            v = None if f.IsFieldNull(i) else f.GetField(i)
            if v is None and not f.IsFieldNull(i) and t.endswith("List"):
                v = []  # the Python binding gives None for an empty StringList
            row[fd.GetName()] = (t, v)
        out.append(row)
    return out


@test
def test_lists_stored_as_json_arrays(ctx, tdir):
    """Each list is stored as the compact JSON array of its items (h5py): the items equal
    OGR's reading of the source exactly (reals to the bit), an empty list is '[]', a null
    list is '' and listed in lode_nulls; the JSON object property keeps ogr_field_type
    String(JSON); the lineage gives the list types."""
    fx = fixture(ctx)
    want = ogr_rows(fx["src"])
    with h5py.File(fx["bundle"], "r") as f:
        lin = json.loads(bd.text(f["lists"].attrs["lode_lineage"]))
        types = {x["name"]: x["type"] for x in lin["fields"]}
        assert {k: types[k] for k in LISTS} == LISTS and types["meta"] == "String(JSON)", types
        for x in lin["fields"]:
            var = f["lists_field_" + x["variable"]]
            nulls = set(np.atleast_1d(var.attrs["lode_nulls"]).tolist()) if "lode_nulls" in var.attrs else set()
            assert bd.text(var.attrs["ogr_field_type"]) == x["type"], (x, var.attrs["ogr_field_type"])
            vals = var.asstr()[...]
            for k, row in enumerate(want):
                t, w = row[x["name"]]
                assert (w is None) == (k in nulls), "%s[%d]: null %s, lode_nulls %s" % (x["name"], k, w, nulls)
                if w is None:
                    assert vals[k] == "", (x["name"], k, vals[k])
                elif x["name"] in LISTS:
                    got = json.loads(vals[k])
                    assert got == list(w), "%s[%d]: %r, OGR %r" % (x["name"], k, got, w)
                    assert all(type(a) is type(b) for a, b in zip(got, w)), (got, w)
                    assert vals[k] == json.dumps(got, separators=(",", ":"), ensure_ascii=False) or \
                        x["name"] == "rs", "%s[%d]: not compact JSON: %r" % (x["name"], k, vals[k])
                else:
                    assert vals[k] == w, (x["name"], k, vals[k], w)
    # -0.0 and 1e-300 kept to the bit (json.loads gives the same double)
    rs = json.loads(h5py.File(fx["bundle"], "r")["lists_field_4_rs"].asstr()[0])
    assert np.signbit(rs[2]) and rs[1] == 0.1, rs


@test
def test_extract_gpkg_csv_equal_ogr2ogr(ctx, tdir):
    """lode extract restores the list fields and the JSON sub-type: the GeoPackage reads
    back (OGR) as ogr2ogr -f GPKG's copy of the source does (GDAL 3.6 stores lists there as
    its "(n:a,b)" text), and --format csv gives ogr2ogr -f CSV's text of the source."""
    fx = fixture(ctx)
    ref = os.path.join(tdir, "ref.gpkg")
    tool(["ogr2ogr", "-q", "-f", "GPKG", "-nln", "lists", ref, fx["src"]], ctx)
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", fx["bundle"], "-o", out, "-q"], tdir)
    got, want = ogr_rows(os.path.join(out, "lists.gpkg")), ogr_rows(ref)
    assert got == want, "extracted %s\nogr2ogr %s" % (got, want)
    assert got[0]["meta"][0] == "String(JSON)", got[0]
    lode_ok(ctx, ["extract", fx["bundle"], "-o", out, "--format", "csv", "-q"], tdir)
    refcsv = os.path.join(tdir, "ref.csv")
    tool(["ogr2ogr", "-q", "-f", "CSV", "-lco", "GEOMETRY=AS_WKT", refcsv, fx["src"]], ctx)
    a = open(os.path.join(out, "lists.csv"), encoding="utf-8").read()
    b = open(refcsv, encoding="utf-8").read()
    assert a == b, "lists.csv:\n%s\nogr2ogr:\n%s" % (a, b)


@test
def test_verify_digest_cf_readers(ctx, tdir):
    """verify accepts the bundle; bundle_digest.py recomputes its digests; ogrinfo reads
    the lists as their JSON text; a list that is not JSON is refused by verify."""
    fx = fixture(ctx)
    lode_ok(ctx, ["verify", fx["bundle"], "-q"], tdir)
    cds = bd.content_digests(fx["bundle"])
    assert cds["lists"][0] == cds["lists"][1], cds
    with h5py.File(fx["bundle"], "r") as f:
        assert bd.bundle_digest(fx["bundle"]) == bd.text(f.attrs["lode_bundle_sha256"])
    r = tool(["ogrinfo", "-ro", "-q", fx["bundle"], "lists"], ctx)
    assert re.search(r'tags \(String\) = \["a","é b",""\]', r.out), r.out[-800:]
    bad = os.path.join(tdir, "bad.nc")
    with open(fx["bundle"], "rb") as s, open(bad, "wb") as d:
        d.write(s.read())
    with h5py.File(bad, "r+") as f:
        f["lists_field_2_ns"][0] = "[1,2"
    r = lode(ctx, ["verify", bad], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and re.search(r"^lists: DAMAGED: .*not the IntegerList lode writes", r.out, re.M), r.brief() + r.out


USGS_DEPOSITS = ("usgs_ofr20051294_SEAsia.geojson", "usgs_phosphate_SEAsia.geojson",
                 "usgs_ree_SEAsia.geojson")


def geometry_rows(path, layer=None):
    """[WKT of each feature's geometry (None when it has none)] as OGR reads them."""
    ds = ogr.Open(path)
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    return [f.GetGeometryRef().ExportToIsoWkt() if f.GetGeometryRef() else None for f in lyr]


@test
def test_usgs_world_deposits_roundtrip(ctx, tdir):
    """The USGS world deposit databases for South-East Asia (real files, samples/data/
    deposits, provenance there) go in with their list fields (commodity, mineral, host
    rock lists: StringList as GDAL reads the GeoJSON) and come out of lode extract equal
    to ogr2ogr -f GPKG's copy of the source: every field's type and value, nulls and
    empty lists, and every geometry."""
    problems = []
    for name in USGS_DEPOSITS:
        src = ctx.realfile(os.path.join("deposits", name))
        ds = ogr.Open(src)
        lyr = ds.GetLayer(0)
        defn = lyr.GetLayerDefn()
        lists = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())
                 if defn.GetFieldDefn(i).GetTypeName().endswith("List")]
        assert lists, "%s: no list field as GDAL reads it" % name
        x0, x1, y0, y1 = lyr.GetExtent()
        target = {"crs": "EPSG:4326", "bounds": [x0 - 1, y0 - 1, x1 + 1, y1 + 1], "resolution": 0.1}
        ds = None
        stem = name.split(".")[0].lower()
        man = os.path.join(tdir, stem + ".yaml")
        write_manifest(man, target, [{"name": "sites", "source": src}], {"max_error_m": 20})
        b = os.path.join(tdir, stem + ".nc")
        lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
        lode_ok(ctx, ["verify", b, "-q"], tdir)
        ref = os.path.join(tdir, stem + "_ref.gpkg")
        tool(["ogr2ogr", "-q", "-f", "GPKG", "-nln", "sites", ref, src], ctx)
        out = os.path.join(tdir, stem)
        lode_ok(ctx, ["extract", b, "-o", out, "-q"], tdir)
        got, want = ogr_rows(os.path.join(out, "sites.gpkg")), ogr_rows(ref)
        if got != want:
            diff = [(k, a, w) for k, (a, w) in enumerate(zip(got, want)) if a != w][:2]
            problems.append("%s: %d features, ogr2ogr %d; first differences %s" % (
                name, len(got), len(want), diff))
        elif geometry_rows(os.path.join(out, "sites.gpkg")) != geometry_rows(ref):
            problems.append("%s: geometries differ from ogr2ogr's" % name)
        elif not any(row[lists[0]][1] for row in got):
            problems.append("%s: list field %s is empty everywhere" % (name, lists[0]))
    assert not problems, "; ".join(problems)


if __name__ == "__main__":
    main()
