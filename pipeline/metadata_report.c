/*
 * metadata_report.c -- a bundle's facts (metadata_int.h) as a report for people: one
 * self-contained XHTML page (no script, no outside file, no network) with what the
 * bundle is, that it verified, a map of the datasets' extents (inline SVG), one table
 * row per dataset (size, CRS, source and its SHA-256, the coordinate operation with its
 * EPSG code and accuracy, ballpark and unknown accuracies marked), and the warnings a
 * receiver should read first.  Written with libxml2's xmlTextWriter, which escapes every
 * text from the bundle.  It draws no pixels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_items.h"
#include "metadata_int.h"
#include "util.h"

static const char *const style =
    "body{font-family:sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .5em;vertical-align:top}"
    "th{background:#eee;text-align:left}.warn{background:#fdd}.ok{background:#dfd}"
    "code{font-size:90%}svg{border:1px solid #999;background:#f8f8f8}";

static void para(lode__xw *x, const char *label, const char *text)
{
	if (!text)
		return;
	lode__xw_start(x, "p");
	lode__xw_elem(x, "b", label);
	if (!x->bad && xmlTextWriterWriteFormatString(x->w, " %s", text) < 0)
		x->bad = 1;
	lode__xw_end(x);
}

static void cell(lode__xw *x, const char *text, const char *cls)
{
	lode__xw_start(x, "td");
	if (cls)
		lode__xw_attr(x, "class", cls);
	if (!x->bad && xmlTextWriterWriteString(x->w, BAD_CAST(text ? text : "")) < 0)
		x->bad = 1;
	lode__xw_end(x);
}

/* A dataset's box in the bundle's CRS: a raster's from its geotransform, a layer's
   extent; 0 when it has none. */
static int box_of(const json_t *ds, double b[4])
{
	const json_t *gt = json_object_get(ds, "geotransform");
	const json_t *ext = json_object_get(json_object_get(ds, "lineage"), "extent");

	if (gt) {
		double g[6];
		for (int k = 0; k < 6; k++)
			g[k] = json_number_value(json_array_get(gt, (size_t)k));
		double w = (double)json_integer_value(json_object_get(ds, "width"));
		double h = (double)json_integer_value(json_object_get(ds, "height"));
		b[0] = fmin(g[0], g[0] + w * g[1]);
		b[2] = fmax(g[0], g[0] + w * g[1]);
		b[1] = fmin(g[3], g[3] + h * g[5]);
		b[3] = fmax(g[3], g[3] + h * g[5]);
		return 1;
	}
	if (json_array_size(ext) != 4 || json_integer_value(json_object_get(ds, "feature_count")) <= 0)
		return 0;
	for (int k = 0; k < 4; k++)
		b[k] = json_number_value(json_array_get(ext, (size_t)k));
	return 1;
}

/* The extents drawn in a 600 x 400 SVG, the union's box filling it, north up. */
static void map(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets"), *u = json_object_get(f, "bbox");
	double ub[4], sx, sy, s, b[4];
	char v[64];

	for (int k = 0; k < 4; k++)
		ub[k] = json_number_value(json_array_get(u, (size_t)k));
	sx = ub[2] > ub[0] ? 560 / (ub[2] - ub[0]) : 1;
	sy = ub[3] > ub[1] ? 360 / (ub[3] - ub[1]) : 1;
	s = sx < sy ? sx : sy;
	lode__xw_start(x, "svg");
	lode__xw_attr(x, "xmlns", "http://www.w3.org/2000/svg");
	lode__xw_attr(x, "width", "600");
	lode__xw_attr(x, "height", "400");
	lode__xw_attr(x, "id", "extents");
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i);
		const json_t *op = json_object_get(json_object_get(ds, "lineage"), "operation");
		int doubtful = json_is_true(json_object_get(op, "ballpark")) ||
			       !json_is_number(json_object_get(op, "accuracy_m"));
		if (!box_of(ds, b))
			continue;
		lode__xw_start(x, "rect");
		lode__xw_attr(x, "data-name", lode__md_str(ds, "name"));
		snprintf(v, sizeof v, "%.3f", 20 + (b[0] - ub[0]) * s);
		lode__xw_attr(x, "x", v);
		snprintf(v, sizeof v, "%.3f", 20 + (ub[3] - b[3]) * s);
		lode__xw_attr(x, "y", v);
		snprintf(v, sizeof v, "%.3f", (b[2] - b[0]) * s);
		lode__xw_attr(x, "width", v);
		snprintf(v, sizeof v, "%.3f", (b[3] - b[1]) * s);
		lode__xw_attr(x, "height", v);
		lode__xw_attr(x, "fill", "none");
		lode__xw_attr(x, "stroke", doubtful ? "#c00" : "#060");
		lode__xw_elem(x, "title", lode__md_str(ds, "name"));
		lode__xw_end(x);
	}
	lode__xw_end(x);
}

