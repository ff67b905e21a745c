#!/usr/bin/python3
"""Resource bombs: bundles crafted with h5py (bomb_util.py) from a small bundle that lode
made, each declaring far more than the file holds or storing a deflate stream that
inflates far beyond what it declares, and otherwise exactly what lode writes (so that
the bound under test, not the strict check of docs/bundle-format.md 8.1, is what
refuses it: test_bomb_crafting_is_lodes shows the crafting without its bomb verifies
OK). verify, ls, extract and merge must each end in bounded time and memory with a
clear error (peak RSS measured with getrusage of a wrapper process, lode's reading
child included), leave no temporary file, and stop promptly, cleaning up, on SIGTERM or
SIGINT. Each bomb is first shown to be one with h5py and zlib, not with lode.

/usr/bin/python3 tests/e2e/test_bombs.py --lode build/lode --samples DIR --work TMPDIR

Same runner and output as the other suites (tests/e2e/README.md).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import ogr, osr  # noqa: E402

import bomb_util  # noqa: E402
from hostile_util import (assert_sane, error_lines, files_under, has_control_chars,  # noqa: E402
                          run_measured)
from lodetest import Result, Skip, main, test  # noqa: E402

LIMIT_S = 20          # every refusal ends well within this
SLACK_MIB = 200       # the libraries (GDAL, PROJ, HDF5) and the process around the bound
BOUND = "256M"        # the --max-memory given where a bound is asserted
BOUND_MIB = 256
DEFAULT_MIB = 1024    # lode's default bound, LODE_READ_MEMORY_DEFAULT


# =========================================================================== fixture

def fixture(ctx):
    """A bundle of two rasters (geology Byte, gravity Float32, 80 x 60 on EPSG:3375) and
    a point layer (deposits, 36 features in the bounds, 8 fields), built once per process."""
    c = ctx.cache.get("bombs")
    if isinstance(c, Exception):
        raise c
    if c:
        return c
    try:
        d = os.path.join(ctx.work, "_fixtures", "bombs")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for n in ("geology_units.tif", "gravity_nocrs.tif", "deposits.gpkg"):
            shutil.copyfile(ctx.sample(n), os.path.join(d, n))
        man = os.path.join(d, "small.yaml")
        with open(man, "w") as f:
            f.write("bundle:\n  title: bombs\n  license: CC0-1.0\n"
                    "target:\n  crs: EPSG:3375\n  bounds: [404000, 409000, 444000, 439000]\n"
                    "  resolution: 500\npolicy:\n  allow_ballpark: true\ndatasets:\n"
                    "  - name: geology\n    source: geology_units.tif\n"
                    "  - name: gravity\n    source: gravity_nocrs.tif\n    assume_crs: EPSG:3375\n"
                    "    resampling: bilinear\n"
                    "  - name: deposits\n    source: deposits.gpkg\n")
        out = os.path.join(d, "small.nc")
        r = lode_run(ctx, ["run", man, "-o", out, "-q"], d)
        assert r.rc == 0, "fixture: lode run failed: " + r.brief()
        r = lode_run(ctx, ["verify", out, "-q"], d)
        assert r.rc == 0, "fixture does not verify: " + r.brief()
        c = {"dir": d, "bundle": out}
    except (Skip, AssertionError) as e:
        ctx.cache["bombs"] = type(e)("fixture: %s" % e)
        raise ctx.cache["bombs"]
    ctx.cache["bombs"] = c
    return c


def zero_bundle(ctx, tdir):
    """A copy in tdir of the fixture whose gravity is a valid 16384 x 16384 Float32 raster
    of zeros (bomb_util.zero_raster: content and bundle digests recomputed by hashlib and
    tests/bundle_digest.py), made once per process; h5py shows its size and its chunks."""
    c = ctx.cache.get("bombs_zero")
    if isinstance(c, Exception):
        raise c
    if not c:
        try:
            fx = fixture(ctx)
            c = bomb_util.zero_raster(fx["bundle"], os.path.join(fx["dir"], "zero.nc"), "gravity")
            with h5py.File(c, "r") as f:
                v = f["gravity/gravity"]
                assert v.shape == (16384, 16384) and v.dtype == np.float32, (v.shape, v.dtype)
                assert v.chunks == (512, 512) and v.maxshape == v.shape, (v.chunks, v.maxshape)
            assert os.path.getsize(c) < 8 << 20, os.path.getsize(c)
        except (Skip, AssertionError) as e:
            ctx.cache["bombs_zero"] = type(e)("zero raster: %s" % e)
            raise ctx.cache["bombs_zero"]
        ctx.cache["bombs_zero"] = c
    b = os.path.join(tdir, "zero.nc")
    shutil.copyfile(c, b)
    return b


def lode_run(ctx, args, cwd, timeout=120):
    cmd = [ctx.lode] + [str(a) for a in args]
    p = subprocess.run(cmd, env=ctx.env(), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return Result(cmd, rc, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


# =========================================================================== checks

def measured(ctx, args, cwd):
    """Run lode through the RSS wrapper: (Result, wall seconds, peak RSS MiB)."""
    cmd = [ctx.lode] + [str(a) for a in args]
    rc, out, err, wall, rss = run_measured(cmd, env=ctx.env(), cwd=cwd, timeout=LIMIT_S * 6)
    return Result(cmd, rc, out, err), wall, rss


def bounded(ctx, tdir, bomb, dataset, words, bound=BOUND, ls_reads=True, verify_args=(),
            stale_digest=False, merge=True):
    """verify, ls, extract and merge of bomb, each with --max-memory bound (None: the
    default): exit 1 within LIMIT_S, peak RSS under the bound plus SLACK_MIB, one error
    line naming the bundle and the dataset (as 'NAME', or as the path of one of its
    variables, '/NAME/NAME' or '/NAME_...': extract's bundle digest names the variable it
    could not read) and matching the regex words, nothing left in the extract folder or
    beside the merge output. ls reads no values: a bomb in the values only (ls_reads
    False) may list with exit 0, still within bounds. verify_args are added to verify's
    (--full). stale_digest: the bomb left the bundle digest as it was, so extract refuses
    it by its bundle digest before reading a value (the message says so, not which
    dataset). merge False: merge is not run. Returns a list of problems."""
    problems = []
    cap = (BOUND_MIB if bound else DEFAULT_MIB) + SLACK_MIB
    mem = ["--max-memory", bound] if bound else []
    xdir = os.path.join(tdir, "x")
    mdir = os.path.join(tdir, "m")
    os.makedirs(mdir, exist_ok=True)
    base = os.path.basename(bomb)
    names = re.compile(r"'/?%s([/_][^'/]*)*'" % re.escape(dataset))
    runs = [("verify", ["verify", bomb] + list(verify_args) + mem),
            ("ls", ["ls", bomb] + mem),
            ("extract", ["extract", bomb, "-o", xdir] + mem)]
    if merge:
        runs.append(("merge", ["merge", bomb, "-o", os.path.join(mdir, "out.nc")] + mem))
    for cmd, args in runs:
        r, wall, rss = measured(ctx, args, tdir)
        label = "%s %s" % (cmd, base)
        try:
            assert_sane(r)
        except AssertionError as e:
            problems.append("%s: %s" % (label, e))
            continue
        if wall > LIMIT_S:
            problems.append("%s took %.1f s (limit %d s)" % (label, wall, LIMIT_S))
        if rss > cap:
            problems.append("%s peaked at %.0f MiB (bound %s + %d MiB)" % (label, rss, bound or "default",
                                                                         SLACK_MIB))
        if cmd == "ls" and not ls_reads:
            if r.rc not in (0, 1):
                problems.append("%s: exit %d: %s" % (label, r.rc, r.brief()))
            continue
        lines = error_lines(r)
        if r.rc != 1:
            problems.append("%s: want exit 1: %s" % (label, r.brief()))
        elif len(lines) != 1:
            problems.append("%s: want one 'lode: error:' line: %s" % (label, r.brief()))
        elif cmd == "extract" and stale_digest:
            if base not in lines[0] or "differs from its bundle digest" not in lines[0]:
                problems.append("%s: want the bundle digest's refusal: %s" % (label, r.brief()))
        elif base not in lines[0] or not names.search(lines[0]) and dataset not in r.out:
            problems.append("%s: the error does not name %s and '%s': %s" % (label, base, dataset,
                                                                            r.brief()))
        elif not re.search(words, r.err + r.out):
            problems.append("%s: the message does not say what is wrong (%s): %s" % (label, words,
                                                                                    r.brief()))
        if has_control_chars(r.err):
            problems.append("%s: raw control characters on stderr" % label)
    # datasets before the bomb are extracted (documented); nothing of it, no temporary file
    left = [n for n in files_under(xdir) if "tmp" in n or n.startswith(dataset + ".")] \
        if os.path.isdir(xdir) else []
    if left:
        problems.append("extract %s left %s" % (base, left))
    left = files_under(mdir)
    if left:
        problems.append("merge %s left %s" % (base, left))
    return problems


def chunk_inflates_to(path, var, offset):
    """What the stored chunk at offset of var inflates to, counted by zlib a megabyte at
    a time (the stored bytes less Fletcher-32's 4)."""
    with h5py.File(path, "r") as f:
        _, raw = f[var].id.read_direct_chunk(offset)
    d = zlib.decompressobj()
    n, data = 0, raw[:-4]
    while data:
        out = d.decompress(data, 1 << 20)
        n += len(out)
        data = d.unconsumed_tail
    return n, len(raw)


# =========================================================================== bombs

@test
def test_bomb_huge_chunk(ctx, tdir):
    """A 1.1 MB bundle whose raster, 14500 x 14500 Float32 as lode writes it but for its
    chunks, is one chunk of 841 MB (lode writes 512 x 512), stored as the deflate stream
    of that many zeros: refused before reading (chunks over 16 MiB), by every command."""
    fx = fixture(ctx)
    b = bomb_util.huge_chunk(fx["bundle"], os.path.join(tdir, "huge.nc"), "gravity")
    with h5py.File(b, "r") as f:
        v = f["gravity/gravity"]
        assert v.shape == v.maxshape == (14500, 14500) and v.chunks == (14500, 14500), \
            (v.shape, v.maxshape, v.chunks)
    n, stored = chunk_inflates_to(b, "gravity/gravity", (0, 0))
    assert n == 14500 * 14500 * 4 and os.path.getsize(b) < 2 << 20, (n, os.path.getsize(b))
    p = bounded(ctx, tdir, b, "gravity", r"chunks of 841000000 bytes|decompression|chunk")
    assert not p, "; ".join(p)


@test
def test_bomb_ratio_lie(ctx, tdir):
    """The fixture's gravity as lode wrote it (80 x 60 Float32, one chunk of 19200 bytes)
    but its chunk stored as a 20-byte stream: no deflate stream that short inflates that
    far (1032:1 at most). Refused before reading."""
    fx = fixture(ctx)
    b = bomb_util.ratio_lie(fx["bundle"], os.path.join(tdir, "lie.nc"), "gravity")
    n, stored = chunk_inflates_to(b, "gravity/gravity", (0, 0))
    with h5py.File(b, "r") as f:
        declared = int(np.prod(f["gravity/gravity"].chunks)) * 4
    assert declared > 1032 * stored, (declared, stored)
    p = bounded(ctx, tdir, b, "gravity", r"declares \d+ bytes but stores 16: deflate makes at most 1032")
    assert not p, "; ".join(p)


@test
def test_bomb_overinflate(ctx, tdir):
    """A 512 x 512 Float32 raster as lode writes it (one chunk of 1 MiB) whose chunk
    stores 1 MB, the deflate stream of 1 GiB of zeros: as much as a chunk of 1 MiB may
    store, and the strict check reads no values, so only reading finds it. verify,
    extract (while it recomputes the bundle digest) and merge stop inflating at the
    declared size (HDF5's own filter would hold the whole GiB); ls reads no values."""
    fx = fixture(ctx)
    b = bomb_util.overinflate(fx["bundle"], os.path.join(tdir, "over.nc"), "gravity")
    with h5py.File(b, "r") as f:
        v = f["gravity/gravity"]
        assert v.shape == v.maxshape == v.chunks == (512, 512), (v.shape, v.maxshape, v.chunks)
    n, stored = chunk_inflates_to(b, "gravity/gravity", (0, 0))
    assert n == 1 << 30 and stored < 1100000, (n, stored)
    # As made, the bundle digest no longer matches: verify decodes every raster to name
    # the damaged one; extract refuses by the digest, inflating nothing.
    p = bounded(ctx, tdir, b, "gravity", r"inflates to more than the 1048576 bytes", ls_reads=False,
                stale_digest=True)
    assert not p, "; ".join(p)
    # the default bound too
    p = bounded(ctx, tdir, b, "gravity", r"inflates to more than", bound=None, ls_reads=False,
                stale_digest=True)
    assert not p, "; ".join(p)
    # Its bundle digest recomputed (tests/bundle_digest.py; format 4 digests the stored
    # chunk, no inflating): verify --full and extract decode, and stop at the declared
    # size. verify without --full takes the stored chunk on the digest's word and says
    # OK (docs/cli.md, "--full"); merge copies the chunk as stored, inflating nothing,
    # and its output verifies the same way.
    forged = os.path.join(tdir, "forged.nc")
    shutil.copyfile(b, forged)
    bomb_util.set_bundle_digest(forged)
    p = bounded(ctx, tdir, forged, "gravity", r"inflates to more than the 1048576 bytes", ls_reads=False,
                verify_args=["--full"], merge=False)
    assert not p, "; ".join(p)
    r, wall, rss = measured(ctx, ["verify", forged, "--max-memory", BOUND], tdir)
    assert r.rc == 0 and "gravity: OK" in r.out, r.brief()
    assert rss < BOUND_MIB + SLACK_MIB and wall < LIMIT_S, (rss, wall)
    merged = os.path.join(tdir, "m", "forged_merged.nc")
    r, wall, rss = measured(ctx, ["merge", forged, "-o", merged, "--max-memory", BOUND], tdir)
    assert r.rc == 0, r.brief()
    assert rss < BOUND_MIB + SLACK_MIB and wall < LIMIT_S, (rss, wall)
    assert chunk_inflates_to(merged, "gravity/gravity", (0, 0)) == (n, stored)
    r, wall, rss = measured(ctx, ["verify", merged, "--full", "--max-memory", BOUND], tdir)
    assert r.rc == 1 and re.search(r"inflates to more than", r.err + r.out), r.brief()
    os.remove(merged)


@test
def test_bomb_tall_y(ctx, tdir):
    """A raster declaring 2^28 rows, as lode writes one but that nothing of them is
    stored: a y coordinate variable of 2^28 values (2 GiB, never written) and a data
    variable of 2^28 rows (no chunk written), in a file of a hundred kilobytes. Refused
    before anything is allocated."""
    fx = fixture(ctx)
    b = bomb_util.tall_y(fx["bundle"], os.path.join(tdir, "tall.nc"), "gravity")
    with h5py.File(b, "r") as f:
        assert f["gravity/y"].shape == (1 << 28,) and f["gravity/gravity"].shape[0] == 1 << 28
        assert f["gravity/y"].id.get_storage_size() == 0
        assert f["gravity/gravity"].id.get_num_chunks() == 0
    assert os.path.getsize(b) < 200000, os.path.getsize(b)
    p = bounded(ctx, tdir, b, "gravity", r"more chunks than a file|not stored|declares")
    assert not p, "; ".join(p)
    p = bounded(ctx, tdir, b, "gravity", r"more chunks than a file|not stored|declares", bound=None)
    assert not p, "; ".join(p)


@test
def test_bomb_wide_layer(ctx, tdir):
    """A point layer as lode writes one of 20 fields and 2^24 features, but that nothing
    is stored past its first 36 features: each field and its coordinates declaring 2^24
    values (2.7 GB to hold them). Refused before reading."""
    fx = fixture(ctx)
    b = bomb_util.wide_layer(fx["bundle"], os.path.join(tdir, "wide.nc"), "deposits")
    with h5py.File(b, "r") as f:
        lin = json.loads(f["deposits"].attrs["lode_lineage"])
        assert len(lin["fields"]) == 20 and lin["feature_count"] == 1 << 24, lin["feature_count"]
        for fl in lin["fields"]:
            v = f["deposits_field_" + fl["variable"]]
            assert v.shape == (1 << 24,) and v.id.get_num_chunks() == 1, (v.name, v.shape)
        assert f["deposits_coordX"].shape == (1 << 24,)
    assert os.path.getsize(b) < 300000, os.path.getsize(b)
    p = bounded(ctx, tdir, b, "deposits", r"more chunks than a file|not stored|declares")
    assert not p, "; ".join(p)


@test
def test_bomb_big_lineage(ctx, tdir):
    """A 16 MB lode_lineage (the raster's own, with a member of empty JSON arrays added
    first), which a JSON parser turns into tens of times its size: refused before it is
    parsed (at most 4 MiB)."""
    fx = fixture(ctx)
    b = bomb_util.big_lineage(fx["bundle"], os.path.join(tdir, "lineage.nc"), "gravity")
    with h5py.File(b, "r") as f:
        assert len(f["gravity/gravity"].attrs["lode_lineage"]) > 16000000
    p = bounded(ctx, tdir, b, "gravity", r"lode_lineage holds \d+ bytes")
    assert not p, "; ".join(p)


@test
def test_bomb_crafting_is_lodes(ctx, tdir):
    """The crafting without its bomb is a bundle lode accepts, so the bombs above are
    refused for their bomb, not for their form: the 512 x 512 raster of overinflate
    with a chunk that inflates to its 1 MiB (bomb_util.lode_raster, as huge_chunk,
    tall_y and zero_raster make theirs), the point layer of wide_layer with its 20
    fields at its stored size, and big_lineage's lineage at 8 kB, each with its digests
    recomputed by tests/bundle_digest.py, verify OK; and each still differs from the
    fixture where its bomb does (h5py)."""
    fx = fixture(ctx)
    twins = [
        (bomb_util.overinflate(fx["bundle"], os.path.join(tdir, "over.nc"), "gravity",
                               inflated=512 * 512 * 4), "gravity/gravity", lambda v: v.shape == (512, 512)),
        (bomb_util.wide_layer(fx["bundle"], os.path.join(tdir, "wide.nc"), "deposits", n=None),
         "deposits", lambda v: len(json.loads(v.attrs["lode_lineage"])["fields"]) == 20),
        (bomb_util.big_lineage(fx["bundle"], os.path.join(tdir, "lineage.nc"), "gravity", nbytes=8000),
         "gravity/gravity", lambda v: 7997 < len(v.attrs["lode_lineage"]) <= 8000),
    ]
    for b, var, changed in twins:
        with h5py.File(b, "r") as f:
            assert changed(f[var]), "%s: %s is not what the twin makes" % (os.path.basename(b), var)
        bomb_util.set_digests(b)
        r = lode_run(ctx, ["verify", b], tdir)
        assert r.rc == 0 and "verified" in r.out, r.brief()


# =========================================================================== the bound

@test
def test_max_memory_raster(ctx, tdir):
    """A 5 MB valid bundle whose raster is 16384 x 16384 Float32 zeros (1 GiB decoded,
    every chunk within deflate's ratio; content digest by hashlib, bundle digest by
    tests/bundle_digest.py): verify reads it to the end in strips of 512 rows within
    --max-memory 256M and says OK; with 16M it is NOT CHECKED (exit 1) and extract
    refuses it before writing anything."""
    b = zero_bundle(ctx, tdir)
    r, wall, rss = measured(ctx, ["verify", b, "--max-memory", BOUND], tdir)
    assert_sane(r)
    # read to the end, both digests as computed here: section 7's rules
    assert r.rc == 0 and re.search(r"^gravity: OK ", r.out, re.M) and \
        re.search(r"^bundle digest: OK ", r.out, re.M), r.brief()
    assert rss < BOUND_MIB + SLACK_MIB and wall < 60, (rss, wall)
    r, wall, rss = measured(ctx, ["verify", b, "--max-memory", "16M"], tdir)
    line = [l for l in r.out.splitlines() if l.startswith("gravity: ")]
    assert r.rc == 1 and line and line[0].startswith("gravity: NOT CHECKED: "), r.brief()
    for want in ("reading it needs about", "--max-memory allows (16 MB)", "a strip of 16384 x 512"):
        assert want in line[0], (want, line[0])
    x = os.path.join(tdir, "x")
    r, wall, rss = measured(ctx, ["extract", b, "gravity", "-o", x, "--max-memory", "16M"], tdir)
    assert r.rc == 1 and "dataset 'gravity'" in r.err and "--max-memory allows (16 MB)" in r.err, \
        r.brief()
    assert files_under(x) == [], files_under(x)


def points_gpkg(path, n):
    """A GeoPackage of n points with one Real field, written with OGR."""
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3375)
    lyr = ds.CreateLayer("pts", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("v", ogr.OFTReal))
    rng = np.random.RandomState(14)
    xs = rng.uniform(405000, 443000, n)
    ys = rng.uniform(410000, 438000, n)
    lyr.StartTransaction()
    for i in range(n):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("v", float(i))
        f.SetGeometry(ogr.CreateGeometryFromWkt("POINT (%r %r)" % (xs[i], ys[i])))
        lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds = None


