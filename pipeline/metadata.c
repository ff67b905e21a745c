/*
 * metadata.c -- lode metadata: a verified bundle described for a catalogue, as an ISO
 * 19139, FGDC CSDGM or STAC 1.1 record, and such XML records validated offline against
 * the vendored schemas (libxml2's XML Schema validator, never the network).
 *
 * The bundle is verified (strict, every digest) before its lineage is trusted; its facts
 * are then read from its root attributes and lineage in a child process, as ls reads
 * them (untrusted.c), and the record is made there too (metadata_iso.c, metadata_fgdc.c,
 * metadata_stac.c).  What the records say comes only from the bundle and its file: no
 * source is opened.  STAC items are validated with JSON Schema by a documented Python
 * command (docs/cli.md), not here.
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlschemas.h>

#include "bundle.h"
#include "bundle_items.h"
#include "crs_footprint.h"
#include "crs_proj.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "metadata.h"
#include "metadata_int.h"
#include "publish.h"
#include "raster_gdal.h"
#include "sha256.h"
#include "strict.h"
#include "untrusted.h"
#include "util.h"
#include "verify.h"
#include "work.h"

#ifndef LODE_SCHEMA_DIR
#define LODE_SCHEMA_DIR "/usr/local/share/lode/schemas"
#endif
#ifndef LODE_SOURCE_SCHEMA_DIR
#define LODE_SOURCE_SCHEMA_DIR "tests/data/schemas"
#endif

const char *lode_metadata_schema_dir(void)
{
	const char *e = getenv("LODE_SCHEMA_DIR");
	struct stat st;

	if (e && *e)
		return e;
	if (stat(LODE_SCHEMA_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return LODE_SCHEMA_DIR;
	return LODE_SOURCE_SCHEMA_DIR;
}

/* ---- small helpers the writers share ---- */

const char *lode__md_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s && *s ? s : NULL;
}

const char *lode__md_attr(const json_t *facts, const char *key)
{
	return lode__md_str(json_object_get(facts, "attrs"), key);
}

char *lode__md_accuracy_text(const json_t *op)
{
	json_t *acc = json_object_get(op, "accuracy_m");
	char buf[300];

	if (json_is_true(json_object_get(op, "ballpark")))
		snprintf(
		    buf, sizeof buf,
		    "unknown: a BALLPARK operation (no published transformation between the two "
		    "datums; its error is not known: metres to hundreds of metres depending on the datums)");
	else if (!json_is_number(acc))
		snprintf(buf, sizeof buf,
			 "unknown: the operation's accuracy is not recorded (as uncertain as a "
			 "ballpark operation)");
	else
		snprintf(buf, sizeof buf, "%g m", json_number_value(acc));
	return lode__strdup(buf);
}

char *lode__md_step_text(const json_t *ds)
{
	const json_t *lin = json_object_get(ds, "lineage"), *src = json_object_get(lin, "source"),
		     *op = json_object_get(lin, "operation"), *tgt = json_object_get(lin, "target");
	const char *code = lode__md_str(op, "code"), *res = lode__md_str(lin, "resampling");
	char *acc = lode__md_accuracy_text(op), *text = NULL;
	json_t *grids = json_object_get(op, "grids");

	if (!acc)
		return NULL;
	lode__addf(&text, "Dataset %s (%s): %s from %s%s to %s with the PROJ coordinate operation \"%s\"",
		   lode__md_str(ds, "name") ? lode__md_str(ds, "name") : "?",
		   lode__md_str(ds, "kind") ? lode__md_str(ds, "kind") : "?",
		   strcmp(lode__md_str(ds, "kind") ? lode__md_str(ds, "kind") : "", "vector") == 0
		       ? "features transformed"
		       : "reprojected",
		   lode__md_str(src, "crs") ? lode__md_str(src, "crs") : "an unnamed CRS",
		   json_is_true(json_object_get(src, "crs_assumed")) ? " (assumed by the manifest)" : "",
		   lode__md_str(tgt, "crs") ? lode__md_str(tgt, "crs") : "the target CRS",
		   lode__md_str(op, "name") ? lode__md_str(op, "name") : "unnamed");
	lode__addf(&text, code ? " (%s)" : " (no EPSG code: %s)", code ? code : "a conversion or ballpark");
	lode__addf(&text, ", accuracy %s", acc);
	for (size_t i = 0; i < json_array_size(grids); i++)
		lode__addf(&text, "%s%s", i ? ", " : ", grids ",
			   lode__md_str(json_array_get(grids, i), "name")
			       ? lode__md_str(json_array_get(grids, i), "name")
			       : "?");
	if (res)
		lode__addf(&text, ", resampling %s", res);
	lode__addf(&text, "; PROJ %s, EPSG database %s, GDAL %s, lode %s.",
		   lode__md_str(lin, "proj_version") ? lode__md_str(lin, "proj_version") : "?",
		   lode__md_str(lin, "epsg_version") ? lode__md_str(lin, "epsg_version") : "?",
		   lode__md_str(lin, "gdal_version") ? lode__md_str(lin, "gdal_version") : "?",
		   lode__md_str(lin, "lode_version") ? lode__md_str(lin, "lode_version") : "?");
	free(acc);
	return text;
}

