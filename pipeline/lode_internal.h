/*
 * lode_internal.h -- PRIVATE to liblode: the manifest model, the plan, the error
 * helpers and the interfaces of the format modules in formats/.  Not installed;
 * nothing outside the library may include it.  Shared names carry the lode__ prefix.
 *
 * Dependencies point one way: pipeline/ calls formats/ through the declarations
 * below; only formats/ includes gdal.h, proj.h, hdf5.h and zlib.h.
 */
#ifndef LODE_INTERNAL_H
#define LODE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lode.h"

#include "dtype.h"
#include "error.h"
#include "util.h"

#include "manifest.h"

#include "sha256.h"

#include "crs_proj.h"

#include "raster_gdal.h"

/* ---- vector layers (formats/vdata.c, vector_read.c, vector_shares.c, gpkg_write.c) - */

#include "vdata.h"       /* the columnar model: lode_vdata, lode_vfield, lode_ftype */
#include "vector_read.h" /* opening a source and reading a layer through OGR */
#include "gpkg_write.h"  /* a layer out as a GeoPackage (extract) */

#include "chunk_codec.h"

#include "tiles.h"

/* ---- the bundle (formats/bundle_*.c) -------------------------------------------- */

#include "bundle.h"

#include "signature.h" /* keys, signatures over a bundle digest (pipeline/signature.c) */

#include "digest.h"

#endif /* LODE_INTERNAL_H */
