/*
 * chunk_codec.c -- encode a chunk exactly as the bundle's HDF5 filter pipeline would
 * store it (shuffle, then zlib deflate, then Fletcher32), so that worker threads can
 * compress chunks in parallel and the single HDF5 thread writes them with
 * H5Dwrite_chunk.  Every HDF5 reader decodes the result with its stock filters.
 *
 * HDF5 offers no public call to run its filter pipeline on a buffer, so the two small
 * filters are written here to HDF5's definitions (H5Zshuffle.c, H5Zfletcher32.c,
 * H5checksum.c), with SSE2 where the CPU has it (the same bytes).  Deflate is
 * libdeflate's compressor, about twice as fast as zlib's at a better ratio on survey
 * grids (docs/performance.md), with the leading byte planes that it cannot shrink put in
 * stored blocks instead; the output is a standard zlib stream that HDF5's deflate filter
 * (zlib's inflate) reads.  A unit test has HDF5 read chunks encoded here and checks it
 * gets the values back.
 *
 * Reading a bundle that may be hostile, lode__chunk_decode undoes the same filters into
 * a buffer of the chunk's declared size that never grows (HDF5's own deflate filter
 * inflates until the stream ends, however far that is).
 *
 * A column encoder (lode__colenc) compresses the whole chunks of columns that are still
 * being produced on a thread of its own: a vector layer's x and y columns are encoded
 * while the layer is read, on the core the reader leaves idle.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "chunk_codec.h"
#include "error.h"

#ifdef __SSE2__
/*
 * Sixteen elements at a time with SSE2 (every x86-64 has it): the 16 x size bytes are
 * transposed by interleaving pairs of registers byte by byte (twice for 8-byte elements,
 * three times for 4-byte ones), then 4 or 8 bytes at a time, until each register holds
 * byte k of the 16 elements.  Returns the elements done; the caller does the rest.
 */
static size_t shuffle16_8(const unsigned char *s, unsigned char *const d[8], size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16, s += 128) {
		__m128i x[8], y[8], z[8], w[8];
		for (int k = 0; k < 8; k++) /* elements 2k and 2k + 1 */
			x[k] = _mm_loadu_si128((const __m128i *)(s + 16 * k));
		for (int k = 0; k < 8; k += 2) {
			y[k] = _mm_unpacklo_epi8(x[k], x[k + 1]);
			y[k + 1] = _mm_unpackhi_epi8(x[k], x[k + 1]);
		}
		/* z[2g], z[2g + 1]: bytes 0-3 and 4-7 of elements 4g .. 4g + 3, 4 bytes per byte */
		for (int k = 0; k < 8; k += 2) {
			z[k] = _mm_unpacklo_epi8(y[k], y[k + 1]);
			z[k + 1] = _mm_unpackhi_epi8(y[k], y[k + 1]);
		}
		w[0] = _mm_unpacklo_epi32(z[0], z[2]); /* bytes 0, 1 of elements 0-7 */
		w[1] = _mm_unpackhi_epi32(z[0], z[2]); /* bytes 2, 3 */
		w[2] = _mm_unpacklo_epi32(z[4], z[6]); /* bytes 0, 1 of elements 8-15 */
		w[3] = _mm_unpackhi_epi32(z[4], z[6]);
		w[4] = _mm_unpacklo_epi32(z[1], z[3]); /* bytes 4, 5 of elements 0-7 */
		w[5] = _mm_unpackhi_epi32(z[1], z[3]); /* bytes 6, 7 */
		w[6] = _mm_unpacklo_epi32(z[5], z[7]);
		w[7] = _mm_unpackhi_epi32(z[5], z[7]);
		for (int k = 0; k < 4; k++) {
			__m128i lo = w[k < 2 ? k : k + 2], hi = w[k < 2 ? k + 2 : k + 4];
			_mm_storeu_si128((__m128i *)(d[2 * k] + i), _mm_unpacklo_epi64(lo, hi));
			_mm_storeu_si128((__m128i *)(d[2 * k + 1] + i), _mm_unpackhi_epi64(lo, hi));
		}
	}
	return i;
}

