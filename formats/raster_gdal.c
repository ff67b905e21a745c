/*
 * raster_gdal.c -- rasters through GDAL: opening a source and describing it, warping
 * windows of the target grid with GDAL's warper (GeoTIFFs for extract: raster_gtiff.c).
 *
 * Warping matches gdalwarp: the same GenImgProj transformer (with the chosen PROJ
 * pipeline pinned through COORDINATE_OPERATION), the same approximate transformer when
 * error_threshold > 0, the same nodata rules and INIT_DEST=NO_DATA.  Each window is
 * warped into a small in-memory dataset through a transformer wrapper that adds the
 * window's offset to pixel coordinates, so every target pixel is transformed from
 * exactly the coordinates gdalwarp uses for it; with error_threshold 0 the pixels are
 * identical to gdalwarp's whatever the window layout.  Memory per window is bounded by
 * the window size, never by the raster's.  A window where some points do not transform
 * (a geostationary image's limb) is sampled at every pixel corner to find its source
 * window, and every window starts as nodata (see window_has_failures).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <gdalwarper.h>
#include <ogr_srs_api.h>

#include "gdal_util.h"
#include "dtype.h"
#include "error.h"
#include "raster_gdal.h"
#include "raster_legend.h"
#include "source_files.h"
#include "util.h"
#include "tiff_blocks.h"
#include "warp_bilinear.h"

void lode__gdal_init(void)
{
	/* GDAL's block cache defaults to 5% of RAM; a bounded cache keeps memory flat on
	   large rasters.  The tiler's workers sweep fixed column ranges (tiles.c), so a
	   source block is needed again by the window beside it and by the window below, one
	   strip later.  48 MB holds a strip's blocks of the 12000 x 12000 benchmark grid:
	   each source block was decoded 1.1 times on average there (1.5 times with 32 MB,
	   1.6 with 16 MB), and the peak RSS fell 14 MB from 64 MB's.  An explicit
	   GDAL_CACHEMAX from the user wins. */
	if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
		CPLSetConfigOption("GDAL_CACHEMAX", "48");
	GDALAllRegister();
}

size_t lode__gdal_bound_cache(size_t max_memory)
{
	const GIntBig usual = 48 * 1024 * 1024;

	if (max_memory && !getenv("GDAL_CACHEMAX"))
		GDALSetCacheMax64((GIntBig)max_memory / 4 < usual ? (GIntBig)max_memory / 4 : usual);
	return (size_t)GDALGetCacheMax64();
}

const char *lode__gdal_version(void)
{
	return GDALVersionInfo("RELEASE_NAME");
}

/* ---- types ---- */

static lode_dtype from_gdal(GDALRasterBandH b)
{
	switch (GDALGetRasterDataType(b)) {
	case GDT_Byte: {
		const char *pt = GDALGetMetadataItem(b, "PIXELTYPE", "IMAGE_STRUCTURE");
		return pt && strcmp(pt, "SIGNEDBYTE") == 0 ? LODE_DT_I8 : LODE_DT_U8;
	}
	case GDT_UInt16: return LODE_DT_U16;
	case GDT_Int16: return LODE_DT_I16;
	case GDT_UInt32: return LODE_DT_U32;
	case GDT_Int32: return LODE_DT_I32;
	case GDT_UInt64: return LODE_DT_U64;
	case GDT_Int64: return LODE_DT_I64;
	case GDT_Float32: return LODE_DT_F32;
	case GDT_Float64: return LODE_DT_F64;
	default: return LODE_DT_UNKNOWN;
	}
}

/* ---- sources ---- */

struct lode__raster {
	GDALDatasetH ds;
	lode_raster_info info;
};

