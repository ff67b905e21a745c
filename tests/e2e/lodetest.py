"""Helpers for lode's end-to-end tests: a small test runner, subprocess wrappers, a
manifest writer, gdalwarp reference runs, raster readers and bundle inspectors.

Everything here compares lode's output with tools we did not write (GDAL's utilities
and Python bindings, PROJ's projinfo, HDF5/netCDF tools, h5py, xarray).
"""
import argparse
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import traceback

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
osr.UseExceptions()

PY = "/usr/bin/python3"


# --------------------------------------------------------------------------- runner

class Skip(Exception):
    pass


class Ctx:
    """Command-line options plus per-process caches (fixtures)."""

    def __init__(self, ns):
        self.lode = os.path.abspath(ns.lode)
        self.samples = os.path.abspath(ns.samples) if ns.samples else None
        self.data = os.path.abspath(ns.data) if ns.data else None
        self.realdata = os.path.abspath(ns.realdata) if ns.realdata else None
        self.grids = os.path.abspath(ns.grids) if ns.grids else None
        self.work = os.path.abspath(ns.work)
        self.cache = {}

    # ---- inputs
    def sample(self, name):
        if not self.samples:
            raise Skip("no --samples")
        p = os.path.join(self.samples, name)
        if not os.path.exists(p):
            raise Skip("sample %s missing" % p)
        return p

    def datafile(self, name):
        for d in (self.data, self.realdata):
            if d and os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
        raise Skip("%s not found in --data/--realdata" % name)

    def realfile(self, name):
        for d in (self.realdata, self.data):
            if d and os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
        raise Skip("%s not found in --realdata/--data" % name)

    def grid_dir(self):
        if not self.grids or not os.path.isdir(self.grids):
            raise Skip("no --grids folder")
        if not any(os.path.exists(os.path.join(self.grids, g))
                   for g in ("conus", "us_noaa_conus.tif")):
            raise Skip("no conus grid in %s" % self.grids)
        return self.grids

    # ---- environment
    def env(self, proj_data=None, **extra):
        """Environment for lode and the reference tools: network off, the grids
        folder on PROJ_DATA (unless proj_data is given), lode's operation cache in the
        work folder."""
        e = dict(os.environ)
        e["PROJ_NETWORK"] = "OFF"
        if proj_data is None:
            parts = []
            if self.grids and os.path.isdir(self.grids):
                parts.append(self.grids)
            parts.append("/usr/share/proj")
            proj_data = ":".join(parts)
        e["PROJ_DATA"] = proj_data
        e.pop("PROJ_LIB", None)
        e["CPL_DEBUG"] = "OFF"
        # the suite's own cache of PROJ's operation searches, not the user's ~/.cache
        e["LODE_OPERATION_CACHE"] = os.path.join(self.work, "operation-cache")
        e.update({k: str(v) for k, v in extra.items()})
        return e


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def main():
    ap = argparse.ArgumentParser(description="lode end-to-end tests")
    ap.add_argument("--lode", required=True)
    ap.add_argument("--samples")
    ap.add_argument("--data")
    ap.add_argument("--realdata")
    ap.add_argument("--grids")
    ap.add_argument("--work", required=True)
    ap.add_argument("-k", dest="only", action="append",
                    help="run only tests whose name contains this (repeatable)")
    ap.add_argument("-v", dest="verbose", action="store_true", help="tracebacks on failure")
    ns = ap.parse_args()
    ctx = Ctx(ns)
    os.makedirs(ctx.work, exist_ok=True)
    npass = nfail = nskip = 0
    t00 = time.time()
    for fn in TESTS:
        name = fn.__name__[5:] if fn.__name__.startswith("test_") else fn.__name__
        if ns.only and not any(k in name for k in ns.only):
            continue
        tdir = os.path.join(ctx.work, name)
        shutil.rmtree(tdir, ignore_errors=True)
        os.makedirs(tdir)
        t0 = time.time()
        try:
            if not os.path.exists(ctx.lode):
                raise AssertionError("lode binary %s not found" % ctx.lode)
            fn(ctx, tdir)
        except Skip as e:
            nskip += 1
            print("SKIP %s: %s" % (name, e), flush=True)
        except AssertionError as e:
            nfail += 1
            msg = " ".join(str(e).split("\n")) if str(e) else "assertion failed"
            print("FAIL %s: %s" % (name, msg[:2000]), flush=True)
            if ns.verbose:
                traceback.print_exc()
        except Exception as e:  # a bug in the test or an unexpected tool failure
            nfail += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, " ".join(str(e).split())[:2000]),
                  flush=True)
            if ns.verbose:
                traceback.print_exc()
        else:
            npass += 1
            print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)
    sys.stderr.write("total %.1fs\n" % (time.time() - t00))
    tail = "%d passed, %d failed" % (npass, nfail)
    if nskip:
        tail += ", %d skipped" % nskip
    print(tail, flush=True)
    sys.exit(1 if nfail else 0)


