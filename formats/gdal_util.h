/*
 * gdal_util.h -- PRIVATE to formats/: capture of GDAL (CPL) error messages so that they
 * reach the caller's lode_error instead of stderr.  Push a capture around each GDAL
 * operation; the last failure message is kept.  And GDAL's data type of a lode type.
 */
#ifndef LODE_GDAL_UTIL_H
#define LODE_GDAL_UTIL_H

#include "dtype.h"

typedef struct lode__cpl_capture {
	char msg[1024]; /* the last CE_Failure/CE_Fatal message, "" if none */
	int failures;
} lode__cpl_capture;

void lode__cpl_push(lode__cpl_capture *c);
void lode__cpl_pop(void);
/* The captured message, or dflt when GDAL said nothing. */
const char *lode__cpl_msg(const lode__cpl_capture *c, const char *dflt);
/* GDAL's GDALDataType for t (GDT_Unknown, 0, for none). */
int lode__gdal_type(lode_dtype t);

#endif
