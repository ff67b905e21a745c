/*
 * vector_read.h -- opening a vector source through OGR and reading one layer's features
 * into a lode_vdata (vdata.h), transformed to the target CRS and filtered or clipped to
 * the target bounds (vector_read.c; a large GeoPackage layer is read on several threads,
 * vector_shares.c).
 */
#ifndef LODE_VECTOR_READ_H
#define LODE_VECTOR_READ_H

#include <stddef.h>

#include "lode_error.h"
#include "source_files.h"
#include "vdata.h"

typedef struct lode__vector lode__vector;
typedef struct lode_vector_info {
	char *driver;
	char *layer;     /* the layer's name */
	char *crs_wkt;   /* WKT2:2019 or NULL */
	long long nfeat; /* the driver's count, -1 when unknown or not counted yet */
	int table;       /* the layer has no geometry (OGR's wkbNone): a table */
	int has_extent;
	double extent[4];   /* xmin ymin xmax ymax in the source CRS */
	char **layer_names; /* every layer of the source, for messages */
	int nlayers;
	char **field_names;      /* the layer's fields, NULL-terminated (harmonize: checks its from) */
	lode_source_files files; /* every file it reads, the source first (source_files.h) */
} lode_vector_info;

/*
 * Open a vector source.  layer: which layer (NULL: the only one).  open_options: GDAL
 * open options (NULL-terminated, may be NULL).  where: an OGR attribute filter or NULL
 * (a bad one fails here, not when reading).  The source and every file it names are
 * checked under rules before GDAL opens it, and GDAL's list of its files after
 * (source_files.h).  *out: close it with lode__vector_close; NULL on failure.  A source
 * with several layers and no layer named fails, naming them.  count_now: info.nfeat is
 * the driver's count (OGR_L_GetFeatureCount, forced); 0: for a layer whose driver has no
 * fast count (OLCFastFeatureCount: a CSV parses the whole file to count), it stays -1
 * and lode__vector_read sets it to the number of features the driver gave the read.
 */
lode_status lode__vector_open(const char *path, const char *const *open_options,
			      const lode_source_rules *rules, const char *layer, const char *where,
			      int count_now, lode__vector **out, lode_error *err);
const lode_vector_info *lode__vector_info(const lode__vector *v); /* v's: valid until closed */
void lode__vector_close(lode__vector *v);                         /* NULL ok */
/* Every file GDAL lists for the opened source v, as lode__raster_files does. */
int lode__vector_files(const lode__vector *v, int (*visit)(const char *path, void *arg), void *arg);
/* Field `field` of every feature of v (its where: filter applied) as OGR's text of it,
   NULL for null or unset, in feature order, into *values (n of them; free with
   lode__vector_column_free).  A field the layer lacks fails (LODE_EMANIFEST), naming the
   closest field name.  formats/vector_keys.c. */
lode_status lode__vector_column_text(lode__vector *v, const char *field, char ***values, size_t *n,
				     lode_error *err);
void lode__vector_column_free(char **values, size_t n);
/* Is this source a vector dataset (layers, no raster bands)? -1 if GDAL cannot open it. */
int lode__source_is_vector(const char *path, const char *const *open_options, int layer_given);

typedef struct lode__colenc lode__colenc; /* the column encoder: formats/chunk_codec.c */

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

/*
 * Read, transform and filter every feature into a new lode_vdata (caller frees with
 * lode__vdata_free).  On failure *out is NULL and err names the layer (and the feature
 * at fault, the same one whatever the number of threads).  One read at a time per v.
 */
lode_status lode__vector_read(lode__vector *v, const lode_vector_read *r, lode_vdata **out, lode_error *err);

#endif
