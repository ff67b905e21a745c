/*
 * plan.h -- PRIVATE to pipeline/ (pipeline/plan.c): the plan that lode run and the
 * cluster stages share: the manifest read, every source checked, every coordinate
 * operation chosen, the lineage records made.  A plan owns what its items point to;
 * lode__plan_free releases it all.
 */
#ifndef LODE_PLAN_H
#define LODE_PLAN_H

#include <stdint.h>

#include <jansson.h>

#include "crs_proj.h"
#include "dtype.h"
#include "lode.h"
#include "manifest.h"
#include "raster_gdal.h"
#include "source_files.h"
#include "vdata.h"
#include "vector_read.h"

#define LODE_CHUNK 512 /* chunk edge, pixels: also the unit of tiles across shards */

typedef struct plan_item {
	const lode_dataset_spec *spec;
	lode_source_rules rules; /* what its source may read (lode__plan_item_rules) */
	int is_vector;
	int is_table;       /* a vector layer without geometry: no CRS, no operation (planning only) */
	lode__raster *src;  /* rasters (opened while planning; NULL when loaded from a work folder) */
	lode__vector *vsrc; /* vector layers */
	char sha256[65];
	uint64_t size;
	char *src_wkt;
	int crs_assumed;
	lode_op op;
	int *bands;
	int nbands;
	lode_dtype dtype;
	int has_nodata;
	double nodata;
	double et;
	int nx, ny;
	double gt[6];
	double src_extent_in_target[4];
	lode_policy pol; /* the policy it is planned under: the manifest's, with its own over it */
	char *warning;   /* one line when a ballpark or unknown-accuracy operation was accepted */
	json_t *files;   /* source.files of the lineage: every file the source reads, hashed */
	json_t *lineage; /* the plan's lineage record (versions included; vectors: no feature data) */
} plan_item;

typedef struct plan {
	lode_manifest *m;
	int threads;       /* for warping and compressing; 0: one per core */
	size_t max_memory; /* lode_run_options.max_memory */
	char *dst_wkt;
	char *dst_label;
	char *proj_version, *epsg_version;
	plan_item *items;
	size_t n;
	/* lode run only: a vector layer whose driver has no fast count (a CSV, a filtered
	   GeoPackage) is counted by its one read, not by a parse of its own at plan time, and
	   its lineage's source.feature_count is -1 until lode__write_vector sets it. */
	int count_when_read;
} plan;

/* Read the manifest, check every source, choose every operation; opt may be NULL. */
lode_status lode__plan_build(const char *manifest_path, const lode_run_options *opt, plan *p,
			     lode_error *err);
/* lode__plan_build for lode run, which reads every source once, right after: see
   plan.count_when_read. */
lode_status lode__plan_build_to_run(const char *manifest_path, const lode_run_options *opt, plan *p,
				    lode_error *err);
/* Manifest, target CRS and versions only (no dataset yet): for loading a saved plan. */
lode_status lode__plan_begin(const char *manifest_path, plan *p, lode_error *err);
void lode__plan_free(plan *p);
/* The plan (lode__plan_build) as lode plan prints it: a table for people, or (json) the
   JSON of lode_plan_json.  *out malloc'd. */
lode_status lode__plan_text(const plan *p, int json, char **out, lode_error *err);
/* Fill it->rules from the manifest and it->spec (set it->spec first). */
void lode__plan_item_rules(const plan *p, plan_item *it);
/* The plan's lineage record of one item (docs/bundle-format.md, lineage).  New reference,
   NULL when out of memory. */
json_t *lode__plan_lineage(const plan *p, const plan_item *it);
/* The extent of a layer's nodes: x min, y min, x max, y max (NaN left out). */
void lode__vector_extent(const lode_vdata *d, double e[4]);
/*
 * The final lineage of a vector layer: the plan's record with what reading the features
 * told (geometry type, count, extent e from lode__vector_extent, fields) put before the
 * versions.  New reference.
 */
json_t *lode__vector_lineage(const json_t *planned, const lode_vdata *d, const double e[4]);

/* The relations the manifest declares (key:, references:), checked against the
   sources' values; recorded in the items' lineage.  plan_relations.c. */
lode_status lode__plan_relations(plan *p, const char *manifest_path, lode_error *err);

#endif /* LODE_PLAN_H */