static size_t shuffle16_4(const unsigned char *s, unsigned char *const d[8], size_t n)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16, s += 64) {
		__m128i x[4], y[4], z[4], v[4];
		for (int k = 0; k < 4; k++) /* elements 4k .. 4k + 3 */
			x[k] = _mm_loadu_si128((const __m128i *)(s + 16 * k));
		for (int k = 0; k < 4; k += 2) {
			y[k] = _mm_unpacklo_epi8(x[k], x[k + 1]);
			y[k + 1] = _mm_unpackhi_epi8(x[k], x[k + 1]);
		}
		for (int k = 0; k < 4; k += 2) {
			z[k] = _mm_unpacklo_epi8(y[k], y[k + 1]);
			z[k + 1] = _mm_unpackhi_epi8(y[k], y[k + 1]);
		}
		/* v[0], v[1]: bytes 0, 1 and 2, 3 of elements 0-7; v[2], v[3] of elements 8-15 */
		for (int k = 0; k < 4; k += 2) {
			v[k] = _mm_unpacklo_epi8(z[k], z[k + 1]);
			v[k + 1] = _mm_unpackhi_epi8(z[k], z[k + 1]);
		}
		_mm_storeu_si128((__m128i *)(d[0] + i), _mm_unpacklo_epi64(v[0], v[2]));
		_mm_storeu_si128((__m128i *)(d[1] + i), _mm_unpackhi_epi64(v[0], v[2]));
		_mm_storeu_si128((__m128i *)(d[2] + i), _mm_unpacklo_epi64(v[1], v[3]));
		_mm_storeu_si128((__m128i *)(d[3] + i), _mm_unpackhi_epi64(v[1], v[3]));
	}
	return i;
}
#endif

/* HDF5's shuffle: byte k of every element together, k = 0..size-1; a tail that is not
   a whole element is copied as it is.  Element by element for the common sizes (one pass
   over the source, about twice as fast as a pass per byte plane), 16 at a time where
   the CPU can. */
static void shuffle(const unsigned char *src, unsigned char *dst, size_t nbytes, size_t size)
{
	size_t n = size > 1 ? nbytes / size : 0, i0 = 0;
	const unsigned char *s = src;
	unsigned char *d[8];

	if (n == 0) {
		memcpy(dst, src, nbytes);
		return;
	}
	for (size_t k = 0; k < 8 && k < size; k++)
		d[k] = dst + k * n;
#ifdef __SSE2__
	if (size == 8)
		i0 = shuffle16_8(src, d, n);
	else if (size == 4)
		i0 = shuffle16_4(src, d, n);
#endif
	s += i0 * size;
	switch (size) {
	case 2:
		for (size_t i = 0; i < n; i++, s += 2) {
			d[0][i] = s[0];
			d[1][i] = s[1];
		}
		break;
	case 4:
		for (size_t i = i0; i < n; i++, s += 4) {
			d[0][i] = s[0];
			d[1][i] = s[1];
			d[2][i] = s[2];
			d[3][i] = s[3];
		}
		break;
	case 8:
		for (size_t i = i0; i < n; i++, s += 8) {
			d[0][i] = s[0];
			d[1][i] = s[1];
			d[2][i] = s[2];
			d[3][i] = s[3];
			d[4][i] = s[4];
			d[5][i] = s[5];
			d[6][i] = s[6];
			d[7][i] = s[7];
		}
		break;
	default:
		for (size_t k = 0; k < size; k++)
			for (size_t i = 0; i < n; i++)
				dst[k * n + i] = src[i * size + k];
	}
	memcpy(dst + n * size, src + n * size, nbytes - n * size);
}

#ifdef __SSE2__
/*
 * The first 8 * (len / 8) words of a block of HDF5's Fletcher-32 at once: the loop below
 * adds each word w_i to sum1 and then sum1 to sum2, so after the words
 * sum2 + L * sum1 + L * S - T and sum1 + S, with S the sum of the w_i and T the sum of
 * i * w_i (the same values modulo 2^32, as the loop computes them).  S and T from the
 * words' high and low bytes (each under 256, so that the signed 16-bit multiplies are
 * exact).  Returns the words done.
 */
