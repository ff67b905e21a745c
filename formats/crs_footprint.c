/*
 * crs_footprint.c -- a source's extent in another CRS when part of it lies outside the
 * area where its CRS is defined, sampled the way gdalwarp sees it.
 *
 * OGR's TransformBounds (crs_proj.c) densifies the four edges of a box and gives up when
 * none of them transforms: a geostationary image whose edges lie off the Earth's disk
 * has no edge point that does, though most of its pixels do.  When only some edge
 * points fail, it returns the box of the others, which can miss the part of the image
 * near the limb.  gdalwarp never needs the box: it maps every target pixel back to the
 * source, skipping the points that do not transform (GDALWarpOperation's source window
 * falls back to a grid of points when edge points fail; a pixel whose point fails stays
 * nodata).  Here the box is sampled on a lattice -- its edges densely, its inside on a
 * grid made finer when an edge point fails -- every point is transformed on its own, and
 * the points that fail are left out, as gdalwarp leaves them out.  The inverse direction
 * (target box back into the source) is sampled the same way, which finds an overlap that
 * a box in the target CRS cannot express (a source across the antimeridian of a
 * geographic target, a polar grid around the pole).
 *
 * It does not decide whether a dataset is accepted: plan.c does, from the counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include "crs_footprint.h"
#include "crs_proj.h"
#include "error.h"
#include "gdal_util.h"

enum {
	EDGE_STEPS = 100,       /* intervals along each edge */
	GRID_STEPS = 20,        /* intervals across the inside when every edge point transforms */
	GRID_STEPS_FAILED = 100 /* ... and when some edge point does not */
};

static OGRSpatialReferenceH srs_from_wkt(const char *wkt)
{
	OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);

	if (!s)
		return NULL;
	if (OSRSetFromUserInput(s, wkt) != OGRERR_NONE) {
		OSRDestroySpatialReference(s);
		return NULL;
	}
	OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
	return s;
}

/* The transformation from s to d with the pipeline (applied in reverse, from d to s, when
   reverse is set); NULL for the pipeline "+proj=noop", which moves nothing. */
static lode_status new_ct(OGRSpatialReferenceH s, OGRSpatialReferenceH d, const char *pipeline, int reverse,
			  OGRCoordinateTransformationH *ct, lode_error *err)
{
	OGRCoordinateTransformationOptionsH o;
	lode__cpl_capture cap;

	*ct = NULL;
	if (lode__op_is_noop(pipeline))
		return LODE_OK;
	lode__cpl_push(&cap);
	o = OCTNewCoordinateTransformationOptions();
	if (pipeline)
		OCTCoordinateTransformationOptionsSetOperation(o, pipeline, reverse ? TRUE : FALSE);
	*ct = reverse ? OCTNewCoordinateTransformationEx(d, s, o) : OCTNewCoordinateTransformationEx(s, d, o);
	OCTDestroyCoordinateTransformationOptions(o);
	lode__cpl_pop();
	if (!*ct)
		return lode__err(err, LODE_EINTERNAL, "cannot build the coordinate transformation%s: %s",
				 reverse ? " back to the source CRS" : "",
				 lode__cpl_msg(&cap, "unknown reason"));
	return LODE_OK;
}

/* The four edges of box (xmin ymin xmax ymax) at EDGE_STEPS intervals.  Returns how many. */
static int edge_points(const double box[4], double *x, double *y)
{
	const double w = box[2] - box[0], h = box[3] - box[1];
	int n = 0;

	for (int i = 0; i <= EDGE_STEPS; i++) {
		const double t = (double)i / EDGE_STEPS;
		x[n] = box[0] + t * w, y[n++] = box[1];
		x[n] = box[0] + t * w, y[n++] = box[3];
		x[n] = box[0], y[n++] = box[1] + t * h;
		x[n] = box[2], y[n++] = box[1] + t * h;
	}
	return n;
}

/* The inside of box on a grid of steps x steps intervals.  Returns how many. */
static int inside_points(const double box[4], int steps, double *x, double *y)
{
	int n = 0;

	for (int j = 1; j < steps; j++)
		for (int i = 1; i < steps; i++) {
			x[n] = box[0] + (box[2] - box[0]) * i / steps;
			y[n++] = box[1] + (box[3] - box[1]) * j / steps;
		}
	return n;
}

enum { MAX_POINTS = 4 * (EDGE_STEPS + 1) + (GRID_STEPS_FAILED + 1) * (GRID_STEPS_FAILED + 1) };

typedef struct samples {
	double x[MAX_POINTS], y[MAX_POINTS];
	int ok[MAX_POINTS];
	int n;
} samples;

/* Transform each point on its own terms: ok[i] says whether it transformed to finite
   coordinates.  A NULL ct is the identity. */
