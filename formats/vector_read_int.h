/*
 * vector_read_int.h -- PRIVATE to formats/vector_read.c and formats/vector_shares.c: the
 * opened source, and the builder and reader a layer is read with, whether by one reader
 * (vector_read.c) or on several threads in shares (vector_shares.c), and one field read
 * as text (vector_keys.c).  Nothing else may include it.
 */
#ifndef LODE_VECTOR_READ_INT_H
#define LODE_VECTOR_READ_INT_H

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "chunk_codec.h"
#include "gdal_util.h"
#include "vdata.h"
#include "vector_read.h"

struct lode__vector {
	GDALDatasetH ds;
	OGRLayerH layer;
	lode_vector_info info;
	char *path;          /* as opened, for the other threads' datasets */
	char **open_options; /* as opened */
	int has_where;       /* a where: filter is set on layer */
	int counted_by_read; /* info.nfeat is set by lode__vector_read (lode__vector_open) */
};

/* Grow an array of n elements of size sz to hold at least need. */
int lode__vread_grow(void **p, size_t *cap, size_t need, size_t sz);

/* A layer being built: its lode_vdata and the room of its arrays. */
typedef struct builder {
	lode_vdata *d;
	size_t cap_x, cap_y, cap_z, cap_m, cap_nc, cap_pnc, cap_ir;
	size_t *cap_field; /* per field */
	size_t *cap_null;
	lode__colenc *xy; /* or NULL: gets each whole chunk of x and y once read */
	size_t sent;      /* nodes handed to xy */
	size_t text;      /* bytes of the string values (vdata.h lode_vtext) */
} builder;

/* The bytes the layer's arrays and strings hold so far (for --max-memory). */
size_t lode__vread_held(const builder *b);
/* Hand the whole chunks of x and y read since the last call to the column encoder. */
lode_status lode__vread_send_xy(builder *b, lode_error *err);
/* Start b on d (its capacities zero; xy may be NULL); end frees what start allocated
   (not d).  End is safe after a failed start. */
lode_status lode__vread_builder_start(builder *b, lode_vdata *d, lode__colenc *xy, lode_error *err);
void lode__vread_builder_end(builder *b);

typedef struct shared_read shared_read; /* a read in shares: vector_shares.c */

/* What one thread reads with. */
typedef struct reader {
	lode__vector *v;
	const lode_vector_read *r;
	shared_read *rd; /* NULL: a single reader */
	GDALDatasetH ds; /* a dataset of this thread's own, or NULL (v's) */
	OGRLayerH layer;
	OGRSpatialReferenceH s, t;
	OGRCoordinateTransformationOptionsH opts;
	OGRCoordinateTransformationH ct;
	OGRGeometryH box;
	lode__cpl_capture cap;
	size_t told;     /* the current share's part of rd->held */
	long long given; /* features the driver gave lode__vread_features since the start */
} reader;

/* A new lode_vdata (*out, caller frees) with the layer's declared type and fields, no
   features yet; fails on a layer without geometry or of a type lode does not carry. */
lode_status lode__vread_new_vdata(lode__vector *v, lode_vdata **out, lode_error *err);
/* Set up a thread's reader: its dataset (own_dataset: a new one, else v's), the CRSs, the
   transformation and the target box; pushes a CPL error capture.  reader_end undoes it
   all, also after a failed start. */
lode_status lode__vread_reader_start(reader *t, lode__vector *v, const lode_vector_read *r, shared_read *rd,
				     int own_dataset, lode_error *err);
void lode__vread_reader_end(reader *t);
/* Read every feature the layer's current filter lets through into b's lode_vdata. */
lode_status lode__vread_features(reader *t, builder *b, lode_error *err);

/* Whether the layer's values (every thread's, with t->rd) have outgrown --max-memory. */
int lode__vshares_over_bound(reader *t, const builder *b);
/* The layer in shares, on up to threads threads, into *out; LODE_OK with *out NULL if
   it is read as one instead (*tried: after a failed read in shares). */
lode_status lode__vshares_read(lode__vector *v, const lode_vector_read *r, int threads, lode_vdata **out,
			       int *tried, lode_error *err);

/* vector_fields.c: the layer's field definitions into d (refusing the types lode does
   not carry, naming layer), and one feature's values appended to b's columns. */
lode_status lode__vread_field_defs(OGRFeatureDefnH defn, lode_vdata *d, const char *layer, lode_error *err);
lode_status lode__vread_add_attributes(builder *b, OGRFeatureH feat, const char *layer, lode_error *err);

#endif
