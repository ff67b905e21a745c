/*
 * bundle_vector_read.c -- reading vector layers back: the item a layer's geometry
 * container describes (for lode__bundle_items), and the whole layer into a lode_vdata
 * (coordinates, counts, parts and the fields the lineage lists).  The file may be
 * damaged or hostile: every variable is checked against what the file stores
 * (bundle_bounds.c) and what holding the layer takes against the bundle's bound
 * (lode__bundle_set_max_memory) before anything is allocated, values are read so that no
 * chunk inflates past its declared size, and counts, parts, types, fill values and nulls
 * must agree.
 *
 * Writing layers is bundle_vector.c's; rasters are read in bundle_read.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <jansson.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "error.h"
#include "util.h"
#include "vdata.h"

#define MAX_VECTOR_ELEMS ((hsize_t)1 << 34) /* refuse implausible lengths read from a bundle */

/* ---- the item (for lode__bundle_items) ---- */

/* Length of a 1-D variable, or -1. */
static long long var_len(hid_t file, const char *name)
{
	hid_t d = H5Dopen2(file, name, H5P_DEFAULT), s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
	hsize_t n = 0;
	long long len = -1;

	if (s >= 0 && H5Sget_simple_extent_ndims(s) == 1 && H5Sget_simple_extent_dims(s, &n, NULL) == 1 &&
	    n <= MAX_VECTOR_ELEMS)
		len = (long long)n;
	if (s >= 0)
		H5Sclose(s);
	if (d >= 0)
		H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return len;
}

/* Variable name of file checked against what the file stores (bundle_bounds.c); *bytes
   gets its declared size.  NULL, or a malloc'd problem naming the variable. */
static char *var_problem(hid_t file, const char *name, uint64_t *bytes)
{
	hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
	uint64_t chunk = 0;
	char *why, *problem = NULL;

	*bytes = 0;
	if (d < 0) {
		H5Eclear2(H5E_DEFAULT);
		return lode__sprintf("variable %s is missing", name);
	}
	if ((why = lode__h5_storage_problem(file, d, bytes, &chunk)))
		problem = lode__sprintf("variable %s: %s", name, why);
	free(why);
	H5Dclose(d);
	return problem;
}

/* The node coordinates (names separated by spaces) and the count variable (or NULL),
   whose lengths the listing reports, checked against what the file stores. */
static char *stored_problem(hid_t file, const char *coords, const char *count)
{
	char names[4][300] = {"", "", "", ""};
	uint64_t bytes;
	char *problem = NULL;

	sscanf(coords, "%299s %299s %299s", names[0], names[1], names[2]);
	if (count)
		snprintf(names[3], sizeof names[3], "%s", count);
	for (int k = 0; k < 4 && !problem; k++)
		if (names[k][0])
			problem = var_problem(file, names[k], &bytes);
	return problem;
}

/* A table NAME: the group NAME with its variable NAME and dimension NAME_row. */
static void read_table_item(hid_t file, const char *name, lode_bundle_item *it)
{
	char *path = lode__sprintf("%s/%s", name, name), *rows = lode__sprintf("%s/%s_row", name, name);
	hid_t c = path ? H5Dopen2(file, path, H5P_DEFAULT) : H5I_INVALID_HID;
	uint64_t bytes;

	if (c < 0) {
		it->problem = lode__strdup(path ? "the table's variable cannot be opened" : "out of memory");
		goto out;
	}
	it->geometry_type = lode__h5_get_text(c, "lode_ogr_geometry_type");
	it->content_sha256 = lode__h5_get_text(c, "lode_content_sha256");
	it->lineage = lode__h5_get_text(c, "lode_lineage");
	it->source = lode__h5_get_text(c, "source");
	it->long_name = lode__h5_get_text(c, "long_name");
	if (!it->geometry_type || strcmp(it->geometry_type, "None") != 0)
		it->problem = lode__strdup("the table's variable is not marked lode_ogr_geometry_type None");
	else if (!rows || (it->nfeat = var_len(file, rows)) < 0)
		it->problem = lode__strdup("the table's row dimension cannot be read");
	/* NAME_row is a netCDF dimension without a variable: it stores no chunk (as a
	   layer's node dimension, which is not checked either), so the storage check of
	   var_problem would refuse every table of more than LODE__UNSTORED_BYTES / 4 rows.
	   Its fields are checked, each along it. */
	(void)bytes;
out:
	H5Eclear2(H5E_DEFAULT);
	if (c >= 0)
		H5Dclose(c);
	free(path);
	free(rows);
}

