/*
 * test_codec.c -- lode's chunk encoder against HDF5 itself: chunks encoded by
 * lode__chunk_encode (shuffle, libdeflate or stored blocks, Fletcher32) are stored with
 * H5Dwrite_chunk
 * in a dataset declaring HDF5's own shuffle + deflate + Fletcher32 filters, and HDF5
 * must read the original values back (its Fletcher32 check and inflate run on read).
 * The column encoder, which runs lode__chunk_encode on a thread of its own, must give
 * the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "bundle.h"
#include "chunk_codec.h"
#include "error.h"

/* pattern 0: the top byte of each value smooth, the others random; 1: all random. */
static void compare_with_hdf5(hid_t mtype, size_t esize, hsize_t rows, hsize_t cols, unsigned seed,
			      int pattern)
{
	char path[] = "/tmp/lode-codec-XXXXXX";
	int fd = mkstemp(path);
	size_t n = (size_t)(rows * cols), nbytes = n * esize, len = 0;
	unsigned char *data = malloc(nbytes), *back = calloc(1, nbytes), *mine = NULL;
	hsize_t dims[2] = {rows, cols}, off[2] = {0, 0};
	hid_t f, s, p, d;
	lode_error err = {0};

	assert_true(fd >= 0);
	close(fd);
	/* Smooth values with noise, like a survey grid, so that deflate has work to do. */
	srand(seed);
	for (size_t i = 0; i < nbytes; i++)
		data[i] = (unsigned char)((pattern == 0 && i % esize == esize - 1) ? (i / 97) & 0xff
										   : rand() & 0xff);
	assert_int_equal(
	    lode__chunk_encode(data, nbytes, esize, lode__bundle_deflate_level(), &mine, &len, &err),
	    LODE_OK);
	assert_true(len > 4);
	/* Planes of 32768 bytes or more that deflate cannot shrink go in stored blocks: the
	   first block's header byte (after the 2-byte zlib header) is then 0 (not final,
	   stored); with everything random the chunk is its bytes plus the framing. */
	if (n >= 32768 && esize > 1)
		assert_int_equal(mine[2], 0x00);
	if (pattern == 1 && n >= 32768 && esize > 1)
		assert_true(len <= 2 + nbytes + 5 * (nbytes / 65535 + 2) + 4 + 4);

	f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	s = H5Screate_simple(2, dims, NULL);
	p = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(p, 2, dims);
	H5Pset_shuffle(p);
	H5Pset_deflate(p, (unsigned)lode__bundle_deflate_level());
	H5Pset_fletcher32(p);
	d = H5Dcreate2(f, "v", mtype, s, H5P_DEFAULT, p, H5P_DEFAULT);
	assert_true(d >= 0);
	assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, len, mine) >= 0);
	H5Dclose(d);
	H5Fclose(f);

	/* A fresh open: everything comes from the file. */
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	d = H5Dopen2(f, "v", H5P_DEFAULT);
	assert_true(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
	assert_memory_equal(back, data, nbytes);

	/* One flipped byte in the stored chunk must make HDF5 refuse it (Fletcher32). */
	mine[len / 2] ^= 0x10;
	H5Dclose(d);
	H5Fclose(f);
	f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	d = H5Dopen2(f, "v", H5P_DEFAULT);
	assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, len, mine) >= 0);
	assert_true(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) < 0);

	H5Dclose(d);
	H5Pclose(p);
	H5Sclose(s);
	H5Fclose(f);
	unlink(path);
	free(data);
	free(back);
	free(mine);
}

static void float32_chunk(void **state)
{
	(void)state;
	compare_with_hdf5(H5T_NATIVE_FLOAT, 4, 64, 64, 1, 0);
}

static void int16_chunk(void **state)
{
	(void)state;
	compare_with_hdf5(H5T_NATIVE_INT16, 2, 7, 5, 2, 0);
}

static void odd_byte_chunk(void **state)
{
	/* 35 bytes: Fletcher32's odd tail; element size 1: shuffle is a copy. */
	(void)state;
	compare_with_hdf5(H5T_NATIVE_UINT8, 1, 7, 5, 3, 0);
}

static void float64_large_chunk(void **state)
{
	/* More than 360 words: Fletcher32's folding. */
	(void)state;
	compare_with_hdf5(H5T_NATIVE_DOUBLE, 8, 300, 257, 4, 0);
}