/* ---- libxml2's text writer ---- */

int lode__xw_begin(lode__xw *x)
{
	*x = (lode__xw){0};
	if (!(x->buf = xmlBufferCreate()) || !(x->w = xmlNewTextWriterMemory(x->buf, 0))) {
		lode__xw_free(x);
		return -1;
	}
	xmlTextWriterSetIndent(x->w, 1);
	xmlTextWriterSetIndentString(x->w, BAD_CAST "  ");
	if (xmlTextWriterStartDocument(x->w, "1.0", "UTF-8", NULL) < 0)
		x->bad = 1;
	return 0;
}

void lode__xw_start(lode__xw *x, const char *name)
{
	if (!x->bad && xmlTextWriterStartElement(x->w, BAD_CAST name) < 0)
		x->bad = 1;
}

void lode__xw_attr(lode__xw *x, const char *name, const char *value)
{
	if (!x->bad && xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST value) < 0)
		x->bad = 1;
}

void lode__xw_end(lode__xw *x)
{
	if (!x->bad && xmlTextWriterEndElement(x->w) < 0)
		x->bad = 1;
}

void lode__xw_elem(lode__xw *x, const char *name, const char *text)
{
	if (!x->bad && xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST text) < 0)
		x->bad = 1;
}

void lode__xw_free(lode__xw *x)
{
	if (x->w)
		xmlFreeTextWriter(x->w);
	if (x->buf)
		xmlBufferFree(x->buf);
	x->w = NULL;
	x->buf = NULL;
}

lode_status lode__xw_finish(lode__xw *x, char **out, lode_error *err)
{
	*out = NULL;
	if (!x->bad && xmlTextWriterEndDocument(x->w) < 0)
		x->bad = 1;
	if (!x->bad) {
		xmlFreeTextWriter(x->w); /* flushes into the buffer */
		x->w = NULL;
		*out = lode__strdup((const char *)xmlBufferContent(x->buf));
	}
	lode__xw_free(x);
	if (!*out)
		return lode__err(err, LODE_ENOMEM,
				 "out of memory (or a text that is not UTF-8) writing the XML record");
	return LODE_OK;
}

/* ---- the facts of a bundle ---- */

typedef struct md_job {
	const char *bundle, *format, *out, *verify;
	const char *const *trust;
	size_t ntrust, max_memory;
	char file_sha[65];
	uint64_t file_size;
} md_job;

/* A raster's bounds from its GeoTransform, as ls gives them. */
static void raster_bounds(const lode_bundle_item *it, double b[4])
{
	double x1 = it->gt[0] + it->nx * it->gt[1], y1 = it->gt[3] + it->ny * it->gt[5];

	b[0] = it->gt[0] < x1 ? it->gt[0] : x1;
	b[2] = it->gt[0] < x1 ? x1 : it->gt[0];
	b[1] = it->gt[3] < y1 ? it->gt[3] : y1;
	b[3] = it->gt[3] < y1 ? y1 : it->gt[3];
}

static void grow(double bb[4], const double b[4], int *have)
{
	if (!*have) {
		memcpy(bb, b, 4 * sizeof *bb);
		*have = 1;
		return;
	}
	bb[0] = b[0] < bb[0] ? b[0] : bb[0];
	bb[1] = b[1] < bb[1] ? b[1] : bb[1];
	bb[2] = b[2] > bb[2] ? b[2] : bb[2];
	bb[3] = b[3] > bb[3] ? b[3] : bb[3];
}