@test
def test_max_memory_vector(ctx, tdir):
    """A layer of 200,000 points (about 6 MB of columns) verifies within 64M and is
    refused by verify, extract and merge within 2M, naming the layer and the bound;
    nothing is written."""
    src = os.path.join(tdir, "pts.gpkg")
    points_gpkg(src, 200000)
    man = os.path.join(tdir, "pts.yaml")
    with open(man, "w") as f:
        f.write("bundle:\n  title: pts\ntarget:\n  crs: EPSG:3375\n"
                "  bounds: [404000, 409000, 444000, 439000]\n  resolution: 500\n"
                "datasets:\n  - name: pts\n    source: pts.gpkg\n")
    b = os.path.join(tdir, "pts.nc")
    r = lode_run(ctx, ["run", man, "-o", b, "-q"], tdir)
    assert r.rc == 0, r.brief()
    r = lode_run(ctx, ["verify", b, "--max-memory", "64M"], tdir)
    assert r.rc == 0 and "pts: OK" in r.out, r.brief()
    r = lode_run(ctx, ["verify", b, "--max-memory", "2M"], tdir)
    assert r.rc == 1 and "pts: NOT CHECKED" in r.out, r.brief()
    for want in ("dataset 'pts'", "reading the layer needs about", "--max-memory allows (2.0 MB)"):
        assert want in error_lines(r)[0], (want, r.brief())
    x = os.path.join(tdir, "x")
    r = lode_run(ctx, ["extract", b, "-o", x, "--max-memory", "2M"], tdir)
    assert r.rc == 1 and "dataset 'pts'" in r.err and "--max-memory allows" in r.err, r.brief()
    assert files_under(x) == [], files_under(x)
    m = os.path.join(tdir, "m")
    os.makedirs(m)
    r = lode_run(ctx, ["merge", b, "-o", os.path.join(m, "o.nc"), "--max-memory", "2M"], tdir)
    assert r.rc == 1 and "dataset 'pts'" in r.err and "--max-memory allows" in r.err, r.brief()
    assert files_under(m) == [], files_under(m)
    r = lode_run(ctx, ["verify", b, "--max-memory", "lots"], tdir)
    assert r.rc == 2 and "--max-memory takes a size" in r.err, r.brief()


