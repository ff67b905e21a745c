/*
 * gpkg_write.h -- a lode_vdata (vdata.h) written out as a GeoPackage layer through OGR,
 * for lode extract (gpkg_write.c).
 */
#ifndef LODE_GPKG_WRITE_H
#define LODE_GPKG_WRITE_H

#include "lode_error.h"
#include "vdata.h"

/* Write a layer (or a table) to a new GeoPackage (extract), named layer, in crs_wkt (none
   for a table); or with csv to a new CSV file (GDAL's CSV driver: the geometry as WKT in
   a first column WKT when the layer has one, then the fields; no CRS, a null as an empty
   value). */
lode_status lode__vdata_write(const char *path, int csv, const char *layer, const char *crs_wkt,
			      const lode_vdata *d, lode_error *err);

#endif