static json_t *dataset_json(const lode_bundle_item *it, json_t *lin, double bb[4], int *have)
{
	json_t *d = json_object();
	double b[4];

	json_object_set_new(d, "name", json_string(it->name));
	json_object_set_new(d, "kind", json_string(it->kind ? it->kind : "?"));
	json_object_set_new(d, "lineage", lin ? lin : json_object());
	if (it->kind && strcmp(it->kind, "vector") == 0) {
		json_t *ext = json_object_get(lin, "extent");
		json_object_set_new(d, "geometry_type",
				    json_string(it->geometry_type ? it->geometry_type : "?"));
		json_object_set_new(d, "feature_count", json_integer(it->nfeat));
		if (json_array_size(ext) == 4 && it->nfeat > 0) {
			for (int k = 0; k < 4; k++)
				b[k] = json_number_value(json_array_get(ext, (size_t)k));
			grow(bb, b, have);
		}
	} else {
		json_t *gt = json_array();
		for (int k = 0; k < 6; k++)
			json_array_append_new(gt, json_real(it->gt[k]));
		json_object_set_new(d, "width", json_integer(it->nx));
		json_object_set_new(d, "height", json_integer(it->ny));
		json_object_set_new(d, "bands", json_integer(it->nbands));
		json_object_set_new(d, "data_type", json_string(lode__dtype_name(it->dtype)));
		json_object_set_new(d, "geotransform", gt);
		json_object_set_new(d, "nodata", it->has_nodata ? json_real(it->nodata) : json_null());
		raster_bounds(it, b);
		grow(bb, b, have);
	}
	return d;
}

/* The box in WGS 84 degrees: itself for EPSG:4326, else transformed by PROJ's choice. */
static lode_status wgs84_box(const char *label, const char *wkt, const double bb[4], double out[4],
			     lode_error *err)
{
	char *wgs = NULL;
	lode_footprint fp;
	lode_status rc;

	if (label && strcmp(label, "EPSG:4326") == 0) {
		memcpy(out, bb, 4 * sizeof *out);
		return LODE_OK;
	}
	/* Sampled like a source's footprint (crs_footprint.h): points that do not transform
	   (off a geostationary disk, say) are left out, as gdalwarp leaves them out. */
	if ((rc = lode__crs_to_wkt("EPSG:4326", &wgs, err)) == LODE_OK &&
	    (rc = lode__crs_footprint(wkt, wgs, NULL, bb, bb, 0, &fp, err)) == LODE_OK) {
		if (fp.ntransformed == 0)
			rc = lode__err(err, LODE_EBUNDLE, "no point of it transforms to WGS 84");
		else
			memcpy(out, fp.covers, 4 * sizeof *out);
	}
	free(wgs);
	if (rc)
		lode__err_ctx(err, "the bundle's extent in WGS 84: ");
	return rc;
}

static int skipped_attr(const char *key)
{
	return strcmp(key, "lode_manifest") == 0 || strcmp(key, "lode_merged_from") == 0 ||
	       strncmp(key, "lode_signature_", 15) == 0 || strncmp(key, "geospatial_l", 12) == 0;
}

/* The STAC datetime: the manifest's time_coverage_start, else the bundle's date_created,
   else SOURCE_DATE_EPOCH now.  The record's own date (ISO dateStamp, FGDC metd):
   SOURCE_DATE_EPOCH now, else date_created, else today. */
static void dates(json_t *f)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *env = NULL, *today = NULL, date[11];
	const char *t, *d;

	if (sde && *sde && strspn(sde, "0123456789") == strlen(sde))
		env = lode__iso_utc((time_t)strtoll(sde, NULL, 10));
	t = lode__md_attr(f, "time_coverage_start");
	if (!t)
		t = lode__md_attr(f, "date_created");
	if (!t)
		t = env;
	if (t)
		json_object_set_new(f, "datetime", json_string(t));
	d = env ? env : lode__md_attr(f, "date_created");
	if (!d)
		d = today = lode__iso_utc(time(NULL));
	snprintf(date, sizeof date, "%.10s", d ? d : "1970-01-01");
	json_object_set_new(f, "date", json_string(date));
	free(env);
	free(today);
}

