#!/usr/bin/python3
"""End-to-end tests of lode's nearest, sum and mode kernels (issue 19) against GDAL's
warper, as test_kernels.py does the others (helpers shared in kernel_util.py): every
pixel equal to gdalwarp -et 0's, bit for bit, the bundle byte-identical to the one
GDAL's own path writes (LODE_WARP_KERNEL=gdal) and across -j; and the source decoded on
idle cores, and a chunk's rows shared with them, when the target grid is small.

/usr/bin/python3 tests/e2e/test_kernels_more.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

Prints "PASS name" / "FAIL name: reason" / "SKIP name: reason" per test and a final
"N passed, N failed[, N skipped]"; exit 0 iff nothing failed.  -k SUBSTR runs a subset.
"""
import os
import re
import sys

import numpy as np

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (assert_no_crash, bundles_same_for_threads, lode, main,  # noqa: E402
                      make_target, test, write_manifest)
from kernel_util import (POLICY, class_grid, grids, field_grid, run_average,
                        average_sources, finer_grids, SUM, MODEK, kernel_cases,
                        mode_sources, NEAREST, nearest_sources, kernel_ran, multiband_grid,
                        BILINEAR, CUBIC, SPLINE, LANCZOS, AVERAGE, STATS,
                        profile_counts, equals_gdalwarp, decoding_threads)  # noqa: E402


@test
def test_sum_equals_gdalwarp(ctx, tdir):
    """lode's own sum (formats/warp_sum.c, GDAL's GWKSumPreserving): on Float32, Int16,
    UInt16 (also with its nodata among the values) and Byte sources (sums clamp to 255),
    and a Float32 one whose sums cancel (+-1e15: the order of the additions shows), with
    nodata holes, scattered nodata pixels, a ragged edge and nodata margins, 1.5x,
    2x, 3.7x and 4x coarser in EPSG:4326 and 2.6x in UTM, every pixel equals gdalwarp
    -r sum -et 0's bit for bit, the bundle is byte-identical to LODE_WARP_KERNEL=gdal's,
    and LODE_PROFILE counts every window as warped by lode's sum kernel."""
    from osgeo import gdal
    srcs = average_sources(tdir)
    f32 = srcs[0][1]
    # +-1e15 in a checkerboard over the field: the sums cancel, so that their bits depend
    # on the order GDAL adds the source pixels in (its quadtree's), not only the weights
    cancel = os.path.join(tdir, "cancel.tif")
    c = gdal.GetDriverByName("GTiff").CreateCopy(cancel, gdal.Open(f32))
    a = c.GetRasterBand(1).ReadAsArray()
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    c.GetRasterBand(1).WriteArray(np.where(a == -9999.0, a, a + np.where((xx + yy) % 2, 1e15, -1e15)))
    c = None
    ds = [{"name": "sum_" + k, "source": p, "resampling": "sum"}
          for k, p in srcs + [("cancel", cancel)]]
    targets = grids(f32) + [("geo4x", make_target("EPSG:4326", [f32], res=0.009, margin=3,
                                                  error_threshold=0))]
    kernel_cases(ctx, tdir, targets, ds, SUM, "sum")


@test
def test_sum_threads_identical(ctx, tdir):
    """-j 1 and 2 give byte-identical bundles (cmp) with lode's sum kernel on a grid of
    several windows each way (2.4x coarser), and the kernel ran on every window."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.0054, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "sum", "source": src, "resampling": "sum"}], POLICY)
    bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    kernel_ran(ctx, tdir, man, SUM, "sum", 4, gdal_none=True)


@test
def test_mode_kernel_equals_gdalwarp(ctx, tdir):
    """lode's own mode (formats/warp_stats.c: GDAL's histogram and its list of distinct
    values, the first value whose count exceeds the largest so far) on Byte, UInt16 and
    Int16 class grids (as bytes and as floats) and Float32 ones (-0 and +0 counted
    together, NaN alone), with nodata holes, a ragged edge and margins, 1.5x, 2x, 3.7x
    and 4x coarser in EPSG:4326 and 2.6x in UTM: every pixel bit for bit gdalwarp -r mode
    -et 0's, bundles byte-identical to LODE_WARP_KERNEL=gdal's, all windows lode's."""
    srcs = mode_sources(tdir)
    ds = [{"name": "mode_" + k, "source": p, "resampling": "mode"} for k, p in srcs]
    targets = grids(srcs[0][1]) + [("geo4x", make_target("EPSG:4326", [srcs[0][1]], res=0.009,
                                                         margin=3, error_threshold=0))]
    kernel_cases(ctx, tdir, targets, ds, MODEK, "mode")


