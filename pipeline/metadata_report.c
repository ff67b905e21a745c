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
    "td{overflow-wrap:anywhere}th{background:#eee;text-align:left}.warn{background:#fdd}.ok{background:#dfd}"
    "code{font-size:90%}#extents{border:1px solid #999;background:#f8f8f8}"
    ".legend{display:inline-block;vertical-align:top;margin:0 2em 1em 0}.palette td{padding:.1em .4em}";

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

static const char *const layer_colours[] = {"#d62728", "#1f77b4", "#ff7f0e", "#e377c2", "#000000", "#8c564b"};

static void num_attr(lode__xw *x, const char *name, double v)
{
	char t[64];

	snprintf(t, sizeof t, "%.2f", v);
	lode__xw_attr(x, name, t);
}

/* A raster's quick-look placed by its box. */
static void map_image(lode__xw *x, const json_t *ds, const double b[4], const double m[3])
{
	const json_t *q = json_object_get(ds, "quicklook");
	char *href;

	if (!lode__md_str(q, "png"))
		return;
	href = lode__sprintf("data:image/png;base64,%s", lode__md_str(q, "png"));
	lode__xw_start(x, "image");
	lode__xw_attr(x, "data-name", lode__md_str(ds, "name"));
	num_attr(x, "x", (b[0] - m[0]) * m[2]);
	num_attr(x, "y", (m[1] - b[3]) * m[2]);
	num_attr(x, "width", (b[2] - b[0]) * m[2]);
	num_attr(x, "height", (b[3] - b[1]) * m[2]);
	lode__xw_attr(x, "preserveAspectRatio", "none");
	lode__xw_attr(x, "style", "image-rendering:pixelated");
	lode__xw_attr(x, "href", href ? href : "");
	lode__xw_end(x);
	free(href);
}

static void map_layer(lode__xw *x, const json_t *ds, size_t k)
{
	const json_t *p = json_object_get(ds, "paths");
	const char *kind = lode__md_str(p, "kind"), *colour = layer_colours[k % 6];

	if (!lode__md_str(p, "d"))
		return;
	lode__xw_start(x, "path");
	lode__xw_attr(x, "data-name", lode__md_str(ds, "name"));
	lode__xw_attr(x, "d", lode__md_str(p, "d"));
	lode__xw_attr(x, "stroke", colour);
	lode__xw_attr(x, "fill", kind && strcmp(kind, "polygons") == 0 ? colour : "none");
	lode__xw_attr(x, "fill-opacity", "0.15");
	lode__xw_attr(x, "fill-rule", "evenodd");
	lode__xw_attr(x, "stroke-width", kind && strcmp(kind, "points") == 0 ? "5" : "1");
	lode__xw_attr(x, "stroke-linecap", "round");
	lode__xw_elem(x, "title", lode__md_str(ds, "name"));
	lode__xw_end(x);
}

/* The map: the quick-looks, the vector layers over them and every dataset's box (red
   for a doubtful operation), north up, in the frame of facts' "map". */
static void map(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets"), *fr = json_object_get(f, "map");
	double m[3] = {json_number_value(json_object_get(fr, "x0")),
		       json_number_value(json_object_get(fr, "y1")),
		       json_number_value(json_object_get(fr, "scale"))},
	       b[4];
	char v[64];
	size_t nlayer = 0;

	lode__xw_start(x, "svg");
	lode__xw_attr(x, "xmlns", "http://www.w3.org/2000/svg");
	num_attr(x, "width", json_number_value(json_object_get(fr, "width")) + 40);
	num_attr(x, "height", json_number_value(json_object_get(fr, "height")) + 40);
	lode__xw_attr(x, "id", "extents");
	lode__xw_start(x, "g");
	lode__xw_attr(x, "transform", "translate(20,20)");
	for (size_t i = 0; i < json_array_size(dss); i++)
		if (box_of(json_array_get(dss, i), b))
			map_image(x, json_array_get(dss, i), b, m);
	for (size_t i = 0; i < json_array_size(dss); i++)
		if (json_object_get(json_array_get(dss, i), "paths"))
			map_layer(x, json_array_get(dss, i), nlayer++);
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i);
		const json_t *op = json_object_get(json_object_get(ds, "lineage"), "operation");
		int doubtful = json_is_true(json_object_get(op, "ballpark")) ||
			       !json_is_number(json_object_get(op, "accuracy_m"));
		if (!box_of(ds, b))
			continue;
		lode__xw_start(x, "rect");
		lode__xw_attr(x, "data-name", lode__md_str(ds, "name"));
		num_attr(x, "x", (b[0] - m[0]) * m[2]);
		num_attr(x, "y", (m[1] - b[3]) * m[2]);
		snprintf(v, sizeof v, "%.2f", (b[2] - b[0]) * m[2]);
		lode__xw_attr(x, "width", v);
		snprintf(v, sizeof v, "%.2f", (b[3] - b[1]) * m[2]);
		lode__xw_attr(x, "height", v);
		lode__xw_attr(x, "fill", "none");
		lode__xw_attr(x, "stroke", doubtful ? "#c00" : "#060");
		lode__xw_attr(x, "stroke-dasharray", "4 3");
		lode__xw_elem(x, "title", lode__md_str(ds, "name"));
		lode__xw_end(x);
	}
	lode__xw_end(x);
	lode__xw_end(x);
}

