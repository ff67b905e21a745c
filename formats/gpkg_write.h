/*
 * gpkg_write.h -- a lode_vdata (vdata.h) written out as a GeoPackage layer through OGR,
 * for lode extract (gpkg_write.c).
 */
#ifndef LODE_GPKG_WRITE_H
#define LODE_GPKG_WRITE_H

#include "lode_error.h"
#include "vdata.h"

/* Write a layer to a new GeoPackage (extract).  type_name as lode__vdata_type_name. */
lode_status lode__gpkg_write(const char *path, const char *layer, const char *crs_wkt, const char *type_name,
			     const lode_vdata *d, lode_error *err);

#endif