int lode__raster_decode_threads(const lode__raster *r, int n)
{
	const char *il;
	char v[16];

	if (n <= 1 || !r) {
		CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", NULL);
		return 0;
	}
	/* GDAL 3.6.2's multi-threaded GeoTIFF reading corrupts memory on a file stored band
	   by band (PlanarConfiguration=Separate) with extra samples, and fails reading such a
	   file band per band (GDAL issue 7921, rasterio issue 2847; fixed in 3.7.1): one-band
	   files and files of several bands stored pixel by pixel (INTERLEAVE=PIXEL) only.
	   The user's GDAL_NUM_THREADS (ours is undone after each use) is left alone. */
	il = GDALGetMetadataItem(r->ds, "INTERLEAVE", "IMAGE_STRUCTURE");
	if (strcmp(GDALGetDriverShortName(GDALGetDatasetDriver(r->ds)), "GTiff") != 0 ||
	    (GDALGetRasterCount(r->ds) != 1 && !(il && strcmp(il, "PIXEL") == 0)) ||
	    CPLGetConfigOption("GDAL_NUM_THREADS", NULL))
		return 0;
	snprintf(v, sizeof v, "%d", n);
	CPLSetThreadLocalConfigOption("GDAL_NUM_THREADS", v);
	return n;
}

lode_status lode__raster_open(const char *path, const char *const *open_options,
			      const lode_source_rules *rules, lode__raster **out, lode_error *err)
{
	lode__raster *r = NULL;
	lode__source_check *check = NULL;
	lode__cpl_capture cap;
	OGRSpatialReferenceH srs;
	char **files;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__cpl_push(&cap);
	r = calloc(1, sizeof *r);
	if (!r) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	/* Nothing GDAL could block on or must not read, before it opens anything. */
	if ((rc = lode__source_check_begin(path, rules, &check, err)))
		goto out;
	r->ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL,
			   open_options, NULL);
	if (!r->ds) {
		rc = lode__err(err, LODE_ESOURCE, "%s: GDAL cannot open it as a raster: %s", path,
			       lode__cpl_msg(&cap, "not a recognised raster format"));
		goto out;
	}
	/* Every file it will read, as GDAL lists them, before a pixel is read. */
	files = GDALGetFileList(r->ds);
	rc = lode__source_check_end(check, files, &r->info.files, err);
	CSLDestroy(files);
	if (rc)
		goto out;
	r->info.driver = lode__strdup(GDALGetDriverShortName(GDALGetDatasetDriver(r->ds)));
	r->info.width = GDALGetRasterXSize(r->ds);
	r->info.height = GDALGetRasterYSize(r->ds);
	r->info.nbands = GDALGetRasterCount(r->ds);
	if (r->info.nbands < 1 || r->info.width < 1 || r->info.height < 1) {
		rc = lode__err(err, LODE_ESOURCE, "%s: the raster has no bands or no pixels", path);
		goto out;
	}
	r->info.has_geotransform = GDALGetGeoTransform(r->ds, r->info.gt) == CE_None;
	srs = GDALGetSpatialRef(r->ds);
	if (srs) {
		const char *opts[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
		char *wkt = NULL;
		if (OSRExportToWktEx(srs, &wkt, opts) == OGRERR_NONE && wkt)
			r->info.crs_wkt = lode__strdup(wkt);
		CPLFree(wkt);
	}
	r->info.bands = calloc((size_t)r->info.nbands, sizeof *r->info.bands);
	if (!r->info.bands) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < r->info.nbands; i++) {
		GDALRasterBandH b = GDALGetRasterBand(r->ds, i + 1);
		lode_band_info *bi = &r->info.bands[i];
		const char *unit = GDALGetRasterUnitType(b);

		bi->dtype = from_gdal(b);
		bi->nodata = GDALGetRasterNoDataValue(b, &bi->has_nodata);
		bi->description = lode__strdup(GDALGetDescription(b));
		bi->unit = lode__strdup(unit ? unit : "");
		if ((rc = lode__legend_capture(b, &bi->legend, err))) {
			lode__err_ctx(err, "%s: band %d: ", path, i + 1);
			goto out;
		}
		if (!bi->description || !bi->unit) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = r;
	r = NULL;
out:
	lode__source_check_free(check);
	lode__raster_close(r);
	lode__cpl_pop();
	return rc;
}

