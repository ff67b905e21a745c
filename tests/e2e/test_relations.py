#!/usr/bin/python3
"""Relations: key: and references: between datasets (issue 15 item 4; manifest.md
"Relations", bundle-format.md 5.4, cli.md lode extract).

The sources are the samples samples/usmin_sites.gpkg (USMIN-style sites with commodity and
resources tables keyed by site_id) and samples/drillholes.gpkg (collars, survey and
assays tables and XYZM traces keyed by hole_id), and copies of them made here with GDAL
with a duplicate key, a null key and orphan references.  Checked with tools we did not
write: GDAL's relationship API (GetRelationshipNames) and SQL on the extracted
GeoPackage (the pairs against a join computed here from the source with OGR), ogr2ogr
of the source (the reference for the related layers' values, nulls and M), h5py (the
lineage), tests/bundle_digest.py, and lode's verify, ls, merge and cluster stages.

Same runner, flags and output as test_raster.py.
"""
import json
import os
import re
import shutil
import sqlite3
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from lodetest import (assert_no_crash, bundles_same_for_threads, leftovers, lode, lode_ok, main,  # noqa: E402
                      same_bundle_digest, staged_bundle, test, tool, write_manifest)

import bundle_digest as bd  # noqa: E402
import h5py  # noqa: E402
from osgeo import gdal, ogr  # noqa: E402

ogr.UseExceptions()
gdal.UseExceptions()

TARGET = {"crs": "EPSG:4326", "bounds": [101.6, 3.65, 102.05, 4.0], "resolution": 0.001}
POLICY = {"max_error_m": 20, "allow_ballpark": True}


def usmin(src, policy=POLICY):
    return [{"name": "sites", "source": src, "layer": "sites", "key": "site_id"},
            {"name": "commodity", "source": src, "layer": "commodity",
             "references": {"site_id": "sites.site_id"}},
            {"name": "resources", "source": src, "layer": "resources",
             "references": {"site_id": "sites.site_id"}}]


def drill(src):
    out = [{"name": "collars", "source": src, "layer": "collars", "key": "hole_id"}]
    for n in ("survey", "assays", "traces"):
        out.append({"name": n, "source": src, "layer": n, "references": {"hole_id": "collars.hole_id"}})
    return out


def build(ctx, tdir, datasets, name="r.nc", policy=POLICY):
    man = os.path.join(tdir, name + ".yaml")
    write_manifest(man, TARGET, datasets, policy)
    out = os.path.join(tdir, name)
    lode_ok(ctx, ["run", man, "-o", out, "-q"], tdir)
    return out, man


