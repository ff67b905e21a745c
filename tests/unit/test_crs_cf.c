/*
 * test_crs_cf.c -- lode__crs_attrs (formats/crs_cf.c, PROJ alone) against GDAL's OSR,
 * which lode used before and which every bundle written until then carries: for every
 * CRS of PROJ's database, as the WKT2:2019 lode writes (lode__crs_to_wkt) and as WKT1,
 * the same parsed and geographic flags, grid-mapping attributes (names, order, values
 * bit for bit) and coordinate names and units.  The reference below is lode's former
 * code, asking OSR.  And what only WKT may do: a path or URL is not read.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "bundle.h"
#include "crs_proj.h"
#include "util.h"

/* ---- the reference: lode's lode__crs_attrs until crs_cf.c, with OSR ---- */

static const char *ref_udunits(double to_metre, const char *name)
{
	return to_metre == 1.0                               ? "m"
	       : fabs(to_metre - 0.3048006096012192) < 1e-15 ? "US_survey_foot"
	       : to_metre == 0.3048                          ? "ft"
	       : to_metre == 1000.0                          ? "km"
							     : (name ? name : "m");
}

static void ref_num(lode_crs_attrs *a, const char *name, size_t n, double v0, double v1)
{
	if (a->ngm < sizeof a->gm / sizeof a->gm[0])
		a->gm[a->ngm++] = (lode_cf_attr){name, NULL, n, {v0, v1}};
}

static void ref_grid_mapping(lode_crs_attrs *a, OGRSpatialReferenceH s)
{
	OGRErr e;
	double sma = OSRGetSemiMajor(s, &e), invf = OSRGetInvFlattening(s, &e);
	const char *proj = OSRGetAttrValue(s, "PROJECTION", 0);
	static const struct {
		const char *ogr, *cf;
	} names[] = {
	    {SRS_PT_TRANSVERSE_MERCATOR, "transverse_mercator"},
	    {SRS_PT_ALBERS_CONIC_EQUAL_AREA, "albers_conical_equal_area"},
	    {SRS_PT_LAMBERT_CONFORMAL_CONIC_2SP, "lambert_conformal_conic"},
	    {SRS_PT_LAMBERT_AZIMUTHAL_EQUAL_AREA, "lambert_azimuthal_equal_area"},
	    {SRS_PT_MERCATOR_1SP, "mercator"},
	};
	const char *cf = NULL;

	if (OSRIsGeographic(s)) {
		a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", "latitude_longitude", 0, {0, 0}};
	} else if (proj) {
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(proj, names[i].ogr) == 0)
				cf = names[i].cf;
		if (cf) {
			a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", cf, 0, {0, 0}};
			ref_num(a, "false_easting", 1, OSRGetProjParm(s, SRS_PP_FALSE_EASTING, 0, &e), 0);
			ref_num(a, "false_northing", 1, OSRGetProjParm(s, SRS_PP_FALSE_NORTHING, 0, &e), 0);
			ref_num(a, "latitude_of_projection_origin", 1,
				OSRGetProjParm(s, SRS_PP_LATITUDE_OF_ORIGIN, 0, &e), 0);
		}
		if (cf && !strcmp(cf, "transverse_mercator")) {
			ref_num(a, "longitude_of_central_meridian", 1,
				OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
			ref_num(a, "scale_factor_at_central_meridian", 1,
				OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e), 0);
		} else if (cf && (!strcmp(cf, "albers_conical_equal_area") ||
				  !strcmp(cf, "lambert_conformal_conic"))) {
			ref_num(a, "standard_parallel", 2,
				OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_1, 0, &e),
				OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_2, 0, &e));
			ref_num(a, "longitude_of_central_meridian", 1,
				OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
		} else if (cf && !strcmp(cf, "lambert_azimuthal_equal_area")) {
			ref_num(a, "longitude_of_projection_origin", 1,
				OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
		} else if (cf && !strcmp(cf, "mercator")) {
			ref_num(a, "longitude_of_projection_origin", 1,
				OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
			ref_num(a, "scale_factor_at_projection_origin", 1,
				OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e), 0);
		}
	}
	if (OSRIsGeographic(s) || cf) {
		ref_num(a, "semi_major_axis", 1, sma, 0);
		ref_num(a, "inverse_flattening", 1, invf, 0);
		ref_num(a, "longitude_of_prime_meridian", 1, OSRGetPrimeMeridian(s, NULL), 0);
	}
}

