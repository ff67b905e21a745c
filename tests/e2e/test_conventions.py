#!/usr/bin/python3
"""The conventions of GDAL's and PROJ's tools, checked on lode: help that is the truth,
a man page, bash completion, a pkg-config file to link liblode.a with, --version naming
the libraries, verify --json, and a progress bar with elapsed time and ETA only on a
terminal.

Same runner, flags and output as test_raster.py.  Generic over the command table: the
commands are the ones `lode --help` lists and the options each takes are found by
asking lode (an option a command does not take is a usage error naming it), so a new
command or option is covered without a change here.  Independent checks: man-db's
`man -l` and groff's warnings (mandoc -T lint too when installed), bash-completion,
pkg-config and cc, gdalinfo/projinfo/h5dump and dpkg for the versions, h5py to damage a
bundle, util-linux's `script` for a terminal.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from lodetest import (Skip, assert_no_crash, lode, lode_ok, main, make_target, run, test,  # noqa: E402
                      write_manifest)

import h5py  # noqa: E402
import numpy as np  # noqa: E402

# A value each option accepts, for asking lode whether a command takes the option.
VALUES = {"--output": "x", "--threads": "2", "--max-memory": "512M", "--trust": "x.pub",
          "--key": "x.key", "--signer": "x", "--work": "w", "--shard": "0/2",
          "--tile-rows": "512"}


def all_options():
    """{long option: takes a value} from the one list of options, pipeline/cli_options.c."""
    src = open(os.path.join(REPO, "pipeline", "cli_options.c")).read()
    return {m.group(1): m.group(2) == "required_argument"
            for m in re.finditer(r'\{"([a-z-]+)", (no_argument|required_argument), NULL', src)}


def commands(ctx, tdir):
    """[(name, usage)] as lode --help lists them."""
    out = lode_ok(ctx, ["--help"], tdir).out
    return [(m.group(1), m.group(0).strip()) for m in
            re.finditer(r"^  lode ([a-z][a-z0-9-]*)\b.*$", out, re.M)]


def short_forms(help_text):
    """{long: short} from option lines such as '  -o, --output BUNDLE.nc'."""
    return {m.group(2): m.group(1) for m in
            re.finditer(r"^\s+(-[a-zA-Z]), (--[a-z-]+)", help_text, re.M)}


def accepted(ctx, tdir, cmd, options):
    """The long options cmd takes, asked of lode: OPTION [VALUE] --help exits 0 when taken,
    2 naming the option when not (asked once per command, two at a time)."""
    key = ("accepted", cmd)
    if key not in ctx.cache:
        with ThreadPoolExecutor(2) as pool:
            ctx.cache[key] = set().union(*pool.map(
                lambda o: ask_option(ctx, tdir, cmd, o, options[o]), sorted(options)))
    return ctx.cache[key]


def ask_option(ctx, tdir, cmd, opt, has_value):
    """{--opt} when cmd takes it, else {}."""
    out = set()
    if opt != "help":
        args = [cmd, "--" + opt] + ([VALUES.get("--" + opt, "x")] if has_value else []) + ["--help"]
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        if r.rc == 0:
            out.add("--" + opt)
        else:
            assert r.rc == 2 and "does not take" in r.err, \
                "%s --%s: neither taken nor refused as not taken: %s" % (cmd, opt, r.brief())
    return out


def mentioned(text, shorts):
    """The long options a text names, a short form counted as its long one."""
    names = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
    back = {s: l for l, s in shorts.items()}
    names |= {back[s] for s in re.findall(r"(?<![\w-])(-[a-zA-Z])\b", text) if s in back}
    names.discard("--help")
    return names


def cli_md_synopsis():
    """{command: text of its lines} from the first code block of docs/cli.md."""
    text = open(os.path.join(REPO, "docs", "cli.md")).read()
    block = text.split("```", 2)[1]
    out = {}
    for line in block.splitlines():
        m = re.match(r"^lode ([a-z][a-z0-9-]*)\b", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), "") + " " + line
    return out


@test
def test_help_is_the_truth(ctx, tdir):
    """For every command of lode --help: the options lode accepts, its usage line, the
    option lines of its --help and its lines in docs/cli.md's synopsis name the same
    options; -q is every command's; lode --help's line is the command's usage line."""
    options = all_options()
    assert {"help", "quiet", "json", "output"} <= set(options), options
    cmds = commands(ctx, tdir)
    assert len(cmds) >= 11, cmds
    md = cli_md_synopsis()
    problems = []
    for cmd, usage in cmds:
        h = lode_ok(ctx, [cmd, "--help"], tdir).out
        first = h.splitlines()[0]
        if first != "usage: " + usage:
            problems.append("%s: lode --help says %r, its --help %r" % (cmd, usage, first))
        takes = accepted(ctx, tdir, cmd, options)
        if "--quiet" not in takes:
            problems.append("%s does not take -q" % cmd)
        shorts = short_forms(h)
        opt_lines = "\n".join(l for l in h.splitlines() if re.match(r"^\s+-", l))
        for where, text in (("its usage line", first), ("its --help option lines", opt_lines),
                            ("docs/cli.md's synopsis", md.get(cmd, ""))):
            said = mentioned(text, shorts)
            if said != takes:
                problems.append("%s: %s names %s; lode takes %s" % (
                    cmd, where, sorted(said), sorted(takes)))
    names = [c for c, _ in cmds]
    for extra in sorted(set(md) - set(names)):
        problems.append("docs/cli.md's synopsis has lode %s, which is not a command" % extra)
    assert not problems, "; ".join(problems)


