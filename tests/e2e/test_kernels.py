#!/usr/bin/python3
"""End-to-end tests of lode's faster resampling paths (issue 19) against GDAL's warper:
every pixel equal to gdalwarp -et 0's, and the bundle byte-identical to the one GDAL's
own path writes (LODE_WARP_KERNEL=gdal), on varied grids: non-integer downsampling
ratios, nodata inside and around the source, target grids wider than the source.
Mode on 16-bit values, average, cubic, cubicspline, lanczos, rms, min, max, med, q1 and
q3 here; nearest, sum and lode's mode kernel in test_kernels_more.py (helpers shared in
kernel_util.py).

/usr/bin/python3 tests/e2e/test_kernels.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

Prints "PASS name" / "FAIL name: reason" / "SKIP name: reason" per test and a final
"N passed, N failed[, N skipped]"; exit 0 iff nothing failed.  -k SUBSTR runs a subset.
"""
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (assert_no_crash, bundles_same_for_threads, lode, main,  # noqa: E402
                      make_target, test, write_manifest)
from kernel_util import (POLICY, class_grid, mode_cases, grids, AVERAGE, field_grid,
                        run_average, average_sources, CUBIC, interp_sources,
                        kernel_equals_gdalwarp, finer_grids, SPLINE, LANCZOS, STATS,
                        STAT_METHODS, kernel_cases, kernel_ran, equals_gdalwarp)  # noqa: E402


@test
def test_mode_uint16_classes_as_bytes(ctx, tdir):
    """mode on a UInt16 class grid whose classes fit a byte (nodata 0): GDAL's warper
    counts bytes (the profile says so), and every pixel equals gdalwarp -et 0's at 1.5x,
    2x, 2.6x and 3.7x coarser, with nodata holes, a ragged edge and nodata margins;
    the bundle is byte-identical to the one the 65,536-bin path writes."""
    src = class_grid(os.path.join(tdir, "classes_u16.tif"), "UInt16", 0, [3, 7, 12, 40, 41, 200, 255])
    cases = [(tag, t, [{"name": "classes", "source": src, "resampling": "mode"}])
             for tag, t in grids(src)]
    mode_cases(ctx, tdir, cases, "bytes")


@test
def test_mode_int16_classes_as_bytes(ctx, tdir):
    """The same for Int16 classes 1-250 with nodata 255, and with no nodata at all; and
    a manifest nodata (0) that is one of the classes (those pixels become nodata)."""
    src = class_grid(os.path.join(tdir, "classes_i16.tif"), "Int16", 255, list(range(1, 251, 7)),
                     seed=2)
    src2 = class_grid(os.path.join(tdir, "classes_i16_nond.tif"), "Int16", None, [0, 1, 2, 5, 9],
                      seed=3)
    cases = []
    for tag, t in grids(src)[:2]:
        cases.append((tag, t, [{"name": "classes", "source": src, "resampling": "mode"},
                               {"name": "plain", "source": src2, "resampling": "mode"},
                               {"name": "zero_nd", "source": src2, "resampling": "mode",
                                "nodata": 0}]))
    mode_cases(ctx, tdir, cases, "bytes")


@test
def test_mode_wide_values_as_floats(ctx, tdir):
    """Values that do not fit a byte (a UInt16 class 256, Int16 classes 0 and 300 with
    nodata -5, a nodata of 65535, an Int16 "DEM" of 900 distinct values from 0 to 4495
    with nodata -32768): GDAL's warper counts them as floats at 1.5x, 2x, 2.6x and 3.7x
    coarser (at most 48 source pixels per target pixel), pixels equal to gdalwarp -et
    0's (its 16-bit histogram), bundles byte-identical to that path."""
    a = class_grid(os.path.join(tdir, "u256.tif"), "UInt16", 0, [1, 2, 256], seed=4)
    b = class_grid(os.path.join(tdir, "i_300.tif"), "Int16", -5, [0, 3, 300], seed=5)
    c = class_grid(os.path.join(tdir, "nd65535.tif"), "UInt16", 65535, [1, 2, 3], seed=6)
    dem = class_grid(os.path.join(tdir, "dem.tif"), "Int16", -32768, list(range(0, 4500, 5)),
                     seed=8)
    cases = [(tag, t, [{"name": "u256", "source": a, "resampling": "mode"},
                       {"name": "i300", "source": b, "resampling": "mode"},
                       {"name": "nd65535", "source": c, "resampling": "mode"},
                       {"name": "dem", "source": dem, "resampling": "mode"}])
             for tag, t in grids(a)]
    mode_cases(ctx, tdir, cases, "floats")


