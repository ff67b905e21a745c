#!/usr/bin/python3
"""Verify is strict: a bundle holds exactly what lode writes (docs/bundle-format.md
section 8), or verify, ls, extract and merge refuse it.

/usr/bin/python3 tests/e2e/test_strict.py --lode build/lode --samples DIR \
    --data tests/data --realdata samples/data --grids tests/data/grids --work TMPDIR

Same runner and output as test_raster.py.  The fixture is the demo bundle
(samples/malaysia.yaml: five rasters, three vector layers), signed.  Every attack of
tests/bad/attacks.py is one test: the attack is made on a copy with h5py, shown to have
changed what an independent reader sees (h5py's view of links, objects, values and
attributes; GDAL, netCDF4, OGR or h5dump for the headline attacks; for the holes of
issue 14 in format version 1's digest, that its lines of text did not change), and then
`lode verify --trust` must exit 1 with a report matching the attack's expected words,
and `lode ls`, `ls --json`, `extract` and `merge` must each exit 1 with one clean error
line, writing nothing.  Control tests: the demo, signed, merged and made in stages
verify, and no report ever holds a raw control character.
"""
import hashlib
import json
import os
import re
import shutil
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "bad")))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..")))
from lodetest import Skip, assert_no_crash, lode, lode_ok, main, test  # noqa: E402
from hostile_util import error_lines, files_under, has_control_chars  # noqa: E402

import attacks  # noqa: E402  (tests/bad/attacks.py)
import bundle_digest  # noqa: E402  (tests/bundle_digest.py)
import h5py  # noqa: E402
import numpy as np  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
DEMO_INPUTS = ["aeromag_tmi.tif", "geology_units.tif", "geology_units.tif.aux.xml", "dem_kertau.tif",
               "gravity_nocrs.tif", "radiometric_k.tif", "deposits.gpkg", "geology.gpkg"]


# =========================================================================== fixture

def demo(ctx):
    """The demo bundle, signed by key 'jmg', built once under WORK/_fixtures/strict from
    copies of its inputs (the manifest's relative paths, nothing outside its folder)."""
    c = ctx.cache.get("strict")
    if isinstance(c, Exception):
        raise c
    if c:
        return c
    try:
        d = os.path.join(ctx.work, "_fixtures", "strict")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "generated"))
        os.makedirs(os.path.join(d, "data"))
        for n in DEMO_INPUTS:
            if n.endswith(".aux.xml") and not os.path.exists(os.path.join(ctx.samples or "", n)):
                continue
            shutil.copyfile(ctx.sample(n), os.path.join(d, "generated", n))
        shutil.copyfile(ctx.realfile("administrative_1_state.geojson"),
                        os.path.join(d, "data", "administrative_1_state.geojson"))
        shutil.copyfile(os.path.join(REPO, "samples", "malaysia.yaml"), os.path.join(d, "malaysia.yaml"))
        plain = os.path.join(d, "demo.nc")
        lode_ok(ctx, ["run", "malaysia.yaml", "-o", plain, "-q"], d)
        lode_ok(ctx, ["keygen", "-o", os.path.join(d, "jmg"), "-q"], d)
        signed = os.path.join(d, "signed.nc")
        shutil.copyfile(plain, signed)
        lode_ok(ctx, ["sign", signed, "--key", os.path.join(d, "jmg.key"), "--signer", "JMG", "-q"], d)
        c = {"dir": d, "plain": plain, "signed": signed, "pub": os.path.join(d, "jmg.pub"),
             "view": h5view(signed)}
    except (Skip, AssertionError) as e:
        ctx.cache["strict"] = type(e)("fixture demo bundle: %s" % e)
        raise ctx.cache["strict"]
    ctx.cache["strict"] = c
    return c


