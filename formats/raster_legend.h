/*
 * raster_legend.h -- PRIVATE to liblode (formats/raster_legend.c, GDAL), used by raster_gdal.c:
 * a band's legend (colour interpretation, colour table, category names, raster
 * attribute table, scale and offset) as JSON text (docs/bundle-format.md, 4.6).
 */
#ifndef LODE_RASTER_LEGEND_H
#define LODE_RASTER_LEGEND_H

#include <gdal.h>

#include "error.h"

/* The band's legend as compact JSON text (malloc'd), or NULL when it has none (or on
   failure to allocate: *oom is then 1). */
char *lode__legend_capture(GDALRasterBandH b, int *oom);
/* Put the legend (JSON text from lode__legend_capture; NULL: nothing) on band b.
   LODE_EBUNDLE when it is malformed; LODE_EIO when GDAL refuses a part. */
lode_status lode__legend_apply(GDALRasterBandH b, const char *legend, lode_error *err);

#endif /* LODE_RASTER_LEGEND_H */
