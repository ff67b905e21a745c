/*
 * digest.h -- PRIVATE to pipeline/ (pipeline/digest.c): the digest rules of the bundle
 * format (docs/bundle-format.md, "Integrity"), shared by every writer and by verify so
 * that both compute exactly the same thing.  Digests are 64 lower-case hex characters
 * and a NUL.
 */
#ifndef LODE_DIGEST_H
#define LODE_DIGEST_H

#include <stddef.h>

#include "bundle.h"
#include "vdata.h"

/* Content digest: SHA-256 over the concatenated SHA-256 of each band plane. */
typedef struct lode__content_hash lode__content_hash;
lode__content_hash *lode__content_hash_new(int nbands);
void lode__content_hash_update(lode__content_hash *h, int band0, const void *data, size_t n);
void lode__content_hash_final(lode__content_hash *h, char hex[65]); /* frees h */
/*
 * A dataset's values digest that a writer already knows (it hashed the values while
 * writing them): the dataset's path ("/NAME/NAME" for a raster's data variable) and the
 * digest in hex.  A raster's content digest is its data variable's values digest.
 */
typedef struct lode__known_values {
	char *path; /* malloc'd; NULL: an empty record, ignored */
	char hex[65];
} lode__known_values;
/* The values digests the writers of one bundle know, for lode__bundle_digest. */
typedef struct lode__known {
	lode__known_values *v;
	size_t n, cap;
} lode__known;
/* Add dataset path's values digest hex (64 hex characters) to k. */
lode_status lode__known_add(lode__known *k, const char *path, const char *hex, lode_error *err);
void lode__known_free(lode__known *k); /* its records; k itself is the caller's */
/*
 * The bundle digest of the open bundle b into hex: SHA-256 of the canonical encoding of
 * its whole object tree (formats/bundle_canon.h; bundle-format.md section 7.1), the
 * signature set left out.  known[0..n) are values digests the caller vouches for, which
 * are then not read back; verify passes none and reads every value.  LODE_EDAMAGED when
 * the tree cannot be encoded (the message names the object), LODE_ENOMEM.
 */
lode_status lode__bundle_digest(lode__bundle *b, const lode__known_values *known, size_t n, char hex[65],
				lode_error *err);
/*
 * Content digest of a vector layer: SHA-256 over the concatenated SHA-256 of each part,
 * in order: x, y, z (if 3D), node_count, part_node_count, interior_ring (each as
 * little-endian values; node_count always, part arrays even when empty), then for each
 * field its values (numbers little-endian; each string as a uint64 little-endian byte
 * length and its bytes; a null as the type's zero) and its null flags (one byte each).
 * hex is empty when memory ran out.
 */
void lode__vector_digest(const lode_vdata *d, char hex[65]);
/*
 * The same, and in coords[0..2] (when not NULL) the values digests of the layer's x, y
 * and z coordinate variables as lode stores them (NAME_coordX, _coordY, _coordZ: z only
 * for 3D layers), and in texts[i] (when not NULL; one per field) that of text field i's
 * variable (its strings as stored; empty for other fields and for a layer without
 * features), which the digest already hashes: a writer registers them instead of
 * reading them back.
 */
void lode__vector_digest_ex(const lode_vdata *d, char hex[65], char coords[3][65], char (*texts)[65]);
/* lode__vector_digest_ex with *texts allocated (one per field; the caller frees it):
   LODE_ENOMEM when memory runs out, then *texts is NULL. */
lode_status lode__vector_digests(const lode_vdata *d, char hex[65], char coords[3][65], char (**texts)[65],
				 lode_error *err);
/* Is this root attribute outside the bundle digest: the signature set, lode_bundle_sha256
   and lode_signature_N (N = 1, 2, ... in decimal, no leading zero)? */
int lode__digest_skips_attr(const char *key);

#endif /* LODE_DIGEST_H */
