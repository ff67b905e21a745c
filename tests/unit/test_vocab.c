/*
 * test_vocab.c -- the vocabulary module (formats/vocab.c): the shipped CGI commodity
 * vocabulary matched by English label, Malay label and code, case-, accent- and
 * white-space-insensitively; the ambiguous Malay label "kalium" refused with both
 * concepts; a user's map (value,uri) with a byte-order mark and quoting; bad files
 * refused with FILE:LINE.  Expected URIs are looked up in the CSV file itself by its
 * code column (a plain line scan here, not the module under test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vocab.h"

#define COMMODITY LODE_SOURCE_VOCAB_DIR "/CommodityCode.csv"

static char dir[] = "/tmp/lode-unit-vocab-XXXXXX";

/* The uri of the row whose second column is code, read straight from the file. */
static const char *uri_of_code(const char *code)
{
	static char uri[4][1024];
	static int slot;
	char line[1024], want[64];
	FILE *f = fopen(COMMODITY, "r");
	char *u = uri[slot++ % 4];

	assert_non_null(f);
	snprintf(want, sizeof want, ",%s,", code);
	u[0] = 0;
	while (fgets(line, sizeof line, f)) {
		char *c = strstr(line, want);

		if (c && !strchr(line, '"') && strchr(line, ',') == c) {
			*c = 0;
			snprintf(u, 1024, "%s", line);
			break;
		}
	}
	fclose(f);
	assert_true(u[0] != 0);
	return u;
}

static lode__vocab *commodity(void)
{
	lode__vocab *v = NULL;
	lode_error err = {0};

	assert_int_equal(lode__vocab_load(COMMODITY, &v, &err), LODE_OK);
	return v;
}

static void expect(const lode__vocab *v, const char *value, const char *code)
{
	const char *uri = NULL;

	assert_int_equal(lode__vocab_match(v, value, &uri, NULL), LODE__VOCAB_ONE);
	assert_string_equal(uri, uri_of_code(code));
}

static void cgi_commodities(void **state)
{
	lode__vocab *v = commodity();

	(void)state;
	assert_int_equal(lode__vocab_concepts(v), 308);
	assert_int_equal(strlen(lode__vocab_sha256(v)), 64);
	expect(v, "tin", "Sn");       /* English label */
	expect(v, "Tin", "Sn");       /* case */
	expect(v, "timah", "Sn");     /* Malay label */
	expect(v, "emas", "Au");      /* JMG's Malay label for gold */
	expect(v, "Bauksit", "Baux"); /* and for bauxite */
	expect(v, "Batu Arang", "Coal");
	expect(v, "AU", "Au"); /* MRDS upper-case codes */
	expect(v, "W", "W");
	expect(v, "Niobium", "Nb");
	expect(v, "  rare \t earth   element ", "REE"); /* white space */
	expect(v, "Bauks\xc3\xadt", "Baux");            /* accent: i acute */
	expect(v, "BAUKSI\xcc\x81T", "Baux");           /* combining acute after I */
	expect(v, "tembaga", "Cu");                     /* Malay prefLabel ... */
	expect(v, "kuprum", "Cu");                      /* ... and altLabel */
	expect(v, "Sardonyx", "Agt");                   /* English altLabel */
	expect(v, "kaolinite", "Kaol");
	assert_string_equal(lode__vocab_label(v, uri_of_code("Au")), "gold");
	lode__vocab_free(v);
}

static void ambiguous_and_unknown(void **state)
{
	lode__vocab *v = commodity();
	const char *a = NULL, *b = NULL;

	(void)state;
	/* kalium is the Malay label of both potash and potassium. */
	assert_int_equal(lode__vocab_match(v, "Kalium", &a, &b), LODE__VOCAB_AMBIGUOUS);
	assert_non_null(strstr(a, "/potas"));
	assert_non_null(strstr(b, "/potas"));
	assert_string_not_equal(a, b);
	/* china clay: an English altLabel of kaolin and of white-firing clay. */
	assert_int_equal(lode__vocab_match(v, "China Clay", &a, &b), LODE__VOCAB_AMBIGUOUS);
	assert_non_null(strstr(a, "clay") ? a : strstr(b, "clay"));
	assert_int_equal(lode__vocab_match(v, "unobtainium", &a, &b), LODE__VOCAB_NONE);
	assert_null(a);
	assert_int_equal(lode__vocab_match(v, "   ", &a, NULL), LODE__VOCAB_NONE);
	assert_int_equal(lode__vocab_match(v, "tin\xff", &a, NULL), LODE__VOCAB_NONE);
	assert_int_equal(lode__vocab_match(v, "tin ore", &a, NULL), LODE__VOCAB_NONE);
	lode__vocab_free(v);
}

static const char *write_file(const char *name, const char *text)
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

