/*
 * signature.c -- Ed25519 keys and signatures over a bundle digest (libsodium).
 *
 * A signature signs the text "lode-signature-v1\n" BUNDLE_SHA256 "\n" SIGNER "\n" and is
 * stored as a global attribute lode_signature_N (N = 1, 2, ...) holding a JSON record:
 * algorithm, signer, public_key (base64), bundle_sha256, signature (base64).  Signature
 * attributes are outside the bundle digest, so signing never changes a digest and a
 * bundle can carry the signatures of both parties (countersigning).  Key files are text:
 * "lode-ed25519-secret-key-v1 BASE64" (mode 0600) and "lode-ed25519-public-key-v1 BASE64".
 *
 * This file makes key pairs, reads key files, checks signatures and makes them, all from
 * a digest and keys it is given: it opens no bundle.  Verifying a bundle is verify.c's,
 * adding a signature to one is sign.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bundle.h"
#include "error.h"
#include "lode.h"
#include "signature.h"
#include "util.h"

#define SECRET_TAG "lode-ed25519-secret-key-v1"
#define PUBLIC_TAG "lode-ed25519-public-key-v1"
#define B64        sodium_base64_VARIANT_ORIGINAL

static char *b64(const unsigned char *bin, size_t n)
{
	size_t len = sodium_base64_encoded_len(n, B64);
	char *s = malloc(len);

	if (s)
		sodium_bin2base64(s, len, bin, n, B64);
	return s;
}

static int unb64(const char *s, unsigned char *out, size_t want)
{
	size_t got = 0;

	if (!s || sodium_base642bin(out, want, s, strlen(s), " \t\r\n", &got, NULL, B64) != 0)
		return -1;
	return got == want ? 0 : -1;
}

/* The message a signature signs. */
static char *message(const char *digest, const char *signer)
{
	return lode__sprintf("lode-signature-v1\n%s\n%s\n", digest, signer);
}

/* Write text to a new file (never over an existing one) with the given mode. */
static lode_status write_new(const char *path, const char *text, mode_t mode, lode_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	size_t n = strlen(text);

	if (fd < 0)
		return lode__err(err, LODE_EIO, "%s: %s%s", path, strerror(errno),
				 errno == EEXIST ? " (lode never overwrites a key: choose another name)"
						 : "");
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
		lode_status rc = lode__err(err, LODE_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return rc;
	}
	close(fd);
	return LODE_OK;
}

lode_status lode_keygen(const char *name, lode_error *err)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char *pk64 = NULL, *sk64 = NULL, *keyfile = NULL, *pubfile = NULL, *ktext = NULL, *ptext = NULL;
	lode_status rc = LODE_OK;

	lode__err_clear(err);
	if (sodium_init() < 0)
		return lode__err(err, LODE_EINTERNAL, "libsodium cannot start");
	crypto_sign_keypair(pk, sk);
	pk64 = b64(pk, sizeof pk);
	sk64 = b64(sk, sizeof sk);
	keyfile = lode__sprintf("%s.key", name);
	pubfile = lode__sprintf("%s.pub", name);
	ktext = sk64 ? lode__sprintf("# lode Ed25519 secret key: keep it private, never send it.\n%s %s\n",
				     SECRET_TAG, sk64)
		     : NULL;
	ptext = pk64 ? lode__sprintf("%s %s\n", PUBLIC_TAG, pk64) : NULL;
	if (!keyfile || !pubfile || !ktext || !ptext) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = write_new(keyfile, ktext, 0600, err)))
		goto out;
	if ((rc = write_new(pubfile, ptext, 0644, err))) {
		unlink(keyfile);
		goto out;
	}
out:
	sodium_memzero(sk, sizeof sk);
	if (sk64)
		sodium_memzero(sk64, strlen(sk64));
	if (ktext)
		sodium_memzero(ktext, strlen(ktext));
	free(pk64);
	free(sk64);
	free(keyfile);
	free(pubfile);
	free(ktext);
	free(ptext);
	return rc;
}

