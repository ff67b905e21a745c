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

#include "crs_footprint.h"
#include "crs_proj.h"
#include "dtype.h"
#include "error.h"
#include "harmonize.h"
#include "schema.h"
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
		free(it->warning);
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

/* Where a dataset's policy came from, for messages: "the dataset's policy (line 12)" or
   "the manifest's policy". */
static void policy_origin(const lode_dataset_spec *d, int key_given, char *buf, size_t n)
{
	if (key_given)
		snprintf(buf, n, "datasets[%d].policy, line %d", d->index, d->policy.at.line);
	else
		snprintf(buf, n, "the manifest's policy");
}

/*
 * The warning line for an accepted ballpark or unknown-accuracy operation (NULL when
 * there is none to give): dataset, operation, why it is ballpark, which policy let it
 * through.  malloc'd.
 */
static char *op_warning(const plan *p, const plan_item *it)
{
	const lode_op *op = &it->op;
	const lode_dataset_spec *d = it->spec;
	char origin[96], code[160], via[256] = "";

	if (!op->ballpark && op->accuracy >= 0)
		return NULL;
	policy_origin(d, d->policy.has_allow_ballpark, origin, sizeof origin);
	snprintf(code, sizeof code, "%s%.120s%s", op->code ? " (" : "", op->code ? op->code : "",
		 op->code ? ")" : " (no EPSG code)");
	if (op->via)
		snprintf(via, sizeof via,
			 "; through %s the known steps add up to %g m, the total is not known", op->via,
			 op->accuracy_known_m);
	if (op->ballpark)
		return lode__sprintf(
		    "dataset '%s' (%s:%d): accepted a ballpark operation '%.300s'%s: its step '%.160s' "
		    "assumes the two datums coincide (PROJ knows no transformation between them for "
		    "this area), so its error is unknown and may reach tens or hundreds of metres%s; "
		    "allowed by %s (allow_ballpark: true)",
		    d->name, p->m->path, d->line, op->name, code,
		    op->ballpark_step ? op->ballpark_step : op->name, via, origin);
	return lode__sprintf("dataset '%s' (%s:%d): accepted operation '%.300s'%s of unknown accuracy (PROJ "
			     "records none for it)%s; allowed by %s (allow_ballpark: true)",
			     d->name, p->m->path, d->line, op->name, code, via, origin);
}

/* The coordinate operation of an item, under its policy (the dataset's over the
   manifest's), straight or through the dataset's via: CRS.  aoi may be NULL. */
