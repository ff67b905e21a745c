#!/usr/bin/python3
"""End-to-end tests of sources partly outside the area where their CRS is defined: a
geostationary image whose corners (or whole edges) lie off the Earth's disk, the kind
Himawari gives over South-East Asia; a grid reaching the pole, where Mercator is not
defined; a source across the antimeridian of a geographic target.  lode must plan them
and warp them as gdalwarp does, skipping the points that do not transform: every pixel
equals gdalwarp -et 0's on the same grid.  A source that truly misses target.bounds is
still refused, naming it.

/usr/bin/python3 tests/e2e/test_offdisk.py --lode build/lode --work TMPDIR [-k NAME]
(the other flags of lodetest.py are accepted and unused: the sources are made here with
GDAL's Python bindings.)
"""
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (assert_no_crash, compare_pixels, gdalwarp_ref, leftovers, lode,  # noqa: E402
                      main, nc_name, read_raster, srs_from, test, write_manifest)
from osgeo import gdal, osr  # noqa: E402

# Himawari-8/9's projection.  GDAL reads a geostationary CRS from a GeoTIFF or a CF
# netCDF file as a PROJ string on an unnamed datum, so PROJ's only operation to WGS 84 is
# a ballpark one: the manifests allow it, as a user of such files must.
HIMAWARI = "+proj=geos +h=35785831 +lon_0=140.7 +sweep=x +ellps=WGS84 +units=m +no_defs"
POLICY = {"allow_ballpark": True}
FULL_DISK = (-5570000.0, -5570000.0, 5570000.0, 5570000.0)  # every edge off the disk
WEST = (-5600000.0, -3000000.0, -1000000.0, 3000000.0)  # corners off, east edge on it
METHODS = ("nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode",
           "min", "max", "med")
SOURCE_DATE_EPOCH = 1764201600


def make_source(path, crs, box, nx, ny, dtype=gdal.GDT_Float32, nodata=-9999.0):
    """A north-up raster over box (xmin ymin xmax ymax of crs) with a smooth pattern of
    values and a nodata value."""
    ds = gdal.GetDriverByName("GTiff").Create(path, nx, ny, 1, dtype)
    ds.SetGeoTransform([box[0], (box[2] - box[0]) / nx, 0, box[3], 0, -(box[3] - box[1]) / ny])
    s = osr.SpatialReference()
    s.SetFromUserInput(crs)
    ds.SetSpatialRef(s)
    j, i = np.mgrid[0:ny, 0:nx]
    a = np.sin(i / 17.0) * np.cos(j / 23.0) * 100 + i * 0.5 + j * 0.25  # -100 .. 325
    if dtype != gdal.GDT_Float32:  # into the type's range, clear of its nodata value
        v = (a + 100) / 425
        a = {gdal.GDT_Byte: v * 250, gdal.GDT_UInt16: 1 + v * 60000,
             gdal.GDT_Int16: v * 60000 - 30000}[dtype]
    b = ds.GetRasterBand(1)
    b.SetNoDataValue(nodata)
    b.WriteArray(a)
    ds = None
    return path


def gdal_box(path, dst):
    """OGR's TransformBounds of the raster's extent into dst (what lode used to check the
    overlap with): a tuple, None when it fails."""
    ds = gdal.Open(path)
    gt, nx, ny = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize
    src = srs_from(ds.GetProjection())
    ct = osr.CoordinateTransformation(src, srs_from(dst))
    try:
        box = ct.TransformBounds(gt[0], gt[3] + ny * gt[5], gt[0] + nx * gt[1], gt[3], 21)
    except RuntimeError:
        return None
    return box if all(math.isfinite(v) for v in box) else None


def run_ok(ctx, tdir, target, datasets, env_extra=None, name="b.nc"):
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, datasets, POLICY)
    out = os.path.join(tdir, name)
    env = ctx.env(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, **(env_extra or {}))
    r = lode(ctx, ["run", man, "-o", out, "-q"], tdir, env)
    assert_no_crash(r)
    assert r.rc == 0, "lode run failed: " + r.brief()
    v = lode(ctx, ["verify", out, "-q"], tdir)
    assert v.rc == 0, "verify: " + v.brief()
    return out


