/*
 * metadata_fgdc.c -- a bundle's facts (metadata_int.h) as an FGDC CSDGM record
 * (FGDC-STD-001-1998, the XML schema of 2003-08-01), what USGS data releases carry.
 * Written with libxml2's xmlTextWriter.  The same facts as the ISO record: citation,
 * description, bounding coordinates in WGS 84, keywords, constraints, contact; data
 * quality with the horizontal accuracy of each dataset's coordinate operation, one
 * Source_Information per input file (path, SHA-256) and one Process_Step per dataset;
 * the spatial reference as the CRS's code and WKT; distribution of the bundle file.
 * It does not write an Entity_and_Attribute section.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_items.h"
#include "metadata_int.h"
#include "util.h"

/* YYYYMMDD of an ISO date text, or "Unknown". */
static void fgdc_date(const char *iso, char out[16])
{
	if (iso && strlen(iso) >= 10)
		snprintf(out, 16, "%.4s%.2s%.2s", iso, iso + 5, iso + 8);
	else
		snprintf(out, 16, "Unknown");
}

static void contact(lode__xw *x, const char *wrap, const json_t *f)
{
	const char *name = lode__md_attr(f, "creator_name"), *org = lode__md_attr(f, "creator_institution");
	const char *addr = lode__md_attr(f, "creator_address"),
		   *country = lode__md_attr(f, "creator_country");
	const char *email = lode__md_attr(f, "creator_email");

	if (!org)
		org = lode__md_attr(f, "institution");
	lode__xw_start(x, wrap);
	lode__xw_start(x, "cntinfo");
	if (name) {
		lode__xw_start(x, "cntperp");
		lode__xw_elem(x, "cntper", name);
		if (org)
			lode__xw_elem(x, "cntorg", org);
		lode__xw_end(x);
	} else {
		lode__xw_start(x, "cntorgp");
		lode__xw_elem(x, "cntorg", org);
		lode__xw_end(x);
	}
	lode__xw_start(x, "cntaddr");
	lode__xw_elem(x, "addrtype", "mailing and physical");
	if (addr)
		lode__xw_elem(x, "address", addr);
	lode__xw_elem(x, "city", lode__md_attr(f, "creator_city"));
	lode__xw_elem(x, "state", lode__md_attr(f, "creator_state"));
	lode__xw_elem(x, "postal", lode__md_attr(f, "creator_postal_code"));
	if (country)
		lode__xw_elem(x, "country", country);
	lode__xw_end(x);
	lode__xw_elem(x, "cntvoice", lode__md_attr(f, "creator_phone"));
	if (email)
		lode__xw_elem(x, "cntemail", email);
	lode__xw_end(x);
	lode__xw_end(x);
}

static const char *origin(const json_t *f)
{
	const char *o = lode__md_attr(f, "creator_name");

	if (!o)
		o = lode__md_attr(f, "creator_institution");
	return o ? o : lode__md_attr(f, "institution");
}

static void identification(lode__xw *x, const json_t *f)
{
	static const char *const sides[4] = {"westbc", "eastbc", "northbc", "southbc"};
	static const int idx[4] = {0, 2, 3, 1};
	const json_t *w = json_object_get(f, "bbox_wgs84");
	const char *kw = lode__md_attr(f, "keywords"), *doi = lode__md_attr(f, "doi");
	char date[16], v[64], *copy = lode__strdup(kw), *save = NULL;

	fgdc_date(lode__md_attr(f, "date_created") ? lode__md_attr(f, "date_created")
						   : lode__md_str(f, "date"),
		  date);
	lode__xw_start(x, "idinfo");
	lode__xw_start(x, "citation");
	lode__xw_start(x, "citeinfo");
	lode__xw_elem(x, "origin", origin(f));
	lode__xw_elem(x, "pubdate", date);
	lode__xw_elem(x, "title", lode__md_attr(f, "title"));
	lode__xw_elem(x, "geoform", "raster digital data and vector digital data");
	if (doi) {
		snprintf(v, sizeof v, "https://doi.org/%.40s", doi);
		lode__xw_elem(x, "onlink", v);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_start(x, "descript");
	lode__xw_elem(x, "abstract", lode__md_attr(f, "summary"));
	lode__xw_elem(x, "purpose", lode__md_attr(f, "purpose"));
	lode__xw_end(x);
	lode__xw_start(x, "timeperd");
	lode__xw_start(x, "timeinfo");
	lode__xw_start(x, "sngdate");
	lode__xw_elem(x, "caldate", date);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_elem(x, "current", "publication date");
	lode__xw_end(x);
	lode__xw_start(x, "status");
	lode__xw_elem(x, "progress", "Complete");
	lode__xw_elem(x, "update", "None planned");
	lode__xw_end(x);
	lode__xw_start(x, "spdom");
	lode__xw_start(x, "bounding");
	for (int k = 0; k < 4; k++) {
		snprintf(v, sizeof v, "%.10g", json_number_value(json_array_get(w, (size_t)idx[k])));
		lode__xw_elem(x, sides[k], v);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_start(x, "keywords");
	lode__xw_start(x, "theme");
	lode__xw_elem(x, "themekt",
		      lode__md_attr(f, "keywords_vocabulary") ? lode__md_attr(f, "keywords_vocabulary")
							      : "None");
	for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save)) {
		k += strspn(k, " ");
		if (*k)
			lode__xw_elem(x, "themekey", k);
	}
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_elem(x, "accconst", "None");
	lode__xw_elem(x, "useconst", lode__md_attr(f, "license"));
	contact(x, "ptcontac", f);
	lode__xw_end(x);
	free(copy);
}

