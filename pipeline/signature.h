/*
 * signature.h -- Ed25519 keys and signatures over a bundle digest (signature.c).
 *
 * Everything here works from a digest and keys: it opens no bundle.  verify.c checks
 * the signatures it finds with lode__signatures_check; sign.c makes a new one with
 * lode__seckey_load, lode__signature_find and lode__signature_make.  The key pair is
 * made by lode_keygen (lode.h).
 */
#ifndef LODE_SIGNATURE_H
#define LODE_SIGNATURE_H

#include <jansson.h>

#include "bundle.h"

typedef struct lode_pubkey {
	unsigned char key[32];
	char *path; /* where it was read from, for messages */
} lode_pubkey;

/* Read a public key file written by lode keygen. */
lode_status lode__pubkey_load(const char *path, lode_pubkey *out, lode_error *err);
/*
 * Check every lode_signature_* root attribute against the bundle digest.  Appends one
 * report line per signature to *report and, when records is a JSON array, one object
 * per signature to it (attribute, valid, trusted, signer, key: the first 8 bytes of the
 * public key in hex, or null).  *bad counts signatures that do not verify; *trusted_ok
 * counts valid ones by a key in trusted[].
 */
void lode__signatures_check(const lode_kv *root, size_t nroot, const char *bundle_digest,
			    const lode_pubkey *trusted, size_t ntrusted, char **report, json_t *records,
			    int *bad, int *trusted_ok, int *count);

/* Start libsodium; LODE_EINTERNAL when it cannot start.  Before the functions below. */
lode_status lode__signature_init(lode_error *err);

/* A secret key and its public key; wipe it with lode__seckey_wipe once done. */
typedef struct lode__seckey {
	unsigned char sk[64];
	unsigned char pk[32];
} lode__seckey;

/*
 * Read a secret key file written by lode keygen into *out.  LODE_EUSAGE when the file
 * is not a lode secret key or the key is damaged (and *out may hold part of it: wipe it).
 */
lode_status lode__seckey_load(const char *path, lode__seckey *out, lode_error *err);
/* Overwrite the key with zeros. */
void lode__seckey_wipe(lode__seckey *k);

/*
 * Look through the lode_signature_* root attributes for one made with k's public key:
 * returns the name of the first (it points into root), or NULL when there is none, and
 * then name gets the attribute a new signature goes in: lode_signature_N, N one past
 * the highest number present (1 when none).
 */
const char *lode__signature_find(const lode_kv *root, size_t nroot, const lode__seckey *k, char name[64]);

/*
 * Sign digest (a bundle digest, hex) as signer (one line) with k: *record gets the
 * malloc'd JSON record to store in the attribute lode__signature_find named (caller
 * frees).  LODE_ENOMEM, and *record NULL, when memory runs out.
 */
lode_status lode__signature_make(const lode__seckey *k, const char *digest, const char *signer, char **record,
				 lode_error *err);

#endif /* LODE_SIGNATURE_H */
