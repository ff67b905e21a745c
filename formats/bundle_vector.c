/*
 * bundle_vector.c -- writing vector layers: CF-1.8 simple geometries at the root group,
 * every variable named NAME_... (the grid mapping NAME_crs, the node dimension, x, y
 * and z along it, the instance and part dimensions, node and part counts and interior
 * rings along them, one NAME_field_* per field) and
 * the geometry container NAME that names them.  Columns are chunked and compressed on
 * worker threads and stored in order from the calling thread; x and y can be stored
 * while the layer is still read (lode__xyw_*).
 *
 * A table (a layer without geometry) is a group NAME instead: add_table.  Reading
 * layers and tables back is bundle_vector_read.c's.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "chunk_codec.h"
#include "error.h"
#include "util.h"
#include "vdata.h"

#define COLUMN_CHUNK 65536 /* values per chunk of a vector layer's columns */

/* ---- columns: chunked, compressed on worker threads, stored in order ---- */

/*
 * Compressing a vector column's chunks: every chunk is encoded by lode__chunk_encode
 * (shuffle, libdeflate at DEFLATE_LEVEL, Fletcher32: the dataset's own filter pipeline)
 * on up to one thread per core, and the calling thread stores them in order with
 * H5Dwrite_chunk (HDF5 is only called from the calling thread).  A reader inflates them
 * with HDF5's stock filters, as it does raster chunks.  The last chunk is padded to the
 * full chunk with the fill value, as HDF5 itself pads a partial edge chunk.
 */
typedef struct col_job {
	const unsigned char *data; /* n elements of esz bytes */
	size_t n, esz, chunk, nchunks;
	unsigned char pad[8]; /* one element of padding */
	unsigned char **enc;  /* nchunks encoded chunks */
	size_t *len;
	size_t next; /* next chunk to encode, under mu */
	int failed;
	lode_error err; /* the first failure */
	pthread_mutex_t mu;
} col_job;

static void col_encode_some(col_job *j)
{
	unsigned char *padded = NULL;

	for (;;) {
		size_t i, first, cnt;
		const unsigned char *src;
		lode_error e = {0};

		pthread_mutex_lock(&j->mu);
		i = j->failed ? j->nchunks : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->nchunks)
			break;
		first = i * j->chunk;
		cnt = j->n - first < j->chunk ? j->n - first : j->chunk;
		src = j->data + first * j->esz;
		if (cnt < j->chunk) {
			if (!padded && !(padded = malloc(j->chunk * j->esz))) {
				lode__err(&e, LODE_ENOMEM, "out of memory compressing a column");
				goto fail;
			}
			memcpy(padded, src, cnt * j->esz);
			for (size_t k = cnt; k < j->chunk; k++)
				memcpy(padded + k * j->esz, j->pad, j->esz);
			src = padded;
		}
		if (lode__chunk_encode(src, j->chunk * j->esz, j->esz, DEFLATE_LEVEL, &j->enc[i], &j->len[i],
				       &e) == LODE_OK)
			continue;
	fail:
		pthread_mutex_lock(&j->mu);
		if (!j->failed) {
			j->failed = 1;
			j->err = e;
		}
		pthread_mutex_unlock(&j->mu);
		break;
	}
	free(padded);
}

static void *col_worker(void *arg)
{
	col_encode_some(arg);
	lode__chunk_codec_thread_done();
	return NULL;
}

/* Threads for write_column_chunks, set by lode__bundle_add_vector (HDF5 calls, and so
   this, stay on one thread). */
static int column_threads;

/* Compress and store the values of the filtered 1-D dataset d (n values in chunks of
   chunk) from chunk first on (the chunks before it are stored already). */
