/*
 * warp_kernel.h -- PRIVATE to formats/warp_bilinear.c, formats/warp_chunks.c,
 * formats/warp_average.c, formats/warp_cubic.c, formats/warp_stats.c and
 * formats/warp_sum.c: the state of lode's
 * own warp kernels (nearest, bilinear, cubic, cubicspline, lanczos, the methods of GDAL's
 * GWKAverageOrModeThread: average, rms, min, max, med, q1, q3, mode; and sum), which share GDAL's
 * chunking, source reading, nodata masking and pixel storing (warp_bilinear.c) and
 * differ only in how a chunk's target pixels are computed.
 */
#ifndef LODE_WARP_KERNEL_H
#define LODE_WARP_KERNEL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <gdal.h>
#include <gdal_alg.h>

#include "util.h"
#include "warp_params.h"

/* The methods of GWKAverageOrModeThread that lode computes itself (a target pixel from
   the source pixels its footprint covers), and sum (GWKSumPreserving, over the same
   chunks and source windows); lode__footprint_method gives a name's.  LODE_FP_MODE:
   GWKAverageOrModeThread's mode. */
enum {
	LODE_FP_AVERAGE,
	LODE_FP_RMS,
	LODE_FP_MIN,
	LODE_FP_MAX,
	LODE_FP_MED,
	LODE_FP_Q1,
	LODE_FP_Q3,
	LODE_FP_SUM,
	LODE_FP_MODE
};

/* One chunk as GDALWarpOperation::CollectChunkList cuts it. */
typedef struct lode__warp_chunk {
	int dx, dy, dsx, dsy; /* target region, in window pixels */
	int sx, sy, ssx, ssy; /* source window */
	double extra_x, extra_y;
} lode__warp_chunk;

struct lode__bilinear {
	GDALDatasetH src;
	int src_w, src_h;
	int nbands; /* the source bands lode reads, one target band each */
	int *bands;
	int average;       /* 1: one of GWKAverageOrModeThread's methods (method), 0: bilinear or cubic */
	int method;        /* LODE_FP_* when average */
	int cubic;         /* 1: GDAL's cubic (bilinear at the edges and next to nodata) */
	int spline;        /* 1: GDAL's cubicspline (its general GWKResample) */
	int lanczos;       /* 1: GDAL's lanczos (GWKResampleOptimizedLanczos) */
	int nearest;       /* 1: GDAL's nearest (GWKNearestThread), at any scale */
	GDALDataType type; /* the target's type: GDAL's working type, but for mode below */
	GDALDataType work; /* mode on 16-bit values: GDAL's warper's working type (Byte,
			      Float32 or type, lode__bilinear_mode_type), or GDT_Unknown: not
			      ours; else type */
	float nodata;      /* Float32: the source nodata as the masker compares it */
	int int_nodata;    /* integer types: the nodata value as the masker compares it */
	int nodata_fits;   /* integer types: 0 when it is out of the type's range */
	double lo, hi;     /* integer types: the type's range */
	double dst_nodata;
	double mem_limit;
	size_t max_scratch;             /* lode_warp_params' */
	struct lode__tiff_blocks *tiff; /* the source's blocks decoded by lode, or NULL: GDAL */
	/* scratch, kept between windows (one lode__bilinear per worker thread); a thread
	   helping with another's rows uses its own (lode__bilinear_help, warp_rows.c): a
	   field of per-pixel or per-row scratch added here must be swapped there too */
	lode__warp_chunk *chunks;
	int nchunks, chunks_cap;
	const float *sbuf; /* the chunk's source window of the band being warped, as Float32
			      (exact for these types): sown, or a band of raw when Float32 */
	int typed;         /* 1: a footprint method but sum on integer values, which reads
			      the window in its own type (tbuf, a band of raw, one band too)
			      and needs no sbuf */
	const void *tbuf;  /* typed: the window of the band being warped, in b->type */
	int vtest;         /* typed: 1 when the chunk has nodata pixels, which the kernels
			      tell by comparing each value with int_nodata (no mask is made) */
	int sbuf_band;     /* the band sbuf (tbuf when typed) holds, -1 none yet */
	float *sown;       /* one band's source window as Float32 */
	size_t sown_len;
	void *raw; /* several bands (or typed): every band's source window, in the source's
		      type, as GDAL's warper reads them */
	size_t raw_len;
	unsigned char *mask; /* validity of the source window's pixels in a band, and with
				several bands a second plane: the unified one (valid in any band) */
	size_t mask_len;
	double *px, *py, *pz, *px2, *py2, *pz2;
	int *ok, *ok2;
	int row_cap;
	double *wx;    /* cubicspline and lanczos: a point's column (and row) weights, */
	size_t wx_cap; /* and lanczos's per-chunk tables */
	double *vals;  /* med, q1, q3, mode: the valid values of one target pixel's footprint */
	size_t vals_cap;
	int *hist; /* mode on integer values: counts of each value + 32768, cleared after use */
	struct lode__mode_slot *slots; /* mode on Float32 values: a hash table of the values */
	size_t slots_cap;              /* seen (power of two) in the footprint whose */
	uint32_t slots_gen;            /* number is slots_gen (warp_stats.c) */
	struct lode__sum_scratch *sum; /* sum's buffers (warp_sum.c), NULL until used */
	/* several bands by a footprint method: the footprints of a chunk's target pixels,
	   computed with its first band and taken by the others (wrap -1: none); shared with
	   the threads helping with the rows */
	struct lode__footprint *fps;
	size_t fps_cap;
	const lode__warp_share *share; /* offers a chunk's rows to idle threads, or NULL */
	void *share_owner;             /* lode__row_job_owner of b's jobs */
};

