"""Helpers of tests/e2e/test_kernels.py and tests/e2e/test_kernels_more.py (issue 19):
source grids made here (classes, smooth fields, odd values), target grids finer and
coarser than them, runs of lode with and without LODE_WARP_KERNEL=gdal (the profile
line's window counts), and the comparisons with gdalwarp -et 0, pixel for pixel and bit
for bit.  Not a test suite itself.
"""
import os
import re

import numpy as np

from lodetest import (assert_no_crash, compare_pixels, gdalwarp_ref, lode, make_target,
                      nc_name, read_raster, write_manifest)

POLICY = {"allow_ballpark": True}


PROFILE = re.compile(r"windows so far: (\d+) by lode's bilinear kernel, (\d+) by GDAL's warper "
                     r"\(mode on bytes (\d+), on floats (\d+)\)")


def class_grid(path, dtype, nodata, values, n=(460, 380), seed=1, patches=True):
    """A class grid in EPSG:3375 (Peninsular Malaysia, 250 m pixels): smooth zones of
    classes with noise, so that many target pixels see ties between two or more classes;
    holes of nodata inside, and a ragged edge.  values: the classes (ints)."""
    from osgeo import gdal, osr
    nx, ny = n
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    zone = (np.sin(xx / 23.0) + np.cos(yy / 17.0) + 0.9 * rng.standard_normal((ny, nx)))
    idx = np.clip(((zone + 3.0) / 6.0 * len(values)).astype(int), 0, len(values) - 1)
    a = np.asarray(values)[idx]
    if nodata is not None:
        if patches:
            a[40:90, 100:170] = nodata
            a[(xx - 300) ** 2 + (yy - 250) ** 2 < 35 ** 2] = nodata
        ends = (nx * (0.9 + 0.1 * rng.random(ny))).astype(int)
        for r in range(ny):
            a[r, ends[r]:] = nodata
    t = {"UInt16": gdal.GDT_UInt16, "Int16": gdal.GDT_Int16, "Byte": gdal.GDT_Byte}[dtype]
    ds = gdal.GetDriverByName("GTiff").Create(path, nx, ny, 1, t,
                                              ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128"])
    ds.SetGeoTransform((380000.0, 250.0, 0.0, 520000.0, 0.0, -250.0))
    s = osr.SpatialReference()
    s.ImportFromEPSG(3375)
    ds.SetProjection(s.ExportToWkt())
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds.GetRasterBand(1).WriteArray(a)
    ds = None
    return path


def profile_counts(err, tag):
    m = PROFILE.findall(err)
    assert m, "%s: no profile line in %r" % (tag, err[-300:])
    return tuple(int(x) for x in m[-1])


MODE = re.compile(r"(\d+) by its mode kernel \(16-bit values as bytes (\d+), as floats (\d+)\)")


def mode_counts(err, tag):
    """(windows by lode's mode kernel, of them 16-bit ones as bytes, as floats)."""
    m = MODE.findall(err)
    assert m, "%s: no mode kernel count in the profile line %r" % (tag, err[-300:])
    return tuple(int(x) for x in m[-1])


def equals_gdalwarp(ctx, d, target, x, bundle, label=None):
    """Dataset x (a manifest dataset dict) of bundle pixel for pixel gdalwarp -et 0's onto
    target, with x's own resampling (the reference GeoTIFF goes into folder d).  Returns
    the reference's path."""
    ref = gdalwarp_ref(ctx, d, target, x, os.path.join(d, x["name"] + "_ref.tif"), et=0)
    compare_pixels(label or x["name"], read_raster(nc_name(bundle, x["name"])), read_raster(ref),
                   exact=True)
    return ref


DECODED = re.compile(r"profile: average: \d+ threads(?: \(the source decoded on (\d+)\))?")


def decoding_threads(err):
    """The LODE_PROFILE lines' "(the source decoded on N)" of dataset average in err: a
    list with N, or "" for a line without it."""
    return DECODED.findall(err)


def run_pair(ctx, d, man, tag):
    """lode run of man as it is and with LODE_WARP_KERNEL=gdal (GDAL's warper for every
    window), LODE_PROFILE set: the bundles must be byte-identical.  Returns both runs'
    stderr (lode's, then GDAL's warper's) and the first run's bundle."""
    errs, outs = [], []
    for k in ("lode", "gdal"):
        env = ctx.env()
        env["LODE_PROFILE"] = "1"
        if k == "gdal":
            env["LODE_WARP_KERNEL"] = "gdal"
        out = os.path.join(d, "%s-%s.nc" % (tag, k))
        r = lode(ctx, ["run", man, "-o", out, "-q"], d, env)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        errs.append(r.err)
        outs.append(out)
    if open(outs[0], "rb").read() != open(outs[1], "rb").read():
        raise AssertionError("%s: bundle differs from the one GDAL's warper writes" % tag)
    return errs, outs[0]


def run_both(ctx, d, man, tag):
    """run_pair for mode on 16-bit values.  Returns the profile counts (kernel, gdal, mode
    on bytes, mode on floats, lode's mode kernel, of them as bytes, as floats) of the
    normal run and its bundle's path."""
    errs, bundle = run_pair(ctx, d, man, tag)
    counts = [profile_counts(e, tag) + mode_counts(e, tag) for e in errs]
    assert counts[1][2:] == (0, 0, 0, 0, 0), ("%s: LODE_WARP_KERNEL=gdal still counted bytes or "
                                              "floats, or ran lode's mode kernel" % tag)
    return counts[0], bundle


def mode_cases(ctx, tdir, cases, want):
    """cases: (tag, target, datasets). Every dataset equals gdalwarp -et 0; want: the
    working type every window must have used ("bytes", "floats", "native": the source's,
    GDAL's 16-bit path, or None: the same, all by GDAL's warper); with bytes, floats or
    native, lode's mode kernel (formats/warp_stats.c) must have warped some windows
    (those with a nodata value), as GDAL's warper would with that type."""
    problems = []
    for tag, target, ds in cases:
        d = os.path.join(tdir, tag)
        os.makedirs(d, exist_ok=True)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, POLICY)
        try:
            (_, gdal_n, nbytes, nfloats, kmode, kbytes, kfloats), bundle = run_both(ctx, d, man, tag)
            if want is None:
                if gdal_n == 0 or nbytes or nfloats or kmode:
                    problems.append("%s: %d windows by GDAL's warper (%d on bytes, %d on floats), "
                                    "%d by lode's mode kernel (expected all by GDAL's on 16 bits)"
                                    % (tag, gdal_n, nbytes, nfloats, kmode))
            elif want == "native":
                if kmode == 0 or nbytes or nfloats or kbytes or kfloats:
                    problems.append("%s: %d windows by lode's mode kernel (%d as bytes, %d as "
                                    "floats), %d by GDAL's warper (%d on bytes, %d on floats; "
                                    "expected all on 16 bits, some by lode's)" % (
                                        tag, kmode, kbytes, kfloats, gdal_n, nbytes, nfloats))
            else:
                got = {"bytes": kbytes + nbytes, "floats": kfloats + nfloats}[want]
                if kmode == 0 or got != kmode + gdal_n:
                    problems.append("%s: %d windows by lode's mode kernel (%d as bytes, %d as "
                                    "floats), %d by GDAL's warper (%d on bytes, %d on floats; "
                                    "expected all as %s, some by lode's)" % (
                                        tag, kmode, kbytes, kfloats, gdal_n, nbytes, nfloats, want))
            for x in ds:
                equals_gdalwarp(ctx, d, target, x, bundle, "%s/%s" % (tag, x["name"]))
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