@test
def test_mode_negative_values_stay_16bit(ctx, tdir):
    """Negative Int16 values (a class -1, which GDAL 3.6's histogram takes for "none",
    and a DEM from -2000) keep GDAL's own 16-bit path: pixels equal to gdalwarp -et 0's,
    bundles byte-identical to LODE_WARP_KERNEL=gdal's."""
    b = class_grid(os.path.join(tdir, "i_neg.tif"), "Int16", -5, [-1, 3, 300], seed=5)
    dem = class_grid(os.path.join(tdir, "dem.tif"), "Int16", -32768, list(range(-2000, 2500, 5)),
                     seed=8)
    tag, t = grids(b)[0]
    mode_cases(ctx, tdir, [(tag, t, [{"name": "ineg", "source": b, "resampling": "mode"},
                                     {"name": "dem", "source": dem, "resampling": "mode"}])],
               None)


@test
def test_mode_much_coarser_stays_16bit(ctx, tdir):
    """A target pixel covering more than 48 source pixels (about 10x coarser) keeps
    GDAL's 16-bit working type for values that do not fit a byte (none negative: lode's
    mode kernel works as its histogram does, bundles byte-identical to GDAL's warper's),
    and still counts bytes for those that do; pixels equal to gdalwarp -et 0's."""
    dem = class_grid(os.path.join(tdir, "dem.tif"), "Int16", -32768, list(range(0, 4500, 5)),
                     seed=8)
    cls = class_grid(os.path.join(tdir, "cls.tif"), "UInt16", 0, [1, 2, 3, 9], seed=9)
    t = make_target("EPSG:4326", [dem], res=0.023, margin=1, error_threshold=0)
    mode_cases(ctx, tdir, [("dem10x", t, [{"name": "dem", "source": dem, "resampling": "mode"}])],
               "native")
    mode_cases(ctx, tdir, [("cls10x", t, [{"name": "cls", "source": cls, "resampling": "mode"}])],
               "bytes")


@test
def test_mode_small_part_of_source(ctx, tdir):
    """A target over a small part of the source (a twentieth of it): lode does not read
    the whole source to see whether its values fit a byte; UInt16 classes go on floats
    (they cannot be negative), Int16 ones stay 16-bit; pixels equal gdalwarp -et 0's."""
    u = class_grid(os.path.join(tdir, "u.tif"), "UInt16", 0, [1, 4, 9, 200], seed=13)
    i = class_grid(os.path.join(tdir, "i.tif"), "Int16", 0, [1, 4, 9, 200], seed=14)
    t = make_target("EPSG:4326", [u], res=0.0045, margin=0, shrink=0.39, error_threshold=0)
    mode_cases(ctx, tdir, [("u_part", t, [{"name": "u", "source": u, "resampling": "mode"}])],
               "floats")
    mode_cases(ctx, tdir, [("i_part", t, [{"name": "i", "source": i, "resampling": "mode"}])],
               None)


