/*
 * plan_lineage.c -- the lineage record of a planned dataset (the JSON kept in the bundle
 * beside each dataset, docs/bundle-format.md): its source, CRSs, the operation chosen
 * and the policy it was chosen under, the grid, nodata, band names, units and legends,
 * and the versions of the libraries; for a vector layer, what reading its features told.
 * Builds records only: the choices are plan.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crs_proj.h"
#include "dtype.h"
#include "lode.h"
#include "plan.h"
#include "raster_gdal.h"
#include "vdata.h"
#include "vector_read.h"

static json_t *num_or_null(int has, double v)
{
	return has && isfinite(v) ? json_real(v) : json_null();
}

/* A nodata value for JSON, which has no NaN: NaN is written as the string "nan". */
static json_t *nodata_json(int has, double v)
{
	if (has && isnan(v))
		return json_string("nan");
	return num_or_null(has, v);
}

/* The selected bands' names or units as a JSON array of strings ("" where none). */
static json_t *band_texts(const plan_item *it, int units)
{
	const lode_raster_info *info = lode__raster_info(it->src);
	json_t *a = json_array();

	for (int i = 0; i < it->nbands; i++) {
		const lode_band_info *bi = &info->bands[it->bands[i] - 1];
		json_array_append_new(a, json_string(units ? bi->unit : bi->description));
	}
	return a;
}

/* The selected bands' legends (raster_legend.h) as a JSON array (null where a band has
   none), or NULL when no band has one. */
static json_t *band_legends(const plan_item *it)
{
	const lode_raster_info *info = lode__raster_info(it->src);
	json_t *a = NULL;
	int any = 0;

	for (int i = 0; i < it->nbands; i++)
		any |= info->bands[it->bands[i] - 1].legend != NULL;
	if (!any)
		return NULL;
	a = json_array();
	for (int i = 0; i < it->nbands; i++) {
		const char *l = info->bands[it->bands[i] - 1].legend;
		json_array_append_new(a, l ? json_loads(l, 0, NULL) : json_null());
	}
	return a;
}

static json_t *op_json(const lode_op *op)
{
	json_t *o = json_object(), *grids = json_array(), *cands;

	for (size_t i = 0; i < op->ngrids; i++) {
		json_t *g = json_object();
		json_object_set_new(g, "name", json_string(op->grids[i]));
		json_array_append_new(grids, g);
	}
	json_object_set_new(o, "name", json_string(op->name));
	json_object_set_new(o, "code", op->code ? json_string(op->code) : json_null());
	json_object_set_new(o, "proj_pipeline", json_string(op->pipeline));
	json_object_set_new(o, "accuracy_m", num_or_null(op->accuracy >= 0, op->accuracy));
	json_object_set_new(o, "ballpark", json_boolean(op->ballpark));
	json_object_set_new(o, "grids", grids);
	json_object_set_new(o, "explicit", json_boolean(op->explicit_op));
	cands = op->steps_json ? json_loads(op->steps_json, 0, NULL) : NULL;
	json_object_set_new(o, "steps", cands ? cands : json_array());
	cands = op->candidates_json ? json_loads(op->candidates_json, 0, NULL) : NULL;
	json_object_set_new(o, "candidates", cands ? cands : json_array());
	if (op->via) {
		/* Only through a dataset's via: (older plans and bundles have none of these). */
		json_t *legs = op->legs_json ? json_loads(op->legs_json, 0, NULL) : NULL;
		json_object_set_new(o, "via", json_string(op->via));
		json_object_set_new(o, "legs", legs ? legs : json_array());
		json_object_set_new(o, "accuracy_known_m", json_real(op->accuracy_known_m));
	}
	return o;
}