@test
def test_mode_kernel_threads_identical(ctx, tdir):
    """-j 1 and 2 give byte-identical bundles (cmp) with lode's mode kernel on Float32
    and Byte class grids of several windows each way (2.4x coarser), and it ran."""
    from osgeo import gdal
    src = class_grid(os.path.join(tdir, "big_byte.tif"), "Byte", 0, [1, 5, 9, 13],
                     n=(1300, 1200), seed=36)
    f32 = os.path.join(tdir, "big_f32.tif")
    gdal.Translate(f32, src, outputType=gdal.GDT_Float32, noData=0, creationOptions=["TILED=YES"])
    target = make_target("EPSG:4326", [src], res=0.0054, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "b", "source": src, "resampling": "mode"},
                                 {"name": "f", "source": f32, "resampling": "mode"}], POLICY)
    bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    kernel_ran(ctx, tdir, man, MODEK, "mode", 4, gdal_none=True)


@test
def test_nearest_equals_gdalwarp(ctx, tdir):
    """lode's own nearest kernel (formats/warp_bilinear.c): on Float32 (nodata -9999, a
    nodata no pixel has, and valid NaN, -0 and +0 values), Int16, UInt16
    (one whose nodata lies among the values) and Byte sources with nodata holes,
    scattered nodata pixels, a ragged edge and nodata margins, about 1.4x finer and 1.25x
    finer (UTM), 1.5x, 3.7x and 8x coarser in EPSG:4326 and 2.6x in UTM: every pixel is
    gdalwarp -r near -et 0's bit for bit, the bundle is byte-identical to the one GDAL's
    warper writes in lode (LODE_WARP_KERNEL=gdal), and LODE_PROFILE counts every window
    as warped by lode's kernel."""
    srcs = nearest_sources(tdir)
    f32 = srcs[0][1]
    ds = [{"name": "near_" + k, "source": p, "resampling": "nearest"} for k, p in srcs]
    g = grids(f32)
    targets = [finer_grids(f32)[0], finer_grids(f32)[2], g[1], g[2], g[3],
               ("geo8x", make_target("EPSG:4326", [f32], res=0.018, margin=2, error_threshold=0))]
    kernel_cases(ctx, tdir, targets, ds, NEAREST, "nearest")


@test
def test_nearest_threads_identical(ctx, tdir):
    """-j 1, 2 and 3 give byte-identical bundles with lode's nearest kernel on a grid of
    several windows each way (1.25x finer), and at the default error threshold the
    bundle is byte-identical to GDAL's warper's, every window lode's."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.002, margin=2)
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [{"name": "field", "source": src, "resampling": "nearest"}],
                   POLICY)
    bundles_same_for_threads(ctx, tdir, man)
    (n, ngdal), _ = run_average(ctx, tdir, man, "big", NEAREST, "nearest")
    assert n >= 4 and ngdal == 0, "lode's nearest kernel warped %d windows, GDAL's warper " \
        "%d (expected >= 4 and 0)" % (n, ngdal)


@test
def test_small_target_decodes_on_idle_threads(ctx, tdir):
    """A target grid of one tile (8x coarser than a 1500 x 1400 source): with -j 2 and 3
    the source's blocks are decoded on that many threads (LODE_PROFILE says so; with -j
    1 it does not), the bundles of -j 1, 2 and 3 are byte-identical, and with error
    threshold 0 every pixel (average, nearest, bilinear) equals gdalwarp -et 0's."""
    src = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.018, margin=2, error_threshold=0)
    ds = [{"name": m, "source": src, "resampling": m} for m in ("average", "nearest", "bilinear")]
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, ds, POLICY)
    bundle = bundles_same_for_threads(ctx, tdir, man)
    for j, want in (("1", None), ("2", "2"), ("3", "3")):
        r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "p%s.nc" % j), "-q", "-j", j], tdir,
                 ctx.env(LODE_PROFILE="1"))
        assert r.rc == 0, r.brief()
        got = decoding_threads(r.err)
        assert got and (got[0] or None) == want, "-j %s: decoding threads %r in %r (expected %s)" % (
            j, got, r.err[-400:], want)
    for x in ds:
        equals_gdalwarp(ctx, tdir, target, x, bundle)


