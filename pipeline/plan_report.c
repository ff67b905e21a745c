/*
 * plan_report.c -- lode plan's output: the plan of pipeline/plan.c as JSON (the lineage
 * records, as lode plan has always printed them) or as a table for people: one row per
 * dataset with its CRSs, operation (EPSG code), accuracy, ballpark flag, grid and an
 * estimate of its size in the bundle, and the legs of an operation through a via: CRS.
 * It plans nothing itself and prints nothing: the CLI prints what it returns.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crs_proj.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "plan.h"
#include "util.h"

/* A growing text; on out of memory it stays NULL and `oom` is set. */
typedef struct text {
	char *s;
	size_t len, cap;
	int oom;
} text;

static void addf(text *t, const char *fmt, ...) LODE__PRINTF(2, 3);

static void addf(text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)(n > 0 ? n : 0);
		char *s = realloc(t->s, cap);
		if (!s || n < 0) {
			free(s ? s : t->s);
			t->s = NULL;
			t->oom = 1;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* "1.2 MiB" etc. */
static void human(double bytes, char *buf, size_t n)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	int k = 0;

	while (bytes >= 1024 && k < 5) {
		bytes /= 1024;
		k++;
	}
	snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", bytes, u[k]);
}

static void accuracy_text(const lode_op *op, char *buf, size_t n)
{
	if (op->accuracy >= 0)
		snprintf(buf, n, "%g m", op->accuracy);
	else if (op->via && op->accuracy_known_m > 0)
		snprintf(buf, n, ">= %g m", op->accuracy_known_m);
	else
		snprintf(buf, n, "unknown");
}

/* The operation's cell: its EPSG code(s); else its name, cut to fit. */
static void op_text(const lode_op *op, char *buf, size_t n)
{
	if (op->code)
		snprintf(buf, n, "%s%s", op->code, op->ballpark ? " + ballpark" : "");
	else if (op->ballpark)
		snprintf(buf, n, "ballpark (no EPSG code)");
	else if (op->accuracy == 0)
		snprintf(buf, n, "conversion only");
	else
		snprintf(buf, n, "%.40s", op->name);
}

typedef struct row {
	char name[80], crs[140], op[120], acc[32], ballpark[8], grid[64], size[32];
} row;

static void make_row(const plan *p, const plan_item *it, row *r)
{
	/* A table has no CRS (and lode__crs_label takes none). */
	char *sl =
	    it->src_wkt ? lode__crs_label(it->src_wkt) : lode__strdup(it->is_table ? "none (table)" : "?");

	lode__printable(r->name, sizeof r->name, it->spec->name);
	snprintf(r->crs, sizeof r->crs, "%.60s%s -> %.60s", sl ? sl : "?",
		 it->crs_assumed ? " (assumed)" : "", p->dst_label);
	free(sl);
	op_text(&it->op, r->op, sizeof r->op);
	accuracy_text(&it->op, r->acc, sizeof r->acc);
	snprintf(r->ballpark, sizeof r->ballpark, "%s", it->op.ballpark ? "YES" : "no");
	if (it->is_vector) {
		snprintf(r->grid, sizeof r->grid, "%lld features",
			 (long long)lode__vector_info(it->vsrc)->nfeat);
		human((double)it->size, r->size, sizeof r->size);
		memmove(r->size + 1, r->size, strlen(r->size) + 1);
		r->size[0] = '~';
	} else {
		double bytes = (double)it->nx * it->ny * it->nbands * (double)lode__dtype_size(it->dtype);
		snprintf(r->grid, sizeof r->grid, "%d x %d x %d %s", it->nx, it->ny, it->nbands,
			 lode__dtype_name(it->dtype));
		human(bytes, r->size, sizeof r->size);
	}
}

