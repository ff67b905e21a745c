/*
 * work_package.c -- lode package: one bundle assembled from the parts of a work folder,
 * raster tiles by raw chunk copies (their content digest recomputed across tiles), vector
 * layers rewritten from their values once checked against the part's digest.  Nothing in
 * the folder is trusted: plan.json is checked against a new plan of the manifest and the
 * sources, and each part is verified (lode verify), checked to be the part this plan
 * expects (key, dataset, rows, lineage, the plan.json it was made from) and its content
 * digest recomputed from its values before anything of it is copied.  It makes no part
 * and fails if any is missing (work_reproject.c makes them); the folder's model is
 * work.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "harmonize.h"
#include "lode.h"
#include "metadata.h"
#include "plan.h"
#include "publish.h"
#include "util.h"
#include "vdata.h"
#include "verify.h"
#include "work.h"
#include "write.h"

/* The first place where JSON values a and b differ, as a path ("operation.proj_pipeline"). */
static void first_difference(const json_t *a, const json_t *b, char *path, size_t cap)
{
	size_t len = strlen(path);

	if (json_is_object(a) && json_is_object(b)) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)a, key, v)
		{
			if (!json_equal(v, json_object_get(b, key))) {
				snprintf(path + len, cap - len, "%s%s", len ? "." : "", key);
				first_difference(v, json_object_get(b, key), path, cap);
				return;
			}
		}
		json_object_foreach((json_t *)b, key, v)
		{
			if (!json_object_get(a, key)) {
				snprintf(path + len, cap - len, "%s%s", len ? "." : "", key);
				return;
			}
		}
	} else if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
				snprintf(path + len, cap - len, "[%zu]", i);
				first_difference(json_array_get(a, i), json_array_get(b, i), path, cap);
				return;
			}
	}
}

/*
 * Plan again from the manifest and the sources (as lode plan -w did: every source opened
 * and hashed, every operation chosen) and check that each dataset's lineage record in
 * plan.json is exactly the one this gives: a plan.json edited consistently (record, key
 * and part names together) is refused here, and so is a source changed since the plan.
 */
static lode_status check_against_manifest(const work *w, const lode_run_options *ro, lode_error *err)
{
	const char *manifest = lode__work_jstr(w->doc, "manifest");
	json_t *arr = json_object_get(w->doc, "datasets");
	plan q;
	lode_status rc;

	if ((rc = lode__plan_build(manifest, ro, &q, err))) {
		lode__err_ctx(err, "checking %s against the manifest and the sources: ", w->plan_path);
		goto out;
	}
	for (size_t i = 0; i < q.n && i < json_array_size(arr); i++) {
		const json_t *l = json_object_get(json_array_get(arr, i), "lineage");
		char where[256] = "";
		if (json_equal(q.items[i].lineage, (json_t *)l))
			continue;
		first_difference(q.items[i].lineage, l, where, sizeof where);
		rc =
		    lode__err(err, LODE_EDAMAGED,
			      "%s: dataset '%s': its lineage record is not the one %s and its source give "
			      "now (%s differs): plan.json was edited, or the source changed; run lode plan "
			      "again",
			      w->plan_path, q.items[i].spec->name, manifest, where[0] ? where : "the record");
		goto out;
	}
	if (q.n != json_array_size(arr))
		rc = lode__err(err, LODE_EDAMAGED, "%s does not list the datasets of %s: run lode plan again",
			       w->plan_path, manifest);
out:
	lode__plan_free(&q);
	return rc;
}

/* A part's root attribute, or "" (into *v, malloc'd); non-zero when out of memory. */
static int part_attr(lode__bundle *b, const char *key, char **v, lode_error *err)
{
	if (lode__bundle_get_attr(b, key, v, err) != LODE_OK)
		*v = NULL;
	if (!*v)
		*v = lode__strdup("");
	return *v == NULL;
}

