/*
 * bundle_canon_values.c -- the value half of the canonical encoding (bundle_canon.h;
 * docs/bundle-format.md section 7.1): datatypes and dataspaces, a dataset's layout,
 * filters and fill value, and the encoding of element values, inline for attributes and
 * plane by plane for a dataset's values digest.  The walk over objects, links and
 * attributes is bundle_canon.c's.
 *
 * Values are read with HDF5's conversion into a memory type that differs from the
 * stored one only in byte order (little-endian), so each element is encoded as its
 * stored bytes, little-endian; fixed-length strings with every stored byte, padding and
 * NULs included; variable-length strings with their length; object references as the
 * path of the object.  A dataset is read in blocks of at most BLOCK_BYTES (aligned to
 * its chunks), so memory stays bounded whatever its size.  The file is untrusted: a
 * dataset's storage is checked against what the file holds before its values are read
 * (lode__h5_digest_storage_problem), and its values are read with lode__h5_read_slab, which
 * inflates no chunk past its declared size and counts what it reads as work
 * (bundle_bounds.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_canon.h"
#include "bundle_canon_int.h"
#include "bundle_h5_int.h"
#include "error.h"
#include "util.h"

#define BLOCK_BYTES     (8u << 20)            /* values read at a time */
#define CHUNK_ROW_BYTES ((uint64_t)256 << 20) /* a block may grow to a row of chunks up to this */
#define MAX_PLANES      (1u << 24)            /* planes of a dataset of rank 3 or more */
#define MAX_CD          16                    /* a filter's parameters (h5py reads no more) */
#define MAX_MEMBERS     256                   /* of a compound type */

/* ---- datatypes ---- */

/* Is float type ft IEEE 754 binary32 or binary64 exactly? */
static int is_ieee(hid_t ft, size_t size)
{
	size_t spos, epos, esize, mpos, msize;

	if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0 || H5Tget_offset(ft) != 0 ||
	    H5Tget_norm(ft) != H5T_NORM_IMPLIED)
		return 0;
	if (size == 4)
		return H5Tget_precision(ft) == 32 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 &&
		       msize == 23 && H5Tget_ebias(ft) == 127;
	if (size == 8)
		return H5Tget_precision(ft) == 64 && spos == 63 && epos == 52 && esize == 11 && mpos == 0 &&
		       msize == 52 && H5Tget_ebias(ft) == 1023;
	return 0;
}

/* Integer or float: "i" or "f" and every field of the type. */
static int num_plan(lode__canon *c, hid_t ft, H5T_class_t cls, lode__canon_type *t, const char *where)
{
	size_t size = H5Tget_size(ft), prec = H5Tget_precision(ft);
	int off = H5Tget_offset(ft);
	H5T_order_t order = H5Tget_order(ft);
	H5T_pad_t lsb = H5T_PAD_ERROR, msb = H5T_PAD_ERROR;
	int standard;

	if (H5Tget_pad(ft, &lsb, &msb) < 0 || off < 0 || (order != H5T_ORDER_LE && order != H5T_ORDER_BE))
		return lode__canon_fail(c, where, "a numeric type of unknown byte order or layout");
	if (cls == H5T_INTEGER) {
		H5T_sign_t sign = H5Tget_sign(ft);
		lode__canon_u8(c, 'i');
		lode__canon_u64(c, size);
		lode__canon_u8(c, (unsigned)order);
		lode__canon_u8(c, (unsigned)sign);
		lode__canon_u64(c, prec);
		lode__canon_u64(c, (uint64_t)off);
		lode__canon_u8(c, (unsigned)lsb);
		lode__canon_u8(c, (unsigned)msb);
		standard = (size == 1 || size == 2 || size == 4 || size == 8) && prec == 8 * size &&
			   off == 0 && (sign == H5T_SGN_NONE || sign == H5T_SGN_2);
	} else {
		size_t f[5] = {0, 0, 0, 0, 0};
		H5Tget_fields(ft, &f[0], &f[1], &f[2], &f[3], &f[4]);
		lode__canon_u8(c, 'f');
		lode__canon_u64(c, size);
		lode__canon_u8(c, (unsigned)order);
		lode__canon_u64(c, prec);
		lode__canon_u64(c, (uint64_t)off);
		lode__canon_u8(c, (unsigned)lsb);
		lode__canon_u8(c, (unsigned)msb);
		lode__canon_u8(c, (unsigned)H5Tget_inpad(ft));
		lode__canon_u8(c, (unsigned)H5Tget_norm(ft));
		for (int k = 0; k < 5; k++)
			lode__canon_u64(c, f[k]);
		lode__canon_u64(c, H5Tget_ebias(ft));
		standard = is_ieee(ft, size);
	}
	if (!standard)
		return lode__canon_fail(c, where,
					"a numeric type other than 8, 16, 32 or 64-bit integers and IEEE "
					"single or double floats");
	t->kind = LODE__CK_NUM;
	t->size = size;
	t->mem = H5Tcopy(ft);
	if (t->mem < 0 || H5Tset_order(t->mem, H5T_ORDER_LE) < 0)
		return lode__canon_h5fail(c, where, "its datatype cannot be copied");
	return 0;
}