static void table(const plan *p, text *t)
{
	static const char *const head[] = {
	    "dataset", "source CRS -> target CRS", "operation", "accuracy", "ballpark", "grid", "est. size"};
	row *rows = calloc(p->n ? p->n : 1, sizeof *rows);
	int w[7];

	if (!rows) {
		t->oom = 1;
		return;
	}
	for (int k = 0; k < 7; k++)
		w[k] = (int)strlen(head[k]);
	for (size_t i = 0; i < p->n; i++) {
		row *r = &rows[i];
		const char *cells[7];
		make_row(p, &p->items[i], r);
		cells[0] = r->name, cells[1] = r->crs, cells[2] = r->op, cells[3] = r->acc;
		cells[4] = r->ballpark, cells[5] = r->grid, cells[6] = r->size;
		for (int k = 0; k < 7; k++)
			if ((int)strlen(cells[k]) > w[k])
				w[k] = (int)strlen(cells[k]);
	}
	addf(t, "plan of %s: %zu dataset%s onto %s (PROJ %s, EPSG %s)\n\n", p->m->path, p->n,
	     p->n == 1 ? "" : "s", p->dst_label, p->proj_version, p->epsg_version);
	addf(t, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3],
	     head[3], w[4], head[4], w[5], head[5], head[6]);
	for (size_t i = 0; i < p->n; i++) {
		const row *r = &rows[i];
		const lode_op *op = &p->items[i].op;
		addf(t, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], r->name, w[1], r->crs, w[2], r->op,
		     w[3], r->acc, w[4], r->ballpark, w[5], r->grid, r->size);
		if (op->via && op->legs_json) {
			json_t *legs = json_loads(op->legs_json, 0, NULL), *l;
			size_t k;
			addf(t, "%-*s  via %s:\n", w[0], "", op->via);
			json_array_foreach(legs, k, l)
			{
				json_t *acc = json_object_get(l, "accuracy_m");
				const char *code = json_string_value(json_object_get(l, "code"));
				char at[32] = "unknown";
				if (json_is_number(acc))
					snprintf(at, sizeof at, "%g m", json_number_value(acc));
				addf(t, "%-*s    %s -> %s: %s%s, accuracy %s\n", w[0], "",
				     json_string_value(json_object_get(l, "from")),
				     json_string_value(json_object_get(l, "to")),
				     code ? code : "no EPSG code",
				     json_is_true(json_object_get(l, "ballpark")) ? " (ballpark)" : "", at);
			}
			json_decref(legs);
		}
	}
	addf(t,
	     "\naccuracy: PROJ's, in metres (>= when part of it is unknown); est. size: the raster's values "
	     "before compression, or the vector source's size.  --json: the full plan.\n");
	free(rows);
}

lode_status lode__plan_text(const plan *p, int json, char **out, lode_error *err)
{
	text t = {0};

	*out = NULL;
	if (json) {
		json_t *root = json_object(), *arr = json_array();
		json_object_set_new(root, "manifest", json_string(p->m->path));
		json_object_set_new(root, "target_crs", json_string(p->dst_label));
		json_object_set_new(root, "datasets", arr);
		for (size_t i = 0; i < p->n; i++)
			json_array_append(arr, p->items[i].lineage);
		*out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(root);
	} else {
		table(p, &t);
		*out = t.oom ? NULL : t.s;
	}
	return *out ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");
}

lode_status lode_plan_report(const char *manifest_path, int json, lode_warn_fn warn, void *warn_user,
			     char **report, lode_error *err)
{
	lode_run_options ro = {0};
	plan p;
	lode_status rc;

	*report = NULL;
	lode__err_clear(err);
	ro.warn = warn;
	ro.warn_user = warn_user;
	if ((rc = lode__plan_build(manifest_path, &ro, &p, err)) == LODE_OK)
		rc = lode__plan_text(&p, json, report, err);
	lode__plan_free(&p);
	return rc;
}

lode_status lode_plan_json(const char *manifest_path, char **report_json, lode_error *err)
{
	return lode_plan_report(manifest_path, 1, NULL, NULL, report_json, err);
}
