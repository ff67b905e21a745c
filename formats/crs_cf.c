/*
 * crs_cf.c -- the CF attributes lode writes for a CRS (lode__crs_attrs): the grid
 * mapping's name and parameters and the x and y coordinates' names and units, from the
 * CRS's WKT, with PROJ alone.
 *
 * The writers and verify's structure check both call it, so what they compute agrees by
 * construction.  It gives, number for number, what GDAL 3.6's OSR gave for the same WKT
 * (lode computed these with OSRSetFromUserInput, OSRGetProjParm and the like before, and
 * bundles written then must still verify), by taking OSR's steps with the same PROJ
 * calls: the projection and its parameters are read from the WKT1 that PROJ exports for
 * the CRS (OSR's node tree, read as OGR_SRSNode reads it: wkt_read), with OSR's aliases
 * for the centre of a projection; the ellipsoid, prime meridian, linear unit and kind of
 * CRS from PROJ's objects.  tests/unit/test_crs_cf.c compares the result with OSR's for
 * every CRS of PROJ's database.
 *
 * Why not OSR: verify then runs without GDAL (lode-verify starts 50 ms sooner without
 * GDAL's hundred libraries: docs/architecture.md), and OSRSetFromUserInput reads a file
 * or fetches a URL when the text names one, which a hostile bundle's crs_wkt could.  Only
 * WKT is read here (the text must start with a WKT keyword, as OSR requires of WKT);
 * anything else is "not parsed": no grid mapping, projected x and y in metres.
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include <proj.h>
#include <proj_experimental.h> /* proj_crs_demote_to_2D */

#include "bundle.h"
#include "util.h"

/* ---- WKT as GDAL's OGR_SRSNode reads it ---- */

typedef struct wnode {
	char *value;
	struct wnode **kid;
	int n, cap;
} wnode;

static void wnode_free(wnode *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n; i++)
		wnode_free(t->kid[i]);
	free(t->kid);
	free(t->value);
	free(t);
}

static wnode *wnode_new(void)
{
	wnode *t = calloc(1, sizeof *t);

	if (t && !(t->value = lode__strdup(""))) {
		free(t);
		return NULL;
	}
	return t;
}

/*
 * OGR_SRSNode::importFromWkt (GDAL 3.6.2): node t's value is the text up to the next
 * bracket or comma outside quotes, quotes and outside whitespace dropped (at most 511
 * characters); then its children, each read the same way, between [ ] or ( ), separated
 * by commas.  GDAL stops at 10 levels or 1000 nodes; a child is added once it is read
 * whole, so a tree cut short keeps its complete children.  Returns 0, -1 when cut short
 * (or out of memory).
 */
static int wkt_read(wnode *t, const char **in, int level, int *nodes)
{
	const char *p = *in;
	char tok[512];
	size_t len = 0;
	int quoted = 0;

	if (level == 10 || *nodes == 1000)
		return -1;
	for (; *p && len + 1 < sizeof tok; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && (*p == '[' || *p == ']' || *p == ',' || *p == '(' || *p == ')'))
			break;
		else if (!quoted && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			continue;
		else
			tok[len++] = *p;
	}
	if (!*p || len == sizeof tok - 1)
		return -1;
	tok[len] = '\0';
	free(t->value);
	if (!(t->value = lode__strdup(tok)))
		return -1;
	if (*p == '[' || *p == '(') {
		do {
			wnode *k;
			p++; /* the bracket or comma */
			if (!(k = wnode_new()))
				return -1;
			(*nodes)++;
			if (wkt_read(k, &p, level + 1, nodes) < 0) {
				wnode_free(k);
				return -1;
			}
			if (t->n == t->cap) {
				int cap = t->cap ? 2 * t->cap : 8;
				wnode **g = realloc(t->kid, sizeof *g * (size_t)cap);
				if (!g) {
					wnode_free(k);
					return -1;
				}
				t->kid = g;
				t->cap = cap;
			}
			t->kid[t->n++] = k;
			while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
				p++;
		} while (*p == ',');
		if (*p != ')' && *p != ']')
			return -1;
		p++;
	}
	*in = p;
	return 0;
}