/* String: "s", variable or not, size (0 when variable), padding and character set. */
static int str_plan(lode__canon *c, hid_t ft, lode__canon_type *t, const char *where)
{
	htri_t var = H5Tis_variable_str(ft);
	H5T_str_t pad = H5Tget_strpad(ft);
	H5T_cset_t cset = H5Tget_cset(ft);
	size_t size = H5Tget_size(ft);

	if (var < 0 || pad < H5T_STR_NULLTERM || pad > H5T_STR_SPACEPAD || cset < H5T_CSET_ASCII ||
	    cset > H5T_CSET_UTF8 || (!var && (size < 1 || size > MAX_ATTR_BYTES)))
		return lode__canon_fail(c, where, "a string type of unknown padding, character set or size");
	lode__canon_u8(c, 's');
	lode__canon_u8(c, var ? 1 : 0);
	lode__canon_u64(c, var ? 0 : size);
	lode__canon_u8(c, (unsigned)pad);
	lode__canon_u8(c, (unsigned)cset);
	t->kind = var ? LODE__CK_VSTR : LODE__CK_FSTR;
	t->size = var ? sizeof(char *) : size;
	t->has_vlen = var > 0;
	/* A memory type equal to the stored one: no conversion, the stored bytes. */
	t->mem = H5Tcopy(H5T_C_S1);
	if (t->mem < 0 || H5Tset_size(t->mem, var ? H5T_VARIABLE : size) < 0 ||
	    H5Tset_strpad(t->mem, pad) < 0 || H5Tset_cset(t->mem, cset) < 0)
		return lode__canon_h5fail(c, where, "its string type cannot be copied");
	return 0;
}

/* Compound: "c", size, members (name, offset, type), each a number, fixed string or reference. */
static int comp_plan(lode__canon *c, hid_t ft, lode__canon_type *t, int depth, const char *where)
{
	size_t size = H5Tget_size(ft);
	int n = H5Tget_nmembers(ft);

	if (n < 1 || n > MAX_MEMBERS || size > MAX_ATTR_BYTES)
		return lode__canon_fail(c, where, "a compound type with %d members", n);
	lode__canon_u8(c, 'c');
	lode__canon_u64(c, size);
	lode__canon_u64(c, (uint64_t)n);
	t->kind = LODE__CK_COMP;
	t->size = size;
	t->sub = calloc((size_t)n, sizeof *t->sub);
	t->off = calloc((size_t)n, sizeof *t->off);
	if (!t->sub || !t->off)
		return lode__canon_oom(c);
	t->nsub = (size_t)n;
	if ((t->mem = H5Tcreate(H5T_COMPOUND, size)) < 0)
		return lode__canon_h5fail(c, where, "its compound type cannot be copied");
	for (int i = 0; i < n; i++) {
		char *name = H5Tget_member_name(ft, (unsigned)i);
		hid_t mt = H5Tget_member_type(ft, (unsigned)i);
		int rc = 0;

		t->off[i] = H5Tget_member_offset(ft, (unsigned)i);
		if (!name || mt < 0)
			rc = lode__canon_h5fail(c, where, "a member of its compound type cannot be read");
		else {
			lode__canon_bytes(c, name, strlen(name));
			lode__canon_u64(c, t->off[i]);
			rc = lode__canon_type_plan(c, mt, &t->sub[i], depth + 1, where);
		}
		if (!rc && ((t->sub[i].kind != LODE__CK_NUM && t->sub[i].kind != LODE__CK_FSTR &&
			     t->sub[i].kind != LODE__CK_REF) ||
			    t->off[i] > size || t->sub[i].size > size - t->off[i]))
			rc = lode__canon_fail(c, where,
					      "a compound member that is not a number, fixed string "
					      "or reference, or lies outside the compound");
		if (!rc && H5Tinsert(t->mem, name, t->off[i], t->sub[i].mem) < 0)
			rc = lode__canon_h5fail(c, where, "its compound type cannot be copied");
		if (name)
			H5free_memory(name);
		if (mt >= 0)
			H5Tclose(mt);
		if (rc)
			return rc;
	}
	return 0;
}