def grids(src, et=0):
    """Target grids over src: EPSG:4326 2x, 1.5x and 3.7x coarser than the source's
    ~250 m pixels (non-integer ratios), with a margin of nodata around; UTM 2.6x."""
    return [("geo2x", make_target("EPSG:4326", [src], res=0.0045, margin=6, error_threshold=et)),
            ("geo1_5x", make_target("EPSG:4326", [src], res=0.0034, margin=3, error_threshold=et)),
            ("geo3_7x", make_target("EPSG:4326", [src], res=0.0083, margin=2, error_threshold=et)),
            ("utm2_6x", make_target("EPSG:32647", [src], res=650.0, margin=5, error_threshold=et))]


AVERAGE = re.compile(r"(\d+) by lode's average kernel")


def field_grid(path, dtype, nodata, n=(460, 380), seed=3, scale=1.0, offset=0.0,
               options=("TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128")):
    """A continuous field (a smooth surface with noise) in EPSG:3375 (250 m pixels) of
    dtype, values offset + scale * (-1 .. 1 and a bit), nodata holes inside and a ragged
    edge; GeoTIFF creation options (uncompressed tiles of 128 x 128 by default)."""
    from osgeo import gdal, osr
    nx, ny = n
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    v = (0.6 * np.sin(xx / 19.0) * np.cos(yy / 27.0) + 0.3 * np.sin((xx + yy) / 7.0)
         + 0.15 * rng.standard_normal((ny, nx)))
    a = offset + scale * v
    if dtype != "Float32":
        a = np.round(a)
    a[40:90, 100:170] = nodata
    a[(xx - 300) ** 2 + (yy - 250) ** 2 < 35 ** 2] = nodata
    a[rng.random((ny, nx)) < 0.02] = nodata        # scattered single holes
    ends = (nx * (0.9 + 0.1 * rng.random(ny))).astype(int)
    for r in range(ny):
        a[r, ends[r]:] = nodata
    t = {"UInt16": gdal.GDT_UInt16, "Int16": gdal.GDT_Int16, "Byte": gdal.GDT_Byte,
         "Float32": gdal.GDT_Float32}[dtype]
    ds = gdal.GetDriverByName("GTiff").Create(path, nx, ny, 1, t, list(options))
    ds.SetGeoTransform((380000.0, 250.0, 0.0, 520000.0, 0.0, -250.0))
    s = osr.SpatialReference()
    s.ImportFromEPSG(3375)
    ds.SetProjection(s.ExportToWkt())
    ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds.GetRasterBand(1).WriteArray(a)
    ds = None
    return path


