#!/usr/bin/python3
"""attacks.py -- edits of a lode bundle that a reader must not accept (issue 14).

Each attack is a function taking the path of a bundle made by `lode run` from
samples/malaysia.yaml (the demo: rasters aeromag_tmi, geology_units, dem_kertau,
gravity, radiometric_k and vector layers deposits, geology_map, dosm_states), signed or
not, and changing it in place with h5py the way an attacker with the docs would. Text
attributes are written in lode's own form (scalar, fixed length, NULL-terminated, no
NUL), so only what the attack changes is wrong.

    /usr/bin/python3 tests/bad/attacks.py                  list the attacks
    /usr/bin/python3 tests/bad/attacks.py NAME BUNDLE      apply one in place
    /usr/bin/python3 tests/bad/attacks.py all BUNDLE DIR   one copy per attack, DIR/NAME.nc

Every attack must make `lode verify` (and `verify --trust`) exit 1 with a line naming
what is wrong, and `lode ls` / `lode extract` exit 1 with one clean error line
(tests/e2e/test_strict.py). WHAT[name] is a regular expression the report must match.

The resource bombs (BOMBS, made by tests/e2e/bomb_util.py) are listed and applied the
same way; tests/e2e/test_bombs.py checks that verify, ls, extract and merge refuse each
in bounded time and memory.
"""
import hashlib
import os
import shutil
import sys

import h5py
import numpy as np

sys.dont_write_bytecode = True

ED50 = ('GEOGCRS["ED50",DATUM["European Datum 1950",ELLIPSOID["International 1924",6378388,297,'
        'LENGTHUNIT["metre",1]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]],'
        'CS[ellipsoidal,2],AXIS["geodetic latitude (Lat)",north,ORDER[1],ANGLEUNIT["degree",'
        '0.0174532925199433]],AXIS["geodetic longitude (Lon)",east,ORDER[2],ANGLEUNIT["degree",'
        '0.0174532925199433]],ID["EPSG",4230]]')


def set_text(obj, name, value):
    """A text attribute exactly as lode writes one (replacing any of that name)."""
    b = value.encode() if isinstance(value, str) else value
    if name in obj.attrs:
        del obj.attrs[name]
    t = h5py.h5t.C_S1.copy()
    t.set_size(max(len(b), 1))
    t.set_strpad(h5py.h5t.STR_NULLTERM)
    t.set_cset(h5py.h5t.CSET_UTF8 if any(c >= 0x80 for c in b) else h5py.h5t.CSET_ASCII)
    a = h5py.h5a.create(obj.id, name.encode(), t, h5py.h5s.create(h5py.h5s.SCALAR))
    a.write(np.array(b, dtype="S%d" % max(len(b), 1)), mtype=t)


def text(obj, name):
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


ATTACKS = {}
WHAT = {}


def attack(what):
    def deco(fn):
        ATTACKS[fn.__name__] = fn
        WHAT[fn.__name__] = what
        return fn
    return deco


# ---- georeferencing

@attack(r"dem_kertau.*(unexpected variable|dimension scale)")
def dimscale_swap(path):
    """Shifted lon/lat variables attached as dem_kertau's dimension scales (x and y left
    in place): GDAL's origin moves by one degree."""
    with h5py.File(path, "r+") as f:
        g = f["dem_kertau"]
        d = g["dem_kertau"]
        for old, new, shift, axis in (("x", "lon", 1.0, 1), ("y", "lat", -1.0, 0)):
            v = g.create_dataset(new, data=g[old][...] + shift)
            for k in ("standard_name", "long_name", "units", "axis"):
                set_text(v, k, text(g[old], k))
            v.make_scale(new)
            d.dims[axis].detach_scale(g[old])
            d.dims[axis].attach_scale(v)


@attack(r"dem_kertau.*(grid_mapping|unexpected variable)")
def grid_mapping_redirect(path):
    """grid_mapping = "crs2", a new variable holding ED50: GDAL reports ED50."""
    with h5py.File(path, "r+") as f:
        g = f["dem_kertau"]
        c = g.create_dataset("crs2", shape=(), dtype="<i4")
        set_text(c, "crs_wkt", ED50)
        set_text(c, "spatial_ref", ED50)
        set_text(c, "GeoTransform", text(g["crs"], "GeoTransform"))
        set_text(g["dem_kertau"], "grid_mapping", "crs2")


@attack(r"dem_kertau.*spatial_ref")
def spatial_ref_edit(path):
    """crs:spatial_ref (what GDAL reads) changed to ED50, crs_wkt left alone."""
    with h5py.File(path, "r+") as f:
        set_text(f["dem_kertau/crs"], "spatial_ref", ED50)