/* A target pixel's footprint in the chunk's source window, as GWKAverageOrModeThread
   computes it: source columns x0 to x1 - 1 (modulo the window's width when wrap) and
   rows y0 to y1 - 1; xmin, xmax, ymin, ymax its edges, for the weights. */
typedef struct lode__footprint {
	int x0, x1, y0, y1, wrap;
	double xmin, xmax, ymin, ymax;
} lode__footprint;

/* Grow *p, an array of *cap elements of size bytes each, to hold need elements, exactly
   (the kernels keep their buffers from window to window).  Returns 0, -1 when out of
   memory (*p is then unchanged). */
static inline int lode__warp_fit(void **p, size_t *cap, size_t need, size_t size)
{
	void *n;

	if (need <= *cap)
		return 0;
	if (!(n = realloc(*p, need * size)))
		return -1;
	lode__advise_huge(n, need * size);
	*p = n;
	*cap = need;
	return 0;
}

/* GDALWarpKernel::PerformWarp's scales of a chunk (dfXScale, dfYScale).  Returns 0 when
   GDAL would sample the scale on a grid instead (not ours). */
int lode__warp_chunk_scale(const lode__warp_chunk *c, double *xs, double *ys);
/* GDALWarpOperation::CollectChunkListInternal over the region dx, dy, dsx x dsy of a
   window: its chunks appended to b->chunks (formats/warp_chunks.c).  Returns 0, 1 when
   not ours (GDAL would take another road), -1 when out of memory. */
int lode__warp_collect(struct lode__bilinear *b, GDALTransformerFunc fn, void *arg, int dx, int dy, int dsx,
		       int dsy);
/* GDALWarpKernel::PerformWarp's choice: does GDAL resample this chunk with the
   four-sample bilinear (or cubic) formula? */
int lode__warp_four_samples(const lode__warp_chunk *c);
/* GWKSetPixelValueReal (bilinear) and GWKSetPixelValue (average) for an integer type,
   which store a value of full density the same way: pixel i of a row.  Inline: it runs
   once per target pixel. */
static inline void lode__warp_store_int(const struct lode__bilinear *b, void *row, int i, double v)
{
	int k;

	/* clamp, round half up (floor for signed types, truncation for unsigned ones, as
	   GDAL writes it), then step off the nodata value */
	if (v < b->lo) {
		k = (int)b->lo;
	} else if (v > b->hi) {
		k = (int)b->hi;
	} else {
		const double h = v + 0.5; /* within the type's range, so (int) is exact */
		k = (int)h;
		if (b->type == GDT_Int16 && h < k)
			k--; /* floor() of a negative value */
	}
	if (b->dst_nodata == (double)k)
		k = k == (int)b->lo ? k + 1 : k - 1;
	if (b->type == GDT_Int16)
		((int16_t *)row)[i] = (int16_t)k;
	else if (b->type == GDT_UInt16)
		((uint16_t *)row)[i] = (uint16_t)k;
	else
		((uint8_t *)row)[i] = (uint8_t)k;
}
/* Value o of a row s of the source window in type: GDT_Float32 (b->sbuf) or, typed,
   Byte, Int16 or UInt16 (b->tbuf).  Inline with a constant type. */
static inline double lode__window_value(const void *s, size_t o, const int type)
{
	switch (type) {
	case GDT_Byte: return ((const uint8_t *)s)[o];
	case GDT_Int16: return ((const int16_t *)s)[o];
	case GDT_UInt16: return ((const uint16_t *)s)[o];
	default: return ((const float *)s)[o];
	}
}
/* What the footprint kernels compare a typed window's values with (b->vtest), else
   LODE_NO_ND, which no value equals. */
#define LODE_NO_ND LONG_MIN
static inline long lode__window_nd(const struct lode__bilinear *b)
{
	return b->vtest ? b->int_nodata : LODE_NO_ND;
}
/* Whether value o of row s in type is valid: by the validity row m (NULL: all valid) for a
   Float32 window, by comparing it with nd for a typed one.  Inline with a constant type. */
