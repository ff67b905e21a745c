/*
 * crs_footprint.h -- PRIVATE to liblode (formats/crs_footprint.c, GDAL's OSR): where a
 * source's extent lands in another CRS when part of it lies outside the area where its
 * CRS is defined (the corners of a geostationary image off the Earth's disk, a polar
 * grid reaching past what a target projection covers).  Units: CRS units, x first.
 */
#ifndef LODE_CRS_FOOTPRINT_H
#define LODE_CRS_FOOTPRINT_H

#include "error.h"

typedef struct lode_footprint {
	/* Box in the target CRS of the sampled source points that transform (xmin ymin
	   xmax ymax); meaningful only when ntransformed > 0. */
	double covers[4];
	int nsampled, ntransformed;
	/* Of those, the points strictly inside the target box. */
	int ninside;
	/* Points sampled over the target box that, transformed back, fall strictly inside
	   the source box: counted only when asked (back != 0). */
	int nback;
} lode_footprint;

/*
 * Sample the source box src_box (source CRS) on a lattice -- its edges densely, its
 * inside on a coarser grid -- and transform the points with the pipeline (NULL: GDAL's
 * choice; "+proj=noop": none) to dst_wkt, skipping each point that does not transform,
 * as gdalwarp does.  When back is non-zero, also sample dst_box (target CRS) the same
 * way, transform it back with the inverse of the pipeline and count the points inside
 * src_box: that finds an overlap the first box cannot show, such as a source crossing
 * the antimeridian of a geographic target.  Fails only when a transformation cannot be
 * built at all; a box of which no point transforms is ntransformed == 0, not an error.
 */
lode_status lode__crs_footprint(const char *src_wkt, const char *dst_wkt, const char *pipeline,
				const double src_box[4], const double dst_box[4], int back,
				lode_footprint *fp, lode_error *err);

/* The same forward sampling into the geographic CRS of wkt (degrees, longitude first):
   the box of the points that transform.  LODE_ESOURCE when none does. */
lode_status lode__crs_footprint_lonlat(const char *wkt, const double box[4], double out[4], lode_error *err);

#endif /* LODE_CRS_FOOTPRINT_H */
