/*
 * crs_proj.c -- coordinate reference systems and the choice of coordinate operation.
 *
 * CRS strings from the manifest are parsed by GDAL's OSR (EPSG codes, WKT, PROJJSON,
 * PROJ strings) and carried as WKT2:2019.  The coordinate operation is chosen with PROJ
 * (proj_create_operations) under the manifest's policy, never silently: every candidate
 * is listed with its accuracy, ballpark flag and grids, and the first one PROJ ranks
 * best that the policy accepts is taken.  The chosen operation's PROJ pipeline is what
 * the warper is then told to apply, so what is recorded is what ran.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <jansson.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "gdal_util.h"
#include "crs_proj.h"
#include "error.h"
#include "op_cache.h"
#include "util.h"

void lode__op_clear(lode_op *op)
{
	if (!op)
		return;
	free(op->name);
	free(op->code);
	free(op->pipeline);
	for (size_t i = 0; i < op->ngrids; i++)
		free(op->grids[i]);
	free(op->grids);
	free(op->candidates_json);
	free(op->steps_json);
	free(op->ballpark_step);
	free(op->via);
	free(op->legs_json);
	memset(op, 0, sizeof *op);
}

static OGRSpatialReferenceH srs_from_wkt(const char *wkt)
{
	OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);

	if (!s)
		return NULL;
	if (OSRSetFromUserInput(s, wkt) != OGRERR_NONE) {
		OSRDestroySpatialReference(s);
		return NULL;
	}
	OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
	return s;
}

lode_status lode__crs_to_wkt(const char *user, char **wkt, lode_error *err)
{
	OGRSpatialReferenceH s = NULL;
	lode__cpl_capture cap;
	const char *opts[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
	char *out = NULL;
	lode_status rc = LODE_OK;

	*wkt = NULL;
	lode__cpl_push(&cap);
	s = OSRNewSpatialReference(NULL);
	if (!s || OSRSetFromUserInput(s, user) != OGRERR_NONE) {
		rc = lode__err(err, LODE_EMANIFEST,
			       "'%.200s' is not a coordinate reference system PROJ knows (%s)", user,
			       lode__cpl_msg(&cap, "unrecognised"));
		goto out;
	}
	if (OSRExportToWktEx(s, &out, opts) != OGRERR_NONE || !out) {
		rc = lode__err(err, LODE_EMANIFEST, "'%.200s' cannot be written as WKT2 (%s)", user,
			       lode__cpl_msg(&cap, "unsupported CRS"));
		goto out;
	}
	if (!(*wkt = lode__strdup(out)))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	CPLFree(out);
	if (s)
		OSRDestroySpatialReference(s);
	lode__cpl_pop();
	return rc;
}

int lode__crs_unit(const char *wkt, char *unit, size_t n)
{
	OGRSpatialReferenceH s;
	const char *name = NULL;
	int geo = -1;
	lode__cpl_capture cap;

	lode__cpl_push(&cap);
	s = srs_from_wkt(wkt);
	if (s && OSRIsGeographic(s)) {
		OSRGetAngularUnits(s, (char **)&name);
		geo = 1;
	} else if (s && (OSRIsProjected(s) || OSRIsLocal(s) || OSRIsGeocentric(s))) {
		OSRGetLinearUnits(s, (char **)&name);
		geo = 0;
	}
	snprintf(unit, n, "%s", name && geo >= 0 ? name : "unknown unit");
	if (s)
		OSRDestroySpatialReference(s);
	lode__cpl_pop();
	return geo;
}

char *lode__crs_label(const char *wkt)
{
	OGRSpatialReferenceH s;
	char *label = NULL;
	lode__cpl_capture cap;

	lode__cpl_push(&cap);
	s = srs_from_wkt(wkt);
	if (s) {
		const char *auth = OSRGetAuthorityName(s, NULL);
		const char *code = OSRGetAuthorityCode(s, NULL);

		if (!auth || !code) {
			/* A CRS read from a file may lack its ID; ask PROJ to identify it. */
			OGRSpatialReferenceH c = OSRClone(s);
			if (c && OSRAutoIdentifyEPSG(c) == OGRERR_NONE) {
				auth = OSRGetAuthorityName(c, NULL);
				code = OSRGetAuthorityCode(c, NULL);
				if (auth && code)
					label = lode__sprintf("%s:%s", auth, code);
			}
			if (c)
				OSRDestroySpatialReference(c);
		} else {
			label = lode__sprintf("%s:%s", auth, code);
		}
		if (!label)
			label = lode__strdup(OSRGetName(s) ? OSRGetName(s) : "unnamed CRS");
		OSRDestroySpatialReference(s);
	}
	lode__cpl_pop();
	return label ? label : lode__strdup("unknown CRS");
}

