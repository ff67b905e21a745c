#!/usr/bin/python3
"""Outputs never clobber: temporary files that no planted name can redirect, -o that is
an input refused, the mode of a replaced file kept, signals honoured with nothing left.

Same runner, flags and output as test_raster.py.  Independent checks: hashlib digests of
the victims and inputs, os.lstat for links and modes, /proc for child processes, h5py
and gdalinfo for what lode wrote.
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import Skip, assert_no_crash, lode, lode_ok, main, make_target, test, write_manifest  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal, osr  # noqa: E402

gdal.UseExceptions()

HOST = socket.gethostname().split(".")[0] or "host"
# The documented name of a private temporary folder (docs/cli.md): .NAME.tmp-HOST-PID-XXXXXX
TEMP_RE = re.compile(r"^\..+\.tmp-(?P<host>[^-]+(?:-[^-]+)*)-(?P<pid>\d+)-[A-Za-z0-9]{6}$")


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def temps(folder):
    """Names in folder that look like any temporary file lode makes or made."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if "tmp-" in n or "tmp." in n)


def fixture(ctx, tdir, copy_sources=False):
    """A manifest with one raster and one vector layer (sources copied into tdir/src when
    asked, so that a test may try to overwrite them), and its bundle tdir/b.nc."""
    aero, dep = ctx.sample("aeromag_tmi.tif"), ctx.sample("deposits.gpkg")
    if copy_sources:
        src = os.path.join(tdir, "src")
        os.makedirs(src, exist_ok=True)
        aero = shutil.copy(aero, src)
        dep = shutil.copy(dep, src)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, make_target("EPSG:4326", [aero], res=0.004),
                   [{"name": "aeromag", "source": aero, "resampling": "bilinear"},
                    {"name": "deposits", "source": dep}],
                   {"allow_ballpark": True, "max_error_m": 20})
    b = os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    return man, b, aero, dep


