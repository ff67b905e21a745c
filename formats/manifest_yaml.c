/*
 * manifest_yaml.c -- read a lode manifest (YAML, via libyaml) into the manifest model.
 *
 * Every problem is reported as "FILE:LINE:COL: KEY: what is wrong" before any work
 * starts: unknown keys, wrong types, missing keys, duplicate names, values out of
 * range, CRSs PROJ does not know, bounds or resolution in the wrong unit; all of them in
 * one pass (up to LODE_MANIFEST_MAX_ERRORS), so a user fixes them at once.  Anchors and
 * aliases are refused (they buy nothing in a manifest and open the
 * door to "billion laughs" documents), and so is nesting deeper than 32 levels (both by
 * lode__manifest_prescan in manifest.c).
 * What the keys mean is documented in docs/manifest.md.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "crs_proj.h"
#include "error.h"
#include "manifest.h"
#include "manifest_fields.h"
#include "util.h"

#define MAX_MANIFEST_BYTES (4u << 20)
#define MAX_DATASETS       10000

typedef struct ctx {
	const char *file;
	yaml_document_t *doc;
	lode_error *err;
	int nerr;                 /* problems found so far */
	const char *suggested[8]; /* keys offered by "did you mean": not then reported missing */
	const char *dataset;      /* the name of the dataset being read, for its messages */
	const char *dir;          /* the manifest's folder (harmonize: vocabulary paths) */
	char list[1900];          /* the first LODE_MANIFEST_MAX_ERRORS of them, one per line */
	size_t len;
} ctx;

static const char *const resamplings[] = {"nearest", "bilinear", "cubic", "cubicspline", "lanczos",
					  "average", "mode",     "min",   "max",         "med",
					  "q1",      "q3",       "sum",   "rms",         NULL};

static lode_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
    LODE__PRINTF(4, 5);

/*
 * Record one problem (control characters escaped, so that each problem is one line) and
 * go on: the whole manifest is read and every problem reported at once, up to
 * LODE_MANIFEST_MAX_ERRORS of them.  Returns LODE_EMANIFEST for "return fail(...)".
 */
static lode_status fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char what[1024], line[1400], safe[600];
	va_list ap;
	size_t need;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(line, sizeof line, "%s:%lu:%lu: %s: %s%s%.80s%s", c->file,
		 n ? (unsigned long)n->start_mark.line + 1 : 1UL,
		 n ? (unsigned long)n->start_mark.column + 1 : 1UL, key, what,
		 c->dataset ? " [dataset '" : "", c->dataset ? c->dataset : "", c->dataset ? "']" : "");
	if (++c->nerr > LODE_MANIFEST_MAX_ERRORS)
		return LODE_EMANIFEST;
	lode__printable(safe, sizeof safe, line);
	need = strlen(safe) + (c->len ? 1 : 0);
	if (c->len + need < sizeof c->list) {
		snprintf(c->list + c->len, sizeof c->list - c->len, "%s%s", c->len ? "\n" : "", safe);
		c->len += need;
	} else {
		c->nerr = LODE_MANIFEST_MAX_ERRORS + 1; /* no room: count it as cut */
	}
	return LODE_EMANIFEST;
}

/* The problems found, into the error record (LODE_OK when there were none). */
static lode_status problems(ctx *c)
{
	if (c->nerr == 0)
		return LODE_OK;
	if (c->nerr > LODE_MANIFEST_MAX_ERRORS)
		lode__err(c->err, LODE_EMANIFEST, "%s\n%s: more problems not listed: fix these first",
			  c->list, c->file);
	else
		lode__err(c->err, LODE_EMANIFEST, "%s", c->list);
	c->err->lines = 1; /* each line escaped by fail() */
	return LODE_EMANIFEST;
}

/* Was key offered by a "did you mean" (then its absence is that typo, said once)? */
static int suggested(const ctx *c, const char *key)
{
	for (int j = 0; j < 8 && c->suggested[j]; j++)
		if (strcmp(c->suggested[j], key) == 0)
			return 1;
	return 0;
}

