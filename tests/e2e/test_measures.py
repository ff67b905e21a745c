#!/usr/bin/python3
"""Measures: XYM and XYZM geometries (issue 15 item 3; bundle-format.md 5.7).

The sources are made here with GDAL in UTM zone 47N: drill-hole traces as XYZM lines whose
M is the measured depth (one feature without geometry, a null field), stations as XYM
points, parcels as XYM multi-polygons with a hole, routes as a Shapefile PolyLineM, and a
GeoPackage layer of 10000 points of unknown type whose first 6000 have no M (read in shares
on several threads: the nodes before the first M get M = 0).  Every bundle is checked
with tools we did not write: ogr2ogr -t_srs of the source (the reference for what lode
extract writes: types, coordinates, Z, M, values and nulls; M is not transformed), h5py
(NAME_coordM against the source's M, node by node), netCDF4 and xarray (open without
warnings), tests/bundle_digest.py (the digests), the CF checker (CFCHECKS, as
test_cf.py), and lode's own verify (strict), sign, merge and cluster stages.

Same runner, flags and output as test_raster.py.
"""
import json
import os
import re
import shutil
import sys
import warnings

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from lodetest import (Skip, assert_no_crash, bundles_same_for_threads, leftovers, lode, lode_ok,  # noqa: E402
                      main, same_bundle_digest, staged_bundle, test, tool, write_manifest)

import bundle_digest as bd  # noqa: E402
import lodetest  # noqa: E402
_before = list(lodetest.TESTS)
from test_cf import cf_check  # noqa: E402  (the checker's runner; its tests are not ours)
lodetest.TESTS[:] = _before
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal, ogr, osr  # noqa: E402

ogr.UseExceptions()
gdal.UseExceptions()

TARGET = {"crs": "EPSG:4326", "bounds": [101.6, 3.65, 102.05, 4.0], "resolution": 0.001}
POLICY = {"max_error_m": 20, "allow_ballpark": True}
UTM = 32647
LAYERS = ("traces", "stations", "parcels", "many")


def srs():
    s = osr.SpatialReference()
    s.ImportFromEPSG(UTM)
    return s


def add(lyr, wkt, **fields):
    f = ogr.Feature(lyr.GetLayerDefn())
    for k, v in fields.items():
        if v is None:
            f.SetFieldNull(k)
        else:
            f.SetField(k, v)
    if wkt:
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
    lyr.CreateFeature(f)


def trace(x, y, dip_step, n):
    """A drill-hole trace: n stations down the hole, M the measured depth along it."""
    pts, md = [], 0.0
    for i in range(n):
        if i:
            md += ((7.5 * 7.5) + (dip_step * dip_step) + 4.0) ** 0.5
        pts.append("%.3f %.3f %.3f %.4f" % (x + 7.5 * i, y + 2.0 * i, 120.0 - dip_step * i, md))
    return "LINESTRING ZM (%s)" % ", ".join(pts)