/* OGR_SRSNode::GetNode: t itself when named so and not a leaf, else a child so named
   that is not a leaf, else the first found in each child's subtree in turn. */
static const wnode *wnode_find(const wnode *t, const char *name)
{
	if (t->n > 0 && strcasecmp(name, t->value) == 0)
		return t;
	for (int i = 0; i < t->n; i++)
		if (strcasecmp(t->kid[i]->value, name) == 0 && t->kid[i]->n > 0)
			return t->kid[i];
	for (int i = 0; i < t->n; i++) {
		const wnode *f = wnode_find(t->kid[i], name);
		if (f)
			return f;
	}
	return NULL;
}

/* ---- OSR's questions, asked of PROJ ---- */

/* A CRS as OSR holds it: the PROJ object and, once asked for, its node tree. */
typedef struct osr {
	PJ_CONTEXT *ctx;
	PJ *crs;
	wnode *root; /* the WKT1 PROJ exports (OSR's GetRoot); NULL until asked for */
	int wkt2;    /* the tree is WKT2's: PROJ could not export WKT1 */
	int tried;
} osr;

/* OGRSpatialReference::Private::refreshRootFromProjObj. */
static const wnode *osr_root(osr *s)
{
	const char *opts[] = {"OUTPUT_AXIS=YES", "MULTILINE=NO", "STRICT=NO", NULL};
	const char *wkt;
	int nodes = 0;

	if (s->tried)
		return s->root;
	s->tried = 1;
	if (!(wkt = proj_as_wkt(s->ctx, s->crs, PJ_WKT1_GDAL, opts))) {
		wkt = proj_as_wkt(s->ctx, s->crs, PJ_WKT2_2019, opts);
		s->wkt2 = 1;
	}
	if (wkt && (s->root = wnode_new()))
		wkt_read(s->root, &wkt, 0, &nodes); /* GDAL keeps what was read */
	return s->root;
}

/* The base of a BoundCRS, else a new reference to c (demoteFromBoundCRS). */
static PJ *unbound(PJ_CONTEXT *ctx, const PJ *c)
{
	return proj_get_type(c) == PJ_TYPE_BOUND_CRS ? proj_get_source_crs(ctx, c) : proj_clone(ctx, c);
}

/* The type of the horizontal part: c's own, or a compound's first component's (its
   base when bound), as IsGeographic and IsProjected look at them. */
static PJ_TYPE horizontal_type(PJ_CONTEXT *ctx, const PJ *crs)
{
	PJ *c = unbound(ctx, crs), *h;
	PJ_TYPE t;

	if (!c)
		return PJ_TYPE_UNKNOWN;
	t = proj_get_type(c);
	if (t == PJ_TYPE_COMPOUND_CRS) {
		t = PJ_TYPE_UNKNOWN;
		if ((h = proj_crs_get_sub_crs(ctx, c, 0))) {
			PJ *b = proj_get_type(h) == PJ_TYPE_BOUND_CRS ? proj_get_source_crs(ctx, h) : NULL;
			t = proj_get_type(h);
			if (b) {
				t = proj_get_type(b);
				proj_destroy(b);
			}
			proj_destroy(h);
		}
	}
	proj_destroy(c);
	return t;
}

static int is_geographic(const osr *s)
{
	PJ_TYPE t = horizontal_type(s->ctx, s->crs);
	return t == PJ_TYPE_GEOGRAPHIC_2D_CRS || t == PJ_TYPE_GEOGRAPHIC_3D_CRS;
}