def run_average(ctx, d, man, tag, pattern=AVERAGE, kernel="average"):
    """run_pair.  Returns (windows by lode's average (or other: pattern) kernel, windows
    by GDAL's warper) of the normal run, and its bundle."""
    errs, bundle = run_pair(ctx, d, man, tag)
    counts = []
    for e in errs:
        n = pattern.findall(e)
        assert n, "%s: no %s count in the profile line %r" % (tag, kernel, e[-300:])
        counts.append((int(n[-1]), profile_counts(e, tag)[1]))
    assert counts[1][0] == 0, "%s: LODE_WARP_KERNEL=gdal still ran lode's %s kernel" % (tag, kernel)
    return counts[0], bundle


def kernel_ran(ctx, tdir, man, pattern, kernel, least, gdal_none=False):
    """lode run of man with LODE_PROFILE: lode's kernel (pattern) warped at least least
    windows, and (gdal_none) GDAL's warper none."""
    env = ctx.env()
    env["LODE_PROFILE"] = "1"
    r = lode(ctx, ["run", man, "-o", os.path.join(tdir, "p.nc"), "-q"], tdir, env)
    assert r.rc == 0, r.brief()
    n = pattern.findall(r.err)
    assert n and int(n[-1]) >= least, "lode's %s kernel warped %s windows (expected >= %d)" % (
        kernel, n, least)
    if gdal_none:
        assert profile_counts(r.err, kernel)[1] == 0, "GDAL's warper did some windows"


