/*
 * verify.c -- lode verify: what the receiving side runs to check a bundle.
 *
 * verify checks that the file holds exactly what lode writes (strict.c), recomputes
 * the bundle digest from the whole file first (every object, attribute and link, each
 * chunked dataset's stored chunks, every other dataset's values: digest.c; bundle
 * format 4 digests stored chunks, so no chunk is inflated and this runs at about the
 * speed of SHA-256), checks that the coordinates and the lineage agree with the
 * grid-mapping attributes, checks the file structure, and checks the signatures
 * (signature.c).  Content digests: when the bundle digest matches the stored one, a
 * raster's content digest is covered by it (its lode_content_sha256 attribute and its
 * stored chunks are both digested) and is not recomputed; the line shows the stored
 * one (with --full, lode_read_options.full, it is recomputed all the same).  When the
 * bundle digest does not match or cannot be computed, every content
 * digest is recomputed from the decoded values (which also makes every chunk's
 * Fletcher32 checksum checked), so that the damaged datasets are named.  Vector layers
 * are always read back and their content digest recomputed (they are small, and reading
 * them checks their structure as ls and extract will read it).  extract checks content
 * digests against the values it writes in every case.  A bundle of another format
 * version is refused before anything else (lode__strict_format, the wording ls,
 * extract, sign and merge share): its digest means something else.  A bundle is
 * untrusted input:
 * sizes read from it are checked against what the file stores before they size an
 * allocation (formats/bundle_bounds.c), what a dataset needs against --max-memory (a
 * dataset beyond it is NOT CHECKED, and the bundle not verified), and it is read in a
 * child process whose work is bounded (untrusted.c).  It changes nothing: signing is
 * sign.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_items.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "signature.h"
#include "strip_read.h"
#include "strict.h"
#include "untrusted.h"
#include "util.h"
#include "vdata.h"
#include "verify.h"

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
static char *vector_problem(lode__bundle *b, const lode_bundle_item *it, char hex[65], int *unchecked)
{
	json_t *l = json_loads(it->lineage, 0, NULL);
	const char *wkt = json_string_value(json_object_get(json_object_get(l, "target"), "crs_wkt"));
	const char *type = json_string_value(json_object_get(l, "geometry_type"));
	json_t *count = json_object_get(l, "feature_count");
	lode_vdata *d = NULL;
	char *problem = NULL;
	lode_error e;

	int table = it->geometry_type && !strcmp(it->geometry_type, "None");

	if (!l)
		problem = lode__strdup("the lineage is not valid JSON");
	else if (table ? wkt || it->crs_wkt : !wkt || !it->crs_wkt || strcmp(wkt, it->crs_wkt) != 0)
		problem = lode__strdup(table ? "a table has a CRS"
					     : "the crs_wkt attribute differs from the lineage");
	else if (!type || !it->geometry_type || strcmp(type, it->geometry_type) != 0)
		problem = lode__strdup("the geometry type differs from the lineage");
	else if (!json_is_integer(count) || json_integer_value(count) != it->nfeat)
		problem = lode__strdup("the feature count differs from the lineage");
	else if (lode__bundle_read_vector(b, it, &d, &e) != LODE_OK) {
		problem = lode__strdup(e.message);
		*unchecked = e.code == LODE_ENOMEM; /* not damaged: beyond --max-memory */
	} else {
		lode__vector_digest(d, hex);
		if (!hex[0]) {
			problem = lode__strdup("out of memory while computing its content digest");
			*unchecked = 1;
		} else if (strcmp(hex, it->content_sha256) != 0)
			problem = lode__sprintf("content digest mismatch: stored %s, computed %s",
						it->content_sha256, hex);
	}
	lode__vdata_free(d);
	json_decref(l);
	return problem;
}

/*
 * One dataset's check: NULL when it is intact (hex then holds its content digest), else
 * a malloc'd problem; *unchecked is set when the problem is that it cannot be read within
 * max_memory (then it is not known to be damaged).  covered: the bundle digest matched,
 * so a raster's stored content digest is taken, not recomputed (every other check is
 * made).
 */