def h5view(path):
    """What h5py sees: every link (its kind, and for hard links the object's type, shape,
    values digest and attributes), the root's attributes.  External links are not
    followed."""
    out = {}

    def attrs(o):
        res = {}
        for k in o.attrs:
            try:
                v = o.attrs[k]
                a = o.attrs.get_id(k)  # the stored type's size too: a NUL can hide a suffix
                res[k] = (repr(v) if not isinstance(v, np.ndarray) else repr(v.tolist()),
                          a.get_type().get_size(), a.get_storage_size())
            except Exception as e:  # an attribute h5py cannot read is a difference too
                res[k] = "unreadable: %s" % type(e).__name__
        return res

    def visit(g, prefix, depth):
        for name in g:
            path = prefix + name
            kind = type(g.get(name, getlink=True)).__name__
            if kind != "HardLink":
                out[path] = kind
                continue
            o = g[name]
            if isinstance(o, h5py.Dataset):
                try:
                    data = o[()] if o.dtype.kind != "O" else np.array([str(x) for x in np.ravel(o[()])])
                    digest = hashlib.sha256(np.asarray(data).tobytes()).hexdigest()
                except OSError as e:  # values kept outside the file, say
                    digest = "unreadable: %s" % e
                out[path] = (o.dtype.str, o.shape, digest, attrs(o), o.external)
            else:
                out[path] = ("group", attrs(o))
                if depth < 3:
                    visit(o, path + "/", depth + 1)

    with h5py.File(path, "r") as f:
        out["/"] = attrs(f)
        # the file around the objects: a user block before them, its size
        out["#file"] = (f.id.get_create_plist().get_userblock(), os.path.getsize(path))
        visit(f, "", 0)
    return out


# =========================================================================== helpers

def clean_refusal(r, bundle):
    """exit 1, one 'lode: error:' line naming the bundle, only 'lode: ' lines on stderr,
    no raw control characters anywhere.  Returns a problem text or None."""
    assert_no_crash(r)
    if r.rc != 1:
        return "want exit 1: " + r.brief()
    errs = error_lines(r)
    stray = [l for l in r.err.splitlines() if l.strip() and not l.startswith("lode: ")]
    if len(errs) != 1 or stray:
        return "not one clean error line: " + r.brief()
    if os.path.basename(bundle) not in errs[0]:
        return "the error does not name the bundle: " + errs[0][:300]
    if has_control_chars(r.out) or has_control_chars(r.err):
        return "raw control characters in the output: %r" % (r.out + r.err)[:300]
    return None


def check_attack(ctx, tdir, name):
    fx = demo(ctx)
    b = os.path.join(tdir, name + ".nc")
    shutil.copyfile(fx["signed"], b)
    attacks.ATTACKS[name](b)
    # The attack changed what an independent reader sees (else it tests nothing): h5py,
    # or for an object comment (which h5py 3.7 does not read) h5dump.
    if name != "object_comment":
        assert h5view(b) != fx["view"], "the attack changed nothing h5py sees"
    proof = PROOFS.get(name)
    if proof:
        proof(fx["signed"], b)
    problems = []
    r = lode(ctx, ["verify", b, "--trust", fx["pub"]], tdir)
    p = clean_refusal(r, b)
    if p:
        problems.append("verify: " + p)
    elif not re.search(attacks.WHAT[name], r.out + r.err):
        problems.append("verify does not say what is wrong (want /%s/): %s" %
                        (attacks.WHAT[name], (r.out + r.err)[-800:]))
    if re.search(r"^forged", r.out, re.M):
        problems.append("verify printed a forged line: " + r.out[:500])
    merged = os.path.join(tdir, "merged.nc")
    for args in (["ls", b], ["ls", "--json", b], ["extract", b, "-o", os.path.join(tdir, "x")],
                 ["merge", b, "-o", merged]):
        r = lode(ctx, args, tdir)
        p = clean_refusal(r, b)
        if p:
            problems.append("%s: %s" % (" ".join(args[:2]), p))
        elif "damaged" not in r.err:
            problems.append("%s: the error does not say damaged: %s" % (args[0], r.err[:300]))
    x = os.path.join(tdir, "x")
    if os.path.isdir(x) and files_under(x):
        problems.append("extract wrote %s" % files_under(x))
    left = [n for n in os.listdir(tdir) if n.startswith(("merged", ".merged"))]
    if left:
        problems.append("merge left %s" % left)
    assert not problems, "; ".join(problems)


# ---- what the headline attacks change for other readers (GDAL, netCDF4, OGR)

def gdal_raster(path, name):
    from osgeo import gdal
    gdal.UseExceptions()
    return gdal.Open('NETCDF:"%s":/%s/%s' % (path, name, name))


def proof_origin_moved(orig, b):
    a, z = gdal_raster(orig, "dem_kertau"), gdal_raster(b, "dem_kertau")
    ga, gz = a.GetGeoTransform(), z.GetGeoTransform()
    assert abs(gz[0] - ga[0]) > 0.5 and abs(gz[3] - ga[3]) > 0.5, \
        "GDAL's origin did not move: %s -> %s" % (ga[:4], gz[:4])