static void nodata_text(const json_t *ds, char *t, size_t cap)
{
	const json_t *nd = json_object_get(ds, "nodata");

	if (!json_object_get(ds, "geotransform"))
		snprintf(t, cap, "-");
	else if (json_is_number(nd))
		snprintf(t, cap, "%.17g", json_number_value(nd));
	else if (json_is_string(json_object_get(json_object_get(ds, "lineage"), "nodata")))
		snprintf(t, cap, "%s",
			 json_string_value(json_object_get(json_object_get(ds, "lineage"), "nodata")));
	else
		snprintf(t, cap, "(none)");
}

/* A layer's fields, "name (type, N null)" each; NULL for a raster. */
static char *fields_text(const json_t *lin)
{
	const json_t *fl = json_object_get(lin, "fields");
	char *t = NULL;

	for (size_t i = 0; i < json_array_size(fl); i++) {
		const json_t *fd = json_array_get(fl, i);
		long long nn = (long long)json_integer_value(json_object_get(fd, "nulls"));
		char *n = lode__sprintf("%s%s%s (%s, %lld null)", t ? t : "", t ? "; " : "",
					lode__md_str(fd, "name") ? lode__md_str(fd, "name") : "?",
					lode__md_str(fd, "type") ? lode__md_str(fd, "type") : "?", nn);
		free(t);
		t = n;
	}
	if (json_is_array(fl) && !json_array_size(fl))
		t = lode__strdup("(none)");
	return t;
}

static void dataset_row(lode__xw *x, const json_t *ds, const char *crs)
{
	char *fields;
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
	cell(x, crs, NULL);
	nodata_text(ds, what, sizeof what);
	cell(x, what, NULL);
	fields = fields_text(lin);
	cell(x, fields ? fields : "", NULL);
	lode__xw_end(x);
	free(fields);
	free(acc);
}

static void datasets(lode__xw *x, const json_t *f)
{
	static const char *const heads[] = {
	    "dataset",    "what",      "box (bundle CRS)",    "source",   "source SHA-256",
	    "source CRS", "operation", "EPSG code",           "accuracy", "resampling",
	    "CRS",        "nodata",    "fields (type, nulls)"};
	const json_t *dss = json_object_get(f, "datasets");

	lode__xw_elem(x, "h2", "Datasets");
	lode__xw_start(x, "table");
	lode__xw_attr(x, "id", "datasets");
	lode__xw_start(x, "tr");
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
		lode__xw_elem(x, "th", heads[i]);
	lode__xw_end(x);
	for (size_t i = 0; i < json_array_size(dss); i++)
		dataset_row(x, json_array_get(dss, i), lode__md_str(f, "crs"));
	lode__xw_end(x);
}

static void text(lode__xw *x, const char *t)
{
	if (!x->bad && xmlTextWriterWriteString(x->w, BAD_CAST(t ? t : "")) < 0)
		x->bad = 1;
}

static void ramp_legend(lode__xw *x, const json_t *l)
{
	char t[200];
	const char *u = lode__md_str(l, "units");

	lode__xw_start(x, "div");
	lode__xw_attr(x, "class", "ramp");
	lode__xw_attr(x, "style",
		      "width:320px;height:20px;background:linear-gradient(to right,#440154,#472d7b,#3b528b,"
		      "#2c728e,#21918c,#28ae80,#5ec962,#addc30,#fde725)");
	text(x, "");
	lode__xw_end(x);
	lode__xw_start(x, "div");
	lode__xw_attr(x, "class", "range");
	snprintf(t, sizeof t, "%.6g to %.6g", json_number_value(json_object_get(l, "min")),
		 json_number_value(json_object_get(l, "max")));
	lode__xw_elem(x, "b", t);
	text(x, u ? " " : " (no unit recorded)");
	if (u)
		text(x, u);
	text(x, ": the 2nd to the 98th percentile of the sampled values, dark to light");
	lode__xw_end(x);
}