int lode__canon_type_plan(lode__canon *c, hid_t ft, lode__canon_type *t, int depth, const char *where)
{
	H5T_class_t cls = H5Tget_class(ft);

	memset(t, 0, sizeof *t);
	t->mem = H5I_INVALID_HID;
	if (depth > 1)
		return lode__canon_fail(c, where, "a datatype nested more than one level");
	switch (cls) {
	case H5T_INTEGER:
	case H5T_FLOAT: return num_plan(c, ft, cls, t, where);
	case H5T_STRING: return str_plan(c, ft, t, where);
	case H5T_COMPOUND: return comp_plan(c, ft, t, depth, where);
	case H5T_REFERENCE:
		if (H5Tequal(ft, H5T_STD_REF_OBJ) <= 0)
			return lode__canon_fail(c, where, "a region reference");
		lode__canon_u8(c, 'r');
		t->kind = LODE__CK_REF;
		t->size = sizeof(hobj_ref_t);
		if ((t->mem = H5Tcopy(H5T_STD_REF_OBJ)) < 0)
			return lode__canon_h5fail(c, where, "its reference type cannot be copied");
		return 0;
	case H5T_VLEN: {
		hid_t base = H5Tget_super(ft);
		int rc;
		lode__canon_u8(c, 'v');
		t->kind = LODE__CK_VLEN;
		t->size = sizeof(hvl_t);
		t->has_vlen = 1;
		if (!(t->sub = calloc(1, sizeof *t->sub)))
			rc = lode__canon_oom(c);
		else if (base < 0)
			rc = lode__canon_h5fail(c, where, "its sequence type cannot be read");
		else if (!(rc = lode__canon_type_plan(c, base, t->sub, depth + 1, where)) &&
			 t->sub->kind != LODE__CK_REF)
			rc = lode__canon_fail(c, where,
					      "a variable-length sequence of something else than "
					      "object references");
		t->nsub = t->sub ? 1 : 0;
		if (!rc && (t->mem = H5Tvlen_create(t->sub->mem)) < 0)
			rc = lode__canon_h5fail(c, where, "its sequence type cannot be copied");
		if (base >= 0)
			H5Tclose(base);
		return rc;
	}
	default:
		return lode__canon_fail(
		    c, where, "a datatype of class %d (bitfield, opaque, enumeration, array or time)",
		    (int)cls);
	}
}

void lode__canon_type_free(lode__canon_type *t)
{
	for (size_t i = 0; t->sub && i < t->nsub; i++)
		lode__canon_type_free(&t->sub[i]);
	free(t->sub);
	free(t->off);
	if (t->mem > 0)
		H5Tclose(t->mem);
	memset(t, 0, sizeof *t);
}

/* ---- dataspaces ---- */

typedef struct space {
	int cls, rank;
	hsize_t dims[H5S_MAX_RANK], max[H5S_MAX_RANK];
	uint64_t npoints;
} space;

/* Read dataspace sp into s. */
static int read_space(lode__canon *c, hid_t sp, space *s, const char *where)
{
	H5S_class_t cls = sp >= 0 ? H5Sget_simple_extent_type(sp) : H5S_NO_CLASS;
	int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;

	memset(s, 0, sizeof *s);
	if (cls < H5S_SCALAR || cls > H5S_NULL || rank < 0 || rank > H5S_MAX_RANK ||
	    H5Sget_simple_extent_dims(sp, s->dims, s->max) < 0)
		return lode__canon_h5fail(c, where, "its dataspace cannot be read");
	s->cls = (int)cls;
	s->rank = cls == H5S_SIMPLE ? rank : 0;
	s->npoints = cls == H5S_NULL ? 0 : 1;
	for (int k = 0; k < s->rank; k++) {
		if (s->dims[k] && s->npoints > (UINT64_MAX >> 1) / s->dims[k])
			return lode__canon_fail(c, where, "a dataspace of more elements than can be counted");
		s->npoints *= s->dims[k];
	}
	return 0;
}

