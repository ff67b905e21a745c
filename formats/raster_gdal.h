/*
 * raster_gdal.h -- PRIVATE to liblode (formats/raster_gdal.c, GDAL): opening a source
 * raster, warping windows of the target grid from it, writing GeoTIFFs for extract.
 * Geotransforms are GDAL's six numbers; CRSs are WKT2:2019 text.
 */
#ifndef LODE_RASTER_GDAL_H
#define LODE_RASTER_GDAL_H

#include <stddef.h>
#include "dtype.h"
#include "error.h"
#include "source_files.h"
#include "warp_params.h"

typedef struct lode__raster lode__raster;

typedef struct lode_band_info {
	lode_dtype dtype;
	int has_nodata;
	double nodata;
	char *description; /* may be "" */
	char *unit;        /* may be "" */
	char *legend;      /* JSON object text (raster_legend.h), or NULL when it has none */
} lode_band_info;

typedef struct lode_raster_info {
	char *driver;
	int width, height, nbands;
	int has_geotransform;
	double gt[6];
	char *crs_wkt; /* WKT2:2019 or NULL when the source has no CRS */
	lode_band_info *bands;
	lode_source_files files; /* every file it reads, the source first (source_files.h) */
} lode_raster_info;

void lode__gdal_init(void);
const char *lode__gdal_version(void); /* "3.6.2" */
/*
 * open_options: GDAL open options (NULL-terminated) or NULL.  The source and every file
 * it names are checked under rules before GDAL opens it, and GDAL's list of its files
 * after (source_files.h); a refusal names the source and the file.
 */
lode_status lode__raster_open(const char *path, const char *const *open_options,
			      const lode_source_rules *rules, lode__raster **out, lode_error *err);
const lode_raster_info *lode__raster_info(const lode__raster *r);
/* Let the sources this thread opens from now on decode the blocks of one read on n
   threads (GDAL_NUM_THREADS for this thread) when r, the same source opened already, is
   a one-band GeoTIFF (GDAL 3.6's multi-threaded reading can crash on files of several
   bands) and the user did not set GDAL_NUM_THREADS.  Returns n when so, else 0.  The
   pixels are the same.  n <= 1 (r may be NULL) undoes it. */
int lode__raster_decode_threads(const lode__raster *r, int n);
void lode__raster_close(lode__raster *r);
/* Every file GDAL lists for the opened source r (GDALGetFileList: the file, its side
   cars, a VRT's sources), each given to visit; stops at and returns visit's first
   non-zero result, else 0. */
int lode__raster_files(const lode__raster *r, int (*visit)(const char *path, void *arg), void *arg);

typedef struct lode__warper lode__warper;
lode_status lode__warper_new(lode__raster *src, const lode_warp_params *p, lode__warper **out,
			     lode_error *err);
/* Warp a window of the target grid into buf: nbands planes of w*h values of p->dtype. */
lode_status lode__warper_window(lode__warper *w, int x0, int y0, int nx, int ny, void *buf, lode_error *err);
void lode__warper_free(lode__warper *w);
/* Let w's window offer its chunks' rows to idle threads through s (NULL: never); an
   idle thread helps with lode__warper_help on its own warper of the same raster, which
   returns the rows it computed.  The pixels are the same whoever computes them
   (warp_params.h). */
void lode__warper_share(lode__warper *w, const lode__warp_share *s);
int lode__warper_help(lode__warper *w, lode__row_job *job);
/* Chunk rows computed by helping threads in this process so far (LODE_PROFILE). */
long lode__warp_rows_shared(void);
/* Let lode's kernel decode the source's GeoTIFF blocks itself (formats/tiff_blocks.h),
   keeping at most bytes of them: 1 when it will, 0 when GDAL reads them. */
int lode__warper_source_cache(lode__warper *w, size_t bytes);
/* Source blocks decoded by lode (formats/tiff_blocks.c) and windows it left to GDAL, in
   this process so far (LODE_PROFILE). */
void lode__source_block_counts(long *decoded, long *to_gdal);
/* GDAL's block cache limit, in bytes (the process's, GDALSetCacheMax64). */
size_t lode__gdal_cache_max(void);
void lode__gdal_set_cache_max(size_t bytes);
/* The n warpers of one raster (same parameters, each with its own dataset): when the
   resampling is mode on 16-bit values, let GDAL's warper count them as bytes (every
   value fits) or floats (a target pixel covers at most 48 source pixels): the same
   pixels, without clearing 65,536 bins per pixel.  Reads every block of the bands
   once, through ws[0]'s dataset. */
lode_status lode__warper_mode_type(lode__warper **ws, int n, lode_error *err);
/* With a memory bound (bytes, 0: none), GDAL's block cache gets a quarter of it, at
   most the usual 48 MB, unless the environment sets GDAL_CACHEMAX.  Returns the cache
   size in bytes. */
size_t lode__gdal_bound_cache(size_t max_memory);
/* Windows warped so far in this process by lode's bilinear kernel and by GDAL's warper. */
void lode__warp_counts(long *fast, long *gdal);
/* Of GDAL's windows, those warped with mode on bytes and on floats (lode__warper_mode_type). */
void lode__warp_mode_counts(long *bytes, long *floats);
/* Windows warped by lode's own average kernel (formats/warp_average.c) so far. */
long lode__warp_average_count(void);
/* Windows warped by lode's own cubic kernel (formats/warp_cubic.c) so far. */
long lode__warp_cubic_count(void);
/* Windows warped by lode's own cubicspline kernel (formats/warp_cubic.c) so far. */
long lode__warp_spline_count(void);
/* Windows warped by lode's own lanczos kernel (formats/warp_cubic.c) so far. */
long lode__warp_lanczos_count(void);
/* Windows warped by lode's own rms, min, max, med, q1 and q3 kernel (formats/warp_stats.c). */
long lode__warp_stats_count(void);
/* Windows warped by lode's own nearest kernel (formats/warp_bilinear.c) so far. */
long lode__warp_nearest_count(void);
/* Windows warped by lode's own sum kernel (formats/warp_sum.c) so far. */
long lode__warp_sum_count(void);
/* Windows warped by lode's own mode kernel (formats/warp_stats.c) so far: all, and of
   those on 16-bit values, counted as bytes and as floats (as GDAL's would be). */
void lode__warp_mode_kernel_counts(long *all, long *bytes, long *floats);

/* GeoTIFF writing for extract. */
typedef struct lode__gtiff lode__gtiff;
typedef struct lode_gtiff_params {
	int width, height, nbands;
	lode_dtype dtype;
	double gt[6];
	const char *crs_wkt;
	int has_nodata;
	double nodata;
	const char *const *band_names;   /* nbands entries (NULL or "" for none), or NULL */
	const char *const *band_units;   /* likewise */
	const char *const *band_legends; /* nbands legends (JSON text, NULL: none), or NULL */
	const char *const *metadata;     /* NULL-terminated KEY=VALUE list, may be NULL */
	int threads; /* GDAL's threads compressing tiles (NUM_THREADS; the same bytes); 0, 1: none */
} lode_gtiff_params;
lode_status lode__gtiff_create(const char *path, const lode_gtiff_params *p, lode__gtiff **out,
			       lode_error *err);
/* Write rows [y0, y0+ny) of band b (1-based) from buf (width*ny values). */
lode_status lode__gtiff_write(lode__gtiff *g, int band, int y0, int ny, const void *buf, lode_error *err);
lode_status lode__gtiff_close(lode__gtiff *g, lode_error *err); /* flushes; NULL ok */

#endif /* LODE_RASTER_GDAL_H */
