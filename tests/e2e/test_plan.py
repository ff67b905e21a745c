#!/usr/bin/python3
"""test_plan.py -- lode plan for people, and the geodesy policy per dataset (issue 18).

- Manifest mistakes: every problem of a manifest in one pass, each as FILE:LINE:COL with
  the key and what to do ("did you mean", the CRS's unit, 'EPSG:3375' not '3375').
- The table lode plan prints by default; --json the JSON lode plan always printed.
- The mixed manifest of the issue: a Kertau (RSO) DEM (EPSG:3168) and WGS 84 layers onto
  GDM2000 / Peninsula RSO (EPSG:3375).  With the manifest's policy strict and the WGS 84
  layers' own policy relaxed, the DEM is refused; with via: EPSG:4326 it goes through
  EPSG:1158 (Kertau 1968 to WGS 84, 15 m), each leg's accuracy recorded, the recorded
  pipeline checked point by point against cs2cs and the data against gdalwarp -ct; every
  accepted ballpark operation gets its warning line on stderr at plan and run, and
  lode ls shows it.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (assert_no_crash, compare_pixels, gdalwarp_ref, lineage, lode,  # noqa: E402
                      lode_ok, main, nc_name, projinfo_first, read_raster, test, tool,
                      write_manifest)

import numpy as np  # noqa: E402
from osgeo import gdal, osr  # noqa: E402

# A point in Kuala Lumpur in Kertau (RSO) / RSO Malaya (m), EPSG:3168 (x y).
KL_3168 = (411726.17, 348596.57)
TARGET = {"crs": "EPSG:3375", "bounds": [410800, 348000, 412600, 349500], "resolution": 30}


def make_raster(path, epsg, x0, y0, res, w=48, h=40, dtype=gdal.GDT_Float32):
    d = gdal.GetDriverByName("GTiff").Create(path, w, h, 1, dtype)
    d.SetGeoTransform([x0, res, 0, y0, 0, -res])
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    d.SetProjection(s.ExportToWkt())
    rng = np.random.default_rng(18)
    d.GetRasterBand(1).WriteArray(rng.uniform(0, 1000, (h, w)).astype(np.float32))
    d = None
    return path


def sources(tdir):
    """The DEM on Kertau (RSO) and two WGS 84 layers, all around KL."""
    return (make_raster(os.path.join(tdir, "dem.tif"), 3168, 410900, 349600, 30),
            make_raster(os.path.join(tdir, "mag.tif"), 4326, 101.690, 3.162, 0.0003),
            make_raster(os.path.join(tdir, "rad.tif"), 4326, 101.691, 3.161, 0.0004))


def mixed(tdir, dem_extra=None, name="m.yaml"):
    """The issue's manifest: the policy strict for all, relaxed for the WGS 84 layers."""
    dem, mag, rad = sources(tdir)
    relaxed = {"allow_ballpark": True}
    ds = [dict({"name": "dem", "source": dem}, **(dem_extra or {})),
          {"name": "mag", "source": mag, "policy": relaxed},
          {"name": "rad", "source": rad, "policy": relaxed}]
    man = os.path.join(tdir, name)
    write_manifest(man, TARGET, ds, {"max_error_m": 20, "allow_ballpark": False})
    return man


def line_of(path, needle, nth=1):
    """1-based line number of the nth line of path containing needle."""
    k = 0
    with open(path) as f:
        for i, l in enumerate(f, 1):
            if needle in l:
                k += 1
                if k == nth:
                    return i
    raise AssertionError("%r not in %s" % (needle, path))


def errors(r):
    return [l for l in r.err.splitlines() if l.startswith("lode: error: ")]


def warnings(r):
    return [l for l in r.err.splitlines() if l.startswith("lode: warning: ")]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# --------------------------------------------------------------------------- mistakes

