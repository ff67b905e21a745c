/*
 * tiles.h -- PRIVATE to pipeline/ (pipeline/tiles.c): warping and compressing the strips
 * of a raster on several threads, each with its own source dataset.
 */
#ifndef LODE_TILES_H
#define LODE_TILES_H

#include <stddef.h>
#include "error.h"
#include "raster_gdal.h"
#include "source_files.h"
#include "warp_params.h"

typedef struct lode_tiler_params {
	const char *source_path;    /* each thread opens its own dataset */
	const lode__raster *source; /* the source opened while planning, or NULL (read only on
				       the calling thread, to learn its driver and bands) */
	const char *const *open_options;
	const lode_source_rules *rules; /* checked again at every open */
	const lode_warp_params *wp;     /* the whole target grid */
	int threads;                    /* 0: one per core */
	int chunk_rows, chunk_cols;     /* the variable's chunk */
	int level;                      /* deflate level */
	unsigned char fill[8];          /* one element: the padding of edge chunks */
} lode_tiler_params;

typedef struct lode__tiler lode__tiler;
lode_status lode__tiler_new(const lode_tiler_params *p, lode__tiler **out, lode_error *err);
/*
 * Start warping rows [y0, y0+ny) (one chunk row) into strip (nbands planes of nx*ny
 * values) and encoding every chunk into chunks[b * ntiles + c] (malloc'd; caller frees),
 * lens[...] bytes, for band b and chunk column c; arrays of nbands * lode__tiler_count()
 * entries.  Returns at once; the buffers must live until lode__tiler_wait returns.
 * One strip at a time.
 */
void lode__tiler_submit(lode__tiler *t, int y0, int ny, void *strip, unsigned char **chunks, size_t *lens);
/* Help with the submitted strip and wait for it; *ntiles = chunks per band. */
lode_status lode__tiler_wait(lode__tiler *t, int *ntiles, lode_error *err);
int lode__tiler_count(const lode__tiler *t);
/* The threads decoding each worker's source reads (a strip of fewer tiles than threads),
   or 0: each worker decodes its own. */
int lode__tiler_decoders(const lode__tiler *t);
void lode__tiler_free(lode__tiler *t); /* NULL ok */

#endif /* LODE_TILES_H */