def proof_ed50(orig, b):
    wkt = gdal_raster(b, "dem_kertau").GetProjection()
    assert "ED50" in wkt and "ED50" not in gdal_raster(orig, "dem_kertau").GetProjection(), \
        "GDAL does not report ED50: %s" % wkt[:120]


def proof_scaled(orig, b):
    import netCDF4
    with h5py.File(b, "r") as f:
        v = f["dem_kertau/dem_kertau"]
        raw = v[...]
        j, i = np.argwhere(raw != v.attrs["_FillValue"])[0]
    with netCDF4.Dataset(b) as d:
        seen = d["dem_kertau"]["dem_kertau"][j, i]
    assert seen == raw[j, i] * 10.0 + 500.0, "netCDF4 reads %s for the raw %s" % (seen, raw[j, i])


def proof_field_listed(orig, b):
    from osgeo import ogr
    ogr.UseExceptions()
    ds = ogr.Open(b)
    lyr = ds.GetLayerByName("deposits")
    defn = lyr.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    assert "owner" in names, "GDAL does not list the added field: %s" % names


def proof_external(orig, b):
    with h5py.File(b, "r") as f:  # h5py follows the link into the other file
        assert f["gravity/gravity"].shape == (350, 450), "the external link does not resolve"


def proof_comment(orig, b):
    from lodetest import run
    r = run(["h5dump", "-H", "-d", "/gravity/gravity", b])
    assert r.rc == 0 and 'COMMENT "values withdrawn"' in r.out, "h5dump shows no comment: " + r.brief()


def proof_user_block(orig, b):
    with open(b, "rb") as f:
        assert f.read(4) == b"II*\0", "the file does not start like a TIFF"
    with h5py.File(b, "r") as f:  # and HDF5 still opens it, the datasets unchanged
        assert f.id.get_create_plist().get_userblock() == 512 and "gravity" in f


def proof_v1_blind(orig, b):
    """Version 1's bundle digest did not see the attack (the holes of issue 14)."""
    assert attacks.v1_digest(b) == attacks.v1_digest(orig), "version 1's digest saw it"


def proof_forgery(orig, b):
    proof_v1_blind(orig, b)
    with h5py.File(b, "r") as f:
        assert "aeromag_tmi" not in f and "title" not in f.attrs, "nothing was deleted"


def proof_nul_units(orig, b):
    import netCDF4
    proof_v1_blind(orig, b)
    with netCDF4.Dataset(b) as d:
        u = d["aeromag_tmi"]["aeromag_tmi"].units
    assert "WITHDRAWN" in u, "netCDF4 does not show the suffix: %r" % u


def proof_band_names_array(orig, b):
    import netCDF4
    proof_v1_blind(orig, b)
    with netCDF4.Dataset(b) as d:
        names = d["radiometric_k"]["radiometric_k"].lode_band_names
    assert list(names) == ["potassium", "equivalent thorium (withdrawn)", "equivalent uranium"], \
        "netCDF4 reads %r" % (names,)


PROOFS = {
    "newline_attribute_forgery": proof_forgery,
    "nul_in_title": proof_v1_blind,
    "nul_in_data_units": proof_nul_units,
    "string_array_band_names": proof_band_names_array,
    "object_comment": proof_comment,
    "user_block": proof_user_block,
    "dimscale_swap": proof_origin_moved,
    "grid_mapping_redirect": proof_ed50,
    "spatial_ref_edit": proof_ed50,
    "scale_factor": proof_scaled,
    "extra_vector_field": proof_field_listed,
    "external_link": proof_external,
}


def _register(name):
    def fn(ctx, tdir):
        check_attack(ctx, tdir, name)
    fn.__name__ = "test_attack_" + name
    fn.__doc__ = "tests/bad/attacks.py %s: %s verify exits 1 matching /%s/; ls, ls --json, " \
                 "extract and merge exit 1 cleanly" % (name, attacks.ATTACKS[name].__doc__.split("\n")[0],
                                                 attacks.WHAT[name])
    test(fn)


# =========================================================================== controls

