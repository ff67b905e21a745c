/*
 * write.c -- writing datasets into a bundle, and bundle files into place.
 *
 * A raster is warped in strips of whole HDF5 chunk rows (memory is bounded by one strip,
 * whatever the raster's size); each strip's chunks are written as encoded and its rows
 * fed to the content digest.  A band of rows can be written on its own as a dataset of
 * that many rows: its chunks are then byte for byte the ones the whole raster has there,
 * which is what lets lode package assemble tiles made on different nodes by copying them.
 *
 * A bundle file is written in a private folder beside its destination and renamed into
 * place only when complete (after fsync), so that nothing half-written ever sits under
 * a final name and no write follows a name someone else planted (publish.h).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "crs_proj.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "harmonize.h"
#include "legend.h"
#include "lode.h"
#include "plan.h"
#include "publish.h"
#include "raster_gdal.h"
#include "tiles.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"
#include "warp_params.h"
#include "write.h"

int lode__tick(lode__progress *pr, double amount, const char *label)
{
	pr->done += amount;
	if (pr->opt && pr->opt->progress)
		return pr->opt->progress(pr->total > 0 ? pr->done / pr->total : 1.0, label,
					 pr->opt->progress_user);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

lode_status lode__record_raster_values(lode__known *k, const char *name, const char *content, lode_error *err)
{
	char *path = lode__sprintf("/%s/%s", name, name);
	lode_status rc;

	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	rc = lode__known_add(k, path, content, err);
	free(path);
	return rc;
}

lode_status lode__record_vector_values(lode__known *k, const char *name, const lode_vdata *d,
				       char coords[3][65], char (*texts)[65], lode_error *err)
{
	static const char *const axes[3] = {"X", "Y", "Z"};
	lode_status rc = LODE_OK;

	for (int a = 0; a < (d->has_z ? 3 : 2) && !rc; a++) {
		char *path = lode__sprintf("/%s_coord%s", name, axes[a]);
		rc = path ? lode__known_add(k, path, coords[a], err)
			  : lode__err(err, LODE_ENOMEM, "out of memory");
		free(path);
	}
	/* Text fields: NAME_field_VAR at the root, a table's in its group NAME (bundle_vector.c). */
	for (size_t i = 0; texts && i < d->nfields && !rc; i++) {
		char *path;
		if (!texts[i][0])
			continue;
		path = d->kind == LODE_GK_NONE
			   ? lode__sprintf("/%s/%s_field_%s", name, name, d->fields[i].var)
			   : lode__sprintf("/%s_field_%s", name, d->fields[i].var);
		rc = path ? lode__known_add(k, path, texts[i], err)
			  : lode__err(err, LODE_ENOMEM, "out of memory");
		free(path);
	}
	return rc;
}

/* ---- rasters ---- */

/* The lineage's band_names or band_units array. */
static const json_t *band_array(const plan_item *it, int units)
{
	return json_object_get(it->lineage, units ? "band_units" : "band_names");
}

char *lode__band_text(const plan_item *it, int units, int *oom)
{
	const json_t *a = band_array(it, units);
	const char **texts = calloc((size_t)it->nbands, sizeof *texts);
	char *text;

	if (!texts) {
		*oom = 1;
		return NULL;
	}
	for (int i = 0; i < it->nbands; i++)
		texts[i] = json_string_value(json_array_get(a, (size_t)i));
	text = lode__join_lines(texts, (size_t)it->nbands, oom);
	free(texts);
	return text;
}

lode_status lode__finish_raster(lode__bvar *v, const char *source, const char *lineage, const char *content,
				const char *names, const char *units, lode_error *err)
{
	lode_attr attrs[5] = {
	    {"source", source},
	    {"lode_lineage", lineage},
	    {"lode_content_sha256", content},
	};
	size_t n = 3;

	if (names)
		attrs[n++] = (lode_attr){"lode_band_names", names};
	if (units)
		attrs[n++] = (lode_attr){"lode_band_units", units};
	{
		double *fv = NULL;
		size_t nf = 0;
		char *fm = NULL;
		lode_status rc = LODE_OK;

		if (lode__legend_flags(lineage, lode__bvar_nbands(v), lode__bvar_dtype(v), &fv, &nf, &fm))
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		if (!rc)
			rc = lode__bvar_set_flags(v, fv, nf, fm, err);
		free(fv);
		free(fm);
		if (rc) {
			lode__bvar_free(v);
			return rc;
		}
	}
	return lode__bvar_finish(v, attrs, n, err);
}