static lode_status choose_op(const plan *p, plan_item *it, const double *aoi, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	lode_status rc;

	it->pol.max_error_m = d->policy.has_max_error_m ? d->policy.max_error_m : p->m->max_error_m;
	it->pol.allow_ballpark =
	    d->policy.has_allow_ballpark ? d->policy.allow_ballpark : p->m->allow_ballpark;
	if (d->via && d->operation)
		return lode__err(
		    err, LODE_EMANIFEST,
		    "via: (line %d) and operation: (line %d) cannot go together: operation: names "
		    "the whole operation, via: lets lode choose one through an intermediate CRS; "
		    "keep one",
		    d->at_via.line, d->at_operation.line);
	if (d->via) {
		char *vw = NULL;
		if ((rc = lode__crs_to_wkt(d->via, &vw, err)))
			return lode__err_ctx(err, "via: ");
		rc = lode__crs_choose_via(it->src_wkt, vw, p->dst_wkt, aoi, &it->pol, &it->op, err);
		free(vw);
	} else {
		rc = lode__crs_choose_operation(it->src_wkt, p->dst_wkt, aoi, &it->pol, d->operation, &it->op,
						err);
	}
	if (rc == LODE_EPOLICY && !d->via && !d->operation) {
		char msg[sizeof err->message];
		snprintf(msg, sizeof msg, "%s", err->message);
		lode__err(err, LODE_EPOLICY,
			  "%s (under %s; a dataset may name an intermediate CRS, e.g. via: EPSG:4326, "
			  "through which PROJ may know real transformations)",
			  msg, d->policy.at.line ? "the dataset's own policy" : "the manifest's policy");
	}
	if (rc)
		return lode__err_ctx(err,
				     "choosing the coordinate operation%s: ", d->via ? " through via:" : "");
	it->warning = op_warning(p, it);
	if ((it->op.ballpark || it->op.accuracy < 0) && !it->warning)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
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
	it->rules.confine =
	    it->spec->policy.has_confine_sources ? it->spec->policy.confine_sources : p->m->confine_sources;
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
	if (it->rules.confine) {
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

/*
 * Whether the source box ext (source CRS) overlaps target.bounds once transformed with
 * the chosen operation; refuses the dataset when it does not, naming what (the raster's
 * source, or the layer and its source).  touching: whether boxes that only touch overlap.
 *
 * When every sampled point of the source transforms, the box of the transformed points
 * must overlap the bounds.  When some do not (a geostationary image's corners off the
 * Earth's disk), they are left out as gdalwarp leaves them out, and the box of the others
 * says too little (too small when the part near the limb is missed, too large when the
 * others fall both sides of a geographic target's antimeridian): then one of them must
 * fall inside the bounds.  Either way a point of the bounds that transforms back into the
 * source also counts (a source across the antimeridian of a geographic target, a polar
 * grid around the pole).
 */
static lode_status check_overlap(plan *p, plan_item *it, const double ext[4], int touching, const char *what,
				 lode_error *err)
{
	const double *b = p->m->bounds, *s = it->src_extent_in_target;
	lode_footprint fp;
	lode_status rc;

	if ((rc = lode__crs_footprint(it->src_wkt, p->dst_wkt, it->op.pipeline, ext, b, 0, &fp, err)))
		return lode__err_ctx(err, "checking the overlap with target.bounds: ");
	memcpy(it->src_extent_in_target, fp.covers, sizeof fp.covers);
	if (fp.ntransformed == fp.nsampled
		? (touching ? !(s[2] < b[0] || s[0] > b[2] || s[3] < b[1] || s[1] > b[3])
			    : !(s[2] <= b[0] || s[0] >= b[2] || s[3] <= b[1] || s[1] >= b[3]))
		: fp.ninside > 0)
		return LODE_OK;
	if ((rc = lode__crs_footprint(it->src_wkt, p->dst_wkt, it->op.pipeline, ext, b, 1, &fp, err)))
		return lode__err_ctx(err, "checking the overlap with target.bounds: ");
	if (fp.nback > 0)
		return LODE_OK;
	if (fp.ntransformed == 0)
		return lode__err(
		    err, LODE_ESOURCE,
		    "%s does not overlap target.bounds: none of the %d points sampled over its "
		    "extent [%.10g, %.10g, %.10g, %.10g] can be transformed to the target CRS (they "
		    "lie outside the area where a CRS is defined), and no point of the bounds "
		    "transforms back into it",
		    what, fp.nsampled, ext[0], ext[1], ext[2], ext[3]);
	if (fp.ntransformed < fp.nsampled)
		return lode__err(
		    err, LODE_ESOURCE,
		    "%s does not overlap target.bounds: %d of the %d points sampled over its extent "
		    "cannot be transformed to the target CRS (they lie outside the area where a CRS "
		    "is defined), none of the others falls inside the bounds [%.10g, %.10g, %.10g, "
		    "%.10g], and no point of the bounds transforms back into it",
		    what, fp.nsampled - fp.ntransformed, fp.nsampled, b[0], b[1], b[2], b[3]);
	return lode__err(err, LODE_ESOURCE,
			 "%s does not overlap target.bounds: in the target CRS it covers [%.10g, %.10g, "
			 "%.10g, %.10g], the bounds are [%.10g, %.10g, %.10g, %.10g]",
			 what, s[0], s[1], s[2], s[3], b[0], b[1], b[2], b[3]);
}

/* The rest of planning a raster: everything but the checks and the hash of plan_one. */
static lode_status plan_raster(plan *p, plan_item *it, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	const lode_manifest *m = p->m;
	const lode_raster_info *info;
	double ext[4], aoi[4], xres, yres;
	int have_aoi;
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
		return lode__err_ctx(err, "%s (line %d, %g x %g %ss) and target.bounds (line %d, in %ss): ",
				     d->has_resolution ? "the dataset's resolution" : "target.resolution",
				     d->has_resolution ? d->at_resolution.line : m->at_resolution.line, xres,
				     yres, m->target_units ? m->target_units : "unit", m->at_bounds.line,
				     m->target_units ? m->target_units : "unit");

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
		/* When no edge of the extent transforms (a geostationary full disk), the points of
		   it that do. */
		have_aoi = lode__crs_bounds_to_lonlat(it->src_wkt, ext, aoi, &ignored) == LODE_OK ||
			   lode__crs_footprint_lonlat(it->src_wkt, ext, aoi, &ignored) == LODE_OK;
	}

	/* The coordinate operation, under the policy. */
	if ((rc = choose_op(p, it, have_aoi ? aoi : NULL, err)))
		return rc;

	/* Overlap with the target bounds, with the operation that will be applied. */
	{
		char what[1100];
		snprintf(what, sizeof what, "source '%s'", d->source_path);
		return check_overlap(p, it, ext, 0, what, err);
	}
}

/* ---- vector layers ---- */

static lode_status plan_vector(plan *p, plan_item *it, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	const lode_vector_info *info;
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
				    d->layer, d->where, !p->count_when_read, &it->vsrc, err)))
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
	if ((rc = choose_op(p, it, have_aoi ? aoi : NULL, err)))
		return rc;
	/* An empty layer has no extent: it is kept as an empty layer. */
	if (info->has_extent) {
		char what[1400];
		snprintf(what, sizeof what, "layer '%s' of '%s'", info->layer, d->source_path);
		return check_overlap(p, it, info->extent, 1, what, err);
	}
	return LODE_OK;
}

