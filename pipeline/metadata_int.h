/*
 * metadata_int.h -- PRIVATE to the metadata module (metadata.c, metadata_iso.c,
 * metadata_fgdc.c, metadata_stac.c, metadata_report.c): the facts of a verified bundle as one JSON object,
 * the record writers that turn them into ISO 19139, FGDC CSDGM and STAC, and a small
 * wrapper of libxml2's xmlTextWriter shared by the two XML writers.
 *
 * The facts object (made by metadata.c from the bundle's root attributes and lineage):
 *   "attrs":      every text root attribute but lode_manifest, lode_merged_from and
 *                 the signatures (title, summary, creator_name, purpose, doi, ...)
 *   "crs":        the target CRS's label ("EPSG:4326"), "crs_wkt" its WKT2, "epsg" its
 *                 EPSG code as an integer or null
 *   "bbox":       [xmin, ymin, xmax, ymax] of every dataset in the target CRS,
 *   "bbox_wgs84": [west, south, east, north] in degrees (WGS 84)
 *   "datasets":   one object per dataset: name, kind, lineage (the stored lineage
 *                 record, parsed), and for a raster width, height, bands, data_type,
 *                 geotransform (GDAL's six numbers), nodata; for a vector
 *                 geometry_type and feature_count
 *   "file":       the bundle file's name, "href" how the STAC item refers to it,
 *                 "file_sha256" and "file_size" its bytes' digest and size,
 *                 "bundle_sha256" the bundle digest
 *   "datetime":   the STAC datetime, "date" the metadata's date (YYYY-MM-DD)
 *   "extra_assets": for STAC, [{href, type, title, role}] of records found beside it
 *   "verify":     for the report, lode verify's report of the bundle; "trust" the
 *                 --trust key files it was verified against (an array, maybe empty)
 * and, for the report only (report_quicklook.c): "map" {x0, y1, scale, width, height},
 * the map's frame (pixel = (x - x0) * scale, (y1 - y) * scale); per raster "quicklook"
 * {png (base64), width, height, step, legend {kind: ramp (min, max, units), palette
 * (entries [{value, rgba, name}]), rgb or empty}}; per vector layer "paths" {d (SVG
 * path data in map pixels), drawn, nodes, every, kind}; "not_drawn" (why) for a
 * dataset not drawn within --max-memory.
 */
#ifndef LODE_METADATA_INT_H
#define LODE_METADATA_INT_H

#include <jansson.h>
#include <libxml/xmlwriter.h>

#include "bundle.h"
#include "error.h"

/* A facts text field, or NULL when absent or empty. */
const char *lode__md_attr(const json_t *facts, const char *key);
const char *lode__md_str(const json_t *obj, const char *key);

/* One dataset's processing in one sentence (source CRS, operation, its EPSG code and
   accuracy, ballpark or unknown said plainly, resampling, versions); malloc'd. */
char *lode__md_step_text(const json_t *ds);
/* One dataset's operation accuracy in words ("15 m", "unknown (ballpark operation: ...)");
   malloc'd. */
char *lode__md_accuracy_text(const json_t *op);

/* Each writer makes the whole record as a malloc'd text in *out. */
lode_status lode__md_iso(const json_t *facts, char **out, lode_error *err);
lode_status lode__md_fgdc(const json_t *facts, char **out, lode_error *err);
lode_status lode__md_stac(const json_t *facts, char **out, lode_error *err);
lode_status lode__md_report(const json_t *facts, char **out, lode_error *err); /* XHTML */

/* The report's pictures of the open, verified bundle b into facts (above), reading
   within max_memory bytes. */
lode_status lode__md_pictures(lode__bundle *b, const lode_bundle_item *items, size_t n, json_t *facts,
			      size_t max_memory, lode_error *err);

/* xmlTextWriter on a memory buffer; a failed call sets bad, the later ones do nothing. */
typedef struct lode__xw {
	xmlTextWriterPtr w;
	xmlBufferPtr buf;
	int bad;
} lode__xw;

int lode__xw_begin(lode__xw *x);                    /* -1 on out-of-memory */
void lode__xw_start(lode__xw *x, const char *name); /* <name> */
void lode__xw_attr(lode__xw *x, const char *name, const char *value);
void lode__xw_end(lode__xw *x);                                      /* </...> */
void lode__xw_elem(lode__xw *x, const char *name, const char *text); /* <name>text</name> */
/* End the document and hand its text over (*out malloc'd); frees the writer. */
lode_status lode__xw_finish(lode__xw *x, char **out, lode_error *err);
void lode__xw_free(lode__xw *x); /* after a failure; NULL members ok */

#endif /* LODE_METADATA_INT_H */