/* The base64 text after tag on the file's tag line; malloc'd or NULL. */
static char *tagged(const char *path, const char *tag, lode_error *err)
{
	char *text = NULL, *line, *save = NULL, *out = NULL;
	size_t len;

	if (lode__read_file(path, 64 * 1024, &text, &len, err)) {
		/* A key file named on the command line that cannot be read is the caller's
		   mistake, as a file that is not a key is (docs/cli.md: exit 2). */
		if (err->code != LODE_ENOMEM)
			err->code = LODE_EUSAGE;
		return NULL;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, tag, strlen(tag)) == 0 && line[strlen(tag)] == ' ') {
			out = lode__strdup(line + strlen(tag) + 1);
			break;
		}
	if (!out)
		lode__err(err, LODE_EUSAGE, "%s: not a lode %s key file (no '%s' line)", path,
			  strcmp(tag, SECRET_TAG) == 0 ? "secret" : "public", tag);
	if (text)
		sodium_memzero(text, len);
	free(text);
	return out;
}

lode_status lode__pubkey_load(const char *path, lode_pubkey *out, lode_error *err)
{
	char *s = tagged(path, PUBLIC_TAG, err);
	int bad;

	if (!s)
		return err->code;
	bad = unb64(s, out->key, sizeof out->key);
	free(s);
	if (bad)
		return lode__err(err, LODE_EUSAGE, "%s: the public key is damaged (bad base64 or length)",
				 path);
	out->path = lode__strdup(path);
	return LODE_OK;
}

/*
 * Is text exactly the record lode__signature_make writes for what j holds: the five keys,
 * in that order, compact, nothing else?  Readers see the attribute's text (ncdump, h5py),
 * and the signature covers only some of its fields, so a key added beside them, spaces
 * or another order make the signature INVALID.
 */
static int canonical(const char *text, const json_t *j)
{
	static const char *const keys[] = {"algorithm", "signer", "public_key", "bundle_sha256", "signature"};
	const char *alg = json_string_value(json_object_get(j, "algorithm"));
	json_t *c = json_object();
	char *again = NULL;
	int ok = c && json_object_size(j) == 5 && alg && strcmp(alg, "Ed25519") == 0;

	for (size_t k = 0; ok && k < 5; k++) {
		json_t *v = json_object_get(j, keys[k]);
		ok = json_is_string(v) && json_object_set(c, keys[k], v) == 0;
	}
	if (ok)
		again = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ok = ok && again && strcmp(again, text) == 0;
	free(again);
	json_decref(c);
	return ok;
}

void lode__signatures_check(const lode_kv *root, size_t nroot, const char *digest, const lode_pubkey *trusted,
			    size_t ntrusted, char **report, json_t *records, int *bad, int *trusted_ok,
			    int *count)
{
	int ready = sodium_init() >= 0; /* libsodium asks for it before any other call */

	*bad = *trusted_ok = *count = 0;
	for (size_t i = 0; i < nroot; i++) {
		json_t *j;
		unsigned char pk[32], sig[64];
		const char *signer, *claimed;
		char *msg = NULL, *line = NULL, fp[17] = "", shown[300];
		int valid = 0, is_trusted = 0;

		if (strncmp(root[i].key, "lode_signature", 14) != 0)
			continue;
		(*count)++;
		j = json_loads(root[i].value, 0, NULL);
		signer = json_string_value(json_object_get(j, "signer"));
		claimed = json_string_value(json_object_get(j, "bundle_sha256"));
		if (ready && j && signer && claimed && canonical(root[i].value, j) &&
		    !unb64(json_string_value(json_object_get(j, "public_key")), pk, sizeof pk) &&
		    !unb64(json_string_value(json_object_get(j, "signature")), sig, sizeof sig) &&
		    (msg = message(claimed, signer))) {
			lode__hex(pk, 8, fp);
			valid = digest && strcmp(claimed, digest) == 0 &&
				crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg),
							    pk) == 0;
			for (size_t k = 0; valid && k < ntrusted; k++)
				if (sodium_memcmp(pk, trusted[k].key, 32) == 0)
					is_trusted = 1;
		}
		if (!valid)
			(*bad)++;
		if (is_trusted)
			(*trusted_ok)++;
		line = lode__sprintf("%s%s: %s, signer '%s', key %s%s\n", *report ? *report : "", root[i].key,
				     !valid       ? "INVALID (the bundle or the signature was altered)"
				     : is_trusted ? "valid, trusted key"
						  : "valid, key not trusted",
				     /* the signer is anyone's text: never a raw control character */
				     lode__printable(shown, sizeof shown, signer ? signer : "?"),
				     fp[0] ? fp : "?", fp[0] ? "..." : "");
		if (line) {
			free(*report);
			*report = line;
		}
		if (json_is_array(records))
			json_array_append_new(records, json_pack("{s:s, s:b, s:b, s:s?, s:s?}", "attribute",
								 root[i].key, "valid", valid, "trusted",
								 is_trusted, "signer", signer ? shown : NULL,
								 "key", fp[0] ? fp : NULL));
		free(msg);
		json_decref(j);
	}
}

