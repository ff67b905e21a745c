/*
 * bundle_items.h -- PRIVATE to the readers of a bundle (verify.c, ls.c, extract.c):
 * opening a bundle with its list of datasets, a strip buffer sized from an untrusted
 * dataset, and the growing text of a report.
 */
#ifndef LODE_BUNDLE_ITEMS_H
#define LODE_BUNDLE_ITEMS_H

#include "bundle.h"
#include "error.h"

/*
 * Append a formatted line (at most 4095 bytes) to a growing malloc'd text (*text NULL
 * to start); returns -1 on out-of-memory, and then *text is left as it was.
 */
int lode__addf(char **text, const char *fmt, ...) LODE__PRINTF(2, 3);

/*
 * Open a bundle and list its datasets.  A listing that fails means a damaged file:
 * LODE_EDAMAGED, the message prefixed with "BUNDLE_PATH: damaged: ".  Whatever the
 * outcome the caller closes *b (lode__bundle_close, NULL ok) and frees *items and *n
 * with lode__bundle_items_free.
 */
lode_status lode__open_items(const char *bundle_path, lode__bundle **b, lode_bundle_item **items, size_t *n,
			     lode_error *err);

/*
 * A malloc'd buffer for rows rows of one band of it (it->nx * rows values), for the
 * caller to free.  The dimensions come from an untrusted file: LODE_EBUNDLE when they
 * are not positive or the strip exceeds 256 MB, LODE_ENOMEM when it cannot be had.
 */
lode_status lode__strip_buffer(const lode_bundle_item *it, int rows, unsigned char **buf, lode_error *err);

#endif /* LODE_BUNDLE_ITEMS_H */