static size_t fletcher_block(const unsigned char *data, size_t len, uint32_t *sum1, uint32_t *sum2)
{
	const __m128i bytes = _mm_set1_epi16(0x00ff), ones = _mm_set1_epi16(1), eight = _mm_set1_epi16(8);
	__m128i idx = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7), sh = _mm_setzero_si128(), sl = sh, th = sh,
		tl = sh;
	size_t n = len / 8 * 8;
	uint32_t v[4], s, t;

	for (size_t i = 0; i < n; i += 8, data += 16) {
		__m128i w = _mm_loadu_si128((const __m128i *)data);
		__m128i hi = _mm_and_si128(w, bytes), lo = _mm_srli_epi16(w, 8);
		sh = _mm_add_epi32(sh, _mm_madd_epi16(hi, ones));
		sl = _mm_add_epi32(sl, _mm_madd_epi16(lo, ones));
		th = _mm_add_epi32(th, _mm_madd_epi16(hi, idx));
		tl = _mm_add_epi32(tl, _mm_madd_epi16(lo, idx));
		idx = _mm_add_epi16(idx, eight);
	}
	_mm_storeu_si128((__m128i *)v, _mm_add_epi32(_mm_slli_epi32(sh, 8), sl));
	s = v[0] + v[1] + v[2] + v[3];
	_mm_storeu_si128((__m128i *)v, _mm_add_epi32(_mm_slli_epi32(th, 8), tl));
	t = v[0] + v[1] + v[2] + v[3];
	*sum2 += (uint32_t)n * *sum1 + (uint32_t)n * s - t;
	*sum1 += s;
	return n;
}
#endif

