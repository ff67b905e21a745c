/*
 * bundle_read.c -- reading a bundle opened with lode__bundle_open: listing its items
 * (raster groups here, vector layers through bundle_vector_read.c; tables or another
 * kind of item would get a case in list_cb and lode__bundle_items), reading a raster's
 * rows, chunk shape and coordinates, and the root attributes as text.
 *
 * The file may be damaged or hostile: an item that cannot be read is listed with its
 * problem rather than failing the listing, and so is one whose variables declare more
 * than the file stores (bundle_bounds.c); values are read through the bounded inflate.  Opening is
 * bundle_file.c's, the structure check of verify bundle_check.c's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "bundle_strict.h"
#include "dtype.h"
#include "error.h"
#include "util.h"

/* ---- listing the items ---- */

typedef struct list_ctx {
	char **names;
	unsigned char *vector; /* 1 for a vector layer's geometry container */
	size_t n, cap;
	int oom;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
	list_ctx *c = data;
	H5O_info_t oi;

	int vec;

	/* Only hard links, and names that can be printed: anything else is no dataset lode
	   wrote (the strict check of verify, ls and extract reports it, escaped), and an
	   external link is not followed into another file. */
	if (info->type != H5L_TYPE_HARD || strlen(name) > LODE_MAX_NAME || lode__has_control(name))
		return 0;
	if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
		return 0;
	/* Rasters are groups; vector layers are the root variables marked as lode layers,
	   tables the groups NAME whose NAME is marked so (lode_ogr_geometry_type None). */
	vec = oi.type == H5O_TYPE_DATASET &&
	      H5Aexists_by_name(g, name, "lode_ogr_geometry_type", H5P_DEFAULT) > 0;
	if (oi.type == H5O_TYPE_GROUP) {
		char inner[2 * LODE_MAX_NAME + 2];
		snprintf(inner, sizeof inner, "%s/%s", name, name);
		vec = H5Lexists(g, inner, H5P_DEFAULT) > 0 &&
		      H5Aexists_by_name(g, inner, "lode_ogr_geometry_type", H5P_DEFAULT) > 0;
	}
	H5Eclear2(H5E_DEFAULT);
	if (oi.type != H5O_TYPE_GROUP && !vec)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **nn = realloc(c->names, cap * sizeof *nn);
		unsigned char *nv = nn ? realloc(c->vector, cap) : NULL;
		if (nn)
			c->names = nn;
		if (!nn || !nv) {
			c->oom = 1;
			return -1;
		}
		c->vector = nv;
		c->cap = cap;
	}
	c->vector[c->n] = (unsigned char)vec;
	if (!(c->names[c->n] = lode__strdup(name))) {
		c->oom = 1;
		return -1;
	}
	c->n++;
	return 0;
}

static void parse_gt(const char *s, double gt[6], int *ok)
{
	*ok = s && sscanf(s, "%lf %lf %lf %lf %lf %lf", &gt[0], &gt[1], &gt[2], &gt[3], &gt[4], &gt[5]) == 6;
}

/* Split text (taken, freed) into n lines; missing lines are "".  NULL on ENOMEM. */
static char **split_lines(char *text, int n)
{
	char **out = calloc((size_t)n, sizeof *out);
	const char *p = text;

	for (int i = 0; out && i < n; i++) {
		size_t len = p ? strcspn(p, "\n") : 0;
		if (!(out[i] = lode__sprintf("%.*s", (int)len, p ? p : ""))) {
			for (int j = 0; j < i; j++)
				free(out[j]);
			free(out);
			out = NULL;
			break;
		}
		if (p)
			p = p[len] ? p + len + 1 : NULL;
	}
	free(text);
	return out;
}

/* The data variable d of raster group g and its x and y, which readers read whole,
   within the limits; a rank-3 variable chunked one band at a time, so that
   reading band by band inflates each chunk once.  NULL or a malloc'd problem. */
