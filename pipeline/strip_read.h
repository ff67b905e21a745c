/*
 * strip_read.h -- PRIVATE to the readers of a bundle (verify.c, extract.c): a raster
 * read strip by strip and passed on in order, decoding and passing on overlapped on the
 * machine's cores within the memory bound (strip_read.c).
 */
#ifndef LODE_STRIP_READ_H
#define LODE_STRIP_READ_H

#include <stddef.h>

#include "bundle.h"
#include "error.h"

/* What a reader does with each strip (band 1.., rows y0 .. y0 + ny - 1 of it->nx values
   each, in C order); a failure stops the reading and is reported. */
typedef lode_status (*lode__strip_fn)(void *user, int band, int y0, int ny, const unsigned char *buf,
				      lode_error *err);

/*
 * Read every strip of raster it (lode__strip_rows rows, band after band, top to bottom)
 * and pass each to fn in that order; fn runs on a thread of its own when a second strip
 * fits.  used: bytes the caller holds besides (the extra of its lode__raster_budget,
 * which it has checked).  The first failure in the order of one thread doing it all is
 * returned (a strip that cannot be read, or fn's).
 */
lode_status lode__read_strips(lode__bundle *b, const lode_bundle_item *it, size_t used, size_t max_memory,
			      lode__strip_fn fn, void *user, lode_error *err);

/*
 * The threads decoding chunks that reading it (rows rows at a time) can have within
 * max_memory beside used bytes: 0 (one thread does it all) or 2 and more; *overlap set
 * when a second strip fits as well.  One per core at most.
 */
int lode__strip_threads(const lode_bundle_item *it, int rows, size_t used, size_t max_memory, int *overlap);

/* The cores this process may use: online and in its affinity mask (taskset). */
int lode__read_cores(void);

/* Raster it's content digest (digest.c's rules) recomputed from b's values into hex,
   read with lode__read_strips. */
lode_status lode__raster_content_digest(lode__bundle *b, const lode_bundle_item *it, size_t used,
					size_t max_memory, char hex[65], lode_error *err);

#endif /* LODE_STRIP_READ_H */