/* Read dataspace sp into s and emit u8 class, u32 rank, the dimensions and the maximum
   dimensions (u64 each). */
static int encode_space(lode__canon *c, hid_t sp, space *s, const char *where)
{
	if (read_space(c, sp, s, where))
		return -1;
	lode__canon_u8(c, (unsigned)s->cls);
	lode__canon_u32(c, (uint32_t)s->rank);
	for (int k = 0; k < s->rank; k++)
		lode__canon_u64(c, s->dims[k]);
	for (int k = 0; k < s->rank; k++)
		lode__canon_u64(c, s->max[k]);
	return 0;
}

/* ---- element values ---- */

static void emit(lode__canon *c, int to_values, const void *p, size_t n)
{
	if (!n)
		return;
	if (to_values)
		c->s->values_bytes(c->s->user, p, n);
	else
		lode__canon_put(c, p, n);
}

static void emit_u64(lode__canon *c, int to_values, uint64_t v)
{
	unsigned char b[8];

	lode__canon_le(b, v, 8);
	emit(c, to_values, b, 8);
}

static int encode_elems(lode__canon *c, const lode__canon_type *t, const unsigned char *buf, size_t count,
			int to_values, const char *where);

/* One element at p, as read with t->mem. */
static int encode_one(lode__canon *c, const lode__canon_type *t, const unsigned char *p, int to_values,
		      const char *where)
{
	switch (t->kind) {
	case LODE__CK_NUM:
	case LODE__CK_FSTR: emit(c, to_values, p, t->size); return 0;
	case LODE__CK_VSTR: {
		const char *s;
		size_t len;
		memcpy(&s, p, sizeof s);
		len = s ? strlen(s) : 0;
		emit_u64(c, to_values, len);
		emit(c, to_values, s, len);
		return 0;
	}
	case LODE__CK_REF: {
		hobj_ref_t r;
		const char *path;
		unsigned char one = 1, zero = 0;
		memcpy(&r, p, sizeof r);
		if (r == 0) {
			emit(c, to_values, &zero, 1);
			return 0;
		}
		if (!(path = lode__canon_path_of(c, (haddr_t)r)))
			return lode__canon_fail(c, where, "a reference to an object that no link reaches");
		emit(c, to_values, &one, 1);
		emit_u64(c, to_values, strlen(path));
		emit(c, to_values, path, strlen(path));
		return 0;
	}
	case LODE__CK_VLEN: {
		hvl_t v;
		memcpy(&v, p, sizeof v);
		emit_u64(c, to_values, v.len);
		return v.len ? encode_elems(c, t->sub, v.p, v.len, to_values, where) : 0;
	}
	case LODE__CK_COMP:
		for (size_t m = 0; m < t->nsub; m++)
			if (encode_one(c, &t->sub[m], p + t->off[m], to_values, where))
				return -1;
		return 0;
	default: return lode__canon_fail(c, where, "a value of no known type");
	}
}

static int encode_elems(lode__canon *c, const lode__canon_type *t, const unsigned char *buf, size_t count,
			int to_values, const char *where)
{
	if (t->kind == LODE__CK_NUM || t->kind == LODE__CK_FSTR) {
		emit(c, to_values, buf, count * t->size);
		return 0;
	}
	for (size_t k = 0; k < count; k++)
		if (encode_one(c, t, buf + k * t->size, to_values, where))
			return -1;
	return 0;
}