void lode__proj_versions(char **proj_version, char **epsg_version)
{
	PJ_CONTEXT *ctx = proj_context_create();
	const char *epsg = ctx ? proj_context_get_database_metadata(ctx, "EPSG.VERSION") : NULL;

	*proj_version = lode__strdup(proj_info().release);
	*epsg_version = lode__strdup(epsg ? epsg : "unknown");
	proj_context_destroy(ctx);
}

const char *lode__proj_version(void)
{
	return proj_info().version;
}

/* ---- the operation choice ---- */

/*
 * An object's first identifier as "AUTH:CODE".  PROJ writes DERIVED_FROM(EPSG) when it
 * substituted a grid's legacy name for the registered one: the operation is still
 * that EPSG transformation, so the wrapper is dropped.  INVERSE(EPSG) is kept: the
 * inverse of the registered operation was applied.
 */
static char *id_of(PJ_CONTEXT *ctx, const PJ *obj)
{
	const char *auth = proj_get_id_auth_name(obj, 0);
	const char *code = proj_get_id_code(obj, 0);
	static const char derived[] = "DERIVED_FROM(";
	size_t dlen = sizeof derived - 1;

	(void)ctx;
	if (!auth || !code)
		return NULL;
	if (strncmp(auth, derived, dlen) == 0 && strlen(auth) > dlen + 1 && auth[strlen(auth) - 1] == ')')
		return lode__sprintf("%.*s:%s", (int)(strlen(auth) - dlen - 1), auth + dlen, code);
	return lode__sprintf("%s:%s", auth, code);
}

/*
 * The identifiers of the datum-changing steps of an operation, joined by " + " (map
 * projections and other conversions are left out); NULL when there are none.
 */
static char *transformation_codes(PJ_CONTEXT *ctx, PJ *op)
{
	char *codes = NULL;
	int nsteps;

	if (proj_get_type(op) != PJ_TYPE_CONCATENATED_OPERATION)
		return proj_get_type(op) == PJ_TYPE_TRANSFORMATION ? id_of(ctx, op) : NULL;
	nsteps = proj_concatoperation_get_step_count(ctx, op);
	for (int i = 0; i < nsteps; i++) {
		PJ *step = proj_concatoperation_get_step(ctx, op, i);
		char *sid = step && proj_get_type(step) == PJ_TYPE_TRANSFORMATION ? id_of(ctx, step) : NULL;

		if (sid)
			lode__append(&codes, " + ", sid);
		free(sid);
		proj_destroy(step);
	}
	return codes;
}

/*
 * Registered operations between the two geodetic CRSs, keyed by their transformation
 * steps.  PROJ flattens a registered concatenated operation (e.g. EPSG:8659, Kertau
 * (RSO) to WGS 84) into the steps of a projected-to-geographic candidate and loses its
 * code; this table gives it back.
 */
typedef struct registered {
	char *steps, *code;
} registered;

/* The registered operations between the two geodetic CRSs, loaded when an operation
   first needs a code (the search costs a second proj_create_operations, which a
   single registered transformation does not need). */
typedef struct registry {
	registered *r;
	size_t n;
	int loaded;
	PJ *src, *dst;
	PJ_OPERATION_FACTORY_CONTEXT *fac;
} registry;

