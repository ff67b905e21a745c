#!/usr/bin/python3
"""End-to-end tests of lode's raster path: run the CLI, check its bundles with tools we
did not write (gdalwarp, gdalinfo, projinfo, ncdump, h5dump, h5py, xarray).

/usr/bin/python3 tests/e2e/test_raster.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

Prints "PASS name" / "FAIL name: reason" / "SKIP name: reason" per test and a final
"N passed, N failed[, N skipped]"; exit 0 iff nothing failed.  -k SUBSTR runs a subset.
"""
import datetime
import json
import os
import re
import shutil
import stat
import sys

import numpy as np

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (PY, Skip, assert_no_crash, bundles_same_for_threads, compare_pixels,  # noqa: E402
                      footprint, gdalinfo_json, gdalwarp_ref, leftovers, lineage, lode,
                      lode_ok, main, make_target, manifest_text, nc_name, norm_pipe,
                      pipeline_of, projinfo_first, read_raster, run, same_crs, test, tool,
                      wgs84_bbox, write_manifest)


# =========================================================================== fixtures

def build(ctx, tdir, target, datasets, policy=None, name="b.nc", env=None):
    """Write manifest.yaml in tdir, run lode, return (bundle, manifest path, text)."""
    man = os.path.join(tdir, "manifest.yaml")
    txt = write_manifest(man, target, datasets, policy)
    out = os.path.join(tdir, name)
    cwd = os.path.join(tdir, "cwd")
    os.makedirs(cwd, exist_ok=True)
    r = lode(ctx, ["run", man, "-o", out, "-q"], cwd, env)
    assert_no_crash(r)
    assert r.rc == 0, "lode run failed: " + r.brief()
    assert os.path.isfile(out), "lode run exit 0 but no bundle at " + out
    return out, man, txt


SOURCE_DATE_EPOCH = 1764201600  # 2025-11-27T00:00:00Z


def malaysia(ctx):
    """The shared multi-dataset bundle (default error threshold): built once per process
    under WORK/_fixtures; tests only read it (or copy it)."""
    if "malaysia" in ctx.cache:
        if isinstance(ctx.cache["malaysia"], Exception):
            raise ctx.cache["malaysia"]
        return ctx.cache["malaysia"]
    try:
        aero = ctx.sample("aeromag_tmi.tif")
        geo = ctx.sample("geology_units.tif")
        dem = ctx.sample("dem_kertau.tif")
        rad = ctx.sample("radiometric_k.tif")
        grav = ctx.sample("gravity_nocrs.tif")
        tdir = os.path.join(ctx.work, "_fixtures", "malaysia")
        shutil.rmtree(tdir, ignore_errors=True)
        os.makedirs(tdir)
        target = make_target("EPSG:4326", [aero, geo, dem, rad])
        ds = [
            {"name": "aeromag_tmi", "source": aero, "resampling": "bilinear"},
            {"name": "geology_units", "source": geo, "resampling": "nearest"},
            {"name": "dem_kertau", "source": dem, "resampling": "cubic"},
            {"name": "radiometric_k", "source": rad, "resampling": "bilinear"},
            {"name": "radiometric_k2", "source": rad, "resampling": "average", "bands": [2],
             "nodata": -1},
            {"name": "gravity", "source": grav, "resampling": "bilinear",
             "assume_crs": "EPSG:3375"},
            {"name": "dem_et0", "source": dem, "resampling": "bilinear", "error_threshold": 0},
        ]
        policy = {"max_error_m": 20, "allow_ballpark": True}
        # date_created comes only from SOURCE_DATE_EPOCH (reproducible bundles).
        bundle, man, txt = build(ctx, tdir, target, ds, policy,
                                 env=ctx.env(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH))
        fx = {"dir": tdir, "bundle": bundle, "manifest": man, "text": txt, "target": target,
              "datasets": ds, "policy": policy}
    except (Skip, AssertionError) as e:
        ctx.cache["malaysia"] = type(e)("fixture malaysia: %s" % e)
        raise ctx.cache["malaysia"]
    ctx.cache["malaysia"] = fx
    return fx


def names_of(fx):
    return [d["name"] for d in fx["datasets"]]


def ref_for(ctx, tdir, fx, d, et=None, extra=(), tag="ref", of="GTiff", use_ct=True):
    pipe = pipeline_of(fx["bundle"], d["name"]) if use_ct else None
    ext = ".vrt" if of == "VRT" else ".tif"
    out = os.path.join(tdir, "%s_%s%s" % (d["name"], tag, ext))
    return gdalwarp_ref(ctx, fx["dir"], fx["target"], d, out, et=et, ct=pipe, extra=extra,
                        of=of)


# =========================================================================== 1. metadata

@test
def test_gdalinfo_matches_gdalwarp(ctx, tdir):
    """Each raster of a multi-dataset bundle: CRS, geotransform, nodata, type and band
    count as gdalinfo reads them equal those of the gdalwarp output."""
    fx = malaysia(ctx)
    problems = []
    for d in fx["datasets"]:
        n = d["name"]
        info = gdalinfo_json(ctx, nc_name(fx["bundle"], n), problems)
        ref = gdalinfo_json(ctx, ref_for(ctx, tdir, fx, d))
        wkt = info.get("coordinateSystem", {}).get("wkt", "")
        if not wkt:
            problems.append("%s: no CRS" % n)
        elif not same_crs(wkt, ref["coordinateSystem"]["wkt"]):
            problems.append("%s: CRS differs from gdalwarp's" % n)
        if info.get("geoTransform") != ref["geoTransform"]:
            problems.append("%s: geotransform %s != gdalwarp %s" % (
                n, info.get("geoTransform"), ref["geoTransform"]))
        else:
            # gdalinfo prints 16 digits; through the API GDAL's netCDF driver derives the
            # transform from the x/y coordinate variables, so allow rounding only
            gt = read_raster(nc_name(fx["bundle"], n))[3]["gt"]
            rgt = ref["geoTransform"]
            tol = 1e-9 * abs(rgt[1])
            if any(abs(a - b) > tol for a, b in zip(gt, rgt)):
                problems.append("%s: GDAL API geotransform %r != gdalwarp %r" % (n, gt, rgt))
        if info["size"] != ref["size"]:
            problems.append("%s: size %s != %s" % (n, info["size"], ref["size"]))
        if len(info["bands"]) != len(ref["bands"]):
            problems.append("%s: %d bands != gdalwarp %d" % (n, len(info["bands"]),
                                                              len(ref["bands"])))
        for bi, (b, rb) in enumerate(zip(info["bands"], ref["bands"])):
            if b["type"] != rb["type"]:
                problems.append("%s band %d: type %s != %s" % (n, bi + 1, b["type"], rb["type"]))
            if b.get("noDataValue") != rb.get("noDataValue"):
                problems.append("%s band %d: nodata %r != %r" % (
                    n, bi + 1, b.get("noDataValue"), rb.get("noDataValue")))
    problems.sort(key=lambda p: "stderr:" in p)  # reader warnings after the mismatches
    assert not problems, "; ".join(problems)


@test
def test_root_metadata(ctx, tdir):
    """ACDD/CF root attributes through netCDF4 (not h5py): Conventions, the manifest's
    bundle texts, the manifest itself, lat/lon bounds equal to the EPSG:4326 target."""
    fx = malaysia(ctx)
    r = run([PY, "-W", "error", "-c", """
import json, sys, netCDF4
d = netCDF4.Dataset(sys.argv[1])
print(json.dumps({k: (d.getncattr(k) if isinstance(d.getncattr(k), str) else
                      float(d.getncattr(k))) for k in d.ncattrs()
                  if isinstance(d.getncattr(k), str) or getattr(d.getncattr(k), 'size', 1) == 1}))
""", fx["bundle"]], env=ctx.env())
    assert r.rc == 0, r.brief()
    a = json.loads(r.out)
    problems = []
    for k in ("Conventions", "title", "summary", "institution", "license", "date_created",
              "geospatial_bounds", "lode_version", "lode_manifest", "lode_bundle_sha256",
              "geospatial_lat_min", "geospatial_lat_max", "geospatial_lon_min",
              "geospatial_lon_max"):
        if k not in a:
            problems.append("missing " + k)
    if problems:
        raise AssertionError("root attributes: " + ", ".join(problems))
    conv = [c.strip() for c in a["Conventions"].replace(",", " ").split()]
    assert "CF-1.8" in conv and "ACDD-1.3" in conv, "Conventions %r" % a["Conventions"]
    assert a["title"] == "lode e2e test" and a["license"] == "CC0-1.0", \
        "title/license %r %r" % (a["title"], a["license"])
    assert a["lode_manifest"] == fx["text"], "lode_manifest is not the manifest text"
    b = fx["target"]["bounds"]
    got = [a["geospatial_lon_min"], a["geospatial_lat_min"], a["geospatial_lon_max"],
           a["geospatial_lat_max"]]
    assert np.allclose(got, b, atol=1e-9, rtol=0), "geospatial lon/lat min/max %s != bounds %s" % (
        got, b)
    assert re.fullmatch(r"[0-9a-f]{64}", a["lode_bundle_sha256"]), "lode_bundle_sha256 %r" % (
        a["lode_bundle_sha256"])
    want = datetime.datetime.fromtimestamp(SOURCE_DATE_EPOCH, datetime.timezone.utc)
    assert a["date_created"] == want.strftime("%Y-%m-%dT%H:%M:%SZ"), \
        "date_created %r, want SOURCE_DATE_EPOCH %s" % (a["date_created"], want)


