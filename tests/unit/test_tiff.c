/*
 * test_tiff.c -- lode__tiff_blocks (formats/tiff_blocks.c), lode's own decoding of a
 * Float32 GeoTIFF's DEFLATE blocks with the floating-point predictor, for its warp
 * kernels, against GDAL's reading of the same file.
 *
 * GeoTIFFs are written by GDAL here, 203 x 157 pixels (so that the last column and row of
 * blocks are partial), of Float32 values with NaNs (a payload too), infinities, -0 and
 * subnormals, PREDICTOR=3, for every layout (tiles of 64 x 32, strips of 7 rows whose
 * last holds 3), one band or three stored band by band or pixel by pixel, and byte order
 * (ENDIANNESS=LITTLE and BIG).  Windows read by lode, in the band orders a manifest may
 * give, must be byte for byte what GDALDatasetRasterIO gives, with a cache of two blocks
 * (every block decoded again and again) and of many.  Files lode leaves to GDAL are
 * refused (LZW, the horizontal predictor, Int16 values, /vsimem/, a cache of one block,
 * LODE_TIFF_DECODE=gdal); a block whose stream is damaged, or that a sparse file lacks,
 * sends the windows that need it to GDAL (-1) while the others are still lode's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>

#include "tiff_blocks.h"

#define W 203
#define H 157

static char dir[64];

typedef struct spec {
	GDALDataType type;
	int predictor, tiled, nbands, pixel, big;
} spec;

/* A smooth field plus noise (so that the predictors matter), and for Float32 the values
   whose bits must survive: NaN with a payload, infinities, -0, subnormals. */
static void fill(GDALDataType type, void *buf, size_t n, unsigned seed)
{
	uint32_t r = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		double v = 300.0 * (double)(i % W) / W + 200.0 * (double)(i / W % H) / H;
		r = r * 1664525u + 1013904223u;
		v += (double)(r >> 24) / 16.0;
		switch (type) {
		case GDT_Byte: ((uint8_t *)buf)[i] = (uint8_t)((int)v & 255); break;
		case GDT_Int16: ((int16_t *)buf)[i] = (int16_t)(v * 60.0 - 16000.0); break;
		case GDT_UInt16: ((uint16_t *)buf)[i] = (uint16_t)(v * 120.0); break;
		default: {
			float f = (float)(v * 137.25 - 21000.0);
			uint32_t bits;
			if (i % 997 == 3)
				bits = 0x7fc01234u; /* NaN with a payload */
			else if (i % 991 == 5)
				bits = i % 2 ? 0x7f800000u : 0xff800000u;
			else if (i % 983 == 7)
				bits = 0x80000000u; /* -0 */
			else if (i % 977 == 11)
				bits = 0x00000123u; /* subnormal */
			else
				memcpy(&bits, &f, 4);
			memcpy((unsigned char *)buf + 4 * i, &bits, 4);
		}
		}
	}
}

static char *make_tiff(const spec *s, const char *extra, int sparse)
{
	static int serial;
	char *path = malloc(128), **co = NULL, v[32];
	size_t esize = (size_t)GDALGetDataTypeSizeBytes(s->type), n = (size_t)W * H * (size_t)s->nbands;
	void *buf = malloc(n * esize);
	GDALDatasetH ds;

	assert_non_null(path);
	assert_non_null(buf);
	snprintf(path, 128, "%s/t%d.tif", dir, serial++);
	co = CSLSetNameValue(co, "COMPRESS", extra && strcmp(extra, "LZW") == 0 ? "LZW" : "DEFLATE");
	snprintf(v, sizeof v, "%d", s->predictor);
	co = CSLSetNameValue(co, "PREDICTOR", v);
	co = CSLSetNameValue(co, "INTERLEAVE", s->pixel ? "PIXEL" : "BAND");
	co = CSLSetNameValue(co, "ENDIANNESS", s->big ? "BIG" : "LITTLE");
	if (s->tiled) {
		co = CSLSetNameValue(co, "TILED", "YES");
		co = CSLSetNameValue(co, "BLOCKXSIZE", "64");
		co = CSLSetNameValue(co, "BLOCKYSIZE", "32");
	} else {
		co = CSLSetNameValue(co, "BLOCKYSIZE", "7");
	}
	if (sparse)
		co = CSLSetNameValue(co, "SPARSE_OK", "TRUE");
	ds = GDALCreate(GDALGetDriverByName("GTiff"), path, W, H, s->nbands, s->type, co);
	assert_non_null(ds);
	fill(s->type, buf, n, (unsigned)serial);
	if (sparse) /* the top left 64 x 32 stays unwritten: that block is not in the file */
		assert_int_equal(GDALDatasetRasterIO(ds, GF_Write, 0, 32, W, H - 32,
						     (unsigned char *)buf + (size_t)W * 32 * esize, W, H - 32,
						     s->type, s->nbands, NULL, 0, 0, 0),
				 CE_None);
	else
		assert_int_equal(GDALDatasetRasterIO(ds, GF_Write, 0, 0, W, H, buf, W, H, s->type, s->nbands,
						     NULL, 0, 0, 0),
				 CE_None);
	GDALClose(ds);
	CSLDestroy(co);
	free(buf);
	return path;
}

