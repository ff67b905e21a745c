/*
 * work.c -- the stages one by one over a work folder, for clusters (docs/cluster.md).
 *
 *   WORK/plan.json         what lode plan -w decided: the manifest (path and SHA-256), each
 *                          dataset's lineage record and content key, and its parts
 *   WORK/parts/NAME-KEY.nc one part: a valid one-dataset bundle; a large raster is cut into
 *                          tiles of whole chunk rows, NAME-KEY-rowsA-B.nc
 *   WORK/failed/PART.json  why a part could not be made (removed when it is made)
 *
 * The key is the SHA-256 of the dataset's lineage record (source digest, settings, target
 * grid, operation, versions) and the layout version: a rerun finds the parts that are done
 * under their names and makes the others; a changed source or setting gets a new key.
 * Every file is written under a temporary name and renamed into place.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stages.h"

#define WORK_VERSION    1
#define MAX_PLAN_BYTES  (256u << 20)
#define AUTO_TILE_BYTES (256.0 * 1024 * 1024) /* raw output pixels per tile, at most */

typedef struct unit {
	size_t item;   /* index of the dataset */
	int row, rows; /* rasters: the band of rows; vectors: 0, 0 */
	int whole;     /* the part holds the whole dataset */
	char *part;    /* file name in WORK/parts */
	double weight; /* for sharing the work out */
} unit;

typedef struct work {
	char *dir;
	char *plan_path;
	json_t *doc; /* plan.json */
	plan p;
	int have_plan;
	unit *units;
	size_t nunits;
	char **keys; /* per dataset */
} work;

static char *work_path(const work *w, const char *sub, const char *name)
{
	return name ? lode__sprintf("%s/%s/%s", w->dir, sub, name) : lode__sprintf("%s/%s", w->dir, sub);
}

static void work_free(work *w)
{
	for (size_t i = 0; i < w->nunits; i++)
		free(w->units[i].part);
	free(w->units);
	for (size_t i = 0; w->keys && i < w->p.n; i++)
		free(w->keys[i]);
	free(w->keys);
	if (w->have_plan)
		lode__plan_free(&w->p);
	json_decref(w->doc);
	free(w->plan_path);
	free(w->dir);
	memset(w, 0, sizeof *w);
}

