/*
 * vector_keys.c -- one field of an opened vector layer read as text, for the relations a
 * manifest declares (key:, references:; pipeline/plan_relations.c checks them).  The
 * layer's where: filter applies; geometries are not read.  Values are OGR's text of them
 * (OGR_F_GetFieldAsString), so an Integer 5001 and a String "5001" are the same key.
 */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"
#include "vector_read_int.h"

void lode__vector_column_free(char **values, size_t n)
{
	for (size_t i = 0; values && i < n; i++)
		free(values[i]);
	free(values);
}

/* "did you mean" among the layer's field names, or "" */
static void field_hint(OGRFeatureDefnH defn, const char *field, char *out, size_t cap)
{
	int nf = OGR_FD_GetFieldCount(defn);
	const char **names = calloc((size_t)nf + 1, sizeof *names);
	const char *near;

	out[0] = '\0';
	if (!names)
		return;
	for (int i = 0; i < nf; i++)
		names[i] = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i));
	if ((near = lode__did_you_mean(field, names)) != NULL)
		snprintf(out, cap, " (did you mean '%s'?)", near);
	free(names);
}

lode_status lode__vector_column_text(lode__vector *v, const char *field, char ***values, size_t *n,
				     lode_error *err)
{
	OGRFeatureDefnH defn = OGR_L_GetLayerDefn(v->layer);
	int idx = OGR_FD_GetFieldIndex(defn, field);
	const char *ignore[] = {"OGR_GEOMETRY", "OGR_STYLE", NULL};
	OGRFeatureH f;
	size_t cap = 0;
	char hint[200];

	*values = NULL;
	*n = 0;
	if (idx < 0) {
		field_hint(defn, field, hint, sizeof hint);
		return lode__err(err, LODE_EMANIFEST, "layer '%s' has no field '%s'%s", v->info.layer, field,
				 hint);
	}
	OGR_L_SetIgnoredFields(v->layer, ignore);
	OGR_L_ResetReading(v->layer);
	while ((f = OGR_L_GetNextFeature(v->layer)) != NULL) {
		char *s =
		    OGR_F_IsFieldSetAndNotNull(f, idx) ? lode__strdup(OGR_F_GetFieldAsString(f, idx)) : NULL;
		int bad = OGR_F_IsFieldSetAndNotNull(f, idx) && !s;
		OGR_F_Destroy(f);
		if (bad || (*n == cap && lode__vread_grow((void **)values, &cap, *n + 1, sizeof **values))) {
			free(s);
			lode__vector_column_free(*values, *n);
			*values = NULL;
			*n = 0;
			OGR_L_SetIgnoredFields(v->layer, NULL);
			return lode__err(err, LODE_ENOMEM, "out of memory");
		}
		(*values)[(*n)++] = s;
	}
	OGR_L_SetIgnoredFields(v->layer, NULL);
	OGR_L_ResetReading(v->layer);
	return LODE_OK;
}
