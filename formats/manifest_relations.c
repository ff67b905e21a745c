/*
 * manifest_relations.c -- the relations a manifest declares between its datasets (issue
 * 15 item 4; docs/manifest.md "Relations"): a dataset's key: FIELD and its references:
 * {FIELD: DATASET.KEY}, and the policy's orphans: refuse | list.  Read for
 * manifest_yaml.c, which owns the YAML document and the list of problems: each problem
 * goes through its callback, as "FILE:LINE:COL: key: problem [dataset 'x']".  Whether
 * the fields exist and the keys hold is checked when the sources are open, at plan
 * (pipeline/plan_relations.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "manifest.h"
#include "util.h"

static const char *text_of(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static lode_loc at_of(const yaml_node_t *n)
{
	lode_loc l = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
	return l;
}

/* A field name: not empty, no control character, at most 255 bytes. */
static int field_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return len > 0 && len <= 255;
}

static lode_status problem_at(lode_manifest_problem problem, void *user, const yaml_node_t *n,
			      const lode_dataset_spec *d, const char *key, const char *what)
{
	problem(user, at_of(n), d->name, key, what);
	return LODE_EMANIFEST;
}

/* One pair FIELD: DATASET.KEY into r. */
static lode_status one_reference(const yaml_node_t *kn, const yaml_node_t *vn, lode_reference *r,
				 const lode_dataset_spec *d, lode_manifest_problem problem, void *user)
{
	const char *f = text_of(kn), *t = text_of(vn), *dot = t ? strrchr(t, '.') : NULL;
	char what[700];

	r->at = at_of(kn);
	if (!field_ok(f))
		return problem_at(problem, user, kn, d, "references",
				  "expected a field name before ':', e.g. site_id: sites.site_id");
	if (!t || !dot || dot == t || !field_ok(dot + 1)) {
		snprintf(what, sizeof what, "'%.80s' is not DATASET.FIELD (e.g. %s: sites.%s)", t ? t : "", f,
			 f);
		return problem_at(problem, user, vn, d, "references", what);
	}
	if (!(r->field = lode__strdup(f)) || !(r->dataset = lode__strdup(t)) ||
	    !(r->key = lode__strdup(dot + 1)))
		return LODE_ENOMEM;
	r->dataset[dot - t] = '\0';
	return LODE_OK;
}

lode_status lode__manifest_relation_key(void *doc, int which, const void *node, lode_dataset_spec *d,
					lode_manifest_problem problem, void *user)
{
	const yaml_node_t *v = node;
	yaml_node_pair_t *p;
	size_t n;
	lode_status rc = LODE_OK;

	if (which == 0) {
		d->at_key = at_of(v);
		if (!field_ok(text_of(v)))
			return problem_at(problem, user, v, d, "key",
					  "expected the name of one field, e.g. key: site_id");
		return (d->key = lode__strdup(text_of(v))) ? LODE_OK : LODE_ENOMEM;
	}
	d->at_references = at_of(v);
	if (v->type != YAML_MAPPING_NODE || v->data.mapping.pairs.top == v->data.mapping.pairs.start)
		return problem_at(problem, user, v, d, "references",
				  "expected a mapping FIELD: DATASET.FIELD, e.g. {site_id: sites.site_id}");
	p = v->data.mapping.pairs.start;
	n = (size_t)(v->data.mapping.pairs.top - p);
	if (n > 64)
		return problem_at(problem, user, v, d, "references", "more than 64 references");
	if (!(d->refs = calloc(n, sizeof *d->refs)))
		return LODE_ENOMEM;
	d->nrefs = n;
	for (size_t i = 0; i < n; i++) {
		lode_status r =
		    one_reference(yaml_document_get_node(doc, p[i].key),
				  yaml_document_get_node(doc, p[i].value), &d->refs[i], d, problem, user);
		if (r == LODE_ENOMEM)
			return r;
		rc = rc ? rc : r;
		for (size_t j = 0; j < i && !r; j++) /* refs[j].field is NULL when it was refused */
			if (d->refs[j].field && !strcmp(d->refs[j].field, d->refs[i].field))
				rc = problem_at(problem, user, yaml_document_get_node(doc, p[i].key), d,
						"references", "the field is named twice");
	}
	return rc;
}

lode_status lode__manifest_orphans(const char *value, lode_loc at, lode_policy_spec *p,
				   lode_manifest_problem problem, void *user)
{
	if (!value || (strcmp(value, "refuse") != 0 && strcmp(value, "list") != 0)) {
		problem(user, at, NULL, "orphans",
			"expected refuse (a reference without its key stops the plan, the default) or "
			"list (they are counted and listed in the lineage)");
		return LODE_EMANIFEST;
	}
	p->has_orphans = 1;
	p->orphans = strcmp(value, "list") == 0;
	return LODE_OK;
}

/* The dataset called name, or NULL. */
static const lode_dataset_spec *find(const lode_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->ndatasets; i++)
		if (m->datasets[i].name && !strcmp(m->datasets[i].name, name))
			return &m->datasets[i];
	return NULL;
}

lode_status lode__manifest_relations_check(const lode_manifest *m, lode_manifest_problem problem, void *user)
{
	lode_status rc = LODE_OK;
	char what[600];

	for (size_t i = 0; i < m->ndatasets; i++) {
		const lode_dataset_spec *d = &m->datasets[i];
		const char **names = calloc(m->ndatasets + 1, sizeof *names);
		if (!names)
			return LODE_ENOMEM;
		for (size_t k = 0; k < m->ndatasets; k++)
			names[k] = m->datasets[k].name ? m->datasets[k].name : "";
		for (size_t j = 0; j < d->nrefs && d->refs[j].dataset; j++) {
			const lode_reference *r = &d->refs[j];
			const lode_dataset_spec *o = find(m, r->dataset);
			const char *near = o ? NULL : lode__did_you_mean(r->dataset, names);
			what[0] = '\0';
			if (!o)
				snprintf(what, sizeof what,
					 "'%.80s' is not a dataset of this manifest%s%.80s%s", r->dataset,
					 near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
			else if (o == d)
				snprintf(what, sizeof what, "'%.80s' refers to the dataset itself", r->field);
			else if (!o->key)
				snprintf(what, sizeof what,
					 "dataset '%.80s' declares no key: (a reference names another "
					 "dataset's key: field; add key: %.80s to it)",
					 o->name, r->key);
			else if (strcmp(o->key, r->key) != 0)
				snprintf(
				    what, sizeof what,
				    "'%.80s.%.80s' is not the key of dataset '%.80s', which is key: %.80s",
				    r->dataset, r->key, o->name, o->key);
			if (what[0]) {
				problem(user, r->at, d->name, "references", what);
				rc = LODE_EMANIFEST;
			}
		}
		free(names);
	}
	return rc == LODE_EMANIFEST ? LODE_OK : rc; /* the problems are recorded */
}

void lode__manifest_relations_free(lode_dataset_spec *d)
{
	for (size_t i = 0; i < d->nrefs; i++) {
		free(d->refs[i].field);
		free(d->refs[i].dataset);
		free(d->refs[i].key);
	}
	free(d->refs);
	free(d->key);
}
