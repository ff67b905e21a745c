/*
 * vector_fields.c -- a layer's attribute fields through OGR: their definitions (type,
 * width, sub-type; what lode carries and what it refuses) and each feature's values into
 * the layer's columns (nulls, dates as days or seconds, list fields as compact JSON text:
 * bundle-format.md 5.3).  Geometry is vector_read.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <jansson.h>
#include <ogr_api.h>

#include "error.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"
#include "vector_read_int.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long days_from_civil(int y, int m, int d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

lode_status lode__vread_field_defs(OGRFeatureDefnH defn, lode_vdata *d, const char *layer, lode_error *err)
{
	int n = OGR_FD_GetFieldCount(defn);

	d->fields = calloc((size_t)(n ? n : 1), sizeof *d->fields);
	if (!d->fields)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		OGRFieldDefnH fd = OGR_FD_GetFieldDefn(defn, i);
		lode_vfield *f = &d->fields[i];
		const char *name = OGR_Fld_GetNameRef(fd);
		char var[80];
		size_t k = 0;

		switch (OGR_Fld_GetType(fd)) {
		case OFTInteger:
			f->type = OGR_Fld_GetSubType(fd) == OFSTBoolean ? LODE_FT_BOOL : LODE_FT_INT32;
			break;
		case OFTInteger64: f->type = LODE_FT_INT64; break;
		case OFTReal: f->type = LODE_FT_REAL; break;
		case OFTString:
			f->type = OGR_Fld_GetSubType(fd) == OFSTJSON ? LODE_FT_JSON : LODE_FT_STRING;
			break;
		case OFTTime:
			f->type = LODE_FT_STRING;
			break; /* a time of day is kept as "HH:MM:SS" */
		/* Lists, as the JSON array of their items (vdata.h). */
		case OFTStringList: f->type = LODE_FT_STRLIST; break;
		case OFTIntegerList: f->type = LODE_FT_INTLIST; break;
		case OFTInteger64List: f->type = LODE_FT_INT64LIST; break;
		case OFTRealList: f->type = LODE_FT_REALLIST; break;
		case OFTDate: f->type = LODE_FT_DATE; break;
		case OFTDateTime: f->type = LODE_FT_DATETIME; break;
		default:
			return lode__err(err, LODE_ESOURCE,
					 "layer '%s': field '%s' has type %s, which lode does not carry "
					 "(binary data is not supported)",
					 layer, name, OGR_GetFieldTypeName(OGR_Fld_GetType(fd)));
		}
		d->nfields = (size_t)i + 1;
		f->name = lode__strdup(name);
		f->width = OGR_Fld_GetWidth(fd);
		/* A variable name netCDF and every reader accept; the real name travels in
		   the ogr_field_name attribute. */
		for (const char *p = name; *p && k < 60; p++)
			var[k++] =
			    ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
				? *p
				: '_';
		var[k] = '\0';
		f->var = lode__sprintf("%d_%s", i + 1, var);
		if (!f->name || !f->var)
			return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}

/* Field i of feat, a list, as the compact JSON array of its items into *out (in f's text). */
static lode_status list_text(OGRFeatureH feat, int i, lode_vfield *f, const char *layer, char **out,
			     lode_error *err)
{
	json_t *a = json_array();
	int n = 0, bad = !a;
	char small[512], *text = NULL;
	size_t len = 0;

	if (f->type == LODE_FT_STRLIST) {
		char **s = OGR_F_GetFieldAsStringList(feat, i);
		for (; !bad && s && *s; s++) {
			if (!CPLIsUTF8(*s, -1))
				bad = 2;
			else
				bad = json_array_append_new(a, json_string(*s)) != 0;
		}
	} else if (f->type == LODE_FT_INTLIST) {
		const int *v = OGR_F_GetFieldAsIntegerList(feat, i, &n);
		for (int k = 0; k < n && !bad; k++)
			bad = json_array_append_new(a, json_integer(v[k])) != 0;
	} else if (f->type == LODE_FT_INT64LIST) {
		const GIntBig *v = OGR_F_GetFieldAsInteger64List(feat, i, &n);
		for (int k = 0; k < n && !bad; k++)
			bad = json_array_append_new(a, json_integer((json_int_t)v[k])) != 0;
	} else {
		const double *v = OGR_F_GetFieldAsDoubleList(feat, i, &n);
		for (int k = 0; k < n && !bad; k++)
			bad = !isfinite(v[k]) ? 3 : json_array_append_new(a, json_real(v[k])) != 0;
	}
	/* The text into a buffer on the stack (most lists are short), else a temporary;
	   either way copied into f's text. */
	if (!bad) {
		len = json_dumpb(a, small, sizeof small, JSON_COMPACT);
		if (len > 0 && len <= sizeof small)
			text = small;
		else if ((text = json_dumps(a, JSON_COMPACT)) != NULL)
			len = strlen(text);
	}
	json_decref(a);
	*out = text ? lode__vfield_text(f, text, len) : NULL;
	if (text != small)
		free(text);
	if (bad == 2 || bad == 3)
		return lode__err(
		    err, LODE_ESOURCE,
		    bad == 2 ? "layer '%s', feature %lld, field '%s': the text is not UTF-8; name the "
			       "source's encoding with open_options: [ENCODING=CP1252] (or its code page)"
			     : "layer '%s', feature %lld, field '%s': the list holds NaN or an infinity, "
			       "which lode does not carry (JSON has no such number)",
		    layer, (long long)OGR_F_GetFID(feat), f->name);
	return *out ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");
}

