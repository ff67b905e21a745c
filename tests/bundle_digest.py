#!/usr/bin/python3
"""The digests of a lode bundle (docs/bundle-format.md section 7), recomputed with h5py.

    bundle_digest.py FILE             print the bundle digest (64 hex digits)
    bundle_digest.py --datasets FILE  first each dataset's content digest, computed and
                                      checked against its lode_content_sha256

Importable: bundle_digest(path) -> hex, content_digests(path) -> {name: (computed, stored)}.
Refused(...) is raised for a file the encoding does not cover (lode refuses it too).
This file is the script printed in docs/bundle-format.md section 7.3.
"""
import ctypes
import ctypes.util
import hashlib
import itertools
import json
import re
import struct
import sys

import h5py
import numpy as np
from h5py import h5, h5a, h5d, h5l, h5o, h5p, h5r, h5s, h5t

SIGNATURE_SET = re.compile(rb"lode_bundle_sha256|lode_signature_[1-9][0-9]*")
MAGIC = b"lode-bundle-digest-2\n"
MAX_DEPTH, MAX_PLANES, MAX_CD, MAX_MEMBERS, MAX_BYTES, MAX_ATTRS = 64, 1 << 24, 16, 256, 64 << 20, 1 << 20
IEEE = {4: (32, 0, (31, 23, 8, 0, 23), 127), 8: (64, 0, (63, 52, 11, 0, 52), 1023)}
CRT = h5.INDEX_CRT_ORDER


class Refused(Exception):
    """The file holds something the encoding does not cover."""


