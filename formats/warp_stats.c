/*
 * warp_stats.c -- lode's own rms, min, max, med, q1, q3 and mode warps of a target pixel,
 * giving the same pixels, bit for bit, as GDAL 3.6's warper (GWKAverageOrModeThread)
 * gives for them.  Like `average` (formats/warp_average.c, which computes each target
 * pixel's footprint in the source window and calls lode__stats_pixel for these
 * methods), they go through GDAL's general per-pixel path when there is a nodata
 * value; here the same arithmetic runs over the Float32 copy of the source window (for
 * integer values: over the window in its own type, b->tbuf).
 *
 * Following GDAL 3.6.2 (alg/gdalwarpkernel.cpp), over the footprint's source pixels
 * row by row, left to right (columns modulo the window's width when the pixel wraps
 * over the antimeridian), skipping those the nodata mask marks invalid:
 *  - rms: sqrt(sum(v * v * w) / sum(w)) in double, w as for average (COMPUTE_WEIGHT);
 *    the pixel is left alone when sum(w) is not positive.
 *  - max: starting from the lowest double, a value replaces the current one when the
 *    current one is below it (a NaN never does); min the same way from the largest.
 *  - med, q1, q3: the valid values, sorted, and the one at ceil(q * n - 1), computed
 *    in float as GDAL computes it (q = 0.5, 0.25, 0.75).  GDAL sorts with std::sort,
 *    whose order of values that compare equal but differ (-0 and +0) and whose result
 *    with a NaN are its own: when the chosen value is a zero and zeros of the other
 *    sign are among the values, or a NaN is, lode__stats_pixel says so and GDAL's
 *    warper does the window.  Any other set of values sorts to one sequence, whatever
 *    the algorithm.
 *  - mode: the value whose count first exceeds the largest count so far (GDAL's
 *    histogram for integer working types, its list of distinct values for Float32:
 *    the same value, see mode_pixel).  On Int16 and UInt16 values only when lode gives
 *    GDAL's warper bytes or floats to work on (formats/raster_gdal.c,
 *    lode__warper_mode_type; the chunks follow that type); GDAL's own 16-bit path,
 *    which indexes its histogram by the value itself, stays GDAL's.
 * sum is not here: GDAL 3.6 computes it with another kernel (GWKSumPreserving, which
 * intersects each source pixel's transformed polygon with the target pixels), which
 * formats/warp_sum.c reproduces.
 * tests/e2e/test_kernels.py compares every pixel with gdalwarp -et 0's and the bundle
 * with the one LODE_WARP_KERNEL=gdal writes.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warp_bilinear.h"
#include "warp_kernel.h"

int lode__footprint_method(const char *r)
{
	static const char *const names[] = {"average", "rms", "min", "max", "med", "q1", "q3", "sum", "mode"};
	static const int methods[] = {LODE_FP_AVERAGE, LODE_FP_RMS, LODE_FP_MIN, LODE_FP_MAX, LODE_FP_MED,
				      LODE_FP_Q1,      LODE_FP_Q3,  LODE_FP_SUM, LODE_FP_MODE};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(r, names[i]) == 0)
			return methods[i];
	return -1;
}

/* GDAL's COMPUTE_WEIGHT_Y and COMPUTE_WEIGHT */
static double weight_y(const lode__footprint *f, int r)
{
	return r == f->y0       ? (f->y0 + 1 == f->y1 ? 1.0 : 1 - (f->ymin - f->y0))
	       : r + 1 == f->y1 ? 1 - (f->y1 - f->ymax)
				: 1.0;
}

static double weight_x(const lode__footprint *f, int x, double wy)
{
	return x == f->x0       ? (f->x0 + 1 == f->x1 ? wy : wy * (1 - (f->xmin - f->x0)))
	       : x + 1 == f->x1 ? wy * (1 - (f->x1 - f->xmax))
				: wy;
}

static inline int rms_typed(const lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
			    const lode__footprint *f, double *out, const int type)
{
	const int W = c->ssx;
	const long nd = lode__window_nd(b);
	double total = 0.0, weight = 0.0;

	for (int r = f->y0; r < f->y1; r++) {
		const double wy = weight_y(f, r);
		const void *s = lode__window_row(b, r, W, type);
		const unsigned char *mr = m ? m + (size_t)r * (size_t)W : NULL;
		if (!f->wrap) {
			lode__footprint_row(s, type, mr, nd, f->x0, f->x1, wy, 1 - (f->xmin - f->x0),
					    1 - (f->x1 - f->xmax), 1, &total, &weight);
			continue;
		}
		for (int x = f->x0; x < f->x1; x++) {
			const int o = x % W;
			double v, w;
			if (!lode__window_valid(s, mr, nd, (size_t)o, type))
				continue;
			v = lode__window_value(s, (size_t)o, type);
			w = weight_x(f, x, wy);
			weight += w;
			total += v * v * w;
		}
	}
	if (!(weight > 0))
		return 0;
	*out = sqrt(total / weight);
	return 1;
}

