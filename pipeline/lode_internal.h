/*
 * lode_internal.h -- PRIVATE to liblode: the manifest model, the plan, the error
 * helpers and the interfaces of the format modules in formats/.  Not installed;
 * nothing outside the library may include it.  Shared names carry the lode__ prefix.
 *
 * Dependencies point one way: pipeline/ calls formats/ through the declarations
 * below; only formats/ includes gdal.h, proj.h, hdf5.h and zlib.h.
 */
#ifndef LODE_INTERNAL_H
#define LODE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lode.h"

#include "dtype.h"
#include "error.h"
#include "util.h"

#include "manifest.h"

#include "sha256.h"

#include "crs_proj.h"

#include "raster_gdal.h"

/* ---- vector layers (formats/vdata.c, vector_read.c, vector_shares.c, gpkg_write.c) - */

#include "vdata.h"       /* the columnar model: lode_vdata, lode_vfield, lode_ftype */
#include "vector_read.h" /* opening a source and reading a layer through OGR */
#include "gpkg_write.h"  /* a layer out as a GeoPackage (extract) */

#include "chunk_codec.h"

#include "tiles.h"

/* ---- the bundle (formats/bundle_h5.c) ------------------------------------------ */

typedef struct lode__bundle lode__bundle; /* a bundle open for writing or reading */
typedef struct lode__bvar lode__bvar;     /* one raster variable in it */

typedef struct lode_attr {
	const char *key;
	const char *value;
} lode_attr;

typedef struct lode_raster_def {
	const char *name;
	lode_dtype dtype;
	int nbands, nx, ny;
	double gt[6];
	const char *crs_wkt;
	int has_nodata;
	double nodata;
	const char *unit;      /* the variable's units when all bands share one, or NULL */
	const char *long_name; /* or NULL */
	int chunk;             /* chunk edge in pixels */
} lode_raster_def;

lode_status lode__bundle_create(const char *path, lode__bundle **out, lode_error *err);
/* Set text attributes on the group or variable at path (NULL: the root group). */
lode_status lode__bundle_set_attrs(lode__bundle *b, const char *path, const lode_attr *attrs, size_t n,
				   lode_error *err);
/* Put what the bundle holds so far on disk, on another thread, while writing goes on
   (the fsync before it gets its name then has less to wait for); nothing if the last
   such sync has not finished. */
void lode__bundle_writeback(lode__bundle *b);
lode_status lode__bundle_set_double(lode__bundle *b, const char *key, double v, lode_error *err);
lode_status lode__bundle_add_raster(lode__bundle *b, const lode_raster_def *def, lode__bvar **out,
				    lode_error *err);
/* Threads that compress a vector layer's columns (0: one per core, the default). */
void lode__bundle_set_threads(lode__bundle *b, int threads);
/*
 * A vector layer's x and y, stored while the layer is still read: lode__xyw_encoder is
 * the column encoder to give lode_vector_read.xy (its own thread unless the bundle has
 * one thread, -j 1); lode__xyw_drain (lode_vector_read.drain, on the thread that calls
 * HDF5) stores the chunks encoded so far, in order, creating the layer's grid mapping,
 * node dimension, x and y at the first, and starts putting them on disk.  The same
 * HDF5 calls in the same order whatever the threads and timing, so the same bytes.
 * lode__bundle_add_vector stores the rest.  Free (NULL ok) after add_vector.
 */
typedef struct lode__xyw lode__xyw;
lode_status lode__bundle_xy_begin(lode__bundle *b, const char *name, const char *crs_wkt, lode__xyw **out,
				  lode_error *err);
lode__colenc *lode__xyw_encoder(lode__xyw *w);
void lode__xyw_drain(void *w);
/* The layer was read again (lode_vector_read.reread): store no more of the encoder's
   chunks; lode__bundle_add_vector writes x and y whole from the layer's values. */
void lode__xyw_discard(lode__xyw *w);
void lode__xyw_free(lode__xyw *w);
/*
 * Write a vector layer: CF-1.8 simple geometries at the root group, every name
 * prefixed with NAME_ (GDAL 3.6 reads them only there).  attrs go on the geometry
 * container variable NAME.  xy: NULL, or the writer from lode__bundle_xy_begin (same
 * name and crs_wkt) whose encoder was given d's x and y while they were read.
 */
lode_status lode__bundle_add_vector(lode__bundle *b, const char *name, const char *crs_wkt,
				    const lode_vdata *d, lode__xyw *xy, const lode_attr *attrs, size_t nattrs,
				    lode_error *err);
/* Chunk edge of the variable: rows and columns (the band dimension's chunk is 1). */
void lode__bvar_chunk(const lode__bvar *v, int *rows, int *cols);
/* Store an encoded chunk (lode__chunk_encode) at band band0 (0-based), rows y0, cols x0. */
lode_status lode__bvar_write_chunk(lode__bvar *v, int band0, int y0, int x0, const void *encoded, size_t len,
				   lode_error *err);
/* The variable's fill value as one element's bytes (0 when it has no nodata). */
void lode__bvar_fill(const lode__bvar *v, unsigned char out[8]);
/* The deflate level the bundle uses, for lode__chunk_encode. */
int lode__bundle_deflate_level(void);
/* Attach string attributes to the data variable, then release it. */
lode_status lode__bvar_finish(lode__bvar *v, const lode_attr *attrs, size_t n, lode_error *err);
void lode__bvar_free(lode__bvar *v);
/* Close; flushes.  On error the file must be discarded.  NULL ok. */
lode_status lode__bundle_close(lode__bundle *b, lode_error *err);