/* units: the x units (static, or copied into the caller's buffer) */
static void ref_attrs(const char *crs_wkt, lode_crs_attrs *a, char *units, size_t nunits)
{
	OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
	const char *unit = NULL;
	double f = 1.0;

	memset(a, 0, sizeof *a);
	if (s && crs_wkt && OSRSetFromUserInput(s, crs_wkt) == OGRERR_NONE) {
		a->parsed = 1;
		a->geographic = OSRIsGeographic(s);
		ref_grid_mapping(a, s);
		if (!a->geographic)
			f = OSRGetLinearUnits(s, (char **)&unit);
	}
	snprintf(units, nunits, "%s", a->geographic ? "degrees_east" : ref_udunits(f, unit));
	a->x_standard_name = a->geographic ? "longitude" : "projection_x_coordinate";
	a->y_standard_name = a->geographic ? "latitude" : "projection_y_coordinate";
	if (s)
		OSRDestroySpatialReference(s);
}

/* ---- the comparison ---- */

static int same_double(double x, double y)
{
	return memcmp(&x, &y, sizeof x) == 0 || (isnan(x) && isnan(y));
}

/* Why got differs from want, or NULL. */
static const char *differs(const lode_crs_attrs *got, const lode_crs_attrs *want, const char *want_units)
{
	if (got->parsed != want->parsed)
		return "parsed";
	if (got->geographic != want->geographic)
		return "geographic";
	if (got->ngm != want->ngm)
		return "number of grid-mapping attributes";
	for (size_t i = 0; i < got->ngm; i++) {
		const lode_cf_attr *g = &got->gm[i], *w = &want->gm[i];
		if (strcmp(g->name, w->name) != 0)
			return "grid-mapping attribute name";
		if ((g->text == NULL) != (w->text == NULL) || (g->text && strcmp(g->text, w->text) != 0))
			return g->name;
		if (g->n != w->n || !same_double(g->v[0], w->v[0]) || !same_double(g->v[1], w->v[1]))
			return g->name;
	}
	if (strcmp(got->x_standard_name, want->x_standard_name) ||
	    strcmp(got->y_standard_name, want->y_standard_name))
		return "standard_name";
	if (strcmp(got->x_units, want_units) != 0 ||
	    strcmp(got->y_units, got->geographic ? "degrees_north" : got->x_units) != 0)
		return "units";
	return NULL;
}

/* Compare crs_attrs and the reference for one text; fails naming what and why. */
static int compare_one(const char *what, const char *text)
{
	lode_crs_attrs got, want;
	char units[512];
	const char *why;

	lode__crs_attrs(text, &got);
	ref_attrs(text, &want, units, sizeof units);
	why = differs(&got, &want, units);
	if (why)
		fprintf(stderr, "%s: %s differs from OSR's\n", what, why);
	lode__crs_attrs_free(&got);
	return why == NULL;
}

/* Every CRS of PROJ's database takes 7 minutes (30 ms a CRS, most of it OSR making the
   CRS from the database): make check takes every LODE_TEST_CRS_STRIDEth (default 20, all
   authorities interleaved), LODE_TEST_CRS_STRIDE=1 all of them. */
static void every_crs_of_proj_db(void **state)
{
	PJ_CONTEXT *ctx = proj_context_create();
	const char *env = getenv("LODE_TEST_CRS_STRIDE");
	const int stride = env && atoi(env) > 0 ? atoi(env) : 20;
	int n = 0, wrong = 0, results = 0;
	PROJ_CRS_INFO **list;
	const char *wkt1_opts[] = {"FORMAT=WKT1_GDAL", "MULTILINE=NO", NULL};

	(void)state;
	list = proj_get_crs_info_list_from_database(ctx, NULL, NULL, &results);
	assert_non_null(list);
	assert_true(results > 10000); /* PROJ 9.1's database: EPSG, ESRI, IGNF, IAU, OGC, ... */
	CPLPushErrorHandler(CPLQuietErrorHandler);
	for (int i = 0; i < results; i += stride) {
		char user[256], *wkt = NULL;
		lode_error err = {0};
		OGRSpatialReferenceH s;
		char *w1 = NULL;
		snprintf(user, sizeof user, "%s:%s", list[i]->auth_name, list[i]->code);
		if (lode__crs_to_wkt(user, &wkt, &err) != LODE_OK)
			continue; /* not a CRS lode can carry */
		n++;
		wrong += !compare_one(user, wkt);
		/* and the same CRS as WKT1, which a hostile bundle may hold instead */
		s = OSRNewSpatialReference(NULL);
		if (s && OSRSetFromUserInput(s, wkt) == OGRERR_NONE &&
		    OSRExportToWktEx(s, &w1, wkt1_opts) == OGRERR_NONE && w1 && *w1)
			wrong += !compare_one(user, w1);
		CPLFree(w1);
		if (s)
			OSRDestroySpatialReference(s);
		free(wkt);
	}
	CPLPopErrorHandler();
	proj_crs_info_list_destroy(list);
	proj_context_destroy(ctx);
	fprintf(stderr, "test_crs_cf: %d CRSs of %d (every %dth) compared with OSR, %d differ\n", n, results,
		stride, wrong);
	assert_true(n > 10000 / stride);
	assert_int_equal(wrong, 0);
}

