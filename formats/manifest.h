/*
 * manifest.h -- PRIVATE to liblode: the manifest model (formats/manifest.c: its lifetime
 * and naming rules) and its YAML parser (formats/manifest_yaml.c, libyaml).  The model
 * is plain data: every string is owned by the manifest and freed with it.
 */
#ifndef LODE_MANIFEST_H
#define LODE_MANIFEST_H

#include <stddef.h>
#include "error.h"

/* Where a key's value starts in the manifest (1-based; 0 when the key is absent). */
typedef struct lode_loc {
	int line, col;
} lode_loc;

/* A policy: section, the manifest's or a dataset's (has_*: the key was given). */
typedef struct lode_policy_spec {
	int has_max_error_m, has_allow_ballpark, has_confine_sources, has_orphans;
	int orphans; /* orphans: refuse (0) or list (1) references without their key */
	double max_error_m;
	int allow_ballpark;
	int confine_sources;
	lode_loc at; /* where the section starts */
} lode_policy_spec;

typedef struct lode_meta {
	char *key; /* ACDD attribute name */
	char *value;
} lode_meta;

/* One of a dataset's references: (issue 15 item 4): FIELD: DATASET.KEY. */
typedef struct lode_reference {
	char *field;   /* this dataset's field */
	char *dataset; /* the dataset referred to */
	char *key;     /* its key: field */
	lode_loc at;   /* where the pair starts */
} lode_reference;
/*
 * harmonize: of a vector dataset or table (issue 16; docs/harmonize.md): the field map
 * applied to the layer as read, before it is written (pipeline/harmonize.c).  Parsed by
 * formats/manifest_fields.c.
 */
typedef struct lode_vocab_ref {
	char *name;    /* the name rules use */
	char *written; /* as written: "cgi:CommodityCode" or a CSV path */
	char *path;    /* resolved: the built-in file, or against the manifest's folder */
	int builtin;   /* cgi:NAME */
	lode_loc at;
} lode_vocab_ref;

typedef struct lode_field_rule {
	char *name;  /* the output field */
	char **from; /* source fields (one; several are joined with `separator`) */
	size_t nfrom;
	char *separator; /* join: between the from fields (default " ") */
	char *type;      /* cast: Integer, Integer64, Real, String or NULL */
	char *convert;   /* a named unit conversion (ppm_to_percent...) or NULL */
	char *date;      /* date format (%Y %y %m %d %b and literal text) or NULL */
	char **split;    /* separators that cut the text into a list, or NULL */
	size_t nsplit;
	char *translate; /* a translation table's name (value -> text, before vocabulary), or NULL */
	char *value;     /* a constant text for every feature (no from), or NULL */
	char *prefix;    /* text put before each non-empty text value (identifiers), or NULL */
	char *item_key;  /* items that are JSON objects: the member that is the value, or NULL */
	char *where_key; /* ... and only those whose member where_key is one of where_values */
	char **where_values;
	size_t nwhere;
	int unmapped; /* this rule's unmapped: 0 the dataset's, 1 refuse, 2 nil */
	int list;     /* list: true: a vocabulary rule makes a StringList (a value may map to several) */
	char **vocab; /* vocabulary names tried in order, or NULL */
	size_t nvocab;
	lode_loc at;
} lode_field_rule;

typedef struct lode_harmonize_spec {
	lode_vocab_ref *vocabs;
	size_t nvocabs;
	lode_vocab_ref *translations; /* CSV tables value,text (never built-in) */
	size_t ntrans;
	lode_field_rule *fields;
	size_t nfields;
	int unmapped_nil; /* unmapped: nil (kept with the OGC nil reason); default refuse */
	lode_loc at;
} lode_harmonize_spec;

typedef struct lode_dataset_spec {
	char *name;
	char *source;      /* as written in the manifest */
	char *source_path; /* resolved against the manifest's folder */
	char *resampling;  /* GDAL name; default "nearest" */
	int *bands;        /* 1-based; NULL = all */
	size_t nbands;
	int has_nodata;
	double nodata;
	char *assume_crs; /* NULL unless given */
	char *operation;  /* NULL unless given */
	int has_resolution;
	double xres, yres;
	int has_error_threshold;
	double error_threshold;
	/* vector layers */
	char *layer;         /* which layer of a multi-layer source, or NULL */
	char **open_options; /* NULL-terminated GDAL open options, or NULL */
	int has_clip, clip;  /* cut features to target.bounds (default: keep whole) */
	char *where;         /* OGR attribute filter, or NULL */
	/* allow: what the source may read beyond plain local files (default: neither) */
	int allow_raw_vrt; /* "raw_vrt": VRTRawRasterBand */
	int allow_network; /* "network": /vsicurl/..., URLs, connection strings */
	int has_resampling, has_bands;
	int line, column; /* where the entry starts in the manifest (1-based) */
	/* geodesy per dataset */
	lode_policy_spec policy; /* overrides the manifest's policy key by key */
	char *via;               /* intermediate CRS (as written), or NULL */
	lode_loc at_resolution, at_assume_crs, at_operation, at_via;
	int index; /* 1-based position in datasets: (for "datasets[N]" in messages) */
	/* relations: key: FIELD (unique, non-null) and references: (manifest_relations.c) */
	char *key;
	lode_reference *refs;
	size_t nrefs;
	lode_loc at_key, at_references;
	lode_harmonize_spec *harmonize; /* harmonize: or NULL */
	char *schema;                   /* schema: the exchange schema the layer must fit, or NULL */
	lode_loc at_schema;
} lode_dataset_spec;