def average_sources(tdir):
    """Float32 (nodata -9999), Int16 (negative values, nodata -32768), UInt16 (nodata 0)
    and one whose nodata, 1000, lies among the values (averages that round onto it are
    moved off it), and Byte (nodata 255): all with holes and a ragged edge."""
    return [("f32", field_grid(os.path.join(tdir, "f32.tif"), "Float32", -9999.0, scale=3.7,
                               offset=41000.25)),
            ("i16", field_grid(os.path.join(tdir, "i16.tif"), "Int16", -32768, scale=1500.0,
                               offset=200.0, seed=4)),
            ("u16", field_grid(os.path.join(tdir, "u16.tif"), "UInt16", 0, scale=20000.0,
                               offset=30000.0, seed=5)),
            ("u16nd", field_grid(os.path.join(tdir, "u16nd.tif"), "UInt16", 1000, scale=4.0,
                                 offset=1000.0, seed=6)),
            ("byte", field_grid(os.path.join(tdir, "byte.tif"), "Byte", 255, scale=120.0,
                                offset=128.0, seed=8))]


CUBIC = re.compile(r"(\d+) by lode's cubic kernel")


def interp_sources(tdir):
    """average_sources and a Float32 grid whose nodata value no pixel has (chunks without
    a source mask)."""
    from osgeo import gdal
    srcs = average_sources(tdir)
    clean = os.path.join(tdir, "f32clean.tif")
    gdal.Translate(clean, srcs[0][1], creationOptions=["TILED=YES"])
    c = gdal.Open(clean, gdal.GA_Update)
    a = c.GetRasterBand(1).ReadAsArray()
    a[a == -9999.0] = 41000.0
    c.GetRasterBand(1).WriteArray(a)
    c = None
    return srcs + [("f32clean", clean)]


def kernel_equals_gdalwarp(ctx, tdir, method, pattern, srcs, targets, gdal_tags=()):
    """Every source of srcs (interp_sources) resampled by method onto each of targets (tag,
    target): pixels equal to gdalwarp -et 0's, bundles byte-identical to
    LODE_WARP_KERNEL=gdal's, every window counted by pattern (lode's kernel), or, for the
    tags in gdal_tags, every window by GDAL's warper."""
    ds = [{"name": "k_" + k, "source": p, "resampling": method} for k, p in srcs]
    problems = []
    for tag, target in targets:
        d = os.path.join(tdir, tag)
        os.makedirs(d, exist_ok=True)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, POLICY)
        try:
            (nk, ngdal), bundle = run_average(ctx, d, man, tag, pattern, method)
            if tag in gdal_tags:
                if nk != 0 or ngdal < len(ds):
                    problems.append("%s: %d windows by lode's %s kernel, %d by GDAL's warper "
                                    "(expected all by GDAL's)" % (tag, nk, method, ngdal))
            elif nk < len(ds) or ngdal != 0:
                problems.append("%s: %d windows by lode's %s kernel, %d by GDAL's warper "
                                "(expected all %d datasets' windows by lode's)" % (
                                    tag, nk, method, ngdal, len(ds)))
            for x in ds:
                equals_gdalwarp(ctx, d, target, x, bundle, "%s/%s" % (tag, x["name"]))
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)


def finer_grids(src):
    """About 1.4x finer and at the source's resolution in EPSG:4326, 1.25x finer in UTM,
    with nodata margins."""
    return [("geo_fine", make_target("EPSG:4326", [src], res=0.0016, margin=6, error_threshold=0)),
            ("geo_same", make_target("EPSG:4326", [src], res=0.00226, margin=3, error_threshold=0)),
            ("utm_fine", make_target("EPSG:32647", [src], res=200.0, margin=5, error_threshold=0))]


SPLINE = re.compile(r"(\d+) by lode's cubicspline kernel")


LANCZOS = re.compile(r"(\d+) by lode's lanczos kernel")


STATS = re.compile(r"(\d+) by its rms, min, max, med, q1 and q3 kernel")


