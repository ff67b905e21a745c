#!/usr/bin/python3
"""Signed bundles: lode keygen, lode sign, lode verify --trust (Ed25519, libsodium), and
the bundle digest that signatures sign (docs/bundle-format.md section 7).

Same runner, flags and output as test_raster.py.  Independent checks: file modes from
os.stat, digests and signature records read with h5py, tampering done with h5py, every
digest recomputed by tests/bundle_digest.py (h5py + hashlib, not lode's code).
"""
import hashlib
import json
import os
import re
import shutil
import stat
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
from lodetest import assert_no_crash, lode, lode_ok, main, make_target, test, write_manifest  # noqa: E402

import bundle_digest as bd  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402


def signed_fixture(ctx, tdir):
    """A small bundle (one raster, one vector layer) and two key pairs."""
    aero = ctx.sample("aeromag_tmi.tif")
    deposits = ctx.sample("deposits.gpkg")
    target = make_target("EPSG:4326", [aero], res=0.004)
    man = os.path.join(tdir, "m.yaml")
    write_manifest(man, target, [{"name": "aeromag", "source": aero, "resampling": "bilinear"},
                                 {"name": "deposits", "source": deposits}],
                   {"allow_ballpark": True, "max_error_m": 20})
    b = os.path.join(tdir, "b.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    for name in ("jmg", "usgs"):
        lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, name), "-q"], tdir)
    return b


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def digests(path):
    with h5py.File(path, "r") as f:
        out = {"bundle": text(f.attrs["lode_bundle_sha256"])}
        out["aeromag"] = text(f["aeromag/aeromag"].attrs["lode_content_sha256"])
        out["deposits"] = text(f["deposits"].attrs["lode_content_sha256"])
        return out


def signatures(path):
    with h5py.File(path, "r") as f:
        return {k: json.loads(f.attrs[k]) for k in f.attrs if k.startswith("lode_signature")}


@test
def test_keygen_files(ctx, tdir):
    """keygen writes NAME.key mode 0600 and NAME.pub, and never overwrites either."""
    lode_ok(ctx, ["keygen", "-o", os.path.join(tdir, "k"), "-q"], tdir)
    mode = stat.S_IMODE(os.stat(os.path.join(tdir, "k.key")).st_mode)
    assert mode == 0o600, "secret key mode %o" % mode
    pub = open(os.path.join(tdir, "k.pub")).read()
    assert pub.startswith("lode-ed25519-public-key-v1 "), pub
    before = open(os.path.join(tdir, "k.key")).read()
    r = lode(ctx, ["keygen", "-o", os.path.join(tdir, "k")], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "k.key" in r.err, r.brief()
    assert open(os.path.join(tdir, "k.key")).read() == before, "the key was overwritten"


@test
def test_sign_and_countersign(ctx, tdir):
    """Signing keeps every digest; both parties can sign (each signature checked with
    PyNaCl, not only by lode); --trust accepts either key;
    an untrusted key alone is refused (exit 1) though the content is intact."""
    b = signed_fixture(ctx, tdir)
    before = digests(b)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"),
                  "--signer", "Jabatan Mineral dan Geosains Malaysia", "-q"], tdir)
    assert digests(b) == before, "signing changed a digest"
    r = lode(ctx, ["verify", b, "--trust", os.path.join(tdir, "usgs.pub")], tdir)
    assert r.rc == 1 and "trusted" in r.err, "untrusted-only verify: " + r.brief()
    lode_ok(ctx, ["verify", b, "--trust", os.path.join(tdir, "jmg.pub")], tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "usgs.key"),
                  "--signer", "U.S. Geological Survey", "-q"], tdir)
    sigs = signatures(b)
    assert sorted(s["signer"] for s in sigs.values()) == [
        "Jabatan Mineral dan Geosains Malaysia", "U.S. Geological Survey"], sigs
    assert all(s["bundle_sha256"] == before["bundle"] for s in sigs.values())
    # Independently of lode: every signature verifies with PyNaCl (libsodium's Python
    # binding, Debian python3-nacl) over the documented message.
    import base64
    import nacl.signing
    for k, rec in sigs.items():
        msg = ("lode-signature-v1\n%s\n%s\n" % (rec["bundle_sha256"], rec["signer"])).encode()
        nacl.signing.VerifyKey(base64.b64decode(rec["public_key"])).verify(
            msg, base64.b64decode(rec["signature"]))
    r = lode_ok(ctx, ["verify", b, "--trust", os.path.join(tdir, "usgs.pub")], tdir)
    assert "valid, trusted key" in r.out, r.out
    assert digests(b) == before, "countersigning changed a digest"
    r = lode(ctx, ["sign", b, "--key", os.path.join(tdir, "usgs.key")], tdir)
    assert r.rc != 0 and "already signed" in r.err, r.brief()