/* Reading. */
typedef struct lode_bundle_item {
	char *name;
	char *kind; /* "raster" */
	lode_dtype dtype;
	int nbands, nx, ny;
	double gt[6];
	char *crs_wkt;
	int has_nodata;
	double nodata;
	char *content_sha256; /* as stored, may be NULL */
	char *lineage;        /* JSON text as stored, may be NULL */
	char *source;         /* the variable's source, units and long_name attributes, or NULL */
	char *units;
	char *long_name;
	char **band_names; /* nbands entries, "" where unnamed */
	char **band_units; /* nbands entries, "" where unknown */
	char *problem;     /* structural problem found while listing, or NULL */
	/* vectors */
	char *geometry_type; /* lode_ogr_geometry_type, e.g. "MultiPolygon" */
	long long nfeat;
} lode_bundle_item;

lode_status lode__bundle_open(const char *path, lode__bundle **out, lode_error *err);
/* Open an existing bundle for adding attributes (signatures); close with lode__bundle_close. */
lode_status lode__bundle_open_rw(const char *path, lode__bundle **out, lode_error *err);
/* Root attribute as a malloc'd string in *value (NULL if absent). */
lode_status lode__bundle_get_attr(lode__bundle *b, const char *key, char **value, lode_error *err);
lode_status lode__bundle_items(lode__bundle *b, lode_bundle_item **items, size_t *n, lode_error *err);
void lode__bundle_items_free(lode_bundle_item *items, size_t n);
/* Read rows [y0,y0+ny) of band b (1-based) of dataset item into buf (nx*ny values). */
lode_status lode__bundle_read_rows(lode__bundle *b, const lode_bundle_item *item, int band, int y0, int ny,
				   void *buf, lode_error *err);
/* Read a vector item back into columns (fields as the lineage lists them). */
lode_status lode__bundle_read_vector(lode__bundle *b, const lode_bundle_item *item, lode_vdata **out,
				     lode_error *err);

/*
 * Copy every chunk of a raster item of an open bundle into v, as stored (no decompression,
 * no recompression), rows shifted down by y0 (a multiple of the chunk rows).  The item must
 * have v's type, bands, width and chunk shape and the same filters.
 */
lode_status lode__bvar_copy_chunks(lode__bvar *v, lode__bundle *src, const lode_bundle_item *item, int y0,
				   lode_error *err);
/* Rows per chunk of the item's data variable, for reading in chunk-aligned strips. */
int lode__bundle_chunk_rows(lode__bundle *b, const lode_bundle_item *item);
/* Read the item's x and y coordinate variables (nx and ny values; caller frees). */
lode_status lode__bundle_read_coords(lode__bundle *b, const lode_bundle_item *item, double **xs, double **ys,
				     lode_error *err);

/*
 * Walk every object and attribute of the bundle through both indexes, and check that
 * every variable has its dimension scales: what netCDF readers need.  *problem is a
 * malloc'd description of the first problem, or NULL when none.
 */
lode_status lode__bundle_check_structure(lode__bundle *b, char **problem, lode_error *err);

/* Root attributes as text (numbers as %.17g, arrays joined by ","), sorted by name. */
typedef struct lode_kv {
	char *key, *value;
} lode_kv;
lode_status lode__bundle_root_attrs(lode__bundle *b, lode_kv **attrs, size_t *n, lode_error *err);
void lode__kv_free(lode_kv *kv, size_t n);

/* ---- signatures (pipeline/sign.c) ---------------------------------------------- */

typedef struct lode_pubkey {
	unsigned char key[32];
	char *path; /* where it was read from, for messages */
} lode_pubkey;

/* Read a public key file written by lode keygen. */
lode_status lode__pubkey_load(const char *path, lode_pubkey *out, lode_error *err);
/*
 * Check every lode_signature_* root attribute against the bundle digest.  Appends one
 * report line per signature to *report.  *bad counts signatures that do not verify;
 * *trusted_ok counts valid ones by a key in trusted[].
 */
void lode__signatures_check(const lode_kv *root, size_t nroot, const char *bundle_digest,
			    const lode_pubkey *trusted, size_t ntrusted, char **report, int *bad,
			    int *trusted_ok, int *count);

/* ---- the digest rules, shared by writer and verifier (pipeline/digest.c) -------- */

/* Content digest: SHA-256 over the concatenated SHA-256 of each band plane. */
typedef struct lode__content_hash lode__content_hash;
lode__content_hash *lode__content_hash_new(int nbands);
void lode__content_hash_update(lode__content_hash *h, int band0, const void *data, size_t n);
void lode__content_hash_final(lode__content_hash *h, char hex[65]); /* frees h */
/*
 * Bundle digest over every root attribute (but lode_bundle_sha256 and lode_signature*)
 * and the sorted (name, content, lineage) triples of the datasets.
 */
char *lode__bundle_digest(const lode_bundle_item *items, size_t n, const lode_kv *root, size_t nroot);
/*
 * Content digest of a vector layer: SHA-256 over the concatenated SHA-256 of each part,
 * in order: x, y, z (if 3D), node_count, part_node_count, interior_ring (each as
 * little-endian values; node_count always, part arrays even when empty), then for each
 * field its values (numbers little-endian; each string as a uint64 little-endian byte
 * length and its bytes; a null as the type's zero) and its null flags (one byte each).
 */
void lode__vector_digest(const lode_vdata *d, char hex[65]);
/* Is this root attribute outside the bundle digest? */
int lode__digest_skips_attr(const char *key);

#endif /* LODE_INTERNAL_H */
