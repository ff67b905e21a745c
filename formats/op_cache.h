/*
 * op_cache.h -- PRIVATE to formats/ (crs_proj.c): a cache, on disk, of what PROJ's
 * search for coordinate operations (proj_create_operations) found for a pair of CRSs and
 * an area of interest, so that running lode again on the same data does not search
 * PROJ's database again (about 0.09 s for GDM2000 to WGS 84 here; docs/performance.md).
 *
 * What is cached is PROJ's answer, each candidate as lode describes it (name, code,
 * pipeline, accuracy, ballpark, grids and whether they are installed), never lode's
 * choice: the manifest's policy is applied to the candidates as after a search, so the
 * plan, the lineage and the bundle are the same, byte for byte, with or without the
 * cache.  The key is the SHA-256 of everything the answer depends on: the two CRSs'
 * WKT, the area of interest, the lode executable (device, inode, size, time), PROJ's
 * release and every file (name, size, time) in every folder of PROJ's search path
 * (proj.db, proj.ini, the grids).  With PROJ's network access on (grids that may come
 * and go) nothing is cached.
 *
 * The folder: LODE_OPERATION_CACHE (a path, or "off"), else $XDG_CACHE_HOME/lode/
 * operations, else $HOME/.cache/lode/operations (made, mode 0700).  It and its entries
 * are used only when they belong to the user running lode and nobody else may write
 * them; an entry that does not parse as lode wrote it, is too large or carries another
 * key is a miss.  A cache that cannot be used or written is no cache: never an error.
 * At most MAX_ENTRIES entries are kept, the least recently used removed first.
 */
#ifndef LODE_OP_CACHE_H
#define LODE_OP_CACHE_H

#include <jansson.h>
#include <proj.h>

typedef struct lode__op_cache {
	int dirfd;     /* the cache folder, -1: no cache */
	char name[70]; /* the entry's file name: the key in hex, ".json" */
} lode__op_cache;

/* Open the cache for this search: 1 when there is one to use (*c then needs
   lode__op_cache_close), 0 when not (c->dirfd -1).  aoi: lon/lat west, south, east,
   north, or NULL. */
int lode__op_cache_open(lode__op_cache *c, PJ_CONTEXT *ctx, const char *src_wkt, const char *dst_wkt,
			const double *aoi);

/* The candidates stored for this search (a JSON array, a new reference), or NULL. */
json_t *lode__op_cache_get(lode__op_cache *c);

/* Store the candidates of this search; failures are ignored. */
void lode__op_cache_put(lode__op_cache *c, json_t *candidates);

void lode__op_cache_close(lode__op_cache *c);

#endif /* LODE_OP_CACHE_H */
