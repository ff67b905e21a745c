/*
 * bundle.h -- the bundle module's interface to the rest of the library: writing and
 * reading lode bundles (formats/bundle_*.c, with the HDF5 C API).
 *
 * A bundle is an HDF5 file laid out so that it is also a netCDF-4 file following CF-1.8
 * and ACDD-1.3 (docs/bundle-format.md is the contract).  What netCDF-C needs from a file
 * it did not write, and that this module therefore always does: link and attribute
 * creation order tracked and indexed on the file, every group and every variable; a
 * dimension scale attached to every axis of every variable; only netCDF-4 types; text
 * attributes as fixed-length strings; `_FillValue` of the variable's own type equal to
 * the HDF5 fill value; no `_NCProperties`.  Object modification times are not stored,
 * so identical content gives identical files.
 *
 * Every HDF5 call stays on the calling thread (the library is not thread-safe here);
 * vector columns are compressed on worker threads but stored from that thread.  HDF5's
 * automatic error printing is off; errors are taken from its error stack into the
 * lode_error.
 *
 * Where things are:
 *   bundle_file.c         create, open, close, writeback; HDF5 error capture, types
 *   bundle_attr.c         text and numeric attributes, the CF grid mapping
 *   bundle_raster.c       raster items: add_raster and the lode__bvar_* chunk writer
 *   bundle_vector.c       vector layers, writing (CF-1.8 simple geometries at the root)
 *   bundle_vector_read.c  vector layers, reading back and checking
 *   bundle_read.c         listing the items, reading rasters, the root attributes
 *   bundle_check.c        the structure check of verify
 *   bundle_bounds.c       the limits on reading an untrusted bundle, the bounded inflate
 *   bundle_h5_int.h       PRIVATE to those files (handles, HDF5 helpers)
 * A new kind of item (tables, ...) gets its own bundle_<kind>.c for writing and reading,
 * its declarations in a section of this file like the raster and vector ones, its kind
 * string in lode_bundle_item, and one case in the listing of lode__bundle_items.
 *
 * hdf5.h stays out of this header.
 */
#ifndef LODE_BUNDLE_H
#define LODE_BUNDLE_H

#include <stddef.h>

#include "chunk_codec.h"
#include "dtype.h"
#include "lode_error.h"
#include "vdata.h"

typedef struct lode__bundle lode__bundle; /* a bundle open for writing or reading */
typedef struct lode__bvar lode__bvar;     /* one raster variable in it */

/* A text attribute: key and value, both borrowed. */
typedef struct lode_attr {
	const char *key;
	const char *value;
} lode_attr;

/* ---- the file (bundle_file.c) and its attributes (bundle_attr.c) ---- */

/*
 * Create path as an empty bundle open for writing; *out is NULL on failure.  The name
 * must be new (HDF5's H5F_ACC_EXCL: O_CREAT|O_EXCL, never through a symbolic link);
 * anything already there makes it fail.  Close it with lode__bundle_close.
 */
lode_status lode__bundle_create(const char *path, lode__bundle **out, lode_error *err);
/* The HDF5 library's version as linked, "1.10.8" (static storage). */
const char *lode__hdf5_version(void);
/* Set text attributes on the group or variable at path (NULL: the root group). */
lode_status lode__bundle_set_attrs(lode__bundle *b, const char *path, const lode_attr *attrs, size_t n,
				   lode_error *err);
/* Put what the bundle holds so far on disk, on another thread, while writing goes on
   (the fsync before it gets its name then has less to wait for); nothing if the last
   such sync has not finished. */
void lode__bundle_writeback(lode__bundle *b);
/* Wait for that thread, if one runs: before the process forks (a reader child), so that
   no thread of it is alive at the fork. */
void lode__bundle_writeback_wait(lode__bundle *b);
/* Set a 64-bit float root attribute. */
lode_status lode__bundle_set_double(lode__bundle *b, const char *key, double v, lode_error *err);
/*
 * What lode writes for a CRS (bundle-format.md sections 4.1, 4.2 and 5.1), computed
 * without writing it, so that the writers and verify agree: the CF grid-mapping
 * attributes in writing order (grid_mapping_name first, a text; then numbers, scalars
 * or the 2-element standard_parallel) and the attributes of the x and y coordinates.
 * A CRS that is not WKT PROJ can parse (parsed 0) gets no grid-mapping attributes and
 * projected x/y in metres, as the writers do.  PROJ alone, no GDAL (crs_cf.c).  Free
 * with lode__crs_attrs_free.
 */