lode_status lode__vread_add_attributes(builder *b, OGRFeatureH feat, const char *layer, lode_error *err)
{
	lode_vdata *d = b->d;
	size_t row = d->nfeat;
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < d->nfields; i++) {
		lode_vfield *f = &d->fields[i];
		size_t sz = lode__ftype_size(f->type);
		int null = !OGR_F_IsFieldSetAndNotNull(feat, (int)i);
		size_t text0 = f->text.bytes;
		unsigned char *slot;

		if (lode__vread_grow(&f->values, &b->cap_field[i], row + 1, sz) ||
		    lode__vread_grow((void **)&f->isnull, &b->cap_null[i], row + 1, 1))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		slot = (unsigned char *)f->values + row * sz;
		memset(slot, 0, sz);
		f->isnull[row] = (unsigned char)null;
		if (null) {
			f->nnull++;
			if (lode__ftype_is_text(f->type) && lode__vfield_set_text(f, row, ""))
				return lode__err(err, LODE_ENOMEM, "out of memory");
			b->text += f->text.bytes - text0;
			continue;
		}
		switch (f->type) {
		case LODE_FT_INT32: {
			int32_t v = OGR_F_GetFieldAsInteger(feat, (int)i);
			memcpy(slot, &v, 4);
			break;
		}
		case LODE_FT_BOOL: {
			int8_t v = OGR_F_GetFieldAsInteger(feat, (int)i) != 0;
			memcpy(slot, &v, 1);
			break;
		}
		case LODE_FT_INT64: {
			int64_t v = OGR_F_GetFieldAsInteger64(feat, (int)i);
			memcpy(slot, &v, 8);
			break;
		}
		case LODE_FT_REAL: {
			double v = OGR_F_GetFieldAsDouble(feat, (int)i);
			memcpy(slot, &v, 8);
			break;
		}
		case LODE_FT_STRLIST:
		case LODE_FT_INTLIST:
		case LODE_FT_INT64LIST:
		case LODE_FT_REALLIST:
			if ((rc = list_text(feat, (int)i, f, layer, (char **)slot, err)))
				return rc;
			break;
		case LODE_FT_JSON:
		case LODE_FT_STRING: {
			const char *s = OGR_F_GetFieldAsString(feat, (int)i);
			if (!CPLIsUTF8(s, -1))
				return lode__err(err, LODE_ESOURCE,
						 "layer '%s', feature %lld, field '%s': the text is not "
						 "UTF-8; name the source's encoding with open_options: "
						 "[ENCODING=CP1252] (or its code page)",
						 layer, (long long)OGR_F_GetFID(feat), f->name);
			if (!(*(char **)slot = lode__vfield_text(f, s, strlen(s))))
				return lode__err(err, LODE_ENOMEM, "out of memory");
			break;
		}
		case LODE_FT_DATE:
		case LODE_FT_DATETIME: {
			int y, m, dd, h, mi, tz;
			float sec;
			OGR_F_GetFieldAsDateTimeEx(feat, (int)i, &y, &m, &dd, &h, &mi, &sec, &tz);
			if (f->type == LODE_FT_DATE) {
				int32_t v = (int32_t)days_from_civil(y, m, dd);
				memcpy(slot, &v, 4);
			} else {
				double v = (double)days_from_civil(y, m, dd) * 86400.0 + h * 3600.0 +
					   mi * 60.0 + sec;
				if (tz > 1) /* an explicit offset from UTC, in 15-minute steps */
					v -= (tz - 100) * 15 * 60.0;
				memcpy(slot, &v, 8);
			}
			break;
		}
		}
		b->text += f->text.bytes - text0;
	}
	return LODE_OK;
}
