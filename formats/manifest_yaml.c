/*
 * manifest_yaml.c -- read a lode manifest (YAML, via libyaml) into the manifest model.
 *
 * Every problem is reported as "FILE:LINE:COL: KEY: what is wrong" before any work
 * starts: unknown keys, wrong types, missing keys, duplicate names, values out of
 * range.  Anchors and aliases are refused (they buy nothing in a manifest and open the
 * door to "billion laughs" documents), and so is nesting deeper than MAX_DEPTH.
 * What the keys mean is documented in docs/manifest.md.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "error.h"
#include "manifest.h"
#include "util.h"

#define MAX_MANIFEST_BYTES (4u << 20)
#define MAX_DEPTH          32
#define MAX_DATASETS       10000

typedef struct ctx {
	const char *file;
	yaml_document_t *doc;
	lode_error *err;
} ctx;

static const char *const resamplings[] = {"nearest", "bilinear", "cubic", "cubicspline", "lanczos", "average",
					  "mode",    "min",      "max",   "med",         NULL};

/* ACDD (and a few CF) global attributes a manifest's bundle: section may set. */
static const char *const acdd_keys[] = {"title",
					"summary",
					"institution",
					"license",
					"keywords",
					"keywords_vocabulary",
					"id",
					"naming_authority",
					"project",
					"program",
					"source",
					"comment",
					"references",
					"acknowledgement",
					"creator_name",
					"creator_email",
					"creator_url",
					"creator_type",
					"creator_institution",
					"publisher_name",
					"publisher_email",
					"publisher_url",
					"publisher_type",
					"publisher_institution",
					"contributor_name",
					"contributor_role",
					"processing_level",
					"product_version",
					"history",
					"standard_name_vocabulary",
					"time_coverage_start",
					"time_coverage_end",
					/* not ACDD: for lode metadata's records (docs/manifest.md) */
					"purpose",
					"doi",
					"creator_phone",
					"creator_address",
					"creator_city",
					"creator_state",
					"creator_postal_code",
					"creator_country",
					NULL};

int lode__acdd_key_ok(const char *key)
{
	for (size_t i = 0; acdd_keys[i]; i++)
		if (strcmp(acdd_keys[i], key) == 0)
			return 1;
	return 0;
}

static lode_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    LODE__PRINTF(4, 5);

static lode_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return lode__err(c->err, LODE_EMANIFEST, "%s:%lu:%lu: %s: %s", c->file,
			 n ? (unsigned long)n->start_mark.line + 1 : 1UL,
			 n ? (unsigned long)n->start_mark.column + 1 : 1UL, key, what);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static lode_status get_string(ctx *c, const yaml_node_t *n, const char *key, char **out)
{
	const char *s = scalar(n);

	if (!s)
		return fail(c, n, key, "expected a text value");
	if (strlen(s) != n->data.scalar.length)
		return fail(c, n, key, "the value contains a NUL character");
	free(*out);
	*out = lode__strdup(s);
	if (!*out)
		return lode__err(c->err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

static lode_status get_number(ctx *c, const yaml_node_t *n, const char *key, double *out)
{
	const char *s = scalar(n);
	char *end;
	double v;

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return fail(c, n, key, "expected a number, got %s%s%s", s ? "'" : "a list or mapping",
			    s ? s : "", s ? "'" : "");
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return fail(c, n, key, "expected a number, got '%s'", s);
	if (!isfinite(v) || errno == ERANGE)
		return fail(c, n, key, "the number '%s' is not finite or is out of range", s);
	*out = v;
	return LODE_OK;
}

static lode_status get_bool(ctx *c, const yaml_node_t *n, const char *key, int *out)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
		*out = 1;
		return LODE_OK;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*out = 0;
		return LODE_OK;
	}
	return fail(c, n, key, "expected true or false, got %s%s%s", s ? "'" : "a list or mapping",
		    s ? s : "", s ? "'" : "");
}

/* A resolution: one positive number, or a list of two. */
static lode_status get_resolution(ctx *c, const yaml_node_t *n, const char *key, double *xres, double *yres)
{
	lode_status rc;

	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it = n->data.sequence.items.start;
		size_t count = (size_t)(n->data.sequence.items.top - it);

		if (count != 2)
			return fail(c, n, key,
				    "expected one number or a list of two [xres, yres], got %zu values",
				    count);
		if ((rc = get_number(c, yaml_document_get_node(c->doc, it[0]), key, xres)) ||
		    (rc = get_number(c, yaml_document_get_node(c->doc, it[1]), key, yres)))
			return rc;
	} else {
		if ((rc = get_number(c, n, key, xres)))
			return rc;
		*yres = *xres;
	}
	if (!(*xres > 0) || !(*yres > 0))
		return fail(c, n, key, "the resolution must be greater than zero");
	return LODE_OK;
}