@attack(r"aeromag_tmi.*semi_major_axis")
def cf_parameter_edit(path):
    """The CF semi_major_axis of the grid mapping changed (netCDF readers use it)."""
    with h5py.File(path, "r+") as f:
        c = f["aeromag_tmi/crs"]
        del c.attrs["semi_major_axis"]
        c.attrs.create("semi_major_axis", np.float64(6378388.0))


@attack(r"gravity.*GeoTransform")
def geotransform_junk(path):
    """Text after the six numbers of GeoTransform (sscanf would ignore it)."""
    with h5py.File(path, "r+") as f:
        c = f["gravity/crs"]
        set_text(c, "GeoTransform", text(c, "GeoTransform") + " 7")


@attack(r"units.*dem_kertau/x|dem_kertau/x.*units")
def x_units(path):
    """dem_kertau/x units "degrees_east" changed to "km"."""
    with h5py.File(path, "r+") as f:
        set_text(f["dem_kertau/x"], "units", "km")


@attack(r"radiometric_k.*band")
def band_values(path):
    """radiometric_k's band coordinate reversed: 3, 2, 1."""
    with h5py.File(path, "r+") as f:
        f["radiometric_k/band"][...] = np.array([3, 2, 1], "<i4")


# ---- how values read

@attack(r"dem_kertau.*scale_factor")
def scale_factor(path):
    """scale_factor and add_offset on the DEM: xarray reads 679 m as 7290 m."""
    with h5py.File(path, "r+") as f:
        d = f["dem_kertau/dem_kertau"]
        d.attrs.create("scale_factor", np.float64(10.0))
        d.attrs.create("add_offset", np.float64(500.0))


@attack(r"gravity.*missing_value")
def missing_value(path):
    """missing_value on gravity: readers mask a real value."""
    with h5py.File(path, "r+") as f:
        f["gravity/gravity"].attrs.create("missing_value", np.float32(0.0))


@attack(r"dem_kertau.*_Unsigned")
def unsigned(path):
    """_Unsigned = "true" on the Int16 DEM: netCDF readers take it as UInt16."""
    with h5py.File(path, "r+") as f:
        set_text(f["dem_kertau/dem_kertau"], "_Unsigned", "true")


@attack(r"dem_kertau.*_FillValue")
def fill_value_type(path):
    """The DEM's _FillValue rewritten as a float64 of the same value."""
    with h5py.File(path, "r+") as f:
        d = f["dem_kertau/dem_kertau"]
        v = float(d.attrs["_FillValue"])
        del d.attrs["_FillValue"]
        d.attrs.create("_FillValue", np.float64(v))


@attack(r"aeromag_tmi.*units")
def data_units(path):
    """aeromag_tmi units "nT" changed to "pT"."""
    with h5py.File(path, "r+") as f:
        set_text(f["aeromag_tmi/aeromag_tmi"], "units", "pT")


@attack(r"aeromag_tmi.*long_name")
def data_long_name(path):
    """aeromag_tmi long_name changed."""
    with h5py.File(path, "r+") as f:
        set_text(f["aeromag_tmi/aeromag_tmi"], "long_name", "reduced to pole")


@attack(r"gravity.*source")
def data_source(path):
    """gravity's source attribute names another file."""
    with h5py.File(path, "r+") as f:
        set_text(f["gravity/gravity"], "source", "generated/other_survey.tif")


# ---- extra objects

@attack(r"dem_kertau.*unexpected variable")
def extra_variable(path):
    """A variable 'slope' added to the dem_kertau group."""
    with h5py.File(path, "r+") as f:
        f["dem_kertau"].create_dataset("slope", data=np.zeros(3, "<f4"))


@attack(r"extras.*(unexpected group|no data variable)")
def extra_group(path):
    """An empty group 'extras' at the root."""
    with h5py.File(path, "r+") as f:
        f.create_group("extras")


@attack(r"deposits.*unexpected variable.*deposits_field_9")
def extra_vector_field(path):
    """A field 'owner' added to deposits with GDAL's attributes: ogrinfo lists it."""
    with h5py.File(path, "r+") as f:
        n = f["deposits_coordX"].shape[0]
        v = f.create_dataset("deposits_field_9_owner", data=np.arange(n, dtype="<i4"),
                             maxshape=(None,), chunks=(n,))
        v.dims[0].attach_scale(f["deposits_node_coordinates"])
        set_text(v, "long_name", "owner")
        set_text(v, "geometry", "deposits")
        set_text(v, "ogr_field_name", "owner")
        set_text(v, "ogr_field_type", "Integer")


@attack(r"deposits.*units")
def date_units(path):
    """deposits' Date field counted from 1900: every date 70 years earlier."""
    with h5py.File(path, "r+") as f:
        set_text(f["deposits_field_7_discovered"], "units", "days since 1900-01-01")


@attack(r"title|attribute")
def extra_root_attribute(path):
    """A root attribute that is not part of the format ('title_override')."""
    with h5py.File(path, "r+") as f:
        set_text(f, "title_override", "lode demo (withdrawn)")