SHARED = re.compile(r"chunk rows computed by helping threads (\d+)")


@test
def test_small_target_rows_shared(ctx, tdir):
    """A target grid of one tile (about 5x coarser than 1500 x 1400 sources): the warping
    thread offers each chunk's rows to the idle ones (formats/warp_rows.c), which
    LODE_PROFILE counts (some rows with -j 3); the bundles of -j 1, 2 and 3 are
    byte-identical, and every pixel equals gdalwarp -et 0's, for Float32 average, mode,
    med, nearest, bilinear, cubic, cubicspline and lanczos, a 3-band Byte image whose
    bands have holes of their own (average, mode, min, bilinear, lanczos) and UInt16
    classes by mode and nearest."""
    f32 = field_grid(os.path.join(tdir, "big_f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    rgb = multiband_grid(os.path.join(tdir, "big_rgb.tif"), False, n=(1500, 1400), seed=21)
    cls = class_grid(os.path.join(tdir, "big_u16.tif"), "UInt16", 0, [3, 70, 300, 4000],
                     n=(1500, 1400), seed=5)
    target = make_target("EPSG:4326", [f32], res=0.012, margin=2, error_threshold=0)
    ds = [{"name": "f_" + m, "source": f32, "resampling": m}
          for m in ("average", "mode", "med", "nearest", "bilinear", "cubic", "cubicspline",
                    "lanczos")]
    ds += [{"name": "rgb_" + m, "source": rgb, "resampling": m}
           for m in ("average", "mode", "min", "bilinear", "lanczos")]
    ds += [{"name": "u_" + m, "source": cls, "resampling": m} for m in ("mode", "nearest")]
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, ds, POLICY)
    bundle = bundles_same_for_threads(ctx, tdir, man)
    shared = []
    for attempt in range(3):  # a helper that the scheduler never woke in time helps nothing
        r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "p.nc"), "-q", "-j", "3"], tdir,
                 ctx.env(LODE_PROFILE="1"))
        assert r.rc == 0, r.brief()
        shared = [int(n) for n in SHARED.findall(r.err)]
        assert shared, "no count of shared rows in %r" % r.err[-400:]
        if shared[-1] > 0:
            break
    assert shared[-1] > 0, "no chunk row was computed by a helping thread in 3 runs (-j 3)"
    for x in ds:
        equals_gdalwarp(ctx, tdir, target, x, bundle)


