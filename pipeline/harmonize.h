/*
 * harmonize.h -- PRIVATE to pipeline/: a dataset's harmonize: field map (issue 16,
 * docs/harmonize.md) planned and applied (pipeline/harmonize.c).
 */
#ifndef LODE_HARMONIZE_H
#define LODE_HARMONIZE_H

#include <jansson.h>

#include "manifest.h"
#include "vdata.h"

/* The nil reason of a value that maps to nothing under unmapped: nil. */
#define LODE_NIL_UNKNOWN "http://www.opengis.net/def/nil/ogc/0/unknown"

/*
 * Plan time: read and hash every vocabulary the dataset names and make the lineage's
 * "harmonize" record (the rules as applied, each vocabulary with its file, SHA-256,
 * version and concept count, the unmapped policy).  NULL with err filled on a bad or
 * unreadable vocabulary (FILE:LINE) or ENOMEM.  The caller owns the record.
 */
json_t *lode__harmonize_plan(const lode_dataset_spec *spec, lode_error *err);

/*
 * Plan time: every field the rules read (from) is one of the layer's (names,
 * NULL-terminated).  LODE_EMANIFEST naming each missing one with its rule's line and
 * the fields the layer has.
 */
lode_status lode__harmonize_check_fields(const lode_dataset_spec *spec, char *const *names, lode_error *err);

/*
 * Apply the field map to d (its fields are replaced by the rules' output, in rule
 * order).  planned: the record lode__harmonize_plan made (each vocabulary must still
 * have the digest it had then).  On success *counts (owned by the caller) holds per
 * output field {field, values, mapped, unmapped, empty}.  Refused, d unchanged: a source
 * field that is missing, a value that does not convert or parse, an ambiguous value
 * (both concepts named), unmapped values under unmapped: refuse (each distinct one
 * with its count), and, when max_bytes is not 0, output fields that with the layer as
 * read would hold more than max_bytes (--max-memory).
 */
lode_status lode__harmonize_apply(const lode_dataset_spec *spec, const json_t *planned, lode_vdata *d,
				  size_t max_bytes, json_t **counts, lode_error *err);

/*
 * Put counts (from lode__harmonize_apply, or read back from a part's lineage by lode
 * package: they cannot be recomputed from the output values) into the "harmonize"
 * record of the layer's lineage lj, as a copy: the plan's record is shared and stays as
 * planned.  Nothing when either is NULL or lj has no such record.  0, or -1 (ENOMEM).
 */
int lode__harmonize_with_counts(json_t *lj, json_t *counts);

/*
 * Parse text under a date format (%Y, %y: 00-68 -> 20yy, 69-99 -> 19yy as POSIX
 * strptime, %m, %d (one or two digits), %b (English month abbreviation), %% and literal
 * characters; the whole text must be used).  *days: days since 1970-01-01.  0 or -1.
 */
int lode__parse_date(const char *text, const char *fmt, int32_t *days);

#endif