static void user_map(void **state)
{
	lode__vocab *v = NULL;
	lode_error err = {0};
	const char *uri = NULL;
	const char *p = write_file(
	    "map.csv",
	    "\xef\xbb\xbfvalue,uri,note\n"
	    "tin_ore,http://resource.geosciml.org/classifier/cgi/commodity-code/tin,\"JMG, tin\"\n"
	    "monazite,http://resource.geosciml.org/classifier/cgi/commodity-code/rare-earth-element,\n"
	    "\n"
	    "\"Niobium, Tantalum\",http://example.org/nbta,x\n");

	(void)state;
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_OK);
	assert_int_equal(lode__vocab_concepts(v), 3);
	assert_int_equal(lode__vocab_match(v, "TIN_ORE", &uri, NULL), LODE__VOCAB_ONE);
	assert_string_equal(uri, uri_of_code("Sn"));
	assert_int_equal(lode__vocab_match(v, "Monazite", &uri, NULL), LODE__VOCAB_ONE);
	assert_string_equal(uri, uri_of_code("REE"));
	assert_int_equal(lode__vocab_match(v, "niobium, tantalum", &uri, NULL), LODE__VOCAB_ONE);
	assert_int_equal(lode__vocab_match(v, "tin", &uri, NULL), LODE__VOCAB_NONE);
	assert_string_equal(lode__vocab_label(v, "http://example.org/nbta"), "Niobium, Tantalum");
	lode__vocab_free(v);
}

static void translation_table(void **state)
{
	lode__vocab *v = NULL;
	lode_error err = {0};
	const char *text = NULL;
	const char *p = write_file("tr.csv", "value,text\ngold,Emas\ntin_ore,Tin Ore\n");

	(void)state;
	assert_int_equal(lode__vocab_load_col(p, "text", &v, &err), LODE_OK);
	assert_int_equal(lode__vocab_match(v, "GOLD", &text, NULL), LODE__VOCAB_ONE);
	assert_string_equal(text, "Emas");
	assert_int_equal(lode__vocab_match(v, "tin_ore", &text, NULL), LODE__VOCAB_ONE);
	assert_string_equal(text, "Tin Ore");
	lode__vocab_free(v);
	/* The same file is no vocabulary: it has no uri column. */
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_ESOURCE);
	assert_non_null(strstr(err.message, "tr.csv:1: the header has no column `uri`"));
}

static void builtin_paths(void **state)
{
	char *p = lode__vocab_builtin("MineStatus");

	(void)state;
	assert_non_null(p);
	assert_non_null(strstr(p, "/MineStatus.csv"));
	assert_int_equal(access(p, R_OK), 0);
	free(p);
	assert_null(lode__vocab_builtin("Nonsense"));
	assert_null(lode__vocab_builtin("../CommodityCode"));
}

/* One value -> several concepts, said explicitly with '|' in the uri column (spaces
   around it dropped); no '|' appears in lode's CGI copies (they stay one URI a key). */
static void several_uris(void **state)
{
	lode__vocab *v = NULL, *cgi = NULL;
	lode_error err = {0};
	const char *uri = NULL;
	char want[2100], row[2200];
	const char *p;

	snprintf(want, sizeof want, "%s|%s", uri_of_code("Nb"), uri_of_code("Ta"));
	snprintf(row, sizeof row, "value,uri\nstruverite, %s | %s \n", uri_of_code("Nb"), uri_of_code("Ta"));
	p = write_file("multi.csv", row);

	(void)state;
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_OK);
	assert_int_equal(lode__vocab_concepts(v), 1);
	assert_int_equal(lode__vocab_match(v, "Struverite", &uri, NULL), LODE__VOCAB_ONE);
	assert_string_equal(uri, want);
	lode__vocab_free(v);
	p = write_file("multi_bad.csv", "value,uri\nx,http://x/a||http://x/b\n");
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_ESOURCE);
	assert_non_null(strstr(err.message, "multi_bad.csv:2: an empty uri between '|'"));
	assert_int_equal(lode__vocab_load(COMMODITY, &cgi, &err), LODE_OK);
	assert_int_equal(lode__vocab_match(cgi, "Nb", &uri, NULL), LODE__VOCAB_ONE);
	assert_null(strchr(uri, '|'));
	lode__vocab_free(cgi);
}

static void bad_files(void **state)
{
	lode__vocab *v = NULL;
	lode_error err = {0};
	const char *p;

	(void)state;
	p = write_file("nouri.csv", "value,concept\ntin,x\n");
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_ESOURCE);
	assert_null(v);
	assert_non_null(strstr(err.message, "nouri.csv:1:"));
	assert_non_null(strstr(err.message, "uri"));
	p = write_file("empty.csv", "value,uri\ntin,http://x/tin\ngold,\n");
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_ESOURCE);
	assert_non_null(strstr(err.message, "empty.csv:3: a row without a uri"));
	p = write_file("utf.csv", "value,uri\nti\xffn,http://x/tin\n");
	assert_int_equal(lode__vocab_load(p, &v, &err), LODE_ESOURCE);
	assert_non_null(strstr(err.message, "utf.csv:2:"));
	assert_int_not_equal(lode__vocab_load("/nonexistent/v.csv", &v, &err), LODE_OK);
	assert_non_null(strstr(err.message, "/nonexistent/v.csv"));
}

static void norm_rule(void **state)
{
	char *s;

	(void)state;
	s = lode__vocab_norm("  Stra\xc3\x9f"
			     "e \t Caf\xc3\xa9  ");
	assert_string_equal(s, "strasse cafe"); /* full case folding, accents off, spaces */
	free(s);
	s = lode__vocab_norm("\xef\xac\x81"
			     "ne"); /* the ligature fi (NFKD) */
	assert_string_equal(s, "fine");
	free(s);
	assert_null(lode__vocab_norm("a\xc3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cgi_commodities), cmocka_unit_test(ambiguous_and_unknown),
	    cmocka_unit_test(user_map),        cmocka_unit_test(bad_files),
	    cmocka_unit_test(norm_rule),       cmocka_unit_test(translation_table),
	    cmocka_unit_test(builtin_paths),   cmocka_unit_test(several_uris),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
