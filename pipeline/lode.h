/*
 * lode.h -- the public interface of liblode.
 *
 * lode turns a manifest of survey rasters held in many coordinate systems into one
 * self-describing HDF5/netCDF-4 bundle on a common grid, and reads such bundles back
 * (verify, ls, extract).  Every function here reports failure through a status code
 * and a lode_error record filled by the library; nothing here prints or exits.
 *
 * Not thread-safe across calls that touch the same bundle: HDF5 is used from the
 * calling thread only.
 */
#ifndef LODE_H
#define LODE_H

#include <stddef.h>

#include "lode_error.h" /* lode_status, lode_error, lode_status_name */

#define LODE_VERSION "0.3.0"
/* Version of the bundle layout described in docs/bundle-format.md. */
#define LODE_FORMAT_VERSION "4"

/*
 * The libraries lode runs with, one line: "GDAL 3.6.2, PROJ 9.1.1, HDF5 1.10.8,
 * libdeflate 1.14" (GDAL, PROJ and HDF5 as linked, libdeflate as built).  Static
 * storage, overwritten by the next call.
 */
const char *lode_library_versions(void);

/* Progress callback: fraction in [0,1] and a short label; return 0 to go on. */
typedef int (*lode_progress_fn)(double fraction, const char *label, void *user);
/* A warning of one line (no "lode: warning: " prefix, no newline), e.g. a ballpark
   coordinate operation the policy accepted; the caller decides where it goes. */
typedef void (*lode_warn_fn)(const char *line, void *user);

typedef struct lode_run_options {
	lode_progress_fn progress; /* may be NULL */
	void *progress_user;
	int threads; /* threads for warping and compressing; 0: one per core */
	/* Bytes lode's own buffers and GDAL's block cache may take; 0: no bound.  Fewer
	   threads are used when theirs would not fit; a raster strip or a vector layer that
	   cannot fit fails with a message.  The libraries' code and data are not counted. */
	size_t max_memory;
	lode_warn_fn warn; /* each accepted ballpark or unknown-accuracy operation; may be NULL */
	void *warn_user;
} lode_run_options;

/*
 * Run every stage: read MANIFEST_PATH, plan, reproject and package into BUNDLE_PATH.
 * The bundle is written under a temporary name in the same folder and renamed into
 * place only when complete; on failure nothing is left under either name.
 */
lode_status lode_run(const char *manifest_path, const char *bundle_path, const lode_run_options *opt,
		     lode_error *err);

/*
 * Plan only: read the manifest, check every source, choose every coordinate
 * operation.  On success *report_json is a malloc'd JSON text (caller frees).
 */
lode_status lode_plan_json(const char *manifest_path, char **report_json, lode_error *err);
/*
 * The same for lode plan: json = 1 gives lode_plan_json's text, json = 0 a table for
 * people (dataset, CRSs, operation, accuracy, ballpark, grid, estimated size).  warn
 * (may be NULL) is called once per accepted ballpark or unknown-accuracy operation.
 */
lode_status lode_plan_report(const char *manifest_path, int json, lode_warn_fn warn, void *warn_user,
			     char **report, lode_error *err);

/*
 * lode schema: the built-in exchange schemas (docs/harmonize.md): name NULL for all, or
 * one; json = 1 gives JSON, 0 text for people.  *out malloc'd (caller frees).
 */
lode_status lode_schema_text(const char *name, int json, char **out, lode_error *err);

/* ---- the stages one by one, over a work folder (docs/cluster.md) ---- */

typedef struct lode_stage_options {
	lode_progress_fn progress; /* may be NULL */
	void *progress_user;
	int threads;       /* reproject: threads for warping and compressing; 0: one per core */
	int shard;         /* reproject: which shard, 0 to nshards - 1 */
	int nshards;       /* reproject: how many shards share the work; 0 or 1: one does it all */
	int force;         /* reproject: make parts again even when they exist */
	int tile_rows;     /* plan: rows per tile of a large raster, a multiple of 512; 0: automatic */
	size_t max_memory; /* reproject: as lode_run_options.max_memory */
	lode_warn_fn warn; /* plan: as lode_run_options.warn; may be NULL */
	void *warn_user;
} lode_stage_options;

/*
 * Plan into WORK_DIR (created if missing): check every source and choose every operation
 * as lode_plan_json does, then write WORK_DIR/plan.json listing the parts to make.  The
 * file is replaced atomically.  *summary: a malloc'd line for people (may be NULL).
 */
