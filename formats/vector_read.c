/*
 * vector_read.c -- vector layers through OGR: opening a source layer and reading its
 * features into columns (a lode_vdata, vdata.h), transformed with the chosen PROJ
 * pipeline, filtered or clipped to the target bounds.
 *
 * Coordinates are transformed with an OGR coordinate transformation pinned to the
 * chosen operation, in the traditional GIS axis order (x = easting or longitude), the
 * way ogr2ogr -t_srs does it (PROJ's "+proj=noop" is skipped: it changes nothing).  A
 * large GeoPackage layer is read on several threads in shares of feature ids, put back
 * together in id order: that is vector_shares.c's, with the builder and reader declared
 * in vector_read_int.h.  Curved geometries, geometry collections, list and binary fields
 * are refused with a message rather than silently changed.  Writing a layer out as a
 * GeoPackage is gpkg_write.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "chunk_codec.h"
#include "crs_proj.h"
#include "error.h"
#include "gdal_util.h"
#include "source_files.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"
#include "vector_read_int.h"

/* ---- opening ---- */

int lode__source_is_vector(const char *path, const char *const *open_options, int layer_given)
{
	lode__cpl_capture cap;
	GDALDatasetH ds;
	GDALDriverH drv;
	int kind = -1;

	lode__cpl_push(&cap);
	/* A driver that reads vectors only (GeoJSON, Shapefile, CSV, FlatGeobuf...) has no
	   bands to count: opening the source here costs as much as the vector open after it,
	   which for GeoJSON parses the whole file (a 200,000-feature GeoJSON: lode run 3.1 ->
	   2.5 s CPU).  A source no driver identifies is opened as before. */
	drv = GDALIdentifyDriverEx(path, GDAL_OF_RASTER | GDAL_OF_VECTOR, NULL, NULL);
	if (drv && GDALGetMetadataItem(drv, GDAL_DCAP_VECTOR, NULL) &&
	    !GDALGetMetadataItem(drv, GDAL_DCAP_RASTER, NULL)) {
		lode__cpl_pop();
		return 1;
	}
	ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, open_options, NULL);
	if (ds) {
		int bands = GDALGetRasterCount(ds), layers = GDALDatasetGetLayerCount(ds);
		if (layers > 0 && (layer_given || bands == 0))
			kind = 1;
		else
			kind = 0;
		GDALClose(ds);
	}
	lode__cpl_pop();
	return kind;
}

