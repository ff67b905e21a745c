/*
 * test_strict.c -- the pieces of the strict check that stand alone: printing untrusted
 * text (escaped, cut), the manifest's bundle: keys, and what lode writes for a CRS
 * (lode__crs_attrs), against the EPSG parameters of each CRS as `projinfo` lists them.
 * The whole check runs end to end in tests/e2e/test_strict.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"
#include "crs_proj.h"
#include "manifest.h"
#include "util.h"

static void printable_escapes_and_cuts(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(lode__printable(out, sizeof out, "dem_kertau"), "dem_kertau");
	assert_string_equal(lode__printable(out, sizeof out, "a\nb\x1b[31m\x7f"), "a\\x0ab\\x1b[31m\\x7f");
	assert_string_equal(lode__printable(out, sizeof out, NULL), "(null)");
	/* Cut to fit with "...", never splitting an escape. */
	lode__printable(out, sizeof out, "0123456789012345678901234567890123456789");
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_string_equal(out + strlen(out) - 3, "...");
	lode__printable(out, 16, "abcdefghij\n\n\n\n");
	assert_true(strlen(out) < 16);
	assert_string_equal(out + strlen(out) - 3, "...");
	assert_null(strstr(out, "\n"));
	assert_true(lode__has_control("a\tb"));
	assert_true(lode__has_control("\x7f"));
	assert_false(lode__has_control("é UTF-8 and spaces"));
	assert_false(lode__has_control(""));
}

static void bundle_keys(void **state)
{
	(void)state;
	assert_true(lode__acdd_key_ok("title"));
	assert_true(lode__acdd_key_ok("standard_name_vocabulary"));
	assert_false(lode__acdd_key_ok("Conventions"));
	assert_false(lode__acdd_key_ok("title_override"));
	assert_false(lode__acdd_key_ok("lode_manifest"));
}

/* The numbers attribute name of a, or NaN. */
static double gm(const lode_crs_attrs *a, const char *name, int k)
{
	for (size_t i = 0; i < a->ngm; i++)
		if (!strcmp(a->gm[i].name, name))
			return a->gm[i].v[k];
	return 0.0 / 0.0;
}

static const char *gm_text(const lode_crs_attrs *a)
{
	return a->ngm && a->gm[0].text ? a->gm[0].text : "";
}

static void crs_attributes(void **state)
{
	lode_crs_attrs a;
	char *wkt = NULL;
	lode_error err = {0};

	(void)state;
	assert_int_equal(lode__crs_to_wkt("EPSG:4326", &wkt, &err), LODE_OK);
	lode__crs_attrs(wkt, &a);
	free(wkt);
	assert_true(a.parsed && a.geographic);
	assert_string_equal(gm_text(&a), "latitude_longitude");
	assert_true(gm(&a, "semi_major_axis", 0) == 6378137.0);
	assert_true(gm(&a, "inverse_flattening", 0) == 298.257223563);
	assert_string_equal(a.x_units, "degrees_east");
	assert_string_equal(a.y_standard_name, "latitude");
	lode__crs_attrs_free(&a);

	assert_int_equal(lode__crs_to_wkt("EPSG:32647", &wkt, &err), LODE_OK);
	lode__crs_attrs(wkt, &a);
	free(wkt); /* WGS 84 / UTM 47N */
	assert_string_equal(gm_text(&a), "transverse_mercator");
	assert_true(gm(&a, "longitude_of_central_meridian", 0) == 99.0);
	assert_true(gm(&a, "scale_factor_at_central_meridian", 0) == 0.9996);
	assert_true(gm(&a, "false_easting", 0) == 500000.0);
	assert_string_equal(a.x_units, "m");
	assert_string_equal(a.x_long_name, "x coordinate of projection");
	lode__crs_attrs_free(&a);

	assert_int_equal(lode__crs_to_wkt("EPSG:2232", &wkt, &err), LODE_OK);
	lode__crs_attrs(wkt, &a);
	free(wkt); /* NAD83 / Colorado Central (ftUS): LCC 2SP */
	assert_string_equal(gm_text(&a), "lambert_conformal_conic");
	assert_true(gm(&a, "standard_parallel", 0) == 39.75 && gm(&a, "standard_parallel", 1) == 38.45);
	assert_string_equal(a.y_units, "US_survey_foot");
	lode__crs_attrs_free(&a);

	assert_int_equal(lode__crs_to_wkt("EPSG:3375", &wkt, &err), LODE_OK);
	lode__crs_attrs(wkt, &a);
	free(wkt); /* Hotine Oblique Mercator: no CF grid mapping */
	assert_int_equal(a.ngm, 0);
	assert_false(a.geographic);
	assert_string_equal(a.x_standard_name, "projection_x_coordinate");
	lode__crs_attrs_free(&a);

	lode__crs_attrs("not a CRS", &a); /* what the writers do for a CRS PROJ cannot parse */
	assert_false(a.parsed);
	assert_int_equal(a.ngm, 0);
	assert_string_equal(a.x_units, "m");
	lode__crs_attrs_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(printable_escapes_and_cuts),
	    cmocka_unit_test(bundle_keys),
	    cmocka_unit_test(crs_attributes),
	};
	return cmocka_run_group_tests_name("strict", tests, NULL, NULL);
}
