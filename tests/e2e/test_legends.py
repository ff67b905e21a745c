#!/usr/bin/python3
"""End-to-end tests of raster legends (issue 15, items 5 and 6): a raster's colour
table, category names, raster attribute table, band descriptions, units, scale/offset and
colour interpretation travel through the bundle and `lode extract` puts them back, as
gdalinfo of the source (or of gdal_translate's copy of it) shows them; the bundle shows
categories as CF flag_values/flag_meanings; no raster group is listed as a vector layer
by OGR; every bundle verifies (strict) and passes the CF checker (when CFCHECKS names
run-cfchecks.sh).

/usr/bin/python3 tests/e2e/test_legends.py --lode build/lode --data tests/data \
    --work TMPDIR [--samples DIR] [-k NAME]

Sources: tests/data/lc.tif (land cover, colour table), tests/data/storml_tcc.tif (canopy
cover, colour table, nodata), tests/data/RGB.byte.tif (Red/Green/Blue), and rasters the
tests generate (geology with colour table, categories and RAT; a 3-band Int16 with
per-band units, descriptions, scale and offset).
"""
import json
import os
import re
import sys

import numpy as np

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import (assert_no_crash, cf_summary, cf_tools_present, gdalinfo_json, lode,  # noqa: E402
                      lode_ok, main, nc_name, read_raster, run, test, tool, write_manifest)

from osgeo import gdal, ogr, osr  # noqa: E402

BUNDLE = {"title": "lode legends test", "summary": "legends", "institution": "lode tests",
          "license": "CC0-1.0"}

GEOLOGY = [("", None), ("Granite", 220.5), ("Alluvium", 0.01), ("Schist (mica)", 400.0),
           ("Limestone", 300.25), ("Côte d'or", 12.0)]
COLOURS = [(0, 0, 0, 0), (230, 120, 140, 255), (255, 250, 180, 255), (150, 170, 90, 255),
           (120, 150, 200, 255), (80, 140, 230, 255)]


# =========================================================================== fixtures

