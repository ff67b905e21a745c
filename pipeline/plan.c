/*
 * plan.c -- the plan stage: read the manifest, open and check every source (file exists,
 * GDAL reads it, georeferenced, CRS present or assumed, overlaps the target bounds,
 * supported type), hash it, choose its coordinate operation under the manifest's policy,
 * and make its lineage record.  Nothing is written while planning, so a bad manifest or
 * source fails before any work.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crs_proj.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "manifest.h"
#include "plan.h"
#include "raster_gdal.h"
#include "sha256.h"
#include "source_files.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"

#define MAX_GRID_PIXELS 4000000000000.0 /* refuse absurd grids before allocating anything */

void lode__plan_free(plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		plan_item *it = &p->items[i];
		lode__raster_close(it->src);
		lode__vector_close(it->vsrc);
		free(it->src_wkt);
		free(it->bands);
		lode__op_clear(&it->op);
		json_decref(it->files);
		json_decref(it->lineage);
	}
	free(p->items);
	free(p->dst_wkt);
	free(p->dst_label);
	free(p->proj_version);
	free(p->epsg_version);
	lode__manifest_free(p->m);
	memset(p, 0, sizeof *p);
}

/* Target grid exactly as gdalwarp -te xmin ymin xmax ymax -tr xres yres makes it. */
static lode_status make_grid(const double b[4], double xres, double yres, int *nx, int *ny, double gt[6],
			     lode_error *err)
{
	double fx = (b[2] - b[0] + xres / 2.0) / xres;
	double fy = (fabs(b[3] - b[1]) + yres / 2.0) / yres;

	if (!(fx >= 1) || !(fy >= 1))
		return lode__err(
		    err, LODE_EMANIFEST,
		    "the target grid is empty: the bounds are smaller than one pixel at this resolution");
	if (fx > 2147483647.0 || fy > 2147483647.0 || fx * fy > MAX_GRID_PIXELS)
		return lode__err(err, LODE_EMANIFEST,
				 "the target grid would be %.0f x %.0f pixels, which is absurdly large: "
				 "check target.bounds and resolution",
				 fx, fy);
	*nx = (int)fx;
	*ny = (int)fy;
	gt[0] = b[0];
	gt[1] = xres;
	gt[2] = 0;
	gt[3] = b[3];
	gt[4] = 0;
	gt[5] = -yres;
	return LODE_OK;
}

/*
 * The source CRS: its own (own_wkt), or the assumed one, never a guess.  tool and
 * example go into the messages ("see gdalinfo", "e.g. EPSG:3375").
 */