/* Why the open part is not the part u of this plan, or NULL when it is.  *oom on failure. */
static const char *part_mismatch(const work *w, const unit *u, lode__bundle *b, const lode_bundle_item *item,
				 int *oom, lode_error *err)
{
	const plan_item *it = &w->p.items[u->item];
	char *key = NULL, *name = NULL, *sha = NULL, *rows = NULL, *lineage = NULL, want[64];
	const char *why = NULL;

	*oom = part_attr(b, "lode_part_key", &key, err) || part_attr(b, "lode_part_dataset", &name, err) ||
	       part_attr(b, "lode_part_plan_sha256", &sha, err) || part_attr(b, "lode_part_rows", &rows, err);
	snprintf(want, sizeof want, "%d %d", u->row, u->rows);
	if (*oom)
		goto out;
	if (strcmp(item->name, it->spec->name) != 0 || strcmp(name, it->spec->name) != 0 ||
	    strcmp(item->kind, it->is_vector ? "vector" : "raster") != 0)
		why = "it holds another dataset";
	else if (strcmp(key, w->keys[u->item]) != 0)
		why = "its lode_part_key is not the dataset's key in plan.json (it was made for another "
		      "lineage record)";
	else if (!lode__work_plan_accepts(w, sha))
		why =
		    "its lode_part_plan_sha256 is not the SHA-256 of plan.json or of a plan it replaced: it "
		    "was made from another plan.json (plan.json was edited since, or the part comes "
		    "from another work folder)";
	else if (!it->is_vector && (strcmp(rows, want) != 0 || item->ny != u->rows || item->nx != it->nx ||
				    item->nbands != it->nbands || item->dtype != it->dtype))
		why = "its rows, width, bands or type are not the ones plan.json gives";
	else if (!it->is_vector) {
		/* The part's record must be the plan's (for a tile, with the tile's grid): then its
		   key, the SHA-256 of the plan's record, is its own. */
		if (!(lineage = lode__work_part_lineage(it, u)))
			*oom = 1;
		else if (!item->lineage || strcmp(item->lineage, lineage) != 0)
			why = "its lineage record is not the one plan.json gives for it, so its key is not "
			      "its own";
	}
out:
	free(key);
	free(name);
	free(sha);
	free(rows);
	free(lineage);
	return why;
}

/*
 * Verify a part as lode verify does (every content digest recomputed from the values,
 * the structure, the part's own bundle digest), open it and check it is the part u of
 * this plan (part_mismatch).  Nothing of it is copied before this.
 */
/* A part's verification as the first half of its share of package's progress. */
typedef struct part_progress {
	lode__progress *pr;
	double weight;
	const char *label;
} part_progress;

static int part_verified(double f, const char *label, void *user)
{
	part_progress *pp = user;
	const lode_run_options *o = pp->pr->opt;

	(void)label;
	if (o && o->progress && pp->pr->total > 0)
		o->progress((pp->pr->done + 0.5 * f * pp->weight) / pp->pr->total, pp->label,
			    o->progress_user);
	return 0;
}

static lode_status open_part(const work *w, const unit *u, part_progress *pp, lode__bundle **b,
			     lode_bundle_item **items, size_t *n, lode_error *err)
{
	lode_read_options ro = {.progress = pp && pp->pr->opt ? part_verified : NULL, .progress_user = pp};
	char *path = lode__work_path(w, "parts", u->part), *report = NULL;
	const char *why = NULL;
	int oom = 0;
	lode_status rc;

	*b = NULL;
	*items = NULL;
	*n = 0;
	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if ((rc = lode_verify_opt(path, NULL, 0, &ro, &report, err))) {
		char msg[sizeof err->message];
		size_t len = strlen(path);
		/* verify's message starts "PATH: ": the path is named once. */
		snprintf(msg, sizeof msg, "%s",
			 strncmp(err->message, path, len) == 0 && strncmp(err->message + len, ": ", 2) == 0
			     ? err->message + len + 2
			     : err->message);
		if (rc != LODE_ENOMEM)
			lode__err(err, rc,
				  "%s does not verify (%s): delete it and run lode reproject -w %s again",
				  path, msg, w->dir);
		goto out;
	}
	if ((rc = lode__bundle_open(path, b, err)) || (rc = lode__bundle_items(*b, items, n, err)))
		goto out;
	if (*n != 1 || (*items)[0].problem)
		why = *n == 1 ? (*items)[0].problem : "it does not hold one dataset";
	else
		why = part_mismatch(w, u, *b, &(*items)[0], &oom, err);
	if (oom)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	else if (why)
		rc =
		    lode__err(err, LODE_EDAMAGED,
			      "%s is not the part plan.json expects: %s; delete it and run lode reproject -w "
			      "%s again",
			      path, why, w->dir);
out:
	free(report);
	free(path);
	return rc;
}

static void close_part(lode__bundle *b, lode_bundle_item *items, size_t n)
{
	lode_error ignored;

	lode__bundle_items_free(items, n);
	lode__bundle_close(b, &ignored);
}

/* Hash a raster part's rows: into its own content digest (part) and, for a tile, into the
   dataset's (whole; NULL for an untiled raster). */
static lode_status hash_rows(lode__bundle *b, const lode_bundle_item *item, lode__content_hash *part,
			     lode__content_hash *whole, lode_error *err)
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
			size_t len = (size_t)item->nx * (size_t)ny * esize;
			if (!(rc = lode__bundle_read_rows(b, item, band, y, ny, buf, err))) {
				lode__content_hash_update(part, band - 1, buf, len);
				if (whole)
					lode__content_hash_update(whole, band - 1, buf, len);
			}
		}
	free(buf);
	return rc;
}

