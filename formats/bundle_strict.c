/*
 * bundle_strict.c -- a bundle's whole object tree read into plain data (bundle_strict.h)
 * for verify's strict check: every link of the root and of each group at the root, every
 * variable's type, shape, layout, filters, fill value, storage and attributes, and the
 * dimension scales attached to each axis and listed in each scale's REFERENCE_LIST,
 * resolved to the variables they name.
 *
 * It judges only what needs no knowledge of the format: only hard links, each object
 * linked once, names without control characters and at most LODE_MAX_NAME bytes, only
 * groups and variables, everything readable.  Whether the tree is what lode writes is
 * pipeline/strict.c's.  Links are never followed but hard ones, so a soft or external
 * link is reported, not opened.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "bundle_strict.h"
#include "error.h"
#include "util.h"

#define MAX_OBJECTS 200000 /* objects in a tree */
#define MAX_ATTRS   10000  /* attributes on one object */
#define MAX_REFS    200000 /* records in one REFERENCE_LIST */

typedef struct walk {
	lode_btree *t;
	size_t cap;
	int parent;      /* index of the group being listed, -1 the root */
	const char *dir; /* its path ("" for the root) */
	int oom;
	/* per-object addresses of attached scales and REFERENCE_LIST records, resolved at the end */
	unsigned long long (*scale_addr)[3];
	unsigned long long **ref_addr;
} walk;

/* Record the first problem only. */
static void problem(lode_btree *t, const char *fmt, ...) LODE__PRINTF(2, 3);

static void problem(lode_btree *t, const char *fmt, ...)
{
	char buf[700];
	va_list ap;

	if (t->problem)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	t->problem = lode__strdup(buf);
}

/* The name's problem (control characters, length), or NULL. */
static const char *name_problem(const char *name)
{
	if (strlen(name) > LODE_MAX_NAME)
		return "is too long";
	if (lode__has_control(name))
		return "holds a control character";
	if (!name[0])
		return "is empty";
	return NULL;
}

/* ---- attributes ---- */

/* Is s[0..n) well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF)? */
static int utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len = c < 0x80         ? 1
					 : (c >> 5) == 6  ? 2
					 : (c >> 4) == 14 ? 3
					 : (c >> 3) == 30 ? 4
							  : 0;
		unsigned long cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		if (!len || i + len > n)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Text: read a scalar fixed-length string and judge its form. */
static void read_text(hid_t a, hid_t t, lode_battr *at)
{
	size_t size = H5Tget_size(t), nul;
	hid_t mt = H5I_INVALID_HID;
	unsigned char *buf;
	int high = 0, ascii = H5Tget_cset(t) == H5T_CSET_ASCII, utf8 = H5Tget_cset(t) == H5T_CSET_UTF8;

	if (at->rank != 0 || H5Tis_variable_str(t) != 0 || size == 0 || size > MAX_ATTR_BYTES)
		return; /* form stays BAD, text unread */
	if (!(buf = malloc(size + 1)))
		return;
	mt = H5Tcopy(t);
	if (mt < 0 || H5Aread(a, mt, buf) < 0) {
		free(buf);
		if (mt >= 0)
			H5Tclose(mt);
		return;
	}
	H5Tclose(mt);
	buf[size] = '\0';
	for (nul = 0; nul < size && buf[nul]; nul++)
		high |= buf[nul] >= 0x80;
	at->text = lode__strdup((char *)buf);
	if (H5Tget_strpad(t) == H5T_STR_NULLTERM) {
		if ((nul == size || (size == 1 && nul == 0)) && (high ? utf8 && utf8_ok(buf, nul) : ascii))
			at->form = LODE_BT_LODE;
		else if (nul == size - 1 && ascii && !high)
			at->form = LODE_BT_SCALE;
	}
	free(buf);
}

