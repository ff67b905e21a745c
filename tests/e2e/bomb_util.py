"""Helpers for test_bombs.py: resource bombs crafted with h5py from a small bundle that
lode made. Each function copies SRC to DST and rewrites one variable of DST so that it
declares far more than it stores, or stores a deflate stream that inflates far beyond
what the variable declares. The chunks are written with h5py's write_direct_chunk,
through HDF5's own filters' definitions (shuffle, zlib, Fletcher-32 as H5Zfletcher32.c
computes it), never through lode.
"""
import hashlib
import os
import shutil
import struct
import zlib

import h5py
import numpy as np


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


def _attrs(obj):
    return {k: obj.attrs[k] for k in obj.attrs.keys()
            if k not in ("DIMENSION_LIST", "REFERENCE_LIST")}


def _replace(f, path, shape, dtype, chunks, maxshape=None, filters=True, fill=None):
    """Delete the variable at path and create it again with this shape and chunking
    (its attributes kept, its dimension scales attached again); returns it."""
    old = f[path]
    attrs = _attrs(old)
    dims = [[s for s in d.values()] for d in old.dims] if old.ndim else []
    if fill is None and "_FillValue" in attrs:
        fill = attrs["_FillValue"]
    del f[path]
    kw = dict(shape=shape, dtype=dtype, maxshape=maxshape)
    if chunks:
        kw["chunks"] = chunks
        if filters:
            kw.update(shuffle=True, compression="gzip", compression_opts=1, fletcher32=True)
    if fill is not None:
        kw["fillvalue"] = fill
    d = f.create_dataset(path, **kw)
    for k, v in attrs.items():
        d.attrs[k] = v
    for axis, scales in enumerate(dims[:len(shape)]):
        for s in scales:
            d.dims[axis].attach_scale(s)
    return d


def huge_chunk(src, dst, name, edge=14500):
    """Raster NAME's data variable keeps its size but declares one chunk of edge x edge
    values (840 MB of Float32 for 14500), stored as the deflate stream of that many
    zero bytes (about 0.8 MB): a 1.4 MB file that makes a reader inflate 840 MB."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        p = "%s/%s" % (name, name)
        old = f[p]
        shape, dt = old.shape, old.dtype
        d = _replace(f, p, shape, dt, (edge, edge), maxshape=(None, None))
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(edge * edge * dt.itemsize)))
    return dst


def ratio_lie(src, dst, name):
    """Raster NAME's only chunk keeps its declared size but stores a 20-byte deflate
    stream: no deflate stream that short can inflate to the chunk."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        p = "%s/%s" % (name, name)
        old = f[p]
        shape, dt = old.shape, old.dtype
        d = _replace(f, p, shape, dt, shape)
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(100)))
    return dst


def overinflate(src, dst, name, inflated=1 << 30):
    """Raster NAME's data variable declares one chunk of 512 x 512 values (1 MiB of
    Float32) and stores there the deflate stream of `inflated` zero bytes (1 GiB: about
    1 MB stored, as much as an incompressible chunk of 1 MiB may take), a thousand times
    what the chunk declares; a reader that inflates until the stream ends holds it all."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        p = "%s/%s" % (name, name)
        old = f[p]
        shape, dt = old.shape, old.dtype
        d = _replace(f, p, shape, dt, (512, 512), maxshape=(None, None))
        d.id.write_direct_chunk((0, 0), stored_chunk(zeros_stream(inflated)))
    return dst


def tall_y(src, dst, name, ny=1 << 28):
    """Raster NAME declares ny rows: its y coordinate variable ny values (contiguous,
    never written) and its data variable ny rows (chunked, no chunk written). Nothing of
    that is stored: the file stays a few kilobytes."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        g = f[name]
        y = g["y"]
        yattrs = _attrs(y)
        data = g[name]
        nx, dt = data.shape[-1], data.dtype
        attrs = _attrs(data)
        del g[name]
        del g["y"]
        y = g.create_dataset("y", shape=(ny,), dtype="f8")
        for k, v in yattrs.items():
            y.attrs[k] = v
        y.make_scale("y")
        d = g.create_dataset(name, shape=(ny, nx), dtype=dt, chunks=(512, nx), shuffle=True,
                             compression="gzip", fletcher32=True,
                             fillvalue=attrs.get("_FillValue", 0))
        for k, v in attrs.items():
            d.attrs[k] = v
        d.dims[0].attach_scale(y)
        d.dims[1].attach_scale(g["x"])
    return dst