lode_status lode__vector_open(const char *path, const char *const *open_options,
			      const lode_source_rules *rules, const char *layer, const char *where,
			      int count_now, lode__vector **out, lode_error *err)
{
	lode__vector *v = NULL;
	lode__source_check *check = NULL;
	lode__cpl_capture cap;
	OGRSpatialReferenceH srs;
	OGREnvelope env;
	char **files;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__cpl_push(&cap);
	v = calloc(1, sizeof *v);
	if (!v) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	/* Nothing GDAL could block on or must not read, before it opens anything. */
	if ((rc = lode__source_check_begin(path, rules, &check, err)))
		goto out;
	v->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL,
			   open_options, NULL);
	if (!v->ds) {
		rc = lode__err(err, LODE_ESOURCE, "%s: GDAL cannot open it as a vector source: %s", path,
			       lode__cpl_msg(&cap, "not a recognised vector format"));
		goto out;
	}
	/* Every file it will read, as GDAL lists them (an OGR VRT's sources too), before a
	   feature is read. */
	files = GDALGetFileList(v->ds);
	rc = lode__source_check_end(check, files, &v->info.files, err);
	CSLDestroy(files);
	if (rc)
		goto out;
	v->info.driver = lode__strdup(GDALGetDriverShortName(GDALGetDatasetDriver(v->ds)));
	v->path = lode__strdup(path);
	v->open_options = CSLDuplicate((char **)open_options);
	v->has_where = where != NULL;
	v->info.nlayers = GDALDatasetGetLayerCount(v->ds);
	v->info.layer_names = calloc((size_t)v->info.nlayers + 1, sizeof *v->info.layer_names);
	if (!v->info.layer_names) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < v->info.nlayers; i++)
		v->info.layer_names[i] = lode__strdup(OGR_L_GetName(GDALDatasetGetLayer(v->ds, i)));
	if (v->info.nlayers == 0) {
		rc = lode__err(err, LODE_ESOURCE, "%s: GDAL's %s driver finds no layer in it", path,
			       v->info.driver ? v->info.driver : "?");
		goto out;
	}
	if (layer) {
		v->layer = GDALDatasetGetLayerByName(v->ds, layer);
	} else if (v->info.nlayers == 1) {
		v->layer = GDALDatasetGetLayer(v->ds, 0);
	} else {
		char list[512] = "";
		for (int i = 0; i < v->info.nlayers; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
				 v->info.layer_names[i] ? v->info.layer_names[i] : "?");
		rc = lode__err(err, LODE_EMANIFEST, "%s holds %d layers (%s): name one with layer:", path,
			       v->info.nlayers, list);
		goto out;
	}
	if (!v->layer) {
		char list[512] = "";
		for (int i = 0; i < v->info.nlayers; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
				 v->info.layer_names[i] ? v->info.layer_names[i] : "?");
		rc = lode__err(err, LODE_EMANIFEST, "%s has no layer '%s' (it holds: %s)", path, layer, list);
		goto out;
	}
	v->info.layer = lode__strdup(OGR_L_GetName(v->layer));
	if (where && OGR_L_SetAttributeFilter(v->layer, where) != OGRERR_NONE) {
		rc = lode__err(err, LODE_EMANIFEST, "where: '%s' is not a valid filter for layer '%s': %s",
			       where, v->info.layer, lode__cpl_msg(&cap, "syntax error"));
		goto out;
	}
	srs = OGR_L_GetSpatialRef(v->layer);
	if (srs) {
		const char *opts[] = {"FORMAT=WKT2_2019", "MULTILINE=NO", NULL};
		char *wkt = NULL;
		if (OSRExportToWktEx(srs, &wkt, opts) == OGRERR_NONE && wkt)
			v->info.crs_wkt = lode__strdup(wkt);
		CPLFree(wkt);
	}
	/* SQL-based drivers (GeoPackage, SQLite) check a filter only when reading: read one
	   feature now, so that a bad where: fails at plan time, named as such. */
	if (where) {
		OGRFeatureH f;
		OGR_L_ResetReading(v->layer);
		f = OGR_L_GetNextFeature(v->layer);
		if (f)
			OGR_F_Destroy(f);
		OGR_L_ResetReading(v->layer);
		if (cap.failures) {
			rc = lode__err(err, LODE_EMANIFEST,
				       "where: '%s' is not a valid filter for layer '%s': %s", where,
				       v->info.layer, cap.msg);
			goto out;
		}
	}
	{
		OGRFeatureDefnH fdefn = OGR_L_GetLayerDefn(v->layer);
		int nf = fdefn ? OGR_FD_GetFieldCount(fdefn) : 0;

		v->info.field_names = calloc((size_t)nf + 1, sizeof *v->info.field_names);
		for (int i = 0; v->info.field_names && i < nf; i++)
			v->info.field_names[i] =
			    lode__strdup(OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(fdefn, i)));
	}
	/* Without a fast count, GDAL counts by reading every feature (the CSV driver parses
	   the whole file): the caller that reads the layer next counts as it reads. */
	if (count_now || OGR_L_TestCapability(v->layer, OLCFastFeatureCount))
		v->info.nfeat = (long long)OGR_L_GetFeatureCount(v->layer, TRUE);
	else
		v->info.nfeat = -1;
	v->counted_by_read = !count_now && v->info.nfeat < 0;
	v->info.table = wkbFlatten(OGR_L_GetGeomType(v->layer)) == wkbNone;
	if (!v->info.table && OGR_L_GetExtent(v->layer, &env, TRUE) == OGRERR_NONE) {
		v->info.has_extent = 1;
		v->info.extent[0] = env.MinX;
		v->info.extent[1] = env.MinY;
		v->info.extent[2] = env.MaxX;
		v->info.extent[3] = env.MaxY;
	}
	CPLErrorReset();
	*out = v;
	v = NULL;
out:
	lode__source_check_free(check);
	lode__vector_close(v);
	lode__cpl_pop();
	return rc;
}

const lode_vector_info *lode__vector_info(const lode__vector *v)
{
	return &v->info;
}

int lode__vector_files(const lode__vector *v, int (*visit)(const char *path, void *arg), void *arg)
{
	char **files = GDALGetFileList(v->ds);
	int stop = 0;

	for (int i = 0; files && files[i] && !stop; i++)
		stop = visit(files[i], arg);
	CSLDestroy(files);
	return stop;
}

