"""Helpers for test_bombs.py: resource bombs crafted with h5py from a small bundle that
lode made. Each function copies SRC to DST and rewrites one dataset of DST so that it
declares far more than it stores, or stores a deflate stream that inflates far beyond
what the variable declares. The chunks are written with h5py's write_direct_chunk,
through HDF5's own filters' definitions (shuffle, zlib, Fletcher-32 as H5Zfletcher32.c
computes it), never through lode.

Everything else in a crafted bundle is exactly what lode writes (docs/bundle-format.md
sections 1, 4, 5, 6 and 8.1), so that lode's strict check finds nothing to refuse and
the bound under test is what refuses the bomb: text attributes in lode's form (scalar,
fixed length of exactly their byte length, NUL-terminated padding, ASCII or UTF-8),
copied byte for byte and in their creation order; variables with lode's maximum size,
chunking, filters, fill value, dimension scales and tracked attribute creation order;
a lineage that agrees with the grid (its target width and height), edited in place so
that the rest of its text stays lode's. test_bombs.py shows the crafting without its
bomb verifies OK (test_bomb_crafting_is_lodes).
"""
import hashlib
import json
import os
import shutil
import struct
import sys
import zlib

import h5py
import numpy as np
from h5py import h5, h5a, h5s, h5t

sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
import bundle_digest  # noqa: E402  (tests/bundle_digest.py)

CHUNK = 512  # lode's raster chunk edge (bundle-format.md section 6)
REFS = ("DIMENSION_LIST", "REFERENCE_LIST")  # written by HDF5's dimension-scale calls


# =========================================================================== streams

def fletcher32(data):
    """HDF5's H5_checksum_fletcher32 (H5checksum.c): 16-bit big-endian words, sums
    folded every 360 words, an odd last byte as the high byte of a word."""
    n = len(data) // 2
    words = np.frombuffer(data[:2 * n], dtype=">u2").astype(np.uint64)
    s1 = s2 = 0
    for i in range(0, n, 360):
        blk = words[i:i + 360]
        c = np.cumsum(blk)
        s2 += len(blk) * s1 + int(c.sum())
        s1 += int(c[-1])
        s1 = (s1 & 0xFFFF) + (s1 >> 16)
        s2 = (s2 & 0xFFFF) + (s2 >> 16)
    if len(data) % 2:
        s1 += data[-1] << 8
        s2 += s1
        s1 = (s1 & 0xFFFF) + (s1 >> 16)
        s2 = (s2 & 0xFFFF) + (s2 >> 16)
    s1 = (s1 & 0xFFFF) + (s1 >> 16)
    s2 = (s2 & 0xFFFF) + (s2 >> 16)
    return (s2 << 16) | s1


def zeros_stream(nbytes, level=9, piece=1 << 24):
    """A zlib stream of nbytes zero bytes, made without holding them (streamed)."""
    c = zlib.compressobj(level)
    z = bytes(min(piece, max(nbytes, 1)))
    out = []
    left = nbytes
    while left > 0:
        k = min(left, len(z))
        out.append(c.compress(z[:k] if k < len(z) else z))
        left -= k
    out.append(c.flush())
    return b"".join(out)


def stored_chunk(stream):
    """A deflate stream as HDF5 stores it after shuffle, deflate and Fletcher-32 (the
    shuffle of zeros is zeros): the stream and its checksum, little-endian."""
    return stream + struct.pack("<I", fletcher32(stream))


def _copy(src, dst):
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


# =========================================================================== attributes

def attr_names(obj):
    """obj's attribute names in creation order (lode tracks it on every object)."""
    names = []
    h5a.iterate(obj.id, lambda n: names.append(n.decode()), index_type=h5.INDEX_CRT_ORDER)
    return names


def raw_attrs(obj, skip=REFS):
    """obj's attributes but skip, in creation order, each as (name, type, dataspace,
    stored bytes): enough to write it again exactly as it was (numbers and fixed-length
    strings; the references of dimension scales are made again by attaching them)."""
    out = []
    for n in attr_names(obj):
        if n in skip:
            continue
        a = h5a.open(obj.id, n.encode())
        t, s = a.get_type(), a.get_space()
        if t.get_class() not in (h5t.INTEGER, h5t.FLOAT, h5t.STRING) or \
                (t.get_class() == h5t.STRING and t.is_variable_str()):
            raise ValueError("attribute %r of %s: only numbers and fixed-length text are copied"
                             % (n, obj.name))
        buf = np.zeros(max(s.get_simple_extent_npoints(), 1) * t.get_size(), "u1")
        a.read(buf, mtype=t)
        out.append((n, t, s, buf))
    return out


