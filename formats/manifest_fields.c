/*
 * manifest_fields.c -- the harmonize: section of a vector dataset or table (issue 16):
 * vocabularies by name, the unmapped policy, and the field rules (from, separator, type,
 * convert, date, split, vocabulary), every problem reported with FILE:LINE:COL through
 * manifest_yaml.c's fail().  It checks names, combinations, conversion names, date
 * formats and that each vocabulary a rule names is declared; it does not read the
 * vocabulary files or the source (that is planning: pipeline/harmonize.c).  The keys are
 * documented in docs/harmonize.md.
 */
#include "manifest_fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vocab.h"

#define MAX_RULES  1000
#define MAX_VOCABS 64

typedef struct fctx {
	yaml_document_t *doc;
	lode__mf_fail fail;
	void *ctx;
	int bad;
} fctx;

static void problem(fctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...) LODE__PRINTF(4, 5);
static void problem(fctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->fail(c->ctx, n, key, msg);
	c->bad = 1;
}

const char *const lode__unit_conversions[] = {"ppm_to_percent",
					      "percent_to_ppm",
					      "ppm_to_g_per_t",
					      "g_per_t_to_ppm",
					      "percent_to_g_per_t",
					      "g_per_t_to_percent",
					      "t_to_Mt",
					      "Mt_to_t",
					      "kg_to_t",
					      "t_to_kg",
					      "ppb_to_ppm",
					      "ppm_to_ppb",
					      NULL};
/* mul and div of each, in the order above: exact integers, so that x * mul / div is x's
   correctly rounded image (250 ppm is 0.025 % exactly as 250 / 10000 rounds). */
static const double conv_md[][2] = {{1, 1e4}, {1e4, 1}, {1, 1},   {1, 1},   {1e4, 1}, {1, 1e4},
				    {1, 1e6}, {1e6, 1}, {1, 1e3}, {1e3, 1}, {1, 1e3}, {1e3, 1}};

int lode__unit_conversion(const char *name, double *mul, double *div)
{
	for (int i = 0; name && lode__unit_conversions[i]; i++)
		if (!strcmp(name, lode__unit_conversions[i])) {
			*mul = conv_md[i][0];
			*div = conv_md[i][1];
			return 1;
		}
	return 0;
}

void lode__harmonize_spec_free(lode_harmonize_spec *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nvocabs; i++) {
		free(h->vocabs[i].name);
		free(h->vocabs[i].written);
		free(h->vocabs[i].path);
	}
	for (size_t i = 0; i < h->ntrans; i++) {
		free(h->translations[i].name);
		free(h->translations[i].written);
		free(h->translations[i].path);
	}
	free(h->translations);
	for (size_t i = 0; i < h->nfields; i++) {
		lode_field_rule *r = &h->fields[i];
		free(r->name);
		for (size_t k = 0; k < r->nfrom; k++)
			free(r->from[k]);
		for (size_t k = 0; k < r->nsplit; k++)
			free(r->split[k]);
		for (size_t k = 0; k < r->nvocab; k++)
			free(r->vocab[k]);
		free(r->from);
		free(r->split);
		free(r->vocab);
		free(r->separator);
		free(r->type);
		free(r->convert);
		free(r->date);
		free(r->translate);
		free(r->value);
		free(r->prefix);
		free(r->item_key);
		free(r->where_key);
		for (size_t k = 0; k < r->nwhere; k++)
			free(r->where_values[k]);
		free(r->where_values);
	}
	free(h->vocabs);
	free(h->fields);
	free(h);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE &&
		       strlen((const char *)n->data.scalar.value) == n->data.scalar.length
		   ? (const char *)n->data.scalar.value
		   : NULL;
}

static lode_loc loc_of(const yaml_node_t *n)
{
	lode_loc l = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
	return l;
}

/* A field or vocabulary name: 1 to 64 letters, digits or '_', starting with a letter. */
static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Text or a list of texts (1 to 64, none empty unless empty_ok) into *out. */
static int get_texts(fctx *c, const yaml_node_t *v, const char *key, char ***out, size_t *n)
{
	size_t count = 1;
	yaml_node_item_t *it = NULL;

	if (v->type == YAML_SEQUENCE_NODE) {
		it = v->data.sequence.items.start;
		count = (size_t)(v->data.sequence.items.top - it);
		if (count == 0 || count > 64) {
			problem(c, v, key, "expected 1 to 64 values, got %zu", count);
			return 0;
		}
	}
	*out = calloc(count, sizeof **out);
	if (!*out)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const yaml_node_t *e = it ? yaml_document_get_node(c->doc, it[i]) : v;
		const char *s = scalar(e);

		if (!s || !*s || lode__has_control(s)) {
			problem(c, e, key, "expected non-empty text without control characters");
			return 0;
		}
		if (!((*out)[i] = lode__strdup(s)))
			return -1;
		*n = i + 1;
	}
	return 1;
}