@test
def test_intact_bundles_verify(ctx, tdir):
    """The demo (with its vector layers), signed, merged with itself (--prefix) and made
    in stages (plan -w, reproject over 2 shards, package, and every part) verify, also
    with --trust for the signed one; ls and extract accept them."""
    fx = demo(ctx)
    lode_ok(ctx, ["verify", fx["plain"], "-q"], tdir)
    r = lode_ok(ctx, ["verify", fx["signed"], "--trust", fx["pub"]], tdir)
    assert "valid, trusted key, signer 'JMG'" in r.out, r.out[-400:]
    a, b = os.path.join(tdir, "a.nc"), os.path.join(tdir, "b.nc")
    shutil.copyfile(fx["plain"], a)
    shutil.copyfile(fx["plain"], b)
    merged = os.path.join(tdir, "merged.nc")
    lode_ok(ctx, ["merge", a, b, "--prefix", "-o", merged, "-q"], tdir)
    with h5py.File(merged, "r") as f:
        assert "a_dem_kertau" in f and "b_deposits" in f and "lode_merged_from" in f.attrs, list(f)
    work = os.path.join(tdir, "work")
    man = os.path.join(fx["dir"], "malaysia.yaml")
    lode_ok(ctx, ["plan", man, "-w", work, "-q"], tdir)
    for s in ("0/2", "1/2"):
        lode_ok(ctx, ["reproject", "-w", work, "--shard", s, "-q"], tdir)
    staged = os.path.join(tdir, "staged.nc")
    lode_ok(ctx, ["package", "-w", work, "-o", staged, "-q"], tdir)
    for p in (merged, staged):
        lode_ok(ctx, ["verify", p, "-q"], tdir)
        lode_ok(ctx, ["ls", p], tdir)
        lode_ok(ctx, ["extract", p, "-o", os.path.join(tdir, "x_" + os.path.basename(p)), "-q"], tdir)
    parts = [p for p in sorted(os.listdir(os.path.join(work, "parts"))) if p.endswith(".nc")]
    assert len(parts) >= 8, parts
    for part in parts:
        lode_ok(ctx, ["verify", os.path.join(work, "parts", part), "-q"], tdir)


@test
def test_lineage_source_files_allow(ctx, tdir):
    """A raster and a vector layer whose manifest gives allow: [raw_vrt, network]: their
    lineages record source.files (path, sha256 = hashlib's, size) and source.allow (h5py),
    and the bundle verifies, lists and extracts (the strict check accepts those keys)."""
    fx = demo(ctx)
    os.makedirs(os.path.join(tdir, "generated"))
    for n in ("dem_kertau.tif", "deposits.gpkg"):
        shutil.copyfile(os.path.join(fx["dir"], "generated", n), os.path.join(tdir, "generated", n))
    with open(os.path.join(tdir, "allow.yaml"), "w") as fp:
        fp.write("target: {crs: EPSG:4326, bounds: [101.6, 3.65, 102.05, 4.0], resolution: 0.001}\n"
                 "policy: {max_error_m: 20}\n"
                 "datasets:\n"
                 "  - {name: dem, source: generated/dem_kertau.tif, allow: [raw_vrt, network]}\n"
                 "  - {name: deposits, source: generated/deposits.gpkg, allow: [network]}\n")
    b = os.path.join(tdir, "allow.nc")
    lode_ok(ctx, ["run", "allow.yaml", "-o", b, "-q"], tdir)
    with h5py.File(b, "r") as f:
        for var, src, allow in ((f["dem/dem"], "dem_kertau.tif", ["raw_vrt", "network"]),
                                (f["deposits"], "deposits.gpkg", ["network"])):
            lin = json.loads(attacks.text(var, "lode_lineage"))["source"]
            with open(os.path.join(tdir, "generated", src), "rb") as fp:
                data = fp.read()
            assert lin["files"][0] == {"path": "generated/" + src, "sha256": hashlib.sha256(data).hexdigest(),
                                       "size": len(data)}, lin["files"]
            assert sorted(lin["allow"]) == sorted(allow), lin["allow"]
    lode_ok(ctx, ["verify", b, "-q"], tdir)
    lode_ok(ctx, ["ls", b], tdir)
    lode_ok(ctx, ["extract", b, "-o", os.path.join(tdir, "x"), "-q"], tdir)