static int write_column_chunks(hid_t d, const void *values, size_t n, size_t esz, size_t chunk,
			       const void *fill, size_t first)
{
	col_job j = {0};
	pthread_t th[16];
	int nth = 0, want, ok = 1;

	j.data = values;
	j.n = n;
	j.esz = esz;
	j.chunk = chunk;
	j.nchunks = (n + chunk - 1) / chunk;
	if (first >= j.nchunks) /* all stored already */
		return first == j.nchunks ? 0 : -1;
	if (fill)
		memcpy(j.pad, fill, esz);
	j.enc = calloc(j.nchunks, sizeof *j.enc);
	j.len = calloc(j.nchunks, sizeof *j.len);
	if (!j.enc || !j.len) {
		free(j.enc);
		free(j.len);
		return -1;
	}
	j.next = first;
	pthread_mutex_init(&j.mu, NULL);
	want = column_threads > 0 ? column_threads : lode__default_threads();
	if (want > 16)
		want = 16;
	if ((size_t)want > j.nchunks - first)
		want = (int)(j.nchunks - first);
	for (int t = 1; t < want; t++)
		if (pthread_create(&th[nth], NULL, col_worker, &j) == 0)
			nth++;
	col_encode_some(&j);
	for (int t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.failed)
		ok = 0;
	for (size_t i = first; i < j.nchunks; i++) {
		hsize_t off = (hsize_t)(i * chunk);
		/* Filter mask 0: every filter of the pipeline was applied. */
		if (ok && H5Dwrite_chunk(d, H5P_DEFAULT, 0, &off, j.len[i], j.enc[i]) < 0)
			ok = 0;
		free(j.enc[i]);
	}
	free(j.enc);
	free(j.len);
	return ok ? 0 : -1;
}

/* The chunk of a vector column of n values. */
static hsize_t column_chunk(hsize_t n)
{
	return n < COLUMN_CHUNK ? (n ? n : 1) : COLUMN_CHUNK;
}

/* A new 1-D chunked column of n values (none written), filtered unless its type is a
   variable-length string. */
static hid_t new_column(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, hsize_t chunk,
			const void *fill)
{
	hsize_t max = H5S_UNLIMITED;
	hid_t s = H5Screate_simple(1, &n, &max), p = lode__h5_dataset_cpl(), d = H5I_INVALID_HID;

	/* HDF5 cannot filter variable-length strings (the heap holds the text). */
	if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0 &&
	    (H5Tis_variable_str(ftype) > 0 ||
	     (H5Pset_shuffle(p) >= 0 && H5Pset_deflate(p, DEFLATE_LEVEL) >= 0 &&
	      H5Pset_fletcher32(p) >= 0)) &&
	    (!fill || H5Pset_fill_value(p, mtype, fill) >= 0))
		d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
	if (p >= 0)
		H5Pclose(p);
	if (s >= 0)
		H5Sclose(s);
	return d;
}

/*
 * A 1-D chunked, compressed variable of n values along dimension scale dim (or, when
 * dim is negative, itself a coordinate variable: the dimension of its own name).
 * Unlimited, so that empty layers are valid netCDF-4.  fill may be NULL.
 */
static hid_t make_column(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *values,
			 hid_t dim, const void *fill)
{
	hsize_t chunk = column_chunk(n);
	hid_t d = new_column(loc, name, ftype, mtype, n, chunk, fill);
	int filters = H5Tis_variable_str(ftype) <= 0;
	size_t esz = filters ? H5Tget_size(ftype) : 0;
	int ok = 0;

	if (d < 0)
		goto out;
	/* Numeric columns: the memory type is the file type (little-endian, native here). */
	if (n && filters && esz >= 1 && esz <= 8 && H5Tget_size(mtype) == esz) {
		if (write_column_chunks(d, values, (size_t)n, esz, (size_t)chunk, fill, 0) < 0)
			goto out;
	} else if (n && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
		goto out;
	}
	if (dim < 0 ? H5DSset_scale(d, name) < 0 : H5DSattach_scale(d, dim, 0) < 0)
		goto out;
	ok = 1;
out:
	if (!ok)
		lode__h5_save();
	if (!ok && d >= 0) {
		H5Dclose(d);
		d = H5I_INVALID_HID;
	}
	return d;
}

/* ---- fields ---- */