static int rms_pixel(const lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
		     const lode__footprint *f, double *out)
{
	return LODE_BY_TYPE(b->type, rms_typed, b, c, m, f, out);
}

/* The valid values of footprint f (the window's values of type type) into b->vals, row
   by row, left to right (GDAL's order): their number (0 for a footprint beside the
   window, within GDAL's margin, which has no rows or columns), or -1 when out of memory
   or, nan_stops, at a NaN. */
static inline long footprint_values(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
				    const lode__footprint *f, int nan_stops, const int type)
{
	const int W = c->ssx;
	const long nd = lode__window_nd(b);
	size_t most;
	long n = 0;

	if (f->y1 <= f->y0 || f->x1 <= f->x0)
		return 0;
	most = (size_t)(f->y1 - f->y0) * (size_t)(f->x1 - f->x0);
	if (lode__warp_fit((void **)&b->vals, &b->vals_cap, most, sizeof *b->vals))
		return -1;
#define LODE_TAKE(o)                                                                                         \
	do {                                                                                                 \
		const double v_ = lode__window_value(s, (size_t)(o), type);                                  \
		if (nan_stops && isnan(v_))                                                                  \
			return -1;                                                                           \
		b->vals[n++] = v_;                                                                           \
	} while (0)
	for (int r = f->y0; r < f->y1; r++) {
		const void *s = lode__window_row(b, r, W, type);
		const unsigned char *mr = m ? m + (size_t)r * (size_t)W : NULL;
		if (f->wrap) {
			for (int x = f->x0; x < f->x1; x++)
				if (lode__window_valid(s, mr, nd, (size_t)(x % W), type))
					LODE_TAKE(x % W);
		} else if (mr || nd != LODE_NO_ND) {
			for (int x = f->x0; x < f->x1; x++)
				if (lode__window_valid(s, mr, nd, (size_t)x, type))
					LODE_TAKE(x);
		} else {
			for (int x = f->x0; x < f->x1; x++)
				LODE_TAKE(x);
		}
	}
#undef LODE_TAKE
	return n;
}
/* max (is_max) or min of the valid values among columns x0 to x1 - 1 of source row s
   (validity mr, NULL when all valid; columns modulo W when wrap) into *best: GDAL's
   comparisons, in its order (the first of equal values stays; a NaN never replaces a
   value).  Returns whether any value was valid.  The wrap and validity tests are taken
   out of the loop: this runs for every source pixel of every footprint.  s is of type
   type. */
static inline int minmax_row(const void *s, const int type, const unsigned char *mr, long nd, int x0, int x1,
			     int W, int wrap, const int is_max, double *best)
{
	double m = *best;
	int found = 0;

	/* GDAL's if (best < v) best = v (max), if (best > v) best = v (min) */
#define TAKE(v) (m = is_max ? ((v) > m ? (v) : m) : ((v) < m ? (v) : m))
	if (wrap) {
		for (int x = x0; x < x1; x++) {
			const int o = x % W;
			if (!lode__window_valid(s, mr, nd, (size_t)o, type))
				continue;
			found = 1;
			TAKE(lode__window_value(s, (size_t)o, type));
		}
	} else if (mr || nd != LODE_NO_ND) {
		for (int x = x0; x < x1; x++)
			if (lode__window_valid(s, mr, nd, (size_t)x, type)) {
				found = 1;
				TAKE(lode__window_value(s, (size_t)x, type));
			}
	} else {
		found = x1 > x0;
		for (int x = x0; x < x1; x++)
			TAKE(lode__window_value(s, (size_t)x, type));
	}
#undef TAKE
	*best = m;
	return found;
}

/* max (is_max) or min over footprint f.  Inline with constant is_max and type, so each
   gets its own loops. */
static inline int minmax_typed(const lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
			       const lode__footprint *f, const int is_max, double *out, const int type)
{
	const int W = c->ssx;
	double best = is_max ? -DBL_MAX : DBL_MAX;
	int found = 0;

	for (int r = f->y0; r < f->y1; r++)
		found |=
		    minmax_row(lode__window_row(b, r, W, type), type, m ? m + (size_t)r * (size_t)W : NULL,
			       lode__window_nd(b), f->x0, f->x1, W, f->wrap, is_max, &best);
	if (!found)
		return 0;
	*out = best;
	return 1;
}