# =========================================================================== 2. exact pixels

def exact_case(ctx, tdir, target, datasets, policy):
    bundle, man, txt = build(ctx, tdir, target, datasets, policy)
    fx = {"dir": tdir, "bundle": bundle, "target": target, "datasets": datasets}
    problems = []
    for d in datasets:
        n = d["name"]
        try:
            lin = lineage(bundle, n)
            pipe = pipeline_of(bundle, n)
            ref = ref_for(ctx, tdir, fx, d, et=0)
            compare_pixels(n, read_raster(nc_name(bundle, n)), read_raster(ref), exact=True)
            # the operation: what PROJ lists first when the policy accepts it
            src = read_raster_wkt(d)
            first = projinfo_first(ctx, src, target["crs"], wgs84_bbox(
                d["source"], d.get("assume_crs")))
            if first is None:
                continue
            acceptable = (policy.get("allow_ballpark") or
                          (not first["ballpark"] and first["accuracy"] is not None and
                           first["accuracy"] <= policy.get("max_error_m", 1e99)))
            if acceptable and norm_pipe(first["pipeline"]) != norm_pipe(pipe):
                problems.append("%s: lineage pipeline %r != projinfo's first %r (%s)" % (
                    n, pipe, first["pipeline"], first["desc"][:80]))
            acc = (lin.get("operation") or {}).get("accuracy_m")
            if acceptable and first["accuracy"] is not None and acc != first["accuracy"]:
                problems.append("%s: accuracy_m %r != projinfo %r" % (n, acc, first["accuracy"]))
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


def read_raster_wkt(d):
    if d.get("assume_crs"):
        return d["assume_crs"]
    from osgeo import gdal, osr
    s = osr.SpatialReference()
    s.ImportFromWkt(gdal.Open(d["source"]).GetProjection())
    return s.ExportToWkt(["FORMAT=WKT2_2019"])


@test
def test_exact_many_strips(ctx, tdir):
    """A target grid of several 512 x 512 chunks each way (lode warps it strip by strip
    and writes chunk by chunk): with error_threshold 0 every pixel still equals one
    gdalwarp -et 0 run over the whole grid, for a single-band Float32 grid and for a
    3-band one."""
    aero, rad = ctx.sample("aeromag_tmi.tif"), ctx.sample("radiometric_k.tif")
    target = make_target("EPSG:4326", [aero], res=0.00025, max_pixels=4000 * 4000,
                         error_threshold=0)
    width = round((target["bounds"][2] - target["bounds"][0]) / 0.00025)
    height = round((target["bounds"][3] - target["bounds"][1]) / 0.00025)
    assert width > 1024 and height > 1024, "precondition: grid %dx%d is not multi-chunk" % (
        width, height)
    ds = [{"name": "aeromag_tmi", "source": aero, "resampling": "bilinear"},
          {"name": "radiometric_k", "source": rad, "resampling": "cubic"}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": True})


@test
def test_threads_give_identical_bundles(ctx, tdir):
    """The parallel writer: -j 1, 2 and 3 give byte-identical bundles (cmp), on a grid of
    several chunks each way with a multi-band raster, and each verifies."""
    aero, rad = ctx.sample("aeromag_tmi.tif"), ctx.sample("radiometric_k.tif")
    target = make_target("EPSG:4326", [aero], res=0.0003, max_pixels=4000 * 4000)
    ds = [{"name": "aeromag_tmi", "source": aero, "resampling": "bilinear"},
          {"name": "radiometric_k", "source": rad, "resampling": "bilinear"}]
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, ds, {"allow_ballpark": True})
    bundles_same_for_threads(ctx, tdir, man)


def kernel_runs(ctx, tdir, man, tag):
    """lode run of man with lode's bilinear kernel and with LODE_WARP_KERNEL=gdal: the two
    bundles must be byte-identical.  Returns the (kernel, gdal) window counts of both
    runs, from LODE_PROFILE's last line."""
    counts = []
    outs = []
    for k in ("lode", "gdal"):
        env = ctx.env()
        env["LODE_PROFILE"] = "1"
        if k == "gdal":
            env["LODE_WARP_KERNEL"] = "gdal"
        out = os.path.join(tdir, "%s-%s.nc" % (tag, k))
        r = lode(ctx, ["run", man, "-o", out, "-q"], tdir, env)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        m = re.findall(r"windows so far: (\d+) by lode's bilinear kernel, (\d+) by GDAL's", r.err)
        assert m, "%s: no profile line in %r" % (tag, r.err[-300:])
        counts.append(tuple(int(x) for x in m[-1]))
        outs.append(open(out, "rb").read())
    assert counts[1][0] == 0, "%s: LODE_WARP_KERNEL=gdal still used lode's kernel" % tag
    if outs[0] != outs[1]:
        a, b = (read_raster_all(os.path.join(tdir, "%s-%s.nc" % (tag, k))) for k in ("lode", "gdal"))
        raise AssertionError("%s: bundles differ between lode's kernel and GDAL's warper: %s" % (
            tag, "; ".join(n for n in a if np.asarray(a[n]).tobytes() != np.asarray(b[n]).tobytes())))
    return counts


def read_raster_all(bundle):
    import h5py
    out = {}
    with h5py.File(bundle, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


@test
def test_bilinear_kernel_equals_gdal_warper(ctx, tdir):
    """lode's own bilinear kernel (one Float32, Int16, UInt16 or Byte band with nodata)
    writes byte-identical bundles to GDAL's warper, window by window: geographic and
    projected targets, the default error threshold and 0, grids wider than the sources
    (empty and partly covered windows, split like GDAL splits them), finer grids, and a
    coarser grid where GDAL resamples with its wider kernel (those windows must fall back
    to GDAL's warper).  The kernel must really have run (LODE_PROFILE counts).  Where the
    error threshold is 0, every dataset also equals gdalwarp -et 0's pixels exactly."""
    aero, grav = ctx.sample("aeromag_tmi.tif"), ctx.sample("gravity_nocrs.tif")
    rad = ctx.sample("radiometric_k.tif")
    dem, geo = ctx.sample("dem_kertau.tif"), ctx.sample("geology_units.tif")
    b5 = ctx.realfile("sr_b5_20200829.tif")
    policy = {"allow_ballpark": True}
    cases = [
        ("geo", make_target("EPSG:4326", [aero], max_pixels=1400 * 1400, margin=300),
         [{"name": "aeromag", "source": aero, "resampling": "bilinear"},
          {"name": "gravity", "source": grav, "resampling": "bilinear",
           "assume_crs": "EPSG:3375"},
          {"name": "rad_band2", "source": rad, "resampling": "bilinear", "bands": [2]}]),
        ("exact", make_target("EPSG:4326", [aero], max_pixels=1400 * 1400, margin=40,
                              error_threshold=0),
         [{"name": "aeromag", "source": aero, "resampling": "bilinear"}]),
        # a large error threshold: many points near the source's edges land just outside
        # it by the approximate transformer and are transformed again exactly
        ("loose", make_target("EPSG:4326", [aero], max_pixels=1400 * 1400, margin=40,
                              error_threshold=3.0),
         [{"name": "aeromag", "source": aero, "resampling": "bilinear"}]),
        ("utm_fine", make_target("EPSG:32647", [aero], res=60.0, error_threshold=0),
         [{"name": "aeromag", "source": aero, "resampling": "bilinear"}]),
        ("coarse", make_target("EPSG:32647", [aero], res=190.0),
         [{"name": "aeromag", "source": aero, "resampling": "bilinear"}]),
        # integer types: clamping, rounding, stepping off the nodata value
        ("dem", make_target("EPSG:4326", [dem], res=0.0005, margin=100, error_threshold=0),
         [{"name": "dem", "source": dem, "resampling": "bilinear"},
          # nodata 100: interpolated values that round to 100 step off it to 99
          {"name": "dem_nd100", "source": dem, "resampling": "bilinear", "nodata": 100},
          {"name": "geology", "source": geo, "resampling": "bilinear"}]),
        ("montana", make_target("EPSG:32612", [b5], res=25.0, error_threshold=0),
         [{"name": "sr_b5", "source": b5, "resampling": "bilinear"}]),
    ]
    problems = []
    for tag, target, ds in cases:
        d = os.path.join(tdir, tag)
        os.makedirs(d, exist_ok=True)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, policy)
        try:
            (fast, slow), _ = kernel_runs(ctx, d, man, tag)
            if tag == "coarse":
                if slow == 0:
                    problems.append("coarse: no window fell back to GDAL's warper")
            elif fast == 0:
                problems.append("%s: lode's bilinear kernel warped no window" % tag)
            if target.get("error_threshold") == 0:
                bundle = os.path.join(d, tag + "-lode.nc")
                for x in ds:
                    ref = gdalwarp_ref(ctx, d, target, x, os.path.join(d, x["name"] + "_ref.tif"), et=0)
                    compare_pixels("%s/%s" % (tag, x["name"]), read_raster(nc_name(bundle, x["name"])),
                                   read_raster(ref), exact=True)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


