/*
 * work.h -- PRIVATE to pipeline/work*.c: the work folder the cluster stages share
 * (docs/cluster.md), and the helpers the stage files share (work.c).
 *
 *   WORK/plan.json         what lode plan -w decided: the manifest (path and SHA-256), each
 *                          dataset's lineage record and content key, and its parts; and
 *                          the SHA-256 of the plan.json files it replaced (earlier_plans)
 *   WORK/parts/NAME-KEY.nc one part: a valid one-dataset bundle; a large raster is cut into
 *                          tiles of whole chunk rows, NAME-KEY-rowsA-B.nc
 *   WORK/failed/PART.json  why a part could not be made (removed when it is made)
 *
 * The key is the SHA-256 of the dataset's lineage record (source digest, settings, target
 * grid, operation, versions) and the layout version: a rerun finds the parts that are done
 * under their names and makes the others; a changed source or setting gets a new key.
 * Every file is written under a temporary name and renamed into place.
 *
 * Nothing in the folder is taken on trust (docs/cluster.md, "What package checks"): a
 * plan's keys and part names are derived again from its lineage records when it is
 * loaded; each part records the SHA-256 of the plan.json it was made from
 * (lode_part_plan_sha256); lode package plans again from the manifest and the sources
 * and verifies every part before copying it.
 *
 * The stages, one file each: work_plan.c (lode plan -w), work_reproject.c (lode
 * reproject), work_package.c (lode package), work_status.c (lode status -w).
 */
#ifndef LODE_WORK_H
#define LODE_WORK_H

#include <stddef.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lode_error.h"
#include "plan.h"

#define LODE_WORK_VERSION 1 /* the layout of plan.json and of parts: part of every key */

/* One part to make: a whole dataset, or a tile of a raster's rows. */
typedef struct unit {
	size_t item;   /* index of the dataset */
	int row, rows; /* rasters: the band of rows; vectors: 0, 0 */
	int whole;     /* the part holds the whole dataset */
	char *part;    /* file name in WORK/parts */
	double weight; /* for sharing the work out */
} unit;

/* A work folder loaded: its plan.json and the parts it lists (and, after
   lode__work_load, the plan with the manifest it was made from). */
typedef struct work {
	char *dir;
	char *plan_path;
	json_t *doc; /* plan.json */
	plan p;
	int have_plan;
	unit *units;
	size_t nunits;
	char **keys;          /* per dataset */
	char plan_sha256[65]; /* SHA-256 of plan.json's bytes, as read */
} work;

/* "DIR/sub/name" (name NULL: "DIR/sub") of w's folder, malloc'd; NULL when out of memory. */
char *lode__work_path(const work *w, const char *sub, const char *name);
/* Free what w holds and zero it (not w itself); fine after a failed load. */
void lode__work_free(work *w);

/* Make the folder path (its parent must exist) unless it is one already; fails if a file
   is in the way. */
lode_status lode__work_make_dir(const char *path, lode_error *err);
/* Write a small text file under a temporary name, then rename it into place (the
   temporary names of killed writers of the same file are cleaned first).  On failure
   path is untouched and no temporary file is left. */
lode_status lode__work_write_text_atomic(const char *path, const char *text, lode_error *err);
/* Is path a regular file? */
int lode__work_file_exists(const char *path);
/* A file's modification time as "SECONDS.NANOSECONDS", malloc'd; NULL when out of memory. */
char *lode__work_mtime_text(const struct stat *st);

/* The content key of a dataset: the SHA-256 (64 hex digits, malloc'd) of its lineage
   record and the layout of parts; NULL when out of memory. */
char *lode__work_dataset_key(const json_t *lineage);
/* Rows per tile of a raster: requested if positive, else whole chunk rows (LODE_CHUNK),
   as many as make at most 256 MiB of raw output, and at least one. */
int lode__work_tile_rows_for(const plan_item *it, int requested);
/*
 * The parts of dataset it with content key key, as plan.json lists them: one
 * {"part": "NAME-KEY24.nc"} (rasters also "row": 0, "rows": HEIGHT), or for a raster of at
 * least twice tile_rows rows, tiles {"part": "NAME-KEY24-rowsA-B.nc", "row": A, "rows":
 * B-A} of tile_rows rows, the last taking the remainder.  New reference; NULL when out of
 * memory.
 */
json_t *lode__work_units_json(const plan_item *it, const char *key, int tile_rows);
/* The lode_lineage text part u of raster it holds: the dataset's record, or for a tile
   the record with the tile's grid and "tile" (bundle-format.md section 11).  malloc'd;
   NULL when out of memory. */
char *lode__work_part_lineage(const plan_item *it, const unit *u);
/* Does this plan take parts made from the plan.json whose SHA-256 is sha: its own, or
   one it replaced (earlier_plans)? */
int lode__work_plan_accepts(const work *w, const char *sha);

/* The string member key of JSON object o (key NULL: o itself), or "" (never NULL; valid
   while o is). */
const char *lode__work_jstr(const json_t *o, const char *key);
/*
 * Read WORK_DIR/plan.json into *w and list its parts; the manifest is not opened (w->p
 * is empty).  Fails, naming what to do, when there is no plan, it is not valid JSON, it
 * was written by another layout version or a part is malformed.  Free w with
 * lode__work_free also on failure.
 */
lode_status lode__work_load_doc(work *w, const char *work_dir, lode_error *err);
/*
 * lode__work_load_doc, then load the manifest the plan was made from into w->p (its items
 * filled from the planned lineage records; no source is opened), and check that nothing
 * it depends on has changed since: the manifest's bytes, the target CRS, the
 * PROJ/EPSG/GDAL versions; and that plan.json is what lode plan -w wrote: each key is
 * the one its lineage record gives and the parts are the ones key and grid give
 * (LODE_EDAMAGED naming plan.json when not: it was edited).  Free w with lode__work_free
 * also on failure.
 */
lode_status lode__work_load(work *w, const char *work_dir, lode_error *err);
/* Fails (LODE_ESOURCE) when dataset i's source has changed since the plan: size or
   modification time. */
lode_status lode__work_source_unchanged(const work *w, size_t i, lode_error *err);
/* Why part u is not there: the message of its WORK/failed record (malloc'd), or NULL. */
char *lode__work_failure_of(const work *w, const unit *u);

#endif
