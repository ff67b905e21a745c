/*
 * schema.h -- PRIVATE to pipeline/: lode's built-in exchange schemas (pipeline/schema.c;
 * docs/harmonize.md section 4) and the check that a dataset's field map fits one.
 */
#ifndef LODE_SCHEMA_H
#define LODE_SCHEMA_H

#include <jansson.h>

#include "manifest.h"

/*
 * Check at plan time that the fields spec's harmonize: rules make fit the schema
 * spec->schema: every field of the schema made, with its type, and no other field but
 * the NAME_original companions.  On success *rec (the caller's) is the lineage's
 * "schema" record {name, version}.  A misfit: LODE_EMANIFEST naming every field that
 * does not fit, with the manifest line.
 */
lode_status lode__schema_check(const lode_dataset_spec *spec, json_t **rec, lode_error *err);

#endif