lode_status lode__signature_init(lode_error *err)
{
	if (sodium_init() < 0)
		return lode__err(err, LODE_EINTERNAL, "libsodium cannot start");
	return LODE_OK;
}

lode_status lode__seckey_load(const char *path, lode__seckey *out, lode_error *err)
{
	char *s = tagged(path, SECRET_TAG, err);
	int bad;

	if (!s)
		return err->code;
	bad = unb64(s, out->sk, sizeof out->sk);
	sodium_memzero(s, strlen(s));
	free(s);
	if (bad)
		return lode__err(err, LODE_EUSAGE, "%s: the secret key is damaged (bad base64 or length)",
				 path);
	crypto_sign_ed25519_sk_to_pk(out->pk, out->sk);
	return LODE_OK;
}

void lode__seckey_wipe(lode__seckey *k)
{
	sodium_memzero(k, sizeof *k);
}

const char *lode__signature_find(const lode_kv *root, size_t nroot, const lode__seckey *k, char name[64])
{
	int next = 1;

	for (size_t i = 0; i < nroot; i++) {
		int n;
		json_t *other;
		if (sscanf(root[i].key, "lode_signature_%d", &n) == 1 && n >= next)
			next = n + 1;
		other = strncmp(root[i].key, "lode_signature", 14) == 0 ? json_loads(root[i].value, 0, NULL)
									: NULL;
		if (other) {
			unsigned char opk[32];
			if (!unb64(json_string_value(json_object_get(other, "public_key")), opk, 32) &&
			    sodium_memcmp(opk, k->pk, 32) == 0) {
				json_decref(other);
				return root[i].key;
			}
			json_decref(other);
		}
	}
	snprintf(name, 64, "lode_signature_%d", next);
	return NULL;
}

lode_status lode__signature_make(const lode__seckey *k, const char *digest, const char *signer, char **record,
				 lode_error *err)
{
	unsigned char sig[crypto_sign_BYTES];
	char *msg, *pk64 = NULL, *sig64 = NULL;
	json_t *j = NULL;
	lode_status rc = LODE_OK;

	*record = NULL;
	msg = message(digest, signer);
	if (!msg)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), k->sk);
	pk64 = b64(k->pk, sizeof k->pk);
	sig64 = b64(sig, sizeof sig);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "algorithm", "Ed25519", "signer", signer, "public_key",
		      pk64 ? pk64 : "", "bundle_sha256", digest, "signature", sig64 ? sig64 : "");
	*record = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!*record || !pk64 || !sig64) {
		free(*record);
		*record = NULL;
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	}
	json_decref(j);
	free(msg);
	free(pk64);
	free(sig64);
	return rc;
}