const lode_raster_info *lode__raster_info(const lode__raster *r)
{
	return &r->info;
}

int lode__raster_files(const lode__raster *r, int (*visit)(const char *path, void *arg), void *arg)
{
	char **files = GDALGetFileList(r->ds);
	int stop = 0;

	for (int i = 0; files && files[i] && !stop; i++)
		stop = visit(files[i], arg);
	CSLDestroy(files);
	return stop;
}

void lode__raster_close(lode__raster *r)
{
	if (!r)
		return;
	if (r->ds)
		GDALClose(r->ds);
	if (r->info.bands) {
		for (int i = 0; i < r->info.nbands; i++) {
			free(r->info.bands[i].description);
			free(r->info.bands[i].unit);
			free(r->info.bands[i].legend);
		}
	}
	free(r->info.bands);
	lode__source_files_free(&r->info.files);
	free(r->info.crs_wkt);
	free(r->info.driver);
	free(r);
}

/* ---- warping ---- */

/*
 * Transformer wrapper: the warp kernel works in the window's pixel coordinates; adding
 * the window's offset (exact in floating point: integers and halves) gives the target
 * grid's pixel coordinates, which the real transformer maps to the source.
 */
typedef struct offset_transformer {
	GDALTransformerInfo info; /* must come first: GDAL inspects it */
	void *base;
	double xoff, yoff;
} offset_transformer;

static int offset_transform(void *arg, int dst_to_src, int n, double *x, double *y, double *z, int *ok)
{
	offset_transformer *t = arg;
	int rc;

	if (dst_to_src) {
		for (int i = 0; i < n; i++) {
			x[i] += t->xoff;
			y[i] += t->yoff;
		}
		return GDALGenImgProjTransform(t->base, TRUE, n, x, y, z, ok);
	}
	rc = GDALGenImgProjTransform(t->base, FALSE, n, x, y, z, ok);
	for (int i = 0; i < n; i++) {
		x[i] -= t->xoff;
		y[i] -= t->yoff;
	}
	return rc;
}

struct lode__warper {
	lode__raster *src;
	lode_warp_params p;
	int *bands;
	void *base; /* GenImgProj transformer for the whole target grid */
	offset_transformer off;
	void *approx; /* approximate transformer over off, or NULL */
	GDALDriverH mem;
	lode__bilinear
	    *fast; /* lode's own kernel (bilinear, average, cubic, ...) when it covers this warp, or NULL */
	int mode_type; /* mode on 16-bit values: GDT_Byte or GDT_Float32 to count them in, or 0 */
};

/* Windows warped by lode's bilinear, average, cubic and other footprint kernels and by
   GDAL's warper (LODE_PROFILE). */
static _Atomic long windows_fast, windows_average, windows_cubic, windows_spline, windows_lanczos,
    windows_gdal, windows_mode_bytes, windows_mode_floats;
static _Atomic long windows_stats; /* rms, min, max, med, q1, q3 */
static _Atomic long windows_nearest;
static _Atomic long windows_sum;
static _Atomic long windows_mode, windows_mode_kbytes, windows_mode_kfloats; /* lode's mode kernel */

void lode__warp_counts(long *fast, long *gdal)
{
	*fast = windows_fast;
	*gdal = windows_gdal;
}

long lode__warp_average_count(void)
{
	return windows_average;
}

long lode__warp_cubic_count(void)
{
	return windows_cubic;
}

long lode__warp_spline_count(void)
{
	return windows_spline;
}

long lode__warp_lanczos_count(void)
{
	return windows_lanczos;
}

long lode__warp_stats_count(void)
{
	return windows_stats;
}

long lode__warp_nearest_count(void)
{
	return windows_nearest;
}

long lode__warp_sum_count(void)
{
	return windows_sum;
}

void lode__warp_mode_kernel_counts(long *all, long *bytes, long *floats)
{
	*all = windows_mode;
	*bytes = windows_mode_kbytes;
	*floats = windows_mode_kfloats;
}

void lode__warp_mode_counts(long *bytes, long *floats)
{
	*bytes = windows_mode_bytes;
	*floats = windows_mode_floats;
}

