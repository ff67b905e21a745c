/*
 * gdal_util.c -- capture of GDAL (CPL) error messages for the modules that call GDAL
 * (raster_gdal.c, vector_*.c, gpkg_write.c, crs_proj.c): a handler pushed around each
 * operation keeps the last failure for the caller's lode_error instead of stderr.  And
 * GDAL's data type for a lode type.
 */
#include <stdio.h>

#include <cpl_error.h>
#include <gdal.h>

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

int lode__gdal_type(lode_dtype t)
{
	switch (t) {
	case LODE_DT_U8: return GDT_Byte;
	case LODE_DT_U16: return GDT_UInt16;
	case LODE_DT_I16: return GDT_Int16;
	case LODE_DT_U32: return GDT_UInt32;
	case LODE_DT_I32: return GDT_Int32;
	case LODE_DT_U64: return GDT_UInt64;
	case LODE_DT_I64: return GDT_Int64;
	case LODE_DT_F32: return GDT_Float32;
	case LODE_DT_F64: return GDT_Float64;
	default: return GDT_Unknown;
	}
}
