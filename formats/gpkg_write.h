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
/* Add a layer (or a table) to the GeoPackage path that lode__vdata_write made. */
lode_status lode__vdata_write_more(const char *path, const char *layer, const char *crs_wkt,
				   const lode_vdata *d, lode_error *err);
/* Record in GeoPackage path that field of layer related refers to key of layer base (both
   lode dataset names, plain): the Related Tables Extension's gpkgext_relations row and
   its mapping table RELATED_FIELD_BASE of (base fid, related fid) pairs, which GDAL (3.6
   cannot add one otherwise) and QGIS read as a relationship. */
lode_status lode__gpkg_relate(const char *path, const char *base, const char *key, const char *related,
			      const char *field, lode_error *err);

#endif