static void random_float64_chunk(void **state)
{
	/* Every plane random: all stored, the stream ended by an empty final stored block. */
	(void)state;
	compare_with_hdf5(H5T_NATIVE_DOUBLE, 8, 256, 256, 5, 1);
}

static void random_float32_chunk_odd_size(void **state)
{
	/* 4 x 40001 + 0 bytes, planes not a multiple of the 65535-byte stored block. */
	(void)state;
	compare_with_hdf5(H5T_NATIVE_FLOAT, 4, 1, 40001, 6, 1);
}

/*
 * The column encoder gives, chunk for chunk, the bytes lode__chunk_encode gives: two
 * columns put alternately, more chunks than its backlog (so put encodes some itself),
 * the values changed in the caller's array after each put (put must have copied them).
 */
static void column_encoder_same_bytes(void **state)
{
	enum { CHUNK = 1000, NCHUNKS = 40 };
	double *x = malloc(CHUNK * NCHUNKS * sizeof *x), *y = malloc(CHUNK * NCHUNKS * sizeof *y);
	double scratch[CHUNK];
	lode__colenc *e = NULL;
	lode_error err = {0};
	int level = lode__bundle_deflate_level();

	(void)state;
	assert_non_null(x);
	assert_non_null(y);
	for (size_t i = 0; i < CHUNK * NCHUNKS; i++) {
		x[i] = 100.0 + (double)i * 1e-4 + (double)(rand() % 1000) * 1e-9;
		y[i] = 5.0 - (double)i * 1e-4;
	}
	assert_int_equal(lode__colenc_new(2, sizeof(double), CHUNK, level, 1, &e, &err), LODE_OK);
	assert_int_equal(lode__colenc_chunk(e), CHUNK);
	for (size_t c = 0; c < NCHUNKS; c++) {
		memcpy(scratch, x + c * CHUNK, sizeof scratch);
		assert_int_equal(lode__colenc_put(e, 0, scratch, &err), LODE_OK);
		memset(scratch, 0xab, sizeof scratch);
		assert_int_equal(lode__colenc_put(e, 1, y + c * CHUNK, &err), LODE_OK);
	}
	assert_int_not_equal(lode__colenc_put(e, 2, x, &err), LODE_OK); /* no such column */
	assert_int_equal(lode__colenc_finish(e, &err), LODE_OK);
	for (int col = 0; col < 2; col++) {
		assert_int_equal(lode__colenc_count(e, col), NCHUNKS);
		for (size_t c = 0; c < NCHUNKS; c++) {
			const double *src = (col ? y : x) + c * CHUNK;
			unsigned char *want = NULL, *got;
			size_t want_len = 0, got_len = 0;
			assert_int_equal(lode__chunk_encode(src, CHUNK * sizeof(double), sizeof(double),
							    level, &want, &want_len, &err),
					 LODE_OK);
			got = lode__colenc_take(e, col, c, &got_len);
			assert_non_null(got);
			assert_int_equal(got_len, want_len);
			assert_memory_equal(got, want, want_len);
			assert_null(lode__colenc_take(e, col, c, &got_len)); /* taken once */
			free(want);
			free(got);
		}
	}
	lode__colenc_free(e);
	free(x);
	free(y);
}

/* Freed unfinished (a read that failed half way): no leak, no hang (ASan checks). */
static void column_encoder_freed_unfinished(void **state)
{
	enum { CHUNK = 4096 };
	double *v = calloc(CHUNK, sizeof *v);
	lode__colenc *e = NULL;
	lode_error err = {0};

	(void)state;
	assert_non_null(v);
	assert_int_equal(
	    lode__colenc_new(1, sizeof(double), CHUNK, lode__bundle_deflate_level(), 1, &e, &err), LODE_OK);
	for (int c = 0; c < 30; c++)
		assert_int_equal(lode__colenc_put(e, 0, v, &err), LODE_OK);
	lode__colenc_free(e);
	lode__colenc_free(NULL);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(float32_chunk),
	    cmocka_unit_test(int16_chunk),
	    cmocka_unit_test(odd_byte_chunk),
	    cmocka_unit_test(float64_large_chunk),
	    cmocka_unit_test(random_float64_chunk),
	    cmocka_unit_test(random_float32_chunk_odd_size),
	    cmocka_unit_test(column_encoder_same_bytes),
	    cmocka_unit_test(column_encoder_freed_unfinished),
	};
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
