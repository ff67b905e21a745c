/*
 * strict.h -- PRIVATE to pipeline/: the strict check of a bundle (strict.c,
 * strict_vector.c), run by verify, ls and extract: the file holds exactly what lode
 * writes (docs/bundle-format.md sections 1-5 and 8) -- no object, attribute, link or
 * type more or less, every meaning-bearing attribute equal to what lode derives from
 * the CRS and the lineage -- whatever its digests say.  It reads metadata only (and a
 * raster's band numbers); values and digests are verify's.
 */
#ifndef LODE_STRICT_H
#define LODE_STRICT_H

#include <stddef.h>

#include "bundle.h"
#include "lode_error.h"

/*
 * Check the open bundle b, whose datasets lode__bundle_items listed into items: each
 * dataset's first problem goes to its item's problem (when it has none yet), the first
 * problem outside the datasets (root attributes, stray objects, links, names, format
 * version) to *problem (malloc'd, NULL when none).  Every text is one line, names and
 * values from the file with control characters escaped.  Fails only for LODE_ENOMEM.
 */
lode_status lode__strict_check(lode__bundle *b, lode_bundle_item *items, size_t n, char **problem,
			       lode_error *err);

/*
 * The same for the readers that do not report per dataset (ls, extract): the first
 * problem found makes LODE_EDAMAGED, "BUNDLE_PATH: damaged: PROBLEM (lode verify tells
 * more)".
 */
lode_status lode__strict_refuse(const char *bundle_path, lode__bundle *b, lode_bundle_item *items, size_t n,
				lode_error *err);

#endif /* LODE_STRICT_H */
