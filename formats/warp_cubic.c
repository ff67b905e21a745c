/*
 * warp_cubic.c -- lode's own `cubic` sample of one target pixel, giving the same value,
 * bit for bit, as GDAL 3.6's warper (GWKCubicResample4Sample) gives for it.
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
 * tests/e2e/test_kernels.py compares every pixel with gdalwarp -r cubic -et 0's and the
 * bundle with the one LODE_WARP_KERNEL=gdal (GDAL's warper) writes.
 */
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