def make_geology(path):
    """60x40 Byte, UTM 47N, nodata 0: colour table, categories (a blank, parentheses and
    non-ASCII in names), a thematic RAT (Integer MinMax, String Name, Real Generic)."""
    ds = gdal.GetDriverByName("GTiff").Create(path, 60, 40, 1, gdal.GDT_Byte)
    ds.SetGeoTransform([500000, 100, 0, 400000, 0, -100])
    s = osr.SpatialReference()
    s.ImportFromEPSG(32647)
    ds.SetProjection(s.ExportToWkt())
    b = ds.GetRasterBand(1)
    a = (np.add.outer(np.arange(40) // 8, np.arange(60) // 12) % 5 + 1).astype(np.uint8)
    a[:3, :3] = 0
    b.WriteArray(a)
    b.SetNoDataValue(0)
    b.SetDescription("geological unit")
    ct = gdal.ColorTable()
    for i, c in enumerate(COLOURS):
        ct.SetColorEntry(i, c)
    b.SetRasterColorTable(ct)
    b.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    b.SetRasterCategoryNames([n for n, _ in GEOLOGY])
    rat = gdal.RasterAttributeTable()
    rat.CreateColumn("Value", gdal.GFT_Integer, gdal.GFU_MinMax)
    rat.CreateColumn("Unit", gdal.GFT_String, gdal.GFU_Name)
    rat.CreateColumn("Age_Ma", gdal.GFT_Real, gdal.GFU_Generic)
    for i, (n, age) in enumerate(GEOLOGY[1:]):
        rat.SetValueAsInt(i, 0, i + 1)
        rat.SetValueAsString(i, 1, n)
        rat.SetValueAsDouble(i, 2, age)
    b.SetDefaultRAT(rat)
    ds = None
    return path


RADIO = [("potassium", "%", 0.01, 0.0), ("equivalent thorium", "ppm", 0.05, -1.5),
         ("equivalent uranium", "ppm", 0.02, 0.0)]


def make_radiometric(path):
    """3-band Int16, UTM 47N, nodata -32768: per-band descriptions, units, scale, offset."""
    ds = gdal.GetDriverByName("GTiff").Create(path, 50, 30, 3, gdal.GDT_Int16)
    ds.SetGeoTransform([500000, 100, 0, 400000, 0, -100])
    s = osr.SpatialReference()
    s.ImportFromEPSG(32647)
    ds.SetProjection(s.ExportToWkt())
    for k, (name, unit, scale, offset) in enumerate(RADIO):
        b = ds.GetRasterBand(k + 1)
        b.WriteArray((np.add.outer(np.arange(30), np.arange(50)) * (k + 3)).astype(np.int16))
        b.SetNoDataValue(-32768)
        b.SetDescription(name)
        b.SetUnitType(unit)
        b.SetScale(scale)
        b.SetOffset(offset)
    ds = None
    return path


def make_points(path):
    """A GeoPackage of two points in UTM 47N (a real vector layer beside the rasters)."""
    drv = ogr.GetDriverByName("GPKG")
    ds = drv.CreateDataSource(path)
    s = osr.SpatialReference()
    s.ImportFromEPSG(32647)
    ly = ds.CreateLayer("sites", s, ogr.wkbPoint)
    ly.CreateField(ogr.FieldDefn("label", ogr.OFTString))
    for i, (x, y) in enumerate([(501000, 398000), (503000, 399000)]):
        f = ogr.Feature(ly.GetLayerDefn())
        f.SetField("label", "site %d" % i)
        f.SetGeometry(ogr.CreateGeometryFromWkt("POINT (%d %d)" % (x, y)))
        ly.CreateFeature(f)
    ds = None
    return path


def identity_target(src, crs):
    """The source's own grid: same CRS, bounds and pixel size (nothing moves)."""
    ds = gdal.Open(src)
    gt = ds.GetGeoTransform()
    return {"crs": crs, "bounds": [gt[0], gt[3] + ds.RasterYSize * gt[5],
                                   gt[0] + ds.RasterXSize * gt[1], gt[3]],
            "resolution": gt[1]}


def build(ctx, tdir, target, datasets, name="b.nc"):
    man = os.path.join(tdir, name + ".yaml")
    write_manifest(man, target, datasets, bundle=BUNDLE)
    out = os.path.join(tdir, name)
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    v = lode(ctx, ["verify", out], tdir)
    assert_no_crash(v)
    assert v.rc == 0, "lode verify (strict) refused the bundle: " + v.brief()
    return out


def extract(ctx, tdir, bundle, names, sub="out"):
    out = os.path.join(tdir, sub)
    lode_ok(ctx, ["extract", bundle] + list(names) + ["-o", out, "-q"], tdir)
    return out


def translate(ctx, tdir, src):
    """gdal_translate's GeoTIFF copy of src (its legend as GDAL carries it)."""
    out = os.path.join(tdir, "ref_" + os.path.basename(src))
    tool(["gdal_translate", "-q", "-of", "GTiff", src, out], ctx)
    return out


LEGEND_KEYS = ("colorInterpretation", "description", "unit", "scale", "offset", "categories",
               "colorTable")


def legend_of(ctx, path):
    """What gdalinfo -json says of each band's legend, and the RAT (GDAL 3.6 reports the
    first band's at the top level)."""
    info = gdalinfo_json(ctx, path)
    bands = []
    for b in info["bands"]:
        d = {k: b.get(k) for k in LEGEND_KEYS}
        if d["scale"] == 1.0 and d["offset"] in (None, 0.0):
            d["scale"] = d["offset"] = None  # GDAL reports the identity for some drivers
        d["rat"] = b.get("rat")
        bands.append(d)
    if bands and info.get("rat") is not None:
        bands[0]["rat"] = info["rat"]
    return bands


def compare_legends(ctx, ref, got, what):
    a, b = legend_of(ctx, ref), legend_of(ctx, got)
    assert len(a) == len(b), "%s: %d bands, source %d" % (what, len(b), len(a))
    problems = []
    for i, (x, y) in enumerate(zip(a, b)):
        for k in x:
            if x[k] != y[k]:
                problems.append("band %d %s: extracted %s, source %s" % (
                    i + 1, k, json.dumps(y[k])[:200], json.dumps(x[k])[:200]))
    assert not problems, "%s: %s" % (what, "; ".join(problems))
    return a


def assert_has(legend, keys, what):
    for k in keys:
        assert legend[0].get(k) not in (None, [], {}), "%s: the source has no %s (test is void)" % (
            what, k)


def cf_check(ctx, bundle):
    """Run the CF checker when CFCHECKS names run-cfchecks.sh: 0 errors required."""
    script = os.environ.get("CFCHECKS")
    if not script:
        print("  (CF checker not run on %s: set CFCHECKS=path/to/run-cfchecks.sh)"
              % os.path.basename(bundle), flush=True)
        return False
    if not os.path.isfile(script):
        raise AssertionError("CFCHECKS=%s is not a file" % script)
    env = ctx.env(SKIP_APT="1") if cf_tools_present() else ctx.env()  # else it installs them
    r = run(["bash", script, bundle], env=env, timeout=900)
    errors, _ = cf_summary(r.text)
    assert errors == 0, "CF checker: %s errors in %s: %s" % (
        errors, bundle, " | ".join(l for l in r.text.splitlines() if "ERROR" in l)[:1500])
    return True


def nc_var(bundle, group):
    import netCDF4
    ds = netCDF4.Dataset(bundle)
    return ds, ds.groups[group].variables[group]


# =========================================================================== tests

@test
def test_geology_rat_round_trip(ctx, tdir):
    """Generated geology (colour table, categories, RAT) on its own grid: gdalinfo of the
    extracted GeoTIFF shows the same legend and RAT as gdal_translate of the source, and
    the same pixels; the side car is published beside it, no temporary file is left."""
    src = make_geology(os.path.join(tdir, "geology.tif"))
    bundle = build(ctx, tdir, identity_target(src, "EPSG:32647"),
                   [{"name": "geology", "source": src, "resampling": "nearest"}])
    out = extract(ctx, tdir, bundle, ["geology"])
    got = os.path.join(out, "geology.tif")
    ref = translate(ctx, tdir, src)
    leg = compare_legends(ctx, ref, got, "geology")
    assert_has(leg, ("colorTable", "categories", "rat"), "geology")
    assert leg[0]["colorInterpretation"] == "Palette", leg[0]["colorInterpretation"]
    assert os.path.isfile(got + ".aux.xml"), "no side car for the categories and RAT"
    assert sorted(os.listdir(out)) == ["geology.tif", "geology.tif.aux.xml"], os.listdir(out)
    a, _, _, _ = read_raster(src)
    b, _, _, _ = read_raster(got)
    assert np.array_equal(a, b), "the extracted pixels differ from the source's"
    # A second extract replaces both; one of a dataset without a side car removes a stale one.
    extract(ctx, tdir, bundle, ["geology"])
    compare_legends(ctx, ref, got, "geology, extracted again")


@test
def test_geology_cf_flags(ctx, tdir):
    """The bundle shows the categories as CF flag_values (the variable's type) and
    flag_meanings (one word per named category, blanks and other characters as '_'),
    read with netCDF4 and xarray."""
    import xarray as xr
    src = make_geology(os.path.join(tdir, "geology.tif"))
    bundle = build(ctx, tdir, identity_target(src, "EPSG:32647"),
                   [{"name": "geology", "source": src, "resampling": "nearest"}])
    ds, v = nc_var(bundle, "geology")
    try:
        fv = np.asarray(v.getncattr("flag_values"))
        fm = v.getncattr("flag_meanings").split(" ")
        assert fv.dtype == np.uint8, "flag_values is %s, not the variable's uint8" % fv.dtype
        named = [i for i, (n, _) in enumerate(GEOLOGY) if n]
        assert list(fv) == named, "flag_values %s, categories named at %s" % (list(fv), named)
        want = [re.sub(rb"[^A-Za-z0-9_.+@-]", b"_", n.encode()).decode() for n, _ in GEOLOGY if n]
        assert fm == want, "flag_meanings %s, expected %s" % (fm, want)
    finally:
        ds.close()
    x = xr.open_dataset(bundle, group="geology", mask_and_scale=False)
    try:
        assert "flag_meanings" in x["geology"].attrs
    finally:
        x.close()
    cf_check(ctx, bundle)


@test
def test_shared_colour_tables_through_warp(ctx, tdir):
    """The shared land-cover (custom Albers CRS) and canopy-cover rasters, reprojected
    with nearest (GDAL's warper): the extracted GeoTIFFs keep the colour table, palette
    interpretation and description of the source."""
    lc = ctx.datafile("lc.tif")
    tcc = ctx.datafile("storml_tcc.tif")
    t1 = os.path.join(tdir, "lc")
    os.makedirs(t1)
    b1 = build(ctx, t1, {"crs": "EPSG:4269", "bounds": [-67.6, 17.1, -64.9, 19.2],
                         "resolution": 0.02},
               [{"name": "landcover", "source": lc, "resampling": "nearest"}])
    t2 = os.path.join(tdir, "tcc")
    os.makedirs(t2)
    b2 = build(ctx, t2, identity_target(tcc, "EPSG:26912"),
               [{"name": "canopy", "source": tcc, "resampling": "nearest"}])
    for bundle, name, src in ((b1, "landcover", lc), (b2, "canopy", tcc)):
        out = extract(ctx, os.path.dirname(bundle), bundle, [name])
        got = os.path.join(out, name + ".tif")
        ref = translate(ctx, os.path.dirname(bundle), src)
        leg = compare_legends(ctx, ref, got, name)
        assert_has(leg, ("colorTable",), name)
        cf_check(ctx, bundle)


@test
def test_lc_footprint_overlaps(ctx, tdir):
    """The land-cover test above must warp real pixels (not an empty grid)."""
    lc = ctx.datafile("lc.tif")
    b = build(ctx, tdir, {"crs": "EPSG:4269", "bounds": [-67.6, 17.1, -64.9, 19.2],
                          "resolution": 0.02},
              [{"name": "landcover", "source": lc, "resampling": "nearest"}])
    a, mask, _, _ = read_raster(nc_name(b, "landcover"))
    src, _, _, _ = read_raster(lc)
    vals = set(np.unique(a[~mask]).tolist())
    assert len(vals) > 3 and vals <= set(np.unique(src).tolist()), \
        "warped classes %s are not a subset of the source's" % sorted(vals)[:20]


@test
def test_legend_through_both_warp_kernels(ctx, tdir):
    """A categorical raster reprojected (to EPSG:4326) once by lode's own bilinear kernel
    and once by GDAL's warper (LODE_WARP_KERNEL=gdal), as LODE_PROFILE reports: both
    extracted GeoTIFFs keep the source's colour table, categories and RAT."""
    src = make_geology(os.path.join(tdir, "geology.tif"))
    ref = translate(ctx, tdir, src)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [99.0, 3.58, 99.06, 3.62],
                         "resolution": 0.001},
                   [{"name": "geology", "source": src, "resampling": "bilinear"}], bundle=BUNDLE)
    used = []
    for k in ("lode", "gdal"):
        env = ctx.env(LODE_PROFILE="1")
        if k == "gdal":
            env["LODE_WARP_KERNEL"] = "gdal"
        out = os.path.join(tdir, k + ".nc")
        r = lode(ctx, ["run", man, "-o", out, "-q"], tdir, env)
        assert_no_crash(r)
        assert r.rc == 0, r.brief()
        m = re.findall(r"windows so far: (\d+) by lode's bilinear kernel, (\d+) by GDAL's", r.err)
        assert m, "no profile line in %r" % r.err[-300:]
        used.append(tuple(int(x) for x in m[-1]))
        v = lode(ctx, ["verify", out], tdir)
        assert v.rc == 0, v.brief()
        x = extract(ctx, tdir, out, ["geology"], sub="out_" + k)
        compare_legends(ctx, ref, os.path.join(x, "geology.tif"), "geology (%s kernel)" % k)
    assert used[0][0] > 0, "lode's kernel was not used: %s" % (used,)
    assert used[1][0] == 0 and used[1][1] > 0, "GDAL's warper was not used: %s" % (used,)