def future_pids(n=200):
    """The next n process ids this machine is likely to hand out (from a fresh child's)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return range(p.pid + 1, p.pid + 1 + n)


def plant(folder, names, victim):
    """Symbolic links to victim at each name in folder (the attacker's trap)."""
    os.makedirs(folder, exist_ok=True)
    made = []
    for n in names:
        path = os.path.join(folder, n)
        if not os.path.lexists(path):
            os.symlink(victim, path)
            made.append(path)
    return made


def trap_names(base, pids, extra_bases=()):
    """Every name a writer of base in this folder could use, for these pids: lode's own
    (older and current: .NAME.tmp-HOST-PID-XXXXXX with guessed XXXXXX) and the old
    extract and sign patterns."""
    names = []
    for pid in pids:
        for b in (base,) + tuple(extra_bases):
            names += [".%s.tmp-%d" % (b, pid), ".%s.tmp-%s-%d-AAAAAA" % (b, HOST, pid),
                      ".%s.tmp-%s-%d-XXXXXX" % (b, HOST, pid), "%s.sign-tmp-%d" % (b, pid)]
            stem = b.rsplit(".", 1)[0]
            names += [".%s.tmp-%d.gpkg" % (stem, pid), ".%s.tif.tmp-%d" % (stem, pid)]
    return names


def check_traps(links, victim, victim_sha):
    assert sha(victim) == victim_sha, "the victim outside the output folder was changed"
    for path in links:
        assert os.path.islink(path) and os.readlink(path) == victim, \
            "%s was replaced or removed: lode wrote at a planted name" % path


@test
def test_planted_symlinks_never_followed(ctx, tdir):
    """Links to a victim file outside the output folders, planted at every temporary name
    run, sign, extract, plan -w, reproject, package and merge could use (200 future pids,
    current and old naming patterns): the victim is unchanged, every link is still there,
    and the outputs are sound (h5py reads the bundles, gdalinfo the GeoTIFF)."""
    man, b0, aero, dep = fixture(ctx, tdir)
    victim = os.path.join(tdir, "victim.txt")
    open(victim, "w").write("precious\n")
    vsha = sha(victim)
    out, x, work = (os.path.join(tdir, d) for d in ("out", "x", "work"))
    pids = future_pids()
    links = plant(out, trap_names("b.nc", pids, ("p.nc", "m.nc")), victim)
    links += plant(x, trap_names("aeromag.tif", pids, ("deposits.gpkg",)), victim)
    links += plant(work, trap_names("plan.json", pids), victim)
    b = os.path.join(out, "b.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "k.key"), "-q"], tdir)
    lode_ok(ctx, ["verify", b, "--trust", os.path.join(tdir, "k.pub"), "-q"], tdir)
    lode_ok(ctx, ["extract", b, "-o", x, "-q"], tdir)
    lode_ok(ctx, ["plan", man, "-w", work], tdir)
    parts = os.path.join(work, "parts")
    keys = [os.path.basename(p["part"]) for d in json.load(open(os.path.join(work, "plan.json")))["datasets"]
            for p in d["parts"]]
    for k in keys:
        links += plant(parts, trap_names(k, pids), victim)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir)
    lode_ok(ctx, ["package", "-w", work, "-o", os.path.join(out, "p.nc"), "-q"], tdir)
    lode_ok(ctx, ["merge", b0, "-o", os.path.join(out, "m.nc"), "-q"], tdir)
    check_traps(links, victim, vsha)
    for f in ("b.nc", "p.nc", "m.nc"):
        with h5py.File(os.path.join(out, f), "r") as h:
            assert "lode_bundle_sha256" in h.attrs, f
        assert not os.path.islink(os.path.join(out, f)), f
    info = gdal.Info(os.path.join(x, "aeromag.tif"), format="json")
    assert info["size"][0] > 0 and info["driverShortName"] == "GTiff", info
    for folder in (out, x, work, parts):
        left = [n for n in temps(folder) if not os.path.islink(os.path.join(folder, n))]
        assert not left, "temporary files left in %s: %s" % (folder, left)


@test
def test_symlink_at_output_refused(ctx, tdir):
    """A symbolic link at the output name (run -o, sign's bundle, extract's DIR/NAME.tif,
    package -o) is refused with exit 2 naming it, before anything is written; the file it
    points to is unchanged and the link stays."""
    man, b, aero, dep = fixture(ctx, tdir)
    victim = os.path.join(tdir, "victim.nc")
    shutil.copy(b, victim)
    vsha = sha(victim)
    link = os.path.join(tdir, "link.nc")
    os.symlink(victim, link)
    x = os.path.join(tdir, "x")
    os.makedirs(x)
    os.symlink(victim, os.path.join(x, "aeromag.tif"))
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    for args, named in ((["run", man, "-o", link], link),
                        (["sign", link, "--key", os.path.join(tdir, "k.key")], link),
                        (["extract", b, "-o", x], os.path.join(x, "aeromag.tif"))):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc == 2 and "symbolic link" in r.err and named in r.err, r.brief()
        assert os.path.islink(link) and sha(victim) == vsha, "after %s: the victim changed" % args[0]
    assert os.listdir(x) == ["aeromag.tif"], "extract wrote before refusing: %s" % os.listdir(x)
    assert not temps(tdir), temps(tdir)


def refused(ctx, tdir, args, names, watched):
    """lode args must exit 2 naming each of names, leave every watched file as it was and
    no temporary file beside any of them."""
    before = {p: sha(p) for p in watched}
    r = lode(ctx, args, tdir)
    assert_no_crash(r)
    assert r.rc == 2, "should be refused (exit 2): " + r.brief()
    for n in names:
        assert n in r.err, "the message should name %s: %s" % (n, r.brief())
    assert len([ln for ln in r.err.splitlines() if ln.startswith("lode: error")]) == 1, r.brief()
    for p, h in before.items():
        assert sha(p) == h, "%s changed: %s" % (p, r.brief())
    for folder in {os.path.dirname(p) for p in watched}:
        assert not temps(folder), "temporary files left in %s: %s" % (folder, temps(folder))


@test
def test_output_that_is_an_input_refused(ctx, tdir):
    """-o that is an input is refused (exit 2, one line naming both), the input's sha256
    unchanged: run -o the manifest, a source (by its path, through another path, a hard
    link, a symbolic link), a side car GDAL lists for a source; plan -w where plan.json is
    the manifest; package -o a part, plan.json, the manifest, a source, a new name inside
    WORK/parts; merge -o one of its inputs; sign with the bundle as its key; extract into
    a folder where NAME.tif is the bundle itself."""
    man, b, aero, dep = fixture(ctx, tdir, copy_sources=True)
    src = os.path.dirname(aero)
    watched = [man, aero, dep, b]
    refused(ctx, tdir, ["run", man, "-o", man], [man, "manifest"], watched)
    refused(ctx, tdir, ["run", man, "-o", aero], [aero, "aeromag"], watched)
    refused(ctx, tdir, ["run", man, "-o", dep], [dep, "deposits"], watched)
    other = os.path.join(src, "..", "src", ".", os.path.basename(aero))
    refused(ctx, tdir, ["run", man, "-o", other], [other], watched)
    hard = os.path.join(tdir, "hard.tif")
    os.link(aero, hard)
    refused(ctx, tdir, ["run", man, "-o", hard], [hard, "aeromag"], watched + [hard])
    # A side car GDAL lists among the source's files.
    aux = aero + ".aux.xml"
    open(aux, "w").write("<PAMDataset></PAMDataset>\n")
    refused(ctx, tdir, ["run", man, "-o", aux], [aux, "aeromag"], watched + [aux])
    os.unlink(aux)
    # plan -w: WORK/plan.json is the manifest.
    wm = os.path.join(tdir, "wm")
    os.makedirs(wm)
    pj = os.path.join(wm, "plan.json")
    shutil.copy(man, pj)
    refused(ctx, tdir, ["plan", pj, "-w", wm], [pj, "manifest"], watched + [pj])
    # package
    work = os.path.join(tdir, "work")
    lode_ok(ctx, ["plan", man, "-w", work], tdir)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir)
    parts = sorted(os.path.join(work, "parts", p) for p in os.listdir(os.path.join(work, "parts")))
    plan_json = os.path.join(work, "plan.json")
    wwatched = watched + parts + [plan_json]
    refused(ctx, tdir, ["package", "-w", work, "-o", parts[0]], [parts[0], "part"], wwatched)
    refused(ctx, tdir, ["package", "-w", work, "-o", plan_json], [plan_json, "plan"], wwatched)
    refused(ctx, tdir, ["package", "-w", work, "-o", man], [man, "manifest"], wwatched)
    refused(ctx, tdir, ["package", "-w", work, "-o", aero], [aero, "aeromag"], wwatched)
    inside = os.path.join(work, "parts", "new.nc")
    refused(ctx, tdir, ["package", "-w", work, "-o", inside], [inside, "parts"], wwatched)
    assert not os.path.exists(inside)
    # merge -o one of its inputs (the second), by another path
    b2 = os.path.join(tdir, "b2.nc")
    shutil.copy(b, b2)
    again = os.path.join(tdir, ".", "b2.nc")
    refused(ctx, tdir, ["merge", b, b2, "--prefix", "-o", again], [again, b2], watched + [b2])
    # sign: the key is the bundle
    refused(ctx, tdir, ["sign", b, "--key", b], [b], watched)
    # extract: DIR/NAME.tif is the bundle being extracted
    ex = os.path.join(tdir, "ex")
    os.makedirs(ex)
    tb = os.path.join(ex, "aeromag.tif")
    shutil.copy(b, tb)
    refused(ctx, tdir, ["extract", tb, "-o", ex], [tb, "bundle"], [tb])
    assert sorted(os.listdir(ex)) == ["aeromag.tif"], os.listdir(ex)