/* HDF5's Fletcher-32: 16-bit big-endian words, folded every 360 words. */
static uint32_t fletcher32(const unsigned char *data, size_t nbytes)
{
	size_t len = nbytes / 2;
	uint32_t sum1 = 0, sum2 = 0;

	while (len) {
		size_t tlen = len > 360 ? 360 : len, done = 0;
		len -= tlen;
#ifdef __SSE2__
		done = fletcher_block(data, tlen, &sum1, &sum2);
		data += 2 * done;
#endif
		for (; done < tlen; done++, data += 2) {
			sum1 += (uint32_t)(((uint16_t)data[0]) << 8) | ((uint16_t)data[1]);
			sum2 += sum1;
		}
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
   a scratch buffer for the shuffled chunk (and the samples' trial compression), so that
   a chunk costs one allocation, of which only its encoded size is ever touched. */
static _Thread_local struct libdeflate_compressor *compressor;
static _Thread_local struct libdeflate_decompressor *decompressor; /* for lode__chunk_decode */
static _Thread_local int compressor_level;
static _Thread_local unsigned char *scratch;
static _Thread_local size_t scratch_size;

void lode__chunk_codec_thread_done(void)
{
	libdeflate_free_compressor(compressor);
	compressor = NULL;
	libdeflate_free_decompressor(decompressor);
	decompressor = NULL;
	free(scratch);
	scratch = NULL;
	scratch_size = 0;
}

/*
 * Shuffled planes that deflate cannot shrink.  After the shuffle a chunk is its byte
 * planes one after the other, the least significant first.  On coordinates and noisy
 * grids the low planes are close to random (deflate keeps them at 100% of their size,
 * yet spends a third of the run's CPU finding that out) while the high planes (sign,
 * exponent, leading mantissa) shrink to a few percent.  A plane is judged from three
 * samples of 2 KB (start, middle, end) compressed at level 1: if they do not shrink by
 * 3%, the plane is taken as incompressible.
 */
#define SAMPLE    2048
#define MIN_PLANE (16 * SAMPLE)

static int incompressible(struct libdeflate_compressor *c, const unsigned char *plane, size_t n,
			  unsigned char *buf, size_t bufsize)
{
	unsigned char sample[3 * SAMPLE];
	size_t len;

	memcpy(sample, plane, SAMPLE);
	memcpy(sample + SAMPLE, plane + n / 2 - SAMPLE / 2, SAMPLE);
	memcpy(sample + 2 * SAMPLE, plane + n - SAMPLE, SAMPLE);
	len = libdeflate_deflate_compress(c, sample, sizeof sample, buf, bufsize);
	return len == 0 || len * 100 >= sizeof sample * 97;
}

/* The number of leading planes of a shuffled chunk to store as they are. */
static size_t stored_planes(struct libdeflate_compressor *c, const unsigned char *shuffled, size_t nbytes,
			    size_t size, unsigned char *buf, size_t bufsize)
{
	size_t n = size > 1 ? nbytes / size : 0, k = 0;

	if (n < MIN_PLANE)
		return 0;
	while (k < size && incompressible(c, shuffled + k * n, n, buf, bufsize))
		k++;
	return k;
}

/*
 * A zlib stream (RFC 1950) of len bytes at src whose first stored bytes go in stored
 * DEFLATE blocks (RFC 1951 section 3.2.4: a byte-aligned header byte with BFINAL 0 and
 * BTYPE 00, then LEN and its complement NLEN, little-endian, then the bytes), and the rest
 * through libdeflate's raw DEFLATE compressor, whose last block is the final one.  A
 * stored block leaves the stream byte-aligned, so libdeflate's blocks follow directly.
 * Returns the length written to dst (room: see encode_bound), 0 on failure.
 */
static size_t zlib_with_stored(struct libdeflate_compressor *c, const unsigned char *src, size_t len,
			       size_t stored, unsigned char *dst, size_t room)
{
	size_t o = 0, rest = len - stored, zlen;
	uint32_t adler;

	if (stored == 0)
		return libdeflate_zlib_compress(c, src, len, dst, room);
	adler = libdeflate_adler32(1, src, len);
	dst[o++] = 0x78; /* deflate, 32 KB window */
	dst[o++] = 0x01; /* FLEVEL 0 (informative only); (0x78 << 8 | 0x01) % 31 == 0 */
	for (size_t at = 0; at < stored;) {
		size_t blk = stored - at > 65535 ? 65535 : stored - at;
		dst[o++] = 0x00;
		dst[o++] = (unsigned char)(blk & 0xff);
		dst[o++] = (unsigned char)(blk >> 8);
		dst[o++] = (unsigned char)(~blk & 0xff);
		dst[o++] = (unsigned char)((~blk >> 8) & 0xff);
		memcpy(dst + o, src + at, blk);
		o += blk;
		at += blk;
	}
	if (rest) {
		zlen = libdeflate_deflate_compress(c, src + stored, rest, dst + o, room - o - 4);
		if (zlen == 0)
			return 0;
		o += zlen;
	} else { /* everything stored: an empty final stored block ends the stream */
		static const unsigned char last[5] = {0x01, 0x00, 0x00, 0xff, 0xff};
		memcpy(dst + o, last, sizeof last);
		o += sizeof last;
	}
	dst[o++] = (unsigned char)(adler >> 24); /* Adler-32, big-endian */
	dst[o++] = (unsigned char)(adler >> 16);
	dst[o++] = (unsigned char)(adler >> 8);
	dst[o++] = (unsigned char)adler;
	return o;
}

/* Room for zlib_with_stored's output, whatever the number of stored bytes. */
static size_t encode_bound(struct libdeflate_compressor *c, size_t nbytes)
{
	return 2 + nbytes + 5 * (nbytes / 65535 + 2) + libdeflate_deflate_compress_bound(c, nbytes) + 4;
}

lode_status lode__chunk_encode(const void *data, size_t nbytes, size_t elem_size, int level,
			       unsigned char **out, size_t *out_len, lode_error *err)
{
	unsigned char *tmp, *dst, *z;
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
	bound = encode_bound(compressor, nbytes);
	need = nbytes + bound;
	if (need > scratch_size) {
		free(scratch);
		scratch_size = 0;
		if (!(scratch = malloc(need)))
			return lode__err(err, LODE_ENOMEM, "out of memory compressing a chunk");
		scratch_size = need;
	}
	/* Compressed straight into the chunk's own buffer, trimmed to size after: pages past
	   the end are never touched, and the bytes are not copied once more. */
	if (!(dst = malloc(bound + 4)))
		return lode__err(err, LODE_ENOMEM, "out of memory compressing a chunk");
	tmp = scratch;
	shuffle(data, tmp, nbytes, elem_size);
	zlen = zlib_with_stored(compressor, tmp, nbytes,
				stored_planes(compressor, tmp, nbytes, elem_size, scratch + nbytes, bound) *
				    (nbytes / elem_size),
				dst, bound);
	if (zlen == 0) {
		free(dst);
		return lode__err(err, LODE_EINTERNAL, "libdeflate failed to compress a chunk");
	}
	if ((z = realloc(dst, zlen + 4)))
		dst = z;
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

/* ---- decoding a stored chunk, within its declared size ---- */

#ifdef __SSE2__
/* The inverse of shuffle16_4 / shuffle16_8: 16 elements at a time from the byte planes
   p[0..size-1] (element i of each) into dst, by interleaving bytes, then pairs, then
   quads.  Returns the elements done; the caller does the rest. */
static size_t unshuffle16_4(const unsigned char *const *p, size_t m, unsigned char *d)
{
	size_t i = 0;

	for (; i + 16 <= m; i += 16, d += 64) {
		__m128i p0 = _mm_loadu_si128((const __m128i *)(p[0] + i)),
			p1 = _mm_loadu_si128((const __m128i *)(p[1] + i)),
			p2 = _mm_loadu_si128((const __m128i *)(p[2] + i)),
			p3 = _mm_loadu_si128((const __m128i *)(p[3] + i));
		__m128i a = _mm_unpacklo_epi8(p0, p1), b = _mm_unpackhi_epi8(p0, p1); /* bytes 0, 1 */
		__m128i c = _mm_unpacklo_epi8(p2, p3), e = _mm_unpackhi_epi8(p2, p3); /* bytes 2, 3 */
		_mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(a, c));
		_mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(a, c));
		_mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(b, e));
		_mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(b, e));
	}
	return i;
}