/* The unit every band shares, or NULL when they differ or have none. */
static const char *common_unit(const plan_item *it)
{
	const json_t *a = band_array(it, 1);
	const char *u = json_string_value(json_array_get(a, 0));

	for (int i = 1; u && i < it->nbands; i++) {
		const char *ui = json_string_value(json_array_get(a, (size_t)i));
		if (!ui || strcmp(u, ui) != 0)
			return NULL;
	}
	return u && u[0] ? u : NULL;
}

void lode__raster_def(const plan *p, const plan_item *it, lode_raster_def *def)
{
	memset(def, 0, sizeof *def);
	def->name = it->spec->name;
	def->dtype = it->dtype;
	def->nbands = it->nbands;
	def->nx = it->nx;
	def->ny = it->ny;
	def->crs_wkt = p->dst_wkt;
	def->has_nodata = it->has_nodata;
	def->nodata = it->nodata;
	def->unit = common_unit(it);
	def->long_name = it->nbands == 1 ? json_string_value(json_array_get(band_array(it, 0), 0)) : NULL;
	def->chunk = LODE_CHUNK;
	memcpy(def->gt, it->gt, sizeof def->gt);
}

/*
 * --max-memory for a raster: how many worker threads fit beside GDAL's block cache and
 * one strip (the strip buffer, and its encoded chunks twice over at worst), each worker
 * taking about five chunk-sized buffers (its window, a band's chunk, the codec's and the
 * warper's); the calling thread works too, with buffers of its own.  Fewer threads than
 * asked when needed; not even one fitting is an error.
 */
static lode_status bounded_threads(const plan *p, const plan_item *it, int rows, int cols, int *threads,
				   lode_error *err)
{
	const double mb = 1048576.0;
	size_t esize = lode__dtype_size(it->dtype), strip, tile, fixed, per, fit;
	int want = *threads > 0 ? *threads : lode__default_threads();

	if (!p->max_memory)
		return LODE_OK;
	strip = (size_t)it->nx * (size_t)rows * (size_t)it->nbands * esize;
	tile = (size_t)rows * (size_t)cols * (size_t)it->nbands * esize;
	fixed = lode__gdal_bound_cache(0) + 3 * strip;
	per = 5 * tile;
	if (fixed + 2 * per > p->max_memory)
		return lode__err(
		    err, LODE_ESOURCE, /* this dataset cannot be made within the bound */
		    "warping it needs about %.0f MB with one thread (a strip of %d x %d pixels x %d "
		    "band%s, and GDAL's block cache of %.0f MB), more than --max-memory allows "
		    "(%.0f MB)",
		    (fixed + 2 * per) / mb, it->nx, rows, it->nbands, it->nbands == 1 ? "" : "s",
		    lode__gdal_bound_cache(0) / mb, p->max_memory / mb);
	fit = (p->max_memory - fixed) / per - 1;
	*threads = fit < (size_t)want ? (int)fit : want;
	return LODE_OK;
}

/* The warper's parameters for the whole target grid of raster item it. */
static void warp_params(const plan *p, const plan_item *it, lode_warp_params *wp)
{
	*wp = (lode_warp_params){
	    .src_crs_wkt = it->src_wkt,
	    .dst_crs_wkt = p->dst_wkt,
	    .pipeline = it->op.pipeline,
	    .nx = it->nx,
	    .ny = it->ny,
	    .bands = it->bands,
	    .nbands = it->nbands,
	    .resampling = it->spec->resampling,
	    .error_threshold = it->et,
	    .has_src_nodata = it->has_nodata,
	    .src_nodata = it->nodata,
	    .has_dst_nodata = it->has_nodata,
	    .dst_nodata = it->nodata,
	    .dtype = it->dtype,
	    .max_scratch = p->max_memory / 4, /* docs/cli.md, Memory */
	};
	memcpy(wp->gt, it->gt, sizeof wp->gt);
}