def put_raw(obj, attrs, replace=None):
    """Write attrs (from raw_attrs) on obj in their order; replace: {name: text} written
    instead, as lode writes text."""
    for n, t, s, buf in attrs:
        if replace and n in replace:
            _new_text(obj, n, replace[n])
        else:
            h5a.create(obj.id, n.encode(), t, s).write(buf, mtype=t)


def text_type(b):
    """lode's text type for the bytes b: fixed length = their length (1 for the empty
    text, a single NUL), NUL-terminated, ASCII, or UTF-8 when a byte is 0x80 or above."""
    t = h5t.C_S1.copy()
    t.set_size(max(len(b), 1))
    t.set_strpad(h5t.STR_NULLTERM)
    t.set_cset(h5t.CSET_UTF8 if any(c >= 0x80 for c in b) else h5t.CSET_ASCII)
    return t


def _new_text(obj, name, value):
    b = value.encode() if isinstance(value, str) else bytes(value)
    assert b"\0" not in b, "lode's text holds no NUL byte"
    t = text_type(b)
    buf = np.frombuffer(b or b"\0", dtype="u1").copy()
    h5a.create(obj.id, name.encode(), t, h5s.create(h5s.SCALAR)).write(buf, mtype=t)


def set_text(obj, name, value):
    """Attribute name of obj becomes the text value (str or bytes), as lode writes text,
    in its place in the creation order: rewritten in place when the type stays the same
    size and character set, else made again with every attribute created after it."""
    b = value.encode() if isinstance(value, str) else bytes(value)
    names = attr_names(obj)
    if name not in names:
        _new_text(obj, name, b)
        return
    a = h5a.open(obj.id, name.encode())
    old, new = a.get_type(), text_type(b)
    if old.get_class() == h5t.STRING and not old.is_variable_str() and \
            old.get_size() == new.get_size() and old.get_cset() == new.get_cset() and \
            old.get_strpad() == h5t.STR_NULLTERM and \
            a.get_space().get_simple_extent_type() == h5s.SCALAR:
        a.write(np.frombuffer(b or b"\0", "u1").copy(), mtype=new)
        return
    later = raw_attrs(obj, skip=names[:names.index(name) + 1])
    for n in names[names.index(name):]:
        h5a.delete(obj.id, n.encode())
    _new_text(obj, name, b)
    put_raw(obj, later)


def text(obj, name):
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def overwrite(obj, name, value):
    """Attribute name of obj, a scalar fixed-length string, holds the bytes value (its
    size exactly), written in place: its type, padding and place kept."""
    a = h5a.open(obj.id, name.encode())
    t = a.get_type()
    assert t.get_class() == h5t.STRING and t.get_size() == len(value), (name, t.get_size(), value)
    a.write(np.frombuffer(value, "u1").copy(), mtype=t)


def json_set(doc, path, value):
    """The compact JSON text doc with the value at path (a list of keys) replaced by value,
    every other byte kept (lode's own number forms included)."""
    dec = json.JSONDecoder()
    start = 0
    for key in path:  # the members of the object at start, one by one
        assert doc[start] == "{", "json_set: %s is not in an object" % path
        pos = start + 1
        while True:
            k, pos = dec.raw_decode(doc, pos)
            assert doc[pos] == ":", "json_set wants compact JSON"
            start = pos + 1
            _, end = dec.raw_decode(doc, start)
            if k == key:
                break
            assert doc[end] == ",", "json_set: no %r in %s" % (key, path)
            pos = end + 1
    out = doc[:start] + json.dumps(value, separators=(",", ":"), ensure_ascii=False) + doc[end:]
    want = json.loads(doc)
    obj = want
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value
    assert json.loads(out) == want, "json_set %s did not edit only that value" % path
    return out


# =========================================================================== a raster

