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
 * Is the open bundle b (at bundle_path) of this lode's format version
 * (LODE_FORMAT_VERSION)?  Checked first, before anything else is read: a bundle of
 * another version is judged by nothing else.  LODE_OK when it is; else one line naming
 * bundle_path: LODE_EBUNDLE "BUNDLE: bundle format version 1 (made by an older lode),
 * ... sign it again" for version 1, LODE_EDAMAGED "BUNDLE: damaged: lode_format_version
 * is 'V', an unknown bundle format version (this lode reads version N)" for any other.
 */
lode_status lode__strict_format(const char *bundle_path, lode__bundle *b, lode_error *err);

/*
 * The same for the readers that do not report per dataset (ls, extract): the format
 * version first (lode__strict_format, its error as it is), then the first problem found
 * makes LODE_EDAMAGED, "BUNDLE_PATH: damaged: PROBLEM (lode verify tells more)".
 */
lode_status lode__strict_refuse(const char *bundle_path, lode__bundle *b, lode_bundle_item *items, size_t n,
				lode_error *err);

#endif /* LODE_STRICT_H */
