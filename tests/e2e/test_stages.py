#!/usr/bin/python3
"""End-to-end tests of the cluster stages: lode plan -w, reproject [--shard], package,
status and merge, against lode run and against tools we did not write (h5py, gdalinfo,
ogrinfo).  Kill -9 trials use a fixed seed; the real-Slurm test is test_slurm.py.
"""
import fcntl
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import assert_no_crash, lode, lode_ok, main, run, test, write_manifest  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()

SEED = 20261127
BOUNDS = [101.6, 3.65, 102.05, 4.0]


def manifest(ctx, tdir, name="m.yaml", res=0.0003, which=("aeromag_tmi", "dem_kertau", "radiometric_k",
                                                           "deposits"), title="stages test"):
    """A manifest over the generated Malaysian samples.  At 0.0003 degrees the grid is
    1500 x 1167, so with --tile-rows 512 every raster is cut into two tiles."""
    all_sets = {
        "aeromag_tmi": {"name": "aeromag_tmi", "source": ctx.sample("aeromag_tmi.tif"),
                        "resampling": "bilinear"},
        "geology_units": {"name": "geology_units", "source": ctx.sample("geology_units.tif")},
        "dem_kertau": {"name": "dem_kertau", "source": ctx.sample("dem_kertau.tif"),
                       "resampling": "bilinear", "operation": "EPSG:8659"},
        "gravity": {"name": "gravity", "source": ctx.sample("gravity_nocrs.tif"),
                    "resampling": "bilinear", "assume_crs": "EPSG:3375"},
        "radiometric_k": {"name": "radiometric_k", "source": ctx.sample("radiometric_k.tif"),
                          "resampling": "bilinear", "bands": [1, 2, 3]},
        "deposits": {"name": "deposits", "source": ctx.sample("deposits.gpkg")},
        "geology_map": {"name": "geology_map", "source": ctx.sample("geology.gpkg")},
    }
    path = os.path.join(tdir, name)
    write_manifest(path, {"crs": "EPSG:4326", "bounds": BOUNDS, "resolution": res},
                   [all_sets[w] for w in which], policy={"max_error_m": 20, "allow_ballpark": True},
                   bundle={"title": title, "summary": "cluster stages", "institution": "lode tests",
                           "license": "CC0-1.0"})
    return path


def env(ctx):
    # One date for every bundle so that the bundle digests can be compared too.
    return ctx.env(SOURCE_DATE_EPOCH="1795000000")


def digests(path):
    """{dataset: content digest} read with h5py, plus the bundle digest."""
    out = {}
    with h5py.File(path, "r") as f:
        for k in f:
            o = f[k]
            if isinstance(o, h5py.Group):
                o = o[k] if k in o else None
            if o is not None and "lode_content_sha256" in o.attrs:
                v = o.attrs["lode_content_sha256"]
                out[k] = v.decode() if isinstance(v, bytes) else str(v)
        b = f.attrs["lode_bundle_sha256"]
        out["(bundle)"] = b.decode() if isinstance(b, bytes) else str(b)
    return out


def gdal_raster(path, name):
    """(geotransform, bands as numpy arrays) read with GDAL's netCDF driver."""
    ds = gdal.Open('NETCDF:"%s":/%s/%s' % (path, name, name))
    return ds.GetGeoTransform(), [ds.GetRasterBand(b + 1).ReadAsArray() for b in range(ds.RasterCount)]


def documented_digest(bands):
    """The content digest as docs/bundle-format.md section 7 defines it, computed here:
    SHA-256 over the SHA-256 of each band plane (row-major, little-endian, stored type)."""
    top = hashlib.sha256()
    for a in bands:
        top.update(hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).digest())
    return top.hexdigest()


def run_reference(ctx, tdir, m):
    """The bundle lode run makes from m, cached per manifest text."""
    key = ("run", open(m).read())
    if key not in ctx.cache:
        out = os.path.join(tdir, "run.nc")
        lode_ok(ctx, ["run", m, "-o", out, "-q"], tdir, env(ctx))
        ctx.cache[key] = digests(out)
    return ctx.cache[key]


def parts(work):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(work, "parts", "*.nc")))


def temps(folder):
    return sorted(f for f in os.listdir(folder) if ".tmp-" in f)


def status(ctx, tdir, work):
    r = lode(ctx, ["status", "-w", work, "--json"], tdir, env(ctx))
    assert_no_crash(r)
    assert r.rc in (0, 3), "status failed: " + r.brief()
    s = json.loads(r.out)
    assert (r.rc == 0) == s["complete"], "status exit %d but complete=%s" % (r.rc, s["complete"])
    return s


def assert_same(ref, got, what):
    assert set(ref) == set(got), "%s: datasets %s, lode run made %s" % (what, sorted(got), sorted(ref))
    for k in ref:
        assert ref[k] == got[k], "%s: %s digest %s differs from lode run's %s" % (what, k, got[k], ref[k])