static int get_text(fctx *c, const yaml_node_t *v, const char *key, char **out)
{
	const char *s = scalar(v);

	if (!s || lode__has_control(s)) {
		problem(c, v, key, "expected text without control characters");
		return 0;
	}
	free(*out);
	return (*out = lode__strdup(s)) ? 1 : -1;
}

/* Is fmt a date format lode reads: %Y %y %m %d %b %%, and literal characters? */
static int date_format_ok(const char *fmt)
{
	int have_y = 0, have_m = 0;

	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == 'Y' || *p == 'y')
			have_y++;
		else if (*p == 'm' || *p == 'b')
			have_m++;
		else if (*p != 'd' && *p != '%')
			return 0;
	}
	return have_y == 1 && have_m <= 1;
}

static const char *const rule_keys[] = {
    "name",      "from",  "separator", "type",     "convert",    "date",     "split", "vocabulary",
    "translate", "value", "prefix",    "item_key", "item_where", "unmapped", "list",  NULL};
static const char *const types[] = {"Integer", "Integer64", "Real", "String", NULL};

static void check_rule(fctx *c, const yaml_node_t *n, const char *key, lode_field_rule *r,
		       const lode_harmonize_spec *h)
{
	int kinds = (r->type != NULL) + (r->convert != NULL) + (r->date != NULL) + (r->nvocab > 0);

	if (!r->name) {
		problem(c, n, key, "missing key 'name' (the output field)");
		return;
	}
	if (kinds > 1 && !(r->convert && r->type && !strcmp(r->type, "Real") && kinds == 2))
		problem(c, n, key, "field '%s': type, convert, date and vocabulary exclude each other",
			r->name);
	if (r->nsplit && (r->date || r->convert || r->type))
		problem(c, n, key, "field '%s': split makes a list of text: it goes with vocabulary only",
			r->name);
	if (r->translate) {
		size_t j = 0;
		while (j < h->ntrans && strcmp(h->translations[j].name, r->translate))
			j++;
		if (j == h->ntrans)
			problem(c, n, key,
				"field '%s': translation '%s' is not one of harmonize.translations", r->name,
				r->translate);
		if (r->date || r->convert || r->type)
			problem(c, n, key, "field '%s': translate goes with split and vocabulary only",
				r->name);
	}
	if (r->value && (r->nfrom || r->nvocab || r->nsplit || r->prefix))
		problem(c, n, key,
			"field '%s': value (a constant; \"\" for null) takes no from, split, prefix or "
			"vocabulary",
			r->name);
	if (r->prefix && (kinds || r->nsplit))
		problem(c, n, key, "field '%s': prefix makes text: it goes with from and separator only",
			r->name);
	if ((r->item_key || r->nwhere) &&
	    (r->nfrom > 1 || r->value || r->nsplit || r->date || r->convert || r->type))
		problem(c, n, key,
			"field '%s': item_key and item_where read one list field: they go with "
			"vocabulary only",
			r->name);
	if (r->list && !r->nvocab)
		problem(c, n, key, "field '%s': list (a list of URIs) goes with vocabulary", r->name);
	if (r->unmapped && !r->nvocab)
		problem(c, n, key, "field '%s': unmapped goes with vocabulary", r->name);
	if (r->nwhere && !r->item_key)
		problem(c, n, key, "field '%s': item_where goes with item_key", r->name);
	if (r->separator && r->nfrom < 2)
		problem(c, n, key, "field '%s': separator joins several 'from' fields; there is one",
			r->name);
	for (size_t k = 0; k < r->nvocab; k++) {
		size_t j = 0;
		while (j < h->nvocabs && strcmp(h->vocabs[j].name, r->vocab[k]))
			j++;
		if (j == h->nvocabs)
			problem(c, n, key, "field '%s': vocabulary '%s' is not one of harmonize.vocabularies",
				r->name, r->vocab[k]);
	}
}

