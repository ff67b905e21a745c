#!/usr/bin/python3
"""lode metadata: ISO 19139, FGDC CSDGM and STAC 1.1 records of a bundle (docs/cli.md).

Same runner, flags and output as test_raster.py.  Independent checks: every record is
validated against the vendored schemas in tests/data/schemas with tools we did not write
(xmllint --nonet for the XML records; Python's jsonschema with the URL map for STAC, no
network), a deliberately broken record must fail each validator, and the facts in each
record (bbox, CRS, each operation with its code and accuracy, source digests) are
compared with `lode ls --json`, with hashlib over the bundle file and with gdalinfo
opening the raster the STAC item's assets point at.
"""
import copy
import hashlib
import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from lodetest import assert_no_crash, lode, lode_ok, main, run, test, write_manifest  # noqa: E402

from osgeo import gdal, osr  # noqa: E402

SCHEMAS = os.path.join(REPO, "tests", "data", "schemas")
ISO_XSD = os.path.join(SCHEMAS, "iso19139", "iso", "19139", "20070417", "gmd", "gmd.xsd")
FGDC_XSD = os.path.join(SCHEMAS, "fgdc", "fgdc-std-001-1998.xsd")
NS = {"gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco",
      "xlink": "http://www.w3.org/1999/xlink"}
CONTACT = {"creator_name": "Test Person", "creator_institution": "Test Survey",
           "creator_email": "t@example.org", "creator_phone": "+1 555 0100",
           "creator_city": "Reston", "creator_state": "VA", "creator_postal_code": "20192",
           "keywords": "gravity, deposits", "purpose": "testing lode metadata",
           "doi": "10.5066/TEST0001"}


# --------------------------------------------------------------------------- fixtures

def demo_bundle(ctx, tdir):
    """The demo bundle: samples/malaysia.yaml over copies of --samples and --realdata."""
    text = open(os.path.join(REPO, "samples", "malaysia.yaml")).read()
    for src in re.findall(r"^\s*source:\s*(\S+)", text, re.M):
        top, name = src.split("/", 1)
        have = ctx.sample(name) if top == "generated" else ctx.realfile(name)
        os.makedirs(os.path.join(tdir, top), exist_ok=True)
        for f in (have, have + ".aux.xml"):
            if os.path.exists(f):
                shutil.copy(f, os.path.join(tdir, top, os.path.basename(f)))
    man = os.path.join(tdir, "malaysia.yaml")
    open(man, "w").write(text)
    b = os.path.join(tdir, "malaysia.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir, env=ctx.env(SOURCE_DATE_EPOCH="1700000000"))
    return b


def projected_bundle(ctx, tdir, bundle=None, sde="1700000000"):
    """A raster and a vector layer onto GDM2000 / Peninsular RSO (EPSG:3375), a projected
    CRS, so the records' WGS 84 box is a transformed one."""
    target = {"crs": "EPSG:3375", "bounds": [380000.0, 405000.0, 420000.0, 440000.0], "resolution": 500.0}
    b = {"title": "projected test", "summary": "a raster and points in EPSG:3375", "license": "CC-BY-4.0"}
    b.update(CONTACT if bundle is None else bundle)
    man = os.path.join(tdir, "p.yaml")
    write_manifest(man, target, [{"name": "aeromag", "source": ctx.sample("aeromag_tmi.tif"),
                                  "resampling": "bilinear"},
                                 {"name": "deposits", "source": ctx.sample("deposits.gpkg")},
                                 {"name": "dem", "source": ctx.sample("dem_kertau.tif")}],
                   {"allow_ballpark": True, "max_error_m": 20}, bundle=b)
    out = os.path.join(tdir, "p.nc")
    env = ctx.env(SOURCE_DATE_EPOCH=sde) if sde else {k: v for k, v in ctx.env().items()
                                                      if k != "SOURCE_DATE_EPOCH"}
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir, env=env)
    return out


def records(ctx, tdir, bundle, env=None):
    """Write the three records beside the bundle (ISO and FGDC first, so that the STAC
    item lists them); returns {format: path}."""
    stem = os.path.splitext(bundle)[0]
    out = {"iso19139": stem + ".iso19139.xml", "fgdc": stem + ".fgdc.xml", "stac": stem + ".stac.json"}
    for fmt in ("iso19139", "fgdc", "stac"):
        lode_ok(ctx, ["metadata", bundle, "--format", fmt, "-o", out[fmt], "-q"], tdir, env=env)
    return out


