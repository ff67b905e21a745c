/*
 * tiff_blocks.h -- PRIVATE to formats/: a Float32 GeoTIFF source's DEFLATE blocks with the
 * floating-point predictor decoded by lode (libdeflate, the predictor undone by lode's
 * own code) for lode's warp kernels, instead of through GDAL and libtiff, which undoes
 * that predictor a byte at a time through memory (a quarter of the CPU of warping a
 * Float32 grid; docs/performance.md).  The values are GDAL's, bit for bit: anything lode
 * does not decode exactly as GDAL would is left to GDAL.
 */
#ifndef LODE_TIFF_BLOCKS_H
#define LODE_TIFF_BLOCKS_H

#include <stddef.h>

#include <gdal.h>

typedef struct lode__tiff_blocks lode__tiff_blocks;

/*
 * The reader of bands (1-based, n of them) of ds, keeping at most cache bytes of
 * decoded blocks and its tables of them; NULL when GDAL reads this source (not a GeoTIFF
 * file of Float32 values in DEFLATE blocks, tiled or in strips, with the floating-point
 * predictor, stored band by band or pixel by pixel; the environment's
 * LODE_TIFF_DECODE=gdal; a cache of fewer than two blocks, or tables of its blocks over a
 * quarter of it; out of memory).  The caller keeps ds open while the reader lives and
 * uses both from one thread.
 */
lode__tiff_blocks *lode__tiff_blocks_new(GDALDatasetH ds, const int *bands, int n, size_t cache);

/*
 * The window of pixels x .. x + w - 1, rows y .. y + h - 1 of every band of the reader,
 * band after band (w x h values each, row by row), as GDALDatasetRasterIO gives it in
 * Float32.  0; -1 when a block of it is not one lode
 * decodes exactly as GDAL does (missing, damaged, another size, out of memory): then the
 * caller reads the window through GDAL, which repairs or reports it as it always has.
 * The first block decoded is compared with GDAL's reading of it; when they differ, every
 * later call returns -1.
 */
int lode__tiff_blocks_read(lode__tiff_blocks *t, int x, int y, int w, int h, float *buf);

/* Blocks decoded by lode, and windows left to GDAL, by every reader of this process so
   far (LODE_PROFILE). */
void lode__tiff_blocks_counts(long *decoded, long *to_gdal);

void lode__tiff_blocks_free(lode__tiff_blocks *t);

#endif /* LODE_TIFF_BLOCKS_H */