void lode__vector_close(lode__vector *v)
{
	if (!v)
		return;
	if (v->ds)
		GDALClose(v->ds);
	if (v->info.layer_names)
		for (int i = 0; i < v->info.nlayers; i++)
			free(v->info.layer_names[i]);
	free(v->info.layer_names);
	for (size_t i = 0; v->info.field_names && v->info.field_names[i]; i++)
		free(v->info.field_names[i]);
	free(v->info.field_names);
	lode__source_files_free(&v->info.files);
	free(v->info.layer);
	free(v->info.crs_wkt);
	free(v->info.driver);
	free(v->path);
	CSLDestroy(v->open_options);
	free(v);
}

/* ---- reading ---- */

/* Grow an array of n elements of size sz to hold at least need. */
int lode__vread_grow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 1024;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * sz);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* The bytes the layer's arrays and strings hold so far (for --max-memory). */
size_t lode__vread_held(const builder *b)
{
	const lode_vdata *d = b->d;
	size_t n = (b->cap_x + b->cap_y + b->cap_z + b->cap_m) * sizeof(double) +
		   (b->cap_nc + b->cap_pnc + b->cap_ir) * sizeof(int32_t) + b->text;

	for (size_t i = 0; i < d->nfields; i++)
		n += b->cap_field[i] * lode__ftype_size(d->fields[i].type) + b->cap_null[i];
	return n;
}

/* Hand the whole chunks of x and y read since the last call to the column encoder,
   which compresses them while reading goes on. */
lode_status lode__vread_send_xy(builder *b, lode_error *err)
{
	size_t chunk = b->xy ? lode__colenc_chunk(b->xy) : 0;
	lode_status rc;

	while (b->xy && b->d->nnodes - b->sent >= chunk) {
		if ((rc = lode__colenc_put(b->xy, 0, b->d->x + b->sent, err)) ||
		    (rc = lode__colenc_put(b->xy, 1, b->d->y + b->sent, err)))
			return rc;
		b->sent += chunk;
	}
	return LODE_OK;
}

/* Room for n more values of the optional column *col (z or m) once one geometry has it
   (on): zeros for the nodes before it, which a layer without it never holds. */
static int grow_opt(double **col, size_t *cap, size_t nnodes, int n, int on)
{
	int first = !*col;

	if (!on && !*col)
		return 0;
	if (lode__vread_grow((void **)col, cap, nnodes + (size_t)n, sizeof(double)))
		return -1;
	if (first)
		memset(*col, 0, sizeof(double) * nnodes);
	if (!on)
		memset(*col + nnodes, 0, sizeof(double) * (size_t)n);
	return 0;
}

static int add_nodes(builder *b, OGRGeometryH g)
{
	lode_vdata *d = b->d;
	int n = OGR_G_GetPointCount(g), is3d = OGR_G_Is3D(g), ism = OGR_G_IsMeasured(g);

	if (n <= 0)
		return 0;
	if (lode__vread_grow((void **)&d->x, &b->cap_x, d->nnodes + (size_t)n, sizeof(double)) ||
	    lode__vread_grow((void **)&d->y, &b->cap_y, d->nnodes + (size_t)n, sizeof(double)) ||
	    grow_opt(&d->z, &b->cap_z, d->nnodes, n, is3d) || grow_opt(&d->m, &b->cap_m, d->nnodes, n, ism))
		return -1;
	/* M as the source has it: OGR's transformation leaves M alone, as ogr2ogr does. */
	OGR_G_GetPointsZM(g, d->x + d->nnodes, sizeof(double), d->y + d->nnodes, sizeof(double),
			  is3d ? d->z + d->nnodes : NULL, sizeof(double), ism ? d->m + d->nnodes : NULL,
			  sizeof(double));
	d->nnodes += (size_t)n;
	return n;
}

static int add_part(builder *b, int nodes, int interior)
{
	lode_vdata *d = b->d;

	if (lode__vread_grow((void **)&d->part_node_count, &b->cap_pnc, d->nparts + 1, sizeof(int32_t)) ||
	    lode__vread_grow((void **)&d->interior_ring, &b->cap_ir, d->nparts + 1, sizeof(int32_t)))
		return -1;
	d->part_node_count[d->nparts] = nodes;
	d->interior_ring[d->nparts] = interior;
	d->nparts++;
	return 0;
}

