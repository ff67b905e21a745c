/*
 * strict.c -- the strict check of a bundle: the file holds exactly what lode writes
 * (docs/bundle-format.md, the list of section 8), whatever its digests say.  The object
 * tree comes from formats/bundle_strict.c as plain data; here are the rules: the root
 * attributes, each raster group (vector layers: strict_vector.c), and the helpers both
 * use to judge an object's attributes, type, shape, storage and dimension scales.  What
 * lode would write is derived as the writers derive it: the CF attributes from the CRS
 * (lode__crs_attrs, the writers' own function), the data variable's attributes from the
 * lineage as write.c does.
 *
 * It reads metadata and a raster's band numbers; coordinates, values and digests are
 * checked by verify.c.  Problems are one line each, with every name and value from the
 * file made printable.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_strict.h"
#include "dtype.h"
#include "error.h"
#include "legend.h"
#include "lode.h"
#include "manifest.h"
#include "plan.h"
#include "strict.h"
#include "strict_int.h"
#include "util.h"

/* ---- helpers ---- */

char *lode__strict_fmt(const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	char *s;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	s = lode__strdup(buf);
	return s ? s : (char *)"out of memory"; /* static: lode__strict_free knows it */
}

void lode__strict_free(char *p)
{
	if (p && strcmp(p, "out of memory") != 0)
		free(p);
}