static void accuracy(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");

	lode__xw_start(x, "posacc");
	lode__xw_start(x, "horizpa");
	lode__xw_elem(
	    x, "horizpar",
	    "The horizontal accuracy of each dataset is that of the coordinate operation applied to it, "
	    "as the EPSG dataset (through PROJ) gives it; see each Process_Step.  Where it is unknown "
	    "(a ballpark operation) no value is given.");
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i);
		const json_t *op = json_object_get(json_object_get(ds, "lineage"), "operation");
		json_t *acc = json_object_get(op, "accuracy_m");
		char v[64], e[400], *words;

		if (!json_is_number(acc) || json_is_true(json_object_get(op, "ballpark")))
			continue;
		words = lode__md_accuracy_text(op);
		snprintf(v, sizeof v, "%g", json_number_value(acc));
		snprintf(e, sizeof e, "%s: accuracy of the coordinate operation %s (%s): %s",
			 lode__md_str(ds, "name"),
			 lode__md_str(op, "code") ? lode__md_str(op, "code") : "no code",
			 lode__md_str(op, "name") ? lode__md_str(op, "name") : "?", words ? words : "?");
		lode__xw_start(x, "qhorizpa");
		lode__xw_elem(x, "horizpav", v);
		lode__xw_elem(x, "horizpae", e);
		lode__xw_end(x);
		free(words);
	}
	lode__xw_end(x);
	lode__xw_end(x);
}

static void sources(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");

	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *src =
		    json_object_get(json_object_get(json_array_get(dss, i), "lineage"), "source");
		const char *path = lode__md_str(src, "path"), *sha = lode__md_str(src, "sha256");
		char other[300];

		if (!path)
			continue;
		snprintf(other, sizeof other, "SHA-256 %s, %lld bytes, CRS %s", sha ? sha : "unknown",
			 (long long)json_integer_value(json_object_get(src, "size")),
			 lode__md_str(src, "crs") ? lode__md_str(src, "crs") : "unnamed");
		lode__xw_start(x, "srcinfo");
		lode__xw_start(x, "srccite");
		lode__xw_start(x, "citeinfo");
		lode__xw_elem(x, "origin", "Unknown");
		lode__xw_elem(x, "pubdate", "Unknown");
		lode__xw_elem(x, "title", path);
		lode__xw_elem(x, "othercit", other);
		lode__xw_end(x);
		lode__xw_end(x);
		lode__xw_elem(x, "typesrc", "digital file");
		lode__xw_start(x, "srctime");
		lode__xw_start(x, "timeinfo");
		lode__xw_start(x, "sngdate");
		lode__xw_elem(x, "caldate", "Unknown");
		lode__xw_end(x);
		lode__xw_end(x);
		lode__xw_elem(x, "srccurr", "Unknown");
		lode__xw_end(x);
		lode__xw_elem(x, "srccitea", lode__md_str(json_array_get(dss, i), "name"));
		lode__xw_elem(x, "srccontr", "the data of the dataset of the same name in the bundle");
		lode__xw_end(x);
	}
}

static void quality(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	char date[16];

	fgdc_date(lode__md_attr(f, "date_created"), date);
	lode__xw_start(x, "dataqual");
	lode__xw_elem(x, "logic",
		      "Every dataset's content digest and the bundle digest verified by lode verify.");
	lode__xw_elem(x, "complete", "Every dataset of the manifest is in the bundle.");
	accuracy(x, f);
	lode__xw_start(x, "lineage");
	sources(x, f);
	for (size_t i = 0; i < json_array_size(dss); i++) {
		char *t = lode__md_step_text(json_array_get(dss, i));
		lode__xw_start(x, "procstep");
		lode__xw_elem(x, "procdesc", t ? t : "?");
		lode__xw_elem(x, "srcused", lode__md_str(json_array_get(dss, i), "name"));
		lode__xw_elem(x, "procdate", date);
		lode__xw_end(x);
		free(t);
	}
	lode__xw_end(x);
	lode__xw_end(x);
}