int lode__canon_attr_value(lode__canon *c, hid_t a, const char *path, const char *name)
{
	char where[LODE__CANON_WHERE];
	hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
	lode__canon_type t;
	space s;
	unsigned char *buf = NULL;
	int rc;

	lode__canon_where(where, path, name);
	if (ft < 0 || sp < 0) {
		rc = lode__canon_h5fail(c, where, "its type or dataspace cannot be read");
		memset(&t, 0, sizeof t);
		goto out;
	}
	if ((rc = lode__canon_type_plan(c, ft, &t, 0, where)) || (rc = encode_space(c, sp, &s, where)) ||
	    !s.npoints)
		goto out;
	if (s.npoints > MAX_ATTR_BYTES / t.size) {
		rc = lode__canon_fail(c, where, "an attribute larger than %u bytes", MAX_ATTR_BYTES);
		goto out;
	}
	if (!(buf = calloc((size_t)s.npoints, t.size))) {
		rc = lode__canon_oom(c);
		goto out;
	}
	if (H5Aread(a, t.mem, buf) < 0)
		rc = lode__canon_h5fail(c, where, "its value cannot be read");
	else
		rc = encode_elems(c, &t, buf, (size_t)s.npoints, 0, where);
	if (t.has_vlen)
		H5Dvlen_reclaim(t.mem, sp, H5P_DEFAULT, buf);
out:
	free(buf);
	lode__canon_type_free(&t);
	if (ft >= 0)
		H5Tclose(ft);
	if (sp >= 0)
		H5Sclose(sp);
	return rc;
}

/* ---- datasets ---- */

/* Layout (and chunk shape) and filters: u8 layout [u32 rank, u64 chunk dims], u32 count,
   then per filter u32 id, u32 flags, u32 count and the u32 parameters. */
static int encode_storage(lode__canon *c, hid_t dcpl, const char *where)
{
	H5D_layout_t layout = H5Pget_layout(dcpl);
	int nf = H5Pget_nfilters(dcpl);

	if (layout == H5D_VIRTUAL)
		return lode__canon_fail(c, where, "a virtual dataset (its values live in other files)");
	if (layout < H5D_COMPACT || layout > H5D_CHUNKED || nf < 0)
		return lode__canon_h5fail(c, where, "its storage layout cannot be read");
	if (H5Pget_external_count(dcpl) != 0)
		return lode__canon_fail(c, where, "values stored in external files");
	lode__canon_u8(c, (unsigned)layout);
	if (layout == H5D_CHUNKED) {
		hsize_t cd[H5S_MAX_RANK];
		int r = H5Pget_chunk(dcpl, H5S_MAX_RANK, cd);
		if (r < 0)
			return lode__canon_h5fail(c, where, "its chunk shape cannot be read");
		lode__canon_u32(c, (uint32_t)r);
		for (int k = 0; k < r; k++)
			lode__canon_u64(c, cd[k]);
	}
	lode__canon_u32(c, (uint32_t)nf);
	for (int i = 0; i < nf; i++) {
		unsigned flags = 0, cd[MAX_CD];
		size_t ncd = MAX_CD;
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
		if (id < 0)
			return lode__canon_h5fail(c, where, "its filter pipeline cannot be read");
		if (ncd > MAX_CD)
			return lode__canon_fail(c, where, "a filter with more than %d parameters", MAX_CD);
		lode__canon_u32(c, (uint32_t)id);
		lode__canon_u32(c, flags);
		lode__canon_u32(c, (uint32_t)ncd);
		for (size_t k = 0; k < ncd; k++)
			lode__canon_u32(c, cd[k]);
	}
	return 0;
}

/* u8 fill-value status, then the fill value's element encoding when user-defined. */
static int encode_fill(lode__canon *c, hid_t dcpl, const lode__canon_type *t, const char *where)
{
	H5D_fill_value_t st;
	unsigned char buf[16];

	if (H5Pfill_value_defined(dcpl, &st) < 0 || st < H5D_FILL_VALUE_UNDEFINED ||
	    st > H5D_FILL_VALUE_USER_DEFINED)
		return lode__canon_h5fail(c, where, "its fill value cannot be read");
	lode__canon_u8(c, (unsigned)st);
	if (st != H5D_FILL_VALUE_USER_DEFINED)
		return 0;
	if (t->kind != LODE__CK_NUM)
		return lode__canon_fail(c, where, "a fill value of a type other than a number");
	if (H5Pget_fill_value(dcpl, t->mem, buf) < 0)
		return lode__canon_h5fail(c, where, "its fill value cannot be read");
	lode__canon_put(c, buf, t->size);
	return 0;
}

