/*
 * ls.c -- lode ls: a bundle described, as text for people or as JSON for scripts:
 * each dataset's type, size, CRS, bounds, nodata, source and coordinate operation,
 * from its attributes and lineage.  It reads no values and checks no digest (that is
 * verify's); the bundle is read in a child process (untrusted.c).  A dataset with a
 * problem (one found while listing: a missing part, sizes the file cannot hold) is listed
 * with it, and the listing ends in an error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_items.h"
#include "crs_proj.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "ls.h"
#include "raster_gdal.h"
#include "strict.h"
#include "untrusted.h"
#include "util.h"

/* A raster's bounds from its GeoTransform: x of the first column's edge, the lower y,
   x of the last column's far edge, the upper y. */
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

/*
 * The warning for an operation the policy accepted though it is ballpark or of unknown
 * accuracy, from the lineage's operation and policy records (NULL when there is none):
 * the same facts lode plan and run warned of.  malloc'd.
 */
static char *op_warning(json_t *lin, json_t *op)
{
	json_t *steps = json_object_get(op, "steps"), *pol = json_object_get(lin, "policy"), *st;
	const char *why = NULL, *by;
	size_t k;

	if (!op || (!json_is_true(json_object_get(op, "ballpark")) &&
		    json_is_number(json_object_get(op, "accuracy_m"))))
		return NULL;
	by = json_is_string(json_object_get(pol, "scope")) ? "the dataset's policy" : "the manifest's policy";
	json_array_foreach(steps, k, st)
	{
		const char *n = json_string_value(json_object_get(st, "name"));
		if (n && strncmp(n, "Ballpark", 8) == 0 && !why)
			why = n;
	}
	if (json_is_true(json_object_get(op, "ballpark")))
		return lode__sprintf("ballpark operation accepted by %s (allow_ballpark: true): %s%s%s "
				     "assumes the two datums coincide; its error is unknown and may reach "
				     "tens or hundreds of metres",
				     by, why ? "its step '" : "it", why ? why : "", why ? "'" : "");
	return lode__sprintf("operation of unknown accuracy accepted by %s (allow_ballpark: true)", by);
}

/* One dataset as a JSON object for the listing; bd gets a raster's bounds (bounds_of). */
static json_t *item_json(const lode_bundle_item *it, int vec, const char *label, json_t *lin, json_t *op,
			 json_t *src, double bd[4])
{
	json_t *o = json_object(), *bb = json_array();

	json_object_set_new(o, "name", json_string(it->name));
	json_object_set_new(o, "kind", json_string(vec ? "vector" : "raster"));
	if (vec) {
		json_object_set_new(o, "geometry_type",
				    json_string(it->geometry_type ? it->geometry_type : "unknown"));
		json_object_set_new(o, "feature_count", json_integer(it->nfeat));
		/* A table (geometry type None) has no CRS: null. */
		json_object_set_new(o, "crs",
				    it->geometry_type && !strcmp(it->geometry_type, "None")
					? json_null()
					: json_string(label ? label : "unknown"));
		if (json_object_get(lin, "extent"))
			json_object_set(o, "extent", json_object_get(lin, "extent"));
		if (json_object_get(lin, "fields"))
			json_object_set(o, "fields", json_object_get(lin, "fields"));
		if (json_object_get(lin, "key")) /* relations (issue 15 item 4) */
			json_object_set(o, "key", json_object_get(lin, "key"));
		if (json_object_get(lin, "references"))
			json_object_set(o, "references", json_object_get(lin, "references"));
		/* A field map's record (docs/harmonize.md) and the schema it fits, as stored. */
		if (json_object_get(lin, "harmonize"))
			json_object_set(o, "harmonize", json_object_get(lin, "harmonize"));
		if (json_object_get(lin, "schema"))
			json_object_set(o, "schema", json_object_get(lin, "schema"));
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
		if (json_object_get(op, "via")) {
			json_object_set(summary, "via", json_object_get(op, "via"));
			json_object_set(summary, "legs", json_object_get(op, "legs"));
			json_object_set(summary, "accuracy_known_m", json_object_get(op, "accuracy_known_m"));
		}
		{
			char *w = op_warning(lin, op);
			if (w)
				json_object_set_new(summary, "warning", json_string(w));
			free(w);
		}
		json_object_set_new(o, "operation", summary);
	}
	if (json_object_get(lin, "resampling"))
		json_object_set(o, "resampling", json_object_get(lin, "resampling"));
	if (it->problem)
		json_object_set_new(o, "problem", json_string(it->problem));
	return o;
}