def umask_run(ctx, args, cwd, mask):
    p = subprocess.run([ctx.lode] + args, cwd=cwd, env=ctx.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(mask), timeout=300)
    assert p.returncode == 0, "%s: exit %d: %s" % (args, p.returncode, p.stderr.decode())


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@test
def test_modes_kept(ctx, tdir):
    """A replaced file keeps its mode (0600 stays 0600 after run -o over it, sign, package,
    merge, extract; 0640 stays 0640), whatever the umask; a new file gets 0666 & ~umask
    (0640 under umask 027, 0644 under 022)."""
    man, b, aero, dep = fixture(ctx, tdir)
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    os.chmod(b, 0o600)
    umask_run(ctx, ["run", man, "-o", b, "-q"], tdir, 0o022)
    assert mode(b) == 0o600, "run over a 0600 bundle: %o" % mode(b)
    umask_run(ctx, ["sign", b, "--key", os.path.join(tdir, "k.key"), "-q"], tdir, 0o022)
    assert mode(b) == 0o600, "sign of a 0600 bundle: %o" % mode(b)
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", man, "-w", work], tdir)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir)
    p = os.path.join(tdir, "p.nc")
    umask_run(ctx, ["package", "-w", work, "-o", p, "-q"], tdir, 0o027)
    assert mode(p) == 0o640, "new bundle under umask 027: %o" % mode(p)
    os.chmod(p, 0o600)
    umask_run(ctx, ["package", "-w", work, "-o", p, "-q"], tdir, 0o022)
    assert mode(p) == 0o600, "package over a 0600 bundle: %o" % mode(p)
    m = os.path.join(tdir, "m.nc")
    umask_run(ctx, ["merge", b, "-o", m, "-q"], tdir, 0o022)
    assert mode(m) == 0o644, "new bundle under umask 022: %o" % mode(m)
    os.chmod(m, 0o640)
    umask_run(ctx, ["merge", b, "-o", m, "-q"], tdir, 0o000)
    assert mode(m) == 0o640, "merge over a 0640 bundle: %o" % mode(m)
    x = os.path.join(tdir, "x")
    lode_ok(ctx, ["extract", b, "-o", x, "-q"], tdir)
    os.chmod(os.path.join(x, "aeromag.tif"), 0o600)
    umask_run(ctx, ["extract", b, "-o", x, "-q"], tdir, 0o022)
    assert mode(os.path.join(x, "aeromag.tif")) == 0o600
    assert mode(os.path.join(x, "deposits.gpkg")) == 0o644
    lode_ok(ctx, ["verify", b, "-q"], tdir)