@test
def test_small_target_several_bands_decode_alone(ctx, tdir):
    """A GeoTIFF of three Float32 bands stored band by band (extra samples), one band of
    it onto a one-tile target: GDAL 3.6.2's multi-threaded reading corrupts memory on
    such files (GDAL issue 7921), so lode decodes it on the warping threads alone (no
    "decoded on" in LODE_PROFILE), runs cleanly and gives gdalwarp -et 0's pixels."""
    from osgeo import gdal
    one = field_grid(os.path.join(tdir, "one.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    a = gdal.Open(one).ReadAsArray()
    src = os.path.join(tdir, "three.tif")
    ds = gdal.GetDriverByName("GTiff").Create(src, a.shape[1], a.shape[0], 3, gdal.GDT_Float32,
                                              ["TILED=YES", "INTERLEAVE=BAND", "COMPRESS=DEFLATE",
                                               "PHOTOMETRIC=MINISBLACK"])
    ds.SetGeoTransform(gdal.Open(one).GetGeoTransform())
    ds.SetProjection(gdal.Open(one).GetProjection())
    for b in range(3):
        ds.GetRasterBand(b + 1).SetNoDataValue(-9999.0)
        ds.GetRasterBand(b + 1).WriteArray(a * (b + 1))
    ds = None
    target = make_target("EPSG:4326", [src], res=0.018, margin=2, error_threshold=0)
    x = {"name": "band2", "source": src, "resampling": "average", "bands": [2]}
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, [x], POLICY)
    out = os.path.join(tdir, "b.nc")
    r = lode(ctx, ["run", man, "-o", out, "-q", "-j", "2"], tdir, ctx.env(LODE_PROFILE="1"))
    assert_no_crash(r)
    assert r.rc == 0, r.brief()
    assert "decoded on" not in r.err, "a 3-band file was decoded on several threads: %r" % r.err
    equals_gdalwarp(ctx, tdir, target, x, out)


@test
def test_multiband_equals_gdalwarp(ctx, tdir):
    """lode's kernels on several bands (formats/warp_bilinear.c warp_bands): 3-band Byte
    images, pixel- and band-interleaved, with nodata at the same pixels in every band and
    with holes of one band only (where GDAL's unified validity, a pixel valid in any
    band, decides a point's own pixel, and the band's own validity its values), by every
    method lode has a kernel for, finer and coarser in EPSG:4326 and UTM: every pixel of
    every band bit for bit gdalwarp -et 0's, the bundle byte-identical to
    LODE_WARP_KERNEL=gdal's, and every window warped by lode's kernel (nearest: every
    window by GDAL's warper, which is faster on several bands; sum: all bands in one pass,
    each band's values where that band is valid, the source pixels by the unified
    validity)."""
    srcs = [("same", multiband_grid(os.path.join(tdir, "same.tif"), True)),
            ("diff", multiband_grid(os.path.join(tdir, "diff.tif"), False, seed=8)),
            ("band", multiband_grid(os.path.join(tdir, "band.tif"), False, "BAND", seed=9))]
    src = srcs[0][1]
    finer = [("geo_fine", make_target("EPSG:4326", [src], res=0.0016, margin=4, error_threshold=0)),
             ("utm_same", make_target("EPSG:32647", [src], res=250.0, margin=3, error_threshold=0))]
    coarser = [("geo2_3x", make_target("EPSG:4326", [src], res=0.0052, margin=3, error_threshold=0)),
               ("utm3_7x", make_target("EPSG:32647", [src], res=925.0, margin=2, error_threshold=0))]
    cases = [("nearest", NEAREST, finer), ("bilinear", BILINEAR, finer), ("cubic", CUBIC, finer),
             ("cubicspline", SPLINE, finer), ("lanczos", LANCZOS, finer),
             ("average", AVERAGE, coarser), ("mode", MODEK, coarser), ("sum", SUM, coarser)]
    cases += [(m, STATS, coarser[:1]) for m in ("rms", "min", "max", "med", "q1", "q3")]
    problems = []
    for method, pattern, targets in cases:
        d = os.path.join(tdir, method)
        os.makedirs(d)
        ds = [{"name": "mb_" + k, "source": p, "resampling": method} for k, p in srcs]
        gdals = method == "nearest"  # several bands: GDAL's warper is faster
        try:
            seen = kernel_cases(ctx, d, targets, ds, pattern, method, all_ours=not gdals)
            if gdals and any(nk or ngdal < len(ds) for _, nk, ngdal in seen):
                problems.append("%s: windows (target, lode's, GDAL's) %s: expected all by "
                                "GDAL's warper" % (method, seen))
        except AssertionError as e:
            problems.append("%s: %s" % (method, e))
    assert not problems, "; ".join(problems)


@test
def test_multiband_threads_identical(ctx, tdir):
    """-j 1 and 2 give byte-identical bundles (cmp) with lode's kernels on a 3-band Byte
    image of several windows each way (bilinear at the source's resolution, average 2.4x
    coarser), and the kernels ran on every window."""
    src = multiband_grid(os.path.join(tdir, "big.tif"), False, n=(1500, 1400), seed=11)
    for method, pattern, res in (("bilinear", BILINEAR, 0.00226), ("average", AVERAGE, 0.0054)):
        d = os.path.join(tdir, method)
        os.makedirs(d)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, make_target("EPSG:4326", [src], res=res, margin=2),
                       [{"name": "mb", "source": src, "resampling": method}], POLICY)
        bundles_same_for_threads(ctx, d, man, threads=(1, 2))
        kernel_ran(ctx, d, man, pattern, method, 4, gdal_none=True)