static int cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int quantile_pixel(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
			  const lode__footprint *f, double *out)
{
	const float q = b->method == LODE_FP_MED ? 0.5f : b->method == LODE_FP_Q1 ? 0.25f : 0.75f;
	const long got = LODE_BY_TYPE(b->type, footprint_values, b, c, m, f, 1);
	const size_t n = got > 0 ? (size_t)got : 0;
	double *vals = b->vals, v;
	int idx;

	if (got <= 0)
		return got < 0 ? -1 : 0;
	if (n <= 32) {
		for (size_t i = 1; i < n; i++) {
			const double t = vals[i];
			size_t j = i;
			for (; j > 0 && t < vals[j - 1]; j--)
				vals[j] = vals[j - 1];
			vals[j] = t;
		}
	} else {
		qsort(vals, n, sizeof *vals, cmp_double);
	}
	/* static_cast<int>(std::ceil(quant * size - 1)), in float */
	idx = (int)ceilf(q * (float)n - 1);
	v = vals[idx];
	if (v == 0) {
		for (size_t i = 0; i < n; i++)
			if (vals[i] == 0 && signbit(vals[i]) != signbit(v))
				return -1;
	}
	*out = v;
	return 1;
}

/* One distinct Float32 value of a footprint (mode): its bits (-0 as +0), its count so
   far and the index of its first occurrence; the slot holds one of the current
   footprint's values when its gen is b->slots_gen, else it is empty. */
struct lode__mode_slot {
	uint32_t bits, gen;
	int count, first;
};

/* Footprints of more values than this count them in a hash table rather than comparing
   each value with those before it (the same counts, in n rather than n * n steps). */
#define MODE_SCAN_MOST 12

/* The index of the value mode_pixel's scan below takes among b->vals[0..n-1] (n > 0):
   the first occurrence of the value whose count first exceeds the largest count so far,
   values compared as floats compare (-0 == +0; a NaN equals nothing, so counts 1 where
   it stands).  -2 when out of memory. */
static int float_mode_hashed(lode__bilinear *b, size_t n)
{
	size_t cap = 16, mask;
	int best = -1, top = 0;

	while (cap < 2 * n)
		cap *= 2;
	if (cap > b->slots_cap) {
		struct lode__mode_slot *p = calloc(cap, sizeof *p);
		if (!p)
			return -2;
		free(b->slots);
		b->slots = p;
		b->slots_cap = cap;
		b->slots_gen = 0;
	}
	if (++b->slots_gen == 0) { /* wrapped: empty every slot */
		memset(b->slots, 0, b->slots_cap * sizeof *b->slots);
		b->slots_gen = 1;
	}
	mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		const float v = (float)b->vals[i];
		int k = 1, first = (int)i;

		if (v == v) { /* not NaN: count it with its equals */
			struct lode__mode_slot *sl;
			uint32_t bits;
			size_t h;
			memcpy(&bits, &v, sizeof bits);
			if (v == 0)
				bits = 0;
			h = (size_t)((bits * 0x9E3779B1u) >> 7) & mask;
			for (sl = &b->slots[h]; sl->gen == b->slots_gen && sl->bits != bits;
			     sl = &b->slots[h])
				h = (h + 1) & mask;
			if (sl->gen != b->slots_gen) {
				sl->gen = b->slots_gen;
				sl->bits = bits;
				sl->count = 0;
				sl->first = (int)i;
			}
			k = ++sl->count;
			first = sl->first;
		}
		if (k > top) {
			top = k;
			best = first;
		}
	}
	return best;
}

/* lode__window_value of an integer type, as an int (a histogram's index). */
static inline int typed_value(const void *s, size_t o, const int type)
{
	return type == GDT_Byte    ? ((const uint8_t *)s)[o]
	       : type == GDT_Int16 ? ((const int16_t *)s)[o]
				   : ((const uint16_t *)s)[o];
}

/* mode on integer values (-32768 to 65535, in b->tbuf in their own type): one source
   row's valid values, columns x0 to x1 - 1 of s (when masked, those that are not nd;
   modulo W when wrap), counted in the histogram h, keeping in *best the value whose count first
   exceeds the largest count so far, top (returned).  Inline with constant type, wrap and
   masked: it runs for every source pixel of every footprint. */
static inline int count_row(int *restrict h, const void *s, long nd, int x0, int x1, int W, const int type,
			    const int wrap, const int masked, int top, int *best)
{
	int v = *best;

	for (int x = x0; x < x1; x++) {
		const int o = wrap ? x % W : x;
		const int s_o = typed_value(s, (size_t)o, type);
		if (masked && s_o == nd)
			continue;
		const int k = ++h[s_o];
		if (k > top) {
			top = k;
			v = s_o;
		}
	}
	*best = v;
	return top;
}

/* The same over footprint f, row by row, straight from the source window (no copy into
   b->vals), its values of type type.  Returns the largest count (0: no valid value). */