def make_gpkg(path):
    if os.path.exists(path):
        os.remove(path)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    t = ds.CreateLayer("traces", srs(), ogr.wkbLineStringZM)
    t.CreateField(ogr.FieldDefn("hole", ogr.OFTString))
    t.CreateField(ogr.FieldDefn("azimuth", ogr.OFTReal))
    for i in range(6):
        add(t, trace(792000 + 4100.5 * i, 412000 + 3300.25 * i, 9.0 + i, 4 + i),
            hole="DH%02d" % i, azimuth=None if i == 2 else 15.0 * i)
    add(t, None, hole="DH99", azimuth=1.5)  # planned, not drilled: no geometry
    s = ds.CreateLayer("stations", srs(), ogr.wkbPointM)
    s.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for i in range(5):
        add(s, "POINT M (%.2f %.2f %s)" % (800000 + 997.3 * i, 420000 + 511.1 * i,
                                            ("-12.5", "0", "0.1", "1e10", "3.14159")[i]),
            name=None if i == 3 else "st%d" % i)
    p = ds.CreateLayer("parcels", srs(), ogr.wkbMultiPolygonM)
    p.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    add(p, "MULTIPOLYGON M (((810000 415000 1, 811000 415000 2, 811000 416000 3, 810000 416000 4, "
           "810000 415000 1), (810200 415200 9, 810400 415200 8, 810400 415400 7, 810200 415200 9)), "
           "((812000 415000 5, 812500 415000 6, 812500 415500 7, 812000 415000 5)))", id=1)
    add(p, "MULTIPOLYGON M (((815000 418000 0.5, 815300 418000 0.25, 815300 418300 0.125, "
           "815000 418000 0.5)))", id=2)
    m = ds.CreateLayer("many", srs(), ogr.wkbUnknown)
    m.CreateField(ogr.FieldDefn("k", ogr.OFTInteger))
    ds.StartTransaction()
    for i in range(10000):
        x, y = 790000 + (i % 100) * 350.0, 410000 + (i // 100) * 280.0
        add(m, "POINT (%r %r)" % (x, y) if i < 6000 else "POINT M (%r %r %r)" % (x, y, i * 0.25), k=i)
    ds.CommitTransaction()
    ds = None
    return path


def make_shp(path):
    shutil.rmtree(path, ignore_errors=True)
    ds = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(path)
    r = ds.CreateLayer("routes", srs(), ogr.wkbLineStringM)
    r.CreateField(ogr.FieldDefn("road", ogr.OFTString))
    add(r, "LINESTRING M (805000 425000 0, 806000 425500 1118.03, 807000 425500 2118.03)", road="A")
    add(r, "LINESTRING M (805500 426000 10, 805900 426900 994.9)", road="B")
    ds = None
    return os.path.join(path, "routes.shp")


def fixture(ctx):
    if "m" in ctx.cache:
        if isinstance(ctx.cache["m"], Exception):
            raise ctx.cache["m"]
        return ctx.cache["m"]
    tdir = os.path.join(ctx.work, "_fixtures", "measures")
    os.makedirs(tdir, exist_ok=True)
    try:
        gpkg = make_gpkg(os.path.join(tdir, "measures.gpkg"))
        shp = make_shp(os.path.join(tdir, "shp"))
        srcs = {n: {"name": n, "source": gpkg, "layer": n} for n in LAYERS}
        srcs["routes"] = {"name": "routes", "source": shp}
        man = os.path.join(tdir, "m.yaml")
        write_manifest(man, TARGET, list(srcs.values()), POLICY)
        bundle = os.path.join(tdir, "m.nc")
        lode_ok(ctx, ["run", man, "-o", bundle, "-q"], tdir)
        fx = {"dir": tdir, "bundle": bundle, "man": man, "sources": srcs}
    except (Skip, AssertionError, RuntimeError) as e:
        ctx.cache["m"] = AssertionError("fixture: %s" % e)
        raise ctx.cache["m"]
    ctx.cache["m"] = fx
    return fx


def reference(ctx, tdir, src):
    """ogr2ogr -t_srs of the source to a GeoPackage (-dim XYM for 'many', whose geometries
    without M lode gives M = 0, as OGR's coordinate dimension change does)."""
    out = os.path.join(tdir, "ref_%s.gpkg" % src["name"])
    if os.path.exists(out):
        os.remove(out)
    cmd = ["ogr2ogr", "-q", "-f", "GPKG", "-t_srs", TARGET["crs"], "-nln", src["name"]]
    if src["name"] == "many":
        cmd += ["-dim", "XYM"]
    tool(cmd + [out, src["source"]] + ([src["layer"]] if "layer" in src else []), ctx)
    return out


def features(path, layer):
    """(OGR layer type, fields, [(values, WKB type, [(x, y, z, m) per node] or None)])."""
    ds = ogr.Open(path)
    lyr = ds.GetLayerByName(layer)
    assert lyr is not None, "%s: no layer %s" % (path, layer)
    defn = lyr.GetLayerDefn()
    names = [(defn.GetFieldDefn(i).GetName(), defn.GetFieldDefn(i).GetTypeName())
             for i in range(defn.GetFieldCount())]
    out = []
    for f in lyr:
        g = f.GetGeometryRef()
        vals = [None if f.IsFieldNull(i) else f.GetField(i) for i in range(len(names))]
        out.append((vals, g.GetGeometryType() if g else None, nodes(g) if g else None))
    return lyr.GetGeomType(), names, out


def nodes(g):
    if g.GetGeometryCount():
        return [n for i in range(g.GetGeometryCount()) for n in nodes(g.GetGeometryRef(i))]
    return [(g.GetX(i), g.GetY(i), g.GetZ(i), g.GetM(i)) for i in range(g.GetPointCount())]


def source_m(src):
    """The M of every node of the source, in feature and node order."""
    ds = ogr.Open(src["source"])
    lyr = ds.GetLayerByName(src["layer"]) if "layer" in src else ds.GetLayer(0)
    return [n[3] for f in lyr if f.GetGeometryRef() for n in nodes(f.GetGeometryRef())]


# =========================================================================== tests

@test
def test_extract_equals_ogr2ogr(ctx, tdir):
    """lode extract writes each layer with its M type (Measured ..., 3D Measured ...) and
    the features ogr2ogr -t_srs gives: the same field values and nulls, geometry types, x
    and y within 1e-9 degree, Z and M exactly (M untransformed)."""
    fx = fixture(ctx)
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", fx["bundle"], "-o", out, "-q"] + list(fx["sources"]), tdir)
    for name, src in fx["sources"].items():
        got = features(os.path.join(out, name + ".gpkg"), name)
        want = features(reference(ctx, tdir, src), name)
        assert ogr.GT_HasM(got[0]), "%s: layer type %s has no M" % (name, ogr.GeometryTypeToName(got[0]))
        if name != "many":
            assert got[0] == want[0], "%s: type %s, ogr2ogr %s" % (
                name, ogr.GeometryTypeToName(got[0]), ogr.GeometryTypeToName(want[0]))
        assert got[1] == want[1], "%s: fields %s, ogr2ogr %s" % (name, got[1], want[1])
        assert len(got[2]) == len(want[2]), "%s: %d features, ogr2ogr %d" % (name, len(got[2]), len(want[2]))
        for k, (g, w) in enumerate(zip(got[2], want[2])):
            assert g[0] == w[0], "%s feature %d: values %s, ogr2ogr %s" % (name, k, g[0], w[0])
            assert g[1] == w[1], "%s feature %d: type %s, ogr2ogr %s" % (name, k, g[1], w[1])
            assert (g[2] is None) == (w[2] is None) and len(g[2] or []) == len(w[2] or []), (name, k)
            for a, b in zip(g[2] or [], w[2] or []):
                assert abs(a[0] - b[0]) < 1e-9 and abs(a[1] - b[1]) < 1e-9, (name, k, a, b)
                assert a[2] == b[2] and a[3] == b[3], "%s feature %d: z, m %s, ogr2ogr %s" % (name, k, a[2:], b[2:])
    # The reference itself holds the M the sources were made with, untransformed.
    tr = features(os.path.join(out, "traces.gpkg"), "traces")[2]
    assert tr[0][2][0][3] == 0.0 and tr[0][2][1][3] > 11.0 and tr[6][2] is None and tr[2][0][1] is None, tr[:3]
    assert [n[3] for _, _, ns in features(os.path.join(out, "stations.gpkg"), "stations")[2] for n in ns] == \
        [-12.5, 0.0, 0.1, 1e10, 3.14159]


@test
def test_h5py_coordM(ctx, tdir):
    """h5py: NAME_coordM holds the source's M node by node (0 where a geometry of 'many'
    has none), along NAME_node_coordinates, with long_name 'measure' only, not in
    node_coordinates; lode_ogr_geometry_type ends in ' M'; ls shows the type."""
    fx = fixture(ctx)
    types = {"traces": "3D LineString M", "stations": "Point M", "parcels": "MultiPolygon M",
             "many": "Point M", "routes": "LineString M"}
    with h5py.File(fx["bundle"], "r") as f:
        for name, src in fx["sources"].items():
            c = f[name]
            assert bd.text(c.attrs["lode_ogr_geometry_type"]) == types[name], (name, c.attrs["lode_ogr_geometry_type"])
            assert name + "_coordM" not in bd.text(c.attrs["node_coordinates"]), c.attrs["node_coordinates"]
            m = f[name + "_coordM"]
            assert {k: bd.text(v) for k, v in m.attrs.items() if k != "DIMENSION_LIST"} == {"long_name": "measure"}, \
                dict(m.attrs)
            assert f[m.attrs["DIMENSION_LIST"][0][0]].name == "/%s_node_coordinates" % name
            want = np.array(source_m(src))
            assert m.shape == want.shape and np.array_equal(m[...], want), (name, m[...][:8], want[:8])
        assert not any(k.endswith("_coordM") for k in f if k.split("_coordM")[0] not in fx["sources"])
    many = f = None
    with h5py.File(fx["bundle"], "r") as f:
        many = f["many_coordM"][...]
    assert not many[:6000].any() and many[6001] == 6001 * 0.25, many[5998:6003]
    ls = json.loads(lode_ok(ctx, ["ls", fx["bundle"], "--json"], tdir).out)
    got = {d["name"]: d["geometry_type"] for d in ls["datasets"]}
    assert all(got[n] == t for n, t in types.items()), got


@test
def test_readers_no_warnings(ctx, tdir):
    """netCDF4 and xarray open the bundle without a warning and read NAME_coordM as a
    variable along the node dimension; GDAL's netCDF driver still lists every layer."""
    import netCDF4
    import xarray as xr
    fx = fixture(ctx)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with netCDF4.Dataset(fx["bundle"]) as n:
            v = n["traces_coordM"]
            assert v.dimensions == ("traces_node_coordinates",) and v.long_name == "measure"
            traces_m = np.array(v[:])
        with xr.open_dataset(fx["bundle"]) as ds:
            assert ds["stations_coordM"].dims == ("stations_node_coordinates",)
            assert list(ds["stations_coordM"].values) == [-12.5, 0.0, 0.1, 1e10, 3.14159]
            assert np.array_equal(ds["traces_coordM"].values, traces_m)
    assert not w, "warnings: %s" % [str(x.message) for x in w]
    info = tool(["ogrinfo", "-ro", "-so", fx["bundle"]], ctx).out
    for name in fx["sources"]:
        assert re.search(r"^\d+: %s \(" % name, info, re.M), info[-800:]


@test
def test_verify_digests_sign(ctx, tdir):
    """verify (strict) accepts the bundle; tests/bundle_digest.py recomputes the bundle
    digest and every content digest (M included) to lode's; a signed copy verifies."""
    fx = fixture(ctx)
    r = lode_ok(ctx, ["verify", fx["bundle"]], tdir)
    for name in fx["sources"]:
        assert re.search(r"^%s: OK " % name, r.out, re.M), r.out
    with h5py.File(fx["bundle"], "r") as f:
        stored = bd.text(f.attrs["lode_bundle_sha256"])
    assert bd.bundle_digest(fx["bundle"]) == stored, "bundle digest differs from Python's"
    cds = bd.content_digests(fx["bundle"])
    for name in fx["sources"]:
        assert cds[name][0] == cds[name][1], (name, cds[name])
    b = os.path.join(tdir, "s.nc")
    with open(fx["bundle"], "rb") as s, open(b, "wb") as d:
        d.write(s.read())
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "k.key"), "-q"], tdir)
    r = lode_ok(ctx, ["verify", b], tdir)
    assert "signature" in r.out.lower(), r.out