static int parse_rule(fctx *c, const yaml_node_t *n, const char *key, lode_field_rule *r)
{
	int rc = 1;
	unsigned seen = 0;

	if (n->type != YAML_MAPPING_NODE) {
		problem(c, n, key, "expected a mapping: name, from, type, convert, date, split, vocabulary");
		return 1;
	}
	r->at = loc_of(n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top && rc >= 0;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key),
				  *v = yaml_document_get_node(c->doc, p->value);
		const char *ks = scalar(k);
		char path[256];
		int i = 0;

		while (ks && rule_keys[i] && strcmp(ks, rule_keys[i]))
			i++;
		snprintf(path, sizeof path, "%.120s.%.40s", key, ks ? ks : "?");
		if (!ks || !rule_keys[i]) {
			const char *near = ks ? lode__did_you_mean(ks, rule_keys) : NULL;
			if (near)
				problem(c, k, path, "unknown key: did you mean '%s'?", near);
			else
				problem(
				    c, k, path,
				    "unknown key (expected one of: name, from, separator, type, "
				    "convert, date, split, vocabulary, translate, value, prefix, item_key, "
				    "item_where, unmapped, list)");
			continue;
		}
		if (seen & (1u << i)) {
			problem(c, k, path, "the key is given twice");
			continue;
		}
		seen |= 1u << i;
		switch (i) {
		case 0:
			if ((rc = get_text(c, v, path, &r->name)) > 0 && !name_ok(r->name))
				problem(c, v, path,
					"'%s' is not a field name: 1 to 64 letters, digits or '_', "
					"starting with a letter",
					r->name);
			break;
		case 1: rc = get_texts(c, v, path, &r->from, &r->nfrom); break;
		case 2: rc = get_text(c, v, path, &r->separator); break;
		case 3:
			if ((rc = get_text(c, v, path, &r->type)) > 0) {
				int t = 0;
				while (types[t] && strcmp(types[t], r->type))
					t++;
				if (!types[t])
					problem(c, v, path,
						"unknown type '%.40s' (Integer, Integer64, Real or String)",
						r->type);
			}
			break;
		case 4: {
			double a, b;
			if ((rc = get_text(c, v, path, &r->convert)) > 0 &&
			    !lode__unit_conversion(r->convert, &a, &b)) {
				const char *near = lode__did_you_mean(r->convert, lode__unit_conversions);
				problem(c, v, path,
					"unknown conversion '%.40s'%s%s%s (docs/harmonize.md lists them)",
					r->convert, near ? ": did you mean '" : "", near ? near : "",
					near ? "'?" : "");
			}
			break;
		}
		case 5:
			if ((rc = get_text(c, v, path, &r->date)) > 0 && !date_format_ok(r->date))
				problem(
				    c, v, path,
				    "'%.40s' is not a date format lode reads (one %%Y or %%y, at most one "
				    "%%m or %%b, %%d, literal characters)",
				    r->date);
			break;
		case 6: rc = get_texts(c, v, path, &r->split, &r->nsplit); break;
		case 7: rc = get_texts(c, v, path, &r->vocab, &r->nvocab); break;
		case 8: rc = get_text(c, v, path, &r->translate); break;
		case 9: rc = get_text(c, v, path, &r->value); break;
		case 10: rc = get_text(c, v, path, &r->prefix); break;
		case 11: rc = get_text(c, v, path, &r->item_key); break;
		case 13:
			if (scalar(v) && !strcmp(scalar(v), "refuse"))
				r->unmapped = 1;
			else if (scalar(v) && !strcmp(scalar(v), "nil"))
				r->unmapped = 2;
			else
				problem(c, v, path, "expected refuse or nil");
			break;
		case 14:
			if (scalar(v) && (!strcmp(scalar(v), "true") || !strcmp(scalar(v), "false")))
				r->list = !strcmp(scalar(v), "true");
			else
				problem(c, v, path, "expected true or false");
			break;
		case 12:
			/* {MEMBER: [VALUE, ...]}: one member */
			if (v->type != YAML_MAPPING_NODE ||
			    v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1) {
				problem(c, v, path,
					"expected one member and its values, e.g. {role: [ore, ree]}");
				break;
			}
			if ((rc =
				 get_text(c, yaml_document_get_node(c->doc, v->data.mapping.pairs.start->key),
					  path, &r->where_key)) > 0)
				rc = get_texts(
				    c, yaml_document_get_node(c->doc, v->data.mapping.pairs.start->value),
				    path, &r->where_values, &r->nwhere);
			break;
		}
	}
	return rc < 0 ? -1 : 1;
}

