#!/usr/bin/python3
"""End-to-end tests of lode's vector path: run the CLI, check its bundles with tools we
did not write (ogr2ogr, ogrinfo, GDAL's netCDF and GPKG drivers, h5py).

/usr/bin/python3 tests/e2e/test_vector.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

The reference for every layer is ogr2ogr -t_srs TARGET -ct PIPELINE (PIPELINE = the
lineage's operation.proj_pipeline) into a GeoPackage; lode's rule for clip: false (keep
whole features that intersect target.bounds) is applied to that output here, and
clip: true is compared with ogr2ogr -clipdst.

Known GDAL 3.6 netCDF reader limits (not lode bugs; the tests allow exactly these and
check the same facts another way):
  - a null string reads back as "" (nulls are checked through lode extract's GeoPackage
    and through h5py's lode_nulls);
  - a Polygon layer with holes reads back as MultiPolygon (geometries compared after
    ogr.ForceToMulti);
  - a DateTime reads back without a time-zone flag (CF time is UTC by definition);
  - an empty layer (0 features) is not listed at all: GDAL stops at the zero-length
    dimension ("A dimension has length <= 0"), also for a file GDAL wrote itself.
Prints "PASS name" / "FAIL name: reason" / "SKIP name: reason" per test and a final
"N passed, N failed[, N skipped]"; exit 0 iff nothing failed.  -k SUBSTR runs a subset.
"""
import json
import math
import os
import re
import shutil
import sys

import numpy as np
from osgeo import gdal, ogr, osr

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (Skip, assert_no_crash, bundle_attrs, bundles_same_for_threads, leftovers, lode,  # noqa: E402
                      lode_ok, main, srs_from, test, tool, write_manifest)

ogr.UseExceptions()

EPS = 1e-9          # coordinates: within 1e-9 of the target unit (degree or metre)
POLICY = {"max_error_m": 20, "allow_ballpark": True}


# =========================================================================== helpers

def q(v):
    return repr(float(v))


def lineage(bundle, name):
    """The lineage of vector layer NAME: the container variable /NAME's attribute."""
    a = bundle_attrs(bundle, "/" + name)
    assert "lode_lineage" in a, "/%s has no lode_lineage attribute" % name
    return json.loads(a["lode_lineage"])


def build(ctx, tdir, target, datasets, policy=POLICY, name="b.nc"):
    man = os.path.join(tdir, "manifest.yaml")
    txt = write_manifest(man, target, datasets, policy)
    out = os.path.join(tdir, name)
    cwd = os.path.join(tdir, "cwd")
    os.makedirs(cwd, exist_ok=True)
    r = lode(ctx, ["run", man, "-o", out, "-q"], cwd)
    assert_no_crash(r)
    assert r.rc == 0, "lode run failed: " + r.brief()
    assert os.path.isfile(out), "lode run exit 0 but no bundle at " + out
    return out, man, txt


def refused(ctx, tdir, target, datasets, mention=(), policy=POLICY):
    """lode run must exit 1 with a message naming the dataset, leaving no bundle."""
    man = os.path.join(tdir, "refused.yaml")
    write_manifest(man, target, datasets, policy)
    out_dir = os.path.join(tdir, "refused_out")
    os.makedirs(out_dir, exist_ok=True)
    r = lode(ctx, ["run", man, "-o", os.path.join(out_dir, "b.nc")], tdir)
    assert_no_crash(r)
    assert r.rc == 1, "want exit 1: " + r.brief()
    name = datasets[-1]["name"]
    assert "'%s'" % name in r.err, "message does not name dataset %r: %s" % (name, r.brief())
    for m in mention:
        assert m.lower() in r.err.lower(), "message does not mention %r: %s" % (m, r.brief())
    left = leftovers(out_dir, "b.nc")
    assert not left, "a refused run left %s" % left
    return r


def ref_layer(ctx, tdir, bundle, d, target, tag="ref", extra=()):
    """ogr2ogr reference of dataset d (a manifest dict) into a GeoPackage."""
    lin = lineage(bundle, d["name"])
    pipe = (lin.get("operation") or {}).get("proj_pipeline")
    out = os.path.join(tdir, "%s_%s.gpkg" % (d["name"], tag))
    if os.path.exists(out):
        os.remove(out)
    # -lco FID=fid: a GeoJSON "id" property is also OGR's FID column, and ogr2ogr would
    # otherwise turn it into the GeoPackage's FID instead of a field (lode keeps fields).
    cmd = ["ogr2ogr", "-q", "-f", "GPKG", "-lco", "FID=fid", "-t_srs", target["crs"],
           "-nln", d["name"]]
    if pipe:
        cmd += ["-ct", pipe]
    if d.get("assume_crs"):
        cmd += ["-s_srs", d["assume_crs"]]
    for o in d.get("open_options", []):
        cmd += ["-oo", o]
    if d.get("where"):
        cmd += ["-where", d["where"]]
    if d.get("clip"):
        b = target["bounds"]
        cmd += ["-clipdst", q(b[0]), q(b[1]), q(b[2]), q(b[3])]
    cmd += list(extra)
    cmd += [out, d["source"]]
    if d.get("layer"):
        cmd.append(d["layer"])
    tool(cmd, ctx)
    return out


def field_value(f, i, ftype):
    if not f.IsFieldSetAndNotNull(i):
        return None
    if ftype in (ogr.OFTDate, ogr.OFTDateTime):
        v = f.GetFieldAsDateTime(i)
        return tuple(v[:5]) + (round(float(v[5]), 3), v[6])
    if ftype == ogr.OFTInteger64:
        return f.GetFieldAsInteger64(i)
    if ftype == ogr.OFTInteger:
        return f.GetFieldAsInteger(i)
    if ftype == ogr.OFTReal:
        return f.GetFieldAsDouble(i)
    return f.GetFieldAsString(i)


def read_layer(path, layer=None):
    """Everything OGR reads from one layer: type, CRS, fields, features in order."""
    msgs = []

    def handler(cls, no, msg):
        if cls >= gdal.CE_Warning:
            msgs.append(msg)
    gdal.PushErrorHandler(handler)
    try:
        return _read_layer(path, layer, msgs)
    finally:
        gdal.PopErrorHandler()


def _read_layer(path, layer, msgs):
    ds = gdal.OpenEx(path, gdal.OF_VECTOR | gdal.OF_READONLY)
    assert ds is not None, "GDAL cannot open %s" % path
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    assert lyr is not None, "%s has no layer %r" % (path, layer)
    defn = lyr.GetLayerDefn()
    fields = []
    for i in range(defn.GetFieldCount()):
        fd = defn.GetFieldDefn(i)
        fields.append((fd.GetName(), fd.GetType(), fd.GetSubType()))
    feats = []
    lyr.ResetReading()
    for f in lyr:
        g = f.GetGeometryRef()
        feats.append((g.Clone() if g is not None else None,
                      [field_value(f, i, fields[i][1]) for i in range(len(fields))]))
    srs = lyr.GetSpatialRef()
    # Only the documented GDAL 3.6 netCDF reader limit (an empty layer elsewhere in the
    # bundle cannot be opened) may be reported while reading.
    bad = [m for m in msgs if not re.search(r"Translation of a simple geometry layer has "
                                            r"been terminated prematurely|A dimension has "
                                            r"length <= 0", m)]
    assert not bad, "GDAL reading %s: %s" % (os.path.basename(path), " | ".join(bad)[:400])
    return {"name": lyr.GetName(), "gtype": lyr.GetGeomType(),
            "gtype_name": ogr.GeometryTypeToName(lyr.GetGeomType()),
            "srs": srs.ExportToWkt() if srs else None, "fields": fields, "features": feats,
            "count": lyr.GetFeatureCount()}


def field_sig(fields):
    return [(n, ogr.GetFieldTypeName(t) + ("(%s)" % ogr.GetFieldSubTypeName(s) if s else ""))
            for n, t, s in fields]