/* The parts of a lineage record that rasters and vectors share. */
static json_t *lineage_base(const plan *p, const plan_item *it, json_t *src, json_t *tgt)
{
	json_t *o = json_object(), *pol = json_object();
	char *src_label = it->is_table ? NULL : lode__crs_label(it->src_wkt);
	const char *slash = strrchr(it->spec->source, '/');

	json_object_set_new(src, "path", json_string(it->spec->source));
	json_object_set_new(src, "file", json_string(slash ? slash + 1 : it->spec->source));
	json_object_set_new(src, "sha256", json_string(it->sha256));
	json_object_set_new(src, "size", json_integer((json_int_t)it->size));
	json_object_set_new(src, "files", it->files ? json_incref(it->files) : json_array());
	if (it->is_table)
		goto table; /* no CRS, no target, no operation */
	json_object_set_new(src, "crs", json_string(src_label ? src_label : ""));
	json_object_set_new(src, "crs_assumed", json_boolean(it->crs_assumed));
	json_object_set_new(src, "crs_wkt", json_string(it->src_wkt));
	if (it->spec->open_options) {
		json_t *oo = json_array();
		for (size_t k = 0; it->spec->open_options[k]; k++)
			json_array_append_new(oo, json_string(it->spec->open_options[k]));
		json_object_set_new(src, "open_options", oo);
	}
	if (it->spec->allow_raw_vrt || it->spec->allow_network) {
		json_t *al = json_array();
		if (it->spec->allow_raw_vrt)
			json_array_append_new(al, json_string("raw_vrt"));
		if (it->spec->allow_network)
			json_array_append_new(al, json_string("network"));
		json_object_set_new(src, "allow", al);
	}
	json_object_set_new(tgt, "crs", json_string(p->dst_label));
	json_object_set_new(tgt, "crs_wkt", json_string(p->dst_wkt));
	json_object_set_new(pol, "max_error_m", num_or_null(1, it->pol.max_error_m));
	json_object_set_new(pol, "allow_ballpark", json_boolean(it->pol.allow_ballpark));
	if (it->spec->policy.at.line) /* only when the dataset has its own (older records: none) */
		json_object_set_new(pol, "scope", json_string("dataset"));
	json_object_set_new(o, "dataset", json_string(it->spec->name));
	json_object_set_new(o, "kind", json_string(it->is_vector ? "vector" : "raster"));
	json_object_set_new(o, "source", src);
	json_object_set_new(o, "target", tgt);
	json_object_set_new(o, "operation", op_json(&it->op));
	json_object_set_new(o, "policy", pol);
	free(src_label);
	return o;
table:
	json_decref(tgt);
	json_decref(pol);
	json_object_set_new(o, "dataset", json_string(it->spec->name));
	json_object_set_new(o, "kind", json_string("vector"));
	json_object_set_new(o, "source", src);
	free(src_label);
	return o;
}

static void lineage_versions(const plan *p, json_t *o)
{
	json_object_set_new(o, "proj_version", json_string(p->proj_version));
	json_object_set_new(o, "epsg_version", json_string(p->epsg_version));
	json_object_set_new(o, "gdal_version", json_string(lode__gdal_version()));
	json_object_set_new(o, "lode_version", json_string(LODE_VERSION));
}

/* The plan's record of a vector layer: what is known before its features are read. */
static json_t *vector_plan_lineage(const plan *p, const plan_item *it)
{
	const lode_vector_info *info = lode__vector_info(it->vsrc);
	json_t *o, *src = json_object(), *tgt = json_object(), *bounds = json_array();

	json_object_set_new(src, "driver", json_string(info->driver));
	json_object_set_new(src, "layer", json_string(info->layer));
	json_object_set_new(src, "feature_count", json_integer(info->nfeat));
	if (it->spec->where)
		json_object_set_new(src, "where", json_string(it->spec->where));
	for (int k = 0; k < 4; k++)
		json_array_append_new(bounds, json_real(p->m->bounds[k]));
	json_object_set_new(tgt, "bounds", bounds);
	json_object_set_new(tgt, "clip", json_boolean(it->spec->clip));
	o = lineage_base(p, it, src, tgt);
	lineage_versions(p, o);
	return o;
}

