/*
 * strip_read.c -- reading a raster of a bundle strip by strip, on every core, for the
 * readers that pass each strip on in order (verify's content digest, extract's GeoTIFF).
 *
 * The calling thread reads the strips in order (it alone calls HDF5), the chunks of each
 * strip are decoded on worker threads (lode__bundle_set_decode_threads), and the strips
 * are handed, in order, to the caller's function on a thread of its own while the next
 * strip is read: hashing or writing one strip overlaps with decoding the next.  What is
 * handed on, in which order, and which failure is reported are the same as reading and
 * passing on one strip after the other on one thread; only the time differs.
 *
 * Memory: one strip and three chunks, as lode__raster_budget counts, when that is all
 * max_memory leaves; a second strip for the overlap, and LODE__DECODE_THREAD_CHUNKS
 * chunks per decoding thread, only when they fit too.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bundle_items.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "strip_read.h"
#include "util.h"

typedef struct strip_pipe {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	lode__strip_fn fn;
	void *user;
	unsigned char *buf[2];
	int band[2], y0[2], ny[2], full[2], stop;
	lode_status rc; /* the first failure of fn; then the strips left are not passed on */
	lode_error err;
} strip_pipe;

/* The consumer: every strip put, in order, until stopped with none waiting. */
static void *consume(void *arg)
{
	strip_pipe *p = arg;
	int i = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->full[i] && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->full[i])
			break;
		if (!p->rc) {
			lode_status rc;
			pthread_mutex_unlock(&p->mu);
			rc = p->fn(p->user, p->band[i], p->y0[i], p->ny[i], p->buf[i], &p->err);
			pthread_mutex_lock(&p->mu);
			p->rc = rc;
		}
		p->full[i] = 0;
		pthread_cond_broadcast(&p->cv);
		i ^= 1;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Wait until buffer i is free (passed on); the consumer's failure, if any, so far. */
static lode_status wait_free(strip_pipe *p, int i)
{
	lode_status rc;

	pthread_mutex_lock(&p->mu);
	while (p->full[i])
		pthread_cond_wait(&p->cv, &p->mu);
	rc = p->rc;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Stop the consumer after what waits; its first failure, if any. */
static lode_status pipe_end(strip_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	return p->rc;
}

int lode__read_cores(void)
{
	cpu_set_t set;
	int n = lode__default_threads();

	/* The cores this process may run on (taskset), not only those online. */
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1 && CPU_COUNT(&set) < n)
		n = CPU_COUNT(&set);
	return n;
}

int lode__strip_threads(const lode_bundle_item *it, int rows, size_t used, size_t max_memory, int *overlap)
{
	double strip = (double)it->nx * rows * (double)lode__dtype_size(it->dtype);
	double spare = (double)max_memory - (strip + 3.0 * (double)it->chunk_bytes + (double)used);
	double per = (double)LODE__DECODE_THREAD_CHUNKS * (double)(it->chunk_bytes ? it->chunk_bytes : 1);
	int cores = lode__read_cores(), n;

	*overlap = cores >= 2 && spare >= strip && (it->ny > rows || it->nbands > 1);
	if (*overlap)
		spare -= strip;
	if (cores < 2 || spare < 2 * per)
		return 0;
	n = spare / per < cores ? (int)(spare / per) : cores;
	return n > LODE__DECODE_MAX_THREADS ? LODE__DECODE_MAX_THREADS : n;
}

/* Read strip (band, y0, ny) of it into buf. */
static lode_status read_strip(lode__bundle *b, const lode_bundle_item *it, int band, int y0, int ny,
			      unsigned char *buf, lode_error *err)
{
	return lode__bundle_read_rows(b, it, band, y0, ny, buf, err);
}

lode_status lode__read_strips(lode__bundle *b, const lode_bundle_item *it, size_t used, size_t max_memory,
			      lode__strip_fn fn, void *user, lode_error *err)
{
	int rows = lode__strip_rows(b, it), overlap = 0, i = 0;
	int threads = lode__strip_threads(it, rows, used, max_memory, &overlap);
	strip_pipe p = {.fn = fn, .user = user};
	lode_status rc, prc = LODE_OK;
	lode_error ignored; /* no second strip: one thread does it all */

	if ((rc = lode__strip_buffer(it, rows, &p.buf[0], err)))
		return rc;
	if (overlap && lode__strip_buffer(it, rows, &p.buf[1], &ignored) == LODE_OK) {
		pthread_mutex_init(&p.mu, NULL);
		pthread_cond_init(&p.cv, NULL);
		if (pthread_create(&p.th, NULL, consume, &p) != 0) {
			pthread_mutex_destroy(&p.mu);
			pthread_cond_destroy(&p.cv);
			overlap = 0;
		}
	} else {
		overlap = 0;
	}
	lode__bundle_set_decode_threads(b, threads);
	for (int band = 1; band <= it->nbands && !rc && !prc; band++)
		for (int y0 = 0; y0 < it->ny && !rc && !prc; y0 += rows) {
			int ny = it->ny - y0 < rows ? it->ny - y0 : rows;
			if (!overlap) {
				if (!(rc = read_strip(b, it, band, y0, ny, p.buf[0], err)))
					rc = fn(user, band, y0, ny, p.buf[0], err);
				continue;
			}
			if ((prc = wait_free(&p, i)))
				break;
			if ((rc = read_strip(b, it, band, y0, ny, p.buf[i], err)))
				break;
			pthread_mutex_lock(&p.mu);
			p.band[i] = band;
			p.y0[i] = y0;
			p.ny[i] = ny;
			p.full[i] = 1;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
			i ^= 1;
		}
	lode__bundle_set_decode_threads(b, 0);
	/* A strip passed on before the one that failed to read failed first. */
	if (overlap && (prc = pipe_end(&p))) {
		*err = p.err;
		rc = prc;
	}
	free(p.buf[0]);
	free(p.buf[1]);
	return rc;
}

/* ---- a raster's content digest ---- */

typedef struct hash_job {
	lode__content_hash *h;
	size_t row_bytes;
} hash_job;

static lode_status hash_strip(void *user, int band, int y0, int ny, const unsigned char *buf, lode_error *err)
{
	hash_job *j = user;

	(void)y0;
	(void)err;
	lode__content_hash_update(j->h, band - 1, buf, j->row_bytes * (size_t)ny);
	return LODE_OK;
}

lode_status lode__raster_content_digest(lode__bundle *b, const lode_bundle_item *it, size_t used,
					size_t max_memory, char hex[65], lode_error *err)
{
	hash_job j = {.h = lode__content_hash_new(it->nbands),
		      .row_bytes = (size_t)(it->nx > 0 ? it->nx : 0) * lode__dtype_size(it->dtype)};
	lode_status rc;

	hex[0] = '\0';
	if (!j.h)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	rc = lode__read_strips(b, it, used, max_memory, hash_strip, &j, err);
	lode__content_hash_final(j.h, hex);
	return rc;
}
