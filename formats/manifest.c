/*
 * manifest.c -- the manifest model's lifetime, the "did you mean" of a mistyped key or
 * value, and the prescan that refuses YAML anchors, aliases and deep nesting before a
 * tree is built.  Parsing lives in formats/manifest_yaml.c; the bundle: keys allowed and
 * dataset names in formats/manifest_names.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "error.h"
#include "manifest.h"

#define MAX_DEPTH 32

/* Levenshtein distance, ASCII case folded; words longer than 63 bytes are never close. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la > 63 || lb > 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
			size_t best = diag + (same ? 0 : 1);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *lode__did_you_mean(const char *s, const char *const *words)
{
	const char *best = NULL;
	size_t bestd = 99, limit = strlen(s) <= 4 ? 1 : strlen(s) <= 8 ? 2 : 3;

	for (size_t i = 0; words[i]; i++) {
		size_t d = distance(s, words[i]);
		if (d < bestd) {
			bestd = d;
			best = words[i];
		}
	}
	return bestd <= limit ? best : NULL;
}

/* Refuse anchors, aliases, tags on collections and deep nesting before building a tree. */
lode_status lode__manifest_prescan(const char *file, const char *text, size_t len, lode_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, done = 0;
	lode_status rc = LODE_OK;

	if (!yaml_parser_initialize(&p))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = lode__err(err, LODE_EMANIFEST, "%s:%lu:%lu: not valid YAML: %s%s%s", file,
				       (unsigned long)p.problem_mark.line + 1,
				       (unsigned long)p.problem_mark.column + 1,
				       p.problem ? p.problem : "syntax error", p.context ? " " : "",
				       p.context ? p.context : "");
			break;
		}
		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			rc = lode__err(err, LODE_EMANIFEST,
				       "%s:%lu:%lu: YAML aliases (*name) are not allowed in a manifest", file,
				       (unsigned long)ev.start_mark.line + 1,
				       (unsigned long)ev.start_mark.column + 1);
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor)
				rc = lode__err(
				    err, LODE_EMANIFEST,
				    "%s:%lu:%lu: YAML anchors (&name) are not allowed in a manifest", file,
				    (unsigned long)ev.start_mark.line + 1,
				    (unsigned long)ev.start_mark.column + 1);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if ((ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
			    (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor))
				rc = lode__err(
				    err, LODE_EMANIFEST,
				    "%s:%lu:%lu: YAML anchors (&name) are not allowed in a manifest", file,
				    (unsigned long)ev.start_mark.line + 1,
				    (unsigned long)ev.start_mark.column + 1);
			else if (++depth > MAX_DEPTH)
				rc = lode__err(err, LODE_EMANIFEST,
					       "%s:%lu:%lu: the YAML is nested more than %d levels deep",
					       file, (unsigned long)ev.start_mark.line + 1,
					       (unsigned long)ev.start_mark.column + 1, MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		case YAML_DOCUMENT_START_EVENT: break;
		case YAML_STREAM_END_EVENT: done = 1; break;
		default: break;
		}
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

void lode__manifest_free(lode_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nmeta; i++) {
		free(m->meta[i].key);
		free(m->meta[i].value);
	}
	free(m->meta);
	for (size_t i = 0; i < m->ndatasets; i++) {
		lode_dataset_spec *d = &m->datasets[i];
		free(d->name);
		free(d->source);
		free(d->source_path);
		free(d->resampling);
		free(d->bands);
		free(d->assume_crs);
		free(d->operation);
		free(d->via);
		lode__manifest_relations_free(d);
		free(d->layer);
		free(d->where);
		for (size_t k = 0; d->open_options && d->open_options[k]; k++)
			free(d->open_options[k]);
		free(d->open_options);
		lode__harmonize_spec_free(d->harmonize);
		free(d->schema);
	}
	free(m->datasets);
	free(m->target_crs);
	free(m->target_units);
	free(m->text);
	free(m->dir);
	free(m->path);
	free(m);
}