lode_status lode_plan_work(const char *manifest_path, const char *work_dir, const lode_stage_options *opt,
			   char **summary, lode_error *err);

/*
 * Make the parts of one shard that do not exist yet (all with opt->force).  A part that
 * fails is recorded in WORK_DIR/failed/ and the others are still made; the call then
 * fails naming them.  *summary as above.
 */
lode_status lode_reproject(const char *work_dir, const lode_stage_options *opt, char **summary,
			   lode_error *err);

/* Assemble the parts into BUNDLE_PATH (raw chunk copies); fails if any part is missing. */
lode_status lode_package(const char *work_dir, const char *bundle_path, const lode_stage_options *opt,
			 lode_error *err);

/*
 * What the work folder holds: planned, done, missing and failed parts.  *out is a malloc'd
 * text (JSON when json is non-zero); *complete is 1 when every part is made.
 */
lode_status lode_work_status(const char *work_dir, int json, char **out, int *complete, lode_error *err);

/*
 * One bundle from several: every dataset copied as stored (raster chunks raw), lineage
 * kept.  The inputs must verify and share the target CRS.  A dataset name found in two
 * inputs is refused unless prefix is set, which renames every dataset to STEM_NAME (STEM:
 * the input's file name without folder and extension).
 */
lode_status lode_merge(const char *const *inputs, size_t ninputs, const char *bundle_path, int prefix,
		       lode_error *err);

/*
 * Verify a bundle: recompute every content digest and the bundle digest and check
 * the structure.  On return *report is a malloc'd text with one line per dataset
 * (caller frees; may be set even on failure).  Returns LODE_OK when everything
 * matches, LODE_EDAMAGED when some dataset does not (the report and error name
 * each), another code when the file cannot be read as a bundle at all.
 */
lode_status lode_verify(const char *bundle_path, char **report, lode_error *err);

/*
 * Verify as lode_verify does, and also the bundle's signatures: with trusted public key
 * files (written by lode_keygen), succeed only if at least one signature is valid and
 * made with one of them.  Any signature that does not verify fails the bundle.
 */
lode_status lode_verify_trusted(const char *bundle_path, const char *const *trusted_keys, size_t ntrusted,
				char **report, lode_error *err);

/* Write a new Ed25519 key pair: NAME.key (secret, mode 0600) and NAME.pub.  Never overwrites. */
lode_status lode_keygen(const char *name, lode_error *err);

/*
 * Sign a bundle that verifies: add a signature over its bundle digest and the signer's
 * name.  The bundle is rewritten under a temporary name and renamed into place; its
 * digests do not change.  A bundle can carry several signatures (countersigning).
 */
lode_status lode_sign(const char *bundle_path, const char *key_path, const char *signer, lode_error *err);

/* Describe a bundle: *out is a malloc'd text, JSON when json is non-zero. */
lode_status lode_ls(const char *bundle_path, int json, char **out, lode_error *err);

/*
 * Extract datasets (all when nnames is 0) into DIR, one GeoTIFF per raster named
 * NAME.tif.  DIR is created if missing.  Files are written under temporary names and
 * renamed into place.
 */
lode_status lode_extract(const char *bundle_path, const char *const *names, size_t nnames, const char *dir,
			 lode_error *err);

/* ---- reading a bundle that may be hostile, within bounds (docs/cli.md) ---- */

/*
 * What verify, ls, extract and merge may hold in memory when no bound is given: 1 GiB.
 * A fixed bound, not a share of this machine's memory, so that a bundle reads (or is
 * refused) the same everywhere; it fits a laptop's memory beside other work, and holds a
 * strip of 512 rows of a 100,000-column Float64 raster, or a vector layer of about 20
 * million points with a few fields.
 */
#define LODE_READ_MEMORY_DEFAULT ((size_t)1 << 30)

typedef struct lode_read_options {
	/* Bytes lode's own buffers may hold while reading a bundle: a raster's strip of
	   chunk rows and its chunks (verify also its coordinates, extract also GDAL's block
	   cache), a vector layer's columns (merge: half of it, the rest for the layer's
	   compressed copy).  0: LODE_READ_MEMORY_DEFAULT.  A dataset that cannot be read
	   within it is refused with LODE_ENOMEM, naming it and the bound.  The libraries'
	   code and data are not counted. */
	size_t max_memory;
	/* extract: how vector layers and tables are written: NULL or "gpkg" (NAME.gpkg, a
	   GeoPackage), "csv" (NAME.csv, the geometry as WKT); anything else is refused. */
	const char *vector_format;
	/* Verify only: the report as one JSON object instead of lines (docs/cli.md, "verify
	   --json"): the bundle, "verified", each dataset, the structure, the bundle digest,
	   the signatures and the error, also when the reader crashed or was stopped. */
	int report_json;
	/* Verify only: decode every raster and recompute its content digest even when the
	   bundle digest matches (by default its stored chunks, covered by the bundle digest,
	   are hashed and not decoded; docs/cli.md, "verify --full"). */
	int full;
	/* Progress of the reading (verify, extract, merge; ls is quick): called in this
	   process, from the child's reports, with a fraction in [0,1]; may be NULL.  Its
	   return value is ignored: a signal stops the reading (lode_cleanup_on_signal). */
	lode_progress_fn progress;
	void *progress_user;
} lode_read_options;