static int parse_vocabs(fctx *c, const yaml_node_t *v, const char *key, const char *dir,
			lode_vocab_ref **refs, size_t *nrefs, int builtin_ok)
{
	size_t count;

	if (v->type != YAML_MAPPING_NODE) {
		problem(c, v, key,
			"expected a mapping of names to vocabularies (cgi:CommodityCode or a CSV file)");
		return 1;
	}
	count = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (count > MAX_VOCABS) {
		problem(c, v, key, "too many vocabularies (%zu; the limit is %d)", count, MAX_VOCABS);
		return 1;
	}
	if (!(*refs = calloc(count ? count : 1, sizeof **refs)))
		return -1;
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key),
				  *val = yaml_document_get_node(c->doc, p->value);
		const char *ks = scalar(k), *vs = scalar(val);
		lode_vocab_ref *r = &(*refs)[*nrefs];

		if (!ks || !name_ok(ks)) {
			problem(c, k, key, "a vocabulary's name is 1 to 64 letters, digits or '_'");
			continue;
		}
		if (!vs || !*vs || lode__has_control(vs)) {
			problem(c, val, key, "vocabulary '%s': expected cgi:NAME or the path of a CSV file",
				ks);
			continue;
		}
		for (size_t j = 0; j < *nrefs; j++)
			if (!strcmp((*refs)[j].name, ks))
				problem(c, k, key, "'%s' is named twice", ks);
		r->at = loc_of(val);
		r->name = lode__strdup(ks);
		r->written = lode__strdup(vs);
		(*nrefs)++;
		if (!r->name || !r->written)
			return -1;
		if (builtin_ok && !strncmp(vs, "cgi:", 4)) {
			r->builtin = 1;
			r->path = lode__vocab_builtin(vs + 4);
			if (!r->path)
				problem(
				    c, val, key,
				    "vocabulary '%s': '%s' is not a built-in vocabulary (cgi:CommodityCode, "
				    "cgi:MineralDepositModel, cgi:MineralOccurrenceType, cgi:MineStatus, "
				    "cgi:ResourceCategory, cgi:ReserveCategory)",
				    ks, vs);
		} else if (!(r->path = lode__path_join(dir, vs))) {
			return -1;
		}
	}
	return 1;
}

static const char *const harmonize_keys[] = {"vocabularies", "translations", "unmapped", "fields", NULL};

static int parse_fields(fctx *c, const yaml_node_t *v, const char *key, lode_harmonize_spec *h)
{
	yaml_node_item_t *it;
	size_t count;

	if (v->type != YAML_SEQUENCE_NODE) {
		problem(c, v, key, "expected a list of field rules");
		return 1;
	}
	it = v->data.sequence.items.start;
	count = (size_t)(v->data.sequence.items.top - it);
	if (count == 0 || count > MAX_RULES) {
		problem(c, v, key, "expected 1 to %d field rules, got %zu", MAX_RULES, count);
		return 1;
	}
	if (!(h->fields = calloc(count, sizeof *h->fields)))
		return -1;
	for (size_t i = 0; i < count; i++) {
		char path[256];

		snprintf(path, sizeof path, "%.120s[%zu]", key, i + 1);
		h->nfields = i + 1;
		if (parse_rule(c, yaml_document_get_node(c->doc, it[i]), path, &h->fields[i]) < 0)
			return -1;
	}
	return 1;
}

