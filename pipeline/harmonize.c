/*
 * harmonize.c -- a dataset's harmonize: field map (issue 16; docs/harmonize.md): at plan
 * time the vocabularies it names are read and hashed into the lineage's "harmonize"
 * record; at write time (lode__write_vector, so that run and the cluster stages make the
 * same bytes) the rules turn the layer's fields, as read, into the output fields: select
 * and rename, join, cast, a named unit conversion, a date under a stated format, split
 * into a list, and values mapped through vocabularies with the original kept beside
 * (NAME_original).  Nothing is guessed: a value that does not convert is refused, an
 * ambiguous one always, an unmapped one unless unmapped: nil.  It does not touch
 * geometries or the order of features.  The plan-time half (the lineage's record of
 * the rules and vocabularies) is harmonize_plan.c.
 */
#include "harmonize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "vocab.h"

/* ---- dates ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: proleptic Gregorian calendar. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int min, int max, int *out)
{
	int n = 0, v = 0;

	while (n < max && **p >= '0' && **p <= '9') {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n >= min ? 0 : -1;
}

int lode__parse_date(const char *text, const char *fmt, int32_t *days)
{
	static const char *const mon[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = text;
	int y = -1, m = 1, d = 1, v;

	for (const char *f = fmt; *f; f++) {
		if (*f != '%' || f[1] == '%') {
			if (*p++ != *f)
				return -1;
			f += *f == '%';
			continue;
		}
		switch (*++f) {
		case 'Y':
			if (digits(&p, 4, 4, &y))
				return -1;
			break;
		case 'y':
			if (digits(&p, 2, 2, &v))
				return -1;
			y = v < 69 ? 2000 + v : 1900 + v;
			break;
		case 'm':
			if (digits(&p, 1, 2, &m))
				return -1;
			break;
		case 'd':
			if (digits(&p, 1, 2, &d))
				return -1;
			break;
		case 'b':
			for (v = 0; v < 12 && strncasecmp(p, mon[v], 3); v++)
				;
			if (v == 12)
				return -1;
			m = v + 1;
			p += 3;
			break;
		default: return -1;
		}
	}
	if (*p || y < 0 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	*days = (int32_t)days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

/* ---- apply ---- */

typedef struct tally {
	char *value;
	size_t n;
} tally;

typedef struct rule_run {
	const lode_field_rule *r;
	const lode_vfield *src[64];
	size_t nsrc;
	lode__vocab *voc[64];
	const char *vname[64];
	size_t nvoc;
	lode__vocab *tr; /* the rule's translation table, or NULL */
	int src_list;    /* one from field, itself a list: its items are the values */
	int nil;         /* unmapped values kept with the nil reason (else refused) */
	size_t values, mapped, unmapped, empty, translated, several;
	tally *un;
	size_t nun, capun;
} rule_run;

static void run_clear(rule_run *u)
{
	for (size_t i = 0; i < u->nvoc; i++)
		lode__vocab_free(u->voc[i]);
	lode__vocab_free(u->tr);
	for (size_t i = 0; i < u->nun; i++)
		free(u->un[i].value);
	free(u->un);
	memset(u, 0, sizeof *u);
}

static int note_unmapped(rule_run *u, const char *v)
{
	for (size_t i = 0; i < u->nun; i++)
		if (!strcmp(u->un[i].value, v)) {
			u->un[i].n++;
			return 0;
		}
	if (u->nun == u->capun) {
		size_t cap = u->capun ? u->capun * 2 : 16;
		tally *t = realloc(u->un, cap * sizeof *t);
		if (!t)
			return -1;
		u->un = t;
		u->capun = cap;
	}
	if (!(u->un[u->nun].value = lode__strdup(v)))
		return -1;
	u->un[u->nun++].n = 1;
	return 0;
}

/* Value k of f as text into buf (numbers: shortest exact for reals); NULL when null. */
static const char *value_text(const lode_vfield *f, size_t k, char *buf, size_t cap)
{
	if (f->isnull[k])
		return NULL;
	switch (f->type) {
	case LODE_FT_INT32: snprintf(buf, cap, "%d", ((int32_t *)f->values)[k]); break;
	case LODE_FT_INT64: snprintf(buf, cap, "%lld", (long long)((int64_t *)f->values)[k]); break;
	case LODE_FT_BOOL: snprintf(buf, cap, "%d", ((int8_t *)f->values)[k]); break;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: snprintf(buf, cap, "%.17g", ((double *)f->values)[k]); break;
	case LODE_FT_DATE: {
		int64_t z = ((int32_t *)f->values)[k] + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
		unsigned doe = (unsigned)(z - era * 146097),
			 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
		unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
		snprintf(buf, cap, "%04lld-%02u-%02u", (long long)(yoe + era * 400 + (m <= 2)), m, d);
		break;
	}
	default: return ((char **)f->values)[k];
	}
	return buf;
}