STAT_METHODS = ("min", "max", "rms", "med", "q1", "q3")


def same_bits(label, bundle, name, ref):
    """Every pixel of dataset name of bundle (read with h5py: GDAL's netCDF driver reads
    a NaN as the nodata value) and of the GeoTIFF ref bit for bit the same (a -0 is not
    a 0, a NaN is compared by its bits), and of the same type."""
    import h5py
    from osgeo import gdal
    with h5py.File(bundle, "r") as f:
        a = f[name][name][...]
        y = f[name]["y"][...]
    if y.size > 1 and y[0] < y[-1]:
        a = a[..., ::-1, :]
    b = gdal.Open(ref).ReadAsArray()
    assert a.dtype == b.dtype and a.shape == b.shape, "%s: %s %s != reference %s %s" % (
        label, a.dtype, a.shape, b.dtype, b.shape)
    if a.tobytes() != b.tobytes():
        u = {1: np.uint8, 2: np.uint16, 4: np.uint32}[a.dtype.itemsize]
        bad = np.argwhere(a.view(u) != b.view(u))
        idx = tuple(int(i) for i in bad[0])
        raise AssertionError("%s: %d pixels differ in their bits from gdalwarp's (first %s: "
                             "lode %r, gdalwarp %r)" % (label, len(bad), idx, a[idx], b[idx]))


def kernel_cases(ctx, tdir, targets, ds, pattern, kernel, all_ours=True):
    """Every dataset of ds on every target: each pixel bit for bit gdalwarp -et 0's (the
    datasets' own resampling), the bundle byte-identical to LODE_WARP_KERNEL=gdal's, and
    (all_ours) every window warped by lode's kernel, whose count the profile line gives
    (pattern; kernel names it in messages).  Returns the window counts per target."""
    problems, seen = [], []
    for tag, target in targets:
        d = os.path.join(tdir, tag)
        os.makedirs(d, exist_ok=True)
        man = os.path.join(d, "manifest.yaml")
        write_manifest(man, target, ds, POLICY)
        try:
            (nk, ngdal), bundle = run_average(ctx, d, man, tag, pattern, kernel)
            seen.append((tag, nk, ngdal))
            if all_ours and (nk < len(ds) or ngdal != 0):
                problems.append("%s: %d windows by lode's %s kernel, %d by GDAL's warper "
                                "(expected all %d datasets' windows by lode's)" % (
                                    tag, nk, kernel, ngdal, len(ds)))
            for x in ds:
                label = "%s/%s" % (tag, x["name"])
                ref = equals_gdalwarp(ctx, d, target, x, bundle, label)
                same_bits(label, bundle, x["name"], ref)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)
    return seen


SUM = re.compile(r"(\d+) by its sum kernel")


MODEK = re.compile(r"(\d+) by its mode kernel")


def mode_sources(tdir):
    """Class grids (ties in many footprints): Byte (nodata 0), Float32 classes with
    nodata -9999, Float32 of +0, -0, 1, -1 and some NaN (valid), and the UInt16 and
    Int16 ones lode counts as bytes and as floats."""
    from osgeo import gdal
    byte = class_grid(os.path.join(tdir, "m_byte.tif"), "Byte", 0, [1, 4, 9, 16, 200], seed=31)
    u16 = class_grid(os.path.join(tdir, "m_u16.tif"), "UInt16", 0, [3, 7, 12, 40, 41, 200], seed=32)
    i16 = class_grid(os.path.join(tdir, "m_i16.tif"), "Int16", -1, [5, 300, 301, 7000], seed=33)
    f32 = os.path.join(tdir, "m_f32.tif")
    gdal.Translate(f32, i16, outputType=gdal.GDT_Float32, noData=-9999,
                   scaleParams=[[-1, 7000, -9999, 1.75]], creationOptions=["TILED=YES"])
    base = field_grid(os.path.join(tdir, "m_base.tif"), "Float32", -9999.0, seed=34)
    a = gdal.Open(base).ReadAsArray()
    rng = np.random.default_rng(35)
    z = np.where(a > 0.25, np.float32(1.0), np.where(a < -0.25, np.float32(-1.0),
                                                    np.where(a > 0, np.float32(0.0),
                                                             np.float32(-0.0))))
    z[rng.random(a.shape) < 0.05] = np.nan
    z[a == -9999.0] = -9999.0
    zeros = os.path.join(tdir, "m_zeros.tif")
    ds = gdal.GetDriverByName("GTiff").CreateCopy(zeros, gdal.Open(base))
    ds.GetRasterBand(1).WriteArray(z.astype(np.float32))
    ds = None
    return [("byte", byte), ("u16", u16), ("i16", i16), ("f32", f32), ("zeros", zeros)]


