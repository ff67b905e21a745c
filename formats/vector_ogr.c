/*
 * vector_ogr.c -- vector layers through OGR: opening a source layer, reading its
 * features into columns (transformed with the chosen PROJ pipeline, filtered or clipped
 * to the target bounds), and writing a layer back out as a GeoPackage for extract.
 *
 * Coordinates are transformed with an OGR coordinate transformation pinned to the
 * chosen operation, in the traditional GIS axis order (x = easting or longitude), the
 * way ogr2ogr -t_srs does it (PROJ's "+proj=noop" is skipped: it changes nothing).  A
 * large GeoPackage layer is read on several threads in shares of feature ids, put back
 * together in id order (see "Reading a layer on several threads").  Curved geometries,
 * geometry collections, list and binary fields are refused with a message rather than
 * silently changed.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "gdal_util.h"
#include "lode_internal.h"

/* ---- field types ---- */

static const struct {
	lode_ftype t;
	const char *name;
	size_t size;
} ftypes[] = {
    {LODE_FT_INT32, "Integer", 4},
    {LODE_FT_INT64, "Integer64", 8},
    {LODE_FT_REAL, "Real", 8},
    {LODE_FT_STRING, "String", sizeof(char *)},
    {LODE_FT_DATE, "Date", 4},
    {LODE_FT_DATETIME, "DateTime", 8},
    {LODE_FT_BOOL, "Integer(Boolean)", 1},
};

const char *lode__ftype_name(lode_ftype t)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (ftypes[i].t == t)
			return ftypes[i].name;
	return "Unknown";
}

lode_ftype lode__ftype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (strcmp(ftypes[i].name, name) == 0)
			return ftypes[i].t;
	return 0;
}

size_t lode__ftype_size(lode_ftype t)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (ftypes[i].t == t)
			return ftypes[i].size;
	return 0;
}

void lode__vdata_free(lode_vdata *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	free(d->z);
	free(d->node_count);
	free(d->part_node_count);
	free(d->interior_ring);
	for (size_t i = 0; i < d->nfields; i++) {
		lode_vfield *f = &d->fields[i];
		if (f->type == LODE_FT_STRING && f->values)
			for (size_t k = 0; k < d->nfeat; k++)
				free(((char **)f->values)[k]);
		free(f->values);
		free(f->isnull);
		free(f->name);
		free(f->var);
	}
	free(d->fields);
	free(d);
}

const char *lode__vdata_type_name(const lode_vdata *d)
{
	static const char *const names[2][2][4] = {
	    {{"", "Point", "LineString", "Polygon"}, {"", "MultiPoint", "MultiLineString", "MultiPolygon"}},
	    {{"", "3D Point", "3D LineString", "3D Polygon"},
	     {"", "3D MultiPoint", "3D MultiLineString", "3D MultiPolygon"}},
	};
	return names[d->has_z ? 1 : 0][d->multi ? 1 : 0][d->kind];
}

/* ---- opening ---- */

struct lode__vector {
	GDALDatasetH ds;
	OGRLayerH layer;
	lode_vector_info info;
	char *path;          /* as opened, for the other threads' datasets */
	char **open_options; /* as opened */
	int has_where;       /* a where: filter is set on layer */
};

int lode__source_is_vector(const char *path, const char *const *open_options, int layer_given)
{
	lode__cpl_capture cap;
	GDALDatasetH ds;
	int kind = -1;

	lode__cpl_push(&cap);
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

lode_status lode__vector_open(const char *path, const char *const *open_options, const char *layer,
			      const char *where, lode__vector **out, lode_error *err)
{
	lode__vector *v = NULL;
	lode__cpl_capture cap;
	OGRSpatialReferenceH srs;
	OGREnvelope env;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__cpl_push(&cap);
	v = calloc(1, sizeof *v);
	if (!v) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	v->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL,
			   open_options, NULL);
	if (!v->ds) {
		rc = lode__err(err, LODE_ESOURCE, "%s: GDAL cannot open it as a vector source: %s", path,
			       lode__cpl_msg(&cap, "not a recognised vector format"));
		goto out;
	}
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
	v->info.nfeat = (long long)OGR_L_GetFeatureCount(v->layer, TRUE);
	if (OGR_L_GetExtent(v->layer, &env, TRUE) == OGRERR_NONE) {
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
	lode__vector_close(v);
	lode__cpl_pop();
	return rc;
}

const lode_vector_info *lode__vector_info(const lode__vector *v)
{
	return &v->info;
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
	free(v->info.layer);
	free(v->info.crs_wkt);
	free(v->info.driver);
	free(v->path);
	CSLDestroy(v->open_options);
	free(v);
}

/* ---- reading ---- */

/* Grow an array of n elements of size sz to hold at least need. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
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

typedef struct builder {
	lode_vdata *d;
	size_t cap_x, cap_y, cap_z, cap_nc, cap_pnc, cap_ir;
	size_t *cap_field; /* per field */
	size_t *cap_null;
	lode__colenc *xy; /* or NULL: gets each whole chunk of x and y once read */
	size_t sent;      /* nodes handed to xy */
	size_t text;      /* bytes of the string values */
} builder;

/* The bytes the layer's arrays and strings hold so far (for --max-memory). */
static size_t held(const builder *b)
{
	const lode_vdata *d = b->d;
	size_t n = (b->cap_x + b->cap_y + b->cap_z) * sizeof(double) +
		   (b->cap_nc + b->cap_pnc + b->cap_ir) * sizeof(int32_t) + b->text;

	for (size_t i = 0; i < d->nfields; i++)
		n += b->cap_field[i] * lode__ftype_size(d->fields[i].type) + b->cap_null[i];
	return n;
}