/* The smallest and largest of n values (NaN left out), into lo and hi. */
static void span(const double *v, size_t n, double *lo, double *hi)
{
	double a = HUGE_VAL, b = -HUGE_VAL;

	/* fmin and fmax are library calls, millions of them for a big layer: call them only
	   where they may change the span.  A value strictly inside it leaves it as it is
	   whatever libm does with NaN and signed zeros. */
	for (size_t k = 0; k < n; k++) {
		if (!(v[k] > a))
			a = fmin(a, v[k]);
		if (!(v[k] < b))
			b = fmax(b, v[k]);
	}
	*lo = a;
	*hi = b;
}

void lode__vector_extent(const lode_vdata *d, double e[4])
{
	span(d->x, d->nnodes, &e[0], &e[2]);
	span(d->y, d->nnodes, &e[1], &e[3]);
}

json_t *lode__vector_lineage(const json_t *planned, const lode_vdata *d, const double e[4])
{
	json_t *o = json_object(), *fields = json_array(), *ext = json_array(), *v;
	const char *key;
	int added = 0;

	for (int k = 0; k < 4; k++)
		json_array_append_new(ext, d->nnodes ? json_real(e[k]) : json_null());
	for (size_t i = 0; i < d->nfields; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "name", json_string(d->fields[i].name));
		json_object_set_new(f, "variable", json_string(d->fields[i].var));
		json_object_set_new(f, "type", json_string(lode__ftype_name(d->fields[i].type)));
		json_object_set_new(f, "width", json_integer(d->fields[i].width));
		json_object_set_new(f, "nulls", json_integer((json_int_t)d->fields[i].nnull));
		json_array_append_new(fields, f);
	}
	/* Keys in the plan's order, the feature data just before the versions. */
	json_object_foreach((json_t *)planned, key, v)
	{
		if (!added && strcmp(key, "proj_version") == 0) {
			json_object_set_new(o, "geometry_type", json_string(lode__vdata_type_name(d)));
			json_object_set_new(o, "feature_count", json_integer((json_int_t)d->nfeat));
			json_object_set(o, "extent", ext);
			json_object_set(o, "fields", fields);
			added = 1;
		}
		json_object_set(o, key, v);
	}
	if (!added) {
		json_object_set_new(o, "geometry_type", json_string(lode__vdata_type_name(d)));
		json_object_set_new(o, "feature_count", json_integer((json_int_t)d->nfeat));
		json_object_set(o, "extent", ext);
		json_object_set(o, "fields", fields);
	}
	json_decref(ext);
	json_decref(fields);
	return o;
}

json_t *lode__plan_lineage(const plan *p, const plan_item *it)
{
	const lode_raster_info *info;
	json_t *o, *src, *tgt, *bands, *gt;

	if (it->is_vector)
		return vector_plan_lineage(p, it);
	info = lode__raster_info(it->src);
	src = json_object();
	tgt = json_object();
	bands = json_array();
	gt = json_array();
	for (int i = 0; i < it->nbands; i++)
		json_array_append_new(bands, json_integer(it->bands[i]));
	for (int i = 0; i < 6; i++)
		json_array_append_new(gt, json_real(it->gt[i]));
	json_object_set_new(src, "driver", json_string(info->driver));
	json_object_set_new(src, "width", json_integer(info->width));
	json_object_set_new(src, "height", json_integer(info->height));
	json_object_set_new(src, "bands", bands);
	json_object_set_new(tgt, "geotransform", gt);
	json_object_set_new(tgt, "width", json_integer(it->nx));
	json_object_set_new(tgt, "height", json_integer(it->ny));
	o = lineage_base(p, it, src, tgt);
	json_object_set_new(o, "resampling", json_string(it->spec->resampling));
	json_object_set_new(o, "error_threshold", json_real(it->et));
	json_object_set_new(o, "data_type", json_string(lode__dtype_name(it->dtype)));
	json_object_set_new(o, "nodata", nodata_json(it->has_nodata, it->nodata));
	json_object_set_new(o, "band_names", band_texts(it, 0));
	json_object_set_new(o, "band_units", band_texts(it, 1));
	{
		json_t *legends = band_legends(it);
		if (legends)
			json_object_set_new(o, "band_legends", legends);
	}
	lineage_versions(p, o);
	return o;
}
