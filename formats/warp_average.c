/*
 * warp_average.c -- lode's own `average` warp of one chunk, giving the same pixels, bit
 * for bit, as GDAL 3.6's warper (GWKAverageOrModeThread, GRA_Average) gives for it.
 *
 * Why: with a nodata value GDAL's average goes through its general per-pixel path: every
 * source pixel is fetched through GWKGetPixelValue (a switch on the type, two mask
 * tests) and weighted through a nested conditional; that kernel was 27-43% of lode's
 * CPU when downsampling a 4000 x 4000 grid 2x (docs/performance.md, issue 19).  Here the
 * same arithmetic runs over a Float32 copy of the chunk's source window.
 *
 * The chunking, the source window, its reading and nodata mask, and the choice of when
 * this applies are warp_bilinear.c's (shared with the bilinear kernel: for average,
 * GDAL's filter radius is 0).  For each target row, following GDAL 3.6.2 exactly:
 *  1. The top-left and bottom-right corners of every target pixel (x, y) and (x + 1,
 *     y + 1) are transformed, as two rows, with the warp's transformer.
 *  2. A pixel is skipped when either corner fails or lies more than a margin (2 x the
 *     ceiling of the inverse of the kernel's scale, at least 2) outside the source
 *     window; corners are swapped so that min <= max on each axis, and GDAL's
 *     antimeridian wrap test (a pixel spanning the whole source width) is reproduced.
 *  3. The source pixels are those from floor(min + 1e-10) (clamped to the window) to
 *     ceil(max - 1e-10) (clamped), at least one; the first and last row and column are
 *     weighted by the part of them the pixel covers, with GDAL's expressions, and valid
 *     values are accumulated row by row, left to right, in double precision.
 *  4. When the sum of the weights is positive the value is sum / weight, stored as
 *     GWKSetPixelValue stores it (Float32 cast; integer types clamped, rounded and moved
 *     off the nodata value); otherwise the pixel keeps the nodata it was initialised to.
 * Steps 1-3 (footprint()) are shared with GWKAverageOrModeThread's other methods, rms,
 * min, max, med, q1 and q3, which replace step 4 (formats/warp_stats.c).
 * tests/e2e/test_kernels.py compares every pixel with gdalwarp -r average -et 0's and the
 * bundle with the one LODE_WARP_KERNEL=gdal (GDAL's warper) writes.
 */
#include <math.h>

#include "warp_bilinear.h"
#include "warp_kernel.h"

/* floor() and ceil() of a value known to fit an int (inside the pixel margins of the
   source window), as ints: the same results, without a library call per pixel */
static int floor_i(double v)
{
	const int i = (int)v;
	return v < i ? i - 1 : i;
}

static int ceil_i(double v)
{
	const int i = (int)v;
	return v > i ? i + 1 : i;
}

/* GDAL's loop when the pixel wraps over the antimeridian (columns taken modulo the
   window's width), COMPUTE_WEIGHT as it is; row s of type type, valid as
   lode__window_valid says with m and nd. */
static inline void add_row_wrapped(const void *s, const int type, const unsigned char *m, long nd, int W,
				   int x0, int x1, double wy, double xmin, double xmax, double *total,
				   double *weight)
{
	for (int x = x0; x < x1; x++) {
		const int o = x % W;
		double w;
		if (!lode__window_valid(s, m, nd, (size_t)o, type))
			continue;
		if (x == x0)
			w = x0 + 1 == x1 ? wy : wy * (1 - (xmin - x0));
		else if (x + 1 == x1)
			w = wy * (1 - (x1 - xmax));
		else
			w = wy;
		*weight += w;
		*total += lode__window_value(s, (size_t)o, type) * w;
	}
}

/* The footprint of target pixel i of the row whose corners are in b->px/py and
   b->px2/py2 (steps 1-3 above).  Returns 0 when GDAL leaves the pixel alone. */
static int footprint(const lode__bilinear *b, const lode__warp_chunk *c, int i, int xmargin, int ymargin,
		     double xs, lode__footprint *f)
{
	const int W = c->ssx, H = c->ssy, sxo = c->sx, syo = c->sy;
	const int wrap_limit = W / 10 < 2 ? W / 10 : 2;
	double x = b->px[i], x2 = b->px2[i], y = b->py[i], y2 = b->py2[i];

	if (!b->ok[i] || !b->ok2[i])
		return 0;
	if (!(x - sxo >= -xmargin && x2 - sxo >= -xmargin && y - syo >= -ymargin && y2 - syo >= -ymargin &&
	      x - sxo - W <= xmargin && x2 - sxo - W <= xmargin && y - syo - H <= ymargin &&
	      y2 - syo - H <= ymargin))
		return 0;
	if (x > x2) {
		double t = x;
		x = x2;
		x2 = t;
	}
	f->wrap = 0;
	if (sxo == 0 && x * xs < wrap_limit && (W - x2) * xs < wrap_limit) {
		double t = x;
		f->wrap = 1;
		x = x2;
		x2 = t + W;
	}
	/* std::min(std::max(floor(min + 1e-10), 0.0), size) and std::min(ceil(max - 1e-10),
	   INT_MAX or size), in ints */
	f->xmin = x - sxo;
	f->x0 = floor_i(f->xmin + 1e-10);
	f->x0 = f->x0 < 0 ? 0 : f->x0 > W ? W : f->x0;
	f->xmax = x2 - sxo;
	f->x1 = ceil_i(f->xmax - 1e-10);
	if (!f->wrap && W < f->x1)
		f->x1 = W;
	if (f->x0 == f->x1 && f->x1 < W)
		f->x1++;
	if (y > y2) {
		double t = y;
		y = y2;
		y2 = t;
	}
	f->ymin = y - syo;
	f->y0 = floor_i(f->ymin + 1e-10);
	f->y0 = f->y0 < 0 ? 0 : f->y0 > H ? H : f->y0;
	f->ymax = y2 - syo;
	f->y1 = ceil_i(f->ymax - 1e-10);
	f->y1 = f->y1 > H ? H : f->y1;
	if (f->y0 == f->y1 && f->y1 < H)
		f->y1++;
	return 1;
}

