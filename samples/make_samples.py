#!/usr/bin/python3
"""Write lode's small synthetic survey rasters into OUTDIR.

Usage: samples/make_samples.py OUTDIR

Deterministic (fixed seed, no network, no clock): running it twice writes
byte-identical files. Needs numpy and GDAL's Python bindings, which on this
machine exist only for the Debian interpreter /usr/bin/python3.

All Malaysian grids lie over the Bentong-Raub / central gold belt of Peninsular
Malaysia (about 101.7-102.1 E, 3.6-4.0 N) and overlap each other. See
samples/README.md for what each file is.
"""

import math
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

SEED = 20240601

GDM2000_RSO = 3375   # GDM2000 / Peninsular RSO
KERTAU_RSO = 3168    # Kertau (RSO) / RSO Malaya (m)
NAD27 = 4267         # NAD27 geographic

IMAGE_DESCRIPTION = "synthetic sample written by lode samples/make_samples.py (not real survey data)"

# Geology classes: code -> (name, RGBA). Code 0 is nodata.
GEOLOGY = [
    (1, "Granite", (230, 120, 140, 255)),
    (2, "Alluvium", (255, 250, 180, 255)),
    (3, "Schist", (150, 170, 90, 255)),
    (4, "Phyllite", (120, 150, 200, 255)),
    (5, "Limestone", (80, 140, 230, 255)),
    (6, "Sandstone", (240, 190, 110, 255)),
    (7, "Volcanic tuff", (200, 90, 60, 255)),
    (8, "Serpentinite", (40, 120, 70, 255)),
]

# Radiometric means per geology class: (K %, eTh ppm, eU ppm).
RADIO_MEANS = {
    1: (4.2, 38.0, 8.5),
    2: (0.6, 9.0, 1.8),
    3: (2.1, 14.0, 2.6),
    4: (2.6, 15.0, 3.0),
    5: (0.2, 2.0, 1.2),
    6: (1.0, 8.0, 1.5),
    7: (2.9, 18.0, 3.5),
    8: (0.1, 0.8, 0.3),
}


def srs_epsg(code):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(code)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def pixel_centres(x0, y0, res, nx, ny):
    """Projected coordinates of pixel centres of a north-up grid."""
    xs = x0 + (np.arange(nx) + 0.5) * res
    ys = y0 - (np.arange(ny) + 0.5) * res
    return np.meshgrid(xs, ys)


def remove_stale(path):
    for p in (path, path + ".aux.xml"):
        if os.path.lexists(p):
            os.remove(p)


def write_tiff(path, arrays, gdal_type, x0, y0, res, epsg, nodata,
               descriptions=None, units=None, predictor=None,
               color_table=None, categories=None):
    """Write a tiled, deflate-compressed GeoTIFF. arrays: list of 2-D bands."""
    remove_stale(path)
    ny, nx = arrays[0].shape
    opts = ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128",
            "COMPRESS=DEFLATE", "ZLEVEL=9"]
    if predictor:
        opts.append("PREDICTOR=%d" % predictor)
    if len(arrays) > 1:
        opts.append("INTERLEAVE=BAND")
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(path, nx, ny, len(arrays), gdal_type, opts)
    xres, yres = (res, res) if np.isscalar(res) else res
    ds.SetGeoTransform((x0, xres, 0.0, y0, 0.0, -yres))
    if epsg is not None:
        ds.SetSpatialRef(srs_epsg(epsg))
    ds.SetMetadataItem("TIFFTAG_IMAGEDESCRIPTION", IMAGE_DESCRIPTION)
    for i, arr in enumerate(arrays):
        band = ds.GetRasterBand(i + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
        if units:
            band.SetUnitType(units[i])
        if color_table is not None:
            band.SetColorTable(color_table)
        if categories is not None:
            band.SetCategoryNames(categories)  # GTiff keeps these in .aux.xml
        band.WriteArray(arr)
    ds.FlushCache()
    ds = None
    written = [path]
    if os.path.exists(path + ".aux.xml"):
        written.append(path + ".aux.xml")
    for p in written:
        print(p)


def smooth_noise(rng, ny, nx, sigma_px):
    """Gaussian-smoothed white noise (separable FFT-free blur), unit std."""
    a = rng.standard_normal((ny, nx))
    r = int(3 * sigma_px)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_px) ** 2)
    k /= k.sum()
    a = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, a)
    a = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, a)
    return a / a.std()


# --- shared synthetic geology (in GDM2000 / Peninsular RSO metres) ----------

def geology_seeds(rng):
    """Voronoi seeds over the study area with a class each."""
    n = 36
    sx = rng.uniform(398000.0, 452000.0, n)
    sy = rng.uniform(402000.0, 446000.0, n)
    cls = rng.integers(1, 9, n)
    # A serpentinite (suture) and granite belt so every class is present.
    cls[:8] = np.arange(1, 9)
    return sx, sy, cls