@test
def test_exit_status_3_documented(ctx, tdir):
    """status exits 3 when parts are not made: lode --help, status --help, the README,
    docs/cli.md and the man page say so."""
    h = lode_ok(ctx, ["--help"], tdir).out
    assert re.search(r"Exit status: 0 success, 1 failure, 2 usage error, 3", h), h
    assert "3 when some are not" in lode_ok(ctx, ["status", "--help"], tdir).out
    readme = open(os.path.join(REPO, "README.md")).read()
    assert re.search(r"\b3\b[^.]*status|status[^.]*\b3\b", readme), "README does not give exit 3"
    assert "| 3 | `status` only" in open(os.path.join(REPO, "docs", "cli.md")).read()
    assert ".B 3" in open(os.path.join(REPO, "docs", "lode.1")).read()


def man_tools():
    if not shutil.which("man") or not shutil.which("groff"):
        raise Skip("man-db or groff is not installed (make deps installs man-db groff-base)")


@test
def test_man_page(ctx, tdir):
    """docs/lode.1 is what docs/make_man.py makes from this lode's help and cli.md (so it
    names every command and option), and man -l and groff -ww render it without a
    warning (mandoc -T lint too, when installed)."""
    man_tools()
    page = os.path.join(REPO, "docs", "lode.1")
    r = run(["/usr/bin/python3", os.path.join(REPO, "docs", "make_man.py"), ctx.lode])
    assert r.rc == 0, r.brief()
    assert r.out == open(page).read(), \
        "docs/lode.1 is not what docs/make_man.py makes from this lode: run " \
        "docs/make_man.py build/lode > docs/lode.1"
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    r = run(["man", "-l", "--warnings=all", page], env=env)
    assert r.rc == 0 and r.err.strip() == "", r.brief()
    shown = re.sub(r".\x08", "", r.out)  # man's bold and underline, as overstrikes
    for cmd, _ in commands(ctx, tdir):
        assert re.search(r"^   %s$" % cmd, shown, re.M), "man page has no section for %s" % cmd
    assert "EXIT STATUS" in shown and "ENVIRONMENT" in shown and "LODE_WATCHDOG_SECONDS" in shown
    r = run(["groff", "-ww", "-man", "-Tutf8", "-z", page])
    assert r.rc == 0 and r.err.strip() == "", r.brief()
    if shutil.which("mandoc"):
        r = run(["mandoc", "-T", "lint", "-W", "warning", page])
        assert r.rc == 0, r.brief()


