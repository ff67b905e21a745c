/*
 * schema.c -- lode's built-in exchange schemas (issue 16): deposit_site, a mineral
 * occurrence record modelled on EarthResourceML-Lite's MineralOccurrenceView and USGS
 * USMIN, versioned; the check that a dataset's field map makes exactly its fields
 * (lode plan), and the text and JSON lode schema prints.  The schema is data (the table
 * below) and docs/harmonize.md section 4 documents it; a change of a field is a new
 * version.  It does not read values: the rules' output types are known at plan.
 */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lode.h"
#include "util.h"

typedef struct sfield {
	const char *name, *type, *vocab, *what;
} sfield;

typedef struct schema {
	const char *name, *version, *based_on, *what;
	const sfield *fields;
	size_t n;
} schema;

#define CGI "http://resource.geosciml.org/classifier/cgi/"
static const sfield deposit_site_fields[] = {
    {"identifier", "String", NULL, "a URI naming the site (the source's record URL, or a prefix and its id)"},
    {"source_id", "String", NULL, "the site's identifier in the source"},
    {"name", "String", NULL, "the site's name as the source gives it"},
    {"name_language", "String", NULL, "the language of name (BCP 47: en, ms)"},
    {"country", "String", NULL,
     "the ISO 3166-1 alpha-2 code of the site's country (MM for Burma, Myanmar, Union of Myanmar); null: "
     "unknown"},
    {"occurrence_type", "String", CGI "mineral-occurrence-type/",
     "a URI of cgi:MineralOccurrenceType, or a nil reason"},
    {"commodities", "StringList", CGI "commodity-code/",
     "URIs of cgi:CommodityCode; the order is the rank (first: main commodity); nil reasons for unmapped "
     "items"},
    {"commodities_original", "StringList", NULL, "the source's commodity values, item for item"},
    {"deposit_model", "String", CGI "mineral-deposit-model/",
     "a URI of cgi:MineralDepositModel, or a nil reason"},
    {"status", "String", CGI "mine-status/", "a URI of cgi:MineStatus, or a nil reason"},
    {"location_accuracy_m", "Real", NULL, "how far the point may be from the site, metres (null: unknown)"},
    {"source_reference", "String", NULL, "the publication or database the record comes from"},
    {"last_updated", "Date", NULL, "when the source last changed the record"},
};

static const schema schemas[] = {
    {"deposit_site", "1.1",
     "EarthResourceML-Lite 2.0 MineralOccurrenceView; USGS USMIN mineral deposit sites",
     "one mineral occurrence (site) per feature, point geometry", deposit_site_fields,
     sizeof deposit_site_fields / sizeof deposit_site_fields[0]},
};

static const schema *find(const char *name)
{
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
		if (!strcmp(schemas[i].name, name))
			return &schemas[i];
	return NULL;
}

/* The type a rule makes, or NULL when it copies a source field as it is (known only
   when read). */
static const char *rule_type(const lode_field_rule *r)
{
	if (r->date)
		return "Date";
	if (r->nsplit || (r->list && r->nvocab))
		return "StringList";
	if (r->convert || (r->type && !strcmp(r->type, "Real")))
		return "Real";
	if (r->type)
		return r->type;
	if (r->item_key)
		return "StringList";
	if (r->nvocab || r->value || r->prefix || r->nfrom > 1)
		return NULL; /* String, or a list when its one source field is a list */
	return NULL;
}

static int fits(const lode_field_rule *r, const char *want)
{
	const char *t = rule_type(r);

	if (t)
		return !strcmp(t, want);
	/* A copy or a mapped list field: String or a list, decided by the source. */
	return !strcmp(want, "String") || !strcmp(want, "StringList");
}