# --------------------------------------------------------------------------- processes

class Result:
    def __init__(self, cmd, rc, out, err):
        self.cmd, self.rc, self.out, self.err = cmd, rc, out, err

    @property
    def text(self):
        return self.out + self.err

    def brief(self):
        s = "`%s` -> exit %s" % (" ".join(shlex.quote(c) for c in self.cmd), self.rc)
        if self.err.strip():
            s += "; stderr: " + " ".join(self.err.split())[:600]
        elif self.out.strip():
            s += "; stdout: " + " ".join(self.out.split())[:300]
        return s


def cf_tools_present():
    """Is everything run-cfchecks.sh installs already here (its apt-get line): nco and
    netcdf-bin, the Python modules the checker imports (python3-future's past among
    them), udunits, and venv for its first run?  If so it may run with SKIP_APT=1."""
    import ctypes.util
    import importlib.util
    if not shutil.which("ncks") or not shutil.which("ncdump"):
        return False
    for m in ("cftime", "netCDF4", "numpy", "past", "packaging", "ensurepip"):
        if importlib.util.find_spec(m) is None:
            return False
    return ctypes.util.find_library("udunits2") is not None


def cf_summary(report):
    """(errors, warnings) from the report of run-cfchecks.sh (the CF checker).  That
    script prints "cfchecks: N errors, M warnings in FILE" summing the "ERRORS detected:"
    lines of each part it checked (the file, then each group flattened), so a checker
    that crashed (a Python traceback, no such line) reads as 0 errors: every part headed
    "################" must have its own "ERRORS detected:" line, else AssertionError."""
    m = re.search(r"^cfchecks: (\d+) errors?, (\d+) warnings? in ", report, re.M)
    assert m, "the CF checker printed no summary: " + report[-1500:]
    parts = len(re.findall(r"^################ ", report, re.M))
    done = len(re.findall(r"^ERRORS detected: \d+", report, re.M))
    assert parts and done == parts, (
        "the CF checker did not finish: %d of the %d parts it checked reported their errors "
        "(the '0 errors' of its summary means nothing): %s" % (done, parts, report[-1500:]))
    return int(m.group(1)), int(m.group(2))


def run(cmd, env=None, cwd=None, timeout=180, stdin=None):
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired:
        raise AssertionError("timeout after %ss: %s" % (timeout, " ".join(cmd)))
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    rc = p.returncode
    if rc < 0:
        rc = 128 - rc  # killed by a signal: report like a shell would
    return Result(cmd, rc, out, err)


def tool(cmd, ctx, **kw):
    """Run a reference tool; it must succeed."""
    r = run(cmd, env=kw.pop("env", None) or ctx.env(), **kw)
    if r.rc != 0:
        raise RuntimeError("reference tool failed: " + r.brief())
    return r


def lode(ctx, args, cwd, env=None, timeout=180):
    return run([ctx.lode] + list(args), env=env or ctx.env(), cwd=cwd, timeout=timeout)


def assert_no_crash(r):
    assert r.rc < 128, "crashed (signal): " + r.brief()
    for w in ("Sanitizer", "runtime error:", "Segmentation fault", "double free", "core dumped"):
        assert w not in r.err, "%r in stderr: %s" % (w, r.brief())


def lode_ok(ctx, args, cwd, env=None):
    r = lode(ctx, args, cwd, env)
    assert_no_crash(r)
    assert r.rc == 0, "lode failed: " + r.brief()
    return r


def staged_bundle(ctx, tdir, man, name="staged.nc", env=None):
    """The bundle the cluster stages make of man (lode plan -w, reproject, package, in
    tdir/work): its path."""
    work = os.path.join(tdir, "work")
    out = os.path.join(tdir, name)
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir, env=env)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env=env)
    lode_ok(ctx, ["package", "-w", work, "-o", out, "-q"], tdir, env=env)
    return out


