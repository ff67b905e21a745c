/*
 * raster_legend.c -- a raster band's legend through GDAL: what a reader needs to show
 * and name its values beside the pixels (colour interpretation, colour table, category
 * names, raster attribute table, scale and offset), read from a source band as one
 * JSON object and put back on a band of a GeoTIFF that extract writes.  The JSON is
 * the "band_legends" member of a raster's lineage (docs/bundle-format.md, 4.6).
 *
 * It reads and writes nothing else (descriptions and units travel as band_names and
 * band_units); it does not judge whether a legend fits the values.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>

#include "error.h"
#include "raster_legend.h"
#include "util.h"

/* GDAL's field usages (GDALRATFieldUsage) by value. */
static const char *const usages[] = {
    "Generic", "PixelCount", "Name",     "Min",     "Max",      "MinMax", "Red",      "Green",   "Blue",
    "Alpha",   "RedMin",     "GreenMin", "BlueMin", "AlphaMin", "RedMax", "GreenMax", "BlueMax", "AlphaMax",
};
static const char *const types[] = {"Integer", "Real", "String"};

/* Bounds on what a legend may hold, so that a hostile bundle cannot make extract build
   an unbounded table: GDAL's own palettes and RATs stay far below. */
enum { MAX_ENTRIES = 65536, MAX_COLS = 256, MAX_CELLS = 4 * 1024 * 1024 };

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

static json_t *rat_json(GDALRasterAttributeTableH rat)
{
	int ncol = GDALRATGetColumnCount(rat), nrow = GDALRATGetRowCount(rat);
	json_t *o = json_object(), *cols = json_array(), *rows = json_array();
	double row0, size;

	json_object_set_new(
	    o, "table_type",
	    json_string(GDALRATGetTableType(rat) == GRTT_ATHEMATIC ? "athematic" : "thematic"));
	if (GDALRATGetLinearBinning(rat, &row0, &size)) {
		json_t *lb = json_array();
		json_array_append_new(lb, json_real(row0));
		json_array_append_new(lb, json_real(size));
		json_object_set_new(o, "linear_binning", lb);
	}
	for (int c = 0; c < ncol; c++) {
		json_t *col = json_object();
		int t = GDALRATGetTypeOfCol(rat, c), u = GDALRATGetUsageOfCol(rat, c);
		json_object_set_new(col, "name", json_string(GDALRATGetNameOfCol(rat, c)));
		json_object_set_new(col, "type", json_string(t >= 0 && t < 3 ? types[t] : "String"));
		json_object_set_new(
		    col, "usage",
		    json_string(u >= 0 && u < (int)(sizeof usages / sizeof *usages) ? usages[u] : "Generic"));
		json_array_append_new(cols, col);
	}
	for (int r = 0; r < nrow; r++) {
		json_t *row = json_array();
		for (int c = 0; c < ncol; c++) {
			int t = GDALRATGetTypeOfCol(rat, c);
			if (t == GFT_Integer)
				json_array_append_new(row, json_integer(GDALRATGetValueAsInt(rat, r, c)));
			else if (t == GFT_Real) {
				double v = GDALRATGetValueAsDouble(rat, r, c);
				json_array_append_new(row, isfinite(v) ? json_real(v) : json_null());
			} else
				json_array_append_new(row, json_string(GDALRATGetValueAsString(rat, r, c)));
		}
		json_array_append_new(rows, row);
	}
	json_object_set_new(o, "columns", cols);
	json_object_set_new(o, "rows", rows);
	return o;
}

