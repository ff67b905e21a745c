/*
 * merge.c -- lode merge: one bundle from several (for example one from each survey).
 *
 * Every input must verify first (within --max-memory, as lode verify).  Raster chunks are
 * copied as stored (no decompression); vector layers are read back and written again from
 * their values, checked against their content digest, each within half the bound (the
 * other half for its compressed copy).  Each dataset keeps its lineage and content
 * digest; the root records where everything came from (lode_merged_from) and unites the
 * discovery metadata.
 * Nothing is dropped: every root attribute of every input is either united into the
 * merged root (metadata) or kept as it is in the input's lode_merged_from record (all of
 * them are, there); one that cannot be read as text is refused before anything is
 * written.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "digest.h"
#include "error.h"
#include "lode.h"
#include "manifest.h"
#include "plan.h"
#include "publish.h"
#include "util.h"
#include "vdata.h"
#include "write.h"

#define MAX_INPUTS 256

typedef struct input {
	const char *path;
	lode__bundle *b;
	lode_bundle_item *items;
	size_t n;
	lode_kv *root;
	size_t nroot;
	char **names; /* the datasets' names in the merged bundle */
} input;

static const char *root_value(const input *in, const char *key)
{
	for (size_t i = 0; i < in->nroot; i++)
		if (strcmp(in->root[i].key, key) == 0)
			return in->root[i].value;
	return NULL;
}

/* STEM_: the file name without folder and extension, letters, digits and '_' only. */
static char *stem_prefix(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t len = dot && dot > base ? (size_t)(dot - base) : strlen(base);
	char *s = lode__sprintf("%.*s_", (int)len, base);

	for (char *c = s; c && *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-')
			*c = '_';
	return s;
}

/* Does name a belong to vector layer v's variables (v_...) or equal it? */
static int clashes(const char *a, int a_vector, const char *b, int b_vector)
{
	size_t la = strlen(a), lb = strlen(b);

	if (strcmp(a, b) == 0)
		return 1;
	if (a_vector && strncmp(b, a, la) == 0 && b[la] == '_')
		return 1;
	return b_vector && strncmp(a, b, lb) == 0 && a[lb] == '_';
}

static lode_status check_names(input *ins, size_t n, int prefix, lode_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char *pre = prefix ? stem_prefix(ins[i].path) : lode__strdup("");
		if (!pre || !(ins[i].names = calloc(ins[i].n ? ins[i].n : 1, sizeof *ins[i].names))) {
			free(pre);
			return lode__err(err, LODE_ENOMEM, "out of memory");
		}
		for (size_t k = 0; k < ins[i].n; k++) {
			if (!(ins[i].names[k] = lode__sprintf("%s%s", pre, ins[i].items[k].name))) {
				free(pre);
				return lode__err(err, LODE_ENOMEM, "out of memory");
			}
			if (!lode__name_ok(ins[i].names[k])) {
				lode_status rc = lode__err(
				    err, LODE_EUSAGE,
				    "%s: dataset '%s' would be named '%s', which is not a valid dataset name "
				    "(letters, digits, '_' and '-', starting with a letter, at most 64): "
				    "rename the file",
				    ins[i].path, ins[i].items[k].name, ins[i].names[k]);
				free(pre);
				return rc;
			}
		}
		free(pre);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ins[i].n; k++)
			for (size_t j = i; j < n; j++)
				for (size_t l = j == i ? k + 1 : 0; l < ins[j].n; l++) {
					const lode_bundle_item *a = &ins[i].items[k], *b = &ins[j].items[l];
					if (clashes(ins[i].names[k], strcmp(a->kind, "vector") == 0,
						    ins[j].names[l], strcmp(b->kind, "vector") == 0)) {
						char *pre = stem_prefix(ins[j].path);
						lode_status rc = lode__err(
						    err, LODE_EUSAGE,
						    "dataset '%s' of %s and dataset '%s' of %s clash (the "
						    "same name, "
						    "or a vector layer's variables)%s%s%s",
						    ins[i].names[k], ins[i].path, ins[j].names[l],
						    ins[j].path,
						    prefix
							? ": rename one of the files"
							: ": --prefix renames every dataset after its file (",
						    prefix ? "" : (pre ? pre : ""), prefix ? "" : "...)");
						free(pre);
						return rc;
					}
				}
	return LODE_OK;
}

