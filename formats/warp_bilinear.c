/*
 * warp_bilinear.c -- lode's own bilinear warp of a window, for the common case of a
 * survey grid, a DEM or an image (Float32, Int16, UInt16 or Byte bands with a nodata
 * value), giving the same pixels, bit for bit, as GDAL's warper gives for the same window.
 *
 * Why: with a destination nodata value GDAL's warper keeps a destination validity
 * mask, and with it every window goes through its general per-pixel kernel
 * (GWKRealCase), which reads each of the four neighbours through two levels of
 * calls.  That kernel was half of lode's CPU time on a large grid (docs/performance.md).
 * This file does the same arithmetic in a tight loop.
 *
 * "The same" means following GDAL 3.6's steps exactly (alg/gdalwarpoperation.cpp and
 * alg/gdalwarpkernel.cpp), with lode's warp options (no special points, no
 * translation shortcut, no cutline, alpha or mask band):
 *  1. The window is cut into chunks as GDALWarpOperation::CollectChunkList does
 *     (formats/warp_chunks.c): the source window of a region comes from 21 samples
 *     along each of its edges, and a region is halved along its longer side while its
 *     buffers exceed the warp memory limit or its source covers less than half of its
 *     footprint.
 *  2. Each chunk's source window is read with RasterIO as Float32 (GDAL reads it in
 *     the working type, the target's; every Int16, UInt16 and Byte value is exact in
 *     Float32, so the values are the same); the footprint methods but sum read integer
 *     values in the working type itself and take them from there (b->typed).
 *  3. Target pixel centres are transformed row by row with the same transformer; a
 *     point that falls just outside the source window is transformed again on its own
 *     (exactly, not by the approximate transformer), as GDAL does.
 *  4. A point whose own source pixel is nodata stays nodata (nodata as
 *     GDALWarpNoDataMasker tells it: ARE_REAL_EQUAL in float for Float32, the nodata
 *     value rounded down to an integer for integer types).  Otherwise the value is the
 *     weighted sum of the valid ones of its four neighbours, accumulated in GDAL's
 *     order, divided by the sum of their weights unless that is exactly one.
 *  5. The value is stored as GWKSetPixelValueReal does: cast to Float32, or for an
 *     integer type clamped, rounded half up, and moved one step off the nodata value if
 *     it falls on it.
 * lode's `cubic` kernel is this one with GDAL's cubic sample in step 4 (and GDAL's
 * filter radius for cubic, 2, in step 1): where a point's 4 x 4 neighbourhood lies
 * inside the source window and holds no nodata pixel, formats/warp_cubic.c computes it;
 * elsewhere GDAL, and so lode, falls back to the bilinear value above.  `cubicspline`
 * and `lanczos` replace the whole of step 4's value by GDAL's general resampler and its
 * Lanczos one (warp_cubic.c), at any scale (GDAL widens those kernels for a coarser
 * chunk instead of changing method).  `nearest` (GDAL's filter radius 0 in step 1, any scale) replaces
 * step 4 by the value of the point's own source pixel when it is valid, and step 5 by
 * storing it as it is, as GWKNearestThread does (nearest_chunk).
 * The same machinery (steps 1 and 2, the nodata mask of step 4, the storing of step 5)
 * serves lode's `average` kernel, formats/warp_average.c, which replaces steps 3-4 by
 * GDAL's average over each target pixel's footprint (and rms, min, max, med, q1, q3:
 * formats/warp_stats.c; and sum, formats/warp_sum.c, GDAL's GWKSumPreserving, over the
 * same chunks; GDAL's filter radius for all of them is 0, so its source windows
 * are the sampled extent without a margin; a chunk whose scale GDAL would sample on a grid
 * is not ours), and formats/warp_cubic.c's cubic, cubicspline and lanczos.  The state they
 * share is in warp_kernel.h.
 * Several bands are warped one after the other over the same chunks (GDAL's memory
 * limit counts all of them), each with GDAL's nodata rules for several bands (warp_bands).
 * Anything else (another resampling, another working type, no nodata
 * (GDAL's own fast kernels do that case), a source mask band, an edge sample that fails
 * to transform, a bilinear or cubic chunk that GDAL would resample with its wider
 * kernel because its scale is below 0.95, a one-pixel-wide source window) is not ours: lode__bilinear_window
 * says so before writing anything and the caller uses GDAL's warper.  LODE_WARP_KERNEL=gdal turns them all
 * off; tests/e2e/test_raster.py and test_kernels.py check both ways give identical bundles and that both
 * equal gdalwarp -et 0.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <gdalwarper.h>

#include "tiff_blocks.h"
#include "warp_bilinear.h"
#include "warp_kernel.h"

/* GDAL's working data type for these warp options: the union of the source and target
   band types and the nodata values (GDALWarpResolveWorkingDataType, on a 1 x 1 stand-in
   for the target window); *mem_limit: the warp memory limit GDAL's options default to. */