/* Numbers: the type, and the values when there are few. */
static void read_numbers(hid_t a, hid_t t, lode_battr *at)
{
	lode_dtype dt = lode__h5_dtype_of(t);
	unsigned char buf[LODE_BATTR_VALUES * 8];

	if (dt == LODE_DT_UNKNOWN || H5Tequal(t, lode__h5_file_type(dt)) <= 0)
		return; /* kind stays OTHER: big-endian, padded or odd precision */
	at->kind = LODE_BK_NUMBER;
	at->dtype = dt;
	if (at->rank < 0 || at->npoints == 0 || at->npoints > LODE_BATTR_VALUES)
		return;
	if (H5Aread(a, H5T_NATIVE_DOUBLE, at->v) < 0 || H5Aread(a, lode__h5_mem_type(dt), buf) < 0)
		return;
	memcpy(at->raw, buf, lode__dtype_size(dt));
}

/* The REFERENCE_LIST records of a scale: the addresses of the variables and their axes. */
static void read_reflist(hid_t obj, hid_t a, lode_battr *at, unsigned long long **addrs)
{
	typedef struct {
		hobj_ref_t ref;
		int dim;
	} rec;
	hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(rec));
	rec *r = NULL;
	unsigned long long *out = NULL;

	hid_t ft = H5Aget_type(a);
	int ok = ft >= 0 && H5Tget_nmembers(ft) == 2 && H5Tget_member_index(ft, "dataset") >= 0 &&
		 H5Tget_member_index(ft, "dimension") >= 0 &&
		 H5Tget_member_class(ft, (unsigned)H5Tget_member_index(ft, "dataset")) == H5T_REFERENCE &&
		 H5Tget_member_class(ft, (unsigned)H5Tget_member_index(ft, "dimension")) == H5T_INTEGER;

	if (ft >= 0)
		H5Tclose(ft);
	if (!ok || mt < 0 || at->rank != 1 || at->npoints == 0 || at->npoints > MAX_REFS ||
	    H5Tinsert(mt, "dataset", HOFFSET(rec, ref), H5T_STD_REF_OBJ) < 0 ||
	    H5Tinsert(mt, "dimension", HOFFSET(rec, dim), H5T_NATIVE_INT) < 0)
		goto out;
	r = malloc(sizeof *r * (size_t)at->npoints);
	out = malloc(sizeof *out * 2 * (size_t)at->npoints);
	if (!r || !out || H5Aread(a, mt, r) < 0)
		goto out;
	for (size_t i = 0; i < at->npoints; i++) {
		hid_t o = H5Rdereference2(obj, H5P_DEFAULT, H5R_OBJECT, &r[i].ref);
		H5O_info_t oi;
		out[2 * i] = o >= 0 && H5Oget_info2(o, &oi, H5O_INFO_BASIC) >= 0 ? (unsigned long long)oi.addr
										 : UINT64_MAX;
		out[2 * i + 1] = (unsigned long long)(unsigned)r[i].dim;
		if (o >= 0)
			H5Oclose(o);
	}
	at->kind = LODE_BK_REFLIST;
	*addrs = out;
	out = NULL;
out:
	free(out);
	free(r);
	if (mt >= 0)
		H5Tclose(mt);
}

