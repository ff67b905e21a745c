#!/usr/bin/python3
"""Write lode's small synthetic survey rasters and vector layers into OUTDIR.

Usage: samples/make_samples.py OUTDIR

Deterministic (fixed seed, no network, no clock): running it twice writes
byte-identical files. Needs numpy and GDAL's Python bindings, which on this
machine exist only for the Debian interpreter /usr/bin/python3.

All Malaysian grids lie over the Bentong-Raub / central gold belt of Peninsular
Malaysia (about 101.7-102.1 E, 3.6-4.0 N) and overlap each other. The vector
layers (deposits.gpkg, geology.gpkg) cover the same area, and OUTDIR/vector_cases/
holds small layers for the end-to-end tests of special cases (legacy encodings, no
CRS, mixed geometry types, 3D, empty). See samples/README.md for what each file is.
"""

import math
import os
import sys

import numpy as np
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
ogr.UseExceptions()

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


# --- vector layers -----------------------------------------------------------
#
# GeoPackages record a "last change" time: OGR_CURRENT_DATE pins it, so two runs
# write byte-identical files.  Shapefile .dbf headers carry a date too
# (DBF_DATE_LAST_UPDATE pins it).  Features are written in a fixed order and every
# coordinate is rounded, so nothing depends on the platform.

FIXED_DATE = "2024-06-01T00:00:00.000Z"
VECTOR_SEED = SEED + 1   # a separate stream: the rasters stay as they were