/* OGRSpatialReference::GetAxesCount. */
static int axes_count(const osr *s)
{
	PJ *c = unbound(s->ctx, s->crs), *cs;
	int n = 0;

	if (!c)
		return 0;
	if (proj_get_type(c) == PJ_TYPE_COMPOUND_CRS) {
		PJ *sub;
		for (int i = 0; (sub = proj_crs_get_sub_crs(s->ctx, c, i)); i++) {
			if (proj_get_type(sub) == PJ_TYPE_BOUND_CRS) {
				PJ *b = proj_get_source_crs(s->ctx, sub);
				if (b) {
					proj_destroy(sub);
					sub = b;
				}
			}
			if ((cs = proj_crs_get_coordinate_system(s->ctx, sub))) {
				n += proj_cs_get_axis_count(s->ctx, cs);
				proj_destroy(cs);
			}
			proj_destroy(sub);
		}
	} else if ((cs = proj_crs_get_coordinate_system(s->ctx, c))) {
		n = proj_cs_get_axis_count(s->ctx, cs);
		proj_destroy(cs);
	}
	proj_destroy(c);
	return n;
}

/* OGRSpatialReference::FindProjParm: the index of the child PARAMETER[name, value] of
   node p, with OSR's stand-ins for a projection's centre; -1 when none. */
static int find_parm(const wnode *p, const char *name)
{
	int wkt2 = 0;

	for (int i = 0; i < p->n; i++) {
		const wnode *k = p->kid[i];
		if (k->n < 2)
			continue;
		if (strcasecmp(k->value, "PARAMETER") == 0 && strcasecmp(k->kid[0]->value, name) == 0)
			return i;
		if (strcasecmp(k->value, "METHOD") == 0)
			wkt2 = 1;
	}
	if (strcasecmp(name, "latitude_of_origin") == 0) {
		int i;
		if (!wkt2)
			return find_parm(p, "latitude_of_center");
		i = find_parm(p, "Latitude of natural origin");
		return i >= 0 ? i : find_parm(p, "Latitude of projection centre");
	}
	if (strcasecmp(name, "central_meridian") == 0) {
		int i = find_parm(p, wkt2 ? "Longitude of natural origin" : "longitude_of_center");
		return i >= 0 ? i
			      : find_parm(p, wkt2 ? "Longitude of projection centre" : "longitude_of_origin");
	}
	return -1;
}

/* OGRSpatialReference::GetProjParm: the value of parameter name, dflt when the CRS has
   none. A projected 3D CRS is asked again as 2D, as OSR does, once: OSR recurses without
   a bound, which would not end if PROJ's demotion ever gave a 3D CRS back. */
static double proj_parm_once(osr *s, const char *name, double dflt, bool retry_2d)
{
	const wnode *root = osr_root(s),
		    *p = root ? wnode_find(root, s->wkt2 ? "CONVERSION" : "PROJCS") : NULL;
	int i;

	if (!p)
		return dflt;
	if ((i = find_parm(p, name)) >= 0)
		return strtod(p->kid[i]->kid[1]->value, NULL); /* CPLAtof */
	if (retry_2d && horizontal_type(s->ctx, s->crs) == PJ_TYPE_PROJECTED_CRS && axes_count(s) == 3) {
		osr flat = {.ctx = s->ctx, .crs = proj_crs_demote_to_2D(s->ctx, NULL, s->crs)};
		double v = dflt;
		if (flat.crs) {
			v = proj_parm_once(&flat, name, dflt, false);
			proj_destroy(flat.crs);
			wnode_free(flat.root);
		}
		return v;
	}
	return dflt;
}

static double proj_parm(osr *s, const char *name, double dflt)
{
	return proj_parm_once(s, name, dflt, true);
}

/* OGRSpatialReference::GetAttrValue("PROJECTION", 0). */
static const char *projection(osr *s)
{
	const wnode *root = osr_root(s), *p = root ? wnode_find(root, "PROJECTION") : NULL;

	return p && p->n > 0 ? p->kid[0]->value : NULL;
}

/* GetSemiMajor (which = 0) and GetInvFlattening (1), WGS 84's when PROJ has none. */
static double ellipsoid(const osr *s, int which)
{
	PJ *e = proj_get_ellipsoid(s->ctx, s->crs);
	double a = 0.0, invf = -1.0;

	if (e) {
		proj_ellipsoid_get_parameters(s->ctx, e, &a, NULL, NULL, &invf);
		proj_destroy(e);
	}
	if (which == 0)
		return a > 0 ? a : 6378137.0;
	return invf >= 0.0 ? invf : 298.257223563;
}