@test
def test_three_errors_three_lines(ctx, tdir):
    """A manifest with three mistakes in three places: three error lines, each with its
    file:line:col, its key and what to do; exit 1; nothing written."""
    dem, mag, _ = sources(tdir)
    man = write(os.path.join(tdir, "three.yaml"),
                "target:\n"
                "  crs: '3375'\n"
                "  bounds: [410800, 348000, 412600, 349500]\n"
                "  resoltion: 30\n"
                "datasets:\n"
                "  - name: dem\n"
                "    source: %s\n"
                "    resampling: bilinar\n" % dem)
    before = sorted(os.listdir(tdir))
    for cmd in (["plan", man], ["plan", man, "--json"], ["run", man, "-o", "x.nc"]):
        r = lode(ctx, cmd, tdir)
        assert_no_crash(r)
        assert r.rc == 1, r.brief()
        e = errors(r)
        assert len(e) == 3, e
        text = "\n".join(e)
        for want in (r"three\.yaml:4:3: target\.resoltion: unknown key: did you mean 'resolution'\?",
                     r"three\.yaml:2:8: target\.crs: '3375' is a bare number: write the authority "
                     r"too, as 'EPSG:3375'",
                     r"three\.yaml:8:17: datasets\[1\]\.resampling: unknown resampling 'bilinar' "
                     r".*did you mean 'bilinear'\?"):
            assert re.search(want, text), "no %r in:\n%s" % (want, text)
        assert r.out == "", "stdout on failure: %r" % r.out[:200]
    assert sorted(os.listdir(tdir)) == before, "files written"


@test
def test_each_mistake_explained(ctx, tdir):
    """The issue's list, one manifest each: the message names the file, line, key and
    what to do (the CRS's unit for grid mistakes)."""
    dem, _, _ = sources(tdir)
    ds = [{"name": "dem", "source": dem}]
    cases = [
        # resolution in metres on a geographic CRS
        ({"crs": "EPSG:4326", "bounds": [101.68, 3.14, 101.72, 3.17], "resolution": 30},
         "resolution:", [r"target\.resolution: 30 x 30 degrees", r"degree", r"metres",
                         r"0\.00027"]),
        # degree bounds on a projected CRS
        ({"crs": "EPSG:3375", "bounds": [101.68, 3.14, 101.72, 3.17], "resolution": 30},
         "bounds:", [r"target\.bounds: ", r"target\.crs EPSG:3375 is in metres",
                     r"look like degrees", r"line \d+"]),
        # metre bounds on a geographic CRS
        ({"crs": "EPSG:4326", "bounds": [410800, 348000, 412600, 349500], "resolution": 0.001},
         "bounds:", [r"target\.bounds: ", r"geographic", r"look like metres"]),
        # a code EPSG does not have
        ({"crs": "EPSG:33755", "bounds": TARGET["bounds"], "resolution": 30},
         "crs:", [r"target\.crs: 'EPSG:33755' is not a CRS in the EPSG database",
                  r"projinfo EPSG:33755", r"EPSG:3375"]),
        # a bare number
        ({"crs": "3375", "bounds": TARGET["bounds"], "resolution": 30},
         "crs:", [r"target\.crs: '3375' is a bare number", r"'EPSG:3375'"]),
    ]
    for i, (target, key_line, wants) in enumerate(cases):
        man = os.path.join(tdir, "m%d.yaml" % i)
        write_manifest(man, target, ds)
        r = lode(ctx, ["plan", man], tdir)
        assert_no_crash(r)
        assert r.rc == 1, r.brief()
        e = errors(r)
        assert len(e) == 1, "case %d: %s" % (i, e)
        loc = r"m%d\.yaml:%d:\d+: " % (i, line_of(man, key_line))
        assert re.search(loc, e[0]), "case %d: no %s in %s" % (i, loc, e[0])
        for w in wants:
            assert re.search(w, e[0]), "case %d: no %r in %s" % (i, w, e[0])
        assert "target grid is empty" not in e[0] and "dataset 'dem'" not in e[0], e[0]
    # via: and assume_crs: are CRSs too, with their lines
    man = os.path.join(tdir, "via.yaml")
    write_manifest(man, TARGET, [{"name": "dem", "source": dem, "via": "EPSG:43266"}])
    r = lode(ctx, ["plan", man], tdir)
    assert r.rc == 1 and re.search(r"via\.yaml:%d:\d+: datasets\[1\]\.via: 'EPSG:43266'"
                                   % line_of(man, "via:"), r.err), r.brief()
    # policy keys of a dataset: did you mean
    man = os.path.join(tdir, "pol.yaml")
    write_manifest(man, TARGET, [{"name": "dem", "source": dem,
                                  "policy": {"allow_balpark": True}}])
    r = lode(ctx, ["plan", man], tdir)
    assert r.rc == 1 and re.search(r"pol\.yaml:%d:\d+: datasets\[1\]\.policy\.allow_balpark: "
                                   r"unknown key: did you mean 'allow_ballpark'\?"
                                   % line_of(man, "allow_balpark"), r.err), r.brief()