static GDALDataType working_type(GDALDatasetH src, const lode_warp_params *p, GDALDataType dst_type,
				 double *mem_limit)
{
	GDALDriverH mem = GDALGetDriverByName("MEM");
	GDALDatasetH dst = mem ? GDALCreate(mem, "", 1, 1, 1, dst_type, NULL) : NULL;
	GDALWarpOptions *wo;
	GDALDataType t;

	if (!dst)
		return GDT_Unknown;
	wo = GDALCreateWarpOptions();
	wo->hSrcDS = src;
	wo->hDstDS = dst;
	wo->nBandCount = p->nbands;
	wo->panSrcBands = CPLMalloc(sizeof(int) * (size_t)p->nbands);
	wo->panDstBands = CPLMalloc(sizeof(int) * (size_t)p->nbands);
	wo->padfSrcNoDataReal = CPLMalloc(sizeof(double) * (size_t)p->nbands);
	wo->padfDstNoDataReal = CPLMalloc(sizeof(double) * (size_t)p->nbands);
	for (int i = 0; i < p->nbands; i++) {
		wo->panSrcBands[i] = p->bands[i];
		wo->panDstBands[i] = i + 1;
		wo->padfSrcNoDataReal[i] = p->src_nodata;
		wo->padfDstNoDataReal[i] = p->dst_nodata;
	}
	GDALWarpResolveWorkingDataType(wo);
	t = wo->eWorkingDataType;
	*mem_limit = wo->dfWarpMemoryLimit > 0 ? wo->dfWarpMemoryLimit : 64.0 * 1024 * 1024;
	GDALDestroyWarpOptions(wo);
	GDALClose(dst);
	return t;
}

lode__bilinear *lode__bilinear_new(GDALDatasetH src, const lode_warp_params *p, GDALDataType dst_type)
{
	const char *env = getenv("LODE_WARP_KERNEL");
	lode__bilinear *b;
	double mem_limit;

	if (env && strcmp(env, "gdal") == 0)
		return NULL;
	if ((strcmp(p->resampling, "bilinear") != 0 && lode__footprint_method(p->resampling) < 0 &&
	     strcmp(p->resampling, "nearest") != 0 && strcmp(p->resampling, "cubic") != 0 &&
	     strcmp(p->resampling, "cubicspline") != 0 && strcmp(p->resampling, "lanczos") != 0) ||
	    p->nbands < 1 || !p->has_src_nodata || !p->has_dst_nodata ||
	    (dst_type != GDT_Float32 && dst_type != GDT_Int16 && dst_type != GDT_UInt16 &&
	     dst_type != GDT_Byte))
		return NULL;
	if (GDALGetMaskFlags(GDALGetRasterBand(src, p->bands[0])) & GMF_PER_DATASET)
		return NULL; /* GDAL would use the mask band */
	/* Several bands by nearest: GDAL's warper is faster than lode's kernel band after
	   band (its nearest on bytes is a kernel of its own); docs/performance.md. */
	if (p->nbands > 1 && strcmp(p->resampling, "nearest") == 0)
		return NULL;
	if (working_type(src, p, dst_type, &mem_limit) != dst_type ||
	    (dst_type != GDT_Float32 && isnan(p->src_nodata)))
		return NULL;
	if (!(b = calloc(1, sizeof *b)) || !(b->bands = malloc(sizeof *b->bands * (size_t)p->nbands))) {
		free(b);
		return NULL; /* GDAL's warper will do */
	}
	b->src = src;
	b->src_w = GDALGetRasterXSize(src);
	b->src_h = GDALGetRasterYSize(src);
	b->nbands = p->nbands;
	memcpy(b->bands, p->bands, sizeof *b->bands * (size_t)p->nbands);
	b->method = lode__footprint_method(p->resampling);
	b->average = b->method >= 0; /* average, rms, min, max, med, q1, q3 or sum */
	b->cubic = strcmp(p->resampling, "cubic") == 0;
	b->spline = strcmp(p->resampling, "cubicspline") == 0;
	b->lanczos = strcmp(p->resampling, "lanczos") == 0;
	b->nearest = strcmp(p->resampling, "nearest") == 0;
	b->type = dst_type;
	/* the footprint methods but sum read integer values straight from the window in
	   their own type: a Float32 copy of it would be twice (16-bit) or four times (Byte)
	   the memory to fill, and memory a process is given for the first time costs about a
	   millisecond a megabyte on the benchmark's machine (page faults; docs/performance.md,
	   session 21) */
	b->typed = b->average && b->method != LODE_FP_SUM && dst_type != GDT_Float32;
	/* mode on 16-bit values waits for lode__bilinear_mode_type */
	b->work = b->method == LODE_FP_MODE && (dst_type == GDT_Int16 || dst_type == GDT_UInt16) ? GDT_Unknown
												 : dst_type;
	b->nodata = (float)p->src_nodata;
	b->lo = dst_type == GDT_Int16 ? -32768.0 : 0.0;
	b->hi = dst_type == GDT_Int16 ? 32767.0 : dst_type == GDT_UInt16 ? 65535.0 : 255.0;
	b->nodata_fits = p->src_nodata >= b->lo && p->src_nodata <= b->hi + 0.000001;
	b->int_nodata = b->nodata_fits ? (int)floor(p->src_nodata + 0.000001) : 0;
	b->dst_nodata = p->dst_nodata;
	b->mem_limit = mem_limit;
	b->max_scratch = p->max_scratch;
	return b;
}

