#!/usr/bin/env python3
"""lode report in a browser (issue 17 item 3): the demo report opened in headless
Chromium through its DevTools protocol (no console error, every image decodes, no request
leaves the file; the screenshot is kept in the test's folder), the quick-looks checked
pixel by pixel against GDAL's reading of the bundle, a 4000 x 4000 raster's page small
and made from a decimated read within a small --max-memory, signatures with their trust.
"""
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lodetest  # noqa: E402
import test_metadata as tm  # noqa: E402

del lodetest.TESTS[:]  # test_metadata's own tests run in their suite, not here
from lodetest import Skip, lode, lode_ok, main, test, write_manifest  # noqa: E402

import browser_util  # noqa: E402
import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

XH = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"


def in_browser(path, shot):
    try:
        return browser_util.open_page(path, shot)
    except browser_util.Unavailable as e:
        raise Skip("headless Chromium cannot run here: %s" % e)


def quicklooks(root):
    """{dataset: decoded PNG as a GDAL dataset} of the map's <image> elements."""
    out = {}
    for im in root.iter(SVG + "image"):
        href = im.get("href")
        assert href.startswith("data:image/png;base64,"), href[:40]
        import base64
        name = "/vsimem/ql_%s.png" % im.get("data-name")
        gdal.FileFromMemBuffer(name, base64.b64decode(href.split(",", 1)[1]))
        ds = gdal.Open(name)
        out[im.get("data-name")] = ds.ReadAsArray()  # (4, h, w) RGBA
        ds = None
        gdal.Unlink(name)
    return out


def bundle_band(bundle, name):
    ds = gdal.Open('NETCDF:"%s":/%s/%s' % (bundle, name, name))
    b = ds.GetRasterBand(1)
    return b.ReadAsArray(), b.GetNoDataValue()


