/*
 * sha256.h -- PRIVATE to liblode (formats/sha256.c, OpenSSL libcrypto): SHA-256 of
 * memory and of files, on the calling thread or on one of its own.
 */
#ifndef LODE_SHA256_H
#define LODE_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef struct lode__sha256 lode__sha256;
lode__sha256 *lode__sha256_new(void);
void lode__sha256_update(lode__sha256 *h, const void *data, size_t n);
void lode__sha256_final(lode__sha256 *h, unsigned char out[32]); /* also frees h */
void lode__sha256_hex(const void *data, size_t n, char out[65]);
lode_status lode__sha256_file(const char *path, char out[65], uint64_t *size, lode_error *err);
/* The same, asking stop(user) before each 1 MiB block (stop may be NULL): once it returns
   nonzero, LODE_EIO "interrupted". */
lode_status lode__sha256_file_or_stop(const char *path, char out[65], uint64_t *size, int (*stop)(void *user),
				      void *user, lode_error *err);
/*
 * The same digest on a background thread: start it, then either wait for its result
 * (exactly lode__sha256_file's, error included) or cancel it; both free the job.  start
 * returns NULL when it cannot start a thread; wait(NULL, path, ...) then hashes path on
 * the calling thread.
 */
typedef struct lode__sha256_job lode__sha256_job;
lode__sha256_job *lode__sha256_file_start(const char *path);
lode_status lode__sha256_file_wait(lode__sha256_job *j, const char *path, char out[65], uint64_t *size,
				   lode_error *err);
void lode__sha256_file_cancel(lode__sha256_job *j); /* NULL ok */
/*
 * wait, asking stop(user) every 20 ms meanwhile (stop may be NULL): once it returns
 * nonzero the hash is abandoned, the job freed, and LODE_EIO "interrupted" returned.
 */
lode_status lode__sha256_file_wait_or_stop(lode__sha256_job *j, const char *path, char out[65],
					   uint64_t *size, int (*stop)(void *user), void *user,
					   lode_error *err);

#endif /* LODE_SHA256_H */