static lode_loc loc_of(const yaml_node_t *n)
{
	lode_loc l = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
	return l;
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

		if (!ks) {
			fail(c, k, where, "a key must be plain text");
			continue;
		}
		for (i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], ks) == 0)
				break;
		snprintf(path, sizeof path, "%s%s%.80s", where, where[0] ? "." : "", ks);
		if (!allowed[i]) {
			const char *near = lode__did_you_mean(ks, allowed);
			char list[512] = "";
			for (int j = 0; allowed[j]; j++) {
				strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
				strncat(list, allowed[j], sizeof list - strlen(list) - 1);
			}
			for (int j = 0; near && j < 8; j++)
				if (!c->suggested[j]) {
					c->suggested[j] = near;
					break;
				}
			if (near)
				fail(c, k, path, "unknown key: did you mean '%s'?", near);
			else
				fail(c, k, path, "unknown key (expected one of: %s)", list);
			continue;
		}
		if (seen & (1UL << i)) {
			fail(c, k, path, "the key is given twice");
			continue;
		}
		seen |= 1UL << i;
		/* A problem is recorded and the next key read; anything else stops. */
		if ((rc = fn(c, i, path, v, user)) && rc != LODE_EMANIFEST)
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
	meta->key = lode__strdup(lode__acdd_keys[which]);
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
	const yaml_node_t *crs_node, *bounds_node, *res_node;
} target_seen;

static lode_status on_target(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	target_seen *t = user;
	lode_manifest *m = t->m;
	lode_status rc;

	switch (which) {
	case 0:
		t->crs = 1;
		m->at_crs = loc_of(v);
		if ((rc = get_string(c, v, key, &m->target_crs)))
			return rc;
		t->crs_node = v;
		return LODE_OK;
	case 1: {
		yaml_node_item_t *it;
		size_t count;

		t->bounds = 1;
		m->at_bounds = loc_of(v);
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
		t->bounds_node = v;
		return LODE_OK;
	}
	case 2:
		t->res = 1;
		m->at_resolution = loc_of(v);
		if ((rc = get_resolution(c, v, key, &m->xres, &m->yres)))
			return rc;
		t->res_node = v;
		return LODE_OK;
	case 3: return get_threshold(c, v, key, &m->error_threshold);
	}
	return LODE_OK;
}

static lode_status check_crs(ctx *c, const yaml_node_t *v, const char *key, const char *text, char **wkt);

/*
 * target.crs must be a CRS PROJ knows, and target.bounds and target.resolution must be
 * in its unit: the commonest mistakes are metres on a geographic CRS and degrees on a
 * projected one, which give an empty or an absurd grid.  Each message names the key, its
 * line and the unit.
 */
static void check_target(ctx *c, target_seen *t)
{
	lode_manifest *m = t->m;
	char *wkt = NULL, unit[64];
	const double *b = m->bounds;
	double w, h, fx, fy;
	int geo;

	if (check_crs(c, t->crs_node, "target.crs", m->target_crs, &wkt) != LODE_OK)
		return;
	geo = lode__crs_unit(wkt, unit, sizeof unit);
	free(wkt);
	m->target_geographic = geo == 1;
	m->target_units = lode__strdup(unit);
	if (!t->bounds_node || !t->res_node)
		return;
	w = b[2] - b[0];
	h = b[3] - b[1];
	fx = (w + m->xres / 2.0) / m->xres;
	fy = (h + m->yres / 2.0) / m->yres;
	if (geo == 1 && (b[0] < -540 || b[2] > 540 || b[1] < -90.000001 || b[3] > 90.000001)) {
		fail(c, t->bounds_node, "target.bounds",
		     "[%.10g, %.10g, %.10g, %.10g] lie outside the %s range of %s (longitude -180..180, "
		     "latitude -90..90): target.crs is geographic, in %ss; these look like metres: give "
		     "the bounds in degrees, or a projected target.crs",
		     b[0], b[1], b[2], b[3], unit, m->target_crs, unit);
		return;
	}
	if (fx >= 1 && fy >= 1)
		return;
	if (geo == 1 && (m->xres >= 1 || m->yres >= 1))
		fail(c, t->res_node, "target.resolution",
		     "%g x %g %ss is larger than target.bounds (%g x %g %ss, line %d): the grid would be "
		     "empty.  target.crs %s is in %ss; this looks like a resolution in metres: give it in "
		     "degrees (30 m is about 0.00027 degrees)",
		     m->xres, m->yres, unit, w, h, unit, m->at_bounds.line, m->target_crs, unit);
	else if (geo == 0 && fabs(b[0]) <= 360 && fabs(b[2]) <= 360 && fabs(b[1]) <= 90 && fabs(b[3]) <= 90)
		fail(c, t->bounds_node, "target.bounds",
		     "[%g, %g, %g, %g] span %g x %g %ss, less than one %g %s pixel (target.resolution, "
		     "line %d): the grid would be empty.  target.crs %s is in %ss; these look like "
		     "degrees: give the bounds in %ss (projinfo or gdaltransform convert them)",
		     b[0], b[1], b[2], b[3], w, h, unit, m->xres, unit, m->at_resolution.line, m->target_crs,
		     unit, unit);
	else
		fail(c, t->res_node, "target.resolution",
		     "one pixel (%g x %g %ss) is larger than target.bounds (%g x %g %ss, line %d): the grid "
		     "would be empty; give both in the unit of target.crs %s (%s)",
		     m->xres, m->yres, unit, w, h, unit, m->at_bounds.line, m->target_crs, unit);
}