static lode_status get_threshold(ctx *c, const yaml_node_t *n, const char *key, double *out)
{
	lode_status rc = get_number(c, n, key, out);

	if (rc == LODE_OK && *out < 0)
		return fail(c, n, key, "the error threshold must be 0 (exact) or positive pixels");
	return rc;
}

/*
 * Walk a mapping node: for each pair, the key must be a plain scalar, appear once and be
 * one of `allowed`; the handler gets its index in `allowed`.
 */
typedef lode_status (*pair_fn)(ctx *c, int which, const char *key, const yaml_node_t *val, void *user);

static lode_status each_pair(ctx *c, const yaml_node_t *map, const char *where, const char *const *allowed,
			     pair_fn fn, void *user)
{
	unsigned long seen = 0;
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return fail(c, map, where, "expected a mapping of keys to values");
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const char *ks = scalar(k);
		char path[256];
		int i;
		lode_status rc;

		if (!ks)
			return fail(c, k, where, "a key must be plain text");
		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], ks) == 0)
				break;
		snprintf(path, sizeof path, "%s%s%s", where, where[0] ? "." : "", ks);
		if (!allowed[i]) {
			char list[512] = "";
			for (int j = 0; allowed[j]; j++) {
				strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
				strncat(list, allowed[j], sizeof list - strlen(list) - 1);
			}
			return fail(c, k, path, "unknown key (expected one of: %s)", list);
		}
		if (seen & (1UL << i))
			return fail(c, k, path, "the key is given twice");
		seen |= 1UL << i;
		if ((rc = fn(c, i, path, v, user)))
			return rc;
	}
	return LODE_OK;
}

/* ---- bundle: ---- */

static lode_status on_bundle(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	lode_manifest *m = user;
	lode_meta *meta;
	lode_status rc;

	meta = realloc(m->meta, (m->nmeta + 1) * sizeof *meta);
	if (!meta)
		return lode__err(c->err, LODE_ENOMEM, "out of memory");
	m->meta = meta;
	meta = &m->meta[m->nmeta];
	meta->key = lode__strdup(acdd_keys[which]);
	meta->value = NULL;
	m->nmeta++;
	if (!meta->key)
		return lode__err(c->err, LODE_ENOMEM, "out of memory");
	if ((rc = get_string(c, v, key, &meta->value)))
		return rc;
	return LODE_OK;
}

/* ---- target: ---- */

static const char *const target_keys[] = {"crs", "bounds", "resolution", "error_threshold", NULL};

typedef struct target_seen {
	lode_manifest *m;
	int crs, bounds, res;
} target_seen;

static lode_status on_target(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	target_seen *t = user;
	lode_manifest *m = t->m;
	lode_status rc;

	switch (which) {
	case 0: t->crs = 1; return get_string(c, v, key, &m->target_crs);
	case 1: {
		yaml_node_item_t *it;
		size_t count;

		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, v, key, "expected a list [xmin, ymin, xmax, ymax]");
		it = v->data.sequence.items.start;
		count = (size_t)(v->data.sequence.items.top - it);
		if (count != 4)
			return fail(c, v, key, "expected four numbers [xmin, ymin, xmax, ymax], got %zu",
				    count);
		for (size_t i = 0; i < 4; i++)
			if ((rc = get_number(c, yaml_document_get_node(c->doc, it[i]), key, &m->bounds[i])))
				return rc;
		if (!(m->bounds[2] > m->bounds[0]) || !(m->bounds[3] > m->bounds[1]))
			return fail(c, v, key, "xmax must be greater than xmin and ymax greater than ymin");
		t->bounds = 1;
		return LODE_OK;
	}
	case 2: t->res = 1; return get_resolution(c, v, key, &m->xres, &m->yres);
	case 3: return get_threshold(c, v, key, &m->error_threshold);
	}
	return LODE_OK;
}

/* ---- policy: ---- */

static const char *const policy_keys[] = {"max_error_m", "allow_ballpark", "confine_sources", NULL};

static lode_status on_policy(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	lode_manifest *m = user;
	lode_status rc;

	if (which == 0) {
		if ((rc = get_number(c, v, key, &m->max_error_m)))
			return rc;
		if (m->max_error_m < 0)
			return fail(c, v, key, "must be zero or more metres");
		return LODE_OK;
	}
	if (which == 2)
		return get_bool(c, v, key, &m->confine_sources);
	return get_bool(c, v, key, &m->allow_ballpark);
}

