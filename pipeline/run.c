/*
 * run.c -- lode run: plan, reproject and package in one process, straight into the
 * bundle (no parts).  The stages one by one over a work folder are in work_*.c; both
 * write through write.c, so they make the same bundle.
 */
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "error.h"
#include "lode.h"
#include "metadata.h"
#include "plan.h"
#include "publish.h"
#include "raster_gdal.h"
#include "util.h"
#include "write.h"

lode_status lode_run(const char *manifest_path, const char *bundle_path, const lode_run_options *opt,
		     lode_error *err)
{
	plan p;
	lode__out out = {0};
	lode__known known = {0};
	char *lineage = NULL;
	lode__progress pr = {opt, 0, 0};
	lode_status rc;

	lode__err_clear(err);
	/* Refused before anything is read or written: an output that is not a regular file,
	   or that is the manifest; then, once planned, one that is a source. */
	{
		lode__out_input man = {manifest_path, "the manifest"};
		if ((rc = lode__pub_check_dest(bundle_path, err)) ||
		    (rc = lode__out_refuse(bundle_path, &man, 1, err)))
			return rc;
	}
	if ((rc = lode__plan_build_to_run(manifest_path, opt, &p, err)) ||
	    (rc = lode__out_refuse_plan(bundle_path, &p, err)) ||
	    (rc = lode__metadata_precheck(p.m, manifest_path, err)))
		goto out;
	p.threads = opt ? opt->threads : 0;
	p.max_memory = opt ? opt->max_memory : 0;
	lode__gdal_bound_cache(p.max_memory);
	lode__bound_heap_slack(p.max_memory, p.threads);
	for (size_t i = 0; i < p.n; i++)
		pr.total +=
		    p.items[i].is_vector ? 1.0 : (double)p.items[i].nx * p.items[i].ny * p.items[i].nbands;
	if ((rc = lode__out_begin(&out, bundle_path, err)) || (rc = lode__write_root(&p, out.b, err)))
		goto out;
	lode__bundle_set_threads(out.b, p.threads);
	for (size_t i = 0; i < p.n; i++) {
		plan_item *it = &p.items[i];
		if (it->is_vector) {
			rc = lode__write_vector(&p, it, out.b, &pr, &known, err);
		} else {
			free(lineage);
			lineage = json_dumps(it->lineage, JSON_COMPACT | JSON_PRESERVE_ORDER);
			rc = lineage ? lode__write_raster(&p, it, out.b, 0, it->ny, lineage, &pr, &known, err)
				     : lode__err(err, LODE_ENOMEM, "out of memory");
		}
		if (rc) {
			lode__err_ctx(err, "%s:%d: dataset '%s': ", manifest_path, it->spec->line,
				      it->spec->name);
			goto out;
		}
	}
	rc = lode__out_commit(&out, &known, err);
	/* The manifest's metadata: records, beside the bundle now that it is in place. */
	if (!rc && p.m->metadata)
		rc = lode__metadata_beside(bundle_path, p.m->metadata, err);
out:
	/* Name the bundle the user asked for, not the temporary file HDF5 saw. */
	if (rc && out.tmp && !strstr(err->message, bundle_path))
		lode__err_ctx(err, "writing %s (nothing was left there): ", bundle_path);
	lode__out_abort(&out);
	free(lineage);
	lode__known_free(&known);
	lode__plan_free(&p);
	return rc;
}
