/*
 * metadata_stac.c -- a bundle's facts (metadata_int.h) as a STAC 1.1 Item (JSON, with
 * jansson), with the projection v2.0.0, file v2.1.0 and processing v1.2.0 extensions:
 * WGS 84 geometry and bbox, the datetime, one asset for the bundle file (netCDF, its
 * SHA-256 as a multihash, its size), one asset per raster naming its variable in the
 * bundle with its proj:shape and proj:transform, the records found beside the item as
 * further assets, the software and lineage of the processing, and a derived_from link
 * per source file.  It does not validate the item (docs/cli.md says how).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_items.h"
#include "metadata_int.h"
#include "util.h"

#define EXT_PROJ "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
#define EXT_FILE "https://stac-extensions.github.io/file/v2.1.0/schema.json"
#define EXT_PROC "https://stac-extensions.github.io/processing/v1.2.0/schema.json"

/* A SHA-256 hex digest as a multihash (0x12 sha2-256, 0x20 bytes). */
static json_t *multihash(const char *hex)
{
	char mh[70];

	snprintf(mh, sizeof mh, "1220%.64s", hex ? hex : "");
	return json_string(mh);
}

static json_t *polygon(const json_t *w)
{
	double b[4];
	json_t *g = json_object(), *ring = json_array(), *rings = json_array();
	static const int corners[5][2] = {{0, 1}, {2, 1}, {2, 3}, {0, 3}, {0, 1}};

	for (int k = 0; k < 4; k++)
		b[k] = json_number_value(json_array_get(w, (size_t)k));
	for (int k = 0; k < 5; k++)
		json_array_append_new(ring, json_pack("[f,f]", b[corners[k][0]], b[corners[k][1]]));
	json_array_append_new(rings, ring);
	json_object_set_new(g, "type", json_string("Polygon"));
	json_object_set_new(g, "coordinates", rings);
	return g;
}

static const char *stac_type(const char *dtype)
{
	static const char *const map[][2] = {
	    {"Byte", "uint8"},      {"Int8", "int8"},      {"UInt16", "uint16"}, {"Int16", "int16"},
	    {"UInt32", "uint32"},   {"Int32", "int32"},    {"UInt64", "uint64"}, {"Int64", "int64"},
	    {"Float32", "float32"}, {"Float64", "float64"}};

	for (size_t i = 0; dtype && i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i][0], dtype) == 0)
			return map[i][1];
	return "other";
}

/* One asset per raster: the bundle file, the variable to open, its grid. */
static json_t *raster_asset(const json_t *f, const json_t *ds)
{
	const json_t *gt = json_object_get(ds, "geotransform");
	const char *name = lode__md_str(ds, "name");
	json_t *a = json_object(), *tr, *nodata = json_object_get(ds, "nodata");
	char var[200];

	snprintf(var, sizeof var, "/%s/%s", name, name);
	tr = json_pack("[f,f,f,f,f,f]", json_number_value(json_array_get(gt, 1)),
		       json_number_value(json_array_get(gt, 2)), json_number_value(json_array_get(gt, 0)),
		       json_number_value(json_array_get(gt, 4)), json_number_value(json_array_get(gt, 5)),
		       json_number_value(json_array_get(gt, 3)));
	json_object_set_new(a, "href", json_string(lode__md_str(f, "href")));
	json_object_set_new(a, "type", json_string("application/netcdf"));
	json_object_set_new(a, "title", json_string(name));
	json_object_set_new(a, "roles", json_pack("[s]", "data"));
	json_object_set_new(a, "netcdf:variable", json_string(var));
	json_object_set_new(a, "proj:shape",
			    json_pack("[I,I]", json_integer_value(json_object_get(ds, "height")),
				      json_integer_value(json_object_get(ds, "width"))));
	json_object_set_new(a, "proj:transform", tr);
	json_object_set_new(a, "data_type", json_string(stac_type(lode__md_str(ds, "data_type"))));
	if (json_is_number(nodata))
		json_object_set(a, "nodata", nodata);
	return a;
}

static json_t *assets(const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets"), *extra = json_object_get(f, "extra_assets");
	json_t *as = json_object(), *b = json_object();

	json_object_set_new(b, "href", json_string(lode__md_str(f, "href")));
	json_object_set_new(b, "type", json_string("application/netcdf"));
	json_object_set_new(b, "title", json_string("lode bundle (netCDF-4/HDF5, CF-1.8)"));
	json_object_set_new(b, "roles", json_pack("[s]", "data"));
	json_object_set_new(b, "file:checksum", multihash(lode__md_str(f, "file_sha256")));
	json_object_set(b, "file:size", json_object_get(f, "file_size"));
	json_object_set_new(as, "bundle", b);
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i);
		if (strcmp(lode__md_str(ds, "kind") ? lode__md_str(ds, "kind") : "", "raster") == 0 &&
		    strcmp(lode__md_str(ds, "name"), "bundle") != 0)
			json_object_set_new(as, lode__md_str(ds, "name"), raster_asset(f, ds));
	}
	for (size_t i = 0; i < json_array_size(extra); i++) {
		const json_t *e = json_array_get(extra, i);
		char key[64];
		json_t *a = json_object();
		snprintf(key, sizeof key, "%s",
			 strstr(lode__md_str(e, "href"), ".iso19139") ? "iso19139"
			 : strstr(lode__md_str(e, "href"), ".fgdc")   ? "fgdc"
								      : "report");
		json_object_set(a, "href", json_object_get(e, "href"));
		json_object_set(a, "type", json_object_get(e, "type"));
		json_object_set(a, "title", json_object_get(e, "title"));
		json_object_set_new(a, "roles", json_pack("[s]", lode__md_str(e, "role")));
		json_object_set_new(as, key, a);
	}
	return as;
}