def parts(g):
    """Nested coordinates of a geometry (x, y[, z]) for exact comparison."""
    if g.GetGeometryCount() > 0:
        return [parts(g.GetGeometryRef(i)) for i in range(g.GetGeometryCount())]
    return [tuple(p) for p in (g.GetPoints() or [])]


def same_coords(a, b, path="", eps=EPS):
    """None when nested coordinate lists a and b agree within eps, else a message."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        if len(a) != len(b):
            return "%s: dimension %d != %d" % (path, len(a), len(b))
        d = max(abs(x - y) for x, y in zip(a, b)) if a else 0.0
        return None if d <= eps else "%s: %r != %r (diff %.3g)" % (path, a, b, d)
    if len(a) != len(b):
        return "%s: %d parts/points != %d" % (path, len(a), len(b))
    for i, (x, y) in enumerate(zip(a, b)):
        m = same_coords(x, y, "%s[%d]" % (path, i), eps)
        if m:
            return m
    return None


def to_multi(g):
    """ogr.ForceTo the Multi type of g's kind (Point/LineString/Polygon), Z kept."""
    t = ogr.GT_Flatten(g.GetGeometryType())
    m = {ogr.wkbPoint: ogr.wkbMultiPoint, ogr.wkbLineString: ogr.wkbMultiLineString,
         ogr.wkbPolygon: ogr.wkbMultiPolygon}.get(t)
    if m is None:
        return g.Clone()
    if g.Is3D():
        m = ogr.GT_SetZ(m)
    return ogr.ForceTo(g.Clone(), m)


def geom_problem(got, want, multi=False, normalize=False):
    if got is None or want is None:
        if (got is None or got.IsEmpty()) and (want is None or want.IsEmpty()):
            return None
        return "geometry %s != %s" % (got and got.ExportToWkt()[:80], want and want.ExportToWkt()[:80])
    if multi:
        got, want = to_multi(got), to_multi(want)
    if normalize:
        got, want = got.Clone(), want.Clone()
        got.Normalize()
        want.Normalize()
    if got.GetGeometryName() != want.GetGeometryName() or got.Is3D() != want.Is3D():
        return "type %s%s != %s%s" % (got.GetGeometryName(), " Z" * got.Is3D(),
                                      want.GetGeometryName(), " Z" * want.Is3D())
    return same_coords(parts(got), parts(want))


def compare_layers(label, got, want, via_netcdf=False, holes_multi=False, normalize=False):
    """Every feature, in order: geometry within EPS, every attribute equal. via_netcdf
    allows exactly the documented GDAL 3.6 netCDF reader limits."""
    probs = []
    if len(got["features"]) != len(want["features"]):
        return ["%s: %d features != reference %d" % (label, len(got["features"]),
                                                      len(want["features"]))]
    gsig, wsig = field_sig(got["fields"]), field_sig(want["fields"])
    if gsig != wsig:
        return ["%s: fields %s != reference %s" % (label, gsig, wsig)]
    for k, ((gg, gv), (wg, wv)) in enumerate(zip(got["features"], want["features"])):
        m = geom_problem(gg, wg, multi=holes_multi, normalize=normalize)
        if m:
            probs.append("%s feature %d: %s" % (label, k, m))
        for (fname, ftype, _), a, b in zip(want["fields"], gv, wv):
            if a == b:
                continue
            if via_netcdf and ftype == ogr.OFTString and b is None and a == "":
                continue  # GDAL 3.6 netCDF reader: null string reads as ""
            if (via_netcdf and ftype == ogr.OFTDateTime and a is not None and b is not None
                    and a[:6] == b[:6] and a[6] in (0, 100) and b[6] == 100):
                continue  # GDAL 3.6 netCDF reader: no time-zone flag on CF times (UTC)
            if ftype == ogr.OFTReal and a is not None and b is not None and a == b:
                continue
            probs.append("%s feature %d field %s: %r != reference %r" % (label, k, fname, a, b))
        if len(probs) > 6:
            break
    return probs


def keep_intersecting(layer, bounds):
    """lode's clip: false rule applied to a reference layer: keep the features whose
    geometry intersects the target bounds (GEOS, through OGR)."""
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((bounds[0], bounds[1]), (bounds[2], bounds[1]), (bounds[2], bounds[3]),
                 (bounds[0], bounds[3]), (bounds[0], bounds[1])):
        ring.AddPoint_2D(x, y)
    box = ogr.Geometry(ogr.wkbPolygon)
    box.AddGeometry(ring)
    out = dict(layer)
    out["features"] = [(g, v) for g, v in layer["features"]
                       if g is None or g.IsEmpty() or g.Intersects(box)]
    return out


def has_holes(layer):
    for g, _ in layer["features"]:
        if g is None:
            continue
        polys = [g] if g.GetGeometryType() in (ogr.wkbPolygon, ogr.wkbPolygon25D) else \
            [g.GetGeometryRef(i) for i in range(g.GetGeometryCount())]
        if any(p.GetGeometryCount() > 1 for p in polys):
            return True
    return False


def extract_all(ctx, tdir, bundle):
    out = os.path.join(tdir, "extracted")
    shutil.rmtree(out, ignore_errors=True)
    lode_ok(ctx, ["extract", bundle, "-o", out, "-q"], tdir)
    return out


def ogrinfo_summary(ctx, path, layer=None):
    """Parse `ogrinfo -ro -so -al`: {layer: {geometry, count, wkt, fields}} (+ stderr)."""
    cmd = ["ogrinfo", "-ro", "-so", "-al", path] if layer is None else \
        ["ogrinfo", "-ro", "-so", path, layer]
    r = tool(cmd, ctx)
    layers = {}
    cur = None
    wkt_lines = None
    for line in r.out.splitlines():
        m = re.match(r"^Layer name: (.*)$", line)
        if m:
            cur = {"fields": []}
            layers[m.group(1)] = cur
            continue
        if cur is None:
            continue
        if wkt_lines is not None:
            if line.startswith("Data axis") or re.match(r"^[A-Za-z_][\w ()#-]*: ", line) and \
                    not line.startswith(" "):
                cur["wkt"] = "\n".join(wkt_lines)
                wkt_lines = None
            else:
                wkt_lines.append(line)
                continue
        if line.startswith("Geometry: "):
            cur["geometry"] = line[10:]
        elif line.startswith("Feature Count: "):
            cur["count"] = int(line[15:])
        elif line.startswith("Layer SRS WKT:"):
            wkt_lines = []
        elif re.match(r"^\S[^:]*: \w[\w()]* \(\d+\.\d+\)$", line) and "wkt" in cur:
            n, t = re.match(r"^(\S[^:]*): (\w[\w()]*) \(", line).groups()
            cur["fields"].append((n, t))
    return layers, r.err


def same_srs(wkt_a, wkt_b):
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


def case(ctx, name):
    return ctx.sample(os.path.join("vector_cases", name))


# =========================================================================== fixtures

MY_BOUNDS = [101.6, 3.65, 102.05, 4.0]


def fixture(ctx, key, make):
    if key in ctx.cache:
        if isinstance(ctx.cache[key], Exception):
            raise ctx.cache[key]
        return ctx.cache[key]
    tdir = os.path.join(ctx.work, "_fixtures", key)
    shutil.rmtree(tdir, ignore_errors=True)
    os.makedirs(tdir)
    try:
        target, ds = make()
        bundle, man, txt = build(ctx, tdir, target, ds)
        fx = {"dir": tdir, "bundle": bundle, "target": target, "datasets": ds, "text": txt}
    except (Skip, AssertionError) as e:
        ctx.cache[key] = type(e)("fixture %s: %s" % (key, e))
        raise ctx.cache[key]
    ctx.cache[key] = fx
    return fx