static const struct {
	const char *name;
	GDALResampleAlg alg;
} resampling_algs[] = {
    {"nearest", GRA_NearestNeighbour},
    {"bilinear", GRA_Bilinear},
    {"cubic", GRA_Cubic},
    {"cubicspline", GRA_CubicSpline},
    {"lanczos", GRA_Lanczos},
    {"average", GRA_Average},
    {"mode", GRA_Mode},
    {"min", GRA_Min},
    {"max", GRA_Max},
    {"med", GRA_Med},
    {"q1", GRA_Q1},
    {"q3", GRA_Q3},
    {"sum", GRA_Sum},
    {"rms", GRA_RMS},
};

lode_status lode__warper_new(lode__raster *src, const lode_warp_params *p, lode__warper **out,
			     lode_error *err)
{
	lode__warper *w = NULL;
	char **opts = NULL;
	lode__cpl_capture cap;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__cpl_push(&cap);
	w = calloc(1, sizeof *w);
	if (!w || !(w->bands = calloc((size_t)p->nbands, sizeof *w->bands))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	w->src = src;
	w->p = *p;
	memcpy(w->bands, p->bands, (size_t)p->nbands * sizeof *w->bands);
	w->p.bands = w->bands;
	opts = CSLSetNameValue(opts, "SRC_SRS", p->src_crs_wkt);
	opts = CSLSetNameValue(opts, "DST_SRS", p->dst_crs_wkt);
	if (p->pipeline && p->pipeline[0])
		opts = CSLSetNameValue(opts, "COORDINATE_OPERATION", p->pipeline);
	w->base = GDALCreateGenImgProjTransformer2(src->ds, NULL, opts);
	if (!w->base) {
		rc = lode__err(err, LODE_ESOURCE, "cannot set up the transformation: %s",
			       lode__cpl_msg(&cap, "GDAL refused it"));
		goto out;
	}
	GDALSetGenImgProjTransformerDstGeoTransform(w->base, p->gt);
	memcpy(w->off.info.abySignature, GDAL_GTI2_SIGNATURE, sizeof w->off.info.abySignature);
	w->off.info.pszClassName = "LodeOffsetTransformer";
	w->off.info.pfnTransform = offset_transform;
	w->off.base = w->base;
	if (p->error_threshold > 0) {
		w->approx = GDALCreateApproxTransformer(offset_transform, &w->off, p->error_threshold);
		if (!w->approx) {
			rc = lode__err(err, LODE_EINTERNAL, "cannot create the approximate transformer");
			goto out;
		}
	}
	w->mem = GDALGetDriverByName("MEM");
	if (!w->mem) {
		rc = lode__err(err, LODE_EINTERNAL, "GDAL's MEM driver is missing");
		goto out;
	}
	w->fast = lode__bilinear_new(src->ds, &w->p, (GDALDataType)lode__gdal_type(p->dtype));
	*out = w;
	w = NULL;
out:
	CSLDestroy(opts);
	lode__warper_free(w);
	lode__cpl_pop();
	return rc;
}

/*
 * Whether some target pixel corner of the window (on GDAL's 21 x 21 sampling grid) does
 * not transform to the source: part of it lies outside the area where the source's CRS
 * is defined (off a geostationary disk).  GDAL's warper then finds the source window
 * from the points of its grid that do transform, and near the limb the window can miss
 * the source pixels of target pixels between those points, which it leaves nodata;
 * gdalwarp, warping the whole grid at once, usually reads the whole source and gives
 * them values.  For such a window lode asks GDAL to sample every pixel corner instead
 * (SAMPLE_GRID, SAMPLE_STEPS), so that no pixel whose point transforms is lost, whatever
 * the window layout.  Other windows keep GDAL's defaults, so nothing else changes.
 */
static int window_has_failures(lode__warper *w, int nx, int ny)
{
	enum { STEPS = 20, N = (STEPS + 1) * (STEPS + 1) };
	double x[N], y[N], z[N];
	int ok[N], n = 0;

	for (int j = 0; j <= STEPS; j++)
		for (int i = 0; i <= STEPS; i++) {
			x[n] = (double)nx * i / STEPS;
			y[n] = (double)ny * j / STEPS;
			z[n++] = 0;
		}
	offset_transform(&w->off, TRUE, N, x, y, z, ok);
	for (int i = 0; i < N; i++)
		if (!ok[i] || !isfinite(x[i]) || !isfinite(y[i]))
			return 1;
	return 0;
}

lode_status lode__warper_window(lode__warper *w, int x0, int y0, int nx, int ny, void *buf, lode_error *err)
{
	const lode_warp_params *p = &w->p;
	GDALDataType gt = (GDALDataType)lode__gdal_type(p->dtype);
	GDALDatasetH dst = NULL;
	GDALWarpOptions *wo = NULL;
	GDALWarpOperationH op = NULL;
	lode__cpl_capture cap;
	double wgt[6];
	size_t plane = (size_t)nx * (size_t)ny * lode__dtype_size(p->dtype);
	lode_status rc = LODE_OK;

	lode__cpl_push(&cap);
	w->off.xoff = x0;
	w->off.yoff = y0;
	if (w->fast) {
		int done = lode__bilinear_window(w->fast, w->approx ? GDALApproxTransform : offset_transform,
						 w->approx ? w->approx : (void *)&w->off, nx, ny, buf);
		if (done < 0) {
			rc = lode__err(err, LODE_ESOURCE, "warping rows %d-%d failed: %s", y0, y0 + ny - 1,
				       lode__cpl_msg(&cap, "out of memory"));
			goto out;
		}
		if (done) {
			if (strcmp(p->resampling, "average") == 0)
				windows_average++;
			else if (strcmp(p->resampling, "cubic") == 0)
				windows_cubic++;
			else if (strcmp(p->resampling, "cubicspline") == 0)
				windows_spline++;
			else if (strcmp(p->resampling, "lanczos") == 0)
				windows_lanczos++;
			else if (strcmp(p->resampling, "bilinear") == 0)
				windows_fast++;
			else if (strcmp(p->resampling, "nearest") == 0)
				windows_nearest++;
			else if (strcmp(p->resampling, "sum") == 0)
				windows_sum++;
			else if (strcmp(p->resampling, "mode") == 0) {
				windows_mode++;
				if (w->mode_type == GDT_Byte)
					windows_mode_kbytes++;
				else if (w->mode_type == GDT_Float32)
					windows_mode_kfloats++;
			} else
				windows_stats++;
			goto out;
		}
	}
	windows_gdal++;
	dst = GDALCreate(w->mem, "", nx, ny, p->nbands, gt, NULL);
	if (!dst) {
		rc = lode__err(err, LODE_ENOMEM, "cannot allocate a %dx%d window: %s", nx, ny,
			       lode__cpl_msg(&cap, "out of memory"));
		goto out;
	}
	memcpy(wgt, p->gt, sizeof wgt);
	wgt[0] = p->gt[0] + x0 * p->gt[1];
	wgt[3] = p->gt[3] + y0 * p->gt[5];
	GDALSetGeoTransform(dst, wgt);

	wo = GDALCreateWarpOptions();
	wo->hSrcDS = w->src->ds;
	wo->hDstDS = dst;
	wo->nBandCount = p->nbands;
	wo->panSrcBands = CPLMalloc(sizeof(int) * (size_t)p->nbands);
	wo->panDstBands = CPLMalloc(sizeof(int) * (size_t)p->nbands);
	for (int i = 0; i < p->nbands; i++) {
		wo->panSrcBands[i] = p->bands[i];
		wo->panDstBands[i] = i + 1;
	}
	wo->eResampleAlg = GRA_NearestNeighbour;
	for (size_t i = 0; i < sizeof resampling_algs / sizeof resampling_algs[0]; i++)
		if (strcmp(resampling_algs[i].name, p->resampling) == 0)
			wo->eResampleAlg = resampling_algs[i].alg;
	if (w->mode_type) {
		wo->eWorkingDataType = (GDALDataType)w->mode_type;
		if (w->mode_type == GDT_Byte)
			windows_mode_bytes++;
		else
			windows_mode_floats++;
	}
	if (p->has_src_nodata) {
		wo->padfSrcNoDataReal = CPLMalloc(sizeof(double) * (size_t)p->nbands);
		for (int i = 0; i < p->nbands; i++)
			wo->padfSrcNoDataReal[i] = p->src_nodata;
	}
	if (p->has_dst_nodata) {
		wo->padfDstNoDataReal = CPLMalloc(sizeof(double) * (size_t)p->nbands);
		for (int i = 0; i < p->nbands; i++) {
			wo->padfDstNoDataReal[i] = p->dst_nodata;
			GDALSetRasterNoDataValue(GDALGetRasterBand(dst, i + 1), p->dst_nodata);
			/* INIT_DEST fills only the chunks GDAL warps: it warps none of a window
			   where too few points transform (wholly off a geostationary disk), and
			   gdalwarp's output file reads nodata there. */
			GDALFillRaster(GDALGetRasterBand(dst, i + 1), p->dst_nodata, 0);
		}
	}
	wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "INIT_DEST", "NO_DATA");
	if (window_has_failures(w, nx, ny)) {
		char steps[24];
		snprintf(steps, sizeof steps, "%d", (nx > ny ? nx : ny) + 1);
		wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "SAMPLE_GRID", "YES");
		wo->papszWarpOptions = CSLSetNameValue(wo->papszWarpOptions, "SAMPLE_STEPS", steps);
	}
	if (w->approx) {
		wo->pfnTransformer = GDALApproxTransform;
		wo->pTransformerArg = w->approx;
	} else {
		wo->pfnTransformer = offset_transform;
		wo->pTransformerArg = &w->off;
	}
	op = GDALCreateWarpOperation(wo);
	if (!op) {
		rc = lode__err(err, LODE_EINTERNAL, "cannot set up the warp: %s",
			       lode__cpl_msg(&cap, "GDAL refused the options"));
		goto out;
	}
	if (GDALChunkAndWarpImage(op, 0, 0, nx, ny) != CE_None) {
		rc = lode__err(err, LODE_ESOURCE, "warping rows %d-%d failed: %s", y0, y0 + ny - 1,
			       lode__cpl_msg(&cap, "GDAL reported an error"));
		goto out;
	}
	for (int i = 0; i < p->nbands; i++) {
		if (GDALRasterIO(GDALGetRasterBand(dst, i + 1), GF_Read, 0, 0, nx, ny,
				 (unsigned char *)buf + (size_t)i * plane, nx, ny, gt, 0, 0) != CE_None) {
			rc = lode__err(err, LODE_EINTERNAL, "reading the warped window back failed: %s",
				       lode__cpl_msg(&cap, "unknown reason"));
			goto out;
		}
	}
