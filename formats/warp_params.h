/*
 * warp_params.h -- PRIVATE to formats/: what warping one raster onto the target grid
 * needs, shared by GDAL's warper (raster_gdal.c) and lode's bilinear kernel
 * (warp_bilinear.c).  Strings are borrowed: they must outlive the warper.
 */
#ifndef LODE_WARP_PARAMS_H
#define LODE_WARP_PARAMS_H

#include <stddef.h>

#include "dtype.h"

typedef struct lode_warp_params {
	const char *src_crs_wkt; /* the source CRS to use (assumed or its own) */
	const char *dst_crs_wkt;
	const char *pipeline; /* the chosen operation */
	double gt[6];         /* target grid */
	int nx, ny;
	const int *bands; /* 1-based source bands */
	int nbands;
	const char *resampling;
	double error_threshold; /* pixels; 0 = exact */
	int has_src_nodata;     /* source nodata, one value for every band */
	double src_nodata;
	int has_dst_nodata;
	double dst_nodata;
	lode_dtype dtype;
	size_t max_scratch; /* lode's kernels: the most bytes one chunk may hold in their buffers
			       (its source window as Float32, its masks), 0: no bound; a window
			       with a chunk beyond it goes to GDAL's warper (--max-memory) */
} lode_warp_params;

/*
 * A chunk's rows shared between threads (formats/warp_rows.c).  A window is warped on
 * one thread, which reads its chunks' source windows; while it computes a chunk's target
 * pixels it offers the chunk's rows to threads that have nothing else to do.  Each of
 * those computes whole rows with its own transformer (the same one: GDAL's transformers
 * are not shared between threads) and its own scratch, from the owner's source window,
 * into the owner's window: every row is computed from the same inputs whichever thread
 * takes it, so the pixels do not depend on who helped.  sum (one quadtree per chunk)
 * is never shared.
 */
typedef struct lode__row_job lode__row_job;
typedef struct lode__warp_share {
	/* Make job visible to idle threads, which call lode__warper_help with it; or not
	   (another job is out): the owner then does every row itself. */
	void (*offer)(void *ctx, lode__row_job *job);
	/* Take job back if it was offered: no thread joins it afterwards; return when
	   every thread that joined has left it. */
	void (*withdraw)(void *ctx, lode__row_job *job);
	void *ctx;
	int threads; /* the run's threads (-j): with one, no thread is started beside it */
} lode__warp_share;
/* Whether job still has rows nobody took (formats/warp_rows.c). */
int lode__row_job_open(const lode__row_job *job);

#endif /* LODE_WARP_PARAMS_H */
