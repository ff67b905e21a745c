/*
 * strict_int.h -- PRIVATE to the strict check's files (strict.c, strict_vector.c): the
 * context they share and the helpers that judge one object against what lode writes.
 * Every helper returns NULL when the object is right, else a malloc'd one-line problem
 * naming the object (an allocation failure gives a fixed text, never NULL).
 */
#ifndef LODE_STRICT_INT_H
#define LODE_STRICT_INT_H

#include <stddef.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_strict.h"
#include "dtype.h"
#include "error.h"

typedef struct strict_ctx {
	lode__bundle *b;
	const lode_btree *t;
	int *byname;            /* object indexes sorted by path */
	unsigned char *claimed; /* per object: it belongs to a dataset */
} strict_ctx;

/* The kinds of attribute lode writes. */
typedef enum akind {
	A_TEXT = 1, /* text in lode's form (LODE_BT_LODE) */
	A_SCALE,    /* text in HDF5's dimension-scale form (CLASS, NAME) */
	A_F64,      /* float64: a scalar, or n values */
	A_I32,      /* int32 scalar */
	A_I64S,     /* int64: a scalar when n is 1, else n values */
	A_FILL,     /* a scalar of the variable's own type */
	A_OWNS,     /* n values (rank 1) of the variable's own type */
	A_DIMLIST,  /* DIMENSION_LIST */
	A_REFLIST,  /* REFERENCE_LIST */
} akind;

/* What one attribute of an object must be. */
typedef struct aspec {
	const char *name;
	akind kind;
	int need;         /* 1 required, 0 optional, -1 must be absent (text: why) */
	const char *text; /* A_TEXT, A_SCALE: the value it must have, NULL for any */
	size_t n;         /* A_F64: the number of values (0: one, any value); A_I64S: count */
	double v[2];      /* A_F64 with n: the values it must have */
	int any_value;    /* A_F64 with n: any values */
} aspec;

/* What a variable must be. */
typedef struct vspec {
	lode_bkind kind;
	lode_dtype dtype;            /* NUMBER */
	int rank;                    /* 0 scalar */
	unsigned long long dims[3];  /* its size */
	int unlimited;               /* every maximum unlimited (else each the size) */
	lode_blayout layout;         /* CONTIGUOUS or CHUNKED */
	unsigned long long chunk[3]; /* CHUNKED: the chunk, 0 for "at most 65536, at least 1" */
	int filtered;                /* 1: shuffle, deflate, Fletcher32; 0: none */
	int empty;                   /* no value stored */
} vspec;

/* The index of the object at path, or -1. */
int lode__strict_find(const strict_ctx *c, const char *path);
/* The objects whose path starts with prefix: byname[*from] to byname[*to - 1]. */
void lode__strict_prefix(const strict_ctx *c, const char *prefix, size_t *from, size_t *to);
/* The problem of an attribute set: attrs of object path (root: "/") against spec. */
char *lode__strict_attrs(const char *path, const lode_battr *attrs, size_t nattrs, const aspec *spec,
			 size_t nspec, lode_dtype own);
/* The problem of variable o against v. */
char *lode__strict_shape(const lode_bobj *o, const vspec *v);
/* The problem of o's dimension scales: axis k attached to want[k] (rank axes). */
char *lode__strict_scales(const strict_ctx *c, const lode_bobj *o, const int *want);
/* The problem of a scale's REFERENCE_LIST: exactly the n (variable, axis) pairs of want. */
char *lode__strict_refs(const strict_ctx *c, const lode_bobj *scale, const lode_bref *want, size_t n);
/* The problem of a grid-mapping variable (raster: with GeoTransform gt): crs_wkt the
   lineage l's target.crs_wkt, the other attributes what lode writes for it, spatial_ref
   equal to crs_wkt. */
char *lode__strict_crs(const lode_bobj *crs, const double *gt, const json_t *l);
/* A malloc'd problem text (one line); a static text when memory runs out, so free
   problems with lode__strict_free. */
char *lode__strict_fmt(const char *fmt, ...) LODE__PRINTF(1, 2);
void lode__strict_free(char *p);
/* The lineage's text at key (a path of objects, e.g. "source", "path"), or NULL. */
const char *lode__strict_lstr(const json_t *l, const char *k1, const char *k2);

/* The band dimension (index s) of multi-band raster it (lineage l) along axis 0 of its
   data variable d, and its band_name and band_units (strict_raster.c): the problem. */
char *lode__strict_raster_band(const strict_ctx *c, const lode_bundle_item *it, const json_t *l, int s,
			       int d);

/* A vector layer (strict_vector.c): its problem; claims its variables. */
char *lode__strict_vector(strict_ctx *c, const lode_bundle_item *it, int container, const json_t *lineage);

#endif /* LODE_STRICT_INT_H */
