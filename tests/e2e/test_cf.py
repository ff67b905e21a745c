#!/usr/bin/python3
"""The CF conventions: every kind of bundle the tests make passes the CF checker
(cedadev cfchecks, -v 1.8) with 0 errors (docs/bundle-format.md, "The CF checker").

The checker is not ours and not in Debian: CFCHECKS names a script that runs it offline,
FILE.nc ... -> the checker's report per file and group and one line
"cfchecks: N errors, M warnings in FILE" (the project's ../shared/tools/cfchecks/
run-cfchecks.sh, which .ci/run passes; `make check CFCHECKS=PATH` elsewhere).  Without
CFCHECKS every test is SKIPPED, saying so; a CFCHECKS that is not an executable file
fails.  The script installs its Debian packages with apt-get unless SKIP_APT=1: this
suite lets it do so at most once per run, and not at all when everything it installs is
already there (lodetest.cf_tools_present).

Besides 0 errors, every warning must be one docs/bundle-format.md lists: "(2.2) Could
not get typecode" on a netCDF-4 string variable (checked with netCDF4: the variable is
a string), "(3.1) units attribute should be present" on a raster group's band variable.

Same runner, flags and output as test_raster.py.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from lodetest import (Skip, cf_summary, cf_tools_present, lode_ok, main,  # noqa: E402
                      staged_bundle, test, write_manifest)

import netCDF4  # noqa: E402

POLICY = {"max_error_m": 20, "allow_ballpark": True}
MY_BOUNDS = [101.6, 3.65, 102.05, 4.0]
DEMO_INPUTS = ["aeromag_tmi.tif", "geology_units.tif", "geology_units.tif.aux.xml", "dem_kertau.tif",
               "gravity_nocrs.tif", "radiometric_k.tif", "deposits.gpkg", "geology.gpkg"]

_apt = {"done": False}


def checker():
    path = os.environ.get("CFCHECKS", "")
    if not path:
        raise Skip("CFCHECKS is not set (the path of a script running cfchecks, e.g. "
                   "../shared/tools/cfchecks/run-cfchecks.sh; .ci/run sets it when it exists)")
    assert os.path.isfile(path) and os.access(path, os.X_OK), \
        "CFCHECKS=%s is not an executable file" % path
    return path


def cf_check(ctx, path, tdir):
    """Run the checker on path: (errors, warnings, report).  Asserts its summary line."""
    script = checker()
    env = dict(os.environ)
    if _apt["done"] or cf_tools_present():
        env["SKIP_APT"] = "1"
    _apt["done"] = True
    env.setdefault("TMPDIR", "/tmp")
    r = subprocess.run([script, path], cwd=tdir, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=900)
    report = r.stdout + r.stderr
    with open(os.path.join(tdir, os.path.basename(path) + ".cfchecks.txt"), "w") as f:
        f.write(report)
    errors, warnings = cf_summary(report)
    return errors, warnings, report


def string_variables(path):
    """Every variable of type string, by name, in the root and in each group."""
    out = set()
    with netCDF4.Dataset(path) as ds:
        todo = [ds]
        while todo:
            g = todo.pop()
            todo.extend(g.groups.values())
            for name, v in g.variables.items():
                if v.dtype is str:
                    out.add(name)
    return out


def findings(report):
    """(kind, section, variable, text) for every ERROR and WARN line of the report."""
    out, var = [], None
    for line in report.splitlines():
        m = re.match(r"^Checking variable: (\S+)", line)
        if m:
            var = m.group(1)
            continue
        if line.startswith("####"):
            var = None
        m = re.match(r"^(ERROR|WARN): \(([^)]*)\):? ?(.*)$", line)
        if m:
            out.append((m.group(1), m.group(2), var, m.group(3)))
    return out


def assert_cf_clean(ctx, path, tdir):
    errors, warnings, report = cf_check(ctx, path, tdir)
    found = findings(report)
    errs = ["(%s) %s: %s" % (s, v, t) for k, s, v, t in found if k == "ERROR"]
    assert errors == 0 and not errs, "%s: %d CF errors: %s" % (os.path.basename(path), errors,
                                                              "; ".join(errs[:20]))
    strings = string_variables(path)
    bad = []
    for k, s, v, t in found:
        if k != "WARN":
            continue
        if s == "2.2" and t.startswith("Could not get typecode") and v in strings:
            continue
        if s == "3.1" and t.startswith("units attribute should be present") and v == "band":
            continue
        bad.append("(%s) %s: %s" % (s, v, t))
    assert not bad, "%s: warnings docs/bundle-format.md does not list: %s" % (
        os.path.basename(path), "; ".join(bad[:20]))
    assert warnings == sum(1 for f in found if f[0] == "WARN"), \
        "the summary counts %d warnings, the report lists %d" % (warnings, len(found))
    return found


def run_bundle(ctx, tdir, datasets, target=None, name="b.nc"):
    target = target or {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001}
    man = os.path.join(tdir, name + ".yaml")
    write_manifest(man, target, datasets, POLICY)
    out = os.path.join(tdir, name)
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    return out


def case(ctx, name):
    return ctx.sample(os.path.join("vector_cases", name))


# =========================================================================== tests

@test
def test_checker_catches_errors(ctx, tdir):
    """The checker is live: a file with a non-monotonic coordinate variable and a
    geometry variable without grid_mapping (the two errors lode's layout had) gives errors."""
    checker()
    bad = os.path.join(tdir, "bad.nc")
    with netCDF4.Dataset(bad, "w") as ds:
        ds.Conventions = "CF-1.8"
        ds.createDimension("n", 3)
        v = ds.createVariable("n", "i4", ("n",))
        v[:] = [3, 1, 2]
    errors, _, report = cf_check(ctx, bad, tdir)
    assert errors >= 1, "the checker found no error in a non-monotonic coordinate variable: " + \
        report[-800:]
    assert any(k == "ERROR" and s == "5" for k, s, _, _ in findings(report)), report[-800:]


@test
def test_demo_bundle(ctx, tdir):
    """samples/malaysia.yaml (five rasters, three vector layers): 0 errors in the root
    and in every raster group."""
    checker()
    os.makedirs(os.path.join(tdir, "generated"))
    os.makedirs(os.path.join(tdir, "data"))
    for n in DEMO_INPUTS:
        if n.endswith(".aux.xml") and not os.path.exists(os.path.join(ctx.samples or "", n)):
            continue
        shutil.copyfile(ctx.sample(n), os.path.join(tdir, "generated", n))
    shutil.copyfile(ctx.realfile("administrative_1_state.geojson"),
                    os.path.join(tdir, "data", "administrative_1_state.geojson"))
    shutil.copyfile(os.path.join(REPO, "samples", "malaysia.yaml"), os.path.join(tdir, "malaysia.yaml"))
    out = os.path.join(tdir, "demo.nc")
    lode_ok(ctx, ["run", "malaysia.yaml", "-o", out, "-q"], tdir)
    assert_cf_clean(ctx, out, tdir)
    report = open(os.path.join(tdir, "demo.nc.cfchecks.txt")).read()
    for g in ("aeromag_tmi", "geology_units", "dem_kertau", "radiometric_k"):
        assert "group /%s " % g in report, "the raster group %s was not checked" % g


@test
def test_vector_kinds(ctx, tdir):
    """Every vector layout lode writes: points with nulls, plain and multi polygons with
    holes, 3D lines, a CSV of points, lines without a CRS (assumed), a filtered layer, an
    empty layer, and the world countries."""
    checker()
    ds = [
        {"name": "deposits", "source": ctx.sample("deposits.gpkg"), "operation": "EPSG:8659"},
        {"name": "geology_map", "source": ctx.sample("geology.gpkg")},
        {"name": "world", "source": ctx.datafile("world.gpkg")},
        {"name": "leases", "source": case(ctx, "mixed_poly_multipoly.geojson")},
        {"name": "traverses", "source": case(ctx, "lines_z.gpkg")},
        {"name": "pits", "source": case(ctx, "polygons_holes.gpkg")},
        {"name": "towns_csv", "source": case(ctx, "towns_lonlat.csv"),
         "open_options": ["X_POSSIBLE_NAMES=lon", "Y_POSSIBLE_NAMES=lat", "AUTODETECT_TYPE=YES"],
         "assume_crs": "EPSG:4326"},
        {"name": "survey_lines", "source": case(ctx, "nocrs_lines.shp"), "assume_crs": "EPSG:3375"},
        {"name": "boreholes", "source": case(ctx, "empty.gpkg")},
        {"name": "gold", "source": ctx.sample("deposits.gpkg"), "operation": "EPSG:8659",
         "where": "commodity = 'emas / gold' AND grade IS NOT NULL"},
    ]
    assert_cf_clean(ctx, run_bundle(ctx, tdir, ds), tdir)


@test
def test_projected_and_sqlite_layers(ctx, tdir):
    """A projected target (ETRS89-LAEA): test3.sqlite's points, lines and polygons and a
    CP1252 Shapefile; and the fire perimeters onto UTM (DateTime and Date fields)."""
    checker()
    sq = ctx.datafile("test3.sqlite")
    italy = {"crs": "EPSG:3035", "bounds": [4000000.0, 2250000.0, 4700000.0, 2700000.0],
             "resolution": 1000.0}
    ds = [{"name": "towns", "source": sq, "layer": "Towns"},
          {"name": "highways", "source": sq, "layer": "HighWays"},
          {"name": "regions", "source": sq, "layer": "Regions"},
          {"name": "legacy_towns", "source": case(ctx, "legacy_cp1252.shp"),
           "open_options": ["ENCODING=CP1252"]}]
    assert_cf_clean(ctx, run_bundle(ctx, tdir, ds, italy, "italy.nc"), tdir)
    utm = {"crs": "EPSG:26912", "bounds": [500000.0, 4900000.0, 560000.0, 4960000.0],
           "resolution": 30.0}
    ds = [{"name": "fires", "source": ctx.datafile("ynp_fires_1984_2022.gpkg")}]
    assert_cf_clean(ctx, run_bundle(ctx, tdir, ds, utm, "fires.nc"), tdir)


@test
def test_tables(ctx, tdir):
    """Tables (layers without geometry: a CSV without coordinates, a GeoPackage
    attributes table), beside a layer: the groups they are checked as flat copies too."""
    checker()
    src = os.path.join(tdir, "assays.csv")
    with open(src, "w") as f:
        f.write("sample,depth_m,au_ppm,note,assayed\nS1,10.5,0.82,fresh,2020-01-02\n"
                "S2,12.0,,,\nS3,3.25,1.5,\"a, b\",2021-12-31\n")
    gpkg = os.path.join(tdir, "attrs.gpkg")
    subprocess.run(["ogr2ogr", "-q", "-f", "GPKG", "-oo", "AUTODETECT_TYPE=YES", "-nln", "attrs", gpkg, src],
                   check=True)
    out = run_bundle(ctx, tdir, [{"name": "assays", "source": src, "open_options": ["AUTODETECT_TYPE=YES"]},
                                 {"name": "attrs", "source": gpkg},
                                 {"name": "deposits", "source": ctx.sample("deposits.gpkg")}])
    assert_cf_clean(ctx, out, tdir)
    report = open(os.path.join(tdir, "b.nc.cfchecks.txt")).read()
    assert "group /assays " in report and "group /attrs " in report, "the tables' groups were not checked"


@test
def test_lists(ctx, tdir):
    """List fields (stored as JSON array text) and a String of JSON sub-type."""
    checker()
    src = os.path.join(tdir, "lists.geojson")
    with open(src, "w") as f:
        f.write('{"type":"FeatureCollection","features":['
                '{"type":"Feature","properties":{"t":["a","b"],"n":[1],"r":[0.5],"j":{"k":1}},'
                '"geometry":{"type":"Point","coordinates":[101.7,3.8]}},'
                '{"type":"Feature","properties":{"t":[],"n":null,"r":[],"j":null},'
                '"geometry":{"type":"Point","coordinates":[101.8,3.9]}}]}')
    assert_cf_clean(ctx, run_bundle(ctx, tdir, [{"name": "lists", "source": src}]), tdir)


@test
def test_merged_and_staged(ctx, tdir):
    """A merged bundle (a raster and layers from two bundles) and one made by the
    cluster stages (plan -w, reproject, package)."""
    checker()
    a = run_bundle(ctx, tdir, [{"name": "aeromag", "source": ctx.sample("aeromag_tmi.tif"),
                                "resampling": "bilinear"},
                               {"name": "deposits", "source": ctx.sample("deposits.gpkg")}],
                   name="a.nc")
    b = run_bundle(ctx, tdir, [{"name": "pits", "source": case(ctx, "polygons_holes.gpkg")},
                               {"name": "traverses", "source": case(ctx, "lines_z.gpkg")}],
                   name="b.nc")
    merged = os.path.join(tdir, "merged.nc")
    lode_ok(ctx, ["merge", a, b, "-o", merged, "-q"], tdir)
    assert_cf_clean(ctx, merged, tdir)
    man = os.path.join(tdir, "staged.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": MY_BOUNDS, "resolution": 0.001},
                   [{"name": "geology_map", "source": ctx.sample("geology.gpkg")},
                    {"name": "dem", "source": ctx.sample("dem_kertau.tif"), "resampling": "bilinear"}],
                   POLICY)
    assert_cf_clean(ctx, staged_bundle(ctx, tdir, man), tdir)


if __name__ == "__main__":
    main()