def same_bundle_digest(a, b):
    """Do bundles a and b carry the same bundle digest (h5py)?"""
    import h5py
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        return h5_attr(x.attrs["lode_bundle_sha256"]) == h5_attr(y.attrs["lode_bundle_sha256"])


def bundles_same_for_threads(ctx, tdir, man, threads=(1, 2, 3)):
    """lode run of man with each -j: every bundle verifies, and all are byte-identical
    (cmp).  Returns the last bundle's path."""
    outs = []
    for j in threads:
        out = os.path.join(tdir, "b%d.nc" % j)
        r = lode(ctx, ["run", man, "-o", out, "-q", "-j", str(j)], tdir)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        v = lode(ctx, ["verify", out, "-q"], tdir)
        assert v.rc == 0, v.brief()
        outs.append(open(out, "rb").read())
    assert all(o == outs[0] for o in outs), "bundles differ between -j %s" % (threads,)
    return out


# --------------------------------------------------------------------------- manifests

def _yscalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yscalar(x) for x in v) + "]"
    if isinstance(v, dict):  # a flow mapping on one line, e.g. a dataset's policy
        return "{" + ", ".join("%s: %s" % (k, _yscalar(x)) for k, x in v.items()) + "}"
    return json.dumps(str(v))  # a double-quoted YAML scalar


def manifest_text(target, datasets, policy=None, bundle=None):
    """YAML text in the order of the spec; one key per line so line numbers are known."""
    b = bundle or {"title": "lode e2e test", "summary": "end-to-end test bundle",
                   "institution": "lode tests", "license": "CC0-1.0"}
    lines = ["bundle:"]
    lines += ["  %s: %s" % (k, _yscalar(v)) for k, v in b.items()]
    lines.append("target:")
    lines += ["  %s: %s" % (k, _yscalar(v)) for k, v in target.items()]
    if policy is not None:
        lines.append("policy:")
        lines += ["  %s: %s" % (k, _yscalar(v)) for k, v in policy.items()]
    lines.append("datasets:")
    for d in datasets:
        first = True
        for k, v in d.items():
            lines.append(("  - " if first else "    ") + "%s: %s" % (k, _yscalar(v)))
            first = False
    return "\n".join(lines) + "\n"


def write_manifest(path, target, datasets, policy=None, bundle=None):
    txt = manifest_text(target, datasets, policy, bundle)
    with open(path, "w") as f:
        f.write(txt)
    return txt


# --------------------------------------------------------------------------- geometry

def srs_from(text):
    s = osr.SpatialReference()
    s.SetFromUserInput(text)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def footprint(path, crs, assume=None):
    """Bounds of a raster's footprint in crs (x first), from densified edges."""
    ds = gdal.Open(path)
    gt = ds.GetGeoTransform()
    nx, ny = ds.RasterXSize, ds.RasterYSize
    wkt = ds.GetProjection() or None
    src = srs_from(assume) if assume else srs_from(wkt)
    ct = osr.CoordinateTransformation(src, srs_from(crs))
    pts = []
    for t in np.linspace(0, 1, 21):
        for px, py in ((t * nx, 0), (t * nx, ny), (0, t * ny), (nx, t * ny)):
            pts.append((gt[0] + px * gt[1] + py * gt[2], gt[3] + px * gt[4] + py * gt[5]))
    out = [ct.TransformPoint(x, y)[:2] for x, y in pts]
    xs = [p[0] for p in out]
    ys = [p[1] for p in out]
    return min(xs), min(ys), max(xs), max(ys), (max(xs) - min(xs)) / nx


def nice(v):
    e = math.floor(math.log10(v))
    m = v / 10 ** e
    for c in (1, 2, 2.5, 5, 10):
        if m <= c * 1.2:
            return round(c * 10 ** e, 12)
    return round(10 ** (e + 1), 12)