static void registry_free(registry *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->r[i].steps);
		free(g->r[i].code);
	}
	free(g->r);
	g->r = NULL;
	g->n = 0;
}

static void registry_load(PJ_CONTEXT *ctx, registry *g)
{
	PJ *sg = proj_crs_get_geodetic_crs(ctx, g->src), *dg = proj_crs_get_geodetic_crs(ctx, g->dst);
	PJ_OBJ_LIST *ops = sg && dg ? proj_create_operations(ctx, sg, dg, g->fac) : NULL;
	int n = ops ? proj_list_get_count(ops) : 0;

	g->loaded = 1;
	g->r = n > 0 ? calloc((size_t)n, sizeof *g->r) : NULL;
	for (int i = 0; i < n && g->r; i++) {
		PJ *op = proj_list_get(ctx, ops, i);
		char *code = op ? id_of(ctx, op) : NULL;
		char *steps = code ? transformation_codes(ctx, op) : NULL;

		if (code && steps) {
			g->r[g->n].code = code;
			g->r[g->n].steps = steps;
			g->n++;
		} else {
			free(code);
			free(steps);
		}
		proj_destroy(op);
	}
	proj_list_destroy(ops);
	proj_destroy(sg);
	proj_destroy(dg);
	proj_context_errno(ctx); /* a CRS without a geodetic CRS only means no table */
}

/*
 * The code recorded for an operation: its own identifier when it is a registered
 * transformation; else the registered operation with the same transformation steps;
 * else its transformation steps' codes joined by " + "; NULL for conversions only.
 */
static char *op_code(PJ_CONTEXT *ctx, PJ *op, registry *g)
{
	char *steps;

	if (proj_get_type(op) == PJ_TYPE_TRANSFORMATION)
		return id_of(ctx, op);
	if (proj_get_type(op) != PJ_TYPE_CONCATENATED_OPERATION)
		return NULL;
	steps = transformation_codes(ctx, op);
	if (steps && g && !g->loaded)
		registry_load(ctx, g);
	for (size_t i = 0; steps && g && i < g->n; i++) {
		if (strcmp(g->r[i].steps, steps) == 0 && strcmp(g->r[i].code, steps) != 0) {
			free(steps);
			return lode__strdup(g->r[i].code);
		}
	}
	return steps;
}