typedef struct lode_cf_attr {
	const char *name;
	const char *text; /* grid_mapping_name; NULL for numbers */
	size_t n;         /* numbers: 1 (a scalar) or 2 */
	double v[2];
} lode_cf_attr;
typedef struct lode_crs_attrs {
	int parsed, geographic;
	lode_cf_attr gm[16];
	size_t ngm;
	const char *x_standard_name, *x_long_name, *x_units;
	const char *y_standard_name, *y_long_name, *y_units;
	char *own_unit; /* the CRS's own unit name when it has no UDUNITS name (owned) */
} lode_crs_attrs;
void lode__crs_attrs(const char *crs_wkt, lode_crs_attrs *out);
void lode__crs_attrs_free(lode_crs_attrs *a);
/* Close; flushes.  On error the file must be discarded.  NULL ok. */
lode_status lode__bundle_close(lode__bundle *b, lode_error *err);

/*
 * Open a bundle for reading.  LODE_EBUNDLE for what is not a regular file that HDF5 can
 * open with a lode_format_version root attribute; LODE_EIO when it cannot be found or
 * another process holds HDF5's lock on it.  Close with lode__bundle_close.
 */
lode_status lode__bundle_open(const char *path, lode__bundle **out, lode_error *err);
/* Open an existing bundle for adding attributes (signatures); close with lode__bundle_close. */
lode_status lode__bundle_open_rw(const char *path, lode__bundle **out, lode_error *err);
/*
 * Bound what reading a vector layer of b may hold in memory (lode__bundle_read_vector):
 * bytes, 0 for no bound (the default).  Whatever the bound, an opened bundle is read
 * within the limits of bundle-format.md ("Limits a reader applies"): every variable is
 * checked against what the file stores before it is read, and no chunk inflates past
 * its declared size (bundle_bounds.c).
 */
void lode__bundle_set_max_memory(lode__bundle *b, size_t bytes);

/*
 * Decode the chunks of a raster's data variable on up to n worker threads while
 * lode__bundle_read_rows reads them (0, the default: on the calling thread).  The values
 * and messages are the same; each thread holds LODE__DECODE_THREAD_CHUNKS chunks more
 * (stored and decoded copies), which the caller checks against its memory bound.
 */
#define LODE__DECODE_MAX_THREADS   4
#define LODE__DECODE_THREAD_CHUNKS 4
void lode__bundle_set_decode_threads(lode__bundle *b, int n);

/* ---- raster items (bundle_raster.c) ---- */

typedef struct lode_raster_def {
	const char *name;
	lode_dtype dtype;
	int nbands, nx, ny;
	double gt[6];
	const char *crs_wkt;
	int has_nodata;
	double nodata;
	const char *unit;       /* the variable's units when all bands share one, or NULL */
	const char *long_name;  /* or NULL */
	int chunk;              /* chunk edge in pixels */
	const char *band_names; /* several bands: their names, one per line (as lode_band_names), or NULL */
	const char *band_units; /* likewise, their units (as lode_band_units) */
} lode_raster_def;

/*
 * Add a raster: the group NAME with its coordinates (x and y at pixel centres; the band
 * dimension and the band_name and band_units labels when several), its grid mapping crs and its data variable
 * NAME (chunked, shuffled, deflated, Fletcher32; fill value the nodata), no chunk written yet.  *out (NULL on
 * failure) takes the chunks; end it with lode__bvar_finish, or lode__bvar_free.
 */
lode_status lode__bundle_add_raster(lode__bundle *b, const lode_raster_def *def, lode__bvar **out,
				    lode_error *err);
/* Chunk edge of the variable: rows and columns (the band dimension's chunk is 1). */
void lode__bvar_chunk(const lode__bvar *v, int *rows, int *cols);
/* Store an encoded chunk (lode__chunk_encode) at band band0 (0-based), rows y0, cols x0. */
lode_status lode__bvar_write_chunk(lode__bvar *v, int band0, int y0, int x0, const void *encoded, size_t len,
				   lode_error *err);