typedef struct lode_manifest {
	char *path; /* as given */
	char *dir;  /* folder relative paths are resolved against */
	char *text; /* the manifest's bytes, kept for the bundle */
	size_t text_len;
	lode_meta *meta; /* bundle: keys, in manifest order */
	size_t nmeta;
	char *target_crs;        /* as written */
	double bounds[4];        /* xmin ymin xmax ymax in the target CRS */
	double xres, yres;       /* > 0 */
	double error_threshold;  /* pixels, default 0.125 */
	double max_error_m;      /* default: no limit (HUGE_VAL) */
	int allow_ballpark;      /* default 0 */
	int confine_sources;     /* sources must lie inside the manifest's folder; default 0 */
	lode_policy_spec policy; /* the policy: section as written (the fields above apply it) */
	lode_loc at_crs, at_bounds, at_resolution;
	char *target_units; /* the target CRS's unit ("metre", "degree"), or NULL */
	int target_geographic;
	lode_dataset_spec *datasets;
	size_t ndatasets;
	unsigned metadata; /* metadata: records written beside the bundle, LODE_MD_* bits */
} lode_manifest;

/* The records of a manifest's metadata: list (lode metadata's formats). */
#define LODE_MD_ISO19139 1u
#define LODE_MD_FGDC     2u
#define LODE_MD_STAC     4u
#define LODE_MD_REPORT   8u

/* Parse and validate a manifest file.  Errors carry "FILE:LINE:COL: key: problem", every
   problem found in one pass (up to LODE_MANIFEST_MAX_ERRORS), one per line. */
#define LODE_MANIFEST_MAX_ERRORS 12
lode_status lode__manifest_load(const char *path, lode_manifest **out, lode_error *err);
void lode__manifest_free(lode_manifest *m);
/* Is key one of the bundle: section's keys (ACDD-1.3 and a few CF ones), which become
   root attributes of a bundle? */
int lode__acdd_key_ok(const char *key);
/* Those keys, NULL-terminated. */
extern const char *const lode__acdd_keys[];
/* Is name acceptable as a dataset name ([A-Za-z0-9_-], starts with a letter, <= 64)? */
int lode__name_ok(const char *name);
/* Refuse YAML anchors, aliases and nesting deeper than 32 levels in text (len bytes),
   before libyaml builds a tree: errors "FILE:LINE:COL: ...". */
lode_status lode__manifest_prescan(const char *file, const char *text, size_t len, lode_error *err);
/* manifest_relations.c, for manifest_yaml.c: a problem is recorded through problem (at
   a place, of a dataset, under a key) and the reading goes on.  relation_key reads the
   value node (a yaml_node_t of the document doc) of key: (which 0) or references:
   (which 1) into d; orphans the policy's orphans: value; relations_check, once every
   dataset is read, that each reference names another dataset whose key: is the field
   named.  They return LODE_EMANIFEST after a problem, LODE_ENOMEM, or LODE_OK. */
typedef void (*lode_manifest_problem)(void *user, lode_loc at, const char *dataset, const char *key,
				      const char *what);
lode_status lode__manifest_relation_key(void *doc, int which, const void *node, lode_dataset_spec *d,
					lode_manifest_problem problem, void *user);
lode_status lode__manifest_orphans(const char *value, lode_loc at, lode_policy_spec *p,
				   lode_manifest_problem problem, void *user);
lode_status lode__manifest_relations_check(const lode_manifest *m, lode_manifest_problem problem, void *user);
void lode__manifest_relations_free(lode_dataset_spec *d);

/* The closest of the NULL-terminated words to s (a typo away), or NULL. */
const char *lode__did_you_mean(const char *s, const char *const *words);

void lode__harmonize_spec_free(lode_harmonize_spec *h); /* NULL ok */
/*
 * A named unit conversion (docs/harmonize.md): value * mul / div, both exact integers
 * (ppm_to_percent: mul 1, div 10000).  0 when name is not one; names may be NULL.
 */
int lode__unit_conversion(const char *name, double *mul, double *div);
/* The conversion names, NULL-terminated. */
extern const char *const lode__unit_conversions[];

#endif /* LODE_MANIFEST_H */