/*
 * The tiler that warps and encodes variable v's strips, with as many threads as the
 * memory bound allows: *nthreads of them, strips of *rows rows, chunks *tcols wide.
 * wp must outlive the tiler.
 */
static lode_status start_tiler(const plan *p, const plan_item *it, const lode_warp_params *wp, lode__bvar *v,
			       lode__tiler **tiler, int *nthreads, int *rows, int *tcols, lode_error *err)
{
	lode_status rc;
	lode_tiler_params tp = {.source_path = it->spec->source_path,
				.source = it->src,
				.open_options = (const char *const *)it->spec->open_options,
				.rules = &it->rules,
				.wp = wp,
				.threads = p->threads,
				.level = lode__bundle_deflate_level()};

	lode__bvar_chunk(v, &tp.chunk_rows, &tp.chunk_cols);
	lode__bvar_fill(v, tp.fill);
	if ((rc = bounded_threads(p, it, tp.chunk_rows, tp.chunk_cols, &tp.threads, err)))
		return rc;
	*nthreads = tp.threads > 0 ? tp.threads : lode__default_threads();
	*rows = tp.chunk_rows;
	*tcols = tp.chunk_cols;
	return lode__tiler_new(&tp, tiler, err);
}

/* For developers: LODE_PROFILE set and not 0. */
static int profiling(void)
{
	const char *v = getenv("LODE_PROFILE");

	return v && strcmp(v, "") != 0 && strcmp(v, "0") != 0;
}

/* Where a raster's time went (LODE_PROFILE). */
static void print_profile(const plan_item *it, int nthreads, int decoders, const double prof[3])
{
	if (profiling()) {
		long fast, gdal, mbytes, mfloats, kmode, kbytes, kfloats, blocks, to_gdal;
		char dec[48] = "";
		if (decoders > 0)
			snprintf(dec, sizeof dec, " (the source decoded on %d)", decoders);
		lode__warp_counts(&fast, &gdal);
		lode__warp_mode_counts(&mbytes, &mfloats);
		lode__warp_mode_kernel_counts(&kmode, &kbytes, &kfloats);
		lode__source_block_counts(&blocks, &to_gdal);
		fprintf(stderr,
			"lode: profile: %s: %d threads%s, warp+encode %.2f s, write %.2f s, digest %.2f s; "
			"windows so far: %ld by lode's bilinear kernel, %ld by GDAL's warper (mode on "
			"bytes %ld, on floats %ld), %ld by lode's average kernel, %ld by lode's cubic "
			"kernel, %ld by lode's cubicspline kernel, %ld by lode's lanczos kernel, %ld by "
			"its rms, min, max, med, q1 and q3 kernel, %ld by its sum kernel, %ld by its mode "
			"kernel (16-bit values as bytes %ld, as floats %ld), %ld by lode's nearest kernel; "
			"source blocks decoded by lode %ld (windows it left to GDAL %ld); chunk rows "
			"computed by helping threads %ld\n",
			it->spec->name, nthreads, dec, prof[0], prof[1], prof[2], fast, gdal, mbytes, mfloats,
			lode__warp_average_count(), lode__warp_cubic_count(), lode__warp_spline_count(),
			lode__warp_lanczos_count(), lode__warp_stats_count(), lode__warp_sum_count(), kmode,
			kbytes, kfloats, lode__warp_nearest_count(), blocks, to_gdal,
			lode__warp_rows_shared());
	}
}