# =========================================================================== signals

def interrupted_extract(ctx, tdir, sig):
    """extract of the 1 GiB zero raster (several seconds of work), sig sent to lode once
    its temporary folder exists: lode ends within 3 s by that signal (docs/cli.md,
    "Outputs": the first signal ends lode at once) saying 'interrupted', its reading
    child is gone, and DIR holds nothing."""
    b = zero_bundle(ctx, tdir)
    x = os.path.join(tdir, "x")
    p = subprocess.Popen([ctx.lode, "extract", b, "gravity", "-o", x], env=ctx.env(), cwd=tdir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15 and not any(".tmp" in n for n in files_under(x)) \
            and p.poll() is None:
        time.sleep(0.05)
    if p.poll() is not None or not files_under(x):
        p.kill()
        raise AssertionError("extract never wrote its temporary file: exit %s, %s" %
                             (p.returncode, p.stderr.read().decode()[-300:]))
    kids = [int(k) for k in open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()]
    assert kids, "no reading child"
    p.send_signal(sig)
    t1 = time.monotonic()
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("lode did not end within 10 s of the signal")
    took = time.monotonic() - t1
    err = err.decode()
    assert took < 3, "lode took %.1f s to end after the signal" % took
    assert p.returncode == -sig and "interrupted" in err, (p.returncode, err)
    assert files_under(x) == [], files_under(x)
    for k in kids:
        assert not os.path.exists("/proc/%d" % k), "the reading child %d still runs" % k


@test
def test_sigterm_during_extract(ctx, tdir):
    interrupted_extract(ctx, tdir, signal.SIGTERM)


@test
def test_sigint_during_extract(ctx, tdir):
    interrupted_extract(ctx, tdir, signal.SIGINT)



@test
def test_lode_compressed_zero_raster_reads(ctx, tdir):
    """Not a bomb: a 16384 x 16384 all-zero Float32 raster that lode itself wrote (855:1,
    a 1.6 MB bundle) verifies and extracts: reading it twice (extract's digest pass, then
    the extraction) stays within the work the file's size justifies, because the digest
    reads whole rows of chunks and decodes each chunk once (it used to read 128-row
    blocks, decoding each 512-row chunk four times, and extract was killed as hostile).
    The extracted GeoTIFF is checked with GDAL: every pixel 0, the grid's size."""
    from osgeo import gdal
    src = os.path.join(tdir, "zero.tif")
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(src, 16384, 16384, 1, gdal.GDT_Float32, ["COMPRESS=DEFLATE", "TILED=YES"])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3375)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetGeoTransform([404000, 1, 0, 439000, 0, -1])
    ds.GetRasterBand(1).Fill(0)
    ds = None
    man = os.path.join(tdir, "zero.yaml")
    with open(man, "w") as f:
        f.write("target:\n  crs: EPSG:3375\n  bounds: [404000, 422616, 420384, 439000]\n"
                "  resolution: 1\ndatasets:\n  - name: zero\n    source: zero.tif\n")
    b = os.path.join(tdir, "zero.nc")
    r = subprocess.run([ctx.lode, "run", man, "-o", b, "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(b) < 4 << 20, os.path.getsize(b)  # compressed as lode does
    for cmd in (["verify", b], ["extract", b, "-o", os.path.join(tdir, "x")]):
        r = subprocess.run([ctx.lode] + cmd, capture_output=True, text=True, timeout=LIMIT_S * 6)
        assert r.returncode == 0, "%s: %s" % (cmd[0], r.stderr.strip()[-400:])
    out = gdal.Open(os.path.join(tdir, "x", "zero.tif"))
    assert (out.RasterXSize, out.RasterYSize) == (16384, 16384)
    stats = out.GetRasterBand(1).ComputeRasterMinMax(False)
    assert stats == (0.0, 0.0), stats

if __name__ == "__main__":
    main()