static lode_status settle_crs(plan_item *it, const char *own_wkt, const char *tool, const char *example,
			      lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	lode_status rc;

	if (own_wkt && d->assume_crs) {
		char *own = lode__crs_label(own_wkt);
		rc = lode__err(
		    err, LODE_EMANIFEST,
		    "source '%s' has its own CRS (%s); assume_crs is only for sources without one: remove it",
		    d->source_path, own ? own : tool);
		free(own);
		return rc;
	}
	if (!own_wkt && !d->assume_crs)
		return lode__err(
		    err, LODE_ESOURCE,
		    "source '%s' has no coordinate reference system; if you know it, add assume_crs: (e.g. "
		    "%s) to the dataset",
		    d->source_path, example);
	if (d->assume_crs) {
		if ((rc = lode__crs_to_wkt(d->assume_crs, &it->src_wkt, err)))
			return lode__err_ctx(err, "assume_crs: ");
		it->crs_assumed = 1;
		return LODE_OK;
	}
	if (!(it->src_wkt = lode__strdup(own_wkt)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

static lode_status plan_vector(plan *p, plan_item *it, lode_error *err);
static lode_status plan_raster(plan *p, plan_item *it, lode_error *err);

void lode__plan_item_rules(const plan *p, plan_item *it)
{
	it->rules.folder = p->m->dir;
	it->rules.confine = p->m->confine_sources;
	it->rules.allow_raw_vrt = it->spec->allow_raw_vrt;
	it->rules.allow_network = it->spec->allow_network;
}

/* Has Ctrl-C or SIGTERM asked planning to stop (through the progress callback)? */
static int interrupted(void *user)
{
	const lode_run_options *opt = user;

	return opt && opt->progress && opt->progress(0.0, "planning", opt->progress_user);
}

/*
 * source.files: every file the opened source reads, the source first (its digest,
 * it->sha256 and it->size, is computed already), each with its SHA-256 and size; a
 * network name (allow: [network]) with null ones.  opt: for interruptions, may be NULL.
 */
static lode_status hash_files(plan_item *it, const lode_source_files *fl, const lode_run_options *opt,
			      lode_error *err)
{
	json_t *a = json_array();
	lode_status rc = LODE_OK;

	for (size_t i = 0; a && i < fl->n && !rc; i++) {
		json_t *f = json_object();
		char hex[65];
		uint64_t size = it->size;

		if (i == 0)
			memcpy(hex, it->sha256, sizeof hex);
		else if (fl->f[i].real)
			rc = lode__sha256_file_or_stop(fl->f[i].real, hex, &size, interrupted, (void *)opt,
						       err);
		if (rc || !f) {
			json_decref(f);
			break;
		}
		json_object_set_new(f, "path", json_string(fl->f[i].name));
		json_object_set_new(f, "sha256", fl->f[i].real ? json_string(hex) : json_null());
		json_object_set_new(f, "size", fl->f[i].real ? json_integer((json_int_t)size) : json_null());
		json_array_append_new(a, f);
	}
	if (!a)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (rc) {
		json_decref(a);
		return lode__err_ctx(err, "hashing the files of source '%s': ", it->spec->source_path);
	}
	it->files = a;
	return LODE_OK;
}

static lode_status plan_one(plan *p, plan_item *it, const lode_run_options *opt, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	const lode_manifest *m = p->m;
	lode__sha256_job *hash;
	struct stat st;
	lode_status rc;

	/* A manifest from elsewhere may say its sources must stay in its own folder. */
	if (m->confine_sources) {
		char *dir = realpath(m->dir, NULL), *src = realpath(d->source_path, NULL);
		int inside = dir && src && strncmp(src, dir, strlen(dir)) == 0 &&
			     (src[strlen(dir)] == '/' || strcmp(dir, "/") == 0);
		free(dir);
		free(src);
		if (!inside)
			return lode__err(
			    err, LODE_EMANIFEST,
			    "source '%s' lies outside the manifest's folder (after following links), "
			    "and policy.confine_sources is true",
			    d->source_path);
	}
	/* A clear message for the commonest mistakes before GDAL gets a say. */
	if (stat(d->source_path, &st) != 0)
		return lode__err(err, LODE_ESOURCE, "source '%s': %s", d->source_path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return lode__err(err, LODE_ESOURCE,
				 "source '%s' is a directory: name the raster or vector file itself (folder "
				 "sources such as a folder of Shapefiles or a FileGDB are not supported yet)",
				 d->source_path);
	/* Then what the source may read (a FIFO, device, raw VRT band, network name, a file
	   out of the folder are refused), before the hash thread or GDAL opens anything. */
	{
		lode__source_check *c = NULL;
		if ((rc = lode__source_check_begin(d->source_path, &it->rules, &c, err)))
			return rc;
		lode__source_check_free(c);
	}
	/* Hash the source on a second thread while GDAL opens it and PROJ chooses the
	   operation, which take about as long for a 50 MB layer; the hash of a source
	   refused on the way is abandoned. */
	hash = lode__sha256_file_start(d->source_path);
	if (lode__source_is_vector(d->source_path, (const char *const *)d->open_options, d->layer != NULL) ==
	    1) {
		it->is_vector = 1;
		rc = plan_vector(p, it, err);
	} else {
		rc = plan_raster(p, it, err);
	}
	if (rc) {
		lode__sha256_file_cancel(hash);
		return rc;
	}
	if ((rc = lode__sha256_file_wait_or_stop(hash, d->source_path, it->sha256, &it->size, interrupted,
						 (void *)opt, err)))
		return rc;
	return hash_files(
	    it, it->is_vector ? &lode__vector_info(it->vsrc)->files : &lode__raster_info(it->src)->files, opt,
	    err);
}

/* The rest of planning a raster: everything but the checks and the hash of plan_one. */
static lode_status plan_raster(plan *p, plan_item *it, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	const lode_manifest *m = p->m;
	const lode_raster_info *info;
	double ext[4], aoi[4], xres, yres;
	int have_aoi;
	lode_policy pol = {m->max_error_m, m->allow_ballpark};
	lode_status rc;

	if (d->layer || d->has_clip || d->where)
		return lode__err(err, LODE_EMANIFEST,
				 "source '%s' is a raster: %s applies to vector layers only", d->source_path,
				 d->layer      ? "layer:"
				 : d->has_clip ? "clip:"
					       : "where:");
	if ((rc = lode__raster_open(d->source_path, (const char *const *)d->open_options, &it->rules,
				    &it->src, err)))
		return rc;
	info = lode__raster_info(it->src);
	if (!info->has_geotransform)
		return lode__err(err, LODE_ESOURCE,
				 "source '%s' is not georeferenced (it has no geotransform)", d->source_path);

	if ((rc = settle_crs(it, info->crs_wkt, "see gdalinfo", "EPSG:3375", err)))
		return rc;

	/* Bands, type and nodata. */
	it->nbands = d->bands ? (int)d->nbands : info->nbands;
	it->bands = calloc((size_t)it->nbands, sizeof *it->bands);
	if (!it->bands)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (int i = 0; i < it->nbands; i++) {
		it->bands[i] = d->bands ? d->bands[i] : i + 1;
		if (it->bands[i] > info->nbands)
			return lode__err(err, LODE_EMANIFEST,
					 "bands: the source has %d band%s, there is no band %d", info->nbands,
					 info->nbands == 1 ? "" : "s", it->bands[i]);
	}
	it->dtype = info->bands[it->bands[0] - 1].dtype;
	for (int i = 0; i < it->nbands; i++) {
		const lode_band_info *bi = &info->bands[it->bands[i] - 1];
		if (bi->dtype == LODE_DT_UNKNOWN)
			return lode__err(
			    err, LODE_ESOURCE,
			    "source '%s' band %d has a data type lode does not carry (complex numbers?)",
			    d->source_path, it->bands[i]);
		if (bi->dtype != it->dtype)
			return lode__err(err, LODE_ESOURCE,
					 "source '%s': bands %d and %d have different data types (%s, %s); "
					 "list bands of one type in bands:",
					 d->source_path, it->bands[0], it->bands[i],
					 lode__dtype_name(it->dtype), lode__dtype_name(bi->dtype));
	}
	if (d->has_nodata) {
		if (!lode__dtype_holds(it->dtype, d->nodata))
			return lode__err(err, LODE_EMANIFEST,
					 "nodata: %g cannot be stored in the source's type %s", d->nodata,
					 lode__dtype_name(it->dtype));
		it->has_nodata = 1;
		it->nodata = d->nodata;
	} else {
		const lode_band_info *b0 = &info->bands[it->bands[0] - 1];
		for (int i = 1; i < it->nbands; i++) {
			const lode_band_info *bi = &info->bands[it->bands[i] - 1];
			if (bi->has_nodata != b0->has_nodata ||
			    (bi->has_nodata &&
			     !(bi->nodata == b0->nodata || (isnan(bi->nodata) && isnan(b0->nodata)))))
				return lode__err(err, LODE_ESOURCE,
						 "source '%s': bands %d and %d have different nodata values; "
						 "set one with nodata:",
						 d->source_path, it->bands[0], it->bands[i]);
		}
		if (b0->has_nodata && !lode__dtype_holds(it->dtype, b0->nodata))
			return lode__err(err, LODE_ESOURCE,
					 "source '%s' declares nodata %.17g, which its type %s cannot hold; "
					 "set nodata: for the dataset",
					 d->source_path, b0->nodata, lode__dtype_name(it->dtype));
		if (b0->has_nodata) {
			it->has_nodata = 1;
			it->nodata = b0->nodata;
		}
	}

	/* The target grid. */
	xres = d->has_resolution ? d->xres : m->xres;
	yres = d->has_resolution ? d->yres : m->yres;
	it->et = d->has_error_threshold ? d->error_threshold : m->error_threshold;
	if ((rc = make_grid(m->bounds, xres, yres, &it->nx, &it->ny, it->gt, err)))
		return rc;

	/* The source's extent, and in degrees for PROJ's area of interest. */
	{
		const double *g = info->gt;
		double xs[4] = {g[0], g[0] + info->width * g[1], g[0] + info->height * g[2],
				g[0] + info->width * g[1] + info->height * g[2]};
		double ys[4] = {g[3], g[3] + info->width * g[4], g[3] + info->height * g[5],
				g[3] + info->width * g[4] + info->height * g[5]};
		ext[0] = ext[2] = xs[0];
		ext[1] = ext[3] = ys[0];
		for (int k = 1; k < 4; k++) {
			ext[0] = fmin(ext[0], xs[k]);
			ext[2] = fmax(ext[2], xs[k]);
			ext[1] = fmin(ext[1], ys[k]);
			ext[3] = fmax(ext[3], ys[k]);
		}
	}
	{
		lode_error ignored;
		have_aoi = lode__crs_bounds_to_lonlat(it->src_wkt, ext, aoi, &ignored) == LODE_OK;
	}

	/* The coordinate operation, under the policy. */
	if ((rc = lode__crs_choose_operation(it->src_wkt, p->dst_wkt, have_aoi ? aoi : NULL, &pol,
					     d->operation, &it->op, err)))
		return lode__err_ctx(err, "choosing the coordinate operation: ");

	/* Overlap with the target bounds, with the operation that will be applied. */
	if ((rc = lode__crs_transform_bounds(it->src_wkt, p->dst_wkt, it->op.pipeline, ext,
					     it->src_extent_in_target, err)))
		return lode__err_ctx(err, "checking the overlap with target.bounds: ");
	{
		const double *s = it->src_extent_in_target, *b = m->bounds;
		if (s[2] <= b[0] || s[0] >= b[2] || s[3] <= b[1] || s[1] >= b[3])
			return lode__err(
			    err, LODE_ESOURCE,
			    "source '%s' does not overlap target.bounds: in the target CRS it covers [%.10g, "
			    "%.10g, %.10g, %.10g], the bounds are [%.10g, %.10g, %.10g, %.10g]",
			    d->source_path, s[0], s[1], s[2], s[3], b[0], b[1], b[2], b[3]);
	}
	return LODE_OK;
}

/* ---- vector layers ---- */

static lode_status plan_vector(plan *p, plan_item *it, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	const lode_vector_info *info;
	lode_policy pol = {p->m->max_error_m, p->m->allow_ballpark};
	double aoi[4];
	int have_aoi = 0;
	lode_status rc;

	if (d->has_resampling || d->bands || d->has_nodata || d->has_resolution || d->has_error_threshold)
		return lode__err(err, LODE_EMANIFEST,
				 "source '%s' is a vector layer: %s applies to rasters only", d->source_path,
				 d->has_resampling   ? "resampling:"
				 : d->bands          ? "bands:"
				 : d->has_nodata     ? "nodata:"
				 : d->has_resolution ? "resolution:"
						     : "error_threshold:");
	if ((rc = lode__vector_open(d->source_path, (const char *const *)d->open_options, &it->rules,
				    d->layer, d->where, &it->vsrc, err)))
		return rc;
	info = lode__vector_info(it->vsrc);
	/* A table (a layer without geometry): no CRS, no operation, nothing to place. */
	if (info->table) {
		it->is_table = 1;
		if (d->assume_crs || d->operation || d->clip)
			return lode__err(err, LODE_EMANIFEST,
					 "layer '%s' of '%s' has no geometry (it is stored as a table): %s "
					 "applies to layers with geometry only; remove it (for a CSV with "
					 "coordinates, name its columns with open_options: "
					 "[X_POSSIBLE_NAMES=lon, Y_POSSIBLE_NAMES=lat])",
					 info->layer, d->source_path,
					 d->assume_crs  ? "assume_crs:"
					 : d->operation ? "operation:"
							: "clip:");
		return LODE_OK;
	}
	if ((rc = settle_crs(it, info->crs_wkt, "see ogrinfo", "EPSG:4742", err)))
		return rc;
	if (info->has_extent) {
		lode_error ignored;
		have_aoi = lode__crs_bounds_to_lonlat(it->src_wkt, info->extent, aoi, &ignored) == LODE_OK;
	}
	if ((rc = lode__crs_choose_operation(it->src_wkt, p->dst_wkt, have_aoi ? aoi : NULL, &pol,
					     d->operation, &it->op, err)))
		return lode__err_ctx(err, "choosing the coordinate operation: ");
	/* An empty layer has no extent: it is kept as an empty layer. */
	if (info->has_extent) {
		const double *b = p->m->bounds, *s = it->src_extent_in_target;
		if ((rc = lode__crs_transform_bounds(it->src_wkt, p->dst_wkt, it->op.pipeline, info->extent,
						     it->src_extent_in_target, err)))
			return lode__err_ctx(err, "checking the overlap with target.bounds: ");
		if (s[2] < b[0] || s[0] > b[2] || s[3] < b[1] || s[1] > b[3])
			return lode__err(
			    err, LODE_ESOURCE,
			    "layer '%s' of '%s' does not overlap target.bounds: in the target CRS it covers "
			    "[%.10g, %.10g, %.10g, %.10g], the bounds are [%.10g, %.10g, %.10g, %.10g]",
			    info->layer, d->source_path, s[0], s[1], s[2], s[3], b[0], b[1], b[2], b[3]);
	}
	return LODE_OK;
}

/* ---- lineage ---- */

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
	json_object_set_new(pol, "max_error_m", num_or_null(1, p->m->max_error_m));
	json_object_set_new(pol, "allow_ballpark", json_boolean(p->m->allow_ballpark));
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

static json_t *lineage_json(const plan *p, const plan_item *it)
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
	lineage_versions(p, o);
	return o;
}

lode_status lode__plan_begin(const char *manifest_path, plan *p, lode_error *err)
{
	lode_status rc;

	memset(p, 0, sizeof *p);
	lode__gdal_init();
	if ((rc = lode__manifest_load(manifest_path, &p->m, err)))
		return rc;
	if ((rc = lode__crs_to_wkt(p->m->target_crs, &p->dst_wkt, err)))
		return lode__err_ctx(err, "%s: target.crs: ", manifest_path);
	p->dst_label = lode__crs_label(p->dst_wkt);
	lode__proj_versions(&p->proj_version, &p->epsg_version);
	{
		/* GDAL's own switches behind lode's checks: the network stays off unless a
		   dataset allows it. */
		int network = 0;
		for (size_t i = 0; i < p->m->ndatasets; i++)
			network |= p->m->datasets[i].allow_network;
		lode__source_lockdown(network);
	}
	p->items = calloc(p->m->ndatasets ? p->m->ndatasets : 1, sizeof *p->items);
	if (!p->items || !p->dst_label || !p->proj_version || !p->epsg_version)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

lode_status lode__plan_build(const char *manifest_path, const lode_run_options *opt, plan *p, lode_error *err)
{
	lode_status rc;

	if ((rc = lode__plan_begin(manifest_path, p, err)))
		return rc;
	for (size_t i = 0; i < p->m->ndatasets; i++) {
		p->items[i].spec = &p->m->datasets[i];
		lode__plan_item_rules(p, &p->items[i]);
		p->n = i + 1;
		/* Planning opens and hashes every source: let an interrupt stop it too. */
		if (opt && opt->progress && opt->progress(0.0, "planning", opt->progress_user))
			return lode__err(err, LODE_EIO, "interrupted while planning: nothing was written");
		if ((rc = plan_one(p, &p->items[i], opt, err)) && interrupted((void *)opt))
			return lode__err(err, LODE_EIO, "interrupted while planning: nothing was written");
		if (rc)
			return lode__err_ctx(err, "%s:%d: dataset '%s': ", manifest_path,
					     p->m->datasets[i].line, p->m->datasets[i].name);
		if (!(p->items[i].lineage = lineage_json(p, &p->items[i])))
			return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	/* A vector layer V owns every root name V_...: no other dataset may take one. */
	for (size_t i = 0; i < p->n; i++) {
		size_t len = strlen(p->items[i].spec->name);
		if (!p->items[i].is_vector)
			continue;
		for (size_t j = 0; j < p->n; j++)
			if (j != i && strncmp(p->items[j].spec->name, p->items[i].spec->name, len) == 0 &&
			    p->items[j].spec->name[len] == '_')
				return lode__err(
				    err, LODE_EMANIFEST,
				    "%s:%d: dataset '%s': the name clashes with vector layer '%s', whose "
				    "variables are named %s_...; rename one of them",
				    manifest_path, p->items[j].spec->line, p->items[j].spec->name,
				    p->items[i].spec->name, p->items[i].spec->name);
	}
	return LODE_OK;
}

/* ---- plan as JSON (lode plan) ---- */

lode_status lode_plan_json(const char *manifest_path, char **report_json, lode_error *err)
{
	plan p;
	json_t *root = NULL, *arr;
	lode_status rc;

	*report_json = NULL;
	lode__err_clear(err);
	if ((rc = lode__plan_build(manifest_path, NULL, &p, err)))
		goto out;
	root = json_object();
	arr = json_array();
	json_object_set_new(root, "manifest", json_string(manifest_path));
	json_object_set_new(root, "target_crs", json_string(p.dst_label));
	json_object_set_new(root, "datasets", arr);
	for (size_t i = 0; i < p.n; i++)
		json_array_append(arr, p.items[i].lineage);
	*report_json = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!*report_json)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	json_decref(root);
	lode__plan_free(&p);
	return rc;
}