# --------------------------------------------------------------------------- signals

def big_bundle(ctx, tdir):
    """A 6000 x 6000 Float32 raster of noise (144 MB of pixels) and its bundle, made once
    per run of the suite."""
    key = "big"
    if key not in ctx.cache:
        d = os.path.join(ctx.work, "_big")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        n = 6000
        rng = np.random.default_rng(14)
        ds = gdal.GetDriverByName("GTiff").Create(os.path.join(d, "big.tif"), n, n, 1, gdal.GDT_Float32,
                                                  ["TILED=YES", "COMPRESS=DEFLATE"])
        ds.SetGeoTransform([500000, 10, 0, 5000000, 0, -10])
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
        ds.GetRasterBand(1).WriteArray((rng.standard_normal((n, n)) * 100).astype("float32"))
        ds = None
        man = os.path.join(d, "big.yaml")
        write_manifest(man, {"crs": "EPSG:32633", "bounds": [500000, 4940000, 560000, 5000000],
                             "resolution": 10},
                       [{"name": "big", "source": os.path.join(d, "big.tif"), "resampling": "nearest"}])
        lode_ok(ctx, ["run", man, "-o", os.path.join(d, "big.nc"), "-q"], d)
        ctx.cache[key] = (man, os.path.join(d, "big.nc"))
    return ctx.cache[key]


def children(pid):
    try:
        return [int(c) for c in open("/proc/%d/task/%d/children" % (pid, pid)).read().split()]
    except OSError:
        return []


def alive(pid):
    """Running (a zombie does not count)."""
    try:
        st = open("/proc/%d/stat" % pid).read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] not in "ZX"


def start_and_wait_for_temp(ctx, args, cwd, folder, timeout=60, group=False):
    """Start lode args; return the process once a temporary name appears in folder (None
    if it ended first)."""
    p = subprocess.Popen([ctx.lode] + args, cwd=cwd, env=ctx.env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=group)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if temps(folder):
            return p
        if p.poll() is not None:
            return None
        time.sleep(0.005)
    p.kill()
    raise AssertionError("no temporary file appeared in %s within %ds" % (folder, timeout))