/* The union of the inputs' box from their geospatial_bounds POLYGON((x y, ...)). */
static int union_bounds(const input *ins, size_t n, double box[4])
{
	box[0] = box[1] = HUGE_VAL;
	box[2] = box[3] = -HUGE_VAL;
	for (size_t i = 0; i < n; i++) {
		const char *s = root_value(&ins[i], "geospatial_bounds");
		double x, y;
		int used;
		if (!s || strncmp(s, "POLYGON((", 9) != 0)
			return 0;
		for (s += 9; sscanf(s, "%lf %lf%n", &x, &y, &used) == 2; s += used) {
			box[0] = fmin(box[0], x);
			box[1] = fmin(box[1], y);
			box[2] = fmax(box[2], x);
			box[3] = fmax(box[3], y);
			if (*(s + used) != ',')
				break;
			used++;
		}
	}
	return box[0] <= box[2] && box[1] <= box[3];
}

/* Attributes written by lode itself rather than taken from a manifest's bundle: section:
   made again for the merged bundle (the inputs' values are kept in lode_merged_from). */
static int own_attr(const char *key)
{
	return strncmp(key, "lode_", 5) == 0 || strncmp(key, "geospatial_", 11) == 0 ||
	       strcmp(key, "Conventions") == 0 || strcmp(key, "date_created") == 0;
}

/* What formats/bundle_read.c gives for an attribute that is neither text nor numbers. */
#define UNREADABLE_ATTR "(unsupported attribute type)"

/* name with control characters and non-ASCII bytes as '?', for a message (malloc'd). */
static char *printable(const char *name)
{
	char *s = lode__sprintf("%.200s", name);

	for (char *c = s; c && *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return s;
}

/* Every root attribute of every input is carried: refuse one that cannot be read as text. */
static lode_status check_carriable(const input *ins, size_t n, lode_error *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ins[i].nroot; k++)
			if (strcmp(ins[i].root[k].value, UNREADABLE_ATTR) == 0) {
				char *name = printable(ins[i].root[k].key);
				lode_status rc = lode__err(err, LODE_EBUNDLE,
							   "%s: root attribute '%s' is neither text nor "
							   "numbers, so merge cannot carry "
							   "it: nothing was merged",
							   ins[i].path, name ? name : "?");
				free(name);
				return rc;
			}
	return LODE_OK;
}

/* Input i's record in lode_merged_from: its file, bundle digest, datasets, manifest and
   every other root attribute as it is (as text). */
static json_t *merged_from_entry(const input *in)
{
	json_t *o = json_object(), *ds = json_array(), *all = json_object();
	const char *slash = strrchr(in->path, '/');

	for (size_t k = 0; k < in->n; k++) {
		json_t *d = json_object();
		json_object_set_new(d, "name", json_string(in->items[k].name));
		json_object_set_new(d, "as", json_string(in->names[k]));
		json_array_append_new(ds, d);
	}
	json_object_set_new(o, "file", json_string(slash ? slash + 1 : in->path));
	json_object_set_new(
	    o, "lode_bundle_sha256",
	    json_string(root_value(in, "lode_bundle_sha256") ? root_value(in, "lode_bundle_sha256") : ""));
	json_object_set_new(o, "datasets", ds);
	if (root_value(in, "lode_manifest"))
		json_object_set_new(o, "lode_manifest", json_string(root_value(in, "lode_manifest")));
	for (size_t k = 0; k < in->nroot; k++)
		if (strcmp(in->root[k].key, "lode_bundle_sha256") != 0 &&
		    strcmp(in->root[k].key, "lode_manifest") != 0)
			json_object_set_new(all, in->root[k].key, json_string(in->root[k].value));
	json_object_set_new(o, "attributes", all);
	return o;
}

/* Each metadata key once, in order of first appearance; differing values joined by "; ".
   Appends to attrs (and the joined texts to owned) from *na. */