@test
def test_damaged_measures_refused(ctx, tdir):
    """A changed M, a coordM without its long_name, a coordM added to a layer without M
    and a layer type stripped of ' M' are each refused by verify, naming the layer."""
    fx = fixture(ctx)
    for what in ("value", "attr", "extra", "type"):
        b = os.path.join(tdir, what + ".nc")
        with open(fx["bundle"], "rb") as s, open(b, "wb") as d:
            d.write(s.read())
        with h5py.File(b, "r+") as f:
            if what == "value":
                f["traces_coordM"][1] = 99.5
            elif what == "attr":
                del f["traces_coordM"].attrs["long_name"]
            elif what == "extra":
                f.create_dataset("traces_coordQ", data=np.zeros(3))
            else:
                f["traces"].attrs["lode_ogr_geometry_type"] = np.bytes_(b"3D LineString")
        r = lode(ctx, ["verify", b], tdir)
        assert_no_crash(r)
        assert r.rc == 1 and re.search(r"^traces: DAMAGED", r.out, re.M), "%s: %s" % (what, r.brief())


@test
def test_threads_stages_merge(ctx, tdir):
    """The same bundle with -j 1 and -j 3 (the 10000 points are read in shares); the
    cluster stages (plan -w, reproject, package) give the bundle lode run gives; a merge
    keeps every content digest and extract from it gives the M again."""
    fx = fixture(ctx)
    b = bundles_same_for_threads(ctx, tdir, fx["man"], threads=(1, 3))
    with h5py.File(b, "r") as s, h5py.File(fx["bundle"], "r") as r:
        assert bd.text(s.attrs["lode_bundle_sha256"]) == bd.text(r.attrs["lode_bundle_sha256"])
    staged = staged_bundle(ctx, tdir, fx["man"])
    lode_ok(ctx, ["verify", staged, "-q"], tdir)
    assert same_bundle_digest(staged, fx["bundle"]), "the staged bundle differs from lode run's"
    man = os.path.join(tdir, "o.yaml")
    write_manifest(man, TARGET, [{"name": "other", "source": fx["sources"]["routes"]["source"]}], POLICY)
    other = os.path.join(tdir, "o.nc")
    lode_ok(ctx, ["run", man, "-o", other, "-q"], tdir)
    merged = os.path.join(tdir, "merged.nc")
    lode_ok(ctx, ["merge", fx["bundle"], other, "-o", merged, "-q"], tdir)
    lode_ok(ctx, ["verify", merged, "-q"], tdir)
    a, m = bd.content_digests(fx["bundle"]), bd.content_digests(merged)
    assert all(m[n] == a[n] for n in fx["sources"]) and m["other"][0] == a["routes"][0], (a, m)
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", merged, "traces", "-o", out, "-q"], tdir)
    got = features(os.path.join(out, "traces.gpkg"), "traces")
    want = features(reference(ctx, tdir, fx["sources"]["traces"]), "traces")
    assert [[n[3] for n in f[2] or []] for f in got[2]] == [[n[3] for n in f[2] or []] for f in want[2]]