static char *dataset_problem(lode__bundle *b, const lode_bundle_item *it, size_t max_memory, int covered,
			     char hex[65], int *unchecked)
{
	char *problem = NULL;
	lode_error e;

	*unchecked = 0;
	if (it->problem)
		problem = lode__strdup(it->problem);
	else if (!it->content_sha256 || !it->lineage)
		problem = lode__strdup("no lode_content_sha256 or lode_lineage attribute");
	else if (strcmp(it->kind, "vector") == 0)
		problem = vector_problem(b, it, hex, unchecked);
	else if ((problem = lineage_problem(it)))
		;
	else if (lode__raster_budget(it, lode__strip_rows(b, it), 8 * ((size_t)it->nx + (size_t)it->ny),
				     max_memory, &e) != LODE_OK) {
		problem = lode__strdup(e.message);
		*unchecked = 1;
	} else if ((problem = coords_problem(b, it)))
		;
	else if (covered) /* the bundle digest matched: it covers the stored content digest */
		snprintf(hex, 65, "%.64s", it->content_sha256);
	else if (lode__raster_content_digest(b, it, 8 * ((size_t)it->nx + (size_t)it->ny), max_memory, hex,
					     &e) != LODE_OK)
		problem = lode__strdup(e.message);
	else if (strcmp(hex, it->content_sha256) != 0)
		problem =
		    lode__sprintf("content digest mismatch: stored %s, computed %s", it->content_sha256, hex);
	return problem;
}

/* A JSON string of text that may not be UTF-8 (it comes from the file): bytes that are
   not UTF-8 become '?'; a JSON null only when out of memory. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !s || !(copy = lode__strdup(s)))
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Add to the JSON report (none: NULL) one check's outcome: under key of rep, or appended
   to rep's array key with its name.  sha256 and reason may be NULL. */
static void json_check(json_t *rep, const char *key, const char *name, const char *kind, const char *status,
		       const char *sha256, const char *reason)
{
	json_t *o;

	if (!rep || !(o = json_object()))
		return;
	if (name)
		json_object_set_new(o, "name", json_text(name));
	if (kind)
		json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "sha256", sha256 ? json_string(sha256) : json_null());
	json_object_set_new(o, "reason", reason ? json_text(reason) : json_null());
	if (json_is_array(json_object_get(rep, key)))
		json_array_append_new(json_object_get(rep, key), o);
	else
		json_object_set_new(rep, key, o);
}

/* The JSON report before any check: no dataset, structure, digest or signature yet. */
static json_t *json_check_list(void)
{
	return json_pack("{s:[], s:n, s:n, s:[]}", "datasets", "structure", "bundle_digest", "signatures");
}

/* The bundle digest recomputed from the file, chunks hashed on every core (digest.c):
   its status, de its failure. */
static lode_status compute_digest(lode__bundle *b, char digest[65], lode_error *de)
{
	lode_status drc;

	lode__bundle_set_decode_threads(b, lode__read_cores());
	drc = lode__bundle_digest(b, NULL, 0, digest, de);
	lode__bundle_set_decode_threads(b, 0);
	return drc;
}

/*
 * The bundle digest recomputed from the file (status drc, failure de, digest) against
 * the stored one: its report line added to *text; when it is damaged, *damaged counted
 * and, if nothing was before, the reason in names.
 */
static void digest_line(lode_status drc, const lode_error *de, const char *stored, const char *digest,
			char **text, json_t *rep, char *names, size_t names_size, size_t *damaged)
{
	if (drc) {
		lode__addf(text, "bundle digest: DAMAGED: it cannot be computed: %s\n", de->message);
		json_check(rep, "bundle_digest", NULL, NULL, "DAMAGED", NULL, de->message);
		if (!*damaged)
			snprintf(names, names_size, "the bundle digest cannot be computed: %.900s",
				 de->message);
		++*damaged;
	} else if (!stored || strcmp(stored, digest) != 0) {
		lode__addf(text, "bundle digest: DAMAGED: %s\n",
			   stored ? "it does not match the file (an object, attribute, link or value differs "
				    "from what was digested)"
				  : "no lode_bundle_sha256 attribute");
		json_check(rep, "bundle_digest", NULL, NULL, "DAMAGED", NULL,
			   stored ? "it does not match the file" : "no lode_bundle_sha256 attribute");
		if (!*damaged)
			snprintf(
			    names, names_size,
			    "the file differs from its bundle digest (an object, attribute, link or value "
			    "was changed, added or removed)");
		++*damaged;
	} else {
		lode__addf(text, "bundle digest: OK (sha256 %s)\n", digest);
		json_check(rep, "bundle_digest", NULL, NULL, "OK", digest, NULL);
	}
}

/* The bytes of the file at path (0 when it cannot be asked), for the work expected. */
static uint64_t file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

/*
 * The file structure as netCDF readers walk it, else the strict check's problem outside
 * the datasets (*strict, taken): its report line when damaged (counted in *damaged, the
 * reason in names if nothing was before).  Fails only when the walk cannot be made.
 */