/* The texts the writers never make but a hostile bundle may hold. */
static void only_wkt_is_read(void **state)
{
	char path[] = "/tmp/lode-crs-cf-XXXXXX", *wkt = NULL;
	lode_error err = {0};
	lode_crs_attrs a;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(lode__crs_to_wkt("EPSG:32647", &wkt, &err), LODE_OK);
	lode__crs_attrs(wkt, &a);
	assert_true(a.parsed);
	assert_string_equal(a.gm[0].text, "transverse_mercator");
	lode__crs_attrs_free(&a);
	/* A file holding that WKT: OSRSetFromUserInput would read it; crs_cf.c does not. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(wkt, f);
	fclose(f);
	lode__crs_attrs(path, &a);
	assert_false(a.parsed);
	assert_int_equal(a.ngm, 0);
	assert_string_equal(a.x_units, "m");
	lode__crs_attrs_free(&a);
	unlink(path);
	/* Not WKT: an authority code, a URL, a PROJ string, PROJJSON, empty, NULL */
	const char *others[] = {"EPSG:4326",
				"http://127.0.0.1:9/crs",
				"+proj=longlat +datum=WGS84",
				"{\"type\": \"GeographicCRS\"}",
				"",
				" GEOGCRS[\"x\"]"};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		lode__crs_attrs(others[i], &a);
		assert_false(a.parsed);
		assert_int_equal(a.ngm, 0);
		lode__crs_attrs_free(&a);
	}
	lode__crs_attrs(NULL, &a);
	assert_false(a.parsed);
	/* "ESRI::" before WKT is WKT, as OSR takes it */
	{
		char *esri = malloc(strlen(wkt) + 7);
		assert_non_null(esri);
		sprintf(esri, "ESRI::%s", wkt);
		assert_true(compare_one("ESRI::", esri));
		free(esri);
	}
	free(wkt);
}

/* WKT that OGR_SRSNode cuts short: nesting beyond 10 levels, a token beyond 511
   characters, unbalanced brackets -- the same as OSR, never a crash. */
static void odd_wkt_as_osr(void **state)
{
	char *wkt = NULL, *deep, *longname;
	lode_error err = {0};
	size_t len;

	(void)state;
	CPLPushErrorHandler(CPLQuietErrorHandler); /* OSR's complaints about the cut texts */
	assert_int_equal(lode__crs_to_wkt("EPSG:2232", &wkt, &err), LODE_OK);
	assert_true(compare_one("EPSG:2232", wkt));
	len = strlen(wkt);
	/* a long CRS name */
	longname = malloc(len + 2000);
	assert_non_null(longname);
	snprintf(longname, len + 2000, "PROJCRS[\"%0600d\"%s", 7, strchr(wkt, ','));
	assert_true(compare_one("long name", longname));
	/* cut short at every tenth character */
	deep = malloc(len + 1);
	assert_non_null(deep);
	for (size_t cut = 1; cut < len; cut += 10) {
		memcpy(deep, wkt, cut);
		deep[cut] = '\0';
		assert_true(compare_one("cut", deep));
	}
	free(deep);
	free(longname);
	free(wkt);
	/* CENTER_LONG, which OSR reads from the text itself */
	assert_true(compare_one(
	    "CENTER_LONG",
	    "PROJCS[\"x\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,"
	    "298.257223563]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],"
	    "PROJECTION[\"Lambert_Azimuthal_Equal_Area\"],PARAMETER[\"latitude_of_center\",5],"
	    "PARAMETER[\"longitude_of_center\",100],PARAMETER[\"false_easting\",0],"
	    "PARAMETER[\"false_northing\",0],UNIT[\"metre\",1],EXTENSION[\"CENTER_LONG\",\"1\"]]"));
	CPLPopErrorHandler();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(only_wkt_is_read),
	    cmocka_unit_test(odd_wkt_as_osr),
	    cmocka_unit_test(every_crs_of_proj_db),
	};
	return cmocka_run_group_tests_name("crs_cf", tests, NULL, NULL);
}