/* Every step of op as JSON: name, code and whether it changes the datum. */
static char *steps_json(PJ_CONTEXT *ctx, PJ *op)
{
	json_t *arr = json_array();
	int n = proj_get_type(op) == PJ_TYPE_CONCATENATED_OPERATION
		    ? proj_concatoperation_get_step_count(ctx, op)
		    : 0;
	char *text;

	for (int i = 0; i < (n ? n : 1); i++) {
		PJ *step = n ? proj_concatoperation_get_step(ctx, op, i) : op;
		json_t *o = json_object();
		char *sid = step ? id_of(ctx, step) : NULL;
		PJ_TYPE t = step ? proj_get_type(step) : PJ_TYPE_UNKNOWN;

		json_object_set_new(o, "name",
				    json_string(step && proj_get_name(step) ? proj_get_name(step) : ""));
		json_object_set_new(o, "code", sid ? json_string(sid) : json_null());
		json_object_set_new(o, "kind",
				    json_string(t == PJ_TYPE_CONVERSION       ? "conversion"
						: t == PJ_TYPE_TRANSFORMATION ? "transformation"
									      : "other"));
		json_array_append_new(arr, o);
		free(sid);
		if (n)
			proj_destroy(step);
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

/*
 * Is the operation made of conversions only (map projections, unit changes, axis
 * swaps), with no change of datum?  Such an operation is exact, but the C API reports
 * its accuracy as unknown when the CRSs carry no EPSG identifiers (as CRSs read from
 * GeoTIFF keys often do), where projinfo shows "0 m".
 */
static int conversions_only(PJ_CONTEXT *ctx, PJ *op)
{
	PJ_TYPE t = proj_get_type(op);
	int n, all = 1;

	if (t == PJ_TYPE_CONVERSION)
		return 1;
	if (t != PJ_TYPE_CONCATENATED_OPERATION)
		return 0;
	n = proj_concatoperation_get_step_count(ctx, op);
	for (int i = 0; i < n && all; i++) {
		PJ *step = proj_concatoperation_get_step(ctx, op, i);
		all = step && proj_get_type(step) == PJ_TYPE_CONVERSION;
		proj_destroy(step);
	}
	return all && n > 0;
}

/* Does the operation carry `want`: as its recorded code or as one of its steps'? */
static int op_has_id(PJ_CONTEXT *ctx, PJ *p, const lode_op *op, const char *want)
{
	char *steps = transformation_codes(ctx, p);
	int hit = op->code && strcasecmp(op->code, want) == 0;

	for (char *tok = steps; !hit && tok && *tok;) {
		size_t len = strcspn(tok, " ");
		hit = len == strlen(want) && strncasecmp(tok, want, len) == 0;
		tok += len;
		tok += strspn(tok, " +");
	}
	free(steps);
	return hit;
}

/* The name of the step of a ballpark operation that is a ballpark one ("Ballpark geographic
   offset from Kertau (RSO) to GDM2000"): what says why; the whole name if none is. */
static char *ballpark_step(PJ_CONTEXT *ctx, PJ *op)
{
	int n = proj_get_type(op) == PJ_TYPE_CONCATENATED_OPERATION
		    ? proj_concatoperation_get_step_count(ctx, op)
		    : 0;
	char *found = NULL;

	for (int i = 0; i < n && !found; i++) {
		PJ *step = proj_concatoperation_get_step(ctx, op, i);
		if (step && proj_coordoperation_has_ballpark_transformation(ctx, step) && proj_get_name(step))
			found = lode__strdup(proj_get_name(step));
		proj_destroy(step);
	}
	return found ? found : lode__strdup(proj_get_name(op) ? proj_get_name(op) : "unnamed operation");
}

/* Fill op from a PROJ operation; returns -1 on out-of-memory. */
static int describe(PJ_CONTEXT *ctx, PJ *p, registry *g, lode_op *op)
{
	const char *name = proj_get_name(p);
	const char *pipe = proj_as_proj_string(ctx, p, PJ_PROJ_5, NULL);
	int ngrids = proj_coordoperation_get_grid_used_count(ctx, p);

	op->name = lode__strdup(name ? name : "unnamed operation");
	op->code = op_code(ctx, p, g);
	op->steps_json = steps_json(ctx, p);
	op->pipeline = lode__strdup(pipe ? pipe : "");
	op->accuracy = proj_coordoperation_get_accuracy(ctx, p);
	op->ballpark = proj_coordoperation_has_ballpark_transformation(ctx, p);
	if (op->ballpark)
		op->ballpark_step = ballpark_step(ctx, p);
	if (op->accuracy < 0 && !op->ballpark && conversions_only(ctx, p))
		op->accuracy = 0;
	if (ngrids > 0) {
		op->grids = calloc((size_t)ngrids, sizeof *op->grids);
		if (!op->grids)
			return -1;
		for (int gi = 0; gi < ngrids; gi++) {
			const char *shortn = NULL;

			proj_coordoperation_get_grid_used(ctx, p, gi, &shortn, NULL, NULL, NULL, NULL, NULL,
							  NULL);
			op->grids[op->ngrids++] = lode__strdup(shortn ? shortn : "");
		}
	}
	return op->name && op->pipeline ? 0 : -1;
}

/* Why the policy refuses op, or NULL if it accepts it.  Writes into buf. */
static const char *refusal(const lode_op *op, int instantiable, const lode_policy *pol, char *buf, size_t n)
{
	if (!instantiable) {
		snprintf(buf, n, "needs grid %s, which is not installed (not on PROJ_DATA)",
			 op->ngrids ? op->grids[0] : "(unnamed)");
		return buf;
	}
	if (op->ballpark && !pol->allow_ballpark) {
		snprintf(buf, n,
			 "is a ballpark operation (no datum shift; error may reach tens or hundreds of "
			 "metres) and policy.allow_ballpark is false");
		return buf;
	}
	if (op->accuracy < 0 && !pol->allow_ballpark) {
		snprintf(buf, n, "has unknown accuracy and policy.allow_ballpark is false");
		return buf;
	}
	if (op->accuracy >= 0 && op->accuracy > pol->max_error_m) {
		snprintf(buf, n, "accuracy %g m is worse than policy.max_error_m %g m", op->accuracy,
			 pol->max_error_m);
		return buf;
	}
	return NULL;
}

static json_t *candidate_json(const lode_op *op, int instantiable, const char *why)
{
	json_t *o = json_object(), *grids = json_array();

	for (size_t i = 0; i < op->ngrids; i++)
		json_array_append_new(grids, json_string(op->grids[i]));
	json_object_set_new(o, "name", json_string(op->name));
	json_object_set_new(o, "code", op->code ? json_string(op->code) : json_null());
	json_object_set_new(o, "accuracy_m", op->accuracy >= 0 ? json_real(op->accuracy) : json_null());
	json_object_set_new(o, "ballpark", json_boolean(op->ballpark));
	json_object_set_new(o, "grids", grids);
	json_object_set_new(o, "grids_available", json_boolean(instantiable));
	json_object_set_new(o, "refused", why ? json_string(why) : json_null());
	return o;
}

/* ---- the candidates: PROJ's search, or the cache of earlier ones (op_cache.h) ---- */

#define CAND_INSTANTIABLE 1 /* its grids are installed */
#define CAND_NAMED        2 /* it carries the manifest's operation: code */

static void free_candidates(lode_op *list, int *flags, int n)
{
	for (int i = 0; list && i < n; i++)
		lode__op_clear(&list[i]);
	free(list);
	free(flags);
}

/* A candidate as the cache keeps it: what describe() found, and whether its grids are
   installed. */
static json_t *cached_json(const lode_op *op, int instantiable)
{
	json_t *o = json_object(), *grids = json_array();

	for (size_t i = 0; grids && i < op->ngrids; i++)
		json_array_append_new(grids, json_string(op->grids[i]));
	json_object_set_new(o, "name", json_string(op->name));
	json_object_set_new(o, "code", op->code ? json_string(op->code) : json_null());
	json_object_set_new(o, "pipeline", json_string(op->pipeline));
	json_object_set_new(o, "accuracy", json_real(op->accuracy));
	json_object_set_new(o, "ballpark", json_boolean(op->ballpark));
	json_object_set_new(o, "ballpark_step",
			    op->ballpark_step ? json_string(op->ballpark_step) : json_null());
	json_object_set_new(o, "steps", op->steps_json ? json_string(op->steps_json) : json_null());
	json_object_set_new(o, "grids", grids);
	json_object_set_new(o, "instantiable", json_boolean(instantiable));
	return o;
}

/* A string member of o, copied into *out (NULL for a JSON null when may_be_null); -1
   when it is missing, of another type, or out of memory. */
static int cached_string(const json_t *o, const char *key, int may_be_null, char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (json_is_null(v) && may_be_null)
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = lode__strdup(json_string_value(v));
	return *out ? 0 : -1;
}

/* The candidates of a cache entry into list and flags; -1 (nothing kept) when any of
   them is not as cached_json wrote it. */
static int from_cache(const json_t *arr, lode_op **list, int **flags, int *count)
{
	const size_t n = json_array_size(arr);
	lode_op *l = NULL;
	int *f = NULL;

	if (n == 0 || n > 10000)
		return -1;
	l = calloc(n, sizeof *l);
	f = calloc(n, sizeof *f);
	if (!l || !f)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(arr, i), *grids = json_object_get(o, "grids"),
			     *acc = json_object_get(o, "accuracy");
		lode_op *op = &l[i];
		if (!json_is_object(o) || cached_string(o, "name", 0, &op->name) ||
		    cached_string(o, "code", 1, &op->code) ||
		    cached_string(o, "pipeline", 0, &op->pipeline) ||
		    cached_string(o, "ballpark_step", 1, &op->ballpark_step) ||
		    cached_string(o, "steps", 1, &op->steps_json) || !json_is_number(acc) ||
		    !json_is_boolean(json_object_get(o, "ballpark")) ||
		    !json_is_boolean(json_object_get(o, "instantiable")) || !json_is_array(grids))
			goto bad;
		op->accuracy = json_number_value(acc);
		op->ballpark = json_is_true(json_object_get(o, "ballpark"));
		f[i] = json_is_true(json_object_get(o, "instantiable")) ? CAND_INSTANTIABLE : 0;
		if (json_array_size(grids) > 0) {
			if (!(op->grids = calloc(json_array_size(grids), sizeof *op->grids)))
				goto bad;
			for (size_t g = 0; g < json_array_size(grids); g++) {
				const json_t *v = json_array_get(grids, g);
				if (!json_is_string(v) ||
				    !(op->grids[op->ngrids] = lode__strdup(json_string_value(v))))
					goto bad;
				op->ngrids++;
			}
		}
	}
	*list = l;
	*flags = f;
	*count = (int)n;
	return 0;
bad:
	free_candidates(l, f, (int)n);
	return -1;
}

/*
 * PROJ's candidate operations from src to dst over aoi (NULL: anywhere), best first,
 * described (*list, *flags, *count; free_candidates frees them): from the cache of
 * earlier searches when it has them (not with an operation: code, whose match needs
 * PROJ's objects), else searched for and then cached.
 */
static lode_status find_candidates(PJ_CONTEXT *ctx, PJ *src, PJ *dst, const char *src_wkt,
				   const char *dst_wkt, const double *aoi, const char *explicit_op,
				   lode_op **list, int **flags, int *count, lode_error *err)
{
	lode__op_cache cache = {-1, ""};
	PJ_OPERATION_FACTORY_CONTEXT *fac = NULL;
	PJ_OBJ_LIST *ops = NULL;
	registry reg = {0};
	json_t *cached = NULL, *store = NULL;
	lode_status rc = LODE_OK;
	int n, k = 0;

	*list = NULL;
	*flags = NULL;
	*count = 0;
	if (!explicit_op && lode__op_cache_open(&cache, ctx, src_wkt, dst_wkt, aoi))
		cached = lode__op_cache_get(&cache);
	if (cached && from_cache(cached, list, flags, count) == 0)
		goto out;
	fac = proj_create_operation_factory_context(ctx, NULL);
	if (!fac) {
		rc = lode__err(err, LODE_EINTERNAL, "PROJ: cannot create an operation factory");
		goto out;
	}
	proj_operation_factory_context_set_spatial_criterion(ctx, fac,
							     PROJ_SPATIAL_CRITERION_PARTIAL_INTERSECTION);
	proj_operation_factory_context_set_grid_availability_use(ctx, fac,
								 PROJ_GRID_AVAILABILITY_USED_FOR_SORTING);
	if (aoi)
		proj_operation_factory_context_set_area_of_interest(ctx, fac, aoi[0], aoi[1], aoi[2], aoi[3]);
	reg.src = src;
	reg.dst = dst;
	reg.fac = fac;
	ops = proj_create_operations(ctx, src, dst, fac);
	n = ops ? proj_list_get_count(ops) : 0;
	if (n == 0) {
		rc = lode__err(err, LODE_EPOLICY,
			       "PROJ knows no coordinate operation from the source CRS to the target CRS");
		goto out;
	}
	*list = calloc((size_t)n, sizeof **list);
	*flags = calloc((size_t)n, sizeof **flags);
	store = json_array();
	if (!*list || !*flags || !store) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		PJ *p = proj_list_get(ctx, ops, i);
		int inst;

		if (!p)
			continue;
		inst = proj_coordoperation_is_instantiable(ctx, p);
		if (describe(ctx, p, &reg, &(*list)[k]) != 0) {
			proj_destroy(p);
			k++;
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		(*flags)[k] = (inst ? CAND_INSTANTIABLE : 0) |
			      (explicit_op && op_has_id(ctx, p, &(*list)[k], explicit_op) ? CAND_NAMED : 0);
		json_array_append_new(store, cached_json(&(*list)[k], inst));
		k++;
		proj_destroy(p);
	}
	*count = k;
	lode__op_cache_put(&cache, store);
out:
	if (rc) {
		free_candidates(*list, *flags, k);
		*list = NULL;
		*flags = NULL;
		*count = 0;
	}
	lode__op_cache_close(&cache);
	json_decref(cached);
	json_decref(store);
	registry_free(&reg);
	proj_list_destroy(ops);
	proj_operation_factory_context_destroy(fac);
	return rc;
}

static int looks_like_code(const char *s)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || strchr(s, ' ') || strchr(s, '+'))
		return 0;
	for (const char *p = colon + 1; *p; p++)
		if (!isalnum((unsigned char)*p))
			return 0;
	return colon[1] != '\0';
}