@test
def test_cf_checker(ctx, tdir):
    """The CF checker (CFCHECKS, as test_cf.py) reports 0 errors on the bundle with M, and
    no warning but the netCDF-4 string one bundle-format.md lists."""
    fx = fixture(ctx)
    errors, nwarn, report = cf_check(ctx, fx["bundle"], tdir)
    assert errors == 0, report[-3000:]
    warns = [ln for ln in report.splitlines() if ln.startswith("WARN:")]
    assert all("(2.2): Could not get typecode" in ln for ln in warns), warns


@test
def test_clip_through_m_refused(ctx, tdir):
    """clip: true refuses a geometry with M that the bounds cut (GEOS would drop M), naming
    the dataset and the feature, and writes nothing; without clip the trace is kept whole,
    and with clip a trace inside the bounds is kept."""
    path = os.path.join(tdir, "cut.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    t = ds.CreateLayer("traces", srs(), ogr.wkbLineStringZM)
    add(t, trace(800000, 420000, 10.0, 4))
    # Across the western edge of the bounds (101.6 E is about x = 788800 here).
    add(t, "LINESTRING ZM (788000 420000 100 0, 789500 420000 90 1500)")
    ds = None
    for clip in (True, False):
        man = os.path.join(tdir, "c%d.yaml" % clip)
        d = {"name": "traces", "source": path}
        if clip:
            d["clip"] = True
        write_manifest(man, TARGET, [d], POLICY)
        out = os.path.join(tdir, "o%d" % clip)
        os.makedirs(out)
        r = lode(ctx, ["run", man, "-o", os.path.join(out, "b.nc")], tdir)
        assert_no_crash(r)
        if clip:
            assert r.rc == 1 and "dataset 'traces'" in r.err and "feature 2" in r.err and \
                "clip: would cut a geometry with measures (M)" in r.err, r.brief()
            assert not leftovers(out, "b.nc"), leftovers(out, "b.nc")
        else:
            assert r.rc == 0, r.brief()
            with h5py.File(os.path.join(out, "b.nc"), "r") as f:
                assert list(f["traces_coordM"][...][-2:]) == [0.0, 1500.0]


@test
def test_sample_drillholes(ctx, tdir):
    """samples/drillholes.gpkg (collars, survey and assays tables, XYZM traces whose M is
    the measured depth) goes through run and extract: the traces equal ogr2ogr -t_srs of
    the sample, and each trace's M (h5py) equal its hole's survey depths (the bundle's
    survey table, read with xarray), as samples/README.md's desurvey rule says."""
    import xarray as xr
    src = ctx.sample("drillholes.gpkg")
    ds = [{"name": n, "source": src, "layer": n} for n in ("collars", "survey", "assays", "traces")]
    man = os.path.join(tdir, "d.yaml")
    write_manifest(man, TARGET, ds, POLICY)
    b = os.path.join(tdir, "d.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    lode_ok(ctx, ["verify", b, "-q"], tdir)
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", b, "traces", "-o", out, "-q"], tdir)
    got = features(os.path.join(out, "traces.gpkg"), "traces")
    want = features(reference(ctx, tdir, {"name": "traces", "source": src, "layer": "traces"}), "traces")
    assert ogr.GeometryTypeToName(got[0]) == "3D Measured Line String" and got[0] == want[0], got[0]
    for g, w in zip(got[2], want[2]):
        assert g[0] == w[0] and len(g[2]) == len(w[2]), (g[0], w[0])
        for a, c in zip(g[2], w[2]):
            assert abs(a[0] - c[0]) < 1e-9 and abs(a[1] - c[1]) < 1e-9 and a[2:] == c[2:], (g[0], a, c)
    with xr.open_dataset(b, group="survey") as sv, h5py.File(b, "r") as f:
        var = {sv[v].attrs["ogr_field_name"]: sv[v].values for v in sv.data_vars if "ogr_field_name" in sv[v].attrs}
        m, counts = f["traces_coordM"][...], f["traces_node_count"][...]
        holes = [bd.text(x) for x in f[[k for k in f if k.startswith("traces_field_")][0]][...]]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for h, s0, n in zip(holes, first, counts):
        depths = [d for hid, d in zip(var["hole_id"], var["depth_m"]) if hid == h]
        assert list(m[s0:s0 + n]) == depths, (h, list(m[s0:s0 + n]), depths)


if __name__ == "__main__":
    main()