/* Window (x, y, w, h) of bands read by lode and by GDAL as Float32: equal bytes. */
static void same_window(lode__tiff_blocks *t, GDALDatasetH ds, const int *bands, int nb, int x, int y, int w,
			int h)
{
	size_t n = (size_t)w * (size_t)h * (size_t)nb;
	float *a = malloc(n * 4), *b = malloc(n * 4);

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 0xA5, n * 4);
	assert_int_equal(lode__tiff_blocks_read(t, x, y, w, h, a), 0);
	assert_int_equal(
	    GDALDatasetRasterIO(ds, GF_Read, x, y, w, h, b, w, h, GDT_Float32, nb, (int *)bands, 0, 0, 0),
	    CE_None);
	if (memcmp(a, b, n * 4) != 0)
		fail_msg("window %d,%d %dx%d of %d band(s) differs from GDAL's", x, y, w, h, nb);
	free(a);
	free(b);
}

static void windows_of(const spec *s, size_t cache)
{
	char *path = make_tiff(s, NULL, 0);
	GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
	static const int orders[3][3] = {{1, 2, 3}, {3, 1, 2}, {2, 2, 3}};
	static const int wins[][4] = {{0, 0, W, H},     {0, 0, 1, 1},     {W - 1, H - 1, 1, 1},
				      {63, 31, 2, 2},   {5, 150, 198, 7}, {190, 0, 13, 157},
				      {64, 32, 64, 32}, {17, 40, 120, 90}};

	assert_non_null(ds);
	for (int o = 0; o < (s->nbands == 1 ? 1 : 3); o++) {
		int nb = s->nbands == 1 ? 1 : (o == 2 ? 2 : 3);
		const int *bands = s->nbands == 1 ? orders[0] : orders[o];
		lode__tiff_blocks *t = lode__tiff_blocks_new(ds, bands, nb, cache);
		if (!t)
			fail_msg("lode does not decode %s (type %s, predictor %d, %s, %d band(s), %s, %s)",
				 path, GDALGetDataTypeName(s->type), s->predictor,
				 s->tiled ? "tiled" : "strips", s->nbands, s->pixel ? "pixel" : "band",
				 s->big ? "big-endian" : "little-endian");
		for (size_t k = 0; k < sizeof wins / sizeof *wins; k++)
			same_window(t, ds, bands, nb, wins[k][0], wins[k][1], wins[k][2], wins[k][3]);
		lode__tiff_blocks_free(t);
	}
	GDALClose(ds);
	unlink(path);
	free(path);
}

static void blocks_decode_as_gdal_reads_them(void **state)
{
	int cases = 0;

	(void)state;
	for (int tiled = 0; tiled < 2; tiled++)
		for (int layout = 0; layout < 3; layout++)
			for (int big = 0; big < 2; big++) {
				spec s = {GDT_Float32, 3, tiled, layout ? 3 : 1, layout == 2, big};
				windows_of(&s, (size_t)1 << 20);
				cases++;
			}
	assert_int_equal(cases, 12);
}

static void a_cache_of_two_blocks_decodes_again(void **state)
{
	spec f = {GDT_Float32, 3, 1, 3, 1, 0}, g = {GDT_Float32, 3, 0, 3, 0, 1};

	(void)state;
	/* two blocks, and room for the tables of the blocks (5 bytes each, 69 at most) */
	windows_of(&f, 2 * 64 * 32 * 4 * 3 + 400);
	windows_of(&g, 2 * W * 7 * 4 + 400);
}