void lode__bilinear_free(lode__bilinear *b)
{
	if (!b)
		return;
	lode__tiff_blocks_free(b->tiff);
	free(b->bands);
	free(b->chunks);
	free(b->sown);
	free(b->raw);
	free(b->mask);
	free(b->px);
	free(b->py);
	free(b->pz);
	free(b->px2);
	free(b->py2);
	free(b->pz2);
	free(b->ok);
	free(b->ok2);
	free(b->wx);
	free(b->vals);
	free(b->fps);
	lode__sum_scratch_free(b->sum);
	free(b->hist);
	free(b->slots);
	free(b);
}

int lode__bilinear_source_cache(lode__bilinear *b, size_t bytes)
{
	if (!b)
		return 0;
	lode__tiff_blocks_free(b->tiff);
	b->tiff = lode__tiff_blocks_new(b->src, b->bands, b->nbands, bytes);
	return b->tiff != NULL;
}

void lode__bilinear_mode_type(lode__bilinear *b, int type)
{
	if (b && b->method == LODE_FP_MODE && (b->type == GDT_Int16 || b->type == GDT_UInt16))
		b->work = type == GDT_Byte || type == GDT_Float32 || type == (int)b->type ? (GDALDataType)type
											  : GDT_Unknown;
}

/* What chunk c needs in b's buffers: its n source pixels as Float32 (sown; none when
   typed), its mask planes (the band's, and with several bands the unified one:
   warp_bands) and with several bands (or typed) every band's window in the source's
   type (raw, bytes).  Returns the bytes of all three. */
static size_t scratch(const lode__bilinear *b, const lode__warp_chunk *c, size_t *n, size_t *planes,
		      size_t *raw)
{
	*n = c->ssx > 0 && c->ssy > 0 ? (size_t)c->ssx * (size_t)c->ssy : 0;
	/* sum on several bands: every band's validity at once (sum_bands) */
	*planes = b->typed ? 0 : b->nbands == 1 ? 1 : b->method == LODE_FP_SUM ? (size_t)b->nbands + 1 : 2;
	*raw = b->nbands > 1 || b->typed ? *n * (size_t)b->nbands * (size_t)GDALGetDataTypeSizeBytes(b->type)
					 : 0;
	return *n * ((b->typed ? 0 : sizeof(float)) + *planes) + *raw;
}

/* b's buffers grown for chunk c; *bytes: what scratch() counts of them.  When the
   Float32 copy (several bands: band_values writes it) and the masks grew, *pf: a thread
   faulting their new pages in while read_chunk reads the window (lode__prefault_start;
   the caller joins it), else NULL.  The kernel zeroes a fresh page at its first write,
   serially in the one thread that makes the copy and the masks: for a window of 4000 x
   4000 pixels of 3 bands, 96 MB, the longest step of the window.  Returns 0, -1 when out
   of memory. */
static int grow(lode__bilinear *b, const lode__warp_chunk *c, size_t *bytes, struct lode__prefault **pf)
{
	const size_t had_mask = b->mask_len, had_sown = b->sown_len;
	size_t px, planes, raw;

	*pf = NULL;
	*bytes = scratch(b, c, &px, &planes, &raw);
	if (lode__warp_fit((void **)&b->mask, &b->mask_len, px * planes, 1) ||
	    lode__warp_fit((void **)&b->sown, &b->sown_len, b->typed ? 0 : px, sizeof *b->sown) ||
	    lode__warp_fit(&b->raw, &b->raw_len, raw, 1))
		return -1;
	/* one band is read straight into sown, on GDAL's or lode's decoding threads (faulting
	   its pages in beforehand too was within noise: docs/performance.md, session 19);
	   with -j 1, no thread beside the one asked for */
	if (b->share && b->share->threads > 1)
		*pf = lode__prefault_start(b->mask_len > had_mask ? b->mask : NULL, b->mask_len,
					   b->nbands > 1 && b->sown_len > had_sown ? b->sown : NULL,
					   b->sown_len * sizeof *b->sown);
	return lode__warp_grow_rows(b, c->dsx);
}

int lode__warp_grow_rows(lode__bilinear *b, int dsx)
{
	if (dsx > b->row_cap) {
		size_t n = (size_t)dsx;
		double **d[] = {&b->px, &b->py, &b->pz, &b->px2, &b->py2, &b->pz2};
		int **o[] = {&b->ok, &b->ok2};
		for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
			double *q = realloc(*d[k], n * sizeof *q);
			if (!q)
				return -1;
			*d[k] = q;
		}
		for (size_t k = 0; k < sizeof o / sizeof o[0]; k++) {
			int *q = realloc(*o[k], n * sizeof *q);
			if (!q)
				return -1;
			*o[k] = q;
		}
		b->row_cap = dsx;
	}
	return 0;
}