static inline int lode__window_valid(const void *s, const unsigned char *m, long nd, size_t o, const int type)
{
	return type == GDT_Float32 ? !m || m[o] : lode__window_value(s, o, type) != (double)nd;
}
/* Row r of the window of the band being warped, W pixels wide, in type (b->type for the
   footprint methods but sum: b->sbuf when Float32, else typed, b->tbuf). */
static inline const void *lode__window_row(const struct lode__bilinear *b, int r, int W, const int type)
{
	if (type == GDT_Float32)
		return b->sbuf + (size_t)r * (size_t)W;
	return (const unsigned char *)b->tbuf + (size_t)r * (size_t)W * (type == GDT_Byte ? 1 : 2);
}
/* f(..., T) with T the constant of type (one of lode__window_value's), so that each
   type gets its own loops. */
#define LODE_BY_TYPE(type, f, ...)                                                                           \
	((type) == GDT_Byte     ? f(__VA_ARGS__, GDT_Byte)                                                   \
	 : (type) == GDT_Int16  ? f(__VA_ARGS__, GDT_Int16)                                                  \
	 : (type) == GDT_UInt16 ? f(__VA_ARGS__, GDT_UInt16)                                                 \
				: f(__VA_ARGS__, GDT_Float32))
/* One source row's share of a footprint for average (square 0) and rms (square 1):
   columns x0 to x1 - 1 of row s of type type (valid as lode__window_valid says with m
   and nd), weighted as GDAL's COMPUTE_WEIGHT weights them: wy * wx0 for the first
   column, wy * wx1 for the last, wy between (wy alone for a single column), added to
   *weight and, times the value (or its square), to *total in GDAL's order.  Inline
   with square and type constants: it runs once per source row of every target pixel. */
static inline void lode__footprint_row(const void *s, const int type, const unsigned char *m, long nd, int x0,
				       int x1, double wy, double wx0, double wx1, int square, double *total,
				       double *weight)
{
	const int test = m || nd != LODE_NO_ND;
	double t = *total, w = *weight, v;

#define LODE_ADD(x, k)                                                                                       \
	(v = lode__window_value(s, (size_t)(x), type), w += (k), t += (square ? v * v : v) * (k))
#define LODE_VALID(x) (!test || lode__window_valid(s, m, nd, (size_t)(x), type))
	if (x1 - x0 == 1) {
		if (LODE_VALID(x0))
			LODE_ADD(x0, wy);
	} else if (x1 > x0) {
		const double first = wy * wx0, last = wy * wx1;
		if (LODE_VALID(x0))
			LODE_ADD(x0, first);
		if (test) {
			for (int x = x0 + 1; x < x1 - 1; x++)
				if (lode__window_valid(s, m, nd, (size_t)x, type))
					LODE_ADD(x, wy);
		} else {
			for (int x = x0 + 1; x < x1 - 1; x++)
				LODE_ADD(x, wy);
		}
		if (LODE_VALID(x1 - 1))
			LODE_ADD(x1 - 1, last);
	}
#undef LODE_VALID
#undef LODE_ADD
	*total = t;
	*weight = w;
}
/* GWKAverageOrModeThread's b->method over rows r0 to r1 - 1 of job's chunk, whose
   source window is in b->sbuf (job->m: its validity, NULL when all valid), or typed in
   b->tbuf (job->m NULL, b->vtest: its values compared with the nodata value), into the
   window job->dst, job->nx pixels wide; the footprints computed, kept in b->fps or
   taken from there as job->fp says.  Returns
   0 when a pixel's value would depend on how GDAL's std::sort orders equal values
   (med, q1, q3 over a NaN, or over zeros of both signs): GDAL's warper must then do
   the whole window. */
int lode__average_chunk(struct lode__bilinear *b, const struct lode__row_job *job, GDALTransformerFunc fn,
			void *arg, int r0, int r1);

/* GWKSumPreserving over one chunk (formats/warp_sum.c), every band in one pass: the
   source pixels valid in um (the unified validity; NULL: all) make the quadtree, each
   one's weight in a target pixel is computed once and added to each band where that band
   is valid (bm: each band's validity, n = ssx * ssy bytes apart; NULL with one band or
   when all are valid).  Band k goes to dst + k * plane (a window nx pixels wide).
   Returns 1, 0 when GDAL's warper must do the window (an intersection of more than 16
   points, which std::sort would not sort by insertion), -1 when out of memory. */
int lode__sum_chunk(struct lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *um,
		    const unsigned char *bm, GDALTransformerFunc fn, void *arg, int nx, unsigned char *dst,
		    size_t plane);