/* GetPrimeMeridian: degrees east of Greenwich. */
static double prime_meridian(const osr *s)
{
	PJ *pm = proj_get_prime_meridian(s->ctx, s->crs);
	double lon = 0.0, conv = 0.0;

	if (!pm)
		return 0.0;
	proj_prime_meridian_get_parameters(s->ctx, pm, &lon, &conv, NULL);
	proj_destroy(pm);
	return lon * conv / strtod("0.0174532925199433", NULL); /* SRS_UA_DEGREE_CONV */
}

/* GetLinearUnits: metres per unit, and in *name a copy of the unit's name (NULL when
   PROJ gives none, OSR's "unknown" with 1, or when out of memory). */
static double linear_units(const osr *s, char **name)
{
	PJ *c = unbound(s->ctx, s->crs), *cs = NULL;
	const char *unit = NULL;
	double f = 0.0;
	int axis = 0, type;

	*name = NULL;
	if (!c)
		return 1.0;
	if (proj_get_type(c) == PJ_TYPE_COMPOUND_CRS) {
		for (int i = 0; i < 2 && !cs; i++) {
			PJ *sub = proj_crs_get_sub_crs(s->ctx, c, i);
			if (sub && proj_get_type(sub) == PJ_TYPE_BOUND_CRS) {
				PJ *b = proj_get_source_crs(s->ctx, sub);
				proj_destroy(sub);
				sub = b;
			}
			if (sub && (proj_get_type(sub) == PJ_TYPE_PROJECTED_CRS ||
				    proj_get_type(sub) == PJ_TYPE_ENGINEERING_CRS ||
				    proj_get_type(sub) == PJ_TYPE_VERTICAL_CRS))
				cs = proj_crs_get_coordinate_system(s->ctx, sub);
			proj_destroy(sub);
		}
	} else {
		cs = proj_crs_get_coordinate_system(s->ctx, c);
	}
	proj_destroy(c);
	if (!cs)
		return 1.0;
	type = proj_cs_get_type(s->ctx, cs);
	if (type == PJ_CS_TYPE_ELLIPSOIDAL || type == PJ_CS_TYPE_SPHERICAL)
		axis = proj_cs_get_axis_count(s->ctx, cs) == 3 ? 2 : -1;
	else if (type != PJ_CS_TYPE_CARTESIAN && type != PJ_CS_TYPE_VERTICAL)
		axis = -1;
	if (axis < 0 || !proj_cs_get_axis_info(s->ctx, cs, axis, NULL, NULL, NULL, &f, &unit, NULL, NULL)) {
		proj_destroy(cs);
		return 1.0;
	}
	*name = lode__strdup(unit ? unit : "");
	proj_destroy(cs);
	return f;
}

/* ---- what lode writes ---- */

/* UDUNITS names for the linear units CRSs use; anything else is named as the CRS
   names it, and the factor to metres is in crs_wkt. */
static const char *udunits(double to_metre, const char *name)
{
	return to_metre == 1.0                               ? "m"
	       : fabs(to_metre - 0.3048006096012192) < 1e-15 ? "US_survey_foot"
	       : to_metre == 0.3048                          ? "ft"
	       : to_metre == 1000.0                          ? "km"
							     : name;
}

/* Append a number attribute to the grid mapping a. */
static void gm_num(lode_crs_attrs *a, const char *name, size_t n, double v0, double v1)
{
	if (a->ngm < sizeof a->gm / sizeof a->gm[0])
		a->gm[a->ngm++] = (lode_cf_attr){name, NULL, n, {v0, v1}};
}

/* The CF grid-mapping attributes of s, in the order lode writes them: for the projections
   CF defines, and geographic CRSs. */
