/*
 * tiles.c -- warp and compress one strip of a raster's target grid on several threads.
 *
 * A strip is one row of HDF5 chunks.  Its chunk-sized tiles are shared out among the
 * background workers (and the caller, once it waits); each worker has its own GDAL
 * dataset and warper (GDAL datasets must not be shared between threads) and encodes the
 * chunks it warped with lode__chunk_encode.  Each background worker owns the same
 * contiguous range of tile columns in every strip and warps it left to right; a worker
 * whose range is done (and the caller) takes tiles from the right end of the range with
 * the most left.  The window beside and the window below then read mostly the same source
 * blocks through the same dataset's block cache, so each source block is decoded about
 * once rather than once per window that touches it (a 512 x 512 window touches about 9
 * blocks of 256 x 256).  Submitting a strip returns at once, so the caller can write and
 * hash the previous strip while the next is warped.  The caller writes the encoded chunks
 * through HDF5 from its own thread, in a fixed order, so that the file does not depend on
 * which thread finished first.  The warped values are also copied into the strip buffer,
 * in row order, for the content digest.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk_codec.h"
#include "dtype.h"
#include "error.h"
#include "raster_gdal.h"
#include "tiles.h"
#include "util.h"

typedef struct worker {
	struct lode__tiler *t;
	int range; /* its range of tile columns, -1 for the caller (worker 0) */
	pthread_t thread;
	int started;
	lode__raster *raster;
	lode__warper *warper;
	const lode__row_job *cannot; /* the job on offer it could not help with */
	unsigned char *tile;         /* warped window: nbands planes of cols x rows */
	unsigned char *chunk;        /* one band's chunk, padded to the chunk size */
} worker;

struct lode__tiler {
	lode_tiler_params p;
	size_t esize;
	int nworkers;
	worker *w;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int generation, stop;
	int decoders;      /* lode__tiler_decoders */
	size_t gdal_cache; /* GDAL's block cache limit to put back when freed, 0: untouched */
	/* the strip being made; range k is tiles lo[k] .. hi[k]-1, for k < nworkers - 1 */
	int y0, ny, ntiles, finished, failed;
	int *lo, *hi;
	/* a chunk's rows offered by the worker warping it (formats/warp_rows.c): on offer,
	   the job the helpers are in (until withdrawn), how many are in it */
	lode__warp_share share;
	lode__row_job *help, *help_job;
	int helping;
	pthread_cond_t helped;
	unsigned char *strip;
	unsigned char **chunks;
	size_t *lens;
	lode_error error;
};

/* Warp tile i of the current strip, copy it into the strip, encode its chunks. */
static lode_status do_tile(worker *w, int i, lode_error *err)
{
	lode__tiler *t = w->t;
	const lode_tiler_params *p = &t->p;
	int cr = p->chunk_rows, cc = p->chunk_cols, x0 = i * cc;
	int cols = p->wp->nx - x0 < cc ? p->wp->nx - x0 : cc, rows = t->ny;
	size_t es = t->esize, plane = (size_t)cols * (size_t)rows * es;
	lode_status rc;

	if ((rc = lode__warper_window(w->warper, x0, t->y0, cols, rows, w->tile, err)))
		return rc;
	for (int b = 0; b < p->wp->nbands; b++) {
		const unsigned char *src = w->tile + (size_t)b * plane;
		unsigned char *dst = t->strip + (size_t)b * (size_t)p->wp->nx * (size_t)rows * es;
		size_t k;

		/* The strip, row by row; and the chunk, padded with the fill value. */
		for (int r = 0; r < rows; r++) {
			memcpy(dst + ((size_t)r * (size_t)p->wp->nx + (size_t)x0) * es,
			       src + (size_t)r * cols * es, (size_t)cols * es);
			memcpy(w->chunk + (size_t)r * cc * es, src + (size_t)r * cols * es,
			       (size_t)cols * es);
			for (int c = cols; c < cc; c++)
				memcpy(w->chunk + ((size_t)r * cc + c) * es, p->fill, es);
		}
		for (k = (size_t)rows * cc; k < (size_t)cr * cc; k++)
			memcpy(w->chunk + k * es, p->fill, es);
		if ((rc = lode__chunk_encode(w->chunk, (size_t)cr * cc * es, es, p->level,
					     &t->chunks[(size_t)b * t->ntiles + i],
					     &t->lens[(size_t)b * t->ntiles + i], err)))
			return rc;
	}
	return LODE_OK;
}

/* The next tile for w, or -1 when none is left (under t->mu): the leftmost of its own
   range, else the rightmost of the range with the most tiles left. */
static int next_tile(lode__tiler *t, const worker *w)
{
	int best = -1;

	if (w->range >= 0 && t->lo[w->range] < t->hi[w->range])
		return t->lo[w->range]++;
	for (int k = 0; k < t->nworkers - 1; k++)
		if (t->hi[k] > t->lo[k] && (best < 0 || t->hi[k] - t->lo[k] > t->hi[best] - t->lo[best]))
			best = k;
	return best < 0 ? -1 : --t->hi[best];
}