@test
def test_small_target_pixel_interleaved_decodes_on_idle_threads(ctx, tdir):
    """A 3-band Byte image stored pixel by pixel (INTERLEAVE=PIXEL, which GDAL 3.6's
    multi-threaded GeoTIFF reading handles) onto a target of one tile: with -j 2 its
    blocks are decoded on 2 threads (LODE_PROFILE), the bundle is byte-identical to -j
    1's, and every pixel of every band (average, mode) equals gdalwarp -et 0's."""
    src = multiband_grid(os.path.join(tdir, "rgb.tif"), False, n=(1500, 1400), seed=12)
    target = make_target("EPSG:4326", [src], res=0.018, margin=2, error_threshold=0)
    ds = [{"name": m, "source": src, "resampling": m} for m in ("average", "mode")]
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, ds, POLICY)
    bundle = bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "p.nc"), "-q", "-j", "2"], tdir,
             ctx.env(LODE_PROFILE="1"))
    assert_no_crash(r)
    assert r.rc == 0, r.brief()
    got = decoding_threads(r.err)
    assert got == ["2"], "decoding threads %r in %r (expected 2)" % (got, r.err[-400:])
    for x in ds:
        equals_gdalwarp(ctx, tdir, target, x, bundle)


@test
def test_kernel_scratch_within_max_memory(ctx, tdir):
    """--max-memory bounds lode's kernels' buffers too: a 1500 x 1400 Float32 source taken
    8x coarser (one window, whose chunk's source window as Float32 and mask is about 10
    MB) is warped by lode's average kernel with --max-memory 64M (a quarter: 16 MB) and
    by GDAL's warper with 32M (8 MB), the two bundles are byte-identical, and every pixel
    equals gdalwarp -et 0's."""
    src = field_grid(os.path.join(tdir, "f32.tif"), "Float32", -9999.0, n=(1500, 1400),
                     scale=2.0, offset=100.0, seed=9)
    target = make_target("EPSG:4326", [src], res=0.018, margin=2, error_threshold=0)
    man = os.path.join(tdir, "manifest.yaml")
    x = {"name": "avg", "source": src, "resampling": "average"}
    write_manifest(man, target, [x], POLICY)
    outs = []
    for bound, want in (("64M", "kernel"), ("32M", "gdal")):
        out = os.path.join(tdir, "b%s.nc" % bound)
        r = lode(ctx, ["run", man, "-o", out, "-q", "-j", "1", "--max-memory", bound], tdir,
                 ctx.env(LODE_PROFILE="1"))
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        nk = int(AVERAGE.findall(r.err)[-1])
        ngdal = profile_counts(r.err, bound)[1]
        got = "kernel" if (nk, ngdal) == (1, 0) else "gdal" if (nk, ngdal) == (0, 1) else None
        assert got == want, "--max-memory %s: %d windows by lode's kernel, %d by GDAL's warper " \
            "(expected the %s)" % (bound, nk, ngdal, want)
        outs.append(open(out, "rb").read())
    assert outs[0] == outs[1], "the bundles with --max-memory 64M and 32M differ"
    equals_gdalwarp(ctx, tdir, target, x, out)


BLOCKS = re.compile(r"source blocks decoded by lode (\d+) \(windows it left to GDAL (\d+)\)")