/* Blocks of a fixed count of pixels, which GCC's -O2 vectorizes (its cheapest cost
   model leaves a loop of unknown count scalar): m[i] = valid, for a valid computed from
   f = v[i]; all: 0 once a pixel is not valid. */
enum { VBLOCK = 32 };
#define MASK_LOOP(valid)                                                                                     \
	do {                                                                                                 \
		size_t i = 0;                                                                                \
		for (; i + VBLOCK <= n; i += VBLOCK)                                                         \
			for (int j = 0; j < VBLOCK; j++) {                                                   \
				const float f = v[i + j];                                                    \
				all &= m[i + j] = (valid);                                                   \
			}                                                                                    \
		for (; i < n; i++) {                                                                         \
			const float f = v[i];                                                                \
			all &= m[i] = (valid);                                                               \
		}                                                                                            \
	} while (0)

/* GDALWarpNoDataMasker over the n values v of a band's source window, into m: for
   Float32 ARE_REAL_EQUAL in float arithmetic, for integer types equality with the
   integer nodata value (none when it is out of the type's range).  Returns 1 when some
   pixel is nodata, 0 when every pixel is valid. */
static int validity(const lode__bilinear *b, const float *restrict v, unsigned char *restrict m, size_t n)
{
	const float nd = b->nodata, ind = (float)b->int_nodata;
	unsigned char all = 1;

	if (b->type != GDT_Float32) {
		if (!b->nodata_fits) {
			memset(m, 1, n);
			return 0;
		}
		MASK_LOOP(f != ind);
	} else if (isnan(nd)) {
		MASK_LOOP(f == f); /* not NaN */
	} else {
		MASK_LOOP(!(f == nd || fabsf(f - nd) < FLT_EPSILON * fabsf(f + nd) * 2));
	}
	return !all;
}

#undef MASK_LOOP

/* Whether validity would find a nodata pixel among the n values v (it stops at the
   first). */
static int has_nodata(const lode__bilinear *b, const float *v, size_t n)
{
	const float nd = b->nodata;
	const float ind = (float)b->int_nodata;

	if (b->type != GDT_Float32) {
		if (!b->nodata_fits)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (v[i] == ind)
				return 1;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const float f = v[i];
		if (isnan(nd) ? isnan(f) : f == nd || fabsf(f - nd) < FLT_EPSILON * fabsf(f + nd) * 2)
			return 1;
	}
	return 0;
}

/* has_nodata over the band band_values made (b->sbuf, or b->tbuf when typed). */
static int band_has_nodata(const lode__bilinear *b, size_t n)
{
	if (!b->typed)
		return has_nodata(b, b->sbuf, n);
	if (!b->nodata_fits)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const int v = b->type == GDT_Byte    ? ((const uint8_t *)b->tbuf)[i]
			      : b->type == GDT_Int16 ? ((const int16_t *)b->tbuf)[i]
						     : ((const uint16_t *)b->tbuf)[i];
		if (v == b->int_nodata)
			return 1;
	}
	return 0;
}

/* The source window's edges as inside() compares a point with them, once per chunk. */
typedef struct window_edges {
	double x0, y0, x1, y1;
} window_edges;

/* inside()'s first test, which nearly every point passes, inline: the same comparisons. */
static inline int inside_at_once(const lode__bilinear *b, const window_edges *e, int i)
{
	const double x = b->px[i], y = b->py[i];

	return b->ok[i] && x >= e->x0 && y >= e->y0 && x + 1e-10 <= e->x1 && y + 1e-10 <= e->y1;
}

/* GWKCheckAndComputeSrcOffsets: is target pixel i of this row inside the source
   window?  A point just outside is transformed again on its own. */
static int inside(const lode__bilinear *b, const lode__warp_chunk *c, GDALTransformerFunc fn, void *arg,
		  int i, int row)
{
	double *x = &b->px[i], *y = &b->py[i];

	/* the common case, the first attempt's tests when all pass */
	if (b->ok[i] && *x >= c->sx && *y >= c->sy && *x + 1e-10 <= c->ssx + c->sx &&
	    *y + 1e-10 <= c->ssy + c->sy)
		return 1;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt == 1) {
			double z = 0.0;
			*x = i + 0.5 + c->dx;
			*y = row + 0.5 + c->dy;
			fn(arg, TRUE, 1, x, y, &z, &b->ok[i]);
		}
		if (!b->ok[i] || isnan(*x) || isnan(*y))
			return 0;
		if (*x < c->sx) {
			if (attempt == 0 && *x > c->sx - 1)
				continue;
			return 0;
		}
		if (*y < c->sy) {
			if (attempt == 0 && *y > c->sy - 1)
				continue;
			return 0;
		}
		if (*x + 1e-10 > c->ssx + c->sx) {
			if (attempt == 0 && *x < c->ssx + c->sx + 1)
				continue;
			return 0;
		}
		if (*y + 1e-10 > c->ssy + c->sy) {
			if (attempt == 0 && *y < c->ssy + c->sy + 1)
				continue;
			return 0;
		}
		return 1;
	}
	return 0;
}