/* ---- policy: ---- */

static const char *const policy_keys[] = {"max_error_m", "allow_ballpark", "confine_sources", "orphans",
					  NULL};

/* For manifest_relations.c: a problem at a place (fail's, of the dataset named). */
static void relation_problem(void *user, lode_loc at, const char *dataset, const char *key, const char *what)
{
	ctx *c = user;
	const char *was = c->dataset;
	yaml_node_t n;

	memset(&n, 0, sizeof n);
	n.start_mark.line = at.line > 0 ? (size_t)at.line - 1 : 0;
	n.start_mark.column = at.col > 0 ? (size_t)at.col - 1 : 0;
	c->dataset = dataset;
	fail(c, &n, key, "%s", what);
	c->dataset = was;
}

/* The manifest's policy: and a dataset's: the same keys. */
static lode_status on_policy(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	lode_policy_spec *p = user;
	lode_status rc;

	if (which == 0) {
		if ((rc = get_number(c, v, key, &p->max_error_m)))
			return rc;
		if (p->max_error_m < 0)
			return fail(c, v, key, "must be zero or more metres");
		p->has_max_error_m = 1;
		return LODE_OK;
	}
	if (which == 3)
		return lode__manifest_orphans(scalar(v), loc_of(v), p, relation_problem, c);
	if (which == 2) {
		p->has_confine_sources = get_bool(c, v, key, &p->confine_sources) == LODE_OK;
		return p->has_confine_sources ? LODE_OK : LODE_EMANIFEST;
	}
	p->has_allow_ballpark = get_bool(c, v, key, &p->allow_ballpark) == LODE_OK;
	return p->has_allow_ballpark ? LODE_OK : LODE_EMANIFEST;
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

static const char *const dataset_keys[] = {"name",      "source",       "resampling",
					   "bands",     "nodata",       "assume_crs",
					   "operation", "resolution",   "error_threshold",
					   "layer",     "open_options", "clip",
					   "where",     "allow",        "policy",
					   "via",       "key",          "references",
					   "harmonize", "schema",       NULL};

/*
 * A CRS named in the manifest (target.crs, assume_crs, via) must be one PROJ knows; the
 * message says how to write one.  *wkt (may be NULL) gets its WKT.
 */
static lode_status check_crs(ctx *c, const yaml_node_t *v, const char *key, const char *text, char **wkt)
{
	lode_error e = {0};
	char *w = NULL;
	const char *p = text;
	int digits = *p != '\0';

	for (; *p; p++)
		digits &= *p >= '0' && *p <= '9';
	if (digits)
		return fail(c, v, key,
			    "'%.40s' is a bare number: write the authority too, as 'EPSG:%.40s' (a CRS is "
			    "written AUTHORITY:CODE, WKT or PROJJSON)",
			    text, text);
	if (lode__crs_to_wkt(text, &w, &e) != LODE_OK) {
		if (strstr(e.message, "proj.db"))
			return fail(c, v, key,
				    "PROJ cannot read '%.80s': it cannot find its database proj.db; keep "
				    "PROJ's own folder on PROJ_DATA (%.300s)",
				    text, e.message);
		if (strncasecmp(text, "EPSG:", 5) == 0)
			return fail(c, v, key,
				    "'%.80s' is not a CRS in the EPSG database of this PROJ: check the "
				    "code (projinfo %.80s, or https://epsg.org), e.g. EPSG:3375 for "
				    "GDM2000 / Peninsula RSO",
				    text, text);
		return fail(c, v, key,
			    "'%.80s' is not a coordinate reference system PROJ knows: write it as "
			    "AUTHORITY:CODE (e.g. 'EPSG:3375'), WKT or PROJJSON",
			    text);
	}
	if (wkt)
		*wkt = w;
	else
		free(w);
	return LODE_OK;
}

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

		static const char *const allows[] = {"raw_vrt", "network", NULL};
		const char *near;

		if (!s)
			return fail(c, an ? an : v, key, "expected raw_vrt or network");
		if (strcmp(s, "raw_vrt") == 0)
			d->allow_raw_vrt = 1;
		else if (strcmp(s, "network") == 0)
			d->allow_network = 1;
		else if ((near = lode__did_you_mean(s, allows)) != NULL)
			return fail(c, an, key,
				    "unknown '%.80s' (expected raw_vrt or network): did you mean '%s'?", s,
				    near);
		else
			return fail(c, an, key, "unknown '%.80s' (expected raw_vrt or network)", s);
	}
	return LODE_OK;
}

