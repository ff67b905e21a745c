/*
 * warp_chunks.c -- how GDAL 3.6's warper cuts a window into chunks and which source
 * window each chunk reads (GDALWarpOperation::CollectChunkListInternal and
 * ComputeSourceWindow, edge sampling only), and the scales GDALWarpKernel::PerformWarp
 * gives a chunk: step 1 of warp_bilinear.c's kernels, which every lode kernel follows so
 * that its chunks, and so its pixels, are GDAL's.
 */
#include <math.h>
#include <stdlib.h>

#include <gdal.h>
#include <gdal_alg.h>

#include "warp_bilinear.h"
#include "warp_kernel.h"

enum { SAMPLE_STEPS = 21 }; /* GDAL's default SAMPLE_STEPS */

/* std::min and std::max, which GDAL uses: the first argument wins a tie. */
static double min_d(double a, double b)
{
	return b < a ? b : a;
}

static double max_d(double a, double b)
{
	return a < b ? b : a;
}

static double round_if_close(double v)
{
	double r = round(v);
	return fabs(r - v) < 1e-6 ? r : v;
}

/* One axis of ComputeSourceWindow's result: from the sampled extent [lo, hi] of a
   region dsize pixels long, on a source axis size pixels long, the window's offset and
   length and the extra pixels beyond the extent (which PerformWarp leaves out of the
   scale).  Returns the resampling radius on that axis. */
static int window_axis(double lo, double hi, int dsize, int size, int filter, int *off, int *len,
		       double *extra)
{
	const double scale = max_d(1e-3, (double)dsize / (hi - lo));
	/* GWKGetFilterRadius: 1 for bilinear, 2 for cubic and cubicspline, 3 for lanczos, 0
	   for average */
	const int radius = scale < 0.95 ? (int)ceil(filter / scale) : filter;
	const int lo_c = (int)max_d(0.0, lo), hi_c = (int)min_d(ceil(hi), (double)size);

	if (hi_c - lo_c > 0.9 * size) {
		*off = 0;
		*len = size;
	} else {
		*off = lo_c - radius < size ? lo_c - radius : size;
		*off = *off > 0 ? *off : 0;
		*len = size - *off < hi_c - *off + radius ? size - *off : hi_c - *off + radius;
		*len = *len > 0 ? *len : 0;
	}
	*extra = *len - max_d(0.0, min_d((double)(size - lo_c), hi - lo));
	return radius;
}

/* GDALWarpOperation::ComputeSourceWindow for our kernels, edge sampling only.  Returns 0,
   or 1 when GDAL would take another road (a failed or wild sample). */
static int source_window(const lode__bilinear *b, GDALTransformerFunc fn, void *arg, lode__warp_chunk *c,
			 double *fill)
{
	double x[4 * SAMPLE_STEPS], y[4 * SAMPLE_STEPS], z[4 * SAMPLE_STEPS];
	int ok[4 * SAMPLE_STEPS];
	const double step = 1.0 / (SAMPLE_STEPS - 1);
	double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
	int n = 0, xr, yr, filter;
	const int W = b->src_w, H = b->src_h;

	for (double r = 0.0; r <= 1.0 + step * 0.5 && n + 4 <= 4 * SAMPLE_STEPS; r += step) {
		x[n] = r * c->dsx + c->dx; /* top */
		y[n] = c->dy;
		z[n++] = 0.0;
		x[n] = r * c->dsx + c->dx; /* bottom */
		y[n] = c->dy + c->dsy;
		z[n++] = 0.0;
		x[n] = c->dx; /* left */
		y[n] = r * c->dsy + c->dy;
		z[n++] = 0.0;
		x[n] = c->dsx + c->dx; /* right */
		y[n] = r * c->dsy + c->dy;
		z[n++] = 0.0;
	}
	if (n != 4 * SAMPLE_STEPS || !fn(arg, TRUE, n, x, y, z, ok))
		return 1;
	for (int i = 0; i < n; i++) {
		if (!ok[i] || isnan(x[i]) || isnan(y[i]))
			return 1; /* GDAL would sample a grid instead */
		minx = min_d(minx, x[i]);
		miny = min_d(miny, y[i]);
		maxx = max_d(maxx, x[i]);
		maxy = max_d(maxy, y[i]);
	}
	if (minx < -1e6 || miny < -1e6 || maxx > W + 1e6 || maxy > H + 1e6)
		return 1; /* GDAL would try again with CHECK_WITH_INVERT_PROJ */
	if (minx > W || maxx < 0 || miny > H || maxy < 0) {
		c->sx = c->sy = c->ssx = c->ssy = 0;
		c->extra_x = c->extra_y = 0.0;
		*fill = 0.0;
		return 0;
	}
	minx = round_if_close(minx);
	miny = round_if_close(miny);
	maxx = round_if_close(maxx);
	maxy = round_if_close(maxy);
	filter = b->average || b->nearest ? 0 : b->lanczos ? 3 : b->cubic || b->spline ? 2 : 1;
	xr = window_axis(minx, maxx, c->dsx, W, filter, &c->sx, &c->ssx, &c->extra_x);
	yr = window_axis(miny, maxy, c->dsy, H, filter, &c->sy, &c->ssy, &c->extra_y);
	*fill = (double)c->ssx * c->ssy / max_d(1.0, (maxx - minx + 2 * xr) * (maxy - miny + 2 * yr));
	return 0;
}