@test
def test_every_bad_dataset_reported(ctx, tdir):
    """Three datasets whose sources are missing: three error lines, each naming the
    manifest line and dataset; not only the first."""
    ds = [{"name": "a%d" % i, "source": os.path.join(tdir, "none%d.tif" % i)} for i in range(3)]
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, TARGET, ds)
    r = lode(ctx, ["plan", man], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    e = errors(r)
    assert len(e) == 3, e
    for i in range(3):
        assert re.search(r"m\.yaml:%d: dataset 'a%d': source .*none%d\.tif.*No such file"
                         % (line_of(man, "a%d" % i), i, i), e[i]), e[i]


# --------------------------------------------------------------------------- the table

@test
def test_table_and_json(ctx, tdir):
    """lode plan prints a table (dataset, CRSs, operation with code, accuracy, ballpark,
    grid, size); --json prints the JSON of old, with no key added for a manifest that
    uses no new key, and the same records as the table."""
    dem, mag, _ = sources(tdir)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [101.688, 3.145, 101.708, 3.163],
                         "resolution": 0.0003},
                   [{"name": "dem", "source": dem}, {"name": "mag", "source": mag}],
                   {"max_error_m": 20, "allow_ballpark": True})
    r = lode_ok(ctx, ["plan", man], tdir)
    lines = r.out.splitlines()
    head = [l for l in lines if l.startswith("dataset ")]
    assert head and all(h in head[0] for h in ("source CRS -> target CRS", "operation", "accuracy",
                                              "ballpark", "grid", "est. size")), r.out
    row = {l.split()[0]: l for l in lines if l.split() and l.split()[0] in ("dem", "mag")}
    assert re.search(r"EPSG:3168 -> EPSG:4326\s+EPSG:8659\s+15 m\s+no\s+67 x 60 x 1 Float32",
                     row["dem"]), row["dem"]
    assert re.search(r"EPSG:4326 -> EPSG:4326\s+conversion only\s+0 m\s+no", row["mag"]), row["mag"]
    assert "{" not in r.out, "JSON in the table"
    assert warnings(r) == [], r.err
    # the operation the table names is projinfo's
    pi = projinfo_first(ctx, "EPSG:3168", "EPSG:4326")
    assert pi["accuracy"] == 15.0 and not pi["ballpark"], pi

    r = lode_ok(ctx, ["plan", man, "--json"], tdir)
    j = json.loads(r.out)
    assert list(j) == ["manifest", "target_crs", "datasets"], list(j)
    # The keys lode plan printed before issue 18 (lode 7dfebd3), in order.
    old_keys = ["dataset", "kind", "source", "target", "operation", "policy", "resampling",
                "error_threshold", "data_type", "nodata", "band_names", "band_units",
                "proj_version", "epsg_version", "gdal_version", "lode_version"]
    old_op = ["name", "code", "proj_pipeline", "accuracy_m", "ballpark", "grids", "explicit", "steps",
              "candidates"]
    for d in j["datasets"]:
        assert list(d) == old_keys, list(d)
        assert list(d["operation"]) == old_op, list(d["operation"])
        assert list(d["policy"]) == ["max_error_m", "allow_ballpark"], d["policy"]
    assert j["datasets"][0]["operation"]["code"] == "EPSG:8659"
    assert j["datasets"][0]["target"]["width"] == 67 and j["datasets"][0]["target"]["height"] == 60
    # -q keeps stdout, drops warnings
    r = lode_ok(ctx, ["plan", man, "-q"], tdir)
    assert "dataset " in r.out and r.err == "", r.brief()


# --------------------------------------------------------------------------- policy per dataset