lode_status lode__schema_check(const lode_dataset_spec *spec, json_t **rec, lode_error *err)
{
	const schema *s = find(spec->schema);
	const lode_harmonize_spec *h = spec->harmonize;
	char list[1500] = "";
	size_t len = 0, bad = 0;

	*rec = NULL;
	if (!s)
		return lode__err(err, LODE_EMANIFEST,
				 "line %d: schema: '%s' is not a schema lode knows (lode schema "
				 "lists them: deposit_site)",
				 spec->at_schema.line, spec->schema);
	if (!h)
		return lode__err(err, LODE_EMANIFEST,
				 "line %d: schema: %s needs a harmonize: section making its "
				 "fields (lode schema %s lists them)",
				 spec->at_schema.line, s->name, s->name);
	for (size_t i = 0; i < s->n; i++) {
		const lode_field_rule *r = NULL;

		int companion = 0;

		for (size_t j = 0; j < h->nfields && !r; j++) {
			size_t n = strlen(h->fields[j].name);
			if (!strcmp(h->fields[j].name, s->fields[i].name))
				r = &h->fields[j];
			else if (h->fields[j].nvocab && !strncmp(h->fields[j].name, s->fields[i].name, n) &&
				 !strcmp(s->fields[i].name + n, "_original"))
				r = &h->fields[j], companion = 1; /* made beside a mapped field */
		}
		if (companion && r && rule_type(r) && strcmp(rule_type(r), "StringList") == 0)
			continue;
		if (companion && r && !rule_type(r))
			continue;
		if (!r || (!companion && !fits(r, s->fields[i].type))) {
			bad++;
			if (len + 200 < sizeof list)
				len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%s): %s",
							bad > 1 ? "; " : "", s->fields[i].name,
							s->fields[i].type,
							r ? "made with another type" : "not made");
		}
	}
	for (size_t j = 0; j < h->nfields; j++) {
		const char *nm = h->fields[j].name;
		size_t i = 0;
		while (i < s->n && strcmp(s->fields[i].name, nm))
			i++;
		if (i == s->n) {
			bad++;
			if (len + 200 < sizeof list)
				len += (size_t)snprintf(list + len, sizeof list - len,
							"%s%s (line %d): not in the schema",
							bad > 1 ? "; " : "", nm, h->fields[j].at.line);
		}
	}
	if (bad)
		return lode__err(err, LODE_EMANIFEST,
				 "line %d: the field map does not fit schema %s %s: %zu field%s: %s",
				 spec->at_schema.line, s->name, s->version, bad, bad == 1 ? "" : "s", list);
	*rec = json_pack("{s:s,s:s}", "name", s->name, "version", s->version);
	return *rec ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");
}

lode_status lode_schema_text(const char *name, int json, char **out, lode_error *err)
{
	json_t *all = json_array();

	*out = NULL;
	if (name && !find(name))
		return json_decref(all),
		       lode__err(err, LODE_EUSAGE, "no schema '%s' (lode knows: deposit_site)", name);
	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
		const schema *s = &schemas[i];
		json_t *f = json_array();

		if (name && strcmp(name, s->name))
			continue;
		for (size_t k = 0; k < s->n; k++)
			json_array_append_new(f, json_pack("{s:s,s:s,s:s?,s:s}", "name", s->fields[k].name,
							   "type", s->fields[k].type, "vocabulary",
							   s->fields[k].vocab, "description",
							   s->fields[k].what));
		json_array_append_new(all, json_pack("{s:s,s:s,s:s,s:s,s:o}", "name", s->name, "version",
						     s->version, "based_on", s->based_on, "description",
						     s->what, "fields", f));
	}
	if (json) {
		*out = json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		size_t cap = 16384, len = 0;
		char *t = malloc(cap);
		size_t i;
		json_t *s;

		json_array_foreach(all, i, s)
		{
			json_t *f;
			size_t k;

			if (!t)
				break;
			len += (size_t)snprintf(t + len, cap - len, "%s%s %s: %s\n  based on %s\n\n",
						i ? "\n" : "", json_string_value(json_object_get(s, "name")),
						json_string_value(json_object_get(s, "version")),
						json_string_value(json_object_get(s, "description")),
						json_string_value(json_object_get(s, "based_on")));
			json_array_foreach(json_object_get(s, "fields"), k, f)
			{
				const char *v = json_string_value(json_object_get(f, "vocabulary"));
				if (len + 400 < cap)
					len += (size_t)snprintf(
					    t + len, cap - len, "  %-22s %-11s %s%s%s\n",
					    json_string_value(json_object_get(f, "name")),
					    json_string_value(json_object_get(f, "type")),
					    json_string_value(json_object_get(f, "description")),
					    v ? "\n                                     vocabulary: " : "",
					    v ? v : "");
			}
		}
		*out = t;
	}
	json_decref(all);
	return *out ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");
}