@test
def test_max_memory_raster(ctx, tdir):
    """--max-memory bounds the threads: -j 4 on a grid about 3000 pixels wide (a strip of
    6 MB) with a 40 MB bound (a quarter for GDAL's block cache, three strips, five
    chunk-sized buffers per worker) warps with 1 worker thread (LODE_PROFILE) into the
    same bundle as without a bound, with a smaller peak RSS (/usr/bin/time); 20 MB cannot
    hold a strip: exit 1 naming the dataset and the bound, nothing left; in lode
    reproject the part fails with that reason and lode status shows it."""
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.00012, max_pixels=10 ** 8)
    width = round((target["bounds"][2] - target["bounds"][0]) / target["resolution"])
    assert 2600 < width < 4000, "precondition: grid %d wide" % width
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "aeromag", "source": aero, "resampling": "bilinear"}],
                   {"allow_ballpark": True})
    env = ctx.env()
    env["LODE_PROFILE"] = "1"
    runs = {}
    for tag, extra in (("free", []), ("bound", ["--max-memory", "40M"])):
        out = os.path.join(tdir, tag + ".nc")
        r = run(["/usr/bin/time", "-f", "maxrss %M", ctx.lode, "run", man, "-o", out, "-q", "-j", "4"]
                + extra, env=env, cwd=tdir)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        threads = re.findall(r"profile: aeromag: (\d+) threads", r.err)
        rss = re.findall(r"maxrss (\d+)", r.err)
        assert threads and rss, r.err[-400:]
        runs[tag] = (int(threads[-1]), int(rss[-1]), open(out, "rb").read())
    assert runs["free"][0] == 4, "without a bound: %d threads, -j 4 asked" % runs["free"][0]
    assert runs["bound"][0] == 1, "40 MB bound: %d threads, want 1" % runs["bound"][0]
    assert runs["bound"][2] == runs["free"][2], "bundles differ with --max-memory"
    assert runs["bound"][1] < runs["free"][1], "peak RSS %d KB with the bound, %d KB without" % (
        runs["bound"][1], runs["free"][1])
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "tiny.nc"), "--max-memory", "20M"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, "20 MB: want exit 1: " + r.brief()
    for want in ("dataset 'aeromag'", "--max-memory allows (20 MB)", "a strip of"):
        assert want in r.err, "%r not in %r" % (want, r.err)
    assert not leftovers(tdir, "tiny.nc"), leftovers(tdir, "tiny.nc")
    # the stage: the part fails with the reason, which status shows
    work = os.path.join(tdir, "work")
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir)
    r = lode(ctx, ["reproject", "-w", work, "-q", "--max-memory", "20M"], tdir)
    assert r.rc == 1 and "--max-memory allows (20 MB)" in r.err, r.brief()
    st = lode(ctx, ["status", "-w", work], tdir)
    assert st.rc == 3 and "failed" in st.out and "--max-memory" in st.out, st.brief()