def ls_json(ctx, tdir, bundle):
    return json.loads(lode_ok(ctx, ["ls", "--json", bundle], tdir).out)


# --------------------------------------------------------------------------- validators

def xmllint(path, xsd):
    return run(["xmllint", "--nonet", "--noout", "--schema", xsd, path])


def stac_errors(item):
    """Errors of a STAC item against the vendored item schema and each extension it
    declares, every $ref resolved through url-map.json (never fetched)."""
    import jsonschema
    umap = json.load(open(os.path.join(SCHEMAS, "stac", "url-map.json")))
    local = {e["url"]: os.path.join(SCHEMAS, "stac", e["local"]) for e in umap["schemas"]}

    def load(url):
        url = url.split("#", 1)[0].rstrip("#")
        if url not in local:
            raise AssertionError("schema %s is not vendored (no network allowed)" % url)
        return json.load(open(local[url]))

    errors = []
    urls = ["https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"] + item["stac_extensions"]
    for url in urls:
        schema = load(url)
        resolver = jsonschema.RefResolver(url, schema, handlers={"https": load, "http": load})
        v = jsonschema.Draft7Validator(schema, resolver=resolver)
        errors += ["%s: %s" % (url.split("/")[-3], e.message[:200]) for e in v.iter_errors(item)]
    return errors


def assert_valid(ctx, tdir, recs):
    for fmt, xsd in (("iso19139", ISO_XSD), ("fgdc", FGDC_XSD)):
        r = xmllint(recs[fmt], xsd)
        assert r.rc == 0, "%s record does not validate: %s" % (fmt, r.brief())
        r = lode_ok(ctx, ["metadata", "--check", recs[fmt]], tdir)
        assert "valid" in r.out, r.brief()
    item = json.load(open(recs["stac"]))
    assert set(item["stac_extensions"]) == {
        "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
        "https://stac-extensions.github.io/file/v2.1.0/schema.json",
        "https://stac-extensions.github.io/processing/v1.2.0/schema.json"}, item["stac_extensions"]
    errs = stac_errors(item)
    assert not errs, "STAC item does not validate: %s" % errs[:5]
    r = lode(ctx, ["metadata", "--check", recs["stac"]], tdir)
    assert r.rc == 0 and "INVALID" not in r.out, r.brief()


# --------------------------------------------------------------------------- facts

def wgs84_box(ls):
    """The union of every dataset's box (raster bounds, vector extent) from lode ls, in
    WGS 84 degrees (OSR's TransformBounds, 21 points per edge)."""
    boxes = [d["bounds"] for d in ls["datasets"] if d["kind"] == "raster"]
    boxes += [d["extent"] for d in ls["datasets"] if d["kind"] == "vector" and d.get("feature_count")]
    u = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
    crs = ls["datasets"][0]["crs"]
    if crs == "EPSG:4326":
        return u, u
    s, d = osr.SpatialReference(), osr.SpatialReference()
    s.SetFromUserInput(crs)
    d.ImportFromEPSG(4326)
    for x in (s, d):
        x.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(s, d)
    w = ct.TransformBounds(u[0], u[1], u[2], u[3], 21)
    return u, list(w)


def close(a, b, tol, what):
    assert all(abs(x - y) <= tol for x, y in zip(a, b)) and len(a) == len(b), "%s: %s vs %s" % (what, a, b)


def iso_text(el, path):
    return [e.text for e in el.findall(path, NS)]