def u8(v):
    return struct.pack("<B", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def blob(b):
    return u64(len(b)) + b


def _comment_reader():
    # h5py 3.7's h5o.get_comment returns garbage: ask the HDF5 library h5py uses.
    name = ctypes.util.find_library("hdf5_serial") or ctypes.util.find_library("hdf5")
    fn = ctypes.CDLL(name).H5Oget_comment
    fn.restype, fn.argtypes = ctypes.c_ssize_t, [ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t]

    def comment(oid):
        n = fn(oid.id, None, 0)
        if n < 0:
            raise Refused("a comment cannot be read")
        buf = ctypes.create_string_buffer(n + 1)
        fn(oid.id, buf, n + 1)
        return buf.value
    return comment


class Plan:
    """How to read values of one datatype: kind, element size, memory type, parts."""

    def __init__(self, kind, size, mem, sub=(), off=()):
        self.kind, self.size, self.mem, self.sub, self.off = kind, size, mem, sub, off


class Encoder:
    def __init__(self, f):
        self.f, self.first, self.out = f, {}, hashlib.sha256()
        self.comment = _comment_reader()

    def put(self, b):
        self.out.update(b)

    # ---- objects and links ----
    def tracks_order(self, oid, kind):
        cpl = oid.get_create_plist()
        if not cpl.get_attr_creation_order() & h5p.CRT_ORDER_TRACKED or (
                kind == h5o.TYPE_GROUP and not cpl.get_link_creation_order() & h5p.CRT_ORDER_TRACKED):
            raise Refused("an object that does not track creation order")

    def walk(self, gid, path, depth, encode):
        if depth > MAX_DEPTH:
            raise Refused("groups nested too deep")
        names = []
        gid.links.iterate(names.append, idx_type=CRT)
        if encode:
            self.put(u64(len(names)))
        for name in names:
            child = (b"" if path == b"/" else path) + b"/" + name
            if not name or name == b"." or b"/" in name:
                raise Refused("a link name that is empty, '.' or holds '/': %r" % child)
            info = gid.links.get_info(name)
            if encode:
                self.put(blob(name))
            if info.type == h5l.TYPE_HARD:
                first = self.first.get(info.u)
                if first is not None and (not encode or first != child):
                    if encode:
                        self.put(b"H" + blob(first))
                    continue
                if not encode:
                    self.first[info.u] = child
                obj = h5o.open(gid, name)
                if encode:
                    self.put(b"h")
                    self.object(obj, child, depth + 1)
                elif h5o.get_info(obj).type == h5o.TYPE_GROUP:
                    self.tracks_order(obj, h5o.TYPE_GROUP)
                    self.walk(obj, child, depth + 1, False)
            elif info.type == h5l.TYPE_SOFT:
                if encode:
                    self.put(b"s" + blob(gid.links.get_val(name)))
            elif info.type == h5l.TYPE_EXTERNAL:
                if encode:
                    file, obj = gid.links.get_val(name)
                    self.put(b"e" + blob(file) + blob(obj))
            else:
                raise Refused("a user-defined link: %r" % child)

    def object(self, oid, path, depth):
        kind = h5o.get_info(oid).type
        tag = {h5o.TYPE_GROUP: b"G", h5o.TYPE_DATASET: b"D", h5o.TYPE_NAMED_DATATYPE: b"T"}[kind]
        self.tracks_order(oid, kind)
        self.put(tag + blob(path) + blob(self.comment(oid)))
        if kind == h5o.TYPE_DATASET:
            plan = self.dtype(oid.get_type())
            self.space(oid.get_space())
            dcpl = oid.get_create_plist()
            self.storage(dcpl)
            self.fill(dcpl, plan)
        elif kind == h5o.TYPE_NAMED_DATATYPE:
            self.dtype(oid)
        self.attrs(oid, path)
        if kind == h5o.TYPE_GROUP:
            self.walk(oid, path, depth, True)
        if kind == h5o.TYPE_DATASET:
            chunked = oid.get_create_plist().get_layout() == h5d.CHUNKED
            self.put(self.stored(oid) if chunked and self.bytes_are_values(plan)
                     else self.values(oid, plan))

    def attrs(self, oid, path):
        if h5a.get_num_attrs(oid) > MAX_ATTRS:
            raise Refused("more than %d attributes" % MAX_ATTRS)
        aids = [h5a.open(oid, index=i, index_type=CRT) for i in range(h5a.get_num_attrs(oid))]
        kept = [a for a in aids if not (path == b"/" and SIGNATURE_SET.fullmatch(a.name))]
        self.put(u64(len(kept)))
        for a in kept:
            self.put(blob(a.name))
            plan = self.dtype(a.get_type())
            n = self.space(a.get_space())
            if n * plan.size > MAX_BYTES:
                raise Refused("an attribute larger than %d bytes" % MAX_BYTES)
            if n:
                self.put(self.elements(lambda arr, mtype: a.read(arr, mtype=mtype), n, plan))

    # ---- datatypes, dataspaces, storage ----
    def dtype(self, tid, depth=0):
        cls = tid.get_class()
        if depth > 1:
            raise Refused("a datatype nested more than one level")
        if cls in (h5t.INTEGER, h5t.FLOAT):
            size, order, prec, off = tid.get_size(), tid.get_order(), tid.get_precision(), tid.get_offset()
            lsb, msb = tid.get_pad()
            if order not in (h5t.ORDER_LE, h5t.ORDER_BE):
                raise Refused("a numeric type of unknown byte order")
            if cls == h5t.INTEGER:
                sign = tid.get_sign()
                self.put(b"i" + u64(size) + u8(order) + u8(sign) + u64(prec) + u64(off) + u8(lsb) + u8(msb))
                ok = size in (1, 2, 4, 8) and prec == 8 * size and off == 0 and sign in (0, 1)
            else:
                fields, ebias, norm = tid.get_fields(), tid.get_ebias(), tid.get_norm()
                self.put(b"f" + u64(size) + u8(order) + u64(prec) + u64(off) + u8(lsb) + u8(msb) +
                         u8(tid.get_inpad()) + u8(norm) + b"".join(u64(x) for x in fields) + u64(ebias))
                ok = IEEE.get(size) == (prec, off, tuple(fields), ebias) and norm == h5t.NORM_IMPLIED
            if not ok:
                raise Refused("a numeric type other than 8-64 bit integers and IEEE floats")
            mem = tid.copy()
            mem.set_order(h5t.ORDER_LE)
            return Plan("num", size, mem)
        if cls == h5t.STRING:
            var, pad, cset, size = tid.is_variable_str(), tid.get_strpad(), tid.get_cset(), tid.get_size()
            if pad not in (0, 1, 2) or cset not in (0, 1) or (not var and not 1 <= size <= MAX_BYTES):
                raise Refused("a string type of unknown padding, character set or size")
            self.put(b"s" + u8(var) + u64(0 if var else size) + u8(pad) + u8(cset))
            mem = h5t.C_S1.copy()
            mem.set_size(h5t.VARIABLE if var else size)
            mem.set_strpad(pad)
            mem.set_cset(cset)
            return Plan("vstr" if var else "fstr", size, mem)
        if cls == h5t.REFERENCE:
            if not tid.equal(h5t.STD_REF_OBJ):
                raise Refused("a region reference")
            self.put(b"r")
            return Plan("ref", 8, h5t.STD_REF_OBJ)
        if cls == h5t.VLEN:
            self.put(b"v")
            base = self.dtype(tid.get_super(), depth + 1)
            if base.kind != "ref":
                raise Refused("a variable-length sequence of something else than references")
            return Plan("vlen", 16, None, (base,))
        if cls == h5t.COMPOUND:
            size, n = tid.get_size(), tid.get_nmembers()
            if not 1 <= n <= MAX_MEMBERS:
                raise Refused("a compound type with %d members" % n)
            self.put(b"c" + u64(size) + u64(n))
            mem, subs, offs = h5t.create(h5t.COMPOUND, size), [], []
            for i in range(n):
                name, off = tid.get_member_name(i), tid.get_member_offset(i)
                self.put(blob(name) + u64(off))
                sub = self.dtype(tid.get_member_type(i), depth + 1)
                if sub.kind not in ("num", "fstr", "ref") or off + sub.size > size:
                    raise Refused("a compound member of another kind or outside the compound")
                mem.insert(name, off, sub.mem)
                subs.append(sub)
                offs.append(off)
            return Plan("comp", size, mem, subs, offs)
        raise Refused("a datatype of class %d" % cls)

    def space(self, sid):
        cls = sid.get_simple_extent_type()
        dims = sid.get_simple_extent_dims() if cls == h5s.SIMPLE else ()
        maxd = sid.get_simple_extent_dims(maxdims=True) if cls == h5s.SIMPLE else ()
        self.put(u8(cls) + u32(len(dims)) + b"".join(u64(d) for d in dims) + b"".join(u64(d) for d in maxd))
        n = 0 if cls == h5s.NULL else int(np.prod(dims, dtype=object))
        if n >= 1 << 63:
            raise Refused("a dataspace of more elements than can be counted")
        return n

    def storage(self, dcpl):
        layout = dcpl.get_layout()
        if layout == h5d.VIRTUAL or dcpl.get_external_count():
            raise Refused("a virtual dataset or values in external files")
        self.put(u8(layout))
        if layout == h5d.CHUNKED:
            chunk = dcpl.get_chunk()
            self.put(u32(len(chunk)) + b"".join(u64(c) for c in chunk))
        self.put(u32(dcpl.get_nfilters()))
        for i in range(dcpl.get_nfilters()):
            code, flags, values, _ = dcpl.get_filter(i)
            if len(values) > MAX_CD:
                raise Refused("a filter with more than %d parameters" % MAX_CD)
            self.put(u32(code) + u32(flags) + u32(len(values)) + b"".join(u32(v) for v in values))

    def fill(self, dcpl, plan):
        status = dcpl.fill_value_defined()
        self.put(u8(status))
        if status == h5d.FILL_VALUE_USER_DEFINED:
            if plan.kind != "num":
                raise Refused("a fill value of a type other than a number")
            tid = plan.mem
            kind = "f" if tid.get_class() == h5t.FLOAT else "i" if tid.get_sign() else "u"
            arr = np.zeros(1, "<%s%d" % (kind, plan.size))
            dcpl.get_fill_value(arr)
            self.put(arr.tobytes())

    # ---- values ----
    def path_of(self, addr):
        if addr not in self.first:
            raise Refused("a reference to an object that no link reaches")
        return self.first[addr]

    def ref(self, addr):
        return b"\0" if addr == 0 else b"\1" + blob(self.path_of(addr))

    def one(self, plan, raw):  # one element of a raw read (num, fstr, ref, comp)
        if plan.kind == "ref":
            return self.ref(int.from_bytes(raw, "little"))
        if plan.kind == "comp":
            return b"".join(self.one(s, raw[o:o + s.size]) for s, o in zip(plan.sub, plan.off))
        return bytes(raw)

    def elements(self, read, n, plan):
        """The encoding of n elements that read(arr, mtype) fills."""
        if plan.kind == "vstr":
            arr = np.empty(n, dtype=h5py.string_dtype("ascii"))
            read(arr, None)
            return b"".join(blob(s or b"") for s in arr)
        if plan.kind == "vlen":
            arr = np.empty(n, dtype=h5py.vlen_dtype(h5py.ref_dtype))
            read(arr, None)
            out = []
            for seq in arr:
                out.append(u64(len(seq)))
                for r in seq:
                    addr = h5o.get_info(h5r.dereference(r, self.f.id)).addr if r else 0
                    out.append(self.ref(addr))
            return b"".join(out)
        buf = np.zeros(n * plan.size, "u1")
        read(buf, plan.mem)
        if plan.kind in ("num", "fstr"):
            return buf.tobytes()
        raw = buf.tobytes()
        return b"".join(self.one(plan, raw[k * plan.size:(k + 1) * plan.size]) for k in range(n))

    @staticmethod
    def bytes_are_values(plan):
        """Do a chunk's stored bytes hold its values (numbers, fixed-length strings), not
        references to them elsewhere in the file (variable-length data lives in the
        global heap; a reference is an address)?"""
        if plan.kind == "comp":
            return all(sub.kind in ("num", "fstr") for sub in plan.sub)
        return plan.kind in ("num", "fstr")

    def stored(self, did):
        """A chunked dataset's values digest (format 4): its stored chunks, none inflated."""
        top, n = hashlib.sha256(), 0
        if did.get_storage_size():  # one that stores nothing has no chunk
            n = did.get_num_chunks()
        top.update(u64(n))
        if not n:
            return top.digest()
        shape, chunk, found = did.shape, did.get_create_plist().get_chunk(), 0
        for off in itertools.product(*(range(0, s, c) for s, c in zip(shape, chunk))):
            info = did.get_chunk_info_by_coord(off)
            if info.byte_offset is None or not info.size:
                continue  # not stored (a dataset of a few bytes)
            data = did.read_direct_chunk(off)[1]
            top.update(b"".join(u64(o) for o in off) + u32(info.filter_mask) + u64(info.size) +
                       hashlib.sha256(data).digest())
            found += 1
        if found != n:
            raise Refused("chunks stored outside its extent")
        return top.digest()

    def values(self, did, plan):
        """The values digest: SHA-256 over the SHA-256 of each plane."""
        space = did.get_space()
        cls, top = space.get_simple_extent_type(), hashlib.sha256()
        if cls == h5s.NULL:
            return top.digest()
        shape = space.get_simple_extent_dims() if cls == h5s.SIMPLE else ()
        if len(shape) >= 3 and shape[0] > MAX_PLANES:
            raise Refused("more than %d planes" % MAX_PLANES)
        planes = [(k,) for k in range(shape[0])] if len(shape) >= 3 else [()]
        for p in planes:
            count = (1,) * len(p) + tuple(shape[len(p):])
            n = int(np.prod(count, dtype=object))
            data = b""
            if n and len(shape) == 0:
                data = self.elements(lambda arr, mt: did.read(h5s.ALL, h5s.ALL, arr, mtype=mt), 1, plan)
            elif n:
                fsp = did.get_space()
                fsp.select_hyperslab(tuple(p) + (0,) * (len(shape) - len(p)), count)
                msp = h5s.create_simple((n,))
                data = self.elements(lambda arr, mt: did.read(msp, fsp, arr, mtype=mt), n, plan)
            top.update(hashlib.sha256(data).digest())
        return top.digest()


def bundle_digest(path):
    """The bundle digest of the file at path, as 64 hex digits."""
    with h5py.File(path, "r") as f:
        e = Encoder(f)
        root = f.id
        e.first[h5o.get_info(root).addr] = b"/"
        try:
            e.tracks_order(h5o.open(root, b"."), h5o.TYPE_GROUP)
            e.walk(root, b"/", 0, False)
            e.put(MAGIC)
            e.object(h5o.open(root, b"."), b"/", 0)
        except (RuntimeError, KeyError, ValueError, TypeError) as x:  # HDF5 refused to read it
            raise Refused(str(x)) from x
        return e.out.hexdigest()


# ---- content digests (section 7.2) ----

def text(v):
    if isinstance(v, bytes):
        return v.split(b"\0")[0].decode()
    return str(v)


def raster_digest(var):
    planes = [var[...]] if var.ndim == 2 else [var[k] for k in range(var.shape[0])]
    top = hashlib.sha256()
    for p in planes:  # (y, x) plane, row-major, little-endian
        top.update(hashlib.sha256(p.astype(p.dtype.newbyteorder("<")).tobytes()).digest())
    return top.hexdigest()


def vector_digest(f, name):
    c = f[name]
    a = {k: text(c.attrs[k]) for k in ("geometry_type", "node_coordinates", "node_count",
                                       "part_node_count", "interior_ring") if k in c.attrs}
    coords = [f[v][...].astype("<f8") for v in a["node_coordinates"].split()]  # x, y[, z]
    if text(c.attrs["lode_ogr_geometry_type"]).endswith(" M"):  # measures, after z
        coords.append(f[name + "_coordM"][...].astype("<f8"))
    nc = f[a["node_count"]][...].astype("<i4") if "node_count" in a else np.ones(len(coords[0]), "<i4")
    if "part_node_count" in a:
        pnc = f[a["part_node_count"]][...].astype("<i4")
        ring = f[a["interior_ring"]][...].astype("<i4") if "interior_ring" in a else 0 * pnc
    elif a["geometry_type"] == "point":
        pnc = ring = np.zeros(0, "<i4")
    else:  # one part per feature that has a geometry
        pnc = nc[nc > 0]
        ring = 0 * pnc
    top = hashlib.sha256()
    for arr in coords + [nc, pnc, ring]:
        top.update(hashlib.sha256(arr.tobytes()).digest())
    return fields_digest(top, f, c, name, len(nc))


def table_digest(f, name):
    """A table (section 5.6): no nodes, a node count 0 per row, no parts."""
    g = f[name]
    n = g[name + "_row"].shape[0]
    top = hashlib.sha256()
    for arr in (np.zeros(0, "<f8"), np.zeros(0, "<f8"), np.zeros(n, "<i4"), np.zeros(0, "<i4"),
                np.zeros(0, "<i4")):
        top.update(hashlib.sha256(arr.tobytes()).digest())
    return fields_digest(top, g, g[name], name, n)


TEXT_TYPES = ("String", "String(JSON)", "StringList", "IntegerList", "Integer64List", "RealList")


def fields_digest(top, where, c, name, n):
    """Add the fields the lineage of c lists (NAME_field_V in where, n values) to top."""
    for fld in json.loads(text(c.attrs["lode_lineage"]))["fields"]:
        var = where["%s_field_%s" % (name, fld["variable"])]
        isnull = np.zeros(n, "u1")
        if "lode_nulls" in var.attrs:
            isnull[np.atleast_1d(var.attrs["lode_nulls"])] = 1
        if fld["type"] in TEXT_TYPES:  # stored as text (the lists as JSON arrays)
            s = hashlib.sha256()
            for k, v in enumerate(var.asstr()[...]):
                b = b"" if isnull[k] else v.encode()
                s.update(len(b).to_bytes(8, "little") + b)
            top.update(s.digest())
        else:
            vals = var[...].astype(var.dtype.newbyteorder("<"))
            vals[isnull == 1] = 0  # a null counts as zero bytes, not as _FillValue
            top.update(hashlib.sha256(vals.tobytes()).digest())
        top.update(hashlib.sha256(isnull.tobytes()).digest())
    return top.hexdigest()


def content_digests(path):
    """{dataset: (computed, stored)} for every raster group and vector layer."""
    out = {}
    with h5py.File(path, "r") as f:
        for name in f:
            if isinstance(f[name], h5py.Group) and text(
                    f[name][name].attrs.get("lode_ogr_geometry_type", "")) == "None":
                var, got = f[name][name], table_digest(f, name)
            elif isinstance(f[name], h5py.Group):
                var, got = f[name][name], raster_digest(f[name][name])
            elif "lode_ogr_geometry_type" in f[name].attrs:
                var, got = f[name], vector_digest(f, name)
            else:
                continue  # a vector layer's other variables
            out[name] = (got, text(var.attrs["lode_content_sha256"]))
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (1, 2) or (len(args) == 2 and args[0] != "--datasets"):
        sys.exit(__doc__.split("\n\n")[1])
    if len(args) == 2:
        for name, (got, stored) in content_digests(args[1]).items():
            print(name, got, "OK" if got == stored else "MISMATCH (stored %s)" % stored)
    try:
        print(bundle_digest(args[-1]))
    except Refused as e:
        sys.exit("%s: refused: %s" % (args[-1], e))
