/*
 * chunk_codec.c -- encode a chunk exactly as the bundle's HDF5 filter pipeline would
 * store it (shuffle, then zlib deflate, then Fletcher32), so that worker threads can
 * compress chunks in parallel and the single HDF5 thread writes them with
 * H5Dwrite_chunk.  Every HDF5 reader decodes the result with its stock filters.
 *
 * HDF5 offers no public call to run its filter pipeline on a buffer, so the two small
 * filters are written here to HDF5's definitions (H5Zshuffle.c, H5Zfletcher32.c,
 * H5checksum.c).  Deflate is libdeflate's zlib-format compressor, about twice as fast as
 * zlib's at a better ratio on survey grids (docs/performance.md); its output is a
 * standard zlib stream that HDF5's deflate filter (zlib's inflate) reads.  A unit test
 * has HDF5 read chunks encoded here and checks it gets the values back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "lode_internal.h"

/* HDF5's shuffle: byte k of every element together, k = 0..size-1; a tail that is not
   a whole element is copied as it is. */
static void shuffle(const unsigned char *src, unsigned char *dst, size_t nbytes, size_t size)
{
	size_t n = size > 1 ? nbytes / size : 0;

	if (n == 0) {
		memcpy(dst, src, nbytes);
		return;
	}
	for (size_t k = 0; k < size; k++)
		for (size_t i = 0; i < n; i++)
			dst[k * n + i] = src[i * size + k];
	memcpy(dst + n * size, src + n * size, nbytes - n * size);
}

/* HDF5's Fletcher-32: 16-bit big-endian words, folded every 360 words. */
static uint32_t fletcher32(const unsigned char *data, size_t nbytes)
{
	size_t len = nbytes / 2;
	uint32_t sum1 = 0, sum2 = 0;

	while (len) {
		size_t tlen = len > 360 ? 360 : len;
		len -= tlen;
		do {
			sum1 += (uint32_t)(((uint16_t)data[0]) << 8) | ((uint16_t)data[1]);
			data += 2;
			sum2 += sum1;
		} while (--tlen);
		sum1 = (sum1 & 0xffff) + (sum1 >> 16);
		sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	}
	if (nbytes % 2) {
		sum1 += (uint32_t)(((uint16_t)*data) << 8);
		sum2 += sum1;
		sum1 = (sum1 & 0xffff) + (sum1 >> 16);
		sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	}
	sum1 = (sum1 & 0xffff) + (sum1 >> 16);
	sum2 = (sum2 & 0xffff) + (sum2 >> 16);
	return (sum2 << 16) | sum1;
}

/* One compressor per thread, kept for the thread's life (they are not thread-safe), and
   two scratch buffers (the shuffled chunk, the compressed chunk at its largest), so that a
   chunk costs one allocation of its encoded size instead of two of about 1 MB each. */
static _Thread_local struct libdeflate_compressor *compressor;
static _Thread_local int compressor_level;
static _Thread_local unsigned char *scratch;
static _Thread_local size_t scratch_size;

void lode__chunk_codec_thread_done(void)
{
	libdeflate_free_compressor(compressor);
	compressor = NULL;
	free(scratch);
	scratch = NULL;
	scratch_size = 0;
}

lode_status lode__chunk_encode(const void *data, size_t nbytes, size_t elem_size, int level,
			       unsigned char **out, size_t *out_len, lode_error *err)
{
	unsigned char *tmp, *dst;
	size_t bound, zlen, need;
	uint32_t sum;

	*out = NULL;
	if (!compressor || compressor_level != level) {
		libdeflate_free_compressor(compressor);
		compressor = libdeflate_alloc_compressor(level);
		compressor_level = level;
		if (!compressor)
			return lode__err(err, LODE_ENOMEM, "out of memory starting the compressor");
	}
	bound = libdeflate_zlib_compress_bound(compressor, nbytes);
	need = nbytes + bound;
	if (need > scratch_size) {
		free(scratch);
		scratch_size = 0;
		if (!(scratch = malloc(need)))
			return lode__err(err, LODE_ENOMEM, "out of memory compressing a chunk");
		scratch_size = need;
	}
	tmp = scratch;
	shuffle(data, tmp, nbytes, elem_size);
	zlen = libdeflate_zlib_compress(compressor, tmp, nbytes, scratch + nbytes, bound);
	if (zlen == 0)
		return lode__err(err, LODE_EINTERNAL, "libdeflate failed to compress a chunk");
	if (!(dst = malloc(zlen + 4)))
		return lode__err(err, LODE_ENOMEM, "out of memory compressing a chunk");
	memcpy(dst, scratch + nbytes, zlen);
	sum = fletcher32(dst, zlen);
	/* HDF5 appends the checksum little-endian (UINT32ENCODE). */
	dst[zlen] = (unsigned char)(sum & 0xff);
	dst[zlen + 1] = (unsigned char)((sum >> 8) & 0xff);
	dst[zlen + 2] = (unsigned char)((sum >> 16) & 0xff);
	dst[zlen + 3] = (unsigned char)((sum >> 24) & 0xff);
	*out = dst;
	*out_len = zlen + 4;
	return LODE_OK;
}