/* Records found beside the STAC item (same folder, named after the bundle's stem). */
static void extra_assets(json_t *f, const char *out_path, const char *stem)
{
	static const char *const kinds[][4] = {
	    {".iso19139.xml", "application/xml", "ISO 19139 metadata record", "metadata"},
	    {".fgdc.xml", "application/xml", "FGDC CSDGM metadata record", "metadata"},
	    {".report.html", "text/html", "lode report", "overview"},
	};
	char *copy = lode__strdup(out_path), path[PATH_MAX];
	const char *dir = copy ? dirname(copy) : ".";
	json_t *a = json_array();
	struct stat st;

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		json_t *o;
		if (snprintf(path, sizeof path, "%s/%.200s%s", dir, stem, kinds[i][0]) >= (int)sizeof path ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		o = json_object();
		snprintf(path, sizeof path, "%.200s%s", stem, kinds[i][0]);
		json_object_set_new(o, "href", json_string(path));
		json_object_set_new(o, "type", json_string(kinds[i][1]));
		json_object_set_new(o, "title", json_string(kinds[i][2]));
		json_object_set_new(o, "role", json_string(kinds[i][3]));
		json_array_append_new(a, o);
	}
	json_object_set_new(f, "extra_assets", a);
	free(copy);
}

/* How the item refers to the bundle: its name when they share a folder, else its
   absolute path. */
static char *bundle_href(const char *bundle, const char *out)
{
	char rb[PATH_MAX], ro[PATH_MAX], *cb = lode__strdup(bundle), *co = lode__strdup(out), *h = NULL;

	if (cb && co && realpath(dirname(cb), rb) && realpath(dirname(co), ro)) {
		free(cb);
		cb = lode__strdup(bundle);
		if (cb && strcmp(rb, ro) == 0)
			h = lode__strdup(basename(cb));
		else if (cb && strlen(rb) + strlen(basename(cb)) + 2 < sizeof rb) {
			strcat(rb, "/");
			strcat(rb, basename(cb));
			h = lode__strdup(rb);
		}
	}
	free(cb);
	free(co);
	return h;
}

static void file_facts(json_t *f, const md_job *j)
{
	char *cb = lode__strdup(j->bundle), *href = bundle_href(j->bundle, j->out), stem[PATH_MAX];
	const char *base = cb ? basename(cb) : j->bundle;
	size_t n = strlen(base);

	json_object_set_new(f, "file", json_string(base));
	json_object_set_new(f, "href", json_string(href ? href : base));
	json_object_set_new(f, "file_sha256", json_string(j->file_sha));
	json_object_set_new(f, "file_size", json_integer((json_int_t)j->file_size));
	snprintf(stem, sizeof stem, "%.*s", (int)(n > 3 && strcmp(base + n - 3, ".nc") == 0 ? n - 3 : n),
		 base);
	json_object_set_new(f, "stem", json_string(stem));
	extra_assets(f, j->out, stem);
	free(cb);
	free(href);
}

/* Every dataset, the CRS, the boxes and the root attributes into *facts. */
static lode_status read_facts(const md_job *j, lode__bundle *b, lode_bundle_item *items, size_t n, json_t *f,
			      lode_error *err)
{
	lode_kv *kv = NULL;
	size_t nkv = 0;
	json_t *attrs = json_object(), *arr = json_array(), *bj = json_array(), *wj = json_array();
	double bb[4] = {0}, w[4];
	int have = 0;
	char *label = NULL;
	lode_status rc;

	json_object_set_new(f, "attrs", attrs);
	json_object_set_new(f, "datasets", arr);
	json_object_set_new(f, "bbox", bj);
	json_object_set_new(f, "bbox_wgs84", wj);
	if ((rc = lode__bundle_root_attrs(b, &kv, &nkv, err)))
		return rc;
	for (size_t i = 0; i < nkv; i++)
		if (!skipped_attr(kv[i].key))
			json_object_set_new(attrs, kv[i].key, json_string(kv[i].value ? kv[i].value : ""));
	lode__kv_free(kv, nkv);
	json_object_set_new(f, "bundle_sha256", json_string(lode__md_attr(f, "lode_bundle_sha256")));
	for (size_t i = 0; i < n; i++) {
		json_t *lin = items[i].lineage ? json_loads(items[i].lineage, 0, NULL) : NULL;
		json_array_append_new(arr, dataset_json(&items[i], lin, bb, &have));
	}
	if (!n || !items[0].crs_wkt)
		return lode__err(err, LODE_EBUNDLE, "%s: the bundle has no dataset to describe", j->bundle);
	label = lode__crs_label(items[0].crs_wkt);
	json_object_set_new(f, "crs", json_string(label ? label : "unknown"));
	json_object_set_new(f, "crs_wkt", json_string(items[0].crs_wkt));
	json_object_set_new(f, "epsg",
			    label && strncmp(label, "EPSG:", 5) == 0
				? json_integer(strtol(label + 5, NULL, 10))
				: json_null());
	if (!have)
		rc = lode__err(err, LODE_EBUNDLE, "%s: no dataset has an extent (every layer is empty)",
			       j->bundle);
	else
		rc = wgs84_box(label, items[0].crs_wkt, bb, w, err);
	for (int k = 0; k < 4 && !rc; k++) {
		json_array_append_new(bj, json_real(bb[k]));
		json_array_append_new(wj, json_real(w[k]));
	}
	free(label);
	return rc;
}