/* A fill value for a numeric column that none of its real values equals. */
static void choose_fill(const lode_vfield *f, size_t n, unsigned char out[8])
{
	memset(out, 0, 8);
	switch (f->type) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: {
		int32_t c = -2147483647; /* netCDF's default */
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const int32_t *)f->values)[k] == c) {
					c--;
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 4);
		break;
	}
	case LODE_FT_INT64: {
		int64_t c = -9223372036854775806LL;
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const int64_t *)f->values)[k] == c) {
					c = c == INT64_MIN ? INT64_MAX : c - 1;
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 8);
		break;
	}
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: {
		double c = 9.9692099683868690e+36;
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const double *)f->values)[k] == c) {
					c = nextafter(c, HUGE_VAL);
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 8);
		break;
	}
	case LODE_FT_BOOL: {
		int8_t c = -127;
		memcpy(out, &c, 1);
		break;
	}
	default: break;
	}
}

static hid_t field_ftype(lode_ftype t)
{
	switch (t) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: return H5T_STD_I32LE;
	case LODE_FT_INT64: return H5T_STD_I64LE;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: return H5T_IEEE_F64LE;
	case LODE_FT_BOOL: return H5T_STD_I8LE;
	default: return H5I_INVALID_HID;
	}
}

hid_t lode__h5_field_mtype(lode_ftype t)
{
	switch (t) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: return H5T_NATIVE_INT32;
	case LODE_FT_INT64: return H5T_NATIVE_INT64;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: return H5T_NATIVE_DOUBLE;
	case LODE_FT_BOOL: return H5T_NATIVE_INT8;
	default: return H5I_INVALID_HID;
	}
}

hid_t lode__h5_vlen_string_type(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
		H5Tclose(t);
		t = H5I_INVALID_HID;
	}
	return t;
}

/* Field f (n values) as the variable LAYER_field_V in loc, along dim; a table's has no
   geometry and no grid mapping. */
static lode_status write_field(hid_t root, const char *layer, const lode_vfield *f, size_t n, hid_t dim,
			       int table, lode_error *err)
{
	char *vname = lode__sprintf("%s_field_%s", layer, f->var), crs[200];
	hid_t d = H5I_INVALID_HID, st = H5I_INVALID_HID;
	unsigned char fill[8];
	int64_t *nulls = NULL;
	void *values = f->values;
	unsigned char *filled = NULL;
	lode_status rc = LODE_OK;

	if (!vname)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	/* CF 7.5: a data variable with a geometry names the grid mapping the geometry has. */
	snprintf(crs, sizeof crs, "%s_crs", layer);
	if (lode__ftype_is_text(f->type)) {
		st = lode__h5_vlen_string_type();
		d = st >= 0 ? make_column(root, vname, st, st, n, f->values, dim, NULL) : -1;
	} else {
		size_t sz = lode__ftype_size(f->type);
		choose_fill(f, n, fill);
		/* Null slots hold the fill value, which GDAL and netCDF readers show as null. */
		if (f->nnull) {
			filled = malloc(n * sz);
			if (!filled) {
				rc = lode__err(err, LODE_ENOMEM, "out of memory");
				goto out;
			}
			memcpy(filled, f->values, n * sz);
			for (size_t k = 0; k < n; k++)
				if (f->isnull[k])
					memcpy(filled + k * sz, fill, sz);
			values = filled;
		}
		d = make_column(root, vname, field_ftype(f->type), lode__h5_field_mtype(f->type), n, values,
				dim, fill);
		if (d >= 0 && lode__h5_set_nums(d, "_FillValue", field_ftype(f->type),
						lode__h5_field_mtype(f->type), 1, fill) < 0)
			goto h5fail;
	}
	if (d < 0)
		goto h5fail;
	if (lode__h5_set_text(d, "long_name", f->name) < 0 ||
	    (!table && (lode__h5_set_text(d, "geometry", layer) < 0 ||
			lode__h5_set_text(d, "grid_mapping", crs) < 0)) ||
	    lode__h5_set_text(d, "ogr_field_name", f->name) < 0 ||
	    lode__h5_set_text(d, "ogr_field_type", lode__ftype_name(f->type)) < 0)
		goto h5fail;
	if (f->width > 0 &&
	    lode__h5_set_nums(d, "ogr_field_width", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &f->width) < 0)
		goto h5fail;
	if (f->type == LODE_FT_DATE && lode__h5_set_text(d, "units", "days since 1970-01-01") < 0)
		goto h5fail;
	if (f->type == LODE_FT_DATETIME &&
	    lode__h5_set_text(d, "units", "seconds since 1970-01-01 00:00:00") < 0)
		goto h5fail;
	if (f->nnull) {
		size_t j = 0;
		nulls = malloc(f->nnull * sizeof *nulls);
		if (!nulls) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++)
			if (f->isnull[k])
				nulls[j++] = (int64_t)k;
		if (lode__h5_set_nums(d, "lode_nulls", H5T_STD_I64LE, H5T_NATIVE_INT64, j, nulls) < 0)
			goto h5fail;
	}
	goto out;