/* fail() for manifest_fields.c (harmonize:). */
static void fail_cb(void *c, const yaml_node_t *n, const char *key, const char *msg)
{
	fail(c, n, key, "%s", msg);
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
			static const char *const reserved[] = {"x",         "y",          "crs", "band",
							       "band_name", "band_units", NULL};
			for (int r = 0; reserved[r]; r++)
				if (strcmp(d->name, reserved[r]) == 0)
					return fail(c, v, key,
						    "'%s' is reserved (the bundle uses x, y, crs, band, "
						    "band_name and band_units for coordinates); choose "
						    "another name",
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
		{
			const char *near = lode__did_you_mean(d->resampling, resamplings);
			char hint[64] = "";
			if (near)
				snprintf(hint, sizeof hint, ": did you mean '%s'?", near);
			return fail(
			    c, v, key,
			    "unknown resampling '%.80s' (expected nearest, bilinear, cubic, "
			    "cubicspline, lanczos, average, mode, min, max, med, q1, q3, sum or rms)%s",
			    d->resampling, hint);
		}
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
	case 5:
		d->at_assume_crs = loc_of(v);
		if ((rc = get_string(c, v, key, &d->assume_crs)))
			return rc;
		return check_crs(c, v, key, d->assume_crs, NULL);
	case 6: d->at_operation = loc_of(v); return get_string(c, v, key, &d->operation);
	case 7:
		d->has_resolution = 1;
		d->at_resolution = loc_of(v);
		return get_resolution(c, v, key, &d->xres, &d->yres);
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
	case 14: d->policy.at = loc_of(v); return each_pair(c, v, key, policy_keys, on_policy, &d->policy);
	case 15:
		d->at_via = loc_of(v);
		if ((rc = get_string(c, v, key, &d->via)))
			return rc;
		return check_crs(c, v, key, d->via, NULL);
	case 16:
	case 17: return lode__manifest_relation_key(c->doc, which - 16, v, d, relation_problem, c);
	case 18: return lode__manifest_harmonize(c->doc, v, key, c->dir, &d->harmonize, fail_cb, c);
	case 19: d->at_schema = loc_of(v); return get_string(c, v, key, &d->schema);
	}
	return LODE_OK;
}