@test
def test_quartiles_sum_rms_equal_gdalwarp(ctx, tdir):
    """The methods the manifest accepts since issue 19 (q1, q3, sum, rms: GDAL's warper
    per window) give gdalwarp -et 0's pixels, on a UInt16 grid and a Float32 one (nodata
    holes, ragged edge, margins) 2x and 3.7x coarser."""
    from osgeo import gdal
    u16 = class_grid(os.path.join(tdir, "u16.tif"), "UInt16", 0, list(range(1, 3000, 13)), seed=10)
    f32 = os.path.join(tdir, "f32.tif")
    gdal.Translate(f32, u16, outputType=gdal.GDT_Float32, scaleParams=[[0, 3000, -1.5, 2.5]],
                   noData=-9999, creationOptions=["TILED=YES"])
    ds = [{"name": "%s_%s" % (k, m), "source": src, "resampling": m}
          for m in ("q1", "q3", "sum", "rms") for k, src in (("u16", u16), ("f32", f32))]
    problems = []
    for tag, target in (grids(u16)[0], grids(u16)[2]):
        d = os.path.join(tdir, tag)
        os.makedirs(d, exist_ok=True)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, POLICY)
        out = os.path.join(d, "b.nc")
        r = lode(ctx, ["run", man, "-o", out, "-q"], d)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        for x in ds:
            try:
                equals_gdalwarp(ctx, d, target, x, out, "%s/%s" % (tag, x["name"]))
            except AssertionError as e:
                problems.append(str(e))
    assert not problems, "; ".join(problems)


@test
def test_mode_bytes_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles on the bytes path, on a grid of several
    chunks each way (the check runs once per raster, before any window)."""
    src = class_grid(os.path.join(tdir, "big_u16.tif"), "UInt16", 0, [1, 5, 9, 13],
                     n=(1300, 1200), seed=7)
    target = make_target("EPSG:4326", [src], res=0.0028, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "classes", "source": src, "resampling": "mode"}], POLICY)
    bundles_same_for_threads(ctx, tdir, man)


@test
def test_average_equals_gdalwarp(ctx, tdir):
    """lode's own average kernel (formats/warp_average.c): on Float32, Int16, UInt16 and
    Byte sources with nodata holes, scattered nodata pixels, a ragged edge and nodata
    margins, 1.5x, 2x, 3.7x and 8x coarser in EPSG:4326 and 2.6x in UTM, every pixel
    equals gdalwarp -r average -et 0's, the bundle is byte-identical to the one GDAL's
    warper writes in lode (LODE_WARP_KERNEL=gdal), and LODE_PROFILE counts every window
    as warped by lode's kernel."""
    srcs = average_sources(tdir)
    ds = [{"name": "avg_" + k, "source": p, "resampling": "average"} for k, p in srcs]
    targets = grids(srcs[0][1]) + [("geo8x", make_target("EPSG:4326", [srcs[0][1]], res=0.018,
                                                         margin=2, error_threshold=0))]
    kernel_cases(ctx, tdir, targets, ds, AVERAGE, "average")


@test
def test_average_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles with lode's average kernel, on a grid of
    several windows each way (2.4x coarser), and the kernel did run."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.0054, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "field", "source": src, "resampling": "average"}], POLICY)
    bundles_same_for_threads(ctx, tdir, man)
    kernel_ran(ctx, tdir, man, AVERAGE, "average", 4)


@test
def test_cubic_equals_gdalwarp(ctx, tdir):
    """lode's own cubic kernel (formats/warp_cubic.c): on Float32 (nodata -9999, and a
    nodata no pixel has), Int16, UInt16 (one whose nodata lies among the values) and
    Byte sources (values overshooting 255 are clamped, then stepped off the nodata 255)
    with nodata holes, scattered nodata pixels (their neighbours fall back to bilinear,
    as in GDAL), a ragged edge and nodata margins, on finer_grids: every pixel equals
    gdalwarp -r cubic -et 0's, the bundle is byte-identical to the one GDAL's warper
    writes in lode (LODE_WARP_KERNEL=gdal), and every window is counted as warped by
    lode's kernel.  2x coarser (GDAL's wider kernel) every window goes to GDAL's warper,
    with the same checks."""
    srcs = interp_sources(tdir)
    f32 = srcs[0][1]
    kernel_equals_gdalwarp(ctx, tdir, "cubic", CUBIC, srcs, finer_grids(f32) + [grids(f32)[0]],
                           ("geo2x",))