@test
def test_deflate_sources_decoded_by_lode(ctx, tdir):
    """Float32 GeoTIFF sources of DEFLATE blocks with the floating-point predictor, which
    lode decodes itself (formats/tiff_blocks.c): tiled, in big-endian strips, and three
    bands stored pixel by pixel; beside them an Int16 one with the horizontal predictor,
    left to GDAL.  For nearest, cubic, average 2x and min 2x, the bundle is
    byte-identical to the one made with GDAL reading every block (LODE_TIFF_DECODE=gdal),
    and across -j 1, 2, 3 and --max-memory 64M, and the single-band ones equal gdalwarp
    -et 0's pixel for pixel; LODE_PROFILE counts the blocks lode
    decoded (none of the Int16 source's, no window left to GDAL), and none when GDAL
    reads them.  Onto a target of one chunk column, lode decodes on the busy thread
    where GDAL's reading would use the idle ones: the same bundle."""
    from osgeo import gdal
    fp = ("COMPRESS=DEFLATE", "PREDICTOR=3")
    f32 = field_grid(os.path.join(tdir, "f32.tif"), "Float32", -9999.0, n=(1300, 420), scale=3.7,
                     offset=41000.25, options=("TILED=YES",) + fp)
    strips = field_grid(os.path.join(tdir, "strips.tif"), "Float32", -9999.0, n=(1300, 420),
                        seed=5, scale=250.0, options=("BLOCKYSIZE=10", "ENDIANNESS=BIG") + fp)
    bands = [field_grid(os.path.join(tdir, "b%d.tif" % k), "Float32", -9999.0, n=(1300, 420),
                        seed=11 + k, scale=10.0 * (k + 1)) for k in range(3)]
    rgb = os.path.join(tdir, "f32x3.tif")
    gdal.Translate(rgb, gdal.BuildVRT(os.path.join(tdir, "x3.vrt"), bands, separate=True),
                   creationOptions=["TILED=YES", "INTERLEAVE=PIXEL"] + list(fp))
    i16 = field_grid(os.path.join(tdir, "i16.tif"), "Int16", -32768, n=(1300, 420), scale=1500.0,
                     options=("TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2"))
    srcs = [f32, strips, rgb, i16]
    for method, res in (("nearest", 0.00225), ("cubic", 0.00225), ("average", 0.0045),
                        ("min", 0.0045)):
        d = os.path.join(tdir, method)
        os.makedirs(d)
        target = make_target("EPSG:4326", [f32], res=res, margin=2, error_threshold=0)
        ds = [{"name": "%s_%d" % (method, i), "source": p, "resampling": method}
              for i, p in enumerate(srcs)]
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, POLICY)
        outs = {}
        for tag, env_add, args in (("lode", {}, ["-j", "2"]),
                                   ("gdal", {"LODE_TIFF_DECODE": "gdal"}, ["-j", "2"]),
                                   ("j1", {}, ["-j", "1"]), ("j3", {}, ["-j", "3"]),
                                   ("mem", {}, ["-j", "2", "--max-memory", "64M"])):
            env = ctx.env()
            env["LODE_PROFILE"] = "1"
            env.update(env_add)
            out = os.path.join(d, tag + ".nc")
            r = lode(ctx, ["run", man, "-o", out, "-q"] + args, d, env)
            assert_no_crash(r)
            assert r.rc == 0, r.brief()
            counts = [(int(a), int(b)) for a, b in BLOCKS.findall(r.err)]
            assert len(counts) == len(srcs), "%s %s: profile lines %r" % (method, tag, counts)
            if tag == "gdal":
                assert counts[-1] == (0, 0), "%s: LODE_TIFF_DECODE=gdal: %r" % (method, counts)
            elif tag == "lode":
                # the Float32 sources' runs add blocks (but several bands by nearest are
                # GDAL's warper's), the Int16 one's none; no window went to GDAL
                prev = 0
                for i, (n, g) in enumerate(counts):
                    grew = n > prev if i < 2 or (i == 2 and method != "nearest") else n == prev
                    assert grew and g == 0, "%s: blocks decoded by lode %r" % (method, counts)
                    prev = n
            outs[tag] = open(out, "rb").read()
        for tag in ("gdal", "j1", "j3", "mem"):
            assert outs[tag] == outs["lode"], "%s: the bundle of %s differs" % (method, tag)
        # and, against a tool lode did not write, gdalwarp -et 0 reading the same
        # PREDICTOR=3 sources (tiled, big-endian strips) pixel for pixel
        for x in ds[:2]:
            equals_gdalwarp(ctx, d, target, x, os.path.join(d, "lode.nc"))
    # A target of one chunk column (8x coarser): lode decodes the blocks on the busy
    # thread (no "decoded on" in LODE_PROFILE) where GDAL's reading uses the idle ones.
    d = os.path.join(tdir, "small")
    os.makedirs(d)
    man = os.path.join(d, "manifest.yaml")
    write_manifest(man, make_target("EPSG:4326", [f32], res=0.018, margin=2, error_threshold=0),
                   [{"name": "average", "source": f32, "resampling": "average"}], POLICY)
    outs = {}
    for tag, env_add, want in (("lode", {}, ""), ("gdal", {"LODE_TIFF_DECODE": "gdal"}, "2")):
        env = ctx.env()
        env["LODE_PROFILE"] = "1"
        env.update(env_add)
        out = os.path.join(d, tag + ".nc")
        r = lode(ctx, ["run", man, "-o", out, "-q", "-j", "2"], d, env)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        n, g = [(int(a), int(b)) for a, b in BLOCKS.findall(r.err)][-1]
        assert (n > 0) == (tag == "lode") and g == 0, "small target, %s: blocks %d, %d" % (tag, n, g)
        assert decoding_threads(r.err) == [want], "small target, %s: %r" % (tag, r.err[-300:])
        outs[tag] = open(out, "rb").read()
    assert outs["lode"] == outs["gdal"], "small target: the bundles differ"

if __name__ == "__main__":
    main()