COMPLETE = r"""
[ -f /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
. "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_lode
printf '%s\n' "${COMPREPLY[@]}"
"""


def complete(ctx, tdir, words):
    r = run(["bash", "-c", COMPLETE, "complete", os.path.join(REPO, "docs", "lode.bash-completion"),
             ctx.lode] + words, cwd=tdir)
    assert r.rc == 0, r.brief()
    return set(w for w in r.out.split("\n") if w)


@test
def test_bash_completion(ctx, tdir):
    """The completion (docs/lode.bash-completion, with bash-completion's helpers when
    installed) completes the commands of lode --help, and after each command exactly
    the long options it takes; after -w a folder, a manifest for run."""
    cmds = commands(ctx, tdir)
    got = complete(ctx, tdir, [""])
    assert got == {c for c, _ in cmds}, "commands completed: %s" % sorted(got)
    options = all_options()
    for cmd, _ in cmds:
        takes = accepted(ctx, tdir, cmd, options)
        got = complete(ctx, tdir, [cmd, "--"])
        assert got - {"--help"} == takes, "%s --: completed %s, takes %s" % (
            cmd, sorted(got), sorted(takes))
    os.makedirs(os.path.join(tdir, "workdir"))
    open(os.path.join(tdir, "m.yaml"), "w").close()
    open(os.path.join(tdir, "m.txt"), "w").close()
    assert complete(ctx, tdir, ["reproject", "-w", "wor"]) == {"workdir"}
    assert complete(ctx, tdir, ["run", "m"]) == {"m.yaml"}


