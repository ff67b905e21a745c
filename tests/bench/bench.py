#!/usr/bin/python3
"""lode benchmark (issue 5): lode run against gdalwarp and ogr2ogr.

Usage: tests/bench/bench.py [--lode build/lode] [--workdir build/bench]

Run through `make bench`. Environment (all optional; the defaults are the issue's sizes):

  BENCH_SIZES     comma-separated raster sizes, e.g. "1000,500"   (default "12000,4000")
  BENCH_REPEAT    timed runs of each tool and size, alternating   (default 3, at least 1)
  BENCH_POINTS    number of points in the point layer             (default 1000000)
  BENCH_POLYGONS  number of polygons (~50 vertices each)          (default 50000)
  BENCH_SKIP      comma-separated parts to skip: raster, vector, profile, report (lode report
                  on each raster bundle), receive, methods (every resampling method x source
                  type, issue 19: tests/bench/bench_methods.py, with its own BENCH_METHODS_* knobs),
                  kinds (issue 19: a table with list fields and XYZM lines against ogr2ogr, per
                  value against the points and polygons: tests/bench/bench_kinds.py, with its
                  knobs BENCH_TABLE_ROWS, default 1000000, and BENCH_XYZM_LINES, default 100000)
  BENCH_RECEIVE_SIZE  the receiving side's N x N Float32 bundle (default 6000): lode verify
                  and lode extract against openssl sha256, sha256sum, gdal_translate and
                  ogr2ogr (from the bundle), with the points layer when it is made

Inputs are generated deterministically (fixed seeds, numpy, a strip at a time so memory
stays small) into WORKDIR and reused when they already exist (delete them to regenerate).
Every tool runs in this process tree under /usr/bin/time; wall time from a monotonic clock,
CPU time (user + sys) and peak RSS (ru_maxrss) from the rusage that time's wait4 reports.
The results also go to WORKDIR/results.json.
"""

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

SEED = 20240605
SRC_EPSG = 3375          # GDM2000 / Peninsular RSO
VEC_EPSG = 4742          # GDM2000 geographic
# The raster survey area in EPSG:3375 metres: 300 km x 300 km over central Peninsular
# Malaysia (about 100.8-103.5 E, 2.7-5.4 N). An N x N grid has pixels of 300000/N m.
X0, Y0, EXTENT = 300000.0, 600000.0, 300000.0
# Target pixel size for the 12000 grid (about 25 m); an N grid gets 0.000225 * 12000 / N.
DST_RES_12000 = 0.000225
NODATA = -99999.0
STRIP = 256              # rows generated at a time (a multiple of the 256-pixel tiles)


def log(msg=""):
    print(msg, flush=True)


def env_int(name, default, minimum=0):
    v = os.environ.get(name, "").strip()
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        sys.exit("bench: %s must be an integer, not %r" % (name, v))
    if n < minimum:
        sys.exit("bench: %s must be at least %d" % (name, minimum))
    return n


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def fmt_bytes(n):
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= k:
            return "%.1f %s" % (n / k, unit)
    return "%d B" % n


def mb(n):
    return n / 1e6


# --- the machine ----------------------------------------------------------------------

def cmd_out(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        return r.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e


def machine(lode):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / (1 << 20))
                    break
    except OSError:
        pass
    proj = "%d.%d.%d" % (osr.GetPROJVersionMajor(), osr.GetPROJVersionMinor(),
                         osr.GetPROJVersionMicro())
    hdf5 = cmd_out(["pkg-config", "--modversion", "hdf5"])
    try:
        import h5py
        hdf5_py = h5py.version.hdf5_version
    except Exception:  # noqa: BLE001 - only for the report
        hdf5_py = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "gdal": gdal.VersionInfo("RELEASE_NAME"),
        "proj": proj,
        "hdf5": hdf5 + ("" if not hdf5_py or hdf5_py == hdf5 else " (h5py: %s)" % hdf5_py),
        "lode": cmd_out([lode, "--version"]) + ", commit " + cmd_out(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always",
             "--dirty"]),
        "gdalwarp": cmd_out(["gdalwarp", "--version"]),
    }


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


# --- running and measuring one child ------------------------------------------------

TIME = "/usr/bin/time"


def measure(cmd, env=None, cwd=None, out_path=None, check=True):
    """Run cmd as a grandchild under /usr/bin/time; return wall, cpu, rss and its stderr.

    Linux carries a process's peak RSS across exec, so a child forked straight from this
    (large) Python process would report at least Python's own RSS. /usr/bin/time is small:
    the command it forks reports its own peak, which time reads with wait4."""
    if out_path and os.path.exists(out_path):
        os.remove(out_path)
    errf = open(os.path.join(WORK, ".stderr"), "w+")
    rus = os.path.join(WORK, ".rusage")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    p = subprocess.Popen([TIME, "-o", rus, "-f", "%x %U %S %M"] + cmd,
                         stdout=subprocess.DEVNULL, stderr=errf, env=full_env, cwd=cwd)
    p.wait()
    wall = time.monotonic() - t0
    errf.seek(0)
    err = errf.read()
    errf.close()
    with open(rus) as f:
        last = f.read().strip().splitlines()[-1].split()
    rc, user, sys_, rss_kb = int(last[0]), float(last[1]), float(last[2]), int(last[3])
    if check and (p.returncode != 0 or rc != 0):
        sys.exit("bench: failed (exit %d): %s\n%s" % (rc or p.returncode, shlex.join(cmd),
                                                      err[-4000:]))
    return {
        "wall_s": wall,
        "cpu_s": user + sys_,
        "user_s": user,
        "sys_s": sys_,
        "rss_mb": rss_kb / 1024.0,           # %M: ru_maxrss, kB on Linux
        "size": os.path.getsize(out_path) if out_path and os.path.exists(out_path) else None,
        "stderr": err,
        "rc": rc,
    }


def summarize(runs):
    return {
        "wall_s": statistics.median(r["wall_s"] for r in runs),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "size": runs[-1]["size"],
        "walls": [round(r["wall_s"], 2) for r in runs],
    }


def alternate(tools, repeat):
    """tools: list of (label, fn) where fn() returns a measure() result. Runs them in turn,
    repeat rounds; returns {label: [results]}."""
    res = {label: [] for label, _ in tools}
    for i in range(repeat):
        for label, fn in tools:
            r = fn()
            res[label].append(r)
            log("  round %d  %-22s %7.2f s wall  %7.2f s cpu  %7.1f MB rss  %s" % (
                i + 1, label, r["wall_s"], r["cpu_s"], r["rss_mb"],
                fmt_bytes(r["size"]) if r["size"] is not None else "-"))
    return {k: summarize(v) for k, v in res.items()}