/* Hand the whole chunks of x and y read since the last call to the column encoder,
   which compresses them while reading goes on. */
static lode_status send_xy(builder *b, lode_error *err)
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

static int add_nodes(builder *b, OGRGeometryH g)
{
	lode_vdata *d = b->d;
	int n = OGR_G_GetPointCount(g), is3d;
	double *z;

	if (n <= 0)
		return 0;
	is3d = OGR_G_Is3D(g);
	if (grow((void **)&d->x, &b->cap_x, d->nnodes + (size_t)n, sizeof(double)) ||
	    grow((void **)&d->y, &b->cap_y, d->nnodes + (size_t)n, sizeof(double)))
		return -1;
	/* z only from the first 3D geometry on (zeros for the nodes before it): a 2D
	   layer's zeros were a third of the memory written, and then thrown away. */
	if (is3d || d->z) {
		int first = !d->z;
		if (grow((void **)&d->z, &b->cap_z, d->nnodes + (size_t)n, sizeof(double)))
			return -1;
		if (first)
			memset(d->z, 0, sizeof(double) * d->nnodes);
	}
	z = d->z ? d->z + d->nnodes : NULL;
	OGR_G_GetPoints(g, d->x + d->nnodes, sizeof(double), d->y + d->nnodes, sizeof(double), z,
			sizeof(double));
	if (z && !is3d)
		memset(z, 0, sizeof(double) * (size_t)n);
	d->nnodes += (size_t)n;
	return n;
}