/* floor() for a value that fits an int */
static int ifloor(double v)
{
	int i = (int)v;
	return v < i ? i - 1 : i;
}

/* GWKBilinearResample4Sample: the weighted sum of the valid ones of the four neighbours
   (m: validity, NULL when all are valid), accumulated in GDAL's order (upper left, upper
   right, lower left, lower right).  Returns 0 when GDAL leaves the pixel alone. */
static int bilinear(const float *s, const unsigned char *m, int w, int h, double sx, double sy, double *out)
{
	int ix = ifloor(sx - 0.5), iy = ifloor(sy - 0.5);
	double rx = 1.5 - (sx - ix), ry = 1.5 - (sy - iy);
	double acc = 0.0, div = 0.0;
	size_t o;

	if (ix == -1) {
		ix = 0;
		rx = 1;
	}
	if (iy == -1) {
		iy = 0;
		ry = 1;
	}
	o = (size_t)iy * (size_t)w + (size_t)ix;
	if (!m && ix + 1 < w && iy + 1 < h) {
		/* all four inside and valid: the same operations without the tests */
		const double m1 = rx * ry, m2 = (1.0 - rx) * ry;
		const double m3 = rx * (1.0 - ry), m4 = (1.0 - rx) * (1.0 - ry);
		div = m1 + m2 + m3 + m4; /* non-negative, so 0 + m1 is m1 */
		acc += s[o] * m1;
		acc += s[o + 1] * m2;
		acc += s[o + (size_t)w] * m3;
		acc += s[o + (size_t)w + 1] * m4;
	} else {
		const double m1 = rx * ry, m2 = (1.0 - rx) * ry;
		if (!m || m[o]) {
			div += m1;
			acc += s[o] * m1;
		}
		if (ix + 1 < w && (!m || m[o + 1])) {
			div += m2;
			acc += s[o + 1] * m2;
		}
		if (iy + 1 < h) {
			const double m3 = rx * (1.0 - ry), m4 = (1.0 - rx) * (1.0 - ry);
			o += (size_t)w;
			if (!m || m[o]) {
				div += m3;
				acc += s[o] * m3;
			}
			if (ix + 1 < w && (!m || m[o + 1])) {
				div += m4;
				acc += s[o + 1] * m4;
			}
		}
	}
	/* GDAL takes acc as it is when div is exactly 1, which acc / 1.0 is too */
	if (div < 0.00001)
		return 0;
	*out = acc / div;
	return 1;
}

/* The chunk's cubicspline axes (GDALWarpKernel::PerformWarp's scales and radii) and room
   for a point's column weights.  Returns 1 when done, 0 when not ours, -1 when out of
   memory. */
static int spline_axes(lode__bilinear *b, const lode__warp_chunk *c, lode__spline_axis *ax,
		       lode__spline_axis *ay)
{
	const int filter = b->lanczos ? 3 : 2;
	double xs, ys;
	int need;

	if (!lode__warp_chunk_scale(c, &xs, &ys) || !lode__spline_axis_set(xs, filter, ax) ||
	    !lode__spline_axis_set(ys, filter, ay))
		return 0;
	/* the point's weights, then lanczos's tables for each axis below a scale of 1 */
	need = 2 * (ax->radius + 1) + 2 * (ay->radius + 1);
	need += b->lanczos ? 2 * (ax->radius + 1) + 2 * (ay->radius + 1) : 0;
	if (lode__warp_fit((void **)&b->wx, &b->wx_cap, (size_t)need, sizeof *b->wx))
		return -1;
	ax->tab = ay->tab = NULL;
	if (b->lanczos) {
		double *t = b->wx + 2 * (ax->radius + 1) + 2 * (ay->radius + 1);
		if (ax->below1) {
			ax->tab = t;
			lode__lanczos_table(ax);
		}
		if (ay->below1) {
			ay->tab = t + 2 * (ax->radius + 1);
			lode__lanczos_table(ay);
		}
	}
	return 1;
}

/* The centres of the target pixels of row row of chunk c, transformed to the source
   into b->px, b->py (b->ok), one call for the row as GDAL's kernels make it. */
static void transform_row(lode__bilinear *b, const lode__warp_chunk *c, GDALTransformerFunc fn, void *arg,
			  int row)
{
	for (int i = 0; i < c->dsx; i++) {
		b->px[i] = i + 0.5 + c->dx;
		b->py[i] = row + 0.5 + c->dy;
		b->pz[i] = 0.0;
	}
	fn(arg, TRUE, c->dsx, b->px, b->py, b->pz, b->ok);
}

/* The offset in c's source window of the pixel holding source point (x, y), as
   GWKCheckAndComputeSrcOffsets finds it: truncation, the last column and row kept. */
static size_t own_pixel(const lode__warp_chunk *c, double x, double y)
{
	int ix = (int)(x + 1.0e-10) - c->sx, iy = (int)(y + 1.0e-10) - c->sy;

	if (ix == c->ssx)
		ix--;
	if (iy == c->ssy)
		iy--;
	return (size_t)iy * (size_t)c->ssx + (size_t)ix;
}