typedef struct attr_ctx {
	lode_btree *t;
	const char *owner; /* path of the object, "/" for the root */
	lode_battr *attrs;
	size_t n, cap;
	unsigned long long *refs; /* REFERENCE_LIST, when read */
	int oom;
} attr_ctx;

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
	attr_ctx *c = data;
	const char *bad = name_problem(name);
	hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, s = H5I_INVALID_HID;
	lode_battr *at;
	char shown[120];

	(void)info;
	lode__heartbeat();
	if (bad) {
		problem(c->t, "an attribute of '%s' %s: '%s' (%zu bytes)", c->owner, bad,
			lode__printable(shown, sizeof shown, name), strlen(name));
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		lode_battr *na = cap > MAX_ATTRS ? NULL : realloc(c->attrs, cap * sizeof *na);
		if (!na) {
			c->oom = cap <= MAX_ATTRS;
			problem(c->t, "'%s' has too many attributes", c->owner);
			return -1;
		}
		c->attrs = na;
		c->cap = cap;
	}
	at = &c->attrs[c->n];
	memset(at, 0, sizeof *at);
	at->rank = -1;
	if (!(at->name = lode__strdup(name))) {
		c->oom = 1;
		return -1;
	}
	c->n++;
	a = H5Aopen(obj, name, H5P_DEFAULT);
	t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
	s = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
	if (t < 0 || s < 0) {
		problem(c->t, "attribute '%s' of '%s' cannot be read", name, c->owner);
		goto out;
	}
	if (H5Sget_simple_extent_type(s) == H5S_SCALAR) {
		at->rank = 0;
		at->npoints = 1;
	} else if (H5Sget_simple_extent_type(s) == H5S_SIMPLE) {
		at->rank = H5Sget_simple_extent_ndims(s);
		at->npoints = (unsigned long long)H5Sget_simple_extent_npoints(s);
	}
	switch (H5Tget_class(t)) {
	case H5T_STRING:
		at->kind = LODE_BK_TEXT;
		read_text(a, t, at);
		break;
	case H5T_INTEGER:
	case H5T_FLOAT: read_numbers(a, t, at); break;
	case H5T_VLEN: {
		hid_t base = H5Tget_super(t);
		if (!strcmp(name, "DIMENSION_LIST") && base >= 0 && H5Tget_class(base) == H5T_REFERENCE)
			at->kind = LODE_BK_DIMLIST; /* read through H5DS below */
		if (base >= 0)
			H5Tclose(base);
		break;
	}
	case H5T_COMPOUND:
		if (!strcmp(name, "REFERENCE_LIST") && !c->refs)
			read_reflist(obj, a, at, &c->refs);
		break;
	default: break;
	}
out:
	H5Eclear2(H5E_DEFAULT);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	return 0;
}

/* Every attribute of obj, by creation order (as netCDF reads them), else by name. */
static int read_attrs(lode_btree *t, hid_t obj, const char *owner, lode_battr **attrs, size_t *n,
		      unsigned long long **refs)
{
	attr_ctx c = {t, owner, NULL, 0, 0, NULL, 0};
	hsize_t idx = 0;

	if (H5Aiterate2(obj, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, attr_cb, &c) < 0 && !c.oom) {
		for (size_t i = 0; i < c.n; i++) {
			free(c.attrs[i].name);
			free(c.attrs[i].text);
		}
		c.n = 0;
		idx = 0;
		if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &c) < 0)
			problem(t, "the attributes of '%s' cannot be listed", owner);
	}
	H5Eclear2(H5E_DEFAULT);
	*attrs = c.attrs;
	*n = c.n;
	*refs = c.refs;
	return c.oom ? -1 : 0;
}

/* ---- variables ---- */

/* The type and dataspace of variable d into o. */
static void read_shape(hid_t d, lode_bobj *o)
{
	hid_t t = H5Dget_type(d), s = H5Dget_space(d);
	hsize_t dims[3], max[3];
	int rank;

	o->rank = -1;
	if (t >= 0) {
		lode_dtype dt = lode__h5_dtype_of(t);
		if (dt != LODE_DT_UNKNOWN && H5Tequal(t, lode__h5_file_type(dt)) > 0) {
			o->kind = LODE_BK_NUMBER;
			o->dtype = dt;
		} else if (H5Tequal(t, H5T_IEEE_F32BE) > 0) {
			o->kind = LODE_BK_F32BE;
		} else if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0 &&
			   H5Tget_cset(t) == H5T_CSET_UTF8) {
			o->kind = LODE_BK_VSTRING;
		}
		H5Tclose(t);
	}
	if (s >= 0 && H5Sget_simple_extent_type(s) == H5S_SCALAR) {
		o->rank = 0;
		o->fixed = 1;
	} else if (s >= 0 && H5Sget_simple_extent_type(s) == H5S_SIMPLE &&
		   (rank = H5Sget_simple_extent_ndims(s)) >= 1 && rank <= 3 &&
		   H5Sget_simple_extent_dims(s, dims, max) == rank) {
		o->rank = rank;
		o->unlimited = o->fixed = 1;
		for (int k = 0; k < rank; k++) {
			o->dims[k] = dims[k];
			o->unlimited &= max[k] == H5S_UNLIMITED;
			o->fixed &= max[k] == dims[k];
		}
	}
	if (s >= 0)
		H5Sclose(s);
}