def make_target(crs, paths, res=None, margin=4, max_pixels=450 * 450, shrink=0.0,
                assume=None, error_threshold=None):
    """A target grid covering the union of the sources' footprints (plus a margin of
    pixels, so there is nodata at the edges), or shrunk inside them."""
    fps = [footprint(p, crs, assume) for p in paths]
    xmin = min(f[0] for f in fps)
    ymin = min(f[1] for f in fps)
    xmax = max(f[2] for f in fps)
    ymax = max(f[3] for f in fps)
    if shrink:
        dx, dy = (xmax - xmin) * shrink, (ymax - ymin) * shrink
        xmin, xmax, ymin, ymax = xmin + dx, xmax - dx, ymin + dy, ymax - dy
    if res is None:
        res = nice(min(f[4] for f in fps))
        while (xmax - xmin) / res * (ymax - ymin) / res > max_pixels:
            res = nice(res * 1.5)
    k0 = math.floor(xmin / res) - margin
    k1 = math.ceil(xmax / res) + margin
    j0 = math.floor(ymin / res) - margin
    j1 = math.ceil(ymax / res) + margin
    t = {"crs": crs,
         "bounds": [round(k0 * res, 10), round(j0 * res, 10), round(k1 * res, 10),
                    round(j1 * res, 10)],
         "resolution": res}
    if error_threshold is not None:
        t["error_threshold"] = error_threshold
    return t


# --------------------------------------------------------------------------- gdalwarp

def gdalwarp_ref(ctx, tdir, target, d, out, et=None, ct=None, extra=(), of="GTiff", env=None):
    """Run gdalwarp the way the spec defines a dataset's output grid. d: a dataset dict
    of the manifest (source paths relative to tdir allowed)."""
    src = d["source"]
    if not os.path.isabs(src):
        src = os.path.join(tdir, src)
    if d.get("bands"):
        vrt = out + ".bands.vrt"
        cmd = ["gdal_translate", "-q", "-of", "VRT"]
        for b in d["bands"]:
            cmd += ["-b", b]
        tool(cmd + [src, vrt], ctx, env=env)
        src = vrt
    res = target["resolution"]
    if "resolution" in d:
        res = d["resolution"]
    xres, yres = (res, res) if not isinstance(res, (list, tuple)) else res
    if et is None:
        et = d.get("error_threshold", target.get("error_threshold", 0.125))
    b = target["bounds"]
    cmd = ["gdalwarp", "-q", "-overwrite", "-of", of, "-t_srs", target["crs"],
           "-te", repr(b[0]), repr(b[1]), repr(b[2]), repr(b[3]),
           "-tr", repr(float(xres)), repr(float(yres)),
           "-r", d.get("resampling", "nearest"), "-et", repr(float(et))]
    if d.get("assume_crs"):
        cmd += ["-s_srs", d["assume_crs"]]
    if d.get("nodata") is not None:
        cmd += ["-srcnodata", repr(d["nodata"]), "-dstnodata", repr(d["nodata"])]
    if ct:
        cmd += ["-ct", ct]
    cmd += list(extra) + [src, out]
    tool(cmd, ctx, cwd=tdir, env=env)
    return out


# --------------------------------------------------------------------------- rasters

def nc_name(bundle, name):
    return 'NETCDF:"%s":/%s/%s' % (bundle, name, name)