@test
def test_cubic_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles with lode's cubic kernel, on a grid of
    several windows each way (1.25x finer), and the kernel did run; at the default error
    threshold (GDAL's approximate transformer) the bundle is byte-identical to the one
    GDAL's warper writes in lode."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.002, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "field", "source": src, "resampling": "cubic"}], POLICY)
    bundles_same_for_threads(ctx, tdir, man)
    (n, ngdal), _ = run_average(ctx, tdir, man, "big", CUBIC, "cubic")
    assert n >= 4 and ngdal == 0, "lode's cubic kernel warped %d windows, GDAL's warper %d " \
        "(expected >= 4 and 0)" % (n, ngdal)


@test
def test_cubicspline_equals_gdalwarp(ctx, tdir):
    """lode's own cubicspline kernel (GDAL's general resampler with its B-spline weights,
    formats/warp_cubic.c), on the sources and finer grids of cubic_equals_gdalwarp and,
    since GDAL's resampler widens its kernel rather than changing method, also 1.5x, 2x
    and 3.7x coarser in EPSG:4326 and 2.6x in UTM: every pixel equals gdalwarp -r
    cubicspline -et 0's, bundles byte-identical to LODE_WARP_KERNEL=gdal's, every window
    lode's."""
    srcs = interp_sources(tdir)
    f32 = srcs[0][1]
    kernel_equals_gdalwarp(ctx, tdir, "cubicspline", SPLINE, srcs, finer_grids(f32) + grids(f32))


@test
def test_cubicspline_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles with lode's cubicspline kernel on a grid
    of several windows each way (1.25x finer), and at the default error threshold the
    bundle is byte-identical to GDAL's warper's."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.002, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "field", "source": src, "resampling": "cubicspline"}],
                   POLICY)
    bundles_same_for_threads(ctx, tdir, man)
    (n, ngdal), _ = run_average(ctx, tdir, man, "big", SPLINE, "cubicspline")
    assert n >= 4 and ngdal == 0, "lode's cubicspline kernel warped %d windows, GDAL's warper " \
        "%d (expected >= 4 and 0)" % (n, ngdal)


@test
def test_lanczos_equals_gdalwarp(ctx, tdir):
    """lode's own lanczos kernel (GDAL's GWKResampleOptimizedLanczos, formats/warp_cubic.c)
    on the sources and grids of cubicspline_equals_gdalwarp (finer, and 1.5x to 3.7x
    coarser: GDAL widens the kernel): every pixel equals gdalwarp -r lanczos -et 0's,
    bundles byte-identical to LODE_WARP_KERNEL=gdal's, every window lode's."""
    srcs = interp_sources(tdir)
    f32 = srcs[0][1]
    kernel_equals_gdalwarp(ctx, tdir, "lanczos", LANCZOS, srcs, finer_grids(f32) + grids(f32))


@test
def test_lanczos_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles with lode's lanczos kernel on a grid of
    several windows each way (1.25x finer), and at the default error threshold the
    bundle is byte-identical to GDAL's warper's."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.002, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "field", "source": src, "resampling": "lanczos"}],
                   POLICY)
    bundles_same_for_threads(ctx, tdir, man)
    (n, ngdal), _ = run_average(ctx, tdir, man, "big", LANCZOS, "lanczos")
    assert n >= 4 and ngdal == 0, "lode's lanczos kernel warped %d windows, GDAL's warper " \
        "%d (expected >= 4 and 0)" % (n, ngdal)


@test
def test_stats_equal_gdalwarp(ctx, tdir):
    """lode's own min, max, rms, med, q1 and q3 (formats/warp_stats.c): on Float32,
    Int16, UInt16 (also with its nodata among the values) and Byte sources with nodata
    holes, scattered nodata pixels, a ragged edge and nodata margins, 2x and 4x coarser
    in EPSG:4326 and 2.6x in UTM, every pixel equals gdalwarp -r METHOD -et 0's bit for
    bit, the bundle is byte-identical to LODE_WARP_KERNEL=gdal's, and LODE_PROFILE
    counts every window as warped by lode's kernel."""
    srcs = average_sources(tdir)
    ds = [{"name": "%s_%s" % (m, k), "source": p, "resampling": m}
          for m in STAT_METHODS for k, p in srcs]
    f32 = srcs[0][1]
    targets = [("geo2x", make_target("EPSG:4326", [f32], res=0.0045, margin=6, error_threshold=0)),
               ("geo4x", make_target("EPSG:4326", [f32], res=0.009, margin=3, error_threshold=0)),
               grids(f32)[3]]
    kernel_cases(ctx, tdir, targets, ds, STATS, "rms, min, max, med, q1 and q3")