/* Layout, chunks, filters and fill value of variable d into o. */
static void read_storage(hid_t d, lode_bobj *o)
{
	hid_t p = H5Dget_create_plist(d);
	H5D_fill_value_t fv;
	hsize_t chunk[3];

	o->storage = H5Dget_storage_size(d);
	if (p < 0)
		return;
	switch (H5Pget_layout(p)) {
	case H5D_CONTIGUOUS: o->layout = LODE_BL_CONTIGUOUS; break;
	case H5D_COMPACT: o->layout = LODE_BL_COMPACT; break;
	case H5D_CHUNKED: o->layout = LODE_BL_CHUNKED; break;
	default: o->layout = LODE_BL_OTHER; break;
	}
	if (o->layout == LODE_BL_CHUNKED && o->rank >= 1 && H5Pget_chunk(p, o->rank, chunk) == o->rank)
		for (int k = 0; k < o->rank; k++)
			o->chunk[k] = chunk[k];
	o->external = H5Pget_external_count(p) != 0;
	o->nfilters = H5Pget_nfilters(p);
	if (o->nfilters > 8)
		o->nfilters = -1;
	for (int i = 0; i < o->nfilters; i++) {
		unsigned flags, cd[8];
		size_t ncd = 8;
		o->filters[i] = (int)H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
	}
	if (H5Pfill_value_defined(p, &fv) >= 0 && fv == H5D_FILL_VALUE_USER_DEFINED) {
		o->fill_user = 1;
		if (o->kind == LODE_BK_NUMBER)
			H5Pget_fill_value(p, lode__h5_mem_type(o->dtype), o->fill);
	}
	H5Pclose(p);
}

static herr_t scale_addr_cb(hid_t did, unsigned dim, hid_t dsid, void *data)
{
	H5O_info_t oi;

	(void)did;
	(void)dim;
	*(unsigned long long *)data =
	    H5Oget_info2(dsid, &oi, H5O_INFO_BASIC) >= 0 ? (unsigned long long)oi.addr : UINT64_MAX;
	return 1;
}

/* The address of the one scale attached to each axis of d (UINT64_MAX - 1: none,
   UINT64_MAX: several or unresolvable). */
static void read_scales(hid_t d, const lode_bobj *o, unsigned long long out[3])
{
	for (int k = 0; k < 3; k++)
		out[k] = UINT64_MAX - 1;
	if (!lode__battr_find(o->attrs, o->nattrs, "DIMENSION_LIST"))
		return;
	for (int k = 0; k < o->rank; k++) {
		int n = H5DSget_num_scales(d, (unsigned)k), at = 0;
		out[k] = UINT64_MAX;
		if (n == 0)
			out[k] = UINT64_MAX - 1;
		else if (n == 1)
			H5DSiterate_scales(d, (unsigned)k, &at, scale_addr_cb, &out[k]);
	}
	H5Eclear2(H5E_DEFAULT);
}

/* ---- the walk ---- */

static lode_bobj *new_obj(walk *w, const char *name)
{
	lode_btree *t = w->t;
	lode_bobj *o;

	if (t->nobjs == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		lode_bobj *no = cap > MAX_OBJECTS ? NULL : realloc(t->objs, cap * sizeof *no);
		unsigned long long(*sa)[3] = no ? realloc(w->scale_addr, cap * sizeof *sa) : NULL;
		unsigned long long **ra = sa ? realloc(w->ref_addr, cap * sizeof *ra) : NULL;
		if (no)
			t->objs = no;
		if (sa)
			w->scale_addr = sa;
		if (ra)
			w->ref_addr = ra;
		if (!ra) {
			w->oom = cap <= MAX_OBJECTS;
			problem(t, "the bundle holds too many objects");
			return NULL;
		}
		w->cap = cap;
	}
	o = &t->objs[t->nobjs];
	memset(o, 0, sizeof *o);
	w->ref_addr[t->nobjs] = NULL;
	o->path = w->dir[0] ? lode__sprintf("%s/%s", w->dir, name) : lode__strdup(name);
	if (!o->path) {
		w->oom = 1;
		return NULL;
	}
	o->name = strrchr(o->path, '/') ? strrchr(o->path, '/') + 1 : o->path;
	o->parent = w->parent;
	o->nfilters = 0;
	for (int k = 0; k < 3; k++)
		o->scales[k] = -1;
	t->nobjs++;
	return o;
}

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data);