static lode_status united_metadata(const input *ins, size_t n, lode_attr *attrs, size_t *na, char **owned,
				   size_t *no, lode_error *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ins[i].nroot; k++) {
			const char *key = ins[i].root[k].key;
			char *joined = NULL;
			int seen = 0;
			if (own_attr(key))
				continue;
			for (size_t a = 0; a < *na; a++)
				seen |= strcmp(attrs[a].key, key) == 0;
			if (seen)
				continue;
			for (size_t j = i; j < n; j++) {
				const char *v = root_value(&ins[j], key);
				int dup = 0;
				char *t;
				for (size_t e = i; v && e < j; e++)
					dup |= root_value(&ins[e], key) &&
					       strcmp(root_value(&ins[e], key), v) == 0;
				if (!v || dup)
					continue;
				t = lode__sprintf("%s%s%s", joined ? joined : "", joined ? "; " : "", v);
				free(joined);
				joined = t;
				if (!joined)
					break;
			}
			if (!joined)
				return lode__err(err, LODE_ENOMEM, "out of memory");
			owned[(*no)++] = joined;
			attrs[(*na)++] = (lode_attr){key, joined};
		}
	return LODE_OK;
}

/* The merged root: discovery metadata united, the bounds' union, where everything came from. */
static lode_status merged_root(const input *ins, size_t n, lode__bundle *b, lode_error *err)
{
	json_t *from = json_array();
	char *from_text = NULL, *poly = NULL, *date = lode__utc_date(), **owned;
	lode_attr *attrs;
	size_t na = 0, no = 0, cap = 16;
	double box[4];
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < n; i++)
		cap += ins[i].nroot;
	attrs = calloc(cap, sizeof *attrs);
	owned = calloc(cap, sizeof *owned);
	if (!attrs || !owned || !from) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	attrs[na++] = (lode_attr){"Conventions", "CF-1.8, ACDD-1.3"};
	if ((rc = united_metadata(ins, n, attrs, &na, owned, &no, err)))
		goto out;
	if (union_bounds(ins, n, box)) {
		poly = lode__sprintf(
		    "POLYGON((%.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g))", box[0],
		    box[1], box[2], box[1], box[2], box[3], box[0], box[3], box[0], box[1]);
		if (poly)
			attrs[na++] = (lode_attr){"geospatial_bounds", poly};
	}
	attrs[na++] = (lode_attr){"geospatial_bounds_crs", root_value(&ins[0], "geospatial_bounds_crs")};
	if (date)
		attrs[na++] = (lode_attr){"date_created", date};
	attrs[na++] = (lode_attr){"lode_version", LODE_VERSION};
	attrs[na++] = (lode_attr){"lode_format_version", LODE_FORMAT_VERSION};
	for (size_t i = 0; i < n; i++)
		json_array_append_new(from, merged_from_entry(&ins[i]));
	if (!(from_text = json_dumps(from, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	attrs[na++] = (lode_attr){"lode_merged_from", from_text};
	rc = lode__bundle_set_attrs(b, NULL, attrs, na, err);
	/* The geographic box: the union of the inputs' own. */
	{
		static const char *const keys[4] = {"geospatial_lon_min", "geospatial_lat_min",
						    "geospatial_lon_max", "geospatial_lat_max"};
		for (int k = 0; k < 4 && !rc; k++) {
			double v = k < 2 ? HUGE_VAL : -HUGE_VAL;
			int all = 1;
			for (size_t i = 0; i < n; i++) {
				const char *s = root_value(&ins[i], keys[k]);
				char *end;
				double x = s ? strtod(s, &end) : NAN;
				if (!s || *end || !isfinite(x))
					all = 0;
				else
					v = k < 2 ? fmin(v, x) : fmax(v, x);
			}
			if (all)
				rc = lode__bundle_set_double(b, keys[k], v, err);
		}
	}
out:
	for (size_t i = 0; owned && i < no; i++)
		free(owned[i]);
	free(owned);
	free(attrs);
	json_decref(from);
	free(from_text);
	free(poly);
	free(date);
	return rc;
}

static lode_status copy_raster(input *in, size_t k, lode__bundle *b, lode__known *known, lode_error *err)
{
	const lode_bundle_item *it = &in->items[k];
	lode_raster_def def = {
	    .name = in->names[k],
	    .dtype = it->dtype,
	    .nbands = it->nbands,
	    .nx = it->nx,
	    .ny = it->ny,
	    .crs_wkt = it->crs_wkt,
	    .has_nodata = it->has_nodata,
	    .nodata = it->nodata,
	    .unit = it->units,
	    .long_name = it->long_name,
	    .chunk = LODE_CHUNK,
	};
	lode__bvar *v = NULL;
	char *names, *units;
	int oom1, oom2;
	lode_status rc;

	memcpy(def.gt, it->gt, sizeof def.gt);
	names = lode__join_lines((const char *const *)it->band_names, (size_t)it->nbands, &oom1);
	units = lode__join_lines((const char *const *)it->band_units, (size_t)it->nbands, &oom2);
	if (oom1 || oom2) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	def.band_names = names;
	def.band_units = units;
	if ((rc = lode__bundle_add_raster(b, &def, &v, err)) ||
	    (rc = lode__bvar_copy_chunks(v, in->b, it, 0, err)))
		goto out;
	rc = lode__finish_raster(v, it->source ? it->source : "", it->lineage, it->content_sha256, names,
				 units, err);
	v = NULL;
	/* The input verified, so its stored content digest is its values' digest. */
	if (!rc)
		rc = lode__record_raster_values(known, in->names[k], it->content_sha256, err);
out:
	lode__bvar_free(v);
	free(names);
	free(units);
	return rc;
}

static lode_status copy_vector(input *in, size_t k, const char *crs_wkt, lode__bundle *b, lode__known *known,
			       lode_error *err)
{
	const lode_bundle_item *it = &in->items[k];
	lode_vdata *d = NULL;
	char content[65], coords[3][65], (*texts)[65] = NULL;
	lode_status rc;

	if ((rc = lode__bundle_read_vector(in->b, it, &d, err)))
		return rc;
	if ((rc = lode__vector_digests(d, content, coords, &texts, err)))
		goto out;
	if (strcmp(content, it->content_sha256) != 0) {
		rc = lode__err(err, LODE_EDAMAGED, "the layer read back does not match its content digest");
		goto out;
	}
	{
		lode_attr attrs[] = {
		    {"long_name", it->long_name ? it->long_name : ""},
		    {"source", it->source ? it->source : ""},
		    {"lode_lineage", it->lineage},
		    {"lode_content_sha256", content},
		};
		rc = lode__bundle_add_vector(b, in->names[k], it->crs_wkt ? it->crs_wkt : crs_wkt, d, NULL,
					     attrs, 4, err);
	}
	if (!rc)
		rc = lode__record_vector_values(known, in->names[k], d, coords, texts, err);
out:
	free(texts);
	lode__vdata_free(d);
	return rc;
}

/* Add to verify's error the first reason its report gives ("NAME: DAMAGED: ..."), which
   the error only names. */
static void why_not(const char *report, lode_error *err)
{
	const char *tags[2] = {": DAMAGED: ", ": NOT CHECKED: "};

	for (const char *line = report; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		for (int k = 0; k < 2; k++) {
			const char *tag = strstr(line, tags[k]);
			char why[sizeof err->message];
			if (!tag || tag >= line + len)
				continue;
			tag += strlen(tags[k]);
			snprintf(why, sizeof why, "%.*s", (int)(line + len - tag), tag);
			if (!strstr(err->message, why)) { /* not said already */
				size_t used = strlen(err->message);
				snprintf(err->message + used, sizeof err->message - used, " (%.*s)", (int)len,
					 line);
			}
			return;
		}
	}
}

lode_status lode_merge(const char *const *inputs, size_t ninputs, const char *bundle_path, int prefix,
		       lode_error *err)
{
	return lode_merge_opt(inputs, ninputs, bundle_path, prefix, NULL, err);
}

/* The progress of merge: verifying the inputs is the first 70%, each input its share
   (through verify's own progress), copying the datasets the rest. */
typedef struct merge_progress {
	const lode_read_options *opt;
	size_t i, n;
} merge_progress;

static int merge_tick(double f, const char *label, void *user)
{
	merge_progress *mp = user;

	if (mp->opt && mp->opt->progress)
		mp->opt->progress(0.7 * ((double)mp->i + (f < 1 ? f : 1)) / (double)mp->n, label,
				  mp->opt->progress_user);
	return 0;
}

static void merge_copied(const lode_read_options *opt, size_t done, size_t total, const char *label)
{
	if (opt && opt->progress)
		opt->progress(0.7 + 0.3 * (double)done / (double)(total ? total : 1), label,
			      opt->progress_user);
}

lode_status lode_merge_opt(const char *const *inputs, size_t ninputs, const char *bundle_path, int prefix,
			   const lode_read_options *opt, lode_error *err)
{
	merge_progress mp = {opt, 0, ninputs};
	lode_read_options vo = opt ? *opt : (lode_read_options){0};
	input *ins = NULL;
	lode__out out = {0};
	lode__known known = {0};
	size_t ncopied = 0, total = 0,
	       bound = opt && opt->max_memory ? opt->max_memory : LODE_READ_MEMORY_DEFAULT;
	lode_status rc = LODE_OK;

	lode__err_clear(err);
	if (ninputs < 1 || ninputs > MAX_INPUTS)
		return lode__err(err, LODE_EUSAGE, "give from 1 to %d bundles to merge", MAX_INPUTS);
	/* Refused before anything is read or written: an output that is not a regular file
	   or that is one of the inputs. */
	if ((rc = lode__pub_check_dest(bundle_path, err)))
		return rc;
	for (size_t i = 0; i < ninputs; i++) {
		lode__out_input in = {inputs[i], "one of the bundles to merge"};
		if ((rc = lode__out_refuse(bundle_path, &in, 1, err)))
			return rc;
	}
	if (!(ins = calloc(ninputs, sizeof *ins)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < ninputs; i++) {
		char *report = NULL;
		const char *crs0, *crs;

		ins[i].path = inputs[i];
		/* Only a bundle that verifies is copied: its chunks are copied unread.  It is
		   verified within the bound, then read within it: a vector layer is read back
		   and compressed again, so it may hold half of it. */
		mp.i = i;
		vo.report_json = 0;
		vo.progress = opt && opt->progress ? merge_tick : NULL;
		vo.progress_user = &mp;
		rc = lode_verify_opt(inputs[i], NULL, 0, &vo, &report, err);
		if (rc) {
			why_not(report, err);
			lode__err_ctx(err, "%s does not verify, so it is not merged: ", inputs[i]);
			free(report);
			goto out;
		}
		free(report);
		if (!(rc = lode__bundle_open(inputs[i], &ins[i].b, err)))
			lode__bundle_set_max_memory(ins[i].b, bound / 2);
		if (rc || (rc = lode__bundle_items(ins[i].b, &ins[i].items, &ins[i].n, err)) ||
		    (rc = lode__bundle_root_attrs(ins[i].b, &ins[i].root, &ins[i].nroot, err))) {
			lode__err_ctx(err, "%s: ", inputs[i]);
			goto out;
		}
		total += ins[i].n;
		crs0 = root_value(&ins[0], "geospatial_bounds_crs");
		crs = root_value(&ins[i], "geospatial_bounds_crs");
		if (!crs0 || !crs || strcmp(crs0, crs) != 0) {
			rc =
			    lode__err(err, LODE_EBUNDLE,
				      "%s is in %s and %s in %s: a bundle holds one agreed CRS; make them on "
				      "the same target.crs",
				      inputs[0], crs0 ? crs0 : "an unknown CRS", inputs[i],
				      crs ? crs : "an unknown CRS");
			goto out;
		}
	}
	if ((rc = check_names(ins, ninputs, prefix, err)) || (rc = check_carriable(ins, ninputs, err)))
		goto out;
	if ((rc = lode__out_begin(&out, bundle_path, err)) || (rc = merged_root(ins, ninputs, out.b, err)))
		goto out;
	for (size_t i = 0; i < ninputs; i++)
		for (size_t k = 0; k < ins[i].n; k++) {
			rc = strcmp(ins[i].items[k].kind, "vector") == 0
				 ? copy_vector(&ins[i], k, NULL, out.b, &known, err)
				 : copy_raster(&ins[i], k, out.b, &known, err);
			merge_copied(opt, ++ncopied, total, ins[i].items[k].name);
			if (rc) {
				lode__err_ctx(err, "%s: dataset '%s': ", ins[i].path, ins[i].items[k].name);
				goto out;
			}
		}
	rc = lode__out_commit(&out, &known, err);
out:
	if (rc && out.tmp && !strstr(err->message, bundle_path))
		lode__err_ctx(err, "writing %s (nothing was left there): ", bundle_path);
	lode__out_abort(&out);
	lode__known_free(&known);
	for (size_t i = 0; i < ninputs; i++) {
		lode_error ignored;
		for (size_t k = 0; ins[i].names && k < ins[i].n; k++)
			free(ins[i].names[k]);
		free(ins[i].names);
		lode__bundle_items_free(ins[i].items, ins[i].n);
		lode__kv_free(ins[i].root, ins[i].nroot);
		lode__bundle_close(ins[i].b, &ignored);
	}
	free(ins);
	return rc;
}
