/*
 * test_decode.c -- lode__chunk_decode (formats/chunk_codec.c), the decoder readers of an
 * untrusted bundle use instead of HDF5's deflate filter: chunks encoded by
 * lode__chunk_encode (which test_codec.c proves HDF5 reads back) decode to their values;
 * a deflate stream made by zlib that inflates past the chunk's declared size is stopped
 * at that size; one that inflates short of it, a flipped byte (Fletcher-32) and a
 * truncated stream are refused with the reason; filters marked as skipped in the mask
 * are not undone.  Chunks decoded with their shuffle left undone (lode__chunk_decode_planes)
 * and put back piece by piece (lode__unshuffle_part, the SSE2 paths and the scalar
 * tails) give the values back, for every element size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "chunk_codec.h"
#include "error.h"

static const lode_chunk_filter lode_pipeline[3] = {LODE_CF_SHUFFLE, LODE_CF_DEFLATE, LODE_CF_FLETCHER32};

static void encoded_chunks_decode_to_their_values(void **state)
{
	size_t n = 512 * 512, len = 0;
	float *v = malloc(n * sizeof *v);
	unsigned char *enc = NULL, *a = malloc(n * 4), *b = malloc(n * 4), *out = NULL;
	lode_error err = {0};

	(void)state;
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(i % 977) * 0.25f - 40.0f;
	assert_int_equal(lode__chunk_encode(v, n * 4, 4, 1, &enc, &len, &err), LODE_OK);
	assert_int_equal(lode__chunk_decode(enc, len, lode_pipeline, 3, 0, 4, n * 4, a, b, &out, &err),
			 LODE_OK);
	assert_memory_equal(out, v, n * 4);
	/* One byte flipped: Fletcher-32 says so, as HDF5 would. */
	free(enc);
	assert_int_equal(lode__chunk_encode(v, n * 4, 4, 1, &enc, &len, &err), LODE_OK);
	enc[len / 2] ^= 0x10;
	assert_int_equal(lode__chunk_decode(enc, len, lode_pipeline, 3, 0, 4, n * 4, a, b, &out, &err),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "Fletcher32"));
	free(enc);
	free(v);
	free(a);
	free(b);
}

/* A zlib stream of n zero bytes, made by zlib itself. */
static unsigned char *zeros_stream(size_t n, size_t *len)
{
	unsigned char *zero = calloc(n ? n : 1, 1), *z;
	uLongf zl = compressBound((uLong)n);

	z = malloc(zl);
	assert_non_null(zero);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zl, zero, (uLong)n, 9), Z_OK);
	free(zero);
	*len = zl;
	return z;
}

static void inflating_past_the_declared_size_is_stopped(void **state)
{
	static const lode_chunk_filter pipe[2] = {LODE_CF_SHUFFLE, LODE_CF_DEFLATE};
	size_t declared = 1 << 20, len;
	unsigned char *z = zeros_stream((size_t)64 << 20, &len); /* 64 MiB in about 64 KB */
	unsigned char *a = malloc(declared), *b = malloc(declared), *out = NULL;
	lode_error err = {0};

	(void)state;
	assert_true(len < declared / 8);
	assert_int_equal(lode__chunk_decode(z, len, pipe, 2, 0, 4, declared, a, b, &out, &err),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "inflates to more than the 1048576 bytes"));
	free(z);
	/* Short of the declared size: refused too. */
	z = zeros_stream(declared / 2, &len);
	assert_int_equal(lode__chunk_decode(z, len, pipe, 2, 0, 4, declared, a, b, &out, &err),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "decodes to 524288 bytes, not the 1048576"));
	/* Truncated: a damaged stream. */
	assert_int_equal(lode__chunk_decode(z, len / 2, pipe, 2, 0, 4, declared, a, b, &out, &err),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "deflate stream is damaged"));
	free(z);
	/* Exactly the declared size: the zeros. */
	z = zeros_stream(declared, &len);
	assert_int_equal(lode__chunk_decode(z, len, pipe, 2, 0, 4, declared, a, b, &out, &err), LODE_OK);
	for (size_t i = 0; i < declared; i++)
		assert_int_equal(out[i], 0);
	free(z);
	free(a);
	free(b);
}

static void skipped_filters_are_not_undone(void **state)
{
	/* Deflate skipped (mask bit 1): the stored bytes are the shuffled chunk itself. */
	unsigned char stored[8] = {1, 3, 5, 7, 2, 4, 6, 8}, a[8], b[8], *out = NULL;
	static const unsigned char want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const lode_chunk_filter pipe[2] = {LODE_CF_SHUFFLE, LODE_CF_DEFLATE};
	lode_error err = {0};

	(void)state;
	assert_int_equal(lode__chunk_decode(stored, 8, pipe, 2, 2u, 2, 8, a, b, &out, &err), LODE_OK);
	assert_memory_equal(out, want, 8);
	/* Every filter skipped: the bytes as stored. */
	assert_int_equal(lode__chunk_decode(stored, 8, pipe, 2, 3u, 2, 8, a, b, &out, &err), LODE_OK);
	assert_ptr_equal(out, stored);
}

/* Decoded to byte planes, then put back in runs of 37 elements (odd, so that the 16-wide
   paths and the tails both run, at unaligned starts): the values the chunk was made of. */
static void planes_put_back_give_the_values(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 4, 8};

	(void)state;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t esz = sizes[s], n = 4099, nbytes = n * esz, len = 0;
		unsigned char *v = malloc(nbytes), *a = malloc(nbytes), *b = malloc(nbytes),
			      *back = malloc(nbytes);
		unsigned char *enc = NULL, *out = NULL;
		int shuffled = -1;
		lode_error err = {0};

		for (size_t i = 0; i < nbytes; i++)
			v[i] = (unsigned char)((i * 2654435761u) >> 13);
		assert_int_equal(lode__chunk_encode(v, nbytes, esz, 1, &enc, &len, &err), LODE_OK);
		assert_int_equal(lode__chunk_decode_planes(enc, len, lode_pipeline, 3, 0, esz, nbytes, a, b,
							   &out, &shuffled, &err),
				 LODE_OK);
		assert_int_equal(shuffled, esz > 1);
		if (shuffled)
			for (size_t j0 = 0; j0 < n; j0 += 37)
				lode__unshuffle_part(out, n, j0, n - j0 < 37 ? n - j0 : 37, back + j0 * esz,
						     esz);
		else
			memcpy(back, out, nbytes);
		assert_memory_equal(back, v, nbytes);
		free(enc);
		free(v);
		free(a);
		free(b);
		free(back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(encoded_chunks_decode_to_their_values),
	    cmocka_unit_test(inflating_past_the_declared_size_is_stopped),
	    cmocka_unit_test(skipped_filters_are_not_undone),
	    cmocka_unit_test(planes_put_back_give_the_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
