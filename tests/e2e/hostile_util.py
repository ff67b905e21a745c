"""Helpers for test_hostile.py: a crash-proof h5py "content snapshot" worker, sanitizer-
aware result checks, leftover detection and peak-RSS measurement of one lode run.

The snapshot of a bundle is a dict {KEY: sha256} with one entry per object (group or
dataset: its kind, and for a dataset its dtype, shape and every value) and one entry per
attribute of every object (dtype, shape and value bytes). Two snapshots are equal
exactly when h5py reads the same objects, values and attributes from both files.
Reading a damaged HDF5 file can crash or hang the HDF5 library, so the snapshot is taken
in a separate, restartable Debian-Python process, never in the test process.
"""
import json
import os
import re
import select
import signal
import subprocess

PY = "/usr/bin/python3"

# Run as: /usr/bin/python3 -c WORKER. Reads one path per line on stdin; answers one JSON
# line per path: {"snap": {KEY: HEX}} or {"error": TEXT}.
WORKER = r'''
import hashlib, json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import h5py

def hb(*parts):
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, str):
            p = p.encode("utf-8", "surrogateescape")
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()

def stable(x, f):
    # object references (e.g. in the dimension scales' REFERENCE_LIST) become the name
    # of the object they point to: their in-memory form differs on every read
    if isinstance(x, (h5py.Reference, h5py.RegionReference)):
        try:
            return "ref->" + str(f[x].name)
        except Exception as e:
            return "ref->unresolvable " + type(e).__name__
    if isinstance(x, (list, tuple)):
        return [stable(y, f) for y in x]
    if isinstance(x, np.void) or isinstance(x, np.ndarray):
        return stable(x.tolist(), f)
    if isinstance(x, bytes):
        return "b:" + x.hex()
    return repr(x)

def arr_bytes(v, f):
    if isinstance(v, h5py.Empty):
        return "empty", "", b""
    a = np.asarray(v)
    if a.dtype.kind == "O" or a.dtype.hasobject:
        return str(a.dtype), repr(a.shape), repr(stable(a.tolist(), f)).encode()
    return a.dtype.str, repr(a.shape), np.ascontiguousarray(a).tobytes()

def snap(path):
    out = {}
    with h5py.File(path, "r") as f:
        def one(name, obj):
            key = "/" + name if name else "/"
            if isinstance(obj, h5py.Dataset):
                v = obj[()]
                dt, shp, raw = arr_bytes(v, f)
                out["data " + key] = hb("dataset", dt, shp, raw)
            elif isinstance(obj, h5py.Group):
                out["group " + key] = hb("group", repr(sorted(obj.keys())))
            else:
                out["other " + key] = hb(type(obj).__name__)
            for an in obj.attrs.keys():
                dt, shp, raw = arr_bytes(obj.attrs[an], f)
                out["attr %s@%s" % (key, an)] = hb(dt, shp, raw)
        one("", f)
        f.visititems(one)
    return out

for line in sys.stdin:
    p = line.rstrip("\n")
    try:
        r = {"snap": snap(p)}
    except BaseException as e:
        r = {"error": "%s: %s" % (type(e).__name__, " ".join(str(e).split())[:300])}
    sys.stdout.write(json.dumps(r) + "\n")
    sys.stdout.flush()
'''


