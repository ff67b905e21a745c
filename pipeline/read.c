/*
 * read.c -- what the receiving side runs on a bundle: verify, ls and extract.
 *
 * verify recomputes every content digest from the stored values (which also makes HDF5
 * check every chunk's Fletcher32 checksum), checks that the lineage agrees with the
 * grid-mapping attributes, and recomputes the bundle digest.  A bundle is untrusted
 * input: sizes read from it are checked before they size an allocation.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "lode_internal.h"

#define MAX_STRIP_BYTES (256u << 20)

/* Append a formatted line to a growing text; returns -1 on out-of-memory. */
static int addf(char **text, const char *fmt, ...) LODE__PRINTF(2, 3);
static int addf(char **text, const char *fmt, ...)
{
	va_list ap;
	char line[4096], *n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	n = lode__sprintf("%s%s", *text ? *text : "", line);
	if (!n)
		return -1;
	free(*text);
	*text = n;
	return 0;
}

/* Open a bundle and list its datasets; a listing that fails means a damaged file. */
static lode_status open_items(const char *bundle_path, lode__bundle **b, lode_bundle_item **items, size_t *n,
			      lode_error *err)
{
	lode_status rc;

	if ((rc = lode__bundle_open(bundle_path, b, err)))
		return rc;
	if ((rc = lode__bundle_items(*b, items, n, err))) {
		lode__err_ctx(err, "%s: damaged: ", bundle_path);
		err->code = rc = LODE_EDAMAGED;
	}
	return rc;
}