static size_t unshuffle16_8(const unsigned char *const *p, size_t m, unsigned char *d)
{
	size_t i = 0;

	for (; i + 16 <= m; i += 16, d += 128) {
		__m128i x[8], u[8], v[8];
		for (int k = 0; k < 8; k++)
			x[k] = _mm_loadu_si128((const __m128i *)(p[k] + i));
		for (int k = 0; k < 8; k += 2) { /* bytes k, k + 1 of elements 0-7, then 8-15 */
			u[k] = _mm_unpacklo_epi8(x[k], x[k + 1]);
			u[k + 1] = _mm_unpackhi_epi8(x[k], x[k + 1]);
		}
		for (int g = 0; g < 2; g++) { /* bytes 0-3 (g 0) and 4-7 (g 1) */
			v[4 * g] = _mm_unpacklo_epi16(u[4 * g], u[4 * g + 2]);         /* elements 0-3 */
			v[4 * g + 1] = _mm_unpackhi_epi16(u[4 * g], u[4 * g + 2]);     /* 4-7 */
			v[4 * g + 2] = _mm_unpacklo_epi16(u[4 * g + 1], u[4 * g + 3]); /* 8-11 */
			v[4 * g + 3] = _mm_unpackhi_epi16(u[4 * g + 1], u[4 * g + 3]); /* 12-15 */
		}
		for (int q = 0; q < 4; q++) { /* elements 4q .. 4q + 3 */
			_mm_storeu_si128((__m128i *)(d + 32 * q), _mm_unpacklo_epi32(v[q], v[4 + q]));
			_mm_storeu_si128((__m128i *)(d + 32 * q + 16), _mm_unpackhi_epi32(v[q], v[4 + q]));
		}
	}
	return i;
}
#endif

void lode__interleave_planes(const unsigned char *const *p, size_t size, size_t m, unsigned char *dst)
{
	size_t i = 0;

#ifdef __SSE2__
	if (size == 4)
		i = unshuffle16_4(p, m, dst);
	else if (size == 8)
		i = unshuffle16_8(p, m, dst);
#endif
	for (size_t k = 0; k < size; k++)
		for (size_t j = i; j < m; j++)
			dst[j * size + k] = p[k][j];
}

