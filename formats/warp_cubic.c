/*
 * warp_cubic.c -- lode's own `cubic`, `cubicspline` and `lanczos` samples of one target
 * pixel, giving the same value, bit for bit, as GDAL 3.6's warper
 * (GWKCubicResample4Sample, GWKResample, GWKResampleOptimizedLanczos) gives for it.
 *
 * Why: with a destination nodata value GDAL's warper keeps a destination validity mask,
 * so every window goes through its general per-pixel kernel (GWKRealCase), which fetches
 * each row of four neighbours through GWKGetPixelRow (a switch on the type, the validity
 * mask tested bit by bit) and also convolves a density and an imaginary part nobody
 * uses here (docs/performance.md, issue 19).  Here the same arithmetic runs over the
 * chunk's Float32 copy of its source window.
 *
 * Everything around the sample (the chunking, the source window with GDAL's filter
 * radius of 2 for cubic, its reading and nodata mask, the transformation of the target
 * pixel centres, the test that the point's own source pixel is valid, the storing of
 * the value, and the choice of when this applies: a chunk whose scale is below 0.95 on
 * either axis goes to GDAL's warper, which resamples it with its wider kernel) is
 * warp_bilinear.c's.  For a point (x, y) in source window coordinates, following GDAL
 * 3.6.2's GWKRealCaseThread and GWKCubicResample4Sample exactly:
 *  1. ix = (int)(x - 0.5), iy = (int)(y - 0.5) (truncation, as GDAL casts), and the
 *     deltas (x - 0.5) - ix and (y - 0.5) - iy.
 *  2. When the 4 x 4 neighbourhood (ix - 1 .. ix + 2, iy - 1 .. iy + 2) is not wholly
 *     inside the source window, or any of its 16 pixels is nodata, GDAL resamples the
 *     point bilinearly (GWKBilinearResample4Sample, warp_bilinear.c's bilinear()).
 *  3. Otherwise: the Catmull-Rom weights of each delta (GWKCubicComputeWeights, with
 *     its exact expressions), each of the four rows convolved with the x weights, then
 *     the four row values with the y weights, each sum accumulated left to right in
 *     double precision (CONVOL4).  The density GDAL convolves alongside is a sum of
 *     weights that add up to one, so it never falls below GDAL's 0.9999 blending limit
 *     and the value is stored as it is.
 * `cubicspline` goes through GDAL's general resampler instead (GWKResample with the
 * unnormalised B-spline GWKBSpline as its weight function), at any scale: the chunk's
 * scale and kernel radius are PerformWarp's (radius 2, ceil(2 / scale) below a scale of
 * 1, and the weights' argument multiplied by the scale then), the point's pixel is
 * floor(x - 0.5) (floor this time), the kernel is clipped to the source window, each
 * column's weight is computed once per point, each row sums value x weight and the
 * weights of its valid pixels left to right, then the rows' sums are weighted by their
 * row weight and added top to bottom; a point whose weights sum below 1e-6 stays
 * nodata, otherwise the value is the sum divided by the weights' sum unless that is
 * within 1e-5 of 1.  (GDAL also sums a density, equal to that weight sum here, so it
 * never blends the value with the destination.)
 * `lanczos` goes through GDAL's own Lanczos resampler (radius 3), at any scale, with the
 * same clipping, then the kernel trimmed to the filter's support (|offset| <= 3, or
 * |offset x scale| <= 3 below a scale of 1) and GDAL's weights: below a scale of 1 the
 * sinc of offset x scale alone (GDAL ignores the point's fraction there), otherwise its
 * trigonometric recurrence in the fraction.  Two summations, as GDAL: with a nodata mask
 * every valid pixel's value x (row weight x column weight) is added in row order, and a
 * point with fewer than half of its kernel's pixels valid stays nodata; without one the
 * weight is (sum of column weights) x (sum of row weights) and each row's sum is weighted
 * and added.  The value is the sum times 1 / weight unless the weight is within 1e-5 of 1.
 * tests/e2e/test_kernels.py compares every pixel with gdalwarp -r cubic (cubicspline,
 * lanczos) -et 0's and the bundle with the one LODE_WARP_KERNEL=gdal (GDAL's warper)
 * writes.
 */
#include <math.h>
#include <stddef.h>

#include "warp_kernel.h"

/* GWKCubicComputeWeights, expression for expression. */
static void weights(double x, double c[4])
{
	const double half = 0.5 * x;
	const double three = 3.0 * x;
	const double half2 = half * x;

	c[0] = half * (-1 + x * (2 - x));
	c[1] = 1 + half2 * (-5 + three);
	c[2] = half * (1 + x * (4 - three));
	c[3] = half2 * (-1 + x);
}