static lode_status structure_line(lode__bundle *b, char **strict, char **text, json_t *rep, char *names,
				  size_t names_size, size_t *damaged, lode_error *err)
{
	char *problem = NULL;
	lode_status rc;

	if ((rc = lode__bundle_check_structure(b, &problem, err)))
		return rc;
	if (!problem) {
		problem = *strict;
		*strict = NULL;
	}
	if (problem) {
		char shown[900];
		lode__printable(shown, sizeof shown, problem);
		lode__addf(text, "structure: DAMAGED: %s\n", shown);
		json_check(rep, "structure", NULL, NULL, "DAMAGED", NULL, problem);
		if (!*damaged)
			snprintf(names, names_size, "the file structure (%s)", shown);
		++*damaged;
		free(problem);
	}
	if (rep && json_is_null(json_object_get(rep, "structure")))
		json_check(rep, "structure", NULL, NULL, "OK", NULL, NULL);
	return LODE_OK;
}

/*
 * The check itself (in the child process): *report gets one line per dataset, then the
 * structure, the bundle digest and each signature.  LODE_EDAMAGED naming what is
 * damaged, LODE_ESIGNATURE for a signature that fails or none by a trusted key.  With
 * json, *report is instead the JSON object of docs/cli.md ("verify --json") without the
 * keys lode_verify_opt adds (bundle, verified, error).
 */
