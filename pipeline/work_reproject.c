/*
 * work_reproject.c -- lode reproject: the parts of one shard made (each a valid
 * one-dataset bundle in WORK/parts, written under a temporary name), the parts that are
 * done skipped, and why a part failed recorded in WORK/failed.  The parts are shared out
 * the same way on every node, from plan.json alone (refused when it is not what lode plan
 * wrote, work.c).  Each part records the SHA-256 of that plan.json.  Planning is
 * work_plan.c's and assembling the bundle work_package.c's; the folder's model is work.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "error.h"
#include "lode.h"
#include "plan.h"
#include "publish.h"
#include "raster_gdal.h"
#include "util.h"
#include "vector_read.h"
#include "work.h"
#include "write.h"

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

/* Make one part. */
static lode_status make_part(work *w, const unit *u, lode__progress *pr, lode_error *err)
{
	plan_item *it = &w->p.items[u->item];
	char *path = lode__work_path(w, "parts", u->part), *lineage = NULL, rows[64];
	lode__out out = {0};
	lode__known known = {0};
	lode_status rc;

	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if ((rc = lode__work_source_unchanged(w, u->item, err)))
		goto out;
	if (it->is_vector && !it->vsrc &&
	    (rc = lode__vector_open(it->spec->source_path, (const char *const *)it->spec->open_options,
				    &it->rules, it->spec->layer, it->spec->where, 0, &it->vsrc, err)))
		goto out;
	if ((rc = lode__out_begin(&out, path, err)) || (rc = lode__write_root(&w->p, out.b, err)))
		goto out;
	lode__bundle_set_threads(out.b, w->p.threads);
	snprintf(rows, sizeof rows, "%d %d", u->row, u->rows);
	{
		lode_attr a[] = {{"lode_part_key", w->keys[u->item]},
				 {"lode_part_dataset", it->spec->name},
				 {"lode_part_plan_sha256", w->plan_sha256},
				 {"lode_part_rows", rows}};
		if ((rc = lode__bundle_set_attrs(out.b, NULL, a, it->is_vector ? 3 : 4, err)))
			goto out;
	}
	if (it->is_vector) {
		rc = lode__write_vector(&w->p, it, out.b, pr, &known, err);
	} else {
		lineage = lode__work_part_lineage(it, u);
		rc = lineage ? lode__write_raster(&w->p, it, out.b, u->row, u->rows, lineage, pr, &known, err)
			     : lode__err(err, LODE_ENOMEM, "out of memory");
	}
	if (!rc)
		rc = lode__out_commit(&out, &known, err);
out:
	lode__out_abort(&out);
	lode__known_free(&known);
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

	if (!name || !(path = lode__work_path(w, "failed", name)))
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
		lode__work_write_text_atomic(path, text, &ignored);
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
	if ((rc = lode__work_load(&w, work_dir, err)))
		goto out;
	/* What killed jobs left in WORK/parts and WORK/failed, including the folder of a
	   part that was renamed into place just before its writer was killed (no rerun
	   writes that part again, so none would clean beside it): publish.h's rule. */
	for (int k = 0; k < 2; k++) {
		char *dir = lode__work_path(&w, k ? "failed" : "parts", NULL);
		if (dir)
			lode__pub_clean_stale(dir, NULL);
		free(dir);
	}
	if (opt) {
		ro.progress = opt->progress;
		ro.progress_user = opt->progress_user;
		ro.threads = opt->threads;
		ro.max_memory = opt->max_memory;
	}
	w.p.threads = ro.threads;
	w.p.max_memory = ro.max_memory;
	lode__gdal_bound_cache(w.p.max_memory);
	lode__bound_heap_slack(w.p.max_memory, w.p.threads);
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
		if (!(path = lode__work_path(&w, "parts", u->part))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		done = lode__work_file_exists(path);
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
	lode__work_free(&w);
	return rc;
}