int lode__cubic_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
		       double *out)
{
	const int ix = (int)(sx - 0.5), iy = (int)(sy - 0.5);
	double cx[4], cy[4], row[4];
	size_t o;

	if (ix - 1 < 0 || ix + 2 >= w || iy - 1 < 0 || iy + 2 >= h)
		return 0;
	o = (size_t)(iy - 1) * (size_t)w + (size_t)(ix - 1);
	if (m) {
		for (int r = 0; r < 4; r++) {
			const unsigned char *q = m + o + (size_t)r * (size_t)w;
			if (!(q[0] & q[1] & q[2] & q[3]))
				return 0;
		}
	}
	weights(sx - 0.5 - ix, cx);
	for (int r = 0; r < 4; r++) {
		const float *v = s + o + (size_t)r * (size_t)w;
		row[r] = cx[0] * v[0] + cx[1] * v[1] + cx[2] * v[2] + cx[3] * v[3];
	}
	weights(sy - 0.5 - iy, cy);
	*out = cy[0] * row[0] + cy[1] * row[1] + cy[2] * row[2] + cy[3] * row[3];
	return 1;
}

/* GWKBSpline, expression for expression (unnormalised: the weights add up to about 6,
   and GDAL divides by their sum). */
static double bspline(double x)
{
	const double xp2 = x + 2.0;
	const double xp1 = x + 1.0;
	const double xm1 = x - 1.0;
	const double xp2c = xp2 * xp2 * xp2;

	return xp2 > 0.0 ? ((xp1 > 0.0)
				? ((x > 0.0) ? ((xm1 > 0.0) ? -4.0 * xm1 * xm1 * xm1 : 0.0) + 6.0 * x * x * x
					     : 0.0) +
				      -4.0 * xp1 * xp1 * xp1
				: 0.0) +
			       xp2c
			 : 0.0;
}

int lode__spline_axis_set(double scale, int filter, lode__spline_axis *a)
{
	a->scale = scale;
	a->below1 = scale < 1.0;
	/* GDALWarpKernel::PerformWarp's nXRadius and nFiltInitX */
	a->radius = a->below1 ? (int)ceil(filter / scale) : filter;
	a->init = (filter + 1) % 2 - a->radius;
	return a->radius <= LODE_SPLINE_MAX_RADIUS;
}

/* A kernel's offsets [*lo, *hi] around pixel i0 clipped to a source axis of n pixels, as
   GDAL's resamplers clip them (the first offset first, then the last). */
static void clip_kernel(int i0, int n, int *lo, int *hi)
{
	if (i0 + *lo < 0)
		*lo = -i0;
	if (i0 + *hi >= n)
		*hi = n - i0 - 1;
}

int lode__cubicspline_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
			     const lode__spline_axis *ax, const lode__spline_axis *ay, double *wx,
			     double *out)
{
	const int ix = (int)floor(sx - 0.5), iy = (int)floor(sy - 0.5);
	const double dx = sx - 0.5 - ix, dy = sy - 0.5 - iy;
	int j = ay->init, jmax = ay->radius, imin = ax->init, imax = ax->radius;
	double real = 0.0, weight = 0.0;

	clip_kernel(iy, h, &j, &jmax);
	clip_kernel(ix, w, &imin, &imax);
	/* GDAL computes each column's weight once per point */
	for (int i = imin; i <= imax; i++)
		wx[i - imin] = ax->below1 ? bspline((i - dx) * ax->scale) : bspline(i - dx);
	for (; j <= jmax; j++) {
		const size_t o = (size_t)(iy + j) * (size_t)w + (size_t)(ix + imin);
		const float *v = s + o;
		const double w1 = ay->below1 ? bspline((j - dy) * ay->scale) : bspline(j - dy);
		double rl = 0.0, wl = 0.0;
		/* a row without a valid pixel adds nothing (GDAL skips it, or adds zeros) */
		if (m) {
			const unsigned char *q = m + o;
			for (int i = 0; i <= imax - imin; i++)
				if (q[i]) {
					rl += v[i] * wx[i];
					wl += wx[i];
				}
		} else {
			for (int i = 0; i <= imax - imin; i++) {
				rl += v[i] * wx[i];
				wl += wx[i];
			}
		}
		real += rl * w1;
		weight += wl * w1;
	}
	/* with a mask GDAL also requires the density, which it sums exactly as the weight */
	if (weight < 0.000001)
		return 0;
	*out = weight < 0.99999 || weight > 1.00001 ? real / weight : real;
	return 1;
}