@test
def test_policy_per_dataset_refuses_dem(ctx, tdir):
    """The manifest's policy strict, the WGS 84 layers' own relaxed: the Kertau DEM's only
    operation to GDM2000 is ballpark (projinfo says so), and it is refused, naming the
    dataset, why, and via:; plan and run both, nothing written."""
    man = mixed(tdir)
    pi = projinfo_first(ctx, "EPSG:3168", "EPSG:3375")
    assert pi["ballpark"], "projinfo no longer finds only a ballpark Kertau -> GDM2000: %s" % pi
    for cmd in (["plan", man], ["run", man, "-o", os.path.join(tdir, "b.nc")]):
        r = lode(ctx, cmd, tdir)
        assert_no_crash(r)
        assert r.rc == 1, r.brief()
        e = errors(r)
        assert len(e) == 1, e
        assert re.search(r"m\.yaml:%d: dataset 'dem': choosing the coordinate operation: every "
                         r"coordinate operation was refused: .*Ballpark geographic offset from "
                         r"Kertau \(RSO\) to GDM2000.* is a ballpark operation .*allow_ballpark is "
                         r"false \(under the manifest's policy; .*via: EPSG:4326"
                         % line_of(man, 'name: "dem"'), e[0]), e[0]
        assert "'mag'" not in e[0] and "'rad'" not in e[0], e[0]
    assert not os.path.exists(os.path.join(tdir, "b.nc"))


@test
def test_via_plans_through_1158(ctx, tdir):
    """via: EPSG:4326 (and the DEM's own policy allowing the GDM2000 <-> WGS 84 ballpark):
    planned through EPSG:1158, each leg's accuracy recorded as projinfo gives it, the
    total stated as unknown with 15 m known; the recorded pipeline moves a point as
    cs2cs through EPSG:4326 does (to 1 cm), 100+ m from the direct ballpark."""
    man = mixed(tdir, {"via": "EPSG:4326", "policy": {"allow_ballpark": True, "max_error_m": 20}})
    r = lode_ok(ctx, ["plan", man, "--json"], tdir)
    dem = json.loads(r.out)["datasets"][0]
    op = dem["operation"]
    assert op["via"] == "EPSG:4326", op.get("via")
    legs = op["legs"]
    assert [(l["from"], l["to"]) for l in legs] == [("EPSG:3168", "EPSG:4326"),
                                                   ("EPSG:4326", "EPSG:3375")], legs
    pi1 = projinfo_first(ctx, "EPSG:3168", "EPSG:4326")
    pi2 = projinfo_first(ctx, "EPSG:4326", "EPSG:3375")
    assert legs[0]["accuracy_m"] == pi1["accuracy"] == 15.0, (legs[0], pi1)
    assert legs[0]["ballpark"] is False and legs[1]["ballpark"] is True and pi2["ballpark"], legs
    assert legs[1]["accuracy_m"] is None and pi2["accuracy"] is None, (legs[1], pi2)
    assert op["accuracy_m"] is None and op["accuracy_known_m"] == 15.0 and op["ballpark"] is True, op
    codes = [s["code"] for s in op["steps"]]
    assert "EPSG:1158" in codes, codes
    assert dem["policy"] == {"max_error_m": 20.0, "allow_ballpark": True, "scope": "dataset"}, dem["policy"]
    # the recorded pipeline, applied by cct, against cs2cs in two steps through WGS 84
    x, y = KL_3168
    got = tool(["cct", "-d", "4", "-z", "0", "-t", "0"] + op["proj_pipeline"].split(), ctx,
               stdin=("%r %r\n" % (x, y)).encode()).out.split()
    mid = tool(["cs2cs", "-d", "10", "EPSG:3168", "EPSG:4326"], ctx,
               stdin=("%r %r\n" % (x, y)).encode()).out.split()
    ref = tool(["cs2cs", "-d", "4", "EPSG:4326", "EPSG:3375"], ctx,
               stdin=("%s %s\n" % (mid[0], mid[1])).encode()).out.split()
    direct = tool(["cs2cs", "-d", "4", "EPSG:3168", "EPSG:3375"], ctx,
                  stdin=("%r %r\n" % (x, y)).encode()).out.split()
    dx, dy = float(got[0]) - float(ref[0]), float(got[1]) - float(ref[1])
    assert abs(dx) < 0.01 and abs(dy) < 0.01, (got, ref)
    shift = ((float(direct[0]) - float(ref[0])) ** 2 + (float(direct[1]) - float(ref[1])) ** 2) ** 0.5
    assert shift > 100, "via and the direct ballpark differ by only %.1f m" % shift
    # the table names the via legs
    r = lode_ok(ctx, ["plan", man], tdir)
    assert re.search(r"dem\s+EPSG:3168 -> EPSG:3375\s+EPSG:8659 \+ ballpark\s+>= 15 m\s+YES", r.out), r.out
    assert re.search(r"via EPSG:4326:\n\s+EPSG:3168 -> EPSG:4326: EPSG:8659, accuracy 15 m\n"
                     r"\s+EPSG:4326 -> EPSG:3375: no EPSG code \(ballpark\), accuracy unknown", r.out), r.out
    # a stricter max_error_m than the first leg's 15 m refuses it, naming the leg
    man2 = mixed(os.path.join(tdir), {"via": "EPSG:4326",
                                      "policy": {"allow_ballpark": True, "max_error_m": 10}},
                 name="strict.yaml")
    r = lode(ctx, ["plan", man2], tdir)
    assert r.rc == 1 and re.search(r"dataset 'dem': choosing the coordinate operation through "
                                   r"via:: first leg, EPSG:3168 to EPSG:4326 \(via\): .*15 m is "
                                   r"worse than policy\.max_error_m 10 m", r.err), r.brief()
    # via: with operation: is refused
    man3 = mixed(tdir, {"via": "EPSG:4326", "operation": "EPSG:8659"}, name="both.yaml")
    r = lode(ctx, ["plan", man3], tdir)
    assert r.rc == 1 and "cannot go together" in r.err, r.brief()