out:
	if (op)
		GDALDestroyWarpOperation(op);
	if (wo) {
		wo->pTransformerArg = NULL; /* ours, not the options' */
		GDALDestroyWarpOptions(wo);
	}
	if (dst)
		GDALClose(dst);
	lode__cpl_pop();
	return rc;
}

/*
 * GDAL 3.6's mode on Int16 and UInt16 values counts them in a histogram of 65,536 bins
 * that it clears (256 KB) for every target pixel and band: 87% of the CPU of a UInt16
 * class grid taken to a grid 2x coarser (perf), in gdalwarp as in lode.  On bytes the
 * same code clears 256 bins; on floats GDAL keeps a list of the distinct values seen.
 * Both pick the value whose count first exceeds the largest count so far, as the
 * 16-bit histogram does, and every 16-bit value is exact as a byte (when it fits) and
 * as a float, both ways.  So GDAL's warper is asked to work on bytes when every value
 * of every band lode reads, and the nodata values, lie in 0-255; else on floats, while
 * a target pixel covers at most 48 source pixels (the list grows with the pixels
 * covered, and at 8 x 8 the histogram was as fast on a DEM) and no value (nodata
 * aside) is negative: GDAL 3.6 indexes its Int16 histogram by the value itself, with
 * -1 meaning "none" (a mode of -1 comes out as nodata) and negative values counted
 * outside the bins, which only its own path reproduces.  Same pixels: tests/e2e/
 * test_kernels.py compares them with gdalwarp's (-et 0, GDAL's own choice) and the
 * bundles with GDAL's 16-bit path.  The check reads every block of the bands once, on
 * the calling thread, before any window, unless the source is more than 4 times what
 * the target's footprint covers (then only UInt16 values, never negative, go on floats).
 * lode's own mode kernel (formats/warp_stats.c) then warps the windows it covers as
 * GDAL's warper would with that working type (lode__bilinear_mode_type), and on GDAL's
 * own 16-bit path too when the scan found no negative value (or the values are UInt16):
 * its histogram is then indexed by the value and keeps the first value to exceed the
 * largest count so far, as lode's does.
 */