/* The first field format cannot do without that f's attributes leave empty (the
   manifest key that fills it), "datetime" for a STAC item without one, or NULL. */
static const char *missing_field(const json_t *f, const char *format)
{
	static const char *const common[] = {"title", "summary", "license", NULL};
	static const char *const fgdc[] = {
	    "purpose", "keywords", "creator_phone", "creator_city", "creator_state", "creator_postal_code",
	    NULL};

	for (size_t i = 0; common[i]; i++)
		if (!lode__md_attr(f, common[i]))
			return common[i];
	if (!lode__md_attr(f, "creator_name") && !lode__md_attr(f, "creator_institution") &&
	    !lode__md_attr(f, "institution"))
		return "creator_name (or creator_institution, institution)";
	for (size_t i = 0; strcmp(format, "fgdc") == 0 && fgdc[i]; i++)
		if (!lode__md_attr(f, fgdc[i]))
			return fgdc[i];
	if (strcmp(format, "stac") == 0 && !json_object_get(f, "datetime"))
		return "datetime";
	return NULL;
}

static lode_status required(const json_t *f, const char *format, const char *bundle, lode_error *err)
{
	const char *missing = missing_field(f, format);

	if (missing && strcmp(missing, "datetime") == 0)
		return lode__err(
		    err, LODE_EUSAGE,
		    "%s: a stac record needs a datetime: the bundle has no time_coverage_start "
		    "nor date_created; set bundle: time_coverage_start in the manifest, make the "
		    "bundle with SOURCE_DATE_EPOCH set, or set SOURCE_DATE_EPOCH now",
		    bundle);
	if (missing)
		return lode__err(err, LODE_EUSAGE,
				 "%s: a %s record needs '%s', which the bundle does not have: set it in the "
				 "manifest's bundle: section (docs/manifest.md) and make the bundle again",
				 bundle, format, missing);
	return LODE_OK;
}

/* Indexed by the LODE_MD_* bit numbers (the manifest's order of names). */
static const char *const md_formats[4] = {"iso19139", "fgdc", "stac", "report"};
static const char *const md_suffixes[4] = {".iso19139.xml", ".fgdc.xml", ".stac.json", ".report.html"};
/* The order they are written in: STAC last, so that it lists the others. */
static const int md_order[4] = {0, 1, 3, 2};

lode_status lode__metadata_precheck(const lode_manifest *m, const char *manifest_path, lode_error *err)
{
	json_t *f = json_object(), *attrs = json_object();
	const char *sde = getenv("SOURCE_DATE_EPOCH"), *missing = NULL;
	int i;

	json_object_set_new(f, "attrs", attrs);
	for (size_t k = 0; k < m->nmeta; k++)
		json_object_set_new(attrs, m->meta[k].key, json_string(m->meta[k].value));
	/* The datetime the bundle will have: time_coverage_start, or date_created from
	   SOURCE_DATE_EPOCH (write.c's rule: a non-negative integer). */
	if (lode__md_attr(f, "time_coverage_start") ||
	    (sde && *sde && strspn(sde, "0123456789") == strlen(sde)))
		json_object_set_new(f, "datetime", json_true());
	for (i = 0; i < 3 && !missing; i++) /* the report needs nothing */
		if (m->metadata & (1u << i))
			missing = missing_field(f, md_formats[i]);
	json_decref(f);
	if (!missing)
		return LODE_OK;
	if (strcmp(missing, "datetime") == 0)
		return lode__err(err, LODE_EMANIFEST,
				 "%s: metadata: the stac record needs a datetime: set bundle: "
				 "time_coverage_start, or SOURCE_DATE_EPOCH",
				 manifest_path);
	return lode__err(err, LODE_EMANIFEST,
			 "%s: metadata: the %s record needs bundle: %s, which the manifest does not set "
			 "(docs/manifest.md, keys for catalogue records)",
			 manifest_path, md_formats[i - 1], missing);
}