@test
def test_exact_malaysia_geographic(ctx, tdir):
    """error_threshold 0, EPSG:4326 target: Float32 with nodata (aeromag), categorical
    nearest (geology), Int16 DEM (Kertau RSO, cubic), 3-band Float32 (average)."""
    aero, geo = ctx.sample("aeromag_tmi.tif"), ctx.sample("geology_units.tif")
    dem, rad = ctx.sample("dem_kertau.tif"), ctx.sample("radiometric_k.tif")
    target = make_target("EPSG:4326", [aero, dem], error_threshold=0)
    ds = [{"name": "aeromag_tmi", "source": aero, "resampling": "bilinear"},
          {"name": "geology_units", "source": geo, "resampling": "nearest"},
          {"name": "dem_kertau", "source": dem, "resampling": "cubic"},
          {"name": "radiometric_k", "source": rad, "resampling": "average"},
          {"name": "geology_nd3", "source": geo, "resampling": "nearest", "nodata": 3}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": True})


@test
def test_exact_malaysia_projected(ctx, tdir):
    """error_threshold 0, projected target (WGS 84 /
    UTM 47N), coarser grid than the sources, lanczos/mode/max/med/min resampling,
    per-dataset resolution override, band subset in a new order."""
    aero, geo = ctx.sample("aeromag_tmi.tif"), ctx.sample("geology_units.tif")
    dem, rad = ctx.sample("dem_kertau.tif"), ctx.sample("radiometric_k.tif")
    target = make_target("EPSG:32647", [aero, dem], res=150.0, error_threshold=0)
    ds = [{"name": "aeromag_tmi", "source": aero, "resampling": "lanczos"},
          {"name": "geology_mode", "source": geo, "resampling": "mode"},
          {"name": "dem_fine", "source": dem, "resampling": "bilinear", "resolution": 75.0},
          {"name": "rad_max", "source": rad, "resampling": "max", "bands": [3, 1]},
          {"name": "dem_med", "source": dem, "resampling": "med"},
          {"name": "dem_min", "source": dem, "resampling": "min"}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": True})


@test
def test_exact_rgb_multiband_byte(ctx, tdir):
    """error_threshold 0: 3-band Byte with nodata 0 (WGS 84 / UTM 18N) to Web Mercator."""
    rgb = ctx.datafile("RGB.byte.tif")
    target = make_target("EPSG:3857", [rgb], res=300.0, shrink=0.05, error_threshold=0)
    ds = [{"name": "rgb", "source": rgb, "resampling": "bilinear"},
          {"name": "rgb_green", "source": rgb, "resampling": "cubicspline", "bands": [2]}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": False})


@test
def test_exact_montana_utm(ctx, tdir):
    """error_threshold 0: real NAD83 / UTM 12N rasters (Byte with colour table, UInt16)
    onto a WGS 84 / UTM 12N grid in their own area (NAD83 to WGS 84 operation)."""
    tcc = ctx.realfile("storml_tcc.tif")
    b5 = ctx.realfile("sr_b5_20200829.tif")
    target = make_target("EPSG:32612", [tcc, b5], res=25.0, error_threshold=0)
    ds = [{"name": "storml_tcc", "source": tcc, "resampling": "nearest"},
          {"name": "sr_b5", "source": b5, "resampling": "cubic"}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": False})


@test
def test_exact_brazil_sirgas(ctx, tdir):
    """error_threshold 0: SIRGAS 2000 / UTM 25S 6-band Byte (band subset, no nodata) and
    the Olinda DEM (UTM 25S CRS without an EPSG code) to EPSG:4326."""
    l7 = ctx.realfile("L7_ETMs.tif")
    dem = ctx.realfile("olinda_dem_utm25s.tif")
    target = make_target("EPSG:4326", [l7], res=0.0003, error_threshold=0)
    ds = [{"name": "l7_etms", "source": l7, "resampling": "bilinear", "bands": [1, 4, 6]},
          {"name": "olinda_dem", "source": dem, "resampling": "cubic"}]
    exact_case(ctx, tdir, target, ds, {"max_error_m": 20, "allow_ballpark": True})


# =========================================================================== 3. threshold

@test
def test_default_threshold_within_gdalwarp_self_difference(ctx, tdir):
    """Default error_threshold (0.125 px): |lode - gdalwarp| <= the largest difference
    between gdalwarp runs that differ only in their window layout (-wm 1, warped VRTs
    with several block sizes including lode's chunk shape).  A dataset overriding
    error_threshold with 0 must equal gdalwarp -et 0 exactly."""
    fx = malaysia(ctx)
    problems = []
    for d in fx["datasets"]:
        n = d["name"]
        if d.get("error_threshold") == 0:  # per-dataset override: exact
            try:
                compare_pixels(n, read_raster(nc_name(fx["bundle"], n)),
                               read_raster(ref_for(ctx, tdir, fx, d, tag="et0")))
            except AssertionError as e:
                problems.append("%s (error_threshold: 0 override)" % e)
            continue
        direct = read_raster(ref_for(ctx, tdir, fx, d, tag="direct"))
        layouts = [read_raster(ref_for(ctx, tdir, fx, d, tag="wm1", extra=["-wm", "1"]))]
        blocks = {(16, 16), (64, 64), (256, 256), (direct[0].shape[-1], 32)}
        try:  # also the layout of lode's own chunks (what a chunk-aligned warper does)
            import h5py
            with h5py.File(fx["bundle"], "r") as f:
                ch = f["/%s/%s" % (n, n)].chunks
            if ch:
                blocks.add((ch[-1], ch[-2]))
        except Exception:
            pass
        vrt = ref_for(ctx, tdir, fx, d, tag="vrt", of="VRT")
        xml = open(vrt).read()
        for bx, by in sorted(blocks):
            v2 = vrt[:-4] + "_%dx%d.vrt" % (bx, by)
            with open(v2, "w") as fh:
                fh.write(re.sub(r"<BlockYSize>\d+</BlockYSize>", "<BlockYSize>%d</BlockYSize>" % by,
                                re.sub(r"<BlockXSize>\d+</BlockXSize>",
                                       "<BlockXSize>%d</BlockXSize>" % bx, xml)))
            tif = v2[:-4] + ".tif"
            tool(["gdal_translate", "-q", v2, tif], ctx)
            layouts.append(read_raster(tif))
        bound = 0.0
        agree = np.ones(direct[1].shape, bool)
        for lay in layouts:
            valid = ~direct[1] & ~lay[1]
            if valid.any():
                bound = max(bound, float(np.abs(direct[0] - lay[0])[valid].max()))
            agree &= direct[1] == lay[1]
        try:
            compare_pixels(n, read_raster(nc_name(fx["bundle"], n)), direct, exact=False,
                           bound=bound, mask_ok=agree)
        except AssertionError as e:
            problems.append(str(e) + " (gdalwarp self-difference bound %g)" % bound)
    assert not problems, "; ".join(problems)


# =========================================================================== 4. readers

@test
def test_ncdump_h5dump_clean(ctx, tdir):
    """ncdump -h, ncdump (data of one small variable) and h5dump -H open the bundle with
    exit 0 and nothing on stderr."""
    fx = malaysia(ctx)
    for cmd in (["ncdump", "-h", fx["bundle"]], ["h5dump", "-H", fx["bundle"]],
                ["ncdump", "-v", "x", "-g", "aeromag_tmi", fx["bundle"]]):
        r = run(cmd, env=ctx.env())
        assert r.rc == 0 and not r.err.strip(), r.brief()
        assert "phony_dim" not in r.out, "%s shows phony_dim_N (missing dimension scale)" % cmd[0]
    r = run(["ncdump", "-h", fx["bundle"]], env=ctx.env())
    for n in names_of(fx):
        assert re.search(r"group: %s \{" % re.escape(n), r.out), "ncdump -h lacks group " + n


WALK = r"""
import sys, warnings, h5py, numpy
warnings.simplefilter('error')
seen = []
with h5py.File(sys.argv[1], 'r') as f:
    def visit(name, obj):
        for k in obj.attrs.keys():
            obj.attrs[k]
        if isinstance(obj, h5py.Dataset):
            obj[()]
        seen.append(name)
    for k in f.attrs.keys():
        f.attrs[k]
    f.visititems(visit)
print(len(seen))
"""

XR = r"""
import sys, warnings, netCDF4, xarray as xr  # numpy's own import-time filters stay
# Only what lode controls: xarray's loading of its backend plugins (any installed on the
# machine, e.g. python3-rioxarray's, may warn) happens first without the error filter,
# and the file is then opened through the netCDF4 backend alone, warnings as errors.
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    xr.backends.list_engines()
warnings.simplefilter('error')
b = sys.argv[1]
with xr.open_dataset(b, engine='netcdf4') as ds:
    ds.load()
for n in sys.argv[2:]:
    with xr.open_dataset(b, group='/' + n, engine='netcdf4') as ds:
        ds.load()
        v = ds[n]
        assert v.dims[-2:] == ('y', 'x'), (n, v.dims)
        assert 'x' in ds.coords and 'y' in ds.coords, (n, list(ds.coords))
        print(n, dict(v.sizes))
"""


@test
def test_h5py_walk_clean(ctx, tdir):
    """h5py (python -W error) reads every object and attribute of the bundle."""
    fx = malaysia(ctx)
    r = run([PY, "-W", "error", "-c", WALK, fx["bundle"]], env=ctx.env())
    assert r.rc == 0 and not r.err.strip(), r.brief()
    assert int(r.out.split()[-1]) >= len(fx["datasets"]) * 4, "too few objects: " + r.out


@test
def test_xarray_open_clean(ctx, tdir):
    """xarray (warnings as errors once its plugins are loaded: an unrelated backend
    installed on the machine may warn then) opens the root and every dataset group with
    its netCDF4 backend and loads it;
    data variables have (.., y, x) dims with x/y coordinates; multi-band has 'band'."""
    fx = malaysia(ctx)
    r = run([PY, "-c", XR, fx["bundle"]] + names_of(fx), env=ctx.env())
    assert r.rc == 0 and not r.err.strip(), r.brief()
    assert "'band': 3" in r.out, "radiometric_k has no band dim of 3: " + r.out


# =========================================================================== 5. policy

def policy_run(ctx, tdir, target, d, policy, env):
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [d], policy)
    out = os.path.join(tdir, "out")
    os.makedirs(out, exist_ok=True)
    cwd = os.path.join(tdir, "cwd")  # holds no grid file
    os.makedirs(cwd, exist_ok=True)
    bundle = os.path.join(out, "b.nc")
    r = lode(ctx, ["run", man, "-o", bundle, "-q"], cwd, env)
    assert_no_crash(r)
    return r, bundle, out


@test
def test_policy_kertau_epsg1158(ctx, tdir):
    """Kertau 1968 RSO to EPSG:4326 records EPSG:1158, 15 m, not ballpark."""
    dem = ctx.sample("dem_kertau.tif")
    target = make_target("EPSG:4326", [dem], res=0.002)
    r, b, _ = policy_run(ctx, tdir, target, {"name": "dem_kertau", "source": dem,
                                             "resampling": "bilinear"},
                         {"max_error_m": 20, "allow_ballpark": False}, ctx.env())
    assert r.rc == 0, r.brief()
    first = projinfo_first(ctx, "EPSG:3168", "EPSG:4326", wgs84_bbox(dem))
    op = lineage(b, "dem_kertau").get("operation") or {}
    # The chosen operation is "Kertau (RSO) to Kertau 1968 (1) + Kertau 1968 to WGS 84 (1)"
    # whose datum-shift step is EPSG:1158; the concatenation is EPSG:8659 in the EPSG
    # dataset.  Accept 8659 only if the record also names its 1158 step.
    code = op.get("code")
    assert code == "EPSG:1158" or (code == "EPSG:8659" and "EPSG:1158" in json.dumps(op)), \
        "operation.code %r, want EPSG:1158 (%s)" % (code, first["desc"][:100])
    assert op.get("accuracy_m") == 15 == first["accuracy"], "accuracy_m %r (projinfo %r)" % (
        op.get("accuracy_m"), first["accuracy"])
    assert op.get("ballpark") is False, "ballpark %r" % op.get("ballpark")
    assert norm_pipe(op.get("proj_pipeline")) == norm_pipe(first["pipeline"]), \
        "pipeline %r != projinfo %r" % (op.get("proj_pipeline"), first["pipeline"])


@test
def test_policy_gdm2000_ballpark_refused(ctx, tdir):
    """GDM2000 to EPSG:4326 has only a ballpark operation: refused when
    allow_ballpark is false (exit 1, message names ballpark and the dataset, no bundle)."""
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.002)
    first = projinfo_first(ctx, "EPSG:3375", "EPSG:4326", wgs84_bbox(aero))
    assert first["ballpark"], "precondition: PROJ lists a non-ballpark op: " + first["desc"]
    r, b, out = policy_run(ctx, tdir, target, {"name": "aeromag_tmi", "source": aero},
                           {"max_error_m": 20, "allow_ballpark": False}, ctx.env())
    assert r.rc == 1, "want exit 1: " + r.brief()
    assert "ballpark" in r.err.lower() and "aeromag_tmi" in r.err, \
        "stderr must mention ballpark and aeromag_tmi: " + r.brief()
    assert not leftovers(out, "b.nc"), "left behind: %s" % leftovers(out, "b.nc")


@test
def test_policy_gdm2000_ballpark_allowed(ctx, tdir):
    """The same with allow_ballpark true: succeeds and records ballpark true and an
    unknown (null) accuracy."""
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.002)
    r, b, _ = policy_run(ctx, tdir, target, {"name": "aeromag_tmi", "source": aero},
                         {"max_error_m": 20, "allow_ballpark": True}, ctx.env())
    assert r.rc == 0, r.brief()
    op = lineage(b, "aeromag_tmi").get("operation") or {}
    assert op.get("ballpark") is True, "ballpark %r" % op.get("ballpark")
    assert op.get("accuracy_m") is None, "accuracy_m %r, want null" % op.get("accuracy_m")


@test
def test_policy_nad27_grid_used(ctx, tdir):
    """NAD27 to NAD83 with the conus grid on PROJ_DATA records the grid and 0.15 m, and
    the pixels equal gdalwarp's (-et 0) under the same environment."""
    grids = ctx.grid_dir()
    src = ctx.sample("nad27_grid.tif")
    env = ctx.env(proj_data=grids + ":/usr/share/proj")
    target = make_target("EPSG:4269", [src], error_threshold=0)
    d = {"name": "nad27_grid", "source": src, "resampling": "bilinear"}
    r, b, _ = policy_run(ctx, tdir, target, d, {"max_error_m": 1, "allow_ballpark": False}, env)
    assert r.rc == 0, r.brief()
    op = lineage(b, "nad27_grid").get("operation") or {}
    names = [g.get("name") for g in (op.get("grids") or []) if isinstance(g, dict)]
    assert any(os.path.basename(str(n)) in ("conus", "us_noaa_conus.tif") for n in names), \
        "grids %r" % (op.get("grids"),)
    first = projinfo_first(ctx, "EPSG:4267", "EPSG:4269", wgs84_bbox(src), env=env)
    assert op.get("accuracy_m") == 0.15 == first["accuracy"], "accuracy_m %r (projinfo %r)" % (
        op.get("accuracy_m"), first["accuracy"])
    assert "hgridshift" in (op.get("proj_pipeline") or ""), "pipeline %r" % op.get("proj_pipeline")
    ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"), et=0, env=env)
    compare_pixels("nad27_grid", read_raster(nc_name(b, "nad27_grid")), read_raster(ref))


@test
def test_policy_nad27_grid_missing_refused(ctx, tdir):
    """Without the grid folder on PROJ_DATA, max_error_m 1 cannot be met: exit 1, a
    message naming the dataset, no bundle."""
    src = ctx.sample("nad27_grid.tif")
    env = ctx.env(proj_data="/usr/share/proj")
    probe = projinfo_first(ctx, "EPSG:4267", "EPSG:4269", wgs84_bbox(src), env=env)
    if probe and probe["accuracy"] is not None and probe["accuracy"] <= 1:
        raise Skip("/usr/share/proj itself has a grid for NAD27->NAD83: " + probe["desc"][:80])
    target = make_target("EPSG:4269", [src])
    r, b, out = policy_run(ctx, tdir, target, {"name": "nad27_grid", "source": src},
                           {"max_error_m": 1, "allow_ballpark": False}, env)
    assert r.rc == 1, "want exit 1: " + r.brief()
    assert "nad27_grid" in r.err, "message must name the dataset: " + r.brief()
    assert re.search(r"grid|accura|ballpark|max_error", r.err, re.I), \
        "message should say why (grid/accuracy): " + r.brief()
    assert not leftovers(out, "b.nc"), "left behind: %s" % leftovers(out, "b.nc")


def cache_entries(d):
    """The entries of operation cache folder d (file names), sorted."""
    return sorted(n for n in os.listdir(d) if n.endswith(".json")) if os.path.isdir(d) else []


@test
def test_operation_cache_same_bundle(ctx, tdir):
    """lode's cache of PROJ's operation searches (formats/op_cache.c): the first run
    writes one entry (mode 0600, folder 0700) holding the candidates, a second run
    reads it (its time is renewed) and writes the same bundle byte for byte, as does a
    run with LODE_OPERATION_CACHE=off, which writes nothing; without the variable the
    cache is $XDG_CACHE_HOME/lode/operations, else $HOME/.cache/lode/operations.  The
    warm run's operation is projinfo's first and its pixels are gdalwarp -et 0's."""
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.004, error_threshold=0)
    d = {"name": "aeromag_tmi", "source": aero}
    pol = {"max_error_m": 20, "allow_ballpark": True}
    cache = os.path.join(tdir, "cache")
    bundles = {}
    for tag, value in (("cold", cache), ("warm", cache), ("off", "off")):
        r, b, _ = policy_run(ctx, tdir, target, d, pol, ctx.env(LODE_OPERATION_CACHE=value))
        assert r.rc == 0, "%s: %s" % (tag, r.brief())
        bundles[tag] = open(b, "rb").read()
        names = cache_entries(cache)
        assert len(names) == 1, "%s: cache entries %r" % (tag, names)
        entry = os.path.join(cache, names[0])
        if tag == "cold":
            assert os.stat(cache).st_mode & 0o777 == 0o700, oct(os.stat(cache).st_mode)
            assert os.stat(entry).st_mode & 0o777 == 0o600, oct(os.stat(entry).st_mode)
            doc = json.load(open(entry))
            assert doc["key"] + ".json" == names[0] and doc["candidates"], doc
            assert doc["candidates"][0]["ballpark"] is True, doc["candidates"][0]
            os.utime(entry, (946684800, 946684800))  # 2000-01-01: a read renews it
        elif tag == "warm":
            assert os.stat(entry).st_mtime > 946684800 + 86400, "the warm run did not read the entry"
            os.utime(entry, (946684800, 946684800))
            # against tools we did not write: PROJ's first operation, gdalwarp's pixels
            first = projinfo_first(ctx, "EPSG:3375", "EPSG:4326", wgs84_bbox(aero))
            op = lineage(b, "aeromag_tmi").get("operation") or {}
            assert norm_pipe(op.get("proj_pipeline")) == norm_pipe(first["pipeline"]), \
                "warm run's pipeline %r != projinfo's %r" % (op.get("proj_pipeline"), first["pipeline"])
            ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"), et=0)
            compare_pixels("warm aeromag_tmi", read_raster(nc_name(b, "aeromag_tmi")),
                           read_raster(ref), exact=True)
        else:
            assert os.stat(entry).st_mtime == 946684800, "LODE_OPERATION_CACHE=off read the cache"
    assert bundles["warm"] == bundles["cold"] == bundles["off"], "the bundles differ"
    # the default folders
    home, xdg = os.path.join(tdir, "home"), os.path.join(tdir, "xdg")
    os.makedirs(home)
    env = ctx.env(HOME=home)
    for k in ("LODE_OPERATION_CACHE", "XDG_CACHE_HOME"):
        env.pop(k, None)
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 0, r.brief()
    assert len(cache_entries(os.path.join(home, ".cache", "lode", "operations"))) == 1, \
        os.listdir(home)
    env["XDG_CACHE_HOME"] = xdg
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 0, r.brief()
    assert len(cache_entries(os.path.join(xdg, "lode", "operations"))) == 1, os.listdir(tdir)