@test
def test_install_and_pkg_config_link(ctx, tdir):
    """make install into a temporary PREFIX puts lode, liblode.a, the headers, lode.pc, the
    man page, the completion and the licence in their places; a program linked against
    the installed liblode.a with only pkg-config --cflags --libs --static lode builds and
    prints the libraries' versions as lode --version does."""
    for t in ("make", "cc", "pkg-config"):
        if not shutil.which(t):
            raise Skip("%s is not installed (make deps installs build-essential pkg-config)" % t)
    build = os.path.dirname(ctx.lode)
    if os.path.dirname(build) != REPO:
        raise Skip("--lode is not a build of this repository (%s)" % ctx.lode)
    prefix = os.path.join(tdir, "prefix")
    b = os.path.relpath(build, REPO)
    # Not the settings of a make this suite may run under (make check's jobserver, ...).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = run(["make", "-s", "-C", REPO, "install", "B=" + b, "PREFIX=" + prefix], env=env, timeout=600)
    assert r.rc == 0, r.brief()
    for rel in ("bin/lode", "libexec/lode/lode-full", "libexec/lode/lode-verify",
                "lib/liblode.a", "include/lode.h", "include/lode_error.h",
                "lib/pkgconfig/lode.pc", "share/man/man1/lode.1",
                "share/bash-completion/completions/lode", "share/doc/lode/LICENSE",
                "share/doc/lode/cli.md"):
        assert os.path.isfile(os.path.join(prefix, rel)), "make install did not install " + rel
    lic = open(os.path.join(prefix, "share/doc/lode/LICENSE")).read()
    assert "MIT License" in lic and "the lode authors" in lic
    r = run(["man", "-M", os.path.join(prefix, "share", "man"), "-w", "lode"]) if shutil.which("man") else None
    assert r is None or (r.rc == 0 and r.out.strip().endswith("lode.1")), r.brief()
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    r = run(["pkg-config", "--cflags", "--libs", "--static", "lode"], env=env)
    assert r.rc == 0 and "-llode" in r.out, r.brief()
    flags = r.out.split()
    prog = os.path.join(tdir, "uses_lode.c")
    with open(prog, "w") as f:
        f.write('#include <stdio.h>\n#include "lode.h"\n'
                'int main(void)\n{\n\tlode_error err = {0};\n\tchar *report = NULL;\n'
                '\tlode_status rc = lode_verify("/nonexistent.nc", &report, &err);\n'
                '\tprintf("%s\\n%s\\n", lode_library_versions(), lode_status_name(rc));\n'
                '\treturn 0;\n}\n')
    san = []
    nm = run(["nm", os.path.join(prefix, "lib", "liblode.a")])
    if "__asan_" in nm.out:  # the sanitized build: its runtime links the same way
        san = ["-fsanitize=address,undefined"]
    exe = os.path.join(tdir, "uses_lode")
    r = run(["cc", "-std=c17", prog, "-o", exe] + san + flags, env=env)
    assert r.rc == 0, "linking with pkg-config --static lode failed: " + r.brief()
    r = run([exe], env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert r.rc == 0, r.brief()
    versions = lode_ok(ctx, ["--version"], tdir).out.splitlines()[1]
    assert r.out.splitlines()[0] == versions, (r.out, versions)
    assert r.out.splitlines()[1] != "ok", r.out  # a missing file is an error
    # the installed lode finds its programs in PREFIX/libexec/lode, whatever PATH says
    installed = os.path.join(prefix, "bin", "lode")
    env = dict(os.environ, PATH="/usr/bin:/bin", ASAN_OPTIONS="detect_leaks=0")
    r = run([installed, "--version"], env=env)
    assert r.rc == 0 and r.out.splitlines()[1] == versions, r.brief()
    r = run([installed, "verify", os.path.join(tdir, "none.nc")], env=env)
    assert r.rc == 1 and "No such file" in r.err, r.brief()


@test
def test_front_runs_verify_without_gdal(ctx, tdir):
    """lode runs lode-verify for verify and lode-full for the rest: the same output and
    exit status as each run directly; verify's process never loads GDAL (the dynamic
    loader's own list, LD_DEBUG=files) while lode-full's does; a lode whose programs are
    missing says where it looked and exits 1; PATH is never searched."""
    build = os.path.dirname(ctx.lode)
    full, light = os.path.join(build, "lode-full"), os.path.join(build, "lode-verify")
    for p in (full, light):
        assert os.access(p, os.X_OK), "%s is not built beside %s" % (p, ctx.lode)
    _, b = small_bundle(ctx, tdir)
    env = dict(ctx.env(), LD_DEBUG="files")
    r = run([ctx.lode, "verify", b], env=env)
    assert r.rc == 0 and "OK: %s verified" % b in r.out, r.brief()
    loaded = [line for line in r.err.splitlines() if "calling init:" in line]
    assert loaded and any("libproj" in line for line in loaded), r.err[-2000:]
    assert not any("libgdal" in line for line in loaded), [x for x in loaded if "libgdal" in x]
    r = run([ctx.lode, "ls", b], env=env)
    assert r.rc == 0 and any("libgdal" in line for line in r.err.splitlines() if "calling init:" in line), \
        r.brief()
    # the same answers as each program's own, for a good and a damaged bundle
    bad = damaged_copy(b, tdir)
    for args in (["verify", b], ["verify", bad], ["verify", bad, "--json"], ["verify"], ["verify", "--help"]):
        via, direct_full, direct_light = (run([p] + args, env=ctx.env()) for p in (ctx.lode, full, light))
        for d in (direct_full, direct_light):
            assert (via.rc, via.out, via.err) == (d.rc, d.out, d.err), (via.brief(), d.brief())
    assert run([ctx.lode, "verify", bad], env=ctx.env()).rc == 1
    r = run([light, "ls", b], env=ctx.env())
    assert r.rc == 2 and "lode-verify: runs lode verify only" in r.err, r.brief()
    # a lode copied away from its programs: where it looked, exit 1 (no program of PATH)
    alone = os.path.join(tdir, "alone")
    os.makedirs(alone)
    shutil.copy(ctx.lode, os.path.join(alone, "lode"))
    decoy = os.path.join(tdir, "decoy")
    os.makedirs(decoy)
    with open(os.path.join(decoy, "lode-full"), "w") as f:
        f.write("#!/bin/sh\necho decoy\n")
    os.chmod(os.path.join(decoy, "lode-full"), 0o755)
    env = dict(ctx.env(), PATH=decoy + ":" + os.environ.get("PATH", ""))
    r = run([os.path.join(alone, "lode"), "--version"], env=env)
    assert r.rc == 1 and "decoy" not in r.out, r.brief()
    assert "cannot find lode-full in %s or %s/../libexec/lode" % (alone, alone) in r.err, r.brief()


def _heap_of_running_lode(ctx, tdir, env):
    """lode-full's heap as the kernel shows it (/proc/PID/smaps): its size in MiB and
    whether it is advised for transparent huge pages (VmFlags "hg").  `lode run` is
    started on a manifest that is a named pipe, so lode-full waits there, GDAL loaded
    and registered; the pipe is then fed an empty manifest (exit 1)."""
    fifo = os.path.join(tdir, "waits.yaml")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    p = subprocess.Popen([ctx.lode, "run", fifo, "-o", os.path.join(tdir, "never.nc"), "-q"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    heap = None
    try:
        deadline = time.time() + 60
        while os.path.basename(os.readlink("/proc/%d/exe" % p.pid)) != "lode-full":
            assert time.time() < deadline and p.poll() is None, "lode never ran lode-full"
            time.sleep(0.01)
        time.sleep(0.5)  # lode-full reaches the manifest (waits on the pipe)
        name = rng = None
        with open("/proc/%d/smaps" % p.pid) as f:
            for line in f:
                w = line.split()
                if len(w) >= 5 and "-" in w[0] and ":" in w[3]:
                    name, rng = (w[5] if len(w) > 5 else ""), w[0]
                elif w and w[0] == "VmFlags:" and name == "[heap]":
                    lo, hi = (int(x, 16) for x in rng.split("-"))
                    heap = ((hi - lo) / 2.0 ** 20, "hg" in w[1:])
        with open(fifo, "w") as f:
            f.write("")
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1 and b"the manifest is empty" in err, (p.returncode, err[-500:])
    assert heap, "lode-full has no [heap] in /proc/%d/smaps" % p.pid
    return heap


@test
def test_front_sets_malloc_tunables(ctx, tdir):
    """The front gives lode-full glibc's allocator tunables (GLIBC_TUNABLES: 32 MiB of
    slack on malloc's heaps, huge pages for them, GDAL's blocks from them; docs/cli.md
    Environment, docs/performance.md), seen in lode-full's heap: 32 MiB or more, advised
    for huge pages when the kernel's THP mode is "madvise".  A GLIBC_TUNABLES of the
    user's, empty included, is left as it is: glibc's default heap (under 32 MiB)."""
    with open(os.path.join(os.path.dirname(ctx.lode), "lode-full"), "rb") as f:
        if b"libasan.so" in f.read():
            raise Skip("lode-full is built with ASan, whose allocator replaces glibc's malloc")
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            advise = "[madvise]" in f.read()
    except OSError:
        advise = False
    base = {k: v for k, v in ctx.env().items() if k != "GLIBC_TUNABLES"}
    size, huge = _heap_of_running_lode(ctx, tdir, base)
    assert size >= 32 and (huge or not advise), "heap %.1f MiB, advised huge %s" % (size, huge)
    for mine in ("", "glibc.malloc.hugetlb=0"):
        size, huge = _heap_of_running_lode(ctx, tdir, dict(base, GLIBC_TUNABLES=mine))
        assert size < 32 and not huge, "GLIBC_TUNABLES=%r: heap %.1f MiB, advised huge %s" % (mine, size, huge)


@test
def test_version_names_libraries(ctx, tdir):
    """lode --version: lode's and the bundle format's versions, then GDAL, PROJ, HDF5 and
    libdeflate, each as gdalinfo, projinfo, h5dump and dpkg report them."""
    out = lode_ok(ctx, ["--version"], tdir).out.splitlines()
    assert re.match(r"^lode \d+\.\d+\.\d+ \(bundle format \d+\)$", out[0]), out
    m = re.match(r"^GDAL (\S+), PROJ (\S+), HDF5 (\S+), libdeflate (\S+)$", out[1])
    assert m, out
    gdal, proj, hdf5, deflate = m.groups()
    r = run(["gdalinfo", "--version"])
    assert r.out.startswith("GDAL %s," % gdal), (r.out, gdal)
    r = run(["/usr/bin/python3", "-c", "from osgeo import osr; print(osr.GetPROJVersionMajor(), "
             "osr.GetPROJVersionMinor(), osr.GetPROJVersionMicro())"])
    assert r.out.split() == proj.split("."), (r.out, proj)
    r = run(["h5dump", "--version"])
    assert re.search(r"Version %s\b" % re.escape(hdf5), r.out), (r.out, hdf5)
    r = run(["dpkg-query", "-W", "-f", "${Version}", "libdeflate-dev"])
    if r.rc == 0:
        assert r.out.startswith(deflate + "-") or r.out.startswith(deflate), (r.out, deflate)


def small_bundle(ctx, tdir):
    aero = ctx.sample("aeromag_tmi.tif")
    deposits = ctx.sample("deposits.gpkg")
    target = make_target("EPSG:4326", [aero], res=0.004)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, target, [{"name": "aeromag", "source": aero, "resampling": "bilinear"},
                                 {"name": "deposits", "source": deposits}],
                   {"allow_ballpark": True, "max_error_m": 20})
    b = os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    return man, b


def damaged_copy(b, tdir):
    """A copy of small_bundle's b with one valid pixel of aeromag changed (h5py): its path."""
    bad = os.path.join(tdir, "bad.nc")
    shutil.copy(b, bad)
    with h5py.File(bad, "r+") as f:
        v = f["aeromag/aeromag"]
        idx = tuple(np.argwhere(v[...] != v.attrs["_FillValue"])[0])
        v[idx] = v[idx] + 1
    return bad


@test
def test_verify_json(ctx, tdir):
    """verify --json: one JSON object with the same verdicts and digests as the text
    report (the digests also as h5py reads them), verified true and exit 0; after one
    pixel is changed with h5py, that dataset DAMAGED, verified false, the error given,
    exit 1; -q does not silence it; a missing file is still a JSON answer."""
    _, b = small_bundle(ctx, tdir)
    text = lode_ok(ctx, ["verify", b], tdir).out
    r = lode_ok(ctx, ["verify", b, "--json"], tdir)
    j = json.loads(r.out)
    assert j["bundle"] == b and j["verified"] is True and j["error"] is None, j
    with h5py.File(b, "r") as f:
        stored = {"aeromag": f["aeromag/aeromag"].attrs["lode_content_sha256"],
                  "deposits": f["deposits"].attrs["lode_content_sha256"]}
        bundle_sha = f.attrs["lode_bundle_sha256"]
    stored = {k: v.decode() if isinstance(v, bytes) else v for k, v in stored.items()}
    bundle_sha = bundle_sha.decode() if isinstance(bundle_sha, bytes) else bundle_sha
    got = {d["name"]: (d["status"], d["sha256"], d["kind"]) for d in j["datasets"]}
    assert got == {"aeromag": ("OK", stored["aeromag"], "raster"),
                   "deposits": ("OK", stored["deposits"], "vector")}, got
    for name, (status, sha, _) in got.items():
        assert "%s: %s (sha256 %s)" % (name, status, sha) in text, (name, text)
    assert j["bundle_digest"] == {"status": "OK", "sha256": bundle_sha, "reason": None}, j
    assert j["structure"]["status"] == "OK" and j["signatures"] == [], j
    q = lode_ok(ctx, ["verify", b, "--json", "-q"], tdir)
    assert json.loads(q.out) == j
    bad = damaged_copy(b, tdir)
    r = lode(ctx, ["verify", bad, "--json"], tdir)
    assert_no_crash(r)
    j = json.loads(r.out)
    assert r.rc == 1 and j["verified"] is False and "damaged" in j["error"], r.brief()
    st = {d["name"]: d["status"] for d in j["datasets"]}
    assert st == {"aeromag": "DAMAGED", "deposits": "OK"}, st
    assert "content digest mismatch" in [d for d in j["datasets"] if d["name"] == "aeromag"][0]["reason"]
    assert j["bundle_digest"]["status"] == "DAMAGED", j
    assert "lode: error:" in r.err, r.brief()
    r = lode(ctx, ["verify", os.path.join(tdir, "none.nc"), "--json"], tdir)
    j = json.loads(r.out)
    assert r.rc == 1 and j["verified"] is False and not j["datasets"] and j["error"], r.brief()
    assert j["bundle_digest"] is None and "No such file" in j["error"], j


def on_terminal(ctx, tdir, args):
    """Run lode under script(1), which gives it a terminal; what it drew."""
    if not shutil.which("script"):
        raise Skip("script (util-linux/bsdutils) is not installed")
    cmd = " ".join([ctx.lode] + ["'%s'" % a for a in args]) + " >/dev/null"
    log = os.path.join(tdir, "typescript")
    if os.path.exists(log):
        os.remove(log)
    r = run(["script", "-qec", cmd, log], cwd=tdir, env=ctx.env(), timeout=300)
    if not os.path.exists(log):
        # script(1) needs a pseudo-terminal; a chroot without /dev/pts has none
        # (tools/fresh-debian-check.sh mounts only /proc and /sys).
        raise Skip("script(1) could not open a pseudo-terminal here (exit %s: %s)"
                   % (r.rc, (r.err or r.out).strip()[-200:]))
    return r.rc, open(log, "rb").read().decode("utf-8", "replace")


BAR = re.compile(r"\r\[[# ]{24}\] +(\d+)% .*?(\d+:\d\d)? *(ETA (\d+:\d\d|-:--)|took \d+:\d\d)")


@test
def test_progress_on_terminal_only(ctx, tdir):
    """On a terminal run, reproject, package, verify, extract and merge draw a bar with
    the time elapsed and the ETA, ending at 100% with the time taken; with -q, or with
    stderr not a terminal, nothing is drawn."""
    man, b = small_bundle(ctx, tdir)
    work = os.path.join(tdir, "w")
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir)
    cases = [["run", man, "-o", os.path.join(tdir, "r.nc")],
             ["reproject", "-w", work],
             ["package", "-w", work, "-o", os.path.join(tdir, "p.nc")],
             ["verify", b],
             ["extract", b, "-o", os.path.join(tdir, "x")],
             ["merge", b, "-o", os.path.join(tdir, "m.nc"), "--prefix"]]
    for args in cases:
        rc, drawn = on_terminal(ctx, tdir, args)
        assert rc == 0, "%s: exit %s: %s" % (args[0], rc, drawn[-500:])
        bars = BAR.findall(drawn)
        assert bars, "%s drew no bar on a terminal: %r" % (args[0], drawn[-400:])
        assert bars[-1][0] == "100" and bars[-1][2].startswith("took"), (args[0], bars[-1])
        assert any(x[2].startswith("ETA") for x in bars), (args[0], bars)
        pcts = [int(x[0]) for x in bars]
        assert pcts == sorted(pcts), "%s: the bar went back: %s" % (args[0], pcts)
        for a in (["-q"],):
            if args[0] in ("run", "package", "merge"):
                os.remove(args[args.index("-o") + 1])
            if args[0] == "reproject":
                a = a + ["--force"]
            rc, drawn = on_terminal(ctx, tdir, args + a)
            assert rc == 0 and "%" not in drawn, "%s -q drew: %r" % (args[0], drawn[-300:])
        # Not a terminal: nothing on stderr but the closing line.
        if args[0] in ("run", "package", "merge"):
            os.remove(args[args.index("-o") + 1])
        r = lode(ctx, args + (["--force"] if args[0] == "reproject" else []), tdir)
        assert r.rc == 0 and "%" not in r.err and "\r" not in r.err, r.brief()


if __name__ == "__main__":
    main()