@test
def test_multiband_units_scale_offset(ctx, tdir):
    """A 3-band Int16 with a description, unit, scale and offset per band: extracted as
    gdal_translate copies it; the bundle gives each band's unit and name separately to
    xarray and netCDF4 (the auxiliary coordinates band_units and band_name along the
    band dimension) and GDAL sees 3 bands with the lineage's names and units."""
    import xarray as xr
    src = make_radiometric(os.path.join(tdir, "radio.tif"))
    bundle = build(ctx, tdir, identity_target(src, "EPSG:32647"),
                   [{"name": "radio", "source": src, "resampling": "nearest"}])
    out = extract(ctx, tdir, bundle, ["radio"])
    got = os.path.join(out, "radio.tif")
    leg = compare_legends(ctx, translate(ctx, tdir, src), got, "radio")
    assert [b["unit"] for b in leg] == [u for _, u, _, _ in RADIO], leg
    assert [b["scale"] for b in leg] == [s for _, _, s, _ in RADIO], leg
    x = xr.open_dataset(bundle, group="radio", mask_and_scale=False)
    try:
        var = x["radio"]
        assert var.attrs["lode_band_units"].split("\n") == ["%", "ppm", "ppm"], var.attrs
        assert var.attrs["lode_band_names"].split("\n") == [n for n, _, _, _ in RADIO]
        assert "units" not in var.attrs, "one units for bands of different units"
        assert set(var.coords) >= {"band_name", "band_units"}, list(var.coords)
        assert list(var["band_units"].values) == ["%", "ppm", "ppm"], var["band_units"].values
        assert list(var["band_name"].values) == [n for n, _, _, _ in RADIO], var["band_name"].values
        # One band's own unit, by selecting it.
        assert str(var.isel(band=1)["band_units"].values) == "ppm"
    finally:
        x.close()
    ds, v = nc_var(bundle, "radio")
    try:
        assert v.getncattr("coordinates") == "band_name band_units"
        assert list(ds.groups["radio"].variables["band_units"][:]) == ["%", "ppm", "ppm"]
    finally:
        ds.close()
    info = gdalinfo_json(ctx, nc_name(bundle, "radio"))
    assert len(info["bands"]) == 3, "GDAL sees %d bands" % len(info["bands"])
    cf_check(ctx, bundle)


