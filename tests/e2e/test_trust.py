#!/usr/bin/python3
"""Signed bundles: lode keygen, lode sign, lode verify --trust (Ed25519, libsodium).

Same runner, flags and output as test_raster.py.  Independent checks: file modes from
os.stat, digests and signature records read with h5py, tampering done with h5py.
"""
import json
import os
import shutil
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lodetest import assert_no_crash, lode, lode_ok, main, make_target, test, write_manifest  # noqa: E402

import h5py  # noqa: E402


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
                       (["verify", b, "--trust", os.path.join(tdir, "nope.pub")], "nope.pub")):
        r = lode(ctx, args, tdir)
        assert_no_crash(r)
        assert r.rc in (1, 2) and name in r.err, "%s: %s" % (args, r.brief())


if __name__ == "__main__":
    main()