def wide_layer(src, dst, layer, nfields=20, n=1 << 24):
    """Vector layer LAYER (points) declares n features: its coordinates and every field
    resized to n values (nothing written past the stored chunks), and fields added until
    it has nfields, each also declared in the lineage (whose feature count says n)."""
    import json
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        lin = json.loads(f[layer].attrs["lode_lineage"])
        fields = lin["fields"]
        numeric = [fl for fl in fields if fl["type"] in ("Real", "Integer", "Integer64")]
        base = numeric[0]
        k = len(fields)
        while len(fields) < nfields:
            k += 1
            var = "%d_extra%d" % (k, k)
            src_var = f["%s_field_%s" % (layer, base["variable"])]
            f.copy(src_var, "%s_field_%s" % (layer, var))
            f["%s_field_%s" % (layer, var)].attrs["ogr_field_name"] = "extra%d" % k
            fields.append(dict(base, name="extra%d" % k, variable=var))
        lin["feature_count"] = n
        # fixed-length text, as lode writes it
        f[layer].attrs["lode_lineage"] = np.bytes_(json.dumps(lin).encode())
        for v in ["%s_coordX" % layer, "%s_coordY" % layer] + \
                ["%s_field_%s" % (layer, fl["variable"]) for fl in fields]:
            f[v].resize((n,))
    return dst


def _coordinate(g, axis, values):
    """Replace coordinate variable AXIS of group g by these values (contiguous, as lode
    writes them), its attributes kept; returns it (a dimension scale)."""
    old = g[axis]
    attrs = _attrs(old)
    del g[axis]
    c = g.create_dataset(axis, data=np.asarray(values, dtype="f8"))
    for k, v in attrs.items():
        if k not in ("CLASS", "NAME"):
            c.attrs[k] = v
    c.make_scale(axis)
    return c


def zero_raster(src, dst, name, n=16384, digest=False):
    """Raster NAME becomes an n x n Float32 grid of zeros in lode's own chunking (512 x
    512, shuffle, deflate, Fletcher-32), every chunk the same 1 KB stream: a file of
    about a megabyte that decodes to n * n * 4 bytes (1 GiB for 16384), all of it
    within deflate's ratio. Its x and y hold the n pixel centres of its GeoTransform.
    With digest, its lode_content_sha256 is set by the rule of bundle-format.md section 7
    (SHA-256 of the SHA-256 of the plane), computed here with hashlib."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        g = f[name]
        gt = [float(v) for v in g["crs"].attrs["GeoTransform"].split()]
        p = "%s/%s" % (name, name)
        old = f[p]
        attrs = _attrs(old)
        del f[p]
        x = _coordinate(g, "x", gt[0] + (np.arange(n) + 0.5) * gt[1])
        y = _coordinate(g, "y", gt[3] + (np.arange(n) + 0.5) * gt[5])
        d = g.create_dataset(name, shape=(n, n), dtype="f4", chunks=(512, 512), shuffle=True,
                             compression="gzip", fletcher32=True,
                             fillvalue=attrs.get("_FillValue", 0))
        for k, v in attrs.items():
            d.attrs[k] = v
        d.dims[0].attach_scale(y)
        d.dims[1].attach_scale(x)
        chunk = stored_chunk(zeros_stream(512 * 512 * 4, level=9))
        for r in range(0, n, 512):
            for c in range(0, n, 512):
                d.id.write_direct_chunk((r, c), chunk)
        if digest:
            plane = hashlib.sha256()
            z = bytes(1 << 24)
            for _ in range(n * n * 4 // len(z)):
                plane.update(z)
            plane.update(bytes(n * n * 4 % len(z)))
            d.attrs["lode_content_sha256"] = np.bytes_(hashlib.sha256(plane.digest()).hexdigest().encode())
    return dst


def big_lineage(src, dst, name, nbytes=16 << 20):
    """Raster NAME's lode_lineage becomes a JSON text of nbytes made of empty arrays
    ({"a": [[], [], ...]}), fixed-length as lode writes text: parsed, each 3 bytes
    become an array object of tens of bytes."""
    _copy(src, dst)
    with h5py.File(dst, "r+") as f:
        n = max(1, (nbytes - 10) // 3)
        f["%s/%s" % (name, name)].attrs["lode_lineage"] = np.bytes_(b'{"a":[' + b"[]," * n + b"[]]}")
    return dst