@test
def test_rgb_colour_interpretation(ctx, tdir):
    """RGB.byte.tif (Red, Green, Blue): the extracted GeoTIFF keeps the interpretation."""
    src = ctx.datafile("RGB.byte.tif")
    t = identity_target(src, "EPSG:32618")
    t["resolution"] = 4 * t["resolution"]
    bundle = build(ctx, tdir, t, [{"name": "rgb", "source": src, "resampling": "nearest"}])
    out = extract(ctx, tdir, bundle, ["rgb"])
    leg = legend_of(ctx, os.path.join(out, "rgb.tif"))
    assert [b["colorInterpretation"] for b in leg] == ["Red", "Green", "Blue"], leg
    cf_check(ctx, bundle)


@test
def test_ogrinfo_lists_only_real_layers(ctx, tdir):
    """A bundle with a 3-band raster, a categorical raster and a point layer: ogrinfo
    (and OGR through Python) lists the point layer only; gdalinfo still lists both
    rasters, the 3-band one with 3 bands."""
    radio = make_radiometric(os.path.join(tdir, "radio.tif"))
    geo = make_geology(os.path.join(tdir, "geology.tif"))
    pts = make_points(os.path.join(tdir, "sites.gpkg"))
    bundle = build(ctx, tdir, identity_target(radio, "EPSG:32647"),
                   [{"name": "radio", "source": radio, "resampling": "nearest"},
                    {"name": "geology", "source": geo, "resampling": "nearest"},
                    {"name": "sites", "source": pts}])
    r = tool(["ogrinfo", "-ro", "-q", bundle], ctx)
    layers = [l.split(":", 1)[1].strip() for l in r.out.splitlines() if re.match(r"^\d+:", l)]
    assert layers == ["sites (Point)"], "ogrinfo lists %s" % layers
    ds = ogr.Open(bundle)
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    assert names == ["sites"], "OGR lists %s" % names
    info = gdalinfo_json(ctx, bundle)
    subs = [v for k, v in info.get("metadata", {}).get("SUBDATASETS", {}).items()
            if k.endswith("_NAME")]
    assert any("/radio/radio" in s for s in subs) and any("/geology/geology" in s for s in subs), subs
    assert len(gdalinfo_json(ctx, nc_name(bundle, "radio"))["bands"]) == 3
    # No CF check here: the vector layer's CF state is another item's (the raster-only
    # bundles of the other tests are checked).