@attack(r"title")
def nul_in_title(path):
    """A NUL inside the title hides a suffix from C strings ("... -- WITHDRAWN")."""
    with h5py.File(path, "r+") as f:
        set_text(f, "title", text(f, "title").encode() + b"\0 -- WITHDRAWN")


@attack(r"title")
def string_array_title(path):
    """The title as an array of two variable-length strings."""
    with h5py.File(path, "r+") as f:
        t = text(f, "title")
        del f.attrs["title"]
        f.attrs.create("title", [t, "withdrawn"], dtype=h5py.string_dtype())


@attack(r"radiometric_k.*lode_band_names")
def string_array_band_names(path):
    """radiometric_k's lode_band_names as an array of three strings, one of them changed
    (version 1's digest hashed every string array alike; lode writes the names as one
    text, one per line)."""
    with h5py.File(path, "r+") as f:
        d = f["radiometric_k/radiometric_k"]
        names = text(d, "lode_band_names").split("\n")
        names[1] = "equivalent thorium (withdrawn)"
        del d.attrs["lode_band_names"]
        d.attrs.create("lode_band_names", names, dtype=h5py.string_dtype())


@attack(r"aeromag_tmi.*units")
def nul_in_data_units(path):
    """A NUL inside aeromag_tmi's units hides a suffix from C strings ("nT\0 -- WITHDRAWN"),
    as nul_in_title does at the root, where version 1's digest stopped at the NUL."""
    with h5py.File(path, "r+") as f:
        d = f["aeromag_tmi/aeromag_tmi"]
        set_text(d, "units", text(d, "units").encode() + b"\0 -- WITHDRAWN")


@attack(r"control character.*\\x0a")
def newline_attribute_forgery(path):
    """The forgery of issue 14 against version 1's digest: the dataset aeromag_tmi and the
    root attribute title deleted, and a root attribute whose name holds a newline put in
    their place ("title HASH\ndataset aeromag_tmi CONTENT", its value aeromag_tmi's
    lineage), so that version 1's lines of text came out the same (v1_digest)."""
    with h5py.File(path, "r+") as f:
        names = sorted((k for k in f.attrs if k != "lode_bundle_sha256" and not k.startswith("lode_signature")),
                       key=str.encode)
        last, victim = names[-1], sorted(f, key=str.encode)[0]
        var = f[victim][victim]
        lineage = text(var, "lode_lineage").encode()
        forged = "%s %s\ndataset %s %s" % (last, hashlib.sha256(text(f, last).encode()).hexdigest(), victim,
                                           text(var, "lode_content_sha256"))
        del f.attrs[last]
        del f[victim]
        set_text(f, forged, lineage)


@attack(r"lode_format_version")
def version_999(path):
    """lode_format_version = "999"."""
    with h5py.File(path, "r+") as f:
        set_text(f, "lode_format_version", "999")


@attack(r"title")
def utf8_invalid_title(path):
    """A title of bytes that are not UTF-8, though marked UTF-8."""
    with h5py.File(path, "r+") as f:
        set_text(f, "title", b"lode demo \xff\xfe")


# ---- the file around the objects