def refused(ctx, tdir, datasets, name, policy=POLICY):
    """Run the manifest: exit 1, nothing written; returns stderr."""
    man = os.path.join(tdir, name + ".yaml")
    write_manifest(man, TARGET, datasets, policy)
    out = os.path.join(tdir, "out_" + name)
    os.makedirs(out, exist_ok=True)
    r = lode(ctx, ["run", man, "-o", os.path.join(out, "b.nc")], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    assert not leftovers(out, "b.nc"), leftovers(out, "b.nc")
    return r.err


def lineage(bundle, name, table):
    with h5py.File(bundle, "r") as f:
        v = f[name][name] if table else f[name]
        return json.loads(bd.text(v.attrs["lode_lineage"]))


def rows(path, layer, field):
    ds = ogr.Open(path)
    return [(f.GetFID(), f.GetFieldAsString(field) if f.IsFieldSetAndNotNull(field) else None)
            for f in ds.GetLayerByName(layer)]


def count(path, layer):
    ds = ogr.Open(path)
    return ds.GetLayerByName(layer).GetFeatureCount()


def values(path, layer):
    ds = ogr.Open(path)
    return [[f.GetField(i) for i in range(f.GetFieldCount())] for f in ds.GetLayerByName(layer)]


def copy_with(ctx, tdir, edit):
    """A copy of usmin_sites.gpkg changed by SQL statements."""
    dst = os.path.join(tdir, "u.gpkg")
    shutil.copy(ctx.sample("usmin_sites.gpkg"), dst)
    ds = gdal.OpenEx(dst, gdal.OF_VECTOR | gdal.OF_UPDATE)
    for sql in edit:
        ds.ExecuteSQL(sql)
    ds = None
    return dst


# =========================================================================== tests

@test
def test_usmin_extract_relations(ctx, tdir):
    """The USMIN-style sample: verify accepts the bundle, the lineage records the key and
    the references, and sites.gpkg holds sites, commodity and resources with two
    relationships GDAL lists, whose mapping tables pair exactly the fids a join of the
    source gives; the related layers equal ogr2ogr's copy of the source."""
    src = ctx.sample("usmin_sites.gpkg")
    b, _ = build(ctx, tdir, usmin(src))
    lode_ok(ctx, ["verify", b, "-q"], tdir)
    assert lineage(b, "sites", False)["key"] == "site_id"
    ref = lineage(b, "commodity", True)["references"]
    assert ref == [{"field": "site_id", "dataset": "sites", "key": "site_id", "orphans": 0,
                    "orphan_values": []}], ref
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", b, "-o", out, "-q"], tdir)
    g = os.path.join(out, "sites.gpkg")
    ds = gdal.OpenEx(g, gdal.OF_VECTOR)
    names = sorted(ds.GetRelationshipNames() or [])
    assert names == ["sites_commodity_attributes", "sites_resources_attributes"], names
    sites = {v: fid for fid, v in rows(g, "sites", "site_id")}
    for rel in ("commodity", "resources"):
        r = ds.GetRelationship("sites_%s_attributes" % rel)
        assert (r.GetLeftTableName(), r.GetRightTableName(), r.GetMappingTableName()) == \
            ("sites", rel, "%s_site_id_sites" % rel), (r.GetLeftTableName(), r.GetRightTableName())
        want = sorted((sites[v], fid) for fid, v in rows(g, rel, "site_id") if v in sites)
        with sqlite3.connect(g) as db:
            got = sorted(db.execute('SELECT base_id, related_id FROM "%s_site_id_sites"' % rel).fetchall())
        assert got == want and len(got) == count(src, rel), (rel, got[:5], want[:5])
        # The related layer (in sites.gpkg and in its own file) equals ogr2ogr's copy.
        refp = os.path.join(tdir, "ref_%s.gpkg" % rel)
        tool(["ogr2ogr", "-q", "-f", "GPKG", refp, src, rel], ctx)
        for path in (g, os.path.join(out, rel + ".gpkg")):
            a, w = values(path, rel), values(refp, rel)
            assert a == w, (path, a[:3], w[:3])
    ds = None


@test
def test_drillholes_relations_keep_m(ctx, tdir):
    """The drill-hole sample: collars.gpkg holds survey, assays and the XYZM traces related
    by hole_id (three relationships), and the traces there keep M as ogr2ogr -t_srs
    gives it."""
    src = ctx.sample("drillholes.gpkg")
    b, _ = build(ctx, tdir, drill(src))
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", b, "-o", out, "-q"], tdir)
    g = os.path.join(out, "collars.gpkg")
    ds = gdal.OpenEx(g, gdal.OF_VECTOR)
    assert sorted(ds.GetRelationshipNames() or []) == \
        ["collars_%s_attributes" % n for n in ("assays", "survey", "traces")], ds.GetRelationshipNames()
    ds = None
    refp = os.path.join(tdir, "ref.gpkg")
    tool(["ogr2ogr", "-q", "-f", "GPKG", "-t_srs", "EPSG:4326", refp, src, "traces"], ctx)
    gds, wds = ogr.Open(g), ogr.Open(refp)
    got, want = gds.GetLayerByName("traces"), wds.GetLayerByName("traces")
    assert got.GetGeomType() == want.GetGeomType() == ogr.wkbLineStringZM
    for a, w in zip(got, want):
        ga, gw = a.GetGeometryRef(), w.GetGeometryRef()
        assert [ga.GetM(i) for i in range(ga.GetPointCount())] == [gw.GetM(i) for i in range(gw.GetPointCount())]


@test
def test_ls_shows_relations(ctx, tdir):
    """lode ls prints the key and each reference (with its orphans when kept), and --json
    gives them as the lineage has them."""
    src = copy_with(ctx, tdir, ["INSERT INTO commodity (site_id, commodity, rank) VALUES (9999, 'Au', 'primary')"])
    ds = usmin(src)
    ds[1]["policy"] = {"orphans": "list"}
    b, _ = build(ctx, tdir, ds)
    txt = lode_ok(ctx, ["ls", b], tdir).out
    assert re.search(r"^  key:        site_id$", txt, re.M), txt
    assert re.search(r"^  references: site_id -> sites\.site_id \(1 orphan\)$", txt, re.M), txt
    assert re.search(r"^  references: site_id -> sites\.site_id$", txt, re.M), txt
    js = {d["name"]: d for d in json.loads(lode_ok(ctx, ["ls", b, "--json"], tdir).out)["datasets"]}
    assert js["sites"]["key"] == "site_id" and js["commodity"]["references"][0]["orphan_values"] == ["9999"], js


@test
def test_manifest_problems_in_one_pass(ctx, tdir):
    """Relation problems in the manifest are reported together, each with file:line:col
    and the dataset: a target that is not a dataset (did you mean), one without key:, a
    reference to a field that is not the key, a value that is not DATASET.FIELD, a bad
    orphans: value."""
    src = ctx.sample("usmin_sites.gpkg")
    ds = usmin(src)
    ds[1]["references"] = {"site_id": "sitez.site_id"}
    ds[2]["references"] = {"site_id": "sites.site_name", "year": "nodot"}
    ds.append({"name": "other", "source": src, "layer": "resources",
               "references": {"site_id": "commodity.site_id"}})
    pol = dict(POLICY, orphans="keep")
    err = refused(ctx, tdir, ds, "m", pol)
    for want in (r"m\.yaml:\d+:\d+: references: 'sitez' is not a dataset of this manifest \(did you mean 'sites'\?\) \[dataset 'commodity'\]",
                 r"m\.yaml:\d+:\d+: references: 'sites\.site_name' is not the key of dataset 'sites', which is key: site_id \[dataset 'resources'\]",
                 r"m\.yaml:\d+:\d+: references: 'nodot' is not DATASET\.FIELD",
                 r"m\.yaml:\d+:\d+: references: dataset 'commodity' declares no key:",
                 r"m\.yaml:\d+:\d+: orphans: expected refuse .* or list"):
        assert re.search(want, err), "%s not in %s" % (want, err)


@test
def test_plan_refusals(ctx, tdir):
    """At plan, nothing written, exit 1: a duplicate key (the repeating value and its row
    count), a null key (count and first row), a missing field (did you mean), orphans
    (their count and first values), key: on a raster; plan -w refuses the orphans
    alike."""
    dup = copy_with(ctx, tdir, ["UPDATE sites SET site_id = 5001 WHERE site_id = 5002"])
    err = refused(ctx, tdir, usmin(dup), "dup")
    assert re.search(r"dataset 'sites': key: field 'site_id' is not unique: 1 value\(s\) repeat: '5001' \(2 rows\)", err), err
    nul = copy_with(ctx, tdir, ["UPDATE sites SET site_id = NULL WHERE site_id IN (5003, 5004)"])
    err = refused(ctx, tdir, usmin(nul), "nul")
    assert "key: field 'site_id' has 2 null value(s) (the first in row 3)" in err, err
    ds = usmin(ctx.sample("usmin_sites.gpkg"))
    ds[1]["references"] = {"site_idd": "sites.site_id"}
    err = refused(ctx, tdir, ds, "field")
    assert "dataset 'commodity': references: layer 'commodity' has no field 'site_idd' (did you mean 'site_id'?)" in err, err
    orph = copy_with(ctx, tdir, ["INSERT INTO commodity (site_id, commodity, rank) VALUES (%d, 'Au', 'primary')" % v
                                 for v in (9999, 9998, 9999)] +
                     ["INSERT INTO commodity (site_id, commodity, rank) VALUES (NULL, 'Sn', 'primary')"])
    err = refused(ctx, tdir, usmin(orph), "orph")
    assert re.search(r"dataset 'commodity': references: 3 row\(s\) of field 'site_id' hold values that are not keys of dataset 'sites' \(orphans\): '9999', '9998'; .*orphans: list", err), err
    work = os.path.join(tdir, "w")
    r = lode(ctx, ["plan", os.path.join(tdir, "orph.yaml"), "-w", work], tdir)
    assert r.rc == 1 and "(orphans): '9999', '9998'" in r.err, r.brief()
    ras = [{"name": "dem", "source": ctx.sample("dem_kertau.tif"), "key": "x"}]
    err = refused(ctx, tdir, ras, "ras")
    assert "dataset 'dem': key: applies to vector layers and tables only" in err, err


@test
def test_orphans_listed(ctx, tdir):
    """policy orphans: list keeps orphans: the bundle is written and verifies, and the
    lineage counts them and lists each distinct value once."""
    orph = copy_with(ctx, tdir, ["INSERT INTO commodity (site_id, commodity, rank) VALUES (%d, 'Au', 'primary')" % v
                                 for v in (9999, 9998, 9999)])
    b, _ = build(ctx, tdir, usmin(orph), policy=dict(POLICY, orphans="list"))
    lode_ok(ctx, ["verify", b, "-q"], tdir)
    ref = lineage(b, "commodity", True)["references"][0]
    assert ref["orphans"] == 3 and ref["orphan_values"] == ["9999", "9998"], ref
    out = os.path.join(tdir, "ex")
    lode_ok(ctx, ["extract", b, "-o", out, "-q"], tdir)
    with sqlite3.connect(os.path.join(out, "sites.gpkg")) as db:
        n = db.execute('SELECT count(*) FROM "commodity_site_id_sites"').fetchone()[0]
    assert n == count(orph, "commodity") - 3, n


@test
def test_stages_threads_merge_digest(ctx, tdir):
    """With relations the cluster stages give the bundle lode run gives, -j 1 and -j 2 the
    same bytes, tests/bundle_digest.py lode's digests, and a merge keeps the lineages."""
    src = ctx.sample("usmin_sites.gpkg")
    b, man = build(ctx, tdir, usmin(src))
    assert same_bundle_digest(staged_bundle(ctx, tdir, man), b), "the staged bundle differs from lode run's"
    with h5py.File(b, "r") as r:
        assert bd.bundle_digest(b) == bd.text(r.attrs["lode_bundle_sha256"])
    assert all(c == s for c, s in bd.content_digests(b).values())
    bundles_same_for_threads(ctx, tdir, man, threads=(1, 2))
    other, _ = build(ctx, tdir, [{"name": "deps", "source": ctx.sample("deposits.gpkg")}], "o.nc")
    merged = os.path.join(tdir, "merged.nc")
    lode_ok(ctx, ["merge", b, other, "-o", merged, "-q"], tdir)
    lode_ok(ctx, ["verify", merged, "-q"], tdir)
    assert lineage(merged, "commodity", True)["references"] == lineage(b, "commodity", True)["references"]


if __name__ == "__main__":
    main()