/*
 * As lode_verify_trusted, lode_ls, lode_extract and lode_merge, within opt's bounds (NULL:
 * the defaults; the calls above use the defaults).  Whatever the bounds, every variable
 * is checked against what the file stores before it is read (bundle-format.md, "Limits
 * a reader applies"), and the reading's work and CPU time are bounded by the file's
 * size (docs/cli.md, "Reading a bundle that may be hostile").
 */
lode_status lode_verify_opt(const char *bundle_path, const char *const *trusted_keys, size_t ntrusted,
			    const lode_read_options *opt, char **report, lode_error *err);
lode_status lode_ls_opt(const char *bundle_path, int json, const lode_read_options *opt, char **out,
			lode_error *err);
lode_status lode_extract_opt(const char *bundle_path, const char *const *names, size_t nnames,
			     const char *dir, const lode_read_options *opt, lode_error *err);
lode_status lode_merge_opt(const char *const *inputs, size_t ninputs, const char *bundle_path, int prefix,
			   const lode_read_options *opt, lode_error *err);

/* ---- metadata records for catalogues (docs/cli.md, lode metadata) ---- */

/*
 * Write a metadata record of a bundle to out_path: format "iso19139" (ISO 19115 encoded
 * as ISO 19139 XML), "fgdc" (FGDC CSDGM XML) or "stac" (a STAC 1.1 Item, JSON).  The
 * bundle is verified first (lode_verify_opt, strict) and its facts are read from its
 * root attributes and lineage in a child process, as lode_ls does.  A field the format
 * requires that the bundle leaves empty (no title, no contact...) is refused naming it
 * and the manifest key that fills it.  The file is written under a temporary name and
 * renamed into place; nothing is left on failure.
 */
lode_status lode_metadata(const char *bundle_path, const char *format, const char *out_path,
			  const lode_read_options *opt, lode_error *err);

/*
 * Write a report of a bundle for people to out_path: one self-contained XHTML page
 * (lode_metadata's facts, its verification, a map of the extents, a row per dataset
 * with its operation and accuracy, ballpark and unknown accuracies marked).  The bundle
 * is verified first; nothing is required of its attributes.
 */
lode_status lode_report(const char *bundle_path, const char *out_path, const lode_read_options *opt,
			lode_error *err);
/* The same, the bundle verified against trusted_keys (public key files, as
   lode_verify_opt): the report then says which signatures those keys made. */
lode_status lode_report_trusted(const char *bundle_path, const char *out_path,
				const char *const *trusted_keys, size_t ntrusted,
				const lode_read_options *opt, lode_error *err);

/*
 * Validate an ISO 19139 or FGDC CSDGM record (the format told by its root element)
 * against the XML schemas in schema_dir (NULL: lode_metadata_schema_dir()), never
 * reading the network.  *report: a malloc'd text with one line per problem (caller
 * frees; may be set on failure).  LODE_EDAMAGED when the record does not validate.
 */
lode_status lode_metadata_check(const char *record_path, const char *schema_dir, char **report,
				lode_error *err);

/* The folder of the vendored schemas: $LODE_SCHEMA_DIR, else the installed
   PREFIX/share/lode/schemas, else the source tree's tests/data/schemas. */
const char *lode_metadata_schema_dir(void);

/*
 * For the handler of SIGINT, SIGTERM or SIGHUP of a program that then ends: remove the
 * temporary files of every write this process has in progress, and end the child
 * process reading a bundle for it (verify, ls, extract, sign, merge), after letting it
 * remove its own (2 s at most).  Async-signal-safe.  lode must not be used afterwards:
 * the writes in progress are abandoned.  The lode command calls it, then ends by the
 * signal (docs/cli.md).
 */
void lode_cleanup_on_signal(void);

#endif /* LODE_H */