/* One chunk of one band by bilinear, cubic or (ax, ay not NULL) cubicspline or lanczos:
   m, the band's validity; u, the unified one (a pixel valid in any band), which alone
   decides whether a point's own pixel lets it have a value (the same as m with one
   band; both NULL when every pixel of every band is valid). */
static void warp_chunk(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
		       const unsigned char *u, GDALTransformerFunc fn, void *arg, const lode__spline_axis *ax,
		       const lode__spline_axis *ay, int nx, unsigned char *dst, int r0, int r1)
{
	const size_t esize = (size_t)GDALGetDataTypeSizeBytes(b->type);
	const window_edges e = {c->sx, c->sy, c->ssx + c->sx, c->ssy + c->sy};

	for (int row = r0; row < r1; row++) {
		unsigned char *out = dst + ((size_t)(c->dy + row) * (size_t)nx + (size_t)c->dx) * esize;
		transform_row(b, c, fn, arg, row);
		for (int i = 0; i < c->dsx; i++) {
			const double *x = &b->px[i], *y = &b->py[i]; /* inside() may transform again */
			double v;
			if (!inside_at_once(b, &e, i) && !inside(b, c, fn, arg, i, row))
				continue;
			if (u && !u[own_pixel(c, *x, *y)]) /* the point's own pixel must be valid */
				continue;
			if (ax) {
				if (!(b->lanczos
					  ? lode__lanczos_sample(b->sbuf, m, c->ssx, c->ssy, *x - c->sx,
								 *y - c->sy, ax, ay, b->wx,
								 b->wx + 2 * (ax->radius + 1), &v)
					  : lode__cubicspline_sample(b->sbuf, m, c->ssx, c->ssy, *x - c->sx,
								     *y - c->sy, ax, ay, b->wx, &v)))
					continue;
			} else if (!(b->cubic && lode__cubic_sample(b->sbuf, m, c->ssx, c->ssy, *x - c->sx,
								    *y - c->sy, &v)) &&
				   !bilinear(b->sbuf, m, c->ssx, c->ssy, *x - c->sx, *y - c->sy, &v)) {
				continue;
			}
			if (b->type == GDT_Float32)
				((float *)(void *)out)[i] = (float)v; /* GWKSetPixelValueReal */
			else
				lode__warp_store_int(b, out, i, v);
		}
	}
}

/* One chunk of one band by nearest neighbour (GWKNearestThread and GDAL's no-mask
   variant): the value of the point's own source pixel, when valid in the band (m, NULL
   when all valid: the unified validity GDAL checks first is implied), stored as it is (no
   rounding, no step off the nodata value).  Integer values were read exactly as Float32. */
static void nearest_chunk(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
			  GDALTransformerFunc fn, void *arg, int nx, unsigned char *dst, int r0, int r1)
{
	const size_t esize = (size_t)GDALGetDataTypeSizeBytes(b->type);
	const window_edges e = {c->sx, c->sy, c->ssx + c->sx, c->ssy + c->sy};

	for (int row = r0; row < r1; row++) {
		unsigned char *out = dst + ((size_t)(c->dy + row) * (size_t)nx + (size_t)c->dx) * esize;
		transform_row(b, c, fn, arg, row);
		for (int i = 0; i < c->dsx; i++) {
			size_t o;
			float v;
			if (!inside_at_once(b, &e, i) && !inside(b, c, fn, arg, i, row))
				continue;
			o = own_pixel(c, b->px[i], b->py[i]);
			if (m && !m[o])
				continue;
			v = b->sbuf[o];
			if (b->type == GDT_Float32)
				memcpy(out + (size_t)i * 4, &v, 4); /* the bits as read, NaN payloads too */
			else if (b->type == GDT_Int16)
				((int16_t *)(void *)out)[i] = (int16_t)v;
			else if (b->type == GDT_UInt16)
				((uint16_t *)(void *)out)[i] = (uint16_t)v;
			else
				out[i] = (uint8_t)v;
		}
	}
}

/* The chunk's source window: one band read as Float32 into b->sown; several bands read
   at once in the source's type into b->raw, as GDAL's warper reads them (band_values
   makes each band Float32 in its turn: the Float32 copies of all bands together would
   be four times GDAL's memory for bytes). */
static int read_chunk(lode__bilinear *b, const lode__warp_chunk *c)
{
	b->sbuf_band = 0;
	if (b->nbands == 1 && b->typed) {
		b->tbuf = b->raw;
		return GDALRasterIO(GDALGetRasterBand(b->src, b->bands[0]), GF_Read, c->sx, c->sy, c->ssx,
				    c->ssy, b->raw, c->ssx, c->ssy, b->type, 0, 0) != CE_None;
	}
	if (b->nbands == 1) {
		b->sbuf = b->sown;
		if (b->tiff && lode__tiff_blocks_read(b->tiff, c->sx, c->sy, c->ssx, c->ssy, b->sown) == 0)
			return 0;
		return GDALRasterIO(GDALGetRasterBand(b->src, b->bands[0]), GF_Read, c->sx, c->sy, c->ssx,
				    c->ssy, b->sown, c->ssx, c->ssy, GDT_Float32, 0, 0) != CE_None;
	}
	b->sbuf_band = -1;
	if (b->tiff && b->type == GDT_Float32 &&
	    lode__tiff_blocks_read(b->tiff, c->sx, c->sy, c->ssx, c->ssy, (float *)b->raw) == 0)
		return 0;
	return GDALDatasetRasterIO(b->src, GF_Read, c->sx, c->sy, c->ssx, c->ssy, b->raw, c->ssx, c->ssy,
				   b->type, b->nbands, b->bands, 0, 0, 0) != CE_None;
}