static void palette_legend(lode__xw *x, const json_t *l)
{
	const json_t *es = json_object_get(l, "entries");
	char t[64];

	lode__xw_start(x, "table");
	lode__xw_attr(x, "class", "palette");
	for (size_t i = 0; i < json_array_size(es); i++) {
		const json_t *e = json_array_get(es, i), *c = json_object_get(e, "rgba");
		lode__xw_start(x, "tr");
		lode__xw_start(x, "td");
		snprintf(t, sizeof t, "background:rgba(%d,%d,%d,%.3f);width:2em",
			 (int)json_integer_value(json_array_get(c, 0)),
			 (int)json_integer_value(json_array_get(c, 1)),
			 (int)json_integer_value(json_array_get(c, 2)),
			 (double)json_integer_value(json_array_get(c, 3)) / 255.0);
		lode__xw_attr(x, "style", t);
		lode__xw_end(x);
		snprintf(t, sizeof t, "%lld", (long long)json_integer_value(json_object_get(e, "value")));
		cell(x, t, NULL);
		cell(x, lode__md_str(e, "name") ? lode__md_str(e, "name") : "", NULL);
		lode__xw_end(x);
	}
	lode__xw_end(x);
}

/* Per dataset: how it is drawn, its legend, what was decimated. */
static void legends(lode__xw *x, const json_t *f)
{
	const json_t *dss = json_object_get(f, "datasets");
	size_t nlayer = 0;
	char t[300];

	lode__xw_elem(x, "h2", "Legend");
	lode__xw_start(x, "div");
	lode__xw_attr(x, "id", "legend");
	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i), *q = json_object_get(ds, "quicklook"),
			     *p = json_object_get(ds, "paths"), *l = json_object_get(q, "legend");
		const char *kind = lode__md_str(l, "kind");
		lode__xw_start(x, "div");
		lode__xw_attr(x, "class", "legend");
		lode__xw_attr(x, "data-name", lode__md_str(ds, "name"));
		lode__xw_elem(x, "h3", lode__md_str(ds, "name"));
		if (lode__md_str(ds, "not_drawn")) {
			snprintf(t, sizeof t, "Not drawn: %s", lode__md_str(ds, "not_drawn"));
			lode__xw_elem(x, "p", t);
		} else if (q) {
			long long step = (long long)json_integer_value(json_object_get(q, "step"));
			snprintf(t, sizeof t, "Quick-look of %lld x %lld pixels%s",
				 (long long)json_integer_value(json_object_get(q, "width")),
				 (long long)json_integer_value(json_object_get(q, "height")),
				 step > 1 ? "" : " (every pixel)");
			if (step > 1)
				snprintf(t + strlen(t), sizeof t - strlen(t),
					 ", one pixel in %lld x %lld read (decimated)", step, step);
			lode__xw_elem(x, "p", t);
			if (kind && strcmp(kind, "ramp") == 0)
				ramp_legend(x, l);
			else if (kind && strcmp(kind, "palette") == 0)
				palette_legend(x, l);
			else if (kind && strcmp(kind, "rgb") == 0)
				lode__xw_elem(x, "p", "Bands 1, 2 and 3 as red, green and blue.");
			else
				lode__xw_elem(x, "p", "Every sampled pixel is nodata.");
		} else if (p) {
			long long drawn = (long long)json_integer_value(json_object_get(p, "drawn")),
				  nodes = (long long)json_integer_value(json_object_get(p, "nodes"));
			lode__xw_start(x, "p");
			lode__xw_start(x, "span");
			snprintf(t, sizeof t, "background:%s;display:inline-block;width:1.5em;height:.8em",
				 layer_colours[nlayer++ % 6]);
			lode__xw_attr(x, "style", t);
			text(x, " ");
			lode__xw_end(x);
			snprintf(t, sizeof t, " %s: %lld of %lld nodes drawn%s",
				 lode__md_str(p, "kind") ? lode__md_str(p, "kind") : "", drawn, nodes,
				 drawn < nodes ? " (decimated: the layer has more than the map draws)" : "");
			text(x, t);
			lode__xw_end(x);
		} else {
			lode__xw_elem(x, "p", "Nothing to draw (no features, or no geometry).");
		}
		lode__xw_end(x);
	}
	lode__xw_end(x);
}

/* The signatures as verify listed them ("lode_signature_N: STATUS, signer 'S', key FP..."),
   with the keys they were checked against. */