static lode_status make_dir(const char *path, lode_error *err)
{
	struct stat st;

	if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		return LODE_OK;
	return lode__err(err, LODE_EIO, "%s: cannot make the folder: %s", path,
			 errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
}

/* Write a small text file under a temporary name, then rename it into place.  The
   temporary names of killed writers of the same file are cleaned first. */
static lode_status write_text_atomic(const char *path, const char *text, lode_error *err)
{
	char *tmp;
	FILE *f;
	int ok;

	lode__clean_stale_temps(path);
	if (!(tmp = lode__temp_beside(path, err)))
		return err->code;
	f = fopen(tmp, "w");
	ok = f && fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		lode_status rc = lode__err(err, LODE_EIO, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return LODE_OK;
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *mtime_text(const struct stat *st)
{
	return lode__sprintf("%lld.%09ld", (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
}

/* The content key of a dataset: its lineage record and the layout of parts. */
static char *dataset_key(const json_t *lineage)
{
	char *text = json_dumps(lineage, JSON_COMPACT | JSON_PRESERVE_ORDER), *basis, *key;
	char hex[65];

	if (!text)
		return NULL;
	basis = lode__sprintf("lode part\nlode %s\nformat %s\nwork %d\nchunk %d\n%s", LODE_VERSION,
			      LODE_FORMAT_VERSION, WORK_VERSION, LODE_CHUNK, text);
	free(text);
	if (!basis)
		return NULL;
	lode__sha256_hex(basis, strlen(basis), hex);
	free(basis);
	key = lode__strdup(hex);
	return key;
}

/* Rows per tile of a raster: whole chunk rows, about AUTO_TILE_BYTES of output each. */
static int tile_rows_for(const plan_item *it, int requested)
{
	double row_bytes = (double)it->nx * it->nbands * (double)lode__dtype_size(it->dtype);
	double rows = AUTO_TILE_BYTES / (row_bytes > 0 ? row_bytes : 1);
	int chunks = (int)(rows / LODE_CHUNK);

	if (requested > 0)
		return requested;
	return (chunks < 1 ? 1 : chunks > 1000000 ? 1000000 : chunks) * LODE_CHUNK;
}

/* ---- lode plan -w ---- */

static json_t *units_json(const plan_item *it, const char *key, int tile_rows)
{
	json_t *a = json_array();

	if (it->is_vector || it->ny < 2 * tile_rows) {
		char *name = lode__sprintf("%s-%.24s.nc", it->spec->name, key);
		json_t *u = json_object();
		json_object_set_new(u, "part", json_string(name ? name : ""));
		if (!it->is_vector) {
			json_object_set_new(u, "row", json_integer(0));
			json_object_set_new(u, "rows", json_integer(it->ny));
		}
		json_array_append_new(a, u);
		free(name);
		return a;
	}
	/* Tiles of tile_rows rows; the last takes the remainder, so every tile has at least
	   one whole chunk row and its chunks are those of the whole raster. */
	for (int row = 0, n = it->ny / tile_rows, k = 0; k < n; k++, row += tile_rows) {
		int rows = k == n - 1 ? it->ny - row : tile_rows;
		char *name = lode__sprintf("%s-%.24s-rows%d-%d.nc", it->spec->name, key, row, row + rows);
		json_t *u = json_object();
		json_object_set_new(u, "part", json_string(name ? name : ""));
		json_object_set_new(u, "row", json_integer(row));
		json_object_set_new(u, "rows", json_integer(rows));
		json_array_append_new(a, u);
		free(name);
	}
	return a;
}

lode_status lode_plan_work(const char *manifest_path, const char *work_dir, const lode_stage_options *opt,
			   char **summary, lode_error *err)
{
	plan p;
	lode_run_options ro = {0};
	json_t *doc = NULL, *arr;
	char *text = NULL, *path = NULL, *abs_manifest = NULL;
	char msha[65];
	uint64_t msize;
	size_t nparts = 0;
	int tile_rows = opt ? opt->tile_rows : 0;
	lode_status rc;

	if (summary)
		*summary = NULL;
	lode__err_clear(err);
	memset(&p, 0, sizeof p);
	if (tile_rows < 0 || tile_rows % LODE_CHUNK != 0)
		return lode__err(err, LODE_EUSAGE, "--tile-rows must be a positive multiple of %d, not %d",
				 LODE_CHUNK, tile_rows);
	if (opt) {
		ro.progress = opt->progress;
		ro.progress_user = opt->progress_user;
	}
	if ((rc = lode__plan_build(manifest_path, &ro, &p, err)))
		goto out;
	if (!(abs_manifest = realpath(manifest_path, NULL))) {
		rc = lode__err(err, LODE_EIO, "%s: %s", manifest_path, strerror(errno));
		goto out;
	}
	if ((rc = lode__sha256_file(abs_manifest, msha, &msize, err)))
		goto out;
	doc = json_object();
	arr = json_array();
	json_object_set_new(doc, "lode_work", json_integer(WORK_VERSION));
	json_object_set_new(doc, "lode_version", json_string(LODE_VERSION));
	json_object_set_new(doc, "manifest", json_string(abs_manifest));
	json_object_set_new(doc, "manifest_sha256", json_string(msha));
	json_object_set_new(doc, "tile_rows", json_integer(tile_rows));
	json_object_set_new(doc, "target_crs_wkt", json_string(p.dst_wkt));
	json_object_set_new(doc, "datasets", arr);
	for (size_t i = 0; i < p.n; i++) {
		plan_item *it = &p.items[i];
		json_t *d = json_object(), *units;
		char *key = dataset_key(it->lineage), *mt = NULL,
		     *src = realpath(it->spec->source_path, NULL);
		struct stat st;

		if (!key || !src || stat(src, &st) != 0 || !(mt = mtime_text(&st))) {
			free(key);
			free(src);
			json_decref(d);
			rc = lode__err(err, LODE_EIO, "%s: %s", it->spec->source_path, strerror(errno));
			goto out;
		}
		units = units_json(it, key, tile_rows_for(it, tile_rows));
		nparts += json_array_size(units);
		json_object_set_new(d, "name", json_string(it->spec->name));
		json_object_set_new(d, "kind", json_string(it->is_vector ? "vector" : "raster"));
		json_object_set_new(d, "key", json_string(key));
		json_object_set_new(d, "source_path", json_string(src)); /* for people: absolute */
		json_object_set_new(d, "source_size", json_integer((json_int_t)st.st_size));
		json_object_set_new(d, "source_mtime", json_string(mt));
		json_object_set(d, "lineage", it->lineage);
		json_object_set_new(d, "parts", units);
		json_array_append_new(arr, d);
		free(key);
		free(src);
		free(mt);
	}
	if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = make_dir(work_dir, err)))
		goto out;
	for (int k = 0; k < 3; k++) {
		static const char *const subs[3] = {"parts", "failed", "plan.json"};
		free(path);
		if (!(path = lode__sprintf("%s/%s", work_dir, subs[k]))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = k < 2 ? make_dir(path, err) : write_text_atomic(path, text, err)))
			goto out;
	}
	if (summary)
		*summary = lode__sprintf("planned %zu dataset%s in %zu part%s into %s", p.n,
					 p.n == 1 ? "" : "s", nparts, nparts == 1 ? "" : "s", path);
out:
	json_decref(doc);
	free(text);
	free(path);
	free(abs_manifest);
	lode__plan_free(&p);
	return rc;
}

/* ---- loading a work folder ---- */

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* Read plan.json and list its parts; the manifest is not opened. */
static lode_status load_doc(work *w, const char *work_dir, lode_error *err)
{
	json_error_t je;
	json_t *arr;
	size_t n = 0;
	lode_status rc;
	char *text = NULL;
	size_t len;

	memset(w, 0, sizeof *w);
	w->dir = lode__strdup(work_dir);
	w->plan_path = lode__sprintf("%s/plan.json", work_dir);
	if (!w->dir || !w->plan_path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (!file_exists(w->plan_path))
		return lode__err(err, LODE_EUSAGE,
				 "%s: no plan in this work folder: run lode plan MANIFEST -w %s first",
				 w->plan_path, work_dir);
	if ((rc = lode__read_file(w->plan_path, MAX_PLAN_BYTES, &text, &len, err)))
		return rc;
	w->doc = json_loads(text, 0, &je);
	free(text);
	if (!w->doc)
		return lode__err(err, LODE_EUSAGE,
				 "%s:%d: not a plan (invalid JSON: %s): run lode plan again", w->plan_path,
				 je.line, je.text);
	if (json_integer_value(json_object_get(w->doc, "lode_work")) != WORK_VERSION ||
	    !json_is_array(json_object_get(w->doc, "datasets")))
		return lode__err(
		    err, LODE_EUSAGE,
		    "%s: written by another lode version (%s) or not a plan: run lode plan again",
		    w->plan_path, jstr(w->doc, "lode_version"));
	arr = json_object_get(w->doc, "datasets");
	for (size_t i = 0; i < json_array_size(arr); i++)
		n += json_array_size(json_object_get(json_array_get(arr, i), "parts"));
	w->units = calloc(n ? n : 1, sizeof *w->units);
	if (!w->units)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *d = json_array_get(arr, i), *parts = json_object_get(d, "parts");
		int vector = strcmp(jstr(d, "kind"), "vector") == 0;
		const json_t *tgt = json_object_get(json_object_get(d, "lineage"), "target");
		int ny = (int)json_integer_value(json_object_get(tgt, "height"));
		int nx = (int)json_integer_value(json_object_get(tgt, "width"));
		for (size_t k = 0; k < json_array_size(parts); k++) {
			json_t *u = json_array_get(parts, k);
			unit *un = &w->units[w->nunits++];
			const char *name = jstr(u, "part");
			un->item = i;
			un->row = (int)json_integer_value(json_object_get(u, "row"));
			un->rows = (int)json_integer_value(json_object_get(u, "rows"));
			un->whole = vector || (un->row == 0 && un->rows == ny);
			un->weight = vector ? (double)json_integer_value(json_object_get(d, "source_size"))
					    : (double)nx * un->rows;
			if (!name[0] || strchr(name, '/') || name[0] == '.' ||
			    (!vector && (un->rows <= 0 || un->row < 0 || un->row + un->rows > ny)))
				return lode__err(
				    err, LODE_EUSAGE,
				    "%s: part %zu of dataset '%s' is malformed: run lode plan again",
				    w->plan_path, k + 1, jstr(d, "name"));
			if (!(un->part = lode__strdup(name)))
				return lode__err(err, LODE_ENOMEM, "out of memory");
		}
	}
	return LODE_OK;
}

/* Fill a plan item from its lineage record, as planned; no source is opened. */
static lode_status item_from_lineage(plan_item *it, const json_t *l, lode_error *err)
{
	const json_t *src = json_object_get(l, "source"), *tgt = json_object_get(l, "target");
	const json_t *op = json_object_get(l, "operation"), *bands, *gt, *nd;

	it->lineage = json_incref((json_t *)l);
	it->is_vector = strcmp(jstr(l, "kind"), "vector") == 0;
	it->src_wkt = lode__strdup(jstr(src, "crs_wkt"));
	it->op.pipeline = lode__strdup(jstr(op, "proj_pipeline"));
	if (!it->src_wkt || !it->op.pipeline)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	snprintf(it->sha256, sizeof it->sha256, "%s", jstr(src, "sha256"));
	it->size = (uint64_t)json_integer_value(json_object_get(src, "size"));
	if (it->is_vector)
		return LODE_OK;
	bands = json_object_get(src, "bands");
	gt = json_object_get(tgt, "geotransform");
	nd = json_object_get(l, "nodata");
	it->nbands = (int)json_array_size(bands);
	it->nx = (int)json_integer_value(json_object_get(tgt, "width"));
	it->ny = (int)json_integer_value(json_object_get(tgt, "height"));
	it->dtype = lode__dtype_from_name(jstr(l, "data_type"));
	it->et = json_number_value(json_object_get(l, "error_threshold"));
	if (it->nbands < 1 || it->nbands > 65535 || it->nx < 1 || it->ny < 1 ||
	    it->dtype == LODE_DT_UNKNOWN || json_array_size(gt) != 6)
		return lode__err(err, LODE_EUSAGE, "the planned record is incomplete: run lode plan again");
	if (!(it->bands = calloc((size_t)it->nbands, sizeof *it->bands)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (int b = 0; b < it->nbands; b++)
		it->bands[b] = (int)json_integer_value(json_array_get(bands, (size_t)b));
	for (int k = 0; k < 6; k++)
		it->gt[k] = json_number_value(json_array_get(gt, (size_t)k));
	it->has_nodata = !json_is_null(nd) && nd != NULL;
	it->nodata = json_is_string(nd) ? (double)NAN : json_number_value(nd);
	return LODE_OK;
}

/*
 * Load the plan and the manifest it was made from, and check that nothing it depends on
 * has changed since: the manifest's bytes, the target CRS, the PROJ/EPSG/GDAL versions.
 */
static lode_status load_work(work *w, const char *work_dir, lode_error *err)
{
	json_t *arr;
	const char *manifest;
	char msha[65];
	uint64_t msize;
	lode_status rc;

	if ((rc = load_doc(w, work_dir, err)))
		return rc;
	manifest = jstr(w->doc, "manifest");
	if ((rc = lode__sha256_file(manifest, msha, &msize, err)))
		return lode__err_ctx(err, "the manifest the plan was made from: ");
	if (strcmp(msha, jstr(w->doc, "manifest_sha256")) != 0)
		return lode__err(err, LODE_EUSAGE,
				 "%s changed since lode plan -w %s: run lode plan again (a new plan keeps "
				 "the parts that are still right)",
				 manifest, work_dir);
	if ((rc = lode__plan_begin(manifest, &w->p, err)))
		return rc;
	w->have_plan = 1;
	arr = json_object_get(w->doc, "datasets");
	if (json_array_size(arr) != w->p.m->ndatasets)
		return lode__err(err, LODE_EUSAGE, "%s does not match %s: run lode plan again", w->plan_path,
				 manifest);
	if (strcmp(w->p.dst_wkt, jstr(w->doc, "target_crs_wkt")) != 0)
		return lode__err(err, LODE_EPOLICY,
				 "this machine's PROJ reads the target CRS differently from the machine that "
				 "made the plan (PROJ %s here): use the same lode, PROJ and GDAL everywhere",
				 w->p.proj_version);
	w->keys = calloc(w->p.m->ndatasets ? w->p.m->ndatasets : 1, sizeof *w->keys);
	if (!w->keys)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->p.m->ndatasets; i++) {
		json_t *d = json_array_get(arr, i), *l = json_object_get(d, "lineage");
		plan_item *it = &w->p.items[i];
		const char *vs[3][2] = {{"proj_version", w->p.proj_version},
					{"epsg_version", w->p.epsg_version},
					{"gdal_version", lode__gdal_version()}};

		it->spec = &w->p.m->datasets[i];
		w->p.n = i + 1;
		if (strcmp(jstr(d, "name"), it->spec->name) != 0 || !json_is_object(l))
			return lode__err(err, LODE_EUSAGE, "%s does not match %s: run lode plan again",
					 w->plan_path, manifest);
		for (int k = 0; k < 3; k++)
			if (strcmp(jstr(l, vs[k][0]), vs[k][1]) != 0)
				return lode__err(
				    err, LODE_EPOLICY,
				    "the plan was made with %s %s, this machine has %s: use the "
				    "same lode, PROJ and GDAL on every node (or plan again here)",
				    vs[k][0], jstr(l, vs[k][0]), vs[k][1]);
		if ((rc = item_from_lineage(it, l, err)))
			return lode__err_ctx(err, "%s: dataset '%s': ", w->plan_path, it->spec->name);
		w->keys[i] = lode__strdup(jstr(d, "key"));
		if (!w->keys[i])
			return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}

/*
 * Has the source changed since the plan (size or modification time)?  Its path comes from
 * the manifest, loaded by its absolute path, so it does not depend on the current folder.
 */
static lode_status source_unchanged(const work *w, size_t i, lode_error *err)
{
	json_t *d = json_array_get(json_object_get(w->doc, "datasets"), i);
	const char *path = w->p.items[i].spec->source_path;
	struct stat st;
	char *mt;
	int same;

	if (stat(path, &st) != 0)
		return lode__err(err, LODE_ESOURCE, "source '%s': %s", path, strerror(errno));
	if (!(mt = mtime_text(&st)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	same = (json_int_t)st.st_size == json_integer_value(json_object_get(d, "source_size")) &&
	       strcmp(mt, jstr(d, "source_mtime")) == 0;
	free(mt);
	if (!same)
		return lode__err(err, LODE_ESOURCE,
				 "source '%s' changed since lode plan (size or modification time): run "
				 "lode plan again",
				 path);
	return LODE_OK;
}

/* ---- lode reproject ---- */

/* Share the parts out: the heaviest first, each to the least loaded shard. */
static int *assign_shards(const work *w, int nshards)
{
	int *shard = malloc(sizeof *shard * (w->nunits ? w->nunits : 1));
	size_t *order = malloc(sizeof *order * (w->nunits ? w->nunits : 1));
	double *load = calloc((size_t)nshards, sizeof *load);

	if (!shard || !order || !load) {
		free(shard);
		shard = NULL;
		goto out;
	}
	for (size_t i = 0; i < w->nunits; i++)
		order[i] = i;
	for (size_t i = 1; i < w->nunits; i++) /* insertion sort: stable, deterministic */
		for (size_t j = i; j > 0 && w->units[order[j]].weight > w->units[order[j - 1]].weight; j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (size_t i = 0; i < w->nunits; i++) {
		int best = 0;
		for (int s = 1; s < nshards; s++)
			if (load[s] < load[best])
				best = s;
		shard[order[i]] = best;
		load[best] += w->units[order[i]].weight + 1.0;
	}
out:
	free(order);
	free(load);
	return shard;
}

/* The lineage a tile part carries: the dataset's, with the tile's own grid. */
static char *tile_lineage(const plan_item *it, const unit *u)
{
	json_t *l = json_deep_copy(it->lineage), *tgt = json_object_get(l, "target"), *tile = json_object();
	json_t *gt = json_object_get(tgt, "geotransform");
	char *text;

	json_array_set_new(gt, 3, json_real(it->gt[3] + u->row * it->gt[5]));
	json_object_set_new(tgt, "height", json_integer(u->rows));
	json_object_set_new(tile, "row", json_integer(u->row));
	json_object_set_new(tile, "rows", json_integer(u->rows));
	json_object_set_new(tile, "of_height", json_integer(it->ny));
	json_object_set_new(l, "tile", tile);
	text = json_dumps(l, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(l);
	return text;
}

/* Make one part. */
static lode_status make_part(work *w, const unit *u, lode__progress *pr, lode_error *err)
{
	plan_item *it = &w->p.items[u->item];
	char *path = work_path(w, "parts", u->part), *lineage = NULL, rows[64];
	lode__out out = {0};
	lode_bundle_item digest = {0};
	lode_status rc;

	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if ((rc = source_unchanged(w, u->item, err)))
		goto out;
	if (it->is_vector && !it->vsrc &&
	    (rc = lode__vector_open(it->spec->source_path, (const char *const *)it->spec->open_options,
				    it->spec->layer, it->spec->where, &it->vsrc, err)))
		goto out;
	if ((rc = lode__out_begin(&out, path, err)) || (rc = lode__write_root(&w->p, out.b, err)))
		goto out;
	lode__bundle_set_threads(out.b, w->p.threads);
	snprintf(rows, sizeof rows, "%d %d", u->row, u->rows);
	{
		lode_attr a[] = {{"lode_part_key", w->keys[u->item]},
				 {"lode_part_dataset", it->spec->name},
				 {"lode_part_rows", rows}};
		if ((rc = lode__bundle_set_attrs(out.b, NULL, a, it->is_vector ? 2 : 3, err)))
			goto out;
	}
	if (it->is_vector) {
		rc = lode__write_vector(&w->p, it, out.b, pr, &digest, err);
	} else {
		lineage = u->whole ? json_dumps(it->lineage, JSON_COMPACT | JSON_PRESERVE_ORDER)
				   : tile_lineage(it, u);
		rc = lineage
			 ? lode__write_raster(&w->p, it, out.b, u->row, u->rows, lineage, pr, &digest, err)
			 : lode__err(err, LODE_ENOMEM, "out of memory");
	}
	if (!rc)
		rc = lode__out_commit(&out, &digest, 1, err);
out:
	lode__out_abort(&out);
	free(digest.name);
	free(digest.content_sha256);
	free(digest.lineage);
	free(lineage);
	free(path);
	return rc;
}

/* Record (or, with msg NULL, clear) why a part could not be made. */
static void record_failure(const work *w, const unit *u, const char *msg, const lode_stage_options *opt)
{
	char *path = NULL, *name = lode__sprintf("%s.json", u->part), *text = NULL, *when = NULL, host[256];
	json_t *o = NULL;
	lode_error ignored;

	if (!name || !(path = work_path(w, "failed", name)))
		goto out;
	if (!msg) {
		unlink(path);
		goto out;
	}
	if (gethostname(host, sizeof host) != 0)
		host[0] = '\0';
	host[sizeof host - 1] = '\0';
	when = lode__iso_utc(time(NULL));
	o = json_object();
	json_object_set_new(o, "part", json_string(u->part));
	json_object_set_new(o, "dataset", json_string(w->p.items[u->item].spec->name));
	json_object_set_new(o, "error", json_string(msg));
	json_object_set_new(o, "host", json_string(host));
	json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(o, "time", json_string(when ? when : ""));
	if (opt && opt->nshards > 1) {
		char shard[64];
		snprintf(shard, sizeof shard, "%d/%d", opt->shard, opt->nshards);
		json_object_set_new(o, "shard", json_string(shard));
	}
	if ((text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
		write_text_atomic(path, text, &ignored);
out:
	json_decref(o);
	free(text);
	free(when);
	free(path);
	free(name);
}

lode_status lode_reproject(const char *work_dir, const lode_stage_options *opt, char **summary,
			   lode_error *err)
{
	work w;
	int *shard = NULL, nshards = opt && opt->nshards > 1 ? opt->nshards : 1, me = opt ? opt->shard : 0;
	size_t made = 0, skipped = 0, failed = 0, mine = 0;
	lode_run_options ro = {0};
	lode__progress pr = {&ro, 0, 0};
	char first[1200] = "";
	lode_status rc;

	if (summary)
		*summary = NULL;
	lode__err_clear(err);
	if (me < 0 || me >= nshards)
		return lode__err(err, LODE_EUSAGE, "--shard %d/%d: shards are numbered 0 to %d", me, nshards,
				 nshards - 1);
	if ((rc = load_work(&w, work_dir, err)))
		goto out;
	if (opt) {
		ro.progress = opt->progress;
		ro.progress_user = opt->progress_user;
		ro.threads = opt->threads;
		ro.max_memory = opt->max_memory;
	}
	w.p.threads = ro.threads;
	w.p.max_memory = ro.max_memory;
	lode__gdal_bound_cache(w.p.max_memory);
	if (!(shard = assign_shards(&w, nshards))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < w.nunits; i++)
		if (shard[i] == me)
			pr.total += w.p.items[w.units[i].item].is_vector
					? 1.0
					: (double)w.units[i].rows * w.p.items[w.units[i].item].nx *
					      w.p.items[w.units[i].item].nbands;
	for (size_t i = 0; i < w.nunits; i++) {
		const unit *u = &w.units[i];
		char *path;
		int done;

		if (shard[i] != me)
			continue;
		mine++;
		if (!(path = work_path(&w, "parts", u->part))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		done = file_exists(path);
		free(path);
		if (done && !(opt && opt->force)) {
			skipped++;
			record_failure(&w, u, NULL, opt);
			continue;
		}
		rc = make_part(&w, u, &pr, err);
		if (rc == LODE_ENOMEM)
			goto out;
		if (rc) {
			lode__err_ctx(err, "part %s: ", u->part);
			record_failure(&w, u, err->message, opt);
			if (!failed)
				snprintf(first, sizeof first, "%.1000s", err->message);
			failed++;
			/* An interruption stops the shard; another failure does not. */
			if (ro.progress && ro.progress(0.0, "", ro.progress_user))
				break;
			continue;
		}
		record_failure(&w, u, NULL, opt);
		made++;
	}
	rc = LODE_OK;
	if (summary)
		*summary = lode__sprintf(
		    "shard %d/%d: %zu part%s made, %zu already done, %zu failed (of %zu in this "
		    "shard, %zu in all)",
		    me, nshards, made, made == 1 ? "" : "s", skipped, failed, mine, w.nunits);
	if (failed)
		rc = lode__err(
		    err, LODE_ESOURCE,
		    "%zu of the %zu parts of shard %d/%d failed (lode status -w %s lists them); the "
		    "first: %s",
		    failed, mine, me, nshards, work_dir, first);
out:
	free(shard);
	work_free(&w);
	return rc;
}

/* ---- lode package ---- */

/* Why a part is not there: its failure record's message, or NULL. */
static char *failure_of(const work *w, const unit *u)
{
	char *name = lode__sprintf("%s.json", u->part), *path = name ? work_path(w, "failed", name) : NULL;
	char *text = NULL, *msg = NULL;
	size_t len;
	lode_error ignored;
	json_t *o;

	if (path && file_exists(path) && lode__read_file(path, 1 << 20, &text, &len, &ignored) == LODE_OK &&
	    (o = json_loads(text, 0, NULL))) {
		msg = lode__strdup(jstr(o, "error"));
		json_decref(o);
	}
	free(text);
	free(path);
	free(name);
	return msg;
}

/* Open a part and find its one dataset; checks it is the part of this plan. */
static lode_status open_part(const work *w, const unit *u, lode__bundle **b, lode_bundle_item **items,
			     size_t *n, lode_error *err)
{
	char *path = work_path(w, "parts", u->part), *key = NULL;
	lode_status rc;

	*b = NULL;
	*items = NULL;
	*n = 0;
	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if ((rc = lode__bundle_open(path, b, err)) ||
	    (rc = lode__bundle_get_attr(*b, "lode_part_key", &key, err)) ||
	    (rc = lode__bundle_items(*b, items, n, err)))
		goto out;
	if (!key || strcmp(key, w->keys[u->item]) != 0 || *n != 1 ||
	    strcmp((*items)[0].name, w->p.items[u->item].spec->name) != 0 || (*items)[0].problem) {
		rc = lode__err(
		    err, LODE_EBUNDLE,
		    "%s is not the part this plan expects (%s): delete it and run lode reproject again", path,
		    *n == 1 && (*items)[0].problem ? (*items)[0].problem : "key or dataset differs");
		goto out;
	}
out:
	free(key);
	free(path);
	return rc;
}

static void close_part(lode__bundle *b, lode_bundle_item *items, size_t n)
{
	lode_error ignored;

	lode__bundle_items_free(items, n);
	lode__bundle_close(b, &ignored);
}

/* Hash a tile part's rows into the dataset's content digest (tiles in order). */
static lode_status hash_rows(lode__bundle *b, const lode_bundle_item *item, lode__content_hash *h,
			     lode_error *err)
{
	size_t esize = lode__dtype_size(item->dtype);
	size_t cap = (size_t)item->nx * LODE_CHUNK * esize;
	unsigned char *buf = malloc(cap);
	lode_status rc = LODE_OK;

	if (!buf)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (int band = 1; band <= item->nbands && !rc; band++)
		for (int y = 0; y < item->ny && !rc; y += LODE_CHUNK) {
			int ny = item->ny - y < LODE_CHUNK ? item->ny - y : LODE_CHUNK;
			if (!(rc = lode__bundle_read_rows(b, item, band, y, ny, buf, err)))
				lode__content_hash_update(h, band - 1, buf,
							  (size_t)item->nx * (size_t)ny * esize);
		}
	free(buf);
	return rc;
}

static int is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return 0;
	return 1;
}

static lode_status package_raster(work *w, size_t i, lode__bundle *out, lode__progress *pr,
				  lode_bundle_item *digest, lode_error *err)
{
	plan_item *it = &w->p.items[i];
	lode_raster_def def;
	lode__bvar *v = NULL;
	lode__content_hash *h = NULL;
	char *names = NULL, *units = NULL, *lineage = NULL, content[65] = "";
	int oom1, oom2, ntiles = 0;
	lode_status rc;

	for (size_t k = 0; k < w->nunits; k++)
		ntiles += w->units[k].item == i;
	lode__raster_def(&w->p, it, &def);
	names = lode__band_text(it, 0, &oom1);
	units = lode__band_text(it, 1, &oom2);
	lineage = json_dumps(it->lineage, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (oom1 || oom2 || !lineage || (ntiles > 1 && !(h = lode__content_hash_new(it->nbands)))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__bundle_add_raster(out, &def, &v, err)))
		goto out;
	for (size_t k = 0; k < w->nunits && !rc; k++) {
		const unit *u = &w->units[k];
		lode__bundle *pb;
		lode_bundle_item *items;
		size_t n;

		if (u->item != i)
			continue;
		if (!(rc = open_part(w, u, &pb, &items, &n, err)) &&
		    !(rc = lode__bvar_copy_chunks(v, pb, &items[0], u->row, err))) {
			if (h)
				rc = hash_rows(pb, &items[0], h, err);
			else if (is_hex64(items[0].content_sha256))
				snprintf(content, sizeof content, "%s", items[0].content_sha256);
			else
				rc = lode__err(err, LODE_EBUNDLE, "part %s has no content digest", u->part);
		}
		if (rc)
			lode__err_ctx(err, "part %s: ", u->part);
		close_part(pb, items, n);
		if (!rc && lode__tick(pr, (double)u->rows * it->nx * it->nbands, it->spec->name))
			rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
	}
	if (rc)
		goto out;
	if (h) {
		lode__content_hash_final(h, content);
		h = NULL;
	}
	rc = lode__finish_raster(v, it->spec->source, lineage, content, names, units, err);
	v = NULL;
	if (!rc)
		rc = lode__record_digest(digest, it->spec->name, content, &lineage, err);
out:
	if (h) {
		char ignored[65];
		lode__content_hash_final(h, ignored);
	}
	lode__bvar_free(v);
	free(names);
	free(units);
	free(lineage);
	return rc;
}

static lode_status package_vector(work *w, size_t i, lode__bundle *out, lode__progress *pr,
				  lode_bundle_item *digest, lode_error *err)
{
	plan_item *it = &w->p.items[i];
	const unit *u = NULL;
	lode__bundle *pb = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	lode_vdata *d = NULL;
	char content[65], *lineage = NULL;
	lode_status rc;

	for (size_t k = 0; k < w->nunits && !u; k++)
		if (w->units[k].item == i)
			u = &w->units[k];
	if (!u)
		return lode__err(err, LODE_EUSAGE, "the plan lists no part for it: run lode plan again");
	if ((rc = open_part(w, u, &pb, &items, &n, err)) ||
	    (rc = lode__bundle_read_vector(pb, &items[0], &d, err)))
		goto out;
	/* Vector columns are rewritten from their values: check them against the part's digest. */
	lode__vector_digest(d, content);
	if (!items[0].content_sha256 || strcmp(content, items[0].content_sha256) != 0 || !items[0].lineage) {
		rc = lode__err(
		    err, LODE_EDAMAGED,
		    "part %s does not match its content digest: delete it and run lode reproject again",
		    u->part);
		goto out;
	}
	{
		lode_attr attrs[] = {
		    {"long_name", items[0].long_name ? items[0].long_name : ""},
		    {"source", it->spec->source},
		    {"lode_lineage", items[0].lineage},
		    {"lode_content_sha256", content},
		};
		if ((rc = lode__bundle_add_vector(out, it->spec->name, w->p.dst_wkt, d, NULL, attrs, 4, err)))
			goto out;
	}
	if (!(lineage = lode__strdup(items[0].lineage))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	rc = lode__record_digest(digest, it->spec->name, content, &lineage, err);
	if (!rc && lode__tick(pr, 1.0, it->spec->name))
		rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
out:
	if (rc)
		lode__err_ctx(err, "part %s: ", u->part);
	free(lineage);
	lode__vdata_free(d);
	if (pb)
		close_part(pb, items, n);
	return rc;
}

lode_status lode_package(const char *work_dir, const char *bundle_path, const lode_stage_options *opt,
			 lode_error *err)
{
	work w;
	lode__out out = {0};
	lode_bundle_item *digests = NULL;
	lode_run_options ro = {0};
	lode__progress pr = {&ro, 0, 0};
	size_t missing = 0;
	char first[1500] = "";
	lode_status rc;

	lode__err_clear(err);
	if ((rc = load_work(&w, work_dir, err)))
		goto out;
	if (opt) {
		ro.progress = opt->progress;
		ro.progress_user = opt->progress_user;
	}
	for (size_t k = 0; k < w.nunits; k++) {
		char *path = work_path(&w, "parts", w.units[k].part);
		if (path && !file_exists(path)) {
			if (!missing++) {
				char *why = failure_of(&w, &w.units[k]);
				snprintf(first, sizeof first, "%s%s%s", w.units[k].part,
					 why ? ", which failed: " : "", why ? why : "");
				free(why);
			}
		}
		free(path);
		pr.total += w.p.items[w.units[k].item].is_vector
				? 1.0
				: (double)w.units[k].rows * w.p.items[w.units[k].item].nx *
				      w.p.items[w.units[k].item].nbands;
	}
	if (missing) {
		rc = lode__err(err, LODE_ESOURCE,
			       "%zu of the %zu parts are not made yet (lode status -w %s lists them; lode "
			       "reproject -w %s makes them); the first: %s",
			       missing, w.nunits, work_dir, work_dir, first);
		goto out;
	}
	digests = calloc(w.p.n ? w.p.n : 1, sizeof *digests);
	if (!digests) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__out_begin(&out, bundle_path, err)) || (rc = lode__write_root(&w.p, out.b, err)))
		goto out;
	for (size_t i = 0; i < w.p.n; i++) {
		rc = (w.p.items[i].is_vector ? package_vector : package_raster)(&w, i, out.b, &pr,
										&digests[i], err);
		if (rc) {
			lode__err_ctx(err, "dataset '%s': ", w.p.items[i].spec->name);
			goto out;
		}
	}
	rc = lode__out_commit(&out, digests, w.p.n, err);
out:
	if (rc && out.tmp && !strstr(err->message, bundle_path))
		lode__err_ctx(err, "writing %s (nothing was left there): ", bundle_path);
	lode__out_abort(&out);
	lode__digest_items_free(digests, w.p.n);
	work_free(&w);
	return rc;
}

/* ---- lode status ---- */

lode_status lode_work_status(const char *work_dir, int json, char **out, int *complete, lode_error *err)
{
	work w;
	json_t *doc = json_object(), *dsets = json_array(), *arr;
	size_t done = 0, failed = 0, missing = 0;
	char msha[65] = "";
	uint64_t msize;
	lode_error ignored;
	lode_status rc;

	*out = NULL;
	*complete = 0;
	lode__err_clear(err);
	if ((rc = load_doc(&w, work_dir, err)))
		goto out;
	arr = json_object_get(w.doc, "datasets");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *d = json_array_get(arr, i), *o = json_object(), *parts = json_array();
		json_object_set_new(o, "name", json_string(jstr(d, "name")));
		json_object_set_new(o, "kind", json_string(jstr(d, "kind")));
		json_object_set_new(o, "key", json_string(jstr(d, "key")));
		for (size_t k = 0; k < w.nunits; k++) {
			const unit *u = &w.units[k];
			char *path, *why = NULL;
			json_t *p;
			const char *state;
			if (u->item != i)
				continue;
			p = json_object();
			path = work_path(&w, "parts", u->part);
			if (path && file_exists(path)) {
				state = "done";
				done++;
			} else if ((why = failure_of(&w, u))) {
				state = "failed";
				failed++;
			} else {
				state = "missing";
				missing++;
			}
			json_object_set_new(p, "part", json_string(u->part));
			if (strcmp(jstr(d, "kind"), "raster") == 0) {
				json_t *r = json_array();
				json_array_append_new(r, json_integer(u->row));
				json_array_append_new(r, json_integer(u->row + u->rows));
				json_object_set_new(p, "rows", r);
			}
			json_object_set_new(p, "state", json_string(state));
			if (why)
				json_object_set_new(p, "error", json_string(why));
			json_array_append_new(parts, p);
			free(path);
			free(why);
		}
		json_object_set_new(o, "parts", parts);
		json_array_append_new(dsets, o);
	}
	*complete = missing == 0 && failed == 0;
	json_object_set_new(doc, "work", json_string(work_dir));
	json_object_set_new(doc, "manifest", json_string(jstr(w.doc, "manifest")));
	if (lode__sha256_file(jstr(w.doc, "manifest"), msha, &msize, &ignored) != LODE_OK)
		msha[0] = '\0';
	json_object_set_new(doc, "manifest_changed",
			    json_boolean(strcmp(msha, jstr(w.doc, "manifest_sha256")) != 0));
	json_object_set_new(doc, "planned", json_integer((json_int_t)w.nunits));
	json_object_set_new(doc, "done", json_integer((json_int_t)done));
	json_object_set_new(doc, "missing", json_integer((json_int_t)missing));
	json_object_set_new(doc, "failed", json_integer((json_int_t)failed));
	json_object_set_new(doc, "complete", json_boolean(*complete));
	json_object_set(doc, "datasets", dsets);
	if (json) {
		*out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		/* One line per dataset, one more per part that is not done. */
		char *text = lode__sprintf("work folder %s: plan of %s\n", work_dir, jstr(w.doc, "manifest"));
		for (size_t i = 0; text && i < json_array_size(dsets); i++) {
			json_t *o = json_array_get(dsets, i), *parts = json_object_get(o, "parts");
			size_t nd = 0, np = json_array_size(parts);
			char *t;
			for (size_t k = 0; k < np; k++)
				nd += strcmp(jstr(json_array_get(parts, k), "state"), "done") == 0;
			t = lode__sprintf("%s  %-20s %-6s %zu of %zu part%s done\n", text, jstr(o, "name"),
					  jstr(o, "kind"), nd, np, np == 1 ? "" : "s");
			free(text);
			text = t;
			for (size_t k = 0; text && k < np; k++) {
				json_t *p = json_array_get(parts, k);
				if (strcmp(jstr(p, "state"), "done") == 0)
					continue;
				t = lode__sprintf("%s    %s %s%s%s\n", text, jstr(p, "state"),
						  jstr(p, "part"), json_object_get(p, "error") ? ": " : "",
						  jstr(p, "error"));
				free(text);
				text = t;
			}
		}
		if (text) {
			char *t =
			    lode__sprintf("%s%zu planned, %zu done, %zu missing, %zu failed%s\n", text,
					  w.nunits, done, missing, failed,
					  *complete ? ": ready for lode package"
					  : json_is_true(json_object_get(doc, "manifest_changed"))
					      ? "; the manifest changed since the plan: run lode plan again"
					      : "; run lode reproject to make the rest");
			free(text);
			text = t;
		}
		*out = text;
	}
	if (!*out)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	json_decref(dsets);
	json_decref(doc);
	work_free(&w);
	return rc;
}