def geology_class(x, y, seeds):
    """Nearest seed class, with distance stretched along the NNW-SSE strike."""
    sx, sy, cls = seeds
    theta = math.radians(-20.0)  # strike about N20W
    c, s = math.cos(theta), math.sin(theta)
    best = np.full(x.shape, np.inf)
    out = np.zeros(x.shape, dtype=np.uint8)
    for i in range(len(sx)):
        dx, dy = x - sx[i], y - sy[i]
        u = c * dx - s * dy        # across strike
        v = s * dx + c * dy        # along strike
        d = u * u + (v / 2.5) ** 2
        m = d < best
        best[m] = d[m]
        out[m] = cls[i]
    return out


# --- individual samples ------------------------------------------------------

def make_aeromag(outdir, rng):
    nx, ny, res = 400, 300, 100.0
    x0, y0 = 405000.0, 440000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    # Regional field: ~41500 nT with a gentle gradient.
    f = 41500.0 + (x - 425000.0) * 0.004 + (y - 425000.0) * 0.006
    # Dipole-like anomalies at low magnetic latitude: a strong low with a
    # weaker high to the north. (cx, cy, depth-ish width, amplitude nT)
    bodies = [(415000.0, 432000.0, 2500.0, 260.0),
              (432000.0, 420000.0, 3500.0, 180.0),
              (438000.0, 433000.0, 1800.0, 320.0),
              (421000.0, 415000.0, 4500.0, 120.0),
              (410000.0, 421000.0, 1500.0, -150.0)]
    for cx, cy, w, amp in bodies:
        r2s = ((x - cx) ** 2 + (y - (cy - 0.6 * w)) ** 2) / w ** 2
        r2n = ((x - cx) ** 2 + (y - (cy + 0.9 * w)) ** 2) / w ** 2
        f += -amp * np.exp(-r2s) + 0.45 * amp * np.exp(-r2n)
    f += 0.6 * rng.standard_normal(f.shape)
    f = np.round(f, 1).astype(np.float32)
    nodata = -99999.0
    # No coverage: a rectangle (restricted airspace) and a disc (town).
    f[40:90, 300:370] = nodata
    f[(x - 412000.0) ** 2 + (y - 414000.0) ** 2 < 2200.0 ** 2] = nodata
    write_tiff(os.path.join(outdir, "aeromag_tmi.tif"), [f], gdal.GDT_Float32,
               x0, y0, res, GDM2000_RSO, nodata,
               descriptions=["total magnetic intensity"], units=["nT"],
               predictor=3)


def make_geology(outdir, seeds):
    nx, ny, res = 200, 150, 200.0
    x0, y0 = 404000.0, 439000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    g = geology_class(x, y, seeds)
    # Unmapped strip along the western edge of the sheet -> nodata 0.
    g[:, :6] = 0
    ct = gdal.ColorTable()
    ct.SetColorEntry(0, (0, 0, 0, 0))
    names = [""] * 9
    for code, name, rgba in GEOLOGY:
        ct.SetColorEntry(code, rgba)
        names[code] = name
    write_tiff(os.path.join(outdir, "geology_units.tif"), [g], gdal.GDT_Byte,
               x0, y0, res, GDM2000_RSO, 0,
               descriptions=["geological unit"], color_table=ct,
               categories=names)


def make_dem(outdir, rng):
    nx, ny, res = 300, 250, 90.0
    x0, y0 = 412000.0, 436000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    # Main-Range-like ridge striking about N20W through the middle.
    theta = math.radians(-20.0)
    u = math.cos(theta) * (x - 425000.0) - math.sin(theta) * (y - 425000.0)
    v = math.sin(theta) * (x - 425000.0) + math.cos(theta) * (y - 425000.0)
    # Distance-like coordinate from the south-west coast line (sea below 7 km).
    s = (x - x0) + (y - (y0 - ny * res))
    z = 5.0 + 0.008 * (s - 7000.0)   # coastal plain rising inland
    z += 1400.0 * np.exp(-(u / 4000.0) ** 2) * (0.8 + 0.2 * np.cos(v / 3000.0))
    for cx, cy, w, h in [(417000.0, 431000.0, 1800.0, 600.0),
                         (432000.0, 418000.0, 2500.0, 700.0),
                         (436000.0, 432000.0, 1500.0, 450.0)]:
        z += h * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / w ** 2)
    z += 25.0 * smooth_noise(rng, ny, nx, 3.0)
    z = np.clip(z, 0.0, 2000.0)
    # Sea in the south-west corner.
    sea = s < 7000.0
    z[sea] = 0.0
    out = np.round(z).astype(np.int16)
    out[sea] = -32768
    write_tiff(os.path.join(outdir, "dem_kertau.tif"), [out], gdal.GDT_Int16,
               x0, y0, res, KERTAU_RSO, -32768,
               descriptions=["elevation"], units=["m"], predictor=2)