lode_status lode__manifest_harmonize(yaml_document_t *doc, const yaml_node_t *v, const char *key,
				     const char *dir, lode_harmonize_spec **out, lode__mf_fail fail,
				     void *ctx)
{
	fctx c = {doc, fail, ctx, 0};
	lode_harmonize_spec *h = calloc(1, sizeof *h);
	const yaml_node_t *fields_node = NULL;
	int rc = 1;

	if (!h)
		return LODE_ENOMEM;
	*out = h;
	h->at = loc_of(v);
	if (v->type != YAML_MAPPING_NODE) {
		problem(&c, v, key, "expected a mapping: vocabularies, unmapped, fields");
		return LODE_EMANIFEST;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top && rc > 0;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(doc, p->key),
				  *val = yaml_document_get_node(doc, p->value);
		const char *ks = scalar(k);
		char path[256];
		int twice = 0;

		snprintf(path, sizeof path, "%.120s.%.40s", key, ks ? ks : "?");
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < p && ks; q++)
			twice |= scalar(yaml_document_get_node(doc, q->key)) &&
				 !strcmp(scalar(yaml_document_get_node(doc, q->key)), ks);
		if (twice) {
			problem(&c, k, path, "the key is given twice");
		} else if (ks && !strcmp(ks, "vocabularies")) {
			rc = parse_vocabs(&c, val, path, dir, &h->vocabs, &h->nvocabs, 1);
		} else if (ks && !strcmp(ks, "translations")) {
			rc = parse_vocabs(&c, val, path, dir, &h->translations, &h->ntrans, 0);
		} else if (ks && !strcmp(ks, "unmapped")) {
			const char *s = scalar(val);
			if (s && !strcmp(s, "nil"))
				h->unmapped_nil = 1;
			else if (!s || strcmp(s, "refuse"))
				problem(&c, val, path, "expected refuse (the default) or nil");
		} else if (ks && !strcmp(ks, "fields")) {
			fields_node = val;
		} else {
			const char *near = ks ? lode__did_you_mean(ks, harmonize_keys) : NULL;
			if (near)
				problem(&c, k, path, "unknown key: did you mean '%s'?", near);
			else
				problem(&c, k, path,
					"unknown key (expected one of: vocabularies, translations, unmapped, "
					"fields)");
		}
	}
	/* The fields after the vocabularies, whatever their order: rules name vocabularies. */
	if (rc > 0 && fields_node) {
		char path[256];

		snprintf(path, sizeof path, "%.120s.fields", key);
		rc = parse_fields(&c, fields_node, path, h);
		for (size_t i = 0; rc > 0 && i < h->nfields; i++) {
			const yaml_node_t *fn =
			    yaml_document_get_node(doc, fields_node->data.sequence.items.start[i]);

			snprintf(path, sizeof path, "%.120s.fields[%zu]", key, i + 1);
			check_rule(&c, fn, path, &h->fields[i], h);
			for (size_t j = 0; h->fields[i].name && j < h->nfields; j++) {
				const lode_field_rule *o = &h->fields[j];
				size_t n = o->name ? strlen(o->name) : 0;

				if (j < i && o->name && !strcmp(o->name, h->fields[i].name))
					problem(&c, fn, path, "field '%s' is made twice", h->fields[i].name);
				/* NAME_original is made beside a mapped field NAME. */
				if (j != i && o->name && o->nvocab &&
				    !strncmp(h->fields[i].name, o->name, n) &&
				    !strcmp(h->fields[i].name + n, "_original"))
					problem(&c, fn, path,
						"field '%s' is made by field '%s', which has a vocabulary",
						h->fields[i].name, o->name);
			}
		}
	} else if (rc > 0 && !c.bad) {
		problem(&c, v, key, "missing key 'fields' (the field rules)");
	}
	if (rc < 0)
		return LODE_ENOMEM;
	return c.bad ? LODE_EMANIFEST : LODE_OK;
}

lode_status lode__manifest_records(yaml_document_t *doc, const yaml_node_t *v, const char *key, unsigned *out,
				   lode__mf_fail fail, void *ctx)
{
	static const char *const names[] = {"iso19139", "fgdc", "stac", "report", NULL};
	char msg[256];

	if (v->type != YAML_SEQUENCE_NODE) {
		fail(ctx, v, key, "expected a list of record formats, e.g. [iso19139, fgdc, stac, report]");
		return LODE_EMANIFEST;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		const yaml_node_t *e = yaml_document_get_node(doc, *it);
		const char *s = e && e->type == YAML_SCALAR_NODE ? (const char *)e->data.scalar.value : NULL;
		int i;

		for (i = 0; s && names[i]; i++)
			if (strcmp(s, names[i]) == 0)
				break;
		if (!s || !names[i]) {
			snprintf(msg, sizeof msg,
				 "unknown record format '%.100s' (expected iso19139, fgdc, stac or report)",
				 s ? s : "(not text)");
			fail(ctx, e ? e : v, key, msg);
			return LODE_EMANIFEST;
		}
		if (*out & (1u << i)) {
			snprintf(msg, sizeof msg, "'%.100s' is listed twice", s);
			fail(ctx, e, key, msg);
			return LODE_EMANIFEST;
		}
		*out |= 1u << i;
	}
	return LODE_OK;
}