static inline int count_typed(lode__bilinear *b, const lode__warp_chunk *c, const lode__footprint *f,
			      const int type, int *best)
{
	const int W = c->ssx;
	const long nd = lode__window_nd(b);
	int *h = b->hist + 32768, top = 0;

	for (int r = f->y0; r < f->y1; r++) {
		const void *s = lode__window_row(b, r, W, type);
		if (f->wrap)
			top = count_row(h, s, nd, f->x0, f->x1, W, type, 1, nd != LODE_NO_ND, top, best);
		else if (nd != LODE_NO_ND)
			top = count_row(h, s, nd, f->x0, f->x1, W, type, 0, 1, top, best);
		else
			top = count_row(h, s, nd, f->x0, f->x1, W, type, 0, 0, top, best);
	}
	return top;
}

/* The histogram's bins of every value of footprint f emptied (those of the pixels the
   mask left out are still 0: emptying them too saves a test a pixel). */
static inline void clear_typed(lode__bilinear *b, const lode__warp_chunk *c, const lode__footprint *f,
			       const int type)
{
	const int W = c->ssx;
	int *h = b->hist + 32768;

	for (int r = f->y0; r < f->y1; r++) {
		const size_t o = (size_t)r * (size_t)W;
		if (f->wrap) {
			for (int x = f->x0; x < f->x1; x++)
				h[typed_value(b->tbuf, o + (size_t)(x % W), type)] = 0;
		} else {
			for (int x = f->x0; x < f->x1; x++)
				h[typed_value(b->tbuf, o + (size_t)x, type)] = 0;
		}
	}
}

/* mode over footprint f of integer values of type type (mode_pixel). */
static inline int mode_typed(lode__bilinear *b, const lode__warp_chunk *c, const lode__footprint *f,
			     const int type, double *out)
{
	int v = 0;

	if (!count_typed(b, c, f, type, &v))
		return 0;
	if (type == GDT_Byte && (long)(f->x1 - f->x0) * (f->y1 - f->y0) >= 256)
		memset(b->hist + 32768, 0, 256 * sizeof *b->hist); /* every value 0 to 255 */
	else
		clear_typed(b, c, f, type);
	*out = v;
	return 1;
}

/* mode over footprint f.  GDAL's histogram (GWKAOM_Imode: working types Byte, Int16,
   UInt16) and its list of distinct values (GWKAOM_Fmode: Float32) both take the value
   whose count first exceeds the largest count so far, visiting the valid values row by
   row, left to right.  (Fmode's list gains a second entry for a value whose count grew
   without exceeding that largest count; the first entry keeps the value's true count,
   and the later ones, counting fewer, can never exceed it, so the value taken is the
   same.)  Fmode compares floats with ==, so -0 and +0 count together as the first one
   seen, and a NaN counts alone each time.  Integer values go through a histogram. */
static int mode_pixel(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
		      const lode__footprint *f, double *out)
{
	long got;
	size_t n;
	int best = -1, top = 0;

	if (b->type != GDT_Float32) {
		if (!b->hist && !(b->hist = calloc(32768 + 65536, sizeof *b->hist)))
			return -1; /* GDAL's warper will do */
		return b->type == GDT_Byte    ? mode_typed(b, c, f, GDT_Byte, out)
		       : b->type == GDT_Int16 ? mode_typed(b, c, f, GDT_Int16, out)
					      : mode_typed(b, c, f, GDT_UInt16, out);
	}
	if ((got = footprint_values(b, c, m, f, 0, GDT_Float32)) < 0)
		return -1; /* GDAL's warper will do */
	n = (size_t)got;
	if (n <= MODE_SCAN_MOST) {
		const double *vals = b->vals;
		for (size_t i = 0; i < n; i++) {
			const double v = vals[i];
			int k = 1;
			for (size_t j = 0; j < i; j++)
				k += vals[j] == v; /* no branch: equal values are not predictable */
			if (k > top) {             /* the value's first occurrence */
				size_t j = 0;
				while (j < i && !(vals[j] == v))
					j++;
				top = k;
				best = (int)j;
			}
		}
	} else if ((best = float_mode_hashed(b, n)) == -2) {
		return -1; /* out of memory: GDAL's warper will do */
	}
	if (best < 0)
		return 0;
	*out = b->vals[best];
	return 1;
}

int lode__stats_pixel(lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
		      const lode__footprint *f, double *out)
{
	switch (b->method) {
	case LODE_FP_RMS: return rms_pixel(b, c, m, f, out);
	case LODE_FP_MIN: return LODE_BY_TYPE(b->type, minmax_typed, b, c, m, f, 0, out);
	case LODE_FP_MAX: return LODE_BY_TYPE(b->type, minmax_typed, b, c, m, f, 1, out);
	case LODE_FP_MODE: return mode_pixel(b, c, m, f, out);
	default: return quantile_pixel(b, c, m, f, out);
	}
}