@test
def test_stages_and_merge_keep_legends(ctx, tdir):
    """The cluster stages (plan -w, reproject, package) and merge keep the legend: verify
    passes and the extracted geology has the source's colour table, categories and RAT."""
    src = make_geology(os.path.join(tdir, "geology.tif"))
    radio = make_radiometric(os.path.join(tdir, "radio.tif"))
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, identity_target(src, "EPSG:32647"),
                   [{"name": "geology", "source": src, "resampling": "nearest"}], bundle=BUNDLE)
    work = os.path.join(tdir, "work")
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir)
    packaged = os.path.join(tdir, "packaged.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", packaged, "-q"], tdir)
    other = build(ctx, tdir, identity_target(radio, "EPSG:32647"),
                  [{"name": "radio", "source": radio, "resampling": "nearest"}], name="o.nc")
    merged = os.path.join(tdir, "merged.nc")
    lode_ok(ctx, ["merge", packaged, other, "-o", merged, "-q"], tdir)
    ref = translate(ctx, tdir, src)
    for b in (packaged, merged):
        v = lode(ctx, ["verify", b], tdir)
        assert v.rc == 0, "verify refused %s: %s" % (b, v.brief())
        out = extract(ctx, tdir, b, ["geology"], sub="out_" + os.path.basename(b))
        compare_legends(ctx, ref, os.path.join(out, "geology.tif"), os.path.basename(b))
    cf_check(ctx, merged)