/* sum's buffers kept by a worker from chunk to chunk (b->sum), freed with it. */
struct lode__sum_scratch;
void lode__sum_scratch_free(struct lode__sum_scratch *w);

/* LODE_FP_* for a resampling name lode's footprint kernels compute, or -1. */
int lode__footprint_method(const char *resampling);
/* rms, min, max, med, q1 or q3 (b->method) over footprint f: 1 and *out when GDAL gives
   the pixel a value, 0 when it leaves it alone, -1 when GDAL's value depends on its
   sort's order of equal values (see lode__average_chunk). */
int lode__stats_pixel(struct lode__bilinear *b, const lode__warp_chunk *c, const unsigned char *m,
		      const lode__footprint *f, double *out);

/* GWKCubicResample4Sample at (sx, sy) in a source window w x h pixels (values s,
   validity m, NULL when all valid).  Returns 1 with the value in *out, or 0 when GDAL
   resamples that point bilinearly instead (its 4 x 4 neighbourhood is not wholly inside
   the window, or holds a nodata pixel). */
int lode__cubic_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
		       double *out);

/* One axis of GDALWarpKernel::PerformWarp's filter set-up for cubicspline (filter radius
   2) or lanczos (3): the chunk's scale, whether it is below 1, the kernel's radius and
   first offset. */
typedef struct lode__spline_axis {
	double scale;
	int below1;
	int radius, init;
	double *tab; /* lanczos below a scale of 1: the weight of each offset from init */
} lode__spline_axis;
enum { LODE_SPLINE_MAX_RADIUS = 1000 }; /* beyond: GDAL's warper (a 2000 x coarser chunk) */
/* Fill *a for a chunk's scale and a filter radius; returns 0 when the radius is beyond
   LODE_SPLINE_MAX_RADIUS. */
int lode__spline_axis_set(double scale, int filter, lode__spline_axis *a);
/* GWKResample with GWKBSpline at (sx, sy) in a source window w x h (values s, validity
   m, NULL when all valid); wx: scratch for 2 * (ax->radius + 1) weights.  Returns 1 with
   the value in *out, 0 when GDAL finds no weight (the pixel stays nodata). */
int lode__cubicspline_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
			     const lode__spline_axis *ax, const lode__spline_axis *ay, double *wx,
			     double *out);
/* How lode__average_chunk gets a target pixel's footprint: computed (one band), computed
   and kept in b->fps (the first of several bands), taken from there (the others). */
enum { LODE_FP_COMPUTE, LODE_FP_KEEP, LODE_FP_TAKE };
/* One band of one chunk, its rows taken by one thread or several (formats/warp_rows.c):
   what lode__chunk_rows needs besides the kernel state. */
struct lode__row_job {
	struct lode__bilinear view; /* the owner's state when it offered the rows: the
				       source window and parameters every helper reads */
	const lode__warp_chunk *c;
	const unsigned char *m, *um;      /* the band's validity and the unified one */
	const lode__spline_axis *ax, *ay; /* cubicspline and lanczos, else NULL */
	int nx;                           /* the window's width */
	int fp;                           /* LODE_FP_COMPUTE, _KEEP (into view.fps) or _TAKE */
	unsigned char *dst;               /* the band's plane of the window */
	_Atomic int next;                 /* the first row nobody took */
	_Atomic int rc;                   /* 1; 0 once a row needs GDAL's warper for the window */
};
/* Rows r0 to r1 - 1 of job's chunk by b's kernel (nearest, bilinear, cubic, cubicspline,
   lanczos or a footprint method, not sum), transforming with fn/arg: 1, or 0 when GDAL's
   warper must do the window (lode__average_chunk). */
int lode__chunk_rows(struct lode__bilinear *b, const struct lode__row_job *job, GDALTransformerFunc fn,
		     void *arg, int r0, int r1);
/* Grow b's per-row buffers (px ... ok2) to n points: 0, or -1 when out of memory. */
int lode__warp_grow_rows(struct lode__bilinear *b, int n);
/* Every row of job by b and by the idle threads b->share finds: job->rc. */
int lode__rows_run(struct lode__bilinear *b, struct lode__row_job *job, GDALTransformerFunc fn, void *arg);

/* Fill a->tab (2 * radius + 1 values) with the weights GDAL's Lanczos resampler computes
   once per chunk below a scale of 1 (GWKResampleCreateWrkStruct). */
void lode__lanczos_table(lode__spline_axis *a);
/* GWKResampleOptimizedLanczos at (sx, sy), as lode__cubicspline_sample; wx and wy:
   scratch for 2 * (radius + 1) weights of each axis. */
int lode__lanczos_sample(const float *s, const unsigned char *m, int w, int h, double sx, double sy,
			 const lode__spline_axis *ax, const lode__spline_axis *ay, double *wx, double *wy,
			 double *out);

#endif