/* The smallest and largest values of the bands lode reads, source nodata left out. */
static lode_status value_range(const lode_warp_params *p, GDALDatasetH ds, int *lo, int *hi,
			       const lode__cpl_capture *cap, lode_error *err)
{
	void *blk = NULL;
	lode_status rc = LODE_OK;

	*lo = 65535;
	*hi = -32768;
	for (int b = 0; b < p->nbands; b++) {
		GDALRasterBandH band = GDALGetRasterBand(ds, p->bands[b]);
		int u16 = GDALGetRasterDataType(band) == GDT_UInt16, bx, by, nbx, nby;

		GDALGetBlockSize(band, &bx, &by);
		free(blk);
		if (!(blk = malloc((size_t)bx * (size_t)by * 2))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			break;
		}
		nbx = (GDALGetRasterBandXSize(band) + bx - 1) / bx;
		nby = (GDALGetRasterBandYSize(band) + by - 1) / by;
		for (int j = 0; j < nby; j++)
			for (int i = 0; i < nbx; i++) {
				int ax, ay;
				if (GDALReadBlock(band, i, j, blk) != CE_None ||
				    GDALGetActualBlockSize(band, i, j, &ax, &ay) != CE_None) {
					rc = lode__err(err, LODE_ESOURCE, "reading band %d failed: %s",
						       p->bands[b],
						       lode__cpl_msg(cap, "GDAL reported an error"));
					goto out;
				}
				for (int y = 0; y < ay; y++)
					for (int x = 0; x < ax; x++) {
						size_t k = (size_t)y * (size_t)bx + (size_t)x;
						int v = u16 ? ((const uint16_t *)blk)[k]
							    : ((const int16_t *)blk)[k];
						if (p->has_src_nodata && v == p->src_nodata)
							continue;
						*lo = v < *lo ? v : *lo;
						*hi = v > *hi ? v : *hi;
					}
			}
	}
out:
	free(blk);
	return rc;
}

