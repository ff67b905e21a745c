/*
 * harmonize_plan.c -- the plan-time half of a dataset's harmonize: field map (issue 16;
 * docs/harmonize.md): the lineage's "harmonize" record (every rule as the manifest gave
 * it, defaults spelled out, and each vocabulary it names, read and hashed), the check
 * that the layer has the fields the rules read, and a part's counts added back to the
 * record.  Applying the rules is harmonize.c.
 */
#include "harmonize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vocab.h"

/* ---- plan ---- */

static json_t *texts(char *const *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

/* A rule as the lineage records it: every key the manifest gave, defaults spelled out. */
static json_t *rule_json(const lode_field_rule *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(r->name));
	if (r->nfrom)
		json_object_set_new(o, "from", texts(r->from, r->nfrom));
	else
		json_object_set_new(o, "from", texts(&r->name, 1));
	if (r->nfrom > 1)
		json_object_set_new(o, "separator", json_string(r->separator ? r->separator : " "));
	if (r->type)
		json_object_set_new(o, "type", json_string(r->type));
	if (r->convert) {
		double mul = 1, div = 1;
		lode__unit_conversion(r->convert, &mul, &div);
		json_object_set_new(o, "convert", json_string(r->convert));
		json_object_set_new(o, "factor", json_pack("[f,f]", mul, div));
	}
	if (r->date)
		json_object_set_new(o, "date", json_string(r->date));
	if (r->nsplit)
		json_object_set_new(o, "split", texts(r->split, r->nsplit));
	if (r->translate)
		json_object_set_new(o, "translate", json_string(r->translate));
	if (r->prefix)
		json_object_set_new(o, "prefix", json_string(r->prefix));
	if (r->item_key)
		json_object_set_new(o, "item_key", json_string(r->item_key));
	if (r->nwhere)
		json_object_set_new(o, "item_where",
				    json_pack("{s:o}", r->where_key, texts(r->where_values, r->nwhere)));
	if (r->value) {
		json_object_del(o, "from");
		json_object_set_new(o, "value", json_string(r->value));
	}
	if (r->nvocab) {
		if (r->unmapped)
			json_object_set_new(o, "unmapped", json_string(r->unmapped == 2 ? "nil" : "refuse"));
		json_object_set_new(o, "vocabulary", texts(r->vocab, r->nvocab));
		json_object_set_new(o, "original", json_sprintf("%s_original", r->name));
		if (r->list)
			json_object_set_new(o, "list", json_true());
	}
	return o;
}

/* The lineage's list of vocabularies (or translation tables): file, digest, version. */
static json_t *tables_json(const lode_vocab_ref *refs, size_t n, const char *target, const char *what,
			   lode_error *err)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		lode__vocab *v = NULL;
		const lode_vocab_ref *r = &refs[i];
		json_t *o;

		if (lode__vocab_load_col(r->path, target, &v, err)) {
			lode__err_ctx(err, "harmonize.%s.%s (line %d): ", what, r->name, r->at.line);
			json_decref(a);
			return NULL;
		}
		o = json_pack("{s:s,s:s,s:s,s:s?,s:I}", "name", r->name, "file", r->written, "sha256",
			      lode__vocab_sha256(v), "version",
			      r->builtin ? LODE_VOCAB_BUILTIN_VERSION : NULL, "concepts",
			      (json_int_t)lode__vocab_concepts(v));
		lode__vocab_free(v);
		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a)
		lode__err(err, LODE_ENOMEM, "out of memory");
	return a;
}

json_t *lode__harmonize_plan(const lode_dataset_spec *spec, lode_error *err)
{
	const lode_harmonize_spec *h = spec->harmonize;
	json_t *rec = json_object(), *vocabs = NULL, *trans = NULL, *rules = json_array();
	int h_nil_any;

	if (!rec || !rules)
		goto nomem;
	if (!(vocabs = tables_json(h->vocabs, h->nvocabs, "uri", "vocabularies", err)) ||
	    !(trans = tables_json(h->translations, h->ntrans, "text", "translations", err)))
		goto fail;
	for (size_t i = 0; i < h->nfields; i++)
		if (json_array_append_new(rules, rule_json(&h->fields[i])))
			goto nomem;
	json_object_set_new(rec, "vocabularies", vocabs);
	if (h->ntrans)
		json_object_set_new(rec, "translations", trans);
	else
		json_decref(trans);
	json_object_set_new(rec, "fields", rules);
	json_object_set_new(rec, "unmapped", json_string(h->unmapped_nil ? "nil" : "refuse"));
	{
		int nil = h->unmapped_nil;
		for (size_t i = 0; i < h->nfields; i++)
			nil |= h->fields[i].unmapped == 2;
		h_nil_any = nil;
	}
	if (h_nil_any)
		json_object_set_new(rec, "nil_reason", json_string(LODE_NIL_UNKNOWN));
	return rec;
nomem:
	lode__err(err, LODE_ENOMEM, "out of memory");
fail:
	json_decref(rec);
	json_decref(vocabs);
	json_decref(trans);
	json_decref(rules);
	return NULL;
}

lode_status lode__harmonize_check_fields(const lode_dataset_spec *spec, char *const *names, lode_error *err)
{
	const lode_harmonize_spec *h = spec->harmonize;
	char miss[1000] = "", have[600] = "";
	size_t len = 0, nmiss = 0;

	for (size_t i = 0; i < h->nfields; i++) {
		const lode_field_rule *r = &h->fields[i];
		char *const *from = r->nfrom ? r->from : &r->name;
		size_t nfrom = r->value ? 0 : r->nfrom ? r->nfrom : 1;

		for (size_t k = 0; k < nfrom; k++) {
			size_t j = 0;
			while (names && names[j] && strcmp(names[j], from[k]))
				j++;
			if (names && names[j])
				continue;
			nmiss++;
			if (len + 200 < sizeof miss)
				len += (size_t)snprintf(miss + len, sizeof miss - len,
							"%s'%.60s' (field '%s', line %d)",
							nmiss > 1 ? ", " : "", from[k], r->name, r->at.line);
		}
	}
	if (!nmiss)
		return LODE_OK;
	for (size_t j = 0; names && names[j] && strlen(have) < 500; j++)
		snprintf(have + strlen(have), sizeof have - strlen(have), "%s%.60s", j ? ", " : "", names[j]);
	return lode__err(err, LODE_EMANIFEST, "harmonize: the layer has no field %s (it has: %s)", miss,
			 have);
}

int lode__harmonize_with_counts(json_t *lj, json_t *counts)
{
	json_t *hc;

	if (!lj || !counts || !json_object_get(lj, "harmonize"))
		return 0;
	hc = json_deep_copy(json_object_get(lj, "harmonize"));
	if (!hc || json_object_set(hc, "counts", counts) || json_object_set_new(lj, "harmonize", hc)) {
		json_decref(hc);
		return -1;
	}
	return 0;
}
