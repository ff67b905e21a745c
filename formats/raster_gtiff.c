/*
 * raster_gtiff.c -- the GeoTIFFs extract writes (raster_gdal.h's lode__gtiff_*): tiled,
 * deflate at level 1 with GDAL's threads, the predictor for the type, the CRS, nodata,
 * band names, units and legends.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "gdal_util.h"
#include "raster_gdal.h"
#include "raster_legend.h"

struct lode__gtiff {
	GDALDatasetH ds;
	lode_dtype dtype;
	int width;
};

lode_status lode__gtiff_create(const char *path, const lode_gtiff_params *p, lode__gtiff **out,
			       lode_error *err)
{
	lode__gtiff *g = NULL;
	GDALDriverH drv = GDALGetDriverByName("GTiff");
	char **co = NULL;
	lode__cpl_capture cap;
	OGRSpatialReferenceH srs = NULL;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__cpl_push(&cap);
	if (!drv) {
		rc = lode__err(err, LODE_EINTERNAL, "GDAL's GTiff driver is missing");
		goto out;
	}
	co = CSLSetNameValue(co, "COMPRESS", "DEFLATE");
	/* Level 1, as in the bundle: with GDAL's libdeflate about half the CPU of its default
	   6, for files a few percent larger (docs/performance.md). */
	co = CSLSetNameValue(co, "ZLEVEL", "1");
	co = CSLSetNameValue(co, "TILED", "YES");
	co = CSLSetNameValue(co, "BIGTIFF", "IF_SAFER");
	if (p->threads > 1) {
		/* GDAL compresses tiles on its threads and writes them in the order one
		   thread would: the same file. */
		char n[16];
		snprintf(n, sizeof n, "%d", p->threads);
		co = CSLSetNameValue(co, "NUM_THREADS", n);
	}
	if (p->dtype == LODE_DT_F32 || p->dtype == LODE_DT_F64)
		co = CSLSetNameValue(co, "PREDICTOR", "3");
	else
		co = CSLSetNameValue(co, "PREDICTOR", "2");
	if (p->dtype == LODE_DT_I8)
		co = CSLSetNameValue(co, "PIXELTYPE", "SIGNEDBYTE");
	g = calloc(1, sizeof *g);
	if (!g) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	g->dtype = p->dtype;
	g->width = p->width;
	g->ds = GDALCreate(drv, path, p->width, p->height, p->nbands,
			   p->dtype == LODE_DT_I8 ? GDT_Byte : (GDALDataType)lode__gdal_type(p->dtype), co);
	if (!g->ds) {
		rc = lode__err(err, LODE_EIO, "%s: cannot create the GeoTIFF: %s", path,
			       lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
	GDALSetGeoTransform(g->ds, (double *)p->gt);
	if (p->crs_wkt && (srs = OSRNewSpatialReference(NULL)) &&
	    OSRSetFromUserInput(srs, p->crs_wkt) == OGRERR_NONE)
		GDALSetSpatialRef(g->ds, srs);
	if (p->metadata)
		GDALSetMetadata(g->ds, (char **)p->metadata, NULL);
	for (int i = 0; i < p->nbands; i++) {
		GDALRasterBandH b = GDALGetRasterBand(g->ds, i + 1);
		if (p->has_nodata)
			GDALSetRasterNoDataValue(b, p->nodata);
		if (p->band_names && p->band_names[i] && p->band_names[i][0])
			GDALSetDescription(b, p->band_names[i]);
		if (p->band_units && p->band_units[i] && p->band_units[i][0])
			GDALSetRasterUnitType(b, p->band_units[i]);
		if (p->band_legends && (rc = lode__legend_apply(b, p->band_legends[i], err))) {
			lode__err_ctx(err, "%s: band %d: ", path, i + 1);
			goto out;
		}
	}
	*out = g;
	g = NULL;
out:
	if (srs)
		OSRDestroySpatialReference(srs);
	if (g && g->ds)
		GDALClose(g->ds);
	free(g);
	CSLDestroy(co);
	lode__cpl_pop();
	return rc;
}

lode_status lode__gtiff_write(lode__gtiff *g, int band, int y0, int ny, const void *buf, lode_error *err)
{
	lode__cpl_capture cap;
	lode_status rc = LODE_OK;
	GDALDataType t = g->dtype == LODE_DT_I8 ? GDT_Byte : (GDALDataType)lode__gdal_type(g->dtype);

	lode__cpl_push(&cap);
	if (GDALRasterIO(GDALGetRasterBand(g->ds, band), GF_Write, 0, y0, g->width, ny, (void *)buf, g->width,
			 ny, t, 0, 0) != CE_None)
		rc = lode__err(err, LODE_EIO, "writing band %d failed: %s", band,
			       lode__cpl_msg(&cap, "unknown reason"));
	lode__cpl_pop();
	return rc;
}

lode_status lode__gtiff_close(lode__gtiff *g, lode_error *err)
{
	lode__cpl_capture cap;
	lode_status rc = LODE_OK;

	if (!g)
		return LODE_OK;
	lode__cpl_push(&cap);
	/* GDAL 3.6's close returns nothing: failures arrive through the error handler. */
	GDALFlushCache(g->ds);
	GDALClose(g->ds);
	if (cap.failures)
		rc = lode__err(err, LODE_EIO, "finishing the GeoTIFF failed: %s",
			       lode__cpl_msg(&cap, "unknown reason"));
	lode__cpl_pop();
	free(g);
	return rc;
}
