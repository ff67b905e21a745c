#!/usr/bin/python3
"""What a source may read: policy.confine_sources, raw VRT bands, network names, FIFOs,
devices and directories (docs/manifest.md "What a source may read"), and the lineage's
list of every file a source reads (source.files, docs/bundle-format.md 4.5 and 5.4).

/usr/bin/python3 tests/e2e/test_confine.py --lode build/lode --work TMPDIR [-k NAME]

Same runner and output as test_raster.py. The inputs are made here with GDAL's Python
bindings; digests are checked with hashlib, pixels with GDAL and h5py, connections with
a listening socket of the test's own.
"""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import Result, lineage, main, test  # noqa: E402
from hostile_util import assert_sane, error_lines, files_under  # noqa: E402

import numpy as np  # noqa: E402
from osgeo import gdal, ogr, osr  # noqa: E402

gdal.UseExceptions()

# A 10 x 10 grid at 0.01 degree: the target grid is the source grid, so nearest
# resampling copies pixels and GDAL's reading of a VRT is the expected bundle.
TARGET = "target: {crs: EPSG:4326, bounds: [100, 3.9, 100.1, 4.0], resolution: 0.01}\n"


def run_lode(ctx, args, cwd, timeout=60):
    cmd = [ctx.lode] + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=ctx.env(), cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("hung: no end after %ss: %s" % (timeout, " ".join(cmd)))
    r = Result(cmd, p.returncode if p.returncode >= 0 else 128 - p.returncode,
               p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
    r.wall = time.monotonic() - t0
    return r


def make_tif(path, values=None, gt=(100, 0.01, 0, 4.0, 0, -0.01), dtype=gdal.GDT_Byte):
    ds = gdal.GetDriverByName("GTiff").Create(path, 10, 10, 1, dtype)
    ds.SetGeoTransform(gt)
    ds.SetProjection("EPSG:4326")
    if values is None:
        values = (np.arange(100) % 251 + 1).reshape(10, 10)
    ds.GetRasterBand(1).WriteArray(np.asarray(values))
    ds = None
    return path


def simple_vrt(path, sources):
    """A 10 x 10 Byte VRT whose band takes each (name, relative_to_vrt, rows) source."""
    srcs = "".join(
        '<SimpleSource><SourceFilename relativeToVRT="%d">%s</SourceFilename>'
        '<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="%d" xSize="10" ySize="%d"/>'
        '<DstRect xOff="0" yOff="%d" xSize="10" ySize="%d"/></SimpleSource>'
        % (rel, name, y0, n, y0, n) for name, rel, (y0, n) in sources)
    with open(path, "w") as f:
        f.write('<VRTDataset rasterXSize="10" rasterYSize="10"><SRS>EPSG:4326</SRS>'
                '<GeoTransform>100, 0.01, 0, 4.0, 0, -0.01</GeoTransform>'
                '<VRTRasterBand dataType="Byte" band="1">%s</VRTRasterBand></VRTDataset>\n'
                % srcs)
    return path


def raw_vrt(path, target, rel=1):
    """A VRTRawRasterBand reading the first 100 bytes of target as 10 x 10 pixels."""
    with open(path, "w") as f:
        f.write('<VRTDataset rasterXSize="10" rasterYSize="10"><SRS>EPSG:4326</SRS>'
                '<GeoTransform>100, 0.01, 0, 4.0, 0, -0.01</GeoTransform>'
                '<VRTRasterBand dataType="Byte" band="1" subClass="VRTRawRasterBand">'
                '<SourceFilename relativetoVRT="%d">%s</SourceFilename><ImageOffset>0</ImageOffset>'
                '<PixelOffset>1</PixelOffset><LineOffset>10</LineOffset><ByteOrder>LSB</ByteOrder>'
                '</VRTRasterBand></VRTDataset>\n' % (rel, target))
    return path


def manifest(folder, source, confine=True, allow=None, name="d"):
    path = os.path.join(folder, "m.yaml")
    with open(path, "w") as f:
        f.write(TARGET)
        f.write("policy: {confine_sources: %s}\n" % ("true" if confine else "false"))
        f.write("datasets:\n  - name: %s\n    source: %s\n" % (name, source))
        if allow:
            f.write("    allow: [%s]\n" % ", ".join(allow))
    return path


def layout(tdir):
    """tdir/m (the manifest's folder, with a.tif), tdir/outside, tdir/out (the bundle)."""
    m, outside, out = (os.path.join(tdir, d) for d in ("m", "outside", "out"))
    for d in (m, outside, out):
        os.makedirs(d, exist_ok=True)
    make_tif(os.path.join(m, "a.tif"))
    return m, outside, out


def refused(ctx, tdir, m, out, must_name, cmd="run"):
    """lode run (or plan) of m/m.yaml: exit 1 in bounded time, one error line naming the
    dataset and every text of must_name, nothing written in out/ (no bundle, no temp
    file) nor in m/ beyond what was there."""
    before = files_under(m)
    args = [cmd, os.path.join(m, "m.yaml")] + (["-o", os.path.join(out, "b.nc")] if cmd == "run" else [])
    r = run_lode(ctx, args + ["-q"], tdir)
    assert_sane(r)
    errs = error_lines(r)
    assert r.rc == 1 and len(errs) == 1, "want exit 1 and one error line: " + r.brief()
    for text in ["m.yaml:4: dataset 'd'"] + list(must_name):
        assert text in errs[0], "the error does not name %r: %s" % (text, errs[0])
    assert r.wall < 20, "took %.1fs to refuse" % r.wall
    assert not files_under(out), "refused but wrote %s" % files_under(out)
    assert files_under(m) == before, "refused but changed the manifest's folder"
    return errs[0]


def build(ctx, tdir, m, out):
    b = os.path.join(out, "b.nc")
    r = run_lode(ctx, ["run", os.path.join(m, "m.yaml"), "-o", b, "-q"], tdir)
    assert_sane(r)
    assert r.rc == 0 and os.path.isfile(b), "lode run failed: " + r.brief()
    return b


def bundle_pixels(b, name="d"):
    import h5py
    with h5py.File(b, "r") as f:
        return np.array(f[name][name]).reshape(10, 10)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expect_files(b, folder, rels, name="d"):
    """The lineage's source.files is exactly rels (the source first), each with the
    SHA-256 and size hashlib and os.stat give."""
    got = lineage(b, name)["source"]["files"]
    want = [{"path": r, "sha256": sha(os.path.join(folder, r)),
             "size": os.path.getsize(os.path.join(folder, r))} for r in rels]
    assert got == want, "source.files = %s, want %s" % (json.dumps(got), json.dumps(want))


class Listener:
    """A TCP socket on 127.0.0.1 that counts the connections made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                self.hits.append(c.recv(200))
            except OSError:
                self.hits.append(b"")
            c.close()

    def count(self):
        time.sleep(0.5)  # a connection under way is counted
        return len(self.hits)

    def close(self):
        self.sock.close()


# =========================================================================== raw bands

def zip_files(archive, paths):
    """A zip archive of paths, each stored under its base name (as zip -j; Python's
    zipfile, so the test needs no zip program)."""
    import zipfile
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, os.path.basename(p))


@test
def test_raw_vrt_over_outside_file(ctx, tdir):
    """The attack of issue 14: a VRTRawRasterBand in the manifest's folder over a file
    outside it (here a secret of the test's own). Refused by default, with or without
    confine_sources, naming the raw band; with allow: [raw_vrt] and confine_sources,
    refused naming the outside file; through a link in the folder, too. A raw band over
    a file inside the folder with allow: [raw_vrt] gives exactly that file's bytes
    (a control: the refusals are not a broken raw VRT)."""
    m, outside, out = layout(tdir)
    secret = os.path.join(outside, "secret.bin")
    with open(secret, "wb") as f:
        f.write(bytes(range(7, 107)))
    raw_vrt(os.path.join(m, "raw.vrt"), "../outside/secret.bin")
    for confine in (True, False):
        manifest(m, "raw.vrt", confine=confine)
        refused(ctx, tdir, m, out, ["source 'raw.vrt'", "VRTRawRasterBand", "allow: [raw_vrt]"])
    manifest(m, "raw.vrt", confine=True, allow=["raw_vrt"])
    refused(ctx, tdir, m, out, ["outside/secret.bin", "outside the manifest's folder"])
    os.symlink(secret, os.path.join(m, "link.bin"))
    raw_vrt(os.path.join(m, "raw.vrt"), "link.bin")
    refused(ctx, tdir, m, out, ["link.bin", "outside the manifest's folder"])
    # The control: inside the folder, allowed by name, the raw bytes come through.
    inside = os.path.join(m, "inside.bin")
    with open(inside, "wb") as f:
        f.write(bytes(range(7, 107)))
    raw_vrt(os.path.join(m, "raw.vrt"), "inside.bin")
    b = build(ctx, tdir, m, out)
    want = np.frombuffer(open(inside, "rb").read(), dtype=np.uint8).reshape(10, 10)
    assert np.array_equal(bundle_pixels(b), want), "the raw band's pixels are not the file's bytes"
    expect_files(b, m, ["raw.vrt", "inside.bin"])
    assert lineage(b, "d")["source"]["allow"] == ["raw_vrt"], "allow not in the lineage"


@test
def test_nested_raw_vrt_refused(ctx, tdir):
    """A VRT whose SimpleSource is a second VRT inside the folder that has a raw band:
    GDAL's file list of the first names only the second, so lode must read VRTs within
    VRTs; refused naming the inner VRT."""
    m, outside, out = layout(tdir)
    with open(os.path.join(outside, "secret.bin"), "wb") as f:
        f.write(os.urandom(100))
    raw_vrt(os.path.join(m, "inner.vrt"), "../outside/secret.bin")
    simple_vrt(os.path.join(m, "outer.vrt"), [("inner.vrt", 1, (0, 10))])
    for confine in (True, False):
        manifest(m, "outer.vrt", confine=confine)
        refused(ctx, tdir, m, out, ["source 'outer.vrt'", "inner.vrt", "VRTRawRasterBand"])


# =========================================================================== simple sources

@test
def test_vrt_source_outside_folder(ctx, tdir):
    """A VRT SimpleSource outside the manifest's folder, by ../, by an absolute path, by
    a link in the folder, and inside a zip archive outside: refused with
    confine_sources naming the file; nothing written. Without confine_sources the same
    VRT is read, and its lineage lists the outside file as ../outside/b.tif."""
    m, outside, out = layout(tdir)
    b_tif = make_tif(os.path.join(outside, "b.tif"), values=np.full((10, 10), 42))
    os.symlink(b_tif, os.path.join(m, "blink.tif"))
    zip_files(os.path.join(outside, "z.zip"), [b_tif])
    for name, rel, shown in (("../outside/b.tif", 1, "outside/b.tif"), (b_tif, 0, b_tif),
                             ("blink.tif", 1, "blink.tif"),
                             ("/vsizip/%s/b.tif" % os.path.join(outside, "z.zip"), 0, "z.zip")):
        simple_vrt(os.path.join(m, "s.vrt"), [("a.tif", 1, (0, 5)), (name, rel, (5, 5))])
        manifest(m, "s.vrt", confine=True)
        refused(ctx, tdir, m, out, ["source 's.vrt'", shown, "outside the manifest's folder"])
    simple_vrt(os.path.join(m, "s.vrt"), [("a.tif", 1, (0, 5)), ("../outside/b.tif", 1, (5, 5))])
    manifest(m, "s.vrt", confine=False)
    b = build(ctx, tdir, m, out)
    got = lineage(b, "d")["source"]["files"]
    assert [f["path"] for f in got] == ["s.vrt", "../outside/b.tif", "a.tif"], \
        "source.files paths: %s" % [f["path"] for f in got]
    assert got[1]["sha256"] == sha(b_tif), "the outside file's digest is not hashlib's"


@test
def test_vrt_sources_inside_listed(ctx, tdir):
    """The positive case: with confine_sources, a VRT in the folder over two GeoTIFFs in
    a subfolder and a third inside a zip archive in the folder is read; the bundle's
    pixels equal GDAL's reading of the VRT, and source.files lists the VRT, then each
    file it reads by name, with hashlib's SHA-256 and the size os.stat gives."""
    m, outside, out = layout(tdir)
    os.makedirs(os.path.join(m, "tiles"))
    make_tif(os.path.join(m, "tiles", "t1.tif"), values=np.full((10, 10), 11))
    make_tif(os.path.join(m, "tiles", "t2.tif"), values=np.full((10, 10), 22))
    make_tif(os.path.join(outside, "t3.tif"), values=np.full((10, 10), 33))
    zip_files(os.path.join(m, "tiles", "z.zip"), [os.path.join(outside, "t3.tif")])
    vrt = simple_vrt(os.path.join(m, "mosaic.vrt"),
                     [("tiles/t1.tif", 1, (0, 3)), ("tiles/t2.tif", 1, (3, 3)),
                      ("/vsizip/%s/t3.tif" % os.path.join(m, "tiles", "z.zip"), 0, (6, 4))])
    manifest(m, "mosaic.vrt", confine=True)
    b = build(ctx, tdir, m, out)
    want = gdal.Open(vrt).ReadAsArray()
    assert set(np.unique(want)) == {11, 22, 33}, "GDAL does not read all three sources"
    assert np.array_equal(bundle_pixels(b), want), "the bundle's pixels differ from GDAL's VRT"
    expect_files(b, m, ["mosaic.vrt", "tiles/t1.tif", "tiles/t2.tif", "tiles/z.zip"])


@test
def test_shapefile_lists_side_files(ctx, tdir):
    """A Shapefile source: source.files lists the .shp, then .cpg, .dbf, .prj and .shx,
    each with hashlib's digest and its size, as ogrinfo's file list has them."""
    m, outside, out = layout(tdir)
    shp = os.path.join(m, "pts.shp")
    ds = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(shp)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    lay = ds.CreateLayer("pts", srs, ogr.wkbPoint, options=["ENCODING=UTF-8"])
    lay.CreateField(ogr.FieldDefn("k", ogr.OFTInteger))
    for i in range(3):
        f = ogr.Feature(lay.GetLayerDefn())
        f.SetField("k", i)
        f.SetGeometry(ogr.CreateGeometryFromWkt("POINT (100.0%d 3.95)" % (i + 1)))
        lay.CreateFeature(f)
    ds = None
    listed = gdal.OpenEx(shp, gdal.OF_VECTOR).GetFileList()
    rels = ["pts.shp"] + sorted(os.path.basename(p) for p in listed if not p.endswith(".shp"))
    assert {"pts.dbf", "pts.shx", "pts.prj"} <= set(rels), "GDAL lists %s" % listed
    manifest(m, "pts.shp", confine=True)
    b = build(ctx, tdir, m, out)
    import h5py
    with h5py.File(b, "r") as f:
        lin = json.loads(f["d"].attrs["lode_lineage"])
    got = lin["source"]["files"]
    want = [{"path": r, "sha256": sha(os.path.join(m, r)), "size": os.path.getsize(os.path.join(m, r))}
            for r in rels]
    assert got == want, "source.files = %s, want %s" % (json.dumps(got), json.dumps(want))
    assert lin["source"]["sha256"] == sha(shp), "source.sha256 is not the .shp's"


# =========================================================================== network

@test
def test_network_names_in_vrt_no_connection(ctx, tdir):
    """/vsicurl/, a plain http:// URL (GDAL's HTTP driver), WMS: and /vsis3/ names in a
    VRT, pointing at a socket the test listens on: refused before any connection, with
    or without confine_sources. The control: with allow: [network], lode does connect
    (so the listener would have seen the refused ones)."""
    m, outside, out = layout(tdir)
    lis = Listener()
    try:
        url = "http://127.0.0.1:%d/x.tif" % lis.port
        for name in ("/vsicurl/" + url, url, "WMS:" + url, "/vsicurl_streaming/" + url,
                     "/vsizip//vsicurl/http://127.0.0.1:%d/z.zip/x.tif" % lis.port):
            simple_vrt(os.path.join(m, "n.vrt"), [("a.tif", 1, (0, 5)), (name, 0, (5, 5))])
            for confine in (True, False):
                manifest(m, "n.vrt", confine=confine)
                refused(ctx, tdir, m, out, ["source 'n.vrt'", "127.0.0.1:%d" % lis.port,
                                            "allow: [network]"])
                assert lis.count() == 0, "%s: lode connected to the listener" % name
        # The control.
        simple_vrt(os.path.join(m, "n.vrt"), [("a.tif", 1, (0, 5)), ("/vsicurl/" + url, 0, (5, 5))])
        manifest(m, "n.vrt", confine=True, allow=["network"])
        r = run_lode(ctx, ["run", os.path.join(m, "m.yaml"), "-o", os.path.join(out, "b.nc"), "-q"], tdir)
        assert_sane(r)
        assert lis.count() > 0, "with allow: [network] lode made no connection: the test cannot see one"
        assert r.rc == 1 and not files_under(out), "the failed network read: " + r.brief()
    finally:
        lis.close()


@test
def test_virtual_files_refused(ctx, tdir):
    """/vsistdin/, /vsimem/ and /vsisubfile/ names in a VRT are refused whatever allow:
    says; nothing written."""
    m, outside, out = layout(tdir)
    for name, shown in (("/vsistdin/", "/vsistdin/"), ("/vsimem/x.tif", "/vsimem/x.tif"),
                        ("/vsisubfile/0_100,%s" % os.path.join(m, "a.tif"), "/vsisubfile/")):
        simple_vrt(os.path.join(m, "v.vrt"), [(name, 0, (0, 10))])
        manifest(m, "v.vrt", confine=False, allow=["raw_vrt", "network"])
        refused(ctx, tdir, m, out, ["source 'v.vrt'", shown, "virtual file"])


# =========================================================================== FIFOs, devices

@test
def test_fifo_sources_fail_fast(ctx, tdir):
    """A FIFO as the source, as a VRT's source, and as a side file GDAL would open
    (a.tif.aux.xml beside a.tif): plan and run fail at once (a FIFO never opened: no
    writer ever comes, so an open would hang), naming it."""
    m, outside, out = layout(tdir)
    os.mkfifo(os.path.join(m, "fifo.tif"))
    manifest(m, "fifo.tif")
    for cmd in ("plan", "run"):
        refused(ctx, tdir, m, out, ["source 'fifo.tif' is a FIFO"], cmd=cmd)
    simple_vrt(os.path.join(m, "f.vrt"), [("fifo.tif", 1, (0, 10))])
    manifest(m, "f.vrt", confine=False)
    for cmd in ("plan", "run"):
        refused(ctx, tdir, m, out, ["source 'f.vrt'", "fifo.tif", "is a FIFO"], cmd=cmd)
    os.makedirs(os.path.join(m, "side"))
    make_tif(os.path.join(m, "side", "a.tif"))
    os.mkfifo(os.path.join(m, "side", "a.tif.aux.xml"))
    manifest(m, "side/a.tif")
    for cmd in ("plan", "run"):
        refused(ctx, tdir, m, out, ["source 'side/a.tif'", "a.tif.aux.xml", "is a FIFO"], cmd=cmd)


@test
def test_devices_and_directories_refused(ctx, tdir):
    """/dev/zero as the source, a link to it in the folder, /dev/zero as a VRT's source,
    and a directory as a VRT's source: refused, naming the file and what it is."""
    m, outside, out = layout(tdir)
    os.symlink("/dev/zero", os.path.join(m, "zero.tif"))
    os.makedirs(os.path.join(m, "folder.tif"))
    for src, confine, must in (("/dev/zero", False, ["source '/dev/zero' is a character device"]),
                               ("zero.tif", False, ["source 'zero.tif' is a character device"])):
        manifest(m, src, confine=confine)
        refused(ctx, tdir, m, out, must)
    for name, rel, what in (("/dev/zero", 0, "a character device"), ("folder.tif", 1, "a directory")):
        simple_vrt(os.path.join(m, "d.vrt"), [(name, rel, (0, 10))])
        manifest(m, "d.vrt", confine=False)
        refused(ctx, tdir, m, out, ["source 'd.vrt'", name, what])


# =========================================================================== work folders

@test
def test_side_file_change_changes_part_key(ctx, tdir):
    """The cluster stages: a VRT's source changed after lode plan -w (same size) makes
    reproject refuse, naming the file; planning again gives the dataset a new part key
    (the key is derived from the lineage, which now holds every file's digest), and the
    parts made then carry the new pixels."""
    m, outside, out = layout(tdir)
    simple_vrt(os.path.join(m, "s.vrt"), [("a.tif", 1, (0, 10))])
    manifest(m, "s.vrt")
    w = os.path.join(tdir, "w")

    def plan_key():
        r = run_lode(ctx, ["plan", os.path.join(m, "m.yaml"), "-w", w, "-q"], tdir)
        assert r.rc == 0, "plan -w: " + r.brief()
        with open(os.path.join(w, "plan.json")) as f:
            return json.load(f)["datasets"][0]["key"]

    k1 = plan_key()
    time.sleep(0.05)
    make_tif(os.path.join(m, "a.tif"), values=np.full((10, 10), 77))
    r = run_lode(ctx, ["reproject", "-w", w, "-q"], tdir)
    assert r.rc == 1 and "a.tif" in r.err and "changed since lode plan" in r.err, \
        "reproject after a source of the VRT changed: " + r.brief()
    k2 = plan_key()
    assert k2 != k1, "the part key did not change with the VRT's source"
    r = run_lode(ctx, ["reproject", "-w", w, "-q"], tdir)
    assert r.rc == 0, "reproject: " + r.brief()
    b = os.path.join(out, "b.nc")
    r = run_lode(ctx, ["package", "-w", w, "-o", b, "-q"], tdir)
    assert r.rc == 0, "package: " + r.brief()
    assert np.all(bundle_pixels(b) == 77), "the package does not hold the new pixels"
    expect_files(b, m, ["s.vrt", "a.tif"])


# =========================================================================== manifest, signals

@test
def test_allow_key_checked(ctx, tdir):
    """allow: takes a list of raw_vrt and network; anything else is a manifest error
    with FILE:LINE:COL and the key."""
    m, outside, out = layout(tdir)
    for bad, must in (("[bogus]", "unknown 'bogus' (expected raw_vrt or network)"),
                      ("network", "expected a list"), ("[[network]]", "expected raw_vrt or network")):
        path = os.path.join(m, "m.yaml")
        with open(path, "w") as f:
            f.write(TARGET + "datasets:\n  - name: d\n    source: a.tif\n    allow: %s\n" % bad)
        r = run_lode(ctx, ["plan", path], tdir)
        assert_sane(r)
        assert r.rc == 1 and "m.yaml:5:" in r.err and "datasets[1].allow" in r.err and must in r.err, \
            "allow: %s -> %s" % (bad, r.brief())


@test
def test_sigterm_while_hashing(ctx, tdir):
    """SIGTERM and SIGINT while lode run hashes a large source (a 16 GiB sparse ENVI
    raster, minutes of hashing here): lode ends within 3 s, killed by that signal after
    saying it removed what it was writing (docs/cli.md, Interruption), and writes nothing."""
    m, outside, out = layout(tdir)
    data = os.path.join(m, "big.bin")
    with open(data, "wb") as f:
        f.truncate(16 << 30)
    with open(os.path.join(m, "big.hdr"), "w") as f:
        f.write("ENVI\nsamples = 131072\nlines = 131072\nbands = 1\nheader offset = 0\n"
                "data type = 1\ninterleave = bsq\nbyte order = 0\n"
                "map info = {Geographic Lat/Lon, 1, 1, 100.0, 4.0, 0.0001, 0.0001, WGS-84}\n")
    manifest(m, "big.bin")
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = subprocess.Popen([ctx.lode, "run", os.path.join(m, "m.yaml"), "-o",
                              os.path.join(out, "b.nc")], env=ctx.env(), cwd=tdir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        assert p.poll() is None, "lode ended before the signal: the hash was too quick to test"
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            _, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("%s ignored for 30 s" % sig.name)
        took = time.monotonic() - t0
        err = err.decode("utf-8", "replace")
        assert p.returncode == -sig and "lode: interrupted" in err, \
            "%s: exit %s, %s" % (sig.name, p.returncode, err.strip()[:300])
        assert took < 3, "%s: lode took %.1fs to end" % (sig.name, took)
        assert not files_under(out), "wrote %s" % files_under(out)


@test
def test_second_sigterm_ends_a_stalled_read(ctx, tdir):
    """A source allowed to read the network (allow: [network]) from a server that
    accepts the connection and never answers: lode waits inside GDAL. SIGTERM (a second
    one if the first were not heard) ends it at once, killed by the signal; no bundle is
    left under the name asked for."""
    m, outside, out = layout(tdir)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []

    def hold():
        while True:
            try:
                held.append(srv.accept()[0])  # kept open, never answered
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    url = "/vsicurl/http://127.0.0.1:%d/x.tif" % srv.getsockname()[1]
    simple_vrt(os.path.join(m, "n.vrt"), [("a.tif", 1, (0, 5)), (url, 0, (5, 5))])
    manifest(m, "n.vrt", allow=["network"])
    p = subprocess.Popen([ctx.lode, "run", os.path.join(m, "m.yaml"), "-o", os.path.join(out, "b.nc")],
                         env=ctx.env(), cwd=tdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while not held and time.monotonic() - t0 < 20 and p.poll() is None:
            time.sleep(0.1)
        assert held and p.poll() is None, "lode did not reach the server (exit %s)" % p.poll()
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        t0 = time.monotonic()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("two SIGTERMs did not end lode within 10 s")
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        srv.close()
        for c in held:
            c.close()
    assert time.monotonic() - t0 < 2, "lode took %.1fs after the second SIGTERM" % (time.monotonic() - t0)
    assert p.returncode in (1, -signal.SIGTERM), "exit status %s" % p.returncode
    assert not os.path.exists(os.path.join(out, "b.nc")), "a bundle was left"

if __name__ == "__main__":
    main()
