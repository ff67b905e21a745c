/*
 * warp_bilinear.h -- PRIVATE to formats/: lode's own bilinear, average and cubic warps of a
 * window for the common case, pixel for pixel what GDAL's warper gives (see
 * warp_bilinear.c, warp_average.c and warp_cubic.c).
 */
#ifndef LODE_WARP_BILINEAR_H
#define LODE_WARP_BILINEAR_H

#include <gdal.h>
#include <gdal_alg.h>

#include "warp_params.h"

typedef struct lode__bilinear lode__bilinear;

/* NULL when the warp is not the case this kernel covers (or LODE_WARP_KERNEL=gdal):
   the caller then uses GDAL's warper for every window. */
lode__bilinear *lode__bilinear_new(GDALDatasetH src, const lode_warp_params *p, GDALDataType dst_type);
/* Warp an nx x ny window (fn/arg map its pixel coordinates to the source's) into buf,
   one Float32 plane.  Returns 1 when done, 0 when this window is not ours (buf
   untouched; use GDAL's warper), -1 when GDAL failed to read the source or memory ran
   out (the GDAL error, if any, is in the current CPL error handler). */
int lode__bilinear_window(lode__bilinear *b, GDALTransformerFunc fn, void *arg, int nx, int ny, void *buf);
void lode__bilinear_free(lode__bilinear *b);
/* Let lode decode the source's blocks itself (formats/tiff_blocks.c) when it can, keeping
   at most bytes of them: 1 when it does, 0 when GDAL reads them (or b is NULL). */
int lode__bilinear_source_cache(lode__bilinear *b, size_t bytes);
/* mode on Int16 or UInt16 values: the working type GDAL's warper has (GDT_Byte or
   GDT_Float32 as lode gives it, formats/raster_gdal.c's lode__warper_mode_type, or the
   values' own type on GDAL's 16-bit path when none is negative), which decides GDAL's
   chunks; 0 leaves mode on 16-bit values to GDAL's warper (negative values). */
void lode__bilinear_mode_type(lode__bilinear *b, int type);

/* Let b offer its chunks' rows through s (NULL: never); owner: what lode__row_job_owner
   gives helpers of b's jobs. */
void lode__bilinear_share(lode__bilinear *b, const lode__warp_share *s, void *owner);
void *lode__row_job_owner(const lode__row_job *job);
/* Compute rows of job until none is left, with fn/arg (the same transformer as the
   owner's, offset the same way) and mine's scratch (mine: the helper's own kernel state
   for the same warp).  Returns the rows computed; none when mine's scratch cannot grow. */
int lode__bilinear_help(lode__bilinear *mine, lode__row_job *job, GDALTransformerFunc fn, void *arg);
/* Chunk rows computed by helpers so far, over every warp (LODE_PROFILE). */
long lode__bilinear_rows_shared(void);

#endif