def gml_copy(ctx):
    """The deposits written as GML by ogr2ogr (GML is one of the formats lode must read)."""
    out = os.path.join(ctx.work, "_fixtures", "deposits.gml")
    if not os.path.isfile(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tool(["ogr2ogr", "-f", "GML", out, ctx.sample("deposits.gpkg")], ctx)
    return out


def malaysia_fx(ctx):
    """Samples, the DOSM states (clipped and whole), world countries and the special
    cases that work, all onto EPSG:4326 over the demo's bounds."""
    def make():
        target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
        states = ctx.realfile("administrative_1_state.geojson")
        ds = [
            {"name": "deposits", "source": ctx.sample("deposits.gpkg"), "operation": "EPSG:8659"},
            {"name": "geology_map", "source": ctx.sample("geology.gpkg")},
            {"name": "states_clip", "source": states, "clip": True},
            {"name": "states_whole", "source": states, "clip": False},
            {"name": "world", "source": ctx.datafile("world.gpkg")},
            {"name": "leases", "source": case(ctx, "mixed_poly_multipoly.geojson")},
            {"name": "traverses", "source": case(ctx, "lines_z.gpkg")},
            {"name": "pits", "source": case(ctx, "polygons_holes.gpkg")},
            {"name": "towns_csv", "source": case(ctx, "towns_lonlat.csv"),
             "open_options": ["X_POSSIBLE_NAMES=lon", "Y_POSSIBLE_NAMES=lat",
                              "AUTODETECT_TYPE=YES"],
             "assume_crs": "EPSG:4326"},
            {"name": "survey_lines", "source": case(ctx, "nocrs_lines.shp"),
             "assume_crs": "EPSG:3375"},
            {"name": "boreholes", "source": case(ctx, "empty.gpkg")},
            {"name": "gold", "source": ctx.sample("deposits.gpkg"), "operation": "EPSG:8659",
             "where": "commodity = 'emas / gold' AND grade IS NOT NULL"},
            {"name": "gml_deposits", "source": gml_copy(ctx), "operation": "EPSG:8659",
             "open_options": ["EXPOSE_GML_ID=NO"]},
        ]
        return target, ds
    return fixture(ctx, "malaysia", make)


def italy_fx(ctx):
    """test3.sqlite's three layers and the CP1252 Shapefile, onto ETRS89-LAEA (EPSG:3035)
    over northern Italy: the south is outside the bounds, so clip: false drops towns and
    keeps the regions that cross the edge whole."""
    def make():
        sq = ctx.datafile("test3.sqlite")
        target = {"crs": "EPSG:3035", "bounds": [4000000.0, 2250000.0, 4700000.0, 2700000.0],
                  "resolution": 1000.0}
        ds = [
            {"name": "towns", "source": sq, "layer": "Towns"},
            {"name": "highways", "source": sq, "layer": "HighWays"},
            {"name": "regions", "source": sq, "layer": "Regions"},
            {"name": "legacy_towns", "source": case(ctx, "legacy_cp1252.shp"),
             "open_options": ["ENCODING=CP1252"]},
        ]
        return target, ds
    return fixture(ctx, "italy", make)


def yellowstone_fx(ctx):
    """The MTBS fire perimeters (NAD83 / Montana) onto NAD83 / UTM 12N, bounds cutting
    through the park."""
    def make():
        target = {"crs": "EPSG:26912", "bounds": [500000.0, 4900000.0, 560000.0, 4960000.0],
                  "resolution": 30.0}
        ds = [{"name": "fires", "source": ctx.datafile("ynp_fires_1984_2022.gpkg")}]
        return target, ds
    return fixture(ctx, "yellowstone", make)


def all_fx(ctx):
    return [malaysia_fx(ctx), italy_fx(ctx), yellowstone_fx(ctx)]


def expected(ctx, fx, d, tdir):
    """The reference for dataset d: ogr2ogr output, with lode's clip: false rule."""
    ref = read_layer(ref_layer(ctx, tdir, fx["bundle"], d, fx["target"]))
    if not d.get("clip"):
        ref = keep_intersecting(ref, fx["target"]["bounds"])
    return ref


# =========================================================================== 1. ogrinfo

@test
def test_ogrinfo_lists_every_layer(ctx, tdir):
    """ogrinfo on each bundle lists every vector dataset as a layer of its name, with the
    target CRS, geometry type, feature count and fields equal to the ogr2ogr output."""
    problems = []
    for fx in all_fx(ctx):
        info, err = ogrinfo_summary(ctx, fx["bundle"])
        # GDAL 3.6 stops at an empty layer's zero-length dimension with these two lines
        # (it does the same for a file it wrote itself): the documented reader limit.
        bad = [l for l in err.splitlines() if re.search(r"warning|error|length", l, re.I)
               and not re.search(r"Translation of a simple geometry layer has been terminated"
                                 r" prematurely|A dimension has length <= 0", l)]
        if bad:
            problems.append("ogrinfo %s stderr: %s" % (os.path.basename(fx["bundle"]),
                                                       " | ".join(bad)[:300]))
        tsrs = srs_from(fx["target"]["crs"]).ExportToWkt()
        for d in fx["datasets"]:
            n = d["name"]
            want = expected(ctx, fx, d, tdir)
            if n not in info:
                # GDAL 3.6 cannot open a zero-length CF-1.8 geometry container at all
                # (also for a layer it wrote itself); only an empty layer may be missing.
                if want["features"]:
                    problems.append("%s: not listed by ogrinfo (layers: %s)" % (n, sorted(info)))
                continue
            got = info[n]
            rinfo, _ = ogrinfo_summary(ctx, os.path.join(tdir, "%s_ref.gpkg" % n), n)
            ref = rinfo[n]
            if not got.get("wkt") or not same_srs(got["wkt"], tsrs):
                problems.append("%s: CRS is not the target %s" % (n, fx["target"]["crs"]))
            geom_ok = got.get("geometry") == ref.get("geometry")
            if not geom_ok and ref.get("geometry") == "Polygon" and has_holes(want):
                geom_ok = got.get("geometry") == "Multi Polygon"  # GDAL 3.6 reader limit
            if d["name"] == "leases":  # mixed Polygon/MultiPolygon: promoted
                geom_ok = got.get("geometry") == "Multi Polygon"
            if not geom_ok:
                problems.append("%s: geometry %r != ogr2ogr %r" % (n, got.get("geometry"),
                                                                    ref.get("geometry")))
            if got.get("count") != len(want["features"]):
                problems.append("%s: feature count %r != %d (ogr2ogr, features meeting the "
                                "bounds)" % (n, got.get("count"), len(want["features"])))
            if got["fields"] != ref["fields"]:
                problems.append("%s: fields %s != ogr2ogr %s" % (n, got["fields"], ref["fields"]))
        extra = set(info) - {d["name"] for d in fx["datasets"]}
        if extra:
            problems.append("ogrinfo lists layers that are not datasets: %s" % sorted(extra))
    assert not problems, "; ".join(problems)


# =========================================================================== 2. features

@test
def test_features_equal_ogr2ogr_netcdf_reader(ctx, tdir):
    """Through GDAL's netCDF reader: every feature's geometry within 1e-9 of ogr2ogr's,
    every attribute equal, order kept (real layers, samples and cases)."""
    problems = []
    nfeat = 0
    for fx in all_fx(ctx):
        for d in fx["datasets"]:
            want = expected(ctx, fx, d, tdir)
            if not want["features"]:
                continue  # GDAL 3.6 cannot open empty layers (see module docstring)
            nfeat += len(want["features"])
            got = read_layer(fx["bundle"], d["name"])
            multi = has_holes(want) or d["name"] == "leases" or bool(d.get("clip"))
            problems += compare_layers(d["name"], got, want, via_netcdf=True, holes_multi=multi,
                                       normalize=bool(d.get("clip")))
    assert nfeat > 4000, "only %d features compared" % nfeat
    assert not problems, "; ".join(problems[:12])


@test
def test_nulls_exact_h5py(ctx, tdir):
    """lode_nulls (h5py) lists exactly the features whose attribute is null in the
    ogr2ogr output, numeric nulls hold the _FillValue and no real value equals it."""
    import h5py
    problems = []
    checked = 0
    for fx in all_fx(ctx):
        with h5py.File(fx["bundle"], "r") as f:
            for d in fx["datasets"]:
                want = expected(ctx, fx, d, tdir)
                lin = lineage(fx["bundle"], d["name"])
                for i, fl in enumerate(lin["fields"]):
                    var = "%s_field_%s" % (d["name"], fl["variable"])
                    if var not in f:
                        problems.append("%s: no variable %s" % (d["name"], var))
                        continue
                    v = f[var]
                    nulls = sorted(k for k, (_, vals) in enumerate(want["features"])
                                   if vals[i] is None)
                    got = sorted(int(x) for x in np.atleast_1d(v.attrs.get("lode_nulls", [])))
                    if got != nulls:
                        problems.append("%s.%s: lode_nulls %s != reference nulls %s" % (
                            d["name"], fl["name"], got[:10], nulls[:10]))
                    if fl.get("nulls") != len(nulls):
                        problems.append("%s.%s: lineage nulls %r != %d" % (
                            d["name"], fl["name"], fl.get("nulls"), len(nulls)))
                    if v.dtype.kind in "iuf" and len(want["features"]):
                        fill = v.attrs.get("_FillValue")
                        arr = v[()]
                        isfill = arr == np.asarray(fill).reshape(-1)[0]
                        if sorted(np.nonzero(isfill)[0].tolist()) != nulls:
                            problems.append("%s.%s: _FillValue marks %s, nulls are %s" % (
                                d["name"], fl["name"], np.nonzero(isfill)[0][:10].tolist(),
                                nulls[:10]))
                    checked += 1
    assert checked > 30, "only %d fields checked" % checked
    assert not problems, "; ".join(problems[:12])


# =========================================================================== 3. extract

@test
def test_extract_equals_ogr2ogr(ctx, tdir):
    """lode extract writes DIR/NAME.gpkg with a layer NAME whose ogrinfo summary
    (geometry type, count, fields and types, CRS) and every feature (nulls included)
    equal the ogr2ogr output."""
    problems = []
    for fx in all_fx(ctx):
        out = extract_all(ctx, os.path.join(tdir), fx["bundle"])
        names = sorted(os.listdir(out))
        want_names = sorted("%s.gpkg" % d["name"] for d in fx["datasets"])
        if names != want_names:
            problems.append("extract wrote %s, want %s" % (names, want_names))
        for d in fx["datasets"]:
            n = d["name"]
            p = os.path.join(out, n + ".gpkg")
            if not os.path.exists(p):
                continue
            want = expected(ctx, fx, d, tdir)
            info, err = ogrinfo_summary(ctx, p)
            rinfo, _ = ogrinfo_summary(ctx, os.path.join(tdir, "%s_ref.gpkg" % n), n)
            if list(info) != [n]:
                problems.append("%s.gpkg: layers %s, want [%r]" % (n, list(info), n))
                continue
            got_i, ref_i = info[n], rinfo[n]
            gt = got_i.get("geometry")
            if gt != ref_i.get("geometry") and not (n == "leases" and gt == "Multi Polygon"):
                problems.append("%s.gpkg: geometry %r != ogr2ogr %r" % (n, gt, ref_i.get("geometry")))
            if got_i.get("count") != len(want["features"]):
                problems.append("%s.gpkg: count %r != %d" % (n, got_i.get("count"),
                                                             len(want["features"])))
            if got_i["fields"] != ref_i["fields"]:
                problems.append("%s.gpkg: fields %s != ogr2ogr %s" % (n, got_i["fields"],
                                                                      ref_i["fields"]))
            if not got_i.get("wkt") or not same_srs(got_i["wkt"], ref_i.get("wkt", "")):
                problems.append("%s.gpkg: CRS differs from ogr2ogr's" % n)
            got = read_layer(p)
            # clip: GEOS may return a Polygon for a MultiPolygon feature; ogr2ogr -clipdst
            # writes it as is, lode keeps the layer's Multi type: compare as Multi.
            problems += compare_layers(n + ".gpkg", got, want,
                                       holes_multi=(n == "leases" or bool(d.get("clip"))),
                                       normalize=bool(d.get("clip")))
    assert not problems, "; ".join(problems[:12])


# =========================================================================== 4. cases

@test
def test_legacy_encoding_refused_without_option(ctx, tdir):
    """A CP1252 .dbf with no .cpg and no language-driver byte: GDAL 3.6 passes the raw
    bytes through (no recoding), and lode refuses the non-UTF-8 text, naming the layer,
    the field and open_options: [ENCODING=...]."""
    shp = case(ctx, "legacy_cp1252.shp")
    src = gdal.OpenEx(shp, gdal.OF_VECTOR)  # keep the dataset alive while its layer is used
    raw = bytes(src.GetLayer(0).GetNextFeature().GetFieldAsBinary("name"))
    src = None
    assert raw == "Montaldo di Mondovì".encode("cp1252"), \
        "fixture: GDAL now decodes the .dbf (%r): re-check this test" % raw
    target = {"crs": "EPSG:4326", "bounds": [7.0, 44.0, 8.5, 45.0], "resolution": 0.01}
    refused(ctx, tdir, target, [{"name": "legacy", "source": shp}],
            mention=("legacy_cp1252", "name", "UTF-8", "open_options", "ENCODING="))


@test
def test_legacy_encoding_cp1252(ctx, tdir):
    """open_options: [ENCODING=CP1252] gives the true text (CP1252's curly quotes, dash
    and euro sign included); ENCODING=ISO-8859-1 is accepted and gives exactly GDAL's
    (wrong) decoding, the same as ogr2ogr -oo ENCODING=ISO-8859-1."""
    shp = case(ctx, "legacy_cp1252.shp")
    target = {"crs": "EPSG:4326", "bounds": [7.0, 44.0, 8.5, 45.0], "resolution": 0.01}
    ds = [{"name": "cp1252", "source": shp, "open_options": ["ENCODING=CP1252"]},
          {"name": "latin1", "source": shp, "open_options": ["ENCODING=ISO-8859-1"]}]
    bundle, _, _ = build(ctx, tdir, target, ds)
    fx = {"bundle": bundle, "target": target}
    out = extract_all(ctx, tdir, bundle)
    got = read_layer(os.path.join(out, "cp1252.gpkg"))
    names = [v[0] for _, v in got["features"]]
    notes = [v[1] for _, v in got["features"]]
    assert names[0] == "Montaldo di Mondovì", "name %r" % names[0]
    assert "Caffè “Alla Torre” – 3 €" in notes, "notes %r" % notes
    lin = lineage(bundle, "cp1252")
    assert lin["source"].get("open_options") == ["ENCODING=CP1252"], lin["source"]
    problems = []
    for d in ds:
        want = expected(ctx, fx, d, tdir)
        problems += compare_layers(d["name"], read_layer(os.path.join(out, d["name"] + ".gpkg")),
                                   want)
        problems += compare_layers(d["name"] + " (netCDF)", read_layer(bundle, d["name"]), want,
                                   via_netcdf=True)
    l1 = read_layer(os.path.join(out, "latin1.gpkg"))
    assert l1["features"][0][1][1] != notes[0] and "\x93" in l1["features"][0][1][1], \
        "ISO-8859-1 should turn CP1252's 0x93 into U+0093: %r" % l1["features"][0][1][1]
    assert not problems, "; ".join(problems[:8])


@test
def test_csv_lonlat_needs_assume_crs(ctx, tdir):
    """A CSV with lon/lat columns read with X_POSSIBLE_NAMES/Y_POSSIBLE_NAMES has no CRS:
    refused without assume_crs (the message says so); with assume_crs: EPSG:4326 it
    equals ogr2ogr -s_srs EPSG:4326, and the lineage records crs_assumed."""
    csv = case(ctx, "towns_lonlat.csv")
    target = {"crs": "EPSG:4326", "bounds": [101.0, 3.0, 102.5, 4.5], "resolution": 0.01}
    oo = ["X_POSSIBLE_NAMES=lon", "Y_POSSIBLE_NAMES=lat", "AUTODETECT_TYPE=YES"]
    refused(ctx, tdir, target, [{"name": "towns", "source": csv, "open_options": oo}],
            mention=("no coordinate reference system", "assume_crs"))
    d = {"name": "towns", "source": csv, "open_options": oo, "assume_crs": "EPSG:4326"}
    bundle, _, _ = build(ctx, tdir, target, [d])
    lin = lineage(bundle, "towns")
    assert lin["source"]["crs_assumed"] is True, lin["source"]
    want = expected(ctx, {"bundle": bundle, "target": target}, d, tdir)
    assert len(want["features"]) == 8, "reference has %d towns" % len(want["features"])
    got = read_layer(os.path.join(extract_all(ctx, tdir, bundle), "towns.gpkg"))
    assert field_sig(got["fields"]) == [("name", "String"), ("lon", "Real"), ("lat", "Real"),
                                        ("population", "Integer")], field_sig(got["fields"])
    probs = compare_layers("towns", got, want)
    assert not probs, "; ".join(probs)


@test
def test_mixed_point_line_refused(ctx, tdir):
    """Points and a line in one layer: refused with a message that names the feature and
    suggests where:; with where: "OGR_GEOMETRY = 'POINT'" the points alone go in."""
    src = case(ctx, "mixed_point_line.geojson")
    target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    refused(ctx, tdir, target, [{"name": "mixed", "source": src}],
            mention=("mixes points and lines", "where:", "OGR_GEOMETRY"))
    d = {"name": "adits", "source": src, "where": "OGR_GEOMETRY = 'POINT'"}
    bundle, _, _ = build(ctx, tdir, target, [d])
    want = expected(ctx, {"bundle": bundle, "target": target}, d, tdir)
    assert len(want["features"]) == 3, "reference has %d points" % len(want["features"])
    got = read_layer(os.path.join(extract_all(ctx, tdir, bundle), "adits.gpkg"))
    assert got["gtype_name"] == "Point", got["gtype_name"]
    probs = compare_layers("adits", got, want)
    assert not probs, "; ".join(probs)


@test
def test_mixed_polygon_multipolygon_promoted(ctx, tdir):
    """Polygons and a MultiPolygon in one GeoJSON layer: stored as MultiPolygon, equal to
    ogr2ogr -nlt MULTIPOLYGON (the polygon with a hole keeps its hole)."""
    fx = malaysia_fx(ctx)
    d = [d for d in fx["datasets"] if d["name"] == "leases"][0]
    ref = read_layer(ref_layer(ctx, tdir, fx["bundle"], d, fx["target"], tag="multi",
                               extra=["-nlt", "MULTIPOLYGON"]))
    r = lode_ok(ctx, ["ls", "--json", fx["bundle"]], tdir)
    item = [x for x in json.loads(r.out)["datasets"] if x["name"] == "leases"][0]
    assert item["geometry_type"] == "MultiPolygon", item["geometry_type"]
    got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "leases.gpkg"))
    assert got["gtype_name"] == "Multi Polygon", got["gtype_name"]
    assert ref["gtype_name"] == "Multi Polygon", ref["gtype_name"]
    probs = compare_layers("leases", got, ref)
    probs += compare_layers("leases (netCDF)", read_layer(fx["bundle"], "leases"), ref,
                            via_netcdf=True)
    assert not probs, "; ".join(probs)
    holes = got["features"][2][0]
    assert holes.GetGeometryRef(0).GetGeometryCount() == 2, "the hole is lost: " + \
        holes.ExportToWkt()