/* One dataset's lines of the text listing, appended to *text; bd as item_json made it. */

static const char *str_of(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

/* The schema a harmonized layer fits and its field map's counts per mapped field. */
static void ls_harmonize(char **text, const json_t *lin)
{
	const json_t *sc = json_object_get(lin, "schema"), *h = json_object_get(lin, "harmonize"), *c;
	char a[200], b[80];
	size_t k;

	if (json_is_object(sc))
		lode__addf(text, "  schema:     %s %s\n",
			   lode__printable(a, sizeof a, str_of(json_object_get(sc, "name"))),
			   lode__printable(b, sizeof b, str_of(json_object_get(sc, "version"))));
	json_array_foreach(json_object_get(h, "counts"), k, c)
	{
		if (!json_integer_value(json_object_get(c, "mapped")) &&
		    !json_integer_value(json_object_get(c, "unmapped")))
			continue;
		lode__addf(text, "  mapped:     %s: %lld mapped, %lld unmapped%s, %lld empty\n",
			   lode__printable(a, sizeof a, str_of(json_object_get(c, "field"))),
			   (long long)json_integer_value(json_object_get(c, "mapped")),
			   (long long)json_integer_value(json_object_get(c, "unmapped")),
			   json_is_true(json_object_get(c, "unmapped_kept")) ? " (nil)" : "",
			   (long long)json_integer_value(json_object_get(c, "empty")));
	}
}

static void item_text(char **text, const lode_bundle_item *it, int vec, const char *label, json_t *lin,
		      json_t *op, json_t *src, double bd[4])
{
	const char *opname = json_string_value(json_object_get(op, "name"));
	const char *code = json_string_value(json_object_get(op, "code"));
	json_t *acc = json_object_get(op, "accuracy_m");
	char e[5][600]; /* texts from the bundle, printable (E) */
#define E(k, s) lode__printable(e[k], sizeof e[k], (s) ? (s) : "")

	if (vec) {
		json_t *fields = json_object_get(lin, "fields"), *ext = json_object_get(lin, "extent");
		int table = it->geometry_type && !strcmp(it->geometry_type, "None");
		if (table)
			lode__addf(text, "\n%s  table, %lld row%s\n", E(0, it->name), it->nfeat,
				   it->nfeat == 1 ? "" : "s");
		else
			lode__addf(text, "\n%s  vector %s, %lld feature%s\n", E(0, it->name),
				   E(1, it->geometry_type ? it->geometry_type : "unknown"), it->nfeat,
				   it->nfeat == 1 ? "" : "s");
		if (!table)
			lode__addf(text, "  crs:        %s\n", E(0, label ? label : "unknown"));
		if (json_is_number(json_array_get(ext, 0)))
			lode__addf(text, "  extent:     %.10g %.10g %.10g %.10g\n",
				   json_number_value(json_array_get(ext, 0)),
				   json_number_value(json_array_get(ext, 1)),
				   json_number_value(json_array_get(ext, 2)),
				   json_number_value(json_array_get(ext, 3)));
		for (size_t k = 0; k < json_array_size(fields); k++) {
			json_t *f = json_array_get(fields, k);
			lode__addf(text, "  %s %s (%s)\n", k ? "           " : "fields:    ",
				   E(0, json_string_value(json_object_get(f, "name"))),
				   E(1, json_string_value(json_object_get(f, "type"))));
		}
		if (json_string_value(json_object_get(lin, "key")))
			lode__addf(text, "  key:        %s\n",
				   E(0, json_string_value(json_object_get(lin, "key"))));
		for (size_t k = 0; k < json_array_size(json_object_get(lin, "references")); k++) {
			json_t *r = json_array_get(json_object_get(lin, "references"), k);
			json_int_t n = json_integer_value(json_object_get(r, "orphans"));
			lode__addf(text, "  %s %s -> %s.%s", k ? "           " : "references:",
				   E(0, json_string_value(json_object_get(r, "field"))),
				   E(1, json_string_value(json_object_get(r, "dataset"))),
				   E(2, json_string_value(json_object_get(r, "key"))));
			if (n)
				lode__addf(text, " (%lld orphan%s)", (long long)n, n == 1 ? "" : "s");
			lode__addf(text, "\n");
		}
		ls_harmonize(text, lin);
	} else {
		lode__addf(text, "\n%s  raster %s, %d band%s, %d x %d pixels\n", E(0, it->name),
			   lode__dtype_name(it->dtype), it->nbands, it->nbands == 1 ? "" : "s", it->nx,
			   it->ny);
		lode__addf(text, "  crs:        %s\n  bounds:     %.10g %.10g %.10g %.10g\n",
			   E(0, label ? label : "unknown"), bd[0], bd[1], bd[2], bd[3]);
		if (it->has_nodata)
			lode__addf(text, "  nodata:     %.17g\n", it->nodata);
	}
	if (src && !json_object_get(src, "crs")) /* a table */
		lode__addf(text, "  source:     %s%s%s (sha256 %.16s...)\n",
			   E(0, json_string_value(json_object_get(src, "path"))),
			   json_object_get(src, "layer") ? ", layer " : "",
			   E(1, json_string_value(json_object_get(src, "layer"))),
			   E(3, json_string_value(json_object_get(src, "sha256"))));
	else if (src)
		lode__addf(text, "  source:     %s%s%s (%s%s, sha256 %.16s...)\n",
			   E(0, json_string_value(json_object_get(src, "path"))),
			   json_object_get(src, "layer") ? ", layer " : "",
			   E(1, json_string_value(json_object_get(src, "layer"))),
			   E(2, json_string_value(json_object_get(src, "crs"))),
			   json_is_true(json_object_get(src, "crs_assumed")) ? " assumed" : "",
			   E(3, json_string_value(json_object_get(src, "sha256"))));
	if (opname) {
		char acc_text[64];
		if (json_is_number(acc))
			snprintf(acc_text, sizeof acc_text, "%g m", json_number_value(acc));
		else
			snprintf(acc_text, sizeof acc_text, "unknown");
		lode__addf(text, "  operation:  %s%s%s%s\n              accuracy %s%s\n", E(0, opname),
			   code ? " [" : "", E(1, code), code ? "]" : "", acc_text,
			   json_is_true(json_object_get(op, "ballpark")) ? ", ballpark" : "");
		if (json_is_string(json_object_get(op, "via"))) {
			json_t *leg;
			size_t k;
			lode__addf(text, "  via:        %s (known steps %g m)\n",
				   E(0, json_string_value(json_object_get(op, "via"))),
				   json_number_value(json_object_get(op, "accuracy_known_m")));
			json_array_foreach(json_object_get(op, "legs"), k, leg)
			{
				json_t *la = json_object_get(leg, "accuracy_m");
				char at[32] = "unknown";
				if (json_is_number(la))
					snprintf(at, sizeof at, "%g m", json_number_value(la));
				lode__addf(
				    text, "              %s -> %s: %s, accuracy %s%s\n",
				    E(0, json_string_value(json_object_get(leg, "from"))),
				    E(1, json_string_value(json_object_get(leg, "to"))),
				    E(2, json_string_value(json_object_get(leg, "code"))
					     ? json_string_value(json_object_get(leg, "code"))
					     : "no EPSG code"),
				    at, json_is_true(json_object_get(leg, "ballpark")) ? ", ballpark" : "");
			}
		}
		{
			char *w = op_warning(lin, op);
			if (w)
				lode__addf(text, "  WARNING:    %s\n", E(0, w));
			free(w);
		}
	}
	if (json_object_get(lin, "resampling"))
		lode__addf(text, "  resampling: %s\n",
			   E(0, json_string_value(json_object_get(lin, "resampling"))));
	if (it->problem)
		lode__addf(text, "  PROBLEM:    %s\n", E(0, it->problem));
#undef E
}

static lode_status ls_impl(const char *bundle_path, int json, size_t max_memory, char **out, lode_error *err)
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
	if ((rc = lode__open_items(bundle_path, max_memory, &b, &items, &n, err)) ||
	    (rc = lode__strict_refuse(bundle_path, b, items, n, err)))
		goto out;
	lode__bundle_get_attr(b, "title", &title, err);
	lode__bundle_get_attr(b, "lode_bundle_sha256", &digest, err);
	root = json_object();
	arr = json_array();
	json_object_set_new(root, "bundle", json_string(bundle_path));
	json_object_set_new(root, "title", title ? json_string(title) : json_null());
	json_object_set_new(root, "bundle_sha256", digest ? json_string(digest) : json_null());
	json_object_set_new(root, "datasets", arr);
	if (!json) {
		char shown[1000];
		lode__addf(&text, "%s: %s\n%zu dataset%s\n", bundle_path,
			   lode__printable(shown, sizeof shown, title ? title : "(untitled)"), n,
			   n == 1 ? "" : "s");
	}
	for (size_t i = 0; i < n; i++) {
		lode_bundle_item *it = &items[i];
		json_t *lin = NULL, *op, *src;
		char *label = it->crs_wkt ? lode__crs_label(it->crs_wkt) : NULL;
		double bd[4];
		int vec = it->kind && strcmp(it->kind, "vector") == 0;

		if (it->lineage)
			lin = json_loads(it->lineage, 0, NULL);
		op = json_object_get(lin, "operation");
		src = json_object_get(lin, "source");
		json_array_append_new(arr, item_json(it, vec, label, lin, op, src, bd));
		if (!json)
			item_text(&text, it, vec, label, lin, op, src, bd);
		json_decref(lin);
		free(label);
	}
	if (json)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	else
		/* Where to go next (docs/receiving.md). */
		lode__addf(&text,
			   "\nNext: lode report %s -o REPORT.html     (a page for people)\n"
			   "      lode metadata %s --format iso19139|fgdc|stac -o RECORD     (catalogue "
			   "records; docs/receiving.md)\n",
			   bundle_path, bundle_path);
	if (!text)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	/* Listed, but the bundle is damaged: the listing is handed back with the error. */
	for (size_t i = 0; i < n && !rc; i++)
		if (items[i].problem)
			rc = lode__err(err, LODE_EDAMAGED, "%s: damaged: dataset '%s': %s", bundle_path,
				       items[i].name, items[i].problem);
out:
	*out = text;
	json_decref(root);
	free(title);
	free(digest);
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	return rc;
}

typedef struct ls_job {
	const char *path;
	int json;
	size_t max_memory;
} ls_job;

static lode_status ls_job_fn(void *arg, char **text, lode_error *err)
{
	ls_job *j = arg;

	return ls_impl(j->path, j->json, j->max_memory, text, err);
}

lode_status lode_ls(const char *bundle_path, int json, char **out, lode_error *err)
{
	return lode_ls_opt(bundle_path, json, NULL, out, err);
}

lode_status lode_ls_opt(const char *bundle_path, int json, const lode_read_options *opt, char **out,
			lode_error *err)
{
	ls_job j = {bundle_path, json, lode__read_memory(opt)};

	lode__err_clear(err);
	return lode__contained_progress(bundle_path, ls_job_fn, &j, out, err, NULL, opt);
}
