/*
 * work.c -- the work folder the cluster stages share (work.h, docs/cluster.md): its
 * paths, the small files written atomically in it, the content key and tile rows of a
 * dataset's parts, and loading plan.json back (with the manifest it was made from,
 * checked unchanged).  The stages themselves are work_plan.c (lode plan -w),
 * work_reproject.c (lode reproject), work_package.c (lode package) and work_status.c
 * (lode status); nothing here makes or reads a part.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "plan.h"
#include "publish.h"
#include "raster_gdal.h"
#include "sha256.h"
#include "util.h"
#include "work.h"
#include "write.h"

#define MAX_PLAN_BYTES  (256u << 20)
#define AUTO_TILE_BYTES (256.0 * 1024 * 1024) /* raw output pixels per tile, at most */

char *lode__work_path(const work *w, const char *sub, const char *name)
{
	return name ? lode__sprintf("%s/%s/%s", w->dir, sub, name) : lode__sprintf("%s/%s", w->dir, sub);
}

void lode__work_free(work *w)
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

lode_status lode__work_make_dir(const char *path, lode_error *err)
{
	struct stat st;

	if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
		return LODE_OK;
	return lode__err(err, LODE_EIO, "%s: cannot make the folder: %s", path,
			 errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
}

/* Write a small text file in a private folder beside it, then rename it into place
   (publish.h).  The private folders of killed writers of the same file are cleaned
   first. */
lode_status lode__work_write_text_atomic(const char *path, const char *text, lode_error *err)
{
	lode__pub pub;
	size_t len = strlen(text), done = 0;
	lode_status rc;
	int fd, why = 0;

	if ((rc = lode__pub_begin(&pub, path, err)))
		return rc;
	if ((fd = lode__pub_create(&pub, err)) < 0) {
		lode__pub_abort(&pub);
		return err->code;
	}
	while (done < len) {
		ssize_t k = write(fd, text + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			why = k < 0 ? errno : ENOSPC;
			break;
		}
		done += (size_t)k;
	}
	if (close(fd) != 0 && !why)
		why = errno;
	if (why) {
		rc = lode__err(err, LODE_EIO, "%s: cannot write: %s", path, strerror(why));
		lode__pub_abort(&pub);
		return rc;
	}
	return lode__pub_commit(&pub, err);
}

int lode__work_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *lode__work_mtime_text(const struct stat *st)
{
	return lode__sprintf("%lld.%09ld", (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
}

/* The content key of a dataset: its lineage record and the layout of parts. */
char *lode__work_dataset_key(const json_t *lineage)
{
	char *text = json_dumps(lineage, JSON_COMPACT | JSON_PRESERVE_ORDER), *basis, *key;
	char hex[65];

	if (!text)
		return NULL;
	basis = lode__sprintf("lode part\nlode %s\nformat %s\nwork %d\nchunk %d\n%s", LODE_VERSION,
			      LODE_FORMAT_VERSION, LODE_WORK_VERSION, LODE_CHUNK, text);
	free(text);
	if (!basis)
		return NULL;
	lode__sha256_hex(basis, strlen(basis), hex);
	free(basis);
	key = lode__strdup(hex);
	return key;
}

/* Rows per tile of a raster: whole chunk rows, about AUTO_TILE_BYTES of output each. */
int lode__work_tile_rows_for(const plan_item *it, int requested)
{
	double row_bytes = (double)it->nx * it->nbands * (double)lode__dtype_size(it->dtype);
	double rows = AUTO_TILE_BYTES / (row_bytes > 0 ? row_bytes : 1);
	int chunks = (int)(rows / LODE_CHUNK);

	if (requested > 0)
		return requested;
	return (chunks < 1 ? 1 : chunks > 1000000 ? 1000000 : chunks) * LODE_CHUNK;
}

/* The parts of a dataset, as plan.json lists them. */
json_t *lode__work_units_json(const plan_item *it, const char *key, int tile_rows)
{
	json_t *a = json_array();
	int ok = a != NULL;

	if (it->is_vector || it->ny < 2 * tile_rows) {
		char *name = lode__sprintf("%s-%.24s.nc", it->spec->name, key);
		json_t *u = json_object();
		ok = ok && name && u && json_object_set_new(u, "part", json_string(name)) == 0;
		if (ok && !it->is_vector)
			ok = json_object_set_new(u, "row", json_integer(0)) == 0 &&
			     json_object_set_new(u, "rows", json_integer(it->ny)) == 0;
		ok = ok && json_array_append(a, u) == 0;
		json_decref(u);
		free(name);
	} else {
		/* Tiles of tile_rows rows; the last takes the remainder, so every tile has at
		   least one whole chunk row and its chunks are those of the whole raster. */
		for (int row = 0, n = it->ny / tile_rows, k = 0; ok && k < n; k++, row += tile_rows) {
			int rows = k == n - 1 ? it->ny - row : tile_rows;
			char *name =
			    lode__sprintf("%s-%.24s-rows%d-%d.nc", it->spec->name, key, row, row + rows);
			json_t *u = json_object();
			ok = name && u && json_object_set_new(u, "part", json_string(name)) == 0 &&
			     json_object_set_new(u, "row", json_integer(row)) == 0 &&
			     json_object_set_new(u, "rows", json_integer(rows)) == 0 &&
			     json_array_append(a, u) == 0;
			json_decref(u);
			free(name);
		}
	}
	if (!ok) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* The lineage a part carries: the dataset's, or for a tile the record with the tile's grid. */
char *lode__work_part_lineage(const plan_item *it, const unit *u)
{
	json_t *l, *tgt, *tile;
	char *text;

	if (u->whole)
		return json_dumps(it->lineage, JSON_COMPACT | JSON_PRESERVE_ORDER);
	l = json_deep_copy(it->lineage);
	tgt = json_object_get(l, "target");
	tile = json_object();
	json_array_set_new(json_object_get(tgt, "geotransform"), 3,
			   json_real(it->gt[3] + u->row * it->gt[5]));
	json_object_set_new(tgt, "height", json_integer(u->rows));
	json_object_set_new(tile, "row", json_integer(u->row));
	json_object_set_new(tile, "rows", json_integer(u->rows));
	json_object_set_new(tile, "of_height", json_integer(it->ny));
	json_object_set_new(l, "tile", tile);
	text = json_dumps(l, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(l);
	return text;
}

int lode__work_plan_accepts(const work *w, const char *sha)
{
	const json_t *earlier = json_object_get(w->doc, "earlier_plans");

	if (!sha || strlen(sha) != 64)
		return 0;
	if (strcmp(sha, w->plan_sha256) == 0)
		return 1;
	for (size_t i = 0; i < json_array_size(earlier); i++)
		if (strcmp(sha, lode__work_jstr(json_array_get(earlier, i), NULL)) == 0)
			return 1;
	return 0;
}

/* ---- loading a work folder ---- */

const char *lode__work_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(key ? json_object_get(o, key) : o);
	return s ? s : "";
}

/* Read plan.json and list its parts; the manifest is not opened. */
lode_status lode__work_load_doc(work *w, const char *work_dir, lode_error *err)
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
	if (!lode__work_file_exists(w->plan_path))
		return lode__err(err, LODE_EUSAGE,
				 "%s: no plan in this work folder: run lode plan MANIFEST -w %s first",
				 w->plan_path, work_dir);
	if ((rc = lode__read_file(w->plan_path, MAX_PLAN_BYTES, &text, &len, err)))
		return rc;
	lode__sha256_hex(text, len, w->plan_sha256);
	w->doc = json_loads(text, 0, &je);
	free(text);
	if (!w->doc)
		return lode__err(err, LODE_EUSAGE,
				 "%s:%d: not a plan (invalid JSON: %s): run lode plan again", w->plan_path,
				 je.line, je.text);
	if (json_integer_value(json_object_get(w->doc, "lode_work")) != LODE_WORK_VERSION ||
	    !json_is_array(json_object_get(w->doc, "datasets")))
		return lode__err(
		    err, LODE_EUSAGE,
		    "%s: written by another lode version (%s) or not a plan: run lode plan again",
		    w->plan_path, lode__work_jstr(w->doc, "lode_version"));
	arr = json_object_get(w->doc, "datasets");
	for (size_t i = 0; i < json_array_size(arr); i++)
		n += json_array_size(json_object_get(json_array_get(arr, i), "parts"));
	w->units = calloc(n ? n : 1, sizeof *w->units);
	if (!w->units)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *d = json_array_get(arr, i), *parts = json_object_get(d, "parts");
		int vector = strcmp(lode__work_jstr(d, "kind"), "vector") == 0;
		const json_t *tgt = json_object_get(json_object_get(d, "lineage"), "target");
		int ny = (int)json_integer_value(json_object_get(tgt, "height"));
		int nx = (int)json_integer_value(json_object_get(tgt, "width"));
		for (size_t k = 0; k < json_array_size(parts); k++) {
			json_t *u = json_array_get(parts, k);
			unit *un = &w->units[w->nunits++];
			const char *name = lode__work_jstr(u, "part");
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
				    w->plan_path, k + 1, lode__work_jstr(d, "name"));
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
	it->is_vector = strcmp(lode__work_jstr(l, "kind"), "vector") == 0;
	it->src_wkt = lode__strdup(lode__work_jstr(src, "crs_wkt"));
	it->op.pipeline = lode__strdup(lode__work_jstr(op, "proj_pipeline"));
	if (!it->src_wkt || !it->op.pipeline)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	snprintf(it->sha256, sizeof it->sha256, "%s", lode__work_jstr(src, "sha256"));
	it->size = (uint64_t)json_integer_value(json_object_get(src, "size"));
	if (it->is_vector)
		return LODE_OK;
	bands = json_object_get(src, "bands");
	gt = json_object_get(tgt, "geotransform");
	nd = json_object_get(l, "nodata");
	it->nbands = (int)json_array_size(bands);
	it->nx = (int)json_integer_value(json_object_get(tgt, "width"));
	it->ny = (int)json_integer_value(json_object_get(tgt, "height"));
	it->dtype = lode__dtype_from_name(lode__work_jstr(l, "data_type"));
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
 * Is dataset i of plan.json as lode plan -w wrote it: its key the one its lineage record
 * gives, its parts the ones the key and grid give?  An edited record, key or part list
 * (a changed proj_pipeline, source digest, grid, ...) is refused here, before any part
 * is made or packaged from it.
 */
static lode_status check_planned(const work *w, size_t i, lode_error *err)
{
	const json_t *d = json_array_get(json_object_get(w->doc, "datasets"), i);
	const plan_item *it = &w->p.items[i];
	json_int_t tile_rows = json_integer_value(json_object_get(w->doc, "tile_rows"));
	char *key = lode__work_dataset_key(it->lineage);
	json_t *units = NULL;
	const char *what = NULL;

	if (!key)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (strcmp(key, lode__work_jstr(d, "key")) != 0)
		what = "its key is not the SHA-256 of its lineage record";
	else if (!json_is_integer(json_object_get(w->doc, "tile_rows")) || tile_rows < 0 ||
		 tile_rows > 1000000 * LODE_CHUNK || tile_rows % LODE_CHUNK != 0)
		what = "tile_rows is not 0 or a multiple of the chunk height";
	else if (!(units = lode__work_units_json(it, key, lode__work_tile_rows_for(it, (int)tile_rows)))) {
		free(key);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	} else if (!json_equal(units, json_object_get(d, "parts")))
		what = "its parts are not the ones its key and grid give";
	json_decref(units);
	free(key);
	if (what)
		return lode__err(err, LODE_EDAMAGED,
				 "%s: dataset '%s': %s, so plan.json is not what lode plan wrote (it was "
				 "edited): run lode plan again",
				 w->plan_path, it->spec->name, what);
	return LODE_OK;
}

/*
 * Load the plan and the manifest it was made from, and check that nothing it depends on
 * has changed since: the manifest's bytes, the target CRS, the PROJ/EPSG/GDAL versions;
 * and that plan.json is what lode plan -w wrote (check_planned).
 */
lode_status lode__work_load(work *w, const char *work_dir, lode_error *err)
{
	json_t *arr;
	const char *manifest;
	char msha[65];
	uint64_t msize;
	lode_status rc;

	if ((rc = lode__work_load_doc(w, work_dir, err)))
		return rc;
	manifest = lode__work_jstr(w->doc, "manifest");
	if ((rc = lode__sha256_file(manifest, msha, &msize, err)))
		return lode__err_ctx(err, "the manifest the plan was made from: ");
	if (strcmp(msha, lode__work_jstr(w->doc, "manifest_sha256")) != 0)
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
	if (strcmp(w->p.dst_wkt, lode__work_jstr(w->doc, "target_crs_wkt")) != 0)
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
		lode__plan_item_rules(&w->p, it);
		w->p.n = i + 1;
		if (strcmp(lode__work_jstr(d, "name"), it->spec->name) != 0 || !json_is_object(l))
			return lode__err(err, LODE_EUSAGE, "%s does not match %s: run lode plan again",
					 w->plan_path, manifest);
		for (int k = 0; k < 3; k++)
			if (strcmp(lode__work_jstr(l, vs[k][0]), vs[k][1]) != 0)
				return lode__err(
				    err, LODE_EPOLICY,
				    "the plan was made with %s %s, this machine has %s: use the "
				    "same lode, PROJ and GDAL on every node (or plan again here)",
				    vs[k][0], lode__work_jstr(l, vs[k][0]), vs[k][1]);
		if ((rc = item_from_lineage(it, l, err)))
			return lode__err_ctx(err, "%s: dataset '%s': ", w->plan_path, it->spec->name);
		if ((rc = check_planned(w, i, err)))
			return rc;
		w->keys[i] = lode__strdup(lode__work_jstr(d, "key"));
		if (!w->keys[i])
			return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}

/*
 * Has the source changed since the plan (size or modification time)?  Its path comes from
 * the manifest, loaded by its absolute path, so it does not depend on the current folder.
 */
lode_status lode__work_source_unchanged(const work *w, size_t i, lode_error *err)
{
	json_t *d = json_array_get(json_object_get(w->doc, "datasets"), i);
	const char *path = w->p.items[i].spec->source_path;
	struct stat st;
	char *mt;
	int same;

	if (stat(path, &st) != 0)
		return lode__err(err, LODE_ESOURCE, "source '%s': %s", path, strerror(errno));
	if (!(mt = lode__work_mtime_text(&st)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	same = (json_int_t)st.st_size == json_integer_value(json_object_get(d, "source_size")) &&
	       strcmp(mt, lode__work_jstr(d, "source_mtime")) == 0;
	free(mt);
	if (!same)
		return lode__err(err, LODE_ESOURCE,
				 "source '%s' changed since lode plan (size or modification time): run "
				 "lode plan again",
				 path);
	/* The other files it reads (a VRT's sources, a Shapefile's .dbf): the same size. */
	{
		const json_t *files =
		    json_object_get(json_object_get(w->p.items[i].lineage, "source"), "files");
		const json_t *mtimes = json_object_get(d, "source_files_mtime");
		for (size_t k = 1; k < json_array_size(files); k++) {
			const json_t *f = json_array_get(files, k), *size = json_object_get(f, "size");
			const char *was = json_string_value(json_array_get(mtimes, k - 1));
			char *fp;
			if (!json_is_integer(size))
				continue; /* a network source: nothing to compare */
			if (!(fp = lode__path_join(w->p.m->dir, lode__work_jstr(f, "path"))))
				return lode__err(err, LODE_ENOMEM, "out of memory");
			mt = stat(fp, &st) == 0 ? lode__work_mtime_text(&st) : NULL;
			same = mt && was && (json_int_t)st.st_size == json_integer_value(size) &&
			       strcmp(mt, was) == 0;
			free(mt);
			free(fp);
			if (!same)
				return lode__err(err, LODE_ESOURCE,
						 "source '%s': '%s', which it reads, changed since lode plan "
						 "(size or modification time): run lode plan again",
						 path, lode__work_jstr(f, "path"));
		}
	}
	return LODE_OK;
}

/* ---- failure records ---- */

/* Why a part is not there: its failure record's message, or NULL. */
char *lode__work_failure_of(const work *w, const unit *u)
{
	char *name = lode__sprintf("%s.json", u->part),
	     *path = name ? lode__work_path(w, "failed", name) : NULL;
	char *text = NULL, *msg = NULL;
	size_t len;
	lode_error ignored;
	json_t *o;

	if (path && lode__work_file_exists(path) &&
	    lode__read_file(path, 1 << 20, &text, &len, &ignored) == LODE_OK &&
	    (o = json_loads(text, 0, NULL))) {
		msg = lode__strdup(lode__work_jstr(o, "error"));
		json_decref(o);
	}
	free(text);
	free(path);
	free(name);
	return msg;
}