@test
def test_empty_layer_kept(ctx, tdir):
    """A layer with no features is kept: lode ls shows 0 features and its fields, verify
    is OK, extract gives a GeoPackage layer with 0 features and the same fields, and the
    netCDF variables exist (h5py) with length 0."""
    import h5py
    fx = malaysia_fx(ctx)
    r = lode_ok(ctx, ["ls", "--json", fx["bundle"]], tdir)
    item = [x for x in json.loads(r.out)["datasets"] if x["name"] == "boreholes"][0]
    assert item["feature_count"] == 0, item
    assert [(f["name"], f["type"]) for f in item.get("fields", [])] == \
        [("hole_id", "String"), ("depth_m", "Real")], item.get("fields")
    got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "boreholes.gpkg"))
    assert got["count"] == 0 and not got["features"], got["count"]
    assert field_sig(got["fields"]) == [("hole_id", "String"), ("depth_m", "Real")], got["fields"]
    assert got["gtype_name"] == "Point", got["gtype_name"]
    with h5py.File(fx["bundle"], "r") as f:
        assert "boreholes" in f, "no container variable"
        assert f["boreholes_coordX"].shape == (0,), f["boreholes_coordX"].shape
        assert f["boreholes_field_2_depth_m"].shape == (0,)


@test
def test_no_crs_layer(ctx, tdir):
    """A Shapefile with no .prj: refused without assume_crs (message names the source
    and suggests assume_crs); with it, equal to ogr2ogr -s_srs EPSG:3375; assume_crs on
    a layer that has a CRS is refused."""
    src = case(ctx, "nocrs_lines.shp")
    target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    refused(ctx, tdir, target, [{"name": "lines", "source": src}],
            mention=("nocrs_lines.shp", "no coordinate reference system", "assume_crs"))
    refused(ctx, tdir, target, [{"name": "deps", "source": ctx.sample("deposits.gpkg"),
                                 "assume_crs": "EPSG:3168"}],
            mention=("has its own CRS", "remove it"))
    fx = malaysia_fx(ctx)
    d = [d for d in fx["datasets"] if d["name"] == "survey_lines"][0]
    want = expected(ctx, fx, d, tdir)
    assert len(want["features"]) == 5, len(want["features"])
    got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "survey_lines.gpkg"))
    assert got["gtype_name"] == "Line String", got["gtype_name"]
    probs = compare_layers("survey_lines", got, want)
    assert not probs, "; ".join(probs)
    assert lineage(fx["bundle"], "survey_lines")["source"]["crs_assumed"] is True


