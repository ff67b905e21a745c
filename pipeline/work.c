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

/* Write a small text file under a temporary name, then rename it into place.  The
   temporary names of killed writers of the same file are cleaned first. */
lode_status lode__work_write_text_atomic(const char *path, const char *text, lode_error *err)
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

/* ---- loading a work folder ---- */

const char *lode__work_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
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
 * Load the plan and the manifest it was made from, and check that nothing it depends on
 * has changed since: the manifest's bytes, the target CRS, the PROJ/EPSG/GDAL versions.
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