static void dataset_row(lode__xw *x, const json_t *ds)
{
	const json_t *lin = json_object_get(ds, "lineage"), *src = json_object_get(lin, "source"),
		     *op = json_object_get(lin, "operation");
	char what[200], box[200], *acc = lode__md_accuracy_text(op);
	double b[4];
	int doubtful = json_is_true(json_object_get(op, "ballpark")) ||
		       !json_is_number(json_object_get(op, "accuracy_m"));

	if (json_object_get(ds, "geotransform"))
		snprintf(what, sizeof what, "raster %s, %lld band(s), %lld x %lld",
			 lode__md_str(ds, "data_type"),
			 (long long)json_integer_value(json_object_get(ds, "bands")),
			 (long long)json_integer_value(json_object_get(ds, "width")),
			 (long long)json_integer_value(json_object_get(ds, "height")));
	else
		snprintf(what, sizeof what, "vector %s, %lld feature(s)", lode__md_str(ds, "geometry_type"),
			 (long long)json_integer_value(json_object_get(ds, "feature_count")));
	if (box_of(ds, b))
		snprintf(box, sizeof box, "%.10g %.10g %.10g %.10g", b[0], b[1], b[2], b[3]);
	else
		snprintf(box, sizeof box, "(empty)");
	lode__xw_start(x, "tr");
	lode__xw_attr(x, "id", lode__md_str(ds, "name"));
	cell(x, lode__md_str(ds, "name"), NULL);
	cell(x, what, NULL);
	cell(x, box, NULL);
	cell(x, lode__md_str(src, "path"), NULL);
	cell(x, lode__md_str(src, "sha256"), NULL);
	cell(x, lode__md_str(src, "crs"), NULL);
	cell(x, lode__md_str(op, "name"), NULL);
	cell(x, lode__md_str(op, "code") ? lode__md_str(op, "code") : "(none)", NULL);
	cell(x, acc ? acc : "?", doubtful ? "warn" : "ok");
	cell(x, lode__md_str(lin, "resampling") ? lode__md_str(lin, "resampling") : "", NULL);
	lode__xw_end(x);
	free(acc);
}

static void datasets(lode__xw *x, const json_t *f)
{
	static const char *const heads[] = {"dataset",        "what",       "box (bundle CRS)", "source",
					    "source SHA-256", "source CRS", "operation",        "EPSG code",
					    "accuracy",       "resampling"};
	const json_t *dss = json_object_get(f, "datasets");

	lode__xw_elem(x, "h2", "Datasets");
	lode__xw_start(x, "table");
	lode__xw_attr(x, "id", "datasets");
	lode__xw_start(x, "tr");
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
		lode__xw_elem(x, "th", heads[i]);
	lode__xw_end(x);
	for (size_t i = 0; i < json_array_size(dss); i++)
		dataset_row(x, json_array_get(dss, i));
	lode__xw_end(x);
}

