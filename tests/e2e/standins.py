#!/usr/bin/python3
"""Generate stand-in sample rasters for the end-to-end tests.

Usage: /usr/bin/python3 tests/e2e/standins.py DIR

Writes files with the same names and properties as the ones samples/make_samples.py
produces (see tests/e2e/README.md), so the suite can be developed and run before (or
without) the real samples.  Synthetic, deterministic data; small rasters.
"""
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()


def _srs(code):
    s = osr.SpatialReference()
    s.ImportFromEPSG(code)
    return s.ExportToWkt()


def _field(ny, nx, seed, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    f = np.zeros((ny, nx))
    for _ in range(6):
        a, b, c, d = rng.uniform(0.01, 0.08, 4)
        f += np.sin(a * xx + b * yy + c * 40) * np.cos(d * yy - b * xx)
    f += rng.normal(0, 0.05, (ny, nx))
    return f * scale + offset


def _write(path, arrays, gdt, gt, wkt, nodata=None):
    ny, nx = arrays[0].shape
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(path, nx, ny, len(arrays), gdt,
                    options=["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform(gt)
    if wkt:
        ds.SetProjection(wkt)
    for i, a in enumerate(arrays):
        b = ds.GetRasterBand(i + 1)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        b.WriteArray(a)
    ds = None


def main(out):
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    # Peninsular Malaysia around Kuala Lumpur: GDM2000 / Peninsula RSO (EPSG:3375)
    x0, y0 = 380000.0, 350000.0
    nx, ny, res = 320, 260, 100.0
    gt = (x0, res, 0.0, y0, 0.0, -res)

    tmi = _field(ny, nx, 1, 120.0, 41000.0).astype(np.float32)
    tmi[40:70, 50:90] = -99999
    tmi[200:230, 250:300] = -99999
    tmi[:, :3] = -99999
    _write(os.path.join(out, "aeromag_tmi.tif"), [tmi], gdal.GDT_Float32, gt, _srs(3375), -99999)

    geo = np.clip(np.floor((_field(ny, nx, 2) + 3.0) * 2.0), 1, 12).astype(np.uint8)
    geo[100:130, 10:60] = 0
    _write(os.path.join(out, "geology_units.tif"), [geo], gdal.GDT_Byte, gt, _srs(3375), 0)

    grav = _field(ny // 2, nx // 2, 3, 15.0, -20.0).astype(np.float32)
    _write(os.path.join(out, "gravity_nocrs.tif"), [grav], gdal.GDT_Float32,
           (x0, 2 * res, 0.0, y0, 0.0, -2 * res), None, None)

    rad = [(_field(ny, nx, 10 + i, 0.5, 2.0)).astype(np.float32) for i in range(3)]
    for a in rad:
        a[5:25, 100:140] = -1
    _write(os.path.join(out, "radiometric_k.tif"), rad, gdal.GDT_Float32, gt, _srs(3375), -1)

    # Kertau 1968 / Singapore Grid... no: Kertau (RSO) / RSO Malaya (m), EPSG:3168
    kx0, ky0 = 380200.0, 350000.0
    dem = (_field(ny, nx, 4, 300.0, 400.0)).astype(np.int16)
    dem[0:20, 0:20] = -32768
    dem[150:170, 200:260] = -32768
    _write(os.path.join(out, "dem_kertau.tif"), [dem], gdal.GDT_Int16,
           (kx0, res, 0.0, ky0, 0.0, -res), _srs(3168), -32768)

    # NAD27 geographic over Colorado, no nodata
    ngt = (-105.6, 0.002, 0.0, 39.6, 0.0, -0.002)
    n27 = _field(250, 300, 5, 50.0, 1000.0).astype(np.float32)
    _write(os.path.join(out, "nad27_grid.tif"), [n27], gdal.GDT_Float32, ngt, _srs(4267), None)

    # EPSG:3375 coordinates far from Malaysia (still valid numbers)
    far = _field(50, 50, 6).astype(np.float32)
    _write(os.path.join(out, "far_away.tif"), [far], gdal.GDT_Float32,
           (5000000.0, 100.0, 0.0, -3000000.0, 0.0, -100.0), _srs(3375), -99999)

    with open(os.path.join(out, "bad", "notatiff.tif"), "w") as f:
        f.write("this is not a TIFF file\n")
    open(os.path.join(out, "bad", "empty.tif"), "w").close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: standins.py DIR")
    main(sys.argv[1])