/* ---- datasets: ---- */

/* A name (a source path, a layer, an open option) must not hide control characters: they
   would reach file names, messages and the bundle's names. */
static lode_status no_control(ctx *c, const yaml_node_t *v, const char *key, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return fail(c, v, key, "the value holds a control character (byte 0x%02x)", *p);
	return LODE_OK;
}

static const char *const dataset_keys[] = {
    "name",         "source",    "resampling", "bands",           "nodata",
    "assume_crs",   "operation", "resolution", "error_threshold", "layer",
    "open_options", "clip",      "where",      "allow",           NULL};

/* allow: [raw_vrt, network]: what a source may read beyond plain local files. */
static lode_status get_allow(ctx *c, const yaml_node_t *v, const char *key, lode_dataset_spec *d)
{
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, v, key,
			    "expected a list of what the source may read, e.g. [raw_vrt, network]");
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		const yaml_node_t *an = yaml_document_get_node(c->doc, *it);
		const char *s = scalar(an);

		if (!s)
			return fail(c, an ? an : v, key, "expected raw_vrt or network");
		if (strcmp(s, "raw_vrt") == 0)
			d->allow_raw_vrt = 1;
		else if (strcmp(s, "network") == 0)
			d->allow_network = 1;
		else
			return fail(c, an, key, "unknown '%.80s' (expected raw_vrt or network)", s);
	}
	return LODE_OK;
}

static lode_status on_dataset(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	lode_dataset_spec *d = user;
	lode_status rc;

	switch (which) {
	case 0:
		if ((rc = get_string(c, v, key, &d->name)))
			return rc;
		if (!lode__name_ok(d->name))
			return fail(c, v, key,
				    "'%.80s' is not a valid dataset name: use 1 to 64 letters, digits, '_' "
				    "or '-', starting with a letter",
				    d->name);
		{
			static const char *const reserved[] = {"x", "y", "crs", "band", NULL};
			for (int r = 0; reserved[r]; r++)
				if (strcmp(d->name, reserved[r]) == 0)
					return fail(c, v, key,
						    "'%s' is reserved (the bundle uses x, y, crs and band "
						    "for coordinates); choose another name",
						    d->name);
		}
		return LODE_OK;
	case 1:
		if ((rc = get_string(c, v, key, &d->source)) || (rc = no_control(c, v, key, d->source)))
			return rc;
		if (!d->source[0])
			return fail(c, v, key, "the source path is empty");
		return LODE_OK;
	case 2:
		d->has_resampling = 1;
		if ((rc = get_string(c, v, key, &d->resampling)))
			return rc;
		for (int i = 0; resamplings[i]; i++)
			if (strcmp(resamplings[i], d->resampling) == 0)
				return LODE_OK;
		return fail(c, v, key,
			    "unknown resampling '%.80s' (expected nearest, bilinear, cubic, cubicspline, "
			    "lanczos, average, mode, min, max or med)",
			    d->resampling);
	case 3: {
		yaml_node_item_t *it;
		size_t count;

		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, v, key, "expected a list of band numbers, e.g. [1, 2]");
		it = v->data.sequence.items.start;
		count = (size_t)(v->data.sequence.items.top - it);
		if (count == 0 || count > 65535)
			return fail(c, v, key, "expected 1 to 65535 band numbers, got %zu", count);
		d->bands = calloc(count, sizeof *d->bands);
		if (!d->bands)
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
		d->nbands = count;
		for (size_t i = 0; i < count; i++) {
			const yaml_node_t *bn = yaml_document_get_node(c->doc, it[i]);
			double b;

			if ((rc = get_number(c, bn, key, &b)))
				return rc;
			if (b != floor(b) || b < 1 || b > 65535)
				return fail(c, bn, key, "band numbers are whole numbers from 1, got %g", b);
			d->bands[i] = (int)b;
		}
		return LODE_OK;
	}
	case 4:
		d->has_nodata = 1;
		if (scalar(v) && (!strcmp(scalar(v), "nan") || !strcmp(scalar(v), "NaN"))) {
			d->nodata = NAN;
			return LODE_OK;
		}
		return get_number(c, v, key, &d->nodata);
	case 5: return get_string(c, v, key, &d->assume_crs);
	case 6: return get_string(c, v, key, &d->operation);
	case 7: d->has_resolution = 1; return get_resolution(c, v, key, &d->xres, &d->yres);
	case 8: d->has_error_threshold = 1; return get_threshold(c, v, key, &d->error_threshold);
	case 9:
		if ((rc = get_string(c, v, key, &d->layer)))
			return rc;
		return no_control(c, v, key, d->layer);
	case 10: {
		yaml_node_item_t *it;
		size_t count;

		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, v, key,
				    "expected a list of GDAL open options, e.g. [X_POSSIBLE_NAMES=lon]");
		it = v->data.sequence.items.start;
		count = (size_t)(v->data.sequence.items.top - it);
		if (count > 256)
			return fail(c, v, key, "too many open options (%zu)", count);
		d->open_options = calloc(count + 1, sizeof *d->open_options);
		if (!d->open_options)
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
		for (size_t i = 0; i < count; i++) {
			const yaml_node_t *on = yaml_document_get_node(c->doc, it[i]);
			if ((rc = get_string(c, on, key, &d->open_options[i])) ||
			    (rc = no_control(c, on, key, d->open_options[i])))
				return rc;
			if (!strchr(d->open_options[i], '=') || d->open_options[i][0] == '=')
				return fail(c, on, key, "'%.80s' is not of the form NAME=VALUE",
					    d->open_options[i]);
		}
		return LODE_OK;
	}
	case 11: d->has_clip = 1; return get_bool(c, v, key, &d->clip);
	case 12: return get_string(c, v, key, &d->where);
	case 13: return get_allow(c, v, key, d);
	}
	return LODE_OK;
}