static lode_status verify_impl(const char *bundle_path, const lode_pubkey *trusted, size_t ntrusted,
			       size_t max_memory, int json, int full, char **report, lode_error *err)
{
	json_t *rep = json ? json_check_list() : NULL;
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0, damaged = 0;
	char *text = NULL, *stored = NULL, *strict = NULL, digest[65] = "", names[1024] = "",
	     *unchecked = NULL;
	const char *unchecked_name = NULL;
	lode_kv *root = NULL;
	size_t nroot = 0;
	lode_status rc, drc;
	lode_error de;
	int covered;
	uint64_t vectors = 0;

	*report = NULL;
	lode__err_clear(err);
	if ((rc = lode__open_items(bundle_path, max_memory, &b, &items, &n, err)))
		goto out;
	/* The format version first: a bundle of another version is judged by nothing else. */
	if ((rc = lode__strict_format(bundle_path, b, err)))
		goto out;
	/* The work: the stored bytes hashed once, the vector layers read back (about 32 bytes
	   a feature), and the rasters' values only when the bundle digest does not match. */
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].kind, "vector") == 0)
			vectors += lode__items_bytes(&items[i], 1);
	lode__work_expect(file_bytes(bundle_path) + vectors + 1);
	/* Exactly what lode writes (strict.c): problems to the items and to strict. */
	if ((rc = lode__strict_check(b, items, n, &strict, err)))
		goto out;
	/* The bundle digest first, from the file: every object, attribute, link and stored
	   chunk, nothing taken on trust.  When it matches, it covers each raster's stored
	   content digest and values: they are not decoded again. */
	lode__bundle_get_attr(b, "lode_bundle_sha256", &stored, err);
	if ((drc = compute_digest(b, digest, &de)) == LODE_ENOMEM) {
		rc = lode__err(err, LODE_ENOMEM, "%s", de.message);
		goto out;
	}
	covered = !full && !drc && stored && strcmp(stored, digest) == 0;
	if (!covered)
		lode__work_expect(file_bytes(bundle_path) + lode__items_bytes(items, n) + 1);
	for (size_t i = 0; i < n; i++) {
		lode_bundle_item *it = &items[i];
		char hex[65] = "";
		int memory = 0;
		char *problem = dataset_problem(b, it, max_memory, covered, hex, &memory), shown[1024];
		const char *verdict = !problem ? "OK" : memory ? "NOT CHECKED" : "DAMAGED";

		if (problem)
			lode__printable(shown, sizeof shown, problem);

		json_check(rep, "datasets", it->name, it->kind, verdict, problem ? NULL : hex, problem);
		if (problem && memory) {
			lode__addf(&text, "%s: NOT CHECKED: %s\n", it->name, shown);
			if (!unchecked) {
				unchecked = problem;
				unchecked_name = it->name;
			} else {
				free(problem);
			}
		} else if (problem) {
			damaged++;
			lode__addf(&text, "%s: DAMAGED: %s\n", it->name, shown);
			if (strlen(names) + strlen(it->name) + 4 < sizeof names)
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'",
					 names[0] ? ", " : "", it->name);
			free(problem);
		} else {
			lode__addf(&text, "%s: OK (sha256 %s)\n", it->name, hex);
		}
	}
	if ((rc = structure_line(b, &strict, &text, rep, names, sizeof names, &damaged, err)))
		goto out;
	if ((rc = lode__bundle_root_attrs(b, &root, &nroot, err))) {
		lode__err_ctx(err, "%s: damaged: ", bundle_path);
		err->code = rc = LODE_EDAMAGED;
		goto out;
	}
	/* Not when a dataset was beyond --max-memory: the bundle is not verified whatever
	   the digest says. */
	if (unchecked) {
		lode__addf(&text, "bundle digest: NOT CHECKED: dataset '%s' was not read (--max-memory)\n",
			   unchecked_name);
		json_check(rep, "bundle_digest", NULL, NULL, "NOT CHECKED", NULL,
			   "a dataset was not read (--max-memory)");
	} else {
		digest_line(drc, &de, stored, digest, &text, rep, names, sizeof names, &damaged);
	}
	if (damaged) {
		rc = lode__err(err, LODE_EDAMAGED, "%s: damaged: %s", bundle_path, names);
		goto out;
	}
	if (unchecked) {
		rc = lode__err(err, LODE_ENOMEM, "%s: not verified: dataset '%s': %s", bundle_path,
			       unchecked_name, unchecked);
		goto out;
	}
	/* Signatures: any that does not verify fails the bundle; with trusted keys, one
	   valid signature by a trusted key is required. */
	{
		char *lines = NULL;
		int bad = 0, trusted_ok = 0, count = 0;
		lode__signatures_check(root, nroot, digest, trusted, ntrusted, &lines,
				       json_object_get(rep, "signatures"), &bad, &trusted_ok, &count);
		if (lines) {
			lode__addf(&text, "%s", lines);
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
	free(strict);
	free(unchecked);
	free(stored);
	lode__kv_free(root, nroot);
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	if (rep) {
		free(text);
		text = json_dumps(rep, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(rep);
	}
	*report = text;
	return rc;
}

typedef struct verify_job {
	const char *path;
	const lode_pubkey *keys;
	size_t nkeys, max_memory;
	int json, full;
} verify_job;

static lode_status verify_job_fn(void *arg, char **text, lode_error *err)
{
	verify_job *j = arg;

	return verify_impl(j->path, j->keys, j->nkeys, j->max_memory, j->json, j->full, text, err);
}

/*
 * The whole JSON report: the child's object (or, when it gave none, having crashed, been
 * stopped or failed before its first check, one with every check null) with the bundle,
 * whether it verified and the error added, pretty-printed into *report.
 */
static void json_report(const char *bundle_path, lode_status rc, const lode_error *err, char **report)
{
	json_t *child = *report ? json_loads(*report, 0, NULL) : NULL;
	json_t *o =
	    json_pack("{s:o, s:b, s:o?, s:o?, s:o?, s:o?, s:o}", "bundle", json_text(bundle_path), "verified",
		      rc == LODE_OK, "datasets", json_incref(json_object_get(child, "datasets")), "structure",
		      json_incref(json_object_get(child, "structure")), "bundle_digest",
		      json_incref(json_object_get(child, "bundle_digest")), "signatures",
		      json_incref(json_object_get(child, "signatures")), "error",
		      rc == LODE_OK ? json_null() : json_text(err->message));
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	json_decref(child);
	free(*report);
	*report = text;
}

lode_status lode_verify(const char *bundle_path, char **report, lode_error *err)
{
	return lode_verify_opt(bundle_path, NULL, 0, NULL, report, err);
}

lode_status lode_verify_trusted(const char *bundle_path, const char *const *trusted_keys, size_t ntrusted,
				char **report, lode_error *err)
{
	return lode_verify_opt(bundle_path, trusted_keys, ntrusted, NULL, report, err);
}

lode_status lode_verify_opt(const char *bundle_path, const char *const *trusted_keys, size_t ntrusted,
			    const lode_read_options *opt, char **report, lode_error *err)
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
		j = (verify_job){
		    bundle_path,     keys, ntrusted, lode__read_memory(opt), opt && opt->report_json,
		    opt && opt->full};
		rc = lode__contained_progress(bundle_path, verify_job_fn, &j, report, err, NULL, opt);
	}
	for (size_t k = 0; k < ntrusted; k++)
		free(keys[k].path);
	free(keys);
	if (opt && opt->report_json)
		json_report(bundle_path, rc, err, report);
	return rc;
}