@test
def test_operation_cache_follows_grids(ctx, tdir):
    """The cache's key covers the files on PROJ_DATA: NAD27 to NAD83 under max_error_m 1
    is refused while the conus grid is missing (the search cached), and chosen with
    the grid (hgridshift, 0.15 m) as soon as the grid is put into the same folder, not
    refused again from the cache."""
    grids = ctx.grid_dir()
    src = ctx.sample("nad27_grid.tif")
    data = os.path.join(tdir, "proj")
    os.makedirs(data)
    os.symlink("/usr/share/proj/proj.db", os.path.join(data, "proj.db"))
    env = ctx.env(proj_data=data, LODE_OPERATION_CACHE=os.path.join(tdir, "cache"))
    probe = projinfo_first(ctx, "EPSG:4267", "EPSG:4269", wgs84_bbox(src), env=env)
    if probe and probe["accuracy"] is not None and probe["accuracy"] <= 1:
        raise Skip("PROJ has a grid-free NAD27->NAD83 within 1 m: " + probe["desc"][:80])
    target = make_target("EPSG:4269", [src])
    d = {"name": "nad27_grid", "source": src}
    pol = {"max_error_m": 1, "allow_ballpark": False}
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 1, "without the grid: " + r.brief()
    assert len(cache_entries(os.path.join(tdir, "cache"))) == 1, "the refused search was not cached"
    grid = [g for g in ("us_noaa_conus.tif", "conus") if os.path.exists(os.path.join(grids, g))][0]
    os.symlink(os.path.join(grids, grid), os.path.join(data, grid))
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 0, "with the grid: " + r.brief()
    op = lineage(b, "nad27_grid").get("operation") or {}
    assert "hgridshift" in (op.get("proj_pipeline") or "") and op.get("accuracy_m") == 0.15, op
    assert len(cache_entries(os.path.join(tdir, "cache"))) == 2