/* Trim white space at both ends, in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* The rule's input text for feature k (its from fields joined), malloc'd; "" when empty. */
static char *input_text(const rule_run *u, size_t k)
{
	if (u->r->value)
		return lode__strdup(u->r->value);
	const char *sep = u->r->separator ? u->r->separator : " ";
	size_t len = 1;
	char buf[64][48], *out, *t;
	const char *part[64];

	for (size_t i = 0; i < u->nsrc; i++) {
		part[i] = value_text(u->src[i], k, buf[i], sizeof buf[i]);
		len += (part[i] ? strlen(part[i]) : 0) + strlen(sep);
	}
	if (!(out = malloc(len)))
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < u->nsrc; i++) {
		if (!part[i] || !*part[i])
			continue;
		if (*out)
			strcat(out, sep);
		strcat(out, part[i]);
	}
	t = trim(out);
	memmove(out, t, strlen(t) + 1);
	return out;
}

/* Map one value: the URI (into v), or the nil reason / NULL when unmapped.  -1: refused. */
static int map_value(rule_run *u, const char *val, int nil, const char **uri, lode_error *err)
{
	const char *other = NULL, *text = NULL, *orig = val;

	/* A translation first (JMG's code -> its Malay label): a value without one is kept;
	   one the table gives two texts is refused as an ambiguous vocabulary value is. */
	if (u->tr) {
		lode__vocab_hit h = lode__vocab_match(u->tr, val, &text, &other);
		if (h == LODE__VOCAB_AMBIGUOUS) {
			char safe[200];
			lode__err(
			    err, LODE_ESOURCE,
			    "field '%s' (harmonize.fields, line %d): '%s' has two translations in '%s': '%s' "
			    "and '%s'",
			    u->r->name, u->r->at.line, lode__printable(safe, sizeof safe, orig),
			    u->r->translate, text, other);
			return -1;
		}
		if (h == LODE__VOCAB_ONE) {
			u->translated++;
			val = text;
		}
	}

	for (size_t i = 0; i < u->nvoc; i++) {
		lode__vocab_hit h = lode__vocab_match(u->voc[i], val, uri, &other);
		if (h == LODE__VOCAB_ONE) {
			u->mapped++;
			u->several += strchr(*uri, '|') != NULL;
			return 0;
		}
		if (h == LODE__VOCAB_AMBIGUOUS) {
			char safe[200];
			lode__err(
			    err, LODE_ESOURCE,
			    "field '%s' (harmonize.fields, line %d): '%s' is ambiguous in "
			    "vocabulary '%s': it names both %s and %s; map it in a vocabulary of your own",
			    u->r->name, u->r->at.line, lode__printable(safe, sizeof safe, orig), u->vname[i],
			    *uri, other);
			return -1;
		}
	}
	u->unmapped++;
	*uri = nil ? LODE_NIL_UNKNOWN : NULL;
	if (note_unmapped(u, orig)) {
		lode__err(err, LODE_ENOMEM, "out of memory");
		return -1;
	}
	return 0;
}

static int field_alloc(lode_vfield *f, const char *name, const char *suffix, lode_ftype t, size_t n)
{
	memset(f, 0, sizeof *f);
	f->type = t;
	f->name = lode__sprintf("%s%s", name, suffix);
	f->values = calloc(n ? n : 1, lode__ftype_size(t));
	f->isnull = calloc(n ? n : 1, 1);
	return f->name && f->values && f->isnull ? 0 : -1;
}

static void field_free(lode_vfield *f)
{
	lode__vfield_text_free(f);
	free(f->values);
	free(f->isnull);
	free(f->name);
	free(f->var);
	memset(f, 0, sizeof *f);
}

/* Value k of f: a copy of s (malloc'd, freed here) in f's text; -1 when s is NULL (out of
   memory) or there is no room for the copy. */
static int take_text(lode_vfield *f, size_t k, char *s)
{
	int rc = s ? lode__vfield_set_text(f, k, s) : -1;

	free(s);
	return rc;
}