def interrupt(ctx, args, cwd, folder, sig, tries=3):
    """Signal lode args while it writes into folder; it must end within 5 s by that
    signal, say so on stderr, leave no temporary file in folder and no child running."""
    for _ in range(tries):
        p = start_and_wait_for_temp(ctx, args, cwd, folder)
        if p is None:
            continue  # finished before a temporary file was seen: try again
        kids = children(p.pid)
        t0 = time.time()
        p.send_signal(sig)
        try:
            err = p.communicate(timeout=5)[1].decode()
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("%s did not end within 5 s of signal %d" % (args[0], sig))
        took = time.time() - t0
        assert p.returncode == -sig, "%s: want death by signal %d, got %d: %s" % (args[0], sig, p.returncode, err)
        assert "interrupted" in err, err
        assert not temps(folder), "%s left %s after signal %d" % (args[0], temps(folder), sig)
        time.sleep(0.2)
        assert not [k for k in kids if alive(k)], "%s's child still runs after signal %d" % (args[0], sig)
        return took
    raise Skip("%s ended before it could be interrupted (%d tries)" % (args[0], tries))


@test
def test_sigterm_sigint_extract_big(ctx, tdir):
    """SIGTERM, then SIGINT, during extract of a 6000 x 6000 raster (read in a child
    process): lode ends within 5 s by the signal, the child too, and DIR holds nothing;
    an uninterrupted extract then gives a GeoTIFF gdalinfo reads as 6000 x 6000."""
    man, big = big_bundle(ctx, tdir)
    x = os.path.join(tdir, "x")
    os.makedirs(x)
    for sig in (signal.SIGTERM, signal.SIGINT):
        interrupt(ctx, ["extract", big, "-o", x], tdir, x, sig)
        assert os.listdir(x) == [], os.listdir(x)
    lode_ok(ctx, ["extract", big, "-o", x, "-q"], tdir)
    info = gdal.Info(os.path.join(x, "big.tif"), format="json")
    assert info["size"] == [6000, 6000], info["size"]