def equals_gdalwarp(ctx, tdir, target, datasets, bundle):
    """Every dataset of bundle equals gdalwarp's output on the same grid, pixel for pixel
    and nodata for nodata (-et from the dataset or the target, as lode applies it).
    Returns {name: (valid pixels, nodata pixels)} of the references."""
    problems, counts = [], {}
    for d in datasets:
        ref = gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, d["name"] + "_ref.tif"))
        want = read_raster(ref)
        counts[d["name"]] = (int((~want[1]).sum()), int(want[1].sum()))
        try:
            compare_pixels(d["name"], read_raster(nc_name(bundle, d["name"])), want, exact=True)
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "; ".join(problems)
    return counts


def value_at(bundle, name, lon, lat):
    a, m, _, info = read_raster(nc_name(bundle, name))
    gt = info["gt"]
    col, row = int((lon - gt[0]) / gt[1]), int((lat - gt[3]) / gt[5])
    return None if m[0, row, col] else a[0, row, col]


# =========================================================================== tests

@test
def test_full_disk_every_method(ctx, tdir):
    """A 300 x 300 geostationary full disk (every edge and corner off the Earth's disk, so
    OGR's TransformBounds of its extent fails: lode used to refuse it) onto a lon/lat grid
    over the Indian Ocean and South-East Asia that reaches past the disk's western limb:
    every resampling method with error_threshold 0, and the defaults (nearest, 0.125
    px), equal gdalwarp's pixels; the grid holds both nodata (off the disk) and values
    (Kuala Lumpur has one, the limb at 45E none)."""
    src = make_source(os.path.join(tdir, "full_disk.tif"), HIMAWARI, FULL_DISK, 300, 300)
    assert gdal_box(src, "EPSG:4326") is None, \
        "precondition: OGR's TransformBounds transforms the full disk's extent"
    target = {"crs": "EPSG:4326", "bounds": [40, -40, 130, 40], "resolution": 0.25}
    ds = [{"name": m, "source": src, "resampling": m, "error_threshold": 0} for m in METHODS]
    ds.append({"name": "defaults", "source": src})
    b = run_ok(ctx, tdir, target, ds)
    counts = equals_gdalwarp(ctx, tdir, target, ds, b)
    valid, nodata = counts["bilinear"]
    assert valid > 1000 and nodata > 1000, "precondition: valid %d, nodata %d" % (valid, nodata)
    assert value_at(b, "bilinear", 101.69, 3.14) is not None, "no value at Kuala Lumpur"
    assert value_at(b, "bilinear", 45.1, 0.1) is None, "a value off the disk at 45E"


def full_disk_kernel(ctx, tdir, method):
    """The full disk with lode's own kernel for method (Float32, Int16, UInt16 and Byte
    with nodata) and with GDAL's warper (LODE_WARP_KERNEL=gdal): the same pixels, equal
    to gdalwarp -et 0's, on a grid whose windows cross the limb."""
    target = {"crs": "EPSG:4326", "bounds": [40, -40, 130, 40], "resolution": 0.2,
              "error_threshold": 0}
    ds = []
    for tag, t, nd in (("f32", gdal.GDT_Float32, -9999.0), ("i16", gdal.GDT_Int16, -32768.0),
                       ("u16", gdal.GDT_UInt16, 0.0), ("u8", gdal.GDT_Byte, 255.0)):
        p = make_source(os.path.join(tdir, "disk_%s.tif" % tag), HIMAWARI, FULL_DISK, 300, 300,
                        t, nd)
        ds.append({"name": tag, "source": p, "resampling": method})
    problems = []
    for kernel in ("lode", "gdal"):
        d = os.path.join(tdir, kernel)
        os.makedirs(d)
        b = run_ok(ctx, d, target, ds, {"LODE_WARP_KERNEL": kernel})
        try:
            equals_gdalwarp(ctx, d, target, ds, b)
        except AssertionError as e:
            problems.append("%s kernel: %s" % (kernel, e))
    assert not problems, "; ".join(problems)


@test
def test_full_disk_bilinear_kernel(ctx, tdir):
    """full_disk_kernel with lode's bilinear kernel (formats/warp_bilinear.c)."""
    full_disk_kernel(ctx, tdir, "bilinear")


@test
def test_full_disk_cubic_kernel(ctx, tdir):
    """full_disk_kernel with lode's cubic kernel (formats/warp_cubic.c)."""
    full_disk_kernel(ctx, tdir, "cubic")


@test
def test_full_disk_cubicspline_kernel(ctx, tdir):
    """full_disk_kernel with lode's cubicspline kernel (formats/warp_cubic.c)."""
    full_disk_kernel(ctx, tdir, "cubicspline")