/* A copy of src under another name: select and rename. */
static int copy_field(const lode_vfield *src, const char *name, size_t n, lode_vfield *out, rule_run *u)
{
	if (field_alloc(out, name, "", src->type, n))
		return -1;
	out->width = src->width;
	memcpy(out->isnull, src->isnull, n);
	out->nnull = src->nnull;
	if (!lode__ftype_is_text(src->type)) {
		memcpy(out->values, src->values, n * lode__ftype_size(src->type));
	} else {
		for (size_t k = 0; k < n; k++)
			if (lode__vfield_set_text(out, k, ((char **)src->values)[k]))
				return -1;
	}
	u->values = n - src->nnull;
	u->empty = src->nnull;
	return 0;
}

/* The items of t cut at each of the rule's separators, trimmed, empty ones dropped. */
static json_t *split_items(const lode_field_rule *r, char *t)
{
	json_t *a = json_array();
	char *p = t;

	while (a && p) {
		char *cut = NULL;
		size_t seplen = 0;

		for (size_t i = 0; i < r->nsplit; i++) {
			char *c = strstr(p, r->split[i]);
			if (c && (!cut || c < cut || (c == cut && strlen(r->split[i]) > seplen))) {
				cut = c;
				seplen = strlen(r->split[i]);
			}
		}
		if (cut)
			*cut = '\0';
		if (*trim(p) && json_array_append_new(a, json_string(trim(p)))) {
			json_decref(a);
			return NULL;
		}
		p = cut ? cut + seplen : NULL;
	}
	return a;
}

