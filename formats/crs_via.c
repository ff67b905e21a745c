/*
 * crs_via.c -- the coordinate operation through an intermediate CRS (a dataset's via:):
 * two operations chosen by lode__crs_choose_operation (crs_proj.c), source to via and via
 * to target, applied one after the other as one PROJ pipeline, with both legs recorded.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crs_proj.h"
#include "error.h"
#include "util.h"

/* The steps of a PROJ string as "+step ..." items (none for +proj=noop), appended to *acc. */
static int append_steps(char **acc, const char *pipe)
{
	static const char head[] = "+proj=pipeline";

	if (lode__op_is_noop(pipe) || !pipe[0])
		return 0;
	if (strncmp(pipe, head, sizeof head - 1) == 0)
		return lode__append(acc, " ", pipe + sizeof head - 1 + strspn(pipe + sizeof head - 1, " "));
	{
		char *step = lode__sprintf("+step %s", pipe);
		int r = step ? lode__append(acc, " ", step) : -1;
		free(step);
		return r;
	}
}

static json_t *leg_json(const char *from, const char *to, const lode_op *leg)
{
	json_t *o = json_object();

	json_object_set_new(o, "from", json_string(from));
	json_object_set_new(o, "to", json_string(to));
	json_object_set_new(o, "name", json_string(leg->name));
	json_object_set_new(o, "code", leg->code ? json_string(leg->code) : json_null());
	json_object_set_new(o, "accuracy_m", leg->accuracy >= 0 ? json_real(leg->accuracy) : json_null());
	json_object_set_new(o, "ballpark", json_boolean(leg->ballpark));
	json_object_set_new(o, "proj_pipeline", json_string(leg->pipeline));
	return o;
}

/* a's JSON array text followed by b's, as one array text (malloc'd). */
static char *concat_arrays(const char *a, const char *b)
{
	json_t *x = a ? json_loads(a, 0, NULL) : NULL, *y = b ? json_loads(b, 0, NULL) : NULL;
	char *text = NULL;

	if (!x)
		x = json_array();
	if (y)
		json_array_extend(x, y);
	text = json_dumps(x, JSON_COMPACT);
	json_decref(x);
	json_decref(y);
	return text;
}

lode_status lode__crs_choose_via(const char *src_wkt, const char *via_wkt, const char *dst_wkt,
				 const double *aoi, const lode_policy *pol, lode_op *op, lode_error *err)
{
	lode_op a = {0}, b = {0};
	char *sl = lode__crs_label(src_wkt), *vl = lode__crs_label(via_wkt), *dl = lode__crs_label(dst_wkt);
	json_t *legs = json_array();
	lode_status rc;

	memset(op, 0, sizeof *op);
	if ((rc = lode__crs_choose_operation(src_wkt, via_wkt, aoi, pol, NULL, &a, err))) {
		lode__err_ctx(err, "first leg, %s to %s (via): ", sl ? sl : "source", vl ? vl : "via");
		goto out;
	}
	if ((rc = lode__crs_choose_operation(via_wkt, dst_wkt, aoi, pol, NULL, &b, err))) {
		lode__err_ctx(err, "second leg, %s (via) to %s: ", vl ? vl : "via", dl ? dl : "target");
		goto out;
	}
	op->accuracy_known_m = (a.accuracy > 0 ? a.accuracy : 0) + (b.accuracy > 0 ? b.accuracy : 0);
	if (op->accuracy_known_m > pol->max_error_m) {
		rc = lode__err(err, LODE_EPOLICY,
			       "through %s the known accuracies add up to %g m (%g m + %g m), worse than "
			       "policy.max_error_m %g m",
			       vl ? vl : "via", op->accuracy_known_m, a.accuracy > 0 ? a.accuracy : 0,
			       b.accuracy > 0 ? b.accuracy : 0, pol->max_error_m);
		goto out;
	}
	op->accuracy = a.accuracy >= 0 && b.accuracy >= 0 ? a.accuracy + b.accuracy : -1;
	op->ballpark = a.ballpark || b.ballpark;
	op->name = lode__sprintf("%s, then %s", a.name, b.name);
	if (a.code || b.code)
		op->code = lode__sprintf("%s%s%s", a.code ? a.code : "", a.code && b.code ? " + " : "",
					 b.code ? b.code : "");
	if (append_steps(&op->pipeline, a.pipeline) || append_steps(&op->pipeline, b.pipeline)) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (!op->pipeline)
		op->pipeline = lode__strdup("+proj=noop");
	else if (strncmp(op->pipeline, "+step", 5) == 0) {
		char *full = lode__sprintf("+proj=pipeline %s", op->pipeline);
		free(op->pipeline);
		op->pipeline = full;
	}
	if (a.ballpark || b.ballpark)
		op->ballpark_step = lode__strdup(a.ballpark ? a.ballpark_step : b.ballpark_step);
	op->grids = calloc(a.ngrids + b.ngrids + 1, sizeof *op->grids);
	for (size_t i = 0; op->grids && i < a.ngrids + b.ngrids; i++)
		op->grids[op->ngrids++] = lode__strdup(i < a.ngrids ? a.grids[i] : b.grids[i - a.ngrids]);
	op->steps_json = concat_arrays(a.steps_json, b.steps_json);
	op->candidates_json = concat_arrays(a.candidates_json, b.candidates_json);
	op->via = lode__strdup(vl ? vl : "intermediate CRS");
	json_array_append_new(legs, leg_json(sl ? sl : "", vl ? vl : "", &a));
	json_array_append_new(legs, leg_json(vl ? vl : "", dl ? dl : "", &b));
	op->legs_json = json_dumps(legs, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!op->name || !op->pipeline || !op->grids || !op->steps_json || !op->candidates_json || !op->via ||
	    !op->legs_json || ((a.ballpark || b.ballpark) && !op->ballpark_step))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
out:
	if (rc)
		lode__op_clear(op);
	lode__op_clear(&a);
	lode__op_clear(&b);
	json_decref(legs);
	free(sl);
	free(vl);
	free(dl);
	return rc;
}
