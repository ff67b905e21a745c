/*
 * gpkg_write.c -- a layer or table (a lode_vdata, vdata.h) written back out as a new
 * GeoPackage (or a CSV file) for lode extract: the fields with their types, each
 * feature's geometry rebuilt from the columns, in one transaction.  It does not
 * transform or filter anything: the layer is written as it is in the bundle.  Reading
 * layers is vector_read.c's.
 */
#include <math.h>
#include <string.h>

#include <gdal.h>
#include <jansson.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "error.h"
#include "gdal_util.h"
#include "gpkg_write.h"
#include "vdata.h"

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

/* Give g the layer's dimensions: Z, M. */
static void dims(OGRGeometryH g, const lode_vdata *d)
{
	if (d->has_z)
		OGR_G_Set3D(g, TRUE);
	if (d->has_m)
		OGR_G_SetMeasured(g, TRUE);
}

static OGRGeometryH ring_or_line(const lode_vdata *d, size_t first, int n, OGRwkbGeometryType t)
{
	OGRGeometryH g = OGR_G_CreateGeometry(t);

	dims(g, d);
	OGR_G_SetPointsZM(g, n, d->x + first, sizeof(double), d->y + first, sizeof(double),
			  d->has_z ? d->z + first : NULL, sizeof(double), d->has_m ? d->m + first : NULL,
			  sizeof(double));
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
		dims(g, d);
		for (int i = 0; i < nodes; i++) {
			size_t k = *node + (size_t)i;
			OGRGeometryH p = d->multi ? OGR_G_CreateGeometry(wkbPoint) : g;
			dims(p, d);
			if (d->has_z && d->has_m)
				OGR_G_SetPointZM(p, 0, d->x[k], d->y[k], d->z[k], d->m[k]);
			else if (d->has_m)
				OGR_G_SetPointM(p, 0, d->x[k], d->y[k], d->m[k]);
			else if (d->has_z)
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
	if (g)
		dims(g, d);
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
					dims(poly, d);
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

/* A list field from the JSON array text lode stores (checked when it was read). */
static int set_list(OGRFeatureH feat, int i, lode_ftype t, const char *text)
{
	json_t *a = json_loads(text, 0, NULL);
	size_t n = json_array_size(a);
	void *buf = a ? calloc(n + 1, t == LODE_FT_STRLIST ? sizeof(char *) : 8) : NULL;
	int rc = buf ? 0 : -1;

	for (size_t k = 0; !rc && k < n; k++) {
		json_t *x = json_array_get(a, k);
		if (t == LODE_FT_STRLIST)
			((const char **)buf)[k] = json_string_value(x);
		else if (t == LODE_FT_INTLIST)
			((int *)buf)[k] = (int)json_integer_value(x);
		else if (t == LODE_FT_INT64LIST)
			((GIntBig *)buf)[k] = (GIntBig)json_integer_value(x);
		else
			((double *)buf)[k] = json_number_value(x);
	}
	if (!rc && t == LODE_FT_STRLIST)
		OGR_F_SetFieldStringList(feat, i, (CSLConstList)buf);
	else if (!rc && t == LODE_FT_INTLIST)
		OGR_F_SetFieldIntegerList(feat, i, (int)n, buf);
	else if (!rc && t == LODE_FT_INT64LIST)
		OGR_F_SetFieldInteger64List(feat, i, (int)n, buf);
	else if (!rc)
		OGR_F_SetFieldDoubleList(feat, i, (int)n, buf);
	free(buf);
	json_decref(a);
	return rc;
}

/* The fields of feature k of d into feat. */
static lode_status set_fields(OGRFeatureH feat, const lode_vdata *d, size_t k, lode_error *err)
{
	for (size_t i = 0; i < d->nfields; i++) {
		const lode_vfield *f = &d->fields[i];
		const unsigned char *slot = (const unsigned char *)f->values + k * lode__ftype_size(f->type);
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
		case LODE_FT_JSON:
		case LODE_FT_STRING: OGR_F_SetFieldString(feat, (int)i, *(char *const *)slot); break;
		case LODE_FT_STRLIST:
		case LODE_FT_INTLIST:
		case LODE_FT_INT64LIST:
		case LODE_FT_REALLIST:
			if (set_list(feat, (int)i, f->type, *(char *const *)slot) < 0)
				return lode__err(err, LODE_EDAMAGED, "feature %zu, field '%s': not a list", k,
						 f->name);
			break;
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
						 (int)fmod(secs / 60, 60), (float)fmod(secs, 60.0), 100);
			break;
		}
		}
	}
	return LODE_OK;
}