@test
def test_3d_lines(ctx, tdir):
    """A LineString Z layer: stored with NAME_coordZ, read as 3D Line String by GDAL's
    netCDF driver and by lode extract; Z values equal the source's (the horizontal
    operation leaves them alone, as ogr2ogr does)."""
    import h5py
    fx = malaysia_fx(ctx)
    with h5py.File(fx["bundle"], "r") as f:
        coords = f["traverses"].attrs["node_coordinates"]
        coords = coords.decode() if isinstance(coords, bytes) else str(coords)
        assert coords.split() == ["traverses_coordX", "traverses_coordY", "traverses_coordZ"], \
            coords
        z = f["traverses_coordZ"][()].tolist()
    src = read_layer(case(ctx, "lines_z.gpkg"))
    src_z = [p[2] for g, _ in src["features"] for p in g.GetPoints()]
    assert z == src_z, "Z %s != source %s" % (z, src_z)
    nc = read_layer(fx["bundle"], "traverses")
    assert nc["gtype_name"] == "3D Line String", nc["gtype_name"]
    ex = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "traverses.gpkg"))
    assert ex["gtype_name"] == "3D Line String", ex["gtype_name"]


@test
def test_where_filter(ctx, tdir):
    """where: keeps exactly the features ogr2ogr -where keeps, in order, and the
    lineage records the filter."""
    fx = malaysia_fx(ctx)
    d = [d for d in fx["datasets"] if d["name"] == "gold"][0]
    want = expected(ctx, fx, d, tdir)
    assert 0 < len(want["features"]) < 40, "reference keeps %d" % len(want["features"])
    got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "gold.gpkg"))
    probs = compare_layers("gold", got, want)
    assert not probs, "; ".join(probs)
    assert all(v[2] == "emas / gold" and v[3] is not None for _, v in got["features"])
    assert lineage(fx["bundle"], "gold")["source"].get("where") == d["where"]