@test
def test_operation_cache_distrusted(ctx, tdir):
    """An operation cache lode did not write for this user is not believed: an entry
    that is not JSON, a symbolic link in an entry's place, a group-writable entry or
    one over 1 MB is a miss (searched again, the entry rewritten, the link's target
    untouched); a cache folder others may write is not used at all, so an entry planted
    there with another pipeline changes nothing.  Every bundle is byte-identical to the
    one made without the cache."""
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.004, error_threshold=0)
    d = {"name": "aeromag_tmi", "source": aero}
    pol = {"max_error_m": 20, "allow_ballpark": True}
    cache = os.path.join(tdir, "cache")
    env = ctx.env(LODE_OPERATION_CACHE=cache)
    r, b, _ = policy_run(ctx, tdir, target, d, pol, ctx.env(LODE_OPERATION_CACHE="off"))
    assert r.rc == 0, r.brief()
    want = open(b, "rb").read()
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 0, r.brief()
    assert open(b, "rb").read() == want, "the cold run's bundle differs"
    # what every run below must give: gdalwarp -et 0's pixels
    ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"), et=0)
    compare_pixels("cached aeromag_tmi", read_raster(nc_name(b, "aeromag_tmi")), read_raster(ref),
                   exact=True)
    name = cache_entries(cache)[0]
    entry = os.path.join(cache, name)
    good = open(entry).read()
    # the planted entry: the right key, a pipeline that moves nothing
    doc = json.loads(good)
    for c in doc["candidates"]:
        c["pipeline"] = "+proj=noop"
    planted = json.dumps(doc)
    outside = os.path.join(tdir, "outside.json")
    open(outside, "w").write(planted)

    def plant(kind):
        if os.path.lexists(entry):
            os.remove(entry)
        if kind == "symlink":
            os.symlink(outside, entry)
            return
        open(entry, "w").write({"garbage": "{not json", "big": planted + " " * (1 << 20)}.get(kind, planted))
        os.chmod(entry, 0o666 if kind == "writable" else 0o600)

    for kind in ("garbage", "symlink", "writable", "big"):
        plant(kind)
        r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
        assert r.rc == 0, "%s: %s" % (kind, r.brief())
        assert open(b, "rb").read() == want, "%s: the bundle differs" % kind
        st = os.lstat(entry)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600, "%s: %o" % (kind, st.st_mode)
        assert open(entry).read() == good, "%s: the entry was not rewritten" % kind
    assert open(outside).read() == planted, "the link's target was written"
    # a folder others may write: not used, the planted entry neither read nor replaced
    plant("planted")
    os.chmod(cache, 0o777)
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 0, r.brief()
    assert open(b, "rb").read() == want, "a world-writable cache folder was believed"
    assert open(entry).read() == planted, "a world-writable cache folder was written"
    # the control: the same planted entry in a private folder is what lode reads
    os.chmod(cache, 0o700)
    # (its no-op pipeline leaves the source in metres, outside the bounds in degrees)
    r, b, _ = policy_run(ctx, tdir, target, d, pol, env)
    assert r.rc == 1 and "does not overlap" in r.err, \
        "the planted entry was not read (the test proves nothing): " + r.brief()


NO_SHIFT_3168 = ("+proj=pipeline +step +inv +proj=omerc +no_uoff +lat_0=4 +lonc=102.25 "
                 "+alpha=323.0257905 +gamma=323.130102361111 +k=0.99984 +x_0=804670.24 +y_0=0 "
                 "+ellps=evrst69 +step +proj=unitconvert +xy_in=rad +xy_out=deg "
                 "+step +proj=axisswap +order=2,1")


@test
def test_explicit_operation_pipeline(ctx, tdir):
    """operation: a PROJ pipeline (here Kertau RSO unprojected with no datum shift, a
    deliberately different operation): recorded as explicit, applied exactly as gdalwarp
    -ct applies it, and different from the default operation's result."""
    dem = ctx.sample("dem_kertau.tif")
    target = make_target("EPSG:4326", [dem], res=0.002, error_threshold=0)
    d = {"name": "dem", "source": dem, "resampling": "bilinear", "operation": NO_SHIFT_3168}
    b, _, _ = build(ctx, tdir, target, [d], {"max_error_m": 20, "allow_ballpark": True})
    op = lineage(b, "dem").get("operation") or {}
    assert norm_pipe(op.get("proj_pipeline")) == norm_pipe(NO_SHIFT_3168), \
        "recorded pipeline %r" % op.get("proj_pipeline")
    mine = read_raster(nc_name(b, "dem"))
    ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"), ct=NO_SHIFT_3168)
    compare_pixels("dem", mine, read_raster(ref))
    dflt = read_raster(gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "dflt.tif")))
    assert (mine[0] != dflt[0]).any(), "explicit operation gave the default operation's pixels"


@test
def test_explicit_operation_epsg_code(ctx, tdir):
    """operation: EPSG:1158 (the Kertau 1968 to WGS 84 transformation) and EPSG:8659
    (Kertau (RSO) to WGS 84 (1), the EPSG concatenation of 15896 + 1158, which is what
    PROJ picks for EPSG:3168, and what samples/malaysia.yaml says to use) are accepted for
    a Kertau RSO source and give the pipeline projinfo lists first."""
    dem = ctx.sample("dem_kertau.tif")
    target = make_target("EPSG:4326", [dem], res=0.002, error_threshold=0)
    first = projinfo_first(ctx, "EPSG:3168", "EPSG:4326", wgs84_bbox(dem))
    problems = []
    for code in ("EPSG:1158", "EPSG:8659"):
        sub = os.path.join(tdir, code.replace(":", "_"))
        os.makedirs(sub)
        d = {"name": "dem", "source": dem, "resampling": "bilinear", "operation": code}
        try:
            b, _, _ = build(ctx, sub, target, [d], {"max_error_m": 20, "allow_ballpark": False})
            op = lineage(b, "dem").get("operation") or {}
            if norm_pipe(op.get("proj_pipeline")) != norm_pipe(first["pipeline"]):
                problems.append("%s: pipeline %r" % (code, op.get("proj_pipeline")))
            if op.get("explicit") is False:
                problems.append("%s: lineage says explicit false" % code)
        except AssertionError as e:
            problems.append("%s: %s" % (code, e))
    assert not problems, "; ".join(problems)


# =========================================================================== 6. damage

@test
def test_verify_intact(ctx, tdir):
    """lode verify on an intact copy: exit 0 and OK."""
    fx = malaysia(ctx)
    c = os.path.join(tdir, "copy.nc")
    shutil.copyfile(fx["bundle"], c)
    r = lode(ctx, ["verify", c], tdir)
    assert_no_crash(r)
    assert r.rc == 0 and "OK" in r.out, r.brief()


@test
def test_verify_damaged_chunk(ctx, tdir):
    """One byte flipped inside a compressed chunk of one dataset: verify exits 1 and names
    that dataset and no other."""
    import h5py
    fx = malaysia(ctx)
    names = names_of(fx)
    for victim in ("aeromag_tmi", "dem_kertau"):
        c = os.path.join(tdir, "damaged_%s.nc" % victim)
        shutil.copyfile(fx["bundle"], c)
        with h5py.File(c, "r") as f:
            dsid = f["/%s/%s" % (victim, victim)].id
            assert dsid.get_num_chunks() > 0, "no chunks"
            info = dsid.get_chunk_info(0)
        off = info.byte_offset + info.size // 2
        with open(c, "r+b") as fh:
            fh.seek(off)
            b = fh.read(1)
            fh.seek(off)
            fh.write(bytes([b[0] ^ 0x5A]))
        r = lode(ctx, ["verify", c], tdir)
        assert_no_crash(r)
        assert r.rc == 1, "damaged %s: want exit 1: %s" % (victim, r.brief())
        bad_word = re.compile(r"damag|corrupt|mismatch|fail|error|invalid|bad", re.I)

        def blamed(n):  # a line naming n (as a whole word) that reports a problem
            return any(re.search(r"(?<![\w])%s(?![\w])" % re.escape(n), l) and bad_word.search(l)
                       for l in r.text.splitlines())
        assert blamed(victim), "damaged %s not named as damaged: %s" % (victim, r.text[:600])
        others = [n for n in names if n != victim and blamed(n)]
        assert not others, "verify also blames intact %s: %s" % (others, r.text[:800])


