/*
 * legend.c -- the CF attributes lode derives from a raster's legend: flag_values and
 * flag_meanings for the category names of a one-band integer raster (bundle-format.md
 * 4.3, 4.6).  CF's flag_meanings is a list of blank-separated words made of letters,
 * digits and _ - . + @; a category name is written with every other byte (blanks and
 * the bytes of non-ASCII letters) replaced by '_'.  The exact names stay in the lineage's
 * band_legends, which lode extract restores from.
 *
 * It reads the legend only from the lineage's JSON; it writes nothing itself.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "legend.h"

static int is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.' || c == '+' || c == '@';
}

static int integer_type(lode_dtype t)
{
	return t != LODE_DT_F32 && t != LODE_DT_F64 && t != LODE_DT_UNKNOWN;
}

int lode__legend_flags(const char *lineage, int nbands, lode_dtype dt, double **values, size_t *n,
		       char **meanings)
{
	json_t *l = NULL;
	const json_t *cats;
	size_t len = 0, k = 0;
	int rc = 0;

	*values = NULL;
	*n = 0;
	*meanings = NULL;
	if (nbands != 1 || !integer_type(dt) || !lineage)
		return 0;
	l = json_loads(lineage, 0, NULL);
	cats = json_object_get(json_array_get(json_object_get(l, "band_legends"), 0), "categories");
	for (size_t i = 0; i < json_array_size(cats); i++) {
		const char *s = json_string_value(json_array_get(cats, i));
		if (s && s[0] && lode__dtype_holds(dt, (double)i)) {
			len += strlen(s) + 1;
			k++;
		}
	}
	if (!k)
		goto out;
	*values = malloc(k * sizeof **values);
	*meanings = malloc(len);
	if (!*values || !*meanings) {
		rc = -1;
		goto out;
	}
	len = 0;
	for (size_t i = 0; i < json_array_size(cats); i++) {
		const char *s = json_string_value(json_array_get(cats, i));
		if (!s || !s[0] || !lode__dtype_holds(dt, (double)i))
			continue;
		if (len)
			(*meanings)[len++] = ' ';
		for (; *s; s++)
			(*meanings)[len++] = is_word_char((unsigned char)*s) ? *s : '_';
		(*values)[(*n)++] = (double)i;
	}
	(*meanings)[len] = '\0';
out:
	if (rc) {
		free(*values);
		free(*meanings);
		*values = NULL;
		*meanings = NULL;
		*n = 0;
	}
	json_decref(l);
	return rc;
}