/* The average over footprint f (step 4), the window's values of type type.  Returns 0
   when GDAL leaves the pixel alone. */
static inline int average_typed(const lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
				const lode__footprint *f, double *out, const int type)
{
	const int W = c->ssx, x0 = f->x0, x1 = f->x1, y0 = f->y0, y1 = f->y1;
	const long nd = lode__window_nd(b);
	double total = 0.0, weight = 0.0;

	for (int r = y0; r < y1; r++) {
		const double wy = r == y0       ? (y0 + 1 == y1 ? 1.0 : 1 - (f->ymin - y0))
				  : r + 1 == y1 ? 1 - (y1 - f->ymax)
						: 1.0;
		const size_t o = (size_t)r * (size_t)W;
		const void *s = lode__window_row(b, r, W, type);
		if (f->wrap)
			add_row_wrapped(s, type, m ? m + o : NULL, nd, W, x0, x1, wy, f->xmin, f->xmax,
					&total, &weight);
		else
			lode__footprint_row(s, type, m ? m + o : NULL, nd, x0, x1, wy, 1 - (f->xmin - x0),
					    1 - (x1 - f->xmax), 0, &total, &weight);
	}
	if (!(weight > 0))
		return 0;
	*out = total / weight;
	return 1;
}

static int average_pixel(const lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
			 const lode__footprint *f, double *out)
{
	return LODE_BY_TYPE(b->type, average_typed, b, c, m, f, out);
}

int lode__average_chunk(lode__bilinear *b, const lode__row_job *job, GDALTransformerFunc fn, void *arg,
			int r0, int r1)
{
	const lode__warp_chunk *c = job->c;
	const unsigned char *m = job->m;
	const size_t esize = (size_t)GDALGetDataTypeSizeBytes(b->type);
	double xs = 1.0, ys = 1.0;
	int xmargin, ymargin;

	lode__warp_chunk_scale(c, &xs, &ys);
	xmargin = (int)ceil(1. / xs);
	xmargin = 2 * (xmargin > 1 ? xmargin : 1);
	ymargin = (int)ceil(1. / ys);
	ymargin = 2 * (ymargin > 1 ? ymargin : 1);
	for (int row = r0; row < r1; row++) {
		unsigned char *out =
		    job->dst + ((size_t)(c->dy + row) * (size_t)job->nx + (size_t)c->dx) * esize;
		lode__footprint *kept = job->fp ? b->fps + (size_t)row * (size_t)c->dsx : NULL;
		if (job->fp != LODE_FP_TAKE) {
			for (int i = 0; i < c->dsx; i++) {
				b->px[i] = i + c->dx;
				b->py[i] = row + c->dy;
				b->pz[i] = 0.0;
				b->px2[i] = i + 1.0 + c->dx;
				b->py2[i] = row + 1.0 + c->dy;
				b->pz2[i] = 0.0;
			}
			fn(arg, TRUE, c->dsx, b->px, b->py, b->pz, b->ok);
			fn(arg, TRUE, c->dsx, b->px2, b->py2, b->pz2, b->ok2);
		}
		for (int i = 0; i < c->dsx; i++) {
			lode__footprint f;
			double v;
			int got;
			if (job->fp == LODE_FP_TAKE) {
				f = kept[i];
				if (f.wrap < 0)
					continue;
			} else if (!footprint(b, c, i, xmargin, ymargin, xs, &f)) {
				if (kept)
					kept[i].wrap = -1; /* GDAL leaves the pixel alone */
				continue;
			} else if (kept) {
				kept[i] = f;
			}
			got = b->method == LODE_FP_AVERAGE ? average_pixel(b, c, m, &f, &v)
							   : lode__stats_pixel(b, c, m, &f, &v);
			if (got < 0)
				return 0;
			if (!got)
				continue;
			if (b->type == GDT_Float32)
				((float *)(void *)out)[i] = (float)v; /* GWKSetPixelValue */
			else
				lode__warp_store_int(b, out, i, v);
		}
	}
	return 1;
}