@test
def test_where_invalid_refused_at_plan(ctx, tdir):
    """An invalid where: is refused by lode plan (before anything is written), with
    the manifest line and the key named: for a Shapefile (OGR SQL) and for a GeoPackage
    (SQLite SQL, which GDAL checks only when the layer is read)."""
    target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    problems = []
    for d in ({"name": "badshp", "source": case(ctx, "nocrs_lines.shp"),
               "assume_crs": "EPSG:3375", "where": "survey ==== 'x'"},
              {"name": "badgpkg", "source": ctx.sample("deposits.gpkg"),
               "where": "commodity ==== 'x'"}):
        man = os.path.join(tdir, d["name"] + ".yaml")
        write_manifest(man, target, [d], POLICY)
        r = lode(ctx, ["plan", man], tdir)
        assert_no_crash(r)
        if r.rc != 1:
            problems.append("%s: lode plan accepts where: %r: %s" % (d["name"], d["where"],
                                                                      r.brief()))
        elif not ("where:" in r.err and re.search(r"%s\.yaml:\d+" % d["name"], r.err)):
            problems.append("%s: plan message lacks 'where:' or FILE:LINE: %s" % (d["name"],
                                                                                  r.brief()))
        r = refused(ctx, tdir, target, [d])
        if "where:" not in r.err or not re.search(r"refused\.yaml:\d+", r.err):
            problems.append("%s: run message lacks 'where:' or FILE:LINE: %s" % (d["name"],
                                                                                 r.brief()))
    assert not problems, "; ".join(problems)


@test
def test_clip_true_within_bounds(ctx, tdir):
    """clip: true: every stored node lies within target.bounds, and the layer equals
    ogr2ogr -clipdst (geometries compared after Normalize, since GEOS may start a
    clipped ring anywhere)."""
    fx = malaysia_fx(ctx)
    b = fx["target"]["bounds"]
    d = [d for d in fx["datasets"] if d["name"] == "states_clip"][0]
    got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), "states_clip.gpkg"))
    assert got["features"], "no features"
    for g, v in got["features"]:
        e = g.GetEnvelope()  # minx maxx miny maxy
        assert e[0] >= b[0] - EPS and e[1] <= b[2] + EPS and e[2] >= b[1] - EPS and \
            e[3] <= b[3] + EPS, "%s: envelope %s outside bounds %s" % (v[0], e, b)
    ref = read_layer(ref_layer(ctx, tdir, fx["bundle"], d, fx["target"], tag="clip",
                               extra=["-nlt", "PROMOTE_TO_MULTI"]))
    probs = compare_layers("states_clip", got, ref, holes_multi=True, normalize=True)
    assert not probs, "; ".join(probs)
    states = sorted(v[0] for _, v in got["features"])
    assert "Pahang" in states and "Sabah" not in states, states


@test
def test_clip_false_keeps_whole(ctx, tdir):
    """clip: false keeps every feature that intersects the bounds whole (some reach far
    outside them) and drops the others, equal to ogr2ogr plus that rule."""
    fx = malaysia_fx(ctx)
    b = fx["target"]["bounds"]
    problems = []
    for name in ("states_whole", "world", "geology_map"):
        d = [d for d in fx["datasets"] if d["name"] == name][0]
        want = expected(ctx, fx, d, tdir)
        full = read_layer(os.path.join(tdir, "%s_ref.gpkg" % name))
        got = read_layer(os.path.join(extract_all(ctx, tdir, fx["bundle"]), name + ".gpkg"))
        problems += compare_layers(name, got, want)
        if name != "geology_map" and not len(want["features"]) < len(full["features"]):
            problems.append("%s: no feature was outside the bounds" % name)
        outside = [v[0] for g, v in got["features"] if g.GetEnvelope()[0] < b[0] - 0.01 or
                   g.GetEnvelope()[1] > b[2] + 0.01]
        if not outside:
            problems.append("%s: no kept feature reaches beyond the bounds" % name)
    assert not problems, "; ".join(problems[:8])


@test
def test_plan_vector(ctx, tdir):
    """lode plan (the table) and plan --json on vector datasets: exit 0, nothing written, and per dataset kind
    "vector", the source layer and its feature count, and the chosen operation (the
    pinned EPSG:8659 for the Kertau deposits)."""
    target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    ds = [{"name": "deposits", "source": ctx.sample("deposits.gpkg"), "operation": "EPSG:8659"},
          {"name": "geology_map", "source": ctx.sample("geology.gpkg")}]
    man = os.path.join(tdir, "plan.yaml")
    write_manifest(man, target, ds, POLICY)
    before = sorted(os.listdir(tdir))
    r = lode_ok(ctx, ["plan", man], tdir)
    # the table: each layer with its operation code and feature count
    assert re.search(r"^deposits\s+EPSG:3168 -> EPSG:4326\s+EPSG:8659\s+15 m\s+no\s+40 features",
                     r.out, re.M), r.out
    assert re.search(r"^geology_map\s+.*\s10 features", r.out, re.M), r.out
    r = lode_ok(ctx, ["plan", man, "--json"], tdir)
    assert sorted(os.listdir(tdir)) == before, "lode plan wrote files"
    items = {x["dataset"]: x for x in json.loads(r.out)["datasets"]}
    assert items["deposits"]["kind"] == "vector", items["deposits"].get("kind")
    src = items["deposits"]["source"]
    assert (src.get("layer"), src.get("feature_count")) == ("deposits", 40), src
    assert items["deposits"]["operation"]["code"] == "EPSG:8659", items["deposits"]["operation"]
    assert items["geology_map"]["source"].get("feature_count") == 10, items["geology_map"]


@test
def test_multilayer_source_needs_layer(ctx, tdir):
    """A source with several layers and no layer: is refused with the list of layers;
    an unknown layer is refused the same way."""
    sq = ctx.datafile("test3.sqlite")
    target = {"crs": "EPSG:3035", "bounds": [4000000.0, 2250000.0, 4700000.0, 2700000.0],
              "resolution": 1000.0}
    refused(ctx, tdir, target, [{"name": "t", "source": sq}],
            mention=("layer:", "Towns", "HighWays", "Regions"))
    refused(ctx, tdir, target, [{"name": "t", "source": sq, "layer": "Rivers"}],
            mention=("Rivers", "Towns"))


