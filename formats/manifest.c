/*
 * manifest.c -- the manifest model's lifetime and naming rules.  Parsing lives in
 * formats/manifest_yaml.c.
 */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int lode__name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
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
		free(d->layer);
		free(d->where);
		for (size_t k = 0; d->open_options && d->open_options[k]; k++)
			free(d->open_options[k]);
		free(d->open_options);
	}
	free(m->datasets);
	free(m->target_crs);
	free(m->text);
	free(m->dir);
	free(m->path);
	free(m);
}