static lode_status load_datasets(ctx *c, const yaml_node_t *seq, lode_manifest *m)
{
	yaml_node_item_t *it;
	size_t count;
	lode_status rc;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail(c, seq, "datasets", "expected a list of datasets");
	it = seq->data.sequence.items.start;
	count = (size_t)(seq->data.sequence.items.top - it);
	if (count == 0)
		return fail(c, seq, "datasets", "the list is empty: name at least one dataset");
	if (count > MAX_DATASETS)
		return fail(c, seq, "datasets", "too many datasets (%zu; the limit is %d)", count,
			    MAX_DATASETS);
	m->datasets = calloc(count, sizeof *m->datasets);
	if (!m->datasets)
		return lode__err(c->err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *dn = yaml_document_get_node(c->doc, it[i]);
		lode_dataset_spec *d = &m->datasets[i];
		char where[64];

		m->ndatasets = i + 1;
		snprintf(where, sizeof where, "datasets[%zu]", i + 1);
		d->line = (int)dn->start_mark.line + 1;
		d->column = (int)dn->start_mark.column + 1;
		if ((rc = each_pair(c, dn, where, dataset_keys, on_dataset, d)))
			return rc;
		if (!d->name)
			return fail(c, dn, where, "missing key 'name'");
		if (!d->source)
			return fail(c, dn, where, "missing key 'source' (dataset '%s')", d->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->datasets[j].name, d->name) == 0)
				return fail(
				    c, dn, where,
				    "duplicate dataset name '%s' (first used by the dataset at line %d)",
				    d->name, m->datasets[j].line);
		if (!d->resampling && !(d->resampling = lode__strdup("nearest")))
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
		if (!(d->source_path = lode__path_join(m->dir, d->source)))
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}

/* ---- top level ---- */

static const char *const top_keys[] = {"bundle", "target", "policy", "datasets", "metadata", NULL};

/* metadata: the records lode writes beside the bundle (LODE_MD_* bits), a list of names. */
static lode_status get_metadata(ctx *c, const yaml_node_t *n, const char *key, unsigned *out)
{
	static const char *const names[] = {"iso19139", "fgdc", "stac", "report", NULL};

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, key, "expected a list of record formats, e.g. [iso19139, fgdc, stac, report]");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *e = yaml_document_get_node(c->doc, *it);
		const char *s = scalar(e);
		int i;

		for (i = 0; s && names[i]; i++)
			if (strcmp(s, names[i]) == 0)
				break;
		if (!s || !names[i])
			return fail(c, e, key, "unknown record format '%s' (expected iso19139, fgdc, stac or report)",
				    s ? s : "(not text)");
		if (*out & (1u << i))
			return fail(c, e, key, "'%s' is listed twice", s);
		*out |= 1u << i;
	}
	return LODE_OK;
}

typedef struct top_seen {
	lode_manifest *m;
	const yaml_node_t *target, *datasets;
} top_seen;

static lode_status on_top(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	top_seen *t = user;

	switch (which) {
	case 0: return each_pair(c, v, key, acdd_keys, on_bundle, t->m);
	case 1: t->target = v; return LODE_OK;
	case 2: return each_pair(c, v, key, policy_keys, on_policy, t->m);
	case 3: t->datasets = v; return LODE_OK;
	case 4: return get_metadata(c, v, key, &t->m->metadata);
	}
	return LODE_OK;
}

