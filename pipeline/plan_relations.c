/*
 * plan_relations.c -- the relations a manifest declares (key:, references:, policy
 * orphans:; docs/manifest.md "Relations"), checked at plan against the sources' values:
 * every key unique and non-null, every non-null reference one of its key's values.  lode
 * run, plan -w and package all plan through lode__plan_build, so they check alike and
 * record alike: the lineage of a dataset gets "key" and "references" (with the orphans
 * counted and, under orphans: list, listed).  The values are read with the dataset's
 * where: filter; the target bounds are not applied (docs/manifest.md says what follows).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plan.h"
#include "util.h"

#define SHOWN  5   /* values named in a message */
#define LISTED 100 /* orphan values listed in the lineage */

/* A dataset's key: its values, sorted (the nulls left out), or unusable (ok 0). */
typedef struct keyset {
	char **vals;
	size_t n;
	char **sorted;
	size_t nsorted;
	int ok;
} keyset;

typedef struct problems {
	char text[sizeof((lode_error *)0)->message];
	size_t len;
	int n;
} problems;

static void note(problems *ps, const char *path, const lode_dataset_spec *d, lode_loc at, const char *key,
		 const char *what)
{
	char line[1400], safe[1400];
	size_t need;

	snprintf(line, sizeof line, "%s:%d:%d: dataset '%s': %s: %s", path, at.line ? at.line : d->line,
		 at.col ? at.col : d->column, d->name, key, what);
	lode__printable(safe, sizeof safe, line);
	need = strlen(safe) + (ps->len ? 1 : 0);
	if (ps->n++ < LODE_MANIFEST_MAX_ERRORS && ps->len + need < sizeof ps->text) {
		snprintf(ps->text + ps->len, sizeof ps->text - ps->len, "%s%s", ps->len ? "\n" : "", safe);
		ps->len += need;
	}
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append "'v'" to buf (cap bytes), comma-separated. */
static void add_value(char *buf, size_t cap, const char *v, const char *extra)
{
	size_t len = strlen(buf);
	snprintf(buf + len, cap - len, "%s'%.60s'%s", len ? ", " : "", v, extra);
}

/* Read and check dataset it's key into ks. */
static lode_status check_key(plan_item *it, keyset *ks, problems *ps, const char *path, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	size_t nulls = 0, first_null = 0, ndup = 0, shown = 0;
	char what[1200], dups[700] = "";
	lode_status rc;

	if (!it->is_vector) {
		note(ps, path, d, d->at_key, "key", "applies to vector layers and tables only");
		return LODE_OK;
	}
	if ((rc = lode__vector_column_text(it->vsrc, d->key, &ks->vals, &ks->n, err))) {
		if (rc == LODE_ENOMEM)
			return rc;
		note(ps, path, d, d->at_key, "key", err->message);
		return LODE_OK;
	}
	if (!(ks->sorted = malloc((ks->n ? ks->n : 1) * sizeof *ks->sorted)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t k = 0; k < ks->n; k++) {
		if (ks->vals[k])
			ks->sorted[ks->nsorted++] = ks->vals[k];
		else if (nulls++ == 0)
			first_null = k + 1;
	}
	qsort(ks->sorted, ks->nsorted, sizeof *ks->sorted, cmp);
	for (size_t k = 1; k < ks->nsorted; k++) {
		size_t run = 1;
		while (k < ks->nsorted && !strcmp(ks->sorted[k], ks->sorted[k - 1]))
			run++, k++;
		if (run > 1 && ndup++ < SHOWN) {
			char extra[40];
			snprintf(extra, sizeof extra, " (%zu rows)", run);
			add_value(dups, sizeof dups, ks->sorted[k - 1], extra);
			shown++;
		}
	}
	if (nulls) {
		snprintf(
		    what, sizeof what,
		    "field '%s' has %zu null value(s) (the first in row %zu); a key is unique and non-null",
		    d->key, nulls, first_null);
		note(ps, path, d, d->at_key, "key", what);
	}
	if (ndup) {
		snprintf(what, sizeof what, "field '%s' is not unique: %zu value(s) repeat: %s%s", d->key,
			 ndup, dups, ndup > shown ? ", ..." : "");
		note(ps, path, d, d->at_key, "key", what);
	}
	ks->ok = !nulls && !ndup;
	if (ks->ok)
		json_object_set_new(it->lineage, "key", json_string(d->key));
	return LODE_OK;
}

/* Check reference r of dataset it against its key's values ks; record it in rec. */
static lode_status check_ref(plan *p, plan_item *it, const lode_reference *r, const keyset *ks, json_t *rec,
			     problems *ps, const char *path, lode_error *err)
{
	const lode_dataset_spec *d = it->spec;
	int list = d->policy.has_orphans ? d->policy.orphans : p->m->policy.orphans;
	char **vals = NULL, shown[700] = "", what[1400];
	size_t n = 0, orphans = 0, distinct = 0;
	json_t *values = json_array(), *o = json_object();
	lode_status rc = LODE_OK;

	if (!values || !o) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (!it->is_vector) {
		note(ps, path, d, r->at, "references", "applies to vector layers and tables only");
		goto out;
	}
	if ((rc = lode__vector_column_text(it->vsrc, r->field, &vals, &n, err))) {
		if (rc != LODE_ENOMEM)
			note(ps, path, d, r->at, "references", err->message);
		rc = rc == LODE_ENOMEM ? rc : LODE_OK;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		int seen = 0;
		if (!vals[k] || bsearch(&vals[k], ks->sorted, ks->nsorted, sizeof *ks->sorted, cmp))
			continue; /* a null reference refers to nothing */
		orphans++;
		for (size_t j = 0; j < k && !seen; j++)
			seen = vals[j] && !strcmp(vals[j], vals[k]);
		if (seen)
			continue;
		if (distinct < SHOWN)
			add_value(shown, sizeof shown, vals[k], "");
		if (distinct++ < LISTED)
			json_array_append_new(values, json_string(vals[k]));
	}
	if (orphans && !list) {
		snprintf(what, sizeof what,
			 "%zu row(s) of field '%s' hold values that are not keys of dataset '%s' (orphans): "
			 "%s%s; correct the data, or set policy orphans: list to keep them, counted and "
			 "listed in the lineage",
			 orphans, r->field, r->dataset, shown, distinct > SHOWN ? ", ..." : "");
		note(ps, path, d, r->at, "references", what);
		goto out;
	}
	json_object_set_new(o, "field", json_string(r->field));
	json_object_set_new(o, "dataset", json_string(r->dataset));
	json_object_set_new(o, "key", json_string(r->key));
	json_object_set_new(o, "orphans", json_integer((json_int_t)orphans));
	json_object_set(o, "orphan_values", values);
	json_array_append(rec, o);
out:
	json_decref(values);
	json_decref(o);
	lode__vector_column_free(vals, n);
	return rc;
}

lode_status lode__plan_relations(plan *p, const char *path, lode_error *err)
{
	keyset *ks = calloc(p->n ? p->n : 1, sizeof *ks);
	problems *ps = calloc(1, sizeof *ps);
	lode_status rc = ks && ps ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");

	for (size_t i = 0; i < p->n && !rc; i++)
		if (p->items[i].spec->key)
			rc = check_key(&p->items[i], &ks[i], ps, path, err);
	for (size_t i = 0; i < p->n && !rc; i++) {
		plan_item *it = &p->items[i];
		json_t *rec = it->spec->nrefs ? json_array() : NULL;
		for (size_t j = 0; j < it->spec->nrefs && !rc; j++) {
			const lode_reference *r = &it->spec->refs[j];
			for (size_t t = 0; t < p->n; t++)
				if (!strcmp(p->items[t].spec->name, r->dataset) && ks[t].ok)
					rc = check_ref(p, it, r, &ks[t], rec, ps, path, err);
		}
		if (rec && json_array_size(rec) == it->spec->nrefs)
			json_object_set(it->lineage, "references", rec);
		json_decref(rec);
	}
	if (!rc && ps->n) {
		lode__err(
		    err, LODE_EMANIFEST, "%s%s%s", ps->text, ps->n > LODE_MANIFEST_MAX_ERRORS ? "\n" : "",
		    ps->n > LODE_MANIFEST_MAX_ERRORS ? "more problems not listed: fix these first" : "");
		err->lines = 1;
		rc = LODE_EMANIFEST;
	}
	for (size_t i = 0; ks && i < p->n; i++) {
		lode__vector_column_free(ks[i].vals, ks[i].n);
		free(ks[i].sorted);
	}
	free(ks);
	free(ps);
	return rc;
}