/* Take tiles until none is left; record the first error. */
static void take_tiles(worker *w)
{
	lode__tiler *t = w->t;

	for (;;) {
		lode_error e = {0};
		int i, skip;

		pthread_mutex_lock(&t->mu);
		i = next_tile(t, w);
		skip = t->failed;
		pthread_mutex_unlock(&t->mu);
		if (i < 0)
			return;
		if (!skip && do_tile(w, i, &e) != LODE_OK) {
			pthread_mutex_lock(&t->mu);
			if (!t->failed) {
				t->failed = 1;
				t->error = e;
			}
			pthread_mutex_unlock(&t->mu);
		}
		pthread_mutex_lock(&t->mu);
		if (++t->finished == t->ntiles)
			pthread_cond_broadcast(&t->done);
		pthread_mutex_unlock(&t->mu);
	}
}

/* The warper of a worker whose window holds a chunk offers its rows (lode__warp_share):
   one job at a time, which every idle worker, the caller waiting for its strip too,
   helps with (help_rows). */
static void offer_rows(void *ctx, lode__row_job *job)
{
	lode__tiler *t = ctx;

	pthread_mutex_lock(&t->mu);
	if (!t->help_job) {
		t->help = t->help_job = job;
		pthread_cond_broadcast(&t->work);
		pthread_cond_broadcast(&t->done);
	}
	pthread_mutex_unlock(&t->mu);
}

static void withdraw_rows(void *ctx, lode__row_job *job)
{
	lode__tiler *t = ctx;

	pthread_mutex_lock(&t->mu);
	if (t->help_job == job) {
		t->help = NULL;
		while (t->helping)
			pthread_cond_wait(&t->helped, &t->mu);
		t->help_job = NULL;
	}
	pthread_mutex_unlock(&t->mu);
}

/* Whether rows are on offer that w can help with (under t->mu). */
static int rows_on_offer(const lode__tiler *t, const worker *w)
{
	return t->help && t->help != w->cannot && lode__row_job_open(t->help);
}

/* Help with the rows on offer (under t->mu, released while helping).  Returns 0 when
   none are on offer for w. */
static int help_rows(worker *w)
{
	lode__tiler *t = w->t;
	lode__row_job *job = t->help;

	if (!rows_on_offer(t, w))
		return 0;
	t->helping++;
	pthread_mutex_unlock(&t->mu);
	if (!lode__warper_help(w->warper, job) && lode__row_job_open(job))
		w->cannot = job; /* out of memory: leave it to the others */
	pthread_mutex_lock(&t->mu);
	if (--t->helping == 0)
		pthread_cond_broadcast(&t->helped);
	return 1;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	lode__tiler *t = w->t;
	int seen = 0;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		while (!t->stop && t->generation == seen && !rows_on_offer(t, w))
			pthread_cond_wait(&t->work, &t->mu);
		if (t->stop)
			break;
		if (t->generation == seen) {
			help_rows(w);
			continue;
		}
		seen = t->generation;
		w->cannot = NULL;
		pthread_mutex_unlock(&t->mu);
		take_tiles(w);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	lode__chunk_codec_thread_done();
	return NULL;
}