static void transform(OGRCoordinateTransformationH ct, samples *s, int from, int to)
{
	for (int i = from; i < to; i++)
		s->ok[i] = 1;
	if (ct)
		OCTTransformEx(ct, to - from, s->x + from, s->y + from, NULL, s->ok + from);
	for (int i = from; i < to; i++)
		s->ok[i] = s->ok[i] && isfinite(s->x[i]) && isfinite(s->y[i]);
}

/* Sample box and transform it with ct: the edges first, then the inside on a grid that is
   finer when an edge point failed. */
static void sample(OGRCoordinateTransformationH ct, const double box[4], samples *s)
{
	int edges = edge_points(box, s->x, s->y), failed = 0;

	transform(ct, s, 0, edges);
	for (int i = 0; i < edges; i++)
		failed |= !s->ok[i];
	s->n =
	    edges + inside_points(box, failed ? GRID_STEPS_FAILED : GRID_STEPS, s->x + edges, s->y + edges);
	transform(ct, s, edges, s->n);
}

lode_status lode__crs_footprint(const char *src_wkt, const char *dst_wkt, const char *pipeline,
				const double src_box[4], const double dst_box[4], int back,
				lode_footprint *fp, lode_error *err)
{
	OGRSpatialReferenceH s = srs_from_wkt(src_wkt), d = srs_from_wkt(dst_wkt);
	OGRCoordinateTransformationH fwd = NULL, inv = NULL;
	samples *pts = malloc(sizeof *pts);
	lode__cpl_capture cap;
	lode_status rc = LODE_OK;

	memset(fp, 0, sizeof *fp);
	lode__cpl_push(&cap); /* failing points draw errors: they are expected */
	if (!pts) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (!s || !d) {
		rc = lode__err(err, LODE_EINTERNAL, "cannot read a CRS back from WKT");
		goto out;
	}
	if ((rc = new_ct(s, d, pipeline, 0, &fwd, err)) ||
	    (back && (rc = new_ct(s, d, pipeline, 1, &inv, err))))
		goto out;

	sample(fwd, src_box, pts);
	fp->nsampled = pts->n;
	fp->covers[0] = fp->covers[1] = HUGE_VAL;
	fp->covers[2] = fp->covers[3] = -HUGE_VAL;
	for (int i = 0; i < pts->n; i++) {
		if (!pts->ok[i])
			continue;
		fp->ntransformed++;
		fp->covers[0] = fmin(fp->covers[0], pts->x[i]);
		fp->covers[1] = fmin(fp->covers[1], pts->y[i]);
		fp->covers[2] = fmax(fp->covers[2], pts->x[i]);
		fp->covers[3] = fmax(fp->covers[3], pts->y[i]);
		fp->ninside += pts->x[i] > dst_box[0] && pts->x[i] < dst_box[2] && pts->y[i] > dst_box[1] &&
			       pts->y[i] < dst_box[3];
	}
	if (back) {
		sample(inv, dst_box, pts);
		for (int i = 0; i < pts->n; i++)
			fp->nback += pts->ok[i] && pts->x[i] > src_box[0] && pts->x[i] < src_box[2] &&
				     pts->y[i] > src_box[1] && pts->y[i] < src_box[3];
	}
out:
	lode__cpl_pop();
	if (fwd)
		OCTDestroyCoordinateTransformation(fwd);
	if (inv)
		OCTDestroyCoordinateTransformation(inv);
	if (s)
		OSRDestroySpatialReference(s);
	if (d)
		OSRDestroySpatialReference(d);
	free(pts);
	return rc;
}

lode_status lode__crs_footprint_lonlat(const char *wkt, const double box[4], double out[4], lode_error *err)
{
	OGRSpatialReferenceH s = srs_from_wkt(wkt), g = NULL;
	char *gwkt = NULL;
	const char *opts[] = {"FORMAT=WKT2_2019", NULL};
	lode_footprint fp;
	lode_status rc;

	if (s)
		g = OSRCloneGeogCS(s);
	if (!g || OSRExportToWktEx(g, &gwkt, opts) != OGRERR_NONE || !gwkt) {
		rc = lode__err(err, LODE_EINTERNAL, "cannot derive the geographic CRS");
		goto out;
	}
	if ((rc = lode__crs_footprint(wkt, gwkt, NULL, box, box, 0, &fp, err)))
		goto out;
	if (fp.ntransformed == 0) {
		rc = lode__err(err, LODE_ESOURCE,
			       "no point of the extent can be transformed to longitude "
			       "and latitude: it lies outside the area where its CRS is defined");
		goto out;
	}
	memcpy(out, fp.covers, sizeof fp.covers);
out:
	CPLFree(gwkt);
	if (s)
		OSRDestroySpatialReference(s);
	if (g)
		OSRDestroySpatialReference(g);
	return rc;
}
