/*
 * legend.h -- PRIVATE to liblode (pipeline/legend.c): the CF presentation of a raster's
 * legend (docs/bundle-format.md 4.6), derived from its lineage's band_legends so that
 * the writers (run, package, merge) and verify agree on it.
 */
#ifndef LODE_LEGEND_H
#define LODE_LEGEND_H

#include <stddef.h>

#include "dtype.h"

/* The CF flag_values (as doubles, *n of them) and flag_meanings of a raster whose
   lineage is the JSON text lineage, nbands bands of type dt: set only for one band of an
   integer type whose legend names categories (else *values and *meanings are NULL, *n
   0).  Returns 0, or -1 when out of memory.  The caller frees *values and *meanings. */
int lode__legend_flags(const char *lineage, int nbands, lode_dtype dt, double **values, size_t *n,
		       char **meanings);

#endif /* LODE_LEGEND_H */