static void warnings(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	int n = 0;

	lode__xw_elem(x, "h2", "Read first");
	lode__xw_start(x, "ul");
	lode__xw_attr(x, "id", "warnings");
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i);
		const json_t *op = json_object_get(json_object_get(ds, "lineage"), "operation");
		char *acc;
		if (!json_is_true(json_object_get(op, "ballpark")) &&
		    json_is_number(json_object_get(op, "accuracy_m")))
			continue;
		acc = lode__md_accuracy_text(op);
		lode__xw_start(x, "li");
		lode__xw_attr(x, "class", "warn");
		if (!x->bad &&
		    xmlTextWriterWriteFormatString(x->w, "%s: accuracy %s", lode__md_str(ds, "name"),
						   acc ? acc : "unknown") < 0)
			x->bad = 1;
		lode__xw_end(x);
		free(acc);
		n++;
	}
	if (!n)
		lode__xw_elem(x, "li",
			      "Every coordinate operation has a published accuracy (see the table).");
	lode__xw_end(x);
}

lode_status lode__md_report(const json_t *f, char **out, lode_error *err)
{
	lode__xw x;
	const json_t *w = json_object_get(f, "bbox_wgs84");
	char box[300], file[400];
	const char *title = lode__md_attr(f, "title") ? lode__md_attr(f, "title") : lode__md_str(f, "file");

	if (lode__xw_begin(&x) < 0)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (xmlTextWriterWriteDTD(x.w, BAD_CAST "html", NULL, NULL, NULL) < 0)
		x.bad = 1;
	lode__xw_start(&x, "html");
	lode__xw_attr(&x, "xmlns", "http://www.w3.org/1999/xhtml");
	lode__xw_attr(&x, "lang", "en");
	lode__xw_start(&x, "head");
	lode__xw_start(&x, "meta");
	lode__xw_attr(&x, "charset", "utf-8");
	lode__xw_end(&x);
	lode__xw_elem(&x, "title", title);
	lode__xw_elem(&x, "style", style);
	lode__xw_end(&x);
	lode__xw_start(&x, "body");
	lode__xw_elem(&x, "h1", title);
	para(&x, "Summary:", lode__md_attr(f, "summary"));
	para(&x, "Purpose:", lode__md_attr(f, "purpose"));
	para(&x, "Contact:", lode__md_attr(f, "creator_name"));
	para(&x, "Institution:",
	     lode__md_attr(f, "creator_institution") ? lode__md_attr(f, "creator_institution")
						     : lode__md_attr(f, "institution"));
	para(&x, "Licence:", lode__md_attr(f, "license"));
	para(&x, "DOI:", lode__md_attr(f, "doi"));
	snprintf(file, sizeof file, "%s, %lld bytes, SHA-256 %s", lode__md_str(f, "file"),
		 (long long)json_integer_value(json_object_get(f, "file_size")),
		 lode__md_str(f, "file_sha256"));
	para(&x, "File:", file);
	para(&x, "Bundle digest:", lode__md_str(f, "bundle_sha256"));
	para(&x, "Created:", lode__md_attr(f, "date_created"));
	snprintf(box, sizeof box, "%s; in WGS 84: west %.10g, south %.10g, east %.10g, north %.10g",
		 lode__md_str(f, "crs"), json_number_value(json_array_get(w, 0)),
		 json_number_value(json_array_get(w, 1)), json_number_value(json_array_get(w, 2)),
		 json_number_value(json_array_get(w, 3)));
	para(&x, "CRS:", box);
	lode__xw_elem(&x, "h2", "Verification");
	lode__xw_start(&x, "pre");
	lode__xw_attr(&x, "id", "verify");
	if (!x.bad && xmlTextWriterWriteString(
			  x.w, BAD_CAST(lode__md_str(f, "verify") ? lode__md_str(f, "verify") : "")) < 0)
		x.bad = 1;
	lode__xw_end(&x);
	warnings(&x, f);
	lode__xw_elem(&x, "h2", "Extents");
	map(&x, f);
	datasets(&x, f);
	lode__xw_end(&x);
	lode__xw_end(&x);
	return lode__xw_finish(&x, out, err);
}