int lode__canon_dataset_head(lode__canon *c, hid_t d, const char *path, lode__canon_type *t)
{
	char where[LODE__CANON_WHERE];
	hid_t ft = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
	space s;
	int rc;

	memset(t, 0, sizeof *t);
	lode__canon_where(where, path, NULL);
	if (ft < 0 || sp < 0 || dcpl < 0)
		rc = lode__canon_h5fail(c, where, "the dataset cannot be read");
	else if (!(rc = lode__canon_type_plan(c, ft, t, 0, where)) &&
		 !(rc = encode_space(c, sp, &s, where)) && !(rc = encode_storage(c, dcpl, where)))
		rc = encode_fill(c, dcpl, t, where);
	if (ft >= 0)
		H5Tclose(ft);
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return rc;
}

/* What reading a dataset's values takes. */
typedef struct reader {
	lode__canon *c;
	hid_t d, fsp; /* fsp: for a scalar's values; blocks are read by lode__h5_read_slab */
	const lode__canon_type *t;
	const space *s;
	hsize_t chunk[H5S_MAX_RANK]; /* 0 when not chunked */
	unsigned char *buf;
	const char *where;
	int threads; /* decoding its chunks (lode__h5_read_slab_mt) */
} reader;

/* Read the block of count elements at start (a hyperslab) and encode them; planes of
   inner elements each when each_plane, else as one run. */
static int read_block(reader *r, const hsize_t *start, const hsize_t *count, uint64_t nelem, int each_plane,
		      uint64_t inner)
{
	lode__canon *c = r->c;
	/* The block's shape, for freeing variable-length values. */
	hid_t msp = H5Screate_simple(r->s->rank, count, NULL);
	lode_error e;
	int rc = 0;

	memset(r->buf, 0, (size_t)nelem * r->t->size);
	if (msp < 0)
		rc = lode__canon_h5fail(c, r->where, "its values cannot be read");
	else if (lode__h5_read_slab_mt(r->d, r->t->mem, start, count, r->buf, r->threads, &e, LODE_EDAMAGED,
				       r->where)) {
		if (!c->rc) { /* the first failure is the one reported */
			*c->err = e;
			c->rc = e.code;
		}
		rc = -1;
	}
	for (uint64_t k = 0; !rc && each_plane && k < nelem / inner; k++) {
		c->s->values_plane(c->s->user);
		rc = encode_elems(c, r->t, r->buf + (size_t)(k * inner) * r->t->size, (size_t)inner, 1,
				  r->where);
	}
	if (!rc && !each_plane)
		rc = encode_elems(c, r->t, r->buf, (size_t)nelem, 1, r->where);
	if (r->t->has_vlen && msp >= 0)
		H5Dvlen_reclaim(r->t->mem, msp, H5P_DEFAULT, r->buf);
	if (msp >= 0)
		H5Sclose(msp);
	return rc;
}

/*
 * Every value of a simple dataspace of rank >= 1 with no zero dimension, in row-major
 * order, in blocks: axis a is the first whose inner size (elements after it) fits in a
 * block, blocks run along it (a multiple of its chunk edge), the axes before it count
 * like an odometer.  Rank >= 3: a plane opens at each index of axis 0.
 */
static int read_blocks(reader *r, uint64_t budget)
{
	const space *s = r->s;
	int rank = s->rank, a = 0, planes = rank >= 3, rc = 0;
	uint64_t inner[H5S_MAX_RANK], len;
	hsize_t idx[H5S_MAX_RANK] = {0}, start[H5S_MAX_RANK], count[H5S_MAX_RANK];
	hsize_t plane_now = (hsize_t)-1;

	inner[rank - 1] = 1;
	for (int k = rank - 2; k >= 0; k--)
		inner[k] =
		    inner[k + 1] > UINT64_MAX / s->dims[k + 1] ? UINT64_MAX : inner[k + 1] * s->dims[k + 1];
	while (a < rank - 1 && inner[a] > budget)
		a++;
	len = budget / inner[a];
	if (r->chunk[a] && len >= r->chunk[a])
		len -= len % r->chunk[a];
	if (len > s->dims[a])
		len = s->dims[a];
	for (;;) {
		for (hsize_t pos = 0; pos < s->dims[a] && !rc; pos += len) {
			hsize_t cnt = s->dims[a] - pos < len ? s->dims[a] - pos : len;
			for (int k = 0; k < rank; k++) {
				start[k] = k < a ? idx[k] : k == a ? pos : 0;
				count[k] = k < a ? 1 : k == a ? cnt : s->dims[k];
			}
			if (planes && a > 0 && idx[0] != plane_now) {
				r->c->s->values_plane(r->c->s->user);
				plane_now = idx[0];
			}
			rc = read_block(r, start, count, cnt * inner[a], planes && a == 0, inner[0]);
		}
		if (rc)
			return rc;
		{
			int k = a - 1;
			for (; k >= 0; k--) {
				if (++idx[k] < s->dims[k])
					break;
				idx[k] = 0;
			}
			if (k < 0)
				return 0;
		}
	}
}

