/*
 * test_manifest.c -- the manifest parser: a complete manifest is read with every key
 * and default; every kind of mistake is refused with FILE:LINE:COL and the key.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest.h"

static char dir[] = "/tmp/lode-unit-XXXXXX";

static const char *write_manifest(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char *good = "bundle:\n"
			  "  title: Aeromagnetic compilation\n"
			  "  license: CC-BY-4.0\n"
			  "target:\n"
			  "  crs: EPSG:4326\n"
			  "  bounds: [101.5, 3.5, 102.5, 4.5]\n"
			  "  resolution: [0.001, 0.002]\n"
			  "policy:\n"
			  "  max_error_m: 20\n"
			  "  allow_ballpark: true\n"
			  "datasets:\n"
			  "  - name: aeromag_tmi\n"
			  "    source: data/aeromag.tif\n"
			  "    resampling: bilinear\n"
			  "    bands: [1, 3]\n"
			  "    nodata: -99999\n"
			  "    assume_crs: EPSG:3375\n"
			  "    operation: EPSG:1158\n"
			  "    resolution: 0.0005\n"
			  "    error_threshold: 0\n"
			  "  - name: dem\n"
			  "    source: /abs/dem.tif\n"
			  "    allow: [network, raw_vrt]\n";

static void reads_every_key(void **state)
{
	lode_manifest *m = NULL;
	lode_error err = {0};
	const char *p = write_manifest("good.yaml", good);

	(void)state;
	assert_int_equal(lode__manifest_load(p, &m, &err), LODE_OK);
	assert_int_equal(m->nmeta, 2);
	assert_string_equal(m->meta[0].key, "title");
	assert_string_equal(m->meta[0].value, "Aeromagnetic compilation");
	assert_string_equal(m->target_crs, "EPSG:4326");
	assert_true(m->bounds[0] == 101.5 && m->bounds[3] == 4.5);
	assert_true(m->xres == 0.001 && m->yres == 0.002);
	assert_true(m->error_threshold == 0.125); /* default, as gdalwarp */
	assert_true(m->max_error_m == 20 && m->allow_ballpark == 1);
	assert_int_equal(m->ndatasets, 2);
	assert_string_equal(m->datasets[0].resampling, "bilinear");
	assert_int_equal(m->datasets[0].nbands, 2);
	assert_int_equal(m->datasets[0].bands[1], 3);
	assert_true(m->datasets[0].has_nodata && m->datasets[0].nodata == -99999);
	assert_string_equal(m->datasets[0].assume_crs, "EPSG:3375");
	assert_string_equal(m->datasets[0].operation, "EPSG:1158");
	assert_true(m->datasets[0].has_resolution && m->datasets[0].xres == 0.0005 &&
		    m->datasets[0].yres == 0.0005);
	assert_true(m->datasets[0].has_error_threshold && m->datasets[0].error_threshold == 0);
	assert_int_equal(m->datasets[0].line, 12);
	/* Relative sources resolve against the manifest's folder, absolute ones stay. */
	assert_non_null(strstr(m->datasets[0].source_path, dir));
	assert_string_equal(m->datasets[1].source_path, "/abs/dem.tif");
	assert_string_equal(m->datasets[1].resampling, "nearest");
	assert_false(m->datasets[1].has_nodata);
	/* allow: by name; the default allows neither. */
	assert_false(m->datasets[0].allow_raw_vrt || m->datasets[0].allow_network);
	assert_true(m->datasets[1].allow_raw_vrt && m->datasets[1].allow_network);
	assert_true(isinf(m->max_error_m) == 0);
	assert_string_equal(m->text, good);
	lode__manifest_free(m);
}