def sampled(a, step):
    """What the report reads: the middle pixel of each step x step block (clamped)."""
    h, w = a.shape
    rows = np.minimum(np.arange(0, h, step) + step // 2, h - 1)
    cols = np.minimum(np.arange(0, w, step) + step // 2, w - 1)
    return a[np.ix_(rows, cols)]


@test
def test_report_in_browser(ctx, tdir):
    """The demo report in headless Chromium: loads without console errors or failed
    loads, every quick-look decodes at its stated size, nothing is requested but the file
    and its data: URIs; the screenshot is kept.  The same harness catches a page that
    breaks each rule (so the checks can fail)."""
    b = tm.demo_bundle(ctx, tdir)
    rep = os.path.join(tdir, "demo.report.html")
    lode_ok(ctx, ["report", b, "-o", rep, "-q"], tdir)
    ls = tm.ls_json(ctx, tdir, b)
    root = tm.check_report(rep, ls, b)
    shot = os.path.join(tdir, "demo.report.png")
    r = in_browser(rep, shot)
    assert not browser_util.outside_requests(r["requests"], rep), r["requests"]
    assert not r["failed"] and not r["errors"], (r["failed"], r["errors"])
    rasters = [d for d in ls["datasets"] if d["kind"] == "raster"]
    assert len(r["images"]) == len(rasters), r["images"]
    assert all(w and h for _, w, h in r["images"]), r["images"]
    assert r["title"] == root.find("%shead/%stitle" % (XH, XH)).text
    assert browser_util.png_size(shot) == (1280, 1600), browser_util.png_size(shot)
    assert os.path.getsize(shot) > 50000, "a blank screenshot?"
    print("  screenshot of the demo report: %s" % shot, flush=True)
    # lode ls points at the report and the records.
    out = lode_ok(ctx, ["ls", b], tdir).out.rstrip("\n").split("\n")
    assert out[-2] == "Next: lode report %s -o REPORT.html     (a page for people)" % b, out[-2:]
    assert out[-1].startswith("      lode metadata %s --format" % b) and "docs/receiving.md" in out[-1], out[-1]
    # Every vector layer with features is drawn, each raster has a legend.
    paths = [p.get("data-name") for p in root.iter(SVG + "path")]
    want = [d["name"] for d in ls["datasets"] if d["kind"] == "vector" and d.get("feature_count")]
    assert paths == want, (paths, want)
    legends = {d.get("data-name"): d for d in root.iter(XH + "div") if d.get("class") == "legend"}
    assert list(legends) == [d["name"] for d in ls["datasets"]], list(legends)
    # The harness sees a request leaving the page, a console error, a broken image.
    neg = os.path.join(tdir, "neg.html")
    with open(neg, "w") as f:
        f.write('<!DOCTYPE html><html><head><title>n</title></head><body>'
                '<img src="http://127.0.0.1:9/x.png"/><img src="data:image/png;base64,AAAA"/>'
                '<script>console.error("boom")</script></body></html>')
    n = in_browser(neg, os.path.join(tdir, "neg.png"))
    assert browser_util.outside_requests(n["requests"], neg) and n["failed"], n
    assert any("boom" in e for e in n["errors"]), n["errors"]
    assert sum(1 for _, w, _h in n["images"] if w is None) == 2, n["images"]


@test
def test_report_quicklooks_match_gdal(ctx, tdir):
    """Each quick-look is the bundle's pixels as GDAL reads them, sampled: the palette
    raster in its carried colour table (legend names from the lineage), a continuous one
    on the ramp with nodata transparent and the legend's range and units those of the
    sampled values' 2nd and 98th percentiles."""
    b = tm.demo_bundle(ctx, tdir)
    rep = os.path.join(tdir, "r.report.html")
    lode_ok(ctx, ["report", b, "-o", rep, "-q"], tdir)
    root = ET.parse(rep).getroot()
    qls = quicklooks(root)
    ls = tm.ls_json(ctx, tdir, b)
    legends = {d.get("data-name"): d for d in root.iter(XH + "div") if d.get("class") == "legend"}
    checked = set()
    for d in ls["datasets"]:
        if d["kind"] != "raster":
            continue
        a, nodata = bundle_band(b, d["name"])
        h, w = a.shape
        step = max(1, -(-max(w, h) // 800))
        s = sampled(a, step)
        rgba = qls[d["name"]]
        assert rgba.shape == (4,) + s.shape, (d["name"], rgba.shape, s.shape)
        ds = gdal.Open('NETCDF:"%s":/%s/%s' % (b, d["name"], d["name"]))
        lin = __import__("json").loads(ds.GetRasterBand(1).GetMetadataItem("lode_lineage")
                                        or ds.GetMetadataItem("%s#lode_lineage" % d["name"]))
        leg = (lin.get("band_legends") or [None])[0]
        valid = ~np.isnan(s) if nodata is None else (s != nodata) & ~np.isnan(s)
        assert (rgba[3][~valid] == 0).all(), (d["name"], "nodata not transparent")
        if leg and leg.get("color_table"):
            ct = np.array(leg["color_table"])
            want = ct[s[valid].astype(int)].T
            assert (rgba[:, valid] == want).all(), (d["name"], "not its colour table")
            names = [td.text for tr in legends[d["name"]].iter(XH + "tr") for td in tr.findall(XH + "td")[2:3]]
            cats = leg.get("categories", [])
            for v in sorted(set(s[valid].astype(int))):
                assert (cats[v] if v < len(cats) else "") in [n or "" for n in names], (v, names)
            checked.add("palette")
        else:
            v = np.sort(s[valid].astype(float))
            lo, hi = v[int((len(v) - 1) * 0.02)], v[int((len(v) - 1) * 0.98)]
            assert (rgba[3][valid] == 255).all(), d["name"]
            # the lowest values are viridis's dark end, the highest its light end
            low, high = s[valid] <= lo, s[valid] >= hi
            assert (rgba[:3, valid][:, low].T == [68, 1, 84]).all(), d["name"]
            assert (rgba[:3, valid][:, high].T == [253, 231, 37]).all(), d["name"]
            rng = legends[d["name"]].find(".//%sdiv[@class='range']/%sb" % (XH, XH)).text
            got = [float(t) for t in rng.split(" to ")]
            assert np.allclose(got, [lo, hi], rtol=1e-5), (rng, lo, hi)
            unit = ds.GetRasterBand(1).GetUnitType()
            if unit:
                assert unit in "".join(legends[d["name"]].itertext()), (d["name"], unit)
            checked.add("ramp")
    assert checked == {"palette", "ramp"}, checked


@test
def test_report_large_raster_decimated(ctx, tdir):
    """A 4000 x 4000 Float32 raster: the report is made within --max-memory 48M (a whole
    band would take 64 MB), from a read of one pixel in 5 x 5, its quick-look 800 x 800,
    and the page is under 5 MB."""
    n = 4000
    src = os.path.join(tdir, "big.tif")
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(src, n, n, 1, gdal.GDT_Float32, ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform([100.0, 0.0005, 0, 4.0, 0, -0.0005])
    ds.SetProjection('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
                     'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    band = ds.GetRasterBand(1)
    band.WriteArray(np.sin(x / 300.0) * np.cos(y / 200.0) * 100 + np.random.default_rng(1).normal(0, 20, (n, n)))
    band.SetNoDataValue(-9999)
    band.SetUnitType("nT")
    ds = None
    man = os.path.join(tdir, "big.yaml")
    write_manifest(man, {"crs": "EPSG:4326", "bounds": [100.0, 2.0, 102.0, 4.0], "resolution": 0.0005},
                   [{"name": "big", "source": src, "resampling": "nearest"}],
                   bundle={"title": "big", "summary": "4000 x 4000", "license": "CC0-1.0"})
    b = os.path.join(tdir, "big.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    rep = os.path.join(tdir, "big.report.html")
    t0 = time.monotonic()
    lode_ok(ctx, ["report", b, "-o", rep, "-q", "--max-memory", "48M"], tdir)
    took = time.monotonic() - t0
    size = os.path.getsize(rep)
    print("  4000 x 4000 report: %.2f s, %d bytes" % (took, size), flush=True)
    assert size < 5 * 1024 * 1024, size
    root = ET.parse(rep).getroot()
    ql = quicklooks(root)["big"]
    assert ql.shape == (4, 800, 800), ql.shape
    text = "".join(root.itertext())
    assert "one pixel in 5 x 5 read (decimated)" in text, text[-2000:]
    assert "nT" in "".join(root.find(".//%sdiv[@data-name='big']" % XH).itertext())
    # The bound is applied: a --max-memory that verify fits in (a strip of 8 MB) but not
    # the quick-look's buffers too is said on the page, not exceeded.
    rep2 = os.path.join(tdir, "small.report.html")
    lode_ok(ctx, ["report", b, "-o", rep2, "-q", "--max-memory", "16M"], tdir)
    t2 = "".join(ET.parse(rep2).getroot().itertext())
    assert "Not drawn: reading it needs about" in t2 and "--max-memory" in t2, t2[-1500:]


@test
def test_report_signatures_and_trust(ctx, tdir):
    """Signatures: signer and key as verify lists them, trusted when made with a --trust
    key, 'unverified signer' without one; a --trust key that made no signature gets no
    report (as verify refuses); a signer's markup stays text."""
    b = tm.demo_bundle(ctx, tdir)
    rep = os.path.join(tdir, "u.report.html")
    lode_ok(ctx, ["report", b, "-o", rep, "-q"], tdir)
    root = ET.parse(rep).getroot()
    assert root.find(".//%stable[@id='signatures']" % XH) is None
    assert "not signed" in "".join(root.itertext())
    for k in ("jmg", "other"):
        lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, k)], tdir)
    signer = "JMG <b>Malaysia</b>"
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"), "--signer", signer], tdir)
    for trust, want in ((None, "unverified signer"), ("jmg", "trusted: made with a --trust key")):
        args = ["report", b, "-o", rep, "-q"] + (["--trust", os.path.join(tdir, trust + ".pub")] if trust else [])
        lode_ok(ctx, args, tdir)
        rows = ET.parse(rep).getroot().find(".//%stable[@id='signatures']" % XH).findall(XH + "tr")[1:]
        assert len(rows) == 1, len(rows)
        tds = [td.text for td in rows[0].findall(XH + "td")]
        assert tds[1] == signer and tds[4].startswith(want), tds
        verify = lode_ok(ctx, ["verify", b] + (["--trust", os.path.join(tdir, trust + ".pub")] if trust else []),
                         tdir).out
        m = re.search(r"signer '.*', key (\S+)\.\.\.", verify)
        assert m and tds[2] == m.group(1) + "...", (tds, verify)
    r = lode(ctx, ["report", b, "-o", rep + ".x", "--trust", os.path.join(tdir, "other.pub")], tdir)
    assert r.rc == 1 and "trusted key" in r.err and not os.path.exists(rep + ".x"), r.brief()
    r = lode(ctx, ["report", b, "-o", rep + ".x", "--trust", os.path.join(tdir, "missing.pub")], tdir)
    assert r.rc == 2 and "--trust" in r.err and "missing.pub" in r.err and not os.path.exists(rep + ".x"), \
        r.brief()


@test
def test_report_harmonization_counts(ctx, tdir):
    """A bundle with harmonized layers (samples/deposits.yaml, real USGS and JMG records):
    the report's Harmonization table has one row per mapped field of each dataset with
    the counts lode ls --json gives from the lineage (values, mapped, unmapped, empty,
    translated, several: values mapped to more than one URI),
    the schema, and the unmapped cell marked where some were kept with the nil reason;
    a bundle without field maps has no such table."""
    man = os.path.join(os.path.dirname(os.path.dirname(HERE)), "samples", "deposits.yaml")
    b = os.path.join(tdir, "deposits.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    ls = json.loads(lode_ok(ctx, ["ls", b, "--json"], tdir).out)
    want = []
    for ds in ls["datasets"]:
        lin = ds.get("harmonize") or {}
        sch = ds.get("schema")
        for c in lin.get("counts", []):
            want.append([ds["name"], c["field"]] + ["" if c.get(k) is None else str(c[k]) for k in
                         ("values", "mapped", "unmapped", "empty", "translated", "several")] +
                        ["%s %s" % (sch["name"], sch["version"]) if sch else ""])
    assert want, "no harmonize counts in ls --json: %s" % [d.get("name") for d in ls["datasets"]]
    rep = os.path.join(tdir, "deposits.report.html")
    lode_ok(ctx, ["report", b, "-o", rep, "-q"], tdir)
    table = ET.parse(rep).getroot().find(".//%stable[@id='harmonization']" % XH)
    assert table is not None, "no harmonization table"
    rows = table.findall(XH + "tr")[1:]
    got = [[td.text or "" for td in r.findall(XH + "td")] for r in rows]
    assert got == want, "report %s\nls %s" % (got[:3], want[:3])
    marked = [[td.get("class") for td in r.findall(XH + "td")][4] for r in rows]
    assert marked == ["warn" if int(w[4] or 0) > 0 else None for w in want], marked
    assert any(m == "warn" for m in marked), "no unmapped value kept: the check could not fail"
    plain = tm.demo_bundle(ctx, tdir)
    lode_ok(ctx, ["report", plain, "-o", rep, "-q"], tdir)
    assert ET.parse(rep).getroot().find(".//%stable[@id='harmonization']" % XH) is None


if __name__ == "__main__":
    main()