lode_status lode__metadata_beside(const char *bundle_path, unsigned formats, lode_error *err)
{
	size_t n = strlen(bundle_path), stem = n > 3 && strcmp(bundle_path + n - 3, ".nc") == 0 ? n - 3 : n;
	lode_status rc = LODE_OK;

	for (int k = 0; k < 4 && !rc; k++) {
		int i = md_order[k];
		char *out;
		if (!(formats & (1u << i)))
			continue;
		if (!(out = malloc(stem + strlen(md_suffixes[i]) + 1)))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		memcpy(out, bundle_path, stem);
		strcpy(out + stem, md_suffixes[i]);
		if ((rc = lode_metadata(bundle_path, md_formats[i], out, NULL, err)))
			lode__err_ctx(err, "%s was written, but not its %s record: ", bundle_path,
				      md_formats[i]);
		free(out);
	}
	return rc;
}

static lode_status md_job_fn(void *arg, char **text, lode_error *err)
{
	md_job *j = arg;
	lode__sha256_job *sha;
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	json_t *f = json_object();
	lode_status rc;

	*text = NULL;
	/* The file's SHA-256 on a thread of this child while it reads the facts. */
	sha = lode__sha256_file_start(j->bundle);
	lode__gdal_init();
	if ((rc = lode__open_items(j->bundle, j->max_memory, &b, &items, &n, err)) ||
	    (rc = lode__strict_refuse(j->bundle, b, items, n, err)) ||
	    (rc = read_facts(j, b, items, n, f, err)))
		goto out;
	rc = lode__sha256_file_wait(sha, j->bundle, j->file_sha, &j->file_size, err);
	sha = NULL;
	if (rc)
		goto out;
	file_facts(f, j);
	dates(f);
	json_object_set_new(f, "verify", json_string(j->verify ? j->verify : ""));
	json_object_set_new(f, "trust", json_array());
	for (size_t i = 0; i < j->ntrust; i++)
		json_array_append_new(json_object_get(f, "trust"), json_string(j->trust[i]));
	if (strcmp(j->format, "report") == 0 &&
	    (rc = lode__md_pictures(b, items, n, f, j->max_memory, err)) == LODE_OK)
		rc = lode__md_report(f, text, err);
	else if (strcmp(j->format, "report") == 0)
		goto out;
	else if ((rc = required(f, j->format, j->bundle, err)))
		goto out;
	else if (strcmp(j->format, "iso19139") == 0)
		rc = lode__md_iso(f, text, err);
	else if (strcmp(j->format, "fgdc") == 0)
		rc = lode__md_fgdc(f, text, err);
	else
		rc = lode__md_stac(f, text, err);
out:
	if (sha)
		lode__sha256_file_cancel(sha);
	json_decref(f);
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	return rc;
}

static lode_status metadata(const char *bundle_path, const char *format, const char *out_path,
			    const char *const *trust, size_t ntrust, const lode_read_options *opt,
			    lode_error *err)
{
	md_job j = {bundle_path, format, out_path, NULL, trust, ntrust, lode__read_memory(opt), {0}, 0};
	char *report = NULL, *text = NULL;
	lode_status rc;

	lode__err_clear(err);
	if (!format || (strcmp(format, "iso19139") && strcmp(format, "fgdc") && strcmp(format, "stac") &&
			strcmp(format, "report")))
		return lode__err(err, LODE_EUSAGE, "--format takes iso19139, fgdc or stac, not '%s'",
				 format ? format : "");
	if (lode__same_file(bundle_path, out_path))
		return lode__err(err, LODE_EUSAGE, "%s: the record would overwrite the bundle", out_path);
	for (size_t i = 0; i < ntrust; i++)
		if (access(trust[i], R_OK) != 0)
			return lode__err(err, LODE_EUSAGE, "--trust %s: %s", trust[i], strerror(errno));
	/* No thread of this process may run while verify and the job below fork their
	   readers (a lock held by it at the fork would stay held in the child: under ASan
	   the child hung), so the file's SHA-256 is taken inside the job's child. */
	rc = lode_verify_opt(bundle_path, trust, ntrust, opt, &report, err);
	if (rc) {
		free(report);
		lode__err_ctx(err, "will not describe a bundle that does not verify: ");
		return rc;
	}
	j.verify = report;
	if ((rc = lode__contained_progress(bundle_path, md_job_fn, &j, &text, err, NULL, opt)) == LODE_OK)
		rc = lode__work_write_text_atomic(out_path, text, err);
	free(text);
	free(report);
	return rc;
}