lode_status lode__crs_choose_operation(const char *src_wkt, const char *dst_wkt, const double *aoi,
				       const lode_policy *pol, const char *explicit_op, lode_op *op,
				       lode_error *err)
{
	PJ_CONTEXT *ctx = proj_context_create();
	PJ *src = NULL, *dst = NULL, *given = NULL;
	lode_op *list = NULL;
	int *flags = NULL;
	json_t *cands = json_array();
	char reasons[1536] = "", why[256];
	int n = 0, chosen = -1;
	lode_status rc = LODE_OK;

	memset(op, 0, sizeof *op);
	if (!ctx || !cands) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	proj_log_level(ctx, PJ_LOG_NONE);
	src = proj_create(ctx, src_wkt);
	dst = proj_create(ctx, dst_wkt);
	if (!src || !dst) {
		rc = lode__err(err, LODE_EINTERNAL, "PROJ cannot read the %s CRS: %s",
			       !src ? "source" : "target",
			       proj_context_errno_string(ctx, proj_context_errno(ctx)));
		goto out;
	}

	/* An explicit operation that is not an authority code: a PROJ string or WKT/PROJJSON. */
	if (explicit_op && !looks_like_code(explicit_op)) {
		const char *what;
		given = proj_create(ctx, explicit_op);
		if (!given || proj_is_crs(given)) {
			rc = lode__err(err, LODE_EMANIFEST,
				       "operation '%.200s' is not a coordinate operation PROJ can build (%s)",
				       explicit_op,
				       given ? "it is a CRS"
					     : proj_context_errno_string(ctx, proj_context_errno(ctx)));
			goto out;
		}
		if (describe(ctx, given, NULL, op) != 0) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		/* Apply the string the user gave, byte for byte. */
		free(op->pipeline);
		op->pipeline = lode__strdup(explicit_op);
		op->explicit_op = 1;
		what = refusal(op, proj_coordoperation_is_instantiable(ctx, given), pol, why, sizeof why);
		json_array_append_new(cands, candidate_json(op, 1, what));
		if (what) {
			rc = lode__err(err, LODE_EPOLICY, "the explicit operation '%.200s' %s", explicit_op,
				       what);
			goto out;
		}
		goto done;
	}

	if ((rc = find_candidates(ctx, src, dst, src_wkt, dst_wkt, aoi, explicit_op, &list, &flags, &n, err)))
		goto out;
	for (int i = 0; i < n; i++) {
		lode_op *cand = &list[i];
		const int inst = flags[i] & CAND_INSTANTIABLE;
		const char *what = refusal(cand, inst, pol, why, sizeof why);

		if (explicit_op && !(flags[i] & CAND_NAMED) && !what)
			what = "is not the operation named by the manifest";
		json_array_append_new(cands, candidate_json(cand, inst, what));
		if (!what && chosen < 0) {
			chosen = i;
			*op = *cand;
			memset(cand, 0, sizeof *cand);
			op->explicit_op = explicit_op != NULL;
		} else {
			size_t len = strlen(reasons);
			if (len < sizeof reasons - 2)
				snprintf(reasons + len, sizeof reasons - len, "%s'%s' %s", len ? "; " : "",
					 cand->name, what);
		}
	}
	if (chosen < 0) {
		if (explicit_op)
			rc =
			    lode__err(err, LODE_EPOLICY, "no acceptable operation carries %s; candidates: %s",
				      explicit_op, reasons);
		else
			rc = lode__err(err, LODE_EPOLICY, "every coordinate operation was refused: %s",
				       reasons);
		goto out;
	}
done:
	op->candidates_json = json_dumps(cands, JSON_COMPACT);
	if (!op->candidates_json)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	if (rc)
		lode__op_clear(op);
	json_decref(cands);
	free_candidates(list, flags, n);
	proj_destroy(given);
	proj_destroy(src);
	proj_destroy(dst);
	proj_context_destroy(ctx);
	return rc;
}

