/*
 * bundle_items.h -- PRIVATE to the readers of a bundle (verify.c, ls.c, extract.c):
 * opening a bundle with its list of datasets, what reading a raster strip by strip
 * holds against the bound, a strip buffer sized from an untrusted dataset, and the
 * growing text of a report.
 */
#ifndef LODE_BUNDLE_ITEMS_H
#define LODE_BUNDLE_ITEMS_H

#include "bundle.h"
#include "error.h"
#include "lode.h"

/*
 * Append a formatted line (at most 4095 bytes) to a growing malloc'd text (*text NULL
 * to start); returns -1 on out-of-memory, and then *text is left as it was.
 */
int lode__addf(char **text, const char *fmt, ...) LODE__PRINTF(2, 3);

/*
 * Open a bundle, bound what reading a vector layer of it may hold (vector_memory bytes,
 * lode__bundle_set_max_memory; 0: no bound) and list its datasets.  A listing that fails
 * means a damaged file: LODE_EDAMAGED, the message prefixed with "BUNDLE_PATH: damaged: ".
 * Whatever the outcome the caller closes *b (lode__bundle_close, NULL ok) and frees
 * *items and *n with lode__bundle_items_free.
 */
lode_status lode__open_items(const char *bundle_path, size_t vector_memory, lode__bundle **b,
			     lode_bundle_item **items, size_t *n, lode_error *err);

/* The bound of opt (lode_read_options.max_memory), or LODE_READ_MEMORY_DEFAULT. */
size_t lode__read_memory(const lode_read_options *opt);
/* The bytes of values the items hold as declared (a raster's pixels, 32 per feature of a
   layer), for a reader's estimate of its work (lode__work_expect); not a bound. */
uint64_t lode__items_bytes(const lode_bundle_item *items, size_t n);

/* Rows per strip to read raster it in: its chunk rows (each chunk then inflated once), at
   most its height. */
int lode__strip_rows(lode__bundle *b, const lode_bundle_item *it);

/*
 * Can raster it be read strip by strip, rows rows at a time, within max_memory bytes?
 * What that holds: a strip, three chunk-sized buffers (the stored chunk and two for
 * decoding it), and extra bytes of the caller's own (verify's coordinates, extract's
 * GDAL cache).  LODE_ENOMEM with the need and the bound when it cannot ("reading it
 * needs ..."; the caller names the dataset).
 */
lode_status lode__raster_budget(const lode_bundle_item *it, int rows, size_t extra, size_t max_memory,
				lode_error *err);

/*
 * A malloc'd buffer for rows rows of one band of it (it->nx * rows values), for the
 * caller to free.  The dimensions come from an untrusted file: LODE_EBUNDLE when they
 * are not positive, LODE_ENOMEM when it cannot be had.  Check lode__raster_budget first.
 */
lode_status lode__strip_buffer(const lode_bundle_item *it, int rows, unsigned char **buf, lode_error *err);

#endif /* LODE_BUNDLE_ITEMS_H */
