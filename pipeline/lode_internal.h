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

#if defined(__GNUC__)
#define LODE__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LODE__PRINTF(a, b)
#endif

/* ---- errors (pipeline/error.c) ---------------------------------------------- */

/* Set the root cause: replaces any message.  Returns code for "return lode__err(...)". */
lode_status lode__err(lode_error *err, lode_status code, const char *fmt, ...) LODE__PRINTF(3, 4);
/* Prepend one line of context ("dataset 'x': ") to the current message; keeps the code. */
lode_status lode__err_ctx(lode_error *err, const char *fmt, ...) LODE__PRINTF(2, 3);
void lode__err_clear(lode_error *err);

/* ---- small utilities (pipeline/util.c) --------------------------------------- */

char *lode__strdup(const char *s);                            /* NULL-safe; NULL on ENOMEM */
char *lode__sprintf(const char *fmt, ...) LODE__PRINTF(1, 2); /* malloc'd, NULL on ENOMEM */
/* Read a whole file (NUL-terminated); refuses files larger than max_bytes. */
lode_status lode__read_file(const char *path, size_t max_bytes, char **text, size_t *len, lode_error *err);
/* Folder part of a path ("." if none), malloc'd. */
char *lode__dirname(const char *path);
/* Join dir and a relative path; an absolute path is returned as is.  malloc'd. */
char *lode__path_join(const char *dir, const char *rel);
/*
 * Progress heartbeat for a child process reading an untrusted bundle: readers call
 * lode__heartbeat() as they go; it writes a byte to the fd given to lode__heartbeat_fd
 * (none by default).  Async-signal-safe, never blocks for long.
 */
void lode__heartbeat_fd(int fd);
void lode__heartbeat(void);
/* Lower-case hex of n bytes into out (2n+1 chars). */
void lode__hex(const unsigned char *bytes, size_t n, char *out);
/* n texts (NULL counts as "") joined by newlines, malloc'd; NULL when all are empty or on
   out of memory (then *oom is set). */
char *lode__join_lines(const char *const *texts, size_t n, int *oom);
/* "YYYY-MM-DDTHH:MM:SSZ" for t, malloc'd; NULL on failure. */
char *lode__iso_utc(time_t t);

/* ---- data types --------------------------------------------------------------- */

typedef enum lode_dtype {
	LODE_DT_UNKNOWN = 0,
	LODE_DT_U8,
	LODE_DT_I8,
	LODE_DT_U16,
	LODE_DT_I16,
	LODE_DT_U32,
	LODE_DT_I32,
	LODE_DT_U64,
	LODE_DT_I64,
	LODE_DT_F32,
	LODE_DT_F64
} lode_dtype;

size_t lode__dtype_size(lode_dtype t);
const char *lode__dtype_name(lode_dtype t); /* GDAL's names: Byte, Int16, Float32 ... */
lode_dtype lode__dtype_from_name(const char *name);
/* Is v exactly representable in t (integers in range, no fraction)? */
int lode__dtype_holds(lode_dtype t, double v);

/* ---- the manifest model (pipeline/manifest.c, formats/manifest_yaml.c) -------- */

typedef struct lode_meta {
	char *key; /* ACDD attribute name */
	char *value;
} lode_meta;

typedef struct lode_dataset_spec {
	char *name;
	char *source;      /* as written in the manifest */
	char *source_path; /* resolved against the manifest's folder */
	char *resampling;  /* GDAL name; default "nearest" */
	int *bands;        /* 1-based; NULL = all */
	size_t nbands;
	int has_nodata;
	double nodata;
	char *assume_crs; /* NULL unless given */
	char *operation;  /* NULL unless given */
	int has_resolution;
	double xres, yres;
	int has_error_threshold;
	double error_threshold;
	/* vector layers */
	char *layer;         /* which layer of a multi-layer source, or NULL */
	char **open_options; /* NULL-terminated GDAL open options, or NULL */
	int has_clip, clip;  /* cut features to target.bounds (default: keep whole) */
	char *where;         /* OGR attribute filter, or NULL */
	int has_resampling, has_bands;
	int line, column; /* where the entry starts in the manifest (1-based) */
} lode_dataset_spec;

