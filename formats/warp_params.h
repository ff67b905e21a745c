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

#endif /* LODE_WARP_PARAMS_H */