def check_iso_facts(path, ls, bundle):
    root = ET.parse(path).getroot()
    _, w = wgs84_box(ls)
    bb = root.find(".//gmd:EX_GeographicBoundingBox", NS)
    got = [float(bb.find("gmd:%s/gco:Decimal" % k, NS).text) for k in
           ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")]
    close(got, w, 1e-6, "ISO EX_GeographicBoundingBox")
    crs = iso_text(root, "gmd:referenceSystemInfo//gmd:RS_Identifier/gmd:code/gco:CharacterString")
    assert crs == [ls["datasets"][0]["crs"]], crs
    reports = root.findall(".//gmd:DQ_AbsoluteExternalPositionalAccuracy", NS)
    steps = iso_text(root, ".//gmd:LI_ProcessStep/gmd:description/gco:CharacterString")
    assert len(reports) == len(ls["datasets"]) == len(steps), (len(reports), len(steps))
    for d, rep, step in zip(ls["datasets"], reports, steps):
        op = d["operation"]
        assert d["name"] in iso_text(rep, "gmd:nameOfMeasure/gco:CharacterString")[0]
        assert ("Dataset %s " % d["name"]) in step and op["name"] in step, step
        codes = iso_text(rep, "gmd:measureIdentification//gmd:code/gco:CharacterString")
        assert codes == ([op["code"]] if op["code"] else []), (d["name"], codes, op)
        value = rep.find(".//gmd:DQ_QuantitativeResult/gmd:value", NS)
        unit = rep.find(".//gmd:valueUnit", NS).get("{%s}href" % NS["xlink"])
        assert unit.endswith("/9001"), unit  # metre
        if op["accuracy_m"] is not None and not op["ballpark"]:
            assert float(value.find("gco:Record", NS).text) == op["accuracy_m"], d["name"]
            assert ("accuracy %g m" % op["accuracy_m"]) in step, step
            assert not op["code"] or op["code"] in step, step
        else:
            assert value.get("{%s}nilReason" % NS["gco"]) == "unknown" and value.find("gco:Record", NS) is None
            assert "unknown" in step and ("BALLPARK" in step) == bool(op["ballpark"]), step
    srcs = root.findall(".//gmd:LI_Source", NS)
    want = {(d["source"]["path"], d["source"]["sha256"]) for d in ls["datasets"]}
    got = set()
    for s in srcs:
        title = iso_text(s, "gmd:sourceCitation//gmd:title/gco:CharacterString")[0]
        ident = iso_text(s, "gmd:sourceCitation//gmd:MD_Identifier/gmd:code/gco:CharacterString")[0]
        got.add((title, ident.replace("sha256:", "")))
    assert got == want, (got ^ want)
    desc = iso_text(root, ".//gmd:CI_OnlineResource/gmd:description/gco:CharacterString")
    assert any(hashlib.sha256(open(bundle, "rb").read()).hexdigest() in t for t in desc), desc
    assert any(ls["bundle_sha256"] in t for t in desc), desc


def check_fgdc_facts(path, ls):
    root = ET.parse(path).getroot()
    _, w = wgs84_box(ls)
    b = root.find("idinfo/spdom/bounding")
    got = [float(b.find(k).text) for k in ("westbc", "southbc", "eastbc", "northbc")]
    close(got, w, 1e-6, "FGDC bounding")
    steps = [p.find("procdesc").text for p in root.findall("dataqual/lineage/procstep")]
    assert len(steps) == len(ls["datasets"]), len(steps)
    for d, step in zip(ls["datasets"], steps):
        op = d["operation"]
        assert op["name"] in step and ("Dataset %s " % d["name"]) in step, step
        if op["code"]:
            assert op["code"] in step, step
        if op["accuracy_m"] is None or op["ballpark"]:
            assert "accuracy unknown" in step, step
        else:
            assert ("accuracy %g m" % op["accuracy_m"]) in step, step
    qh = {e.find("horizpae").text.split(":")[0]: float(e.find("horizpav").text)
          for e in root.findall("dataqual/posacc/horizpa/qhorizpa")}
    want = {d["name"]: d["operation"]["accuracy_m"] for d in ls["datasets"]
            if d["operation"]["accuracy_m"] is not None and not d["operation"]["ballpark"]}
    assert qh == want, (qh, want)
    srcs = {(s.find("srccite/citeinfo/title").text, s.find("srccitea").text,
             s.find("srccite/citeinfo/othercit").text.split()[1].rstrip(","))
            for s in root.findall("dataqual/lineage/srcinfo")}
    assert srcs == {(d["source"]["path"], d["name"], d["source"]["sha256"]) for d in ls["datasets"]}, srcs
    crs = ls["datasets"][0]["crs"]
    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    hs = root.find("spref/horizsys")
    rasters = [d for d in ls["datasets"] if d["kind"] == "raster"]
    if srs.IsGeographic() and rasters:
        b = rasters[0]["bounds"]
        assert abs(float(hs.find("geograph/longres").text) - (b[2] - b[0]) / rasters[0]["width"]) < 1e-12
        assert abs(float(hs.find("geograph/latres").text) - (b[3] - b[1]) / rasters[0]["height"]) < 1e-12
        assert hs.find("geograph/geogunit").text == "Decimal degrees"
    else:
        assert hs.find("local/localdes").text.startswith(crs + " "), hs.find("local/localdes").text
    assert float(hs.find("geodetic/semiaxis").text) == srs.GetSemiMajor(), hs.find("geodetic/semiaxis").text
    assert abs(float(hs.find("geodetic/denflat").text) - srs.GetInvFlattening()) < 1e-9


def check_stac_facts(ctx, path, ls, bundle):
    item = json.load(open(path))
    _, w = wgs84_box(ls)
    close(item["bbox"], w, 1e-6, "STAC bbox")
    ring = item["geometry"]["coordinates"][0]
    close([min(p[0] for p in ring), min(p[1] for p in ring), max(p[0] for p in ring), max(p[1] for p in ring)],
          w, 1e-6, "STAC geometry")
    p = item["properties"]
    assert p["proj:code"] == ls["datasets"][0]["crs"], p["proj:code"]
    srs = osr.SpatialReference()
    srs.SetFromUserInput(p["proj:wkt2"])
    assert srs.GetAuthorityCode(None) == p["proj:code"].split(":")[1], srs.GetAuthorityCode(None)
    data = open(bundle, "rb").read()
    a = item["assets"]["bundle"]
    assert a["type"] == "application/netcdf" and a["file:size"] == len(data), a
    assert a["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest(), a["file:checksum"]
    lines = p["processing:lineage"].split("\n")
    assert len(lines) == len(ls["datasets"]), lines
    for d, line in zip(ls["datasets"], lines):
        assert d["operation"]["name"] in line and (not d["operation"]["code"] or d["operation"]["code"] in line)
    assert p["processing:software"]["lode"], p["processing:software"]
    links = {(l["href"], l["file:checksum"]) for l in item["links"] if l["rel"] == "derived_from"}
    assert links == {(d["source"]["path"], "1220" + d["source"]["sha256"]) for d in ls["datasets"]}, links
    rasters = [d for d in ls["datasets"] if d["kind"] == "raster"]
    assert rasters, "no raster to open"
    folder = os.path.dirname(os.path.abspath(path))
    for d in rasters:
        a = item["assets"][d["name"]]
        # docs/cli.md: gdalinfo NETCDF:"<item folder>/<href>":<netcdf:variable>
        name = 'NETCDF:"%s":%s' % (os.path.join(folder, a["href"]), a["netcdf:variable"])
        ds = gdal.Open(name)
        assert [ds.RasterYSize, ds.RasterXSize] == a["proj:shape"] == [d["height"], d["width"]], d["name"]
        gt = ds.GetGeoTransform()
        close(a["proj:transform"], [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]], 1e-9, d["name"] + " transform")
        bx = [gt[0], gt[3] + ds.RasterYSize * gt[5], gt[0] + ds.RasterXSize * gt[1], gt[3]]
        close(bx, d["bounds"], 1e-9, d["name"] + " bounds vs ls")
        s = ds.GetSpatialRef()
        assert s.GetAuthorityCode(None) == p["proj:code"].split(":")[1], (d["name"], s.GetAuthorityCode(None))
        ds = None
    return item


# --------------------------------------------------------------------------- tests

@test
def test_demo_records_validate_and_match_ls(ctx, tdir):
    """The demo bundle (rasters and vector layers, EPSG:4326): the three records validate
    against the vendored schemas and say what lode ls --json says."""
    b = demo_bundle(ctx, tdir)
    recs = records(ctx, tdir, b)
    assert_valid(ctx, tdir, recs)
    ls = ls_json(ctx, tdir, b)
    assert any(d["kind"] == "vector" for d in ls["datasets"]), "the demo has vector layers"
    assert any(d["operation"]["ballpark"] for d in ls["datasets"]), "the demo has ballpark operations"
    assert any(d["operation"]["accuracy_m"] == 15.0 for d in ls["datasets"]), "and EPSG:8659, 15 m"
    check_iso_facts(recs["iso19139"], ls, b)
    check_fgdc_facts(recs["fgdc"], ls)
    item = check_stac_facts(ctx, recs["stac"], ls, b)
    # The ISO and FGDC records written first are listed as further assets.
    assert item["assets"]["iso19139"]["href"] == "malaysia.iso19139.xml", item["assets"].keys()
    assert item["assets"]["fgdc"]["href"] == "malaysia.fgdc.xml", item["assets"].keys()
    # datetime: the manifest's time_coverage_start wins over date_created
    assert item["properties"]["datetime"] == "2024-01-01T00:00:00Z", item["properties"]["datetime"]
    assert item["properties"]["created"] == "2023-11-14T22:13:20Z", item["properties"]["created"]


@test
def test_projected_bundle_with_vectors(ctx, tdir):
    """A raster, a DEM and points onto EPSG:3375: the WGS 84 box is the transformed union
    of every dataset's box, the CRS is EPSG:3375, the records validate."""
    b = projected_bundle(ctx, tdir)
    recs = records(ctx, tdir, b)
    assert_valid(ctx, tdir, recs)
    ls = ls_json(ctx, tdir, b)
    assert ls["datasets"][0]["crs"] == "EPSG:3375"
    check_iso_facts(recs["iso19139"], ls, b)
    check_fgdc_facts(recs["fgdc"], ls)
    check_stac_facts(ctx, recs["stac"], ls, b)
    root = ET.parse(recs["iso19139"]).getroot()
    ids = iso_text(root, ".//gmd:citation//gmd:MD_Identifier/gmd:code/gco:CharacterString")
    assert "doi:10.5066/TEST0001" in ids, ids
    assert "Test Person" in iso_text(root, "gmd:contact//gmd:individualName/gco:CharacterString")


@test
def test_broken_records_fail_validation(ctx, tdir):
    """The validators can fail: each record with one deliberate error is refused by
    xmllint, by lode metadata --check and by jsonschema."""
    b = projected_bundle(ctx, tdir)
    recs = records(ctx, tdir, b)
    iso = open(recs["iso19139"]).read()
    fgdc = open(recs["fgdc"]).read()
    broken = {
        # an element ISO 19139 does not have, and a required one (the title) removed
        "iso_bogus.xml": (iso.replace("<gmd:abstract>", "<gmd:bogusElement/><gmd:abstract>", 1), ISO_XSD),
        "iso_notitle.xml": (re.sub(r"<gmd:title>.*?</gmd:title>", "", iso, count=1, flags=re.S), ISO_XSD),
        # FGDC: the purpose removed, and a bounding coordinate that is not a number
        "fgdc_nopurpose.xml": (re.sub(r"<purpose>.*?</purpose>", "", fgdc, count=1, flags=re.S), FGDC_XSD),
        "fgdc_badbox.xml": (re.sub(r"<westbc>.*?</westbc>", "<westbc>west</westbc>", fgdc, count=1), FGDC_XSD),
    }
    for name, (text, xsd) in broken.items():
        assert text != (iso if name.startswith("iso") else fgdc), name + ": the error was not planted"
        p = os.path.join(tdir, name)
        open(p, "w").write(text)
        r = xmllint(p, xsd)
        assert r.rc == 3, "%s: xmllint should fail validation (rc 3): %s" % (name, r.brief())
        r = lode(ctx, ["metadata", "--check", p], tdir)
        assert_no_crash(r)
        assert r.rc == 1 and "does not validate" in r.err, "%s: %s" % (name, r.brief())
    item = json.load(open(recs["stac"]))
    for label, mutate in (
            ("bbox of 3 numbers", lambda i: i.__setitem__("bbox", i["bbox"][:3])),
            ("no datetime", lambda i: i["properties"].pop("datetime")),
            ("file:size as text", lambda i: i["assets"]["bundle"].__setitem__("file:size", "big")),
            ("proj:shape of 3", lambda i: i["assets"]["aeromag"].__setitem__("proj:shape", [1, 2, 3])),
            ("processing:software a list", lambda i: i["properties"].__setitem__("processing:software", ["x"]))):
        bad = copy.deepcopy(item)
        mutate(bad)
        assert stac_errors(bad), "jsonschema accepted a STAC item with " + label
        p = os.path.join(tdir, "bad.json")
        json.dump(bad, open(p, "w"))
        r = lode(ctx, ["metadata", "--check", p], tdir)
        assert r.rc == 1, "lode metadata --check accepted a STAC item with %s: %s" % (label, r.brief())


@test
def test_missing_fields_refused(ctx, tdir):
    """A record that would leave a required field empty is refused naming the manifest
    key, and nothing is written."""
    b = projected_bundle(ctx, tdir, bundle={"creator_name": "Someone"}, sde=None)
    out = os.path.join(tdir, "x.xml")
    r = lode(ctx, ["metadata", b, "--format", "fgdc", "-o", out], tdir)
    assert r.rc != 0 and "'purpose'" in r.err and "manifest" in r.err, r.brief()
    assert not os.path.exists(out)
    env = {k: v for k, v in ctx.env().items() if k != "SOURCE_DATE_EPOCH"}
    r = lode(ctx, ["metadata", b, "--format", "stac", "-o", out], tdir, env=env)
    assert r.rc != 0 and "datetime" in r.err, r.brief()
    assert not os.path.exists(out)
    # ISO needs no purpose or phone: it is made.
    lode_ok(ctx, ["metadata", b, "--format", "iso19139", "-o", out, "-q"], tdir, env=env)
    assert xmllint(out, ISO_XSD).rc == 0
    # SOURCE_DATE_EPOCH at metadata time gives the STAC datetime.
    lode_ok(ctx, ["metadata", b, "--format", "stac", "-o", out + ".json", "-q"], tdir,
            env=ctx.env(SOURCE_DATE_EPOCH="86400"))
    assert json.load(open(out + ".json"))["properties"]["datetime"] == "1970-01-02T00:00:00Z"
    b2 = projected_bundle(ctx, os.path.join(tdir), bundle={"creator_name": "x", "summary": ""}, sde=None)
    r = lode(ctx, ["metadata", b2, "--format", "iso19139", "-o", out + "2"], tdir)
    assert r.rc != 0 and "'summary'" in r.err, r.brief()


@test
def test_damaged_bundle_refused(ctx, tdir):
    """The bundle is verified before its lineage is trusted: a changed byte is refused."""
    b = projected_bundle(ctx, tdir)
    import h5py
    with h5py.File(b, "r+") as f:
        f.attrs["title"] = "edited after packaging"
    out = os.path.join(tdir, "x.xml")
    r = lode(ctx, ["metadata", b, "--format", "iso19139", "-o", out], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "does not verify" in r.err, r.brief()
    assert not os.path.exists(out)


@test
def test_usage_errors(ctx, tdir):
    b = projected_bundle(ctx, tdir)
    for args, want in ((["metadata", b, "-o", "x.xml"], "--format"),
                       (["metadata", b, "--format", "dcat", "-o", "x.xml"], "iso19139, fgdc or stac"),
                       (["metadata", b, "--format", "stac", "-o", b], "overwrite the bundle")):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc == 2 and want in r.err, r.brief()
    # Not XML, or missing: refused with libxml2's reason, and nothing of libxml2's own on stderr.
    for name, text in (("broken.xml", "<a><b></a>"), ("missing.xml", None)):
        p = os.path.join(tdir, name)
        if text is not None:
            open(p, "w").write(text)
        r = lode(ctx, ["metadata", "--check", p], tdir)
        assert_no_crash(r)
        assert r.rc == 1 and r.err.startswith("lode: error: ") and "not a well-formed XML file" in r.err, r.brief()
        assert len(r.err.strip().split("\n")) == 1, r.brief()
    p = os.path.join(tdir, "other.xml")
    open(p, "w").write("<?xml version='1.0'?><catalog/>")
    r = lode(ctx, ["metadata", "--check", p], tdir)
    assert r.rc == 2 and "neither" in r.err, r.brief()
    # A STAC item that is not there: one line naming it, not a Python traceback.
    r = lode(ctx, ["metadata", "--check", os.path.join(tdir, "missing.json")], tdir)
    assert r.rc == 1 and r.err.strip() == "lode: error: %s: cannot read it: No such file or directory" % (
        os.path.join(tdir, "missing.json")), r.brief()


@test
def test_licence_in_words(ctx, tdir):
    """samples/deposits.yaml gives its licence in words (three sources, three terms): the
    STAC item says "other" (STAC wants an SPDX identifier or that) with the words whole in
    lode:license, and validates; an SPDX identifier is kept as it is (the demo's, above).
    --check runs the Python LODE_PYTHON names, and says so when it cannot."""
    b = os.path.join(tdir, "deposits.nc")
    lode_ok(ctx, ["run", os.path.join(REPO, "samples", "deposits.yaml"), "-o", b, "-q"], tdir)
    item = os.path.join(tdir, "deposits.stac.json")
    lode_ok(ctx, ["metadata", b, "--format", "stac", "-o", item, "-q"], tdir,
            env=ctx.env(SOURCE_DATE_EPOCH="1700000000"))
    j = json.load(open(item))
    import h5py
    with h5py.File(b, "r") as f:
        words = f.attrs["license"]
    words = words.decode() if isinstance(words, bytes) else str(words)
    assert " " in words, words
    assert j["properties"]["license"] == "other" and j["properties"]["lode:license"] == words, j["properties"]
    errs = stac_errors(j)
    assert not errs, errs[:5]
    r = lode(ctx, ["metadata", "--check", item], tdir)
    assert r.rc == 0 and "INVALID" not in r.out, r.brief()
    r = lode(ctx, ["metadata", "--check", item], tdir, env=ctx.env(LODE_PYTHON=os.path.join(tdir, "no-python")))
    assert r.rc == 1 and "cannot run" in r.err and "does not validate" not in r.err, r.brief()


def metadata_manifest(ctx, tdir, formats, bundle=None):
    """projected_bundle's manifest with a top-level metadata: list appended."""
    target = {"crs": "EPSG:3375", "bounds": [380000.0, 405000.0, 420000.0, 440000.0], "resolution": 500.0}
    b = {"title": "records beside", "summary": "a raster and points", "license": "CC-BY-4.0"}
    b.update(CONTACT if bundle is None else bundle)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, target, [{"name": "aeromag", "source": ctx.sample("aeromag_tmi.tif"),
                                  "resampling": "bilinear"},
                                 {"name": "deposits", "source": ctx.sample("deposits.gpkg")}],
                   {"allow_ballpark": True, "max_error_m": 20}, bundle=b)
    with open(man, "a") as f:
        f.write("metadata: [%s]\n" % ", ".join(formats))
    return man


@test
def test_manifest_metadata_on_run_and_package(ctx, tdir):
    """metadata: [iso19139, fgdc, stac] in the manifest: run and package write the three
    records beside the bundle, valid, the STAC item listing the other two."""
    man = metadata_manifest(ctx, tdir, ["stac", "report", "iso19139", "fgdc"])
    env = ctx.env(SOURCE_DATE_EPOCH="1700000000")
    b = os.path.join(tdir, "run.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir, env=env)
    recs = {"iso19139": os.path.join(tdir, "run.iso19139.xml"), "fgdc": os.path.join(tdir, "run.fgdc.xml"),
            "stac": os.path.join(tdir, "run.stac.json")}
    assert_valid(ctx, tdir, recs)
    item = json.load(open(recs["stac"]))
    assert {"iso19139", "fgdc", "report", "bundle", "aeromag"} <= set(item["assets"]), item["assets"].keys()
    ls = ls_json(ctx, tdir, b)
    check_iso_facts(recs["iso19139"], ls, b)
    check_report(os.path.join(tdir, "run.report.html"), ls, b)
    work = os.path.join(tdir, "work")
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir, env=env)
    lode_ok(ctx, ["reproject", "-w", work, "-q"], tdir, env=env)
    pb = os.path.join(tdir, "pkg.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", pb, "-q"], tdir, env=env)
    assert_valid(ctx, tdir, {"iso19139": os.path.join(tdir, "pkg.iso19139.xml"),
                             "fgdc": os.path.join(tdir, "pkg.fgdc.xml"),
                             "stac": os.path.join(tdir, "pkg.stac.json")})
    check_fgdc_facts(os.path.join(tdir, "pkg.fgdc.xml"), ls_json(ctx, tdir, pb))