def remove_vector(path):
    base, ext = os.path.splitext(path)
    if ext == ".shp":
        for e in (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix"):
            if os.path.lexists(base + e):
                os.remove(base + e)
    else:
        for p in (path, path + "-journal", path + "-wal", path + "-shm"):
            if os.path.lexists(p):
                os.remove(p)


def new_layer(path, driver, name, gtype, epsg, fields, lco=None):
    """Create a one-layer vector file; fields: list of (name, OFT type[, subtype, width])."""
    remove_vector(path)
    ds = ogr.GetDriverByName(driver).CreateDataSource(path)
    srs = srs_epsg(epsg) if epsg is not None else None
    lyr = ds.CreateLayer(name, srs, gtype, options=lco or [])
    for f in fields:
        fd = ogr.FieldDefn(f[0], f[1])
        if len(f) > 2 and f[2] is not None:
            fd.SetSubType(f[2])
        if len(f) > 3:
            fd.SetWidth(f[3])
        lyr.CreateField(fd)
    return ds, lyr


def add_feature(lyr, geom_wkt, values):
    """values: dict field -> value; None means null, a missing key means unset."""
    feat = ogr.Feature(lyr.GetLayerDefn())
    if geom_wkt is not None:
        feat.SetGeometry(ogr.CreateGeometryFromWkt(geom_wkt))
    for k, v in values.items():
        if v is None:
            feat.SetFieldNull(k)
        elif isinstance(v, tuple):  # (y, m, d[, h, mi, s, tzflag])
            feat.SetField(k, *(list(v) + [0] * (7 - len(v))))
        else:
            feat.SetField(k, v)
    lyr.CreateFeature(feat)


def close_vector(ds, path):
    ds.FlushCache()
    ds = None
    print(path)


# Deposit and occurrence names (synthetic: the positions are not the real ones).
DEPOSIT_NAMES = [
    "Lombong Emas Penjom", "Sungai Lembing", "Lombong Emas Raub", "Bukit Koman",
    "Sungai Ruan", "Lombong Emas Tersang", "Bukit Malacca", "Kampung Sega",
    "Sungai Sempam", "Lombong Timah Bentong", "Bukit Tinggi", "Janda Baik",
    "Genting Sempah", "Sungai Dong", "Kampung Tras", "Sungai Gali",
    "Bukit Fraser", "Lurah Bilut", "Sungai Chamang", "Kampung Perting",
    "Sungai Kelau", "Bukit Sabai", "Ulu Cheka", "Sungai Lancang",
    "Kampung Mempaga", "Bukit Ketari", "Sungai Bilut", "Kampung Tranum",
    "Bukit Cheroh", "Sungai Budu", "Kampung Sertik", "Ulu Dong",
    "Bukit Manchis", "Sungai Telemong", "Kampung Karak", "Lembah Semantan",
    "Bukit Damar", "Sungai Bentong", "Kampung Lipis Kecil", "Gua Bama",
]
COMMODITIES = [
    "emas / gold", "bijih timah / tin", "bauksit / bauxite",
    "unsur nadir bumi / rare earth elements (REE)", "besi / iron ore",
    "antimoni / antimony", "barit / barite", "tembaga / copper",
]
STATUSES = ["aktif / active", "ditutup / closed", "prospek / prospect",
            "terbiar / abandoned", "prospek \u2013 dalam kajian / prospect \u2013 under study"]


def make_deposits(outdir):
    """~40 mineral deposits and occurrences, points in Kertau (RSO) / RSO Malaya."""
    rng = np.random.default_rng(VECTOR_SEED)
    path = os.path.join(outdir, "deposits.gpkg")
    ds, lyr = new_layer(path, "GPKG", "deposits", ogr.wkbPoint, KERTAU_RSO, [
        ("deposit_id", ogr.OFTInteger), ("name", ogr.OFTString),
        ("commodity", ogr.OFTString), ("grade", ogr.OFTReal),
        ("tonnage_t", ogr.OFTInteger64), ("status", ogr.OFTString),
        ("discovered", ogr.OFTDate), ("active", ogr.OFTInteger, ogr.OFSTBoolean)])
    n = len(DEPOSIT_NAMES)
    xs = np.round(rng.uniform(408000.0, 444000.0, n), 1)
    ys = np.round(rng.uniform(408000.0, 440000.0, n), 1)
    com = rng.integers(0, len(COMMODITIES), n)
    com[:4] = [0, 1, 2, 3]          # the first four: gold, tin, bauxite, REE
    grade = np.round(rng.lognormal(0.5, 0.8, n), 2)
    ton = (np.round(rng.lognormal(13.0, 2.0, n), -2)).astype(np.int64)
    ton[5] = 3250000000             # more than 2^31: needs Integer64
    st = rng.integers(0, len(STATUSES), n)
    year = rng.integers(1890, 2016, n)
    month = rng.integers(1, 13, n)
    day = rng.integers(1, 29, n)
    for i in range(n):
        status = STATUSES[st[i]]
        if i % 9 == 4:
            status = None           # not recorded
        elif i == 17:
            status = ""             # recorded as an empty text, which is not null
        add_feature(lyr, "POINT (%.1f %.1f)" % (xs[i], ys[i]), {
            "deposit_id": 1001 + i,
            "name": DEPOSIT_NAMES[i],
            "commodity": COMMODITIES[com[i]],
            "grade": None if i % 7 == 3 else float(grade[i]),
            "tonnage_t": None if i % 6 == 2 else int(ton[i]),
            "status": status,
            "discovered": None if i % 8 == 6 else (int(year[i]), int(month[i]), int(day[i])),
            "active": 1 if status and status.startswith("aktif") else 0,
        })
    close_vector(ds, path)


# Geology units: code, Malay / English name, age.
GEOLOGY_UNITS = {
    "Gr-MR": ("Granit Banjaran Utama / Main Range Granite", "Trias Akhir / Late Triassic"),
    "Al": ("Aluvium / Alluvium", "Kuaterner / Quaternary"),
    "Sk-K": ("Syis Karak / Karak Schist", "Paleozoik Awal / Early Palaeozoic"),
    "Fl-B": ("Filit Formasi Bentong / Bentong Formation phyllite", "Karbon / Carboniferous"),
    "Bk-R": ("Batu Kapur Kumpulan Raub / Raub Group limestone", "Perm / Permian"),
    "Bp-S": ("Batu Pasir Formasi Semantan / Semantan Formation sandstone", "Trias / Triassic"),
    "Tf-S": ("Tuf Volkanik Semantan / Semantan volcanic tuff", "Trias Tengah / Middle Triassic"),
    "Sp-BR": ("Serpentinit Sutur Bentong-Raub / Bentong-Raub Suture serpentinite",
              "Devon\u2013Karbon / Devonian\u2013Carboniferous"),
    "Gr-S": ("Stok Granit Sempah / Sempah granite stock", "Trias Akhir / Late Triassic"),
}


def ring_wkt(pts):
    pts = list(pts) + [pts[0]]
    return "(" + ", ".join("%.1f %.1f" % p for p in pts) + ")"


def make_geology_polygons(outdir):
    """~10 geology polygons (MultiPolygon layer) in GDM2000 / Peninsular RSO that tile
    the area: a 5 x 2 mesh of jittered cells, one with a hole filled by a granite stock,
    two alluvium cells joined into one multipolygon."""
    rng = np.random.default_rng(VECTOR_SEED + 1)
    path = os.path.join(outdir, "geology.gpkg")
    ds, lyr = new_layer(path, "GPKG", "geology", ogr.wkbMultiPolygon, GDM2000_RSO, [
        ("unit_code", ogr.OFTString), ("unit_name", ogr.OFTString),
        ("age", ogr.OFTString), ("area_km2", ogr.OFTReal)])
    # Mesh nodes: 11 x 5 (cell corners and edge midpoints); the outer frame stays
    # straight, the inside nodes move by up to 1.5 km.
    x0, x1, y0, y1 = 396000.0, 452000.0, 404000.0, 446000.0
    nxn, nyn = 11, 5
    gx = np.linspace(x0, x1, nxn)[None, :].repeat(nyn, 0)
    gy = np.linspace(y1, y0, nyn)[:, None].repeat(nxn, 1)
    jx = rng.uniform(-1500.0, 1500.0, (nyn, nxn))
    jy = rng.uniform(-1500.0, 1500.0, (nyn, nxn))
    jx[:, 0] = jx[:, -1] = 0.0
    jy[0, :] = jy[-1, :] = 0.0
    gx = np.round(gx + jx, 1)
    gy = np.round(gy + jy, 1)

    def cell(r, c):  # counter-clockwise ring of cell (row r, col c), 8 nodes
        i0, j0 = 2 * r, 2 * c
        seq = [(i0 + 2, j0), (i0 + 2, j0 + 1), (i0 + 2, j0 + 2), (i0 + 1, j0 + 2),
               (i0, j0 + 2), (i0, j0 + 1), (i0, j0), (i0 + 1, j0)]
        return [(gx[i, j], gy[i, j]) for i, j in seq]

    # Units of the 10 cells (row 0 north, row 1 south); cells 0 and 7 are both alluvium.
    units = ["Al", "Fl-B", "Sp-BR", "Sk-K", "Gr-MR",
             "Bp-S", "Tf-S", "Al", "Bk-R", "Gr-MR"]
    # The stock: an octagon inside cell 3 (row 0, col 3), clockwise as a hole.
    cx, cy = float(np.mean([p[0] for p in cell(0, 3)])), float(np.mean([p[1] for p in cell(0, 3)]))
    octagon = [(round(cx + 3000.0 * math.cos(math.radians(a)), 1),
                round(cy + 2200.0 * math.sin(math.radians(a)), 1)) for a in range(0, 360, 45)]
    feats = []
    for k, u in enumerate(units):
        r, c = divmod(k, 5)
        if k == 7:
            continue  # joined with cell 0 below
        if k == 0:
            wkt = "MULTIPOLYGON ((%s), (%s))" % (ring_wkt(cell(0, 0)), ring_wkt(cell(1, 2)))
        elif k == 3:
            wkt = "MULTIPOLYGON ((%s, %s))" % (ring_wkt(cell(0, 3)), ring_wkt(octagon[::-1]))
        else:
            wkt = "MULTIPOLYGON ((%s))" % ring_wkt(cell(r, c))
        feats.append((u, wkt))
    feats.append(("Gr-S", "MULTIPOLYGON ((%s))" % ring_wkt(octagon)))
    for u, wkt in feats:
        g = ogr.CreateGeometryFromWkt(wkt)
        add_feature(lyr, wkt, {"unit_code": u, "unit_name": GEOLOGY_UNITS[u][0],
                               "age": GEOLOGY_UNITS[u][1],
                               "area_km2": round(g.GetArea() / 1e6, 3)})
    close_vector(ds, path)


def lonlat_to(epsg, lon, lat):
    ct = osr.CoordinateTransformation(srs_epsg(4326), srs_epsg(epsg))
    x, y, _ = ct.TransformPoint(lon, lat)
    return round(x, 2), round(y, 2)


# Piemonte towns with CP1252 text (the curly quotes, dash and euro sign are bytes
# 0x80-0x9F in CP1252, where ISO-8859-1 has control characters).
LEGACY_TOWNS = [
    ("Montaldo di Mondov\u00ec", 7.8667, 44.3167, "Comune \u201cpiccolo\u201d \u2013 600 ab."),
    ("Mondov\u00ec", 7.8186, 44.3953, "Citt\u00e0 \u2013 mercato del luned\u00ec"),
    ("San Michele Mondov\u00ec", 7.9103, 44.3747, "Caff\u00e8 \u201cAlla Torre\u201d \u2013 3 \u20ac"),
    ("Vicoforte", 7.8631, 44.3636, "Santuario \u2013 cupola ellittica"),
    ("Frabosa Soprana", 7.8056, 44.2864, "Sci \u2013 \u00e0 la carte"),
    ("Cherasco", 7.8581, 44.6514, "Lumache \u2013 \u20ac 12,50"),
    ("Bra", 7.8553, 44.6986, "Salsiccia di Bra"),
    ("Saluzzo", 7.4917, 44.6453, "Marchesato \u2013 \u00abantica capitale\u00bb"),
]


def make_legacy_shapefile(casedir):
    """A Shapefile whose .dbf is in CP1252 and says so nowhere: no .cpg and a zero
    language-driver byte, like many files from older desktop GIS."""
    path = os.path.join(casedir, "legacy_cp1252.shp")
    ds, lyr = new_layer(path, "ESRI Shapefile", "legacy_cp1252", ogr.wkbPoint, 32632, [
        ("name", ogr.OFTString, None, 40), ("note", ogr.OFTString, None, 60),
        ("pop", ogr.OFTInteger)],
        lco=["ENCODING=CP1252", "DBF_DATE_LAST_UPDATE=2024-06-01"])
    for i, (name, lon, lat, note) in enumerate(LEGACY_TOWNS):
        x, y = lonlat_to(32632, lon, lat)
        add_feature(lyr, "POINT (%.2f %.2f)" % (x, y),
                    {"name": name, "note": note, "pop": 500 + 731 * i})
    ds.FlushCache()
    ds = None
    base = path[:-4]
    if os.path.exists(base + ".cpg"):
        os.remove(base + ".cpg")
    with open(base + ".dbf", "r+b") as f:  # byte 29: language driver ID; 0 = not given
        f.seek(29)
        f.write(b"\0")
    for e in (".shp", ".shx", ".dbf", ".prj"):
        print(base + e)


def make_lonlat_csv(casedir):
    """A CSV with lon/lat columns and no CRS."""
    path = os.path.join(casedir, "towns_lonlat.csv")
    rows = [("Raub", 101.8572, 3.7930, 27000), ("Bentong", 101.9083, 3.5222, 114000),
            ("Karak", 102.0333, 3.4167, 12000), ("Kuala Lipis", 102.0500, 4.1833, 20000),
            ("Janda Baik", 101.8667, 3.3333, 1500), ("Bukit Tinggi", 101.8233, 3.3500, 5000),
            ("Sungai Ruan", 101.8500, 3.8500, None), ("Dong", 101.9000, 3.9000, 3000)]
    with open(path, "w", newline="") as f:
        f.write("name,lon,lat,population\n")
        for name, lon, lat, pop in rows:
            f.write("%s,%.4f,%.4f,%s\n" % (name, lon, lat, "" if pop is None else pop))
    print(path)


def make_geojson(path, features, crs=True):
    """features: list of (geometry dict, properties); written by hand so the file is
    exactly what the test expects (OGR would refuse or normalise some of it)."""
    import json
    doc = {"type": "FeatureCollection"}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    doc["features"] = [{"type": "Feature", "properties": p, "geometry": g}
                       for g, p in features]
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(path)


def make_mixed_geojson(casedir):
    # Points and a line in one layer: lode refuses it and suggests where:.
    make_geojson(os.path.join(casedir, "mixed_point_line.geojson"), [
        ({"type": "Point", "coordinates": [101.70, 3.80]}, {"id": 1, "kind": "adit"}),
        ({"type": "Point", "coordinates": [101.75, 3.85]}, {"id": 2, "kind": "shaft"}),
        ({"type": "LineString", "coordinates": [[101.70, 3.80], [101.75, 3.85], [101.80, 3.83]]},
         {"id": 3, "kind": "haul road"}),
        ({"type": "Point", "coordinates": [101.90, 3.90]}, {"id": 4, "kind": "adit"}),
    ])
    # Polygons and multipolygons (one polygon with a hole): promoted to MultiPolygon.
    make_geojson(os.path.join(casedir, "mixed_poly_multipoly.geojson"), [
        ({"type": "Polygon", "coordinates": [[[101.65, 3.70], [101.75, 3.70], [101.75, 3.78],
                                              [101.65, 3.78], [101.65, 3.70]]]},
         {"id": 1, "lease": "ML 1/2001"}),
        ({"type": "MultiPolygon", "coordinates": [
            [[[101.80, 3.70], [101.85, 3.70], [101.85, 3.75], [101.80, 3.75], [101.80, 3.70]]],
            [[[101.88, 3.72], [101.92, 3.72], [101.92, 3.76], [101.88, 3.76], [101.88, 3.72]]]]},
         {"id": 2, "lease": "ML 7/1998"}),
        ({"type": "Polygon", "coordinates": [
            [[101.70, 3.85], [101.82, 3.85], [101.82, 3.95], [101.70, 3.95], [101.70, 3.85]],
            [[101.74, 3.88], [101.74, 3.92], [101.78, 3.92], [101.78, 3.88], [101.74, 3.88]]]},
         {"id": 3, "lease": "ML 12/2010"}),
    ])


def make_case_layers(casedir):
    # An empty layer: no features at all, but a CRS and fields.
    path = os.path.join(casedir, "empty.gpkg")
    ds, lyr = new_layer(path, "GPKG", "boreholes", ogr.wkbPoint, GDM2000_RSO, [
        ("hole_id", ogr.OFTString), ("depth_m", ogr.OFTReal)])
    close_vector(ds, path)
    # A line layer with no CRS (Shapefile without .prj); the coordinates are EPSG:3375.
    path = os.path.join(casedir, "nocrs_lines.shp")
    ds, lyr = new_layer(path, "ESRI Shapefile", "nocrs_lines", ogr.wkbLineString, None, [
        ("line_no", ogr.OFTInteger), ("survey", ogr.OFTString, None, 30)],
        lco=["ENCODING=UTF-8", "DBF_DATE_LAST_UPDATE=2024-06-01"])
    for i in range(5):
        y = 412000.0 + 5000.0 * i
        add_feature(lyr, "LINESTRING (410000 %.1f, 425000 %.1f, 440000 %.1f)" % (y, y + 800.0, y),
                    {"line_no": 100 + i, "survey": "Gravity line %d" % (i + 1)})
    ds.FlushCache()
    ds = None
    for e in (".shp", ".shx", ".dbf", ".cpg"):
        print(path[:-4] + e)
    # A 3D line layer (traverses with elevations), with a DateTime field.
    path = os.path.join(casedir, "lines_z.gpkg")
    ds, lyr = new_layer(path, "GPKG", "traverses", ogr.wkbLineString25D, KERTAU_RSO, [
        ("name", ogr.OFTString), ("surveyed", ogr.OFTDateTime)])
    rows = [("T1", "LINESTRING Z (415000 420000 55.5, 418000 423000 310.25, 421000 424500 802)",
             (2019, 3, 14, 9, 30, 0, 100)),
            ("T2", "LINESTRING Z (430000 430000 1200, 431500 428000 950.125)",
             (2020, 7, 1, 8, 45, 30, 100)),
            ("T3", "LINESTRING Z (420000 415000 20, 426000 416000 40, 432000 418000 65, "
                   "437000 421000 120)", None)]
    for name, wkt, when in rows:
        add_feature(lyr, wkt, {"name": name, "surveyed": when})
    close_vector(ds, path)
    # A Polygon (not multi) layer whose polygons have holes.
    path = os.path.join(casedir, "polygons_holes.gpkg")
    ds, lyr = new_layer(path, "GPKG", "pits", ogr.wkbPolygon, GDM2000_RSO, [
        ("pit", ogr.OFTString), ("depth_m", ogr.OFTReal)])
    add_feature(lyr, "POLYGON ((412000 420000, 418000 420000, 418000 426000, 412000 426000, "
                     "412000 420000), (414000 422000, 414000 424000, 416000 424000, "
                     "416000 422000, 414000 422000))", {"pit": "Lubang A", "depth_m": 85.5})
    add_feature(lyr, "POLYGON ((430000 430000, 436000 430000, 433000 435000, 430000 430000))",
                {"pit": "Lubang B", "depth_m": None})
    add_feature(lyr, None, {"pit": "Lubang C (tiada geometri / no geometry)", "depth_m": 3.0})
    close_vector(ds, path)


# ---- drill holes and a USMIN-style site database (issue 15 items 3 and 4) ----

DRILL_SEED = SEED + 2    # a stream of its own: nothing written before changes


def hole_stations(rng, total, az0, dip0):
    """Survey stations down a hole: (measured depth, azimuth, dip) at 0, every 30 m and at
    the end of the hole; the hole drifts (azimuth +-2, dip +1.5 +-0.5 degrees a station,
    flattening as drill holes do)."""
    mds = list(np.arange(0.0, total, 30.0)) + [total]
    out, az, dip = [], az0, dip0
    for md in mds:
        out.append((float(md), round(az % 360.0, 2), round(min(dip, -5.0), 2)))
        az += float(rng.uniform(-2.0, 2.0))
        dip += 1.5 + float(rng.uniform(-0.5, 0.5))
    return out


def desurvey(x0, y0, z0, stations):
    """Balanced tangential desurvey: each interval between two stations is one straight
    segment along the mean of their direction vectors (inclination from the vertical =
    90 + dip), its length the difference of their measured depths.  Returns the nodes
    (x, y, z, measured depth): the trace's M is the measured depth."""
    def vec(az, dip):
        inc, a = math.radians(90.0 + dip), math.radians(az)
        return math.sin(inc) * math.sin(a), math.sin(inc) * math.cos(a), -math.cos(inc)
    nodes = [(x0, y0, z0, 0.0)]
    for (m1, a1, d1), (m2, a2, d2) in zip(stations, stations[1:]):
        v1, v2, L = vec(a1, d1), vec(a2, d2), m2 - m1
        x, y, z, _ = nodes[-1]
        nodes.append((x + L / 2 * (v1[0] + v2[0]), y + L / 2 * (v1[1] + v2[1]),
                      z + L / 2 * (v1[2] + v2[2]), m2))
    return nodes


def make_drillholes(outdir):
    """drillholes.gpkg: collars (3D Point), survey and assays (tables keyed by hole_id) and
    traces (3D LineString M, M the measured depth), in GDM2000 / Peninsular RSO."""
    rng = np.random.default_rng(DRILL_SEED)
    path = os.path.join(outdir, "drillholes.gpkg")
    ds, col = new_layer(path, "GPKG", "collars", ogr.wkbPoint25D, GDM2000_RSO, [
        ("hole_id", ogr.OFTString), ("azimuth", ogr.OFTReal), ("dip", ogr.OFTReal),
        ("depth_m", ogr.OFTReal), ("drilled", ogr.OFTDate)])
    srs = srs_epsg(GDM2000_RSO)
    sur = ds.CreateLayer("survey", None, ogr.wkbNone)
    ass = ds.CreateLayer("assays", None, ogr.wkbNone)
    tr = ds.CreateLayer("traces", srs, ogr.wkbLineStringZM)
    for lyr, fields in ((sur, [("hole_id", ogr.OFTString), ("depth_m", ogr.OFTReal),
                               ("azimuth", ogr.OFTReal), ("dip", ogr.OFTReal)]),
                        (ass, [("sample_id", ogr.OFTString), ("hole_id", ogr.OFTString),
                               ("from_m", ogr.OFTReal), ("to_m", ogr.OFTReal),
                               ("au_ppm", ogr.OFTReal)]),
                        (tr, [("hole_id", ogr.OFTString)])):
        for name, t in fields:
            lyr.CreateField(ogr.FieldDefn(name, t))
    ds.StartTransaction()
    for h in range(12):
        hid = "PJ-%03d" % (h + 1)
        x0, y0 = round(float(rng.uniform(420000, 432000)), 1), round(float(rng.uniform(418000, 430000)), 1)
        z0 = round(float(rng.uniform(80, 260)), 1)
        total = float(rng.integers(6, 16) * 10 + 5)   # 65-155 m
        az0, dip0 = float(rng.integers(0, 36) * 10), -float(rng.integers(50, 86))
        st = hole_stations(rng, total, az0, dip0)
        add_feature(col, "POINT Z (%.1f %.1f %.1f)" % (x0, y0, z0), {
            "hole_id": hid, "azimuth": st[0][1], "dip": st[0][2], "depth_m": total,
            "drilled": None if h == 7 else (2019 + h // 5, 1 + h, 3 + 2 * h)})
        for md, az, dip in st:
            add_feature(sur, None, {"hole_id": hid, "depth_m": md, "azimuth": az, "dip": dip})
        nodes = desurvey(x0, y0, z0, st)
        add_feature(tr, "LINESTRING ZM (%s)" % ", ".join("%.3f %.3f %.3f %.2f" % n for n in nodes),
                    {"hole_id": hid})
        # Assays: 1 m samples every 5 m, gold lognormal; every 11th below detection (null).
        for k, top in enumerate(np.arange(2.0, total - 1.0, 5.0)):
            au = round(float(rng.lognormal(-1.0, 1.2)), 3)
            add_feature(ass, None, {"sample_id": "%s-%03d" % (hid, k + 1), "hole_id": hid,
                                    "from_m": float(top), "to_m": float(top) + 1.0,
                                    "au_ppm": None if (h * 7 + k) % 11 == 5 else au})
    ds.CommitTransaction()
    close_vector(ds, path)


def make_usmin(outdir):
    """usmin_sites.gpkg, laid out as USGS USMIN's mineral deposit database: sites (Point,
    WGS 84) keyed by site_id, a commodity table (one row per site and commodity, the
    first primary) and a resources table (tonnage and grade per site and commodity)."""
    rng = np.random.default_rng(DRILL_SEED + 1)
    path = os.path.join(outdir, "usmin_sites.gpkg")
    ds, sites = new_layer(path, "GPKG", "sites", ogr.wkbPoint, 4326, [
        ("site_id", ogr.OFTInteger), ("site_name", ogr.OFTString), ("dev_status", ogr.OFTString)])
    com = ds.CreateLayer("commodity", None, ogr.wkbNone)
    res = ds.CreateLayer("resources", None, ogr.wkbNone)
    for lyr, fields in ((com, [("site_id", ogr.OFTInteger), ("commodity", ogr.OFTString),
                               ("rank", ogr.OFTString)]),
                        (res, [("site_id", ogr.OFTInteger), ("commodity", ogr.OFTString),
                               ("tonnage_t", ogr.OFTInteger64), ("grade", ogr.OFTReal),
                               ("grade_unit", ogr.OFTString), ("year", ogr.OFTInteger)])):
        for name, t in fields:
            lyr.CreateField(ogr.FieldDefn(name, t))
    kinds = ["Au", "Sn", "W", "Cu", "REE", "Fe", "Sb"]
    for i in range(20):
        sid = 5001 + i
        lon, lat = float(rng.uniform(101.65, 102.0)), float(rng.uniform(3.7, 3.97))
        add_feature(sites, "POINT (%.5f %.5f)" % (lon, lat), {
            "site_id": sid, "site_name": DEPOSIT_NAMES[i],
            "dev_status": ["Producer", "Past producer", "Prospect", "Occurrence"][i % 4]})
        picks = rng.choice(len(kinds), size=1 + i % 3, replace=False)
        for r, c in enumerate(picks):
            add_feature(com, None, {"site_id": sid, "commodity": kinds[c],
                                    "rank": "primary" if r == 0 else "secondary"})
        if i % 4 < 2:   # producers and past producers report resources
            add_feature(res, None, {"site_id": sid, "commodity": kinds[picks[0]],
                                    "tonnage_t": int(round(float(rng.lognormal(13, 1.5)), -2)),
                                    "grade": None if i == 5 else round(float(rng.lognormal(0, 0.7)), 2),
                                    "grade_unit": "g/t" if kinds[picks[0]] == "Au" else "%",
                                    "year": 2000 + i})
    close_vector(ds, path)


def make_vectors(outdir):
    old = gdal.GetConfigOption("OGR_CURRENT_DATE")
    gdal.SetConfigOption("OGR_CURRENT_DATE", FIXED_DATE)
    try:
        make_deposits(outdir)
        make_geology_polygons(outdir)
        make_drillholes(outdir)
        make_usmin(outdir)
        casedir = os.path.join(outdir, "vector_cases")
        os.makedirs(casedir, exist_ok=True)
        make_legacy_shapefile(casedir)
        make_lonlat_csv(casedir)
        make_mixed_geojson(casedir)
        make_case_layers(casedir)
    finally:
        gdal.SetConfigOption("OGR_CURRENT_DATE", old)


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
    make_vectors(outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
