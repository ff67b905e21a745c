/*
 * crs_proj.h -- PRIVATE to liblode (formats/crs_proj.c, PROJ): parsing CRSs, choosing the
 * coordinate operation under the manifest's policy, transforming boxes.  Units: CRS
 * units for coordinates, metres for accuracies, degrees for lon/lat extents.
 */
#ifndef LODE_CRS_PROJ_H
#define LODE_CRS_PROJ_H

#include <stddef.h>
#include "error.h"

typedef struct lode_op {
	char *name;      /* PROJ's name for the whole operation */
	char *code;      /* "EPSG:8659": the operation's own code, or that of the registered
			    operation with the same datum-changing steps, or those steps'
			    codes joined by " + "; NULL when it only converts (no datum change) */
	char *pipeline;  /* PROJ pipeline string that is applied */
	double accuracy; /* metres; < 0 when unknown */
	int ballpark;
	int explicit_op; /* chosen by the manifest's operation: key */
	char **grids;    /* short names of the grids used */
	size_t ngrids;
	char *candidates_json; /* JSON array of every candidate considered, with reasons */
	char *steps_json;      /* JSON array of the steps: name, code, kind */
	char *ballpark_step;   /* name of the step that made it ballpark, or NULL */
	/* Through an intermediate CRS (a dataset's via:), else NULL / 0: */
	char *via;               /* label of the intermediate CRS ("EPSG:4326") */
	char *legs_json;         /* JSON array of the two legs: from, to, name, code, accuracy_m,
				    ballpark, proj_pipeline */
	double accuracy_known_m; /* sum of the legs' known accuracies (metres) */
} lode_op;

void lode__op_clear(lode_op *op);

/* Parse any CRS string PROJ/GDAL accept into WKT2:2019.  *wkt malloc'd. */
lode_status lode__crs_to_wkt(const char *user, char **wkt, lode_error *err);
/* The CRS's unit into unit ("metre", "degree", ...): 1 when geographic (angular unit),
   0 when projected or otherwise linear, -1 when unknown (unit then "unknown unit"). */
int lode__crs_unit(const char *wkt, char *unit, size_t n);
/* A short label: "EPSG:4326" when identified, else the CRS name.  malloc'd. */
char *lode__crs_label(const char *wkt);

typedef struct lode_policy {
	double max_error_m;
	int allow_ballpark;
} lode_policy;

/*
 * Choose the operation from src to dst under policy.  lonlat_aoi is the source's
 * extent in degrees (west, south, east, north) or NULL.  explicit_op: the manifest's
 * operation: value or NULL.  Fills *op; on refusal the error says which candidates
 * there were and why each was refused.
 */
lode_status lode__crs_choose_operation(const char *src_wkt, const char *dst_wkt, const double *lonlat_aoi,
				       const lode_policy *policy, const char *explicit_op, lode_op *op,
				       lode_error *err);

/*
 * The same through an intermediate CRS via_wkt: the best operation from src to via and
 * the best from via to dst, each under policy, applied one after the other (one PROJ
 * pipeline).  op->accuracy is the sum of the legs' accuracies when both are known, else
 * unknown (< 0), with the known part in op->accuracy_known_m; policy.max_error_m bounds
 * each leg and that sum.  op->ballpark when either leg is.
 */
lode_status lode__crs_choose_via(const char *src_wkt, const char *via_wkt, const char *dst_wkt,
				 const double *lonlat_aoi, const lode_policy *policy, lode_op *op,
				 lode_error *err);

/* Whether an operation's pipeline is PROJ's "+proj=noop" (a ballpark offset between two
   datums, say), which leaves every coordinate as it is: callers skip the transformation. */
int lode__op_is_noop(const char *pipeline);
/* The box of a CRS-less-datum-change conversion from a CRS to its geographic CRS. */
lode_status lode__crs_bounds_to_lonlat(const char *wkt, const double in[4], double out[4], lode_error *err);
/* PROJ release and EPSG database version, malloc'd. */
void lode__proj_versions(char **proj_version, char **epsg_version);
/* PROJ's version as linked, "9.1.1" (static storage). */
const char *lode__proj_version(void);

#endif /* LODE_CRS_PROJ_H */