/* ---- lineage ---- */

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

/* The datasets' problems, one line each, the first code kept. */
typedef struct problem_list {
	int n;
	lode_status code;
	char text[sizeof((lode_error *)0)->message];
	size_t len;
} problem_list;

static void note_problem(problem_list *l, const lode_error *err)
{
	char line[1200];
	size_t need;

	if (l->n++ == 0)
		l->code = err->code;
	lode__printable(line, sizeof line, err->message);
	need = strlen(line) + (l->len ? 1 : 0);
	if (l->n <= LODE_MANIFEST_MAX_ERRORS && l->len + need + 120 < sizeof l->text) {
		snprintf(l->text + l->len, sizeof l->text - l->len, "%s%s", l->len ? "\n" : "", line);
		l->len += need;
	} else if (l->n <= LODE_MANIFEST_MAX_ERRORS) {
		l->n = LODE_MANIFEST_MAX_ERRORS + 1;
	}
}

static lode_status problems_out(const problem_list *l, const char *path, lode_error *err)
{
	if (l->n > LODE_MANIFEST_MAX_ERRORS)
		lode__err(err, l->code, "%s\n%s: more datasets have problems: fix these first", l->text,
			  path);
	else
		lode__err(err, l->code, "%s", l->text);
	err->lines = 1; /* each line escaped by note_problem() */
	return l->code;
}

/* harmonize: (issue 16): the vocabularies read and hashed into the lineage. */
static lode_status plan_harmonize(plan_item *it, lode_error *err)
{
	json_t *rec;

	if (!it->spec->harmonize && !it->spec->schema)
		return LODE_OK;
	if (!it->spec->harmonize) {
		json_t *none = NULL;
		return lode__schema_check(it->spec, &none, err);
	}
	if (!it->is_vector)
		return lode__err(err, LODE_EMANIFEST,
				 "line %d: harmonize: applies to vector layers and tables only",
				 it->spec->harmonize->at.line);
	if (lode__harmonize_check_fields(it->spec, lode__vector_info(it->vsrc)->field_names, err))
		return err->code;
	if (!(rec = lode__harmonize_plan(it->spec, err)))
		return err->code;
	json_object_set_new(it->lineage, "harmonize", rec);
	if (it->spec->schema) {
		lode_status rc = lode__schema_check(it->spec, &rec, err);
		if (rc)
			return rc;
		json_object_set_new(it->lineage, "schema", rec);
	}
	return LODE_OK;
}

static lode_status build(const char *manifest_path, const lode_run_options *opt, int count_when_read, plan *p,
			 lode_error *err)
{
	problem_list probs = {0};
	lode_status rc;

	if ((rc = lode__plan_begin(manifest_path, p, err)))
		return rc;
	p->count_when_read = count_when_read;
	for (size_t i = 0; i < p->m->ndatasets; i++) {
		p->items[i].spec = &p->m->datasets[i];
		lode__plan_item_rules(p, &p->items[i]);
		p->n = i + 1;
		/* Planning opens and hashes every source: let an interrupt stop it too. */
		if (opt && opt->progress && opt->progress(0.0, "planning", opt->progress_user))
			return lode__err(err, LODE_EIO, "interrupted while planning: nothing was written");
		if ((rc = plan_one(p, &p->items[i], opt, err)) && interrupted((void *)opt))
			return lode__err(err, LODE_EIO, "interrupted while planning: nothing was written");
		if (rc == LODE_ENOMEM)
			return rc;
		if (rc) {
			/* Recorded, and the next dataset planned: every dataset's problem at once. */
			lode__err_ctx(err, "%s:%d: dataset '%s': ", manifest_path, p->m->datasets[i].line,
				      p->m->datasets[i].name);
			note_problem(&probs, err);
			continue;
		}
		if (!(p->items[i].lineage = lode__plan_lineage(p, &p->items[i])))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		if ((rc = plan_harmonize(&p->items[i], err)) == LODE_ENOMEM)
			return rc;
		if (rc) {
			lode__err_ctx(err, "%s:%d: dataset '%s': ", manifest_path, p->m->datasets[i].line,
				      p->m->datasets[i].name);
			note_problem(&probs, err);
		}
	}
	if (probs.n)
		return problems_out(&probs, manifest_path, err);
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
	if ((rc = lode__plan_relations(p, manifest_path, err)))
		return rc;
	/* Planned: now each accepted ballpark or unknown-accuracy operation is said aloud. */
	for (size_t i = 0; opt && opt->warn && i < p->n; i++)
		if (p->items[i].warning)
			opt->warn(p->items[i].warning, opt->warn_user);
	return LODE_OK;
}

lode_status lode__plan_build(const char *manifest_path, const lode_run_options *opt, plan *p, lode_error *err)
{
	return build(manifest_path, opt, 0, p, err);
}

lode_status lode__plan_build_to_run(const char *manifest_path, const lode_run_options *opt, plan *p,
				    lode_error *err)
{
	return build(manifest_path, opt, 1, p, err);
}