/* Point b->sbuf at band k's values of the chunk read by read_chunk (n pixels). */
static void band_values(lode__bilinear *b, int k, size_t n)
{
	const int esize = GDALGetDataTypeSizeBytes(b->type);
	const unsigned char *v = (const unsigned char *)b->raw + (size_t)k * n * (size_t)esize;

	if (b->sbuf_band == k)
		return; /* one band, which read_chunk read as Float32, or made last */
	b->sbuf_band = k;
	if (b->typed) {
		b->tbuf = v;
		return;
	}
	if (b->type == GDT_Float32) {
		b->sbuf = (const float *)(const void *)v;
		return;
	}
	GDALCopyWords64(v, b->type, esize, b->sown, GDT_Float32, 4, (GPtrDiff_t)n);
	b->sbuf = b->sown;
}

/* sum on several bands, in one pass as GWKSumPreserving makes it: each band's validity in
   a plane of its own, the unified one (valid in any band) after them, which picks the
   source pixels; each one's weight computed once and added to every band valid there
   (lode__sum_chunk).  Returns as warp_bands. */
static int sum_bands(lode__bilinear *b, const lode__warp_chunk *c, GDALTransformerFunc fn, void *arg, int nx,
		     int ny, unsigned char *dst)
{
	const size_t n = (size_t)c->ssx * (size_t)c->ssy, nb = (size_t)b->nbands;
	unsigned char *unified = b->mask + nb * n;
	int any = 0;

	for (size_t k = 0; k < nb; k++) {
		band_values(b, (int)k, n);
		any |= validity(b, b->sbuf, b->mask + k * n, n);
	}
	if (any) {
		memcpy(unified, b->mask, n);
		for (size_t k = 1; k < nb; k++)
			for (size_t j = 0; j < n; j++)
				unified[j] |= b->mask[k * n + j];
	}
	return lode__sum_chunk(b, c, any ? unified : NULL, any ? b->mask : NULL, fn, arg, nx, dst,
			       (size_t)nx * (size_t)ny * (size_t)GDALGetDataTypeSizeBytes(b->type));
}

/*
 * Every band of one chunk, band k into plane k of dst (nx x ny pixels each).  Nodata as
 * GDALWarpOperation::WarpRegionToBuffer masks it: each band's validity (papanBandSrcValid),
 * none at all when every pixel of every band is valid, and with several bands and no
 * UNIFIED_SRC_NODATA option both a band's own and the unified validity, a pixel valid in
 * any band (panUnifiedSrcValid).  A kernel that reads the unified validity and then the
 * band's (GWKGetPixelValue, GWKGetPixelRow) sees the band's alone, which implies the
 * other; only a point's own-pixel test in the interpolating kernels (GWKRealCase) sees
 * the unified one by itself (GDAL's sum also picks its quadtree's source pixels by it:
 * several bands by sum go to sum_bands).  bytes: what the
 * chunk's buffers take (scratch()).  Returns 1, 0 when GDAL's warper must do the window,
 * -1 when out of memory.
 */