static lode_status write_layer(const char *path, int csv, int append, const char *layer, const char *crs_wkt,
			       const lode_vdata *d, lode_error *err)
{
	static const char *const csv_opts[] = {"GEOMETRY=AS_WKT", NULL};
	lode__cpl_capture cap;
	GDALDriverH drv = GDALGetDriverByName(csv ? "CSV" : "GPKG");
	GDALDatasetH ds = NULL;
	OGRLayerH lyr;
	OGRSpatialReferenceH srs = NULL;
	size_t node = 0, part = 0;
	lode_status rc = LODE_OK;

	lode__cpl_push(&cap);
	if (!drv) {
		rc = lode__err(err, LODE_EINTERNAL, "GDAL's %s driver is missing", csv ? "CSV" : "GPKG");
		goto out;
	}
	ds = append ? GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL, NULL, NULL)
		    : GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
	if (!ds) {
		rc = lode__err(err, LODE_EIO, "%s: cannot create the %s: %s", path,
			       csv ? "CSV file" : "GeoPackage", lode__cpl_msg(&cap, "unknown reason"));
		goto out;
	}
	/* A CSV file has no CRS (GDAL would write a .prj beside it). */
	if (!csv && crs_wkt && (srs = OSRNewSpatialReference(NULL)) &&
	    OSRSetFromUserInput(srs, crs_wkt) == OGRERR_NONE)
		OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
	{
		static const OGRwkbGeometryType types[2][2][4] = {
		    {{wkbUnknown, wkbPoint, wkbLineString, wkbPolygon},
		     {wkbUnknown, wkbMultiPoint, wkbMultiLineString, wkbMultiPolygon}},
		    {{wkbUnknown, wkbPoint25D, wkbLineString25D, wkbPolygon25D},
		     {wkbUnknown, wkbMultiPoint25D, wkbMultiLineString25D, wkbMultiPolygon25D}}};
		OGRwkbGeometryType gt =
		    types[d->has_z ? 1 : 0][d->multi ? 1 : 0][d->kind == LODE_GK_NONE ? 0 : d->kind];
		/* A table: a layer without geometry (a GeoPackage attributes table). */
		lyr = GDALDatasetCreateLayer(ds, layer, d->kind == LODE_GK_NONE ? NULL : srs,
					     d->kind == LODE_GK_NONE ? wkbNone
					     : d->has_m              ? OGR_GT_SetM(gt)
								     : gt,
					     csv && d->kind != LODE_GK_NONE ? (char **)csv_opts : NULL);
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
				  : f->type == LODE_FT_STRLIST                        ? OFTStringList
				  : f->type == LODE_FT_INTLIST                        ? OFTIntegerList
				  : f->type == LODE_FT_INT64LIST                      ? OFTInteger64List
				  : f->type == LODE_FT_REALLIST                       ? OFTRealList
										      : OFTString;
		OGRFieldDefnH fd = OGR_Fld_Create(f->name, ot);
		if (f->type == LODE_FT_BOOL)
			OGR_Fld_SetSubType(fd, OFSTBoolean);
		if (f->type == LODE_FT_JSON)
			OGR_Fld_SetSubType(fd, OFSTJSON);
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
	if (!csv)
		GDALDatasetStartTransaction(ds, FALSE);
	for (size_t k = 0; k < d->nfeat; k++) {
		OGRFeatureH feat = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
		OGRGeometryH g = rebuild(d, k, &node, &part);

		if (g)
			OGR_F_SetGeometryDirectly(feat, g);
		if ((rc = set_fields(feat, d, k, err))) {
			OGR_F_Destroy(feat);
			goto out;
		}
		if (OGR_L_CreateFeature(lyr, feat) != OGRERR_NONE) {
			OGR_F_Destroy(feat);
			rc = lode__err(err, LODE_EIO, "%s: writing feature %zu failed: %s", path, k,
				       lode__cpl_msg(&cap, "unknown reason"));
			goto out;
		}
		OGR_F_Destroy(feat);
	}
	if (!csv && GDALDatasetCommitTransaction(ds) != OGRERR_NONE) {
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

lode_status lode__vdata_write(const char *path, int csv, const char *layer, const char *crs_wkt,
			      const lode_vdata *d, lode_error *err)
{
	return write_layer(path, csv, 0, layer, crs_wkt, d, err);
}

lode_status lode__vdata_write_more(const char *path, const char *layer, const char *crs_wkt,
				   const lode_vdata *d, lode_error *err)
{
	return write_layer(path, 0, 1, layer, crs_wkt, d, err);
}

/* ---- relations: the GeoPackage Related Tables Extension (OGC 18-000) ---- */

/* text appended to sql (cap bytes), cut if it does not fit (the statement then fails). */
static void app(char *sql, size_t cap, const char *text)
{
	size_t len = strlen(sql);

	snprintf(sql + len, cap - len, "%s", text);
}

/* s as an SQL identifier ("..." with '"' doubled) appended to sql (cap bytes). */
static void ident(char *sql, size_t cap, const char *s)
{
	size_t len = strlen(sql);

	if (len + 4 > cap)
		return;
	sql[len++] = '"';
	for (; *s && len + 4 < cap; s++) {
		if (*s == '"')
			sql[len++] = '"';
		sql[len++] = *s;
	}
	sql[len++] = '"';
	sql[len] = '\0';
}

/* One statement of the extension, or its error. */
static lode_status run_sql(GDALDatasetH ds, const char *path, const char *sql, lode__cpl_capture *cap,
			   lode_error *err)
{
	OGRLayerH r;
	int before = cap->failures;

	r = GDALDatasetExecuteSQL(ds, sql, NULL, NULL);
	if (r)
		GDALDatasetReleaseResultSet(ds, r);
	if (cap->failures != before)
		return lode__err(err, LODE_EIO, "%s: recording the relation failed: %s", path, cap->msg);
	return LODE_OK;
}

lode_status lode__gpkg_relate(const char *path, const char *base, const char *key, const char *related,
			      const char *field, lode_error *err)
{
	static const char *const def = "'gpkg_related_tables', "
				       "'http://docs.opengeospatial.org/is/18-000/18-000.html', 'read-write'";
	char map[400], sql[8][1400];
	lode__cpl_capture cap;
	GDALDatasetH ds;
	lode_status rc = LODE_OK;

	if (strlen(base) > 64 || strlen(related) > 64 || strlen(key) > 255 || strlen(field) > 255)
		return lode__err(err, LODE_EBUNDLE, "%s: the relation's names are too long", path);
	snprintf(map, sizeof map, "%s_%s_%s", related, field, base);
	for (char *c = map; *c; c++) /* a plain name: it is also quoted as a value below */
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      *c == '-'))
			*c = '_';
	snprintf(
	    sql[7], sizeof sql[7],
	    "CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name "
	    "TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
	    "(table_name, column_name, extension_name))");
	snprintf(sql[0], sizeof sql[0],
		 "CREATE TABLE IF NOT EXISTS gpkgext_relations (id INTEGER PRIMARY KEY AUTOINCREMENT, "
		 "base_table_name TEXT NOT NULL, base_primary_column TEXT NOT NULL DEFAULT 'id', "
		 "related_table_name TEXT NOT NULL, related_primary_column TEXT NOT NULL DEFAULT 'id', "
		 "relation_name TEXT NOT NULL, mapping_table_name TEXT NOT NULL UNIQUE)");
	snprintf(sql[1], sizeof sql[1],
		 "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
		 "SELECT 'gpkgext_relations', NULL, %s WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions "
		 "WHERE table_name = 'gpkgext_relations')",
		 def);
	strcpy(sql[2], "CREATE TABLE ");
	ident(sql[2], sizeof sql[2], map);
	app(sql[2], sizeof sql[2], " (base_id INTEGER NOT NULL, related_id INTEGER NOT NULL)");
	/* The pairs: every feature of related whose field equals a base feature's key (as text,
	   as lode compared them at plan). */
	strcpy(sql[3], "INSERT INTO ");
	ident(sql[3], sizeof sql[3], map);
	app(sql[3], sizeof sql[3], " (base_id, related_id) SELECT b.fid, r.fid FROM ");
	ident(sql[3], sizeof sql[3], base);
	app(sql[3], sizeof sql[3], " b JOIN ");
	ident(sql[3], sizeof sql[3], related);
	app(sql[3], sizeof sql[3], " r ON CAST(b.");
	ident(sql[3], sizeof sql[3], key);
	app(sql[3], sizeof sql[3], " AS TEXT) = CAST(r.");
	ident(sql[3], sizeof sql[3], field);
	app(sql[3], sizeof sql[3], " AS TEXT) ORDER BY r.fid");
	snprintf(sql[4], sizeof sql[4],
		 "INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('%s', 'attributes', "
		 "'%s')",
		 map, map);
	snprintf(sql[5], sizeof sql[5],
		 "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
		 "VALUES ('%s', NULL, %s)",
		 map, def);
	snprintf(sql[6], sizeof sql[6],
		 "INSERT INTO gpkgext_relations (base_table_name, base_primary_column, related_table_name, "
		 "related_primary_column, relation_name, mapping_table_name) VALUES ('%s', 'fid', '%s', "
		 "'fid', 'attributes', '%s')",
		 base, related, map);
	lode__cpl_push(&cap);
	ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, NULL, NULL, NULL);
	if (!ds)
		rc = lode__err(err, LODE_EIO, "%s: cannot open the GeoPackage: %s", path,
			       lode__cpl_msg(&cap, "unknown reason"));
	for (int k = 0; k < 8 && !rc; k++) /* the extensions table first */
		rc = run_sql(ds, path, sql[(k + 7) % 8], &cap, err);
	if (ds)
		GDALClose(ds);
	if (!rc && cap.failures)
		rc = lode__err(err, LODE_EIO, "%s: recording the relation failed: %s", path, cap.msg);
	lode__cpl_pop();
	return rc;
}