def warm(path):
    """Read a file once so every timed run finds it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# --- raster input ---------------------------------------------------------------------

# Magnetic bodies: (x, y) in EPSG:3375 metres, width in metres, amplitude in nT.
def bodies():
    rng = np.random.default_rng(SEED)
    n = 60
    bx = rng.uniform(X0, X0 + EXTENT, n)
    by = rng.uniform(Y0 - EXTENT, Y0, n)
    bw = rng.uniform(1500.0, 15000.0, n)
    ba = rng.uniform(-250.0, 450.0, n)
    return list(zip(bx, by, bw, ba))


# No coverage: rectangles (restricted airspace, sea) and discs (towns), as fractions of
# the extent, so every size has the same holes.
RECTS = [(0.00, 0.00, 0.18, 0.06), (0.80, 0.55, 1.00, 0.75), (0.40, 0.30, 0.47, 0.36),
         (0.05, 0.90, 0.30, 1.00)]
DISCS = [(0.30, 0.70, 0.025), (0.62, 0.22, 0.04), (0.85, 0.15, 0.015), (0.15, 0.45, 0.03)]


def grid_strip(n, r0, r1, blist):
    """Rows r0..r1-1 of the N x N field (Float32), deterministic for any strip size."""
    res = EXTENT / n
    x = X0 + (np.arange(n) + 0.5) * res                   # easting of each column
    y = Y0 - (np.arange(r0, r1) + 0.5) * res              # northing of each row
    # Regional field and gradient.
    f = np.full((r1 - r0, n), 41200.0)
    f += ((x - 450000.0) * 0.0015)[None, :]
    f += ((y - 450000.0) * 0.0025)[:, None]
    # A NNW-striking fabric, separable: sin(ax + by) = sin(ax)cos(by) + cos(ax)sin(by).
    for lam, amp in ((23000.0, 35.0), (7100.0, 12.0)):
        a, b = 2 * math.pi / lam * math.cos(0.35), 2 * math.pi / lam * math.sin(0.35)
        f += amp * np.outer(np.cos(b * y), np.sin(a * x))
        f += amp * np.outer(np.sin(b * y), np.cos(a * x))
    # Dipole-like anomalies (a low and a weaker high to the north at low magnetic
    # latitude), separable Gaussians; bodies far from these rows are skipped.
    for bx, by, bw, ba in blist:
        for dy, s in ((-0.6 * bw, -1.0), (0.9 * bw, 0.45)):
            ey = np.exp(-((y - (by + dy)) / bw) ** 2)
            if ey.max() < 1e-6:
                continue
            ex = np.exp(-((x - bx) / bw) ** 2)
            f += (s * ba) * np.outer(ey, ex)
    # Line noise and white noise, rounded to 0.01 nT: a fresh stream per row block of 256,
    # so the values do not depend on how many rows are made at a time.
    out = np.empty((r1 - r0, n), dtype=np.float32)
    for b0 in range(r0 - r0 % 256, r1, 256):
        rng = np.random.default_rng([SEED, n, b0])
        noise = rng.standard_normal((256, n), dtype=np.float32) * np.float32(0.8)
        lo, hi = max(b0, r0), min(b0 + 256, r1)
        out[lo - r0:hi - r0] = f[lo - r0:hi - r0] + noise[lo - b0:hi - b0]
    np.round(out, 2, out=out)
    # Holes without coverage.
    for fx0, fy0, fx1, fy1 in RECTS:
        c0, c1 = int(fx0 * n), int(fx1 * n)
        rr0, rr1 = max(int(fy0 * n), r0), min(int(fy1 * n), r1)
        if rr0 < rr1:
            out[rr0 - r0:rr1 - r0, c0:c1] = NODATA
    cols = (np.arange(n) + 0.5) / n
    rows = (np.arange(r0, r1) + 0.5) / n
    for cx, cy, rad in DISCS:
        dy2 = (rows - cy) ** 2
        if dy2.min() >= rad * rad:
            continue
        m = dy2[:, None] + ((cols - cx) ** 2)[None, :] < rad * rad
        out[m] = NODATA
    # The survey's ragged edge on the east: flight lines of uneven length.
    rng = np.random.default_rng([SEED, n, 7])
    ends = (n * (0.93 + 0.07 * rng.random(n))).astype(int)
    for i, r in enumerate(range(r0, r1)):
        out[i, ends[r]:] = NODATA
    return out


def make_grid(path, n, noise=0.0):
    """The synthetic aeromagnetic grid; with noise > 0, as a residual anomaly (the total
    field less 41,400 nT) with Gaussian noise of that standard deviation (nT), seeded by
    strip: a grid that compresses as poorly as measured data (the issue's 101 MB bundle
    of a 6000 x 6000 grid)."""
    if os.path.exists(path):
        return False
    tmp = path + ".tmp.tif"
    res = EXTENT / n
    gdal.SetCacheMax(64 << 20)    # GDAL's default cache (5% of RAM) would hold the tiles
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(tmp, n, n, 1, gdal.GDT_Float32,
                    ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
                     "PREDICTOR=3", "ZLEVEL=6", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"])
    ds.SetGeoTransform((X0, res, 0.0, Y0, 0.0, -res))
    ds.SetSpatialRef(srs(SRC_EPSG))
    ds.SetMetadataItem("TIFFTAG_IMAGEDESCRIPTION",
                       "synthetic aeromagnetic grid for the lode benchmark (not survey data)")
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(NODATA)
    band.SetDescription("total magnetic intensity")
    band.SetUnitType("nT")
    blist = bodies()
    for r0 in range(0, n, STRIP):
        r1 = min(r0 + STRIP, n)
        a = grid_strip(n, r0, r1, blist)
        if noise > 0:
            rng = np.random.default_rng(r0)
            a = np.where(a == NODATA, a, a - 41400.0 + rng.normal(0.0, noise, a.shape))
            a = a.astype(np.float32)
        band.WriteArray(a, 0, r0)
    ds.FlushCache()
    ds = None
    os.rename(tmp, path)
    return True


def dst_grid(n):
    """Target bounds (snapped outward to the pixel size) and pixel size, in EPSG:4326."""
    res = round(DST_RES_12000 * 12000 / n, 12)
    ct = osr.CoordinateTransformation(srs(SRC_EPSG), srs(4326))
    t = np.linspace(0.0, 1.0, 201)
    pts = []
    for u in t:
        pts += [(X0 + u * EXTENT, Y0), (X0 + u * EXTENT, Y0 - EXTENT),
                (X0, Y0 - u * EXTENT), (X0 + EXTENT, Y0 - u * EXTENT)]
    out = ct.TransformPoints(pts)
    xs = [p[0] for p in out]
    ys = [p[1] for p in out]
    b = [math.floor(min(xs) / res) * res, math.floor(min(ys) / res) * res,
         math.ceil(max(xs) / res) * res, math.ceil(max(ys) / res) * res]
    return ["%.9f" % v for v in b], "%.12g" % res


def write_manifest(path, bounds, res, datasets):
    lines = ["bundle:",
             "  title: lode benchmark (synthetic data, tests/bench/bench.py)",
             "target:",
             "  crs: EPSG:4326",
             "  bounds: [%s]" % ", ".join(bounds),
             "  resolution: %s" % res,
             "policy:",
             "  # GDM2000 to WGS 84 is only a ballpark operation in PROJ 9.1's database.",
             "  allow_ballpark: true",
             "datasets:"]
    for name, src, extra in datasets:
        lines += ["  - name: %s" % name, "    source: %s" % src]
        lines += ["    %s" % e for e in extra]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lode_pipeline(lode, manifest):
    r = subprocess.run([lode, "plan", manifest, "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("bench: lode plan %s failed:\n%s" % (manifest, r.stderr))
    plan = json.loads(r.stdout)
    return plan["datasets"][0]["operation"]["proj_pipeline"], plan


# --- comparing the two rasters ---------------------------------------------------------

def compare_rasters(lode_ds_name, gw_path):
    a = gdal.Open(lode_ds_name)
    b = gdal.Open(gw_path)
    res = {
        "lode_size": [a.RasterXSize, a.RasterYSize],
        "gdalwarp_size": [b.RasterXSize, b.RasterYSize],
        "lode_gt": list(a.GetGeoTransform()),
        "gdalwarp_gt": list(b.GetGeoTransform()),
    }
    res["same_size"] = res["lode_size"] == res["gdalwarp_size"]
    res["same_gt"] = all(abs(p - q) <= 1e-9 * max(1.0, abs(p))
                         for p, q in zip(res["lode_gt"], res["gdalwarp_gt"]))
    if not res["same_size"]:
        return res
    ba, bb = a.GetRasterBand(1), b.GetRasterBand(1)
    na, nb = ba.GetNoDataValue(), bb.GetNoDataValue()
    res["lode_nodata"], res["gdalwarp_nodata"] = na, nb
    by = ba.GetBlockSize()[1] or 512
    step = max(by, (1 << 24) // max(1, a.RasterXSize * 4) // by * by)
    maxdiff, nmask, ndiff, nvalid, sumsq = 0.0, 0, 0, 0, 0.0
    where = None
    for y0 in range(0, a.RasterYSize, step):
        h = min(step, a.RasterYSize - y0)
        va = ba.ReadAsArray(0, y0, a.RasterXSize, h).astype(np.float64)
        vb = bb.ReadAsArray(0, y0, b.RasterXSize, h).astype(np.float64)
        ma = (va == na) if na is not None else np.zeros(va.shape, bool)
        mb_ = (vb == nb) if nb is not None else np.zeros(vb.shape, bool)
        ma |= np.isnan(va)
        mb_ |= np.isnan(vb)
        nmask += int(np.count_nonzero(ma != mb_))
        ok = ~ma & ~mb_
        d = np.abs(va - vb)[ok]
        nvalid += d.size
        if d.size:
            ndiff += int(np.count_nonzero(d > 0))
            sumsq += float(np.sum(d * d))
            m = float(d.max())
            if m > maxdiff:
                maxdiff = m
                full = np.where(ok, np.abs(va - vb), -1.0)
                iy, ix = np.unravel_index(np.argmax(full), full.shape)
                where = [int(ix), int(y0 + iy)]
    res.update({"max_abs_diff": maxdiff, "max_at_col_row": where,
                "rms_diff": math.sqrt(sumsq / nvalid) if nvalid else 0.0,
                "valid_pixels": nvalid, "differing_pixels": ndiff,
                "differing_nodata_masks": nmask})
    return res


# --- vector input ---------------------------------------------------------------------

def csv_to_gpkg(csv_path, csvt, gpkg, layer, gtype, epsg=VEC_EPSG):
    with open(csv_path + "t", "w") as f:          # x.csv -> x.csvt, the column types
        f.write(csvt + "\n")
    tmp = gpkg + ".tmp.gpkg"
    if os.path.exists(tmp):
        os.remove(tmp)
    env = dict(os.environ, OGR_CURRENT_DATE="2024-06-01T00:00:00.000Z")
    subprocess.run(["ogr2ogr", "-q", "-f", "GPKG", tmp, csv_path, "-a_srs", "EPSG:%d" % epsg,
                    "-nln", layer, "-nlt", gtype, "-oo", "KEEP_GEOM_COLUMNS=NO",
                    "-oo", "GEOM_POSSIBLE_NAMES=wkt", "-gt", "65536"], check=True, env=env)
    os.rename(tmp, gpkg)
    os.remove(csv_path)
    os.remove(csv_path + "t")


def make_points(path, n):
    if os.path.exists(path):
        return False
    rng = np.random.default_rng([SEED, 1, n])
    lon = np.round(rng.uniform(100.3, 104.2, n), 7)
    lat = np.round(rng.uniform(1.4, 6.6, n), 7)
    depth = np.round(rng.gamma(2.0, 40.0, n), 3)
    day = rng.integers(0, 365 * 40, n)                      # days after 1980-01-01
    dates = (np.datetime64("1980-01-01") + day.astype("timedelta64[D]")).astype(str)
    big = rng.integers(5_000_000_000, 9_000_000_000_000, n)
    lab = rng.integers(0, 26, (n, 3))
    csv_path = path[:-5] + ".csv"
    with open(csv_path, "w") as f:
        f.write("sample_id,depth_m,sample_code,sampled,assay_batch,wkt\n")
        step = 100_000
        for s in range(0, n, step):
            e = min(s + step, n)
            rows = []
            for i in range(s, e):
                # Every 50th depth and every 97th date is null (an empty CSV value).
                rows.append("%d,%s,%s-%c%c%c-%06d,%s,%d,POINT (%.7f %.7f)\n" % (
                    i + 1, "" if i % 50 == 7 else repr(float(depth[i])),
                    "MY", 65 + lab[i, 0], 65 + lab[i, 1], 65 + lab[i, 2], i % 1000000,
                    "" if i % 97 == 3 else dates[i], big[i], lon[i], lat[i]))
            f.writelines(rows)
    csv_to_gpkg(csv_path, "Integer,Real,String,Date,Integer64,WKT", path, "samples", "POINT")
    return True


def make_polygons(path, n, nvert=50):
    if os.path.exists(path):
        return False
    rng = np.random.default_rng([SEED, 2, n])
    cx = rng.uniform(100.4, 104.1, n)
    cy = rng.uniform(1.5, 6.5, n)
    rad = rng.uniform(0.002, 0.02, n)
    ang = np.linspace(0.0, 2 * math.pi, nvert, endpoint=False)
    codes = ["Gr", "Al", "Sk", "Fl", "Bk", "Bp", "Tf", "Sp"]
    csv_path = path[:-5] + ".csv"
    with open(csv_path, "w") as f:
        f.write("unit_id,unit_code,area_ha,wkt\n")
        for s in range(0, n, 5000):
            e = min(s + 5000, n)
            # Star-shaped rings (radius jitter): simple, closed, counter-clockwise.
            r = rad[s:e, None] * (1.0 + 0.25 * rng.uniform(-1.0, 1.0, (e - s, nvert)))
            xs = np.round(cx[s:e, None] + r * np.cos(ang)[None, :], 7)
            ys = np.round(cy[s:e, None] + r * np.sin(ang)[None, :], 7)
            rows = []
            for k in range(e - s):
                pts = ["%.7f %.7f" % (xs[k, j], ys[k, j]) for j in range(nvert)]
                pts.append(pts[0])
                area = 0.5 * abs(np.dot(xs[k], np.roll(ys[k], 1)) - np.dot(ys[k], np.roll(xs[k], 1)))
                rows.append('%d,%s,%.3f,"POLYGON ((%s))"\n' % (
                    s + k + 1, codes[(s + k) % len(codes)], area * 111.32 ** 2 * 100.0,
                    ", ".join(pts)))
            f.writelines(rows)
    csv_to_gpkg(csv_path, "Integer,String,Real,WKT", path, "units", "POLYGON")
    return True


def ogr_count(path, layer=None):
    try:
        ds = ogr.Open(path)
        lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
        return lyr.GetFeatureCount()
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return "error: %s" % e


def lode_counts(lode, bundle):
    r = subprocess.run([lode, "ls", bundle, "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return {}
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        return {}
    out = {}
    items = doc.get("datasets", doc) if isinstance(doc, dict) else doc
    for d in items if isinstance(items, list) else []:
        if isinstance(d, dict) and "feature_count" in d:
            out[d.get("name")] = d["feature_count"]
    return out


# --- the receiving side (issue 19): verify and extract against sha256 and GDAL --------

def receive_bundle(lode, n, tag, noise=0.0):
    """The receiving side's bundle of the N x N grid (its own CRS, no warp), made once."""
    src = os.path.join(WORK, "tmi_%s%d.tif" % (tag, n))
    t0 = time.monotonic()
    made = make_grid(src, n, noise)
    log("  %s  %d x %d Float32 EPSG:%d%s%s" % (
        os.path.basename(src), n, n, SRC_EPSG, ", noise %.0f nT" % noise if noise else "",
        "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))
    bundle = os.path.join(WORK, "receive_%s%d.nc" % (tag, n))
    if not os.path.exists(bundle):
        man = os.path.join(WORK, "receive_%s%d.yaml" % (tag, n))
        with open(man, "w") as f:
            f.write("bundle:\n  title: lode benchmark, receiving side (synthetic data)\n"
                    "target:\n  crs: EPSG:%d\n  bounds: [%.1f, %.1f, %.1f, %.1f]\n"
                    "  resolution: %.12g\ndatasets:\n  - name: tmi\n    source: %s\n" % (
                        SRC_EPSG, X0, Y0 - EXTENT, X0 + EXTENT, Y0, EXTENT / n,
                        os.path.basename(src)))
        measure([lode, "run", man, "-o", bundle + ".tmp.nc", "-q"], cwd=WORK)
        os.rename(bundle + ".tmp.nc", bundle)
    return bundle


def receive_part(lode, m, n, vec, repeat, out, results):
    """lode verify and lode extract of an N x N Float32 bundle (the grid in its own CRS, no
    warp) and of a vector bundle, side by side with SHA-256 of the bundle (openssl, which
    uses the CPU's SHA instructions as lode does, and sha256sum), gdal_translate to a
    deflate GeoTIFF and ogr2ogr to a GeoPackage from the same bundle."""
    log("\n== receiving side (issue 19): lode verify and lode extract")
    bundle = receive_bundle(lode, n, "")
    # The case: a 6000 x 6000 grid whose bundle is about 100 MB (noise compresses
    # poorly), for verify's MB/s.
    noisy = receive_bundle(lode, n, "noisy15_", 15.0)
    size, nsize = os.path.getsize(bundle), os.path.getsize(noisy)
    raw = n * n * 4
    for p, s in ((bundle, size), (noisy, nsize)):
        log("  bundle %s: %s (%d x %d Float32 = %s of values)" % (
            os.path.basename(p), fmt_bytes(s), n, n, fmt_bytes(raw)))
        warm(p)
    xdir = os.path.join(out, "extract")
    os.makedirs(xdir, exist_ok=True)
    x_tif = os.path.join(xdir, "tmi.tif")
    gt_tif = os.path.join(out, "gdal_translate.tif")
    tools = [
        ("lode verify", lambda: measure([lode, "verify", bundle])),
        ("openssl sha256", lambda: measure(["openssl", "dgst", "-sha256", bundle])),
        ("lode verify noisy", lambda: measure([lode, "verify", noisy])),
        ("openssl sha256 noisy", lambda: measure(["openssl", "dgst", "-sha256", noisy])),
        ("sha256sum", lambda: measure(["sha256sum", bundle])),
        ("lode extract", lambda: measure([lode, "extract", bundle, "tmi", "-o", xdir],
                                         out_path=x_tif)),
        ("gdal_translate", lambda: measure(
            ["gdal_translate", "-q", "-co", "COMPRESS=DEFLATE", "-co", "TILED=YES",
             'NETCDF:"%s":/tmi/tmi' % bundle, gt_tif], out_path=gt_tif)),
    ]
    load0 = loadavg()
    summ = alternate(tools, repeat)
    # The same bytes on one core (taskset): no decoding threads, no GDAL threads.
    one = os.path.join(out, "extract_one_core")
    os.makedirs(one, exist_ok=True)
    measure(["taskset", "-c", "0", lode, "extract", bundle, "tmi", "-o", one],
            out_path=os.path.join(one, "tmi.tif"))
    with open(x_tif, "rb") as a, open(os.path.join(one, "tmi.tif"), "rb") as b:
        same = a.read() == b.read()
    os.remove(os.path.join(one, "tmi.tif"))
    r = {"bundle_size": size, "noisy_bundle_size": nsize, "values_size": raw, "figures": summ,
         "extract_same_on_one_core": same,
         "load_before": load0, "load_after": loadavg()}
    log("\n" + table([fig_row(k, v) for k, v in summ.items()], FIG_HEAD))
    v, o = summ["lode verify"], summ["openssl sha256"]
    log("\n  lode verify: %.0f MB/s of bundle (%.0f MB/s of values); openssl sha256 of the "
        "bundle %.0f MB/s; verify / openssl wall %.2f, CPU %.2f" % (
            size / 1e6 / v["wall_s"], raw / 1e6 / v["wall_s"], size / 1e6 / o["wall_s"],
            v["wall_s"] / o["wall_s"], v["cpu_s"] / o["cpu_s"] if o["cpu_s"] else float("nan")))
    v, o = summ["lode verify noisy"], summ["openssl sha256 noisy"]
    log("  lode verify of the noisy grid's bundle (%s, the issue's case): %.0f MB/s of bundle; "
        "openssl sha256 %.0f MB/s; verify / openssl wall %.2f" % (
            fmt_bytes(nsize), nsize / 1e6 / v["wall_s"], nsize / 1e6 / o["wall_s"],
            v["wall_s"] / o["wall_s"]))
    x, g = summ["lode extract"], summ["gdal_translate"]
    log("  lode extract / gdal_translate: wall %.2f, CPU %.2f; extract on one core gives the "
        "same bytes: %s" % (x["wall_s"] / g["wall_s"], x["cpu_s"] / g["cpu_s"],
                            "yes" if same else "NO"))
    for p in (x_tif, gt_tif):
        if os.path.exists(p):
            os.remove(p)
    results["receive"] = r
    if vec:
        label, vsrc, layer, count = vec
        vb = os.path.join(WORK, "receive_%s.nc" % label)
        if not os.path.exists(vb):
            man = os.path.join(WORK, "receive_%s.yaml" % label)
            write_manifest(man, ["99.5", "0.5", "105.5", "7.5"], "0.01",
                           [(label, os.path.basename(vsrc), [])])
            measure([lode, "run", man, "-o", vb + ".tmp.nc", "-q"], cwd=WORK)
            os.rename(vb + ".tmp.nc", vb)
        warm(vb)
        x_gpkg = os.path.join(xdir, "%s.gpkg" % label)
        og = os.path.join(out, "ogr2ogr_from_bundle.gpkg")
        log("\n  vector bundle %s: %d features, %s" % (os.path.basename(vb), count,
                                                       fmt_bytes(os.path.getsize(vb))))
        vs = alternate([
            ("lode verify", lambda: measure([lode, "verify", vb])),
            ("lode extract", lambda: measure([lode, "extract", vb, label, "-o", xdir],
                                             out_path=x_gpkg)),
            ("ogr2ogr GPKG", lambda: measure(["ogr2ogr", "-q", "-f", "GPKG", og, vb],
                                             out_path=og))], repeat)
        log("\n" + table([fig_row(k, v2) for k, v2 in vs.items()], FIG_HEAD))
        log("  lode extract / ogr2ogr GPKG from the bundle: wall %.2f, CPU %.2f" % (
            vs["lode extract"]["wall_s"] / vs["ogr2ogr GPKG"]["wall_s"],
            vs["lode extract"]["cpu_s"] / vs["ogr2ogr GPKG"]["cpu_s"]))
        results["receive"]["vector"] = {"label": label, "features": count, "figures": vs,
                                        "bundle_size": os.path.getsize(vb)}
        for p in (x_gpkg, og):
            if os.path.exists(p):
                os.remove(p)


# --- printing -------------------------------------------------------------------------

def table(rows, head):
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
    out = [line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def fig_row(label, s):
    return [label, "%.2f" % s["wall_s"], "%.2f" % s["cpu_s"], "%.0f" % s["rss_mb"],
            fmt_bytes(s["size"]) if s["size"] is not None else "-",
            " ".join("%.2f" % w for w in s["walls"])]


def ratio_row(label, a, b):
    rs = a["size"] / b["size"] if a["size"] and b["size"] else float("nan")
    return [label, "%.2f" % (a["wall_s"] / b["wall_s"]), "%.2f" % (a["cpu_s"] / b["cpu_s"]),
            "%.2f" % (a["rss_mb"] / b["rss_mb"]), "%.2f" % rs]


FIG_HEAD = ["run", "wall s (median)", "CPU s (user+sys)", "peak RSS MB", "output", "each wall s"]
RATIO_HEAD = ["ratio", "wall", "CPU", "peak RSS", "output size"]


# --- main -----------------------------------------------------------------------------

REPORT_MAX_S = 2.0               # issue 17: the page of the 12000 x 12000 bundle in under 2 s
REPORT_MAX_BYTES = 5 * 1024 * 1024  # ... and under 5 MB


def report_figures(lode, bundle, n):
    """lode report on the bundle just made: its wall time, the page's size, and lode
    verify alone (the report verifies first, then reads the quick-looks decimated)."""
    rep = os.path.join(WORK, "out", "report_%d.html" % n)
    warm(bundle)
    r = measure([lode, "report", bundle, "-o", rep, "-q"], out_path=rep)
    v = measure([lode, "verify", bundle, "-q"])
    fig = {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "rss_mb": r["rss_mb"], "size": r["size"],
           "verify_wall_s": v["wall_s"], "beyond_verify_s": r["wall_s"] - v["wall_s"]}
    ok = r["wall_s"] < REPORT_MAX_S and r["size"] < REPORT_MAX_BYTES
    log("  lode report: %.2f s wall (lode verify alone %.2f s, so %.2f s for the page), %.2f MB, "
        "%.0f MB peak RSS: %s (targets < %.0f s, < 5 MB)" % (
            r["wall_s"], v["wall_s"], fig["beyond_verify_s"], r["size"] / 1048576.0, r["rss_mb"],
            "OK" if ok else "OVER", REPORT_MAX_S))
    os.remove(rep)
    return fig


def main():
    global WORK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lode", default="build/lode")
    ap.add_argument("--workdir", default="build/bench")
    args = ap.parse_args()
    lode = os.path.abspath(args.lode)
    WORK = os.path.abspath(args.workdir)
    os.makedirs(os.path.join(WORK, "out"), exist_ok=True)
    out = os.path.join(WORK, "out")
    # lode's cache of PROJ's operation searches: the benchmark's own, empty at the start
    # (the first lode command of each pair of CRSs and extent searches; see
    # bench_methods.py for the runs timed with it off)
    opc = os.path.join(WORK, "operation-cache")
    shutil.rmtree(opc, ignore_errors=True)
    os.environ["LODE_OPERATION_CACHE"] = opc

    sizes_s = os.environ.get("BENCH_SIZES", "").strip() or "12000,4000"
    try:
        sizes = [int(s) for s in sizes_s.split(",") if s.strip()]
    except ValueError:
        sys.exit("bench: BENCH_SIZES must be comma-separated integers, not %r" % sizes_s)
    if any(n < 16 for n in sizes):
        sys.exit("bench: every BENCH_SIZES value must be at least 16")
    repeat = env_int("BENCH_REPEAT", 3, 1)
    npoints = env_int("BENCH_POINTS", 1_000_000, 0)
    npolys = env_int("BENCH_POLYGONS", 50_000, 0)
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    results = {"config": {"sizes": sizes, "repeat": repeat, "points": npoints,
                          "polygons": npolys, "skip": sorted(skip)}}

    m = machine(lode)
    results["machine"] = m
    results["load_before"] = loadavg()
    log("== machine")
    for k in ("nproc", "cpu", "memory", "kernel", "gdal", "proj", "hdf5", "lode", "gdalwarp"):
        log("  %-9s %s" % (k, m[k]))
    log("  load average before: %s  (1, 5, 15 min)" % results["load_before"])
    log("  sizes %s, %d timed runs of each, %d points, %d polygons" % (
        ",".join(map(str, sizes)), repeat, npoints, npolys))

    # ---- inputs
    log("\n== inputs (in %s; reused when present)" % WORK)
    grids = {}
    if "raster" not in skip or "profile" not in skip:
        for n in sizes:
            p = os.path.join(WORK, "tmi_%d.tif" % n)
            t0 = time.monotonic()
            made = make_grid(p, n)
            log("  %s  %d x %d Float32 EPSG:%d, %s%s" % (
                os.path.basename(p), n, n, SRC_EPSG, fmt_bytes(os.path.getsize(p)),
                "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))
            grids[n] = p
    vecs = []
    if "vector" not in skip:
        if npoints:
            p = os.path.join(WORK, "points_%d.gpkg" % npoints)
            t0 = time.monotonic()
            made = make_points(p, npoints)
            vecs.append(("points", p, "samples", npoints))
            log("  %s  %d points, 5 fields, EPSG:%d, %s%s" % (
                os.path.basename(p), npoints, VEC_EPSG, fmt_bytes(os.path.getsize(p)),
                "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))
        if npolys:
            p = os.path.join(WORK, "polygons_%d.gpkg" % npolys)
            t0 = time.monotonic()
            made = make_polygons(p, npolys)
            vecs.append(("polygons", p, "units", npolys))
            log("  %s  %d polygons of 50 vertices, EPSG:%d, %s%s" % (
                os.path.basename(p), npolys, VEC_EPSG, fmt_bytes(os.path.getsize(p)),
                "  (generated in %.0f s)" % (time.monotonic() - t0) if made else ""))

    # ---- rasters
    results["raster"] = {}
    if "raster" not in skip:
        for n in sizes:
            src = grids[n]
            bounds, res = dst_grid(n)
            name = "tmi_%d" % n
            man = os.path.join(WORK, "raster_%d.yaml" % n)
            write_manifest(man, bounds, res, [(name, os.path.basename(src),
                                               ["resampling: bilinear"])])
            pipeline, _ = lode_pipeline(lode, man)
            lode_out = os.path.join(out, "lode_%d.nc" % n)
            gw_out = os.path.join(out, "gdalwarp_%d.nc" % n)
            lode_cmd = [lode, "run", man, "-o", lode_out, "-q"]
            gw_cmd = ["gdalwarp", "-q", "-overwrite", "-multi", "-wo", "NUM_THREADS=ALL_CPUS",
                      "-t_srs", "EPSG:4326", "-ct", pipeline, "-te"] + bounds + [
                      "-tr", res, res, "-r", "bilinear", "-of", "netCDF",
                      "-co", "FORMAT=NC4", "-co", "COMPRESS=DEFLATE", src, gw_out]
            log("\n== raster %d x %d -> EPSG:4326, pixel %s deg, bounds %s" % (
                n, n, res, " ".join(bounds)))
            log("  lode:     %s" % shlex.join(lode_cmd))
            log("  gdalwarp: %s" % shlex.join(gw_cmd))
            warm(src)
            load0 = loadavg()
            summ = alternate([("lode", lambda: measure(lode_cmd, out_path=lode_out)),
                              ("gdalwarp", lambda: measure(gw_cmd, out_path=gw_out))], repeat)
            cmp_ = compare_rasters('NETCDF:"%s":/%s/%s' % (lode_out, name, name), gw_out)
            nx, ny = cmp_["lode_size"]
            summ["lode"]["throughput_mb_s"] = nx * ny * 4 / 1e6 / summ["lode"]["wall_s"]
            summ["gdalwarp"]["throughput_mb_s"] = nx * ny * 4 / 1e6 / summ["gdalwarp"]["wall_s"]
            results["raster"][n] = {"bounds": bounds, "res": res, "pipeline": pipeline,
                                    "source_size": os.path.getsize(src), "figures": summ,
                                    "compare": cmp_, "load_before": load0,
                                    "load_after": loadavg()}
            log("\n" + table([fig_row("lode %d" % n, summ["lode"]),
                              fig_row("gdalwarp %d" % n, summ["gdalwarp"])], FIG_HEAD))
            log("\n" + table([ratio_row("lode/gdalwarp %d" % n, summ["lode"], summ["gdalwarp"])],
                             RATIO_HEAD))
            log("\n  output grid %d x %d = %.0f MB of raw Float32 pixels; lode %.1f MB/s, "
                "gdalwarp %.1f MB/s" % (nx, ny, nx * ny * 4 / 1e6, summ["lode"]["throughput_mb_s"],
                                        summ["gdalwarp"]["throughput_mb_s"]))
            log("  lode CPU / cores = %.2f s (the wall time if every core were busy all the "
                "time); lode wall / that = %.2f" % (
                    summ["lode"]["cpu_s"] / m["nproc"],
                    summ["lode"]["wall_s"] / (summ["lode"]["cpu_s"] / m["nproc"])))
            log("  same grid: size %s (%s vs %s), geotransform %s" % (
                "yes" if cmp_["same_size"] else "NO", cmp_["lode_size"], cmp_["gdalwarp_size"],
                "yes" if cmp_["same_gt"] else "NO (lode %s, gdalwarp %s)" % (
                    cmp_["lode_gt"], cmp_["gdalwarp_gt"])))
            if "max_abs_diff" in cmp_:
                log("  pixels: max |lode - gdalwarp| = %.6g nT (at col,row %s), rms %.3g, %d of %d "
                    "valid pixels differ; %d pixels nodata in one output only" % (
                        cmp_["max_abs_diff"], cmp_["max_at_col_row"], cmp_["rms_diff"],
                        cmp_["differing_pixels"], cmp_["valid_pixels"],
                        cmp_["differing_nodata_masks"]))
            log("  load average: before %s, after %s" % (load0, results["raster"][n]["load_after"]))
            if "report" not in skip:
                results["raster"][n]["report"] = report_figures(lode, lode_out, n)
            for p in (lode_out, gw_out):
                os.remove(p)

    # ---- profile of lode on the largest grid, and what the plan (source hash) costs
    if "profile" not in skip and sizes:
        n = max(sizes)
        src = grids[n]
        man = os.path.join(WORK, "raster_%d.yaml" % n)
        if not os.path.exists(man):
            bounds, res = dst_grid(n)
            write_manifest(man, bounds, res, [("tmi_%d" % n, os.path.basename(src),
                                               ["resampling: bilinear"])])
        lode_out = os.path.join(out, "lode_profile.nc")
        log("\n== profile: LODE_PROFILE=1 lode run on the %d x %d grid" % (n, n))
        warm(src)
        pr = measure([lode, "run", man, "-o", lode_out, "-q"], env={"LODE_PROFILE": "1"},
                     out_path=lode_out)
        lines = [ln for ln in pr["stderr"].splitlines() if "profile" in ln]
        for ln in lines:
            log("  " + ln)
        plan = measure([lode, "plan", man])
        sha = measure(["sha256sum", src])
        log("  whole run: %.2f s wall, %.2f s CPU, %.0f MB peak RSS" % (
            pr["wall_s"], pr["cpu_s"], pr["rss_mb"]))
        log("  lode plan alone (open, SHA-256 of the %s source, choose the operation): "
            "%.2f s wall" % (fmt_bytes(os.path.getsize(src)), plan["wall_s"]))
        log("  sha256sum of the source: %.2f s wall" % sha["wall_s"])
        results["profile"] = {"lines": lines, "run_wall_s": pr["wall_s"], "run_cpu_s": pr["cpu_s"],
                              "run_rss_mb": pr["rss_mb"], "plan_wall_s": plan["wall_s"],
                              "sha256sum_wall_s": sha["wall_s"]}
        os.remove(lode_out)

    # ---- every resampling method x source type (issue 19)
    if "methods" not in skip:
        import bench_methods
        results["methods"] = bench_methods.run(lode, WORK, out, m["nproc"])

    # ---- vectors
    results["vector"] = {}
    if "vector" not in skip and vecs:
        for label, src, layer, count in vecs:
            man = os.path.join(WORK, "vector_%s.yaml" % label)
            write_manifest(man, ["99.5", "0.5", "105.5", "7.5"], "0.01",
                           [(label, os.path.basename(src), [])])
            lode_out = os.path.join(out, "lode_%s.nc" % label)
            gp_out = os.path.join(out, "ogr2ogr_%s.gpkg" % label)
            nc_out = os.path.join(out, "ogr2ogr_%s.nc" % label)
            lode_cmd = [lode, "run", man, "-o", lode_out, "-q"]
            gp_cmd = ["ogr2ogr", "-q", "-f", "GPKG", "-t_srs", "EPSG:4326",
                      "-lco", "SPATIAL_INDEX=NO", gp_out, src]
            nc_cmd = ["ogr2ogr", "-q", "-f", "netCDF", "-dsco", "FORMAT=NC4",
                      "-t_srs", "EPSG:4326", nc_out, src]
            log("\n== vector %s: %d features -> EPSG:4326" % (label, count))
            log("  lode:           %s" % " ".join(lode_cmd))
            log("  ogr2ogr GPKG:   %s" % " ".join(gp_cmd))
            log("  ogr2ogr netCDF: %s" % " ".join(nc_cmd))
            warm(src)
            load0 = loadavg()
            summ = alternate([
                ("lode", lambda: measure(lode_cmd, out_path=lode_out)),
                ("ogr2ogr GPKG", lambda: measure(gp_cmd, out_path=gp_out)),
                ("ogr2ogr netCDF", lambda: measure(nc_cmd, out_path=nc_out))], repeat)
            counts = {"lode": lode_counts(lode, lode_out).get(label),
                      "ogr2ogr GPKG": ogr_count(gp_out),
                      "ogr2ogr netCDF": ogr_count(nc_out)}
            results["vector"][label] = {"features": count, "figures": summ, "counts": counts,
                                        "load_before": load0, "load_after": loadavg()}
            log("\n" + table([fig_row("lode %s" % label, summ["lode"]),
                              fig_row("ogr2ogr GPKG %s" % label, summ["ogr2ogr GPKG"]),
                              fig_row("ogr2ogr netCDF %s" % label, summ["ogr2ogr netCDF"])],
                             FIG_HEAD))
            log("\n" + table([ratio_row("lode/ogr2ogr GPKG", summ["lode"], summ["ogr2ogr GPKG"]),
                              ratio_row("lode/ogr2ogr netCDF", summ["lode"],
                                        summ["ogr2ogr netCDF"])], RATIO_HEAD))
            log("  features written: %s" % ", ".join("%s %s" % kv for kv in counts.items()))
            log("  load average: before %s, after %s" % (load0, results["vector"][label]["load_after"]))
            for p in (lode_out, gp_out, nc_out):
                if os.path.exists(p):
                    os.remove(p)

    # ---- the new vector kinds (issue 19): a table with lists, XYZM lines
    if "kinds" not in skip:
        import bench_kinds
        results["kinds"] = bench_kinds.run(lode, WORK, out, m["nproc"], repeat, npoints, npolys)

    # ---- the receiving side
    if "receive" not in skip:
        vec = next((v for v in vecs if v[0] == "points"), None)
        receive_part(lode, m, env_int("BENCH_RECEIVE_SIZE", 6000, 16), vec, repeat, out, results)

    # ---- summary
    results["load_after"] = loadavg()
    log("\n== summary (ratios are lode / the other tool; targets from issue 5)")
    rows = []
    for n, r in sorted(results["raster"].items(), reverse=True):
        f = r["figures"]
        rows.append(["raster %d wall lode/gdalwarp" % n,
                     "%.2f" % (f["lode"]["wall_s"] / f["gdalwarp"]["wall_s"]), "<= 0.5"])
        rows.append(["raster %d output size lode/gdalwarp" % n,
                     "%.2f" % (f["lode"]["size"] / f["gdalwarp"]["size"]), "<= 1"])
        rows.append(["raster %d lode peak RSS MB" % n, "%.0f" % f["lode"]["rss_mb"],
                     "<= 256" if n >= 12000 else "-"])
    rs = results["raster"]
    if len(rs) >= 2:
        big, small = max(rs), min(rs)
        g = rs[big]["figures"]["lode"]["rss_mb"] / rs[small]["figures"]["lode"]["rss_mb"]
        rows.append(["lode peak RSS %d / %d" % (big, small), "%.2f" % g, "<= 1.2"])
    for label, r in results["vector"].items():
        f = r["figures"]
        rows.append(["%s wall lode/ogr2ogr GPKG" % label,
                     "%.2f" % (f["lode"]["wall_s"] / f["ogr2ogr GPKG"]["wall_s"]), "<= 1"])
        rows.append(["%s wall lode/ogr2ogr netCDF" % label,
                     "%.2f" % (f["lode"]["wall_s"] / f["ogr2ogr netCDF"]["wall_s"]), "<= 0.1"])
        rows.append(["%s lode peak RSS MB" % label, "%.0f" % f["lode"]["rss_mb"], "<= 256"])
    kd = results.get("kinds")
    for label in ("table", "lines_zm") if kd else ():
        f = kd[label]["figures"]
        for other, target in (("GPKG", "<= 1"), ("netCDF", "<= 0.1")):
            if "ogr2ogr " + other in f:
                rows.append(["%s wall lode/ogr2ogr %s" % (label, other), "%.2f" % (
                    f["lode"]["wall_s"] / f["ogr2ogr " + other]["wall_s"]), target])
        st = kd[label]["same_for_threads"]
        rows.append(["%s lode peak RSS MB (-j 1, 2, 256M)" % label, "%.0f" % max(
            r["rss_mb"] for r in st["runs"]), "<= 256"])
        rows.append(["%s same bundle -j 1, -j 2, --max-memory" % label,
                     "yes" if st["identical"] and st["verify_ok"] else "NO", "yes"])
        for base, r in kd["per_value"][label]["ratios"].items():
            rows.append(["%s per-value CPU / %s's" % (label, base),
                         "%.2f (wall %.2f, beyond read %.2f)" % (
                             r["cpu"], r["wall"], r["beyond_read_cpu"]), "<= 1"])
    rc = results.get("receive")
    if rc:
        f = rc["figures"]
        rows.append(["verify MB/s of bundle", "%.0f" % (rc["bundle_size"] / 1e6 /
                                                         f["lode verify"]["wall_s"]), ">= 1000"])
        rows.append(["verify wall / openssl sha256", "%.2f" % (
            f["lode verify"]["wall_s"] / f["openssl sha256"]["wall_s"]), "<= 2"])
        if "lode verify noisy" in f:
            rows.append(["verify MB/s of bundle, noisy grid (%.0f MB)" % (
                rc["noisy_bundle_size"] / 1e6), "%.0f" % (
                rc["noisy_bundle_size"] / 1e6 / f["lode verify noisy"]["wall_s"]), ">= 1000"])
            rows.append(["verify wall / openssl sha256, noisy grid", "%.2f" % (
                f["lode verify noisy"]["wall_s"] / f["openssl sha256 noisy"]["wall_s"]), "<= 2"])
        rows.append(["extract wall / gdal_translate", "%.2f" % (
            f["lode extract"]["wall_s"] / f["gdal_translate"]["wall_s"]), "<= 0.5"])
        rows.append(["extract same bytes on one core", "yes" if rc["extract_same_on_one_core"]
                     else "NO", "yes"])
        if "vector" in rc:
            vf = rc["vector"]["figures"]
            rows.append(["extract GPKG wall / ogr2ogr GPKG", "%.2f" % (
                vf["lode extract"]["wall_s"] / vf["ogr2ogr GPKG"]["wall_s"]), "<= 0.5"])
    for c in results.get("methods") or []:
        rows.append(["%s %s %dx wall lode/gdalwarp -ct (CPU %.2f; own search %.2f)" % (
            c["type"], c["method"], c["coarser"], c["lode"]["cpu_s"] / c["gdalwarp"]["cpu_s"],
            c["ratio_own_search"]), "%.2f" % c["ratio"], "<= 0.5"])
    if rows:
        log(table(rows, ["figure", "measured", "target"]))
    log("\n  load average before: %s, after: %s (nproc %d)" % (
        results["load_before"], results["load_after"], m["nproc"]))
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    log("  results: %s" % os.path.join(WORK, "results.json"))
    for f in (".stderr", ".rusage"):
        try:
            os.remove(os.path.join(WORK, f))
        except OSError:
            pass
    return 0


WORK = None

if __name__ == "__main__":
    sys.exit(main())