/*
 * The elements a block may hold: at least one whole row of chunks along the axis blocks
 * run on (read_blocks), so that every chunk is decoded once, not once per block that
 * cuts it (a 16384-wide Float32 raster in 8 MiB blocks of 128 rows decoded each 512-row
 * chunk four times, and a well-compressed one then overran the reading's work bound);
 * unless such a row is over CHUNK_ROW_BYTES, when memory wins and chunks are decoded
 * again.  The size checks (bundle_bounds.c) have bounded what a chunk may declare.
 */
static uint64_t chunk_row_budget(const space *s, const hsize_t *chunk, uint64_t budget, size_t size)
{
	uint64_t inner = 1, row;
	int a;

	if (s->rank < 1 || !chunk[0])
		return budget;
	for (a = s->rank - 1; a > 0; a--) { /* the axis read_blocks runs along */
		if (inner > UINT64_MAX / s->dims[a] || inner * s->dims[a] > budget)
			break;
		inner *= s->dims[a];
	}
	if (!chunk[a] || inner > UINT64_MAX / chunk[a])
		return budget;
	row = inner * (chunk[a] < s->dims[a] ? chunk[a] : s->dims[a]);
	if (row <= budget || row > CHUNK_ROW_BYTES / size)
		return budget;
	return row;
}

/*
 * The threads that may decode the chunks of r's dataset (blocks of size bytes): what
 * the caller allowed (lode__bundle_set_decode_threads), as many as fit in the bundle's
 * memory bound beside the block and the three chunk buffers of one thread, each taking
 * LODE__DECODE_THREAD_CHUNKS chunks more; 0 below two, or for a dataset of one chunk.
 */
static int decode_threads(const lode__canon *c, const reader *r, uint64_t size)
{
	uint64_t chunk = r->t->size, nchunks = 1, spare, n;

	if (c->decode_threads < 2 || !r->chunk[0])
		return 0;
	for (int k = 0; k < r->s->rank; k++) {
		chunk *= r->chunk[k];
		nchunks *= r->chunk[k] ? (r->s->dims[k] + r->chunk[k] - 1) / r->chunk[k] : 1;
	}
	if (nchunks < 2 || !chunk)
		return 0;
	if (!c->max_memory)
		return c->decode_threads;
	if ((uint64_t)c->max_memory < size + 3 * chunk)
		return 0;
	spare = c->max_memory - size - 3 * chunk;
	n = spare / (LODE__DECODE_THREAD_CHUNKS * chunk);
	return n < 2 ? 0 : n < (uint64_t)c->decode_threads ? (int)n : c->decode_threads;
}

/* Read every value of dataset d (type plan t, space s) into the values digest's planes. */
static int read_values(lode__canon *c, hid_t d, const lode__canon_type *t, const space *s, const char *where)
{
	reader r = {.c = c, .d = d, .t = t, .s = s, .where = where};
	uint64_t budget = BLOCK_BYTES / t->size ? BLOCK_BYTES / t->size : 1, size;
	hid_t dcpl = H5Dget_create_plist(d);
	int rc = 0, empty = 0;

	if (s->cls == H5S_NULL)
		return 0;
	if (s->rank >= 3 && s->dims[0] > MAX_PLANES)
		return lode__canon_fail(c, where, "more than %u planes", MAX_PLANES);
	for (int k = 0; k < s->rank; k++)
		empty |= s->dims[k] == 0;
	if (s->rank < 3)
		c->s->values_plane(c->s->user);
	if (empty) { /* planes without values, or one empty plane */
		for (hsize_t p = 0; s->rank >= 3 && p < s->dims[0]; p++)
			c->s->values_plane(c->s->user);
		if (dcpl >= 0)
			H5Pclose(dcpl);
		return 0;
	}
	if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, H5S_MAX_RANK, r.chunk) < 0)
		memset(r.chunk, 0, sizeof r.chunk);
	budget = chunk_row_budget(s, r.chunk, budget, t->size);
	size = (s->npoints < budget ? s->npoints : budget) * t->size;
	r.threads = decode_threads(c, &r, size);
	r.fsp = H5Dget_space(d);
	r.buf = malloc(size ? (size_t)size : 1);
	if (r.fsp < 0)
		rc = lode__canon_h5fail(c, where, "its dataspace cannot be read");
	else if (!r.buf)
		rc = lode__canon_oom(c);
	else if (s->rank == 0) { /* a scalar: one element */
		lode__work_done(t->size);
		memset(r.buf, 0, t->size);
		if (H5Dread(d, t->mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, r.buf) < 0)
			rc = lode__canon_h5fail(c, where, "its value cannot be read");
		else
			rc = encode_elems(c, t, r.buf, 1, 1, where);
		if (t->has_vlen)
			H5Dvlen_reclaim(t->mem, r.fsp, H5P_DEFAULT, r.buf);
	} else {
		rc = read_blocks(&r, budget);
	}
	free(r.buf);
	if (r.fsp >= 0)
		H5Sclose(r.fsp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return rc;
}