static int add_part(builder *b, int nodes, int interior)
{
	lode_vdata *d = b->d;

	if (grow((void **)&d->part_node_count, &b->cap_pnc, d->nparts + 1, sizeof(int32_t)) ||
	    grow((void **)&d->interior_ring, &b->cap_ir, d->nparts + 1, sizeof(int32_t)))
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

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long days_from_civil(int y, int m, int d)
{
	long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

static lode_status field_defs(OGRFeatureDefnH defn, lode_vdata *d, const char *layer, lode_error *err)
{
	int n = OGR_FD_GetFieldCount(defn);

	d->fields = calloc((size_t)(n ? n : 1), sizeof *d->fields);
	if (!d->fields)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		OGRFieldDefnH fd = OGR_FD_GetFieldDefn(defn, i);
		lode_vfield *f = &d->fields[i];
		const char *name = OGR_Fld_GetNameRef(fd);
		char var[80];
		size_t k = 0;

		switch (OGR_Fld_GetType(fd)) {
		case OFTInteger:
			f->type = OGR_Fld_GetSubType(fd) == OFSTBoolean ? LODE_FT_BOOL : LODE_FT_INT32;
			break;
		case OFTInteger64: f->type = LODE_FT_INT64; break;
		case OFTReal: f->type = LODE_FT_REAL; break;
		case OFTString:
		case OFTTime: f->type = LODE_FT_STRING; break; /* a time of day is kept as "HH:MM:SS" */
		case OFTDate: f->type = LODE_FT_DATE; break;
		case OFTDateTime: f->type = LODE_FT_DATETIME; break;
		default:
			return lode__err(err, LODE_ESOURCE,
					 "layer '%s': field '%s' has type %s, which lode does not carry "
					 "(lists and binary data are not supported)",
					 layer, name, OGR_GetFieldTypeName(OGR_Fld_GetType(fd)));
		}
		d->nfields = (size_t)i + 1;
		f->name = lode__strdup(name);
		f->width = OGR_Fld_GetWidth(fd);
		/* A variable name netCDF and every reader accept; the real name travels in
		   the ogr_field_name attribute. */
		for (const char *p = name; *p && k < 60; p++)
			var[k++] =
			    ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
				? *p
				: '_';
		var[k] = '\0';
		f->var = lode__sprintf("%d_%s", i + 1, var);
		if (!f->name || !f->var)
			return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}

static lode_status add_attributes(builder *b, OGRFeatureH feat, const char *layer, lode_error *err)
{
	lode_vdata *d = b->d;
	size_t row = d->nfeat;

	for (size_t i = 0; i < d->nfields; i++) {
		lode_vfield *f = &d->fields[i];
		size_t sz = lode__ftype_size(f->type);
		int null = !OGR_F_IsFieldSetAndNotNull(feat, (int)i);
		unsigned char *slot;

		if (grow(&f->values, &b->cap_field[i], row + 1, sz) ||
		    grow((void **)&f->isnull, &b->cap_null[i], row + 1, 1))
			return lode__err(err, LODE_ENOMEM, "out of memory");
		slot = (unsigned char *)f->values + row * sz;
		memset(slot, 0, sz);
		f->isnull[row] = (unsigned char)null;
		if (null) {
			f->nnull++;
			if (f->type == LODE_FT_STRING && !(*(char **)slot = lode__strdup("")))
				return lode__err(err, LODE_ENOMEM, "out of memory");
			continue;
		}
		switch (f->type) {
		case LODE_FT_INT32: {
			int32_t v = OGR_F_GetFieldAsInteger(feat, (int)i);
			memcpy(slot, &v, 4);
			break;
		}
		case LODE_FT_BOOL: {
			int8_t v = OGR_F_GetFieldAsInteger(feat, (int)i) != 0;
			memcpy(slot, &v, 1);
			break;
		}
		case LODE_FT_INT64: {
			int64_t v = OGR_F_GetFieldAsInteger64(feat, (int)i);
			memcpy(slot, &v, 8);
			break;
		}
		case LODE_FT_REAL: {
			double v = OGR_F_GetFieldAsDouble(feat, (int)i);
			memcpy(slot, &v, 8);
			break;
		}
		case LODE_FT_STRING: {
			const char *s = OGR_F_GetFieldAsString(feat, (int)i);
			if (!CPLIsUTF8(s, -1))
				return lode__err(err, LODE_ESOURCE,
						 "layer '%s', feature %lld, field '%s': the text is not "
						 "UTF-8; name the source's encoding with open_options: "
						 "[ENCODING=CP1252] (or its code page)",
						 layer, (long long)OGR_F_GetFID(feat), f->name);
			if (!(*(char **)slot = lode__strdup(s)))
				return lode__err(err, LODE_ENOMEM, "out of memory");
			b->text += strlen(s) + 1;
			break;
		}
		case LODE_FT_DATE:
		case LODE_FT_DATETIME: {
			int y, m, dd, h, mi, tz;
			float sec;
			OGR_F_GetFieldAsDateTimeEx(feat, (int)i, &y, &m, &dd, &h, &mi, &sec, &tz);
			if (f->type == LODE_FT_DATE) {
				int32_t v = (int32_t)days_from_civil(y, m, dd);
				memcpy(slot, &v, 4);
			} else {
				double v = (double)days_from_civil(y, m, dd) * 86400.0 + h * 3600.0 +
					   mi * 60.0 + sec;
				if (tz > 1) /* an explicit offset from UTC, in 15-minute steps */
					v -= (tz - 100) * 15 * 60.0;
				memcpy(slot, &v, 8);
			}
			break;
		}
		}
	}
	return LODE_OK;
}

/*
 * Reading a layer on several threads.  A GeoPackage table (not a view) without a where:
 * filter is cut into shares of consecutive feature ids (at most MAX_SHARES, of at least
 * MIN_SHARE features each; the same shares whatever the number of threads).  Every
 * thread reads through a dataset of its own (GDAL datasets are not shared between
 * threads) with its own coordinate transformation, taking the next share as it finishes
 * one; SQLite returns a table's rows in id order with or without a filter on the id.
 * Finished shares are appended to the layer in share order as soon as the shares before
 * them are in, and whole chunks of x and y go to the column encoder from there; so the
 * layer is the same, byte for byte, whatever the number of threads, and the one a single
 * reader of the table builds.  If any share fails, the layer is read again as one, so
 * that an error names the same feature as it would have without shares.
 */
#define MIN_SHARE  4096
#define MAX_SHARES 64

typedef struct shared_read {
	lode__vector *v;
	const lode_vector_read *r;
	const char *fidcol;      /* the layer's id column */
	long long lo, hi;        /* the layer's smallest and largest feature ids */
	int nshares;             /* shares of (hi - lo + 1) / nshares ids, the last one longer */
	pthread_mutex_t mu;      /* guards what follows */
	int next_share;          /* the next share to read */
	int next_merge;          /* the next share to append to out */
	const lode_vdata *empty; /* the layer's type and fields, no features: shares copy it */
	/* Shares read but not yet appended, by share: the values (NULL until read), the bytes
	   of their strings, the room of their x and y arrays, their part of held. */
	struct {
		lode_vdata *d;
		size_t text, cap_x, cap_y, held;
	} * done;
	/* The x and y arrays of shares appended already, for the next shares to read into:
	   no copies while they grow, no new pages to fault in. */
	struct {
		double *x, *y;
		size_t cap_x, cap_y;
	} spare[MAX_SHARES];
	int nspare;
	builder out;        /* the layer so far: shares 0 .. next_merge - 1 */
	size_t out_told;    /* out's part of held */
	int failed;         /* a share failed or the types mixed: read again on one thread */
	atomic_size_t held; /* bytes held by out, the shares read or waiting, spares (--max-memory) */
} shared_read;

/* What one thread reads with. */
typedef struct reader {
	lode__vector *v;
	const lode_vector_read *r;
	shared_read *rd; /* NULL: a single reader */
	GDALDatasetH ds; /* a dataset of this thread's own, or NULL (v's) */
	OGRLayerH layer;
	OGRSpatialReferenceH s, t;
	OGRCoordinateTransformationOptionsH opts;
	OGRCoordinateTransformationH ct;
	OGRGeometryH box;
	lode__cpl_capture cap;
	size_t told; /* the current share's part of rd->held */
} reader;

/* Whether the layer's values (every thread's) have outgrown --max-memory. */
static int over_bound(reader *t, const builder *b)
{
	size_t now = held(b), all;

	if (!t->rd)
		return now > t->r->max_bytes;
	all = atomic_fetch_add(&t->rd->held, now - t->told) + (now - t->told);
	t->told = now;
	return all > t->r->max_bytes;
}

/* A new lode_vdata with the layer's declared type and fields, no features yet. */
static lode_status new_vdata(lode__vector *v, lode_vdata **out, lode_error *err)
{
	OGRwkbGeometryType declared = OGR_L_GetGeomType(v->layer), flat = wkbFlatten(declared);
	const char *layer = v->info.layer;
	lode_vdata *d;
	lode_status rc;

	*out = NULL;
	if (flat == wkbNone)
		return lode__err(
		    err, LODE_ESOURCE,
		    "layer '%s' has no geometry (for a CSV, name its coordinate columns with open_options: "
		    "[X_POSSIBLE_NAMES=lon, Y_POSSIBLE_NAMES=lat])",
		    layer);
	if (flat != wkbUnknown && !kind_of(declared))
		return lode__err(err, LODE_ESOURCE,
				 "layer '%s' has geometry type %s; lode carries points, lines and polygons "
				 "(and their multi types) only",
				 layer, OGRGeometryTypeToName(declared));
	if (!(d = calloc(1, sizeof *d)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	d->kind = kind_of(declared);
	d->multi = flat == wkbMultiPoint || flat == wkbMultiLineString || flat == wkbMultiPolygon;
	d->has_z = wkbHasZ(declared);
	if ((rc = field_defs(OGR_L_GetLayerDefn(v->layer), d, layer, err))) {
		lode__vdata_free(d);
		return rc;
	}
	*out = d;
	return LODE_OK;
}

static lode_status builder_start(builder *b, lode_vdata *d, lode__colenc *xy, lode_error *err)
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

static void builder_end(builder *b)
{
	free(b->cap_field);
	free(b->cap_null);
	b->cap_field = b->cap_null = NULL;
}

/* Set up a thread's reader: its dataset (unless it reads through v's), the CRSs, the
   transformation and the target box. */
static lode_status reader_start(reader *t, lode__vector *v, const lode_vector_read *r, shared_read *rd,
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
	if (lode__op_is_noop(r->pipeline)) /* no transformation: a fifth of the read spared */
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

static void reader_end(reader *t)
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
static lode_status read_features(reader *t, builder *b, lode_error *err)
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

		if (g && !OGR_G_IsEmpty(g)) {
			OGRwkbGeometryType gt = OGR_G_GetGeometryType(g);
			lode_gkind k = kind_of(gt);
			OGREnvelope e;

			if (OGR_G_IsMeasured(g)) {
				rc = lode__err(err, LODE_ESOURCE,
					       "layer '%s', feature %lld: the geometry has measures (M), "
					       "which lode does not "
					       "carry; drop them first, e.g. ogr2ogr -dim XYZ",
					       layer, fid);
				OGR_G_DestroyGeometry(g);
				goto out;
			}
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
				OGRGeometryH cut = OGR_G_Intersection(g, t->box),
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
			if (OGR_G_Is3D(g))
				d->has_z = 1;
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
		if (grow((void **)&d->node_count, &b->cap_nc, d->nfeat + 1, sizeof(int32_t))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		d->node_count[d->nfeat] = (int32_t)nodes;
		if ((rc = add_attributes(b, feat, layer, err)) || (rc = send_xy(b, err)))
			goto out;
		/* Only the one reader's builder has an encoder, and it is the calling thread. */
		if (b->xy && r->drain && b->sent != sent) {
			r->drain(r->drain_arg);
			sent = b->sent;
		}
		d->nfeat++;
		if (r->max_bytes && over_bound(t, b)) {
			rc = lode__err(
			    err, LODE_ESOURCE,
			    "layer '%s': its first %zu features already need %.1f MB in memory, more "
			    "than --max-memory allows (%.1f MB): lode holds a layer whole while "
			    "writing it; allow more memory, or split the layer (where:, clip:)",
			    layer, d->nfeat, held(b) / 1048576.0, r->max_bytes / 1048576.0);
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

/* Append src's features to the layer b builds (src keeps nothing: its strings are b's). */
static int append(builder *b, lode_vdata *src)
{
	lode_vdata *a = b->d;
	size_t nf = a->nfeat + src->nfeat, nn = a->nnodes + src->nnodes, np = a->nparts + src->nparts;

	if (src->z && !a->z) {
		if (grow((void **)&a->z, &b->cap_z, nn, sizeof(double)))
			return -1;
		memset(a->z, 0, a->nnodes * sizeof(double));
	}
	if (grow((void **)&a->x, &b->cap_x, nn, sizeof(double)) ||
	    grow((void **)&a->y, &b->cap_y, nn, sizeof(double)) ||
	    (a->z && grow((void **)&a->z, &b->cap_z, nn, sizeof(double))) ||
	    grow((void **)&a->node_count, &b->cap_nc, nf, sizeof(int32_t)) ||
	    grow((void **)&a->part_node_count, &b->cap_pnc, np, sizeof(int32_t)) ||
	    grow((void **)&a->interior_ring, &b->cap_ir, np, sizeof(int32_t)))
		return -1;
	memcpy(a->x + a->nnodes, src->x, src->nnodes * sizeof(double));
	memcpy(a->y + a->nnodes, src->y, src->nnodes * sizeof(double));
	if (a->z && src->z)
		memcpy(a->z + a->nnodes, src->z, src->nnodes * sizeof(double));
	else if (a->z)
		memset(a->z + a->nnodes, 0, src->nnodes * sizeof(double));
	if (src->nfeat)
		memcpy(a->node_count + a->nfeat, src->node_count, src->nfeat * sizeof(int32_t));
	if (src->nparts) {
		memcpy(a->part_node_count + a->nparts, src->part_node_count, src->nparts * sizeof(int32_t));
		memcpy(a->interior_ring + a->nparts, src->interior_ring, src->nparts * sizeof(int32_t));
	}
	for (size_t i = 0; i < a->nfields; i++) {
		lode_vfield *fa = &a->fields[i], *fs = &src->fields[i];
		size_t sz = lode__ftype_size(fa->type);
		if (grow(&fa->values, &b->cap_field[i], nf, sz) ||
		    grow((void **)&fa->isnull, &b->cap_null[i], nf, 1))
			return -1;
		if (src->nfeat) {
			memcpy((unsigned char *)fa->values + a->nfeat * sz, fs->values, src->nfeat * sz);
			memcpy(fa->isnull + a->nfeat, fs->isnull, src->nfeat);
		}
		fa->nnull += fs->nnull;
	}
	a->nfeat = nf;
	a->nnodes = nn;
	a->nparts = np;
	a->multi |= src->multi;
	a->has_z |= src->has_z;
	src->nfeat = 0; /* its strings are a's now */
	return 0;
}

/* An empty lode_vdata with e's type and fields (the threads do not touch OGR's layer
   definition, which belongs to the thread reading through v's dataset). */
static lode_vdata *vdata_like(const lode_vdata *e)
{
	lode_vdata *d = calloc(1, sizeof *d);

	if (!d || !(d->fields = calloc(e->nfields ? e->nfields : 1, sizeof *d->fields))) {
		free(d);
		return NULL;
	}
	d->kind = e->kind;
	d->multi = e->multi;
	d->has_z = e->has_z;
	d->nfields = e->nfields;
	for (size_t i = 0; i < e->nfields; i++) {
		d->fields[i].type = e->fields[i].type;
		d->fields[i].width = e->fields[i].width;
		d->fields[i].name = lode__strdup(e->fields[i].name);
		d->fields[i].var = lode__strdup(e->fields[i].var);
		if (!d->fields[i].name || !d->fields[i].var) {
			lode__vdata_free(d);
			return NULL;
		}
	}
	return d;
}

/* Under rd->mu: append the shares that are ready, in order. */
static void merge_ready(shared_read *rd)
{
	lode_error ignored;

	while (!rd->failed && rd->next_merge < rd->nshares && rd->done[rd->next_merge].d) {
		lode_vdata *src = rd->done[rd->next_merge].d, *a = rd->out.d;
		size_t now;
		if (a->kind && src->kind && a->kind != src->kind) {
			rd->failed = 1; /* mixed types: the one-thread read names the feature */
			break;
		}
		if (!a->kind)
			a->kind = src->kind;
		rd->out.text += rd->done[rd->next_merge].text;
		if (append(&rd->out, src) || send_xy(&rd->out, &ignored)) {
			rd->failed = 1;
			break;
		}
		if (rd->nspare < MAX_SHARES && src->x && src->y) {
			size_t cx = rd->done[rd->next_merge].cap_x, cy = rd->done[rd->next_merge].cap_y;
			rd->spare[rd->nspare].x = src->x;
			rd->spare[rd->nspare].y = src->y;
			rd->spare[rd->nspare].cap_x = cx;
			rd->spare[rd->nspare++].cap_y = cy;
			src->x = src->y = NULL;
			atomic_fetch_add(&rd->held, (cx + cy) * sizeof(double)); /* still held, spare */
		}
		lode__vdata_free(src);
		atomic_fetch_sub(&rd->held, rd->done[rd->next_merge].held);
		rd->done[rd->next_merge++].d = NULL;
		now = held(&rd->out);
		atomic_fetch_add(&rd->held, now - rd->out_told);
		rd->out_told = now;
	}
}

static lode_status share_filter(reader *t, int i)
{
	shared_read *rd = t->rd;
	long long span = (rd->hi - rd->lo + 1) / rd->nshares;
	long long lo = rd->lo + span * i, hi = i == rd->nshares - 1 ? rd->hi : lo + span - 1;
	char filter[256];

	snprintf(filter, sizeof filter, "\"%s\" BETWEEN %lld AND %lld", rd->fidcol, lo, hi);
	return OGR_L_SetAttributeFilter(t->layer, filter) == OGRERR_NONE ? LODE_OK : LODE_ESOURCE;
}

/* One thread's work: take the next share, read it, hand it over; until none is left. */
static void read_shares(shared_read *rd, int own_dataset)
{
	reader t;
	lode_error err = {0};
	int ok = reader_start(&t, rd->v, rd->r, rd, own_dataset, &err) == LODE_OK;

	for (;;) {
		lode_vdata *d = NULL;
		builder b = {0};
		int i;

		pthread_mutex_lock(&rd->mu);
		if (!ok)
			rd->failed = 1;
		i = rd->failed || rd->next_share == rd->nshares ? -1 : rd->next_share++;
		pthread_mutex_unlock(&rd->mu);
		if (i < 0)
			break;
		t.told = 0;
		ok = (d = vdata_like(rd->empty)) != NULL && builder_start(&b, d, NULL, &err) == LODE_OK;
		if (ok) {
			pthread_mutex_lock(&rd->mu);
			if (rd->nspare > 0) {
				rd->nspare--;
				d->x = rd->spare[rd->nspare].x;
				d->y = rd->spare[rd->nspare].y;
				b.cap_x = rd->spare[rd->nspare].cap_x;
				b.cap_y = rd->spare[rd->nspare].cap_y;
				/* counted again as the share's own, as it reads */
				atomic_fetch_sub(&rd->held, (b.cap_x + b.cap_y) * sizeof(double));
			}
			pthread_mutex_unlock(&rd->mu);
		}
		ok = ok && share_filter(&t, i) == LODE_OK && read_features(&t, &b, &err) == LODE_OK;
		builder_end(&b);
		/* A share read stays counted until it is appended (merge_ready). */
		if (!ok)
			atomic_fetch_sub(&rd->held, t.told);
		pthread_mutex_lock(&rd->mu);
		if (ok) {
			rd->done[i].d = d;
			rd->done[i].text = b.text;
			rd->done[i].cap_x = b.cap_x;
			rd->done[i].cap_y = b.cap_y;
			rd->done[i].held = t.told;
			d = NULL;
			merge_ready(rd);
		}
		pthread_mutex_unlock(&rd->mu);
		lode__vdata_free(d);
		/* The calling thread stores what the merges gave the encoder so far. */
		if (!own_dataset && rd->r->drain)
			rd->r->drain(rd->r->drain_arg);
	}
	reader_end(&t);
}

static void *share_main(void *arg)
{
	read_shares(arg, 1);
	return NULL;
}

/* rd->nshares, how many shares to read the layer in (1: as one, in SQLite's order), and
   rd->fidcol, lo and hi; the same whatever the number of threads, so that the order is. */
static void plan_shares(shared_read *rd)
{
	lode__vector *v = rd->v;
	const char *fidcol = OGR_L_GetFIDColumn(v->layer), *type;
	lode__cpl_capture cap;
	char sql[1024];
	OGRLayerH res;
	OGRFeatureH f;
	long long n = v->info.nfeat / MIN_SHARE;

	if (n < 2 || v->has_where || !v->path || strcmp(v->info.driver, "GPKG") || !fidcol || !fidcol[0] ||
	    strlen(fidcol) > 100 || strpbrk(fidcol, "\"'") || strlen(v->info.layer) > 200 ||
	    strpbrk(v->info.layer, "\"'")) {
		rd->nshares = 1;
		return;
	}
	if (n > MAX_SHARES)
		n = MAX_SHARES;
	/* Only a table: a view has no id b-tree to cut along, and its own order.  MIN and MAX
	   in subqueries of their own: SQLite looks each up in the b-tree, where both in one
	   query scan the whole table (50 ms for 54 MB, on one core, before the threads start). */
	snprintf(sql, sizeof sql,
		 "SELECT (SELECT type FROM sqlite_master WHERE name = '%s'), "
		 "(SELECT MIN(\"%s\") FROM \"%s\"), (SELECT MAX(\"%s\") FROM \"%s\")",
		 v->info.layer, fidcol, v->info.layer, fidcol, v->info.layer);
	lode__cpl_push(&cap); /* a failed query means one share, not a message */
	res = GDALDatasetExecuteSQL(v->ds, sql, NULL, NULL);
	lode__cpl_pop();
	if (!res) {
		rd->nshares = 1;
		return;
	}
	f = OGR_L_GetNextFeature(res);
	type = f && OGR_F_IsFieldSetAndNotNull(f, 0) ? OGR_F_GetFieldAsString(f, 0) : "";
	if (f && !strcmp(type, "table") && OGR_F_IsFieldSetAndNotNull(f, 1) &&
	    OGR_F_IsFieldSetAndNotNull(f, 2)) {
		rd->lo = OGR_F_GetFieldAsInteger64(f, 1);
		rd->hi = OGR_F_GetFieldAsInteger64(f, 2);
	} else {
		n = 1;
	}
	if (f)
		OGR_F_Destroy(f);
	GDALDatasetReleaseResultSet(v->ds, res);
	if (n > 1 && (rd->lo < -(1LL << 60) || rd->hi > (1LL << 60) || rd->hi < rd->lo ||
		      rd->hi - rd->lo < n * MIN_SHARE / 2))
		n = 1;
	rd->nshares = (int)n;
	rd->fidcol = fidcol;
}

/* The layer in shares, on up to threads threads, into *out; LODE_OK with *out NULL if
   it is read as one instead (*tried: after a failed read in shares). */
static lode_status read_in_shares(lode__vector *v, const lode_vector_read *r, int threads, lode_vdata **out,
				  int *tried, lode_error *err)
{
	shared_read rd = {.v = v, .r = r};
	pthread_t th[MAX_SHARES];
	int nth = 0;
	lode_status rc;

	*out = NULL;
	*tried = 0;
	plan_shares(&rd);
	if (rd.nshares < 2)
		return LODE_OK;
	*tried = 1;
	rd.done = calloc((size_t)rd.nshares, sizeof *rd.done);
	if (!rd.done)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	else if ((rc = new_vdata(v, &rd.out.d, err)) == LODE_OK &&
		 (rc = builder_start(&rd.out, rd.out.d, r->xy, err)) == LODE_OK &&
		 !(rd.empty = vdata_like(rd.out.d)))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	if (rc) {
		lode__vdata_free(rd.out.d);
		lode__vdata_free((lode_vdata *)rd.empty);
		builder_end(&rd.out);
		free(rd.done);
		return rc;
	}
	pthread_mutex_init(&rd.mu, NULL);
	if (threads > rd.nshares)
		threads = rd.nshares;
	for (int i = 1; i < threads && i < MAX_SHARES; i++)
		if (pthread_create(&th[nth], NULL, share_main, &rd) == 0)
			nth++;
	read_shares(&rd, 0);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&rd.mu);
	for (int i = 0; i < rd.nshares; i++)
		lode__vdata_free(rd.done[i].d);
	for (int i = 0; i < rd.nspare; i++) {
		free(rd.spare[i].x);
		free(rd.spare[i].y);
	}
	free(rd.done);
	lode__vdata_free((lode_vdata *)rd.empty);
	builder_end(&rd.out);
	if (rd.failed || rd.next_merge != rd.nshares) {
		lode__vdata_free(rd.out.d);
		return LODE_OK;
	}
	*out = rd.out.d;
	return LODE_OK;
}

lode_status lode__vector_read(lode__vector *v, const lode_vector_read *r, lode_vdata **out, lode_error *err)
{
	int threads = r->threads > 0 ? r->threads : lode__default_threads();
	lode_vdata *d = NULL;
	int after_shares;
	lode_status rc;

	*out = NULL;
	if ((rc = read_in_shares(v, r, threads, &d, &after_shares, err)))
		return rc;
	if (r->reread)
		*r->reread = after_shares && !d;
	if (!d) {
		/* One reader.  After a failed read in shares the column encoder gets no more
		   chunks (the caller learns of it through r->reread). */
		reader t;
		builder b = {0};
		if ((rc = new_vdata(v, &d, err)))
			return rc;
		if ((rc = reader_start(&t, v, r, NULL, 0, err)) == LODE_OK &&
		    (rc = builder_start(&b, d, after_shares ? NULL : r->xy, err)) == LODE_OK)
			rc = read_features(&t, &b, err);
		builder_end(&b);
		reader_end(&t);
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
	/* A layer declared 3D whose geometries are all 2D: z is zero everywhere. */
	if (d->has_z && !d->z && d->nnodes && !(d->z = calloc(d->nnodes, sizeof(double)))) {
		lode__vdata_free(d);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	*out = d;
	return LODE_OK;
}

/* ---- GeoPackage output ---- */

static void civil_from_days(long z, int *y, int *m, int *d)
{
	long era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static OGRGeometryH ring_or_line(const lode_vdata *d, size_t first, int n, OGRwkbGeometryType t)
{
	OGRGeometryH g = OGR_G_CreateGeometry(t);

	if (d->has_z)
		OGR_G_Set3D(g, TRUE);
	OGR_G_SetPoints(g, n, d->x + first, sizeof(double), d->y + first, sizeof(double),
			d->has_z ? d->z + first : NULL, sizeof(double));
	return g;
}

/* Rebuild feature f's geometry; *node and *part advance.  NULL for no geometry. */
static OGRGeometryH rebuild(const lode_vdata *d, size_t f, size_t *node, size_t *part)
{
	int nodes = d->node_count[f];
	OGRGeometryH g = NULL;

	if (nodes == 0)
		return NULL;
	if (d->kind == LODE_GK_POINT) {
		g = OGR_G_CreateGeometry(d->multi ? wkbMultiPoint : wkbPoint);
		if (d->has_z)
			OGR_G_Set3D(g, TRUE);
		for (int i = 0; i < nodes; i++) {
			size_t k = *node + (size_t)i;
			OGRGeometryH p = d->multi ? OGR_G_CreateGeometry(wkbPoint) : g;
			if (d->has_z)
				OGR_G_SetPoint(p, 0, d->x[k], d->y[k], d->z[k]);
			else
				OGR_G_SetPoint_2D(p, 0, d->x[k], d->y[k]);
			if (d->multi)
				OGR_G_AddGeometryDirectly(g, p);
		}
		*node += (size_t)nodes;
		return g;
	}
	g = d->multi ? OGR_G_CreateGeometry(d->kind == LODE_GK_LINE ? wkbMultiLineString : wkbMultiPolygon)
		     : NULL;
	if (g && d->has_z)
		OGR_G_Set3D(g, TRUE);
	{
		OGRGeometryH poly = NULL;
		int used = 0;
		while (used < nodes && *part < d->nparts) {
			int n = d->part_node_count[*part];
			if (d->kind == LODE_GK_LINE) {
				OGRGeometryH l = ring_or_line(d, *node, n, wkbLineString);
				if (!g)
					g = l;
				else if (d->multi)
					OGR_G_AddGeometryDirectly(g, l);
				else
					OGR_G_DestroyGeometry(l); /* cannot happen in a verified layer */
			} else {
				if (!d->interior_ring[*part]) {
					if (poly && g)
						OGR_G_AddGeometryDirectly(g, poly);
					else if (poly) /* a second exterior outside a multi layer */
						OGR_G_DestroyGeometry(poly);
					poly = OGR_G_CreateGeometry(wkbPolygon);
					if (d->has_z)
						OGR_G_Set3D(poly, TRUE);
				}
				if (poly)
					OGR_G_AddGeometryDirectly(poly,
								  ring_or_line(d, *node, n, wkbLinearRing));
			}
			*node += (size_t)n;
			used += n;
			(*part)++;
		}
		if (poly) {
			if (g)
				OGR_G_AddGeometryDirectly(g, poly);
			else
				g = poly;
		}
	}
	return g;
}

lode_status lode__gpkg_write(const char *path, const char *layer, const char *crs_wkt, const char *type_name,
			     const lode_vdata *d, lode_error *err)
{
	lode__cpl_capture cap;
	GDALDriverH drv = GDALGetDriverByName("GPKG");
	GDALDatasetH ds = NULL;
	OGRLayerH lyr;
	OGRSpatialReferenceH srs = NULL;
	size_t node = 0, part = 0;
	lode_status rc = LODE_OK;

	(void)type_name; /* the type comes from d's kind, multi and has_z */
	lode__cpl_push(&cap);
	if (!drv) {
		rc = lode__err(err, LODE_EINTERNAL, "GDAL's GPKG driver is missing");
		goto out;
	}
	ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
	if (!ds) {
		rc = lode__err(err, LODE_EIO, "%s: cannot create the GeoPackage: %s", path,
			       lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
	if (crs_wkt && (srs = OSRNewSpatialReference(NULL)) &&
	    OSRSetFromUserInput(srs, crs_wkt) == OGRERR_NONE)
		OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
	{
		static const OGRwkbGeometryType types[2][2][4] = {
		    {{wkbUnknown, wkbPoint, wkbLineString, wkbPolygon},
		     {wkbUnknown, wkbMultiPoint, wkbMultiLineString, wkbMultiPolygon}},
		    {{wkbUnknown, wkbPoint25D, wkbLineString25D, wkbPolygon25D},
		     {wkbUnknown, wkbMultiPoint25D, wkbMultiLineString25D, wkbMultiPolygon25D}}};
		lyr = GDALDatasetCreateLayer(ds, layer, srs,
					     types[d->has_z ? 1 : 0][d->multi ? 1 : 0][d->kind], NULL);
	}
	if (!lyr) {
		rc = lode__err(err, LODE_EIO, "%s: cannot create layer '%s': %s", path, layer,
			       lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
	for (size_t i = 0; i < d->nfields; i++) {
		const lode_vfield *f = &d->fields[i];
		OGRFieldType ot = f->type == LODE_FT_INT32 || f->type == LODE_FT_BOOL ? OFTInteger
				  : f->type == LODE_FT_INT64                          ? OFTInteger64
				  : f->type == LODE_FT_REAL                           ? OFTReal
				  : f->type == LODE_FT_DATE                           ? OFTDate
				  : f->type == LODE_FT_DATETIME                       ? OFTDateTime
										      : OFTString;
		OGRFieldDefnH fd = OGR_Fld_Create(f->name, ot);
		if (f->type == LODE_FT_BOOL)
			OGR_Fld_SetSubType(fd, OFSTBoolean);
		if (f->width > 0 && f->type == LODE_FT_STRING)
			OGR_Fld_SetWidth(fd, f->width);
		if (OGR_L_CreateField(lyr, fd, TRUE) != OGRERR_NONE) {
			OGR_Fld_Destroy(fd);
			rc = lode__err(err, LODE_EIO, "%s: cannot create field '%s': %s", path, f->name,
				       lode__cpl_msg(&cap, "unknown reason"));
			goto out;
		}
		OGR_Fld_Destroy(fd);
	}
	GDALDatasetStartTransaction(ds, FALSE);
	for (size_t k = 0; k < d->nfeat; k++) {
		OGRFeatureH feat = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
		OGRGeometryH g = rebuild(d, k, &node, &part);

		if (g)
			OGR_F_SetGeometryDirectly(feat, g);
		for (size_t i = 0; i < d->nfields; i++) {
			const lode_vfield *f = &d->fields[i];
			const unsigned char *slot =
			    (const unsigned char *)f->values + k * lode__ftype_size(f->type);
			if (f->isnull[k]) {
				OGR_F_SetFieldNull(feat, (int)i);
				continue;
			}
			switch (f->type) {
			case LODE_FT_INT32: {
				int32_t v;
				memcpy(&v, slot, 4);
				OGR_F_SetFieldInteger(feat, (int)i, v);
				break;
			}
			case LODE_FT_BOOL: OGR_F_SetFieldInteger(feat, (int)i, *(const int8_t *)slot); break;
			case LODE_FT_INT64: {
				int64_t v;
				memcpy(&v, slot, 8);
				OGR_F_SetFieldInteger64(feat, (int)i, v);
				break;
			}
			case LODE_FT_REAL: {
				double v;
				memcpy(&v, slot, 8);
				OGR_F_SetFieldDouble(feat, (int)i, v);
				break;
			}
			case LODE_FT_STRING: OGR_F_SetFieldString(feat, (int)i, *(char *const *)slot); break;
			case LODE_FT_DATE: {
				int32_t v;
				int y, m, dd;
				memcpy(&v, slot, 4);
				civil_from_days(v, &y, &m, &dd);
				OGR_F_SetFieldDateTime(feat, (int)i, y, m, dd, 0, 0, 0, 0);
				break;
			}
			case LODE_FT_DATETIME: {
				double v, days, secs;
				int y, m, dd;
				memcpy(&v, slot, 8);
				days = floor(v / 86400.0);
				secs = v - days * 86400.0;
				civil_from_days((long)days, &y, &m, &dd);
				OGR_F_SetFieldDateTimeEx(feat, (int)i, y, m, dd, (int)(secs / 3600),
							 (int)fmod(secs / 60, 60), (float)fmod(secs, 60.0),
							 100);
				break;
			}
			}
		}
		if (OGR_L_CreateFeature(lyr, feat) != OGRERR_NONE) {
			OGR_F_Destroy(feat);
			rc = lode__err(err, LODE_EIO, "%s: writing feature %zu failed: %s", path, k,
				       lode__cpl_msg(&cap, "unknown reason"));
			goto out;
		}
		OGR_F_Destroy(feat);
	}
	if (GDALDatasetCommitTransaction(ds) != OGRERR_NONE) {
		rc = lode__err(err, LODE_EIO, "%s: committing failed: %s", path,
			       lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
out:
	if (ds) {
		GDALClose(ds);
		if (!rc && cap.failures)
			rc = lode__err(err, LODE_EIO, "%s: finishing the GeoPackage failed: %s", path,
				       cap.msg);
	}
	if (srs)
		OSRDestroySpatialReference(srs);
	lode__cpl_pop();
	return rc;
}