const char *lode__strict_lstr(const json_t *l, const char *k1, const char *k2)
{
	const json_t *v = json_object_get(l, k1);

	if (k2)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

static int path_cmp(const void *a, const void *b, void *objs)
{
	return strcmp(((lode_bobj *)objs)[*(const int *)a].path, ((lode_bobj *)objs)[*(const int *)b].path);
}

int lode__strict_find(const strict_ctx *c, const char *path)
{
	size_t lo = 0, hi = c->t->nobjs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int k = strcmp(c->t->objs[c->byname[mid]].path, path);
		if (!k)
			return c->byname[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void lode__strict_prefix(const strict_ctx *c, const char *prefix, size_t *from, size_t *to)
{
	size_t lo = 0, hi = c->t->nobjs, len = strlen(prefix);

	while (lo < hi) { /* the first path not below prefix */
		size_t mid = (lo + hi) / 2;
		if (strcmp(c->t->objs[c->byname[mid]].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*from = lo;
	while (lo < c->t->nobjs && strncmp(c->t->objs[c->byname[lo]].path, prefix, len) == 0)
		lo++;
	*to = lo;
}

/* A value from the file, printable and short. */
#define SHOWN(buf, s) lode__printable(buf, sizeof buf, s)

static const char *kind_desc(akind k)
{
	switch (k) {
	case A_TEXT:
		return "a text as lode writes it (scalar, fixed length, its exact length, no NUL byte, ASCII "
		       "or valid UTF-8)";
	case A_SCALE: return "a dimension-scale text as HDF5 writes it";
	case A_F64: return "a float64 of the documented shape";
	case A_I32: return "an int32 scalar";
	case A_I64S: return "int64 values, one per null";
	case A_FILL: return "a scalar of the variable's own type";
	case A_OWNS: return "values of the variable's own type, as many as the lineage's named categories";
	case A_DIMLIST: return "a list of dimension scales";
	case A_REFLIST: return "a dimension scale's list of references";
	}
	return "as documented";
}

static int form_ok(const lode_battr *a, const aspec *s, lode_dtype own)
{
	int num = a->kind == LODE_BK_NUMBER;

	switch (s->kind) {
	case A_TEXT: return a->kind == LODE_BK_TEXT && a->form == LODE_BT_LODE && a->text;
	case A_SCALE: return a->kind == LODE_BK_TEXT && a->form == LODE_BT_SCALE && a->text;
	case A_F64:
		return num && a->dtype == LODE_DT_F64 &&
		       (s->n <= 1 ? a->rank == 0 : a->rank == 1 && a->npoints == s->n);
	case A_I32: return num && a->dtype == LODE_DT_I32 && a->rank == 0;
	case A_I64S:
		return num && a->dtype == LODE_DT_I64 &&
		       (s->n == 1 ? a->rank == 0 : a->rank == 1 && a->npoints == s->n);
	case A_FILL: return num && a->dtype == own && a->rank == 0;
	case A_OWNS: return num && a->dtype == own && a->rank == 1 && a->npoints == s->n;
	case A_DIMLIST: return a->kind == LODE_BK_DIMLIST;
	case A_REFLIST: return a->kind == LODE_BK_REFLIST;
	}
	return 0;
}

/* The value check of one attribute whose form is right. */
static char *value_problem(const char *path, const lode_battr *a, const aspec *s)
{
	char got[80], want[80];

	if ((s->kind == A_TEXT || s->kind == A_SCALE) && s->text && strcmp(a->text, s->text) != 0)
		return lode__strict_fmt("attribute '%s' of '%s' is '%s', not '%s'", a->name, path,
					SHOWN(got, a->text), SHOWN(want, s->text));
	if (s->kind == A_I32 && !s->any_value && !(a->v[0] == s->v[0]))
		return lode__strict_fmt("attribute '%s' of '%s' is %.17g, not %.17g", a->name, path, a->v[0],
					s->v[0]);
	if (s->kind == A_F64 && !s->any_value)
		for (size_t k = 0; k < (s->n ? s->n : 1); k++)
			if (!(a->v[k] == s->v[k]))
				return lode__strict_fmt(
				    "attribute '%s' of '%s' is %.17g, not %.17g (what lode "
				    "derives from the CRS)",
				    a->name, path, a->v[k], s->v[k]);
	return NULL;
}

char *lode__strict_attrs(const char *path, const lode_battr *attrs, size_t nattrs, const aspec *spec,
			 size_t nspec, lode_dtype own)
{
	for (size_t i = 0; i < nattrs; i++) {
		const lode_battr *a = &attrs[i];
		const aspec *s = NULL;
		char *p;

		for (size_t j = 0; j < nspec && !s; j++)
			if (strcmp(spec[j].name, a->name) == 0)
				s = &spec[j];
		if (!s)
			return lode__strict_fmt(
			    "'%s' has the attribute '%s', which is not part of the format", path, a->name);
		if (s->need < 0)
			return lode__strict_fmt("'%s' has the attribute '%s', which lode writes only %s",
						path, a->name, s->text);
		if (!form_ok(a, s, own))
			return lode__strict_fmt("attribute '%s' of '%s' is not %s", a->name, path,
						kind_desc(s->kind));
		if ((p = value_problem(path, a, s)))
			return p;
	}
	for (size_t j = 0; j < nspec; j++)
		if (spec[j].need > 0 && !lode__battr_find(attrs, nattrs, spec[j].name))
			return lode__strict_fmt("'%s' lacks the attribute '%s'", path, spec[j].name);
	return NULL;
}

static const char *type_desc(lode_bkind k, lode_dtype t)
{
	switch (k) {
	case LODE_BK_NUMBER: return lode__dtype_name(t);
	case LODE_BK_VSTRING: return "variable-length UTF-8 strings";
	case LODE_BK_F32BE: return "big-endian Float32";
	default: return "a type lode does not write";
	}
}

char *lode__strict_shape(const lode_bobj *o, const vspec *v)
{
	static const char *const layouts[] = {"in an unknown layout", "contiguous", "chunked", "compact"};

	if (o->group)
		return lode__strict_fmt("'%s' is a group, not a variable", o->path);
	if (o->kind != v->kind || (v->kind == LODE_BK_NUMBER && o->dtype != v->dtype))
		return lode__strict_fmt("'%s' holds %s, not %s", o->path, type_desc(o->kind, o->dtype),
					type_desc(v->kind, v->dtype));
	if (o->rank != v->rank)
		return lode__strict_fmt("'%s' has %d dimensions, not %d", o->path, o->rank, v->rank);
	for (int k = 0; k < v->rank; k++)
		if (o->dims[k] != v->dims[k])
			return lode__strict_fmt("'%s' has %llu values along axis %d, not %llu", o->path,
						o->dims[k], k, v->dims[k]);
	if (v->rank > 0 && (v->unlimited ? !o->unlimited : !o->fixed))
		return lode__strict_fmt("'%s' has a maximum size lode does not write (%s)", o->path,
					v->unlimited ? "unlimited" : "its size");
	if (o->external)
		return lode__strict_fmt(
		    "'%s' keeps its values in files outside the bundle (HDF5 external storage)", o->path);
	if (o->layout != v->layout)
		return lode__strict_fmt("'%s' is stored %s, not %s", o->path, layouts[o->layout],
					layouts[v->layout]);
	for (int k = 0; v->layout == LODE_BL_CHUNKED && k < v->rank; k++)
		if (v->chunk[k] ? o->chunk[k] != v->chunk[k] : o->chunk[k] < 1 || o->chunk[k] > 65536)
			return lode__strict_fmt(
			    "'%s' has chunks of %llu values along axis %d, which lode does "
			    "not write",
			    o->path, o->chunk[k], k);
	if (v->filtered ? !(o->nfilters == 3 && o->filters[0] == LODE_BF_SHUFFLE &&
			    o->filters[1] == LODE_BF_DEFLATE && o->filters[2] == LODE_BF_FLETCHER32)
			: o->nfilters != 0)
		return lode__strict_fmt("'%s' has a filter pipeline lode does not write (it writes %s)",
					o->path, v->filtered ? "shuffle, deflate, Fletcher32" : "none there");
	if (v->empty && o->storage != 0)
		return lode__strict_fmt("'%s' holds values; lode stores none there", o->path);
	return NULL;
}

char *lode__strict_scales(const strict_ctx *c, const lode_bobj *o, const int *want)
{
	for (int k = 0; k < o->rank && k < 3; k++) {
		int got = o->scales[k];
		if (got == want[k] || want[k] < 0)
			continue;
		if (got == -1)
			return lode__strict_fmt("axis %d of '%s' has no dimension scale (lode attaches '%s')",
						k, o->path, c->t->objs[want[k]].path);
		if (got < 0)
			return lode__strict_fmt(
			    "axis %d of '%s' has several dimension scales, or one that cannot be resolved", k,
			    o->path);
		return lode__strict_fmt("axis %d of '%s' has the dimension scale '%s', not '%s'", k, o->path,
					c->t->objs[got].path, c->t->objs[want[k]].path);
	}
	return NULL;
}

char *lode__strict_refs(const strict_ctx *c, const lode_bobj *scale, const lode_bref *want, size_t n)
{
	if (scale->nrefs != n)
		return lode__strict_fmt(
		    "the dimension scale '%s' lists %zu variables in REFERENCE_LIST, not %zu", scale->path,
		    scale->nrefs, n);
	for (size_t i = 0; i < n; i++) {
		int found = 0;
		for (size_t k = 0; k < scale->nrefs && !found; k++)
			found = scale->refs[k].obj == want[i].obj && scale->refs[k].dim == want[i].dim;
		if (!found)
			return lode__strict_fmt("the REFERENCE_LIST of '%s' does not list axis %d of '%s'",
						scale->path, want[i].dim, c->t->objs[want[i].obj].path);
	}
	return NULL;
}

char *lode__strict_crs(const lode_bobj *crs, const double *gt, const json_t *l)
{
	const char *want = lode__strict_lstr(json_object_get(l, "target"), "crs_wkt", NULL);
	const lode_battr *w = lode__battr_find(crs->attrs, crs->nattrs, "crs_wkt");
	vspec v = {.kind = LODE_BK_NUMBER, .dtype = LODE_DT_I32, .layout = LODE_BL_CONTIGUOUS, .empty = 1};
	aspec spec[24];
	size_t n = 0;
	lode_crs_attrs ca;
	char gts[200], *p;

	if ((p = lode__strict_shape(crs, &v)))
		return p;
	if (!w || w->kind != LODE_BK_TEXT || w->form != LODE_BT_LODE || !w->text)
		return lode__strict_fmt("'%s' lacks the attribute 'crs_wkt' as lode writes it", crs->path);
	if (!want || strcmp(w->text, want) != 0)
		return lode__strict_fmt("attribute 'crs_wkt' of '%s' is not the lineage's target.crs_wkt",
					crs->path);
	lode__crs_attrs(w->text, &ca);
	for (size_t i = 0; i < ca.ngm; i++)
		spec[n++] =
		    ca.gm[i].text
			? (aspec){ca.gm[i].name, A_TEXT, 1, ca.gm[i].text, 0, {0, 0}, 0}
			: (aspec){
			      ca.gm[i].name, A_F64, 1, NULL, ca.gm[i].n, {ca.gm[i].v[0], ca.gm[i].v[1]}, 0};
	spec[n++] = (aspec){"crs_wkt", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"spatial_ref", A_TEXT, 1, w->text, 0, {0, 0}, 0};
	if (gt) {
		snprintf(gts, sizeof gts, "%.17g %.17g %.17g %.17g %.17g %.17g", gt[0], gt[1], gt[2], gt[3],
			 gt[4], gt[5]);
		spec[n++] = (aspec){"GeoTransform", A_TEXT, 1, gts, 0, {0, 0}, 0};
	}
	p = lode__strict_attrs(crs->path, crs->attrs, crs->nattrs, spec, n, LODE_DT_UNKNOWN);
	lode__crs_attrs_free(&ca);
	return p;
}

/* ---- the root ---- */

/* lode_signature_N: N = 1, 2, ... in decimal, no leading zero. */
static int signature_name(const char *k)
{
	const char *d = k + strlen("lode_signature_");

	if (strncmp(k, "lode_signature_", strlen("lode_signature_")) != 0 || *d < '1' || *d > '9' ||
	    strlen(d) > 9)
		return 0;
	return strspn(d, "0123456789") == strlen(d);
}

static int hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/*
 * What is wrong with a bundle whose lode_format_version is v (NULL: absent or not text),
 * without the bundle's name, or NULL when it is this lode's version.  *damaged: whether
 * it is damaged (an unknown version) rather than of an older lode's format (1 or 2).
 * The one wording of verify, ls, extract, sign and merge (docs/cli.md, lode verify).
 */
static char *version_words(const char *v, int *damaged)
{
	char shown[80];

	*damaged = 0;
	if (v && strcmp(v, LODE_FORMAT_VERSION) == 0)
		return NULL;
	if (v && strcmp(v, "1") == 0)
		return lode__strict_fmt(
		    "bundle format version 1 (made by an older lode), whose bundle digest does not "
		    "cover the whole file, so neither it nor its signatures can be trusted; make the "
		    "bundle again with this lode (lode run, or lode package) from its manifest and "
		    "sources, and sign it again");
	if (v && strcmp(v, "2") == 0)
		return lode__strict_fmt(
		    "bundle format version 2 (made by lode 0.1.0), whose vector layers and multi-band "
		    "rasters are laid out differently from version 3 (docs/bundle-format.md, section "
		    "12), so this lode cannot check it; verify it with lode 0.1.0, or make the bundle "
		    "again with this lode (lode run, or lode package) from its manifest and sources, "
		    "and sign it again");
	if (v && strcmp(v, "3") == 0)
		return lode__strict_fmt(
		    "bundle format version 3 (made by lode 0.2.0), whose digest covers a chunked "
		    "dataset's decoded values where version 4 covers its stored chunks "
		    "(docs/bundle-format.md, section 12), so this lode cannot check its digest or "
		    "signatures; verify it with lode 0.2.0, or make the bundle again with this lode "
		    "(lode run, or lode package) from its manifest and sources, and sign it again");
	*damaged = 1;
	if (!v)
		return lode__strict_fmt("lode_format_version is not a text as lode writes it, an unknown "
					"bundle format version (this lode reads version %s)",
					LODE_FORMAT_VERSION);
	return lode__strict_fmt(
	    "lode_format_version is '%s', an unknown bundle format version (this lode reads version %s)",
	    SHOWN(shown, v), LODE_FORMAT_VERSION);
}

lode_status lode__strict_format(const char *bundle_path, lode__bundle *b, lode_error *err)
{
	char *v = NULL, *words;
	int damaged;
	lode_status rc;
	lode_error e;

	if (lode__bundle_get_attr(b, "lode_format_version", &v, &e) == LODE_ENOMEM)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	words = version_words(v, &damaged);
	free(v);
	if (!words)
		return LODE_OK;
	rc = damaged ? lode__err(err, LODE_EDAMAGED, "%s: damaged: %s", bundle_path, words)
		     : lode__err(err, LODE_EBUNDLE, "%s: %s", bundle_path, words);
	lode__strict_free(words);
	return rc;
}

/* A format version other than this lode's, from the tree: nothing else is judged by
   these rules.  (verify, ls and extract have refused it already with
   lode__strict_format; this keeps the check whole for any other caller.) */
static char *version_problem(const lode_btree *t)
{
	const lode_battr *v = lode__battr_find(t->root, t->nroot, "lode_format_version");
	int damaged;

	if (v && v->kind == LODE_BK_TEXT && v->text)
		return version_words(v->text, &damaged);
	return NULL;
}

/* The root group's attributes: the documented set, lode's own and the manifest's
   bundle: keys, the signature set. */
static char *root_problem(const lode_btree *t)
{
	static const aspec fixed[] = {
	    {"Conventions", A_TEXT, 1, "CF-1.8, ACDD-1.3", 0, {0, 0}, 0},
	    {"geospatial_bounds", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"geospatial_bounds_crs", A_TEXT, 1, NULL, 0, {0, 0}, 0},
	    {"date_created", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"lode_version", A_TEXT, 1, NULL, 0, {0, 0}, 0},
	    {"lode_format_version", A_TEXT, 1, LODE_FORMAT_VERSION, 0, {0, 0}, 0},
	    {"lode_manifest", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"lode_merged_from", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"geospatial_lon_min", A_F64, 0, NULL, 1, {0, 0}, 1},
	    {"geospatial_lat_min", A_F64, 0, NULL, 1, {0, 0}, 1},
	    {"geospatial_lon_max", A_F64, 0, NULL, 1, {0, 0}, 1},
	    {"geospatial_lat_max", A_F64, 0, NULL, 1, {0, 0}, 1},
	    {"lode_bundle_sha256", A_TEXT, 1, NULL, 0, {0, 0}, 0},
	    {"lode_part_key", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"lode_part_dataset", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"lode_part_plan_sha256", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	    {"lode_part_rows", A_TEXT, 0, NULL, 0, {0, 0}, 0},
	};
	size_t nf = sizeof fixed / sizeof fixed[0], n = 0, nll = 0;
	aspec *spec = malloc(sizeof *spec * (nf + t->nroot));
	const lode_battr *part, *plan_sha;
	char *p;

	if (!spec)
		return lode__strict_fmt("out of memory");
	memcpy(spec, fixed, sizeof fixed);
	n = nf;
	for (size_t i = 0; i < t->nroot; i++)
		if (lode__acdd_key_ok(t->root[i].name) || signature_name(t->root[i].name))
			spec[n++] = (aspec){t->root[i].name, A_TEXT, 0, NULL, 0, {0, 0}, 0};
	p = lode__strict_attrs("/", t->root, t->nroot, spec, n, LODE_DT_UNKNOWN);
	free(spec);
	if (p)
		return p;
	if (!lode__battr_find(t->root, t->nroot, "lode_manifest") ==
	    !lode__battr_find(t->root, t->nroot, "lode_merged_from"))
		return lode__strict_fmt(
		    "the root has %s of lode_manifest (a bundle made from a manifest) and "
		    "lode_merged_from (a merged bundle)",
		    lode__battr_find(t->root, t->nroot, "lode_manifest") ? "both" : "neither");
	for (size_t i = 0; i < t->nroot; i++)
		nll += strncmp(t->root[i].name, "geospatial_l", 12) == 0;
	if (nll != 0 && nll != 4)
		return lode__strict_fmt("the root has %zu of the 4 attributes geospatial_lat/lon_min/max "
					"(lode writes all or none)",
					nll);
	part = lode__battr_find(t->root, t->nroot, "lode_part_key");
	plan_sha = lode__battr_find(t->root, t->nroot, "lode_part_plan_sha256");
	if (!part != !lode__battr_find(t->root, t->nroot, "lode_part_dataset") || !part != !plan_sha ||
	    (lode__battr_find(t->root, t->nroot, "lode_part_rows") && !part))
		return lode__strict_fmt("the root has only some of lode_part_key, lode_part_dataset, "
					"lode_part_plan_sha256 and lode_part_rows (a part of a work folder "
					"has them together)");
	if (plan_sha && !hex64(plan_sha->text))
		return lode__strict_fmt("lode_part_plan_sha256 is not 64 lower-case hexadecimal digits");
	if (!hex64(lode__battr_find(t->root, t->nroot, "lode_bundle_sha256")->text))
		return lode__strict_fmt("lode_bundle_sha256 is not 64 lower-case hexadecimal digits");
	return NULL;
}

/* ---- a raster group ---- */

/* The CF flags lode derives from a raster's legend (legend.h). */
typedef struct legend_flags {
	double *values;
	size_t n;
	char *meanings;
} legend_flags;

/* What the lineage l says the data variable's attributes are (write.c's rules), into
   spec from index n (the texts are the lineage's); returns the new count. */
static size_t data_var_spec(const json_t *l, int nbands, int labels, const legend_flags *f, aspec *spec,
			    size_t n)
{
	const json_t *names = json_object_get(l, "band_names"), *units = json_object_get(l, "band_units");
	const char *first_name = json_string_value(json_array_get(names, 0));
	const char *u = json_string_value(json_array_get(units, 0));
	int any_name = 0, any_unit = 0;

	for (int i = 0; i < nbands; i++) {
		const char *bn = json_string_value(json_array_get(names, (size_t)i));
		const char *bu = json_string_value(json_array_get(units, (size_t)i));
		any_name |= bn && bn[0];
		any_unit |= bu && bu[0];
		if (!bu || !u || strcmp(bu, u) != 0)
			u = NULL;
	}
	spec[n++] = (aspec){"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"_FillValue", A_FILL, 0, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"grid_mapping", A_TEXT, 1, "crs", 0, {0, 0}, 0};
	spec[n++] = (aspec){
	    "long_name",
	    A_TEXT,
	    1,
	    nbands == 1 && first_name && first_name[0] ? first_name : lode__strict_lstr(l, "dataset", NULL),
	    0,
	    {0, 0},
	    0};
	if (u && u[0])
		spec[n++] = (aspec){"units", A_TEXT, 1, u, 0, {0, 0}, 0};
	else
		spec[n++] = (aspec){"units", A_TEXT, -1, "when every band has the same unit", 0, {0, 0}, 0};
	spec[n++] = (aspec){"source", A_TEXT, 1, lode__strict_lstr(l, "source", "path"), 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_lineage", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_content_sha256", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_band_names",
			    A_TEXT,
			    any_name ? 1 : -1,
			    any_name ? NULL : "when a band has a description",
			    0,
			    {0, 0},
			    0};
	spec[n++] = (aspec){"lode_band_units",
			    A_TEXT,
			    any_unit ? 1 : -1,
			    any_unit ? NULL : "when a band has a unit",
			    0,
			    {0, 0},
			    0};
	if (labels)
		spec[n++] = (aspec){"coordinates", A_TEXT, 1, "band_name band_units", 0, {0, 0}, 0};
	else
		spec[n++] = (aspec){"coordinates", A_TEXT, -1, "for several bands along a band dimension", 0,
				    {0, 0},        0};
	if (f->n) {
		spec[n++] = (aspec){"flag_values", A_OWNS, 1, NULL, f->n, {0, 0}, 0};
		spec[n++] = (aspec){"flag_meanings", A_TEXT, 1, f->meanings, 0, {0, 0}, 0};
	} else {
		spec[n++] =
		    (aspec){"flag_values", A_OWNS, -1, "for the named categories of one band", 0, {0, 0}, 0};
		spec[n++] = (aspec){"flag_meanings", A_TEXT, -1, "for the named categories of one band", 0,
				    {0, 0},          0};
	}
	return n;
}

/* The data variable NAME/NAME of a raster (index d), along band (or -1), y and x. */
static char *raster_data(const strict_ctx *c, const lode_bundle_item *it, const json_t *l, int d, int band,
			 int y, int x)
{
	const lode_bobj *o = &c->t->objs[d];
	int rank = band >= 0 ? 3 : 2, want[3] = {band >= 0 ? band : y, band >= 0 ? y : x, x};
	vspec v = {.kind = LODE_BK_NUMBER,
		   .dtype = it->dtype,
		   .rank = rank,
		   .layout = LODE_BL_CHUNKED,
		   .filtered = 1};
	aspec spec[16];
	size_t n;
	char *p;
	legend_flags f = {NULL, 0, NULL};
	const lode_battr *fv = lode__battr_find(o->attrs, o->nattrs, "_FillValue");

	v.dims[0] = (unsigned long long)it->nbands;
	v.dims[rank - 2] = (unsigned long long)it->ny;
	v.dims[rank - 1] = (unsigned long long)it->nx;
	v.chunk[0] = 1;
	v.chunk[rank - 2] = (unsigned long long)(it->ny < LODE_CHUNK ? it->ny : LODE_CHUNK);
	v.chunk[rank - 1] = (unsigned long long)(it->nx < LODE_CHUNK ? it->nx : LODE_CHUNK);
	if (!json_is_object(l) ||
	    strcmp(lode__strict_lstr(l, "kind", NULL) ? lode__strict_lstr(l, "kind", NULL) : "", "raster") !=
		0)
		return lode__strict_fmt("the lineage of '%s' is not a raster's", o->path);
	if (!lode__strict_lstr(l, "dataset", NULL) || !lode__strict_lstr(l, "source", "path") ||
	    !json_is_array(json_object_get(l, "band_names")) ||
	    !json_is_array(json_object_get(l, "band_units")))
		return lode__strict_fmt("the lineage lacks dataset, source.path, band_names or band_units");
	if ((p = lode__strict_shape(o, &v)))
		return p;
	if (lode__legend_flags(it->lineage, it->nbands, it->dtype, &f.values, &f.n, &f.meanings))
		return lode__strict_fmt("out of memory");
	/* band_name and band_units exist along a band dimension, not in older bundles' layout
	   with a band(band) variable. */
	n = data_var_spec(l, it->nbands, band >= 0 && c->t->objs[band].kind != LODE_BK_NUMBER, &f, spec, 0);
	p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, n, it->dtype);
	/* The flag values, when few enough to be read (the digest covers them all). */
	for (size_t k = 0; !p && f.n <= LODE_BATTR_VALUES && k < f.n; k++) {
		const lode_battr *a = lode__battr_find(o->attrs, o->nattrs, "flag_values");
		if (!(a->v[k] == f.values[k]))
			p = lode__strict_fmt(
			    "flag_values of '%s' holds %.17g, not %.17g (the lineage's categories)", o->path,
			    a->v[k], f.values[k]);
	}
	free(f.values);
	free(f.meanings);
	if (p)
		return p;
	/* HDF5's fill value is the _FillValue, as lode sets it. */
	if (!fv != !o->fill_user || (fv && memcmp(fv->raw, o->fill, lode__dtype_size(it->dtype)) != 0))
		return lode__strict_fmt("the HDF5 fill value of '%s' is not its _FillValue", o->path);
	if (json_integer_value(json_object_get(json_object_get(l, "target"), "width")) != it->nx ||
	    json_integer_value(json_object_get(json_object_get(l, "target"), "height")) != it->ny)
		return lode__strict_fmt("the size of '%s' differs from the lineage's target width and height",
					o->path);
	return lode__strict_scales(c, o, want);
}

/* A raster's coordinate variable x, y or band (index s) of n values along axis axis of
   the data variable d, with the CRS's attributes ca (x and y). */
static char *raster_coord(const strict_ctx *c, int s, const char *name, int n, int d, int axis,
			  const lode_crs_attrs *ca)
{
	const lode_bobj *o = &c->t->objs[s];
	int is_band = !strcmp(name, "band"), is_x = !strcmp(name, "x");
	vspec v = {.kind = LODE_BK_NUMBER,
		   .dtype = is_band ? LODE_DT_I32 : LODE_DT_F64,
		   .rank = 1,
		   .dims = {(unsigned long long)n},
		   .layout = LODE_BL_CONTIGUOUS};
	aspec spec[8] = {
	    {"CLASS", A_SCALE, 1, "DIMENSION_SCALE", 0, {0, 0}, 0},
	    {"NAME", A_SCALE, 1, name, 0, {0, 0}, 0},
	    {"REFERENCE_LIST", A_REFLIST, 1, NULL, 0, {0, 0}, 0},
	};
	size_t ns = 3;
	lode_bref want = {d, axis};
	char *p;

	if (is_band) {
		spec[ns++] = (aspec){"long_name", A_TEXT, 1, "band number", 0, {0, 0}, 0};
	} else {
		spec[ns++] =
		    (aspec){"standard_name", A_TEXT, 1, is_x ? ca->x_standard_name : ca->y_standard_name, 0,
			    {0, 0},          0};
		spec[ns++] =
		    (aspec){"long_name", A_TEXT, 1, is_x ? ca->x_long_name : ca->y_long_name, 0, {0, 0}, 0};
		spec[ns++] = (aspec){"units", A_TEXT, 1, is_x ? ca->x_units : ca->y_units, 0, {0, 0}, 0};
		spec[ns++] = (aspec){"axis", A_TEXT, 1, is_x ? "X" : "Y", 0, {0, 0}, 0};
	}
	if ((p = lode__strict_shape(o, &v)) ||
	    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, ns, 0)) ||
	    (p = lode__strict_refs(c, o, &want, 1)))
		return p;
	if (o->fill_user)
		return lode__strict_fmt("'%s' has a fill value; lode sets none there", o->path);
	if (is_band) {
		long long *vals = malloc(sizeof *vals * (size_t)n);
		lode_error e;
		if (!vals)
			return lode__strict_fmt("out of memory");
		if (lode__bundle_read_ints(c->b, o->path, (size_t)n, vals, &e) != LODE_OK)
			p = lode__strict_fmt("%s", e.message);
		for (int i = 0; i < n && !p; i++)
			if (vals[i] != i + 1)
				p = lode__strict_fmt("'%s' holds %lld at %d; lode numbers the bands 1 to %d",
						     o->path, vals[i], i, n);
		free(vals);
	}
	return p;
}

/* A raster dataset: the group (index g) holds exactly band (several bands), y, x, crs
   and NAME, each as lode writes it. */
static char *raster_problem(strict_ctx *c, const lode_bundle_item *it, int g, const json_t *l)
{
	char path[300], *p = NULL;
	int d, x, y, crs, band = -1, rank = it->nbands > 1 ? 3 : 2;
	size_t from, to;
	lode_crs_attrs ca;

	c->claimed[g] = 1;
	if (c->t->objs[g].nattrs)
		return lode__strict_fmt("the group '%s' has the attribute '%s'; lode writes none there",
					it->name, c->t->objs[g].attrs[0].name);
	snprintf(path, sizeof path, "%s/", it->name);
	lode__strict_prefix(c, path, &from, &to);
	for (size_t k = from; k < to; k++) {
		size_t i = (size_t)c->byname[k];
		const lode_bobj *o = &c->t->objs[i];
		if (o->parent != g)
			continue;
		c->claimed[i] = 1;
		if (!p &&
		    (o->group || (strcmp(o->name, it->name) && strcmp(o->name, "x") && strcmp(o->name, "y") &&
				  strcmp(o->name, "crs") &&
				  (rank == 2 || (strcmp(o->name, "band") && strcmp(o->name, "band_name") &&
						 strcmp(o->name, "band_units"))))))
			p = lode__strict_fmt("unexpected %s '%s' in the raster group",
					     o->group ? "group" : "variable", o->path);
	}
	if (p)
		return p;
	snprintf(path, sizeof path, "%s/%s", it->name, it->name);
	d = lode__strict_find(c, path);
	snprintf(path, sizeof path, "%s/x", it->name);
	x = lode__strict_find(c, path);
	snprintf(path, sizeof path, "%s/y", it->name);
	y = lode__strict_find(c, path);
	snprintf(path, sizeof path, "%s/crs", it->name);
	crs = lode__strict_find(c, path);
	if (rank == 3) {
		snprintf(path, sizeof path, "%s/band", it->name);
		band = lode__strict_find(c, path);
	}
	if (d < 0 || x < 0 || y < 0 || crs < 0 || (rank == 3 && band < 0))
		return lode__strict_fmt("the group '%s' lacks its %s variable", it->name,
					d < 0     ? "data"
					: x < 0   ? "x"
					: y < 0   ? "y"
					: crs < 0 ? "crs"
						  : "band");
	if ((p = raster_data(c, it, l, d, band, y, x)) || (p = lode__strict_crs(&c->t->objs[crs], it->gt, l)))
		return p;
	lode__crs_attrs(it->crs_wkt, &ca);
	if (!(p = raster_coord(c, x, "x", it->nx, d, rank - 1, &ca)) &&
	    !(p = raster_coord(c, y, "y", it->ny, d, rank - 2, &ca)) && band >= 0)
		/* Bundles of lode before the band dimension held a variable band(band) = 1..N. */
		p = c->t->objs[band].kind == LODE_BK_NUMBER
			? raster_coord(c, band, "band", it->nbands, d, 0, &ca)
			: lode__strict_raster_band(c, it, l, band, d);
	lode__crs_attrs_free(&ca);
	return p;
}

/* ---- the whole bundle ---- */

/* Dataset names: what the manifest allows, and no dataset among a vector layer's names. */
static char *name_problem(const lode_bundle_item *items, size_t n, size_t i)
{
	static const char *const reserved[] = {"x", "y", "crs", "band", "band_name", "band_units"};
	const char *name = items[i].name;

	if (!lode__name_ok(name))
		return lode__strict_fmt(
		    "the dataset name is not one lode writes (1 to 64 letters, digits, '_' or "
		    "'-', starting with a letter)");
	for (size_t r = 0; r < sizeof reserved / sizeof *reserved; r++)
		if (!strcmp(name, reserved[r]))
			return lode__strict_fmt("the dataset name '%s' is reserved", name);
	for (size_t k = 0; k < n; k++) {
		size_t len = strlen(items[k].name);
		if (k != i && items[k].kind && !strcmp(items[k].kind, "vector") &&
		    !strncmp(name, items[k].name, len) && name[len] == '_')
			return lode__strict_fmt("the name lies among the variables of vector layer '%s'",
						items[k].name);
	}
	return NULL;
}

/* The first object no dataset claimed, as a problem, or NULL. */
static char *stray_problem(const strict_ctx *c)
{
	for (size_t i = 0; i < c->t->nobjs; i++)
		if (!c->claimed[i] && c->t->objs[i].parent < 0)
			return lode__strict_fmt("unexpected %s '%s' at the root (not part of any dataset)",
						c->t->objs[i].group ? "group" : "variable",
						c->t->objs[i].path);
	return NULL;
}

/* A dataset's objects: a raster's group and what it holds, a vector layer's NAME and
   NAME_... at the root. */
static void claim(strict_ctx *c, const lode_bundle_item *it, int o)
{
	/* A table is a group, as a raster is. */
	int vec = it->kind && !strcmp(it->kind, "vector") &&
		  !(it->geometry_type && !strcmp(it->geometry_type, "None"));
	char prefix[300];
	size_t from, to;

	c->claimed[o] = 1;
	snprintf(prefix, sizeof prefix, "%s%s", it->name, vec ? "_" : "/");
	lode__strict_prefix(c, prefix, &from, &to);
	for (size_t k = from; k < to; k++) {
		const lode_bobj *x = &c->t->objs[c->byname[k]];
		if (vec ? x->parent < 0 : x->parent == o)
			c->claimed[c->byname[k]] = 1;
	}
}

/* Judge every dataset; the first problem of each to its item. */
static void datasets(strict_ctx *c, lode_bundle_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		lode_bundle_item *it = &items[i];
		int o = lode__strict_find(c, it->name);
		json_t *l = it->lineage ? json_loads(it->lineage, 0, NULL) : NULL;
		char *p = NULL;

		lode__heartbeat();
		if (o < 0)
			p = lode__strict_fmt("the dataset cannot be found in the file's tree");
		else if ((p = name_problem(items, n, i))) {
			free(it->problem); /* a name lode never writes says more than what follows from it */
			it->problem = NULL;
		} else if (!it->problem) {
			if (!l)
				p = lode__strict_fmt("the lineage is missing or not valid JSON");
			else if (!strcmp(it->kind, "vector"))
				p = lode__strict_vector(c, it, o, l);
			else
				p = raster_problem(c, it, o, l);
		}
		if (o >= 0) /* a damaged dataset's objects are its own: they are not strays too */
			claim(c, it, o);
		if (p && !it->problem)
			it->problem = lode__strdup(p);
		lode__strict_free(p);
		json_decref(l);
	}
}

lode_status lode__strict_check(lode__bundle *b, lode_bundle_item *items, size_t n, char **problem,
			       lode_error *err)
{
	lode_btree *t = NULL;
	strict_ctx c = {b, NULL, NULL, NULL};
	char *p = NULL;
	lode_status rc;

	*problem = NULL;
	if ((rc = lode__bundle_tree(b, &t, err)))
		return rc;
	c.t = t;
	c.byname = malloc(sizeof *c.byname * (t->nobjs ? t->nobjs : 1));
	c.claimed = calloc(t->nobjs ? t->nobjs : 1, 1);
	if (!c.byname || !c.claimed) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->nobjs; i++)
		c.byname[i] = (int)i;
	qsort_r(c.byname, t->nobjs, sizeof *c.byname, path_cmp, t->objs);
	/* The version first: nothing else is judged in a file of another format.  Then the
	   links, names and readability, the root's attributes and what no dataset holds. */
	if (!(p = version_problem(t))) {
		datasets(&c, items, n);
		if (t->problem)
			p = lode__strict_fmt("%s", t->problem);
		if (!p)
			p = root_problem(t);
		if (!p)
			p = stray_problem(&c);
	}
	if (p && !(*problem = lode__strdup(p)))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	lode__strict_free(p);
	free(c.byname);
	free(c.claimed);
	lode__btree_free(t);
	return rc;
}

lode_status lode__strict_refuse(const char *bundle_path, lode__bundle *b, lode_bundle_item *items, size_t n,
				lode_error *err)
{
	char *problem = NULL;
	lode_status rc = lode__strict_format(bundle_path, b, err);

	if (rc)
		return rc;
	rc = lode__strict_check(b, items, n, &problem, err);

	for (size_t i = 0; !rc && !problem && i < n; i++)
		if (items[i].problem)
			return lode__err(err, LODE_EDAMAGED,
					 "%s: damaged: dataset '%s': %s (lode verify tells more)",
					 bundle_path, items[i].name, items[i].problem);
	if (!rc && problem)
		rc = lode__err(err, LODE_EDAMAGED, "%s: damaged: %s (lode verify tells more)", bundle_path,
			       problem);
	free(problem);
	return rc;
}