static void cf_grid_mapping(lode_crs_attrs *a, osr *s)
{
	const double sma = ellipsoid(s, 0), invf = ellipsoid(s, 1);
	const char *proj = projection(s);
	static const struct {
		const char *wkt1, *cf;
	} names[] = {
	    {"Transverse_Mercator", "transverse_mercator"},
	    {"Albers_Conic_Equal_Area", "albers_conical_equal_area"},
	    {"Lambert_Conformal_Conic_2SP", "lambert_conformal_conic"},
	    {"Lambert_Azimuthal_Equal_Area", "lambert_azimuthal_equal_area"},
	    {"Mercator_1SP", "mercator"},
	};
	const char *cf = NULL;

	if (a->geographic) {
		a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", "latitude_longitude", 0, {0, 0}};
	} else if (proj) {
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(proj, names[i].wkt1) == 0)
				cf = names[i].cf;
		if (cf) {
			a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", cf, 0, {0, 0}};
			gm_num(a, "false_easting", 1, proj_parm(s, "false_easting", 0), 0);
			gm_num(a, "false_northing", 1, proj_parm(s, "false_northing", 0), 0);
			gm_num(a, "latitude_of_projection_origin", 1, proj_parm(s, "latitude_of_origin", 0),
			       0);
		}
		if (cf && !strcmp(cf, "transverse_mercator")) {
			gm_num(a, "longitude_of_central_meridian", 1, proj_parm(s, "central_meridian", 0), 0);
			gm_num(a, "scale_factor_at_central_meridian", 1, proj_parm(s, "scale_factor", 1), 0);
		} else if (cf && (!strcmp(cf, "albers_conical_equal_area") ||
				  !strcmp(cf, "lambert_conformal_conic"))) {
			gm_num(a, "standard_parallel", 2, proj_parm(s, "standard_parallel_1", 0),
			       proj_parm(s, "standard_parallel_2", 0));
			gm_num(a, "longitude_of_central_meridian", 1, proj_parm(s, "central_meridian", 0), 0);
		} else if (cf && !strcmp(cf, "lambert_azimuthal_equal_area")) {
			gm_num(a, "longitude_of_projection_origin", 1, proj_parm(s, "central_meridian", 0),
			       0);
		} else if (cf && !strcmp(cf, "mercator")) {
			gm_num(a, "longitude_of_projection_origin", 1, proj_parm(s, "central_meridian", 0),
			       0);
			gm_num(a, "scale_factor_at_projection_origin", 1, proj_parm(s, "scale_factor", 1), 0);
		}
	}
	if (a->geographic || cf) {
		gm_num(a, "semi_major_axis", 1, sma, 0);
		gm_num(a, "inverse_flattening", 1, invf, 0);
		gm_num(a, "longitude_of_prime_meridian", 1, prime_meridian(s), 0);
	}
}

/* OSRSetFromUserInput's WKT: the keywords it takes WKT by (after an optional "ESRI::"),
   then OGRSpatialReference::importFromWkt (at most 100 000 characters, PROJ's
   proj_create_from_wkt with STRICT=NO, a CRS).  Returns the CRS or NULL. */
static PJ *from_wkt(PJ_CONTEXT *ctx, const char *wkt)
{
	static const char *const keywords[] = {
	    "GEOGCS",   "GEOCCS",         "PROJCS",   "VERT_CS",       "COMPD_CS",
	    "LOCAL_CS", "GEODCRS",        "GEOGCRS",  "GEODETICCRS",   "GEOGRAPHICCRS",
	    "PROJCRS",  "PROJECTEDCRS",   "VERTCRS",  "VERTICALCRS",   "COMPOUNDCRS",
	    "ENGCRS",   "ENGINEERINGCRS", "BOUNDCRS", "DERIVEDPROJCRS"};
	const char *opts[] = {"STRICT=NO", NULL};
	PROJ_STRING_LIST warnings = NULL, errors = NULL;
	int wkt_like = 0;
	PJ *p;

	if (strncasecmp(wkt, "ESRI::", 6) == 0)
		wkt += 6;
	for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
		wkt_like |= strncasecmp(wkt, keywords[i], strlen(keywords[i])) == 0;
	if (!wkt_like || strlen(wkt) > 100 * 1000)
		return NULL;
	p = proj_create_from_wkt(ctx, wkt, opts, &warnings, &errors);
	proj_string_list_destroy(warnings);
	proj_string_list_destroy(errors);
	if (p && !proj_is_crs(p)) {
		proj_destroy(p);
		p = NULL;
	}
	return p;
}