lode_status lode__write_raster(plan *p, plan_item *it, lode__bundle *b, int row0, int nrows,
			       const char *lineage, lode__progress *pr, lode__known *known, lode_error *err)
{
	lode__tiler *tiler = NULL;
	unsigned char *strip = NULL, **chunks[2] = {NULL, NULL};
	size_t *lens[2] = {NULL, NULL}, nchunks = 0;
	int ncols = 0, tcols = 0, pending = 0, end = row0 + nrows;
	double prof[3] = {0, 0, 0};
	lode__bvar *v = NULL;
	lode__content_hash *h = NULL;
	char *names_text = NULL, *units_text = NULL;
	char content[65];
	size_t esize = lode__dtype_size(it->dtype), plane;
	int rows = LODE_CHUNK, oom1, oom2, nthreads = 0;
	lode_status rc = LODE_OK;

	lode_warp_params wp;

	warp_params(p, it, &wp);
	names_text = lode__band_text(it, 0, &oom1);
	units_text = lode__band_text(it, 1, &oom2);
	if (oom1 || oom2) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	{
		/* A band of rows is a raster of its own, nrows high, starting row0 rows down. */
		lode_raster_def def;
		lode__raster_def(p, it, &def);
		def.band_names = names_text;
		def.band_units = units_text;
		def.ny = nrows;
		def.gt[3] = it->gt[3] + row0 * it->gt[5];
		if ((rc = lode__bundle_add_raster(b, &def, &v, err)))
			goto out;
	}
	if ((rc = start_tiler(p, it, &wp, v, &tiler, &nthreads, &rows, &tcols, err)))
		goto out;
	ncols = lode__tiler_count(tiler);
	plane = (size_t)it->nx * (size_t)rows * esize;
	nchunks = (size_t)ncols * (size_t)it->nbands;
	strip = malloc(plane * (size_t)it->nbands);
	for (int k = 0; k < 2; k++) {
		chunks[k] = calloc(nchunks, sizeof *chunks[k]);
		lens[k] = calloc(nchunks, sizeof *lens[k]);
	}
	h = lode__content_hash_new(it->nbands);
	if (!strip || !chunks[0] || !chunks[1] || !lens[0] || !lens[1] || !h) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory (a strip of %d rows needs %zu bytes)", rows,
			       plane * (size_t)it->nbands);
		goto out;
	}
	/* One chunk row at a time.  Once strip k is warped and encoded, this thread hashes
	   its rows, hands the strip buffer to the workers for strip k+1, and writes strip k's
	   encoded chunks (kept apart, double-buffered) in a fixed order while they work: one
	   strip of pixels in memory, whatever the raster's size. */
	lode__tiler_submit(tiler, row0, end - row0 < rows ? end - row0 : rows, strip, chunks[0], lens[0]);
	pending = 1;
	for (int y0 = row0, k = 0; y0 < end; y0 += rows, k ^= 1) {
		int ny = end - y0 < rows ? end - y0 : rows, nt = 0, next = y0 + rows;
		size_t pl = (size_t)it->nx * (size_t)ny * esize;
		double t0 = now_s(), t1, t2;

		rc = lode__tiler_wait(tiler, &nt, err);
		pending = 0;
		if (rc)
			goto out;
		t1 = now_s();
		for (int bd = 0; bd < it->nbands; bd++)
			lode__content_hash_update(h, bd, strip + (size_t)bd * pl, pl);
		if (next < end) {
			lode__tiler_submit(tiler, next, end - next < rows ? end - next : rows, strip,
					   chunks[k ^ 1], lens[k ^ 1]);
			pending = 1;
		}
		t2 = now_s();
		for (int c = 0; c < nt && !rc; c++)
			for (int bd = 0; bd < it->nbands && !rc; bd++)
				rc = lode__bvar_write_chunk(v, bd, y0 - row0, c * tcols,
							    chunks[k][(size_t)bd * nt + c],
							    lens[k][(size_t)bd * nt + c], err);
		for (size_t i = 0; i < nchunks; i++) {
			free(chunks[k][i]);
			chunks[k][i] = NULL;
		}
		if (rc)
			goto out;
		lode__bundle_writeback(b); /* the strips so far on disk while the next is made */
		prof[0] += t1 - t0;
		prof[1] += now_s() - t2;
		prof[2] += t2 - t1;
		if (lode__tick(pr, (double)it->nx * ny * it->nbands, it->spec->name)) {
			rc = lode__err(err, LODE_EIO, "interrupted at rows %d-%d: nothing was written", y0,
				       y0 + ny - 1);
			goto out;
		}
	}
	lode__content_hash_final(h, content);
	h = NULL;
	print_profile(it, nthreads, lode__tiler_decoders(tiler), prof);

	rc = lode__finish_raster(v, it->spec->source, lineage, content, names_text, units_text, err);
	v = NULL;
	if (rc)
		goto out;
	rc = lode__record_raster_values(known, it->spec->name, content, err);
