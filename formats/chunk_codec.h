/*
 * chunk_codec.h -- PRIVATE to liblode (formats/chunk_codec.c, libdeflate): encoding chunks
 * through the bundle's filters (shuffle, deflate, Fletcher32) byte for byte as HDF5
 * would, so that any thread can compress them, and decoding them within their declared
 * size.
 */
#ifndef LODE_CHUNK_CODEC_H
#define LODE_CHUNK_CODEC_H

#include <stddef.h>
#include "error.h"

typedef struct lode__colenc lode__colenc; /* a column encoder, below */

/* A filter of a stored chunk's pipeline. */
typedef enum lode_chunk_filter { LODE_CF_SHUFFLE = 1, LODE_CF_DEFLATE, LODE_CF_FLETCHER32 } lode_chunk_filter;

/*
 * Encode a chunk of nbytes (elements of elem_size bytes) through the bundle's filters:
 * shuffle, deflate at level, Fletcher32.  *out is malloc'd (caller frees).  Thread-safe.
 */
lode_status lode__chunk_encode(const void *data, size_t nbytes, size_t elem_size, int level,
			       unsigned char **out, size_t *out_len, lode_error *err);

/*
 * Decode a stored chunk of len bytes (modified in place) whose pipeline applied
 * filters[0], ..., filters[nfilters - 1] in that order, except those whose bit in skip
 * is set (HDF5's filter mask), as HDF5 would read it: Fletcher-32 checked (as HDF5
 * does, the byte-swapped sum of old releases accepted too), deflate inflated with
 * libdeflate, shuffle undone for elem_size-byte elements.  a and b are the caller's
 * buffers of chunk_bytes each; *out points at the result (stored, a or b), exactly
 * chunk_bytes long.  A stream that would inflate past chunk_bytes is stopped there: a
 * chunk that decodes to more or fewer bytes, fails its checksum or its stream is
 * LODE_EDAMAGED with the reason.  Thread-safe.
 */
lode_status lode__chunk_decode(unsigned char *stored, size_t len, const lode_chunk_filter *filters,
			       int nfilters, unsigned skip, size_t elem_size, size_t chunk_bytes,
			       unsigned char *a, unsigned char *b, unsigned char **out, lode_error *err);

/*
 * The same, but when shuffled is not NULL and undoing the shuffle is the last step, it
 * is left undone and *shuffled set: *out then holds the byte planes (chunk_bytes /
 * elem_size elements each), which lode__unshuffle_part puts back where the caller wants
 * them (a chunk's rows straight into a strip, without another copy).
 */
lode_status lode__chunk_decode_planes(unsigned char *stored, size_t len, const lode_chunk_filter *filters,
				      int nfilters, unsigned skip, size_t elem_size, size_t chunk_bytes,
				      unsigned char *a, unsigned char *b, unsigned char **out, int *shuffled,
				      lode_error *err);

/* Elements j0 .. j0 + m - 1 of n shuffled size-byte elements (byte plane k at planes +
   k * n) into dst, element after element, as HDF5's unshuffle puts them. */
void lode__unshuffle_part(const unsigned char *planes, size_t n, size_t j0, size_t m, unsigned char *dst,
			  size_t size);
/* The same with the planes given one by one: byte k of element j of dst is p[k][j], for
   j < m and k < size (size <= 8). */
void lode__interleave_planes(const unsigned char *const *p, size_t size, size_t m, unsigned char *dst);

/*
 * A column encoder: columns of elem_size-byte values, cut into chunks of chunk values,
 * encoded as lode__chunk_encode does at level, on a thread of its own while the caller
 * goes on producing them (thread 0: no thread, put encodes each chunk itself).  put
 * copies the next whole chunk of column col (0..ncols-1); finish encodes what still
 * waits (the caller's thread helping) and waits.  ready says whether chunk i of column
 * col is encoded and not yet taken; take gives it (malloc'd, the caller frees; NULL if
 * none); both may be called while chunks are still put and encoded.  free (NULL ok)
 * stops the thread and frees what was not taken.  One producer thread at a time.
 */
lode_status lode__colenc_new(int ncols, size_t elem_size, size_t chunk, int level, int thread,
			     lode__colenc **out, lode_error *err);
size_t lode__colenc_chunk(const lode__colenc *e);
lode_status lode__colenc_put(lode__colenc *e, int col, const void *values, lode_error *err);
lode_status lode__colenc_finish(lode__colenc *e, lode_error *err);
size_t lode__colenc_count(const lode__colenc *e, int col); /* chunks put */
int lode__colenc_ready(lode__colenc *e, int col, size_t i);
unsigned char *lode__colenc_take(lode__colenc *e, int col, size_t i, size_t *len);
void lode__colenc_free(lode__colenc *e);

/* Free the calling thread's compressor (call before a worker thread ends). */
void lode__chunk_codec_thread_done(void);

/* libdeflate's version lode was built with, "1.14" (libdeflate has no run-time query). */
const char *lode__deflate_version(void);

#endif /* LODE_CHUNK_CODEC_H */
