/*
 * manifest_fields.h -- PRIVATE to formats/manifest_yaml.c and formats/manifest_fields.c:
 * the parser of a dataset's harmonize: section (the model is in manifest.h), and of the
 * top-level metadata: list.
 */
#ifndef LODE_MANIFEST_FIELDS_H
#define LODE_MANIFEST_FIELDS_H

#include <yaml.h>

#include "manifest.h"

/* Record one problem at node n under key (manifest_yaml.c's fail()). */
typedef void (*lode__mf_fail)(void *ctx, const yaml_node_t *n, const char *key, const char *msg);

/*
 * Parse the harmonize: mapping v into *out (allocated; freed with the manifest).  Paths of
 * user vocabularies are resolved against dir.  Problems go to fail (all of them, each
 * with its node); returns LODE_EMANIFEST when there was one, LODE_ENOMEM, or LODE_OK.
 */
lode_status lode__manifest_harmonize(yaml_document_t *doc, const yaml_node_t *v, const char *key,
				     const char *dir, lode_harmonize_spec **out, lode__mf_fail fail,
				     void *ctx);

/*
 * The top-level metadata: list v (the records run and package write beside the bundle)
 * as LODE_MD_* bits or'ed into *out.  Problems go to fail; LODE_EMANIFEST when there was
 * one, else LODE_OK.
 */
lode_status lode__manifest_records(yaml_document_t *doc, const yaml_node_t *v, const char *key, unsigned *out,
				   lode__mf_fail fail, void *ctx);

#endif