typedef struct lode_manifest {
	char *path; /* as given */
	char *dir;  /* folder relative paths are resolved against */
	char *text; /* the manifest's bytes, kept for the bundle */
	size_t text_len;
	lode_meta *meta; /* bundle: keys, in manifest order */
	size_t nmeta;
	char *target_crs;       /* as written */
	double bounds[4];       /* xmin ymin xmax ymax in the target CRS */
	double xres, yres;      /* > 0 */
	double error_threshold; /* pixels, default 0.125 */
	double max_error_m;     /* default: no limit (HUGE_VAL) */
	int allow_ballpark;     /* default 0 */
	int confine_sources;    /* sources must lie inside the manifest's folder; default 0 */
	lode_dataset_spec *datasets;
	size_t ndatasets;
} lode_manifest;

/* Parse and validate a manifest file.  Errors carry "FILE:LINE:COL: key: problem". */
lode_status lode__manifest_load(const char *path, lode_manifest **out, lode_error *err);
void lode__manifest_free(lode_manifest *m);
/* Is name acceptable as a dataset name ([A-Za-z0-9_-], starts with a letter, <= 64)? */
int lode__name_ok(const char *name);

/* ---- SHA-256 (formats/sha256.c, OpenSSL libcrypto) ----------------------------- */

typedef struct lode__sha256 lode__sha256;
lode__sha256 *lode__sha256_new(void);
void lode__sha256_update(lode__sha256 *h, const void *data, size_t n);
void lode__sha256_final(lode__sha256 *h, unsigned char out[32]); /* also frees h */
void lode__sha256_hex(const void *data, size_t n, char out[65]);
lode_status lode__sha256_file(const char *path, char out[65], uint64_t *size, lode_error *err);
/*
 * The same digest on a background thread: start it, then either wait for its result
 * (exactly lode__sha256_file's, error included) or cancel it; both free the job.  start
 * returns NULL when it cannot start a thread; wait(NULL, path, ...) then hashes path on
 * the calling thread.
 */
typedef struct lode__sha256_job lode__sha256_job;
lode__sha256_job *lode__sha256_file_start(const char *path);
lode_status lode__sha256_file_wait(lode__sha256_job *j, const char *path, char out[65], uint64_t *size,
				   lode_error *err);
void lode__sha256_file_cancel(lode__sha256_job *j); /* NULL ok */

/* ---- coordinate reference systems and operations (formats/crs_proj.c) --------- */

typedef struct lode_op {
	char *name;      /* PROJ's name for the whole operation */
	char *code;      /* "EPSG:8659": the operation's own code, or that of the registered
			    operation with the same datum-changing steps, or those steps'
			    codes joined by " + "; NULL when it only converts (no datum change) */
	char *pipeline;  /* PROJ pipeline string that is applied */
	double accuracy; /* metres; < 0 when unknown */
	int ballpark;
	int explicit_op; /* chosen by the manifest's operation: key */
	char **grids;    /* short names of the grids used */
	size_t ngrids;
	char *candidates_json; /* JSON array of every candidate considered, with reasons */
	char *steps_json;      /* JSON array of the steps: name, code, kind */
} lode_op;

void lode__op_clear(lode_op *op);

/* Parse any CRS string PROJ/GDAL accept into WKT2:2019.  *wkt malloc'd. */
lode_status lode__crs_to_wkt(const char *user, char **wkt, lode_error *err);
/* A short label: "EPSG:4326" when identified, else the CRS name.  malloc'd. */
char *lode__crs_label(const char *wkt);

typedef struct lode_policy {
	double max_error_m;
	int allow_ballpark;
} lode_policy;

/*
 * Choose the operation from src to dst under policy.  lonlat_aoi is the source's
 * extent in degrees (west, south, east, north) or NULL.  explicit_op: the manifest's
 * operation: value or NULL.  Fills *op; on refusal the error says which candidates
 * there were and why each was refused.
 */
lode_status lode__crs_choose_operation(const char *src_wkt, const char *dst_wkt, const double *lonlat_aoi,
				       const lode_policy *policy, const char *explicit_op, lode_op *op,
				       lode_error *err);

/* Whether an operation's pipeline is PROJ's "+proj=noop" (a ballpark offset between two
   datums, say), which leaves every coordinate as it is: callers skip the transformation. */