/* Recompute a raster part's content digest from its values (and add them to the
   dataset's, h, for a tile); it must be the digest the part holds.  Into hex. */
static lode_status check_part_content(const work *w, const unit *u, lode__bundle *pb,
				      const lode_bundle_item *item, lode__content_hash *h, char hex[65],
				      lode_error *err)
{
	lode__content_hash *part = lode__content_hash_new(item->nbands);
	lode_status rc;

	if (!part)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	rc = hash_rows(pb, item, part, h, err);
	lode__content_hash_final(part, hex);
	if (!rc && (!item->content_sha256 || strcmp(hex, item->content_sha256) != 0)) {
		char *path = lode__work_path(w, "parts", u->part);
		rc = lode__err(err, LODE_EDAMAGED,
			       "%s: its values do not match its content digest: delete it and run lode "
			       "reproject -w %s again",
			       path ? path : u->part, w->dir);
		free(path);
	}
	return rc;
}

static lode_status package_raster(work *w, size_t i, lode__bundle *out, lode__progress *pr,
				  lode__known *known, lode_error *err)
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
	def.band_names = names;
	def.band_units = units;
	if ((rc = lode__bundle_add_raster(out, &def, &v, err)))
		goto out;
	for (size_t k = 0; k < w->nunits && !rc; k++) {
		const unit *u = &w->units[k];
		lode__bundle *pb;
		lode_bundle_item *items;
		size_t n;
		char part_hex[65];
		part_progress pp = {pr, (double)u->rows * it->nx * it->nbands, it->spec->name};

		if (u->item != i)
			continue;
		/* Checked, then copied: its digest recomputed from the values it holds.  No
		   thread of ours may run while verify forks its reader. */
		lode__bundle_writeback_wait(out);
		if (!(rc = open_part(w, u, &pp, &pb, &items, &n, err)) &&
		    !(rc = check_part_content(w, u, pb, &items[0], h, part_hex, err))) {
			if (!h)
				snprintf(content, sizeof content, "%s", part_hex);
			rc = lode__bvar_copy_chunks(v, pb, &items[0], u->row, err);
		}
		if (rc && !strstr(err->message, u->part))
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
		rc = lode__record_raster_values(known, it->spec->name, content, err);
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
				  lode__known *known, lode_error *err)
{
	plan_item *it = &w->p.items[i];
	const unit *u = NULL;
	lode__bundle *pb = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	lode_vdata *d = NULL;
	json_t *lj = NULL;
	char content[65], coords[3][65], (*texts)[65] = NULL, *lineage = NULL;
	const char *layer =
	    json_string_value(json_object_get(json_object_get(it->lineage, "source"), "layer"));
	double extent[4];
	lode_status rc;

	if (!layer)
		layer = "";
	for (size_t k = 0; k < w->nunits && !u; k++)
		if (w->units[k].item == i)
			u = &w->units[k];
	if (!u)
		return lode__err(err, LODE_EUSAGE, "the plan lists no part for it: run lode plan again");
	lode__bundle_writeback_wait(out); /* no thread of ours runs while verify forks */
	if ((rc = open_part(w, u, NULL, &pb, &items, &n, err)) ||
	    (rc = lode__bundle_read_vector(pb, &items[0], &d, err)))
		goto out;
	/* Vector columns are rewritten from their values: check them against the part's
	   digest, and its record against the one the plan's and these values give. */
	if ((rc = lode__vector_digests(d, content, coords, &texts, err)))
		goto out;
	lode__vector_extent(d, extent);
	/* A field map's counts (harmonize:) are the part's: they are not in its values. */
	if (items[0].lineage) {
		json_t *pl = json_loads(items[0].lineage, 0, NULL);
		json_t *c = json_object_get(json_object_get(pl, "harmonize"), "counts");
		if (it->spec->harmonize && !c) {
			json_decref(pl);
			rc = lode__err(err, LODE_EDAMAGED,
				       "a part of '%s' lacks its field map's counts: delete it and "
				       "run lode reproject -w %s again",
				       it->spec->name, w->dir);
			goto out;
		}
		lj = lode__vector_lineage(it->lineage, d, extent);
		if (lj && c && lode__harmonize_with_counts(lj, c)) {
			json_decref(lj);
			lj = NULL;
		}
		json_decref(pl);
	}
	if ((!lj && !(lj = lode__vector_lineage(it->lineage, d, extent))) ||
	    !(lineage = json_dumps(lj, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (!items[0].content_sha256 || strcmp(content, items[0].content_sha256) != 0 || !items[0].lineage ||
	    strcmp(lineage, items[0].lineage) != 0 || !items[0].long_name ||
	    strcmp(layer, items[0].long_name) != 0) {
		char *path = lode__work_path(w, "parts", u->part);
		rc = lode__err(err, LODE_EDAMAGED, "%s: %s: delete it and run lode reproject -w %s again",
			       path ? path : u->part,
			       !items[0].content_sha256 || strcmp(content, items[0].content_sha256) != 0
				   ? "its values do not match its content digest"
				   : "its lineage record or long_name is not the one plan.json and its "
				     "values give",
			       w->dir);
		free(path);
		goto out;
	}
	{
		lode_attr attrs[] = {
		    {"long_name", layer},
		    {"source", it->spec->source},
		    {"lode_lineage", lineage},
		    {"lode_content_sha256", content},
		};
		if ((rc = lode__bundle_add_vector(out, it->spec->name, w->p.dst_wkt, d, NULL, attrs, 4, err)))
			goto out;
	}
	rc = lode__record_vector_values(known, it->spec->name, d, coords, texts, err);
	if (!rc && lode__tick(pr, 1.0, it->spec->name))
		rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
out:
	if (rc && !strstr(err->message, u->part))
		lode__err_ctx(err, "part %s: ", u->part);
	json_decref(lj);
	free(lineage);
	free(texts);
	lode__vdata_free(d);
	if (pb)
		close_part(pb, items, n);
	return rc;
}

/* The bundle must be none of the files package reads (the manifest, the sources,
   plan.json, a part) and not inside the work folder's parts/ or failed/. */
static lode_status refuse_work_output(const work *w, const char *bundle_path, lode_error *err)
{
	char *folder = lode__dirname(bundle_path),
	     *sub[2] = {lode__work_path(w, "parts", NULL), lode__work_path(w, "failed", NULL)};
	lode__out_input plan_json = {w->plan_path, "the work folder's plan"};
	lode_status rc = LODE_OK;

	if (!folder || !sub[0] || !sub[1])
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	for (int k = 0; k < 2 && !rc; k++)
		if (lode__same_file(folder, sub[k]))
			rc = lode__err(err, LODE_EUSAGE,
				       "will not write %s: it is inside the work folder's %s, which lode "
				       "manages: choose another output name",
				       bundle_path, sub[k]);
	if (!rc && !(rc = lode__out_refuse(bundle_path, &plan_json, 1, err)))
		rc = lode__out_refuse_plan(bundle_path, &w->p, err);
	for (size_t k = 0; k < w->nunits && !rc; k++) {
		char *part = lode__work_path(w, "parts", w->units[k].part);
		lode__out_input in = {part, "a part of the work folder"};
		rc = part ? lode__out_refuse(bundle_path, &in, 1, err)
			  : lode__err(err, LODE_ENOMEM, "out of memory");
		free(part);
	}
	free(folder);
	free(sub[0]);
	free(sub[1]);
	return rc;
}

lode_status lode_package(const char *work_dir, const char *bundle_path, const lode_stage_options *opt,
			 lode_error *err)
{
	work w;
	lode__out out = {0};
	lode__known known = {0};
	lode_run_options ro = {0};
	lode__progress pr = {&ro, 0, 0};
	size_t missing = 0;
	char first[1500] = "";
	lode_status rc;

	lode__err_clear(err);
	if ((rc = lode__work_load(&w, work_dir, err)) || (rc = refuse_work_output(&w, bundle_path, err)) ||
	    (rc = lode__metadata_precheck(w.p.m, lode__work_jstr(w.doc, "manifest"), err)))
		goto out;
	if (opt) {
		ro.progress = opt->progress;
		ro.progress_user = opt->progress_user;
	}
	for (size_t k = 0; k < w.nunits; k++) {
		char *path = lode__work_path(&w, "parts", w.units[k].part);
		if (path && !lode__work_file_exists(path)) {
			if (!missing++) {
				char *why = lode__work_failure_of(&w, &w.units[k]);
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
	if ((rc = check_against_manifest(&w, &ro, err)))
		goto out;
	if ((rc = lode__out_begin(&out, bundle_path, err)) || (rc = lode__write_root(&w.p, out.b, err)))
		goto out;
	for (size_t i = 0; i < w.p.n; i++) {
		rc = (w.p.items[i].is_vector ? package_vector : package_raster)(&w, i, out.b, &pr, &known,
										err);
		if (rc) {
			lode__err_ctx(err, "dataset '%s': ", w.p.items[i].spec->name);
			goto out;
		}
	}
	rc = lode__out_commit(&out, &known, err);
	if (!rc && w.p.m->metadata)
		rc = lode__metadata_beside(bundle_path, w.p.m->metadata, err);
out:
	if (rc && out.tmp && !strstr(err->message, bundle_path))
		lode__err_ctx(err, "writing %s (nothing was left there): ", bundle_path);
	lode__out_abort(&out);
	lode__known_free(&known);
	lode__work_free(&w);
	return rc;
}