void lode__unshuffle_part(const unsigned char *planes, size_t n, size_t j0, size_t m, unsigned char *dst,
			  size_t size)
{
	const unsigned char *p[8];

	if (size == 1 || size > 8) {
		for (size_t k = 0; k < size; k++)
			for (size_t j = 0; j < m; j++)
				dst[j * size + k] = planes[k * n + j0 + j];
		return;
	}
	for (size_t k = 0; k < size; k++)
		p[k] = planes + k * n + j0;
	lode__interleave_planes(p, size, m, dst);
}

/* HDF5's unshuffle (H5Zshuffle.c): byte plane k of the n elements back into byte k of
   each; the bytes after the last whole element are kept as they are. */
static void unshuffle(const unsigned char *src, unsigned char *dst, size_t nbytes, size_t size)
{
	size_t n = nbytes / size;

	lode__unshuffle_part(src, n, 0, n, dst, size);
	memcpy(dst + n * size, src + n * size, nbytes - n * size);
}

lode_status lode__chunk_decode(unsigned char *stored, size_t len, const lode_chunk_filter *filters,
			       int nfilters, unsigned skip, size_t elem_size, size_t chunk_bytes,
			       unsigned char *a, unsigned char *b, unsigned char **out, lode_error *err)
{
	return lode__chunk_decode_planes(stored, len, filters, nfilters, skip, elem_size, chunk_bytes, a, b,
					 out, NULL, err);
}

lode_status lode__chunk_decode_planes(unsigned char *stored, size_t len, const lode_chunk_filter *filters,
				      int nfilters, unsigned skip, size_t elem_size, size_t chunk_bytes,
				      unsigned char *a, unsigned char *b, unsigned char **out, int *shuffled,
				      lode_error *err)
{
	unsigned char *cur = stored;
	size_t n = len;

	*out = NULL;
	if (shuffled)
		*shuffled = 0;
	for (int i = nfilters - 1; i >= 0; i--) {
		unsigned char *dst = cur == a ? b : a;
		size_t got = 0;
		uint32_t sum, want;

		if (skip & (1u << i))
			continue;
		switch (filters[i]) {
		case LODE_CF_FLETCHER32:
			if (n < 4)
				return lode__err(err, LODE_EDAMAGED, "a chunk is too short for its checksum");
			n -= 4;
			sum = fletcher32(cur, n);
			want = (uint32_t)cur[n] | (uint32_t)cur[n + 1] << 8 | (uint32_t)cur[n + 2] << 16 |
			       (uint32_t)cur[n + 3] << 24;
			/* HDF5 also takes the byte-swapped sum of its releases before 1.6.3. */
			if (want != sum && want != (((sum & 0x00ff00ffu) << 8) | ((sum >> 8) & 0x00ff00ffu)))
				return lode__err(err, LODE_EDAMAGED,
						 "data error detected by Fletcher32 checksum");
			break;
		case LODE_CF_DEFLATE:
			if (!decompressor && !(decompressor = libdeflate_alloc_decompressor()))
				return lode__err(err, LODE_ENOMEM, "out of memory starting the decompressor");
			/* Into the declared size and no further: a stream that needs more is a bomb. */
			switch (libdeflate_zlib_decompress(decompressor, cur, n, dst, chunk_bytes, &got)) {
			case LIBDEFLATE_SUCCESS: break;
			case LIBDEFLATE_INSUFFICIENT_SPACE:
				return lode__err(err, LODE_EDAMAGED,
						 "a chunk inflates to more than the %zu bytes its variable "
						 "declares (a decompression bomb)",
						 chunk_bytes);
			default: return lode__err(err, LODE_EDAMAGED, "a chunk's deflate stream is damaged");
			}
			cur = dst;
			n = got;
			break;
		case LODE_CF_SHUFFLE:
			/* The last step, left to the caller when it asks (whole elements only). */
			if (shuffled && elem_size > 1 && n == chunk_bytes && n % elem_size == 0 &&
			    !(~skip & ((1u << i) - 1))) {
				*shuffled = 1;
				break;
			}
			if (elem_size > 1 && n <= chunk_bytes) {
				unshuffle(cur, dst, n, elem_size);
				cur = dst;
			}
			break;
		}
	}
	if (n != chunk_bytes)
		return lode__err(err, LODE_EDAMAGED,
				 "a chunk decodes to %zu bytes, not the %zu its variable declares", n,
				 chunk_bytes);
	*out = cur;
	return LODE_OK;
}