int lode__warp_collect(struct lode__bilinear *b, GDALTransformerFunc fn, void *arg, int dx, int dy, int dsx,
		       int dsy)
{
	lode__warp_chunk c = {.dx = dx, .dy = dy, .dsx = dsx, .dsy = dsy};
	/* values and validity masks of every band, as GDAL counts them */
	const double src_bits = (GDALGetDataTypeSizeBits(b->work) + 1.0) * b->nbands, dst_bits = src_bits;
	double fill = 0.0, mem;

	if (source_window(b, fn, arg, &c, &fill))
		return 1;
	mem = (src_bits * c.ssx * c.ssy + dst_bits * dsx * dsy) / 8.0;
	if ((mem > b->mem_limit && (dsx > 2 || dsy > 2)) ||
	    (fill > 0 && fill < 0.5 && (dsx > 100 || dsy > 100))) {
		int r1, r2;
		if (dsx > dsy) {
			int half = dsx / 2;
			r1 = lode__warp_collect(b, fn, arg, dx, dy, half, dsy);
			r2 = lode__warp_collect(b, fn, arg, dx + half, dy, dsx - half, dsy);
		} else {
			int half = dsy / 2;
			r1 = lode__warp_collect(b, fn, arg, dx, dy, dsx, half);
			r2 = lode__warp_collect(b, fn, arg, dx, dy + half, dsx, dsy - half);
		}
		return r1 < 0 || r2 < 0 ? -1 : (r1 || r2);
	}
	if (b->nchunks == b->chunks_cap) {
		int cap = b->chunks_cap * 2 + 4;
		lode__warp_chunk *n = realloc(b->chunks, sizeof *n * (size_t)cap);
		if (!n)
			return -1;
		b->chunks = n;
		b->chunks_cap = cap;
	}
	b->chunks[b->nchunks++] = c;
	return 0;
}

int lode__warp_chunk_scale(const lode__warp_chunk *c, double *xs_out, double *ys_out)
{
	double xs = (double)c->dsx / (c->ssx - c->extra_x);
	double ys = (double)c->dsy / (c->ssy - c->extra_y);

	if (c->ssx >= c->dsx && c->ssx <= c->dsx + c->extra_x)
		xs = 1.0;
	if (c->ssy >= c->dsy && c->ssy <= c->dsy + c->extra_y)
		ys = 1.0;
	if (xs < 1.0) {
		double r = 1.0 / xs;
		int n = (int)(r + 0.5);
		if (fabs(r - n) < 0.05)
			xs = 1.0 / n;
	}
	if (ys < 1.0) {
		double r = 1.0 / ys;
		int n = (int)(r + 0.5);
		if (fabs(r - n) < 0.05)
			ys = 1.0 / n;
	}
	*xs_out = xs;
	*ys_out = ys;
	return !(ys / xs > 100); /* else GDAL would sample the scale on a grid */
}

int lode__warp_four_samples(const lode__warp_chunk *c)
{
	double xs, ys;

	return lode__warp_chunk_scale(c, &xs, &ys) && xs >= 0.95 && ys >= 0.95;
}