class Snapshotter:
    """A persistent h5py worker. snapshot(path) -> (dict or None, error text or None).
    A crash or hang of the worker counts as "h5py cannot read the file" and the worker
    is restarted for the next file."""

    def __init__(self, timeout=30):
        self.timeout = timeout
        self.p = None
        self.restarts = 0

    def _start(self):
        self.p = subprocess.Popen([PY, "-c", WORKER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE"))

    def _kill(self):
        if self.p is not None:
            try:
                self.p.kill()
            except OSError:
                pass
            self.p.wait()
            self.p = None

    def snapshot(self, path):
        if self.p is None or self.p.poll() is not None:
            if self.p is not None:
                self.restarts += 1
            self._start()
        try:
            self.p.stdin.write((path + "\n").encode())
            self.p.stdin.flush()
            line = b""
            while not line.endswith(b"\n"):
                rd, _, _ = select.select([self.p.stdout], [], [], self.timeout)
                if not rd:
                    self._kill()
                    return None, "h5py hung for %ss" % self.timeout
                chunk = os.read(self.p.stdout.fileno(), 1 << 20)
                if not chunk:
                    rc = self.p.wait()
                    self.p = None
                    return None, "h5py worker died (status %s)" % rc
                line += chunk
        except BrokenPipeError:
            self._kill()
            return None, "h5py worker died"
        r = json.loads(line.decode())
        if "error" in r:
            return None, r["error"]
        return r["snap"], None

    def close(self):
        if self.p is not None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
            self.p = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def snap_diff(a, b):
    """Keys whose hash differs, is missing or is new (sorted)."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# --------------------------------------------------------------------------- results

SAN_WORDS = ("Sanitizer", "runtime error:", "Segmentation fault", "double free",
             "core dumped", "AddressSanitizer", "LeakSanitizer", "stack-overflow")


def crash_reason(r):
    """None if r (a lodetest.Result) shows no crash; else why it counts as one. Exit
    status 99 is what make check-asan sets for a sanitizer report (ASAN_OPTIONS
    exitcode=99); >= 128 is a signal."""
    summ = san_summary(r.err)
    if r.rc >= 128:
        return "killed by signal %d%s" % (r.rc - 128, summ)
    if r.rc == 99:
        return "exit status 99, sanitizer report%s" % summ
    for w in SAN_WORDS:
        if w in r.err:
            return "%r in stderr%s" % (w, summ)
    return None


def crash_kind(r):
    """A short, stable label for a crash: 'signal 11', 'AddressSanitizer SEGV',
    'LeakSanitizer detected', 'UBSan runtime error', ..."""
    m = re.search(r"ERROR: (\w+Sanitizer): ([\w-]+)", r.err)
    if m:
        return "%s %s" % m.groups()
    if "runtime error:" in r.err:
        return "UBSan runtime error"
    if r.rc >= 128:
        return "signal %d" % (r.rc - 128)
    return "exit status %d" % r.rc


def san_summary(err):
    """The sanitizer's own one-line verdict (', ERROR: ...' or ', SUMMARY: ...'), or ''."""
    m = re.search(r"^(?:==\d+==)?ERROR: \w+Sanitizer: [^\n]{0,120}", err, re.M)
    if not m:
        m = re.search(r"^SUMMARY: [^\n]{0,160}", err, re.M)
    if not m:
        m = re.search(r"runtime error: [^\n]{0,160}", err)
    return ", " + m.group(0) if m else ""


def assert_sane(r):
    why = crash_reason(r)
    assert why is None, "crash (%s): %s" % (why, r.brief())


def error_lines(r):
    return [l for l in r.err.splitlines() if l.startswith("lode: error:")]


def files_under(folder):
    """Every file/dir name under folder (relative paths), hidden ones included."""
    out = []
    for root, dirs, files in os.walk(folder):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), folder))
    return sorted(out)


def temp_leftovers(folder, bundle_name):
    """The bundle itself or a temporary .NAME.tmp-* in folder."""
    if not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder)
                  if f == bundle_name or f.startswith("." + bundle_name + ".tmp")
                  or ".tmp-" in f)


# --------------------------------------------------------------------------- resources

RSS_WRAPPER = r'''
import json, resource, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(json.dumps({"rc": p.returncode, "wall": wall, "maxrss_kib": ru.ru_maxrss,
                             "out": p.stdout.decode("utf-8", "replace"),
                             "err": p.stderr.decode("utf-8", "replace")}))
'''


def run_measured(cmd, env=None, cwd=None, timeout=120):
    """Run cmd from a fresh wrapper process whose only child it is, so that
    getrusage(RUSAGE_CHILDREN) there is this command's peak RSS.
    Returns (rc, out, err, wall seconds, peak RSS in MiB)."""
    p = subprocess.run([PY, "-c", RSS_WRAPPER] + [str(c) for c in cmd], env=env, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("rss wrapper failed: %s" % p.stderr.decode()[-500:])
    j = json.loads(p.stdout.decode())
    rc = j["rc"]
    if rc < 0:
        rc = 128 - rc
    return rc, j["out"], j["err"], j["wall"], j["maxrss_kib"] / 1024.0


def fsize_limit(nbytes):
    """preexec_fn for subprocess: RLIMIT_FSIZE = nbytes and SIGXFSZ ignored, so a write
    past the limit fails with EFBIG instead of killing the process."""
    def pre():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def has_control_chars(text):
    """Raw C0 control characters (other than newline and tab) or DEL in text."""
    return re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text) is not None