@test
def test_verify_truncated(ctx, tdir):
    """Truncated bundles (0, 100 bytes, half): verify exits 1 with a message, no crash."""
    fx = malaysia(ctx)
    size = os.path.getsize(fx["bundle"])
    for n in (0, 100, size // 2, size - 1):
        c = os.path.join(tdir, "trunc_%d.nc" % n)
        with open(fx["bundle"], "rb") as src, open(c, "wb") as dst:
            dst.write(src.read(n))
        r = lode(ctx, ["verify", c], tdir)
        assert_no_crash(r)
        assert r.rc == 1, "truncated to %d bytes: want exit 1: %s" % (n, r.brief())
        assert r.err.strip() or r.out.strip(), "truncated to %d: no message" % n
        assert "trunc_%d.nc" % n in r.text, "message does not name the file: " + r.brief()


# =========================================================================== 7. bad inputs

def bad_run(ctx, tdir, manifest_txt, want_rc=(1,), mention=(), line=None, col=None):
    man = os.path.join(tdir, "bad_manifest.yaml")
    with open(man, "w") as f:
        f.write(manifest_txt)
    out = os.path.join(tdir, "out")
    os.makedirs(out, exist_ok=True)
    r = lode(ctx, ["run", man, "-o", os.path.join(out, "b.nc")], tdir)
    assert_no_crash(r)
    assert r.rc in want_rc, "want exit %s: %s" % ("/".join(map(str, want_rc)), r.brief())
    for m in mention:
        assert m.lower() in r.err.lower(), "stderr does not mention %r: %s" % (m, r.brief())
    if line is not None:
        locs = [(int(a), int(b)) for a, b in
                re.findall(r"bad_manifest\.yaml:(\d+):(\d+)", r.err)]
        assert locs, "no bad_manifest.yaml:LINE:COL in stderr: " + r.brief()
        assert any(l == line for l, _ in locs), "want line %d, got %s: %s" % (line, locs,
                                                                              r.brief())
        if col is not None:
            assert any(l == line and c in (col, col + 1) for l, c in locs), \
                "want column %d (1-based) got %s: %s" % (col + 1, locs, r.brief())
    left = leftovers(out, "b.nc")
    assert not left, "left behind after failure: %s" % left
    return r


def good_parts(ctx):
    aero = ctx.sample("aeromag_tmi.tif")
    return aero, make_target("EPSG:3375", [aero], res=500.0)


def line_of(txt, needle):
    for i, l in enumerate(txt.splitlines(), 1):
        if needle in l:
            return i, l.index(needle)
    raise RuntimeError("test bug: %r not in manifest" % needle)


@test
def test_bad_missing_source(ctx, tdir):
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "ghost", "source": os.path.join(tdir, "no_such_file.tif")}])
    bad_run(ctx, tdir, txt, mention=("no_such_file.tif", "ghost"))


@test
def test_bad_source_not_a_tiff(ctx, tdir):
    aero, t = good_parts(ctx)
    src = ctx.sample(os.path.join("bad", "notatiff.tif"))
    txt = manifest_text(t, [{"name": "text_file", "source": src}])
    bad_run(ctx, tdir, txt, mention=("notatiff.tif", "text_file"))


@test
def test_bad_source_empty(ctx, tdir):
    aero, t = good_parts(ctx)
    src = ctx.sample(os.path.join("bad", "empty.tif"))
    txt = manifest_text(t, [{"name": "empty_file", "source": src}])
    bad_run(ctx, tdir, txt, mention=("empty.tif", "empty_file"))


@test
def test_bad_source_no_crs(ctx, tdir):
    """gravity_nocrs without assume_crs: exit 1, names dataset and says CRS."""
    grav = ctx.sample("gravity_nocrs.tif")
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "gravity", "source": grav}])
    bad_run(ctx, tdir, txt, mention=("gravity", "crs"))


@test
def test_assume_crs_works(ctx, tdir):
    """gravity_nocrs with assume_crs: pixels equal gdalwarp -s_srs (-et 0); lineage
    source CRS is the assumed one."""
    grav = ctx.sample("gravity_nocrs.tif")
    target = make_target("EPSG:4326", [grav], assume="EPSG:3375", error_threshold=0)
    d = {"name": "gravity", "source": grav, "assume_crs": "EPSG:3375", "resampling": "bilinear"}
    b, _, _ = build(ctx, tdir, target, [d], {"max_error_m": 20, "allow_ballpark": True})
    ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"),
                       ct=pipeline_of(b, "gravity"))
    compare_pixels("gravity", read_raster(nc_name(b, "gravity")), read_raster(ref))
    wkt = (lineage(b, "gravity").get("source") or {}).get("crs_wkt") or ""
    from osgeo import osr
    s = osr.SpatialReference()
    s.ImportFromEPSG(3375)
    assert wkt and same_crs(wkt, s.ExportToWkt()), "lineage source.crs_wkt is not EPSG:3375"


@test
def test_bad_no_overlap(ctx, tdir):
    far = ctx.sample("far_away.tif")
    aero, t = good_parts(ctx)
    fa = footprint(far, "EPSG:3375")
    b = t["bounds"]
    assert fa[0] > b[2] or fa[2] < b[0] or fa[1] > b[3] or fa[3] < b[1], \
        "precondition: far_away.tif overlaps the target"
    txt = manifest_text(t, [{"name": "far_away", "source": far}])
    bad_run(ctx, tdir, txt, mention=("far_away",))


MANIFEST_ERR_RC = (1, 2)


@test
def test_bad_manifest_unknown_key(ctx, tdir):
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "aeromag_tmi", "source": aero, "resamplign": "bilinear"}])
    ln, col = line_of(txt, "resamplign")
    bad_run(ctx, tdir, txt, MANIFEST_ERR_RC, mention=("resamplign",), line=ln, col=col)


@test
def test_bad_manifest_wrong_type(ctx, tdir):
    aero, t = good_parts(ctx)
    t = dict(t, resolution="abc")
    txt = manifest_text(t, [{"name": "aeromag_tmi", "source": aero}])
    ln, col = line_of(txt, "resolution")
    bad_run(ctx, tdir, txt, MANIFEST_ERR_RC, mention=("resolution",), line=ln)


@test
def test_bad_manifest_missing_crs(ctx, tdir):
    aero, t = good_parts(ctx)
    t = {k: v for k, v in t.items() if k != "crs"}
    txt = manifest_text(t, [{"name": "aeromag_tmi", "source": aero}])
    bad_run(ctx, tdir, txt, MANIFEST_ERR_RC, mention=("crs", "bad_manifest.yaml"))


@test
def test_bad_manifest_duplicate_name(ctx, tdir):
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "twice", "source": aero},
                            {"name": "twice", "source": aero}])
    ln = [i for i, l in enumerate(txt.splitlines(), 1) if '"twice"' in l][1]
    bad_run(ctx, tdir, txt, MANIFEST_ERR_RC, mention=("twice",), line=ln)


@test
def test_bad_manifest_yaml_syntax(ctx, tdir):
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "aeromag_tmi", "source": aero}])
    lines = txt.splitlines()
    i = [k for k, l in enumerate(lines) if l.startswith("  title:")][0]
    lines[i] = "  title: broken: yaml"
    bad_run(ctx, tdir, "\n".join(lines) + "\n", MANIFEST_ERR_RC, line=i + 1)


@test
def test_bad_manifest_unknown_resampling(ctx, tdir):
    aero, t = good_parts(ctx)
    txt = manifest_text(t, [{"name": "aeromag_tmi", "source": aero, "resampling": "bicubicx"}])
    ln, col = line_of(txt, "bicubicx")
    bad_run(ctx, tdir, txt, MANIFEST_ERR_RC, mention=("bicubicx",), line=ln)


@test
def test_relative_paths(ctx, tdir):
    """Source paths relative to the manifest's folder, lode run from another cwd with a
    relative -o; result equals the absolute-path gdalwarp output."""
    aero = ctx.sample("aeromag_tmi.tif")
    mdir = os.path.join(tdir, "m")
    os.makedirs(mdir)
    os.makedirs(os.path.join(tdir, "elsewhere"))
    rel = os.path.relpath(aero, mdir)
    target = make_target("EPSG:3375", [aero], res=250.0, error_threshold=0)
    d = {"name": "aeromag_tmi", "source": rel, "resampling": "bilinear"}
    write_manifest(os.path.join(mdir, "manifest.yaml"), target, [d])
    r = lode(ctx, ["run", "../m/manifest.yaml", "-o", "../out.nc", "-q"],
             os.path.join(tdir, "elsewhere"))
    assert_no_crash(r)
    assert r.rc == 0, r.brief()
    b = os.path.join(tdir, "out.nc")
    assert os.path.isfile(b), "no bundle at -o path relative to cwd"
    ref = gdalwarp_ref(ctx, mdir, target, d, os.path.join(tdir, "ref.tif"),
                       ct=pipeline_of(b, "aeromag_tmi"))
    compare_pixels("aeromag_tmi", read_raster(nc_name(b, "aeromag_tmi")), read_raster(ref))


# =========================================================================== 8. extract

