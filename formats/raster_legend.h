/*
 * raster_legend.h -- PRIVATE to liblode (formats/raster_legend.c, GDAL), used by raster_gdal.c:
 * a band's legend (colour interpretation, colour table, category names, raster
 * attribute table, scale and offset) as JSON text (docs/bundle-format.md, 4.6).
 */
#ifndef LODE_RASTER_LEGEND_H
#define LODE_RASTER_LEGEND_H

#include <gdal.h>

#include "error.h"

/* The band's legend as compact JSON text in *out (malloc'd), or NULL when it has none.
   LODE_ESOURCE when it is larger than lode carries (65536 colour entries or categories,
   256 RAT columns, 4 Mi RAT cells), LODE_ENOMEM; *out is NULL then. */
lode_status lode__legend_capture(GDALRasterBandH b, char **out, lode_error *err);
/* Put the legend (JSON text from lode__legend_capture; NULL: nothing) on band b.
   LODE_EBUNDLE when it is malformed; LODE_EIO when GDAL refuses a part. */
lode_status lode__legend_apply(GDALRasterBandH b, const char *legend, lode_error *err);

#endif /* LODE_RASTER_LEGEND_H */
