/*
 * manifest_names.c -- the naming rules a manifest and a bundle share: the bundle: keys
 * allowed (which become a bundle's root attributes) and dataset names.  Apart from
 * manifest.c because the readers of bundles (verify's structure check, extract, merge)
 * use them too, and lode-verify links no YAML or vocabulary code.
 */
#include <stddef.h>
#include <string.h>

#include "manifest.h"

/* ACDD (and a few CF) global attributes a manifest's bundle: section may set. */
const char *const lode__acdd_keys[] = {
    "title", "summary", "institution", "license", "keywords", "keywords_vocabulary", "id", "naming_authority",
    "project", "program", "source", "comment", "references", "acknowledgement", "creator_name",
    "creator_email", "creator_url", "creator_type", "creator_institution", "publisher_name",
    "publisher_email", "publisher_url", "publisher_type", "publisher_institution", "contributor_name",
    "contributor_role", "processing_level", "product_version", "history", "standard_name_vocabulary",
    "time_coverage_start", "time_coverage_end",
    /* not ACDD: for lode metadata's records (docs/manifest.md) */
    "purpose", "doi", "creator_phone", "creator_address", "creator_city", "creator_state",
    "creator_postal_code", "creator_country", NULL};

int lode__acdd_key_ok(const char *key)
{
	for (size_t i = 0; lode__acdd_keys[i]; i++)
		if (strcmp(lode__acdd_keys[i], key) == 0)
			return 1;
	return 0;
}

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