static int warp_bands(lode__bilinear *b, const lode__warp_chunk *c, size_t bytes, GDALTransformerFunc fn,
		      void *arg, int nx, int ny, unsigned char *dst)
{
	const size_t n = (size_t)c->ssx * (size_t)c->ssy;
	const size_t plane = (size_t)nx * (size_t)ny * (size_t)GDALGetDataTypeSizeBytes(b->type);
	/* mask: the band's validity; with several bands then the unified one, which only
	   the interpolating kernels read (the same plane with one band); none when typed */
	unsigned char *mask = b->mask, *unified = b->nbands > 1 && b->mask ? b->mask + n : b->mask;
	const int want_u = b->nbands > 1 && !b->nearest && !b->average;
	int any = 0, rc = 1, have = -1; /* have: the band whose validity mask holds */
	/* several bands by a footprint method (not sum): a target pixel's footprint, the same
	   for every band, computed with the first and kept for the others, when that fits
	   beside the chunk's buffers in the kernel's share of --max-memory */
	const size_t nfp = (size_t)c->dsx * (size_t)c->dsy, fp_bytes = nfp * sizeof *b->fps;
	const int keep = b->nbands > 1 && b->average && b->method != LODE_FP_SUM &&
			 (!b->max_scratch || bytes + fp_bytes <= b->max_scratch) &&
			 !lode__warp_fit((void **)&b->fps, &b->fps_cap, nfp, sizeof *b->fps);

	if (b->nbands > 1 && b->method == LODE_FP_SUM)
		return sum_bands(b, c, fn, arg, nx, ny, dst);
	/* whether any pixel of any band is nodata decides whether GDAL has masks at all */
	for (int k = 0; k < b->nbands && !(any && !want_u); k++) {
		band_values(b, k, n);
		if (!want_u) {
			any = band_has_nodata(b, n);
		} else if (k == 0) {
			any |= validity(b, b->sbuf, unified, n);
		} else {
			any |= validity(b, b->sbuf, mask, n);
			have = k;
			for (size_t j = 0; j < n; j++)
				unified[j] |= mask[j];
		}
	}
	/* typed: the kernels compare each value with the nodata value instead of a mask (the
	   same validity, without a pass over the window and a byte a pixel to fault in) */
	b->vtest = b->typed && any;
	/* the band band_values made last first */
	for (int i = 0, first = b->sbuf_band; i < b->nbands && rc == 1; i++) {
		const int k = (first + i) % b->nbands;
		const unsigned char *m = any && !b->typed ? mask : NULL, *um = any ? unified : NULL;
		unsigned char *out = dst + (size_t)k * plane;
		band_values(b, k, n);
		if (any && !b->typed && have != k) {
			validity(b, b->sbuf, mask, n);
			have = k;
		}
		if (b->method == LODE_FP_SUM) {
			rc = lode__sum_chunk(b, c, m, NULL, fn, arg, nx, out, plane);
		} else {
			lode__spline_axis ax, ay;
			lode__row_job job = {.c = c, .m = m, .um = um, .nx = nx, .dst = out};
			job.fp = !keep ? LODE_FP_COMPUTE : i == 0 ? LODE_FP_KEEP : LODE_FP_TAKE;
			if (b->spline || b->lanczos) {
				if (spline_axes(b, c, &ax, &ay) != 1)
					return -1; /* cannot happen: the first pass said 1 */
				job.ax = &ax;
				job.ay = &ay;
			}
			rc = lode__rows_run(b, &job, fn, arg);
		}
	}
	return rc;
}

int lode__chunk_rows(lode__bilinear *b, const lode__row_job *job, GDALTransformerFunc fn, void *arg, int r0,
		     int r1)
{
	if (b->nearest)
		nearest_chunk(b, job->c, job->m, fn, arg, job->nx, job->dst, r0, r1);
	else if (b->average)
		return lode__average_chunk(b, job, fn, arg, r0, r1);
	else
		warp_chunk(b, job->c, job->m, job->um, fn, arg, job->ax, job->ay, job->nx, job->dst, r0, r1);
	return 1;
}

int lode__bilinear_window(lode__bilinear *b, GDALTransformerFunc fn, void *arg, int nx, int ny, void *buf)
{
	unsigned char *dst = buf;
	int rc;

	if (b->work == GDT_Unknown)
		return 0; /* mode on 16-bit values in GDAL's own 16-bit path */
	b->nchunks = 0;
	rc = lode__warp_collect(b, fn, arg, 0, 0, nx, ny);
	if (rc)
		return rc < 0 ? -1 : 0;
	for (int i = 0; i < b->nchunks; i++) {
		const lode__warp_chunk *c = &b->chunks[i];
		lode__spline_axis ax, ay;
		double xs, ys;
		size_t n, planes, raw;
		if (b->max_scratch && scratch(b, c, &n, &planes, &raw) > b->max_scratch)
			return 0; /* beyond --max-memory's share: GDAL's warper, within its own limit */
		if (c->ssx <= 0 || c->ssy <= 0 || b->nearest)
			continue; /* nearest: every chunk is ours, at any scale */
		if (b->spline || b->lanczos) {
			/* GDAL's general resamplers at any scale */
			if (c->ssx == 1 || c->ssy == 1)
				return 0;
			if ((rc = spline_axes(b, c, &ax, &ay)) <= 0)
				return rc;
		} else if (b->average ? !lode__warp_chunk_scale(c, &xs, &ys)
				      : c->ssx == 1 || c->ssy == 1 || !lode__warp_four_samples(c)) {
			return 0;
		}
	}
	/* INIT_DEST=NO_DATA, converted to the target type the way GDAL converts it */
	GDALCopyWords64(&b->dst_nodata, GDT_Float64, 0, dst, b->type, GDALGetDataTypeSizeBytes(b->type),
			(GPtrDiff_t)nx * ny * b->nbands);
	for (int i = 0; i < b->nchunks; i++) {
		const lode__warp_chunk *c = &b->chunks[i];
		if (c->ssx <= 0 || c->ssy <= 0)
			continue;
		struct lode__prefault *pf;
		size_t bytes;
		if (grow(b, c, &bytes, &pf)) {
			lode__prefault_join(pf);
			return -1;
		}
		rc = read_chunk(b, c);
		lode__prefault_join(pf);
		if (rc)
			return -1;
		if ((rc = warp_bands(b, c, bytes, fn, arg, nx, ny, dst)) != 1)
			return rc; /* 0: GDAL's warper does the whole window */
	}
	return 1;
}