void lode__h5_read_vector_item(hid_t file, const char *name, lode_bundle_item *it)
{
	hid_t c = H5I_INVALID_HID, crs = H5I_INVALID_HID;
	char *count = NULL, *coords = NULL, *gm = NULL;
	H5O_info_t oi;
	lode__heartbeat();

	it->kind = lode__strdup("vector");
	it->nbands = 0;
	/* A group is a table (bundle_read.c lists it as one only when NAME/NAME is marked). */
	if (H5Oget_info_by_name2(file, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
	    oi.type == H5O_TYPE_GROUP) {
		read_table_item(file, name, it);
		return;
	}
	H5Eclear2(H5E_DEFAULT);
	c = H5Dopen2(file, name, H5P_DEFAULT);
	if (c < 0) {
		it->problem = lode__strdup("the geometry container cannot be opened");
		goto out;
	}
	it->geometry_type = lode__h5_get_text(c, "lode_ogr_geometry_type");
	it->content_sha256 = lode__h5_get_text(c, "lode_content_sha256");
	it->lineage = lode__h5_get_text(c, "lode_lineage");
	it->source = lode__h5_get_text(c, "source");
	it->long_name = lode__h5_get_text(c, "long_name");
	count = lode__h5_get_text(c, "node_count");
	coords = lode__h5_get_text(c, "node_coordinates");
	gm = lode__h5_get_text(c, "grid_mapping");
	if (!coords || !gm) {
		it->problem = lode__strdup("the geometry container lacks node_coordinates or grid_mapping");
		goto out;
	}
	if (count) {
		it->nfeat = var_len(file, count);
	} else {
		char first[300];
		sscanf(coords, "%299s", first);
		it->nfeat = var_len(file, first);
	}
	if (it->nfeat < 0) {
		it->problem = lode__strdup("the node or instance count cannot be read");
		goto out;
	}
	/* The counts listed come from an untrusted file: what they count must be stored. */
	if ((it->problem = stored_problem(file, coords, count)))
		goto out;
	crs = H5Dopen2(file, gm, H5P_DEFAULT);
	if (crs >= 0)
		it->crs_wkt = lode__h5_get_text(crs, "crs_wkt");
	if (!it->crs_wkt)
		it->problem = lode__strdup("the grid-mapping variable lacks crs_wkt");
out:
	H5Eclear2(H5E_DEFAULT);
	free(count);
	free(coords);
	free(gm);
	if (crs >= 0)
		H5Dclose(crs);
	if (c >= 0)
		H5Dclose(c);
}

/* ---- the layer ---- */

/* What reading one layer holds, against its bound (lode__bundle_set_max_memory). */
typedef struct vread {
	hid_t file;
	const char *layer;
	size_t max;    /* bytes; 0: no bound */
	uint64_t held; /* what the layer's values were estimated to need, plus its texts */
} vread;

#define MB           1048576.0
#define STRING_BATCH 65536 /* text values read at once */

/* Read a whole 1-D numeric variable of n values into a new buffer of memory type mt. */
static void *read_column(hid_t file, const char *name, hid_t mt, size_t n, size_t sz, lode_error *err,
			 lode_status *rc)
{
	void *buf;
	long long len = var_len(file, name);
	hid_t d;
	lode__heartbeat();

	if (len < 0 || (size_t)len != n) {
		*rc = lode__err(err, LODE_EDAMAGED, "variable %s is missing or has the wrong length", name);
		return NULL;
	}
	buf = malloc(n ? n * sz : 1);
	if (!buf) {
		*rc = lode__err(err, LODE_ENOMEM, "out of memory");
		return NULL;
	}
	d = H5Dopen2(file, name, H5P_DEFAULT);
	if (d < 0)
		*rc = lode__h5_err(err, LODE_EDAMAGED, name);
	else if (n)
		*rc = lode__h5_read_slab(d, mt, NULL, NULL, buf, err, LODE_EDAMAGED, name);
	if (d < 0 || *rc) {
		free(buf);
		buf = NULL;
	}
	if (d >= 0)
		H5Dclose(d);
	return buf;
}

/* Read the n strings of field variable d (vname) into f->values, STRING_BATCH at a
   time, copies in its text (vdata.h); what that takes is added to v->held, against its
   bound. */
static lode_status read_strings(vread *v, hid_t d, const char *vname, lode_vfield *f, size_t n,
				lode_error *err)
{
	char **vals = calloc(STRING_BATCH, sizeof *vals);
	hid_t st = lode__h5_vlen_string_type();
	lode_status rc = LODE_OK;

	f->values = calloc(n ? n : 1, sizeof(char *));
	if (!vals || st < 0 || !f->values) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (var_len(v->file, vname) != (long long)n) {
		rc = lode__err(err, LODE_EDAMAGED, "variable %s is missing or has the wrong length", vname);
		goto out;
	}
	for (size_t k0 = 0; k0 < n && !rc; k0 += STRING_BATCH) {
		hsize_t start = k0, count = n - k0 < STRING_BATCH ? n - k0 : STRING_BATCH;
		if ((rc = lode__h5_read_slab(d, st, &start, &count, vals, err, LODE_EDAMAGED, vname)))
			break;
		/* Copy into the field's text, then give HDF5's back. */
		for (size_t k = 0; k < count; k++) {
			const char *t = f->isnull[k0 + k] || !vals[k] ? "" : vals[k];
			size_t before = f->text.bytes;
			if (!rc && lode__vfield_set_text(f, k0 + k, t))
				rc = lode__err(err, LODE_ENOMEM, "out of memory");
			v->held += f->text.bytes - before;
			if (!rc && v->max && v->held > v->max)
				rc = lode__err(
				    err, LODE_ENOMEM,
				    "the layer's text values need more than --max-memory allows "
				    "(%.1f MB); lode holds a layer whole while reading it: allow more "
				    "memory",
				    v->max / MB);
			H5free_memory(vals[k]);
			vals[k] = NULL;
		}
	}
out:
	if (st >= 0)
		H5Tclose(st);
	free(vals);
	return rc;
}

/* Every list of f (a list field read as text) is the compact JSON array of items of its
   type that lode writes (bundle-format.md 5.3), "" when null: extract and GDAL can use it. */
static lode_status check_lists(const lode_vfield *f, size_t n, const char *vname, lode_error *err)
{
	for (size_t k = 0; k < n; k++) {
		const char *s = ((char *const *)f->values)[k];
		json_t *a = f->isnull[k] ? NULL : json_loads(s, JSON_DECODE_ANY, NULL);
		char *back = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		int ok = f->isnull[k] ? !s[0] : json_is_array(a) && back && !strcmp(back, s);

		for (size_t i = 0; ok && i < json_array_size(a); i++) {
			json_t *x = json_array_get(a, i);
			ok = f->type == LODE_FT_STRLIST    ? json_is_string(x)
			     : f->type == LODE_FT_REALLIST ? json_is_real(x)
			     : f->type == LODE_FT_INTLIST
				 ? json_is_integer(x) && json_integer_value(x) >= INT32_MIN &&
				       json_integer_value(x) <= INT32_MAX
				 : json_is_integer(x);
		}
		free(back);
		json_decref(a);
		if (!ok)
			return lode__err(err, LODE_EDAMAGED,
					 "%s: feature %zu: not the %s lode writes (a compact JSON array of "
					 "its items, or \"\" when null)",
					 vname, k, lode__ftype_name(f->type));
	}
	return LODE_OK;
}

static lode_status read_vfield(vread *v, lode_vfield *f, size_t n, lode_error *err)
{
	hid_t file = v->file;
	char *vname = lode__sprintf("%s_field_%s", v->layer, f->var), *fname = NULL, *ftype = NULL;
	hid_t d = H5I_INVALID_HID, a = H5I_INVALID_HID, as = H5I_INVALID_HID;
	size_t sz = lode__ftype_size(f->type);
	lode_status rc = LODE_OK;
	lode__heartbeat();

	if (!vname)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (!(f->isnull = calloc(n ? n : 1, 1))) {
		free(vname);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	d = H5Dopen2(file, vname, H5P_DEFAULT);
	if (d < 0) {
		rc = lode__err(err, LODE_EDAMAGED, "field variable %s is missing", vname);
		goto out;
	}
	fname = lode__h5_get_text(d, "ogr_field_name");
	ftype = lode__h5_get_text(d, "ogr_field_type");
	if (!fname || !ftype || strcmp(fname, f->name) != 0 || lode__ftype_from_name(ftype) != f->type) {
		rc = lode__err(err, LODE_EDAMAGED,
			       "field variable %s does not match the lineage's field '%s'", vname, f->name);
		goto out;
	}
	/* Nulls: the lode_nulls attribute lists the feature indices. */
	if (H5Aexists(d, "lode_nulls") > 0) {
		hssize_t k;
		int64_t *idx;
		a = H5Aopen(d, "lode_nulls", H5P_DEFAULT);
		as = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
		k = as >= 0 ? H5Sget_simple_extent_npoints(as) : -1;
		if (k < 0 || (size_t)k > n) {
			rc = lode__err(err, LODE_EDAMAGED, "%s: implausible lode_nulls", vname);
			goto out;
		}
		idx = malloc((size_t)(k ? k : 1) * sizeof *idx);
		if (!idx || H5Aread(a, H5T_NATIVE_INT64, idx) < 0) {
			free(idx);
			rc = idx ? lode__h5_err(err, LODE_EDAMAGED, vname)
				 : lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (hssize_t j = 0; j < k; j++) {
			if (idx[j] < 0 || (size_t)idx[j] >= n) {
				rc = lode__err(err, LODE_EDAMAGED,
					       "%s: lode_nulls names feature %lld, beyond the layer", vname,
					       (long long)idx[j]);
				free(idx);
				goto out;
			}
			if (!f->isnull[idx[j]])
				f->nnull++;
			f->isnull[idx[j]] = 1;
		}
		free(idx);
	}
	if (lode__ftype_is_text(f->type)) {
		if ((rc = read_strings(v, d, vname, f, n, err)) == LODE_OK && lode__ftype_is_list(f->type))
			rc = check_lists(f, n, vname, err);
		goto out;
	}
	f->values = read_column(file, vname, lode__h5_field_mtype(f->type), n, sz, err, &rc);
	if (!f->values)
		goto out;
	{
		/* The fill value must mark exactly the nulls, or GDAL and lode would disagree. */
		unsigned char fill[8] = {0};
		int has_fill = 0;
		if (H5Aexists(d, "_FillValue") > 0) {
			hid_t fa = H5Aopen(d, "_FillValue", H5P_DEFAULT);
			has_fill = fa >= 0 && H5Aread(fa, lode__h5_field_mtype(f->type), fill) >= 0;
			if (fa >= 0)
				H5Aclose(fa);
		}
		for (size_t k = 0; k < n; k++) {
			unsigned char *slot = (unsigned char *)f->values + k * sz;
			int is_fill = has_fill && memcmp(slot, fill, sz) == 0;
			if (is_fill != f->isnull[k]) {
				rc = lode__err(err, LODE_EDAMAGED,
					       "%s: feature %zu: the _FillValue and lode_nulls disagree",
					       vname, k);
				goto out;
			}
			if (f->isnull[k])
				memset(slot, 0, sz);
		}
	}
out:
	H5Eclear2(H5E_DEFAULT);
	if (as >= 0)
		H5Sclose(as);
	if (a >= 0)
		H5Aclose(a);
	if (d >= 0)
		H5Dclose(d);
	free(fname);
	free(ftype);
	free(vname);
	return rc;
}

/* Read a layer's nodes (x, y, z and m: the variables nx, ny, nz and nm), its node counts (the
   variable count, or one per feature for plain points) and its parts (the variables
   parts and ring, or one per feature) into d, whose kind, has_z, has_m, nnodes and nfeat
   are set. */
static lode_status read_nodes_and_parts(hid_t file, const char *nx, const char *ny, const char *nz,
					const char *nm, const char *count, const char *parts,
					const char *ring, lode_vdata *d, lode_error *err)
{
	lode_status rc = LODE_OK;

	if (!(d->x = read_column(file, nx, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc)) ||
	    !(d->y = read_column(file, ny, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc)) ||
	    (d->has_z && !(d->z = read_column(file, nz, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc))) ||
	    (d->has_m && !(d->m = read_column(file, nm, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc))))
		return rc;
	if (count) {
		if (!(d->node_count = read_column(file, count, H5T_NATIVE_INT32, d->nfeat, 4, err, &rc)))
			return rc;
	} else {
		/* Plain points: one node per feature. */
		if (d->nnodes != d->nfeat || !(d->node_count = malloc((d->nfeat ? d->nfeat : 1) * 4)))
			return lode__err(err, d->nnodes != d->nfeat ? LODE_EDAMAGED : LODE_ENOMEM,
					 "point layer: node and feature counts differ");
		for (size_t k = 0; k < d->nfeat; k++)
			d->node_count[k] = 1;
	}
	if (parts) {
		long long np = var_len(file, parts);
		d->nparts = np < 0 ? 0 : (size_t)np;
		if (!(d->part_node_count =
			  read_column(file, parts, H5T_NATIVE_INT32, d->nparts, 4, err, &rc)))
			return rc;
		if (ring) {
			if (!(d->interior_ring =
				  read_column(file, ring, H5T_NATIVE_INT32, d->nparts, 4, err, &rc)))
				return rc;
		} else if (!(d->interior_ring = calloc(d->nparts ? d->nparts : 1, 4))) {
			return lode__err(err, LODE_ENOMEM, "out of memory");
		}
	} else if (d->kind != LODE_GK_POINT) {
		/* One part per feature: the whole feature is one line or one ring. */
		d->nparts = 0;
		d->part_node_count = malloc((d->nfeat ? d->nfeat : 1) * 4);
		d->interior_ring = calloc(d->nfeat ? d->nfeat : 1, 4);
		if (!d->part_node_count || !d->interior_ring)
			return lode__err(err, LODE_ENOMEM, "out of memory");
		for (size_t k = 0; k < d->nfeat; k++)
			if (d->node_count[k] > 0)
				d->part_node_count[d->nparts++] = d->node_count[k];
	}
	return rc;
}

/* The counts must add up, or the geometry cannot be rebuilt. */
static lode_status check_counts(const lode_vdata *d, lode_error *err)
{
	unsigned long long sum = 0, psum = 0;

	for (size_t k = 0; k < d->nfeat; k++) {
		if (d->node_count[k] < 0)
			return lode__err(err, LODE_EDAMAGED, "a negative node count");
		sum += (unsigned long long)d->node_count[k];
	}
	for (size_t k = 0; k < d->nparts; k++) {
		if (d->part_node_count[k] <= 0)
			return lode__err(err, LODE_EDAMAGED, "an empty or negative part");
		psum += (unsigned long long)d->part_node_count[k];
	}
	if (sum != d->nnodes || (d->kind != LODE_GK_POINT && psum != d->nnodes))
		return lode__err(err, LODE_EDAMAGED, "the node, part and feature counts do not add up");
	return LODE_OK;
}

/* The CF type (gtype), lode's OGR type (t) and the parts must tell the same story. */
static lode_status check_parts(const lode_vdata *d, const char *t, const char *gtype, lode_error *err)
{
	lode_gkind want = strstr(t, "Polygon")      ? LODE_GK_POLYGON
			  : strstr(t, "LineString") ? LODE_GK_LINE
			  : strstr(t, "Point")      ? LODE_GK_POINT
						    : 0;
	size_t part = 0;

	if (want != d->kind)
		return lode__err(err, LODE_EDAMAGED, "geometry_type '%s' contradicts the layer type %s",
				 gtype, t);
	for (size_t k = 0; d->kind != LODE_GK_POINT && k < d->nfeat; k++) {
		long long left = d->node_count[k];
		int nparts = 0, exteriors = 0;
		for (; left > 0 && part < d->nparts; part++, nparts++) {
			exteriors += d->kind == LODE_GK_POLYGON && !d->interior_ring[part];
			left -= d->part_node_count[part];
		}
		if (left != 0 || (nparts && d->kind == LODE_GK_POLYGON && d->interior_ring[part - nparts]) ||
		    (!d->multi && (d->kind == LODE_GK_LINE ? nparts > 1 : exteriors > 1)))
			return lode__err(err, LODE_EDAMAGED,
					 "feature %zu: its parts do not fit its node count or type", k);
	}
	return LODE_OK;
}

/*
 * Before anything of the layer is allocated: every variable its reading reads (the node
 * coordinates nx, ny, nz, the counts, parts and rings when named, the fields the lineage
 * lists) checked against what the file stores (bundle_bounds.c), and what holding their
 * values takes, with the flags and counts made up for them, against v->max.  A text
 * value is counted at its pointers, flag and allocation (33 bytes), its characters as
 * they are read (read_strings).
 */
static lode_status layer_check(vread *v, const char *const vars[7], json_t *fields, size_t nfeat,
			       lode_gkind kind, lode_error *err)
{
	uint64_t need = 0;

	for (size_t i = 0; i < 7 + json_array_size(fields); i++) {
		uint64_t bytes = 0;
		char *problem;
		json_t *fj = json_array_get(fields, i - 7);
		const char *fvar = i < 7 ? NULL : json_string_value(json_object_get(fj, "variable"));
		const char *ftype = i < 7 ? NULL : json_string_value(json_object_get(fj, "type"));
		char *name =
		    i < 7 ? lode__strdup(vars[i]) : lode__sprintf("%s_field_%s", v->layer, fvar ? fvar : "");

		if (!name)
			return lode__err(err, LODE_ENOMEM, "out of memory");
		problem = name[0] ? var_problem(v->file, name, &bytes) : NULL;
		free(name);
		if (problem) {
			lode_status rc = lode__err(err, LODE_EDAMAGED, "%s", problem);
			free(problem);
			return rc;
		}
		if (i >= 7 && ftype && lode__ftype_is_text(lode__ftype_from_name(ftype)))
			bytes = 33 * (uint64_t)nfeat;
		else if (i >= 7)
			bytes += nfeat; /* the null flags */
		need += bytes;
	}
	if (!vars[3][0])
		need += 4 * (uint64_t)nfeat; /* one node per point */
	if (!vars[4][0] && kind != LODE_GK_POINT && kind != LODE_GK_NONE)
		need += 8 * (uint64_t)nfeat; /* one part per feature */
	v->held = need;
	if (v->max && need > v->max)
		return lode__err(
		    err, LODE_ENOMEM,
		    "reading the layer needs about %.1f MB (%zu features, %zu fields), more than "
		    "--max-memory allows (%.1f MB); lode holds a layer whole while reading it: "
		    "allow more memory",
		    need / MB, nfeat, json_array_size(fields), v->max / MB);
	return LODE_OK;
}

/* Read the fields of the layer into d->fields (d->nfields of them), as the item's
   lineage lists them. */
static lode_status read_fields(vread *v, json_t *fields, lode_vdata *d, lode_error *err)
{
	lode_status rc = LODE_OK;

	d->fields = calloc(json_array_size(fields) + 1, sizeof *d->fields);
	if (!d->fields) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(fields); i++) {
		json_t *fj = json_array_get(fields, i);
		lode_vfield *f = &d->fields[i];
		const char *fname = json_string_value(json_object_get(fj, "name"));
		const char *fvar = json_string_value(json_object_get(fj, "variable"));
		const char *ftype = json_string_value(json_object_get(fj, "type"));

		d->nfields = i + 1;
		if (!fname || !fvar || !ftype || !(f->type = lode__ftype_from_name(ftype))) {
			rc = lode__err(err, LODE_EDAMAGED, "the lineage's field %zu is malformed", i + 1);
			goto out;
		}
		f->name = lode__strdup(fname);
		f->var = lode__strdup(fvar);
		f->width = (int)json_integer_value(json_object_get(fj, "width"));
		if (!f->name || !f->var) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = read_vfield(v, f, d->nfeat, err)))
			goto out;
	}
out:
	return rc;
}