@test
def test_stages_equal_run_with_shards(ctx, tdir):
    m = manifest(ctx, tdir)
    ref = run_reference(ctx, tdir, m)
    for n in (1, 2, 4):
        work = os.path.join(tdir, "w%d" % n)
        lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
        s = status(ctx, tdir, work)
        assert s["done"] == 0 and s["planned"] == 7, "planned %s parts, expected 7 (3 rasters x 2 " \
            "tiles + 1 vector): %s" % (s["planned"], s)
        made_by = {}
        if n == 2:  # concurrently, as a job array runs them
            procs = [subprocess.Popen([ctx.lode, "reproject", "-w", work, "--shard", "%d/%d" % (i, n),
                                       "-j", "1", "-q"], env=env(ctx), cwd=tdir,
                                      stderr=subprocess.PIPE) for i in range(n)]
            for p in procs:
                _, err = p.communicate(timeout=300)
                assert p.returncode == 0, "shard failed: %s" % err.decode()[:500]
        else:  # one after the other, to see which shard made which part
            for i in range(n):
                before = set(parts(work))
                args = ["reproject", "-w", work, "-j", "2", "-q"]
                if n > 1:
                    args += ["--shard", "%d/%d" % (i, n)]
                lode_ok(ctx, args, tdir, env(ctx))
                for p in set(parts(work)) - before:
                    made_by[p] = i
        if n == 4:
            tiles = {}
            for p, i in made_by.items():
                if "-rows" in p:
                    tiles.setdefault(p.split("-")[0], set()).add(i)
            assert any(len(v) > 1 for v in tiles.values()), \
                "no raster was split across shards: %s" % made_by
            assert len(set(made_by.values())) == 4, "not every shard made a part: %s" % made_by
        assert status(ctx, tdir, work)["complete"]
        out = os.path.join(tdir, "b%d.nc" % n)
        lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
        assert_same(ref, digests(out), "%d shard(s)" % n)
        lode_ok(ctx, ["verify", out, "-q"], tdir)
        assert not temps(tdir) and not temps(os.path.join(work, "parts")), "temporary files left"


