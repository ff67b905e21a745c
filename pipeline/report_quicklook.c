/*
 * report_quicklook.c -- the pictures of lode report (metadata_report.c draws them): the
 * map's frame, each raster as a quick-look (a PNG made from a decimated read, coloured
 * by its carried colour table, as RGB for three Byte bands, else by a viridis ramp
 * between the 2nd and 98th percentiles, nodata transparent) with its legend, and each
 * vector layer as SVG path data (at most LODE__MAP_NODES nodes drawn per layer).
 *
 * It runs in the child that reads the verified bundle (metadata.c's job), and reads
 * as ls and extract do: a raster strip by strip, chunk rows at a time, within
 * --max-memory (lode__raster_budget); a strip is read only when a sampled row lies in
 * it, and each chunk is inflated once.  A vector layer is read back within the bound
 * the bundle was opened with.  What it makes goes into the facts (metadata_int.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_items.h"
#include "metadata_int.h"
#include "quicklook_png.h"
#include "strip_read.h"
#include "util.h"

#define MAP_PX          800   /* the map's long side, in CSS pixels */
#define QL_PX           800   /* a quick-look's long side at most, in pixels */
#define LODE__MAP_NODES 20000 /* nodes drawn per vector layer at most */

/* viridis at 0, 1/8, ... 1 (matplotlib's), interpolated linearly between. */
static const unsigned char viridis[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
					    {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
					    {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};

static void ramp(double t, unsigned char *px)
{
	double u;
	int i;

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	u = t * 8;
	i = u >= 8 ? 7 : (int)u;
	u -= i;
	for (int c = 0; c < 3; c++)
		px[c] = (unsigned char)lround(viridis[i][c] + u * (viridis[i + 1][c] - viridis[i][c]));
	px[3] = 255;
}

static double value_at(const unsigned char *p, lode_dtype t)
{
	switch (t) {
	case LODE_DT_U8: return *p;
	case LODE_DT_I8: return *(const int8_t *)p;
	case LODE_DT_U16: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case LODE_DT_I16: {
		int16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case LODE_DT_U32: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	case LODE_DT_I32: {
		int32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	case LODE_DT_U64: {
		uint64_t v;
		memcpy(&v, p, 8);
		return (double)v;
	}
	case LODE_DT_I64: {
		int64_t v;
		memcpy(&v, p, 8);
		return (double)v;
	}
	case LODE_DT_F32: {
		float v;
		memcpy(&v, p, 4);
		return v;
	}
	case LODE_DT_F64: {
		double v;
		memcpy(&v, p, 8);
		return v;
	}
	default: return NAN;
	}
}

/* Band band (1-based) of it sampled every step pixels (the middle of each step x step
   block) into out (ow x oh values, NaN where nodata). */
static lode_status sample_band(lode__bundle *b, const lode_bundle_item *it, int band, int step, int ow,
			       int oh, double *out, size_t max_memory, lode_error *err)
{
	int rows = lode__strip_rows(b, it), half = step / 2;
	size_t es = lode__dtype_size(it->dtype);
	unsigned char *buf = NULL;
	lode_status rc;

	size_t used = (size_t)ow * oh * 5 * sizeof(double);
	int overlap; /* no second strip here: the sampling is quick */

	if ((rc = lode__raster_budget(it, rows, used, max_memory, err)) ||
	    (rc = lode__strip_buffer(it, rows, &buf, err)))
		return rc;
	/* The chunks of each strip are inflated on worker threads, as verify's are. */
	lode__bundle_set_decode_threads(b, lode__strip_threads(it, rows, used, max_memory, &overlap));
	for (int y0 = 0; y0 < it->ny && !rc; y0 += rows) {
		int n = it->ny - y0 < rows ? it->ny - y0 : rows;
		int oy = (y0 - half + step - 1) / step; /* the first sampled row at or after y0 */
		if (y0 - half < 0)
			oy = 0;
		if (oy >= oh || (long)oy * step + half >= (long)y0 + n)
			continue;
		if ((rc = lode__bundle_read_rows(b, it, band, y0, n, buf, err)))
			break;
		for (; oy < oh; oy++) {
			long r = (long)oy * step + half;
			if (r >= it->ny)
				r = it->ny - 1;
			if (r >= y0 + n)
				break;
			for (int ox = 0; ox < ow; ox++) {
				long c = (long)ox * step + half;
				double v;
				if (c >= it->nx)
					c = it->nx - 1;
				v = value_at(buf + ((size_t)(r - y0) * (size_t)it->nx + (size_t)c) * es,
					     it->dtype);
				if (it->has_nodata && (v == it->nodata || (isnan(v) && isnan(it->nodata))))
					v = NAN;
				out[(size_t)oy * ow + ox] = v;
			}
		}
	}
	lode__bundle_set_decode_threads(b, 0);
	free(buf);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The 2nd and 98th percentiles of the finite values; 0 when there are none. */
static int percentiles(const double *v, size_t n, double *lo, double *hi)
{
	double *s = malloc((n ? n : 1) * sizeof *s);
	size_t m = 0;

	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			s[m++] = v[i];
	if (m) {
		qsort(s, m, sizeof *s, cmp_double);
		*lo = s[(size_t)((double)(m - 1) * 0.02)];
		*hi = s[(size_t)((double)(m - 1) * 0.98)];
	}
	free(s);
	return m ? 1 : 0;
}

/* Colour table of band 1 from the lineage's band_legends, or NULL. */
static const json_t *band_legend(const json_t *ds, int band0)
{
	return json_array_get(json_object_get(json_object_get(ds, "lineage"), "band_legends"), (size_t)band0);
}

/* A palette picture: each pixel its entry of the colour table; the legend lists the
   entries that occur, with their category names. */
static json_t *palette(const json_t *leg, const double *v, size_t n, unsigned char *rgba)
{
	const json_t *ct = json_object_get(leg, "color_table"), *cats = json_object_get(leg, "categories");
	size_t nct = json_array_size(ct);
	unsigned char *seen = calloc(nct ? nct : 1, 1);
	json_t *entries = json_array(), *l = json_object();

	for (size_t i = 0; i < n; i++) {
		double x = v[i];
		const json_t *e;
		memset(rgba + 4 * i, 0, 4);
		if (!isfinite(x) || x < 0 || x >= (double)nct || x != floor(x))
			continue;
		e = json_array_get(ct, (size_t)x);
		for (int c = 0; c < 4; c++)
			rgba[4 * i + c] = (unsigned char)json_integer_value(json_array_get(e, (size_t)c));
		if (seen)
			seen[(size_t)x] = 1;
	}
	for (size_t k = 0; seen && k < nct && json_array_size(entries) < 64; k++) {
		json_t *o;
		if (!seen[k])
			continue;
		o = json_pack("{s:I,s:O}", "value", (json_int_t)k, "rgba", json_array_get(ct, k));
		if (json_string_value(json_array_get(cats, k)))
			json_object_set(o, "name", json_array_get(cats, k));
		json_array_append_new(entries, o);
	}
	free(seen);
	json_object_set_new(l, "kind", json_string("palette"));
	json_object_set_new(l, "entries", entries);
	return l;
}

static json_t *ramped(const json_t *ds, const lode_bundle_item *it, const double *v, size_t n,
		      unsigned char *rgba)
{
	const json_t *leg = band_legend(ds, 0);
	double lo = 0, hi = 0, sc = 1, off = 0;
	int have = percentiles(v, n, &lo, &hi);
	json_t *l = json_object();
	const char *units =
	    it->band_units && it->band_units[0] && *it->band_units[0] ? it->band_units[0] : it->units;

	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i])) {
			memset(rgba + 4 * i, 0, 4);
			continue;
		}
		ramp(hi > lo ? (v[i] - lo) / (hi - lo) : 0.5, rgba + 4 * i);
	}
	if (json_is_number(json_object_get(leg, "scale")) && json_is_number(json_object_get(leg, "offset"))) {
		sc = json_number_value(json_object_get(leg, "scale"));
		off = json_number_value(json_object_get(leg, "offset"));
	}
	json_object_set_new(l, "kind", json_string(have ? "ramp" : "empty"));
	json_object_set_new(l, "min", json_real(lo * sc + off));
	json_object_set_new(l, "max", json_real(hi * sc + off));
	if (units && *units)
		json_object_set_new(l, "units", json_string(units));
	return l;
}

/* One raster's quick-look into ds: "quicklook": {png, width, height, step, legend}. */
static lode_status quicklook(lode__bundle *b, const lode_bundle_item *it, json_t *ds, size_t max_memory,
			     lode_error *err)
{
	int longest = it->nx > it->ny ? it->nx : it->ny, step = (longest + QL_PX - 1) / QL_PX, ow, oh;
	int rgb = it->nbands >= 3 && it->dtype == LODE_DT_U8;
	const json_t *leg = band_legend(ds, 0);
	size_t n;
	double *v = NULL;
	unsigned char *rgba = NULL;
	char *png = NULL;
	json_t *l = NULL, *q;
	lode_status rc = LODE_OK;

	if (it->nx <= 0 || it->ny <= 0 || it->nbands < 1)
		return LODE_OK;
	step = step < 1 ? 1 : step;
	ow = (it->nx + step - 1) / step;
	oh = (it->ny + step - 1) / step;
	n = (size_t)ow * oh;
	if (!(v = malloc(n * sizeof *v * (rgb ? 3 : 1))) || !(rgba = malloc(n * 4))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory for the quick-look");
		goto out;
	}
	for (int k = 0; k < (rgb ? 3 : 1) && !rc; k++)
		rc = sample_band(b, it, k + 1, step, ow, oh, v + (size_t)k * n, max_memory, err);
	if (rc)
		goto out;
	if (rgb) {
		for (size_t i = 0; i < n; i++) {
			int nod = isnan(v[i]) || isnan(v[n + i]) || isnan(v[2 * n + i]);
			for (int c = 0; c < 3; c++)
				rgba[4 * i + c] = nod ? 0 : (unsigned char)v[(size_t)c * n + i];
			rgba[4 * i + 3] = nod ? 0 : 255;
		}
		l = json_pack("{s:s}", "kind", "rgb");
	} else if (json_array_size(json_object_get(leg, "color_table")) > 0) {
		l = palette(leg, v, n, rgba);
	} else {
		l = ramped(ds, it, v, n, rgba);
	}
	if ((rc = lode__png_base64(rgba, ow, oh, &png, err)))
		goto out;
	q = json_pack("{s:s,s:i,s:i,s:i,s:o}", "png", png, "width", ow, "height", oh, "step", step, "legend",
		      l);
	l = NULL;
	json_object_set_new(ds, "quicklook", q);
out:
	json_decref(l);
	free(png);
	free(v);
	free(rgba);
	return rc;
}

/* A growing text, appended to in amortised constant time. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	int bad;
} sbuf;

static void put(sbuf *t, const char *fmt, ...) LODE__PRINTF(2, 3);
static void put(sbuf *t, const char *fmt, ...)
{
	char piece[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(piece, sizeof piece, fmt, ap);
	va_end(ap);
	if (t->bad || n < 0 || (size_t)n >= sizeof piece)
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *g = realloc(t->s, cap);
		if (!g) {
			t->bad = 1;
			return;
		}
		t->s = g;
		t->cap = cap;
	}
	memcpy(t->s + t->len, piece, (size_t)n + 1);
	t->len += (size_t)n;
}

/* A vector layer as SVG path data in map pixels (x, y through the map's frame m):
   "paths": {d, drawn, nodes, every}. */
static lode_status layer_path(lode__bundle *b, const lode_bundle_item *it, json_t *ds, const double m[3],
			      lode_error *err)
{
	lode_vdata *d = NULL;
	sbuf text = {0};
	size_t drawn = 0, every, node = 0, nparts;
	lode_status rc;

	if ((rc = lode__bundle_read_vector(b, it, &d, err)))
		return rc;
	every = d->nnodes > LODE__MAP_NODES ? (d->nnodes + LODE__MAP_NODES - 1) / LODE__MAP_NODES : 1;
	nparts = d->kind == LODE_GK_POINT ? d->nnodes : d->nparts ? d->nparts : d->nfeat;
	for (size_t p = 0; p < nparts && node < d->nnodes; p++) {
		size_t len = d->kind == LODE_GK_POINT ? 1
			     : d->nparts ? (size_t)(d->part_node_count[p] > 0 ? d->part_node_count[p] : 0)
					 : (size_t)(d->node_count[p] > 0 ? d->node_count[p] : 0);
		int first = 1;
		if (len > d->nnodes - node)
			len = d->nnodes - node;
		for (size_t i = 0; i < len; i++) {
			size_t k = node + i;
			if (d->kind == LODE_GK_POINT ? k % every : (i % every && i + 1 < len))
				continue;
			if (!isfinite(d->x[k]) || !isfinite(d->y[k]))
				continue;
			put(&text, "%s%.1f %.1f%s", first ? "M" : "L", (d->x[k] - m[0]) * m[2],
			    (m[1] - d->y[k]) * m[2], d->kind == LODE_GK_POINT ? "h0" : " ");
			first = d->kind == LODE_GK_POINT;
			drawn++;
		}
		if (d->kind == LODE_GK_POLYGON && !first)
			put(&text, "Z");
		node += len;
	}
	if (text.bad) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory drawing the layer");
		goto out;
	}
	json_object_set_new(ds, "paths",
			    json_pack("{s:s,s:I,s:I,s:I,s:s}", "d", text.s ? text.s : "", "drawn",
				      (json_int_t)drawn, "nodes", (json_int_t)d->nnodes, "every",
				      (json_int_t)every, "kind",
				      d->kind == LODE_GK_POINT  ? "points"
				      : d->kind == LODE_GK_LINE ? "lines"
								: "polygons"));
out:
	free(text.s);
	lode__vdata_free(d);
	return rc;
}

