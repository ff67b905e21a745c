/*
 * write.h -- PRIVATE to pipeline/ (pipeline/write.c): writing one planned dataset (or a
 * band of its rows) into an open bundle, the bundle's root attributes, the records the
 * bundle digest needs, and bundle files written under a private temporary name and
 * renamed into place, never over a file the command reads.  Used by lode run,
 * reproject, package and merge.
 */
#ifndef LODE_WRITE_H
#define LODE_WRITE_H

#include "bundle.h"
#include "digest.h"
#include "lode.h"
#include "plan.h"
#include "publish.h"

typedef struct lode__progress {
	const lode_run_options *opt;
	double done, total;
} lode__progress;

/* Advance the progress; non-zero when the caller asked to stop. */
int lode__tick(lode__progress *pr, double amount, const char *label);

/*
 * Write rows [row0, row0 + nrows) of raster item it into b as a dataset of that many
 * rows (the whole raster when row0 is 0 and nrows is it->ny).  lineage is the text to
 * store.  known gets the data variable's values digest (its content digest) for the
 * bundle digest.
 */
lode_status lode__write_raster(plan *p, plan_item *it, lode__bundle *b, int row0, int nrows,
			       const char *lineage, lode__progress *pr, lode__known *known, lode_error *err);
/* The raster's variable definition and its attributes (band names, units) from the plan. */
void lode__raster_def(const plan *p, const plan_item *it, lode_raster_def *def);
/* Band names or units as stored in lode_band_names/_units: lines, NULL when all empty. */
char *lode__band_text(const plan_item *it, int units, int *oom);
/*
 * Attach a raster variable's attributes (lode_band_names/_units only when not NULL)
 * and release it.
 */
lode_status lode__finish_raster(lode__bvar *v, const char *source, const char *lineage, const char *content,
				const char *names, const char *units, lode_error *err);
/* Read, transform and write vector layer it into b.  known gets the values digests of
   its coordinate variables and text fields (lode__vector_digest_ex). */
lode_status lode__write_vector(plan *p, plan_item *it, lode__bundle *b, lode__progress *pr,
			       lode__known *known, lode_error *err);
/* Record raster name's content digest as the values digest of its data variable. */
lode_status lode__record_raster_values(lode__known *k, const char *name, const char *content,
				       lode_error *err);
/* Record the values digests of layer name's x, y (and z) variables and of its text
   fields' variables (those of texts not empty), from lode__vector_digest_ex over d. */
lode_status lode__record_vector_values(lode__known *k, const char *name, const lode_vdata *d,
				       char coords[3][65], char (*texts)[65], lode_error *err);

/* date_created from SOURCE_DATE_EPOCH (reproducible builds), or NULL when it is not set. */
char *lode__utc_date(void);
/* The root attributes of a bundle made from the plan's manifest. */
lode_status lode__write_root(plan *p, lode__bundle *b, lode_error *err);

/*
 * A bundle file being written: in a private folder beside dest (publish.h: the folder
 * ".NAME.tmp-HOST-PID-XXXXXX", the file made exclusively in it), renamed into place by
 * lode__out_commit with the mode of the regular file it replaces (or a new file's).
 * lode__out_abort removes it.  dest and tmp are pub's (tmp: the name HDF5 writes, NULL
 * once committed).
 */
typedef struct lode__out {
	const char *dest, *tmp;
	lode__bundle *b;
	lode__pub pub;
} lode__out;
/* Begin: dest must be absent or a regular file (a symbolic link is refused). */
lode_status lode__out_begin(lode__out *o, const char *dest, lode_error *err);
/*
 * Add the bundle digest (computed from the file; known[0..n) are the values digests the
 * writer already has, so those datasets are not read back), close, fsync and rename
 * into place.
 */
lode_status lode__out_commit(lode__out *o, const lode__known *known, lode_error *err);
void lode__out_abort(lode__out *o);

/* A file a command reads, for lode__out_refuse: its path and what it is ("the manifest"). */
typedef struct lode__out_input {
	const char *path;
	const char *what;
} lode__out_input;
/*
 * Refuse (LODE_EUSAGE, naming both) to write dest when it is one of the n inputs: the
 * same file (device and inode), or the same path once resolved when one does not exist.
 * Entries with a NULL path are skipped.
 */
lode_status lode__out_refuse(const char *dest, const lode__out_input *in, size_t n, lode_error *err);
/* The same for every file plan p reads: its manifest, every dataset's source and the
   files GDAL lists for the sources p has open. */
lode_status lode__out_refuse_plan(const char *dest, const plan *p, lode_error *err);

#endif /* LODE_WRITE_H */
