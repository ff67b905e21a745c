/*
 * work_plan.c -- lode plan -w: the plan of lode run (plan.c), written into a work folder
 * as plan.json with each dataset's content key and the parts to make (a raster in tiles
 * of whole chunk rows) and the digests of the plans it replaces, and the folder's parts/
 * and failed/ made.  No part is made here (work_reproject.c); the folder's model is
 * work.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "lode.h"
#include "plan.h"
#include "sha256.h"
#include "util.h"
#include "work.h"
#include "write.h"

/*
 * The plan.json this plan replaces, if it is one: its SHA-256 and those it replaced in
 * turn, so that parts made from them are still taken where their key is unchanged
 * (lode package checks each part's lode_part_plan_sha256 against this list).  A new
 * reference to an array; empty when there is no earlier plan or it is not one.
 */
static json_t *earlier_plans(const char *work_dir)
{
	json_t *list = json_array(), *old;
	char *path = lode__sprintf("%s/plan.json", work_dir), *text = NULL, sha[65];
	size_t len;
	lode_error ignored;

	if (!list || !path || !lode__work_file_exists(path) ||
	    lode__read_file(path, 256u << 20, &text, &len, &ignored) != LODE_OK)
		goto out;
	lode__sha256_hex(text, len, sha);
	old = json_loads(text, 0, NULL);
	if (old && json_integer_value(json_object_get(old, "lode_work")) == LODE_WORK_VERSION) {
		json_t *e = json_object_get(old, "earlier_plans");
		for (size_t i = 0; i < json_array_size(e); i++) {
			const char *h = json_string_value(json_array_get(e, i));
			if (h && strlen(h) == 64 && strcmp(h, sha) != 0)
				json_array_append_new(list, json_string(h));
		}
		json_array_append_new(list, json_string(sha));
	}
	json_decref(old);
out:
	free(text);
	free(path);
	return list;
}

/* The modification times of the other files the source reads (source.files[1...] of its
   lineage; "" for a network source), for lode__work_source_unchanged. */
static json_t *files_mtime(const plan *p, const plan_item *it)
{
	const json_t *files = json_object_get(json_object_get(it->lineage, "source"), "files");
	json_t *a = json_array();

	for (size_t k = 1; k < json_array_size(files); k++) {
		const json_t *f = json_array_get(files, k);
		char *fp = lode__path_join(p->m->dir, json_string_value(json_object_get(f, "path"))),
		     *mt = NULL;
		struct stat st;

		if (fp && json_is_integer(json_object_get(f, "size")) && stat(fp, &st) == 0)
			mt = lode__work_mtime_text(&st);
		json_array_append_new(a, json_string(mt ? mt : ""));
		free(mt);
		free(fp);
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
		ro.warn = opt->warn;
		ro.warn_user = opt->warn_user;
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
	json_object_set_new(doc, "lode_work", json_integer(LODE_WORK_VERSION));
	json_object_set_new(doc, "lode_version", json_string(LODE_VERSION));
	json_object_set_new(doc, "manifest", json_string(abs_manifest));
	json_object_set_new(doc, "manifest_sha256", json_string(msha));
	json_object_set_new(doc, "tile_rows", json_integer(tile_rows));
	json_object_set_new(doc, "target_crs_wkt", json_string(p.dst_wkt));
	json_object_set_new(doc, "earlier_plans", earlier_plans(work_dir));
	json_object_set_new(doc, "datasets", arr);
	for (size_t i = 0; i < p.n; i++) {
		plan_item *it = &p.items[i];
		json_t *d = json_object(), *units;
		char *key = lode__work_dataset_key(it->lineage), *mt = NULL,
		     *src = realpath(it->spec->source_path, NULL);
		struct stat st;

		if (!key || !src || stat(src, &st) != 0 || !(mt = lode__work_mtime_text(&st))) {
			free(key);
			free(src);
			json_decref(d);
			rc = lode__err(err, LODE_EIO, "%s: %s", it->spec->source_path, strerror(errno));
			goto out;
		}
		if (!(units = lode__work_units_json(it, key, lode__work_tile_rows_for(it, tile_rows)))) {
			free(key);
			free(src);
			free(mt);
			json_decref(d);
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		nparts += json_array_size(units);
		json_object_set_new(d, "name", json_string(it->spec->name));
		json_object_set_new(d, "kind", json_string(it->is_vector ? "vector" : "raster"));
		json_object_set_new(d, "key", json_string(key));
		json_object_set_new(d, "source_path", json_string(src)); /* for people: absolute */
		json_object_set_new(d, "source_size", json_integer((json_int_t)st.st_size));
		json_object_set_new(d, "source_mtime", json_string(mt));
		json_object_set_new(d, "source_files_mtime", files_mtime(&p, it));
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
	/* WORK/plan.json is replaced: it must not be the manifest or a source. */
	if (!(path = lode__sprintf("%s/plan.json", work_dir))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__out_refuse_plan(path, &p, err)) || (rc = lode__work_make_dir(work_dir, err)))
		goto out;
	for (int k = 0; k < 3; k++) {
		static const char *const subs[3] = {"parts", "failed", "plan.json"};
		free(path);
		if (!(path = lode__sprintf("%s/%s", work_dir, subs[k]))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = k < 2 ? lode__work_make_dir(path, err)
				: lode__work_write_text_atomic(path, text, err)))
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