/* Source pixels one target pixel covers at the middle of the grid, or 0 if unknown. */
static double source_pixels_per_target(lode__warper *w)
{
	double cx = (double)(w->p.nx / 2), cy = (double)(w->p.ny / 2);
	double x[3] = {cx, cx + 1, cx}, y[3] = {cy, cy, cy + 1}, z[3] = {0, 0, 0};
	int ok[3] = {0, 0, 0};

	w->off.xoff = w->off.yoff = 0;
	offset_transform(&w->off, TRUE, 3, x, y, z, ok);
	if (!ok[0] || !ok[1] || !ok[2])
		return 0;
	return fabs((x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]));
}

lode_status lode__warper_mode_type(lode__warper **ws, int n, lode_error *err)
{
	const lode_warp_params *p = &ws[0]->p;
	GDALDatasetH ds = ws[0]->src->ds;
	lode__cpl_capture cap;
	int lo = -1, hi = 65535, type = 0, kernel, all_unsigned = 1;
	double cover, reads;
	lode_status rc = LODE_OK;

	if (strcmp(p->resampling, "mode") != 0 || (p->dtype != LODE_DT_U16 && p->dtype != LODE_DT_I16) ||
	    (getenv("LODE_WARP_KERNEL") && strcmp(getenv("LODE_WARP_KERNEL"), "gdal") == 0))
		return LODE_OK;
	for (int b = 0; b < p->nbands; b++) {
		GDALRasterBandH band = GDALGetRasterBand(ds, p->bands[b]);
		GDALDataType t = band ? GDALGetRasterDataType(band) : GDT_Unknown;
		if (t != GDT_UInt16 && t != GDT_Int16)
			return LODE_OK;
		all_unsigned &= t == GDT_UInt16;
	}
	lode__cpl_push(&cap);
	cover = source_pixels_per_target(ws[0]);
	/* The scan reads the whole source: only when the windows read about as much of it
	   (not for a small part of a large source); UInt16 values need no scan for floats. */
	reads = (double)p->nx * (double)p->ny * (cover > 1 ? cover : 1);
	if (cover > 0 && (double)GDALGetRasterXSize(ds) * (double)GDALGetRasterYSize(ds) <= 4 * reads) {
		if ((rc = value_range(p, ds, &lo, &hi, &cap, err)))
			goto out;
	} else if (all_unsigned) {
		lo = 0;
	}
	if (lo >= 0 && hi <= 255 && (!p->has_src_nodata || (p->src_nodata >= 0 && p->src_nodata <= 255)) &&
	    (!p->has_dst_nodata || (p->dst_nodata >= 0 && p->dst_nodata <= 255)))
		type = GDT_Byte;
	else if (lo >= 0 && cover > 0 && cover <= 48)
		type = GDT_Float32;
	/* lode's mode kernel works as GDAL's warper does with that type; on GDAL's own 16-bit
	   path too when no value is negative (its histogram then counts as lode's does) */
	kernel = type ? type : lo >= 0 ? (p->dtype == LODE_DT_I16 ? GDT_Int16 : GDT_UInt16) : 0;
	for (int i = 0; i < n; i++) {
		ws[i]->mode_type = type;
		lode__bilinear_mode_type(ws[i]->fast, kernel);
	}
out:
	lode__cpl_pop();
	return rc;
}