/* The links of group g, by creation order when the group tracks it (netCDF's order),
   else by name. */
static void list_links(walk *w, hid_t g, const char *shown)
{
	hid_t p = H5Gget_create_plist(g);
	unsigned flags = 0;
	hsize_t at = 0;
	H5_index_t by;

	if (p < 0 || H5Pget_link_creation_order(p, &flags) < 0)
		flags = 0;
	if (p >= 0)
		H5Pclose(p);
	by = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
	if (H5Literate(g, by, H5_ITER_INC, &at, link_cb, w) < 0 && !w->oom)
		problem(w->t, "the links of %s%s%s cannot be listed", shown[0] ? "group '" : "the root group",
			shown, shown[0] ? "'" : "");
	H5Eclear2(H5E_DEFAULT);
}

/* One object the link name of group g leads to (a hard link). */
static int visit(walk *w, hid_t g, const char *name, const char *shown)
{
	H5O_info_t oi;
	hid_t obj = H5I_INVALID_HID;
	lode_bobj *o;
	size_t idx;
	int rc = 0;

	if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
		problem(w->t, "object '%s' cannot be read", shown);
		return 0;
	}
	if (oi.type != H5O_TYPE_GROUP && oi.type != H5O_TYPE_DATASET) {
		problem(w->t, "'%s' is %s, not a group or a variable", shown,
			oi.type == H5O_TYPE_NAMED_DATATYPE ? "a named datatype"
							   : "an unknown kind of object");
		return 0;
	}
	if (oi.rc != 1)
		problem(w->t, "'%s' is one of %u links to the same object (each object has one link)", shown,
			oi.rc);
	if (!(o = new_obj(w, name)))
		return w->oom ? -1 : 0;
	idx = w->t->nobjs - 1;
	o->addr = (unsigned long long)oi.addr;
	o->group = oi.type == H5O_TYPE_GROUP;
	if ((obj = H5Oopen(g, name, H5P_DEFAULT)) < 0) {
		problem(w->t, "object '%s' cannot be opened", shown);
		return 0;
	}
	if (H5Oget_comment(obj, NULL, 0) != 0)
		problem(w->t, "'%s' carries an HDF5 object comment, which lode never writes", shown);
	if (!o->group) {
		read_shape(obj, o);
		read_storage(obj, o);
	}
	if (read_attrs(w->t, obj, o->path, &o->attrs, &o->nattrs, &w->ref_addr[idx]) < 0)
		rc = -1;
	o = &w->t->objs[idx];
	if (!rc && !o->group)
		read_scales(obj, o, w->scale_addr[idx]);
	if (!rc && o->group && w->parent < 0) { /* the groups at the root: their links too */
		walk sub = *w;
		sub.parent = (int)idx;
		sub.dir = w->t->objs[idx].path;
		list_links(&sub, obj, shown);
		sub.dir = w->dir;
		sub.parent = w->parent;
		*w = sub;
		rc = w->oom ? -1 : 0;
	}
	H5Oclose(obj);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
	walk *w = data;
	const char *bad = name_problem(name);
	char shown[120], full[300];

	lode__heartbeat();
	snprintf(full, sizeof full, "%s%s%s", w->dir, w->dir[0] ? "/" : "", name);
	lode__printable(shown, sizeof shown, full);
	if (bad) {
		problem(w->t,
			"the name of '%s' (%zu bytes) %s: a name is 1 to %d bytes without control characters",
			shown, strlen(name), bad, LODE_MAX_NAME);
		return 0;
	}
	if (info->type != H5L_TYPE_HARD) {
		problem(w->t, "'%s' is %s link; a bundle holds only hard links", shown,
			info->type == H5L_TYPE_SOFT       ? "a soft"
			: info->type == H5L_TYPE_EXTERNAL ? "an external"
							  : "a user-defined");
		return 0;
	}
	return visit(w, g, name, shown) < 0 ? -1 : 0;
}