@test
def test_raster_keys_refused_on_vector(ctx, tdir):
    """resampling/bands/nodata/resolution on a vector layer, and clip/where/layer on a
    raster, are refused with a message naming the key."""
    target = {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    dep = ctx.sample("deposits.gpkg")
    for k, v in (("resampling", "bilinear"), ("nodata", 0), ("resolution", 0.01),
                 ("bands", [1])):
        refused(ctx, tdir, target, [{"name": "v", "source": dep, k: v}],
                mention=(k + ":", "rasters only"))
    ras = ctx.sample("dem_kertau.tif")
    for k, v in (("clip", True), ("where", "a = 1")):
        refused(ctx, tdir, target, [{"name": "r", "source": ras, k: v}],
                mention=(k + ":", "vector layers only"))


# =========================================================================== 5. verify

def blamed(r, n):
    bad = re.compile(r"damag|corrupt|mismatch|fail|error|invalid|bad", re.I)
    return any(re.search(r"(?<![\w])%s(?![\w])" % re.escape(n), l) and bad.search(l)
               for l in r.text.splitlines())


@test
def test_verify_intact(ctx, tdir):
    """lode verify on each fixture bundle: exit 0, every vector layer OK."""
    for fx in all_fx(ctx):
        r = lode(ctx, ["verify", fx["bundle"]], tdir)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        for d in fx["datasets"]:
            assert re.search(r"^%s: OK" % re.escape(d["name"]), r.out, re.M), \
                "%s not OK: %s" % (d["name"], r.out[:500])


@test
def test_verify_damaged_vector(ctx, tdir):
    """One change to one vector variable makes lode verify exit 1 naming that layer and
    no other: a coordinate rewritten through h5py (valid chunk, wrong value), a string
    attribute rewritten, a null index removed, and a byte flipped inside a compressed
    chunk."""
    import h5py
    fx = malaysia_fx(ctx)
    names = [d["name"] for d in fx["datasets"]]

    def check(label, victim, mutate):
        c = os.path.join(tdir, "damaged_%s.nc" % label)
        shutil.copyfile(fx["bundle"], c)
        mutate(c)
        r = lode(ctx, ["verify", c], tdir)
        assert_no_crash(r)
        assert r.rc == 1, "%s: want exit 1: %s" % (label, r.brief())
        assert blamed(r, victim), "%s: %s not named: %s" % (label, victim, r.text[:600])
        others = [n for n in names if n != victim and blamed(r, n)]
        assert not others, "%s: also blames %s: %s" % (label, others, r.text[:800])
        r = lode(ctx, ["extract", c, victim, "-o", os.path.join(tdir, "x_" + label)], tdir)
        assert_no_crash(r)
        assert r.rc == 1, "%s: extract of the damaged layer: want exit 1: %s" % (label, r.brief())

    def coord(c):
        with h5py.File(c, "r+") as f:
            v = f["geology_map_coordX"]
            v[3] = v[3] + 1e-7
    check("coord", "geology_map", coord)

    def text(c):
        with h5py.File(c, "r+") as f:
            v = f["deposits_field_2_name"]
            s = v[0]
            s = s.decode() if isinstance(s, bytes) else s
            v[0] = s.replace("Emas", "Emaz")
    check("string", "deposits", text)

    def nulls(c):
        with h5py.File(c, "r+") as f:
            v = f["deposits_field_6_status"]
            v.attrs["lode_nulls"] = np.asarray(v.attrs["lode_nulls"])[1:]
    check("nulls", "deposits", nulls)

    def chunk(c):
        with h5py.File(c, "r") as f:
            info = f["world_coordY"].id.get_chunk_info(0)
        off = info.byte_offset + info.size // 2
        with open(c, "r+b") as fh:
            fh.seek(off)
            b = fh.read(1)
            fh.seek(off)
            fh.write(bytes([b[0] ^ 0x5A]))
    check("chunk", "world", chunk)


# =========================================================================== 6. ls

@test
def test_ls_json_vectors(ctx, tdir):
    """lode ls --json: kind vector, geometry_type, feature_count and the fields (name and
    type, in order) equal what the ogr2ogr reference has; the text listing names them
    too."""
    problems = []
    for fx in all_fx(ctx):
        r = lode_ok(ctx, ["ls", "--json", fx["bundle"]], tdir)
        items = {x["name"]: x for x in json.loads(r.out)["datasets"]}
        t = lode_ok(ctx, ["ls", fx["bundle"]], tdir).out
        for d in fx["datasets"]:
            n = d["name"]
            x = items.get(n)
            if x is None:
                problems.append("%s missing" % n)
                continue
            want = expected(ctx, fx, d, tdir)
            gt = x.get("geometry_type")
            wt = want["gtype_name"].replace("Multi ", "Multi").replace("Line String",
                                                                       "LineString")
            wt = wt.replace("3D ", "3D ")
            if n == "leases":
                wt = "MultiPolygon"
            if x.get("kind") != "vector" or gt != wt:
                problems.append("%s: kind %r geometry_type %r, want vector %r" % (
                    n, x.get("kind"), gt, wt))
            if x.get("feature_count") != len(want["features"]):
                problems.append("%s: feature_count %r != %d" % (n, x.get("feature_count"),
                                                                len(want["features"])))
            fl = [(f.get("name"), f.get("type")) for f in x.get("fields", [])]
            if fl != field_sig(want["fields"]):
                problems.append("%s: fields %s != %s" % (n, fl, field_sig(want["fields"])))
            if not re.search(r"^%s\s+vector %s, %d feature" % (re.escape(n), re.escape(wt),
                                                                len(want["features"])), t, re.M):
                problems.append("%s: text listing lacks 'vector %s, %d features'" % (
                    n, wt, len(want["features"])))
    assert not problems, "; ".join(problems[:12])


@test
def test_threads_give_identical_vector_bundles(ctx, tdir):
    """Vector columns are compressed on several threads in chunks of 65536 values: with
    150,000 points (several chunks per column) -j 1, 2 and 3 give byte-identical bundles
    that verify, and ogrinfo counts every feature."""
    src = os.path.join(tdir, "points.gpkg")
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(src)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4742)
    lyr = ds.CreateLayer("points", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    lyr.CreateField(ogr.FieldDefn("grade", ogr.OFTReal))
    rng = np.random.default_rng(5)
    xs, ys, gs = rng.uniform(101.6, 102.0, 150000), rng.uniform(3.7, 4.0, 150000), rng.gamma(2.0, 1.5, 150000)
    lyr.StartTransaction()
    defn = lyr.GetLayerDefn()
    for i in range(150000):
        f = ogr.Feature(defn)
        f.SetField(0, i)
        f.SetField(1, float(gs[i]))
        f.SetGeometryDirectly(ogr.CreateGeometryFromWkt("POINT (%.9f %.9f)" % (xs[i], ys[i])))
        lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds = None
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [101.5, 3.6, 102.1, 4.1], "resolution": 0.01},
                   [{"name": "points", "source": src}], {"allow_ballpark": True})
    out = bundles_same_for_threads(ctx, tdir, man)
    # GDAL's netCDF reader sees every feature, with the source's values.
    got_ds = ogr.Open(out)  # keep the dataset alive while its layer is read
    got = got_ds.GetLayerByName("points")
    assert got.GetFeatureCount() == 150000, "ogr counts %d features" % got.GetFeatureCount()
    for k, f in enumerate(got):
        if k % 997 == 0:
            g = f.GetGeometryRef()
            assert f.GetField("id") == k and f.GetField("grade") == float(gs[k]), (k, f.GetField("id"))
            assert abs(g.GetX() - xs[k]) < 1e-9 and abs(g.GetY() - ys[k]) < 1e-9, (k, g.ExportToWkt())