lode_status lode_metadata(const char *bundle_path, const char *format, const char *out_path,
			  const lode_read_options *opt, lode_error *err)
{
	return metadata(bundle_path, format, out_path, NULL, 0, opt, err);
}

lode_status lode_report(const char *bundle_path, const char *out_path, const lode_read_options *opt,
			lode_error *err)
{
	return metadata(bundle_path, "report", out_path, NULL, 0, opt, err);
}

lode_status lode_report_trusted(const char *bundle_path, const char *out_path,
				const char *const *trusted_keys, size_t ntrusted,
				const lode_read_options *opt, lode_error *err)
{
	return metadata(bundle_path, "report", out_path, trusted_keys, ntrusted, opt, err);
}

/* ---- validation against the vendored XML schemas ---- */

static void collect(void *ctx, const char *fmt, ...) LODE__PRINTF(2, 3);
static void collect(void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	lode__addf((char **)ctx, "%s", line);
}

lode_status lode_metadata_check(const char *record_path, const char *schema_dir, char **report,
				lode_error *err)
{
	xmlDocPtr doc = NULL, sdoc = NULL;
	xmlSchemaParserCtxtPtr pc = NULL;
	xmlSchemaPtr schema = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlNodePtr root;
	char xsd[PATH_MAX];
	const char *kind;
	lode_status rc = LODE_OK;
	int v;

	*report = NULL;
	lode__err_clear(err);
	if (!schema_dir)
		schema_dir = lode_metadata_schema_dir();
	/* Never the network, whatever a schema or the record points at. */
	xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
	/* libxml2 reports through the error record, never on stderr. */
	doc = xmlReadFile(record_path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !(root = xmlDocGetRootElement(doc))) {
		const xmlError *e = xmlGetLastError();
		char why[300];
		snprintf(why, sizeof why, "%s", e && e->message ? e->message : "empty");
		why[strcspn(why, "\n")] = '\0';
		rc = lode__err(err, LODE_EDAMAGED, "%s: not a well-formed XML file: %s", record_path, why);
		goto out;
	}
	if (xmlStrcmp(root->name, BAD_CAST "MD_Metadata") == 0) {
		kind = "ISO 19139";
		snprintf(xsd, sizeof xsd, "%s/iso19139/iso/19139/20070417/gmd/gmd.xsd", schema_dir);
	} else if (xmlStrcmp(root->name, BAD_CAST "metadata") == 0) {
		kind = "FGDC CSDGM";
		snprintf(xsd, sizeof xsd, "%s/fgdc/fgdc-std-001-1998.xsd", schema_dir);
	} else {
		rc = lode__err(err, LODE_EUSAGE,
			       "%s: root element <%s> is neither ISO 19139's MD_Metadata nor FGDC's metadata "
			       "(validate a STAC item with the command in docs/cli.md)",
			       record_path, (const char *)root->name);
		goto out;
	}
	if ((sdoc = xmlReadFile(xsd, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)) &&
	    (pc = xmlSchemaNewDocParserCtxt(sdoc)))
		xmlSchemaSetParserErrors(pc, collect, collect, report);
	if (!sdoc || !pc || !(schema = xmlSchemaParse(pc)) || !(vc = xmlSchemaNewValidCtxt(schema))) {
		rc = lode__err(err, LODE_EIO,
			       "%s: cannot load the %s schema (set LODE_SCHEMA_DIR to lode's schemas folder)",
			       xsd, kind);
		goto out;
	}
	xmlSchemaSetValidErrors(vc, collect, collect, report);
	v = xmlSchemaValidateDoc(vc, doc);
	if (v != 0)
		rc = lode__err(err, LODE_EDAMAGED, "%s: does not validate against the %s schema (%s)",
			       record_path, kind, xsd);
	else
		lode__addf(report, "%s: valid %s record (%s)\n", record_path, kind, xsd);
out:
	if (vc)
		xmlSchemaFreeValidCtxt(vc);
	if (schema)
		xmlSchemaFree(schema);
	if (pc)
		xmlSchemaFreeParserCtxt(pc);
	if (sdoc)
		xmlFreeDoc(sdoc);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}