/* ---- bounds ---- */

static lode_status transform_box(OGRSpatialReferenceH s, OGRSpatialReferenceH d, const char *pipeline,
				 const double in[4], double out[4], lode_error *err)
{
	OGRCoordinateTransformationOptionsH o = OCTNewCoordinateTransformationOptions();
	OGRCoordinateTransformationH ct = NULL;
	lode__cpl_capture cap;
	lode_status rc = LODE_OK;

	lode__cpl_push(&cap);
	if (pipeline)
		OCTCoordinateTransformationOptionsSetOperation(o, pipeline, FALSE);
	ct = OCTNewCoordinateTransformationEx(s, d, o);
	if (!ct) {
		rc = lode__err(err, LODE_EINTERNAL, "cannot build the coordinate transformation: %s",
			       lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
	if (!OCTTransformBounds(ct, in[0], in[1], in[2], in[3], &out[0], &out[1], &out[2], &out[3], 21) ||
	    !isfinite(out[0]) || !isfinite(out[1]) || !isfinite(out[2]) || !isfinite(out[3])) {
		rc = lode__err(err, LODE_ESOURCE, "the extent cannot be transformed: %s",
			       lode__cpl_msg(&cap, "it falls outside the area where the CRS is defined"));
		goto out;
	}
out:
	if (ct)
		OCTDestroyCoordinateTransformation(ct);
	OCTDestroyCoordinateTransformationOptions(o);
	lode__cpl_pop();
	return rc;
}

int lode__op_is_noop(const char *pipeline)
{
	return pipeline && strcmp(pipeline, "+proj=noop") == 0;
}

lode_status lode__crs_bounds_to_lonlat(const char *wkt, const double in[4], double out[4], lode_error *err)
{
	OGRSpatialReferenceH s = srs_from_wkt(wkt), g = NULL;
	lode_status rc;

	/* A 2D geographic CRS is its own geographic CRS: nothing to transform (and setting
	   up a transformation to itself takes PROJ longer than reading a small layer). */
	if (s && OSRIsGeographic(s) && OSRGetAxesCount(s) == 2) {
		memcpy(out, in, 4 * sizeof *out);
		OSRDestroySpatialReference(s);
		return LODE_OK;
	}
	if (s)
		g = OSRCloneGeogCS(s);
	if (!s || !g) {
		rc = lode__err(err, LODE_EINTERNAL, "cannot derive the geographic CRS");
	} else {
		OSRSetAxisMappingStrategy(g, OAMS_TRADITIONAL_GIS_ORDER);
		rc = transform_box(s, g, NULL, in, out, err);
	}
	if (s)
		OSRDestroySpatialReference(s);
	if (g)
		OSRDestroySpatialReference(g);
	return rc;
}
