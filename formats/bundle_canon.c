/*
 * bundle_canon.c -- the canonical encoding of a bundle's whole object tree (the walk:
 * objects, links, attributes, dataset descriptions); docs/bundle-format.md section 7.1
 * is the definition, bundle_canon.h the contract.  Datatypes, element values and the
 * reading of a dataset's values are bundle_canon_values.c's.
 *
 * Two passes over the tree, in link creation order, depth first, each hard-linked
 * object entered at its first link only: the first records every object's first path
 * (so that a reference or a second link anywhere can be resolved to it), the second
 * emits the encoding.  Links and attributes are opened by creation-order index, never by
 * name, so that no name is interpreted as a path.
 *
 * It hashes nothing (pipeline/digest.c does) and judges nothing beyond what the encoding
 * needs: which objects a bundle may hold is the structure check's (bundle_check.c).
 */
#include <stdarg.h>
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

/* ---- failures ---- */

/* s with control bytes as \xNN, cut to fit n bytes ("..." when cut). */
static void shown(const char *s, char *out, size_t n)
{
	size_t k = 0;
	const unsigned char *p = (const unsigned char *)s;

	for (; *p && k + 8 < n; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(out + k, n - k, "\\x%02x", *p);
			k += 4;
		} else {
			out[k++] = (char)*p;
		}
	}
	if (*p) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

void lode__canon_where(char out[LODE__CANON_WHERE], const char *path, const char *name)
{
	char p[300], a[300];

	shown(path, p, sizeof p);
	if (name) {
		shown(name, a, sizeof a);
		snprintf(out, LODE__CANON_WHERE, "attribute '%s' of '%s'", a, p);
	} else {
		snprintf(out, LODE__CANON_WHERE, "'%s'", p);
	}
}

int lode__canon_fail(lode__canon *c, const char *where, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (c->rc)
		return -1; /* the first failure is the one reported */
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	c->rc = lode__err(c->err, LODE_EDAMAGED, "%s: %s", where, what);
	return -1;
}

int lode__canon_h5fail(lode__canon *c, const char *where, const char *what)
{
	char ctx[LODE__CANON_WHERE + 200];

	if (c->rc) {
		H5Eclear2(H5E_DEFAULT);
		return -1;
	}
	snprintf(ctx, sizeof ctx, "%s: %s", where, what);
	c->rc = lode__h5_err(c->err, LODE_EDAMAGED, ctx);
	return -1;
}

/* Failures at an object, named by its path. */
static int fail_at(lode__canon *c, const char *path, const char *what)
{
	char w[LODE__CANON_WHERE];

	lode__canon_where(w, path, NULL);
	return lode__canon_fail(c, w, "%s", what);
}

static int h5fail_at(lode__canon *c, const char *path, const char *what)
{
	char w[LODE__CANON_WHERE];

	lode__canon_where(w, path, NULL);
	return lode__canon_h5fail(c, w, what);
}

int lode__canon_oom(lode__canon *c)
{
	if (!c->rc)
		c->rc = lode__err(c->err, LODE_ENOMEM, "out of memory");
	return -1;
}

/* ---- the encoding's primitives ---- */

void lode__canon_put(lode__canon *c, const void *p, size_t n)
{
	if (c->encoding && n)
		c->s->put(c->s->user, p, n);
}

void lode__canon_u8(lode__canon *c, unsigned v)
{
	unsigned char b = (unsigned char)v;

	lode__canon_put(c, &b, 1);
}