/* GWKLanczosSinc (a radius of 3). */
static double lanczos_sinc(double x)
{
	if (x == 0.0)
		return 1.0;
	const double pix = M_PI * x;
	const double pix_r = pix / 3;
	const double pix2_r = pix * pix_r;
	return sin(pix) * sin(pix_r) / pix2_r;
}

void lode__lanczos_table(lode__spline_axis *a)
{
	int lo = a->init, hi = a->radius;

	/* the offsets GDAL computes, trimmed to the support; the others are never read */
	while (lo * a->scale < -3.0)
		lo++;
	while (hi * a->scale > 3.0)
		hi--;
	for (int i = lo; i <= hi; i++)
		a->tab[i - a->init] = lanczos_sinc(i * a->scale);
}

/* One axis of GWKResampleOptimizedLanczos: the kernel's range [*lo, *hi] (already
   clipped to the source window) trimmed to the filter's support, and its weights w[k] for
   offset *lo + k, computed as GDAL does (from the scale alone below a scale of 1, by its
   trigonometric recurrence in the offset d otherwise). */
static void lanczos_axis(const lode__spline_axis *a, double d, int *lo, int *hi, double *w)
{
	if (a->below1) {
		while (*lo * a->scale < -3.0)
			(*lo)++;
		while (*hi * a->scale > 3.0)
			(*hi)--;
		for (int i = *lo; i <= *hi; i++)
			w[i - *lo] = a->tab[i - a->init];
		return;
	}
	while (*lo - d < -3.0)
		(*lo)++;
	while (*hi - d > 3.0)
		(*hi)--;
	const double s3 = sin((-M_PI / 3.0) * d);
	const double s3sq = s3 * s3;
	const double c3 = sqrt(1.0 - s3sq);
	const double s1 = (3.0 - 4.0 * s3sq) * s3;
	const double inv = 3.0 / (M_PI * M_PI);
	const double inv_s1 = inv * s1;
	const double half = -0.5 * inv_s1 * s3;
	const double sin_pi_3 = 0.8660254037844386;
	const double other = sin_pi_3 * inv_s1 * c3;
	const double cst[3] = {inv_s1 * s3, half - other, half + other};
	for (int i = *lo; i <= *hi; i++) {
		const double x = i - d;
		w[i - *lo] = x == 0.0 ? 1.0 : cst[(i + 3) % 3] / (x * x);
	}
}

int lode__lanczos_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
			 const lode__spline_axis *ax, const lode__spline_axis *ay, double *wx, double *wy,
			 double *out)
{
	const int ix = (int)floor(sx - 0.5), iy = (int)floor(sy - 0.5);
	const double dx = sx - 0.5 - ix, dy = sy - 0.5 - iy;
	int jmin = ay->init, jmax = ay->radius, imin = ax->init, imax = ax->radius;
	double real = 0.0, weight = 0.0;

	clip_kernel(iy, h, &jmin, &jmax);
	clip_kernel(ix, w, &imin, &imax);
	lanczos_axis(ax, dx, &imin, &imax, wx);
	lanczos_axis(ay, dy, &jmin, &jmax, wy);
	if (m) {
		/* GDAL's path with a validity mask: every valid pixel's weight accumulated */
		int valid = 0;
		for (int j = jmin; j <= jmax; j++) {
			const size_t o = (size_t)(iy + j) * (size_t)w + (size_t)(ix + imin);
			const double w1 = wy[j - jmin];
			for (int i = 0; i <= imax - imin; i++) {
				if (!m[o + (size_t)i])
					continue;
				const double w2 = w1 * wx[i];
				valid++;
				real += s[o + (size_t)i] * w2;
				weight += w2;
			}
		}
		/* GDAL's density sum equals the weight sum here */
		if (weight < 0.000001 || valid < (jmax - jmin + 1) * (imax - imin + 1) / 2)
			return 0;
	} else {
		double rw = 0.0, cw = 0.0;
		for (int i = 0; i <= imax - imin; i++)
			rw += wx[i];
		for (int j = 0; j <= jmax - jmin; j++)
			cw += wy[j];
		weight = rw * cw;
		for (int j = jmin; j <= jmax; j++) {
			const float *v = s + (size_t)(iy + j) * (size_t)w + (size_t)(ix + imin);
			double r = 0.0;
			for (int i = 0; i <= imax - imin; i++)
				r += v[i] * wx[i];
			real += r * wy[j - jmin];
		}
		if (weight < 0.000001)
			return 0;
	}
	*out = weight < 0.99999 || weight > 1.00001 ? real * (1.0 / weight) : real;
	return 1;
}