/* The name: of a dataset entry (plain text), or NULL: said in each of its messages. */
static const char *dataset_name(ctx *c, const yaml_node_t *dn)
{
	if (!dn || dn->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = dn->data.mapping.pairs.start; p < dn->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(c->doc, p->key));
		if (k && strcmp(k, "name") == 0)
			return scalar(yaml_document_get_node(c->doc, p->value));
	}
	return NULL;
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
		d->index = (int)i + 1;
		d->line = (int)dn->start_mark.line + 1;
		d->column = (int)dn->start_mark.column + 1;
		c->dataset = dataset_name(c, dn);
		/* Each dataset's problems are recorded and the next dataset read. */
		if ((rc = each_pair(c, dn, where, dataset_keys, on_dataset, d)) && rc != LODE_EMANIFEST)
			return rc;
		if (rc)
			continue;
		if (!d->name) {
			if (!suggested(c, "name"))
				fail(c, dn, where, "missing key 'name'");
			continue;
		}
		if (!d->source && !suggested(c, "source"))
			fail(c, dn, where, "missing key 'source' (dataset '%s')", d->name);
		for (size_t j = 0; j < i; j++)
			if (m->datasets[j].name && strcmp(m->datasets[j].name, d->name) == 0)
				fail(c, dn, where,
				     "duplicate dataset name '%s' (first used by the dataset at line %d)",
				     d->name, m->datasets[j].line);
		c->dataset = NULL;
		if (!d->source)
			continue;
		if (!d->resampling && !(d->resampling = lode__strdup("nearest")))
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
		if (!(d->source_path = lode__path_join(m->dir, d->source)))
			return lode__err(c->err, LODE_ENOMEM, "out of memory");
	}
	c->dataset = NULL;
	return lode__manifest_relations_check(m, relation_problem, c);
}

/* ---- top level ---- */

static const char *const top_keys[] = {"bundle", "target", "policy", "datasets", "metadata", NULL};

typedef struct top_seen {
	lode_manifest *m;
	const yaml_node_t *target, *datasets;
} top_seen;

static lode_status on_top(ctx *c, int which, const char *key, const yaml_node_t *v, void *user)
{
	top_seen *t = user;

	switch (which) {
	case 0: return each_pair(c, v, key, lode__acdd_keys, on_bundle, t->m);
	case 1: t->target = v; return LODE_OK;
	case 2: {
		lode_policy_spec *p = &t->m->policy;
		lode_status rc;
		p->at = loc_of(v);
		rc = each_pair(c, v, key, policy_keys, on_policy, p);
		if (p->has_max_error_m)
			t->m->max_error_m = p->max_error_m;
		if (p->has_allow_ballpark)
			t->m->allow_ballpark = p->allow_ballpark;
		if (p->has_confine_sources)
			t->m->confine_sources = p->confine_sources;
		return rc;
	}
	case 3: t->datasets = v; return LODE_OK;
	case 4: return lode__manifest_records(c->doc, v, key, &t->m->metadata, fail_cb, c);
	}
	return LODE_OK;
}

lode_status lode__manifest_load(const char *path, lode_manifest **out, lode_error *err)
{
	lode_manifest *m = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	int parser_ok = 0, doc_ok = 0;
	yaml_node_t *root;
	ctx c = {.file = path, .doc = &doc, .err = err};
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
	c.dir = m->dir;
	if ((rc = lode__manifest_prescan(path, m->text, m->text_len, err)))
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
	if (root->type != YAML_MAPPING_NODE) {
		fail(&c, root, "manifest",
		     "expected a mapping of sections (bundle, target, policy, datasets)");
		rc = problems(&c);
		goto out;
	}
	if ((rc = each_pair(&c, root, "", top_keys, on_top, &top)) && rc != LODE_EMANIFEST)
		goto out;
	tgt.m = m;
	if (!top.target)
		fail(&c, root, "target", "missing section 'target' (crs, bounds, resolution)");
	else if ((rc = each_pair(&c, top.target, "target", target_keys, on_target, &tgt)) &&
		 rc != LODE_EMANIFEST)
		goto out;
	else if (top.target->type == YAML_MAPPING_NODE) {
		if (!tgt.crs && !suggested(&c, "crs"))
			fail(&c, top.target, "target", "missing key 'crs'");
		if (!tgt.bounds && !suggested(&c, "bounds"))
			fail(&c, top.target, "target", "missing key 'bounds'");
		if (!tgt.res && !suggested(&c, "resolution"))
			fail(&c, top.target, "target", "missing key 'resolution'");
	}
	if (tgt.crs_node)
		check_target(&c, &tgt);
	if (!top.datasets)
		fail(&c, root, "datasets", "missing section 'datasets'");
	else if ((rc = load_datasets(&c, top.datasets, m)) && rc != LODE_EMANIFEST)
		goto out;
	if ((rc = problems(&c)))
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