int lode__op_is_noop(const char *pipeline);
/* Transform a box with the given pipeline (densified edges).  out: xmin ymin xmax ymax. */
lode_status lode__crs_transform_bounds(const char *src_wkt, const char *dst_wkt, const char *pipeline,
				       const double in[4], double out[4], lode_error *err);
/* The box of a CRS-less-datum-change conversion from a CRS to its geographic CRS. */
lode_status lode__crs_bounds_to_lonlat(const char *wkt, const double in[4], double out[4], lode_error *err);
/* PROJ release and EPSG database version, malloc'd. */
void lode__proj_versions(char **proj_version, char **epsg_version);

/* ---- rasters through GDAL (formats/raster_gdal.c) ----------------------------- */

typedef struct lode__raster lode__raster;

typedef struct lode_band_info {
	lode_dtype dtype;
	int has_nodata;
	double nodata;
	char *description; /* may be "" */
	char *unit;        /* may be "" */
} lode_band_info;

typedef struct lode_raster_info {
	char *driver;
	int width, height, nbands;
	int has_geotransform;
	double gt[6];
	char *crs_wkt; /* WKT2:2019 or NULL when the source has no CRS */
	lode_band_info *bands;
} lode_raster_info;

void lode__gdal_init(void);
const char *lode__gdal_version(void); /* "3.6.2" */
/* open_options: GDAL open options (NULL-terminated) or NULL. */
lode_status lode__raster_open(const char *path, const char *const *open_options, lode__raster **out,
			      lode_error *err);
const lode_raster_info *lode__raster_info(const lode__raster *r);
void lode__raster_close(lode__raster *r);

typedef struct lode_warp_params {
	const char *src_crs_wkt; /* the source CRS to use (assumed or its own) */
	const char *dst_crs_wkt;
	const char *pipeline; /* the chosen operation */
	double gt[6];         /* target grid */
	int nx, ny;
	const int *bands; /* 1-based source bands */
	int nbands;
	const char *resampling;
	double error_threshold; /* pixels; 0 = exact */
	int has_src_nodata;     /* source nodata, one value for every band */
	double src_nodata;
	int has_dst_nodata;
	double dst_nodata;
	lode_dtype dtype;
} lode_warp_params;

typedef struct lode__warper lode__warper;
lode_status lode__warper_new(lode__raster *src, const lode_warp_params *p, lode__warper **out,
			     lode_error *err);
/* Warp a window of the target grid into buf: nbands planes of w*h values of p->dtype. */
lode_status lode__warper_window(lode__warper *w, int x0, int y0, int nx, int ny, void *buf, lode_error *err);
void lode__warper_free(lode__warper *w);
/* With a memory bound (bytes, 0: none), GDAL's block cache gets a quarter of it, at
   most the usual 48 MB, unless the environment sets GDAL_CACHEMAX.  Returns the cache
   size in bytes. */
size_t lode__gdal_bound_cache(size_t max_memory);
/* Windows warped so far in this process by lode's bilinear kernel and by GDAL's warper. */
void lode__warp_counts(long *fast, long *gdal);

/* GeoTIFF writing for extract. */
typedef struct lode__gtiff lode__gtiff;
typedef struct lode_gtiff_params {
	int width, height, nbands;
	lode_dtype dtype;
	double gt[6];
	const char *crs_wkt;
	int has_nodata;
	double nodata;
	const char *const *band_names; /* nbands entries (NULL or "" for none), or NULL */
	const char *const *band_units; /* likewise */
	const char *const *metadata;   /* NULL-terminated KEY=VALUE list, may be NULL */
} lode_gtiff_params;
lode_status lode__gtiff_create(const char *path, const lode_gtiff_params *p, lode__gtiff **out,
			       lode_error *err);
/* Write rows [y0, y0+ny) of band b (1-based) from buf (width*ny values). */
lode_status lode__gtiff_write(lode__gtiff *g, int band, int y0, int ny, const void *buf, lode_error *err);
lode_status lode__gtiff_close(lode__gtiff *g, lode_error *err); /* flushes; NULL ok */

/* ---- vector layers (formats/vector_ogr.c) --------------------------------------- */