@test
def test_extract_geotiffs(ctx, tdir):
    """lode extract writes NAME.tif per raster: same CRS, geotransform, nodata, type and
    pixels as the bundle's NETCDF: subdataset."""
    fx = malaysia(ctx)
    out = os.path.join(tdir, "x")
    lode_ok(ctx, ["extract", fx["bundle"], "-o", out], tdir)
    problems = []
    for d in fx["datasets"]:
        n = d["name"]
        tif = os.path.join(out, n + ".tif")
        if not os.path.isfile(tif):
            problems.append("no " + tif)
            continue
        ti = gdalinfo_json(ctx, tif)
        if ti.get("driverShortName") != "GTiff":
            problems.append("%s: driver %s" % (n, ti.get("driverShortName")))
        a, ref = read_raster(tif), read_raster(nc_name(fx["bundle"], n))
        if not same_crs(a[3]["wkt"], ref[3]["wkt"]) if a[3]["wkt"] else True:
            problems.append("%s: CRS missing or differs" % n)
        # exactly gdalwarp's grid (GDAL's netCDF reader derives the transform from the
        # coordinate variables, so the bundle side is compared with a tolerance)
        wgt = read_raster(ref_for(ctx, tdir, fx, d))[3]["gt"]
        if a[3]["gt"] != wgt:
            problems.append("%s: geotransform %r != gdalwarp %r" % (n, a[3]["gt"], wgt))
        if any(abs(x - y) > 1e-9 * abs(wgt[1]) for x, y in zip(a[3]["gt"], ref[3]["gt"])):
            problems.append("%s: geotransform %r != bundle's %r" % (n, a[3]["gt"], ref[3]["gt"]))
        if a[2] != ref[2]:
            problems.append("%s: nodata %s != %s" % (n, a[2], ref[2]))
        if (a[3]["type"], a[3]["count"]) != (ref[3]["type"], ref[3]["count"]):
            problems.append("%s: type/bands %s/%s != %s/%s" % (
                n, a[3]["type"], a[3]["count"], ref[3]["type"], ref[3]["count"]))
        try:
            compare_pixels(n, a, ref)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


@test
def test_extract_named_only(ctx, tdir):
    """lode extract B NAME writes only NAME.tif; an unknown name fails (exit 1)."""
    fx = malaysia(ctx)
    out = os.path.join(tdir, "x")
    lode_ok(ctx, ["extract", fx["bundle"], "dem_kertau", "-o", out], tdir)
    assert sorted(os.listdir(out)) == ["dem_kertau.tif"], "wrote %s" % os.listdir(out)
    r = lode(ctx, ["extract", fx["bundle"], "no_such_dataset", "-o",
                   os.path.join(tdir, "y")], tdir)
    assert_no_crash(r)
    assert r.rc in (1, 2) and "no_such_dataset" in r.err, r.brief()


@test
def test_reading_on_every_core_same_as_one(ctx, tdir):
    """Reading a raster on every core (chunks decoded on worker threads, strips hashed or
    written while the next is read, GDAL compressing tiles on its threads) against one
    core (taskset -c 0: none of that): extract writes byte-identical GeoTIFFs (cmp), verify
    reports the same lines, and with one byte flipped in a chunk in the middle of the grid
    both refuse it with the same message.  The grid is several chunks and strips each way."""
    import h5py
    if not shutil.which("taskset"):
        raise Skip("taskset (util-linux) is not installed")
    aero = ctx.sample("aeromag_tmi.tif")
    target = make_target("EPSG:4326", [aero], res=0.00015, max_pixels=4000 * 4000)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "aeromag_tmi", "source": aero,
                                  "resampling": "bilinear"}], {"allow_ballpark": True})
    b = os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    with h5py.File(b, "r") as f:
        dsid = f["/aeromag_tmi/aeromag_tmi"].id
        n = dsid.get_num_chunks()
        assert f["/aeromag_tmi/aeromag_tmi"].shape[0] > 1024 and n >= 6, \
            "precondition: %d chunks, shape %s" % (n, f["/aeromag_tmi/aeromag_tmi"].shape)
        info = dsid.get_chunk_info(n // 2 + 1)
    one = ["taskset", "-c", "0"]
    outs = {}
    for tag, pre in (("all", []), ("one", one)):
        out = os.path.join(tdir, "x_" + tag)
        r = run(pre + [ctx.lode, "extract", b, "-o", out], cwd=tdir, env=ctx.env())
        assert_no_crash(r)
        assert r.rc == 0, "%s: %s" % (tag, r.brief())
        outs[tag] = open(os.path.join(out, "aeromag_tmi.tif"), "rb").read()
        r = run(pre + [ctx.lode, "verify", b], cwd=tdir, env=ctx.env())
        assert r.rc == 0, "%s: %s" % (tag, r.brief())
        outs[tag + " verify"] = r.out
    assert outs["all"] == outs["one"], "extract on every core differs from one core"
    assert outs["all verify"] == outs["one verify"], "verify reports differ: %r vs %r" % (
        outs["all verify"], outs["one verify"])
    c = os.path.join(tdir, "damaged.nc")
    shutil.copyfile(b, c)
    with open(c, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        x = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([x[0] ^ 0x5A]))
    msgs = {}
    for tag, pre in (("all", []), ("one", one)):
        r = run(pre + [ctx.lode, "verify", c], cwd=tdir, env=ctx.env())
        assert_no_crash(r)
        assert r.rc == 1 and "aeromag_tmi: DAMAGED" in r.out, "%s: %s" % (tag, r.brief())
        r2 = run(pre + [ctx.lode, "extract", c, "-o", os.path.join(tdir, "d_" + tag)], cwd=tdir,
                 env=ctx.env())
        assert_no_crash(r2)
        assert r2.rc == 1, "%s: extract of a damaged chunk: %s" % (tag, r2.brief())
        assert not os.path.exists(os.path.join(tdir, "d_" + tag, "aeromag_tmi.tif")), tag
        msgs[tag] = (r.out, r2.err)
    assert msgs["all"] == msgs["one"], "messages differ: %r vs %r" % (msgs["all"], msgs["one"])


# =========================================================================== 9. CLI

def _strings(o):
    if isinstance(o, dict):
        for k, v in o.items():
            yield from _strings(v)
    elif isinstance(o, list):
        for v in o:
            yield from _strings(v)
    elif isinstance(o, str):
        yield o


@test
def test_ls_json(ctx, tdir):
    fx = malaysia(ctx)
    r = lode_ok(ctx, ["ls", fx["bundle"], "--json"], tdir)
    try:
        j = json.loads(r.out)
    except ValueError as e:
        raise AssertionError("lode ls --json is not JSON: %s: %r" % (e, r.out[:200]))
    s = set(_strings(j))
    missing = [n for n in names_of(fx) if n not in s]
    assert not missing, "ls --json lacks %s" % missing
    r = lode_ok(ctx, ["ls", fx["bundle"]], tdir)
    missing = [n for n in names_of(fx) if n not in r.out]
    assert not missing, "ls lacks %s" % missing


@test
def test_plan_writes_nothing(ctx, tdir):
    """lode plan --json: JSON naming every dataset; no file written anywhere in tdir."""
    aero, dem = ctx.sample("aeromag_tmi.tif"), ctx.sample("dem_kertau.tif")
    target = make_target("EPSG:4326", [aero, dem], res=0.002)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "aeromag_tmi", "source": aero},
                                 {"name": "dem_kertau", "source": dem}],
                   {"max_error_m": 20, "allow_ballpark": True})
    before = sorted(os.listdir(tdir))
    r = lode_ok(ctx, ["plan", man, "--json"], tdir)
    j = json.loads(r.out)
    s = set(_strings(j))
    assert {"aeromag_tmi", "dem_kertau"} <= s, "plan --json lacks dataset names"
    assert any("EPSG:1158" in x for x in s), "plan does not show EPSG:1158 for dem_kertau"
    r = lode_ok(ctx, ["plan", man], tdir)
    assert "aeromag_tmi" in r.out and "dem_kertau" in r.out, r.brief()
    assert sorted(os.listdir(tdir)) == before, "plan wrote files: %s" % (
        set(os.listdir(tdir)) - set(before))


@test
def test_cli_basics(ctx, tdir):
    for args, want in ((["--version"], 0), (["--help"], 0), (["run", "--help"], 0),
                       (["bogus"], 2), (["run"], 2), ([], 2),
                       (["run", "m.yaml", "--no-such-option"], 2),
                       (["verify"], 2)):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc == want, "want exit %d: %s" % (want, r.brief())
        if want == 0:
            assert r.out.strip(), "no output: " + r.brief()
        else:
            assert r.err.strip(), "usage error without a message: " + r.brief()
    r = lode(ctx, ["--version"], tdir)
    assert re.search(r"\d+\.\d+", r.out), "--version has no version number: %r" % r.out


if __name__ == "__main__":
    main()