@test
def test_manifest_metadata_refused_before_writing(ctx, tdir):
    """A metadata: record the bundle: keys cannot fill is refused before anything is
    written, naming the key; an unknown format is a manifest error."""
    man = metadata_manifest(ctx, tdir, ["fgdc"], bundle={"creator_name": "Someone"})
    b = os.path.join(tdir, "b.nc")
    r = lode(ctx, ["run", man, "-o", b], tdir, env=ctx.env(SOURCE_DATE_EPOCH="1700000000"))
    assert_no_crash(r)
    assert r.rc == 1 and "metadata" in r.err and "purpose" in r.err, r.brief()
    assert not os.path.exists(b) and not os.path.exists(os.path.join(tdir, "b.fgdc.xml"))
    man = metadata_manifest(ctx, tdir, ["dcat"])
    r = lode(ctx, ["run", man, "-o", b], tdir)
    assert r.rc == 1 and "unknown record format 'dcat'" in r.err and "m.yaml:" in r.err, r.brief()
    assert not os.path.exists(b)


XH = "{http://www.w3.org/1999/xhtml}"


def check_report(path, ls, bundle):
    """The report is well-formed XHTML (ElementTree parses it) and says what ls says."""
    root = ET.parse(path).getroot()
    assert root.tag == XH + "html", root.tag
    assert not root.findall(".//" + XH + "script"), "a script in the report"
    rows = {tr.get("id"): [td for td in tr.findall(XH + "td")] for tr in root.iter(XH + "tr") if tr.get("id")}
    assert list(rows) == [d["name"] for d in ls["datasets"]], list(rows)
    doubtful = set()
    for d in ls["datasets"]:
        tds = rows[d["name"]]
        op = d["operation"]
        assert tds[3].text == d["source"]["path"] and tds[4].text == d["source"]["sha256"], d["name"]
        assert tds[6].text == op["name"], (tds[6].text, op["name"])
        assert tds[7].text == (op["code"] or "(none)"), (tds[7].text, op["code"])
        bad = op["ballpark"] or op["accuracy_m"] is None
        assert tds[8].get("class") == ("warn" if bad else "ok"), (d["name"], tds[8].get("class"))
        if bad:
            doubtful.add(d["name"])
            assert tds[8].text.startswith("unknown"), tds[8].text
        else:
            assert tds[8].text == "%g m" % op["accuracy_m"], tds[8].text
    warn = [li.text.split(":")[0] for li in root.find(".//%sul[@id='warnings']" % XH) if li.get("class") == "warn"]
    assert set(warn) == doubtful, (warn, doubtful)
    rects = [r.get("data-name") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert rects == [d["name"] for d in ls["datasets"] if d["kind"] == "raster" or d.get("feature_count")], rects
    text = "".join(root.itertext())
    assert hashlib.sha256(open(bundle, "rb").read()).hexdigest() in text
    assert ls["bundle_sha256"] in text
    return root


@test
def test_report(ctx, tdir):
    """lode report: one self-contained XHTML page whose rows, warnings and map say what
    lode ls --json says; the STAC item lists it; hostile text stays text."""
    b = demo_bundle(ctx, tdir)
    rep = os.path.join(tdir, "malaysia.report.html")
    lode_ok(ctx, ["report", b, "-o", rep, "-q"], tdir)
    ls = ls_json(ctx, tdir, b)
    root = check_report(rep, ls, b)
    pre = root.find(".//%spre[@id='verify']" % XH).text.strip().split("\n")
    want = lode_ok(ctx, ["verify", b], tdir).out.strip().split("\n")
    assert pre == want[:-1] and "bundle digest: OK" in pre[-1], (pre, want)
    out = os.path.join(tdir, "malaysia.stac.json")
    lode_ok(ctx, ["metadata", b, "--format", "stac", "-o", out, "-q"], tdir)
    item = json.load(open(out))
    assert item["assets"]["report"]["href"] == "malaysia.report.html", item["assets"].keys()
    assert item["assets"]["report"]["type"] == "text/html"
    assert not stac_errors(item)
    # Text from the manifest is escaped, never markup.
    title = "<script>alert(1)</script> & <b>bold</b>"
    pb = projected_bundle(ctx, tdir, bundle=dict(CONTACT, title=title))
    rep2 = os.path.join(tdir, "p.report.html")
    lode_ok(ctx, ["report", pb, "-o", rep2, "-q"], tdir)
    root = check_report(rep2, ls_json(ctx, tdir, pb), pb)
    assert root.find("%shead/%stitle" % (XH, XH)).text == title
    assert root.find(".//%sh1" % XH).text == title
    # A damaged bundle gets no report.
    import h5py
    with h5py.File(pb, "r+") as f:
        f.attrs["summary"] = "edited"
    r = lode(ctx, ["report", pb, "-o", rep2 + ".x"], tdir)
    assert r.rc == 1 and "does not verify" in r.err and not os.path.exists(rep2 + ".x"), r.brief()


if __name__ == "__main__":
    main()
