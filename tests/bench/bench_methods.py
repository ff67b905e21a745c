"""lode benchmark, issue 19: every resampling method x source type against gdalwarp.

Imported by tests/bench/bench.py (part "methods"; BENCH_SKIP=methods leaves it out).
Environment:

  BENCH_METHODS_SIZE     source size N (N x N pixels, EPSG:3375)      (default 4000, the issue's size)
  BENCH_METHODS_REPEAT   timed runs of each tool per case, alternating (default 3)
  BENCH_METHODS_TYPES    comma-separated subset of float32,int16,uint16,byte3
  BENCH_METHODS_ONLY     comma-separated subset of methods (e.g. "mode,average")

Sources are derived from the benchmark's aeromagnetic grid (bench.make_grid): Float32 as
it is, an Int16 "DEM" (120-2950, nodata -32768), UInt16 classes (12 classes, nodata 0)
and a 3-band Byte image (nodata 0). Interpolating methods and nearest warp to the grid
of the same pixel size as the source's; the statistical methods to grids 2x coarser,
and average and mode also 4x and 8x coarser (survey grids are downsampled more often
than not). Both tools use the same grid, the same operation (gdalwarp -ct with lode's
pipeline) and the same error threshold (0.125, each tool's default); the benchmark
reports wall, CPU, ratios and how many pixels differ on band 1 (the pixel-identity
tests at error threshold 0 are tests/e2e/test_kernels.py, in `make check`).

gdalwarp is also timed as a user runs it, without -ct: it then searches PROJ's database
for the operation itself (about 0.04-0.09 s here for EPSG:3375 to EPSG:4326, which
gdalwarp -ct skips). Its ratio is printed beside the -ct one, with whether its pixels
are the same; the target is judged against gdalwarp -ct, the stricter.

lode keeps PROJ's answer to that search in its operation cache (LODE_OPERATION_CACHE,
here the benchmark's own folder, emptied at the start): `lode plan`, which finds the
pipeline gdalwarp -ct is given, fills it, so the timed lode runs are those of a user
running lode again on the same data. Each case also times one lode run with the cache
off (the first run on a pair of CRSs and an extent), printed as "searching".
"""

import os
import statistics

import numpy as np
from osgeo import gdal

import bench as B

INTERP = ["nearest", "bilinear", "cubic", "cubicspline", "lanczos"]
STATS = ["average", "mode", "min", "max", "med", "q1", "q3", "sum", "rms"]
GDAL_NAME = {"nearest": "near"}
TYPES = ["float32", "int16", "uint16", "byte3"]
TARGET = 0.5


def cases(methods):
    out = []
    for m in INTERP:
        out.append((m, 1))
    for m in STATS:
        out.append((m, 2))
    for m in ("average", "mode"):
        out += [(m, 4), (m, 8)]
    return [c for c in out if not methods or c[0] in methods]