int lode__warper_source_cache(lode__warper *w, size_t bytes)
{
	return w ? lode__bilinear_source_cache(w->fast, bytes) : 0;
}

void lode__source_block_counts(long *decoded, long *to_gdal)
{
	lode__tiff_blocks_counts(decoded, to_gdal);
}

size_t lode__gdal_cache_max(void)
{
	return (size_t)GDALGetCacheMax64();
}

void lode__gdal_set_cache_max(size_t bytes)
{
	GDALSetCacheMax64((GIntBig)bytes);
}

void lode__warper_share(lode__warper *w, const lode__warp_share *s)
{
	if (w)
		lode__bilinear_share(w->fast, s, w);
}

int lode__warper_help(lode__warper *w, lode__row_job *job)
{
	const lode__warper *owner = lode__row_job_owner(job);
	lode__cpl_capture cap;
	int n;

	if (!w->fast)
		return 0;
	/* this worker's transformer, offset to the owner's window */
	w->off.xoff = owner->off.xoff;
	w->off.yoff = owner->off.yoff;
	lode__cpl_push(&cap);
	n = lode__bilinear_help(w->fast, job, w->approx ? GDALApproxTransform : offset_transform,
				w->approx ? w->approx : (void *)&w->off);
	lode__cpl_pop();
	return n;
}

long lode__warp_rows_shared(void)
{
	return lode__bilinear_rows_shared();
}

void lode__warper_free(lode__warper *w)
{
	if (!w)
		return;
	lode__bilinear_free(w->fast);
	if (w->approx)
		GDALDestroyApproxTransformer(w->approx);
	if (w->base)
		GDALDestroyGenImgProjTransformer(w->base);
	free(w->bands);
	free(w);
}