@test
def test_part_attributes(ctx, tdir):
    """A raster part of a work folder (plan -w, reproject) holds lode_part_key,
    lode_part_dataset, lode_part_plan_sha256 and lode_part_rows (h5py) and verifies;
    without lode_part_plan_sha256, or with one that is not 64 hex digits, verify, ls and
    extract refuse it naming that attribute, its bundle digest recomputed by
    tests/bundle_digest.py so that only the strict check can see it."""
    fx = demo(ctx)
    work = os.path.join(tdir, "work")
    lode_ok(ctx, ["plan", os.path.join(fx["dir"], "malaysia.yaml"), "-w", work, "-q"], tdir)
    lode_ok(ctx, ["reproject", "-w", work, "--shard", "0/1", "-q"], tdir)
    parts = os.path.join(work, "parts")
    part = None
    for n in sorted(os.listdir(parts)):
        with h5py.File(os.path.join(parts, n), "r") as f:
            if n.endswith(".nc") and "lode_part_rows" in f.attrs:
                part = os.path.join(parts, n)
                keys = sorted(k for k in f.attrs if k.startswith("lode_part_"))
                plan_sha = attacks.text(f, "lode_part_plan_sha256")
                break
    assert part, os.listdir(parts)
    assert keys == ["lode_part_dataset", "lode_part_key", "lode_part_plan_sha256", "lode_part_rows"], keys
    with open(os.path.join(work, "plan.json"), "rb") as fp:
        assert plan_sha == hashlib.sha256(fp.read()).hexdigest(), plan_sha
    lode_ok(ctx, ["verify", part, "-q"], tdir)
    problems = []
    for name, edit in (("absent", lambda f: f.attrs.__delitem__("lode_part_plan_sha256")),
                       ("not_hex", lambda f: attacks.set_text(f, "lode_part_plan_sha256", "X" * 64))):
        b = os.path.join(tdir, name + ".nc")
        shutil.copyfile(part, b)
        with h5py.File(b, "r+") as f:
            edit(f)
        d = bundle_digest.bundle_digest(b)
        with h5py.File(b, "r+") as f:
            attacks.set_text(f, "lode_bundle_sha256", d)
        r = lode(ctx, ["verify", b], tdir)
        p = clean_refusal(r, b)
        if p or "bundle digest: OK" not in r.out or "lode_part_plan_sha256" not in r.out:
            problems.append("verify %s: %s" % (name, p or r.out[-400:]))
        for args in (["ls", b], ["extract", b, "-o", os.path.join(tdir, "x_" + name)]):
            r = lode(ctx, args, tdir)
            p = clean_refusal(r, b)
            if p or "lode_part_plan_sha256" not in r.err:
                problems.append("%s %s: %s" % (args[0], name, p or r.err[-300:]))
    assert not problems, "; ".join(problems)


@test
def test_attacks_listed(ctx, tdir):
    """attacks.py lists every attack, then every resource bomb, with its description, and
    applies one by name."""
    from lodetest import run
    r = run(["/usr/bin/python3", os.path.join(REPO, "tests", "bad", "attacks.py")])
    assert r.rc == 0, r.brief()
    listed = [l.split()[0] for l in r.out.splitlines() if l.strip()]
    assert listed == list(attacks.ATTACKS) + list(attacks.BOMBS), listed
    fx = demo(ctx)
    b = os.path.join(tdir, "v.nc")
    shutil.copyfile(fx["plain"], b)
    r = run(["/usr/bin/python3", os.path.join(REPO, "tests", "bad", "attacks.py"), "version_999", b])
    assert r.rc == 0, r.brief()
    with h5py.File(b, "r") as f:
        assert attacks.text(f, "lode_format_version") == "999"


@test
def test_report_never_raw_controls(ctx, tdir):
    """A signature whose signer holds a newline and a forged line, and a dataset renamed
    with one: the verify report escapes them (no line starts with the forged text), and
    the signer rule of lode sign refuses control characters (usage error, exit 2)."""
    fx = demo(ctx)
    b = os.path.join(tdir, "s.nc")
    shutil.copyfile(fx["signed"], b)
    with h5py.File(b, "r+") as f:
        rec = json.loads(attacks.text(f, "lode_signature_1"))
        rec["signer"] = "JMG'\nforged: valid, trusted key, signer 'JMG"
        attacks.set_text(f, "lode_signature_1", json.dumps(rec, separators=(",", ":")))
    r = lode(ctx, ["verify", b, "--trust", fx["pub"]], tdir)
    assert_no_crash(r)
    assert r.rc == 1, r.brief()
    assert not re.search(r"^forged", r.out, re.M) and "\\x0a" in r.out, r.out[-500:]
    assert not has_control_chars(r.out + r.err), repr(r.out[-300:])
    shutil.copyfile(fx["plain"], b)
    r = lode(ctx, ["sign", b, "--key", os.path.join(fx["dir"], "jmg.key"), "--signer", "a\tb"], tdir)
    assert r.rc == 2 and "control" in r.err, r.brief()


for _name in attacks.ATTACKS:
    _register(_name)

if __name__ == "__main__":
    main()