/* Before any value is read: does the file hold what dataset d declares (bundle_bounds.c)?
 *chunk gets the bytes one of its chunks declares (0: not chunked). */
static int storage_check(lode__canon *c, hid_t d, const char *where, uint64_t *chunk)
{
	uint64_t declared = 0;
	hid_t f = H5Iget_file_id(d);
	char *problem = f >= 0 ? lode__h5_digest_storage_problem(f, d, &declared, chunk) : NULL;
	int rc = 0;

	if (f < 0)
		rc = lode__canon_h5fail(c, where, "its file cannot be found");
	else if (problem)
		rc = lode__canon_fail(c, where, "%s", problem);
	free(problem);
	if (f >= 0)
		H5Fclose(f);
	return rc;
}

/* Do the stored bytes of a dataset of type t hold its values (numbers, fixed-length
   strings), not references to them (a variable-length string or sequence lives in the
   global heap, a chunk holds its address; an object reference is an address)? */
static int bytes_are_values(const lode__canon_type *t)
{
	if (t->kind == LODE__CK_COMP) {
		for (size_t i = 0; i < t->nsub; i++)
			if (t->sub[i].kind != LODE__CK_NUM && t->sub[i].kind != LODE__CK_FSTR)
				return 0;
		return 1;
	}
	return t->kind == LODE__CK_NUM || t->kind == LODE__CK_FSTR;
}

/* Is dataset d chunked?  -1 when its layout cannot be read. */
static int is_chunked(hid_t d)
{
	hid_t dcpl = H5Dget_create_plist(d);
	H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;

	if (dcpl >= 0)
		H5Pclose(dcpl);
	return layout < 0 ? -1 : layout == H5D_CHUNKED;
}

int lode__canon_dataset_values(lode__canon *c, hid_t d, const char *path, const lode__canon_type *t)
{
	char where[LODE__CANON_WHERE];
	unsigned char digest[32];
	uint64_t chunk = 0;
	int chunked = is_chunked(d), rc;
	hid_t sp;
	space s;

	lode__canon_where(where, path, NULL);
	if (chunked < 0)
		return lode__canon_h5fail(c, where, "its storage layout cannot be read");
	/* A chunked dataset of values stored in its chunks: its stored chunks (format 4),
	   never a digest of its values.  One of variable-length strings or sequences, or
	   of references, is digested by its values: its chunks hold addresses. */
	if (chunked && bytes_are_values(t)) {
		if (!(rc = storage_check(c, d, where, &chunk)) &&
		    !(rc = lode__canon_stored_values(c, d, chunk, where, digest)))
			lode__canon_put(c, digest, 32);
		return rc;
	}
	if (c->s->known_values && c->s->known_values(c->s->user, path, digest)) {
		lode__canon_put(c, digest, 32);
		return 0;
	}
	sp = H5Dget_space(d);
	rc = read_space(c, sp, &s, where);
	if (sp >= 0)
		H5Sclose(sp);
	if (!rc)
		rc = storage_check(c, d, where, &chunk);
	if (!rc)
		rc = read_values(c, d, t, &s, where);
	c->s->values_end(c->s->user, digest);
	if (!rc)
		lode__canon_put(c, digest, 32);
	return rc;
}