@test
def test_full_disk_lanczos_kernel(ctx, tdir):
    """full_disk_kernel with lode's lanczos kernel (formats/warp_cubic.c)."""
    full_disk_kernel(ctx, tdir, "lanczos")


@test
def test_west_limb(ctx, tdir):
    """Corners off the disk, the eastern edge on it: OGR's TransformBounds keeps only the
    edge points that transform, and its box misses the limb; a grid over the limb alone
    (55E-75E) is planned and equals gdalwarp (nearest and bilinear, -et 0)."""
    src = make_source(os.path.join(tdir, "west.tif"), HIMAWARI, WEST, 300, 300)
    target = {"crs": "EPSG:4326", "bounds": [55, -20, 75, 20], "resolution": 0.1,
              "error_threshold": 0}
    box = gdal_box(src, "EPSG:4326")
    assert box is not None and box[0] > target["bounds"][2], \
        "precondition: OGR's box %s reaches the grid" % (box,)
    ds = [{"name": m, "source": src, "resampling": m} for m in ("nearest", "bilinear")]
    b = run_ok(ctx, tdir, target, ds)
    valid, nodata = equals_gdalwarp(ctx, tdir, target, ds, b)["bilinear"]
    assert valid > 1000 and nodata > 1000, "precondition: valid %d, nodata %d" % (valid, nodata)


@test
def test_full_disk_whole_earth(ctx, tdir):
    """The full disk onto the whole Earth in lon/lat, 1800 x 800 pixels: the disk reaches
    across the antimeridian (140.7E +- 81 degrees), windows cross its limb, and whole
    512 x 512 windows (77.6W to 24.6E) lie off it, where GDAL's warper warps nothing;
    nearest and bilinear equal gdalwarp -et 0 (nodata there, not zeros)."""
    src = make_source(os.path.join(tdir, "full_disk.tif"), HIMAWARI, FULL_DISK, 300, 300)
    target = {"crs": "EPSG:4326", "bounds": [-180, -80, 180, 80], "resolution": 0.2,
              "error_threshold": 0}
    ds = [{"name": m, "source": src, "resampling": m} for m in ("nearest", "bilinear")]
    b = run_ok(ctx, tdir, target, ds)
    equals_gdalwarp(ctx, tdir, target, ds, b)
    assert read_raster(os.path.join(tdir, "nearest_ref.tif"))[1][0, :, 512:1024].all(), \
        "precondition: gdalwarp has values in columns 512-1023"
    assert value_at(b, "bilinear", -170.0, 0.1) is not None, "no value east of the antimeridian"


@test
def test_across_antimeridian(ctx, tdir):
    """A Mercator grid (EPSG:3832, centred on 150E) from 170E to 169W onto lon/lat bounds
    175E-185E: OGR's box of it runs from 170 to -169 (west > east), which lode read as no
    overlap; now planned, equal to gdalwarp -et 0."""
    src = make_source(os.path.join(tdir, "pdc.tif"), "EPSG:3832",
                      (2200000.0, -1200000.0, 4600000.0, 1200000.0), 200, 200)
    box = gdal_box(src, "EPSG:4326")
    assert box is not None and box[0] > box[2], "precondition: OGR's box %s" % (box,)
    target = {"crs": "EPSG:4326", "bounds": [175, -10, 185, 10], "resolution": 0.1,
              "error_threshold": 0}
    ds = [{"name": m, "source": src, "resampling": m} for m in ("nearest", "bilinear")]
    b = run_ok(ctx, tdir, target, ds)
    valid, _ = equals_gdalwarp(ctx, tdir, target, ds, b)["bilinear"]
    assert valid > 1000, "precondition: %d valid pixels" % valid


@test
def test_polar(ctx, tdir):
    """Lon/lat up to the south pole onto Web Mercator, which is not defined at the pole
    (the edge along 90S does not transform), and an Antarctic polar stereographic grid
    around the pole onto Web Mercator: equal to gdalwarp -et 0 (nearest and bilinear)."""
    cases = [
        ("lonlat", make_source(os.path.join(tdir, "pole.tif"), "EPSG:4326",
                               (-180.0, -90.0, 180.0, -50.0), 360, 80)),
        ("stereo", make_source(os.path.join(tdir, "ps.tif"), "EPSG:3031",
                               (-4000000.0, -4000000.0, 4000000.0, 4000000.0), 320, 320)),
    ]
    target = {"crs": "EPSG:3857", "bounds": [-20000000, -30000000, 20000000, -6000000],
              "resolution": 100000, "error_threshold": 0}
    problems = []
    for tag, src in cases:
        d = os.path.join(tdir, tag)
        os.makedirs(d)
        ds = [{"name": m, "source": src, "resampling": m} for m in ("nearest", "bilinear")]
        try:
            b = run_ok(ctx, d, target, ds)
            equals_gdalwarp(ctx, d, target, ds, b)
        except AssertionError as e:
            problems.append("%s: %s" % (tag, e))
    assert not problems, "; ".join(problems)


