/*
 * work_package.c -- lode package: one bundle assembled from the parts of a work folder,
 * raster tiles by raw chunk copies (their content digest recomputed across tiles), vector
 * layers rewritten from their values once checked against the part's digest.  It makes
 * no part and fails if any is missing (work_reproject.c makes them); the folder's model
 * is work.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "plan.h"
#include "util.h"
#include "vdata.h"
#include "work.h"
#include "write.h"

/* Open a part and find its one dataset; checks it is the part of this plan. */
static lode_status open_part(const work *w, const unit *u, lode__bundle **b, lode_bundle_item **items,
			     size_t *n, lode_error *err)
{
	char *path = lode__work_path(w, "parts", u->part), *key = NULL;
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
				  lode__known_values *known, lode_error *err)
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
				  lode__known_values *known, lode_error *err)
{
	plan_item *it = &w->p.items[i];
	const unit *u = NULL;
	lode__bundle *pb = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	lode_vdata *d = NULL;
	char content[65], coords[3][65];
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
	lode__vector_digest_ex(d, content, coords);
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
	rc = lode__record_vector_values(known, it->spec->name, coords, d->has_z, err);
	if (!rc && lode__tick(pr, 1.0, it->spec->name))
		rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
out:
	if (rc)
		lode__err_ctx(err, "part %s: ", u->part);
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
	lode__known_values *known = NULL;
	lode_run_options ro = {0};
	lode__progress pr = {&ro, 0, 0};
	size_t missing = 0;
	char first[1500] = "";
	lode_status rc;

	lode__err_clear(err);
	if ((rc = lode__work_load(&w, work_dir, err)))
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
	known = calloc(w.p.n ? w.p.n * LODE__KNOWN_PER_ITEM : 1, sizeof *known);
	if (!known) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__out_begin(&out, bundle_path, err)) || (rc = lode__write_root(&w.p, out.b, err)))
		goto out;
	for (size_t i = 0; i < w.p.n; i++) {
		rc = (w.p.items[i].is_vector ? package_vector : package_raster)(
		    &w, i, out.b, &pr, &known[i * LODE__KNOWN_PER_ITEM], err);
		if (rc) {
			lode__err_ctx(err, "dataset '%s': ", w.p.items[i].spec->name);
			goto out;
		}
	}
	rc = lode__out_commit(&out, known, w.p.n * LODE__KNOWN_PER_ITEM, err);
out:
	if (rc && out.tmp && !strstr(err->message, bundle_path))
		lode__err_ctx(err, "writing %s (nothing was left there): ", bundle_path);
	lode__out_abort(&out);
	lode__known_values_free(known, w.p.n * LODE__KNOWN_PER_ITEM);
	lode__work_free(&w);
	return rc;
}