def _shares_layer(path, n, late_point=None, z_ids=()):
    """A GeoPackage layer of n features (declared of unknown type, so that 2D and 3D mix)
    for the several-thread read: polygons, some with a hole, some MultiPolygons, a few
    with no geometry and some outside the target bounds; feature ids with a gap (ids
    9000-10999 deleted); fields int, UTF-8 string (some null), date, real.  late_point: a
    feature id that is a point instead; z_ids: the ids of 3D polygons."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4742)
    lyr = ds.CreateLayer("units", srs, ogr.wkbUnknown)
    for name, t in (("unit_id", ogr.OFTInteger), ("name", ogr.OFTString),
                    ("mapped", ogr.OFTDate), ("area_ha", ogr.OFTReal)):
        lyr.CreateField(ogr.FieldDefn(name, t))
    defn = lyr.GetLayerDefn()
    rng = np.random.default_rng(11)
    lyr.StartTransaction()
    for i in range(1, n + 1):
        f = ogr.Feature(defn)
        f.SetFID(i if i < 9000 else i + 2000)
        f.SetField(0, i)
        if i % 13:
            f.SetField(1, "unit %d Sungai Buloh éà" % i)
        f.SetField(2, 2000 + i % 20, 1 + i % 12, 1 + i % 28, 0, 0, 0.0, 0)
        f.SetField(3, float(rng.gamma(2.0, 3.0)))
        x0 = 101.0 + (i % 200) * 0.01 + (3.0 if i % 97 == 0 else 0.0)  # some off the map
        y0 = 3.0 + (i // 200) * 0.005
        zs = " 12.5" if i in z_ids else ""
        def ring(x, y, r):
            pts = ["%.9f %.9f%s" % (x + r * math.cos(a), y + r * math.sin(a), zs)
                   for a in np.linspace(0, 2 * math.pi, 9)[:-1]]
            return "(" + ", ".join(pts + [pts[0]]) + ")"
        if late_point and i == late_point:
            wkt = "POINT (%.9f %.9f)" % (x0, y0)
        elif i % 50 == 0:
            wkt = None
        elif i % 7 == 0:
            wkt = "MULTIPOLYGON ((%s), (%s))" % (ring(x0, y0, 0.002), ring(x0 + 0.005, y0, 0.001))
        elif i % 5 == 0:
            wkt = "POLYGON (%s, %s)" % (ring(x0, y0, 0.003), ring(x0, y0, 0.001))
        else:
            wkt = "POLYGON (%s)" % ring(x0, y0, 0.002)
        if wkt:
            f.SetGeometryDirectly(ogr.CreateGeometryFromWkt(wkt))
        lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds = None


@test
def test_read_in_shares_equals_one_reader(ctx, tdir):
    """A GeoPackage layer is read on several threads, in shares of feature ids: with
    30,000 features (ids with a gap, null and off-map geometries, polygons with holes,
    MultiPolygons, 3D polygons from feature 21,000 to 24,999, null strings) -j 1, 2 and 4 give
    byte-identical bundles that verify; lode extract gives the features back in the
    source's order with the source's values.  (GDAL 3.6's netCDF reader refuses a layer
    with parts and a feature without geometry: docs/bundle-format.md.)  A point at feature 24,000 of a polygon
    layer is refused with the same message, naming that feature, whatever -j; so is a
    --max-memory bound the layer outgrows."""
    src = os.path.join(tdir, "units.gpkg")
    _shares_layer(src, 30000, z_ids=range(21000, 25000))
    target = {"crs": "EPSG:4326", "bounds": [100.9, 2.9, 103.1, 3.8], "resolution": 0.01}
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, target, [{"name": "units", "source": src}], POLICY)
    out = bundles_same_for_threads(ctx, tdir, man, threads=(1, 2, 4))
    src_ds = ogr.Open(src)  # alive while its features are used
    want = [f for f in src_ds.GetLayer(0)]
    want = [f for f in want if f.GetGeometryRef() is None or
            f.GetGeometryRef().GetEnvelope()[0] < 103.1]
    got_ds = ogr.Open(os.path.join(extract_all(ctx, tdir, out), "units.gpkg"))
    got = list(got_ds.GetLayer(0))
    assert len(got) == len(want), "%d features read back, %d in the source's bounds" % (
        len(got), len(want))
    for k in range(0, len(want), 211):
        a, b = want[k], got[k]
        assert b.GetField("unit_id") == a.GetField("unit_id"), (k, b.GetField("unit_id"))
        assert b.GetField("name") == a.GetField("name"), (k, b.GetField("name"))
        assert b.GetField("area_ha") == a.GetField("area_ha"), k
        ga, gb = a.GetGeometryRef(), b.GetGeometryRef()
        if ga is None:
            assert gb is None or gb.IsEmpty(), (k, gb.ExportToWkt())
            continue
        assert gb.Is3D() == ga.Is3D() or not ga.Is3D(), (k, gb.ExportToWkt()[:80])
        pa, pb = ga.GetEnvelope3D(), gb.GetEnvelope3D()
        assert max(abs(u - v) for u, v in zip(pa[:4], pb[:4])) < 1e-9, (k, pa, pb)
        if ga.Is3D():
            assert pb[4] == 12.5 and pb[5] == 12.5, (k, pb)
        elif gb.Is3D():
            assert pb[4] == 0 and pb[5] == 0, (k, pb)  # a 2D feature in a 3D layer

    bad = os.path.join(tdir, "mixed.gpkg")
    _shares_layer(bad, 30000, late_point=24000)
    man = os.path.join(tdir, "bad.yaml")
    write_manifest(man, target, [{"name": "units", "source": bad}], POLICY)
    msgs = []
    for j in ("1", "2", "4"):
        r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "bad.nc"), "-j", j], tdir)
        assert_no_crash(r)
        assert r.rc == 1 and "mixes polygons and points (feature 26000)" in r.err, r.brief()
        msgs.append(r.err)
    assert msgs[0] == msgs[1] == msgs[2], msgs
    assert not leftovers(tdir, "bad.nc"), leftovers(tdir, "bad.nc")
    man = os.path.join(tdir, "m.yaml")
    msgs = []
    for j in ("1", "2"):
        r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "small.nc"), "-j", j,
                       "--max-memory", "3M"], tdir)
        assert_no_crash(r)
        assert r.rc == 1 and "--max-memory allows (3.0 MB)" in r.err, r.brief()
        msgs.append(r.err)
    assert msgs[0] == msgs[1], msgs


@test
def test_view_read_as_one(ctx, tdir):
    """A GeoPackage view registered as a layer (here in descending id order) is read as
    one, in the view's own order, whatever -j: a view has no id b-tree to cut into
    shares, and cutting it would change its order. -j 1 and 2 give byte-identical
    bundles whose first feature is the view's first (id 20000)."""
    src = os.path.join(tdir, "v.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(src)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4742)
    lyr = ds.CreateLayer("units", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("k", ogr.OFTInteger))
    lyr.StartTransaction()
    for i in range(20000):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField(0, i)
        f.SetGeometryDirectly(ogr.CreateGeometryFromWkt("POINT (%.6f 3.5)" % (101 + i * 1e-5)))
        lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds.ExecuteSQL("CREATE VIEW units_rev AS SELECT fid, geom, k FROM units ORDER BY fid DESC")
    ds.ExecuteSQL("INSERT INTO gpkg_contents (table_name, identifier, data_type, srs_id) "
                  "VALUES ('units_rev', 'units_rev', 'features', 4742)")
    ds.ExecuteSQL("INSERT INTO gpkg_geometry_columns (table_name, column_name, "
                  "geometry_type_name, srs_id, z, m) VALUES ('units_rev', 'geom', 'POINT', "
                  "4742, 0, 0)")
    ds = None
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [100.9, 3.0, 101.3, 4.0],
                         "resolution": 0.01},
                   [{"name": "units", "source": src, "layer": "units_rev"}], POLICY)
    out = bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    import h5py
    with h5py.File(out, "r") as f:
        k = f["units_field_1_k"][:]
    assert len(k) == 20000 and k[0] == 19999 and k[-1] == 0, (len(k), k[:3], k[-3:])


@test
def test_max_memory_vector(ctx, tdir):
    """--max-memory: a layer whose values need more than the bound fails at once with a
    message naming the layer and the bound (exit 1, no bundle, no temp file); a bound it
    fits in gives the same bundle as no bound."""
    src = os.path.join(tdir, "big.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(src)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4742)
    lyr = ds.CreateLayer("outlines", srs, ogr.wkbPolygon)
    defn = lyr.GetLayerDefn()
    for k in range(4):  # 4 rings of 60,000 vertices: about 4 MB of x and y
        t = np.linspace(0, 2 * np.pi, 60000, endpoint=False)
        ring = ", ".join("%.9f %.9f" % (101.8 + 0.05 * k + 0.02 * math.cos(a), 3.9 + 0.02 * math.sin(a))
                         for a in t)
        f = ogr.Feature(defn)
        f.SetGeometryDirectly(ogr.CreateGeometryFromWkt("POLYGON ((%s, %s))" % (
            ring, ring.split(", ")[0])))
        lyr.CreateFeature(f)
    ds = None
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [101.5, 3.6, 102.1, 4.1], "resolution": 0.01},
                   [{"name": "outlines", "source": src}], POLICY)
    out = os.path.join(tdir, "small.nc")
    r = lode(ctx, ["run", man, "-o", out, "--max-memory", "2M"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, "2 MB bound: want exit 1: " + r.brief()
    for want in ("layer 'outlines'", "--max-memory allows (2.0 MB)", "dataset 'outlines'"):
        assert want in r.err, "%r not in %r" % (want, r.err)
    assert not leftovers(tdir, "small.nc"), leftovers(tdir, "small.nc")
    a, b = os.path.join(tdir, "a.nc"), os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", man, "-o", a, "-q", "--max-memory", "64M"], tdir)
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    assert open(a, "rb").read() == open(b, "rb").read(), "bundle differs with --max-memory 64M"
    r = lode(ctx, ["run", man, "-o", a, "--max-memory", "lots"], tdir)
    assert r.rc == 2 and "--max-memory takes a size" in r.err, r.brief()

if __name__ == "__main__":
    main()
