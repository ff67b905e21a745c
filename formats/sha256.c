/*
 * sha256.c -- SHA-256 through OpenSSL's libcrypto (EVP_sha256): streaming states,
 * one-shot hex digests and whole-file digests (read in 1 MiB blocks, so memory stays
 * small).  libcrypto uses the CPU's SHA instructions where there are some, about 7x
 * libsodium's portable code on the benchmark machine (docs/performance.md); the digests
 * are the same.  libsodium is still used for the Ed25519 signatures (signature.c).
 *
 * A whole-file digest can also run on a thread of its own (lode__sha256_file_start),
 * so that planning hashes a source while GDAL opens it and PROJ chooses its operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "error.h"
#include "sha256.h"
#include "util.h"

struct lode__sha256 {
	EVP_MD_CTX *ctx;
	int failed; /* an EVP call failed: final gives all zeros, which matches nothing */
};

lode__sha256 *lode__sha256_new(void)
{
	lode__sha256 *h = malloc(sizeof *h);

	if (!h)
		return NULL;
	h->failed = 0;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void lode__sha256_update(lode__sha256 *h, const void *data, size_t n)
{
	if (n && EVP_DigestUpdate(h->ctx, data, n) != 1)
		h->failed = 1;
}

void lode__sha256_final(lode__sha256 *h, unsigned char out[32])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != 32 || h->failed)
		memset(out, 0, 32);
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void lode__sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char d[32];
	unsigned int len = 0;

	if (EVP_Digest(data, n, d, &len, EVP_sha256(), NULL) != 1 || len != sizeof d)
		memset(d, 0, sizeof d);
	lode__hex(d, sizeof d, out);
}

/* The whole-file digest; gives up (LODE_EIO) as soon as stop(user) returns nonzero, when
   stop is given (asked once a block). */
static lode_status hash_file(const char *path, char out[65], uint64_t *size, int (*stop)(void *), void *user,
			     lode_error *err)
{
	lode__sha256 *h = NULL;
	unsigned char d[32];
	unsigned char *buf = NULL;
	FILE *f = NULL;
	uint64_t total = 0;
	size_t n;
	struct stat sb;
	int fd;
	lode_status rc = LODE_OK;

	/* Opened without blocking and checked on the descriptor: a FIFO put in the file's
	   place after a stat must not hang the hash. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0)
		return lode__err(err, LODE_ESOURCE, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || fcntl(fd, F_SETFL, 0) != 0 ||
	    !(f = fdopen(fd, "rb"))) {
		close(fd);
		return lode__err(err, LODE_ESOURCE, "%s: not a regular file", path);
	}
	buf = malloc(1 << 20);
	h = lode__sha256_new();
	if (!buf || !h) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	while ((n = fread(buf, 1, 1 << 20, f)) > 0) {
		if (stop && stop(user)) {
			rc = lode__err(err, LODE_EIO, "%s: hashing was abandoned", path);
			goto out;
		}
		lode__sha256_update(h, buf, n);
		total += n;
	}
	if (ferror(f)) {
		rc = lode__err(err, LODE_ESOURCE, "%s: read failed: %s", path, strerror(errno));
		goto out;
	}
	if (h->failed) {
		rc = lode__err(err, LODE_EINTERNAL, "%s: SHA-256 failed (libcrypto)", path);
		goto out;
	}
	lode__sha256_final(h, d);
	h = NULL;
	lode__hex(d, sizeof d, out);
	if (size)
		*size = total;
out:
	if (h) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
	}
	free(buf);
	fclose(f);
	return rc;
}

lode_status lode__sha256_file(const char *path, char out[65], uint64_t *size, lode_error *err)
{
	return hash_file(path, out, size, NULL, NULL, err);
}

lode_status lode__sha256_file_or_stop(const char *path, char out[65], uint64_t *size, int (*stop)(void *user),
				      void *user, lode_error *err)
{
	if (stop && stop(user))
		return lode__err(err, LODE_EIO, "%s: interrupted before hashing it", path);
	return hash_file(path, out, size, stop, user, err);
}

struct lode__sha256_job {
	pthread_t thread;
	char *path;
	atomic_int stop;
	int joined;     /* the thread was joined already (wait_or_stop) */
	lode_status rc; /* the thread's result, read after the join */
	char hex[65];
	uint64_t size;
	lode_error err;
};

static int atomic_set(void *flag)
{
	return atomic_load((atomic_int *)flag);
}

static void *job_main(void *arg)
{
	lode__sha256_job *j = arg;

	j->rc = hash_file(j->path, j->hex, &j->size, atomic_set, &j->stop, &j->err);
	return NULL;
}

lode__sha256_job *lode__sha256_file_start(const char *path)
{
	lode__sha256_job *j = calloc(1, sizeof *j);

	if (!j)
		return NULL;
	atomic_init(&j->stop, 0);
	if (!(j->path = lode__strdup(path)) || pthread_create(&j->thread, NULL, job_main, j) != 0) {
		free(j->path);
		free(j);
		return NULL;
	}
	return j;
}

lode_status lode__sha256_file_wait(lode__sha256_job *j, const char *path, char out[65], uint64_t *size,
				   lode_error *err)
{
	lode_status rc;

	if (!j)
		return lode__sha256_file(path, out, size, err);
	if (!j->joined)
		pthread_join(j->thread, NULL);
	rc = j->rc;
	if (rc) {
		*err = j->err;
	} else {
		memcpy(out, j->hex, sizeof j->hex);
		if (size)
			*size = j->size;
	}
	free(j->path);
	free(j);
	return rc;
}

lode_status lode__sha256_file_wait_or_stop(lode__sha256_job *j, const char *path, char out[65],
					   uint64_t *size, int (*stop)(void *user), void *user,
					   lode_error *err)
{
	/* Ask stop at least every 20 ms, but return as soon as the thread ends. */
	while (j && stop) {
		struct timespec until;
		if (stop(user)) {
			lode__sha256_file_cancel(j);
			return lode__err(err, LODE_EIO, "%s: interrupted while hashing it", path);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(j->thread, NULL, &until) == 0) {
			j->joined = 1;
			break;
		}
	}
	if (!j && stop && stop(user))
		return lode__err(err, LODE_EIO, "%s: interrupted before hashing it", path);
	return lode__sha256_file_wait(j, path, out, size, err);
}

void lode__sha256_file_cancel(lode__sha256_job *j)
{
	if (!j)
		return;
	atomic_store(&j->stop, 1);
	pthread_join(j->thread, NULL);
	free(j->path);
	free(j);
}