/* PROJ's messages (its "cannot find proj.db" above all) go nowhere: the caller sees a
   CRS that is not parsed. */
static void quiet(void *user, int level, const char *msg)
{
	(void)user;
	(void)level;
	(void)msg;
}

/*
 * Whether every unit the WKT names is a degree, a metre or unity.  PROJ then gives the
 * same numbers without its database as with it (OSR's way), for every CRS of the
 * database (test_crs_cf.c); opening and searching the database took 25 ms of a 90 ms
 * verify.  With another unit a parameter may be converted between units, and the
 * database's exact factor for a unit (a grad: pi/200) differs in the last digit from
 * the factor the WKT prints: those CRSs are read with the database, as OSR reads them.
 */
static int plain_units(const char *wkt)
{
	static const char *const plain[] = {"\"degree\"", "\"metre\"", "\"unity\""};

	for (const char *p = wkt; (p = strcasestr(p, "UNIT")); p += 4) {
		const char *name = p + 4;
		int ok = 0;
		if (*name != '[' && *name != '(')
			continue; /* a keyword's part, or text */
		name++;
		for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
			ok |= strncmp(name, plain[i], strlen(plain[i])) == 0;
		if (!ok)
			return 0;
	}
	return 1;
}

/* Two PROJ contexts for the process, made on first use and kept (a new context opens
   PROJ's database again: 10-15 ms a call): one that finds no database, one that does;
   used under the lock (a context serves one thread at a time). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static PJ_CONTEXT *contexts[2];

static PJ_CONTEXT *context(int with_db)
{
	PJ_CONTEXT **c = &contexts[with_db];

	if (!*c && (*c = proj_context_create())) {
		const char *nowhere[] = {"/dev/null"}; /* not a folder: no proj.db found */
		proj_log_func(*c, NULL, quiet);
		if (!with_db)
			proj_context_set_search_paths(*c, 1, nowhere);
	}
	return *c;
}

void lode__crs_attrs(const char *crs_wkt, lode_crs_attrs *a)
{
	osr s = {0};
	char *unit = NULL;
	double f = 1.0;

	memset(a, 0, sizeof *a);
	pthread_mutex_lock(&lock);
	if (crs_wkt && (s.ctx = context(!plain_units(crs_wkt))))
		s.crs = from_wkt(s.ctx, crs_wkt);
	if (s.crs) {
		a->parsed = 1;
		a->geographic = is_geographic(&s);
		if (strstr(crs_wkt, "CENTER_LONG")) { /* importFromWkt: OSR's tree is the text's own */
			int nodes = 0;
			const char *w = crs_wkt;
			s.tried = 1;
			if ((s.root = wnode_new()))
				wkt_read(s.root, &w, 0, &nodes);
		}
		cf_grid_mapping(a, &s);
		if (!a->geographic)
			f = linear_units(&s, &unit);
	}
	if (a->geographic) {
		a->x_standard_name = a->x_long_name = "longitude";
		a->y_standard_name = a->y_long_name = "latitude";
		a->x_units = "degrees_east";
		a->y_units = "degrees_north";
	} else {
		const char *ud = udunits(f, unit);
		a->x_standard_name = "projection_x_coordinate";
		a->y_standard_name = "projection_y_coordinate";
		a->x_long_name = "x coordinate of projection";
		a->y_long_name = "y coordinate of projection";
		if (ud && ud == unit) { /* the CRS's own unit name, which has no UDUNITS name */
			a->own_unit = unit;
			unit = NULL;
		}
		a->x_units = a->y_units = a->own_unit ? a->own_unit : ud ? ud : "m";
	}
	free(unit);
	wnode_free(s.root);
	proj_destroy(s.crs);
	pthread_mutex_unlock(&lock);
}

void lode__crs_attrs_free(lode_crs_attrs *a)
{
	free(a->own_unit);
	a->own_unit = NULL;
}