h5fail:
	rc = lode__h5_err(err, LODE_EIO, vname);
out:
	free(nulls);
	free(filled);
	free(vname);
	if (st >= 0)
		H5Tclose(st);
	if (d >= 0)
		H5Dclose(d);
	return rc;
}

/* ---- the layer's names and head ---- */

/* The names of a layer's variables: NAME_ and what they hold. */
typedef struct layer_names {
	char nodes[160], inst[160], part[160], count[160], parts[160], ring[160], x[160], y[160], z[160],
	    m[160], crs[160];
} layer_names;

static void name_layer(layer_names *n, const char *name)
{
	snprintf(n->nodes, sizeof n->nodes, "%s_node_coordinates", name);
	snprintf(n->inst, sizeof n->inst, "%s_instance", name);
	snprintf(n->part, sizeof n->part, "%s_part", name);
	snprintf(n->count, sizeof n->count, "%s_node_count", name);
	snprintf(n->parts, sizeof n->parts, "%s_part_node_count", name);
	snprintf(n->ring, sizeof n->ring, "%s_interior_ring", name);
	snprintf(n->x, sizeof n->x, "%s_coordX", name);
	snprintf(n->y, sizeof n->y, "%s_coordY", name);
	snprintf(n->z, sizeof n->z, "%s_coordZ", name);
	snprintf(n->m, sizeof n->m, "%s_coordM", name);
	snprintf(n->crs, sizeof n->crs, "%s_crs", name);
}

/* A dimension with no variable of its name, the way netCDF-4 stores one. */
static hid_t make_pure_dim(hid_t loc, const char *name, hsize_t n)
{
	hsize_t max = H5S_UNLIMITED, chunk = 1;
	hid_t s = H5Screate_simple(1, &n, &max), p = lode__h5_dataset_cpl(), d = H5I_INVALID_HID;
	char label[128];

	if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0)
		d = H5Dcreate2(loc, name, H5T_IEEE_F32BE, s, H5P_DEFAULT, p, H5P_DEFAULT);
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)n);
	if (d >= 0 && H5DSset_scale(d, label) < 0) {
		H5Dclose(d);
		d = H5I_INVALID_HID;
	}
	if (p >= 0)
		H5Pclose(p);
	if (s >= 0)
		H5Sclose(s);
	return d;
}

/* The head of a layer, in this order: its grid mapping variable, its node dimension
   (n nodes) and x and y along it with their CF attributes (chunks of chunk values, none
   written yet).  h: crs, nodes, x, y; closed by the caller. */