@test
def test_ballpark_warnings(ctx, tdir):
    """Every accepted ballpark operation: one warning line on stderr at plan and at run
    (dataset, operation, why, which policy); none with -q; the bundle verifies, lode ls
    shows each warning and the via legs; the DEM's data is what gdalwarp makes with the
    recorded pipeline."""
    man = mixed(tdir, {"via": "EPSG:4326", "policy": {"allow_ballpark": True}})
    ln = {n: line_of(man, 'name: "%s"' % n) for n in ("dem", "mag", "rad")}
    pol = {n: line_of(man, "policy:", k) for k, n in ((2, "dem"), (3, "mag"), (4, "rad"))}
    bundle = os.path.join(tdir, "b.nc")
    for cmd in (["plan", man], ["run", man, "-o", bundle]):
        r = lode_ok(ctx, cmd, tdir)
        w = warnings(r)
        assert len(w) == 3, w
        for k, n in enumerate(("dem", "mag", "rad")):
            assert w[k].startswith("lode: warning: dataset '%s' (%s:%d): accepted a ballpark "
                                   "operation '" % (n, man, ln[n])), w[k]
            assert ("its step 'Ballpark geographic offset from WGS 84 to GDM2000' assumes the two "
                    "datums coincide (PROJ knows no transformation between them for this area), so "
                    "its error is unknown and may reach tens or hundreds of metres") in w[k], w[k]
            assert w[k].endswith("allowed by datasets[%d].policy, line %d (allow_ballpark: true)"
                                 % (k + 1, pol[n])), w[k]
        assert "(EPSG:8659)" in w[0] and ("through EPSG:4326 the known steps add up to 15 m, the "
                                          "total is not known") in w[0], w[0]
        assert "(no EPSG code)" in w[1], w[1]
    r = lode_ok(ctx, ["run", man, "-o", bundle, "-q"], tdir)
    assert r.err == "", r.err
    r = lode_ok(ctx, ["plan", man, "-q"], tdir)
    assert r.err == "", r.err
    lode_ok(ctx, ["verify", bundle], tdir)
    r = lode_ok(ctx, ["ls", bundle], tdir)
    assert r.out.count("  WARNING:    ballpark operation accepted by the dataset's policy") == 3, r.out
    assert re.search(r"via:\s+EPSG:4326 \(known steps 15 m\)", r.out), r.out
    j = json.loads(lode_ok(ctx, ["ls", bundle, "--json"], tdir).out)
    ops = {d["name"]: d["operation"] for d in j["datasets"]}
    assert all("warning" in ops[n] for n in ("dem", "mag", "rad")), ops
    lin = lineage(bundle, "dem")
    assert lin["operation"]["legs"][0]["accuracy_m"] == 15.0, lin["operation"]["legs"]
    # the data: gdalwarp with the pipeline lode recorded
    ref = gdalwarp_ref(ctx, tdir, TARGET, {"name": "dem", "source": "dem.tif"},
                       os.path.join(tdir, "ref.tif"), ct=lin["operation"]["proj_pipeline"])
    compare_pixels("dem via EPSG:4326", read_raster(nc_name(bundle, "dem")), read_raster(ref),
                   exact=True)


if __name__ == "__main__":
    main()
