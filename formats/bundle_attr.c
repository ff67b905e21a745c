/*
 * bundle_attr.c -- attributes: text attributes as netCDF-4 wants them (fixed-length
 * strings, ASCII unless the text needs UTF-8), numeric attributes, reading both back,
 * the setters of root and variable attributes in bundle.h, and the writing of the CF
 * grid-mapping attributes of a CRS (shared by rasters and vector layers; crs_cf.c
 * computes them).
 *
 * It does not list attributes: the root attributes as text (for the digest and verify)
 * are bundle_read.c's, and each item's attributes are read where the item is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "util.h"

/* ---- attributes ---- */

int lode__h5_set_text(hid_t obj, const char *name, const char *value)
{
	hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, a = H5I_INVALID_HID;
	size_t len = strlen(value);
	int utf8 = 0, rc = -1;

	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p >= 0x80)
			utf8 = 1;
	if (H5Aexists(obj, name) > 0)
		H5Adelete(obj, name);
	t = H5Tcopy(H5T_C_S1);
	if (t < 0 || H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
	    H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0)
		goto out;
	s = H5Screate(H5S_SCALAR);
	if (s < 0)
		goto out;
	a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0)
		goto out;
	if (H5Awrite(a, t, len ? value : "") < 0)
		goto out;
	rc = 0;
out:
	if (a >= 0)
		H5Aclose(a);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	return rc;
}

int lode__h5_set_nums(hid_t obj, const char *name, hid_t ftype, hid_t mtype, size_t n, const void *v)
{
	hsize_t dims[1] = {n};
	hid_t s = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
	hid_t a = H5I_INVALID_HID;
	int rc = -1;

	if (s < 0)
		return -1;
	a = H5Acreate2(obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT);
	if (a >= 0 && H5Awrite(a, mtype, v) >= 0)
		rc = 0;
	if (a >= 0)
		H5Aclose(a);
	H5Sclose(s);
	return rc;
}

int lode__h5_set_double(hid_t obj, const char *name, double v)
{
	return lode__h5_set_nums(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &v);
}

/* Read a text attribute (fixed or variable length); NULL if absent or not text. */
char *lode__h5_get_text(hid_t obj, const char *name)
{
	hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, s = H5I_INVALID_HID, mt = H5I_INVALID_HID;
	char *out = NULL;

	if (H5Aexists(obj, name) <= 0)
		goto out;
	a = H5Aopen(obj, name, H5P_DEFAULT);
	if (a < 0)
		goto out;
	t = H5Aget_type(a);
	s = H5Aget_space(a);
	if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING)
		goto out;
	if (H5Sget_simple_extent_type(s) == H5S_NULL) {
		out = lode__strdup("");
		goto out;
	}
	if (H5Sget_simple_extent_npoints(s) != 1)
		goto out;
	if (H5Tis_variable_str(t) > 0) {
		char *vs = NULL;
		mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, H5T_VARIABLE);
		if (H5Aread(a, mt, &vs) >= 0 && vs) {
			out = lode__strdup(vs);
			H5free_memory(vs);
		}
	} else {
		size_t n = H5Tget_size(t);
		if (n == 0 || n > MAX_ATTR_BYTES)
			goto out;
		out = calloc(1, n + 1);
		mt = H5Tcopy(t);
		if (out && H5Aread(a, mt, out) < 0) {
			free(out);
			out = NULL;
		}
	}
out:
	if (mt >= 0)
		H5Tclose(mt);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	H5Eclear2(H5E_DEFAULT);
	return out;
}

/* Read a numeric scalar attribute as double; 0 on success. */
int lode__h5_get_double(hid_t obj, const char *name, double *v)
{
	hid_t a, s;
	int rc = -1;

	if (H5Aexists(obj, name) <= 0)
		return -1;
	a = H5Aopen(obj, name, H5P_DEFAULT);
	if (a < 0)
		return -1;
	s = H5Aget_space(a);
	if (s >= 0 && H5Sget_simple_extent_npoints(s) == 1) {
		hid_t t = H5Aget_type(a);
		if (t >= 0 && (H5Tget_class(t) == H5T_INTEGER || H5Tget_class(t) == H5T_FLOAT) &&
		    H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0)
			rc = 0;
		if (t >= 0)
			H5Tclose(t);
	}
	if (s >= 0)
		H5Sclose(s);
	H5Aclose(a);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}

/* ---- the setters of bundle.h ---- */

lode_status lode__bundle_set_attrs(lode__bundle *b, const char *path, const lode_attr *attrs, size_t n,
				   lode_error *err)
{
	hid_t o = H5Oopen(b->file, path ? path : "/", H5P_DEFAULT); /* a group or a variable */
	lode_status rc = LODE_OK;

	if (o < 0)
		return lode__h5_err(err, LODE_EIO, "opening an object to write attributes");
	for (size_t i = 0; i < n; i++) {
		if (lode__h5_set_text(o, attrs[i].key, attrs[i].value) < 0) {
			rc = lode__h5_err(err, LODE_EIO, attrs[i].key);
			break;
		}
	}
	H5Oclose(o);
	return rc;
}

lode_status lode__bundle_set_double(lode__bundle *b, const char *key, double v, lode_error *err)
{
	if (lode__h5_set_double(b->file, key, v) < 0)
		return lode__h5_err(err, LODE_EIO, key);
	return LODE_OK;
}

/* ---- the CF grid mapping of a CRS (lode__crs_attrs, crs_cf.c) ---- */

void lode__h5_write_grid_mapping(hid_t crs, const lode_crs_attrs *a)
{
	for (size_t i = 0; i < a->ngm; i++) {
		if (a->gm[i].text)
			lode__h5_set_text(crs, a->gm[i].name, a->gm[i].text);
		else
			lode__h5_set_nums(crs, a->gm[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a->gm[i].n,
					  a->gm[i].v);
	}
}