static int make_head(hid_t root, const layer_names *nm, const char *crs_wkt, hsize_t n, hsize_t chunk,
		     hid_t h[4])
{
	hid_t sp = H5Screate(H5S_SCALAR), dcpl = lode__h5_dataset_cpl();
	lode_crs_attrs ca;
	int ok = 0;

	h[0] = h[1] = h[2] = h[3] = H5I_INVALID_HID;
	lode__crs_attrs(crs_wkt, &ca);
	h[0] = sp >= 0 && dcpl >= 0
		   ? H5Dcreate2(root, nm->crs, H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)
		   : -1;
	if (h[0] < 0 || lode__h5_set_text(h[0], "crs_wkt", crs_wkt) < 0 ||
	    lode__h5_set_text(h[0], "spatial_ref", crs_wkt) < 0)
		goto out;
	lode__h5_write_grid_mapping(h[0], &ca);
	if ((h[1] = make_pure_dim(root, nm->nodes, n)) < 0 ||
	    (h[2] = new_column(root, nm->x, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, chunk, NULL)) < 0 ||
	    H5DSattach_scale(h[2], h[1], 0) < 0 ||
	    (h[3] = new_column(root, nm->y, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, chunk, NULL)) < 0 ||
	    H5DSattach_scale(h[3], h[1], 0) < 0)
		goto out;
	lode__h5_set_text(h[2], "axis", "X");
	lode__h5_set_text(h[3], "axis", "Y");
	lode__h5_set_text(h[2], "standard_name", ca.x_standard_name);
	lode__h5_set_text(h[3], "standard_name", ca.y_standard_name);
	lode__h5_set_text(h[2], "units", ca.x_units);
	lode__h5_set_text(h[3], "units", ca.y_units);
	ok = 1;
out:
	if (!ok)
		lode__h5_save();
	lode__crs_attrs_free(&ca);
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return ok ? 0 : -1;
}

static void close_head(hid_t h[4])
{
	for (int i = 0; i < 4; i++)
		if (h[i] >= 0) {
			H5Dclose(h[i]);
			h[i] = H5I_INVALID_HID;
		}
}

/* Give the node dimension made by make_head its length: extent and netCDF's label. */
static int size_nodes(hid_t nodes, hsize_t n)
{
	char label[128];
	hid_t a, t;
	int rc = -1;

	if (H5Dset_extent(nodes, &n) < 0)
		return -1;
	/* The same length of text as make_pure_dim's (%10llu), so NAME is rewritten in place. */
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)n);
	if ((a = H5Aopen(nodes, "NAME", H5P_DEFAULT)) < 0)
		return -1;
	if ((t = H5Aget_type(a)) >= 0 && H5Tget_size(t) == strlen(label) + 1 && H5Awrite(a, t, label) >= 0)
		rc = 0;
	if (t >= 0)
		H5Tclose(t);
	H5Aclose(a);
	return rc;
}

/* ---- x and y while the layer is read (lode__xyw) ---- */

struct lode__xyw {
	lode__bundle *b;
	lode__colenc *enc;
	layer_names nm;
	char *crs_wkt;
	hid_t head[4];  /* crs, nodes, x, y: H5I_INVALID_HID until the first chunks */
	size_t written; /* chunks of x, and of y, stored */
	int discard;    /* the layer was read again: store no more, rewrite x and y whole */
	int failed;     /* err says why; nothing more is stored */
	lode_error err;
};