static json_t *links(const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	json_t *ls = json_array();

	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *src =
		    json_object_get(json_object_get(json_array_get(dss, i), "lineage"), "source");
		const char *path = lode__md_str(src, "path"), *sha = lode__md_str(src, "sha256");
		char title[300];
		json_t *l;

		if (!path)
			continue;
		snprintf(title, sizeof title, "source of %s (%s)",
			 lode__md_str(json_array_get(dss, i), "name"),
			 lode__md_str(src, "crs") ? lode__md_str(src, "crs") : "unnamed CRS");
		l = json_object();
		json_object_set_new(l, "rel", json_string("derived_from"));
		json_object_set_new(l, "href", json_string(path));
		json_object_set_new(l, "title", json_string(title));
		if (sha)
			json_object_set_new(l, "file:checksum", multihash(sha));
		if (json_is_integer(json_object_get(src, "size")))
			json_object_set(l, "file:size", json_object_get(src, "size"));
		json_array_append_new(ls, l);
	}
	return ls;
}

static json_t *properties(const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	const json_t *lin0 = json_object_get(json_array_get(dss, 0), "lineage");
	json_t *p = json_object(), *sw = json_object();
	char *lineage = NULL;
	const char *v;

	json_object_set_new(p, "datetime", json_string(lode__md_str(f, "datetime")));
	json_object_set_new(p, "title", json_string(lode__md_attr(f, "title")));
	json_object_set_new(p, "description", json_string(lode__md_attr(f, "summary")));
	/* STAC's license is an SPDX identifier or "other"; a licence in words (as the
	   manifest may give it, for several sources) is kept whole beside "other". */
	v = lode__md_attr(f, "license");
	if (v && *v &&
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+") == strlen(v)) {
		json_object_set_new(p, "license", json_string(v));
	} else {
		json_object_set_new(p, "license", json_string("other"));
		if (v && *v)
			json_object_set_new(p, "lode:license", json_string(v));
	}
	if ((v = lode__md_attr(f, "date_created")))
		json_object_set_new(p, "created", json_string(v));
	if ((v = lode__md_attr(f, "keywords"))) {
		char *copy = lode__strdup(v), *save = NULL;
		json_t *kw = json_array();
		for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save)) {
			k += strspn(k, " ");
			if (*k)
				json_array_append_new(kw, json_string(k));
		}
		json_object_set_new(p, "keywords", kw);
		free(copy);
	}
	json_object_set(p, "proj:code",
			json_is_integer(json_object_get(f, "epsg")) ? json_object_get(f, "crs")
								    : json_null());
	json_object_set(p, "proj:wkt2", json_object_get(f, "crs_wkt"));
	json_object_set(p, "proj:bbox", json_object_get(f, "bbox"));
	json_object_set_new(
	    sw, "lode",
	    json_string(lode__md_str(lin0, "lode_version") ? lode__md_str(lin0, "lode_version") : "?"));
	json_object_set_new(
	    sw, "PROJ",
	    json_string(lode__md_str(lin0, "proj_version") ? lode__md_str(lin0, "proj_version") : "?"));
	json_object_set_new(
	    sw, "GDAL",
	    json_string(lode__md_str(lin0, "gdal_version") ? lode__md_str(lin0, "gdal_version") : "?"));
	json_object_set_new(p, "processing:software", sw);
	for (size_t i = 0; i < json_array_size(dss); i++) {
		char *t = lode__md_step_text(json_array_get(dss, i));
		lode__addf(&lineage, "%s%s", i ? "\n" : "", t ? t : "?");
		free(t);
	}
	json_object_set_new(p, "processing:lineage", json_string(lineage ? lineage : ""));
	free(lineage);
	return p;
}

lode_status lode__md_stac(const json_t *f, char **out, lode_error *err)
{
	json_t *item = json_object();
	char id[80];

	snprintf(id, sizeof id, "%s", lode__md_str(f, "stem") ? lode__md_str(f, "stem") : "bundle");
	json_object_set_new(item, "type", json_string("Feature"));
	json_object_set_new(item, "stac_version", json_string("1.1.0"));
	json_object_set_new(item, "stac_extensions", json_pack("[s,s,s]", EXT_PROJ, EXT_FILE, EXT_PROC));
	json_object_set_new(item, "id", json_string(id));
	json_object_set_new(item, "geometry", polygon(json_object_get(f, "bbox_wgs84")));
	json_object_set(item, "bbox", json_object_get(f, "bbox_wgs84"));
	json_object_set_new(item, "properties", properties(f));
	json_object_set_new(item, "links", links(f));
	json_object_set_new(item, "assets", assets(f));
	*out = json_dumps(item, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(item);
	if (!*out)
		return lode__err(err, LODE_ENOMEM,
				 "out of memory (or a text that is not UTF-8) writing the STAC item");
	return LODE_OK;
}