static int addr_cmp(const void *a, const void *b, void *objs)
{
	unsigned long long x = ((lode_bobj *)objs)[*(const int *)a].addr;
	unsigned long long y = ((lode_bobj *)objs)[*(const int *)b].addr;
	return x < y ? -1 : x > y;
}

/* The index of the object at address addr, or -1. */
static int find_addr(const lode_btree *t, const int *order, unsigned long long addr)
{
	size_t lo = 0, hi = t->nobjs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		unsigned long long m = t->objs[order[mid]].addr;
		if (m == addr)
			return order[mid];
		if (m < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Attached scales and REFERENCE_LIST records: addresses to object indexes. */
static int resolve(walk *w)
{
	lode_btree *t = w->t;
	int *order = malloc(sizeof *order * (t->nobjs ? t->nobjs : 1));

	if (!order)
		return -1;
	for (size_t i = 0; i < t->nobjs; i++)
		order[i] = (int)i;
	qsort_r(order, t->nobjs, sizeof *order, addr_cmp, t->objs);
	for (size_t i = 1; i < t->nobjs; i++)
		if (t->objs[order[i]].addr == t->objs[order[i - 1]].addr)
			problem(t, "'%s' and '%s' are the same object (each object has one link)",
				t->objs[order[i - 1]].path, t->objs[order[i]].path);
	for (size_t i = 0; i < t->nobjs; i++) {
		lode_bobj *o = &t->objs[i];
		const lode_battr *rl = lode__battr_find(o->attrs, o->nattrs, "REFERENCE_LIST");
		for (int k = 0; k < 3 && !o->group; k++) {
			unsigned long long a = w->scale_addr[i][k];
			o->scales[k] = a == UINT64_MAX - 1 ? -1
				       : a == UINT64_MAX   ? -2
							   : find_addr(t, order, a);
			if (o->scales[k] == -1 && a < UINT64_MAX - 1)
				o->scales[k] = -2;
		}
		if (w->ref_addr[i] && rl && rl->kind == LODE_BK_REFLIST) {
			if (!(o->refs = malloc(sizeof *o->refs * (size_t)rl->npoints))) {
				free(order);
				return -1;
			}
			o->nrefs = (size_t)rl->npoints;
			for (size_t r = 0; r < o->nrefs; r++) {
				o->refs[r].obj = w->ref_addr[i][2 * r] == UINT64_MAX
						     ? -1
						     : find_addr(t, order, w->ref_addr[i][2 * r]);
				o->refs[r].dim = (int)w->ref_addr[i][2 * r + 1];
			}
		}
	}
	free(order);
	return 0;
}

/* The file around the objects: no user block before the HDF5 data and nothing after it
   (another format's data could hide there, for readers that sniff the file), no comment
   on the root group. */
static void file_problems(hid_t file, lode_btree *t)
{
	hid_t p = H5Fget_create_plist(file);
	hsize_t ub = 0, size = 0;
	haddr_t eoa = 0;

	if (p >= 0 && H5Pget_userblock(p, &ub) >= 0 && ub != 0)
		problem(t, "the file begins with a user block of %llu bytes before the HDF5 data",
			(unsigned long long)ub);
	if (p >= 0)
		H5Pclose(p);
	if (H5Fget_eoa(file, &eoa) >= 0 && H5Fget_filesize(file, &size) >= 0 && size > eoa)
		problem(t, "%llu bytes follow the end of the HDF5 data", (unsigned long long)(size - eoa));
	if (H5Oget_comment(file, NULL, 0) != 0)
		problem(t, "the root group carries an HDF5 object comment, which lode never writes");
	H5Eclear2(H5E_DEFAULT);
}

lode_status lode__bundle_tree(lode__bundle *b, lode_btree **out, lode_error *err)
{
	lode_btree *t = calloc(1, sizeof *t);
	walk w = {t, 0, -1, "", 0, NULL, NULL};
	unsigned long long *root_refs = NULL;
	lode_status rc = LODE_OK;

	*out = NULL;
	if (!t)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (read_attrs(t, b->file, "/", &t->root, &t->nroot, &root_refs) < 0) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	file_problems(b->file, t);
	if (lode__battr_find(t->root, t->nroot, "REFERENCE_LIST") ||
	    lode__battr_find(t->root, t->nroot, "DIMENSION_LIST"))
		problem(t, "the root group has dimension-scale attributes");
	list_links(&w, b->file, "");
	if (w.oom || resolve(&w) < 0)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	H5Eclear2(H5E_DEFAULT);
	free(root_refs);
	for (size_t i = 0; i < t->nobjs && w.ref_addr; i++)
		free(w.ref_addr[i]);
	free(w.ref_addr);
	free(w.scale_addr);
	if (rc) {
		lode__btree_free(t);
		return rc;
	}
	*out = t;
	return LODE_OK;
}

static void free_attrs(lode_battr *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].text);
	}
	free(a);
}