lode_status lode__legend_capture(GDALRasterBandH b, char **out, lode_error *err)
{
	json_t *o = json_object();
	GDALColorInterp ci = GDALGetRasterColorInterpretation(b);
	GDALColorTableH ct = GDALGetRasterColorTable(b);
	GDALRasterAttributeTableH rat = GDALGetDefaultRAT(b);
	char **cats = GDALGetRasterCategoryNames(b);
	int has_scale = 0, has_offset = 0;
	double scale = GDALGetRasterScale(b, &has_scale), offset = GDALGetRasterOffset(b, &has_offset);
	int nct = ct ? GDALGetColorEntryCount(ct) : 0, ncat = CSLCount(cats);
	int ncol = rat ? GDALRATGetColumnCount(rat) : 0, nrow = rat ? GDALRATGetRowCount(rat) : 0;
	lode_status rc = LODE_OK;

	*out = NULL;
	if (!o)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	/* What lode carries is bounded (so is what extract accepts): refuse, never cut. */
	if (nct > MAX_ENTRIES || ncat > MAX_ENTRIES || ncol > MAX_COLS ||
	    (ncol > 0 && (size_t)nrow * (size_t)ncol > MAX_CELLS)) {
		rc = lode__err(err, LODE_ESOURCE,
			       "its legend is larger than lode carries (%d colour entries, %d categories, a "
			       "raster attribute table of %d rows x %d columns; at most %d entries, %d "
			       "columns and %d cells)",
			       nct, ncat, nrow, ncol, MAX_ENTRIES, MAX_COLS, MAX_CELLS);
		goto out;
	}
	/* Gray and Undefined are what a GeoTIFF's bands get by default: not worth a legend. */
	if (ci != GCI_GrayIndex && ci != GCI_Undefined)
		json_object_set_new(o, "color_interp", json_string(GDALGetColorInterpretationName(ci)));
	if ((has_scale && scale != 1.0 && isfinite(scale)) ||
	    (has_offset && offset != 0.0 && isfinite(offset))) {
		json_object_set_new(o, "scale", json_real(has_scale && isfinite(scale) ? scale : 1.0));
		json_object_set_new(o, "offset", json_real(has_offset && isfinite(offset) ? offset : 0.0));
	}
	if (ct) {
		json_t *entries = json_array();
		for (int i = 0; i < nct; i++) {
			const GDALColorEntry *e = GDALGetColorEntry(ct, i);
			json_t *rgba = json_array();
			json_array_append_new(rgba, json_integer(e->c1));
			json_array_append_new(rgba, json_integer(e->c2));
			json_array_append_new(rgba, json_integer(e->c3));
			json_array_append_new(rgba, json_integer(e->c4));
			json_array_append_new(entries, rgba);
		}
		json_object_set_new(o, "color_table", entries);
	}
	if (cats && cats[0]) {
		json_t *names = json_array();
		for (int i = 0; i < ncat; i++)
			json_array_append_new(names, json_string(cats[i]));
		json_object_set_new(o, "categories", names);
	}
	if (ncol > 0)
		json_object_set_new(o, "rat", rat_json(rat));
	if (json_object_size(o) > 0 && !(*out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII |
								  JSON_SORT_KEYS | JSON_REAL_PRECISION(17))))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	json_decref(o);
	return rc;
}

/* The colour interpretation named s (GDAL's names), or -1. */
static int color_interp_of(const char *s)
{
	for (int i = GCI_Undefined; i <= GCI_Max; i++)
		if (!strcmp(GDALGetColorInterpretationName((GDALColorInterp)i), s))
			return i;
	return -1;
}

static lode_status apply_rat(GDALRasterBandH b, const json_t *tab, lode_error *err)
{
	const json_t *cols = json_object_get(tab, "columns"), *rows = json_object_get(tab, "rows");
	const json_t *lb = json_object_get(tab, "linear_binning");
	const char *tt = json_string_value(json_object_get(tab, "table_type"));
	GDALRasterAttributeTableH rat = NULL;
	size_t ncol = json_array_size(cols), nrow = json_array_size(rows);
	int ctype[MAX_COLS];
	lode_status rc = LODE_OK;

	if (!json_is_array(cols) || !json_is_array(rows) || ncol == 0 || ncol > MAX_COLS ||
	    nrow * ncol > MAX_CELLS)
		return lode__err(err, LODE_EBUNDLE, "its raster attribute table is malformed or too large");
	rat = GDALCreateRasterAttributeTable();
	GDALRATSetTableType(rat, tt && !strcmp(tt, "athematic") ? GRTT_ATHEMATIC : GRTT_THEMATIC);
	for (size_t c = 0; c < ncol && !rc; c++) {
		const json_t *col = json_array_get(cols, c);
		const char *name = json_string_value(json_object_get(col, "name"));
		int t = index_of(types, 3, json_string_value(json_object_get(col, "type")));
		int u = index_of(usages, sizeof usages / sizeof *usages,
				 json_string_value(json_object_get(col, "usage")));
		if (!name || t < 0 || u < 0)
			rc = lode__err(err, LODE_EBUNDLE,
				       "column %zu of its raster attribute table is malformed", c);
		else if (GDALRATCreateColumn(rat, name, (GDALRATFieldType)t, (GDALRATFieldUsage)u) != CE_None)
			rc = lode__err(err, LODE_EIO,
				       "GDAL refused column '%s' of the raster attribute table", name);
		ctype[c] = t;
	}
	if (!rc && nrow)
		GDALRATSetRowCount(rat, (int)nrow);
	for (size_t r = 0; r < nrow && !rc; r++) {
		const json_t *row = json_array_get(rows, r);
		if (json_array_size(row) != ncol) {
			rc = lode__err(err, LODE_EBUNDLE,
				       "row %zu of its raster attribute table is malformed", r);
			break;
		}
		for (size_t c = 0; c < ncol; c++) {
			const json_t *v = json_array_get(row, c);
			if (ctype[c] == GFT_Integer)
				GDALRATSetValueAsInt(rat, (int)r, (int)c, (int)json_integer_value(v));
			else if (ctype[c] == GFT_Real)
				GDALRATSetValueAsDouble(rat, (int)r, (int)c,
							json_is_number(v) ? json_number_value(v) : NAN);
			else
				GDALRATSetValueAsString(rat, (int)r, (int)c,
							json_is_string(v) ? json_string_value(v) : "");
		}
	}
	if (!rc && json_array_size(lb) == 2)
		GDALRATSetLinearBinning(rat, json_number_value(json_array_get(lb, 0)),
					json_number_value(json_array_get(lb, 1)));
	if (!rc && GDALSetDefaultRAT(b, rat) != CE_None)
		rc = lode__err(err, LODE_EIO, "GDAL refused the raster attribute table");
	GDALDestroyRasterAttributeTable(rat);
	return rc;
}

