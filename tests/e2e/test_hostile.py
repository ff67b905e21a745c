#!/usr/bin/python3
"""Hostile-input tests of lode: damaged and truncated bundles, a corpus of bad manifests
and broken sources (tests/bad/), reproducibility, and a full disk.

/usr/bin/python3 tests/e2e/test_hostile.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

Same runner and output as test_raster.py: "PASS name" / "FAIL name: reason" /
"SKIP name: reason" per test and a final "N passed, N failed[, N skipped]". Under the
sanitizer build (the --lode path contains "asan"), a sanitizer report, exit status 99 or
a signal counts as a failure everywhere, and the damage test tries fewer flips.
"""
import concurrent.futures
import filecmp
import os
import random
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import Result, Skip, bundle_attrs, main, test  # noqa: E402
from hostile_util import (Snapshotter, assert_sane, crash_kind, crash_reason,  # noqa: E402
                          error_lines, files_under, fsize_limit, has_control_chars,
                          run_measured, snap_diff)

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.normpath(os.path.join(HERE, "..", "bad"))

FLIPS_PLAIN = 500
FLIPS_ASAN = 150
FLIP_SEED = 20251127


def is_asan(ctx):
    return "asan" in ctx.lode


def run_lode(ctx, args, cwd, env=None, timeout=180, preexec_fn=None):
    cmd = [ctx.lode] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, env=env or ctx.env(), cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, preexec_fn=preexec_fn)
    except subprocess.TimeoutExpired:
        raise AssertionError("timeout after %ss: %s" % (timeout, " ".join(cmd)))
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return Result(cmd, rc, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def one_line_error(r):
    """The documented error form: every stderr line is a 'lode: ...' line and there is a
    'lode: error:' line. Returns a problem text or None."""
    lines = [l for l in r.err.splitlines() if l.strip()]
    if not error_lines(r):
        return "no 'lode: error:' line"
    stray = [l for l in lines if not l.startswith("lode: ")]
    if stray:
        return "the error is not one line (stray stderr line %r)" % stray[0][:120]
    return None


# =========================================================================== fixture

SMALL_TARGET = ("  crs: EPSG:3375\n"
                "  bounds: [404000, 409000, 444000, 439000]\n"
                "  resolution: 500\n")


def small_manifest(ctx, folder):
    """A three-dataset manifest (Byte, Float32 with assume_crs, Int16 reprojected) whose
    sources are copied next to it (so it is relocatable). Returns its path."""
    geo = ctx.sample("geology_units.tif")
    grav = ctx.sample("gravity_nocrs.tif")
    dem = ctx.sample("dem_kertau.tif")
    os.makedirs(folder, exist_ok=True)
    for p in (geo, geo + ".aux.xml", grav, dem):
        if os.path.exists(p):
            shutil.copyfile(p, os.path.join(folder, os.path.basename(p)))
    txt = ("bundle:\n  title: lode hostile tests\n  license: CC0-1.0\n"
           "target:\n" + SMALL_TARGET +
           "policy:\n  allow_ballpark: true\n"
           "datasets:\n"
           "  - name: geology\n    source: geology_units.tif\n"
           "  - name: gravity\n    source: gravity_nocrs.tif\n    assume_crs: EPSG:3375\n"
           "    resampling: bilinear\n"
           "  - name: dem\n    source: dem_kertau.tif\n    resampling: cubic\n")
    man = os.path.join(folder, "small.yaml")
    with open(man, "w") as f:
        f.write(txt)
    return man


def small_bundle(ctx):
    """Built once per process under WORK/_fixtures/hostile; tests only read or copy it."""
    c = ctx.cache.get("small")
    if isinstance(c, Exception):
        raise c
    if c:
        return c
    try:
        d = os.path.join(ctx.work, "_fixtures", "hostile")
        shutil.rmtree(d, ignore_errors=True)
        man = small_manifest(ctx, d)
        out = os.path.join(d, "small.nc")
        r = run_lode(ctx, ["run", man, "-o", out, "-q"], d)
        assert_sane(r)
        assert r.rc == 0 and os.path.isfile(out), "fixture: lode run failed: " + r.brief()
        c = {"dir": d, "manifest": man, "bundle": out, "names": ["geology", "gravity", "dem"]}
    except (Skip, AssertionError) as e:
        ctx.cache["small"] = type(e)("fixture small bundle: %s" % e)
        raise ctx.cache["small"]
    ctx.cache["small"] = c
    return c


# =========================================================================== 1. damage

DAMAGE_WORDS = (r"digest|metadata|attribute|manifest|lineage|not an HDF5|not a lode bundle|"
                r"damaged|truncated")


def _damage_problem(r, bundle_base, names):
    """None when verify's stderr names what is damaged: an error line that names the
    bundle file and a dataset ('NAME'), the bundle digest / metadata / attributes, or the
    file as a whole (not HDF5, not a lode bundle, damaged, truncated). Else the problem."""
    lines = error_lines(r)
    if not lines:
        return "exit 1 without a 'lode: error:' line"

    def what(l):
        return any("'%s'" % n in l for n in names) or re.search(DAMAGE_WORDS, l, re.I)
    if any(bundle_base in l and what(l) for l in lines):
        return None
    if any(what(l) for l in lines):
        return "exit 1, the error says what is damaged but not which file (the documented " \
               "form is 'lode: error: BUNDLE: damaged: ...')"
    return "exit 1 without naming what is damaged"


def _flip_shard(ctx, fx, data, jobs, copy, base_snap):
    """Flip-verify-restore on one private copy. Returns a list of
    (offset, xor, verdict, kind, detail) with verdict in caught/harmless/bad."""
    out = []
    bundle_base = os.path.basename(copy)
    with open(copy, "wb") as f:
        f.write(data)
    with Snapshotter() as snap, open(copy, "r+b") as fh:
        for off, x in jobs:
            fh.seek(off)
            fh.write(bytes([data[off] ^ x]))
            fh.flush()
            try:
                r = run_lode(ctx, ["verify", copy], os.path.dirname(copy), timeout=60)
                why = crash_reason(r)
                if why:
                    out.append((off, x, "bad", "verify crash or sanitizer report: "
                                + crash_kind(r), "%s: %s" % (why, r.brief())))
                elif r.rc == 1:
                    p = _damage_problem(r, bundle_base, fx["names"])
                    if p is None:
                        out.append((off, x, "caught", "", error_lines(r)[0][:200]))
                    else:
                        out.append((off, x, "bad", p, r.brief()))
                elif r.rc == 0:
                    s, err = snap.snapshot(copy)
                    if s is None:
                        out.append((off, x, "bad", "verify exit 0 but h5py cannot read the "
                                    "file", err))
                    else:
                        d = snap_diff(base_snap, s)
                        if d:
                            out.append((off, x, "bad", "verify exit 0 but content changed",
                                        ", ".join(d[:6]) + (" ..." if len(d) > 6 else "")))
                        else:
                            out.append((off, x, "harmless", "", ""))
                else:
                    out.append((off, x, "bad", "verify exit %d" % r.rc, r.brief()))
            except AssertionError as e:  # a timeout
                out.append((off, x, "bad", "verify timed out", str(e)))
            finally:
                fh.seek(off)
                fh.write(data[off:off + 1])
                fh.flush()
    return out


@test
def test_damage_random_byte_flips(ctx, tdir):
    """One byte flipped at each of N random offsets of a three-dataset bundle (fixed seed,
    one flip at a time on a private copy, restored after each run): lode verify either
    exits 1 naming what is damaged, or exits 0 and h5py reads exactly the original objects,
    values and attributes. Never a crash, never exit 0 with changed content."""
    fx = small_bundle(ctx)
    with open(fx["bundle"], "rb") as f:
        data = f.read()
    n = FLIPS_ASAN if is_asan(ctx) else FLIPS_PLAIN
    rng = random.Random(FLIP_SEED)
    offs = rng.sample(range(len(data)), min(n, len(data)))
    jobs = [(o, rng.randrange(1, 256)) for o in offs]
    with Snapshotter() as s:
        base, err = s.snapshot(fx["bundle"])
    assert base is not None, "h5py cannot read the intact bundle: %s" % err
    r = run_lode(ctx, ["verify", fx["bundle"]], tdir)
    assert_sane(r)
    assert r.rc == 0, "the intact bundle does not verify: " + r.brief()

    nshards = max(1, min(4, os.cpu_count() or 1))
    shards = [jobs[i::nshards] for i in range(nshards)]
    results = []
    with concurrent.futures.ThreadPoolExecutor(nshards) as ex:
        futs = [ex.submit(_flip_shard, ctx, fx, data, sh, os.path.join(tdir, "copy%d.nc" % i),
                          base) for i, sh in enumerate(shards)]
        for fu in futs:
            results += fu.result()
    results.sort()
    caught = sum(1 for r in results if r[2] == "caught")
    harmless = sum(1 for r in results if r[2] == "harmless")
    bad = [r for r in results if r[2] == "bad"]
    print("  damage: %d flips%s over %d bytes (seed %d): %d caught (exit 1, named), "
          "%d harmless (exit 0, content identical), %d bad"
          % (len(results), " (fewer under the sanitizer build)" if is_asan(ctx) else "",
             len(data), FLIP_SEED, caught, harmless, len(bad)), flush=True)
    # keep a copy of each bad case for reproduction (WORK is kept when run by hand)
    for off, x, _, _, _ in bad[:20]:
        d = bytearray(data)
        d[off] ^= x
        with open(os.path.join(tdir, "bad_flip_%d_x%02x.nc" % (off, x)), "wb") as f:
            f.write(d)
    if bad:
        kinds = {}
        for off, x, _, k, _ in bad:
            kinds.setdefault(k, []).append(off)
        summary = "; ".join("%s at %d offsets (e.g. %s)" % (k, len(v), v[:5])
                            for k, v in sorted(kinds.items()))
        first = " | ".join("offset %d xor 0x%02x: %s: %s" % (o, x, k, det[:300])
                           for o, x, _, k, det in bad[:8])
        raise AssertionError("%d of %d flips mishandled: %s. First ones: %s (damaged copies "
                             "kept in %s as bad_flip_OFFSET_xXOR.nc)"
                             % (len(bad), len(results), summary, first, tdir))


# =========================================================================== 2. truncation

@test
def test_truncated_bundles(ctx, tdir):
    """The bundle cut to 0, 1, 512 bytes, 1/3, 1/2 and all but 1 byte: verify, ls and
    extract each exit 1 with a one-line error naming the file, no crash, and extract
    writes no GeoTIFF (or temporary file)."""
    fx = small_bundle(ctx)
    size = os.path.getsize(fx["bundle"])
    problems = []
    with open(fx["bundle"], "rb") as f:
        data = f.read()
    for n in (0, 1, 512, size // 3, size // 2, size - 1):
        name = "trunc_%d.nc" % n
        c = os.path.join(tdir, name)
        with open(c, "wb") as f:
            f.write(data[:n])
        xdir = os.path.join(tdir, "x_%d" % n)
        for args in (["verify", c], ["ls", c], ["ls", "--json", c], ["extract", c, "-o", xdir]):
            r = run_lode(ctx, args, tdir, timeout=60)
            why = crash_reason(r)
            label = "%s of %d bytes" % (args[0] + (" --json" if "--json" in args else ""), n)
            if why:
                problems.append("%s: crash or sanitizer report (%s): %s" % (label, why, r.brief()))
                continue
            if r.rc != 1:
                problems.append("%s: want exit 1: %s" % (label, r.brief()))
                continue
            p = one_line_error(r)
            if p:
                problems.append("%s: %s: %s" % (label, p, r.brief()))
            elif not any(name in l for l in error_lines(r)):
                problems.append("%s: the error does not name the file: %s" % (label, r.brief()))
            elif not any(re.search(r"truncat|damag|corrupt|not an HDF5|cannot open|not a lode",
                                   l, re.I) for l in error_lines(r)):
                problems.append("%s: the error does not say what is wrong: %s"
                                % (label, r.brief()))
        left = files_under(xdir) if os.path.isdir(xdir) else []
        if left:
            problems.append("extract of %d bytes left %s in %s" % (n, left, xdir))
    assert not problems, "; ".join(problems)


# =========================================================================== 3. bad inputs

# The tests/bad corpus. Every manifest sits in WORK/.../m/ next to copies of the sample
# sources it names; the generated inputs (broken sources, big manifests) are made there
# by prepare(). Fragments are regular expressions matched case-insensitively against
# stderr; all of them must match. Every case also checks: exit status, no crash, a
# one-line error, no raw control characters on stderr, nothing written in the output
# folder (no bundle, no .NAME.tmp-*), the manifest folder unchanged, and the same result
# from `lode plan`.
DS_NAME = r"datasets\[\d+\]\.name"
CASES = [
    # id, manifest, exit status, fragments
    ("empty_tif", "empty_tif.yaml", 1, [r"'empty'", r"empty\.tif"]),
    ("truncated_tif", "truncated_tif.yaml", 1, [r"'truncated'", r"truncated\.tif"]),
    ("truncated_tif_half", "truncated_tif_half.yaml", 1,
     [r"'truncated_half'", r"truncated_half\.tif"]),
    ("source_dir", "source_dir.yaml", 1, [r"'folder'", r"a_folder\.tif", r"director|folder"]),
    ("symlink_loop", "symlink_loop.yaml", 1,
     [r"'looped'", r"loop\.tif", r"symbolic link|symlink|loop"]),
    ("latin1", "latin1.yaml", 1, [r"latin1\.yaml", r"UTF-?8"]),
    ("alias_bomb", "alias_bomb.yaml", 1, [r"alias_bomb\.yaml:\d+", r"anchor|alias"]),
    ("deep_nesting", "deep_nesting.yaml", 1, [r"deep_nesting\.yaml:\d+", r"nest|deep|depth"]),
    ("deep_nesting_100k", "deep_nesting_100k.yaml", 1,
     [r"deep_nesting_100k\.yaml", r"nest|deep|depth"]),
    ("huge_number", "huge_number.yaml", 1, [r"huge_number\.yaml:\d+", r"target\.resolution"]),
    ("huge_bounds", "huge_bounds.yaml", 1, [r"huge_bounds\.yaml:\d+", r"target\.bounds"]),
    ("nan_bounds", "nan_bounds.yaml", 1, [r"nan_bounds\.yaml:\d+", r"target\.bounds"]),
    ("nan_bounds_yaml", "nan_bounds_yaml.yaml", 1,
     [r"nan_bounds_yaml\.yaml:\d+", r"target\.bounds"]),
    ("inf_bounds", "inf_bounds.yaml", 1, [r"inf_bounds\.yaml:\d+", r"target\.bounds"]),
    ("inf_bounds_yaml", "inf_bounds_yaml.yaml", 1,
     [r"inf_bounds_yaml\.yaml:\d+", r"target\.bounds"]),
    ("neg_resolution", "neg_resolution.yaml", 1,
     [r"neg_resolution\.yaml:\d+", r"target\.resolution"]),
    ("neg_resolution_y", "neg_resolution_y.yaml", 1,
     [r"neg_resolution_y\.yaml:\d+", r"target\.resolution"]),
    ("zero_resolution", "zero_resolution.yaml", 1,
     [r"zero_resolution\.yaml:\d+", r"target\.resolution"]),
    ("zero_resolution_dataset", "zero_resolution_dataset.yaml", 1,
     [r"zero_resolution_dataset\.yaml:\d+", r"datasets\[\d+\]\.resolution"]),
    ("huge_grid", "huge_grid.yaml", 1,
     [r"huge_grid\.yaml", r"'geology'|target", r"grid|pixels"]),
    ("crs_999999", "crs_999999.yaml", 1, [r"crs_999999\.yaml", r"target\.crs", r"EPSG:999999"]),
    ("crs_nonsense", "crs_nonsense.yaml", 1,
     [r"crs_nonsense\.yaml", r"target\.crs", r"'nonsense'"]),
    ("assume_crs_999999", "assume_crs_999999.yaml", 1,
     [r"assume_crs_999999\.yaml", r"'gravity'", r"assume_crs", r"EPSG:999999"]),
    ("name_slash", "name_slash.yaml", 1, [r"name_slash\.yaml:\d+", DS_NAME]),
    ("name_dotdot", "name_dotdot.yaml", 1, [r"name_dotdot\.yaml:\d+", DS_NAME]),
    ("name_control", "name_control.yaml", 1, [r"name_control\.yaml:\d+", DS_NAME]),
    ("name_nul", "name_nul.yaml", 1, [r"name_nul\.yaml:\d+", DS_NAME]),
    ("source_control", "source_control.yaml", 1,
     [r"source_control\.yaml:\d+", r"datasets\[1\]\.source", r"control character"]),
    ("layer_control", "layer_control.yaml", 1,
     [r"layer_control\.yaml:\d+", r"datasets\[1\]\.layer", r"control character"]),
    ("name_long", "name_long.yaml", 1, [r"name_long\.yaml:\d+", DS_NAME]),
    ("bands_99", "bands_99.yaml", 1, [r"bands_99\.yaml", r"'geology'", r"band", r"\b99\b"]),
    ("nodata_300_byte", "nodata_300_byte.yaml", 1,
     [r"nodata_300_byte\.yaml", r"'geology'", r"nodata", r"\b300\b", r"Byte"]),
    ("assume_crs_has_crs", "assume_crs_has_crs.yaml", 1,
     [r"assume_crs_has_crs\.yaml", r"'geology'", r"assume_crs", r"own CRS|has a CRS"]),
]
# time and memory limits for the inputs built to exhaust them
FAST = {"huge_grid": 5.0, "alias_bomb": 5.0, "deep_nesting_100k": 5.0, "huge_number": 5.0}
MAX_RSS_MIB = 512.0


def prepare(ctx, tdir):
    """tdir/m: the corpus manifests, copies of the sources they name and the generated
    inputs; tdir/outside: a source outside the manifest's folder; tdir/out: the output
    folder (empty)."""
    m = os.path.join(tdir, "m")
    os.makedirs(m)
    for f in os.listdir(BAD):
        if f.endswith(".yaml"):
            shutil.copyfile(os.path.join(BAD, f), os.path.join(m, f))
    geo = ctx.sample("geology_units.tif")
    for p in (geo, geo + ".aux.xml", ctx.sample("gravity_nocrs.tif")):
        if os.path.exists(p):
            shutil.copyfile(p, os.path.join(m, os.path.basename(p)))
    open(os.path.join(m, "empty.tif"), "wb").close()
    with open(ctx.sample("aeromag_tmi.tif"), "rb") as f:
        head = f.read(300)
    with open(os.path.join(m, "truncated.tif"), "wb") as f:
        f.write(head)  # a TIFF header and part of the first IFD
    with open(geo, "rb") as f:
        g = f.read()
    with open(os.path.join(m, "truncated_half.tif"), "wb") as f:
        f.write(g[:len(g) // 2])  # header, IFD and geotags intact; tiles cut off
    os.mkdir(os.path.join(m, "a_folder.tif"))
    os.symlink("loop.tif", os.path.join(m, "loop.tif"))
    os.makedirs(os.path.join(tdir, "outside"))
    shutil.copyfile(geo, os.path.join(tdir, "outside", "geology_units.tif"))
    with open(os.path.join(BAD, "bands_99.yaml")) as f:
        head = f.read().split("datasets:")[0]
    with open(os.path.join(m, "name_long.yaml"), "w") as f:
        f.write(head + "datasets:\n  - name: " + "a" * 10000 +
                "\n    source: geology_units.tif\n")
    with open(os.path.join(m, "deep_nesting_100k.yaml"), "w") as f:
        f.write(head + "datasets:\n  - name: geology\n    source: geology_units.tif\n"
                "    bands: " + "[" * 100000 + "1" + "]" * 100000 + "\n")
    os.makedirs(os.path.join(tdir, "out"))
    return m


def bad_case(ctx, tdir, cid, manifest, want_rc, fragments):
    prepare(ctx, tdir)
    rel = os.path.join("m", manifest)
    out = os.path.join(tdir, "out")
    before = files_under(tdir)
    problems = []
    for cmd in (["run", rel, "-o", os.path.join("out", "b.nc")], ["plan", rel]):
        rc, so, se, wall, rss = run_measured([ctx.lode] + cmd, env=ctx.env(), cwd=tdir,
                                             timeout=120)
        r = Result([ctx.lode] + cmd, rc, so, se)
        label = "lode " + cmd[0]
        why = crash_reason(r)
        if why:
            problems.append("%s: crash or sanitizer report (%s): %s" % (label, why, r.brief()))
            continue
        if r.rc != want_rc:
            problems.append("%s: want exit %d: %s" % (label, want_rc, r.brief()))
            continue
        p = one_line_error(r)
        if p:
            problems.append("%s: %s: %s" % (label, p, r.brief()))
        miss = [f for f in fragments if not re.search(f, r.err, re.I)]
        if miss:
            problems.append("%s: stderr lacks %s: %s" % (label, miss, r.brief()))
        if has_control_chars(r.err):
            problems.append("%s: raw control characters on stderr (judgment: they reach the "
                            "terminal as written): %r" % (label, r.err[:200]))
        lim = FAST.get(cid)
        if lim is not None and wall > lim:
            problems.append("%s: took %.1fs (limit %.0fs)" % (label, wall, lim))
        if rss > MAX_RSS_MIB:
            problems.append("%s: peak RSS %.0f MiB (limit %.0f MiB)" % (label, rss,
                                                                       MAX_RSS_MIB))
        if cid in FAST:
            print("  %s %s: %.2fs, peak RSS %.0f MiB" % (cid, label, wall, rss), flush=True)
    left = files_under(out)  # the bundle, a .b.nc.tmp-* or anything else
    if left:
        problems.append("left in the output folder: %s" % left)
    new = sorted(set(files_under(tdir)) - set(before))
    if new:
        problems.append("new files: %s" % new)
    assert not problems, "; ".join(problems)


def _register(cid, manifest, want_rc, fragments):
    def fn(ctx, tdir):
        bad_case(ctx, tdir, cid, manifest, want_rc, fragments)
    fn.__name__ = "test_bad_" + cid
    fn.__doc__ = "tests/bad/%s: exit %d, stderr matches %s, nothing written" % (
        manifest, want_rc, fragments)
    test(fn)


@test
def test_bad_corpus_complete(ctx, tdir):
    """Every tests/bad manifest is a case here and is listed in tests/bad/README.md, and
    the corpus's control manifest good.yaml (same target, same sources) succeeds, so each
    bad case fails for its own reason."""
    have = sorted(f for f in os.listdir(BAD) if f.endswith(".yaml"))
    used = {c[1] for c in CASES} | {"good.yaml", "source_outside.yaml"}
    generated = {"name_long.yaml", "deep_nesting_100k.yaml"}
    with open(os.path.join(BAD, "README.md")) as f:
        readme = f.read()
    problems = ["%s is not a case" % f for f in have if f not in used]
    problems += ["%s (a case) missing" % f for f in sorted(used - generated) if f not in have]
    problems += ["%s not in README.md" % f for f in sorted(used) if f not in readme]
    m = prepare(ctx, tdir)
    r = run_lode(ctx, ["run", os.path.join(m, "good.yaml"), "-o",
                       os.path.join(tdir, "out", "good.nc"), "-q"], tdir)
    assert_sane(r)
    if r.rc != 0 or not os.path.isfile(os.path.join(tdir, "out", "good.nc")):
        problems.append("good.yaml does not build: " + r.brief())
    assert not problems, "; ".join(problems)


for _c in CASES:
    _register(*_c)


@test
def test_bad_source_outside_manifest_folder(ctx, tdir):
    """source: ../outside/geology_units.tif (outside the manifest's folder). lode 0.1.0
    accepts relative paths that leave the folder: this records what it does (NOTE line)
    and fails only on a crash, an unclean failure, or a bundle that does not verify."""
    prepare(ctx, tdir)
    out = os.path.join(tdir, "out")
    r = run_lode(ctx, ["run", os.path.join("m", "source_outside.yaml"), "-o",
                       os.path.join("out", "b.nc"), "-q"], tdir)
    assert_sane(r)
    b = os.path.join(out, "b.nc")
    if r.rc == 0:
        assert os.path.isfile(b), "exit 0 but no bundle"
        path = None
        try:
            import json
            path = json.loads(bundle_attrs(b, "/outside/outside")["lode_lineage"])["source"]["path"]
        except Exception as e:  # report, do not fail on the lineage layout
            path = "(lineage unreadable: %s)" % e
        v = run_lode(ctx, ["verify", "-q", b], tdir)
        assert_sane(v)
        assert v.rc == 0, "the bundle does not verify: " + v.brief()
        print("  NOTE source_outside: accepted (exit 0); lineage source.path = %r" % path,
              flush=True)
    else:
        assert r.rc == 1 and error_lines(r), "want exit 0, or exit 1 with an error: " + r.brief()
        left = files_under(out)
        assert not left, "refused but left %s" % left
        print("  NOTE source_outside: refused (exit %d): %s" % (r.rc, error_lines(r)[0][:200]),
              flush=True)


# =========================================================================== 4. reproducible

@test
def test_confine_sources(ctx, tdir):
    """policy.confine_sources: true refuses a source outside the manifest's folder,
    directly (../) or through a symbolic link, with a message and nothing written; a
    source inside is accepted."""
    geo = ctx.sample("geology_units.tif")
    m, outside, out = (os.path.join(tdir, d) for d in ("m", "outside", "out"))
    for d in (m, outside, out):
        os.makedirs(d)
    shutil.copy(geo, os.path.join(m, "inside.tif"))
    shutil.copy(geo, os.path.join(outside, "g.tif"))
    os.symlink(os.path.join(outside, "g.tif"), os.path.join(m, "link.tif"))
    for src, ok in (("inside.tif", True), ("../outside/g.tif", False), ("link.tif", False)):
        man = os.path.join(m, "c.yaml")
        with open(man, "w") as f:
            f.write("target: {crs: EPSG:4326, bounds: [101.6, 3.65, 102.05, 4.0], resolution: 0.004}\n"
                    "policy: {allow_ballpark: true, confine_sources: true}\n"
                    "datasets:\n  - {name: g, source: %s}\n" % src)
        r = run_lode(ctx, ["run", man, "-o", os.path.join(out, "b.nc"), "-q"], tdir)
        assert_sane(r)
        if ok:
            assert r.rc == 0, "%s refused: %s" % (src, r.brief())
            os.unlink(os.path.join(out, "b.nc"))
        else:
            assert r.rc == 1 and "outside the manifest's folder" in r.err and "c.yaml:4" in r.err, \
                "%s: %s" % (src, r.brief())
            assert not files_under(out), "refused but wrote %s" % files_under(out)


@test
def test_extract_hostile_names(ctx, tdir):
    """A crafted bundle whose datasets are renamed to hostile names ("..", "...",
    "-rf", a name with a newline, a 300-character name): lode extract exits non-zero,
    names the problem, and writes nothing anywhere but inside the destination folder."""
    fx = small_bundle(ctx)
    import h5py
    for bad in ("..", "...", "-rf", "a\nb", "x" * 300):
        c = os.path.join(tdir, "crafted.nc")
        shutil.copy(fx["bundle"], c)
        with h5py.File(c, "r+") as f:
            f.move("geology", bad)
        dest = os.path.join(tdir, "dest", "inner")
        os.makedirs(dest, exist_ok=True)
        before = set(files_under(tdir))
        r = run_lode(ctx, ["extract", c, "-o", dest], tdir)
        assert_sane(r)
        assert r.rc != 0, "extract of %r succeeded: %s" % (bad, r.brief())
        new = set(files_under(tdir)) - before
        escaped = [p for p in new if not os.path.abspath(os.path.join(tdir, p)).startswith(dest + os.sep)]
        assert not escaped, "wrote outside the destination for %r: %s" % (bad, escaped)
        shutil.rmtree(os.path.join(tdir, "dest"))
        os.unlink(c)


@test
def test_fuzz_regressions_contained(ctx, tdir):
    """The bundles in tests/fuzz/regressions/fuzz_bundle crash or hang HDF5 1.10 itself
    (a wild free in H5Literate, an endless loop in H5HG_read).  Through the CLI, verify,
    ls and extract read them in a child process: each must end (watchdog 10 s here)
    with exit 0 or 1, no crash, and leave no temporary file in the extract folder."""
    reg = os.path.normpath(os.path.join(HERE, "..", "fuzz", "regressions", "fuzz_bundle"))
    files = sorted(f for f in os.listdir(reg) if not f.startswith(".")) if os.path.isdir(reg) else []
    if not files:
        raise Skip("no regression inputs in %s" % reg)
    env = ctx.env(LODE_WATCHDOG_SECONDS=10)
    problems = []
    for f in files:
        for args in (["verify"], ["ls"], ["ls", "--json"], ["extract", "-o", os.path.join(tdir, "x")]):
            r = run_lode(ctx, args[:1] + [os.path.join(reg, f)] + args[1:], tdir, env=env, timeout=90)
            # Under the sanitizer build the child's report on HDF5's own fault reaches
            # stderr; what matters is that lode (the parent) ends cleanly with 0 or 1.
            dirty = not is_asan(ctx) and ("Sanitizer" in r.err or "runtime error:" in r.err)
            if r.rc not in (0, 1) or dirty:
                problems.append("%s %s: %s: %s" % (args[0], f, crash_kind(r), r.brief()))
        left = [n for n in files_under(os.path.join(tdir, "x")) if "tmp-" in n] \
            if os.path.isdir(os.path.join(tdir, "x")) else []
        if left:
            problems.append("extract %s left %s" % (f, left))
    assert not problems, "; ".join(problems)


def _libhdf5_checksum():
    """HDF5's own metadata checksum (H5_checksum_metadata, exported by the library h5py
    loaded), to re-seal an object header after changing a byte in it."""
    import ctypes
    __import__("h5py")  # loads libhdf5 into this process
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if re.search(r"/libhdf5(_serial)?\.so", l)})
    if not libs:
        raise Skip("cannot find the HDF5 library h5py loaded")
    lib = ctypes.CDLL(libs[0])
    lib.H5_checksum_metadata.restype = ctypes.c_uint32
    lib.H5_checksum_metadata.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
    return lambda b: lib.H5_checksum_metadata(bytes(b), len(b), 0)


def _vlen_bombs(ctx, tdir):
    """A bundle of the 3-band radiometric_k, and two copies of it in which one stored
    variable-length length claims gigabytes, as a hostile sender can write them:
    band_name's first text (contiguous storage) claims 2^32 - 1 bytes, and the
    DIMENSION_LIST attribute of band_name (in its object header, checksum re-sealed)
    claims 2^29 references of 8 bytes (4 GiB).  HDF5 1.10 allocates and clears what a
    length claims before it reads the value."""
    import struct
    import h5py
    src = ctx.sample("radiometric_k.tif")
    shutil.copyfile(src, os.path.join(tdir, "radiometric_k.tif"))
    man = os.path.join(tdir, "rad.yaml")
    with open(man, "w") as f:
        f.write("bundle:\n  title: vlen bombs\n  license: CC0-1.0\ntarget:\n" + SMALL_TARGET +
                "policy:\n  allow_ballpark: true\n"
                "datasets:\n  - name: radiometric_k\n    source: radiometric_k.tif\n")
    good = os.path.join(tdir, "rad.nc")
    r = run_lode(ctx, ["run", man, "-o", good, "-q"], tdir)
    assert r.rc == 0, "lode run failed: " + r.brief()
    with h5py.File(good, "r") as f:
        d = f["radiometric_k/band_name"]
        assert d.chunks is None, "band_name is no longer contiguous: the test needs another variable"
        text_at = d.id.get_offset()
        header = h5py.h5o.get_info(d.id).addr
    data = bytearray(open(good, "rb").read())
    out = {}
    # 1. the first text's length (4 bytes, little-endian, then the heap id)
    a = bytearray(data)
    assert 0 < struct.unpack_from("<I", a, text_at)[0] < 100, "band_name's first length is not where HDF5 says"
    a[text_at:text_at + 4] = struct.pack("<I", 0xFFFFFFFF)
    out["text"] = bytes(a)
    # 2. DIMENSION_LIST: one sequence of 1 reference, its heap id naming a GCOL collection
    assert data[header:header + 4] == b"OHDR", "band_name's header is not a version 2 header"
    flags = data[header + 5]
    at = header + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    n = 1 << (flags & 3)
    end = at + n + int.from_bytes(data[at:at + n], "little")
    name = data.find(b"DIMENSION_LIST\x00", header, end)
    assert name > 0, "no DIMENSION_LIST in band_name's first header chunk"
    seqs = [m.start() for g in re.finditer(b"GCOL", data)
            for m in re.finditer(re.escape(b"\x01\x00\x00\x00" + struct.pack("<Q", g.start())),
                                 bytes(data[name:end]))]
    assert seqs, "DIMENSION_LIST's stored sequence not found"
    b = bytearray(data)
    pos = name + min(seqs)
    b[pos:pos + 4] = struct.pack("<I", 1 << 29)
    checksum = _libhdf5_checksum()
    assert struct.unpack_from("<I", data, end)[0] == checksum(data[header:end]), \
        "the checksum is not where the header says"
    b[end:end + 4] = struct.pack("<I", checksum(b[header:end]))
    out["dimension_list"] = bytes(b)
    paths = {}
    for k, v in out.items():
        paths[k] = os.path.join(tdir, "bomb-%s.nc" % k)
        with open(paths[k], "wb") as f:
            f.write(v)
    return paths


@test
def test_vlen_length_bombs(ctx, tdir):
    """A bundle whose stored variable-length lengths claim gigabytes (a text of 2^32 - 1
    bytes in a contiguous variable; 4 GiB of references in a DIMENSION_LIST attribute)
    made verify and ls take 8.4 GB and 25-120 s.  Now verify, ls and extract each exit 1
    within 60 s and 1 GiB, naming the damage: the variable's stored lengths are checked
    against the file's size before it is read, and the child that reads a bundle cannot
    map more than --max-memory + 512 MiB (under ASan, max_allocation_size_mb does that)."""
    bombs = _vlen_bombs(ctx, tdir)
    want = {"text": r"band_name.*claims 4294967295 items of 1 bytes, more than the file",
            "dimension_list": r"DIMENSION_LIST|dimension scale"}
    problems = []
    for k, path in sorted(bombs.items()):
        for args in (["verify", path], ["ls", path], ["extract", path, "-o", os.path.join(tdir, "x-" + k)]):
            rc, out, err, wall, rss = run_measured([ctx.lode] + args, env=ctx.env(), cwd=tdir, timeout=300)
            what = "%s %s" % (args[0], k)
            if rc != 1:
                problems.append("%s: exit %d, want 1: %s" % (what, rc, err[-300:]))
            if wall > 60 or rss > 1024:
                problems.append("%s: %.1f s, %.0f MiB (bound 60 s, 1024 MiB)" % (what, wall, rss))
            if not re.search(want[k], out + err):
                problems.append("%s: no %r in its report: %s" % (what, want[k], (out + err)[-400:]))
    assert not problems, "; ".join(problems)


@test
def test_reproducible_bundles(ctx, tdir):
    """Two runs of one manifest give byte-identical bundles; SOURCE_DATE_EPOCH=1700000000
    gives date_created 2023-11-14T22:13:20Z (and two such runs are identical too); without
    it, or with an invalid value, there is no date_created."""
    m = os.path.join(tdir, "m")
    man = small_manifest(ctx, m)
    env0 = ctx.env()
    env0.pop("SOURCE_DATE_EPOCH", None)
    outs = {}
    for tag, env in (("a", env0), ("b", env0),
                     ("sde1", ctx.env(SOURCE_DATE_EPOCH="1700000000")),
                     ("sde2", ctx.env(SOURCE_DATE_EPOCH="1700000000")),
                     ("bad", ctx.env(SOURCE_DATE_EPOCH="-5"))):
        o = os.path.join(tdir, "%s.nc" % tag)
        r = run_lode(ctx, ["run", man, "-o", o, "-q"], tdir, env=env)
        assert_sane(r)
        assert r.rc == 0 and os.path.isfile(o), "lode run (%s) failed: %s" % (tag, r.brief())
        outs[tag] = o
    problems = []
    if not filecmp.cmp(outs["a"], outs["b"], shallow=False):
        problems.append("two runs differ: cmp %s %s" % (outs["a"], outs["b"]))
    if not filecmp.cmp(outs["sde1"], outs["sde2"], shallow=False):
        problems.append("two runs with SOURCE_DATE_EPOCH differ: cmp %s %s"
                        % (outs["sde1"], outs["sde2"]))
    got = bundle_attrs(outs["sde1"]).get("date_created")
    if got != "2023-11-14T22:13:20Z":
        problems.append("SOURCE_DATE_EPOCH=1700000000: date_created %r, want "
                        "'2023-11-14T22:13:20Z'" % (got,))
    for tag in ("a", "bad"):
        got = bundle_attrs(outs[tag]).get("date_created")
        if got is not None:
            problems.append("%s: date_created %r without a valid SOURCE_DATE_EPOCH"
                            % (tag, got))
    assert not problems, "; ".join(problems)


# =========================================================================== 5. full disk

BIG_MANIFEST = """bundle:
  title: lode full-disk test
target:
  crs: EPSG:3375
  bounds: [405000, 410000, 445000, 440000]
  resolution: 50
datasets:
  - name: aeromag
    source: aeromag.tif
    resampling: bilinear
"""


def big_manifest(ctx, tdir):
    """A manifest whose bundle is several hundred kB (aeromag at 50 m, 800 x 600)."""
    m = os.path.join(tdir, "m")
    os.makedirs(m, exist_ok=True)
    shutil.copyfile(ctx.sample("aeromag_tmi.tif"), os.path.join(m, "aeromag.tif"))
    man = os.path.join(m, "big.yaml")
    with open(man, "w") as f:
        f.write(BIG_MANIFEST)
    return man


def check_full(r, dest, folder, what):
    problems = []
    why = crash_reason(r)
    if why:
        problems.append("%s: crash or sanitizer report (%s): %s" % (what, why, r.brief()))
    elif r.rc != 1:
        problems.append("%s: want exit 1: %s" % (what, r.brief()))
    else:
        p = one_line_error(r)
        if p:
            problems.append("%s: %s: %s" % (what, p, r.brief()))
        if not any(dest in l for l in error_lines(r)):
            problems.append("%s: the error does not name the bundle %s: %s"
                            % (what, dest, r.brief()))
        if not re.search(r"space|full|too large|size|quota", r.err, re.I):
            problems.append("%s: the error does not mention space or size: %s"
                            % (what, r.brief()))
    left = files_under(folder)
    if left:
        problems.append("%s: left %s in %s" % (what, left, folder))
    return problems


@test
def test_full_disk_tmpfs(ctx, tdir):
    """The bundle written to a 200 kB tmpfs (it needs more): exit 1, the error names the
    bundle and the lack of space, nothing left under the final or a temporary name."""
    man = big_manifest(ctx, tdir)
    small = os.path.join(tdir, "small")
    os.makedirs(small)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", small],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise Skip("cannot mount a tmpfs (%s)" % " ".join(p.stderr.decode().split())[:200])
    try:
        dest = os.path.join(small, "big.nc")
        r = run_lode(ctx, ["run", man, "-o", dest], tdir)
        problems = check_full(r, dest, small, "200 kB tmpfs")
    finally:
        if subprocess.run(["umount", small]).returncode != 0:
            subprocess.run(["umount", "-l", small])
    assert not problems, "; ".join(problems)


@test
def test_file_size_limit(ctx, tdir):
    """The bundle written under RLIMIT_FSIZE = 200 kB (ulimit -f; SIGXFSZ ignored, so the
    write fails with EFBIG): exit 1, the error names the bundle and the size limit,
    nothing left under the final or a temporary name."""
    man = big_manifest(ctx, tdir)
    folder = os.path.join(tdir, "out")
    os.makedirs(folder)
    dest = os.path.join(folder, "big.nc")
    r = run_lode(ctx, ["run", man, "-o", dest], tdir, preexec_fn=fsize_limit(200 * 1024))
    problems = check_full(r, dest, folder, "RLIMIT_FSIZE 200 kB")
    assert not problems, "; ".join(problems)


if __name__ == "__main__":
    main()
