/*
 * test_harmonize.c -- the date reading of field maps (pipeline/harmonize.c,
 * lode__parse_date) and the named unit conversions (lode__unit_conversion): stated
 * examples, exact; the day numbers are Python datetime.date(Y, M, D) - date(1970, 1, 1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "harmonize.h"
#include "manifest.h"

static int32_t day(const char *text, const char *fmt)
{
	int32_t d = -999999;

	assert_int_equal(lode__parse_date(text, fmt, &d), 0);
	return d;
}

static void dates(void **state)
{
	int32_t d;

	(void)state;
	assert_int_equal(day("1/1/70", "%m/%d/%y"), 0);
	assert_int_equal(day("1/1/16", "%m/%d/%y"), 16801); /* 2016-01-01 */
	assert_int_equal(day("2016-01-01", "%Y-%m-%d"), 16801);
	assert_int_equal(day("12/31/99", "%m/%d/%y"), 10956); /* 1999-12-31 */
	assert_int_equal(day("01/01/68", "%m/%d/%y"), 35794); /* 2068-01-01 */
	assert_int_equal(day("29 Feb 2000", "%d %b %Y"), 11016);
	assert_int_equal(day("1969", "%Y"), -365);
	assert_int_equal(lode__parse_date("2/29/21", "%m/%d/%y", &d), -1); /* no such day */
	assert_int_equal(lode__parse_date("13/1/21", "%m/%d/%y", &d), -1);
	assert_int_equal(lode__parse_date("1/1/16 ", "%m/%d/%y", &d), -1); /* all of it */
	assert_int_equal(lode__parse_date("1-1-16", "%m/%d/%y", &d), -1);
	assert_int_equal(lode__parse_date("2016", "%y", &d), -1);
}

static void conversions(void **state)
{
	double mul = 0, div = 0;

	(void)state;
	assert_true(lode__unit_conversion("ppm_to_percent", &mul, &div));
	assert_true(250 * mul / div == 0.025);
	assert_true(lode__unit_conversion("Mt_to_t", &mul, &div));
	assert_true(1.5 * mul / div == 1500000.0);
	assert_true(lode__unit_conversion("g_per_t_to_ppm", &mul, &div));
	assert_true(3.5 * mul / div == 3.5);
	assert_true(lode__unit_conversion("percent_to_g_per_t", &mul, &div));
	assert_true(2.5 * mul / div == 25000.0);
	assert_false(lode__unit_conversion("ppm_to_pct", &mul, &div));
	assert_false(lode__unit_conversion(NULL, &mul, &div));
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(dates), cmocka_unit_test(conversions)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