@attack(r"user block")
def user_block(path):
    """512 bytes starting like a TIFF put before the HDF5 data (HDF5 still opens it; a
    reader that sniffs the file sees a TIFF)."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(b"II*\0" + bytes(508) + data)


@attack(r"bytes follow the end")
def trailing_bytes(path):
    """A ZIP local file header appended after the HDF5 data (ZIP readers read the end)."""
    with open(path, "ab") as f:
        f.write(b"PK\x03\x04" + bytes(26) + b"payload")


@attack(r"gravity.*comment")
def object_comment(path):
    """An HDF5 object comment on the gravity variable (h5dump shows it)."""
    with h5py.File(path, "r+") as f:
        h5py.h5o.set_comment(f["gravity/gravity"].id, b"values withdrawn")


@attack(r"gravity(/x|: DAMAGED: the x coordinate variable).*outside the bundle")
def external_storage(path):
    """gravity's x coordinate rewritten with HDF5 external storage: its values are read
    from a file beside the bundle."""
    raw = os.path.join(os.path.dirname(os.path.abspath(path)), "attack_x.bin")
    with h5py.File(path, "r+") as f:
        g = f["gravity"]
        d, x = g["gravity"], g["x"]
        vals = x[...].astype("<f8")
        with open(raw, "wb") as o:
            o.write(vals.tobytes())
        keep = {k: text(x, k) for k in ("standard_name", "long_name", "units", "axis")}
        d.dims[1].detach_scale(x)
        del g["x"]
        nx = g.create_dataset("x", shape=vals.shape, dtype="<f8",
                              external=[(os.path.basename(raw), 0, vals.nbytes)])
        for k, v in keep.items():
            set_text(nx, k, v)
        nx.make_scale("x")
        d.dims[1].attach_scale(nx)


# ---- links and names

@attack(r"gravity.*external link")
def external_link(path):
    """The gravity group replaced by an external link to the same group in another file."""
    # The other file is a copy of the bundle (HDF5 1.10 crashes copying dimension
    # scales between files); its gravity grid is what a reader would then see.
    other = os.path.join(os.path.dirname(os.path.abspath(path)), "attack_other.nc")
    shutil.copyfile(path, other)
    with h5py.File(path, "r+") as f:
        del f["gravity"]
        f["gravity"] = h5py.ExternalLink("attack_other.nc", "/gravity")


@attack(r"gravity_alias.*soft link")
def soft_link(path):
    """A soft link 'gravity_alias' to the gravity group."""
    with h5py.File(path, "r+") as f:
        f["gravity_alias"] = h5py.SoftLink("/gravity")


@attack(r"same object|links to the same object")
def hard_link_twice(path):
    """A second hard link 'gravity2' to the gravity group."""
    with h5py.File(path, "r+") as f:
        f["gravity2"] = f["gravity"]


@attack(r"g{20}.*name")
def long_group_name(path):
    """geology_units renamed to 200 'g's."""
    with h5py.File(path, "r+") as f:
        f.move("geology_units", "g" * 200)


@attack(r"\\x0a")
def newline_name(path):
    """geology_units renamed with a newline and a forged report line in its name."""
    with h5py.File(path, "r+") as f:
        f.move("geology_units", "geology_units: OK (sha256 0)\nforged: OK (sha256 0)")


@attack(r"5000 bytes|too long")
def name_5000_bytes(path):
    """geology_units renamed to 5000 bytes."""
    with h5py.File(path, "r+") as f:
        f.move("geology_units", "n" * 5000)


def v1_digest(path):
    """Bundle format version 1's bundle digest (lines of text joined by newlines, names not
    escaped, values cut at a NUL, string arrays not hashed), to show what an attack hid
    from it."""
    def val(v):
        if isinstance(v, bytes):
            return v.split(b"\0")[0]
        if isinstance(v, str):
            return v.encode()
        return ",".join("%.17g" % x for x in np.ravel(v)).encode() if v.dtype.kind in "iuf" else b""
    lines = []
    with h5py.File(path, "r") as f:
        for name in sorted(f.attrs, key=str.encode):
            if name != "lode_bundle_sha256" and not name.startswith("lode_signature"):
                lines.append(b"attribute %s %s\n" % (name.encode(),
                                                     hashlib.sha256(val(f.attrs[name])).hexdigest().encode()))
        for name in sorted(f, key=str.encode):
            o = f[name]
            var = o[name] if isinstance(o, h5py.Group) else o if "lode_ogr_geometry_type" in o.attrs else None
            if var is not None:
                lines.append(b"dataset %s %s %s\n" % (
                    name.encode(), val(var.attrs["lode_content_sha256"]),
                    hashlib.sha256(val(var.attrs["lode_lineage"])).hexdigest().encode()))
    return hashlib.sha256(b"".join(lines)).hexdigest()


# ---- resource bombs (tests/e2e/bomb_util.py; checked by tests/e2e/test_bombs.py)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import bomb_util  # noqa: E402

BOMBS = {}


def bomb(fn, *args):
    """An attack from bomb_util's maker fn(src, dst, *args), applied in place."""
    def apply(path):
        orig = path + ".orig"
        os.replace(path, orig)
        try:
            fn(orig, path, *args)
        finally:
            os.remove(orig)
    apply.__doc__ = fn.__doc__ or fn.__name__
    return apply


BOMBS["bomb_huge_chunk"] = bomb(bomb_util.huge_chunk, "gravity")
BOMBS["bomb_ratio_lie"] = bomb(bomb_util.ratio_lie, "gravity")
BOMBS["bomb_overinflate"] = bomb(bomb_util.overinflate, "gravity")
BOMBS["bomb_tall_y"] = bomb(bomb_util.tall_y, "gravity")
BOMBS["bomb_wide_layer"] = bomb(bomb_util.wide_layer, "deposits")
BOMBS["bomb_big_lineage"] = bomb(bomb_util.big_lineage, "gravity")


def main(argv):
    every = dict(ATTACKS, **BOMBS)
    if len(argv) == 1:
        for name, fn in every.items():
            print("%-22s %s" % (name, " ".join(fn.__doc__.split())))
        return 0
    if len(argv) == 3 and argv[1] in every:
        every[argv[1]](argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "all":
        os.makedirs(argv[3], exist_ok=True)
        for name, fn in every.items():
            out = os.path.join(argv[3], name + ".nc")
            shutil.copyfile(argv[2], out)
            fn(out)
            print(out)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