typedef enum lode_ftype {
	LODE_FT_INT32 = 1, /* int32_t */
	LODE_FT_INT64,     /* int64_t */
	LODE_FT_REAL,      /* double */
	LODE_FT_STRING,    /* char * (UTF-8, owned; "" when null) */
	LODE_FT_DATE,      /* int32_t days since 1970-01-01 */
	LODE_FT_DATETIME,  /* double seconds since 1970-01-01T00:00:00 (UTC when the source said so) */
	LODE_FT_BOOL       /* int8_t 0 or 1 */
} lode_ftype;

const char *lode__ftype_name(lode_ftype t); /* OGR's names: "Integer", "Integer(Boolean)" ... */
lode_ftype lode__ftype_from_name(const char *name);
size_t lode__ftype_size(lode_ftype t); /* bytes per value in memory */

typedef enum lode_gkind { LODE_GK_POINT = 1, LODE_GK_LINE, LODE_GK_POLYGON } lode_gkind;

typedef struct lode_vfield {
	char *name; /* the source's field name, as written */
	char *var;  /* suffix of its variable name: letters, digits, '_' */
	lode_ftype type;
	int width;             /* the source's width, 0 if none */
	void *values;          /* nfeat values of the type above */
	unsigned char *isnull; /* nfeat flags */
	size_t nnull;
} lode_vfield;

/*
 * A vector layer in columns, as CF-1.8 simple geometries store it.  Feature f has
 * node_count[f] nodes (0: null or empty geometry).  Lines and polygons are cut into
 * parts (a line string, a ring): part_node_count[p] nodes each, interior_ring[p] 1 for
 * holes.  Multi-points have one node per point and no parts.
 */
typedef struct lode_vdata {
	lode_gkind kind;
	int multi, has_z;
	size_t nfeat, nnodes, nparts;
	double *x, *y, *z;
	int32_t *node_count;
	int32_t *part_node_count, *interior_ring;
	lode_vfield *fields;
	size_t nfields;
	size_t cap_feat, cap_nodes, cap_parts; /* allocation sizes */
} lode_vdata;

void lode__vdata_free(lode_vdata *d); /* frees the contents and d; NULL ok */
/* "Point", "MultiLineString", "3D Polygon"...: the OGR name of the layer's type. */
const char *lode__vdata_type_name(const lode_vdata *d);

typedef struct lode__vector lode__vector;
typedef struct lode_vector_info {
	char *driver;
	char *layer;     /* the layer's name */
	char *crs_wkt;   /* WKT2:2019 or NULL */
	long long nfeat; /* the driver's count, -1 when unknown */
	int has_extent;
	double extent[4];   /* xmin ymin xmax ymax in the source CRS */
	char **layer_names; /* every layer of the source, for messages */
	int nlayers;
} lode_vector_info;

/*
 * Open a vector source.  layer: which layer (NULL: the only one).  open_options: GDAL
 * open options (NULL-terminated, may be NULL).  where: an OGR attribute filter or NULL.
 */
lode_status lode__vector_open(const char *path, const char *const *open_options, const char *layer,
			      const char *where, lode__vector **out, lode_error *err);
const lode_vector_info *lode__vector_info(const lode__vector *v);
void lode__vector_close(lode__vector *v);
/* Is this source a vector dataset (layers, no raster bands)? -1 if GDAL cannot open it. */
int lode__source_is_vector(const char *path, const char *const *open_options, int layer_given);

typedef struct lode__colenc lode__colenc; /* see chunk encoding below */

typedef struct lode_vector_read {
	const char *src_crs_wkt, *dst_crs_wkt, *pipeline;
	const double *bounds; /* target bounds: features that do not intersect are left out */
	int clip;             /* cut geometries to the bounds */
	lode__colenc *xy;     /* or NULL: gets every whole chunk of x (column 0) and y (1) */
	size_t max_bytes;     /* fail once the layer's values take more; 0: no bound */
	int threads;          /* read on up to this many threads (GeoPackage); 0: all cores */
	/* Or NULL: called now and then on the calling thread while the layer is read (there
	   lode__xyw_drain stores the chunks of x and y encoded so far). */
	void (*drain)(void *arg);
	void *drain_arg;
	/* Or NULL: set to 1 when a read in shares failed and the layer was read again on one
	   thread (the chunks xy got before then need not be its first nodes). */
	int *reread;
} lode_vector_read;

