/*
 * bundle_check.c -- the structure check of verify: walk every object and attribute
 * through both indexes (name and creation order, as netCDF reads), reading the value of
 * each text attribute too, and check that every variable has a usable dimension scale
 * on every axis.  What netCDF readers need, whatever kind of item holds the variable.
 *
 * It checks the HDF5 structure only: content (digests, signatures) is checked in
 * pipeline/ from what bundle_read.c reads.
 */
#include <stdio.h>
#include <stdlib.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "error.h"
#include "util.h"

/* ---- structure check (verify) ---- */

typedef struct walk_ctx {
	char problem[600];
} walk_ctx;

static herr_t attr_walk_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
	walk_ctx *w = data;
	hid_t a, t;
	size_t size;

	(void)info;
	a = H5Aopen(obj, name, H5P_DEFAULT);
	t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
	if (a < 0 || t < 0) {
		snprintf(w->problem, sizeof w->problem, "attribute '%s' cannot be read", name);
	} else if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0 &&
		   (size = (size_t)H5Aget_storage_size(a)) > 0 && size <= MAX_ATTR_BYTES) {
		/* Read the value too: it may live in a damaged heap. */
		char *buf = malloc(size);
		if (buf && H5Aread(a, t, buf) < 0)
			snprintf(w->problem, sizeof w->problem, "attribute '%s' cannot be read", name);
		free(buf);
	}
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	return w->problem[0] ? -1 : 0;
}

static herr_t scale_cb(hid_t did, unsigned dim, hid_t dsid, void *data)
{
	(void)did;
	(void)dim;
	(void)dsid;
	(void)data;
	return 1; /* one resolvable scale is enough */
}

static herr_t obj_walk_cb(hid_t loc, const char *name, const H5O_info_t *info, void *data)
{
	walk_ctx *w = data;
	hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
	hsize_t idx = 0;
	lode__heartbeat();

	if (o < 0) {
		snprintf(w->problem, sizeof w->problem, "object '%s' cannot be opened", name);
		return -1;
	}
	if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_walk_cb, w) < 0 && !w->problem[0])
		snprintf(w->problem, sizeof w->problem, "the attributes of '%s' cannot be listed", name);
	idx = 0;
	if (!w->problem[0] && H5Aiterate2(o, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, attr_walk_cb, w) < 0 &&
	    !w->problem[0])
		snprintf(w->problem, sizeof w->problem,
			 "the attribute creation-order index of '%s' is damaged", name);
	/* netCDF needs a dimension scale on every axis of every variable. */
	if (!w->problem[0] && info->type == H5O_TYPE_DATASET && H5DSis_scale(o) <= 0) {
		hid_t s = H5Dget_space(o);
		int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
		for (int d = 0; d < rank && !w->problem[0]; d++) {
			int at = 0;
			if (H5DSget_num_scales(o, (unsigned)d) < 1 ||
			    H5DSiterate_scales(o, (unsigned)d, &at, scale_cb, NULL) != 1)
				snprintf(w->problem, sizeof w->problem,
					 "variable '%s' has no usable dimension scale on axis %d (netCDF "
					 "readers will fail)",
					 name, d);
		}
		if (s >= 0)
			H5Sclose(s);
	}
	H5Oclose(o);
	return w->problem[0] ? -1 : 0;
}

lode_status lode__bundle_check_structure(lode__bundle *b, char **problem, lode_error *err)
{
	walk_ctx w = {""};

	*problem = NULL;
	/* Both link indexes of every group: netCDF reads by creation order. */
	if (H5Ovisit2(b->file, H5_INDEX_NAME, H5_ITER_INC, obj_walk_cb, &w, H5O_INFO_ALL) < 0 &&
	    !w.problem[0])
		snprintf(w.problem, sizeof w.problem, "the group structure cannot be walked");
	if (!w.problem[0] &&
	    H5Ovisit2(b->file, H5_INDEX_CRT_ORDER, H5_ITER_INC, obj_walk_cb, &w, H5O_INFO_ALL) < 0 &&
	    !w.problem[0])
		snprintf(w.problem, sizeof w.problem, "a link creation-order index is damaged");
	if (!w.problem[0]) {
		hsize_t idx = 0;
		if (H5Aiterate2(b->file, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, attr_walk_cb, &w) < 0 &&
		    !w.problem[0])
			snprintf(w.problem, sizeof w.problem,
				 "the global attributes' creation-order index is damaged");
	}
	H5Eclear2(H5E_DEFAULT);
	if (w.problem[0] && !(*problem = lode__strdup(w.problem)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}