def lode_raster(f, name, ny, nx, chunks=None, coords=True):
    """Make raster NAME of the open bundle f an ny x nx single-band raster as lode
    writes it, its data variable's chunks not written: the group's y, x, crs and NAME
    are made again in lode's order, each with its attributes as they were (byte for
    byte, creation order tracked and kept), x and y the pixel centres of its
    GeoTransform (section 4.1; coords False: y declared, never written), the data
    variable fixed-size, chunked min(512, ny) x min(512, nx) (or chunks), shuffle,
    deflate level 1, Fletcher-32, the HDF5 fill value its _FillValue, x and y attached,
    and the lineage's target width and height nx and ny. Returns the data variable."""
    g = f[name]
    old = g[name]
    assert old.ndim == 2, "single-band rasters only"
    dt = old.dtype
    cpl = old.id.get_create_plist()
    fill = old.fillvalue if cpl.fill_value_defined() == h5py.h5d.FILL_VALUE_USER_DEFINED else None
    gt = [float(v) for v in text(g["crs"], "GeoTransform").split()]
    keep = {k: raw_attrs(g[k], skip=REFS + ("CLASS", "NAME")) for k in ("y", "x", "crs", name)}
    lin = text(old, "lode_lineage")
    lin = json_set(json_set(lin, ["target", "width"], nx), ["target", "height"], ny)
    for k in ("y", "x", "crs", name):
        del g[k]
    kw = dict(track_order=True, track_times=False)
    axes = {}
    for axis, n, x0, d in (("y", ny, gt[3], gt[5]), ("x", nx, gt[0], gt[1])):
        if coords or axis == "x":
            c = g.create_dataset(axis, data=x0 + (np.arange(n) + 0.5) * d, dtype="<f8", **kw)
        else:
            c = g.create_dataset(axis, shape=(n,), dtype="<f8", **kw)
        c.make_scale(axis)
        put_raw(c, keep[axis])
        axes[axis] = c
    crs = g.create_dataset("crs", shape=(), dtype="<i4", **kw)
    put_raw(crs, keep["crs"])
    chunks = chunks or (min(CHUNK, ny), min(CHUNK, nx))
    d = g.create_dataset(name, shape=(ny, nx), dtype=dt.newbyteorder("<"), chunks=chunks,
                         shuffle=True, compression="gzip", compression_opts=1, fletcher32=True,
                         fillvalue=fill, **kw)
    d.dims[0].attach_scale(axes["y"])
    d.dims[1].attach_scale(axes["x"])
    put_raw(d, keep[name], replace={"lode_lineage": lin})
    return d


def content_digest_of_zeros(nbytes, piece=1 << 24):
    """Section 7.2's content digest of a single-band raster of nbytes zero bytes:
    SHA-256 of the SHA-256 of the plane, computed without holding it."""
    plane = hashlib.sha256()
    z = bytes(piece)
    for _ in range(nbytes // piece):
        plane.update(z)
    plane.update(bytes(nbytes % piece))
    return hashlib.sha256(plane.digest()).hexdigest()


def set_digests(path):
    """Store in the bundle at path the content digest of every dataset and then the
    bundle digest, both recomputed by tests/bundle_digest.py (h5py and hashlib, section
    7.3); returns the bundle digest."""
    digests = bundle_digest.content_digests(path)
    with h5py.File(path, "r+") as f:
        for name, (got, stored) in digests.items():
            if got != stored:
                var = f[name][name] if isinstance(f[name], h5py.Group) else f[name]
                set_text(var, "lode_content_sha256", got)
    return set_bundle_digest(path)


def set_bundle_digest(path):
    d = bundle_digest.bundle_digest(path)
    with h5py.File(path, "r+") as f:
        set_text(f, "lode_bundle_sha256", d)
    return d


# =========================================================================== bombs

def huge_chunk(src, dst, name, edge=14500):
    """Raster NAME becomes edge x edge Float32, as lode writes it but for its chunks: one
    chunk of the whole grid (840 MB for 14500, where lode writes 512 x 512), stored as
    the deflate stream of that many zero bytes (about 0.8 MB): a 1.1 MB file that makes
    a reader inflate 840 MB at once."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        d = lode_raster(f, name, edge, edge, chunks=(edge, edge))
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(edge * edge * d.dtype.itemsize)))
    return dst


def ratio_lie(src, dst, name):
    """Raster NAME as lode wrote it, but its only chunk (80 x 60 Float32, 19200 bytes)
    stored as a 20-byte deflate stream: no deflate stream that short can inflate to the
    chunk."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        d = f["%s/%s" % (name, name)]
        assert d.chunks == d.shape, (d.chunks, d.shape)
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(100)))
    return dst


def overinflate(src, dst, name, inflated=1 << 30):
    """Raster NAME becomes a 512 x 512 Float32 raster as lode writes it, one chunk of
    1 MiB, whose stored chunk is the deflate stream of `inflated` zero bytes (1 GiB:
    about 1 MB stored, as much as an incompressible chunk of 1 MiB may take), a thousand
    times what the chunk declares; a reader that inflates until the stream ends holds it
    all. With inflated = 1 MiB it is a valid raster of zeros (but for its digests)."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        d = lode_raster(f, name, CHUNK, CHUNK)
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(inflated)))
    return dst


def tall_y(src, dst, name, ny=1 << 28):
    """Raster NAME declares ny rows, as lode writes an ny-row raster but that nothing of
    them is stored: its y coordinate variable of ny values (contiguous) is never written
    and its data variable (ny rows, 512 x nx chunks) has no chunk written. The file stays
    a few kilobytes."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        lode_raster(f, name, ny, f[name][name].shape[1], coords=False)
    return dst