static char *dump(json_t *a)
{
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

/* One value of a numeric rule (type Integer, Integer64, Real, or convert). */
static int number_value(const lode_field_rule *r, const char *t, lode_vfield *out, size_t k)
{
	char *end;

	if (r->type && !strcmp(r->type, "Integer64")) {
		long long v = strtoll(t, &end, 10);
		((int64_t *)out->values)[k] = v;
	} else if (r->type && !strcmp(r->type, "Integer")) {
		long long v = strtoll(t, &end, 10);
		if (v < INT32_MIN || v > INT32_MAX)
			return -1;
		((int32_t *)out->values)[k] = (int32_t)v;
	} else {
		double v = strtod(t, &end), mul = 1, div = 1;
		if (!isfinite(v))
			return -1;
		if (r->convert && lode__unit_conversion(r->convert, &mul, &div))
			v = v * mul / div;
		((double *)out->values)[k] = v;
	}
	return *end ? -1 : 0;
}

static lode_ftype out_type(const lode_field_rule *r, int src_list)
{
	if (r->date)
		return LODE_FT_DATE;
	if (r->nsplit || src_list || (r->list && r->nvocab))
		return LODE_FT_STRLIST;
	if (r->convert || (r->type && !strcmp(r->type, "Real")))
		return LODE_FT_REAL;
	if (r->type && !strcmp(r->type, "Integer"))
		return LODE_FT_INT32;
	if (r->type && !strcmp(r->type, "Integer64"))
		return LODE_FT_INT64;
	return LODE_FT_STRING;
}

/* Is the object item one item_where lets through (or is there no item_where)? */
static int item_kept(const lode_field_rule *r, const json_t *item)
{
	const char *m = json_string_value(json_object_get(item, r->where_key));

	if (!r->nwhere)
		return 1;
	for (size_t k = 0; m && k < r->nwhere; k++)
		if (!strcmp(m, r->where_values[k]))
			return 1;
	return 0;
}

/* The items of a list field's JSON text, each as text (numbers as JSON writes them); with
   item_key, of the objects item_where keeps, the member item_key (others left out). */
static json_t *list_items(const lode_field_rule *r, const char *t)
{
	json_t *a = json_loads(t, 0, NULL), *out = json_array(), *v;
	size_t i;

	json_array_foreach(a, i, v)
	{
		char *s;

		if (r->item_key) {
			if (!json_is_object(v) || !item_kept(r, v) ||
			    !json_is_string(json_object_get(v, r->item_key)))
				continue;
			v = json_object_get(v, r->item_key);
		}
		s = json_is_string(v) ? lode__strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
		if (!s || json_array_append_new(out, json_string(s))) {
			free(s);
			json_decref(out);
			out = NULL;
			break;
		}
		free(s);
	}
	json_decref(a);
	return out;
}

/* One feature's value of a vocabulary rule: out (URI or URI list) and orig.  In a list an
   item mapped to several URIs ("A|B") gives each, its original repeated beside each. */
static int vocab_value(rule_run *u, char *t, int nil, lode_vfield *out, lode_vfield *orig, size_t k,
		       lode_error *err)
{
	const char *uri;
	char safe[200];

	if (!u->r->nsplit && !u->src_list && !u->r->list) {
		if (map_value(u, t, nil, &uri, err))
			return -1;
		if (uri && strchr(uri, '|'))
			return lode__err(err, LODE_ESOURCE,
					 "field '%s' (harmonize.fields, line %d): '%s' maps to "
					 "several concepts (%s) and the field holds one; add list: true to "
					 "the rule (a StringList)",
					 u->r->name, u->r->at.line, lode__printable(safe, sizeof safe, t),
					 uri),
			       -1;
		if (lode__vfield_set_text(out, k, uri) || lode__vfield_set_text(orig, k, t))
			return lode__err(err, LODE_ENOMEM, "out of memory"), -1;
		if (!uri)
			out->isnull[k] = 1, out->nnull++;
	} else {
		json_t *items = u->src_list    ? list_items(u->r, t)
				: u->r->nsplit ? split_items(u->r, t)
					       : json_pack("[s]", t);
		json_t *uris = json_array(), *origs = json_array(), *it;
		size_t i;

		json_array_foreach(items, i, it)
		{
			const char *s = json_string_value(it);
			if (map_value(u, s, nil, &uri, err)) {
				json_decref(items), json_decref(uris), json_decref(origs);
				return -1;
			}
			for (const char *p = uri; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL) {
				json_array_append_new(uris, json_stringn(p, strcspn(p, "|")));
				json_array_append_new(origs, json_string(s));
			}
			if (!uri)
				json_array_append_new(origs, json_string(s));
		}
		json_decref(items);
		if (take_text(out, k, dump(uris)) | take_text(orig, k, dump(origs)))
			return lode__err(err, LODE_ENOMEM, "out of memory"), -1;
	}
	return 0;
}

/* Values of a rule that is not a plain copy, feature by feature. */
static int compute(rule_run *u, size_t n, int nil, lode_vfield *out, lode_vfield *orig, lode_error *err)
{
	const lode_field_rule *r = u->r;

	for (size_t k = 0; k < n; k++) {
		char *t = input_text(u, k), safe[200];
		int bad = 0;

		if (!t)
			return lode__err(err, LODE_ENOMEM, "out of memory"), -1;
		if (!*t) {
			u->empty++;
			out->isnull[k] = 1;
			out->nnull++;
			if (lode__ftype_is_text(out->type) && lode__vfield_set_text(out, k, ""))
				bad = 2;
			if (orig) {
				orig->isnull[k] = 1;
				orig->nnull++;
				if (lode__vfield_set_text(orig, k, ""))
					bad = 2;
			}
		} else if (r->nvocab) {
			u->values++;
			bad = vocab_value(u, t, nil, out, orig, k, err) ? 3 : 0;
		} else if (r->date) {
			u->values++;
			bad = lode__parse_date(t, r->date, &((int32_t *)out->values)[k]) ? 1 : 0;
		} else if (out->type == LODE_FT_STRLIST) {
			json_t *items = u->src_list ? list_items(r, t) : split_items(r, t);
			u->values++;
			bad = take_text(out, k, dump(items)) ? 2 : 0;
		} else if (out->type == LODE_FT_STRING) {
			u->values++;
			bad = take_text(out, k, lode__sprintf("%s%s", r->prefix ? r->prefix : "", t)) ? 2 : 0;
		} else {
			u->values++;
			bad = number_value(r, t, out, k) ? 1 : 0;
		}
		if (bad == 1)
			lode__err(err, LODE_ESOURCE,
				  "field '%s' (harmonize.fields, line %d), feature %zu: '%s' is not %s",
				  r->name, r->at.line, k + 1, lode__printable(safe, sizeof safe, t),
				  r->date ? "a date in the stated format" : "a number of the stated type");
		else if (bad == 2)
			lode__err(err, LODE_ENOMEM, "out of memory");
		free(t);
		if (bad)
			return -1;
	}
	return 0;
}

/* The refusal of unmapped values: each distinct one with its count, most frequent first. */
static int cmp_tally(const void *a, const void *b)
{
	const tally *x = a, *y = b;
	return x->n != y->n ? (x->n < y->n) - (x->n > y->n) : strcmp(x->value, y->value);
}

static lode_status refuse_unmapped(rule_run *u, lode_error *err)
{
	char list[1200] = "", safe[120];
	size_t len = 0;

	qsort(u->un, u->nun, sizeof *u->un, cmp_tally);
	for (size_t i = 0; i < u->nun && len + 160 < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s' (%zu)", i ? ", " : "",
					lode__printable(safe, sizeof safe, u->un[i].value), u->un[i].n);
	return lode__err(
	    err, LODE_ESOURCE,
	    "field '%s' (harmonize.fields, line %d): %zu value%s in %zu distinct form%s map "
	    "to no concept (unmapped: refuse): %s%s; add them to a vocabulary of your own, or set "
	    "harmonize.unmapped: nil to keep them with the nil reason %s",
	    u->r->name, u->r->at.line, u->unmapped, u->unmapped == 1 ? "" : "s", u->nun,
	    u->nun == 1 ? "" : "s", list, len + 160 >= sizeof list ? ", ..." : "", LODE_NIL_UNKNOWN);
}

/* Find the rule's source fields and load its vocabularies (checked against the plan). */
static lode_status prepare(rule_run *u, const lode_harmonize_spec *h, const json_t *planned,
			   const lode_vdata *d, lode_error *err)
{
	const lode_field_rule *r = u->r;
	char *const *from = r->nfrom ? r->from : &r->name;
	size_t nfrom = r->value ? 0 : r->nfrom ? r->nfrom : 1;

	for (size_t i = 0; i < nfrom; i++) {
		size_t j = 0;
		while (j < d->nfields && strcmp(d->fields[j].name, from[i]))
			j++;
		if (j == d->nfields) {
			char have[600] = "";
			for (size_t f = 0; f < d->nfields && strlen(have) < 500; f++)
				snprintf(have + strlen(have), sizeof have - strlen(have), "%s%.60s",
					 f ? ", " : "", d->fields[f].name);
			return lode__err(err, LODE_ESOURCE,
					 "field '%s' (harmonize.fields, line %d): the layer has no field "
					 "'%s' (it has: %s)",
					 r->name, r->at.line, from[i], have);
		}
		u->src[u->nsrc++] = &d->fields[j];
	}
	u->src_list = u->nsrc == 1 && (lode__ftype_is_list(u->src[0]->type) ||
				       (r->item_key && u->src[0]->type == LODE_FT_JSON));
	if (r->item_key && !u->src_list)
		return lode__err(
		    err, LODE_ESOURCE,
		    "field '%s' (harmonize.fields, line %d): item_key reads a list or JSON field; '%s' is %s",
		    r->name, r->at.line, u->src[0]->name, lode__ftype_name(u->src[0]->type));
	if (r->translate) {
		size_t j = 0;
		const char *ps;

		while (j < h->ntrans && strcmp(h->translations[j].name, r->translate))
			j++;
		if (j == h->ntrans)
			return lode__err(err, LODE_EINTERNAL, "translation '%s' not declared", r->translate);
		if (lode__vocab_load_col(h->translations[j].path, "text", &u->tr, err))
			return lode__err_ctx(err, "harmonize.translations.%s: ", r->translate);
		ps = json_string_value(
		    json_object_get(json_array_get(json_object_get(planned, "translations"), j), "sha256"));
		if (!ps || strcmp(ps, lode__vocab_sha256(u->tr)))
			return lode__err(err, LODE_ESOURCE,
					 "translation '%s' (%s) changed after it was planned; plan again",
					 r->translate, h->translations[j].path);
	}
	for (size_t i = 0; i < r->nvocab; i++) {
		size_t j = 0;
		json_t *pv;

		while (j < h->nvocabs && strcmp(h->vocabs[j].name, r->vocab[i]))
			j++;
		if (j == h->nvocabs)
			return lode__err(err, LODE_EINTERNAL, "vocabulary '%s' not declared", r->vocab[i]);
		pv = json_array_get(json_object_get(planned, "vocabularies"), j);
		if (lode__vocab_load(h->vocabs[j].path, &u->voc[u->nvoc], err))
			return lode__err_ctx(err, "harmonize.vocabularies.%s: ", r->vocab[i]);
		u->vname[u->nvoc++] = h->vocabs[j].name;
		if (!json_string_value(json_object_get(pv, "sha256")) ||
		    strcmp(json_string_value(json_object_get(pv, "sha256")),
			   lode__vocab_sha256(u->voc[u->nvoc - 1])))
			return lode__err(err, LODE_ESOURCE,
					 "vocabulary '%s' (%s) changed after it was planned; plan again",
					 r->vocab[i], h->vocabs[j].path);
	}
	return LODE_OK;
}

/* The output fields' variable suffixes, as vector_read.c makes them: "N_name". */
static int name_vars(lode_vfield *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(f[i].var = lode__sprintf("%zu_%s", i + 1, f[i].name)))
			return -1;
	return 0;
}

