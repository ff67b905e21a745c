/*
 * bundle_attr.c -- attributes: text attributes as netCDF-4 wants them (fixed-length
 * strings, ASCII unless the text needs UTF-8), numeric attributes, reading both back,
 * the setters of root and variable attributes in bundle.h, and the CF grid-mapping
 * attributes of a CRS (shared by rasters and vector layers).
 *
 * It does not list attributes: the root attributes as text (for the digest and verify)
 * are bundle_read.c's, and each item's attributes are read where the item is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <ogr_srs_api.h>

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

/* ---- what lode writes for a CRS (rasters and vector layers) ---- */

/* UDUNITS names for the linear units CRSs use; anything else is named as the CRS
   names it, and the factor to metres is in crs_wkt. */
const char *lode__h5_udunits(double to_metre, const char *name)
{
	return to_metre == 1.0                               ? "m"
	       : fabs(to_metre - 0.3048006096012192) < 1e-15 ? "US_survey_foot"
	       : to_metre == 0.3048                          ? "ft"
	       : to_metre == 1000.0                          ? "km"
							     : (name ? name : "m");
}

/* Append a number attribute to the grid mapping a. */
static void gm_num(lode_crs_attrs *a, const char *name, size_t n, double v0, double v1)
{
	if (a->ngm < sizeof a->gm / sizeof a->gm[0])
		a->gm[a->ngm++] = (lode_cf_attr){name, NULL, n, {v0, v1}};
}

/* The CF grid-mapping attributes of s, in the order lode writes them: for the projections
   CF defines, and geographic CRSs. */
static void cf_grid_mapping(lode_crs_attrs *a, OGRSpatialReferenceH s)
{
	OGRErr e;
	double sma = OSRGetSemiMajor(s, &e), invf = OSRGetInvFlattening(s, &e);
	const char *proj = OSRGetAttrValue(s, "PROJECTION", 0);
	static const struct {
		const char *ogr, *cf;
	} names[] = {
	    {SRS_PT_TRANSVERSE_MERCATOR, "transverse_mercator"},
	    {SRS_PT_ALBERS_CONIC_EQUAL_AREA, "albers_conical_equal_area"},
	    {SRS_PT_LAMBERT_CONFORMAL_CONIC_2SP, "lambert_conformal_conic"},
	    {SRS_PT_LAMBERT_AZIMUTHAL_EQUAL_AREA, "lambert_azimuthal_equal_area"},
	    {SRS_PT_MERCATOR_1SP, "mercator"},
	};
	const char *cf = NULL;

	if (OSRIsGeographic(s)) {
		a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", "latitude_longitude", 0, {0, 0}};
	} else if (proj) {
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(proj, names[i].ogr) == 0)
				cf = names[i].cf;
		if (cf) {
			a->gm[a->ngm++] = (lode_cf_attr){"grid_mapping_name", cf, 0, {0, 0}};
			gm_num(a, "false_easting", 1, OSRGetProjParm(s, SRS_PP_FALSE_EASTING, 0, &e), 0);
			gm_num(a, "false_northing", 1, OSRGetProjParm(s, SRS_PP_FALSE_NORTHING, 0, &e), 0);
			gm_num(a, "latitude_of_projection_origin", 1,
			       OSRGetProjParm(s, SRS_PP_LATITUDE_OF_ORIGIN, 0, &e), 0);
		}
		if (cf && !strcmp(cf, "transverse_mercator")) {
			gm_num(a, "longitude_of_central_meridian", 1,
			       OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
			gm_num(a, "scale_factor_at_central_meridian", 1,
			       OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e), 0);
		} else if (cf && (!strcmp(cf, "albers_conical_equal_area") ||
				  !strcmp(cf, "lambert_conformal_conic"))) {
			gm_num(a, "standard_parallel", 2,
			       OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_1, 0, &e),
			       OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_2, 0, &e));
			gm_num(a, "longitude_of_central_meridian", 1,
			       OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
		} else if (cf && !strcmp(cf, "lambert_azimuthal_equal_area")) {
			gm_num(a, "longitude_of_projection_origin", 1,
			       OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
		} else if (cf && !strcmp(cf, "mercator")) {
			gm_num(a, "longitude_of_projection_origin", 1,
			       OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e), 0);
			gm_num(a, "scale_factor_at_projection_origin", 1,
			       OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e), 0);
		}
	}
	if (OSRIsGeographic(s) || cf) {
		gm_num(a, "semi_major_axis", 1, sma, 0);
		gm_num(a, "inverse_flattening", 1, invf, 0);
		gm_num(a, "longitude_of_prime_meridian", 1, OSRGetPrimeMeridian(s, NULL), 0);
	}
}

void lode__crs_attrs(const char *crs_wkt, lode_crs_attrs *a)
{
	OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
	const char *unit = NULL;
	double f = 1.0;

	memset(a, 0, sizeof *a);
	if (s && crs_wkt && OSRSetFromUserInput(s, crs_wkt) == OGRERR_NONE) {
		a->parsed = 1;
		a->geographic = OSRIsGeographic(s);
		cf_grid_mapping(a, s);
		if (!a->geographic)
			f = OSRGetLinearUnits(s, (char **)&unit);
	}
	if (a->geographic) {
		a->x_standard_name = a->x_long_name = "longitude";
		a->y_standard_name = a->y_long_name = "latitude";
		a->x_units = "degrees_east";
		a->y_units = "degrees_north";
	} else {
		const char *ud = lode__h5_udunits(f, unit);
		a->x_standard_name = "projection_x_coordinate";
		a->y_standard_name = "projection_y_coordinate";
		a->x_long_name = "x coordinate of projection";
		a->y_long_name = "y coordinate of projection";
		/* The CRS's own unit name lives in s: keep a copy. */
		a->own_unit = ud == unit ? lode__strdup(unit) : NULL;
		a->x_units = a->y_units = a->own_unit ? a->own_unit : ud == unit ? "m" : ud;
	}
	if (s)
		OSRDestroySpatialReference(s);
}

void lode__crs_attrs_free(lode_crs_attrs *a)
{
	free(a->own_unit);
	a->own_unit = NULL;
}

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