/* ---- encoding columns while they are produced ---- */

/* At most this many chunks wait for the encoder thread; beyond, put encodes one itself,
   so that the copies waiting stay a few MB however fast the producer is. */
#define COLENC_BACKLOG 8
#define COLENC_MAXCOLS 4

typedef struct colenc_chunk {
	unsigned char *enc; /* NULL until encoded, and once taken */
	size_t len;
} colenc_chunk;

typedef struct colenc_job {
	int col;
	size_t i;
	unsigned char *raw; /* the copied values, until encoded */
} colenc_job;

struct lode__colenc {
	size_t esz, chunk;
	int level, ncols;
	struct {
		colenc_chunk *chunks;
		size_t n, cap;
	} col[COLENC_MAXCOLS];
	colenc_job *jobs; /* in the order put; jobs[next..njobs) wait */
	size_t njobs, capjobs, next;
	int closing; /* finishing: the thread ends once nothing waits */
	int abandon; /* freeing unfinished: the thread takes no more jobs */
	int failed;  /* an encode failed; err says why */
	lode_error err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int has_thread;
	/* Copies already encoded, for the next puts: no new pages to fault in each time. */
	unsigned char *spare[COLENC_BACKLOG + 2];
	int nspare;
};

/* Make room for one more element in *p (n used of *cap, elements of sz bytes). */
static int room_for_one(void **p, size_t *cap, size_t n, size_t sz)
{
	size_t ncap = *cap ? 2 * *cap : 64;
	void *np;

	if (n < *cap)
		return 0;
	if (!(np = realloc(*p, ncap * sz)))
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* Take the next waiting job and encode it; 0 when none was waiting. */
static int colenc_run_one(lode__colenc *e)
{
	colenc_job job;
	unsigned char *enc = NULL;
	size_t len = 0;
	lode_error err = {0};
	lode_status rc;

	pthread_mutex_lock(&e->mu);
	if (e->next == e->njobs || e->abandon || e->failed) {
		pthread_mutex_unlock(&e->mu);
		return 0;
	}
	job = e->jobs[e->next];
	e->jobs[e->next++].raw = NULL;
	pthread_mutex_unlock(&e->mu);

	rc = lode__chunk_encode(job.raw, e->chunk * e->esz, e->esz, e->level, &enc, &len, &err);
	pthread_mutex_lock(&e->mu);
	if (e->nspare < (int)(sizeof e->spare / sizeof e->spare[0]))
		e->spare[e->nspare++] = job.raw;
	else
		free(job.raw);
	if (rc && !e->failed) {
		e->failed = 1;
		e->err = err;
	} else if (!rc) {
		e->col[job.col].chunks[job.i] = (colenc_chunk){enc, len};
	}
	pthread_mutex_unlock(&e->mu);
	return 1;
}

static void *colenc_main(void *arg)
{
	lode__colenc *e = arg;

	for (;;) {
		int stop;
		pthread_mutex_lock(&e->mu);
		while (e->next == e->njobs && !e->closing && !e->abandon)
			pthread_cond_wait(&e->cv, &e->mu);
		stop = e->next == e->njobs || e->abandon || e->failed;
		pthread_mutex_unlock(&e->mu);
		if (stop)
			break;
		colenc_run_one(e);
	}
	lode__chunk_codec_thread_done();
	return NULL;
}

lode_status lode__colenc_new(int ncols, size_t elem_size, size_t chunk, int level, int thread,
			     lode__colenc **out, lode_error *err)
{
	lode__colenc *e;

	*out = NULL;
	if (ncols < 1 || ncols > COLENC_MAXCOLS || !elem_size || !chunk)
		return lode__err(err, LODE_EINTERNAL, "bad column encoder parameters");
	if (!(e = calloc(1, sizeof *e)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	e->ncols = ncols;
	e->esz = elem_size;
	e->chunk = chunk;
	e->level = level;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	/* Without its thread every chunk is encoded by put: the same bytes, only later. */
	e->has_thread = thread && pthread_create(&e->thread, NULL, colenc_main, e) == 0;
	*out = e;
	return LODE_OK;
}

size_t lode__colenc_chunk(const lode__colenc *e)
{
	return e->chunk;
}

lode_status lode__colenc_put(lode__colenc *e, int col, const void *values, lode_error *err)
{
	size_t nbytes = e->chunk * e->esz, backlog;
	unsigned char *raw;
	int failed;

	if (col < 0 || col >= e->ncols)
		return lode__err(err, LODE_EINTERNAL, "column encoder: no column %d", col);
	/* A copy: the producer may move its array (realloc) while the chunk waits. */
	pthread_mutex_lock(&e->mu);
	raw = e->nspare ? e->spare[--e->nspare] : NULL;
	pthread_mutex_unlock(&e->mu);
	if (!raw && !(raw = malloc(nbytes)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	memcpy(raw, values, nbytes);
	pthread_mutex_lock(&e->mu);
	if (room_for_one((void **)&e->col[col].chunks, &e->col[col].cap, e->col[col].n,
			 sizeof(colenc_chunk)) ||
	    room_for_one((void **)&e->jobs, &e->capjobs, e->njobs, sizeof(colenc_job))) {
		pthread_mutex_unlock(&e->mu);
		free(raw);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	e->col[col].chunks[e->col[col].n] = (colenc_chunk){NULL, 0};
	e->jobs[e->njobs++] = (colenc_job){col, e->col[col].n++, raw};
	backlog = e->njobs - e->next;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (backlog > COLENC_BACKLOG || !e->has_thread)
		colenc_run_one(e);
	pthread_mutex_lock(&e->mu);
	if ((failed = e->failed))
		*err = e->err;
	pthread_mutex_unlock(&e->mu);
	return failed ? err->code : LODE_OK;
}

lode_status lode__colenc_finish(lode__colenc *e, lode_error *err)
{
	pthread_mutex_lock(&e->mu);
	e->closing = 1;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	/* Help with what still waits, then wait for the chunk the thread may be on. */
	while (colenc_run_one(e))
		;
	if (e->has_thread) {
		pthread_join(e->thread, NULL);
		e->has_thread = 0;
	}
	if (e->failed) {
		*err = e->err;
		return err->code;
	}
	return LODE_OK;
}

size_t lode__colenc_count(const lode__colenc *e, int col)
{
	return col >= 0 && col < e->ncols ? e->col[col].n : 0;
}

int lode__colenc_ready(lode__colenc *e, int col, size_t i)
{
	int ready;

	if (col < 0 || col >= e->ncols)
		return 0;
	pthread_mutex_lock(&e->mu);
	ready = i < e->col[col].n && e->col[col].chunks[i].enc != NULL;
	pthread_mutex_unlock(&e->mu);
	return ready;
}

unsigned char *lode__colenc_take(lode__colenc *e, int col, size_t i, size_t *len)
{
	unsigned char *enc = NULL;

	if (col < 0 || col >= e->ncols)
		return NULL;
	/* Under the lock: the encoder may still be filling (and growing) the array. */
	pthread_mutex_lock(&e->mu);
	if (i < e->col[col].n) {
		enc = e->col[col].chunks[i].enc;
		*len = e->col[col].chunks[i].len;
		e->col[col].chunks[i].enc = NULL;
	}
	pthread_mutex_unlock(&e->mu);
	return enc;
}

void lode__colenc_free(lode__colenc *e)
{
	if (!e)
		return;
	if (e->has_thread) {
		pthread_mutex_lock(&e->mu);
		e->abandon = 1;
		pthread_cond_signal(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	for (size_t k = e->next; k < e->njobs; k++)
		free(e->jobs[k].raw);
	for (int k = 0; k < e->nspare; k++)
		free(e->spare[k]);
	for (int c = 0; c < e->ncols; c++) {
		for (size_t i = 0; i < e->col[c].n; i++)
			free(e->col[c].chunks[i].enc);
		free(e->col[c].chunks);
	}
	free(e->jobs);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

const char *lode__deflate_version(void)
{
	return LIBDEFLATE_VERSION_STRING;
}