/* Append a single (not multi) geometry; returns nodes added or -1. */
static long add_single(builder *b, OGRGeometryH g, lode_gkind kind)
{
	long total = 0;
	int n;

	if (kind == LODE_GK_POINT) {
		if (OGR_G_IsEmpty(g))
			return 0;
		return add_nodes(b, g);
	}
	if (kind == LODE_GK_LINE) {
		if ((n = add_nodes(b, g)) < 0 || (n > 0 && add_part(b, n, 0)))
			return -1;
		return n;
	}
	for (int r = 0; r < OGR_G_GetGeometryCount(g); r++) {
		OGRGeometryH ring = OGR_G_GetGeometryRef(g, r);
		if ((n = add_nodes(b, ring)) < 0 || (n > 0 && add_part(b, n, r > 0)))
			return -1;
		total += n;
	}
	return total;
}

static lode_gkind kind_of(OGRwkbGeometryType t)
{
	switch (wkbFlatten(t)) {
	case wkbPoint:
	case wkbMultiPoint: return LODE_GK_POINT;
	case wkbLineString:
	case wkbMultiLineString: return LODE_GK_LINE;
	case wkbPolygon:
	case wkbMultiPolygon: return LODE_GK_POLYGON;
	default: return 0;
	}
}

static const char *kind_word(lode_gkind k)
{
	return k == LODE_GK_POINT ? "points" : k == LODE_GK_LINE ? "lines" : "polygons";
}

/* Keep, from an intersection result, only the parts of the layer's dimension. */
static OGRGeometryH same_dimension(OGRGeometryH g, lode_gkind kind)
{
	OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
	OGRGeometryH out;

	if (kind_of(t) == kind || OGR_G_IsEmpty(g))
		return OGR_G_Clone(g);
	if (t != wkbGeometryCollection)
		return NULL;
	out = OGR_G_CreateGeometry(kind == LODE_GK_POINT  ? wkbMultiPoint
				   : kind == LODE_GK_LINE ? wkbMultiLineString
							  : wkbMultiPolygon);
	for (int i = 0; i < OGR_G_GetGeometryCount(g); i++) {
		OGRGeometryH part = OGR_G_GetGeometryRef(g, i);
		OGRwkbGeometryType pt = wkbFlatten(OGR_G_GetGeometryType(part));
		if (kind_of(pt) != kind)
			continue;
		if (pt == wkbMultiPoint || pt == wkbMultiLineString || pt == wkbMultiPolygon) {
			for (int k = 0; k < OGR_G_GetGeometryCount(part); k++)
				OGR_G_AddGeometry(out, OGR_G_GetGeometryRef(part, k));
		} else {
			OGR_G_AddGeometry(out, part);
		}
	}
	return out;
}