@test
def test_parts_are_bundles_and_tiles_copy_raw(ctx, tdir):
    """Each part verifies on its own; the assembled raster's stored chunks are the
    parts' chunks, byte for byte (raw copies), and equal lode run's."""
    m = manifest(ctx, tdir, which=("aeromag_tmi",))
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    ps = parts(work)
    assert len(ps) == 2, ps
    for p in ps:
        lode_ok(ctx, ["verify", os.path.join(work, "parts", p), "-q"], tdir)
    out = os.path.join(tdir, "b.nc")
    runb = os.path.join(tdir, "run.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["run", m, "-o", runb, "-q"], tdir, env(ctx))
    with h5py.File(out, "r") as f, h5py.File(runb, "r") as g:
        a, b = f["aeromag_tmi/aeromag_tmi"], g["aeromag_tmi/aeromag_tmi"]
        assert a.chunks == b.chunks == (512, 512), (a.chunks, b.chunks)
        row0 = 0
        for p in ps:
            with h5py.File(os.path.join(work, "parts", p), "r") as h:
                t = h["aeromag_tmi/aeromag_tmi"]
                for r in range(0, t.shape[0], 512):
                    for c in range(0, t.shape[1], 512):
                        m1, raw = t.id.read_direct_chunk((r, c))
                        m2, raw2 = a.id.read_direct_chunk((row0 + r, c))
                        m3, raw3 = b.id.read_direct_chunk((row0 + r, c))
                        assert raw == raw2 == raw3 and m1 == m2 == m3, \
                            "chunk (%d, %d) of %s differs" % (row0 + r, c, p)
                row0 += t.shape[0]
        assert row0 == a.shape[0]
    # Read with GDAL: each tile's geotransform is the whole raster's moved down by its
    # rows, its pixels are those rows of the packaged raster, and the packaged digest is
    # the one the format defines, computed here from GDAL's pixels.
    gt, whole = gdal_raster(out, "aeromag_tmi")
    row0 = 0
    for p in ps:
        tgt, tile = gdal_raster(os.path.join(work, "parts", p), "aeromag_tmi")
        assert abs(tgt[3] - (gt[3] + row0 * gt[5])) < 1e-9 * abs(gt[3]) and tgt[:3] == gt[:3], (p, tgt, gt)
        assert np.array_equal(tile[0], whole[0][row0:row0 + tile[0].shape[0]], equal_nan=True), \
            "%s: GDAL reads other pixels than the packaged rows %d.." % (p, row0)
        row0 += tile[0].shape[0]
    with h5py.File(out, "r") as f:
        stored = f["aeromag_tmi/aeromag_tmi"].attrs["lode_content_sha256"]
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    assert documented_digest(whole) == stored, "the packaged digest is not the documented digest of its pixels"


@test
def test_rerun_skips_done_and_redoes_changed(ctx, tdir):
    m = manifest(ctx, tdir, which=("aeromag_tmi", "dem_kertau", "deposits"))
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    stamp = {p: os.stat(os.path.join(work, "parts", p)).st_mtime_ns for p in parts(work)}
    r = lode_ok(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert "0 parts made, %d already done" % len(stamp) in r.err, r.brief()
    # Change one dataset's setting: only its parts are made again.
    txt = open(m).read().replace('"bilinear"', '"cubic"', 1)
    open(m, "w").write(txt)
    r = lode(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert r.rc == 2 and "changed since lode plan" in r.err, "a changed manifest must be refused: " + r.brief()
    # A plan -w killed while writing plan.json leaves its temporary file; the next plan
    # -w removes it (its process is dead) and keeps a live writer's.
    host = socket.gethostname().split(".")[0] or "host"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = ".plan.json.tmp-%s-%d-AbCdEf" % (host, dead.pid)
    live = ".plan.json.tmp-%s-%d-GhIjKl" % (host, os.getpid())
    for t in (stale, live):
        open(os.path.join(work, t), "w").write("{")
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    assert temps(work) == [live], "temporary files after plan -w: %s" % temps(work)
    os.unlink(os.path.join(work, live))
    r = lode_ok(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert "2 parts made, 3 already done" in r.err, r.brief()
    for p, t in stamp.items():
        if not p.startswith("aeromag_tmi"):
            assert os.stat(os.path.join(work, "parts", p)).st_mtime_ns == t, p + " was made again"
    # --force makes everything again.
    r = lode_ok(ctx, ["reproject", "-w", work, "--force"], tdir, env(ctx))
    assert "5 parts made, 0 already done" in r.err, r.brief()
    out = os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
    assert_same(run_reference(ctx, tdir, m), digests(out), "after the change")


def kill_trials(ctx, tdir, m, stage, trials, seed):
    """Start the stage, SIGKILL it at a random moment, check that nothing partial sits
    under a final name, rerun, compare with lode run."""
    rng = random.Random(seed)
    ref = run_reference(ctx, tdir, m)
    # How long an uninterrupted run takes, to spread the kills over it.
    work0 = os.path.join(tdir, "timing")
    lode_ok(ctx, ["plan", m, "-w", work0, "--tile-rows", "512"], tdir, env(ctx))
    t0 = time.time()
    lode_ok(ctx, ["reproject", "-w", work0, "-j", "1", "-q"], tdir, env(ctx))
    t_rep = time.time() - t0
    # The faster of two runs (the first also warms the caches): on a loaded machine a run
    # can take twice as long as the next, and kills timed from the slow one would miss.
    t_pkg = None
    for _ in range(2):
        t0 = time.time()
        lode_ok(ctx, ["package", "-w", work0, "-o", os.path.join(tdir, "timing.nc"), "-q"], tdir, env(ctx))
        t_pkg = min(t_pkg or 1e9, time.time() - t0)
    killed_mid = 0
    for trial in range(trials):
        work = os.path.join(tdir, "k%d" % trial)
        out = os.path.join(tdir, "k%d.nc" % trial)
        if stage == "reproject":
            lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
            cmd = [ctx.lode, "reproject", "-w", work, "-j", "1", "-q"]
            delay = rng.uniform(0.05, 0.7) * t_rep
        else:
            shutil.copytree(work0, work)
            cmd = [ctx.lode, "package", "-w", work, "-o", out, "-q"]
            delay = rng.uniform(0.02, 0.7) * t_pkg
        p = subprocess.Popen(cmd, env=env(ctx), cwd=tdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        killed_mid += p.returncode == -signal.SIGKILL
        # Nothing partial under a final name: every part and the bundle, if there, verify.
        done = parts(work)
        for q in done:
            lode_ok(ctx, ["verify", os.path.join(work, "parts", q), "-q"], tdir)
        if os.path.exists(out):
            lode_ok(ctx, ["verify", out, "-q"], tdir)
        stamp = {q: os.stat(os.path.join(work, "parts", q)).st_ino for q in done}
        if stage == "reproject":
            r = lode_ok(ctx, ["reproject", "-w", work, "-j", "2"], tdir, env(ctx))
            total = status(ctx, tdir, work)["planned"]
            want = "%d part%s made, %d already done" % (total - len(done), "" if total - len(done) == 1 else "s",
                                                       len(done))
            assert want in r.err, "trial %d: rerun should say %r: %s" % (trial, want, r.brief())
            for q, ino in stamp.items():
                assert os.stat(os.path.join(work, "parts", q)).st_ino == ino, q + " was made again"
            assert not temps(os.path.join(work, "parts")), \
                "the rerun left the killed job's temporary files: %s" % temps(os.path.join(work, "parts"))
        lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
        assert not temps(tdir), "temporary files left beside the bundle: %s" % temps(tdir)
        assert_same(ref, digests(out), "trial %d after a kill -9 of %s" % (trial, stage))
    assert killed_mid >= trials // 2, "only %d of %d kills hit a running %s" % (killed_mid, trials, stage)


@test
def test_kill9_reproject_then_rerun(ctx, tdir):
    m = manifest(ctx, tdir, which=("aeromag_tmi", "radiometric_k", "deposits"))
    kill_trials(ctx, tdir, m, "reproject", 4, SEED)


@test
def test_rerun_cleans_folders_beside_done_parts(ctx, tdir):
    """A job killed just after renaming a part into place leaves its private folder beside
    a part that no rerun writes again: the next reproject removes it (same host, its lock
    free), keeps a folder whose lock a live writer holds, and makes nothing again."""
    m = manifest(ctx, tdir, which=("aeromag_tmi",))
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    done = parts(work)
    assert done, "no parts"
    host = socket.gethostname().split(".")[0] or "host"
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = os.path.join(work, "parts", ".%s.tmp-%s-%d-AbC123" % (done[0], host, gone.pid))
    live = os.path.join(work, "parts", ".%s.tmp-%s-%d-XyZ789" % (done[-1], host, gone.pid))
    for d in (dead, live):
        os.mkdir(d, 0o700)
        with open(os.path.join(d, done[0]), "wb") as f:
            f.write(b"half a part")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer that still runs
        r = lode_ok(ctx, ["reproject", "-w", work], tdir, env(ctx))
        assert "0 parts made" in r.err + r.out or "already done" in r.err + r.out, r.brief()
        assert not os.path.exists(dead), "the dead writer's folder is still there"
        assert os.path.exists(os.path.join(live, done[0])), "a live writer's folder was removed"
    finally:
        os.close(fd)
    assert parts(work) == done
    # Its lock let go, the next reproject removes it too.
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    assert not temps(os.path.join(work, "parts")), temps(os.path.join(work, "parts"))


@test
def test_kill9_package_then_rerun(ctx, tdir):
    m = manifest(ctx, tdir, which=("aeromag_tmi", "radiometric_k", "deposits"))
    kill_trials(ctx, tdir, m, "package", 4, SEED + 1)


@test
def test_status_failed_and_missing_parts(ctx, tdir):
    src = os.path.join(tdir, "dem.tif")
    shutil.copy(ctx.sample("dem_kertau.tif"), src)
    m = os.path.join(tdir, "m.yaml")
    write_manifest(m, {"crs": "EPSG:4326", "bounds": BOUNDS, "resolution": 0.001},
                   [{"name": "dem", "source": src, "resampling": "bilinear"},
                    {"name": "aeromag", "source": ctx.sample("aeromag_tmi.tif")}],
                   policy={"max_error_m": 20, "allow_ballpark": True})
    work = os.path.join(tdir, "w")
    r = lode(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert r.rc == 2 and "lode plan" in r.err, "reproject without a plan: " + r.brief()
    lode_ok(ctx, ["plan", m, "-w", work], tdir, env(ctx))
    s = status(ctx, tdir, work)
    assert (s["planned"], s["done"], s["missing"], s["failed"]) == (2, 0, 2, 0), s
    r = lode(ctx, ["package", "-w", work, "-o", os.path.join(tdir, "b.nc")], tdir, env(ctx))
    assert r.rc == 1 and "2 of the 2 parts are not made yet" in r.err, r.brief()
    assert not os.path.exists(os.path.join(tdir, "b.nc")) and not temps(tdir)
    os.utime(src, (1, 1))  # the source changes after planning
    r = lode(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert_no_crash(r)
    assert r.rc == 1 and "changed since lode plan" in r.err, r.brief()
    s = status(ctx, tdir, work)
    assert (s["done"], s["failed"]) == (1, 1), s
    bad = [p for d in s["datasets"] for p in d["parts"] if p["state"] == "failed"]
    assert bad and "dem.tif" in bad[0]["error"] and "changed since lode plan" in bad[0]["error"], bad
    r = lode(ctx, ["status", "-w", work], tdir, env(ctx))
    assert r.rc == 3 and "failed" in r.out and "changed since lode plan" in r.out, r.brief()
    r = lode(ctx, ["package", "-w", work, "-o", os.path.join(tdir, "b.nc")], tdir, env(ctx))
    assert r.rc == 1 and "which failed" in r.err, r.brief()
    lode_ok(ctx, ["plan", m, "-w", work], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    s = status(ctx, tdir, work)
    assert s["complete"] and s["failed"] == 0, s
    assert not os.listdir(os.path.join(work, "failed")), \
        "failure records outlive the parts made since: %s" % os.listdir(os.path.join(work, "failed"))


@test
def test_relative_paths_from_another_folder(ctx, tdir):
    """A manifest named by a relative path, with relative sources, planned in its folder;
    the shards and package run from another folder (as a scheduler's jobs may)."""
    proj = os.path.join(tdir, "proj")
    os.makedirs(proj)
    shutil.copy(ctx.sample("aeromag_tmi.tif"), os.path.join(proj, "aero.tif"))
    shutil.copy(ctx.sample("deposits.gpkg"), os.path.join(proj, "deposits.gpkg"))
    write_manifest(os.path.join(proj, "m.yaml"), {"crs": "EPSG:4326", "bounds": BOUNDS, "resolution": 0.0003},
                   [{"name": "aeromag_tmi", "source": "aero.tif", "resampling": "bilinear"},
                    {"name": "deposits", "source": "deposits.gpkg"}],
                   policy={"max_error_m": 20, "allow_ballpark": True})
    lode_ok(ctx, ["plan", "m.yaml", "-w", "w", "--tile-rows", "512"], proj, env(ctx))
    elsewhere = os.path.join(tdir, "elsewhere")
    os.makedirs(elsewhere)
    work = os.path.join(proj, "w")
    for i in range(2):
        lode_ok(ctx, ["reproject", "-w", work, "--shard", "%d/2" % i, "-q"], elsewhere, env(ctx))
    out = os.path.join(elsewhere, "b.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], elsewhere, env(ctx))
    ref = os.path.join(proj, "run.nc")
    lode_ok(ctx, ["run", "m.yaml", "-o", ref, "-q"], proj, env(ctx))
    assert_same(digests(ref), digests(out), "relative paths, other folder")
    with open(os.path.join(work, "plan.json")) as f:
        plan = json.load(f)
    assert all(os.path.isabs(d["source_path"]) and os.path.isabs(plan["manifest"]) for d in plan["datasets"]), \
        "plan.json records relative paths"

@test
def test_usage_errors(ctx, tdir):
    m = manifest(ctx, tdir, which=("aeromag_tmi",), res=0.001)
    work = os.path.join(tdir, "w")
    for args, words in ((["plan", m, "-w", work, "--tile-rows", "100"], "multiple of 512"),
                        (["plan", m, "--tile-rows", "512"], "-w"),
                        (["reproject", "-w", work, "--shard", "4/4"], "0 to N-1"),
                        (["reproject", "-w", work, "--shard", "x"], "I/N"),
                        (["reproject"], "-w WORK"),
                        (["package", "-w", work], "-o"),
                        (["merge", "-o", os.path.join(tdir, "x.nc")], "BUNDLE")):
        r = lode(ctx, args, tdir, env(ctx))
        assert_no_crash(r)
        assert r.rc == 2 and words in r.err, "%s: %s" % (args, r.brief())
    assert not os.path.exists(work)


@test
def test_file_locking_is_honoured(ctx, tdir):
    """HDF5 locks files; on file systems without locking users set
    HDF5_USE_FILE_LOCKING=FALSE, and lode must not override it either way."""
    import fcntl
    m = manifest(ctx, tdir, which=("aeromag_tmi",), res=0.001)
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", m, "-w", work], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    part = os.path.join(work, "parts", parts(work)[0])
    with open(part, "rb+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = lode(ctx, ["package", "-w", work, "-o", os.path.join(tdir, "b.nc")], tdir, env(ctx))
        assert r.rc == 1 and "HDF5_USE_FILE_LOCKING=FALSE" in r.err, "a locked part: " + r.brief()
        e = env(ctx)
        e["HDF5_USE_FILE_LOCKING"] = "FALSE"
        lode_ok(ctx, ["package", "-w", work, "-o", os.path.join(tdir, "b.nc"), "-q"], tdir, e)
    lode_ok(ctx, ["verify", os.path.join(tdir, "b.nc"), "-q"], tdir)


@test
def test_merge_two_manifests(ctx, tdir):
    ma = manifest(ctx, tdir, "a.yaml", res=0.001, which=("aeromag_tmi", "radiometric_k", "deposits"),
                  title="survey A")
    mb = manifest(ctx, tdir, "b.yaml", res=0.002, which=("dem_kertau", "gravity", "geology_map"),
                  title="survey B")
    a, b, out = (os.path.join(tdir, n) for n in ("a.nc", "b.nc", "ab.nc"))
    lode_ok(ctx, ["run", ma, "-o", a, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["run", mb, "-o", b, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["merge", a, b, "-o", out, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["verify", out, "-q"], tdir)
    da, db, dm = digests(a), digests(b), digests(out)
    for k in list(da) + list(db):
        if k != "(bundle)":
            assert dm.get(k) == (da.get(k) or db.get(k)), "%s: digest %s after merge" % (k, dm.get(k))
    with h5py.File(out, "r") as f, h5py.File(a, "r") as g:
        assert f["aeromag_tmi/aeromag_tmi"].attrs["lode_lineage"] == g["aeromag_tmi/aeromag_tmi"].attrs["lode_lineage"]
        title = f.attrs["title"]
        title = title.decode() if isinstance(title, bytes) else title
        assert "survey A" in title and "survey B" in title, title
        merged = json.loads(f.attrs["lode_merged_from"])
        assert [x["file"] for x in merged] == ["a.nc", "b.nc"], merged
    # gdalinfo reads every raster, ogrinfo every layer.
    for name, w in (("aeromag_tmi", 450), ("radiometric_k", 450), ("dem_kertau", 225), ("gravity", 225)):
        r = run(["gdalinfo", "-json", 'NETCDF:"%s":/%s/%s' % (out, name, name)], env=ctx.env())
        assert r.rc == 0, r.brief()
        info = json.loads(r.out)
        assert info["size"][0] == w and info.get("coordinateSystem", {}).get("wkt"), (name, info["size"])
    r = run(["ogrinfo", "-ro", "-so", "-al", out], env=ctx.env())
    assert r.rc == 0, r.brief()
    for layer in ("deposits", "geology_map"):
        assert "Layer name: %s" % layer in r.out, "ogrinfo does not list %s" % layer
    # A clash is refused unless --prefix renames; nothing is left behind.
    clash = os.path.join(tdir, "aa.nc")
    r = lode(ctx, ["merge", a, out, "-o", clash], tdir, env(ctx))
    assert r.rc == 2 and "--prefix" in r.err, r.brief()
    assert not os.path.exists(clash) and not temps(tdir)
    lode_ok(ctx, ["merge", a, b, "--prefix", "-o", clash, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["verify", clash, "-q"], tdir)
    names = set(digests(clash)) - {"(bundle)"}
    assert names == {"a_aeromag_tmi", "a_radiometric_k", "a_deposits", "b_dem_kertau", "b_gravity",
                     "b_geology_map"}, names
    # Another CRS is refused; a damaged input is refused.
    mc = os.path.join(tdir, "c.yaml")
    write_manifest(mc, {"crs": "EPSG:3375", "bounds": [400000, 400000, 420000, 420000], "resolution": 200},
                   [{"name": "other", "source": ctx.sample("aeromag_tmi.tif")}])
    c = os.path.join(tdir, "c.nc")
    lode_ok(ctx, ["run", mc, "-o", c, "-q"], tdir, env(ctx))
    r = lode(ctx, ["merge", a, c, "-o", os.path.join(tdir, "ac.nc")], tdir, env(ctx))
    assert r.rc == 1 and "EPSG:3375" in r.err, r.brief()
    bad = os.path.join(tdir, "bad.nc")
    shutil.copy(b, bad)
    with h5py.File(bad, "r") as f:
        off = f["dem_kertau/dem_kertau"].id.get_chunk_info(0).byte_offset
    with open(bad, "r+b") as f:
        f.seek(off + 100)
        x = f.read(1)
        f.seek(off + 100)
        f.write(bytes([x[0] ^ 0xFF]))
    r = lode(ctx, ["merge", a, bad, "-o", os.path.join(tdir, "abad.nc")], tdir, env(ctx))
    assert r.rc == 1 and "does not verify" in r.err, r.brief()
    assert not os.path.exists(os.path.join(tdir, "abad.nc"))


# --------------------------------------------------------------------------- the work folder is not trusted

def attr_text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def planned_work(ctx, tdir, name="w", m=None):
    """A work folder of aeromag_tmi (two tiles) and deposits, every part made."""
    m = m or manifest(ctx, tdir, which=("aeromag_tmi", "deposits"))
    work = os.path.join(tdir, name)
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
    return m, work


def refused(ctx, tdir, args, naming, what, rc=1):
    """Run lode; it must fail with rc, one message naming `naming`, and leave no bundle or
    temporary file in tdir."""
    r = lode(ctx, args, tdir, env(ctx))
    assert_no_crash(r)
    assert r.rc == rc, "%s: exit %d, not %d: %s" % (what, r.rc, rc, r.brief())
    assert naming in r.err, "%s: the message does not name %s: %s" % (what, naming, r.err)
    if "-o" in args:
        out = args[args.index("-o") + 1]
        assert not os.path.exists(out), "%s: %s was written" % (what, out)
    assert not temps(tdir), "%s: temporary files left: %s" % (what, temps(tdir))
    return r


class Raw(str):
    """A JSON number kept as the text plan.json has (jansson's %.17g form)."""


def jansson_compact(v):
    """json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) as jansson writes it, for values
    loaded with parse_float=Raw (so reals keep their text)."""
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(jansson_compact(x) for x in v) + "]"
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jansson_compact(x) for k, x in v.items()) + "}"


def dataset_key(lineage, lode_version, format_version):
    """A dataset's content key as docs/cluster.md defines it (pipeline/work.c)."""
    basis = "lode part\nlode %s\nformat %s\nwork 1\nchunk 512\n%s" % (lode_version, format_version,
                                                                      jansson_compact(lineage))
    return hashlib.sha256(basis.encode()).hexdigest()


@test
def test_package_refuses_tampered_parts(ctx, tdir):
    m, work = planned_work(ctx, tdir)
    out = os.path.join(tdir, "b.nc")
    tile = [p for p in parts(work) if p.startswith("aeromag_tmi") and "-rows0-" in p][0]
    path = os.path.join(work, "parts", tile)
    keep = os.path.join(tdir, "tile.keep")
    shutil.copy(path, keep)
    # 1. Pixels changed with h5py, the part's digest left as it was.
    with h5py.File(path, "r+") as f:
        v = f["aeromag_tmi/aeromag_tmi"]
        v[100:140, 200:260] = v[100:140, 200:260] + 50
    refused(ctx, tdir, ["package", "-w", work, "-o", out], tile, "a part with changed pixels")
    # 2. The same, with its lode_content_sha256 set to the digest of its new pixels (what
    #    the attacker of issue 14 did: the bundle then verified with the +50 anomaly).
    with h5py.File(path, "r+") as f:
        v = f["aeromag_tmi/aeromag_tmi"]
        digest = documented_digest([v[...]])
        old = attr_text(v.attrs["lode_content_sha256"])
        v.attrs["lode_content_sha256"] = np.bytes_(digest)
    assert digest != old
    with h5py.File(path, "r") as f:
        assert documented_digest([f["aeromag_tmi/aeromag_tmi"][...]]) == attr_text(
            f["aeromag_tmi/aeromag_tmi"].attrs["lode_content_sha256"]), "the forged digest does not match"
    refused(ctx, tdir, ["package", "-w", work, "-o", out], tile, "a part whose digest was updated")
    # 3. A part's key changed (its own bundle digest then fails; a part of another grid
    #    under this name is test_package_refuses_part_of_another_plan).
    shutil.copy(keep, path)
    with h5py.File(path, "r+") as f:
        f.attrs["lode_part_key"] = np.bytes_("0" * 64)
    refused(ctx, tdir, ["package", "-w", work, "-o", out], tile, "a part with another key")
    # 4. A vector part's coordinates moved, its digest kept.
    shutil.copy(keep, path)
    vpart = [p for p in parts(work) if p.startswith("deposits")][0]
    vpath = os.path.join(work, "parts", vpart)
    vkeep = os.path.join(tdir, "vector.keep")
    shutil.copy(vpath, vkeep)
    with h5py.File(vpath, "r+") as f:
        x = [k for k in f if k.startswith("deposits") and k.lower().endswith("x")][0]
        f[x][0] = f[x][0] + 0.01
    refused(ctx, tdir, ["package", "-w", work, "-o", out], vpart, "a vector part with a moved point")
    # 5. The parts restored: package works and gives what lode run gives.
    shutil.copy(vkeep, vpath)
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
    assert_same(run_reference(ctx, tdir, m), digests(out), "after restoring the parts")


@test
def test_package_and_reproject_refuse_edited_plan(ctx, tdir):
    m, work = planned_work(ctx, tdir)
    out = os.path.join(tdir, "b.nc")
    plan_path = os.path.join(work, "plan.json")
    original = open(plan_path).read()
    plan = json.loads(original, parse_float=Raw)
    with h5py.File(os.path.join(work, "parts", parts(work)[0]), "r") as f:
        fmt = attr_text(f.attrs["lode_format_version"])
    # The key recomputed here as documented is the plan's (else the edits below prove nothing).
    for d in plan["datasets"]:
        assert dataset_key(d["lineage"], plan["lode_version"], fmt) == d["key"], d["name"]

    def edited(change, consistent):
        p = json.loads(original, parse_float=Raw)
        d = p["datasets"][0]
        change(d["lineage"])
        if consistent:  # key and part names made to agree with the edited record
            key = dataset_key(d["lineage"], p["lode_version"], fmt)
            for u in d["parts"]:
                u["part"] = u["part"].replace(d["key"][:24], key[:24])
            d["key"] = key
        return p

    def pipeline(l):
        l["operation"]["proj_pipeline"] = l["operation"]["proj_pipeline"].replace("+k=0.99984", "+k=0.99994")

    def source_sha(l):
        l["source"]["sha256"] = "0" * 64

    assert "+k=0.99984" in plan["datasets"][0]["lineage"]["operation"]["proj_pipeline"]
    for what, change in (("proj_pipeline", pipeline), ("source sha256", source_sha)):
        # The record edited alone: its key no longer derives from it.
        open(plan_path, "w").write(jansson_compact(edited(change, False)))
        refused(ctx, tdir, ["reproject", "-w", work], "plan.json", "reproject, plan with edited " + what)
        refused(ctx, tdir, ["package", "-w", work, "-o", out], "plan.json", "package, plan with edited " + what)
        # Edited with its key and part names: reproject makes parts from it, but package
        # plans again from the manifest and the sources and refuses it.
        open(plan_path, "w").write(jansson_compact(edited(change, True)))
        lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env(ctx))
        r = refused(ctx, tdir, ["package", "-w", work, "-o", out], "plan.json",
                    "package, plan with consistently edited " + what)
        assert ("proj_pipeline" if what == "proj_pipeline" else "sha256") in r.err, r.err
    # Any other edit (here one byte of layout) changes plan.json's digest, which every part records.
    open(plan_path, "w").write(original + " ")
    r = refused(ctx, tdir, ["package", "-w", work, "-o", out], "plan.json", "package, plan with a space added")
    assert "lode_part_plan_sha256" in r.err and "/parts/" in r.err, r.err
    # The original plan: package works again, with the original parts.
    open(plan_path, "w").write(original)
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
    assert_same(run_reference(ctx, tdir, m), digests(out), "with the original plan")


@test
def test_package_refuses_part_of_another_plan(ctx, tdir):
    m, work = planned_work(ctx, tdir)
    out = os.path.join(tdir, "b.nc")
    # Another work folder: the same datasets, a manifest differing only in its title, so
    # the keys and part names are the same and only the plan differs.
    m2 = manifest(ctx, tdir, "m2.yaml", which=("aeromag_tmi", "deposits"), title="another plan")
    _, work2 = planned_work(ctx, tdir, "w2", m2)
    assert parts(work) == parts(work2), (parts(work), parts(work2))
    keep = os.path.join(tdir, "keep")
    shutil.copytree(os.path.join(work, "parts"), keep)
    tile = parts(work)[0]
    shutil.copy(os.path.join(work2, "parts", tile), os.path.join(work, "parts", tile))
    r = refused(ctx, tdir, ["package", "-w", work, "-o", out], tile, "a part from another work folder")
    assert "lode_part_plan_sha256" in r.err, r.err
    # A part of another grid put under this plan's name: another key.
    shutil.rmtree(os.path.join(work, "parts"))
    shutil.copytree(keep, os.path.join(work, "parts"))
    m3 = manifest(ctx, tdir, "m3.yaml", res=0.0004, which=("aeromag_tmi", "deposits"))
    _, work3 = planned_work(ctx, tdir, "w3", m3)
    other = [p for p in parts(work3) if p.startswith("aeromag_tmi")][0]
    mine = [p for p in parts(work) if p.startswith("aeromag_tmi") and "-rows0-" in p][0]
    shutil.copy(os.path.join(work3, "parts", other), os.path.join(work, "parts", mine))
    r = refused(ctx, tdir, ["package", "-w", work, "-o", out], mine, "a part of another grid")
    assert "lode_part_key" in r.err, r.err
    shutil.rmtree(os.path.join(work, "parts"))
    shutil.copytree(keep, os.path.join(work, "parts"))
    # A new plan of the same folder keeps the parts made from the one it replaces.
    before = {p: os.stat(os.path.join(work, "parts", p)).st_mtime_ns for p in parts(work)}
    lode_ok(ctx, ["plan", m, "-w", work, "--tile-rows", "512"], tdir, env(ctx))
    with open(os.path.join(work, "plan.json")) as f:
        assert len(json.load(f)["earlier_plans"]) >= 1
    r = lode_ok(ctx, ["reproject", "-w", work], tdir, env(ctx))
    assert "0 parts made" in r.err, r.brief()
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env(ctx))
    assert {p: os.stat(os.path.join(work, "parts", p)).st_mtime_ns for p in parts(work)} == before
    assert_same(run_reference(ctx, tdir, m), digests(out), "after a new plan")


# --------------------------------------------------------------------------- merge keeps or refuses

def reseal_v1(path, value_of=None):
    """Set lode_bundle_sha256 to the bundle digest of format version 1 (bundle-format.md
    section 7), from the stored content digests, so that an input crafted with h5py still
    verifies where lode verify computes that digest.  value_of(name, value) may give the
    text hashed for an attribute.  Where the digest is defined otherwise, the input does
    not verify and the tests below expect merge to refuse it."""
    def text(v):
        if isinstance(v, bytes):
            return v.split(b"\0")[0]
        if isinstance(v, str):
            return v.encode()
        return ",".join("%.17g" % x for x in np.ravel(v)).encode()

    def sha(b):
        return hashlib.sha256(b).hexdigest()
    with h5py.File(path, "r+") as f:
        lines = []
        for name in sorted(f.attrs, key=str.encode):
            if name != "lode_bundle_sha256" and not name.startswith("lode_signature"):
                v = value_of(name, f.attrs[name]) if value_of else None
                lines.append("attribute %s %s\n" % (name, sha(v if v is not None else text(f.attrs[name]))))
        for name in sorted(f, key=str.encode):
            if isinstance(f[name], h5py.Group):
                var = f[name][name]
            elif "lode_ogr_geometry_type" in f[name].attrs:
                var = f[name]
            else:
                continue
            lines.append("dataset %s %s %s\n" % (name, text(var.attrs["lode_content_sha256"]).decode(),
                                                 sha(text(var.attrs["lode_lineage"]))))
        f.attrs["lode_bundle_sha256"] = np.bytes_(sha("".join(lines).encode()))


def root_attrs(path):
    with h5py.File(path, "r") as f:
        return {k: f.attrs[k] for k in f.attrs}


def as_text(v):
    """A root attribute as lode gives it as text: strings as they are, numbers as %.17g."""
    if isinstance(v, (bytes, str)):
        return attr_text(v)
    return ",".join("%.17g" % x for x in np.ravel(v))


def assert_carried(inputs, out):
    """Every root attribute of every input is in the merged bundle: a metadata key in its
    root (the input's value among the joined ones), and every attribute, as it was, in the
    input's lode_merged_from record."""
    merged = root_attrs(out)
    entries = json.loads(attr_text(merged["lode_merged_from"]))
    assert len(entries) == len(inputs), entries
    for path, e in zip(inputs, entries):
        assert e["file"] == os.path.basename(path), e["file"]
        for k, v in root_attrs(path).items():
            own = k.startswith(("lode_", "geospatial_")) or k in ("Conventions", "date_created")
            if not own:
                assert k in merged and as_text(v) in attr_text(merged[k]), \
                    "%s: %s not in the merged root" % (path, k)
            if k == "lode_bundle_sha256" or k == "lode_manifest":
                assert e[k] == as_text(v), "%s: %s not in lode_merged_from" % (path, k)
            else:
                assert e["attributes"].get(k) == as_text(v), "%s: %s not kept in lode_merged_from" % (path, k)
    return merged, entries


@test
def test_merge_keeps_or_refuses_root_attributes(ctx, tdir):
    ma = manifest(ctx, tdir, "a.yaml", res=0.002, which=("aeromag_tmi", "deposits"), title="survey A")
    mb = manifest(ctx, tdir, "b.yaml", res=0.002, which=("dem_kertau",), title="survey B")
    a, b = os.path.join(tdir, "a.nc"), os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", ma, "-o", a, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["run", mb, "-o", b, "-q"], tdir, env(ctx))
    # A signed input, and an input that is itself a merge: its signature, its own
    # lode_merged_from, date_created and versions are kept, not dropped.
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    lode_ok(ctx, ["sign", a, "--key", os.path.join(tdir, "k.key"), "--signer", "Survey A", "-q"], tdir)
    ab = os.path.join(tdir, "ab.nc")
    lode_ok(ctx, ["merge", a, b, "--prefix", "-o", ab, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["verify", ab, "-q"], tdir)
    _, entries = assert_carried([a, b], ab)
    assert "lode_signature_1" in entries[0]["attributes"], entries[0]["attributes"].keys()
    again = os.path.join(tdir, "again.nc")
    lode_ok(ctx, ["merge", ab, b, "--prefix", "-o", again, "-q"], tdir, env(ctx))
    lode_ok(ctx, ["verify", again, "-q"], tdir)
    _, entries = assert_carried([ab, b], again)
    assert json.loads(entries[0]["attributes"]["lode_merged_from"])[0]["file"] == "a.nc"
    # Every dataset object and attribute is copied (h5py, object by object).
    plain = os.path.join(tdir, "plain.nc")
    lode_ok(ctx, ["merge", a, b, "-o", plain, "-q"], tdir, env(ctx))
    with h5py.File(plain, "r") as m:
        for path in (a, b):
            with h5py.File(path, "r") as f:
                def same(name, obj):
                    assert name in m, "%s: %s missing after merge" % (path, name)
                    for k, v in obj.attrs.items():
                        if k in ("DIMENSION_LIST", "REFERENCE_LIST"):
                            continue
                        assert k in m[name].attrs, "%s: %s: attribute %s dropped" % (path, name, k)
                        assert np.array_equal(np.asarray(m[name].attrs[k]), np.asarray(v)), (path, name, k)
                f.visititems(same)
    # 100 metadata attributes (named to sort before title, which merge used to drop
    # after 59 keys), added with h5py and resealed.
    many = os.path.join(tdir, "many.nc")
    shutil.copy(b, many)
    with h5py.File(many, "r+") as f:
        for i in range(100):
            f.attrs["acdd_extra_%03d" % i] = np.bytes_("value %d of many" % i)
    reseal_v1(many)
    sealed = lode(ctx, ["verify", many, "-q"], tdir).rc == 0
    out = os.path.join(tdir, "many_merged.nc")
    r = lode(ctx, ["merge", a, many, "--prefix", "-o", out], tdir, env(ctx))
    assert_no_crash(r)
    if sealed and r.rc == 0:
        merged, _ = assert_carried([a, many], out)
        assert "acdd_extra_099" in merged and attr_text(merged["title"]) == "survey A; survey B", \
            attr_text(merged.get("title", b"(none)"))
    else:
        assert r.rc == 1 and ("does not verify" in r.err or "acdd_extra_" in r.err), r.brief()
        assert not os.path.exists(out) and not temps(tdir), "written on refusal"
    # A root attribute merge cannot read as text (a string array): refused, naming it.
    odd = os.path.join(tdir, "odd.nc")
    shutil.copy(b, odd)
    with h5py.File(odd, "r+") as f:
        f.attrs["keywords_list"] = np.array([b"gravity", b"magnetics"], dtype="S10")
    reseal_v1(odd, lambda k, v: b"(unsupported attribute type)" if k == "keywords_list" else None)
    out = os.path.join(tdir, "odd_merged.nc")
    r = lode(ctx, ["merge", a, odd, "--prefix", "-o", out], tdir, env(ctx))
    assert_no_crash(r)
    assert r.rc == 1 and ("keywords_list" in r.err or "does not verify" in r.err), r.brief()
    assert not os.path.exists(out) and not temps(tdir), "written on refusal"


if __name__ == "__main__":
    main()
