/*
 * warp_rows.c -- a chunk's target rows shared between the thread that warps its window
 * and threads that have nothing else to do (warp_params.h says why the pixels cannot
 * change).
 *
 * lode warps a raster in windows of one HDF5 chunk (pipeline/tiles.c), one window per
 * thread, so a target grid of one chunk (a 4000 x 4000 source averaged 8 times coarser)
 * kept one core busy and left the other idle.  Now the thread that owns a window still
 * reads each chunk's source window and builds its masks alone, but then offers the
 * chunk's rows (lode__rows_run): it and any idle thread take ROWS_PER_TAKE rows at a time
 * until none is left, and the owner waits for the helpers before it goes on to the next
 * band or chunk.  A helper works on a copy of the owner's kernel state taken when the
 * rows were offered (the source window, the masks, the parameters: read only), with
 * its own per-row buffers, its own footprint scratch and its own transformer (GDAL's
 * transformers are not shared between threads; each worker's is made the same way,
 * and offset to the owner's window by raster_gdal.c).  A row is computed from exactly
 * the inputs the owner would have used, so the window's bytes are the same whoever
 * took which rows; sum, whose quadtree belongs to the whole chunk, is not shared.
 */
#include <stdatomic.h>

#include "warp_bilinear.h"
#include "warp_kernel.h"

/* Rows one take gives: small enough that the owner and a helper finish together,
   large enough that taking is rare.  Chunks smaller than SHARE_MIN_ROWS rows or
   SHARE_MIN_PIXELS pixels are not offered: waking a thread would cost more. */
enum { ROWS_PER_TAKE = 8, SHARE_MIN_ROWS = 32, SHARE_MIN_PIXELS = 32768 };

static _Atomic long rows_shared;

/* Take rows of job until none is left or one needs GDAL's warper; the rows done. */
static int take_rows(lode__bilinear *b, lode__row_job *job, GDALTransformerFunc fn, void *arg)
{
	const int dsy = job->c->dsy;
	int done = 0;

	while (atomic_load(&job->rc) == 1) {
		const int r0 = atomic_fetch_add(&job->next, ROWS_PER_TAKE);
		const int r1 = r0 + ROWS_PER_TAKE < dsy ? r0 + ROWS_PER_TAKE : dsy;
		if (r0 >= dsy)
			break;
		if (lode__chunk_rows(b, job, fn, arg, r0, r1) != 1) {
			atomic_store(&job->rc, 0);
			break;
		}
		done += r1 - r0;
	}
	return done;
}

int lode__rows_run(lode__bilinear *b, lode__row_job *job, GDALTransformerFunc fn, void *arg)
{
	const lode__warp_chunk *c = job->c;
	const int share = b->share && c->dsy >= SHARE_MIN_ROWS && (long)c->dsx * c->dsy >= SHARE_MIN_PIXELS;

	atomic_init(&job->next, 0);
	atomic_init(&job->rc, 1);
	if (share) {
		job->view = *b;
		b->share->offer(b->share->ctx, job);
	}
	take_rows(b, job, fn, arg);
	if (share)
		b->share->withdraw(b->share->ctx, job);
	return atomic_load(&job->rc);
}

int lode__row_job_open(const lode__row_job *job)
{
	return atomic_load(&job->rc) == 1 && atomic_load(&job->next) < job->c->dsy;
}

void *lode__row_job_owner(const lode__row_job *job)
{
	return job->view.share_owner;
}

void lode__bilinear_share(lode__bilinear *b, const lode__warp_share *s, void *owner)
{
	if (b) {
		b->share = s;
		b->share_owner = owner;
	}
}

int lode__bilinear_help(lode__bilinear *mine, lode__row_job *job, GDALTransformerFunc fn, void *arg)
{
	lode__bilinear v = job->view;
	int n;

	if (lode__warp_grow_rows(mine, job->c->dsx))
		return 0;
	if (job->ax) { /* a point's weights on each axis (warp_bilinear.c's spline_axes) */
		const int need = 2 * (job->ax->radius + 1) + 2 * (job->ay->radius + 1);
		if (lode__warp_fit((void **)&mine->wx, &mine->wx_cap, (size_t)need, sizeof *mine->wx))
			return 0;
	}
	/* the owner's source window and parameters; this thread's scratch */
	v.px = mine->px;
	v.py = mine->py;
	v.pz = mine->pz;
	v.px2 = mine->px2;
	v.py2 = mine->py2;
	v.pz2 = mine->pz2;
	v.ok = mine->ok;
	v.ok2 = mine->ok2;
	v.row_cap = mine->row_cap;
	v.wx = mine->wx;
	v.wx_cap = mine->wx_cap;
	v.vals = mine->vals;
	v.vals_cap = mine->vals_cap;
	v.hist = mine->hist;
	v.slots = mine->slots;
	v.slots_cap = mine->slots_cap;
	v.slots_gen = mine->slots_gen;
	v.sum = NULL;
	v.share = NULL;
	n = take_rows(&v, job, fn, arg);
	/* what the footprint methods grew, back to its owner */
	mine->vals = v.vals;
	mine->vals_cap = v.vals_cap;
	mine->hist = v.hist;
	mine->slots = v.slots;
	mine->slots_cap = v.slots_cap;
	mine->slots_gen = v.slots_gen;
	rows_shared += n;
	return n;
}

long lode__bilinear_rows_shared(void)
{
	return rows_shared;
}