lode_status lode__bundle_read_vector(lode__bundle *b, const lode_bundle_item *item, lode_vdata **out,
				     lode_error *err)
{
	hid_t file = b->file, c = H5I_INVALID_HID;
	char *gtype = NULL, *coords = NULL, *count = NULL, *parts = NULL, *ring = NULL;
	char nx[300] = "", ny[300] = "", nz[300] = "", nm[300] = "";
	lode_vdata *d = NULL;
	int table = item->geometry_type && !strcmp(item->geometry_type, "None");
	char *tpath = table ? lode__sprintf("%s/%s", item->name, item->name) : NULL;
	vread v = {file, table ? tpath : item->name, b->max_memory, 0};
	json_t *lin = NULL, *fields;
	lode_status rc = LODE_OK;

	*out = NULL;
	/* json_is_array evaluates its argument twice: the lineage is parsed first. */
	lin = item->lineage && !item->problem ? json_loads(item->lineage, 0, NULL) : NULL;
	fields = json_object_get(lin, "fields");
	if (item->problem || (table && !tpath) || !json_is_array(fields)) {
		rc = item->problem     ? lode__err(err, LODE_EDAMAGED, "%s", item->problem)
		     : table && !tpath ? lode__err(err, LODE_ENOMEM, "out of memory")
				       : lode__err(err, LODE_EDAMAGED, "the lineage lacks the field list");
		json_decref(lin);
		free(tpath);
		return rc;
	}
	d = calloc(1, sizeof *d);
	if (table && d) { /* a table: no geometry, every node count 0 */
		const char *const none[7] = {"", "", "", "", "", "", ""};
		d->kind = LODE_GK_NONE;
		d->nfeat = (size_t)item->nfeat;
		if ((rc = layer_check(&v, none, fields, d->nfeat, d->kind, err)))
			goto out;
		if (!(d->node_count = calloc(d->nfeat ? d->nfeat : 1, sizeof(int32_t)))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		goto fields;
	}
	c = d ? H5Dopen2(file, item->name, H5P_DEFAULT) : H5I_INVALID_HID;
	if (!d || c < 0) {
		rc = d ? lode__h5_err(err, LODE_EDAMAGED, item->name)
		       : lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	gtype = lode__h5_get_text(c, "geometry_type");
	coords = lode__h5_get_text(c, "node_coordinates");
	count = lode__h5_get_text(c, "node_count");
	parts = lode__h5_get_text(c, "part_node_count");
	ring = lode__h5_get_text(c, "interior_ring");
	d->kind = !gtype                      ? 0
		  : !strcmp(gtype, "point")   ? LODE_GK_POINT
		  : !strcmp(gtype, "line")    ? LODE_GK_LINE
		  : !strcmp(gtype, "polygon") ? LODE_GK_POLYGON
					      : 0;
	if (!d->kind || !coords || sscanf(coords, "%299s %299s %299s", nx, ny, nz) < 2 ||
	    !item->geometry_type) {
		rc = lode__err(err, LODE_EDAMAGED,
			       "the geometry container's attributes are missing or unknown");
		goto out;
	}
	d->has_z = nz[0] != '\0';
	/* Measures: lode's type ends in " M" and NAME_coordM holds them. */
	d->has_m = strlen(item->geometry_type) > 2 &&
		   !strcmp(item->geometry_type + strlen(item->geometry_type) - 2, " M");
	if (d->has_m)
		snprintf(nm, sizeof nm, "%s_coordM", item->name);
	d->multi = strstr(item->geometry_type, "Multi") != NULL;
	d->nnodes = (size_t)(var_len(file, nx) < 0 ? 0 : var_len(file, nx));
	d->nfeat = (size_t)item->nfeat;
	{
		const char *const vars[7] = {
		    nx, ny, nz, count ? count : "", parts ? parts : "", ring ? ring : "", nm};
		if ((rc = layer_check(&v, vars, fields, d->nfeat, d->kind, err)))
			goto out;
	}
	if ((rc = read_nodes_and_parts(file, nx, ny, nz, nm, count, parts, ring, d, err)))
		goto out;
	/* The counts must add up, or the geometry cannot be rebuilt. */
	if ((rc = check_counts(d, err)))
		goto out;
	/* The CF type, lode's OGR type and the parts must tell the same story. */
	if ((rc = check_parts(d, item->geometry_type, gtype, err)))
		goto out;
fields:
	/* Fields, as the lineage lists them. */
	if ((rc = read_fields(&v, fields, d, err)))
		goto out;
	*out = d;
	d = NULL;
out:
	free(tpath);
	json_decref(lin);
	lode__vdata_free(d);
	free(gtype);
	free(coords);
	free(count);
	free(parts);
	free(ring);
	if (c >= 0)
		H5Dclose(c);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}