void lode__canon_le(unsigned char *out, uint64_t v, int nbytes)
{
	for (int i = 0; i < nbytes; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

void lode__canon_u32(lode__canon *c, uint32_t v)
{
	unsigned char b[4];

	lode__canon_le(b, v, 4);
	lode__canon_put(c, b, 4);
}

void lode__canon_u64(lode__canon *c, uint64_t v)
{
	unsigned char b[8];

	lode__canon_le(b, v, 8);
	lode__canon_put(c, b, 8);
}

void lode__canon_bytes(lode__canon *c, const void *p, size_t n)
{
	lode__canon_u64(c, n);
	lode__canon_put(c, p, n);
}

/* ---- every object's first path, by address (open addressing) ---- */

static size_t slot_of(haddr_t a, size_t cap)
{
	return (size_t)(((uint64_t)a * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

const char *lode__canon_path_of(const lode__canon *c, haddr_t a)
{
	if (!c->cap)
		return NULL;
	for (size_t i = slot_of(a, c->cap);; i = (i + 1) & (c->cap - 1)) {
		if (!c->tab[i].path)
			return NULL;
		if (c->tab[i].addr == a)
			return c->tab[i].path;
	}
}

static int remember(lode__canon *c, haddr_t a, const char *path)
{
	size_t i;
	char *copy;

	if (2 * (c->n + 1) > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		lode__canon_seen *t = calloc(cap, sizeof *t);
		if (!t)
			return lode__canon_oom(c);
		for (size_t k = 0; k < c->cap; k++)
			if (c->tab[k].path) {
				for (i = slot_of(c->tab[k].addr, cap); t[i].path; i = (i + 1) & (cap - 1))
					;
				t[i] = c->tab[k];
			}
		free(c->tab);
		c->tab = t;
		c->cap = cap;
	}
	if (!(copy = lode__strdup(path)))
		return lode__canon_oom(c);
	for (i = slot_of(a, c->cap); c->tab[i].path; i = (i + 1) & (c->cap - 1))
		;
	c->tab[i].addr = a;
	c->tab[i].path = copy;
	c->n++;
	return 0;
}

static void forget_all(lode__canon *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->tab[i].path);
	free(c->tab);
	c->tab = NULL;
	c->cap = c->n = 0;
}

/* ---- attributes ---- */

/* The name of attribute a, malloc'd; NULL on failure (c->rc set). */
static char *attr_name(lode__canon *c, hid_t a, const char *path)
{
	ssize_t len = H5Aget_name(a, 0, NULL);
	char *name;

	if (len < 0) {
		h5fail_at(c, path, "an attribute's name cannot be read");
		return NULL;
	}
	if (!(name = malloc((size_t)len + 1))) {
		lode__canon_oom(c);
		return NULL;
	}
	if (H5Aget_name(a, (size_t)len + 1, name) < 0) {
		free(name);
		h5fail_at(c, path, "an attribute's name cannot be read");
		return NULL;
	}
	return name;
}

/* Attribute i (creation order) of o, or a negative id (c->rc set). */
static hid_t open_attr(lode__canon *c, hid_t o, hsize_t i, const char *path)
{
	hid_t a = H5Aopen_by_idx(o, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);

	if (a < 0)
		h5fail_at(c, path,
			  "its attributes cannot be read in creation order (is creation order "
			  "tracked?)");
	return a;
}

/* The attributes of o (at path) in creation order, the signature set left out at the root. */
static int encode_attrs(lode__canon *c, hid_t o, const char *path, hsize_t nattrs)
{
	int root = strcmp(path, "/") == 0, rc = 0;
	char **names;
	uint64_t kept = 0;

	if (nattrs > LODE__CANON_MAX_ATTRS)
		return fail_at(c, path, "more than " LODE__CANON_MAX_ATTRS_TEXT " attributes");
	if (!(names = calloc(nattrs ? (size_t)nattrs : 1, sizeof *names)))
		return lode__canon_oom(c);
	for (hsize_t i = 0; i < nattrs && !rc; i++) {
		hid_t a = open_attr(c, o, i, path);
		if (a < 0 || !(names[i] = attr_name(c, a, path)))
			rc = -1;
		else if (!(root && c->s->skip_root_attr && c->s->skip_root_attr(names[i])))
			kept++;
		if (a >= 0)
			H5Aclose(a);
	}
	if (!rc)
		lode__canon_u64(c, kept);
	for (hsize_t i = 0; i < nattrs && !rc; i++) {
		hid_t a;
		if (root && c->s->skip_root_attr && c->s->skip_root_attr(names[i]))
			continue;
		if ((a = open_attr(c, o, i, path)) < 0) {
			rc = -1;
			break;
		}
		lode__canon_bytes(c, names[i], strlen(names[i]));
		rc = lode__canon_attr_value(c, a, path, names[i]);
		H5Aclose(a);
	}
	for (hsize_t i = 0; i < nattrs; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---- objects and links ---- */

static int walk_links(lode__canon *c, hid_t g, const char *path, int depth);

/* An object's comment (H5Oset_comment), empty when it has none. */
static int encode_comment(lode__canon *c, hid_t o, const char *path)
{
	ssize_t n = H5Oget_comment(o, NULL, 0);
	char *buf;

	if (n < 0)
		return h5fail_at(c, path, "its comment cannot be read");
	if (!(buf = malloc((size_t)n + 1)))
		return lode__canon_oom(c);
	if (n > 0 && H5Oget_comment(o, buf, (size_t)n + 1) < 0) {
		free(buf);
		return h5fail_at(c, path, "its comment cannot be read");
	}
	lode__canon_bytes(c, buf, n > 0 ? strnlen(buf, (size_t)n) : 0);
	free(buf);
	return 0;
}

/*
 * Does object o of type type track creation order: of its attributes, and of its links
 * for a group?  Without it, "in creation order" means nothing (HDF5 then lists some
 * objects in name order and refuses others).
 */
static int tracks_order(lode__canon *c, hid_t o, H5O_type_t type, const char *path)
{
	hid_t cpl = type == H5O_TYPE_GROUP            ? H5Gget_create_plist(o)
		    : type == H5O_TYPE_DATASET        ? H5Dget_create_plist(o)
		    : type == H5O_TYPE_NAMED_DATATYPE ? H5Tget_create_plist(o)
						      : H5I_INVALID_HID;
	unsigned attrs = 0, links = H5P_CRT_ORDER_TRACKED;
	int ok;

	if (cpl < 0)
		return h5fail_at(c, path, "its creation properties cannot be read");
	ok = H5Pget_attr_creation_order(cpl, &attrs) >= 0 &&
	     (type != H5O_TYPE_GROUP || H5Pget_link_creation_order(cpl, &links) >= 0);
	H5Pclose(cpl);
	if (!ok)
		return h5fail_at(c, path, "its creation properties cannot be read");
	if (!(attrs & H5P_CRT_ORDER_TRACKED) || !(links & H5P_CRT_ORDER_TRACKED))
		return fail_at(c, path, "it does not track the creation order of its attributes or links");
	return 0;
}

/* Encode object o, first reached at path: group, dataset or named datatype. */
static int encode_object(lode__canon *c, hid_t o, const char *path, int depth)
{
	H5O_info_t oi;
	lode__canon_type t = {0};
	int rc;

	lode__heartbeat();
	if (H5Oget_info2(o, &oi, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0)
		return h5fail_at(c, path, "the object cannot be read");
	switch (oi.type) {
	case H5O_TYPE_GROUP: lode__canon_u8(c, 'G'); break;
	case H5O_TYPE_DATASET: lode__canon_u8(c, 'D'); break;
	case H5O_TYPE_NAMED_DATATYPE: lode__canon_u8(c, 'T'); break;
	default: return fail_at(c, path, "an object of unknown kind");
	}
	if ((rc = tracks_order(c, o, oi.type, path)))
		return rc;
	lode__canon_bytes(c, path, strlen(path));
	if ((rc = encode_comment(c, o, path)))
		return rc;
	if (oi.type == H5O_TYPE_DATASET)
		rc = lode__canon_dataset_head(c, o, path, &t);
	else if (oi.type == H5O_TYPE_NAMED_DATATYPE) {
		char w[LODE__CANON_WHERE];
		lode__canon_where(w, path, NULL);
		rc = lode__canon_type_plan(c, o, &t, 0, w);
	}
	if (!rc)
		rc = encode_attrs(c, o, path, oi.num_attrs);
	if (!rc && oi.type == H5O_TYPE_GROUP)
		rc = walk_links(c, o, path, depth);
	if (!rc && oi.type == H5O_TYPE_DATASET)
		rc = lode__canon_dataset_values(c, o, path, &t);
	lode__canon_type_free(&t);
	return rc;
}

/* Is name usable as one step of a path? */
static int name_ok(const char *name)
{
	return name[0] && strcmp(name, ".") != 0 && !strchr(name, '/');
}

/* The name of link i (creation order) of g, malloc'd; NULL on failure (c->rc set). */
static char *link_name(lode__canon *c, hid_t g, hsize_t i, const char *path)
{
	ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
	char *name;

	if (len < 0) {
		h5fail_at(c, path, "its links cannot be read in creation order (is creation order tracked?)");
		return NULL;
	}
	if (!(name = malloc((size_t)len + 1))) {
		lode__canon_oom(c);
		return NULL;
	}
	if (H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, name, (size_t)len + 1,
			       H5P_DEFAULT) < 0) {
		free(name);
		h5fail_at(c, path, "a link's name cannot be read");
		return NULL;
	}
	return name;
}

/* A soft or external link's value: 's' target, or 'e' file and object path. */
static int encode_link_value(lode__canon *c, hid_t g, hsize_t i, const H5L_info_t *li, const char *child)
{
	char *buf;
	int rc = 0;

	if (!c->encoding)
		return 0;
	if (li->u.val_size > MAX_ATTR_BYTES)
		return fail_at(c, child, "a link value too large to read");
	if (!(buf = calloc(1, li->u.val_size + 1)))
		return lode__canon_oom(c);
	if (H5Lget_val_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, buf, li->u.val_size, H5P_DEFAULT) <
	    0) {
		rc = h5fail_at(c, child, "the link's value cannot be read");
	} else if (li->type == H5L_TYPE_SOFT) {
		lode__canon_u8(c, 's');
		lode__canon_bytes(c, buf, strnlen(buf, li->u.val_size));
	} else {
		const char *file = NULL, *obj = NULL;
		unsigned flags;
		if (H5Lunpack_elink_val(buf, li->u.val_size, &flags, &file, &obj) < 0 || !file || !obj) {
			rc = h5fail_at(c, child, "the external link's value cannot be read");
		} else {
			lode__canon_u8(c, 'e');
			lode__canon_bytes(c, file, strlen(file));
			lode__canon_bytes(c, obj, strlen(obj));
		}
	}
	free(buf);
	return rc;
}

/*
 * A hard link at child to the object at address a.  First pass: record child as the
 * object's path when it is the first, and enter a group reached for the first time.
 * Second pass: 'h' and the object at its first path, or 'H' and that first path.
 */
static int hard_link(lode__canon *c, hid_t g, hsize_t i, const char *child, haddr_t a, int depth)
{
	const char *first = lode__canon_path_of(c, a);
	hid_t o;
	int rc = 0;

	if (c->encoding && !first)
		return fail_at(c, child, "the file changed while it was read");
	if (first && (!c->encoding || strcmp(first, child) != 0)) {
		lode__canon_u8(c, 'H');
		lode__canon_bytes(c, first, strlen(first));
		return 0;
	}
	if (!c->encoding && remember(c, a, child))
		return -1;
	o = H5Oopen_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, H5P_DEFAULT);
	if (o < 0)
		return h5fail_at(c, child, "the object cannot be opened");
	if (c->encoding) {
		lode__canon_u8(c, 'h');
		rc = encode_object(c, o, child, depth + 1);
	} else if (H5Iget_type(o) == H5I_GROUP) {
		if (!(rc = tracks_order(c, o, H5O_TYPE_GROUP, child)))
			rc = walk_links(c, o, child, depth + 1);
	}
	H5Oclose(o);
	return rc;
}

/* The links of group g (at path) in creation order, and what they lead to. */
static int walk_links(lode__canon *c, hid_t g, const char *path, int depth)
{
	H5G_info_t gi;
	int rc = 0;

	if (depth > LODE__CANON_MAX_DEPTH)
		return fail_at(c, path, "groups nested too deep (more than " LODE__CANON_MAX_DEPTH_TEXT ")");
	if (H5Gget_info(g, &gi) < 0)
		return h5fail_at(c, path, "the group cannot be read");
	lode__canon_u64(c, gi.nlinks);
	for (hsize_t i = 0; i < gi.nlinks && !rc; i++) {
		H5L_info_t li;
		char *name = link_name(c, g, i, path), *child;

		if (!name)
			return -1;
		child = lode__sprintf("%s/%s", strcmp(path, "/") == 0 ? "" : path, name);
		if (!child)
			rc = lode__canon_oom(c);
		else if (!name_ok(name))
			rc = fail_at(c, child, "a link name that is empty, \".\" or holds '/'");
		else if (H5Lget_info_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, &li, H5P_DEFAULT) < 0)
			rc = h5fail_at(c, child, "the link cannot be read");
		if (!rc) {
			lode__canon_bytes(c, name, strlen(name));
			if (li.type == H5L_TYPE_HARD)
				rc = hard_link(c, g, i, child, li.u.address, depth);
			else if (li.type == H5L_TYPE_SOFT || li.type == H5L_TYPE_EXTERNAL)
				rc = encode_link_value(c, g, i, &li, child);
			else
				rc = fail_at(c, child, "a user-defined link, which no bundle holds");
		}
		free(child);
		free(name);
	}
	return rc;
}

lode_status lode__bundle_canon(lode__bundle *b, const lode__canon_sink *s, lode_error *err)
{
	static const char magic[] = "lode-bundle-digest-2\n";
	lode__canon c = {
	    .s = s, .err = err, .decode_threads = b->decode_threads, .max_memory = b->max_memory};
	H5O_info_t oi;
	hid_t root = H5Gopen2(b->file, "/", H5P_DEFAULT);

	if (root < 0 || H5Oget_info2(root, &oi, H5O_INFO_BASIC) < 0) {
		h5fail_at(&c, "/", "the root group cannot be read");
	} else if (!remember(&c, oi.addr, "/") && !tracks_order(&c, root, H5O_TYPE_GROUP, "/") &&
		   !walk_links(&c, root, "/", 0)) {
		c.encoding = 1;
		lode__canon_put(&c, magic, sizeof magic - 1);
		encode_object(&c, root, "/", 0);
	}
	if (root >= 0)
		H5Gclose(root);
	H5Eclear2(H5E_DEFAULT);
	forget_all(&c);
	return c.rc;
}
