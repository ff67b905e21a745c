/*
 * bundle_canon_int.h -- PRIVATE to formats/bundle_canon.c and formats/bundle_canon_values.c
 * (the canonical encoding of bundle_canon.h): the walk's state, the encoding's
 * primitives, and what the walk asks of the values half (datatypes, attribute values,
 * a dataset's description and values).  Functions returning int give 0, or -1 with
 * c->rc and c->err set (the first failure is kept).
 */
#ifndef LODE_BUNDLE_CANON_INT_H
#define LODE_BUNDLE_CANON_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <hdf5.h>

#include "bundle_canon.h"
#include "error.h"

typedef struct lode__canon_seen {
	haddr_t addr;
	char *path; /* NULL: a free slot */
} lode__canon_seen;

typedef struct lode__canon {
	const lode__canon_sink *s;
	lode_error *err;
	lode_status rc;
	int encoding;          /* 0: first pass (paths only), 1: emitting the encoding */
	lode__canon_seen *tab; /* object address -> first path; cap a power of two */
	size_t cap, n;
	int decode_threads; /* at most, for a dataset's chunks (lode__bundle_set_decode_threads) */
	size_t max_memory;  /* the bundle's bound (0: none), which those threads must fit in */
} lode__canon;

/* ---- failures (bundle_canon.c) ---- */

/*
 * Where a failure is, printable: "'PATH'", or "attribute 'NAME' of 'PATH'" when name is
 * not NULL; control bytes shown as \xNN, long names cut ("...").
 */
#define LODE__CANON_WHERE 640
void lode__canon_where(char out[LODE__CANON_WHERE], const char *path, const char *name);
/* Record "WHERE: what" (LODE_EDAMAGED); where from lode__canon_where. */
int lode__canon_fail(lode__canon *c, const char *where, const char *fmt, ...) LODE__PRINTF(3, 4);
/* The same with HDF5's message after what. */
int lode__canon_h5fail(lode__canon *c, const char *where, const char *what);
int lode__canon_oom(lode__canon *c);

/* ---- primitives (bundle_canon.c); nothing is emitted in the first pass ---- */

void lode__canon_put(lode__canon *c, const void *p, size_t n);
void lode__canon_u8(lode__canon *c, unsigned v);
void lode__canon_u32(lode__canon *c, uint32_t v);
void lode__canon_u64(lode__canon *c, uint64_t v);
void lode__canon_bytes(lode__canon *c, const void *p, size_t n); /* u64 length, then the bytes */
void lode__canon_le(unsigned char *out, uint64_t v, int nbytes);
/* The first path of the object at address a, or NULL when no link reaches it. */
const char *lode__canon_path_of(const lode__canon *c, haddr_t a);

/* ---- datatypes and values (bundle_canon_values.c) ---- */

typedef enum lode__canon_kind {
	LODE__CK_NONE,
	LODE__CK_NUM,  /* integer or IEEE float, read little-endian */
	LODE__CK_FSTR, /* fixed-length string, every stored byte */
	LODE__CK_VSTR, /* variable-length string */
	LODE__CK_REF,  /* object reference */
	LODE__CK_VLEN, /* variable-length sequence of object references */
	LODE__CK_COMP  /* compound of NUM, FSTR and REF members */
} lode__canon_kind;

typedef struct lode__canon_type {
	lode__canon_kind kind;
	size_t size;  /* bytes of one element as read into memory */
	hid_t mem;    /* the memory type values are read with (owned), or <= 0 */
	int has_vlen; /* values hold pointers that H5Dvlen_reclaim frees */
	size_t nsub;  /* compound members, or 1 for a sequence's base */
	size_t *off;  /* compound member offsets */
	struct lode__canon_type *sub;
} lode__canon_type;

/*
 * Emit the encoding of datatype ft (a named datatype opened as an object is one) and
 * fill t, the plan for reading its values.  where names the object for messages.  Free
 * t with lode__canon_type_free (also on failure).
 */
int lode__canon_type_plan(lode__canon *c, hid_t ft, lode__canon_type *t, int depth, const char *where);
void lode__canon_type_free(lode__canon_type *t);
/* After an attribute's name: its datatype, dataspace and every element's encoding. */
int lode__canon_attr_value(lode__canon *c, hid_t a, const char *path, const char *name);
/* A dataset's datatype, dataspace, layout, filters and fill value; t gets its type plan. */
int lode__canon_dataset_head(lode__canon *c, hid_t d, const char *path, lode__canon_type *t);
/* A dataset's values digest: a chunked one's over its stored chunks
   (lode__canon_stored_values), another's known to the caller or its values read plane by
   plane. */
int lode__canon_dataset_values(lode__canon *c, hid_t d, const char *path, const lode__canon_type *t);

/*
 * The values digest of chunked dataset d, whose chunks declare chunk bytes each, over
 * its stored chunks (bundle_canon_stored.c; bundle-format.md 7.1, format 4) into out.
 * Check its storage first (lode__h5_digest_storage_problem).
 */
int lode__canon_stored_values(lode__canon *c, hid_t d, uint64_t chunk, const char *where,
			      unsigned char out[32]);

#endif /* LODE_BUNDLE_CANON_INT_H */