/* Each bad manifest must fail with LODE_EMANIFEST and a message holding `want`. */
static void expect_error(const char *text, const char *want)
{
	lode_manifest *m = NULL;
	lode_error err = {0};
	const char *p = write_manifest("bad.yaml", text);

	assert_int_equal(lode__manifest_load(p, &m, &err), LODE_EMANIFEST);
	assert_null(m);
	if (!strstr(err.message, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
}

#define HEAD "target:\n  crs: EPSG:4326\n  bounds: [0, 0, 1, 1]\n  resolution: 0.1\n"

static void refuses_mistakes(void **state)
{
	(void)state;
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n    colour: red\n",
		     "bad.yaml:8:5: datasets[1].colour: unknown key");
	expect_error(
	    HEAD "datasets:\n  - name: a\n    source: a.tif\n  - name: a\n    source: b.tif\n",
	    "bad.yaml:8:5: datasets[2]: duplicate dataset name 'a' (first used by the dataset at line 6)");
	expect_error("target:\n  crs: EPSG:4326\n  resolution: abc\n",
		     "bad.yaml:3:15: target.resolution: expected a number, got 'abc'");
	expect_error("target:\n  bounds: [0, 0, 1, 1]\n  resolution: 1\ndatasets: []\n",
		     "target: missing key 'crs'");
	expect_error(HEAD "datasets:\n  - source: a.tif\n", "bad.yaml:6:5: datasets[1]: missing key 'name'");
	expect_error(HEAD, "datasets: missing section 'datasets'");
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n    resampling: smooth\n",
		     "bad.yaml:8:17: datasets[1].resampling: unknown resampling 'smooth'");
	expect_error(HEAD "datasets:\n  - name: a/b\n    source: a.tif\n", "is not a valid dataset name");
	expect_error(HEAD "datasets:\n  - name: ..\n    source: a.tif\n", "is not a valid dataset name");
	expect_error("target:\n  crs: EPSG:4326\n  bounds: [1, 0, 0, 1]\n  resolution: 1\n",
		     "target.bounds: xmax must be greater than xmin");
	expect_error("target:\n  crs: EPSG:4326\n  bounds: [0, 0, 1, nan]\n  resolution: 1\n",
		     "is not finite");
	expect_error("target:\n  crs: EPSG:4326\n  bounds: [0, 0, 1, 1]\n  resolution: -1\n",
		     "target.resolution: the resolution must be greater than zero");
	expect_error("target:\n  crs: EPSG:4326\n  bounds: [0, 0, 1, 1]\n  resolution: 1e999\n",
		     "is not finite");
	expect_error("target: [unclosed\n", "bad.yaml:2:1: not valid YAML");
	expect_error("a: &x [1]\nb: *x\n", "anchors (&name) are not allowed");
	expect_error(HEAD "policy:\n  allow_ballpark: maybe\n",
		     "policy.allow_ballpark: expected true or false, got 'maybe'");
	expect_error(HEAD "target:\n  crs: EPSG:4326\n", "bad.yaml:5:1: target: the key is given twice");
	expect_error("", "the manifest is empty");
	expect_error("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]"
		     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
		     "nested more than 32 levels");
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n    bands: [0]\n",
		     "band numbers are whole numbers from 1");
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n    allow: [vsicurl]\n",
		     "bad.yaml:8:13: datasets[1].allow: unknown 'vsicurl' (expected raw_vrt or network)");
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n    allow: network\n",
		     "bad.yaml:8:12: datasets[1].allow: expected a list");
	/* a reference refused, then a valid one: the duplicate check skips the refused one
	   (it compared its missing field name: fuzz_manifest, UBSan's null pointer) */
	expect_error(HEAD "datasets:\n  - name: a\n    source: a.tif\n"
			  "    references: {waje: b, source: sites.site_id}\n",
		     "'b' is not DATASET.FIELD");
}

/* A dataset's policy: and via: are read; the manifest's policy stays the default. */
static void policy_per_dataset(void **state)
{
	lode_manifest *m = NULL;
	lode_error err = {0};
	const char *p = write_manifest("bad.yaml", HEAD "policy:\n  max_error_m: 20\n"
							"datasets:\n  - name: a\n    source: a.tif\n"
							"    via: EPSG:4326\n"
							"    policy: {allow_ballpark: true}\n"
							"  - name: b\n    source: b.tif\n");

	(void)state;
	assert_int_equal(lode__manifest_load(p, &m, &err), LODE_OK);
	assert_true(m->max_error_m == 20 && !m->allow_ballpark);
	assert_string_equal(m->datasets[0].via, "EPSG:4326");
	assert_true(m->datasets[0].policy.has_allow_ballpark && m->datasets[0].policy.allow_ballpark);
	assert_false(m->datasets[0].policy.has_max_error_m);
	assert_int_equal(m->datasets[0].policy.at.line, 11);
	assert_int_equal(m->datasets[0].at_via.line, 10);
	assert_null(m->datasets[1].via);
	assert_false(m->datasets[1].policy.has_allow_ballpark);
	assert_string_equal(m->target_units, "degree");
	lode__manifest_free(m);
}

/* Three mistakes, three lines; a typo's key is not also reported missing. */
static void every_problem_at_once(void **state)
{
	lode_manifest *m = NULL;
	lode_error err = {0};
	const char *p = write_manifest("bad.yaml", "target:\n  crs: '4326'\n  bounds: [0, 0, 1, 1]\n"
						   "  resoltion: 0.1\n"
						   "datasets:\n  - name: a\n    source: a.tif\n"
						   "    resampling: cubik\n");
	int lines = 1;

	(void)state;
	assert_int_equal(lode__manifest_load(p, &m, &err), LODE_EMANIFEST);
	assert_null(m);
	for (const char *c = err.message; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 3);
	assert_int_equal(err.lines, 1);
	assert_non_null(
	    strstr(err.message, "bad.yaml:4:3: target.resoltion: unknown key: did you mean 'resolution'?"));
	assert_non_null(strstr(err.message, "bad.yaml:2:8: target.crs: '4326' is a bare number"));
	assert_non_null(strstr(err.message, "did you mean 'cubic'? [dataset 'a']"));
	assert_null(strstr(err.message, "missing key"));
	assert_string_equal(lode__did_you_mean("alow", (const char *const[]){"allow", "clip", NULL}),
			    "allow");
	assert_null(lode__did_you_mean("colour", (const char *const[]){"allow", "clip", NULL}));
}

static void missing_file(void **state)
{
	lode_manifest *m = NULL;
	lode_error err = {0};

	(void)state;
	assert_int_equal(lode__manifest_load("/nonexistent/m.yaml", &m, &err), LODE_EMANIFEST);
	assert_non_null(strstr(err.message, "/nonexistent/m.yaml"));
	assert_non_null(strstr(err.message, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_every_key),    cmocka_unit_test(refuses_mistakes),
	    cmocka_unit_test(policy_per_dataset), cmocka_unit_test(every_problem_at_once),
	    cmocka_unit_test(missing_file),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
	unlink(strcat(strcpy((char[600]){0}, dir), "/good.yaml"));
	unlink(strcat(strcpy((char[600]){0}, dir), "/bad.yaml"));
	rmdir(dir);
	return rc;
}