static json_t *count_json(const rule_run *u)
{
	json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "field", u->r->name, "values", (json_int_t)u->values,
			      "mapped", (json_int_t)u->mapped, "unmapped", (json_int_t)u->unmapped, "empty",
			      (json_int_t)u->empty);
	if (o && u->r->translate)
		json_object_set_new(o, "translated", json_integer((json_int_t)u->translated));
	if (o && u->r->nvocab)
		json_object_set_new(o, "unmapped_kept", json_boolean(u->nil));
	if (o && u->r->nvocab)
		json_object_set_new(o, "several", json_integer((json_int_t)u->several));
	return o;
}

lode_status lode__harmonize_apply(const lode_dataset_spec *spec, const json_t *planned, lode_vdata *d,
				  size_t max_bytes, json_t **counts, lode_error *err)
{
	const lode_harmonize_spec *h = spec->harmonize;
	size_t nout = 0, cap = 0, n = d->nfeat, held = max_bytes ? lode__vdata_bytes(d) : 0, made = 0;
	lode_vfield *out = NULL;
	json_t *cj = json_array();
	rule_run u = {0};
	lode_status rc = LODE_OK;

	*counts = NULL;
	for (size_t i = 0; i < h->nfields; i++)
		cap += h->fields[i].nvocab ? 2 : 1;
	out = calloc(cap ? cap : 1, sizeof *out);
	if (!out || !cj) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < h->nfields && !rc; i++) {
		const lode_field_rule *r = &h->fields[i];
		lode_vfield *o = &out[nout], *orig = r->nvocab ? &out[nout + 1] : NULL;
		int nil = r->unmapped ? r->unmapped == 2 : h->unmapped_nil;
		int plain = !r->type && !r->convert && !r->date && !r->nsplit && !r->nvocab &&
			    r->nfrom <= 1 && !r->value && !r->prefix;

		run_clear(&u);
		u.r = r;
		u.nil = nil;
		if ((rc = prepare(&u, h, planned, d, err)))
			break;
		nout += orig ? 2 : 1;
		if (plain) {
			if (copy_field(u.src[0], r->name, n, o, &u))
				rc = lode__err(err, LODE_ENOMEM, "out of memory");
		} else if (field_alloc(o, r->name, "", out_type(r, u.src_list), n) ||
			   (orig &&
			    field_alloc(orig, r->name, "_original",
					r->nsplit || u.src_list || r->list ? LODE_FT_STRLIST : LODE_FT_STRING,
					n))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		} else if (compute(&u, n, nil, o, orig, err)) {
			rc = err->code ? err->code : LODE_ESOURCE;
		} else if (u.nun && !nil) {
			rc = refuse_unmapped(&u, err);
		}
		/* The layer as read stays until every rule is done: both count. */
		made += rc || !max_bytes
			    ? 0
			    : lode__vfield_bytes(o, n) + (orig ? lode__vfield_bytes(orig, n) : 0);
		if (!rc && max_bytes && held + made > max_bytes)
			rc = lode__err(
			    err, LODE_ESOURCE,
			    "its field map (harmonize:) needs %.1f MB beside the layer's %.1f MB by field "
			    "'%s', more than --max-memory allows (%.1f MB): allow more memory, or split the "
			    "layer (where:, clip:)",
			    made / 1048576.0, held / 1048576.0, r->name, max_bytes / 1048576.0);
		if (!rc && json_array_append_new(cj, count_json(&u)))
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
	}
	if (!rc && name_vars(out, nout))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	if (rc)
		goto out;
	/* Done: the layer's fields become the output. */
	for (size_t i = 0; i < d->nfields; i++)
		field_free(&d->fields[i]);
	free(d->fields);
	d->fields = out;
	d->nfields = nout;
	out = NULL;
	*counts = cj;
	cj = NULL;
out:
	run_clear(&u);
	for (size_t i = 0; out && i < nout; i++)
		field_free(&out[i]);
	free(out);
	json_decref(cj);
	return rc;
}