@test
def test_stats_classes_ties_equal_gdalwarp(ctx, tdir):
    """Class grids (many equal values in a footprint, where a quantile falls between
    ties): Int16 classes with nodata 255 and UInt16 ones with nodata 0, 1.5x, 2x and
    3.7x coarser; every pixel bit for bit gdalwarp -et 0's, all windows lode's."""
    i16 = class_grid(os.path.join(tdir, "cls_i16.tif"), "Int16", 255, [-7, 1, 8, 9, 200], seed=21)
    u16 = class_grid(os.path.join(tdir, "cls_u16.tif"), "UInt16", 0, [1, 3, 900, 901], seed=22)
    ds = [{"name": "%s_%s" % (m, k), "source": p, "resampling": m}
          for m in STAT_METHODS for k, p in (("i16", i16), ("u16", u16))]
    kernel_cases(ctx, tdir, grids(i16)[:3], ds, STATS, "rms, min, max, med, q1 and q3")


@test
def test_stats_signed_zeros_and_nan(ctx, tdir):
    """A Float32 grid of +0, -0, 1, -1, some NaN (valid: the nodata value is -9999) and
    nodata holes: GDAL's std::sort orders -0 and +0 and NaN its own way, so med, q1 and
    q3 give GDAL's warper the windows where that decides the value (LODE_PROFILE shows
    some); min, max and rms stay lode's.  Every pixel is gdalwarp -et 0's bit for bit
    (a -0 stays a -0) and the bundles are byte-identical to LODE_WARP_KERNEL=gdal's."""
    from osgeo import gdal
    base = field_grid(os.path.join(tdir, "base.tif"), "Float32", -9999.0, seed=23)
    a = gdal.Open(base).ReadAsArray()
    rng = np.random.default_rng(24)
    nd = a == -9999.0
    z = np.where(a > 0.25, np.float32(1.0), np.where(a < -0.25, np.float32(-1.0),
                                                    np.where(a > 0, np.float32(0.0),
                                                             np.float32(-0.0))))
    z[rng.random(a.shape) < 0.01] = np.nan
    z[nd] = -9999.0
    src = os.path.join(tdir, "zeros.tif")
    ds = gdal.GetDriverByName("GTiff").CreateCopy(src, gdal.Open(base))
    ds.GetRasterBand(1).WriteArray(z.astype(np.float32))
    ds = None
    assert np.signbit(gdal.Open(src).ReadAsArray()).sum() > 1000, "no -0 in the test grid"
    target = make_target("EPSG:4326", [src], res=0.0045, margin=2, error_threshold=0)
    q = [{"name": m, "source": src, "resampling": m} for m in ("med", "q1", "q3")]
    seen = kernel_cases(ctx, tdir, [("quant", target)], q, STATS, "quantile", all_ours=False)
    assert seen and seen[0][2] > 0, "no window went to GDAL's warper: %r" % (seen,)
    o = [{"name": m, "source": src, "resampling": m} for m in ("min", "max", "rms")]
    kernel_cases(ctx, tdir, [("other", target)], o, STATS, "rms, min, max")


@test
def test_stats_threads_identical(ctx, tdir):
    """-j 1 and 2 give byte-identical bundles (cmp) with lode's min, max, rms, med, q1
    and q3 kernel on a grid of several windows each way (2.4x coarser), and it ran."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.0054, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": m, "source": src, "resampling": m}
                                 for m in STAT_METHODS], POLICY)
    bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    kernel_ran(ctx, tdir, man, STATS, "rms, min, max, med, q1 and q3", 4 * len(STAT_METHODS))


if __name__ == "__main__":
    main()