/* A new lode_vdata with the layer's declared type and fields, no features yet. */
lode_status lode__vread_new_vdata(lode__vector *v, lode_vdata **out, lode_error *err)
{
	OGRwkbGeometryType declared = OGR_L_GetGeomType(v->layer), flat = wkbFlatten(declared);
	const char *layer = v->info.layer;
	lode_vdata *d;
	lode_status rc;

	*out = NULL;
	if (flat != wkbUnknown && flat != wkbNone && !kind_of(declared))
		return lode__err(err, LODE_ESOURCE,
				 "layer '%s' has geometry type %s; lode carries points, lines and polygons "
				 "(and their multi types) only",
				 layer, OGRGeometryTypeToName(declared));
	if (!(d = calloc(1, sizeof *d)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	/* A layer without geometry is a table: every feature gets node count 0. */
	d->kind = flat == wkbNone ? LODE_GK_NONE : kind_of(declared);
	d->multi = flat == wkbMultiPoint || flat == wkbMultiLineString || flat == wkbMultiPolygon;
	d->has_z = wkbHasZ(declared);
	d->has_m = wkbHasM(declared);
	if ((rc = lode__vread_field_defs(OGR_L_GetLayerDefn(v->layer), d, layer, err))) {
		lode__vdata_free(d);
		return rc;
	}
	*out = d;
	return LODE_OK;
}

lode_status lode__vread_builder_start(builder *b, lode_vdata *d, lode__colenc *xy, lode_error *err)
{
	memset(b, 0, sizeof *b);
	b->d = d;
	b->xy = xy;
	b->cap_field = calloc(d->nfields + 1, sizeof *b->cap_field);
	b->cap_null = calloc(d->nfields + 1, sizeof *b->cap_null);
	if (!b->cap_field || !b->cap_null)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

void lode__vread_builder_end(builder *b)
{
	free(b->cap_field);
	free(b->cap_null);
	b->cap_field = b->cap_null = NULL;
}

/* Set up a thread's reader: its dataset (unless it reads through v's), the CRSs, the
   transformation and the target box. */
lode_status lode__vread_reader_start(reader *t, lode__vector *v, const lode_vector_read *r, shared_read *rd,
				     int own_dataset, lode_error *err)
{
	OGRGeometryH ring;

	memset(t, 0, sizeof *t);
	t->v = v;
	t->r = r;
	t->rd = rd;
	lode__cpl_push(&t->cap);
	t->layer = v->layer;
	if (own_dataset) {
		t->ds = GDALOpenEx(v->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL,
				   (const char *const *)v->open_options, NULL);
		t->layer = t->ds ? GDALDatasetGetLayerByName(t->ds, v->info.layer) : NULL;
		if (!t->layer)
			return lode__err(err, LODE_ESOURCE, "%s: cannot open layer '%s' again: %s", v->path,
					 v->info.layer, lode__cpl_msg(&t->cap, "unknown reason"));
	}
	/* No transformation (a fifth of the read spared), or a table: nothing to transform. */
	if (lode__op_is_noop(r->pipeline) || v->info.table)
		goto box;
	t->s = OSRNewSpatialReference(NULL);
	t->t = OSRNewSpatialReference(NULL);
	if (!t->s || !t->t || OSRSetFromUserInput(t->s, r->src_crs_wkt) != OGRERR_NONE ||
	    OSRSetFromUserInput(t->t, r->dst_crs_wkt) != OGRERR_NONE)
		return lode__err(err, LODE_EINTERNAL, "cannot set up the CRSs: %s",
				 lode__cpl_msg(&t->cap, "out of memory"));
	OSRSetAxisMappingStrategy(t->s, OAMS_TRADITIONAL_GIS_ORDER);
	OSRSetAxisMappingStrategy(t->t, OAMS_TRADITIONAL_GIS_ORDER);
	t->opts = OCTNewCoordinateTransformationOptions();
	if (r->pipeline && r->pipeline[0])
		OCTCoordinateTransformationOptionsSetOperation(t->opts, r->pipeline, FALSE);
	t->ct = OCTNewCoordinateTransformationEx(t->s, t->t, t->opts);
	if (!t->ct)
		return lode__err(err, LODE_EINTERNAL, "cannot build the coordinate transformation: %s",
				 lode__cpl_msg(&t->cap, "unknown reason"));
box:
	t->box = OGR_G_CreateGeometry(wkbPolygon);
	ring = OGR_G_CreateGeometry(wkbLinearRing);
	OGR_G_AddPoint_2D(ring, r->bounds[0], r->bounds[1]);
	OGR_G_AddPoint_2D(ring, r->bounds[2], r->bounds[1]);
	OGR_G_AddPoint_2D(ring, r->bounds[2], r->bounds[3]);
	OGR_G_AddPoint_2D(ring, r->bounds[0], r->bounds[3]);
	OGR_G_AddPoint_2D(ring, r->bounds[0], r->bounds[1]);
	OGR_G_AddGeometryDirectly(t->box, ring);
	return LODE_OK;
}

void lode__vread_reader_end(reader *t)
{
	if (t->rd && t->layer && !t->ds)
		OGR_L_SetAttributeFilter(t->layer, NULL); /* v's layer: as it was */
	if (t->box)
		OGR_G_DestroyGeometry(t->box);
	if (t->ct)
		OCTDestroyCoordinateTransformation(t->ct);
	if (t->opts)
		OCTDestroyCoordinateTransformationOptions(t->opts);
	if (t->s)
		OSRDestroySpatialReference(t->s);
	if (t->t)
		OSRDestroySpatialReference(t->t);
	if (t->ds)
		GDALClose(t->ds);
	lode__cpl_pop();
	memset(t, 0, sizeof *t);
}

/* Read every feature the layer's current filter lets through into b's lode_vdata. */
lode_status lode__vread_features(reader *t, builder *b, lode_error *err)
{
	const lode_vector_read *r = t->r;
	OGRLayerH layer_h = t->layer;
	lode_vdata *d = b->d;
	const char *layer = t->v->info.layer;
	OGRFeatureH feat = NULL;
	size_t sent = b->sent;
	lode_status rc = LODE_OK;

	t->cap.failures = 0;
	t->cap.msg[0] = '\0';
	OGR_L_ResetReading(layer_h);
	while ((feat = OGR_L_GetNextFeature(layer_h)) != NULL) {
		OGRGeometryH g = OGR_F_StealGeometry(feat);
		long long fid = (long long)OGR_F_GetFID(feat);
		long nodes = 0;

		t->given++;
		if (g && d->kind == LODE_GK_NONE) { /* a table: no driver gives one, none is kept */
			OGR_G_DestroyGeometry(g);
			g = NULL;
		}
		if (g && !OGR_G_IsEmpty(g)) {
			OGRwkbGeometryType gt = OGR_G_GetGeometryType(g);
			lode_gkind k = kind_of(gt);
			OGREnvelope e;

			if (OGR_GT_IsNonLinear(gt) || !k) {
				rc = lode__err(err, LODE_ESOURCE,
					       "layer '%s', feature %lld: geometry type %s is not carried "
					       "(points, lines and polygons only; convert curves and "
					       "collections first, e.g. ogr2ogr -nlt CONVERT_TO_LINEAR)",
					       layer, fid, OGRGeometryTypeToName(gt));
				OGR_G_DestroyGeometry(g);
				goto out;
			}
			if (!d->kind)
				d->kind = k;
			if (k != d->kind) {
				rc = lode__err(
				    err, LODE_ESOURCE,
				    "layer '%s' mixes %s and %s (feature %lld); split it into one dataset "
				    "per type with where:, e.g. where: \"OGR_GEOMETRY = 'POINT'\" (for "
				    "GeoPackage "
				    "and SQLite sources: \"ST_GeometryType(geom) = 'POINT'\")",
				    layer, kind_word(d->kind), kind_word(k), fid);
				OGR_G_DestroyGeometry(g);
				goto out;
			}
			if (t->ct && OGR_G_Transform(g, t->ct) != OGRERR_NONE) {
				rc = lode__err(
				    err, LODE_ESOURCE,
				    "layer '%s', feature %lld: the coordinates cannot be transformed: %s",
				    layer, fid, lode__cpl_msg(&t->cap, "outside the CRS's area of use"));
				OGR_G_DestroyGeometry(g);
				goto out;
			}
			OGR_G_GetEnvelope(g, &e);
			if (e.MaxX < r->bounds[0] || e.MinX > r->bounds[2] || e.MaxY < r->bounds[1] ||
			    e.MinY > r->bounds[3] ||
			    ((e.MinX < r->bounds[0] || e.MaxX > r->bounds[2] || e.MinY < r->bounds[1] ||
			      e.MaxY > r->bounds[3]) &&
			     !OGR_G_Intersects(g, t->box))) {
				OGR_G_DestroyGeometry(g); /* outside the target bounds */
				OGR_F_Destroy(feat);
				feat = NULL;
				continue;
			}
			if (r->clip && (e.MinX < r->bounds[0] || e.MaxX > r->bounds[2] ||
					e.MinY < r->bounds[1] || e.MaxY > r->bounds[3])) {
				OGRGeometryH cut, kept;
				if (OGR_G_IsMeasured(g)) { /* GEOS would drop M, not interpolate it */
					rc = lode__err(
					    err, LODE_ESOURCE,
					    "layer '%s', feature %lld: clip: would cut a geometry with "
					    "measures (M), which GEOS drops; widen the bounds or clip "
					    "it first",
					    layer, fid);
					OGR_G_DestroyGeometry(g);
					goto out;
				}
				cut = OGR_G_Intersection(g, t->box);
				kept = cut ? same_dimension(cut, k) : NULL;
				OGR_G_DestroyGeometry(cut);
				OGR_G_DestroyGeometry(g);
				g = kept;
				if (!g || OGR_G_IsEmpty(g)) {
					OGR_G_DestroyGeometry(g);
					OGR_F_Destroy(feat);
					feat = NULL;
					continue;
				}
				gt = OGR_G_GetGeometryType(g);
			}
			d->has_z |= OGR_G_Is3D(g);
			d->has_m |= OGR_G_IsMeasured(g);
			if (wkbFlatten(gt) == wkbMultiPoint || wkbFlatten(gt) == wkbMultiLineString ||
			    wkbFlatten(gt) == wkbMultiPolygon) {
				d->multi = 1;
				for (int i = 0; i < OGR_G_GetGeometryCount(g) && nodes >= 0; i++) {
					long n = add_single(b, OGR_G_GetGeometryRef(g, i), k);
					nodes = n < 0 ? -1 : nodes + n;
				}
			} else {
				nodes = add_single(b, g, k);
			}
			if (nodes < 0 || nodes > INT32_MAX) {
				OGR_G_DestroyGeometry(g);
				rc = lode__err(err, nodes < 0 ? LODE_ENOMEM : LODE_ESOURCE,
					       nodes < 0 ? "out of memory"
							 : "feature %lld has more than 2^31 nodes",
					       fid);
				goto out;
			}
		}
		OGR_G_DestroyGeometry(g);
		if (lode__vread_grow((void **)&d->node_count, &b->cap_nc, d->nfeat + 1, sizeof(int32_t))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		d->node_count[d->nfeat] = (int32_t)nodes;
		if ((rc = lode__vread_add_attributes(b, feat, layer, err)) ||
		    (rc = lode__vread_send_xy(b, err)))
			goto out;
		/* Only the one reader's builder has an encoder, and it is the calling thread. */
		if (b->xy && r->drain && b->sent != sent) {
			r->drain(r->drain_arg);
			sent = b->sent;
		}
		d->nfeat++;
		if (r->max_bytes && lode__vshares_over_bound(t, b)) {
			rc = lode__err(
			    err, LODE_ESOURCE,
			    "layer '%s': its first %zu features already need %.1f MB in memory, more "
			    "than --max-memory allows (%.1f MB): lode holds a layer whole while "
			    "writing it; allow more memory, or split the layer (where:, clip:)",
			    layer, d->nfeat, lode__vread_held(b) / 1048576.0, r->max_bytes / 1048576.0);
			goto out;
		}
		OGR_F_Destroy(feat);
		feat = NULL;
	}
	if (t->cap.failures)
		rc = lode__err(err, LODE_ESOURCE, "layer '%s': reading failed: %s", layer, t->cap.msg);
out:
	if (feat)
		OGR_F_Destroy(feat);
	return rc;
}

lode_status lode__vector_read(lode__vector *v, const lode_vector_read *r, lode_vdata **out, lode_error *err)
{
	int threads = r->threads > 0 ? r->threads : lode__default_threads();
	lode_vdata *d = NULL;
	int after_shares;
	lode_status rc;

	*out = NULL;
	if ((rc = lode__vshares_read(v, r, threads, &d, &after_shares, err)))
		return rc;
	if (r->reread)
		*r->reread = after_shares && !d;
	if (!d) {
		/* One reader.  After a failed read in shares the column encoder gets no more
		   chunks (the caller learns of it through r->reread). */
		reader t;
		builder b = {0};
		if ((rc = lode__vread_new_vdata(v, &d, err)))
			return rc;
		if ((rc = lode__vread_reader_start(&t, v, r, NULL, 0, err)) == LODE_OK &&
		    (rc = lode__vread_builder_start(&b, d, after_shares ? NULL : r->xy, err)) == LODE_OK)
			rc = lode__vread_features(&t, &b, err);
		/* Not counted when opened: the count is what the driver gave this read, every
		   feature (as OGR's own count iterates them), those outside the bounds too. */
		if (rc == LODE_OK && v->counted_by_read)
			v->info.nfeat = t.given;
		lode__vread_builder_end(&b);
		lode__vread_reader_end(&t);
		if (rc) {
			lode__vdata_free(d);
			return rc;
		}
	}
	if (!d->kind)
		d->kind = LODE_GK_POINT; /* an empty layer of unknown type */
	if (!d->has_z && d->z) {
		free(d->z);
		d->z = NULL;
	}
	/* A layer declared 3D (or with M) whose geometries are all 2D (or without M): z (m) is
	   zero everywhere. */
	if ((d->has_z && !d->z && d->nnodes && !(d->z = calloc(d->nnodes, sizeof(double)))) ||
	    (d->has_m && !d->m && d->nnodes && !(d->m = calloc(d->nnodes, sizeof(double))))) {
		lode__vdata_free(d);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	*out = d;
	return LODE_OK;
}