/* The variable's band count and type. */
int lode__bvar_nbands(const lode__bvar *v);
lode_dtype lode__bvar_dtype(const lode__bvar *v);
/* The variable's fill value as one element's bytes (0 when it has no nodata). */
void lode__bvar_fill(const lode__bvar *v, unsigned char out[8]);
/* The deflate level the bundle uses, for lode__chunk_encode. */
int lode__bundle_deflate_level(void);
/* CF flag_values (n values, converted to the variable's type) and flag_meanings on the
   data variable; nothing when n is 0. */
lode_status lode__bvar_set_flags(lode__bvar *v, const double *values, size_t n, const char *meanings,
				 lode_error *err);
/* Attach string attributes to the data variable, then release it. */
lode_status lode__bvar_finish(lode__bvar *v, const lode_attr *attrs, size_t n, lode_error *err);
/* Release the variable without more attributes.  NULL ok. */
void lode__bvar_free(lode__bvar *v);

/* ---- vector layers (bundle_vector.c, bundle_vector_read.c) ---- */

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

/* ---- reading (bundle_read.c; vectors: bundle_vector_read.c) ---- */

typedef struct lode_bundle_item {
	char *name;
	char *kind; /* "raster" or "vector" */
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
	char **band_names;  /* nbands entries, "" where unnamed */
	char **band_units;  /* nbands entries, "" where unknown */
	char *problem;      /* structural problem found while listing, or NULL */
	size_t chunk_bytes; /* a raster: bytes of one chunk of its data variable */
	/* vectors */
	char *geometry_type; /* lode_ogr_geometry_type, e.g. "MultiPolygon" */
	long long nfeat;
} lode_bundle_item;

/* Root attribute as a malloc'd string in *value (NULL if absent). */
lode_status lode__bundle_get_attr(lode__bundle *b, const char *key, char **value, lode_error *err);
/*
 * The bundle's items (raster groups and vector layers), in creation order (name order
 * when that index cannot be read); an item that cannot be read is listed with its
 * problem set.  Free with lode__bundle_items_free.
 */
lode_status lode__bundle_items(lode__bundle *b, lode_bundle_item **items, size_t *n, lode_error *err);
void lode__bundle_items_free(lode_bundle_item *items, size_t n); /* NULL ok */
/* Read rows [y0,y0+ny) of band b (1-based) of dataset item into buf (nx*ny values). */
lode_status lode__bundle_read_rows(lode__bundle *b, const lode_bundle_item *item, int band, int y0, int ny,
				   void *buf, lode_error *err);
/* Read a vector item back into columns (fields as the lineage lists them); *out is freed
   with lode__vdata_free.  LODE_EDAMAGED when pieces are missing or do not fit together. */
lode_status lode__bundle_read_vector(lode__bundle *b, const lode_bundle_item *item, lode_vdata **out,
				     lode_error *err);

/*
 * Copy every chunk of a raster item of an open bundle into v, as stored (no decompression,
 * no recompression), rows shifted down by y0 (a multiple of the chunk rows).  The item must
 * have v's type, bands, width and chunk shape and the same filters.
 */
lode_status lode__bvar_copy_chunks(lode__bvar *v, lode__bundle *src, const lode_bundle_item *item, int y0,
				   lode_error *err);
/* Rows per chunk of the item's data variable, for reading in chunk-aligned strips (each
   chunk then inflated once); 256 when that cannot be read. */
int lode__bundle_chunk_rows(lode__bundle *b, const lode_bundle_item *item);
/* Read the item's x and y coordinate variables (nx and ny values; caller frees). */
lode_status lode__bundle_read_coords(lode__bundle *b, const lode_bundle_item *item, double **xs, double **ys,
				     lode_error *err);

/* ---- the structure check (bundle_check.c) ---- */

/*
 * Walk every object and attribute of the bundle through both indexes, and check that
 * every variable has its dimension scales: what netCDF readers need.  *problem is a
 * malloc'd description of the first problem, or NULL when none.
 */
lode_status lode__bundle_check_structure(lode__bundle *b, char **problem, lode_error *err);

/* ---- the root attributes (bundle_read.c) ---- */

/* Root attributes as text (numbers as %.17g, arrays joined by ","), sorted by name. */
typedef struct lode_kv {
	char *key, *value;
} lode_kv;
lode_status lode__bundle_root_attrs(lode__bundle *b, lode_kv **attrs, size_t *n, lode_error *err);
void lode__kv_free(lode_kv *kv, size_t n);

#endif /* LODE_BUNDLE_H */
