/*
 * source_files.h -- PRIVATE to liblode (formats/source_files.c): what a source may read.
 * A source is checked before GDAL opens it (the path itself, the files GDAL looks for
 * beside it, every name in a VRT, VRTs within VRTs included) and after (GDAL's own list
 * of the files of the opened dataset), under the manifest's rules; the check yields the
 * list of files the source reads, for the lineage.  Nothing here hashes a file.
 */
#ifndef LODE_SOURCE_FILES_H
#define LODE_SOURCE_FILES_H

#include <stddef.h>

#include "error.h"

/* What the manifest lets one source read (plan.c fills it from the manifest). */
typedef struct lode_source_rules {
	const char *folder; /* the manifest's folder: lineage paths are relative to it */
	int confine;        /* policy.confine_sources: every local file inside folder */
	int allow_raw_vrt;  /* allow: [raw_vrt]: VRTRawRasterBand */
	int allow_network;  /* allow: [network]: /vsicurl/ and the like, URLs, connection strings */
} lode_source_rules;

/* One file a source reads. */
typedef struct lode_source_file {
	char *name; /* for the lineage: relative to rules.folder ("../" where outside it), or
		       the network name as written */
	char *real; /* the local file to hash (resolved, absolute); NULL for a network source */
} lode_source_file;

/* Every file of a source: the source itself first, then the others sorted by name. */
typedef struct lode_source_files {
	lode_source_file *f;
	size_t n;
} lode_source_files;

void lode__source_files_free(lode_source_files *s); /* frees what s holds, not s; NULL ok */

typedef struct lode__source_check lode__source_check;

/*
 * Before GDAL opens path: path must be a regular file (inside the folder with confine),
 * no FIFO, socket or device may sit beside it under a name GDAL could look for (its own
 * name with another extension), and when it is a VRT (raster or OGR), every name in it
 * passes the same checks, raw bands and network names only where the rules allow them.
 * Nothing is opened but regular files.  *out (NULL on failure) carries what was found
 * to lode__source_check_end; free it with lode__source_check_free.  err names path
 * and the file at fault; the caller adds the dataset.
 */
lode_status lode__source_check_begin(const char *path, const lode_source_rules *r, lode__source_check **out,
				     lode_error *err);
/*
 * After GDAL opened it: gdal_files is GDAL's file list of the dataset (NULL-terminated,
 * may be NULL); each file in it passes the same checks.  On success *files (may be NULL
 * when the caller does not want it) gets every file the source reads, the caller's to
 * free with lode__source_files_free.
 */
lode_status lode__source_check_end(lode__source_check *c, char **gdal_files, lode_source_files *files,
				   lode_error *err);
void lode__source_check_free(lode__source_check *c); /* NULL ok */

/*
 * GDAL's own switches as a second line of defence, process-wide, set before sources
 * are opened: Python in VRT pixel functions off always; with allow_network 0, /vsicurl/
 * and the handlers built on it refuse every name and GDAL's network-only drivers (HTTP,
 * WMS, WFS, PostgreSQL, ...) are deregistered; with 1, all is as GDAL has it.
 */
void lode__source_lockdown(int allow_network);

#endif /* LODE_SOURCE_FILES_H */