NEAREST = re.compile(r"(\d+) by lode's nearest kernel")


def nearest_sources(tdir):
    """interp_sources and a Float32 grid whose valid values include NaN, -0 and +0 (nodata
    -9999; nearest copies their bits).  (A NaN nodata value makes GDAL 3.6 warp in
    Float64, which lode leaves to GDAL's warper.)"""
    from osgeo import gdal
    srcs = interp_sources(tdir)
    base = srcs[0][1]
    a = gdal.Open(base).ReadAsArray()
    rng = np.random.default_rng(31)
    # half the pixels the field's values, the others +0 or -0
    z = np.where(a > 41000.25, np.float32(0.0), np.float32(-0.0)).astype(np.float32)
    z = np.where(rng.random(a.shape) < 0.5, a, z).astype(np.float32)
    z[rng.random(a.shape) < 0.02] = np.nan
    z[a == -9999.0] = -9999.0
    odd = os.path.join(tdir, "f32odd.tif")
    ds = gdal.GetDriverByName("GTiff").CreateCopy(odd, gdal.Open(base))
    ds.GetRasterBand(1).WriteArray(z)
    ds = None
    return srcs + [("f32odd", odd)]


BILINEAR = re.compile(r"(\d+) by lode's bilinear kernel")


def multiband_grid(path, same, interleave="PIXEL", seed=7, n=(460, 380)):
    """A 3-band Byte image (nodata 0 on each band, values 1-255) in EPSG:3375 with holes
    and a ragged edge in every band; same: the holes at the same pixels in every band
    (an RGB image's usual nodata), else each band also has its own scattered holes and
    band 2 a patch of its own (a pixel nodata in one band only: GDAL's unified validity,
    valid in any band, then differs from the band's)."""
    from osgeo import gdal, osr
    nx, ny = n
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    ds = gdal.GetDriverByName("GTiff").Create(
        path, nx, ny, 3, gdal.GDT_Byte,
        ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "INTERLEAVE=" + interleave])
    ds.SetGeoTransform((380000.0, 250.0, 0.0, 520000.0, 0.0, -250.0))
    s = osr.SpatialReference()
    s.ImportFromEPSG(3375)
    ds.SetProjection(s.ExportToWkt())
    holes = np.zeros((ny, nx), bool)
    holes[40:90, 100:170] = True
    holes[(xx - 300) ** 2 + (yy - 250) ** 2 < 35 ** 2] = True
    ends = (nx * (0.9 + 0.1 * rng.random(ny))).astype(int)
    for r in range(ny):
        holes[r, ends[r]:] = True
    for b in range(3):
        v = (128 + 100 * np.sin(xx / (13.0 + 5 * b)) * np.cos(yy / (19.0 + 3 * b))
             + 20 * rng.standard_normal((ny, nx)))
        a = np.clip(np.round(v), 1, 255)
        m = holes.copy()
        if not same:
            m |= rng.random((ny, nx)) < 0.03
            if b == 1:
                m[200:260, 20:90] = True
        a[m] = 0
        ds.GetRasterBand(b + 1).SetNoDataValue(0)
        ds.GetRasterBand(b + 1).WriteArray(a)
    ds = None
    return path