out:
	free(names_text);
	free(units_text);
	if (h) {
		char ignored[65];
		lode__content_hash_final(h, ignored);
	}
	if (pending) { /* let the workers finish with the buffers before they go */
		int nt;
		lode_error ignored;
		lode__tiler_wait(tiler, &nt, &ignored);
	}
	lode__tiler_free(tiler);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; chunks[k] && i < nchunks; i++)
			free(chunks[k][i]);
		free(chunks[k]);
		free(lens[k]);
	}
	free(strip);
	lode__bvar_free(v);
	return rc;
}

/* ---- vector layers ---- */

/* What is computed from a layer's values beside writing them: its content digest and
   the extent its lineage records. */
typedef struct digest_job {
	const lode_vdata *d;
	char *content; /* 65 bytes */
	char coords[3][65];
	char (*texts)[65]; /* one per field */
	double extent[4];
	pthread_t thread;
} digest_job;

static void *digest_main(void *arg)
{
	digest_job *j = arg;

	lode__vector_digest_ex(j->d, j->content, j->coords, j->texts);
	lode__vector_extent(j->d, j->extent);
	return NULL;
}

lode_status lode__write_vector(plan *p, plan_item *it, lode__bundle *b, lode__progress *pr,
			       lode__known *known, lode_error *err)
{
	lode_vector_read r = {.src_crs_wkt = it->src_wkt,
			      .dst_crs_wkt = p->dst_wkt,
			      .pipeline = it->op.pipeline,
			      .bounds = p->m->bounds,
			      .clip = it->spec->clip,
			      .max_bytes = p->max_memory,
			      .threads = p->threads,
			      .drain = lode__xyw_drain};
	lode_vdata *d = NULL;
	lode__xyw *xy = NULL;
	json_t *lj = NULL, *counts = NULL;
	char *lineage = NULL, content[65];
	digest_job dj = {0};
	int digesting = 0, reread = 0;
	lode_status rc;

	/* x and y are most of a layer's bytes: compress them on another core while the
	   features are read, and store them as they come, so that the disk has them by the
	   time the layer is written. */
	if ((rc = lode__bundle_xy_begin(b, it->spec->name, p->dst_wkt, &xy, err)))
		goto out;
	r.xy = lode__xyw_encoder(xy);
	r.drain_arg = xy;
	r.reread = &reread;
	if ((rc = lode__vector_read(it->vsrc, &r, &d, err)))
		goto out;
	if (reread)
		lode__xyw_discard(xy);
	/* lode run counts a layer without a fast count as it reads it (plan.count_when_read):
	   the lineage gets the count lode plan would have recorded. */
	{
		json_t *src = json_object_get(it->lineage, "source");
		json_t *count = json_object_get(src, "feature_count");
		long long n = lode__vector_info(it->vsrc)->nfeat;
		if (p->count_when_read && count && json_integer_value(count) < 0) {
			if (json_object_set_new(src, "feature_count", json_integer(n)) != 0) {
				rc = lode__err(err, LODE_ENOMEM, "out of memory");
				goto out;
			}
			if (profiling())
				fprintf(stderr, "lode: profile: %s: %lld features, counted as read\n",
					it->spec->name, n);
		}
	}
	/* The field map (harmonize:) on the fields as read: geometries are untouched. */
	if (it->spec->harmonize &&
	    (rc = lode__harmonize_apply(it->spec, json_object_get(it->lineage, "harmonize"), d, p->max_memory,
					&counts, err)))
		goto out;
	/* The content digest and the extent on another core while the layer is written (it
	   reads d only); the lineage and the digest go on the layer's variable last. */
	dj.d = d;
	dj.content = content;
	content[0] = '\0';
	if (!(dj.texts = calloc(d->nfields ? d->nfields : 1, sizeof *dj.texts))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	digesting = p->threads != 1 && pthread_create(&dj.thread, NULL, digest_main, &dj) == 0;
	if (!digesting)
		digest_main(&dj);
	{
		lode_attr attrs[] = {
		    {"long_name", lode__vector_info(it->vsrc)->layer},
		    {"source", it->spec->source},
		};
		if ((rc = lode__bundle_add_vector(b, it->spec->name, p->dst_wkt, d, xy, attrs, 2, err)))
			goto out;
	}
	if (digesting) {
		pthread_join(dj.thread, NULL);
		digesting = 0;
	}
	lj = lode__vector_lineage(it->lineage, d, dj.extent);
	if (lode__harmonize_with_counts(lj, counts)) {
		json_decref(lj);
		lj = NULL;
	}
	lineage = lj ? json_dumps(lj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!lineage || !content[0]) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	{
		/* A table's attributes are on NAME/NAME (bundle-format.md section 5.6). */
		char *path = d->kind == LODE_GK_NONE ? lode__sprintf("%s/%s", it->spec->name, it->spec->name)
						     : lode__strdup(it->spec->name);
		lode_attr a[] = {{"lode_lineage", lineage}, {"lode_content_sha256", content}};
		rc = path ? lode__bundle_set_attrs(b, path, a, 2, err)
			  : lode__err(err, LODE_ENOMEM, "out of memory");
		free(path);
		if (rc)
			goto out;
	}
	rc = lode__record_vector_values(known, it->spec->name, d, dj.coords, dj.texts, err);
	if (!rc && lode__tick(pr, 1.0, it->spec->name))
		rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
out:
	if (digesting)
		pthread_join(dj.thread, NULL);
	free(dj.texts);
	lode__xyw_free(xy);
	json_decref(lj);
	json_decref(counts);
	free(lineage);
	lode__vdata_free(d);
	return rc;
}

/* ---- the root group ---- */

char *lode__utc_date(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long t;

	if (!sde || !*sde)
		return NULL;
	t = strtoll(sde, &end, 10);
	if (*end || t < 0)
		return NULL;
	return lode__iso_utc((time_t)t);
}

lode_status lode__write_root(plan *p, lode__bundle *b, lode_error *err)
{
	lode_attr attrs[64];
	size_t n = 0;
	double ll[4];
	char *poly = NULL, *date = lode__utc_date();
	lode_error ignored;
	lode_status rc;

	attrs[n++] = (lode_attr){"Conventions", "CF-1.8, ACDD-1.3"};
	for (size_t i = 0; i < p->m->nmeta && n < 40; i++)
		attrs[n++] = (lode_attr){p->m->meta[i].key, p->m->meta[i].value};
	poly = lode__sprintf("POLYGON((%.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g))",
			     p->m->bounds[0], p->m->bounds[1], p->m->bounds[2], p->m->bounds[1],
			     p->m->bounds[2], p->m->bounds[3], p->m->bounds[0], p->m->bounds[3],
			     p->m->bounds[0], p->m->bounds[1]);
	if (!poly) {
		free(date);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	attrs[n++] = (lode_attr){"geospatial_bounds", poly};
	attrs[n++] = (lode_attr){"geospatial_bounds_crs", p->dst_label};
	if (date)
		attrs[n++] = (lode_attr){"date_created", date};
	attrs[n++] = (lode_attr){"lode_version", LODE_VERSION};
	attrs[n++] = (lode_attr){"lode_format_version", LODE_FORMAT_VERSION};
	attrs[n++] = (lode_attr){"lode_manifest", p->m->text};
	rc = lode__bundle_set_attrs(b, NULL, attrs, n, err);
	if (!rc && lode__crs_bounds_to_lonlat(p->dst_wkt, p->m->bounds, ll, &ignored) == LODE_OK) {
		static const char *const keys[4] = {"geospatial_lon_min", "geospatial_lat_min",
						    "geospatial_lon_max", "geospatial_lat_max"};
		for (int k = 0; k < 4 && !rc; k++)
			rc = lode__bundle_set_double(b, keys[k], ll[k], err);
	}
	free(poly);
	free(date);
	return rc;
}

/* ---- bundle files: a private temporary name, then rename ---- */

lode_status lode__out_refuse(const char *dest, const lode__out_input *in, size_t n, lode_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (in[i].path && lode__same_file(dest, in[i].path))
			return lode__err(err, LODE_EUSAGE,
					 "will not write %s: it is %s (%s); lode never writes over what it "
					 "reads: choose another output name",
					 dest, in[i].what, in[i].path);
	return LODE_OK;
}

/* A file a source reads, given by GDAL's file list. */
typedef struct source_file_check {
	const char *dest, *dataset;
	lode_error *err;
} source_file_check;

static int refuse_source_file(const char *path, void *arg)
{
	source_file_check *c = arg;

	if (!lode__same_file(c->dest, path))
		return 0;
	lode__err(c->err, LODE_EUSAGE,
		  "will not write %s: it is a file the source of dataset '%s' reads (%s); lode never "
		  "writes over what it reads: choose another output name",
		  c->dest, c->dataset, path);
	return 1;
}

lode_status lode__out_refuse_plan(const char *dest, const plan *p, lode_error *err)
{
	lode__out_input in = {p->m->path, "the manifest"};
	lode_status rc = lode__out_refuse(dest, &in, 1, err);
	char what[128];

	for (size_t i = 0; !rc && i < p->m->ndatasets; i++) {
		snprintf(what, sizeof what, "the source of dataset '%s'", p->m->datasets[i].name);
		in = (lode__out_input){p->m->datasets[i].source_path, what};
		rc = lode__out_refuse(dest, &in, 1, err);
	}
	for (size_t i = 0; !rc && i < p->n; i++) {
		source_file_check c = {dest, p->items[i].spec->name, err};
		if ((p->items[i].src && lode__raster_files(p->items[i].src, refuse_source_file, &c)) ||
		    (p->items[i].vsrc && lode__vector_files(p->items[i].vsrc, refuse_source_file, &c)))
			rc = err->code;
	}
	return rc;
}

lode_status lode__out_begin(lode__out *o, const char *dest, lode_error *err)
{
	lode_status rc;

	memset(o, 0, sizeof *o);
	if ((rc = lode__pub_begin(&o->pub, dest, err)))
		return rc;
	o->dest = o->pub.dest;
	o->tmp = o->pub.path;
	/* Exclusive: the name is new in a folder only this process writes. */
	if ((rc = lode__bundle_create(o->pub.path, &o->b, err))) {
		lode__pub_message(&o->pub, err);
		return lode__err_ctx(err, "writing %s: ", dest);
	}
	return LODE_OK;
}

lode_status lode__out_commit(lode__out *o, const lode__known *known, lode_error *err)
{
	char bundle_digest[65];
	lode_status rc;

	/* The digest covers the file as a reader will see it: computed from the file. */
	if ((rc = lode__bundle_digest(o->b, known ? known->v : NULL, known ? known->n : 0, bundle_digest,
				      err))) {
		lode__err_ctx(err, "computing the bundle digest: ");
		goto out;
	}
	{
		lode_attr a = {"lode_bundle_sha256", bundle_digest};
		if ((rc = lode__bundle_set_attrs(o->b, NULL, &a, 1, err)))
			goto out;
	}
	rc = lode__bundle_close(o->b, err);
	o->b = NULL;
	if (rc || (rc = lode__pub_commit(&o->pub, err)))
		goto out;
	o->tmp = NULL;
out:
	if (rc)
		lode__pub_message(&o->pub, err);
	return rc;
}

void lode__out_abort(lode__out *o)
{
	if (o->b) {
		lode_error ignored;
		lode__bundle_close(o->b, &ignored);
	}
	lode__pub_abort(&o->pub);
	memset(o, 0, sizeof *o);
}