static lode_status strip_buffer(const lode_bundle_item *it, int rows, unsigned char **buf, lode_error *err)
{
	size_t bytes = (size_t)it->nx * (size_t)rows * lode__dtype_size(it->dtype);

	if (it->nx <= 0 || it->ny <= 0 || bytes > MAX_STRIP_BYTES)
		return lode__err(err, LODE_EBUNDLE, "dataset '%s': implausible dimensions %d x %d", it->name,
				 it->nx, it->ny);
	*buf = malloc(bytes ? bytes : 1);
	if (!*buf)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

/* Recompute one dataset's content digest into hex. */
static lode_status content_digest(lode__bundle *b, const lode_bundle_item *it, char hex[65], lode_error *err)
{
	int rows = lode__bundle_chunk_rows(b, it);
	unsigned char *buf = NULL;
	lode__content_hash *h = NULL;
	lode_status rc;

	if ((rc = strip_buffer(it, rows, &buf, err)))
		return rc;
	h = lode__content_hash_new(it->nbands);
	if (!h) {
		free(buf);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	for (int band = 1; band <= it->nbands && !rc; band++)
		for (int y0 = 0; y0 < it->ny && !rc; y0 += rows) {
			int ny = it->ny - y0 < rows ? it->ny - y0 : rows;
			lode__heartbeat();
			if (!(rc = lode__bundle_read_rows(b, it, band, y0, ny, buf, err)))
				lode__content_hash_update(h, band - 1, buf,
							  (size_t)it->nx * (size_t)ny *
							      lode__dtype_size(it->dtype));
		}
	lode__content_hash_final(h, hex);
	free(buf);
	return rc;
}

/* The lineage's nodata (a number, "nan", or null) against the stored _FillValue. */
static int nodata_matches(const json_t *nd, const lode_bundle_item *it)
{
	if (!it->has_nodata)
		return json_is_null(nd);
	if (json_is_string(nd))
		return strcmp(json_string_value(nd), "nan") == 0 && isnan(it->nodata);
	/* _FillValue has the variable's type: a Float32 variable holds the float nearest. */
	return json_is_number(nd) &&
	       (json_number_value(nd) == it->nodata ||
		(it->dtype == LODE_DT_F32 && (float)json_number_value(nd) == (float)it->nodata));
}

/* Do the stored per-band texts equal the lineage's array (missing entries are "")? */
static int texts_match(const json_t *arr, char *const *v, int n)
{
	if (!json_is_array(arr) || json_array_size(arr) != (size_t)n || !v)
		return 0;
	for (int i = 0; i < n; i++) {
		const char *want = json_string_value(json_array_get(arr, i));
		if (!want || strcmp(want, v[i] ? v[i] : "") != 0)
			return 0;
	}
	return 1;
}

/* Are the x/y coordinates the pixel centres of the GeoTransform, as written? */
static char *coords_problem(lode__bundle *b, const lode_bundle_item *it)
{
	double *xs = NULL, *ys = NULL;
	char *problem = NULL;
	lode_error e;

	if (lode__bundle_read_coords(b, it, &xs, &ys, &e) != LODE_OK)
		return lode__strdup(e.message);
	for (int i = 0; i < it->nx && !problem; i++)
		if (xs[i] != it->gt[0] + (i + 0.5) * it->gt[1])
			problem = lode__sprintf("x coordinate %d differs from the GeoTransform", i);
	for (int j = 0; j < it->ny && !problem; j++)
		if (ys[j] != it->gt[3] + (j + 0.5) * it->gt[5])
			problem = lode__sprintf("y coordinate %d differs from the GeoTransform", j);
	free(xs);
	free(ys);
	return problem;
}

/* Does the lineage agree with the stored grid?  Returns a malloc'd problem or NULL. */
static char *lineage_problem(const lode_bundle_item *it)
{
	json_error_t je;
	json_t *l = json_loads(it->lineage, 0, &je), *tgt, *gt, *nd;
	char *problem = NULL;

	if (!l)
		return lode__sprintf("the lineage is not valid JSON (%s)", je.text);
	tgt = json_object_get(l, "target");
	gt = json_object_get(tgt, "geotransform");
	nd = json_object_get(l, "nodata");
	if (!json_is_array(gt) || json_array_size(gt) != 6) {
		problem = lode__strdup("the lineage has no target geotransform");
		goto out;
	}
	for (size_t i = 0; i < 6; i++)
		if (json_number_value(json_array_get(gt, i)) != it->gt[i]) {
			problem = lode__strdup("the GeoTransform attribute differs from the lineage");
			goto out;
		}
	if (!json_is_string(json_object_get(tgt, "crs_wkt")) || !it->crs_wkt ||
	    strcmp(json_string_value(json_object_get(tgt, "crs_wkt")), it->crs_wkt) != 0) {
		problem = lode__strdup("the crs_wkt attribute differs from the lineage");
		goto out;
	}
	if (!nodata_matches(nd, it)) {
		problem = lode__strdup("the _FillValue attribute differs from the lineage's nodata");
		goto out;
	}
	if (!texts_match(json_object_get(l, "band_names"), it->band_names, it->nbands) ||
	    !texts_match(json_object_get(l, "band_units"), it->band_units, it->nbands)) {
		problem = lode__strdup("the band names or units differ from the lineage");
		goto out;
	}
	if (lode__dtype_from_name(json_string_value(json_object_get(l, "data_type"))
				      ? json_string_value(json_object_get(l, "data_type"))
				      : "") != it->dtype)
		problem = lode__strdup("the data type differs from the lineage");
out:
	json_decref(l);
	return problem;
}

/*
 * Check a vector layer: the lineage agrees with the stored CRS and type, and the
 * columns read back give the stored content digest.  hex gets the computed digest.
 */
static char *vector_problem(lode__bundle *b, const lode_bundle_item *it, char hex[65])
{
	json_t *l = json_loads(it->lineage, 0, NULL);
	const char *wkt = json_string_value(json_object_get(json_object_get(l, "target"), "crs_wkt"));
	const char *type = json_string_value(json_object_get(l, "geometry_type"));
	json_t *count = json_object_get(l, "feature_count");
	lode_vdata *d = NULL;
	char *problem = NULL;
	lode_error e;

	if (!l)
		problem = lode__strdup("the lineage is not valid JSON");
	else if (!wkt || !it->crs_wkt || strcmp(wkt, it->crs_wkt) != 0)
		problem = lode__strdup("the crs_wkt attribute differs from the lineage");
	else if (!type || !it->geometry_type || strcmp(type, it->geometry_type) != 0)
		problem = lode__strdup("the geometry type differs from the lineage");
	else if (!json_is_integer(count) || json_integer_value(count) != it->nfeat)
		problem = lode__strdup("the feature count differs from the lineage");
	else if (lode__bundle_read_vector(b, it, &d, &e) != LODE_OK)
		problem = lode__strdup(e.message);
	else {
		lode__vector_digest(d, hex);
		if (strcmp(hex, it->content_sha256) != 0)
			problem = lode__sprintf("content digest mismatch: stored %s, computed %s",
						it->content_sha256, hex);
	}
	lode__vdata_free(d);
	json_decref(l);
	return problem;
}

static lode_status verify_impl(const char *bundle_path, const lode_pubkey *trusted, size_t ntrusted,
			       char **report, lode_error *err)
{
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0, damaged = 0;
	char *text = NULL, *stored = NULL, *digest = NULL, names[1024] = "";
	lode_kv *root = NULL;
	size_t nroot = 0;
	lode_status rc;

	*report = NULL;
	lode__err_clear(err);
	if ((rc = open_items(bundle_path, &b, &items, &n, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		lode_bundle_item *it = &items[i];
		char hex[65] = "", *problem = NULL;
		lode_error e;

		if (it->problem)
			problem = lode__strdup(it->problem);
		else if (!it->content_sha256 || !it->lineage)
			problem = lode__strdup("no lode_content_sha256 or lode_lineage attribute");
		else if (strcmp(it->kind, "vector") == 0)
			problem = vector_problem(b, it, hex);
		else if ((problem = lineage_problem(it)) || (problem = coords_problem(b, it)))
			;
		else if (content_digest(b, it, hex, &e) != LODE_OK)
			problem = lode__strdup(e.message);
		else if (strcmp(hex, it->content_sha256) != 0)
			problem = lode__sprintf("content digest mismatch: stored %s, computed %s",
						it->content_sha256, hex);
		if (problem) {
			damaged++;
			addf(&text, "%s: DAMAGED: %s\n", it->name, problem);
			if (strlen(names) + strlen(it->name) + 4 < sizeof names)
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'",
					 names[0] ? ", " : "", it->name);
			free(problem);
		} else {
			addf(&text, "%s: OK (sha256 %s)\n", it->name, hex);
		}
	}
	{
		char *problem = NULL;
		if ((rc = lode__bundle_check_structure(b, &problem, err)))
			goto out;
		if (problem) {
			addf(&text, "structure: DAMAGED: %s\n", problem);
			if (!damaged)
				snprintf(names, sizeof names, "the file structure (%s)", problem);
			damaged++;
			free(problem);
		}
	}
	lode__bundle_get_attr(b, "lode_bundle_sha256", &stored, err);
	if ((rc = lode__bundle_root_attrs(b, &root, &nroot, err))) {
		lode__err_ctx(err, "%s: damaged: ", bundle_path);
		err->code = rc = LODE_EDAMAGED;
		goto out;
	}
	digest = lode__bundle_digest(items, n, root, nroot);
	if (!stored || !digest || strcmp(stored, digest) != 0) {
		addf(&text, "bundle digest: DAMAGED: %s\n",
		     stored ? "it does not match the global attributes (manifest, discovery metadata) and "
			      "the datasets' digests and lineage"
			    : "no lode_bundle_sha256 attribute");
		if (!damaged)
			snprintf(names, sizeof names,
				 "the bundle's metadata (global attributes, manifest or lineage)");
		damaged++;
	} else {
		addf(&text, "bundle digest: OK (sha256 %s)\n", digest);
	}
	if (damaged) {
		rc = lode__err(err, LODE_EDAMAGED, "%s: damaged: %s", bundle_path, names);
		goto out;
	}
	/* Signatures: any that does not verify fails the bundle; with trusted keys, one
	   valid signature by a trusted key is required. */
	{
		char *lines = NULL;
		int bad = 0, trusted_ok = 0, count = 0;
		lode__signatures_check(root, nroot, digest, trusted, ntrusted, &lines, &bad, &trusted_ok,
				       &count);
		if (lines) {
			addf(&text, "%s", lines);
			free(lines);
		}
		if (bad)
			rc = lode__err(err, LODE_ESIGNATURE, "%s: %d of %d signature%s do%s not verify",
				       bundle_path, bad, count, count == 1 ? "" : "s", bad == 1 ? "es" : "");
		else if (ntrusted && !trusted_ok)
			rc = lode__err(
			    err, LODE_ESIGNATURE,
			    "%s: the content is intact but no signature was made with a trusted key (%d "
			    "signature%s, %zu trusted key%s)",
			    bundle_path, count, count == 1 ? "" : "s", ntrusted, ntrusted == 1 ? "" : "s");
	}
out:
	free(stored);
	lode__kv_free(root, nroot);
	free(digest);
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	*report = text;
	return rc;
}

/* ---- ls ---- */

static void bounds_of(const lode_bundle_item *it, double b[4])
{
	b[0] = it->gt[0];
	b[2] = it->gt[0] + it->nx * it->gt[1];
	b[3] = it->gt[3];
	b[1] = it->gt[3] + it->ny * it->gt[5];
	if (b[1] > b[3]) {
		double t = b[1];
		b[1] = b[3];
		b[3] = t;
	}
}

static lode_status ls_impl(const char *bundle_path, int json, char **out, lode_error *err)
{
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	json_t *root = NULL, *arr = NULL;
	char *text = NULL, *title = NULL, *digest = NULL;
	lode_status rc;

	*out = NULL;
	lode__err_clear(err);
	lode__gdal_init();
	if ((rc = open_items(bundle_path, &b, &items, &n, err)))
		goto out;
	lode__bundle_get_attr(b, "title", &title, err);
	lode__bundle_get_attr(b, "lode_bundle_sha256", &digest, err);
	root = json_object();
	arr = json_array();
	json_object_set_new(root, "bundle", json_string(bundle_path));
	json_object_set_new(root, "title", title ? json_string(title) : json_null());
	json_object_set_new(root, "bundle_sha256", digest ? json_string(digest) : json_null());
	json_object_set_new(root, "datasets", arr);
	if (!json)
		addf(&text, "%s: %s\n%zu dataset%s\n", bundle_path, title ? title : "(untitled)", n,
		     n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		lode_bundle_item *it = &items[i];
		json_t *o = json_object(), *bb = json_array(), *lin = NULL, *op, *src;
		char *label = it->crs_wkt ? lode__crs_label(it->crs_wkt) : NULL;
		double bd[4];
		int vec = it->kind && strcmp(it->kind, "vector") == 0;

		if (it->lineage)
			lin = json_loads(it->lineage, 0, NULL);
		op = json_object_get(lin, "operation");
		src = json_object_get(lin, "source");
		json_object_set_new(o, "name", json_string(it->name));
		json_object_set_new(o, "kind", json_string(vec ? "vector" : "raster"));
		if (vec) {
			json_object_set_new(o, "geometry_type",
					    json_string(it->geometry_type ? it->geometry_type : "unknown"));
			json_object_set_new(o, "feature_count", json_integer(it->nfeat));
			json_object_set_new(o, "crs", json_string(label ? label : "unknown"));
			if (json_object_get(lin, "extent"))
				json_object_set(o, "extent", json_object_get(lin, "extent"));
			if (json_object_get(lin, "fields"))
				json_object_set(o, "fields", json_object_get(lin, "fields"));
		} else {
			bounds_of(it, bd);
			for (int k = 0; k < 4; k++)
				json_array_append_new(bb, json_real(bd[k]));
			json_object_set_new(o, "data_type", json_string(lode__dtype_name(it->dtype)));
			json_object_set_new(o, "bands", json_integer(it->nbands));
			json_object_set_new(o, "width", json_integer(it->nx));
			json_object_set_new(o, "height", json_integer(it->ny));
			json_object_set_new(o, "crs", json_string(label ? label : "unknown"));
			json_object_set(o, "bounds", bb);
			json_object_set_new(o, "nodata",
					    !it->has_nodata        ? json_null()
					    : isnan(it->nodata)    ? json_string("nan")
					    : isfinite(it->nodata) ? json_real(it->nodata)
								   : json_null());
		}
		json_decref(bb);
		json_object_set_new(o, "content_sha256",
				    it->content_sha256 ? json_string(it->content_sha256) : json_null());
		if (src)
			json_object_set(o, "source", src);
		if (op) {
			json_t *summary = json_object();
			json_object_set(summary, "name", json_object_get(op, "name"));
			json_object_set(summary, "code", json_object_get(op, "code"));
			json_object_set(summary, "accuracy_m", json_object_get(op, "accuracy_m"));
			json_object_set(summary, "ballpark", json_object_get(op, "ballpark"));
			json_object_set(summary, "grids", json_object_get(op, "grids"));
			json_object_set_new(o, "operation", summary);
		}
		if (json_object_get(lin, "resampling"))
			json_object_set(o, "resampling", json_object_get(lin, "resampling"));
		if (it->problem)
			json_object_set_new(o, "problem", json_string(it->problem));
		json_array_append_new(arr, o);
		if (!json) {
			const char *opname = json_string_value(json_object_get(op, "name"));
			const char *code = json_string_value(json_object_get(op, "code"));
			json_t *acc = json_object_get(op, "accuracy_m");
			if (vec) {
				json_t *fields = json_object_get(lin, "fields"),
				       *ext = json_object_get(lin, "extent");
				addf(&text, "\n%s  vector %s, %lld feature%s\n", it->name,
				     it->geometry_type ? it->geometry_type : "unknown", it->nfeat,
				     it->nfeat == 1 ? "" : "s");
				addf(&text, "  crs:        %s\n", label ? label : "unknown");
				if (json_is_number(json_array_get(ext, 0)))
					addf(&text, "  extent:     %.10g %.10g %.10g %.10g\n",
					     json_number_value(json_array_get(ext, 0)),
					     json_number_value(json_array_get(ext, 1)),
					     json_number_value(json_array_get(ext, 2)),
					     json_number_value(json_array_get(ext, 3)));
				for (size_t k = 0; k < json_array_size(fields); k++) {
					json_t *f = json_array_get(fields, k);
					addf(&text, "  %s %s (%s)\n", k ? "           " : "fields:    ",
					     json_string_value(json_object_get(f, "name")),
					     json_string_value(json_object_get(f, "type")));
				}
			} else {
				addf(&text, "\n%s  raster %s, %d band%s, %d x %d pixels\n", it->name,
				     lode__dtype_name(it->dtype), it->nbands, it->nbands == 1 ? "" : "s",
				     it->nx, it->ny);
				addf(&text, "  crs:        %s\n  bounds:     %.10g %.10g %.10g %.10g\n",
				     label ? label : "unknown", bd[0], bd[1], bd[2], bd[3]);
				if (it->has_nodata)
					addf(&text, "  nodata:     %.17g\n", it->nodata);
			}
			if (src)
				addf(&text, "  source:     %s%s%s (%s%s, sha256 %.16s...)\n",
				     json_string_value(json_object_get(src, "path")),
				     json_object_get(src, "layer") ? ", layer " : "",
				     json_object_get(src, "layer")
					 ? json_string_value(json_object_get(src, "layer"))
					 : "",
				     json_string_value(json_object_get(src, "crs")),
				     json_is_true(json_object_get(src, "crs_assumed")) ? " assumed" : "",
				     json_string_value(json_object_get(src, "sha256")));
			if (opname) {
				char acc_text[64];
				if (json_is_number(acc))
					snprintf(acc_text, sizeof acc_text, "%g m", json_number_value(acc));
				else
					snprintf(acc_text, sizeof acc_text, "unknown");
				addf(&text, "  operation:  %s%s%s%s\n              accuracy %s%s\n", opname,
				     code ? " [" : "", code ? code : "", code ? "]" : "", acc_text,
				     json_is_true(json_object_get(op, "ballpark")) ? ", ballpark" : "");
			}
			if (json_object_get(lin, "resampling"))
				addf(&text, "  resampling: %s\n",
				     json_string_value(json_object_get(lin, "resampling")));
			if (it->problem)
				addf(&text, "  PROBLEM:    %s\n", it->problem);
		}
		json_decref(lin);
		free(label);
	}
	if (json)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	*out = text;
	json_decref(root);
	free(title);
	free(digest);
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	return rc;
}

/* ---- extract ---- */

static lode_status extract_one(lode__bundle *b, const lode_bundle_item *it, const char *dir, lode_error *err)
{
	char *final = lode__sprintf("%s/%s.tif", dir, it->name);
	char *tmp = lode__sprintf("%s/.%s.tif.tmp-%ld", dir, it->name, (long)getpid());
	char *md_lineage = NULL, *md_sha = NULL;
	const char *md[3] = {NULL, NULL, NULL};
	lode__gtiff *g = NULL;
	lode__content_hash *h = NULL;
	char hex[65];
	unsigned char *buf = NULL;
	int rows = lode__bundle_chunk_rows(b, it);
	lode_status rc = LODE_OK;

	if (!final || !tmp) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (it->problem) {
		rc = lode__err(err, LODE_EBUNDLE, "%s", it->problem);
		goto out;
	}
	if (it->lineage && (md_lineage = lode__sprintf("LODE_LINEAGE=%s", it->lineage)))
		md[0] = md_lineage;
	if (it->content_sha256 && (md_sha = lode__sprintf("LODE_CONTENT_SHA256=%s", it->content_sha256)))
		md[md[0] ? 1 : 0] = md_sha;
	{
		lode_gtiff_params gp = {
		    .width = it->nx,
		    .height = it->ny,
		    .nbands = it->nbands,
		    .dtype = it->dtype,
		    .crs_wkt = it->crs_wkt,
		    .has_nodata = it->has_nodata,
		    .nodata = it->nodata,
		    .band_names = (const char *const *)it->band_names,
		    .band_units = (const char *const *)it->band_units,
		    .metadata = md,
		};
		memcpy(gp.gt, it->gt, sizeof gp.gt);
		if ((rc = lode__gtiff_create(tmp, &gp, &g, err)))
			goto out;
	}
	if ((rc = strip_buffer(it, rows, &buf, err)))
		goto out;
	/* Check the content digest on the way: a damaged dataset is never extracted. */
	if (!(h = lode__content_hash_new(it->nbands))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int band = 1; band <= it->nbands && !rc; band++)
		for (int y0 = 0; y0 < it->ny && !rc; y0 += rows) {
			int ny = it->ny - y0 < rows ? it->ny - y0 : rows;
			if (!(rc = lode__bundle_read_rows(b, it, band, y0, ny, buf, err))) {
				lode__content_hash_update(h, band - 1, buf,
							  (size_t)it->nx * (size_t)ny *
							      lode__dtype_size(it->dtype));
				rc = lode__gtiff_write(g, band, y0, ny, buf, err);
			}
		}
	lode__content_hash_final(h, hex);
	h = NULL;
	if (!rc && (!it->content_sha256 || strcmp(hex, it->content_sha256) != 0))
		rc = lode__err(err, LODE_EDAMAGED,
			       "the values do not match the dataset's content digest: the bundle is damaged "
			       "(run lode verify)");
	if (!rc) {
		rc = lode__gtiff_close(g, err);
		g = NULL;
	}
	if (!rc && rename(tmp, final) != 0)
		rc = lode__err(err, LODE_EIO, "%s: %s", final, strerror(errno));
out:
	if (g) {
		lode_error ignored;
		lode__gtiff_close(g, &ignored);
	}
	if (rc && tmp)
		unlink(tmp);
	free(buf);
	free(md_lineage);
	free(md_sha);
	free(final);
	free(tmp);
	return rc;
}

/* A vector layer to DIR/NAME.gpkg, after checking its content digest. */
static lode_status extract_vector(lode__bundle *b, const lode_bundle_item *it, const char *dir,
				  lode_error *err)
{
	char *final = lode__sprintf("%s/%s.gpkg", dir, it->name);
	char *tmp = lode__sprintf("%s/.%s.tmp-%ld.gpkg", dir, it->name, (long)getpid());
	lode_vdata *d = NULL;
	char hex[65];
	lode_status rc = LODE_OK;

	if (!final || !tmp) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__bundle_read_vector(b, it, &d, err)))
		goto out;
	lode__vector_digest(d, hex);
	if (!it->content_sha256 || strcmp(hex, it->content_sha256) != 0) {
		rc = lode__err(
		    err, LODE_EDAMAGED,
		    "the layer does not match its content digest: the bundle is damaged (run lode verify)");
		goto out;
	}
	unlink(tmp);
	/* The GeoPackage layer is named after the dataset (the source layer is in the lineage). */
	if ((rc = lode__gpkg_write(tmp, it->name, it->crs_wkt, it->geometry_type, d, err)))
		goto out;
	if (rename(tmp, final) != 0)
		rc = lode__err(err, LODE_EIO, "%s: %s", final, strerror(errno));
out:
	if (rc && tmp)
		unlink(tmp);
	lode__vdata_free(d);
	free(final);
	free(tmp);
	return rc;
}

static lode_status extract_impl(const char *bundle_path, const char *const *names, size_t nnames,
				const char *dir, lode_error *err)
{
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	struct stat st;
	lode_status rc;

	lode__err_clear(err);
	lode__gdal_init();
	if ((rc = open_items(bundle_path, &b, &items, &n, err)))
		goto out;
	for (size_t k = 0; k < nnames; k++) {
		size_t i;
		for (i = 0; i < n && strcmp(items[i].name, names[k]) != 0; i++)
			;
		if (i == n) {
			char list[1024] = "";
			for (size_t j = 0; j < n; j++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 j ? ", " : "", items[j].name);
			rc = lode__err(err, LODE_EUSAGE, "%s: no dataset named '%s' (the bundle holds: %s)",
				       bundle_path, names[k], list);
			goto out;
		}
	}
	if (stat(dir, &st) != 0) {
		if (mkdir(dir, 0777) != 0) {
			rc = lode__err(err, LODE_EIO, "%s: cannot create the folder: %s", dir,
				       strerror(errno));
			goto out;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = lode__err(err, LODE_EIO, "%s: exists and is not a folder", dir);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int wanted = nnames == 0;
		for (size_t k = 0; k < nnames && !wanted; k++)
			wanted = strcmp(items[i].name, names[k]) == 0;
		if (!wanted)
			continue;
		/* Names come from an untrusted file: only plain dataset names become file names. */
		if (!lode__name_ok(items[i].name)) {
			rc = lode__err(err, LODE_EBUNDLE,
				       "%s: refusing to extract a dataset with an unsafe name", bundle_path);
			goto out;
		}
		if ((rc = (strcmp(items[i].kind, "vector") == 0 ? extract_vector : extract_one)(b, &items[i],
												dir, err))) {
			lode__err_ctx(err, "%s: dataset '%s': ", bundle_path, items[i].name);
			goto out;
		}
	}
out:
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	return rc;
}

/* ---- reading untrusted bundles in a child process ---- */

/* Move exactly n bytes to (writing) or from fd, across short transfers and EINTR. */
static int all_bytes(int fd, void *buf, size_t n, int writing)
{
	char *p = buf;

	while (n > 0) {
		ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	return all_bytes(fd, (void *)buf, n, 1);
}

static int read_all(int fd, void *buf, size_t n)
{
	return all_bytes(fd, buf, n, 0);
}

typedef lode_status (*job_fn)(void *arg, char **text, lode_error *err);

/*
 * A hook the fuzz targets define (tests/fuzz/fuzz_bundle.c): called in the child right
 * after fork, so that a crash there is treated as lode treats it in production (the
 * parent reports the bundle damaged) rather than as a crash of the fuzzer.  Weak:
 * absent from lode itself.
 */
extern void lode__child_hook(void) __attribute__((weak));

/* Remove what a killed child left in dir: its temporary files carry its pid. */
static void remove_leftovers(const char *dir, pid_t pid)
{
	char tag[32];
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	if (!d)
		return;
	snprintf(tag, sizeof tag, "tmp-%ld", (long)pid);
	while ((e = readdir(d)) != NULL) {
		char *path;
		if (e->d_name[0] != '.' || !strstr(e->d_name, tag))
			continue;
		if ((path = lode__sprintf("%s/%s", dir, e->d_name))) {
			unlink(path);
			free(path);
		}
	}
	closedir(d);
}

/*
 * HDF5 1.10 can crash (a damaged global heap makes H5HG_read copy past its buffer; a
 * damaged link index makes H5Literate free a wild pointer) or spin for ever (a heap
 * loop in H5HG_read) on hostile metadata; ncdump, GDAL and h5py crash on such files
 * too.  A bundle is untrusted input, so verify, ls and extract read it in a child
 * process.  The child sends a heartbeat as it goes (lode__heartbeat); if it crashes,
 * or is silent for LODE_WATCHDOG_SECONDS (default 120), the bundle is reported damaged
 * and whatever temporary files the child left in cleanup_dir are removed.
 * LODE_IN_PROCESS=1 (or LODE_VERIFY_IN_PROCESS) runs the job in this process instead.
 */
static lode_status contained(const char *bundle_path, job_fn fn, void *arg, char **text, lode_error *err,
			     const char *cleanup_dir)
{
	int fds[2], beat[2], status = 0, timed_out = 0;
	const char *wd = getenv("LODE_WATCHDOG_SECONDS");
	int watchdog = wd && atoi(wd) > 0 ? atoi(wd) : 120;
	pid_t pid;
	uint64_t len = 0;
	lode_status rc;

	*text = NULL;
	if (getenv("LODE_IN_PROCESS") || getenv("LODE_VERIFY_IN_PROCESS"))
		return fn(arg, text, err);
	if (pipe(fds) != 0)
		return fn(arg, text, err);
	if (pipe(beat) != 0) {
		close(fds[0]);
		close(fds[1]);
		return fn(arg, text, err);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		close(beat[0]);
		close(beat[1]);
		return fn(arg, text, err);
	}
	if (pid == 0) {
		char *out = NULL;
		lode_error e = {0};
		int32_t code;

		close(fds[0]);
		close(beat[0]);
		if (lode__child_hook)
			lode__child_hook();
		lode__heartbeat_fd(beat[1]);
		code = (int32_t)fn(arg, &out, &e);
		len = out ? strlen(out) : 0;
		if (write_all(fds[1], &code, sizeof code) || write_all(fds[1], &e, sizeof e) ||
		    write_all(fds[1], &len, sizeof len) || (len && write_all(fds[1], out, (size_t)len)))
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	close(beat[1]);
	/* Watch the heartbeat until the child closes it (exit or crash) or falls silent. */
	for (;;) {
		struct pollfd pfd = {beat[0], POLLIN, 0};
		char buf[256];
		int r = poll(&pfd, 1, watchdog * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (read(beat[0], buf, sizeof buf) <= 0)
			break;
	}
	close(beat[0]);
	{
		int32_t code = 0;
		lode_error e = {0};
		int ok = !timed_out && read_all(fds[0], &code, sizeof code) == 0 &&
			 read_all(fds[0], &e, sizeof e) == 0 && read_all(fds[0], &len, sizeof len) == 0 &&
			 len < ((uint64_t)1 << 32);
		char *out = ok ? malloc((size_t)len + 1) : NULL;

		if (out && (len == 0 || read_all(fds[0], out, (size_t)len) == 0)) {
			out[len] = '\0';
			*text = out;
		} else {
			free(out);
			ok = 0;
		}
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			e.message[sizeof e.message - 1] = '\0';
			*err = e;
			if (code != LODE_OK && *text && !**text) { /* no report: nothing to hand back */
				free(*text);
				*text = NULL;
			}
			return (lode_status)code;
		}
	}
	remove_leftovers(cleanup_dir, pid);
	if (timed_out)
		rc = lode__err(err, LODE_EDAMAGED,
			       "%s: damaged: the HDF5 library stopped making progress reading it (no "
			       "progress for %d s); "
			       "its internal structure is corrupt or hostile",
			       bundle_path, watchdog);
	else
		rc = lode__err(
		    err, LODE_EDAMAGED,
		    "%s: damaged: reading it crashed the HDF5 library (%s %d): its internal structure is "
		    "corrupt or hostile; do not open it with other tools either",
		    bundle_path, WIFSIGNALED(status) ? "signal" : "exit status",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return rc;
}

typedef struct verify_job {
	const char *path;
	const lode_pubkey *keys;
	size_t nkeys;
} verify_job;

static lode_status verify_job_fn(void *arg, char **text, lode_error *err)
{
	verify_job *j = arg;

	return verify_impl(j->path, j->keys, j->nkeys, text, err);
}

lode_status lode_verify(const char *bundle_path, char **report, lode_error *err)
{
	return lode_verify_trusted(bundle_path, NULL, 0, report, err);
}

lode_status lode_verify_trusted(const char *bundle_path, const char *const *trusted_keys, size_t ntrusted,
				char **report, lode_error *err)
{
	lode_pubkey *keys;
	verify_job j;
	lode_status rc = LODE_OK;

	*report = NULL;
	lode__err_clear(err);
	keys = calloc(ntrusted ? ntrusted : 1, sizeof *keys);
	if (!keys)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t k = 0; k < ntrusted && !rc; k++)
		rc = lode__pubkey_load(trusted_keys[k], &keys[k], err);
	if (!rc) {
		j = (verify_job){bundle_path, keys, ntrusted};
		rc = contained(bundle_path, verify_job_fn, &j, report, err, NULL);
	}
	for (size_t k = 0; k < ntrusted; k++)
		free(keys[k].path);
	free(keys);
	return rc;
}

typedef struct ls_job {
	const char *path;
	int json;
} ls_job;

static lode_status ls_job_fn(void *arg, char **text, lode_error *err)
{
	ls_job *j = arg;

	return ls_impl(j->path, j->json, text, err);
}

lode_status lode_ls(const char *bundle_path, int json, char **out, lode_error *err)
{
	ls_job j = {bundle_path, json};

	lode__err_clear(err);
	return contained(bundle_path, ls_job_fn, &j, out, err, NULL);
}

typedef struct extract_job {
	const char *path, *dir;
	const char *const *names;
	size_t nnames;
} extract_job;

static lode_status extract_job_fn(void *arg, char **text, lode_error *err)
{
	extract_job *j = arg;

	*text = NULL;
	return extract_impl(j->path, j->names, j->nnames, j->dir, err);
}

lode_status lode_extract(const char *bundle_path, const char *const *names, size_t nnames, const char *dir,
			 lode_error *err)
{
	extract_job j = {bundle_path, dir, names, nnames};
	char *text = NULL;
	lode_status rc;

	lode__err_clear(err);
	rc = contained(bundle_path, extract_job_fn, &j, &text, err, dir);
	free(text);
	return rc;
}