static void other_files_are_left_to_gdal(void **state)
{
	spec f = {GDT_Float32, 3, 1, 1, 0, 0}, h = {GDT_Float32, 2, 1, 1, 0, 0},
	     i = {GDT_Int16, 2, 1, 1, 0, 0};
	int one = 1;
	char *path[4] = {make_tiff(&f, "LZW", 0), make_tiff(&h, NULL, 0), make_tiff(&i, NULL, 0),
			 make_tiff(&f, NULL, 0)};
	GDALDatasetH ds[4], m;
	lode__tiff_blocks *t;

	(void)state;
	for (int k = 0; k < 4; k++)
		assert_non_null(ds[k] = GDALOpen(path[k], GA_ReadOnly));
	for (int k = 0; k < 3; k++)
		assert_null(lode__tiff_blocks_new(ds[k], &one, 1, 1 << 20));
	/* a cache too small to hold two blocks is GDAL's job too */
	assert_null(lode__tiff_blocks_new(ds[3], &one, 1, 64 * 32 * 4));
	setenv("LODE_TIFF_DECODE", "gdal", 1);
	assert_null(lode__tiff_blocks_new(ds[3], &one, 1, 1 << 20));
	unsetenv("LODE_TIFF_DECODE");
	assert_non_null(t = lode__tiff_blocks_new(ds[3], &one, 1, 1 << 20));
	lode__tiff_blocks_free(t);
	/* the same file through /vsimem/ */
	m = GDALCreateCopy(GDALGetDriverByName("GTiff"), "/vsimem/copy.tif", ds[3], FALSE, NULL, NULL, NULL);
	assert_non_null(m);
	assert_null(lode__tiff_blocks_new(m, &one, 1, 1 << 20));
	GDALClose(m);
	VSIUnlink("/vsimem/copy.tif");
	/* another file renamed onto the name after GDAL opened it: lode would read the other
	   file at GDAL's offsets, so GDAL reads */
	{
		char *other = make_tiff(&f, NULL, 0);
		assert_int_equal(rename(other, path[3]), 0);
		free(other);
		assert_null(lode__tiff_blocks_new(ds[3], &one, 1, 1 << 20));
	}
	for (int k = 0; k < 4; k++) {
		GDALClose(ds[k]);
		unlink(path[k]);
		free(path[k]);
	}
}

static void damaged_and_missing_blocks_go_to_gdal(void **state)
{
	spec s = {GDT_Float32, 3, 1, 1, 0, 0};
	char *path = make_tiff(&s, NULL, 0), *sparse = make_tiff(&s, NULL, 1);
	int one = 1;
	float win[64 * 32];
	GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
	unsigned long long off, size;
	lode__tiff_blocks *t;
	FILE *f;

	(void)state;
	assert_non_null(ds);
	off = strtoull(GDALGetMetadataItem(GDALGetRasterBand(ds, 1), "BLOCK_OFFSET_1_1", "TIFF"), NULL, 10);
	size = strtoull(GDALGetMetadataItem(GDALGetRasterBand(ds, 1), "BLOCK_SIZE_1_1", "TIFF"), NULL, 10);
	GDALClose(ds);
	assert_true(off > 0 && size > 64);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fseek(f, (long)(off + size / 2), SEEK_SET), 0);
	for (int i = 0; i < 16; i++)
		fputc(0xFF, f);
	assert_int_equal(fclose(f), 0);

	ds = GDALOpen(path, GA_ReadOnly);
	assert_non_null(t = lode__tiff_blocks_new(ds, &one, 1, 1 << 20));
	same_window(t, ds, &one, 1, 0, 0, 64, 32); /* block (0, 0) */
	assert_int_equal(lode__tiff_blocks_read(t, 64, 32, 64, 32, win), -1);
	assert_int_equal(lode__tiff_blocks_read(t, 60, 30, 10, 10, win), -1);
	same_window(t, ds, &one, 1, 128, 64, 64, 32);
	/* What GDAL, to which those windows go, makes of the damage is as before lode read
	   blocks itself: libtiff may even read such a stream without an error. */
	lode__tiff_blocks_free(t);
	GDALClose(ds);

	ds = GDALOpen(sparse, GA_ReadOnly);
	assert_null(GDALGetMetadataItem(GDALGetRasterBand(ds, 1), "BLOCK_OFFSET_0_0", "TIFF"));
	assert_non_null(t = lode__tiff_blocks_new(ds, &one, 1, 1 << 20));
	assert_int_equal(lode__tiff_blocks_read(t, 0, 0, 10, 10, win), -1);
	same_window(t, ds, &one, 1, 64, 32, 100, 100);
	/* windows partly out of the raster are GDAL's to refuse */
	assert_int_equal(lode__tiff_blocks_read(t, W - 5, 40, 10, 10, win), -1);
	lode__tiff_blocks_free(t);
	GDALClose(ds);
	unlink(path);
	unlink(sparse);
	free(path);
	free(sparse);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(blocks_decode_as_gdal_reads_them),
	    cmocka_unit_test(a_cache_of_two_blocks_decodes_again),
	    cmocka_unit_test(other_files_are_left_to_gdal),
	    cmocka_unit_test(damaged_and_missing_blocks_go_to_gdal),
	};
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(dir, sizeof dir, "%s/lode-tiff-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	GDALAllRegister();
	GDALSetCacheMax64(1 << 20);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