def read_raster(name):
    """(array (bands, y, x) float64, mask of nodata (bands, y, x), nodata list, info)."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        ds = gdal.Open(name)
    finally:
        gdal.PopErrorHandler()
    arrs, masks, nds = [], [], []
    for i in range(1, ds.RasterCount + 1):
        b = ds.GetRasterBand(i)
        a = b.ReadAsArray().astype(np.float64)
        nd = b.GetNoDataValue()
        m = np.zeros(a.shape, bool) if nd is None else (
            np.isnan(a) if isinstance(nd, float) and math.isnan(nd) else a == nd)
        m |= np.isnan(a)
        arrs.append(a)
        masks.append(m)
        nds.append(nd)
    info = {"gt": ds.GetGeoTransform(), "wkt": ds.GetProjection(),
            "type": gdal.GetDataTypeName(ds.GetRasterBand(1).DataType),
            "count": ds.RasterCount, "size": (ds.RasterXSize, ds.RasterYSize)}
    return np.stack(arrs), np.stack(masks), nds, info


def gdalinfo_json(ctx, name, problems=None):
    """gdalinfo -json; warning/error lines on stderr are appended to problems (or raised
    when problems is None)."""
    r = tool(["gdalinfo", "-json", name], ctx)
    # GDAL 3.6's netCDF driver warns about any extra dimension that is neither time nor
    # vertical, or that has no coordinate variable, so a (band, y, x) variable always
    # draws one of these: not the bundle's fault.
    bad = [l for l in r.err.splitlines() if re.search(r"warning|error", l, re.I)
           and not re.search(r"dimension #0 \(band\) is not a Time or Vertical"
                             r"|(No|Several) 1D variables? (is|are) indexed by dimension band", l)]
    if bad:
        msg = "gdalinfo %s stderr: %s" % (name, " | ".join(bad)[:500])
        if problems is None:
            raise AssertionError(msg)
        problems.append(msg)
    return json.loads(r.out)


def same_crs(wkt_a, wkt_b):
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


def compare_pixels(label, a, b, exact=True, bound=0.0, mask_ok=None):
    """a, b: (arr, mask, nodata, info) from read_raster. Returns max abs diff over pixels
    valid in both. exact: values equal and masks equal. Otherwise diff <= bound and masks
    equal where mask_ok (a boolean array) is true."""
    aa, am = a[0], a[1]
    ba, bm = b[0], b[1]
    assert aa.shape == ba.shape, "%s: shape %s != reference %s" % (label, aa.shape, ba.shape)
    if mask_ok is None:
        mask_ok = np.ones(am.shape, bool)
    mm = (am != bm) & mask_ok
    if mm.any():
        idx = tuple(int(i[0]) for i in np.nonzero(mm))
        raise AssertionError("%s: nodata mask differs at %d pixels (first band,row,col=%s: "
                             "lode %s, gdalwarp %s)" % (label, int(mm.sum()), idx,
                                                        aa[idx], ba[idx]))
    valid = ~am & ~bm
    d = np.abs(aa - ba)[valid]
    mx = float(d.max()) if d.size else 0.0
    lim = 0.0 if exact else bound
    if mx > lim:
        where = np.argwhere((np.abs(aa - ba) > lim) & valid)
        idx = tuple(int(i) for i in where[0])
        raise AssertionError("%s: max |lode - gdalwarp| = %g > %g at %d pixels (first %s: "
                             "lode %r, gdalwarp %r)" % (label, mx, lim, len(where), idx,
                                                        aa[idx], ba[idx]))
    return mx


# --------------------------------------------------------------------------- bundles

def h5_attr(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.size == 1:
        return h5_attr(v.reshape(-1)[0])
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.reshape(-1)[0].item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def bundle_attrs(bundle, path="/"):
    import h5py
    with h5py.File(bundle, "r") as f:
        return {k: h5_attr(v) for k, v in f[path].attrs.items()}


def lineage(bundle, name):
    a = bundle_attrs(bundle, "/%s/%s" % (name, name))
    assert "lode_lineage" in a, "/%s/%s has no lode_lineage attribute" % (name, name)
    try:
        return json.loads(a["lode_lineage"])
    except ValueError as e:
        raise AssertionError("/%s/%s lode_lineage is not JSON: %s" % (name, name, e))


def pipeline_of(bundle, name):
    lin = lineage(bundle, name)
    op = lin.get("operation") or {}
    p = op.get("proj_pipeline")
    assert p is None or isinstance(p, str), "operation.proj_pipeline is %r" % (p,)
    return p or None


def leftovers(folder, bundle_name):
    """Files in folder that a failed run must not leave: the bundle or temp files."""
    return sorted(f for f in os.listdir(folder)
                  if f == bundle_name or f.startswith("." + bundle_name) or ".tmp" in f)


def projinfo_first(ctx, src, dst, bbox=None, env=None):
    """First operation projinfo lists from src to dst (grids missing discarded):
    dict(name_line, pipeline, accuracy (float or None), ballpark)."""
    cmd = ["projinfo", "-s", src, "-t", dst, "-o", "PROJ", "--single-line",
           "--grid-check", "discard_missing", "--spatial-test", "intersects"]
    if bbox:
        cmd += ["--bbox", ",".join(repr(v) for v in bbox)]
    r = tool(cmd, ctx, env=env)
    blocks = r.out.split("Operation No. ")
    if len(blocks) < 2:
        return None
    blk = blocks[1]
    lines = [l for l in blk.splitlines() if l.strip()]
    desc = lines[1]
    pipe = None
    for i, l in enumerate(lines):
        if l.startswith("PROJ string:"):
            pipe = lines[i + 1].strip()
    m = re.search(r", ([0-9.]+) m,", desc)
    return {"desc": desc, "pipeline": pipe, "accuracy": float(m.group(1)) if m else None,
            "ballpark": "ballpark" in desc}


def norm_pipe(p):
    return " ".join(p.split()) if p else p


def wgs84_bbox(path, assume=None):
    f = footprint(path, "EPSG:4326", assume)
    return f[:4]