/* Refuse anchors, aliases, tags on collections and deep nesting before building a tree. */
static lode_status prescan(ctx *c, const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, done = 0;
	lode_status rc = LODE_OK;

	if (!yaml_parser_initialize(&p))
		return lode__err(c->err, LODE_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = lode__err(c->err, LODE_EMANIFEST, "%s:%lu:%lu: not valid YAML: %s%s%s", c->file,
				       (unsigned long)p.problem_mark.line + 1,
				       (unsigned long)p.problem_mark.column + 1,
				       p.problem ? p.problem : "syntax error", p.context ? " " : "",
				       p.context ? p.context : "");
			break;
		}
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			rc = lode__err(c->err, LODE_EMANIFEST,
				       "%s:%lu:%lu: YAML aliases (*name) are not allowed in a manifest",
				       c->file, (unsigned long)ev.start_mark.line + 1,
				       (unsigned long)ev.start_mark.column + 1);
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor)
				rc = lode__err(
				    c->err, LODE_EMANIFEST,
				    "%s:%lu:%lu: YAML anchors (&name) are not allowed in a manifest", c->file,
				    (unsigned long)ev.start_mark.line + 1,
				    (unsigned long)ev.start_mark.column + 1);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if ((ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
			    (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor))
				rc = lode__err(
				    c->err, LODE_EMANIFEST,
				    "%s:%lu:%lu: YAML anchors (&name) are not allowed in a manifest", c->file,
				    (unsigned long)ev.start_mark.line + 1,
				    (unsigned long)ev.start_mark.column + 1);
			else if (++depth > MAX_DEPTH)
				rc = lode__err(c->err, LODE_EMANIFEST,
					       "%s:%lu:%lu: the YAML is nested more than %d levels deep",
					       c->file, (unsigned long)ev.start_mark.line + 1,
					       (unsigned long)ev.start_mark.column + 1, MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		case YAML_DOCUMENT_START_EVENT: break;
		case YAML_STREAM_END_EVENT: done = 1; break;
		default: break;
		}
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

lode_status lode__manifest_load(const char *path, lode_manifest **out, lode_error *err)
{
	lode_manifest *m = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	int parser_ok = 0, doc_ok = 0;
	yaml_node_t *root;
	ctx c = {path, &doc, err};
	top_seen top = {0};
	target_seen tgt = {0};
	lode_status rc;

	*out = NULL;
	m = calloc(1, sizeof *m);
	if (!m)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	m->error_threshold = 0.125;
	m->max_error_m = HUGE_VAL;
	if (!(m->path = lode__strdup(path)) || !(m->dir = lode__dirname(path))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__read_file(path, MAX_MANIFEST_BYTES, &m->text, &m->text_len, err))) {
		rc = lode__err_ctx(err, "reading the manifest: ");
		err->code = rc = LODE_EMANIFEST;
		goto out;
	}
	if (strlen(m->text) != m->text_len) {
		rc = lode__err(err, LODE_EMANIFEST,
			       "%s: the manifest contains a NUL byte: is it a text file?", path);
		goto out;
	}
	if ((rc = prescan(&c, m->text, m->text_len)))
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	parser_ok = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)m->text, m->text_len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = lode__err(err, LODE_EMANIFEST, "%s:%lu:%lu: not valid YAML: %s", path,
			       (unsigned long)parser.problem_mark.line + 1,
			       (unsigned long)parser.problem_mark.column + 1,
			       parser.problem ? parser.problem : "syntax error");
		goto out;
	}
	doc_ok = 1;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = lode__err(err, LODE_EMANIFEST, "%s:1:1: the manifest is empty", path);
		goto out;
	}
	top.m = m;
	if ((rc = each_pair(&c, root, "", top_keys, on_top, &top)))
		goto out;
	if (!top.target) {
		rc = fail(&c, root, "target", "missing section 'target' (crs, bounds, resolution)");
		goto out;
	}
	tgt.m = m;
	if ((rc = each_pair(&c, top.target, "target", target_keys, on_target, &tgt)))
		goto out;
	if (!tgt.crs || !tgt.bounds || !tgt.res) {
		rc = fail(&c, top.target, "target", "missing key '%s'",
			  !tgt.crs      ? "crs"
			  : !tgt.bounds ? "bounds"
					: "resolution");
		goto out;
	}
	if (!top.datasets) {
		rc = fail(&c, root, "datasets", "missing section 'datasets'");
		goto out;
	}
	if ((rc = load_datasets(&c, top.datasets, m)))
		goto out;
	*out = m;
	m = NULL;
out:
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	lode__manifest_free(m);
	return rc;
}