lode_status lode__tiler_new(const lode_tiler_params *p, lode__tiler **out, lode_error *err)
{
	lode__tiler *t = calloc(1, sizeof *t);
	size_t tile_bytes, chunk_bytes;
	lode_status rc = LODE_OK;

	*out = NULL;
	if (!t)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	t->p = *p;
	t->esize = lode__dtype_size(p->wp->dtype);
	/* One background worker per thread, plus the caller's own state (worker 0), which
	   takes tiles while it waits for a strip. */
	t->nworkers = (p->threads > 0 ? p->threads : lode__default_threads()) + 1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->work, NULL);
	pthread_cond_init(&t->done, NULL);
	pthread_cond_init(&t->helped, NULL);
	t->share = (lode__warp_share){offer_rows, withdraw_rows, t, t->nworkers - 1};
	t->w = calloc((size_t)t->nworkers, sizeof *t->w);
	t->lo = calloc((size_t)t->nworkers, sizeof *t->lo);
	t->hi = calloc((size_t)t->nworkers, sizeof *t->hi);
	tile_bytes = (size_t)p->chunk_rows * (size_t)p->chunk_cols * t->esize;
	chunk_bytes = tile_bytes;
	if (!t->w || !t->lo || !t->hi) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	/* Worker 0 is the calling thread; each has its own dataset and warper.  When a strip
	   has fewer tiles than threads (a small target grid: at 8x coarser, 4000 x 4000
	   source pixels make one 500 x 500 tile), the cores no tile keeps busy decode the
	   source's blocks for the ones that are (GDAL's multi-threaded GeoTIFF reading; the
	   same pixels, and about one block's buffers per decoding thread; GeoTIFFs of one band
	   or stored pixel by pixel, which the source opened while planning tells, or a first
	   opening of it). */
	if ((p->wp->nx + p->chunk_cols - 1) / p->chunk_cols < t->nworkers - 1) {
		lode__raster *probe = NULL;
		if (!p->source &&
		    (rc = lode__raster_open(p->source_path, p->open_options, p->rules, &probe, err)))
			goto out;
		t->decoders = lode__raster_decode_threads(p->source ? p->source : probe, t->nworkers - 1);
		lode__raster_close(probe);
	}
	for (int i = 0; i < t->nworkers; i++) {
		worker *w = &t->w[i];
		w->t = t;
		w->range = i - 1;
		if ((rc = lode__raster_open(p->source_path, p->open_options, p->rules, &w->raster, err)) ||
		    (rc = lode__warper_new(w->raster, p->wp, &w->warper, err)))
			goto out;
		lode__warper_share(w->warper, &t->share);
		w->tile = malloc(tile_bytes * (size_t)p->wp->nbands);
		w->chunk = malloc(chunk_bytes);
		if (!w->tile || !w->chunk) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
	}
	{
		/* mode on 16-bit values counted as bytes or floats: the same pixels, faster */
		lode__warper **ws = malloc((size_t)t->nworkers * sizeof *ws);
		if (!ws) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (int i = 0; i < t->nworkers; i++)
			ws[i] = t->w[i].warper;
		rc = lode__warper_mode_type(ws, t->nworkers, err);
		free(ws);
		if (rc)
			goto out;
	}
	/* lode decodes the source's GeoTIFF blocks itself when it can (formats/tiff_blocks.c),
	   its workers' readers taking 7/8 of GDAL's block cache between them and GDAL the rest
	   (for the blocks lode leaves to it) until the tiler is freed: the same bound.  Also
	   on a small target grid: lode's decoding on the one busy thread beat libtiff's on the
	   idle ones (docs/performance.md), which are then left to the windows GDAL reads. */
	{
		size_t total = lode__gdal_cache_max(), each = total / 8 * 7 / (size_t)t->nworkers;
		int n = 0;
		for (int i = 0; i < t->nworkers; i++)
			n += lode__warper_source_cache(t->w[i].warper, each);
		if (n) {
			t->gdal_cache = total;
			t->decoders = 0;
			lode__gdal_set_cache_max(total / 8);
		}
	}
	for (int i = 1; i < t->nworkers; i++) {
		if (pthread_create(&t->w[i].thread, NULL, worker_main, &t->w[i]) != 0) {
			rc = lode__err(err, LODE_EINTERNAL, "cannot start a worker thread");
			goto out;
		}
		t->w[i].started = 1;
	}
	*out = t;
	t = NULL;
out:
	lode__raster_decode_threads(NULL, 0);
	lode__tiler_free(t);
	return rc;
}

void lode__tiler_submit(lode__tiler *t, int y0, int ny, void *strip, unsigned char **chunks, size_t *lens)
{
	pthread_mutex_lock(&t->mu);
	t->y0 = y0;
	t->ny = ny;
	t->strip = strip;
	t->chunks = chunks;
	t->lens = lens;
	t->ntiles = (t->p.wp->nx + t->p.chunk_cols - 1) / t->p.chunk_cols;
	for (int k = 0, n = t->nworkers - 1; k < n; k++) {
		t->lo[k] = (int)((long long)t->ntiles * k / n);
		t->hi[k] = (int)((long long)t->ntiles * (k + 1) / n);
	}
	t->finished = 0;
	t->failed = 0;
	t->generation++;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->mu);
}

lode_status lode__tiler_wait(lode__tiler *t, int *ntiles, lode_error *err)
{
	/* The caller lends a hand with whatever tiles are left. */
	t->w[0].cannot = NULL;
	take_tiles(&t->w[0]);

	pthread_mutex_lock(&t->mu);
	while (t->finished < t->ntiles)
		if (!help_rows(&t->w[0]))
			pthread_cond_wait(&t->done, &t->mu);
	pthread_mutex_unlock(&t->mu);
	*ntiles = t->ntiles;
	if (t->failed) {
		*err = t->error;
		return err->code ? err->code : LODE_EINTERNAL;
	}
	return LODE_OK;
}

int lode__tiler_count(const lode__tiler *t)
{
	return (t->p.wp->nx + t->p.chunk_cols - 1) / t->p.chunk_cols;
}

void lode__tiler_free(lode__tiler *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->mu);
	for (int i = 0; t->w && i < t->nworkers; i++) {
		if (t->w[i].started)
			pthread_join(t->w[i].thread, NULL);
		lode__warper_free(t->w[i].warper);
		lode__raster_close(t->w[i].raster);
		free(t->w[i].tile);
		free(t->w[i].chunk);
	}
	free(t->w);
	free(t->lo);
	free(t->hi);
	if (t->gdal_cache)
		lode__gdal_set_cache_max(t->gdal_cache);
	pthread_cond_destroy(&t->work);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->helped);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int lode__tiler_decoders(const lode__tiler *t)
{
	return t->decoders;
}