def make_gravity(outdir, rng):
    nx, ny, res = 120, 100, 250.0
    x0, y0 = 410000.0, 437000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    g = -12.0 + (x - 425000.0) * 0.0006 - (y - 425000.0) * 0.0003
    # Granite plutons are light: gravity lows. Serpentinite: a high.
    for cx, cy, w, amp in [(415000.0, 431000.0, 5000.0, -22.0),
                           (433000.0, 419000.0, 6000.0, -15.0),
                           (426000.0, 427000.0, 2500.0, 9.0)]:
        g += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / w ** 2)
    g += 0.05 * rng.standard_normal(g.shape)
    g = np.round(g, 2).astype(np.float32)
    nodata = -9999.0
    g[85:, 100:] = nodata  # no stations in the south-east corner
    # NO CRS is written: a manifest must give assume_crs: EPSG:3375.
    write_tiff(os.path.join(outdir, "gravity_nocrs.tif"), [g],
               gdal.GDT_Float32, x0, y0, res, None, nodata,
               descriptions=["Bouguer gravity anomaly"], units=["mGal"],
               predictor=3)


def make_radiometric(outdir, rng, seeds):
    nx, ny, res = 160, 120, 150.0
    x0, y0 = 415000.0, 433000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    cls = geology_class(x, y, seeds)
    bands = []
    for i, (lo, sd) in enumerate([(0.05, 0.08), (0.5, 0.6), (0.2, 0.15)]):
        mean = np.vectorize(lambda c: RADIO_MEANS[int(c)][i])(cls)
        a = mean * (1.0 + 0.08 * smooth_noise(rng, ny, nx, 4.0))
        a += sd * rng.standard_normal(a.shape) * 0.3
        bands.append(np.round(np.maximum(a, lo), 3).astype(np.float32))
    nodata = -1.0
    lake = (x - 430000.0) ** 2 + (y - 424000.0) ** 2 < 1200.0 ** 2
    for b in bands:
        b[lake] = nodata  # open water: no radiometric signal
    write_tiff(os.path.join(outdir, "radiometric_k.tif"), bands,
               gdal.GDT_Float32, x0, y0, res, GDM2000_RSO, nodata,
               descriptions=["potassium", "equivalent thorium",
                             "equivalent uranium"],
               units=["%", "ppm", "ppm"], predictor=3)


def make_nad27(outdir):
    nx, ny, res = 120, 100, 0.01
    x0, y0 = -106.0, 40.0   # Colorado Front Range, NAD27 lon/lat
    lon, lat = pixel_centres(x0, y0, res, nx, ny)
    # A smooth analytic field, so a datum shift shows as a clean offset.
    v = (100.0 * np.sin((lon + 106.0) * 5.0) * np.cos((lat - 39.0) * 4.0)
         + 20.0 * (lat - 39.0) + 500.0)
    write_tiff(os.path.join(outdir, "nad27_grid.tif"), [v.astype(np.float32)],
               gdal.GDT_Float32, x0, y0, res, NAD27, None,
               descriptions=["synthetic field"], predictor=3)


def make_far_away(outdir):
    nx, ny, res = 50, 40, 100.0
    # EPSG:3375 coordinates shifted 5000 km east of the aeromag grid: this
    # lands in the western Pacific (about 144 E, 4.7 N), far from Malaysia.
    x0, y0 = 5405000.0, 440000.0
    x, y = pixel_centres(x0, y0, res, nx, ny)
    v = (41000.0 + 0.01 * (x - x0) + 0.02 * (y0 - y)).astype(np.float32)
    write_tiff(os.path.join(outdir, "far_away.tif"), [v], gdal.GDT_Float32,
               x0, y0, res, GDM2000_RSO, -99999.0,
               descriptions=["total magnetic intensity"], units=["nT"],
               predictor=3)


def make_bad(outdir):
    bad = os.path.join(outdir, "bad")
    os.makedirs(bad, exist_ok=True)
    p = os.path.join(bad, "notatiff.tif")
    with open(p, "w") as f:
        f.write("This is not a TIFF file, only text with a .tif name.\n")
    print(p)
    p = os.path.join(bad, "empty.tif")
    open(p, "w").close()
    print(p)


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: make_samples.py OUTDIR\n")
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    seeds = geology_seeds(rng)
    make_aeromag(outdir, rng)
    make_geology(outdir, seeds)
    make_dem(outdir, rng)
    make_gravity(outdir, rng)
    make_radiometric(outdir, rng, seeds)
    make_nad27(outdir)
    make_far_away(outdir)
    make_bad(outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
