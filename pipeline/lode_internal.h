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

/* ---- signatures (pipeline/sign.c) ---------------------------------------------- */

typedef struct lode_pubkey {
	unsigned char key[32];
	char *path; /* where it was read from, for messages */
} lode_pubkey;

/* Read a public key file written by lode keygen. */
lode_status lode__pubkey_load(const char *path, lode_pubkey *out, lode_error *err);
/*
 * Check every lode_signature_* root attribute against the bundle digest.  Appends one
 * report line per signature to *report.  *bad counts signatures that do not verify;
 * *trusted_ok counts valid ones by a key in trusted[].
 */
void lode__signatures_check(const lode_kv *root, size_t nroot, const char *bundle_digest,
			    const lode_pubkey *trusted, size_t ntrusted, char **report, int *bad,
			    int *trusted_ok, int *count);

#include "digest.h"

#endif /* LODE_INTERNAL_H */