static char *storage_problems(hid_t file, hid_t g, hid_t d, size_t *chunk_bytes)
{
	static const char *const coords[2] = {"x", "y"};
	uint64_t declared, chunk;
	char *why = lode__h5_storage_problem(file, d, &declared, &chunk), *problem = NULL;
	hid_t p = H5Dget_create_plist(d);
	hsize_t c[3] = {1, 1, 1};

	*chunk_bytes = (size_t)chunk;
	if (why)
		problem = lode__sprintf("the data variable: %s", why);
	else if (p >= 0 && H5Pget_layout(p) == H5D_CHUNKED && H5Pget_chunk(p, 3, c) == 3 && c[0] != 1)
		problem = lode__sprintf("the data variable's chunks span %llu bands (a reader reads one band "
					"at a time; lode writes one band per chunk)",
					(unsigned long long)c[0]);
	if (p >= 0)
		H5Pclose(p);
	for (int k = 0; k < 2 && !problem; k++) {
		hid_t v = H5Lexists(g, coords[k], H5P_DEFAULT) > 0 ? H5Dopen2(g, coords[k], H5P_DEFAULT)
								   : H5I_INVALID_HID;
		free(why);
		why = v >= 0 ? lode__h5_storage_problem(file, v, &declared, &chunk) : NULL;
		if (why)
			problem = lode__sprintf("the %s coordinate variable: %s", coords[k], why);
		if (v >= 0)
			H5Dclose(v);
	}
	free(why);
	H5Eclear2(H5E_DEFAULT);
	return problem;
}