@test
def test_tampered_flags_refused(ctx, tdir):
    """flag_meanings that are not the lineage's categories (same length, so written in
    place; bundle digest recomputed by tests/bundle_digest.py so that only the strict
    check can see it): verify refuses the bundle naming flag_meanings."""
    import h5py
    sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
    import bundle_digest
    from bomb_util import set_text
    src = make_geology(os.path.join(tdir, "geology.tif"))
    bundle = build(ctx, tdir, identity_target(src, "EPSG:32647"),
                   [{"name": "geology", "source": src, "resampling": "nearest"}])
    with h5py.File(bundle, "r+") as f:
        v = f["geology/geology"]
        old = bytes(v.attrs["flag_meanings"])
        set_text(v, "flag_meanings", old.replace(b"Granite", b"Basalt_"))
    d = bundle_digest.bundle_digest(bundle)
    with h5py.File(bundle, "r+") as f:
        set_text(f, "lode_bundle_sha256", d)
    r = lode(ctx, ["verify", bundle], tdir)
    assert_no_crash(r)
    assert r.rc == 1, "verify did not refuse changed flag_meanings: " + r.brief()
    assert "bundle digest: OK" in r.out and "flag_meanings" in r.text, r.brief()


@test
def test_legend_too_large_refused(ctx, tdir):
    """A RAT of 257 columns (lode carries at most 256): lode run refuses the source,
    naming it, the band and the limit, exit 1, and writes no bundle."""
    src = os.path.join(tdir, "wide.tif")
    ds = gdal.GetDriverByName("GTiff").Create(src, 8, 8, 1, gdal.GDT_Byte)
    ds.SetGeoTransform([500000, 100, 0, 400000, 0, -100])
    s = osr.SpatialReference()
    s.ImportFromEPSG(32647)
    ds.SetProjection(s.ExportToWkt())
    rat = gdal.RasterAttributeTable()
    for k in range(257):
        rat.CreateColumn("c%d" % k, gdal.GFT_Integer, gdal.GFU_Generic)
    rat.SetRowCount(1)
    ds.GetRasterBand(1).SetDefaultRAT(rat)
    ds = None
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, identity_target(src, "EPSG:32647"), [{"name": "wide", "source": src}],
                   bundle=BUNDLE)
    out = os.path.join(tdir, "b.nc")
    r = lode(ctx, ["run", man, "-o", out, "-q"], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    assert "wide.tif" in r.err and "band 1" in r.err and "257 columns" in r.err, r.brief()
    assert not os.path.exists(out), "a bundle was written"


@test
def test_label_names_reserved(ctx, tdir):
    """band_name and band_units (the labels in a multi-band raster's group) are refused
    as dataset names, with the manifest's line, like x, y, crs and band."""
    src = make_geology(os.path.join(tdir, "geology.tif"))
    for name in ("band_name", "band_units"):
        man = os.path.join(tdir, name + ".yaml")
        write_manifest(man, identity_target(src, "EPSG:32647"), [{"name": name, "source": src}],
                       bundle=BUNDLE)
        r = lode(ctx, ["plan", man], tdir)
        assert_no_crash(r)
        assert r.rc in (1, 2) and "'%s' is reserved" % name in r.err, r.brief()


@test
def test_ogrinfo_demo_bundles_exact_layers(ctx, tdir):
    """ogrinfo on the demo bundle (samples/malaysia.yaml) and on the deposits demo
    (samples/deposits.yaml, with a table) lists exactly the vector layers and tables that
    lode ls --json lists, and no raster group; a table shows no geometry."""
    import test_metadata as tm
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deposits = os.path.join(tdir, "deposits.nc")
    lode_ok(ctx, ["run", os.path.join(repo, "samples", "deposits.yaml"), "-o", deposits, "-q"], tdir)
    for bundle in (tm.demo_bundle(ctx, tdir), deposits):
        ls = json.loads(lode_ok(ctx, ["ls", bundle, "--json"], tdir).out)
        want = sorted(d["name"] for d in ls["datasets"] if d["kind"] == "vector")
        rasters = [d["name"] for d in ls["datasets"] if d["kind"] != "vector"]
        r = tool(["ogrinfo", "-ro", "-q", bundle], ctx)
        listed = [l.split(":", 1)[1].strip() for l in r.out.splitlines() if re.match(r"^\d+:", l)]
        got = sorted(re.sub(r" \(.*\)$", "", l).lstrip("/") for l in listed)
        assert got == want, "%s: ogrinfo lists %s, lode ls %s (rasters %s)" % (
            os.path.basename(bundle), got, want, rasters)
        assert want and rasters or bundle == deposits, "the demo bundle should hold both kinds"
        tables = [l for l in listed if l.startswith("/")]
        assert all("(None)" in l or "(" not in l for l in tables), tables


if __name__ == "__main__":
    main()