/* Read, transform and filter every feature into a new lode_vdata (caller frees). */
lode_status lode__vector_read(lode__vector *v, const lode_vector_read *r, lode_vdata **out, lode_error *err);

/* Write a layer to a new GeoPackage (extract).  type_name as lode__vdata_type_name. */
lode_status lode__gpkg_write(const char *path, const char *layer, const char *crs_wkt, const char *type_name,
			     const lode_vdata *d, lode_error *err);

/* ---- chunk encoding (formats/chunk_codec.c) ------------------------------------- */

/*
 * Encode a chunk of nbytes (elements of elem_size bytes) through the bundle's filters:
 * shuffle, deflate at level, Fletcher32.  *out is malloc'd (caller frees).  Thread-safe.
 */
lode_status lode__chunk_encode(const void *data, size_t nbytes, size_t elem_size, int level,
			       unsigned char **out, size_t *out_len, lode_error *err);

/*
 * A column encoder: columns of elem_size-byte values, cut into chunks of chunk values,
 * encoded as lode__chunk_encode does at level, on a thread of its own while the caller
 * goes on producing them (thread 0: no thread, put encodes each chunk itself).  put
 * copies the next whole chunk of column col (0..ncols-1); finish encodes what still
 * waits (the caller's thread helping) and waits.  ready says whether chunk i of column
 * col is encoded and not yet taken; take gives it (malloc'd, the caller frees; NULL if
 * none); both may be called while chunks are still put and encoded.  free (NULL ok)
 * stops the thread and frees what was not taken.  One producer thread at a time.
 */
lode_status lode__colenc_new(int ncols, size_t elem_size, size_t chunk, int level, int thread,
			     lode__colenc **out, lode_error *err);
size_t lode__colenc_chunk(const lode__colenc *e);
lode_status lode__colenc_put(lode__colenc *e, int col, const void *values, lode_error *err);
lode_status lode__colenc_finish(lode__colenc *e, lode_error *err);
size_t lode__colenc_count(const lode__colenc *e, int col); /* chunks put */
int lode__colenc_ready(lode__colenc *e, int col, size_t i);
unsigned char *lode__colenc_take(lode__colenc *e, int col, size_t i, size_t *len);
void lode__colenc_free(lode__colenc *e);

/* ---- parallel warping of strips (pipeline/tiles.c) ------------------------------ */

typedef struct lode_tiler_params {
	const char *source_path; /* each thread opens its own dataset */
	const char *const *open_options;
	const lode_warp_params *wp; /* the whole target grid */
	int threads;                /* 0: one per core */
	int chunk_rows, chunk_cols; /* the variable's chunk */
	int level;                  /* deflate level */
	unsigned char fill[8];      /* one element: the padding of edge chunks */
} lode_tiler_params;

typedef struct lode__tiler lode__tiler;
int lode__default_threads(void);
lode_status lode__tiler_new(const lode_tiler_params *p, lode__tiler **out, lode_error *err);
/*
 * Start warping rows [y0, y0+ny) (one chunk row) into strip (nbands planes of nx*ny
 * values) and encoding every chunk into chunks[b * ntiles + c] (malloc'd; caller frees),
 * lens[...] bytes, for band b and chunk column c; arrays of nbands * lode__tiler_count()
 * entries.  Returns at once; the buffers must live until lode__tiler_wait returns.
 * One strip at a time.
 */
void lode__tiler_submit(lode__tiler *t, int y0, int ny, void *strip, unsigned char **chunks, size_t *lens);
/* Help with the submitted strip and wait for it; *ntiles = chunks per band. */
lode_status lode__tiler_wait(lode__tiler *t, int *ntiles, lode_error *err);
int lode__tiler_count(const lode__tiler *t);
void lode__tiler_free(lode__tiler *t); /* NULL ok */

/* Free the calling thread's compressor (call before a worker thread ends). */
void lode__chunk_codec_thread_done(void);

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

#include "signature.h" /* keys, signatures over a bundle digest (pipeline/signature.c) */

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