@test
def test_tampering_breaks_verification(ctx, tdir):
    """After signing, changing a pixel, a vector coordinate, a lineage record, the
    manifest text, a global attribute or the signature itself makes verify --trust
    exit 1 and say which check failed."""
    b = signed_fixture(ctx, tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"), "--signer", "JMG", "-q"], tdir)
    trust = ["--trust", os.path.join(tdir, "jmg.pub")]

    def pixel(f):
        f["aeromag/aeromag"][3, 3] = f["aeromag/aeromag"][3, 3] + 1

    def coordinate(f):
        f["deposits_coordX"][0] = f["deposits_coordX"][0] + 1e-6

    def lineage(f):
        lin = json.loads(f["aeromag/aeromag"].attrs["lode_lineage"])
        lin["resampling"] = "nearest"
        f["aeromag/aeromag"].attrs["lode_lineage"] = json.dumps(lin).encode()

    def manifest(f):
        f.attrs["lode_manifest"] = (text(f.attrs["lode_manifest"]) + "# edited\n").encode()

    def title(f):
        f.attrs["title"] = b"forged title"

    def signature(f):
        rec = json.loads(f.attrs["lode_signature_1"])
        rec["signer"] = "Someone else"
        f.attrs["lode_signature_1"] = json.dumps(rec).encode()

    problems = []
    for name, change, want in (("pixel", pixel, "damaged"), ("coordinate", coordinate, "damaged"),
                               ("lineage", lineage, "damaged"), ("manifest", manifest, "damaged"),
                               ("title", title, "damaged"), ("signature", signature, "signature")):
        c = os.path.join(tdir, "t_%s.nc" % name)
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            change(f)
        r = lode(ctx, ["verify", c] + trust, tdir)
        assert_no_crash(r)
        if r.rc != 1 or want not in r.err:
            problems.append("%s: exit %d, stderr %r" % (name, r.rc, r.err.strip()[-200:]))
    assert not problems, "; ".join(problems)


def chunk_stats(path, var):
    """[(offset, filter mask, stored size, stored bytes)] of every chunk of var (h5py)."""
    with h5py.File(path, "r") as f:
        d = f[var].id
        out = []
        for i in range(d.get_num_chunks()):
            info = d.get_chunk_info(i)
            out.append((info.chunk_offset, info.filter_mask, info.size,
                        d.read_direct_chunk(info.chunk_offset)[1]))
        return out


@test
def test_flipped_stored_byte_names_dataset(ctx, tdir):
    """Bundle format 4 digests stored chunks: one stored byte of a raster chunk flipped in
    the file (nothing else fixed) makes verify's bundle digest DAMAGED, and verify falls
    back to decoding every raster, naming the dataset (its chunk fails its checksum); a
    pixel rewritten through HDF5 (the chunk stored again, checksum valid) is named with
    'content digest mismatch'.  The untouched bundle verifies, the raster's line showing
    its stored content digest."""
    b = signed_fixture(ctx, tdir)
    r = lode_ok(ctx, ["verify", b], tdir)
    with h5py.File(b, "r") as f:
        stored = text(f["aeromag/aeromag"].attrs["lode_content_sha256"])
    assert "aeromag: OK (sha256 %s)" % stored in r.out, r.out
    with h5py.File(b, "r") as f:
        info = f["aeromag/aeromag"].id.get_chunk_info(0)
    flipped = os.path.join(tdir, "flipped.nc")
    shutil.copy(b, flipped)
    with open(flipped, "r+b") as fp:
        fp.seek(info.byte_offset + info.size // 2)
        byte = fp.read(1)
        fp.seek(info.byte_offset + info.size // 2)
        fp.write(bytes([byte[0] ^ 0x10]))
    r = lode(ctx, ["verify", flipped], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "bundle digest: DAMAGED" in r.out and "aeromag: DAMAGED" in r.out \
        and "deposits: OK" in r.out and "'aeromag'" in r.err, (r.rc, r.out, r.err)
    pixel = os.path.join(tdir, "pixel.nc")
    shutil.copy(b, pixel)
    with h5py.File(pixel, "r+") as f:
        f["aeromag/aeromag"][3, 3] = f["aeromag/aeromag"][3, 3] + 1
    r = lode(ctx, ["verify", pixel], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "bundle digest: DAMAGED" in r.out and \
        re.search(r"^aeromag: DAMAGED: content digest mismatch", r.out, re.M), (r.rc, r.out)


@test
def test_recompressed_chunks_change_digest(ctx, tdir):
    """The stored bytes are what is signed: every chunk of the raster stored again at
    deflate level 9 instead of lode's level 1 (the same values: every content digest
    still matches, and the head, level parameter included, unchanged) gives another
    bundle digest, which tests/bundle_digest.py and lode agree on; the old signature no
    longer verifies."""
    b = signed_fixture(ctx, tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"), "--signer", "JMG", "-q"], tdir)
    before = bd.bundle_digest(b)
    assert before == stored_digest(b)
    c = os.path.join(tdir, "level9.nc")
    shutil.copy(b, c)
    with h5py.File(b, "r") as f:
        v = f["aeromag/aeromag"]
        data, chunks, fill = v[...], v.chunks, v.fillvalue
    # The same filters (shuffle, deflate, Fletcher-32) at level 9, through HDF5.
    with h5py.File(os.path.join(tdir, "l9.h5"), "w") as g:
        g.create_dataset("v", data=data, chunks=chunks, shuffle=True, compression="gzip",
                         compression_opts=9, fletcher32=True, fillvalue=fill)
    l9 = chunk_stats(os.path.join(tdir, "l9.h5"), "v")
    old = chunk_stats(b, "aeromag/aeromag")
    assert [x[0] for x in l9] == [x[0] for x in old]
    assert any(a[3] != o[3] for a, o in zip(l9, old)), "level 9 stored the same bytes"
    with h5py.File(c, "r+") as f:
        d = f["aeromag/aeromag"].id
        for off, mask, _, raw in l9:
            d.write_direct_chunk(off, raw, mask)
    for name, (got, st) in bd.content_digests(c).items():
        assert got == st, "%s: the values changed (%s, %s)" % (name, got, st)
    ok, after, r = lode_agrees(ctx, tdir, c)
    assert ok, r.out
    assert after != before, "the bundle digest did not change with the stored bytes"
    r = lode(ctx, ["verify", c, "--trust", os.path.join(tdir, "jmg.pub")], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "signature" in r.err, (r.rc, r.out, r.err)


def write_text_in_place(attrs, name, value):
    """Attribute name (fixed-length text) rewritten in place with value (bytes of its
    length), raw in its own file type: the attribute keeps its place and its type."""
    a = attrs.get_id(name)
    ft = a.get_type()
    assert not ft.is_variable_str() and ft.get_size() >= len(value), (name, ft.get_size())
    a.write(np.frombuffer(value.ljust(ft.get_size(), b"\0"), dtype="S%d" % ft.get_size()).reshape(a.shape),
            mtype=ft)


@test
def test_full_decodes_what_the_digest_vouches_for(ctx, tdir):
    """A raster's content digest is the writer's word (format 4): one replaced by another
    value with the bundle digest recomputed (as an unsigned bundle's forger, or a signer,
    can) passes verify, whose raster line shows the stored digest, and fails verify
    --full (content digest mismatch, naming the dataset) and extract, which decode."""
    b = signed_fixture(ctx, tdir)
    c = os.path.join(tdir, "forged.nc")
    shutil.copy(b, c)
    forged = hashlib.sha256(b"not these values").hexdigest()
    with h5py.File(c, "r+") as f:
        write_text_in_place(f["aeromag/aeromag"].attrs, "lode_content_sha256", forged.encode())
    set_digest(c, bd.bundle_digest(c))
    r = lode(ctx, ["verify", c], tdir)
    assert_no_crash(r)
    assert r.rc == 0 and "aeromag: OK (sha256 %s)" % forged in r.out, (r.rc, r.out, r.err)
    r = lode(ctx, ["verify", c, "--full"], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and re.search(r"^aeromag: DAMAGED: content digest mismatch", r.out, re.M) \
        and "bundle digest: OK" in r.out and "'aeromag'" in r.err, (r.rc, r.out, r.err)
    r = lode(ctx, ["verify", b, "--full"], tdir)
    assert r.rc == 0, r.brief()
    r = lode(ctx, ["extract", c, "-o", os.path.join(tdir, "x")], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "'aeromag'" in r.err and "content digest" in r.err, (r.rc, r.err)
    assert not os.path.exists(os.path.join(tdir, "x", "aeromag.tif"))


@test
def test_heap_strings_are_covered(ctx, tdir):
    """A layer's string field is chunked, but its chunks hold addresses into the global
    heap, not the strings: format 4 digests such a variable by its values. A site name
    changed in place in the heap (one letter, same length: the field's stored chunk
    unchanged, as h5py shows) makes the bundle digest fail, whatever the copy of the
    name the change hits."""
    b = signed_fixture(ctx, tdir)
    with h5py.File(b, "r") as f:
        names = [k for k in f if k.startswith("deposits_field_") and f[k].dtype == object]
        assert names, list(f)
        var = names[0]
        value = next(v for v in f[var][:] if len(v) >= 6)
        before = f[var].id.read_direct_chunk((0,))[1]
    data = open(b, "rb").read()
    at = [m.start() for m in re.finditer(re.escape(value), data)][:6]
    assert at, value
    problems, heap_hit = [], False
    for k, pos in enumerate(at):
        c = os.path.join(tdir, "s%d.nc" % k)
        with open(c, "wb") as fp:
            fp.write(data[:pos] + bytes([data[pos] ^ 0x20]) + data[pos + 1:])
        with h5py.File(c, "r") as f:
            try:
                changed = value not in list(f[var][:])
                same_chunk = f[var].id.read_direct_chunk((0,))[1] == before
            except Exception:  # the hit broke HDF5's reading: not the heap
                changed, same_chunk = False, False
        heap_hit = heap_hit or (changed and same_chunk)
        r = lode(ctx, ["verify", c], tdir)
        assert_no_crash(r)
        # the bundle digest itself (what signatures sign), not only the layer's content
        # digest, which verify recomputes from the strings too
        if r.rc != 1 or "bundle digest: DAMAGED" not in r.out:
            problems.append("byte %d (copy %d of %r): verify exit %d: %s" % (
                pos, k, value, r.rc, r.out.strip().splitlines()[-1:]))
    assert heap_hit, "no copy of %r was a heap string read through h5py" % value
    assert not problems, "; ".join(problems)


@test
def test_sign_refuses_damaged_bundle(ctx, tdir):
    """A bundle that does not verify is not signed, and is left as it was."""
    b = signed_fixture(ctx, tdir)
    with h5py.File(b, "r+") as f:
        f["aeromag/aeromag"][0, 0] = f["aeromag/aeromag"][0, 0] + 1
    before = open(b, "rb").read()
    r = lode(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key")], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "does not verify" in r.err, r.brief()
    assert open(b, "rb").read() == before, "the bundle changed"
    assert not [n for n in os.listdir(tdir) if "tmp-" in n], "a temporary file was left"


@test
def test_bad_key_files(ctx, tdir):
    """A public key given as the secret key, a damaged key file and a missing one are
    clear usage errors (exit 2) naming the file."""
    b = signed_fixture(ctx, tdir)
    bad = os.path.join(tdir, "bad.pub")
    open(bad, "w").write("lode-ed25519-public-key-v1 not-base64!!\n")
    for args, name in ((["sign", b, "--key", os.path.join(tdir, "jmg.pub")], "jmg.pub"),
                       (["verify", b, "--trust", bad], "bad.pub"),
                       (["verify", b, "--trust", os.path.join(tdir, "nope.pub")], "nope.pub"),
                       (["sign", b, "--key", os.path.join(tdir, "nope.key")], "nope.key")):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc == 2 and name in r.err, "%s: %s" % (args, r.brief())


# --------------------------------------------------------------------------- the bundle digest

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
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    return b


def vector_bundle(ctx, tdir):
    """Vector layers only: points with string, Integer64 and real fields, multipolygons,
    3D lines with a DateTime field, polygons with holes and an empty layer."""
    cases = [("deposits", "deposits.gpkg"), ("geology", "geology.gpkg"),
             ("traverses", "vector_cases/lines_z.gpkg"), ("pits", "vector_cases/polygons_holes.gpkg"),
             ("boreholes", "vector_cases/empty.gpkg")]
    target = {"crs": "EPSG:4326", "bounds": [101.6, 3.65, 102.05, 4.0], "resolution": 0.001}
    man = os.path.join(tdir, "v.yaml")
    write_manifest(man, target, [{"name": n, "source": ctx.sample(p)} for n, p in cases],
                   {"allow_ballpark": True, "max_error_m": 20})
    b = os.path.join(tdir, "v.nc")
    lode_ok(ctx, ["run", man, "-o", b, "-q"], tdir)
    return b


def reported(out):
    """{dataset or 'bundle digest': hex} from lode verify's OK lines."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^(.+): OK \(sha256 ([0-9a-f]{64})\)$", out, re.M)}


def stored_digest(path):
    with h5py.File(path, "r") as f:
        return text(f.attrs["lode_bundle_sha256"])


def set_text(obj, name, value):
    """Replace (or add) attribute name of obj by value (bytes), exactly these bytes, as
    lode writes text: fixed-length, NUL-terminated, ASCII.  A new attribute comes last."""
    if name in obj.attrs:
        del obj.attrs[name]
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(max(len(value), 1))
    a = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    a.write(np.frombuffer(value or b"\0", dtype="u1").copy(), mtype=tid)


def set_digest(path, hexdigest):
    """Store hexdigest as lode_bundle_sha256 (outside the digest)."""
    with h5py.File(path, "r+") as f:
        set_text(f, "lode_bundle_sha256", hexdigest.encode())


def lode_agrees(ctx, tdir, path):
    """Does lode compute tests/bundle_digest.py's digest for this file?  The Python digest
    is stored as lode_bundle_sha256 and lode verify's 'bundle digest' line must say OK
    with that value (the file may fail verify's other checks: that line is the digest's)."""
    d = bd.bundle_digest(path)
    set_digest(path, d)
    r = lode(ctx, ["verify", path], tdir)
    assert_no_crash(r)
    return "bundle digest: OK (sha256 %s)" % d in r.out, d, r


def old_digest(path):
    """Format version 1's bundle digest (lines of text), to show what it missed."""
    def val(v):
        if isinstance(v, bytes):
            return v.split(b"\0")[0]
        if isinstance(v, str):
            return v.encode()
        return ",".join("%.17g" % x for x in np.ravel(v)).encode()
    lines = []
    with h5py.File(path, "r") as f:
        for name in sorted(f.attrs, key=str.encode):
            if name != "lode_bundle_sha256" and not name.startswith("lode_signature"):
                lines.append(b"attribute %s %s\n" % (name.encode(), hashlib.sha256(val(f.attrs[name])).hexdigest().encode()))
        for name in sorted(f, key=str.encode):
            o = f[name]
            var = o[name] if isinstance(o, h5py.Group) else o if "lode_ogr_geometry_type" in o.attrs else None
            if var is not None:
                lines.append(b"dataset %s %s %s\n" % (name.encode(), val(var.attrs["lode_content_sha256"]),
                                                      hashlib.sha256(val(var.attrs["lode_lineage"])).hexdigest().encode()))
    return hashlib.sha256(b"".join(lines)).hexdigest()


@test
def test_python_digest_matches(ctx, tdir):
    """tests/bundle_digest.py (h5py + hashlib; the copy printed in bundle-format.md 7.3)
    gives the stored lode_bundle_sha256, and lode verify's bundle digest, and every content
    digest verify reports, for the demo bundle, a bundle of vector layers (string,
    Integer64, DateTime fields, 3D lines, holes, an empty layer) and a twice-signed bundle."""
    doc = open(os.path.join(REPO, "docs", "bundle-format.md")).read()
    sec = doc[doc.index("### 7.3"):doc.index("### 7.4")]
    block = sec[sec.index("```python\n") + 10:]
    assert block[:block.index("```\n")] == open(os.path.join(REPO, "tests", "bundle_digest.py")).read(), \
        "the script in bundle-format.md 7.3 is not tests/bundle_digest.py"
    os.makedirs(os.path.join(tdir, "demo"))
    os.makedirs(os.path.join(tdir, "vec"))
    signed = signed_fixture(ctx, tdir)
    for key in ("jmg", "usgs"):
        lode_ok(ctx, ["sign", signed, "--key", os.path.join(tdir, key + ".key"), "--signer", key, "-q"], tdir)
    problems = []
    for b in (demo_bundle(ctx, os.path.join(tdir, "demo")), vector_bundle(ctx, os.path.join(tdir, "vec")), signed):
        rep = reported(lode_ok(ctx, ["verify", b, "--trust", os.path.join(tdir, "jmg.pub")]
                               if b == signed else ["verify", b], tdir).out)
        py, stored = bd.bundle_digest(b), stored_digest(b)
        if not py == stored == rep.get("bundle digest"):
            problems.append("%s: python %s, stored %s, verify %s" % (b, py, stored, rep.get("bundle digest")))
        for name, (got, st) in bd.content_digests(b).items():
            if not got == st == rep.get(name):
                problems.append("%s %s: python %s, stored %s, verify %s" % (b, name, got, st, rep.get(name)))
    assert not problems, "; ".join(problems)


def _add_cases():
    """Changes to a bundle that use every branch of the encoding; tracked creation order
    where the encoding requires it."""
    def comment(f):
        h5py.h5o.set_comment(f["aeromag/x"].id, b"a comment")

    def soft_link(f):
        f["aeromag/soft"] = h5py.SoftLink("/aeromag/x")

    def external_link(f):
        f["aeromag/ext"] = h5py.ExternalLink("other.nc", "/a/b")

    def second_hard_link(f):
        f["again"] = f["aeromag/aeromag"]

    def big_endian_3d(f):
        f["aeromag"].create_dataset("be", data=np.arange(24, dtype=">f4").reshape(2, 3, 4), track_order=True)

    def compound_attr(f):
        f.attrs.create("cmp", np.array([(1, 2.5, b"ab")], dtype=[("a", "<i2"), ("b", ">f8"), ("c", "S3")]))

    def vlen_strings(f):
        f.attrs.create("vs", ["x", "", "y\u00e9"], dtype=h5py.string_dtype())
        f.create_dataset("vsd", (3,), dtype=h5py.string_dtype(), track_order=True)[1] = "hello"

    def null_attr(f):
        f.attrs.create("nothing", h5py.Empty("f4"))

    def string_array_nul(f):
        f.attrs.create("sa", np.array([b"ab", b"c\0d"], dtype="S3"))

    def reference_attr(f):
        f["aeromag/aeromag"].attrs["r"] = f["deposits_coordX"].ref

    def unallocated_fill(f):
        f.create_dataset("r3", shape=(3, 4, 5), dtype="<i2", fillvalue=7, chunks=(1, 2, 5), track_order=True)

    def scalar_and_groups(f):
        f.create_dataset("sc", data=np.float64(3.5), track_order=True)
        f.create_group("g1", track_order=True).create_group("g2", track_order=True).attrs["k"] = 1
    return [comment, soft_link, external_link, second_hard_link, big_endian_3d, compound_attr, vlen_strings,
            null_attr, string_array_nul, reference_attr, unallocated_fill, scalar_and_groups]


@test
def test_digest_same_in_c_and_python(ctx, tdir):
    """On files holding what lode never writes (a comment, soft, external and second hard
    links, a big-endian rank-3 dataset, compound, variable-length string, empty, string
    array and reference attributes, an unallocated dataset with a fill value, a scalar,
    nested groups), lode's digest equals tests/bundle_digest.py's and differs from the
    original's; an enumeration attribute and a group without creation order are refused
    by both (verify: 'cannot be computed', exit 1)."""
    b = signed_fixture(ctx, tdir)
    orig = bd.bundle_digest(b)
    problems = []
    for change in _add_cases():
        c = os.path.join(tdir, change.__name__ + ".nc")
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            change(f)
        ok, d, r = lode_agrees(ctx, tdir, c)
        if not ok or d == orig:
            problems.append("%s: python %s, lode: %s" % (change.__name__, d, r.out.strip().splitlines()[-1:]))

    def enum_attr(f):
        f.attrs["flag"] = np.array([True, False])

    def untracked_group(f):
        f.create_group("plain")
    for change in (enum_attr, untracked_group):
        c = os.path.join(tdir, change.__name__ + ".nc")
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            change(f)
        try:
            problems.append("%s: python gave %s" % (change.__name__, bd.bundle_digest(c)))
        except bd.Refused:
            pass
        r = lode(ctx, ["verify", c], tdir)
        assert_no_crash(r)
        if r.rc != 1 or "bundle digest: DAMAGED: it cannot be computed" not in r.out:
            problems.append("%s: exit %d, %r" % (change.__name__, r.rc, r.out[-300:]))
    assert not problems, "; ".join(problems)


@test
def test_digest_covers_what_v1_missed(ctx, tdir):
    """From a freshly signed bundle: a root attribute whose name holds a newline standing
    in for a deleted dataset (version 1's digest is unchanged: the forgery of issue 14),
    spatial_ref changed, scale_factor added, an x attribute changed, an extra variable, a
    NUL hiding a suffix in a text attribute (version 1's digest unchanged) and one element
    of a string-array attribute changed: each changes tests/bundle_digest.py's digest, and
    lode verify --trust exits 1 with 'bundle digest: DAMAGED'."""
    b = signed_fixture(ctx, tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"), "--signer", "JMG", "-q"], tdir)
    trust = ["--trust", os.path.join(tdir, "jmg.pub")]
    orig, orig_v1 = bd.bundle_digest(b), old_digest(b)

    def newline_forgery(f):
        names = sorted((k for k in f.attrs if k != "lode_bundle_sha256" and not k.startswith("lode_signature")),
                       key=str.encode)
        last, victim = names[-1], "aeromag"  # the last attribute line, the first dataset line
        raw = f.attrs[last]
        value = raw.split(b"\0")[0] if isinstance(raw, bytes) else raw.encode()
        var = f[victim][victim]
        lineage = var.attrs["lode_lineage"]
        lineage = lineage if isinstance(lineage, bytes) else lineage.encode()
        forged = "%s %s\ndataset %s %s" % (last, hashlib.sha256(value).hexdigest(), victim,
                                             text(var.attrs["lode_content_sha256"]))
        del f.attrs[last]
        del f[victim]
        f.attrs.create(forged, np.bytes_(lineage))  # its line ends with SHA-256(lineage)

    def spatial_ref(f):
        f["aeromag/crs"].attrs["spatial_ref"] = np.bytes_(b'GEOGCS["ED50"]')

    def scale_factor(f):
        f["aeromag/aeromag"].attrs["scale_factor"] = np.float32(10.0)

    def x_units(f):
        f["aeromag/x"].attrs["units"] = np.bytes_(b"km")

    def extra_variable(f):
        f["aeromag"].create_dataset("lon", data=np.arange(5.0), track_order=True)

    def nul_suffix(f):  # a text attribute as lode writes it, the same text before the NUL
        set_text(f, "Conventions", b"CF-1.8, ACDD-1.3\0 -- WITHDRAWN")

    problems = []
    for change, v1_blind in ((newline_forgery, True), (spatial_ref, False), (scale_factor, False),
                             (x_units, False), (extra_variable, False), (nul_suffix, True)):
        c = os.path.join(tdir, change.__name__ + ".nc")
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            change(f)
        try:
            d = bd.bundle_digest(c)
        except bd.Refused as e:
            d = "refused (%s)" % e
        r = lode(ctx, ["verify", c] + trust, tdir)
        assert_no_crash(r)
        if d == orig or r.rc != 1 or "bundle digest: DAMAGED" not in r.out:
            problems.append("%s: digest %s, exit %d, %r" % (change.__name__, d, r.rc, r.out[-200:]))
        if v1_blind and old_digest(c) != orig_v1:
            problems.append("%s: the version 1 digest saw it (the test no longer shows the hole)"
                            % change.__name__)
    # String arrays: two files that differ in one element only, bytes and text alike.
    for kind in ("S8", h5py.string_dtype()):
        pair = []
        for k, elems in enumerate((["alpha", "beta", "gamma"], ["alpha", "betA", "gamma"])):
            c = os.path.join(tdir, "sa%d_%s.nc" % (k, "fixed" if kind == "S8" else "vlen"))
            shutil.copy(b, c)
            with h5py.File(c, "r+") as f:
                f["aeromag/aeromag"].attrs.create("names", elems, dtype=kind)
            pair.append(c)
        ok, d0, _ = lode_agrees(ctx, tdir, pair[0])
        set_digest(pair[1], d0)  # the first file's digest, claimed by the second
        r = lode(ctx, ["verify", pair[1]], tdir)
        if not ok or bd.bundle_digest(pair[1]) == d0 or "bundle digest: DAMAGED" not in r.out:
            problems.append("string array %s: lode agrees %s, second %r" % (kind, ok, r.out[-200:]))
    assert not problems, "; ".join(problems)


@test
def test_format_version_1_refused(ctx, tdir):
    """A bundle of format version 1 (older lode, whose digest covered part of the file) is
    refused by verify, sign and merge with a message saying to make it again; so is one of
    version 2 (lode 0.1.0's layout) and one of version 3 (lode 0.2.0's digest over decoded
    values), not as damaged; an unknown version is refused too.  lode writes version 4
    (h5py)."""
    b = signed_fixture(ctx, tdir)
    with h5py.File(b, "r") as f:
        assert text(f.attrs["lode_format_version"]) == "4", text(f.attrs["lode_format_version"])
    problems = []
    for version, want in (("1", "bundle format version 1"), ("2", "bundle format version 2"),
                          ("3", "bundle format version 3 (made by lode 0.2.0)"),
                          ("999", "unknown bundle format version")):
        c = os.path.join(tdir, "v%s.nc" % version)
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            f.attrs["lode_format_version"] = np.bytes_(version.encode())
        for args in (["verify", c], ["sign", c, "--key", os.path.join(tdir, "jmg.key")],
                     ["merge", c, "-o", os.path.join(tdir, "m%s.nc" % version)]):
            r = lode(ctx, args, tdir)
            assert_no_crash(r)
            if r.rc != 1 or want not in r.err or (version in ("1", "2", "3") and "again" not in r.err) \
                    or (version in ("2", "3") and "damaged" in r.err):
                problems.append("%s %s: exit %d, %r" % (args[0], version, r.rc, r.err.strip()[-300:]))
    assert not os.path.exists(os.path.join(tdir, "m1.nc")), "merge wrote a bundle"
    assert not problems, "; ".join(problems)



@test
def test_signature_record_exact(ctx, tdir):
    """A signature attribute is valid only as the exact record lode sign writes: a key
    added beside the signed fields (which ncdump and h5py show), spaces, or the keys in
    another order make verify --trust exit 1 naming the signature; the untouched record
    still verifies (the control)."""
    b = signed_fixture(ctx, tdir)
    lode_ok(ctx, ["sign", b, "--key", os.path.join(tdir, "jmg.key"), "--signer", "JMG", "-q"], tdir)
    trust = ["--trust", os.path.join(tdir, "jmg.pub")]
    lode_ok(ctx, ["verify", b] + trust, tdir)
    with h5py.File(b, "r") as f:
        rec = text(f.attrs["lode_signature_1"])
    j = json.loads(rec)
    variants = {
        "extra_key": rec[:-1] + ',"note":"approved by the minister"}',
        "spaces": json.dumps(j),
        "reordered": json.dumps(dict(reversed(list(j.items()))), separators=(",", ":")),
    }
    for name, forged in variants.items():
        assert forged != rec
        c = os.path.join(tdir, name + ".nc")
        shutil.copy(b, c)
        with h5py.File(c, "r+") as f:
            set_text(f, "lode_signature_1", forged.encode())
        r = lode(ctx, ["verify", c] + trust, tdir)
        assert_no_crash(r)
        assert r.rc == 1 and "lode_signature_1: INVALID" in r.out and "do" in r.err, \
            "%s: %s" % (name, r.brief())


@test
def test_extract_refuses_what_the_digest_does_not_cover(ctx, tdir):
    """A lineage edited so that it still agrees with every attribute the strict check
    compares (its resampling text) keeps every content digest: extract refuses the bundle
    before writing anything, because the whole-file digest no longer matches; the
    untouched bundle extracts (the control), and gdalinfo reads its lineage."""
    b = signed_fixture(ctx, tdir)
    out = os.path.join(tdir, "ok")
    lode_ok(ctx, ["extract", b, "-o", out], tdir)
    assert os.path.exists(os.path.join(out, "aeromag.tif"))
    c = os.path.join(tdir, "edited.nc")
    shutil.copy(b, c)
    with h5py.File(c, "r+") as f:
        v = f["aeromag/aeromag"]
        lin = text(v.attrs["lode_lineage"])
        assert '"resampling":"bilinear"' in lin
        set_text(v, "lode_lineage", lin.replace('"resampling":"bilinear"', '"resampling":"cubic"').encode())
    assert bd.bundle_digest(c) != stored_digest(c)
    dest = os.path.join(tdir, "x")
    r = lode(ctx, ["extract", c, "-o", dest], tdir)
    assert_no_crash(r)
    assert r.rc == 1 and "bundle digest" in r.err and "nothing extracted" in r.err, r.brief()
    assert not os.path.exists(dest) or os.listdir(dest) == [], os.listdir(dest)

if __name__ == "__main__":
    main()