lode_status lode__md_pictures(lode__bundle *b, const lode_bundle_item *items, size_t n, json_t *f,
			      size_t max_memory, lode_error *err)
{
	const json_t *bb = json_object_get(f, "bbox");
	json_t *dss = json_object_get(f, "datasets");
	double u[4], w, h, s, m[3];
	lode_status rc = LODE_OK;

	for (int k = 0; k < 4; k++)
		u[k] = json_number_value(json_array_get(bb, (size_t)k));
	w = u[2] - u[0];
	h = u[3] - u[1];
	s = w >= h ? (w > 0 ? MAP_PX / w : 1) : (h > 0 ? MAP_PX / h : 1);
	m[0] = u[0];
	m[1] = u[3];
	m[2] = s;
	json_object_set_new(f, "map",
			    json_pack("{s:f,s:f,s:f,s:f,s:f}", "x0", u[0], "y1", u[3], "scale", s, "width",
				      fmax(w * s, 1), "height", fmax(h * s, 1)));
	for (size_t i = 0; i < n && !rc; i++) {
		json_t *ds = json_array_get(dss, i);
		if (items[i].kind && strcmp(items[i].kind, "raster") == 0)
			rc = quicklook(b, &items[i], ds, max_memory, err);
		else if (items[i].kind && strcmp(items[i].kind, "vector") == 0 && items[i].nfeat > 0 &&
			 items[i].geometry_type && strcmp(items[i].geometry_type, "None"))
			rc = layer_path(b, &items[i], ds, m, err);
		if (rc == LODE_ENOMEM) {
			/* Not drawn within --max-memory: the page says so. */
			json_object_set_new(ds, "not_drawn", json_string(err->message));
			lode__err_clear(err);
			rc = LODE_OK;
		} else if (rc) {
			lode__err_ctx(err, "dataset '%s': drawing it: ", items[i].name);
		}
	}
	return rc;
}