@test
def test_kill9_extract_then_rerun(ctx, tdir):
    """kill -9 of extract: its child (which writes) ends and removes its temporary folder
    by itself; kill -9 of both leaves only a folder under the documented name
    .big.tif.tmp-HOST-PID-XXXXXX, which the next extract into DIR removes."""
    man, big = big_bundle(ctx, tdir)
    x = os.path.join(tdir, "x")
    os.makedirs(x)
    p = start_and_wait_for_temp(ctx, ["extract", big, "-o", x], tdir, x)
    if p is None:
        raise Skip("extract ended before it could be killed")
    kids = children(p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t0 = time.time()
    while (temps(x) or [k for k in kids if alive(k)]) and time.time() - t0 < 5:
        time.sleep(0.05)
    assert not temps(x), "the orphaned child left %s" % temps(x)
    assert not [k for k in kids if alive(k)], "the child outlived its parent by 5 s"
    # Both killed at once (the process group): the folder stays, under its documented name.
    p = start_and_wait_for_temp(ctx, ["extract", big, "-o", x], tdir, x, group=True)
    if p is None:
        raise Skip("extract ended before it could be killed")
    time.sleep(0.2)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(0.2)
    left = temps(x)
    assert left, "kill -9 of the whole group should leave the temporary folder"
    for n in left:
        m = TEMP_RE.match(n)
        assert m and n.startswith(".big.tif.tmp-") and m.group("host") == HOST, "undocumented name %s" % n
        assert os.path.isdir(os.path.join(x, n)) and not os.path.islink(os.path.join(x, n)), n
    lode_ok(ctx, ["extract", big, "-o", x, "-q"], tdir)
    assert sorted(os.listdir(x)) == ["big.tif"], os.listdir(x)


@test
def test_signals_run_sign_merge_verify(ctx, tdir):
    """SIGTERM while run, sign and merge write (a temporary folder beside the output) ends
    them by the signal within 5 s with no temporary file left, no output made and sign's
    bundle unchanged; SIGTERM during verify ends its child too."""
    man, big = big_bundle(ctx, tdir)
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    interrupt(ctx, ["run", man, "-o", os.path.join(out, "r.nc")], tdir, out, signal.SIGTERM)
    assert not os.path.exists(os.path.join(out, "r.nc"))
    s = os.path.join(out, "s.nc")
    shutil.copy(big, s)
    before = sha(s)
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    interrupt(ctx, ["sign", s, "--key", os.path.join(tdir, "k.key")], tdir, out, signal.SIGTERM)
    assert sha(s) == before, "an interrupted sign changed the bundle"
    interrupt(ctx, ["merge", big, "-o", os.path.join(out, "m.nc")], tdir, out, signal.SIGTERM)
    assert sorted(os.listdir(out)) == ["s.nc"], os.listdir(out)
    # verify writes nothing: signal it once its child runs.
    p = subprocess.Popen([ctx.lode, "verify", big], env=ctx.env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    t0 = time.time()
    while not children(p.pid) and p.poll() is None and time.time() - t0 < 10:
        time.sleep(0.002)
    kids = children(p.pid)
    if p.poll() is not None or not kids:
        p.wait()
        raise Skip("verify ended before it could be interrupted")
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=5)
    assert p.returncode == -signal.SIGTERM, p.returncode
    time.sleep(0.2)
    assert not [k for k in kids if alive(k)], "verify's child still runs"


@test
def test_sigterm_with_fifo_source(ctx, tdir):
    """A FIFO named as a source: SIGTERM ends lode run within 5 s (or run refused the FIFO
    with exit 1 before), and nothing is left in the output folder."""
    fifo = os.path.join(tdir, "src.tif")
    os.mkfifo(fifo)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [0, 0, 1, 1], "resolution": 0.01},
                   [{"name": "f", "source": fifo}])
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    p = subprocess.Popen([ctx.lode, "run", man, "-o", os.path.join(out, "b.nc")], env=ctx.env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("run on a FIFO source ignored SIGTERM")
        assert p.returncode == -signal.SIGTERM, p.returncode
    else:
        err = p.communicate()[1].decode()
        assert p.returncode == 1 and os.path.basename(fifo) in err and "FIFO" in err, \
            "exit %d: %s" % (p.returncode, err)
    assert os.listdir(out) == [], os.listdir(out)


@test
def test_stale_temps_cleaned(ctx, tdir):
    """What killed writers left is removed by the next writer of the same file: a
    private folder of a dead process on this host (and an older lode's temporary file),
    and one whose pid is alive again (given to another process) but whose writer's lock
    is free; a live writer's folder (its lock held, as lode__pub_begin holds it), another
    host's recent one, and a link planted at the pattern pointing to a folder outside
    (whose files stay) are left alone."""
    man, b, aero, dep = fixture(ctx, tdir)
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale_dir = os.path.join(out, ".b.nc.tmp-%s-%d-AbCdEf" % (HOST, dead.pid))
    os.makedirs(stale_dir, mode=0o700)
    open(os.path.join(stale_dir, "b.nc"), "w").write("half")
    stale_file = os.path.join(out, ".b.nc.tmp-%s-%d-GhIjKl" % (HOST, dead.pid))
    open(stale_file, "w").write("half")
    live = os.path.join(out, ".b.nc.tmp-%s-%d-MnOpQr" % (HOST, os.getpid()))
    os.makedirs(live, mode=0o700)
    live_fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(live_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    reused = os.path.join(out, ".b.nc.tmp-%s-%d-ReUsEd" % (HOST, os.getpid()))
    os.makedirs(reused, mode=0o700)
    open(os.path.join(reused, "b.nc"), "w").write("half")
    other = os.path.join(out, ".b.nc.tmp-otherhost-%d-StUvWx" % dead.pid)
    os.makedirs(other, mode=0o700)
    outside = os.path.join(tdir, "outside")
    os.makedirs(outside)
    open(os.path.join(outside, "keep.txt"), "w").write("keep")
    trap = os.path.join(out, ".b.nc.tmp-%s-%d-YzAbCd" % (HOST, dead.pid))
    os.symlink(outside, trap)
    try:
        lode_ok(ctx, ["run", man, "-o", os.path.join(out, "b.nc"), "-q"], tdir)
    finally:
        os.close(live_fd)
    left = sorted(os.listdir(out))
    want = sorted(["b.nc"] + [os.path.basename(p) for p in (live, other, trap)])
    assert left == want, "left %s, want %s" % (left, want)
    assert os.listdir(outside) == ["keep.txt"] and os.path.islink(trap)


if __name__ == "__main__":
    main()