static void read_item(hid_t file, const char *name, lode_bundle_item *it)
{
	hid_t g = H5I_INVALID_HID, d = H5I_INVALID_HID, c = H5I_INVALID_HID, t = H5I_INVALID_HID,
	      s = H5I_INVALID_HID;
	hsize_t dims[3];
	int rank, ok;
	char *gts = NULL;
	lode__heartbeat();

	it->kind = lode__strdup("raster");
	g = H5Gopen2(file, name, H5P_DEFAULT);
	if (g < 0) {
		it->problem = lode__strdup("the group cannot be opened");
		goto out;
	}
	if (H5Lexists(g, name, H5P_DEFAULT) <= 0 || (d = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
		it->problem = lode__sprintf("no data variable '%s' in the group", name);
		goto out;
	}
	t = H5Dget_type(d);
	s = H5Dget_space(d);
	rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
	it->dtype = t >= 0 ? lode__h5_dtype_of(t) : LODE_DT_UNKNOWN;
	if (it->dtype == LODE_DT_UNKNOWN || (rank != 2 && rank != 3) ||
	    H5Sget_simple_extent_dims(s, dims, NULL) < 0) {
		it->problem = lode__strdup("the data variable has an unsupported type or shape");
		goto out;
	}
	if (rank == 3) {
		it->nbands = (int)dims[0];
		it->ny = (int)dims[1];
		it->nx = (int)dims[2];
	} else {
		it->nbands = 1;
		it->ny = (int)dims[0];
		it->nx = (int)dims[1];
	}
	if (dims[rank - 1] > INT32_MAX || dims[rank - 2] > INT32_MAX || (rank == 3 && dims[0] > 65535)) {
		it->problem = lode__strdup("the data variable is implausibly large");
		goto out;
	}
	/* Sizes come from an untrusted file: what is read must be stored (bundle_bounds.c). */
	if ((it->problem = storage_problems(file, g, d, &it->chunk_bytes)))
		goto out;
	it->content_sha256 = lode__h5_get_text(d, "lode_content_sha256");
	it->lineage = lode__h5_get_text(d, "lode_lineage");
	it->source = lode__h5_get_text(d, "source");
	it->units = lode__h5_get_text(d, "units");
	it->long_name = lode__h5_get_text(d, "long_name");
	it->has_nodata = lode__h5_get_double(d, "_FillValue", &it->nodata) == 0;
	it->band_names = split_lines(lode__h5_get_text(d, "lode_band_names"), it->nbands);
	it->band_units = split_lines(lode__h5_get_text(d, "lode_band_units"), it->nbands);
	if (!it->band_names || !it->band_units) {
		it->problem = lode__strdup("out of memory reading the band names");
		goto out;
	}
	if ((c = H5Dopen2(g, "crs", H5P_DEFAULT)) < 0) {
		it->problem = lode__strdup("no crs variable in the group");
		goto out;
	}
	it->crs_wkt = lode__h5_get_text(c, "crs_wkt");
	gts = lode__h5_get_text(c, "GeoTransform");
	parse_gt(gts, it->gt, &ok);
	if (!it->crs_wkt || !ok)
		it->problem = lode__strdup("the crs variable lacks crs_wkt or GeoTransform");
out:
	H5Eclear2(H5E_DEFAULT);
	free(gts);
	if (c >= 0)
		H5Dclose(c);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (d >= 0)
		H5Dclose(d);
	if (g >= 0)
		H5Gclose(g);
}

lode_status lode__bundle_items(lode__bundle *b, lode_bundle_item **items, size_t *n, lode_error *err)
{
	list_ctx c = {0};
	lode_bundle_item *it = NULL;
	hsize_t idx = 0;

	*items = NULL;
	*n = 0;
	/* Name order works on any HDF5 file; creation order needs the index we always write. */
	if (H5Literate(b->file, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, &c) < 0) {
		H5Eclear2(H5E_DEFAULT);
		for (size_t i = 0; i < c.n; i++)
			free(c.names[i]);
		c.n = 0;
		idx = 0;
		if (c.oom || H5Literate(b->file, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c) < 0) {
			for (size_t i = 0; i < c.n; i++)
				free(c.names[i]);
			free(c.names);
			free(c.vector);
			return c.oom ? lode__err(err, LODE_ENOMEM, "out of memory")
				     : lode__h5_err(err, LODE_EBUNDLE, "listing the bundle's groups");
		}
	}
	it = calloc(c.n ? c.n : 1, sizeof *it);
	if (!it) {
		for (size_t i = 0; i < c.n; i++)
			free(c.names[i]);
		free(c.names);
		free(c.vector);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < c.n; i++) {
		it[i].name = c.names[i];
		if (c.vector[i])
			lode__h5_read_vector_item(b->file, c.names[i], &it[i]);
		else
			read_item(b->file, c.names[i], &it[i]);
		/* Readers parse the lineage as JSON, which takes many times its text: one too
		   long is dropped, and the item listed with the problem. */
		if (it[i].lineage && strlen(it[i].lineage) > LODE__MAX_LINEAGE_BYTES) {
			char *problem = lode__sprintf("its lode_lineage holds %zu bytes, more than a "
						      "reader parses (%u MiB)",
						      strlen(it[i].lineage), LODE__MAX_LINEAGE_BYTES >> 20);
			free(it[i].lineage);
			it[i].lineage = NULL;
			if (!it[i].problem)
				it[i].problem = problem;
			else
				free(problem);
		}
	}
	free(c.names);
	free(c.vector);
	*items = it;
	*n = c.n;
	return LODE_OK;
}

void lode__bundle_items_free(lode_bundle_item *items, size_t n)
{
	for (size_t i = 0; i < n && items; i++) {
		free(items[i].name);
		free(items[i].kind);
		free(items[i].crs_wkt);
		free(items[i].content_sha256);
		free(items[i].lineage);
		free(items[i].problem);
		free(items[i].geometry_type);
		free(items[i].source);
		free(items[i].units);
		free(items[i].long_name);
		for (int k = 0; k < items[i].nbands; k++) {
			if (items[i].band_names)
				free(items[i].band_names[k]);
			if (items[i].band_units)
				free(items[i].band_units[k]);
		}
		free(items[i].band_names);
		free(items[i].band_units);
	}
	free(items);
}

/* ---- reading a raster ---- */

lode_status lode__bundle_read_rows(lode__bundle *b, const lode_bundle_item *item, int band, int y0, int ny,
				   void *buf, lode_error *err)
{
	char path[300], what[96];
	hid_t d;
	int rank = item->nbands > 1 ? 3 : 2;
	hsize_t start[3] = {(hsize_t)band - 1, (hsize_t)y0, 0},
		count[3] = {1, (hsize_t)ny, (hsize_t)item->nx};
	lode_status rc;
	lode__heartbeat();

	/* A name too long for path would open another variable (a decoy): refused. */
	if ((size_t)snprintf(path, sizeof path, "%s/%s", item->name, item->name) >= sizeof path)
		return lode__err(err, LODE_EDAMAGED, "the dataset's name is too long for a lode bundle");
	d = H5Dopen2(b->file, path, H5P_DEFAULT);
	if (d < 0)
		return lode__h5_err(err, LODE_EDAMAGED, "opening the data variable");
	{
		/* The selection below has the rank the item's band count implies: a variable of
		   another rank (one band stored as band, y, x) is refused, not read past. */
		hid_t sp = H5Dget_space(d);
		int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
		if (sp >= 0)
			H5Sclose(sp);
		if (nd != rank) {
			H5Dclose(d);
			return lode__err(err, LODE_EDAMAGED, "the data variable has %d dimensions, not %d",
					 nd, rank);
		}
	}
	snprintf(what, sizeof what, "reading band %d rows %d-%d (a chunk is damaged)", band, y0, y0 + ny - 1);
	rc = lode__h5_read_slab_mt(d, lode__h5_mem_type(item->dtype), rank == 3 ? start : start + 1,
				   rank == 3 ? count : count + 1, buf, b->decode_threads, err, LODE_EDAMAGED,
				   what);
	H5Dclose(d);
	return rc;
}

int lode__bundle_chunk_rows(lode__bundle *b, const lode_bundle_item *item)
{
	char path[300];
	hid_t d, p;
	hsize_t chunk[3] = {0, 0, 0};
	int rank = item->nbands > 1 ? 3 : 2, rows = 256;

	snprintf(path, sizeof path, "%s/%s", item->name, item->name);
	d = H5Dopen2(b->file, path, H5P_DEFAULT);
	if (d < 0) {
		H5Eclear2(H5E_DEFAULT);
		return rows;
	}
	p = H5Dget_create_plist(d);
	/* Any chunk height: the listing bounded the chunk's bytes (bundle_bounds.c). */
	if (p >= 0 && H5Pget_layout(p) == H5D_CHUNKED && H5Pget_chunk(p, rank, chunk) == rank &&
	    chunk[rank - 2] > 0 && chunk[rank - 2] <= INT32_MAX)
		rows = (int)chunk[rank - 2];
	if (p >= 0)
		H5Pclose(p);
	H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return rows;
}

lode_status lode__bundle_read_coords(lode__bundle *b, const lode_bundle_item *item, double **xs, double **ys,
				     lode_error *err)
{
	const char *names[2] = {"x", "y"};
	int counts[2] = {item->nx, item->ny};
	double **outs[2] = {xs, ys};
	lode_status rc = LODE_OK;

	*xs = *ys = NULL;
	for (int k = 0; k < 2 && !rc; k++) {
		char path[300], *why;
		hid_t d, s;
		hsize_t n = 0;
		uint64_t declared, chunk;

		snprintf(path, sizeof path, "%s/%s", item->name, names[k]);
		d = H5Dopen2(b->file, path, H5P_DEFAULT);
		s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
		if (d < 0 || s < 0 || H5Sget_simple_extent_ndims(s) != 1 ||
		    H5Sget_simple_extent_dims(s, &n, NULL) < 0 || n != (hsize_t)counts[k]) {
			rc = lode__err(err, LODE_EDAMAGED,
				       "the %s coordinate variable is missing or has the wrong length",
				       names[k]);
		} else if ((why = lode__h5_storage_problem(b->file, d, &declared, &chunk))) {
			rc = lode__err(err, LODE_EDAMAGED, "the %s coordinate variable: %s", names[k], why);
			free(why);
		} else if (!(*outs[k] = malloc(sizeof(double) * (size_t)n))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		} else {
			rc = lode__h5_read_slab(d, H5T_NATIVE_DOUBLE, NULL, NULL, *outs[k], err,
						LODE_EDAMAGED, names[k]);
		}
		if (s >= 0)
			H5Sclose(s);
		if (d >= 0)
			H5Dclose(d);
	}
	H5Eclear2(H5E_DEFAULT);
	if (rc) {
		free(*xs);
		free(*ys);
		*xs = *ys = NULL;
	}
	return rc;
}

/* ---- the root attributes ---- */

lode_status lode__bundle_get_attr(lode__bundle *b, const char *key, char **value, lode_error *err)
{
	(void)err;
	*value = lode__h5_get_text(b->file, key);
	return LODE_OK;
}

typedef struct attr_list {
	lode_kv *kv;
	size_t n, cap;
	int failed;
} attr_list;

/* An attribute's value as text: strings as they are, numbers as %.17g joined by ",". */
static char *attr_text(hid_t obj, const char *name)
{
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
	char *out = NULL;
	hssize_t np;
	H5T_class_t cls;

	if (a < 0)
		goto out;
	t = H5Aget_type(a);
	s = H5Aget_space(a);
	cls = H5Tget_class(t);
	if (cls == H5T_STRING) {
		H5Aclose(a);
		a = H5I_INVALID_HID;
		out = lode__h5_get_text(obj, name);
		if (!out) /* a string array or another form lode does not write */
			out = lode__strdup("(unsupported attribute type)");
		goto out;
	}
	np = H5Sget_simple_extent_npoints(s);
	if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && np >= 0 && np <= 100000) {
		double *v = malloc(sizeof(double) * (size_t)(np ? np : 1));
		size_t cap = (size_t)np * 26 + 1;
		if (v && (out = calloc(1, cap)) && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
			for (hssize_t i = 0; i < np; i++)
				snprintf(out + strlen(out), cap - strlen(out), "%s%.17g", i ? "," : "", v[i]);
		}
		free(v);
	} else {
		out = lode__strdup("(unsupported attribute type)");
	}
out:
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	H5Eclear2(H5E_DEFAULT);
	return out;
}

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
	attr_list *l = data;

	(void)info;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		lode_kv *kv = realloc(l->kv, cap * sizeof *kv);
		if (!kv) {
			l->failed = 1;
			return -1;
		}
		l->kv = kv;
		l->cap = cap;
	}
	l->kv[l->n].key = lode__strdup(name);
	l->kv[l->n].value = attr_text(obj, name);
	if (!l->kv[l->n].key || !l->kv[l->n].value) {
		free(l->kv[l->n].key);
		free(l->kv[l->n].value);
		l->failed = 1;
		return -1;
	}
	l->n++;
	return 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const lode_kv *)a)->key, ((const lode_kv *)b)->key);
}

lode_status lode__bundle_root_attrs(lode__bundle *b, lode_kv **attrs, size_t *n, lode_error *err)
{
	attr_list l = {NULL, 0, 0, 0};
	hsize_t idx = 0;

	*attrs = NULL;
	*n = 0;
	if (H5Aiterate2(b->file, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &l) < 0 || l.failed) {
		lode__kv_free(l.kv, l.n);
		H5Eclear2(H5E_DEFAULT);
		return lode__err(err, LODE_EBUNDLE, "the bundle's global attributes cannot be read");
	}
	qsort(l.kv, l.n, sizeof *l.kv, kv_cmp);
	*attrs = l.kv;
	*n = l.n;
	return LODE_OK;
}

void lode__kv_free(lode_kv *kv, size_t n)
{
	for (size_t i = 0; i < n && kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}
