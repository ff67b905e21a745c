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
 * Bundle digest over every root attribute (but lode_bundle_sha256 and lode_signature*)
 * and the sorted (name, content, lineage) triples of the datasets.
 */
char *lode__bundle_digest(const lode_bundle_item *items, size_t n, const lode_kv *root, size_t nroot);
/*
 * Content digest of a vector layer: SHA-256 over the concatenated SHA-256 of each part,
 * in order: x, y, z (if 3D), node_count, part_node_count, interior_ring (each as
 * little-endian values; node_count always, part arrays even when empty), then for each
 * field its values (numbers little-endian; each string as a uint64 little-endian byte
 * length and its bytes; a null as the type's zero) and its null flags (one byte each).
 */
void lode__vector_digest(const lode_vdata *d, char hex[65]);
/* Is this root attribute outside the bundle digest? */
int lode__digest_skips_attr(const char *key);

#endif /* LODE_DIGEST_H */