static void distribution(lode__xw *x, const json_t *f)
{
	char mb[64], dec[300];

	snprintf(mb, sizeof mb, "%.6f", (double)json_integer_value(json_object_get(f, "file_size")) / 1e6);
	snprintf(dec, sizeof dec, "file SHA-256 %s; bundle digest %s", lode__md_str(f, "file_sha256"),
		 lode__md_str(f, "bundle_sha256"));
	lode__xw_start(x, "distinfo");
	contact(x, "distrib", f);
	lode__xw_elem(x, "distliab", "See the use constraints.");
	lode__xw_start(x, "stdorder");
	lode__xw_start(x, "digform");
	lode__xw_start(x, "digtinfo");
	lode__xw_elem(x, "formname", "netCDF-4");
	lode__xw_elem(x, "formvern",
		      lode__md_attr(f, "lode_format_version") ? lode__md_attr(f, "lode_format_version")
							      : "2");
	lode__xw_elem(x, "formspec", "lode bundle (netCDF-4/HDF5, CF-1.8, ACDD-1.3)");
	lode__xw_elem(x, "filedec", dec);
	lode__xw_elem(x, "transize", mb);
	lode__xw_end(x);
	lode__xw_start(x, "digtopt");
	lode__xw_start(x, "onlinopt");
	lode__xw_start(x, "computer");
	lode__xw_start(x, "networka");
	lode__xw_elem(x, "networkr", lode__md_str(f, "file"));
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_end(x);
	lode__xw_elem(x, "fees", "None");
	lode__xw_end(x);
	lode__xw_end(x);
}

/* The text in quotes after the first KEY[" of a WKT (a datum's or ellipsoid's name),
   and the two numbers after it when nums is given; 0 when KEY is not there. */
static int wkt_item(const char *wkt, const char *key, char *name, size_t cap, double nums[2])
{
	const char *p = wkt ? strstr(wkt, key) : NULL, *q;

	if (!p || !(q = strchr(p += strlen(key), '"')))
		return 0;
	snprintf(name, cap, "%.*s", (int)(q - p), p);
	return !nums || sscanf(q + 1, ",%lf,%lf", &nums[0], &nums[1]) == 2;
}

/* A geographic CRS (and a raster to give the resolution): geograph; any other: local,
   naming the CRS and giving its WKT.  Then the datum and ellipsoid from the WKT. */
static void spatial_ref(lode__xw *x, const json_t *f)
{
	const char *wkt = lode__md_str(f, "crs_wkt");
	const json_t *dss = json_object_get(f, "datasets"), *gt = NULL;
	char desc[200], v[64], datum[200], ellips[200];
	double e[2];

	for (size_t i = 0; i < json_array_size(dss) && !gt; i++)
		gt = json_object_get(json_array_get(dss, i), "geotransform");
	lode__xw_start(x, "spref");
	lode__xw_start(x, "horizsys");
	if (wkt && strncmp(wkt, "GEOGCRS[", 8) == 0 && gt && json_number_value(json_array_get(gt, 1)) != 0) {
		lode__xw_start(x, "geograph");
		snprintf(v, sizeof v, "%.17g", fabs(json_number_value(json_array_get(gt, 5))));
		lode__xw_elem(x, "latres", v);
		snprintf(v, sizeof v, "%.17g", fabs(json_number_value(json_array_get(gt, 1))));
		lode__xw_elem(x, "longres", v);
		lode__xw_elem(x, "geogunit", "Decimal degrees");
		lode__xw_end(x);
	} else {
		snprintf(desc, sizeof desc, "%s (the WKT2 of the bundle's grid_mapping variables: crs_wkt)",
			 lode__md_str(f, "crs"));
		lode__xw_start(x, "local");
		lode__xw_elem(x, "localdes", desc);
		lode__xw_elem(x, "localgeo", wkt ? wkt : "unknown");
		lode__xw_end(x);
	}
	if (wkt_item(wkt, "ELLIPSOID[\"", ellips, sizeof ellips, e) && e[0] > 0 && e[1] > 0) {
		lode__xw_start(x, "geodetic");
		if (wkt_item(wkt, "ENSEMBLE[\"", datum, sizeof datum, NULL) ||
		    wkt_item(wkt, "DATUM[\"", datum, sizeof datum, NULL))
			lode__xw_elem(x, "horizdn", datum);
		lode__xw_elem(x, "ellips", ellips);
		snprintf(v, sizeof v, "%.17g", e[0]);
		lode__xw_elem(x, "semiaxis", v);
		snprintf(v, sizeof v, "%.17g", e[1]);
		lode__xw_elem(x, "denflat", v);
		lode__xw_end(x);
	}
	lode__xw_end(x);
	lode__xw_end(x);
}

lode_status lode__md_fgdc(const json_t *f, char **out, lode_error *err)
{
	lode__xw x;
	char date[16];

	if (lode__xw_begin(&x) < 0)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	fgdc_date(lode__md_str(f, "date"), date);
	lode__xw_start(&x, "metadata");
	identification(&x, f);
	quality(&x, f);
	spatial_ref(&x, f);
	distribution(&x, f);
	lode__xw_start(&x, "metainfo");
	lode__xw_elem(&x, "metd", date);
	contact(&x, "metc", f);
	lode__xw_elem(&x, "metstdn", "FGDC Content Standard for Digital Geospatial Metadata");
	lode__xw_elem(&x, "metstdv", "FGDC-STD-001-1998");
	lode__xw_end(&x);
	lode__xw_end(&x);
	return lode__xw_finish(&x, out, err);
}