def wide_layer(src, dst, layer, nfields=20, n=1 << 24):
    """Vector layer LAYER (points) as lode writes a layer of nfields fields and n features,
    but that nothing past its stored features is stored: fields added until it has
    nfields (numeric, the values of its first numeric field, each in the lineage), then
    its coordinates, its node_coordinates dimension and every field resized to n values
    and the lineage's feature count set to n. With n None the layer keeps its size (a
    valid layer but for its digests)."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        c = f[layer]
        lin = text(c, "lode_lineage")
        fields = json.loads(lin)["fields"]
        base = [fl for fl in fields if fl["type"] in ("Real", "Integer", "Integer64")][0]
        src_var = f["%s_field_%s" % (layer, base["variable"])]
        scale = src_var.dims[0][0]
        attrs = raw_attrs(src_var)
        k = len(fields)
        while len(fields) < nfields:
            k += 1
            fname, var = "extra%d" % k, "%d_extra%d" % (k, k)
            d = f.create_dataset("%s_field_%s" % (layer, var), data=src_var[...], maxshape=(None,),
                                 chunks=src_var.chunks, shuffle=True, compression="gzip",
                                 compression_opts=1, fletcher32=True, fillvalue=src_var.fillvalue,
                                 track_order=True, track_times=False)
            d.dims[0].attach_scale(scale)
            put_raw(d, attrs, replace={"long_name": fname, "ogr_field_name": fname})
            fields.append(dict(base, name=fname, variable=var))
        lin = json_set(lin, ["fields"], fields)
        if n is not None:
            lin = json_set(lin, ["feature_count"], n)
            nc = f["%s_node_coordinates" % layer]
            for v in ["%s_coordX" % layer, "%s_coordY" % layer, nc.name] + \
                    ["%s_field_%s" % (layer, fl["variable"]) for fl in fields]:
                f[v].resize((n,))
            overwrite(nc, "NAME", b"This is a netCDF dimension but not a netCDF variable.%10d\0" % n)
        set_text(c, "lode_lineage", lin)
    return dst


def zero_raster(src, dst, name, n=16384, digest=True):
    """Raster NAME becomes an n x n Float32 grid of zeros as lode writes it (512 x 512
    chunks, shuffle, deflate, Fletcher-32, x and y the n pixel centres of its
    GeoTransform), every chunk the same 4.6 KB stream, zlib's at level 1 (the level
    lode's filter declares): a file of about 5 MB that decodes to n * n * 4 bytes (1 GiB
    for 16384). With digest (the default) the bundle is valid: its lode_content_sha256
    is section 7.2's rule computed here with hashlib, and its lode_bundle_sha256 is
    recomputed by tests/bundle_digest.py (which reads the 1 GiB through h5py).

    Not zlib's level 9 (1 KB a chunk, a 1.5 MB file), nor libdeflate's level 1 that
    lode writes (1.2 KB): at those ratios lode extract, which reads every value twice
    (the bundle digest, in blocks of 128 rows that decode each 512-row chunk 4 times,
    then the copy), is killed by its watchdog's work bound (2 x 1032 x the file's
    size) as "more work than a file of N bytes can justify" - a known issue of lode,
    reported, that a bundle lode itself writes from a 1 GiB constant raster shows too."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        d = lode_raster(f, name, n, n)
        chunk = stored_chunk(zeros_stream(CHUNK * CHUNK * 4, level=1))
        for r in range(0, n, CHUNK):
            for c in range(0, n, CHUNK):
                d.id.write_direct_chunk((r, c), chunk)
        if digest:
            set_text(d, "lode_content_sha256", content_digest_of_zeros(n * n * 4))
    if digest:
        set_bundle_digest(dst)
    return dst


def big_lineage(src, dst, name, nbytes=16 << 20):
    """Raster NAME's lode_lineage becomes a JSON text of nbytes: its own lineage with a
    first member "a" of empty arrays ({"a": [[], [], ...], "dataset": ...}), in its place
    and as lode writes text: parsed, each 3 bytes become an array object of tens of
    bytes. (Small, it is a lineage lode reads: lode ignores members it does not use.)"""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        var = f["%s/%s" % (name, name)]
        lin = text(var, "lode_lineage").encode()
        n = max(1, (nbytes - len(lin) - 9) // 3)  # 9 + 3 n + len(lin) bytes in all
        set_text(var, "lode_lineage", b'{"a":[' + b"[]," * n + b'[]],' + lin[1:])
    return dst