static lode_status apply_color_table(GDALRasterBandH b, const json_t *ct, lode_error *err)
{
	GDALColorTableH t;
	lode_status rc = LODE_OK;

	if (!json_is_array(ct) || json_array_size(ct) > MAX_ENTRIES)
		return lode__err(err, LODE_EBUNDLE, "its colour table is malformed or too large");
	t = GDALCreateColorTable(GPI_RGB);
	for (size_t i = 0; i < json_array_size(ct) && !rc; i++) {
		const json_t *e = json_array_get(ct, i);
		GDALColorEntry c;
		if (json_array_size(e) != 4) {
			rc = lode__err(err, LODE_EBUNDLE, "entry %zu of its colour table is malformed", i);
			break;
		}
		c.c1 = (short)json_integer_value(json_array_get(e, 0));
		c.c2 = (short)json_integer_value(json_array_get(e, 1));
		c.c3 = (short)json_integer_value(json_array_get(e, 2));
		c.c4 = (short)json_integer_value(json_array_get(e, 3));
		GDALSetColorEntry(t, (int)i, &c);
	}
	/* A GeoTIFF holds colour tables of Byte and UInt16 bands only; like gdal_translate,
	   the other types go without. */
	if (!rc && (GDALGetRasterDataType(b) == GDT_Byte || GDALGetRasterDataType(b) == GDT_UInt16) &&
	    GDALSetRasterColorTable(b, t) != CE_None)
		rc = lode__err(err, LODE_EIO, "GDAL refused the colour table");
	GDALDestroyColorTable(t);
	return rc;
}

lode_status lode__legend_apply(GDALRasterBandH b, const char *legend, lode_error *err)
{
	json_error_t jerr;
	json_t *o = legend ? json_loads(legend, 0, &jerr) : NULL;
	const json_t *v;
	char **names = NULL;
	lode_status rc = LODE_OK;

	if (!legend)
		return LODE_OK;
	if (!json_is_object(o)) {
		rc = lode__err(err, LODE_EBUNDLE, "its legend is not a JSON object");
		goto out;
	}
	if ((v = json_object_get(o, "color_table")) && (rc = apply_color_table(b, v, err)))
		goto out;
	if ((v = json_object_get(o, "color_interp"))) {
		int ci = color_interp_of(json_string_value(v) ? json_string_value(v) : "");
		if (ci < 0) {
			rc = lode__err(err, LODE_EBUNDLE, "its colour interpretation is not one GDAL knows");
			goto out;
		}
		GDALSetRasterColorInterpretation(b, (GDALColorInterp)ci);
	}
	if ((v = json_object_get(o, "scale")) && json_is_number(v))
		GDALSetRasterScale(b, json_number_value(v));
	if ((v = json_object_get(o, "offset")) && json_is_number(v))
		GDALSetRasterOffset(b, json_number_value(v));
	if ((v = json_object_get(o, "categories"))) {
		if (!json_is_array(v) || json_array_size(v) > MAX_ENTRIES) {
			rc = lode__err(err, LODE_EBUNDLE, "its category names are malformed or too many");
			goto out;
		}
		for (size_t i = 0; i < json_array_size(v); i++) {
			const char *s = json_string_value(json_array_get(v, i));
			names = CSLAddString(names, s ? s : "");
		}
		if (GDALSetRasterCategoryNames(b, names) != CE_None) {
			rc = lode__err(err, LODE_EIO, "GDAL refused the category names");
			goto out;
		}
	}
	if ((v = json_object_get(o, "rat")))
		rc = apply_rat(b, v, err);
out:
	CSLDestroy(names);
	json_decref(o);
	return rc;
}
