/*
 * work_status.c -- lode status -w: what a work folder holds, as text for people or as
 * JSON: each dataset's parts done, failed (with why) or missing, and whether the
 * manifest changed since the plan.  It reads plan.json and hashes the manifest, opens no
 * source and changes nothing; the folder's model is work.h.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lode.h"
#include "sha256.h"
#include "util.h"
#include "work.h"

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
	if ((rc = lode__work_load_doc(&w, work_dir, err)))
		goto out;
	arr = json_object_get(w.doc, "datasets");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *d = json_array_get(arr, i), *o = json_object(), *parts = json_array();
		json_object_set_new(o, "name", json_string(lode__work_jstr(d, "name")));
		json_object_set_new(o, "kind", json_string(lode__work_jstr(d, "kind")));
		json_object_set_new(o, "key", json_string(lode__work_jstr(d, "key")));
		for (size_t k = 0; k < w.nunits; k++) {
			const unit *u = &w.units[k];
			char *path, *why = NULL;
			json_t *p;
			const char *state;
			if (u->item != i)
				continue;
			p = json_object();
			path = lode__work_path(&w, "parts", u->part);
			if (path && lode__work_file_exists(path)) {
				state = "done";
				done++;
			} else if ((why = lode__work_failure_of(&w, u))) {
				state = "failed";
				failed++;
			} else {
				state = "missing";
				missing++;
			}
			json_object_set_new(p, "part", json_string(u->part));
			if (strcmp(lode__work_jstr(d, "kind"), "raster") == 0) {
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
	json_object_set_new(doc, "manifest", json_string(lode__work_jstr(w.doc, "manifest")));
	if (lode__sha256_file(lode__work_jstr(w.doc, "manifest"), msha, &msize, &ignored) != LODE_OK)
		msha[0] = '\0';
	json_object_set_new(doc, "manifest_changed",
			    json_boolean(strcmp(msha, lode__work_jstr(w.doc, "manifest_sha256")) != 0));
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
		char *text = lode__sprintf("work folder %s: plan of %s\n", work_dir,
					   lode__work_jstr(w.doc, "manifest"));
		for (size_t i = 0; text && i < json_array_size(dsets); i++) {
			json_t *o = json_array_get(dsets, i), *parts = json_object_get(o, "parts");
			size_t nd = 0, np = json_array_size(parts);
			char *t;
			for (size_t k = 0; k < np; k++)
				nd += strcmp(lode__work_jstr(json_array_get(parts, k), "state"), "done") == 0;
			t = lode__sprintf("%s  %-20s %-6s %zu of %zu part%s done\n", text,
					  lode__work_jstr(o, "name"), lode__work_jstr(o, "kind"), nd, np,
					  np == 1 ? "" : "s");
			free(text);
			text = t;
			for (size_t k = 0; text && k < np; k++) {
				json_t *p = json_array_get(parts, k);
				if (strcmp(lode__work_jstr(p, "state"), "done") == 0)
					continue;
				t = lode__sprintf("%s    %s %s%s%s\n", text, lode__work_jstr(p, "state"),
						  lode__work_jstr(p, "part"),
						  json_object_get(p, "error") ? ": " : "",
						  lode__work_jstr(p, "error"));
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
	lode__work_free(&w);
	return rc;
}
