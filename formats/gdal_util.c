/*
 * gdal_util.c -- capture of GDAL (CPL) error messages for the modules that call GDAL
 * (raster_gdal.c, vector_*.c, gpkg_write.c, crs_proj.c): a handler pushed around each
 * operation keeps the last failure for the caller's lode_error instead of stderr.
 */
#include <stdio.h>

#include <cpl_error.h>

#include "gdal_util.h"

static void CPL_STDCALL capture_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
	lode__cpl_capture *c = CPLGetErrorHandlerUserData();

	(void)num;
	if (c && (cls == CE_Failure || cls == CE_Fatal)) {
		snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "");
		c->failures++;
	}
}

void lode__cpl_push(lode__cpl_capture *c)
{
	c->msg[0] = '\0';
	c->failures = 0;
	CPLPushErrorHandlerEx(capture_handler, c);
}

void lode__cpl_pop(void)
{
	CPLPopErrorHandler();
}

const char *lode__cpl_msg(const lode__cpl_capture *c, const char *dflt)
{
	return c->msg[0] ? c->msg : dflt;
}