static void signatures(lode__xw *x, const json_t *f)
{
	const char *v = lode__md_str(f, "verify"), *line = v;
	const json_t *trust = json_object_get(f, "trust");

	lode__xw_elem(x, "h2", "Signatures");
	if (!v || !strstr(v, "lode_signature")) {
		lode__xw_elem(x, "p", "The bundle is not signed: nothing says who made it.");
		return;
	}
	lode__xw_start(x, "table");
	lode__xw_attr(x, "id", "signatures");
	lode__xw_start(x, "tr");
	lode__xw_elem(x, "th", "signature");
	lode__xw_elem(x, "th", "signer");
	lode__xw_elem(x, "th", "key");
	lode__xw_elem(x, "th", "status");
	lode__xw_elem(x, "th", "trust");
	lode__xw_end(x);
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char *l = strndup(line, len), *colon, *sg, *kp = NULL, *k;
		line = eol ? eol + 1 : NULL;
		if (!l || strncmp(l, "lode_signature", 14) || !(colon = strstr(l, ": ")) ||
		    !(sg = strstr(colon, ", signer '"))) {
			free(l);
			continue;
		}
		for (k = strstr(sg, "', key "); k; k = strstr(k + 1, "', key "))
			kp = k;
		*colon = *sg = '\0';
		if (kp)
			*kp = '\0';
		lode__xw_start(x, "tr");
		cell(x, l, NULL);
		cell(x, sg + 10, NULL);
		cell(x, kp ? kp + 7 : "?", NULL);
		cell(x, colon + 2, strncmp(colon + 2, "valid", 5) == 0 ? "ok" : "warn");
		if (strcmp(colon + 2, "valid, trusted key") == 0) {
			char *t = NULL;
			for (size_t i = 0; i < json_array_size(trust); i++)
				lode__addf(&t, "%s%s", i ? ", " : "",
					   json_string_value(json_array_get(trust, i)));
			char *w = lode__sprintf("trusted: made with a --trust key (%s)", t ? t : "");
			cell(x, w, "ok");
			free(w);
			free(t);
		} else {
			cell(x,
			     json_array_size(trust) ? "not trusted: not one of the --trust keys"
						    : "unverified signer: no --trust key was given",
			     "warn");
		}
		lode__xw_end(x);
		free(l);
	}
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

/* The counts of each harmonized field (docs/harmonize.md section 3), when there are any. */
static void harmonization(lode__xw *x, const json_t *f)
{
	static const char *const heads[] = {"dataset", "field",      "values",  "mapped", "unmapped",
					    "empty",   "translated", "several", "schema"};
	static const char *const keys[] = {"values", "mapped", "unmapped", "empty", "translated", "several"};
	const json_t *dss = json_object_get(f, "datasets");
	int started = 0;

	for (size_t i = 0; i < json_array_size(dss); i++) {
		const json_t *ds = json_array_get(dss, i), *lin = json_object_get(ds, "lineage");
		const json_t *counts = json_object_get(json_object_get(lin, "harmonize"), "counts");
		const json_t *schema = json_object_get(lin, "schema");
		char *sch = schema
				? lode__sprintf("%s %s", json_string_value(json_object_get(schema, "name")),
						json_string_value(json_object_get(schema, "version")))
				: NULL;

		for (size_t k = 0; k < json_array_size(counts); k++) {
			const json_t *c = json_array_get(counts, k);
			if (!started) {
				lode__xw_elem(x, "h2", "Harmonization");
				lode__xw_elem(
				    x, "p",
				    "Per field made by the manifest's harmonize: rules: values in the "
				    "source, mapped to a vocabulary, unmapped (kept with the OGC nil "
				    "reason: marked), empty.");
				lode__xw_start(x, "table");
				lode__xw_attr(x, "id", "harmonization");
				lode__xw_start(x, "tr");
				for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
					lode__xw_elem(x, "th", heads[h]);
				lode__xw_end(x);
				started = 1;
			}
			lode__xw_start(x, "tr");
			cell(x, lode__md_str(ds, "name"), NULL);
			cell(x, json_string_value(json_object_get(c, "field")), NULL);
			for (size_t h = 0; h < sizeof keys / sizeof keys[0]; h++) {
				const json_t *v = json_object_get(c, keys[h]);
				char num[32] = "";
				if (json_is_integer(v))
					snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
				cell(x, num, h == 2 && json_integer_value(v) > 0 ? "warn" : NULL);
			}
			cell(x, sch ? sch : "", NULL);
			lode__xw_end(x);
		}
		free(sch);
	}
	if (started)
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
	signatures(&x, f);
	warnings(&x, f);
	lode__xw_elem(&x, "h2", "Map");
	lode__xw_elem(&x, "p",
		      "Every raster as a quick-look and every vector layer over them, in the "
		      "bundle's CRS, north up; dashed: each dataset's box (red: its coordinate "
		      "operation is a ballpark one or of unknown accuracy).");
	map(&x, f);
	legends(&x, f);
	datasets(&x, f);
	harmonization(&x, f);
	lode__xw_end(&x);
	lode__xw_end(&x);
	return lode__xw_finish(&x, out, err);
}