lode_status lode__bundle_xy_begin(lode__bundle *b, const char *name, const char *crs_wkt, lode__xyw **out,
				  lode_error *err)
{
	int threads = b->threads > 0 ? b->threads : lode__default_threads();
	lode__xyw *w = calloc(1, sizeof *w);
	lode_status rc;

	*out = NULL;
	if (!w || !(w->crs_wkt = lode__strdup(crs_wkt))) {
		free(w);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	w->b = b;
	name_layer(&w->nm, name);
	for (int i = 0; i < 4; i++)
		w->head[i] = H5I_INVALID_HID;
	if ((rc = lode__colenc_new(2, sizeof(double), COLUMN_CHUNK, DEFLATE_LEVEL, threads > 1, &w->enc,
				   err))) {
		lode__xyw_free(w);
		return rc;
	}
	*out = w;
	return LODE_OK;
}

lode__colenc *lode__xyw_encoder(lode__xyw *w)
{
	return w->enc;
}

/* Store chunk i of x and of y, growing both to hold it. */
static int store_pair(lode__xyw *w, size_t i)
{
	for (int c = 0; c < 2; c++) {
		hsize_t ext = (hsize_t)(i + 1) * COLUMN_CHUNK, off = (hsize_t)i * COLUMN_CHUNK;
		size_t len = 0;
		unsigned char *enc = lode__colenc_take(w->enc, c, i, &len);
		int bad = !enc || H5Dset_extent(w->head[2 + c], &ext) < 0 ||
			  H5Dwrite_chunk(w->head[2 + c], H5P_DEFAULT, 0, &off, len, enc) < 0;
		free(enc);
		if (bad)
			return -1;
	}
	return 0;
}

void lode__xyw_drain(void *arg)
{
	lode__xyw *w = arg;
	size_t before = w->written;

	while (!w->failed && !w->discard && lode__colenc_ready(w->enc, 0, w->written) &&
	       lode__colenc_ready(w->enc, 1, w->written)) {
		if (w->head[0] < 0 &&
		    make_head(w->b->file, &w->nm, w->crs_wkt, 0, COLUMN_CHUNK, w->head) < 0) {
			w->failed = 1;
			lode__h5_err(&w->err, LODE_EIO, "writing the layer");
			close_head(w->head);
			break;
		}
		if (store_pair(w, w->written) < 0) {
			w->failed = 1;
			lode__h5_err(&w->err, LODE_EIO, "writing the layer's coordinates");
			break;
		}
		w->written++;
	}
	/* The disk takes them while the reading goes on. */
	if (w->written > before)
		lode__bundle_writeback(w->b);
}

void lode__xyw_discard(lode__xyw *w)
{
	w->discard = 1;
}

void lode__xyw_free(lode__xyw *w)
{
	if (!w)
		return;
	lode__colenc_free(w->enc);
	close_head(w->head);
	free(w->crs_wkt);
	free(w);
}

/*
 * The instance and part dimensions, and along them the node counts (counts), the part
 * node counts and interior rings (parts): each handle H5I_INVALID_HID when not written,
 * closed by the caller.  The counts lie along dimensions of other names (NAME_instance,
 * NAME_part), so that they are not coordinate variables (CF 5: those are monotonic).  A
 * feature without geometry has node count 0, which _FillValue 0 marks missing: CF wants
 * at least 2 nodes a line and 3 a polygon of every geometry it sees.
 */
static int write_counts(hid_t root, const layer_names *nm, const lode_vdata *d, int counts, int with_parts,
			hid_t *idim, hid_t *inst, hid_t *pdim, hid_t *parts, hid_t *ir)
{
	const int32_t zero = 0;

	if (counts &&
	    ((*idim = make_pure_dim(root, nm->inst, d->nfeat)) < 0 ||
	     (*inst = make_column(root, nm->count, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nfeat, d->node_count,
				  *idim, &zero)) < 0 ||
	     lode__h5_set_nums(*inst, "_FillValue", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &zero) < 0 ||
	     lode__h5_set_text(*inst, "long_name", "nodes of each feature") < 0))
		return -1;
	if (!with_parts)
		return 0;
	if ((*pdim = make_pure_dim(root, nm->part, d->nparts)) < 0 ||
	    (*parts = make_column(root, nm->parts, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nparts,
				  d->part_node_count, *pdim, NULL)) < 0 ||
	    lode__h5_set_text(*parts, "long_name", "nodes of each part") < 0)
		return -1;
	/* CF 3: every variable has a long_name or standard_name. */
	if (d->kind == LODE_GK_POLYGON &&
	    ((*ir = make_column(root, nm->ring, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nparts, d->interior_ring,
				*pdim, NULL)) < 0 ||
	     lode__h5_set_text(*ir, "long_name", "1 for an interior ring, 0 for an exterior ring") < 0))
		return -1;
	return 0;
}

/* ---- a table ---- */

/* A table NAME (a layer without geometry): the group NAME holding the dimension NAME_row
   (one per row), the variable NAME (no value: the attributes) and one NAME_field_V per
   field along NAME_row.  No grid mapping, no geometry container. */
static lode_status add_table(lode__bundle *b, const char *name, const lode_vdata *d, const lode_attr *attrs,
			     size_t nattrs, lode_error *err)
{
	hid_t gcpl = lode__h5_group_cpl(), dcpl = lode__h5_dataset_cpl();
	hid_t g = H5I_INVALID_HID, rows = H5I_INVALID_HID, sp = H5I_INVALID_HID, cont = H5I_INVALID_HID;
	char dim[200];
	lode_status rc = LODE_OK;

	snprintf(dim, sizeof dim, "%s_row", name);
	if (gcpl < 0 || dcpl < 0 || (g = H5Gcreate2(b->file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0 ||
	    (rows = make_pure_dim(g, dim, d->nfeat)) < 0 || (sp = H5Screate(H5S_SCALAR)) < 0 ||
	    (cont = H5Dcreate2(g, name, H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0 ||
	    lode__h5_set_text(cont, "lode_ogr_geometry_type", "None") < 0)
		goto h5fail;
	for (size_t i = 0; i < nattrs; i++)
		if (attrs[i].value && lode__h5_set_text(cont, attrs[i].key, attrs[i].value) < 0)
			goto h5fail;
	for (size_t i = 0; i < d->nfields && !rc; i++)
		rc = write_field(g, name, &d->fields[i], d->nfeat, rows, 1, err);
	goto out;
h5fail:
	lode__h5_save();
	rc = lode__h5_err(err, LODE_EIO, "writing the table");
out:
	if (cont >= 0)
		H5Dclose(cont);
	if (sp >= 0)
		H5Sclose(sp);
	if (rows >= 0)
		H5Dclose(rows);
	if (g >= 0)
		H5Gclose(g);
	if (gcpl >= 0)
		H5Pclose(gcpl);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return rc;
}

/* ---- the layer ---- */

void lode__bundle_set_threads(lode__bundle *b, int threads)
{
	b->threads = threads;
}

lode_status lode__bundle_add_vector(lode__bundle *b, const char *name, const char *crs_wkt,
				    const lode_vdata *d, lode__xyw *xy, const lode_attr *attrs, size_t nattrs,
				    lode_error *err)
{
	hid_t root = b->file, inst = H5I_INVALID_HID, parts = H5I_INVALID_HID;
	hid_t idim = H5I_INVALID_HID, pdim = H5I_INVALID_HID; /* the instance and part dimensions */
	hid_t cz = H5I_INVALID_HID, cm = H5I_INVALID_HID, ir = H5I_INVALID_HID;
	hid_t cont = H5I_INVALID_HID, sp = H5I_INVALID_HID, dcpl = lode__h5_dataset_cpl();
	hid_t head[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
	hid_t nodes = H5I_INVALID_HID, cx = H5I_INVALID_HID, cy = H5I_INVALID_HID; /* head[1..3] */
	layer_names nm;
	char coords[500];
	int pure_points = d->kind == LODE_GK_POINT && !d->multi;
	int write_parts = (d->kind == LODE_GK_LINE && d->multi) ||
			  (d->kind == LODE_GK_POLYGON && (d->multi || d->nparts > d->nfeat));
	size_t stored = 0; /* chunks of x and y stored while the layer was read */
	lode_status rc = LODE_OK;

	column_threads = b->threads;
	if (xy) {
		if ((rc = lode__colenc_finish(xy->enc, err)))
			goto out;
		lode__xyw_drain(xy);
		if (xy->failed) {
			*err = xy->err;
			rc = err->code;
			goto out;
		}
		memcpy(head, xy->head, sizeof head);
		for (int i = 0; i < 4; i++)
			xy->head[i] = H5I_INVALID_HID;
		/* Read again: the chunks stored may be of other nodes; all are written anew. */
		stored = xy->discard ? 0 : xy->written;
	}
	if (d->kind == LODE_GK_NONE) {
		rc = head[0] >= 0 || d->nnodes ? lode__err(err, LODE_EINTERNAL, "table '%s' with nodes", name)
					       : add_table(b, name, d, attrs, nattrs, err);
		goto out;
	}

	for (size_t k = 0; pure_points && k < d->nfeat; k++)
		if (d->node_count[k] != 1)
			pure_points = 0;
	/* A polygon layer whose features each have one ring needs no parts either. */
	if (d->kind == LODE_GK_POLYGON && !write_parts)
		for (size_t k = 0; k < d->nparts; k++)
			if (d->interior_ring[k])
				write_parts = 1;
	name_layer(&nm, name);
	sp = H5Screate(H5S_SCALAR);
	if (sp < 0)
		goto h5fail;
	/* The grid mapping, the nodes, x and y: made while the layer was read when it had
	   whole chunks, then grown to their length; else made here. */
	if (head[0] >= 0) {
		hsize_t n = d->nnodes;
		if (stored * COLUMN_CHUNK > d->nnodes) {
			rc = lode__err(err, LODE_EINTERNAL, "layer '%s': more coordinates stored than read",
				       name);
			goto out;
		}
		if (size_nodes(head[1], n) < 0 || H5Dset_extent(head[2], &n) < 0 ||
		    H5Dset_extent(head[3], &n) < 0)
			goto h5fail;
	} else if (make_head(root, &nm, crs_wkt, d->nnodes, column_chunk(d->nnodes), head) < 0) {
		goto h5fail;
	}
	nodes = head[1];
	cx = head[2];
	cy = head[3];
	if (d->nnodes && (write_column_chunks(cx, d->x, d->nnodes, sizeof(double), column_chunk(d->nnodes),
					      NULL, stored) < 0 ||
			  write_column_chunks(cy, d->y, d->nnodes, sizeof(double), column_chunk(d->nnodes),
					      NULL, stored) < 0))
		goto h5fail;
	if (d->has_z && (cz = make_column(root, nm.z, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, d->nnodes, d->z,
					  nodes, NULL)) < 0)
		goto h5fail;
	/* M: a node variable beside the coordinates, not one of them (CF has no measures). */
	if (d->has_m && (cm = make_column(root, nm.m, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, d->nnodes, d->m,
					  nodes, NULL)) < 0)
		goto h5fail;
	lode__bundle_writeback(b);
	if (cz >= 0 && (lode__h5_set_text(cz, "axis", "Z") < 0 ||
			lode__h5_set_text(cz, "long_name", "z coordinate") < 0))
		goto h5fail;
	if (cm >= 0 && lode__h5_set_text(cm, "long_name", "measure") < 0)
		goto h5fail;
	if (write_counts(root, &nm, d, !pure_points, write_parts, &idim, &inst, &pdim, &parts, &ir) < 0)
		goto h5fail;
	/* The geometry container. */
	cont = H5Dcreate2(root, name, H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (cont < 0)
		goto h5fail;
	snprintf(coords, sizeof coords, "%s %s%s%s", nm.x, nm.y, d->has_z ? " " : "", d->has_z ? nm.z : "");
	if (lode__h5_set_text(cont, "geometry_type",
			      d->kind == LODE_GK_POINT  ? "point"
			      : d->kind == LODE_GK_LINE ? "line"
							: "polygon") < 0 ||
	    lode__h5_set_text(cont, "node_coordinates", coords) < 0 ||
	    (inst >= 0 && lode__h5_set_text(cont, "node_count", nm.count) < 0) ||
	    (parts >= 0 && lode__h5_set_text(cont, "part_node_count", nm.parts) < 0) ||
	    (ir >= 0 && lode__h5_set_text(cont, "interior_ring", nm.ring) < 0) ||
	    lode__h5_set_text(cont, "grid_mapping", nm.crs) < 0 ||
	    lode__h5_set_text(cont, "lode_ogr_geometry_type", lode__vdata_type_name(d)) < 0)
		goto h5fail;
	for (size_t i = 0; i < nattrs; i++)
		if (attrs[i].value && lode__h5_set_text(cont, attrs[i].key, attrs[i].value) < 0)
			goto h5fail;
	/* Fields, along the instance dimension. */
	for (size_t i = 0; i < d->nfields; i++)
		if ((rc = write_field(root, name, &d->fields[i], d->nfeat, idim >= 0 ? idim : nodes, 0, err)))
			goto out;
	goto out;
h5fail:
	rc = lode__h5_err(err, LODE_EIO, "writing the layer");
out:
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (cont >= 0)
		H5Dclose(cont);
	if (ir >= 0)
		H5Dclose(ir);
	if (parts >= 0)
		H5Dclose(parts);
	if (inst >= 0)
		H5Dclose(inst);
	if (idim >= 0)
		H5Dclose(idim);
	if (pdim >= 0)
		H5Dclose(pdim);
	if (cz >= 0)
		H5Dclose(cz);
	if (cm >= 0)
		H5Dclose(cm);
	close_head(head);
	return rc;
}