@test
def test_vector_layer_across_antimeridian(ctx, tdir):
    """A point layer in the geostationary projection, 36 points on a circle near the limb:
    its extent's corners are off the disk, and in lon/lat OGR's box of it runs from 67E
    to 146W (west > east), which lode read as no overlap with bounds 40E-180E.  Now
    planned: the layer keeps exactly the points that OGR transforms into the bounds."""
    from osgeo import ogr
    path = os.path.join(tdir, "points.gpkg")
    crs = osr.SpatialReference()
    crs.SetFromUserInput(HIMAWARI)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("points", crs, ogr.wkbPoint)
    pts = [(5300e3 * math.cos(k * math.pi / 18), 5300e3 * math.sin(k * math.pi / 18))
           for k in range(36)]
    for x, y in pts:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt("POINT (%r %r)" % (x, y)))
        layer.CreateFeature(f)
    ds = None
    target = {"crs": "EPSG:4326", "bounds": [40, -80, 180, 80], "resolution": 0.25}
    ct = osr.CoordinateTransformation(srs_from(HIMAWARI), srs_from("EPSG:4326"))
    lonlat = [ct.TransformPoint(x, y)[:2] for x, y in pts]
    b = target["bounds"]
    want = sum(1 for lon, lat in lonlat if b[0] <= lon <= b[2] and b[1] <= lat <= b[3])
    assert 0 < want < len(pts), "precondition: %d of the points in the bounds" % want
    out = run_ok(ctx, tdir, target, [{"name": "points", "source": path}])
    r = lode(ctx, ["ls", out], tdir)
    assert r.rc == 0 and ("Point, %d features" % want) in r.out, \
        "want %d features: %s" % (want, r.brief())


def refused(ctx, tdir, target, datasets, mention):
    """lode plan and lode run both refuse: exit 1, stderr names each of mention, no
    bundle or temporary file left."""
    man = os.path.join(tdir, "manifest.yaml")
    write_manifest(man, target, datasets, POLICY)
    out = os.path.join(tdir, "out")
    os.makedirs(out)
    for args in (["plan", man], ["run", man, "-o", os.path.join(out, "b.nc")]):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc == 1, "want exit 1: " + r.brief()
        for m in mention:
            assert m in r.err, "stderr does not mention %r: %s" % (m, r.brief())
    left = leftovers(out, "b.nc")
    assert not left, "left behind after failure: %s" % left


@test
def test_no_overlap_refused(ctx, tdir):
    """Truly no overlap is still refused, naming the source: the full disk onto bounds
    over the Americas (the disk ends at 138W; gdalwarp would write only nodata there:
    checked), and a geostationary grid wholly off the disk, of which no point transforms."""
    src = make_source(os.path.join(tdir, "full_disk.tif"), HIMAWARI, FULL_DISK, 300, 300)
    target = {"crs": "EPSG:4326", "bounds": [-100, -10, -80, 10], "resolution": 0.25}
    d = {"name": "disk", "source": src}
    ref = read_raster(gdalwarp_ref(ctx, tdir, target, d, os.path.join(tdir, "ref.tif"), et=0))
    assert ref[1].all(), "precondition: gdalwarp finds pixels of the disk over the Americas"
    a = os.path.join(tdir, "americas")
    os.makedirs(a)
    refused(ctx, a, target, [d], ("full_disk.tif", "does not overlap target.bounds",
                                  "none of the others falls inside the bounds"))
    off = make_source(os.path.join(tdir, "off_disk.tif"), HIMAWARI,
                      (5600000.0, -1000000.0, 6600000.0, 1000000.0), 50, 100)
    o = os.path.join(tdir, "off")
    os.makedirs(o)
    refused(ctx, o, {"crs": "EPSG:4326", "bounds": [40, -40, 130, 40], "resolution": 0.25},
            [{"name": "off", "source": off}],
            ("off_disk.tif", "does not overlap target.bounds", "can be transformed to the target CRS"))


if __name__ == "__main__":
    main()