def derive(src, path, kind):
    """Write the `kind` source next to the Float32 grid, a strip at a time."""
    if os.path.exists(path):
        return
    s = gdal.Open(src)
    n = s.RasterXSize
    gt, wkt = s.GetGeoTransform(), s.GetProjection()
    sb = s.GetRasterBand(1)
    nodata = sb.GetNoDataValue()
    dtype, nb, nd = {"int16": (gdal.GDT_Int16, 1, -32768), "uint16": (gdal.GDT_UInt16, 1, 0),
                     "byte3": (gdal.GDT_Byte, 3, 0)}[kind]
    tmp = path + ".tmp.tif"
    ds = gdal.GetDriverByName("GTiff").Create(
        tmp, n, n, nb, dtype, ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256",
                               "COMPRESS=DEFLATE", "PREDICTOR=2"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(wkt)
    for b in range(nb):
        ds.GetRasterBand(b + 1).SetNoDataValue(nd)
    for r0 in range(0, n, 256):
        h = min(256, n - r0)
        v = sb.ReadAsArray(0, r0, n, h).astype(np.float64)
        bad = v == nodata
        # the field is about 40460-41880 nT
        if kind == "int16":        # "elevations" 120-2950 m
            bands = [np.clip(np.round((v - 40400.0) * 2.0), -32767, 32767)]
        elif kind == "uint16":     # 12 classes
            bands = [np.floor((v + 400.0) / 60.0) % 12 + 1]
        else:                      # an image, 1-255
            bands = [np.clip(np.round((v - 40400.0) * k), 1, 255) for k in (0.12, 0.18, 0.25)]
        for b, a in enumerate(bands):
            a[bad] = nd
            ds.GetRasterBand(b + 1).WriteArray(a, 0, r0)
    ds = None
    os.rename(tmp, path)


def compare(lode_out, name, gw_out):
    """Pixels of band 1 (all bands for byte3) that differ, and nodata-only-in-one counts."""
    a = gdal.Open('NETCDF:"%s":/%s/%s' % (lode_out, name, name))
    b = gdal.Open(gw_out)
    # gdalwarp writes several bands as variables Band1, Band2... (subdatasets)
    subs = [gdal.Open(sd[0]) for sd in b.GetSubDatasets()] if b.RasterCount == 0 else []
    gb = [b.GetRasterBand(i) for i in range(1, b.RasterCount + 1)] or [
        d.GetRasterBand(1) for d in subs]     # subs keeps the datasets open
    if not gb or (a.RasterXSize, a.RasterYSize) != (gb[0].XSize, gb[0].YSize):
        return "grid differs"
    ndiff = nmask = 0
    for i in range(1, min(a.RasterCount, len(gb)) + 1):
        va = a.GetRasterBand(i).ReadAsArray().astype(np.float64)
        vb = gb[i - 1].ReadAsArray().astype(np.float64)
        na, nb = a.GetRasterBand(i).GetNoDataValue(), gb[i - 1].GetNoDataValue()
        ma = (va == na) | np.isnan(va)
        mb = (vb == nb) | np.isnan(vb)
        nmask += int(np.count_nonzero(ma != mb))
        ok = ~ma & ~mb
        ndiff += int(np.count_nonzero(va[ok] != vb[ok]))
    tot = a.RasterXSize * a.RasterYSize * a.RasterCount
    if ndiff == 0 and nmask == 0:
        return "identical"
    return "%.2g%% differ, %.2g%% nodata in one" % (100.0 * ndiff / tot, 100.0 * nmask / tot)


def run(lode, work, out, nproc):
    B.WORK = work              # bench.measure's scratch files (this module imports bench anew)
    n = B.env_int("BENCH_METHODS_SIZE", 4000, 16)
    repeat = B.env_int("BENCH_METHODS_REPEAT", 3, 1)
    types = [t for t in os.environ.get("BENCH_METHODS_TYPES", "").split(",") if t] or TYPES
    only = {m for m in os.environ.get("BENCH_METHODS_ONLY", "").split(",") if m}
    bad = [t for t in types if t not in TYPES]
    if bad:
        raise SystemExit("bench: BENCH_METHODS_TYPES: unknown %s (expected %s)" % (
            ",".join(bad), ",".join(TYPES)))
    f32 = os.path.join(work, "tmi_%d.tif" % n)
    B.make_grid(f32, n)
    B.log("\n== resampling methods x types (issue 19): %d x %d sources, %d rounds each, "
          "medians; target wall <= %.1f x gdalwarp" % (n, n, repeat, TARGET))
    rows, results = [], []
    for t in types:
        src = f32 if t == "float32" else os.path.join(work, "m_%s_%d.tif" % (t, n))
        if t != "float32":
            derive(f32, src, t)
        B.warm(src)
        for method, f in cases(only):
            bounds, res = B.dst_grid(n / f)
            name = "m_%s_%s_%d" % (t, method, f)
            man = os.path.join(work, "%s.yaml" % name)
            B.write_manifest(man, bounds, res, [(name, os.path.basename(src),
                                                 ["resampling: %s" % method])])
            pipeline, _ = B.lode_pipeline(lode, man)
            lo = os.path.join(out, "lode_%s.nc" % name)
            go = os.path.join(out, "gdalwarp_%s.nc" % name)
            lc = [lode, "run", man, "-o", lo, "-q"]
            gc = ["gdalwarp", "-q", "-overwrite", "-multi", "-wo", "NUM_THREADS=ALL_CPUS",
                  "-t_srs", "EPSG:4326", "-ct", pipeline, "-te"] + bounds + [
                  "-tr", res, res, "-r", GDAL_NAME.get(method, method), "-of", "netCDF",
                  "-co", "FORMAT=NC4", "-co", "COMPRESS=DEFLATE", src, go]
            # gdalwarp as a user runs it: no -ct, its own operation search
            go2 = os.path.join(out, "gdalwarp_own_%s.nc" % name)
            i = gc.index("-ct")
            gc2 = gc[:i] + gc[i + 2:-1] + [go2]
            runs = {"lode": [], "gdalwarp": [], "gdalwarp_own": []}
            for _ in range(repeat):
                runs["lode"].append(B.measure(lc, out_path=lo))
                runs["gdalwarp"].append(B.measure(gc, out_path=go))
                runs["gdalwarp_own"].append(B.measure(gc2, out_path=go2))
            med = {k: {q: statistics.median(r[q] for r in v) for q in ("wall_s", "cpu_s")}
                   for k, v in runs.items()}
            cold = B.measure(lc, env={"LODE_OPERATION_CACHE": "off"}, out_path=lo)["wall_s"]
            pix = compare(lo, name, go)
            pix2 = compare(lo, name, go2)
            L, G, G2 = med["lode"], med["gdalwarp"], med["gdalwarp_own"]
            ratio = L["wall_s"] / G["wall_s"]
            ratio2 = L["wall_s"] / G2["wall_s"]
            limit = L["wall_s"] / max(1e-9, L["cpu_s"] / nproc)
            rows.append([t, method, "%dx" % f, "%.3f" % L["wall_s"], "%.3f" % L["cpu_s"],
                         "%.3f" % G["wall_s"], "%.3f" % G["cpu_s"], "%.2f" % ratio,
                         "%.2f" % (L["cpu_s"] / G["cpu_s"]), "%.3f" % G2["wall_s"],
                         "%.2f" % ratio2, "%.2f" % limit,
                         "met" if ratio <= TARGET else "MISSED", pix,
                         "same" if pix2 == pix else pix2])
            results.append({"type": t, "method": method, "coarser": f, "lode": L,
                            "gdalwarp": G, "gdalwarp_own_search": G2, "ratio": ratio,
                            "ratio_own_search": ratio2, "pixels": pix, "pixels_own_search": pix2,
                            "lode_searching_wall_s": cold, "ratio_searching": cold / G["wall_s"]})
            B.log("  %-8s %-12s %dx  lode %.3f s (%.3f CPU)  gdalwarp -ct %.3f s (%.3f CPU)  "
                  "ratio %.2f  %s; gdalwarp's own search %.3f s, ratio %.2f%s; lode searching "
                  "%.3f s, ratio %.2f" % (
                      t, method, f, L["wall_s"], L["cpu_s"], G["wall_s"], G["cpu_s"], ratio, pix,
                      G2["wall_s"], ratio2, "" if pix2 == pix else " (%s)" % pix2, cold,
                      cold / G["wall_s"]))
            for p in (lo, go, go2):
                if os.path.exists(p):
                    os.remove(p)
    B.log("\n" + B.table(rows, ["type", "method", "coarser", "lode wall s", "lode CPU s",
                                "gdalwarp -ct wall s", "gdalwarp -ct CPU s", "ratio wall",
                                "ratio CPU", "gdalwarp own search wall s", "ratio wall",
                                "lode wall/(CPU/cores)", "<= 0.5 (-ct)", "pixels (et 0.125)",
                                "pixels, own search"]))
    met = sum(1 for r in results if r["ratio"] <= TARGET)
    met2 = sum(1 for r in results if r["ratio_own_search"] <= TARGET)
    met3 = sum(1 for r in results if r["ratio_searching"] <= TARGET)
    B.log("  %d of %d cases meet wall <= %.1f x gdalwarp -ct (%d of %d against gdalwarp with "
          "its own operation search; %d of %d with lode searching too, its cache off)" % (
              met, len(results), TARGET, met2, len(results), met3, len(results)))
    return results
