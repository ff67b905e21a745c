/*
 * sha256.c -- SHA-256 through libsodium's crypto_hash_sha256: streaming states, one-shot
 * hex digests and whole-file digests (read in 1 MiB blocks, so memory stays small).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "lode_internal.h"

struct lode__sha256 {
	crypto_hash_sha256_state st;
};

lode__sha256 *lode__sha256_new(void)
{
	lode__sha256 *h = malloc(sizeof *h);

	if (h)
		crypto_hash_sha256_init(&h->st);
	return h;
}

void lode__sha256_update(lode__sha256 *h, const void *data, size_t n)
{
	crypto_hash_sha256_update(&h->st, data, n);
}

void lode__sha256_final(lode__sha256 *h, unsigned char out[32])
{
	crypto_hash_sha256_final(&h->st, out);
	free(h);
}

void lode__sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char d[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(d, data, n);
	lode__hex(d, sizeof d, out);
}

lode_status lode__sha256_file(const char *path, char out[65], uint64_t *size, lode_error *err)
{
	crypto_hash_sha256_state st;
	unsigned char d[crypto_hash_sha256_BYTES];
	unsigned char *buf = NULL;
	FILE *f = NULL;
	uint64_t total = 0;
	size_t n;
	struct stat sb;
	lode_status rc = LODE_OK;

	if (stat(path, &sb) != 0)
		return lode__err(err, LODE_ESOURCE, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return lode__err(err, LODE_ESOURCE, "%s: not a regular file", path);
	f = fopen(path, "rb");
	if (!f)
		return lode__err(err, LODE_ESOURCE, "%s: %s", path, strerror(errno));
	buf = malloc(1 << 20);
	if (!buf) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, 1 << 20, f)) > 0) {
		crypto_hash_sha256_update(&st, buf, n);
		total += n;
	}
	if (ferror(f)) {
		rc = lode__err(err, LODE_ESOURCE, "%s: read failed: %s", path, strerror(errno));
		goto out;
	}
	crypto_hash_sha256_final(&st, d);
	lode__hex(d, sizeof d, out);
	if (size)
		*size = total;
out:
	free(buf);
	fclose(f);
	return rc;
}