void lode__btree_free(lode_btree *t)
{
	if (!t)
		return;
	free_attrs(t->root, t->nroot);
	for (size_t i = 0; i < t->nobjs; i++) {
		free(t->objs[i].path);
		free_attrs(t->objs[i].attrs, t->objs[i].nattrs);
		free(t->objs[i].refs);
	}
	free(t->objs);
	free(t->problem);
	free(t);
}

const lode_battr *lode__battr_find(const lode_battr *attrs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(attrs[i].name, name) == 0)
			return &attrs[i];
	return NULL;
}

lode_status lode__bundle_read_ints(lode__bundle *b, const char *path, size_t n, long long *out,
				   lode_error *err)
{
	hid_t d = H5Dopen2(b->file, path, H5P_DEFAULT), s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
	hid_t t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
	hsize_t len = 0;
	lode_status rc = LODE_OK;

	if (s < 0 || t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_ndims(s) != 1 ||
	    H5Sget_simple_extent_dims(s, &len, NULL) != 1 || len != n ||
	    (n && H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0))
		rc = lode__err(err, LODE_EDAMAGED, "variable '%s' is not %zu integers that can be read", path,
			       n);
	if (t >= 0)
		H5Tclose(t);
	if (s >= 0)
		H5Sclose(s);
	if (d >= 0)
		H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}

lode_status lode__bundle_read_texts(lode__bundle *b, const char *path, size_t n, size_t max_len, char **out,
				    lode_error *err)
{
	hid_t d = H5Dopen2(b->file, path, H5P_DEFAULT), s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
	hid_t t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID, m = H5I_INVALID_HID;
	hsize_t len = 0;
	char **raw = NULL, *why;
	int read = 0;
	uint64_t declared = 0, chunk = 0;
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	/* Its stored lengths bounded first: HDF5 allocates the length a value claims. */
	if (d >= 0 && (why = lode__h5_storage_problem(b->file, d, &declared, &chunk))) {
		rc = lode__err(err, LODE_EDAMAGED, "variable '%s': %s", path, why);
		free(why);
		goto out;
	}
	if (s < 0 || t < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) <= 0 ||
	    H5Sget_simple_extent_ndims(s) != 1 || H5Sget_simple_extent_dims(s, &len, NULL) != 1 || len != n ||
	    !(raw = calloc(n ? n : 1, sizeof *raw)) || (m = H5Tcopy(H5T_C_S1)) < 0 ||
	    H5Tset_size(m, H5T_VARIABLE) < 0 || H5Tset_cset(m, H5T_CSET_UTF8) < 0 ||
	    (n && H5Dread(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)) {
		rc =
		    lode__err(err, LODE_EDAMAGED, "variable '%s' is not %zu texts that can be read", path, n);
		goto out;
	}
	read = 1;
	for (size_t i = 0; i < n && !rc; i++) {
		if (raw[i] && strlen(raw[i]) > max_len)
			rc = lode__err(err, LODE_EDAMAGED, "variable '%s' holds a text over %zu bytes", path,
				       max_len);
		else if (!(out[i] = lode__strdup(raw[i] ? raw[i] : "")))
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
	}
out:
	if (read)
		H5Dvlen_reclaim(m, s, H5P_DEFAULT, raw);
	free(raw);
	if (rc)
		for (size_t i = 0; i < n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	if (m >= 0)
		H5Tclose(m);
	if (t >= 0)
		H5Tclose(t);
	if (s >= 0)
		H5Sclose(s);
	if (d >= 0)
		H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}
