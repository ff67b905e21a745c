/*
 * bundle_h5.c -- the bundle file: writing and reading lode bundles with the HDF5 C API.
 *
 * A bundle is an HDF5 file laid out so that it is also a netCDF-4 file following CF-1.8
 * and ACDD-1.3 (docs/bundle-format.md is the contract).  What netCDF-C needs from a file
 * it did not write, and that this module therefore always does: link and attribute
 * creation order tracked and indexed on the file, every group and every variable; a
 * dimension scale attached to every axis of every variable; only netCDF-4 types; text
 * attributes as fixed-length strings; `_FillValue` of the variable's own type equal to
 * the HDF5 fill value; no `_NCProperties`.  Object modification times are not stored,
 * so identical content gives identical files.
 *
 * Every HDF5 call stays on the calling thread (the library is not thread-safe here).
 * HDF5's automatic error printing is off; errors are taken from its error stack.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <ogr_srs_api.h>

#include "lode_internal.h"

#define MAX_ATTR_BYTES (64u << 20) /* refuse to read larger attributes from a bundle */
#define DEFLATE_LEVEL  6

struct lode__bundle {
	hid_t file;
};

struct lode__bvar {
	hid_t group, dset;
	lode_dtype dtype;
	int nbands, nx, ny;
};

/* ---- errors ---- */

typedef struct h5_walk {
	char msg[512];
} h5_walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
	h5_walk *w = data;

	(void)n;
	/* Walking downward: the first entry is the outermost; keep the innermost (last). */
	if (e->desc && e->desc[0])
		snprintf(w->msg, sizeof w->msg, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
	return 0;
}

/* Record an HDF5 failure: the context plus the innermost message on HDF5's stack. */
static lode_status h5err(lode_error *err, lode_status code, const char *what)
{
	h5_walk w = {""};

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
	H5Eclear2(H5E_DEFAULT);
	return lode__err(err, code, "%s: %s", what, w.msg[0] ? w.msg : "HDF5 error");
}

static void h5_quiet(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* ---- types ---- */

static hid_t file_type(lode_dtype t)
{
	switch (t) {
	case LODE_DT_U8: return H5T_STD_U8LE;
	case LODE_DT_I8: return H5T_STD_I8LE;
	case LODE_DT_U16: return H5T_STD_U16LE;
	case LODE_DT_I16: return H5T_STD_I16LE;
	case LODE_DT_U32: return H5T_STD_U32LE;
	case LODE_DT_I32: return H5T_STD_I32LE;
	case LODE_DT_U64: return H5T_STD_U64LE;
	case LODE_DT_I64: return H5T_STD_I64LE;
	case LODE_DT_F32: return H5T_IEEE_F32LE;
	case LODE_DT_F64: return H5T_IEEE_F64LE;
	default: return H5I_INVALID_HID;
	}
}

static hid_t mem_type(lode_dtype t)
{
	switch (t) {
	case LODE_DT_U8: return H5T_NATIVE_UINT8;
	case LODE_DT_I8: return H5T_NATIVE_INT8;
	case LODE_DT_U16: return H5T_NATIVE_UINT16;
	case LODE_DT_I16: return H5T_NATIVE_INT16;
	case LODE_DT_U32: return H5T_NATIVE_UINT32;
	case LODE_DT_I32: return H5T_NATIVE_INT32;
	case LODE_DT_U64: return H5T_NATIVE_UINT64;
	case LODE_DT_I64: return H5T_NATIVE_INT64;
	case LODE_DT_F32: return H5T_NATIVE_FLOAT;
	case LODE_DT_F64: return H5T_NATIVE_DOUBLE;
	default: return H5I_INVALID_HID;
	}
}

static lode_dtype dtype_of(hid_t t)
{
	H5T_class_t cls = H5Tget_class(t);
	size_t size = H5Tget_size(t);

	if (cls == H5T_FLOAT)
		return size == 4 ? LODE_DT_F32 : size == 8 ? LODE_DT_F64 : LODE_DT_UNKNOWN;
	if (cls == H5T_INTEGER) {
		int sign = H5Tget_sign(t) == H5T_SGN_2;
		switch (size) {
		case 1: return sign ? LODE_DT_I8 : LODE_DT_U8;
		case 2: return sign ? LODE_DT_I16 : LODE_DT_U16;
		case 4: return sign ? LODE_DT_I32 : LODE_DT_U32;
		case 8: return sign ? LODE_DT_I64 : LODE_DT_U64;
		}
	}
	return LODE_DT_UNKNOWN;
}

/* Convert a double to the bytes of type t (for fill values). */
static void to_bytes(lode_dtype t, double v, unsigned char out[8])
{
	memset(out, 0, 8);
	switch (t) {
	case LODE_DT_U8: {
		uint8_t x = (uint8_t)v;
		memcpy(out, &x, 1);
		break;
	}
	case LODE_DT_I8: {
		int8_t x = (int8_t)v;
		memcpy(out, &x, 1);
		break;
	}
	case LODE_DT_U16: {
		uint16_t x = (uint16_t)v;
		memcpy(out, &x, 2);
		break;
	}
	case LODE_DT_I16: {
		int16_t x = (int16_t)v;
		memcpy(out, &x, 2);
		break;
	}
	case LODE_DT_U32: {
		uint32_t x = (uint32_t)v;
		memcpy(out, &x, 4);
		break;
	}
	case LODE_DT_I32: {
		int32_t x = (int32_t)v;
		memcpy(out, &x, 4);
		break;
	}
	case LODE_DT_U64: {
		uint64_t x = (uint64_t)v;
		memcpy(out, &x, 8);
		break;
	}
	case LODE_DT_I64: {
		int64_t x = (int64_t)v;
		memcpy(out, &x, 8);
		break;
	}
	case LODE_DT_F32: {
		float x = (float)v;
		memcpy(out, &x, 4);
		break;
	}
	case LODE_DT_F64: memcpy(out, &v, 8); break;
	default: break;
	}
}

/* ---- property lists: creation order everywhere, no timestamps ---- */

static hid_t group_cpl(void)
{
	hid_t p = H5Pcreate(H5P_GROUP_CREATE);

	if (p < 0)
		return p;
	H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_obj_track_times(p, 0);
	return p;
}

static hid_t dataset_cpl(void)
{
	hid_t p = H5Pcreate(H5P_DATASET_CREATE);

	if (p < 0)
		return p;
	H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_obj_track_times(p, 0);
	return p;
}

/* ---- attributes ---- */

static int set_text(hid_t obj, const char *name, const char *value)
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

static int set_nums(hid_t obj, const char *name, hid_t ftype, hid_t mtype, size_t n, const void *v)
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

static int set_double(hid_t obj, const char *name, double v)
{
	return set_nums(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &v);
}

/* Read a text attribute (fixed or variable length); NULL if absent or not text. */
static char *get_text(hid_t obj, const char *name)
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
static int get_double(hid_t obj, const char *name, double *v)
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

/* ---- writing ---- */

lode_status lode__bundle_create(const char *path, lode__bundle **out, lode_error *err)
{
	lode__bundle *b = NULL;
	hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
	lode_status rc = LODE_OK;

	h5_quiet();
	*out = NULL;
	b = calloc(1, sizeof *b);
	if (!b)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	b->file = H5I_INVALID_HID;
	fcpl = H5Pcreate(H5P_FILE_CREATE);
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	if (fcpl < 0 || fapl < 0 ||
	    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
	    H5Pset_attr_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0 ||
	    H5Pset_obj_track_times(fcpl, 0) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
		rc = h5err(err, LODE_EINTERNAL, "setting up the HDF5 file properties");
		goto out;
	}
	b->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
	if (b->file < 0) {
		rc = h5err(err, LODE_EIO, path);
		goto out;
	}
	*out = b;
	b = NULL;
out:
	if (fcpl >= 0)
		H5Pclose(fcpl);
	if (fapl >= 0)
		H5Pclose(fapl);
	free(b);
	return rc;
}

lode_status lode__bundle_set_attrs(lode__bundle *b, const char *group, const lode_attr *attrs, size_t n,
				   lode_error *err)
{
	hid_t g = group ? H5Gopen2(b->file, group, H5P_DEFAULT) : H5Gopen2(b->file, "/", H5P_DEFAULT);
	lode_status rc = LODE_OK;

	if (g < 0)
		return h5err(err, LODE_EIO, "opening a group to write attributes");
	for (size_t i = 0; i < n; i++) {
		if (set_text(g, attrs[i].key, attrs[i].value) < 0) {
			rc = h5err(err, LODE_EIO, attrs[i].key);
			break;
		}
	}
	H5Gclose(g);
	return rc;
}

lode_status lode__bundle_set_double(lode__bundle *b, const char *key, double v, lode_error *err)
{
	if (set_double(b->file, key, v) < 0)
		return h5err(err, LODE_EIO, key);
	return LODE_OK;
}

/* A 1-D coordinate variable that is also the dimension scale `name`. */
static hid_t make_coord(hid_t group, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
			const void *values)
{
	hid_t s = H5Screate_simple(1, &n, NULL), dcpl = dataset_cpl(), d = H5I_INVALID_HID;

	if (s < 0 || dcpl < 0)
		goto out;
	d = H5Dcreate2(group, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (d < 0)
		goto out;
	if (H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0 || H5DSset_scale(d, name) < 0) {
		H5Dclose(d);
		d = H5I_INVALID_HID;
	}
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (s >= 0)
		H5Sclose(s);
	return d;
}

/* CF grid-mapping parameters for the projections CF defines; crs_wkt is always written. */
static void cf_grid_mapping(hid_t crs, OGRSpatialReferenceH s)
{
	OGRErr e;
	double a = OSRGetSemiMajor(s, &e), invf = OSRGetInvFlattening(s, &e);
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
		set_text(crs, "grid_mapping_name", "latitude_longitude");
	} else if (proj) {
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(proj, names[i].ogr) == 0)
				cf = names[i].cf;
		if (cf) {
			set_text(crs, "grid_mapping_name", cf);
			set_double(crs, "false_easting", OSRGetProjParm(s, SRS_PP_FALSE_EASTING, 0, &e));
			set_double(crs, "false_northing", OSRGetProjParm(s, SRS_PP_FALSE_NORTHING, 0, &e));
			set_double(crs, "latitude_of_projection_origin",
				   OSRGetProjParm(s, SRS_PP_LATITUDE_OF_ORIGIN, 0, &e));
		}
		if (cf && !strcmp(cf, "transverse_mercator")) {
			set_double(crs, "longitude_of_central_meridian",
				   OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e));
			set_double(crs, "scale_factor_at_central_meridian",
				   OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e));
		} else if (cf && (!strcmp(cf, "albers_conical_equal_area") ||
				  !strcmp(cf, "lambert_conformal_conic"))) {
			double sp[2] = {OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_1, 0, &e),
					OSRGetProjParm(s, SRS_PP_STANDARD_PARALLEL_2, 0, &e)};
			set_nums(crs, "standard_parallel", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, sp);
			set_double(crs, "longitude_of_central_meridian",
				   OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e));
		} else if (cf && !strcmp(cf, "lambert_azimuthal_equal_area")) {
			set_double(crs, "longitude_of_projection_origin",
				   OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e));
		} else if (cf && !strcmp(cf, "mercator")) {
			set_double(crs, "longitude_of_projection_origin",
				   OSRGetProjParm(s, SRS_PP_CENTRAL_MERIDIAN, 0, &e));
			set_double(crs, "scale_factor_at_projection_origin",
				   OSRGetProjParm(s, SRS_PP_SCALE_FACTOR, 1, &e));
		}
	}
	if (OSRIsGeographic(s) || cf) {
		set_double(crs, "semi_major_axis", a);
		set_double(crs, "inverse_flattening", invf);
		set_double(crs, "longitude_of_prime_meridian", OSRGetPrimeMeridian(s, NULL));
	}
}

lode_status lode__bundle_add_raster(lode__bundle *b, const lode_raster_def *def, lode__bvar **out,
				    lode_error *err)
{
	lode__bvar *v = NULL;
	hid_t gcpl = group_cpl(), dcpl = dataset_cpl();
	hid_t xd = H5I_INVALID_HID, yd = H5I_INVALID_HID, bd = H5I_INVALID_HID;
	hid_t crs = H5I_INVALID_HID, sp = H5I_INVALID_HID;
	double *xs = NULL, *ys = NULL;
	int *bs = NULL;
	OGRSpatialReferenceH srs = NULL;
	int geo = 0, rank = def->nbands > 1 ? 3 : 2;
	hsize_t dims[3], chunk[3];
	char gt[256];
	unsigned char fill[8];
	lode_status rc = LODE_OK;

	*out = NULL;
	v = calloc(1, sizeof *v);
	xs = malloc(sizeof *xs * (size_t)def->nx);
	ys = malloc(sizeof *ys * (size_t)def->ny);
	bs = malloc(sizeof *bs * (size_t)def->nbands);
	if (!v || !xs || !ys || !bs || gcpl < 0 || dcpl < 0) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	v->group = v->dset = H5I_INVALID_HID;
	v->dtype = def->dtype;
	v->nbands = def->nbands;
	v->nx = def->nx;
	v->ny = def->ny;
	v->group = H5Gcreate2(b->file, def->name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
	if (v->group < 0) {
		rc = h5err(err, LODE_EIO, "creating the group");
		goto out;
	}

	/* Coordinates: pixel centres of the target grid. */
	for (int i = 0; i < def->nx; i++)
		xs[i] = def->gt[0] + (i + 0.5) * def->gt[1];
	for (int j = 0; j < def->ny; j++)
		ys[j] = def->gt[3] + (j + 0.5) * def->gt[5];
	for (int k = 0; k < def->nbands; k++)
		bs[k] = k + 1;
	srs = OSRNewSpatialReference(NULL);
	if (srs && OSRSetFromUserInput(srs, def->crs_wkt) == OGRERR_NONE)
		geo = OSRIsGeographic(srs);
	if (def->nbands > 1) {
		bd = make_coord(v->group, "band", H5T_STD_I32LE, H5T_NATIVE_INT, (hsize_t)def->nbands, bs);
		if (bd < 0 || set_text(bd, "long_name", "band number") < 0) {
			rc = h5err(err, LODE_EIO, "writing the band coordinate");
			goto out;
		}
	}
	yd = make_coord(v->group, "y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)def->ny, ys);
	xd = make_coord(v->group, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)def->nx, xs);
	if (xd < 0 || yd < 0) {
		rc = h5err(err, LODE_EIO, "writing the x/y coordinates");
		goto out;
	}
	if (geo) {
		set_text(xd, "standard_name", "longitude");
		set_text(xd, "long_name", "longitude");
		set_text(xd, "units", "degrees_east");
		set_text(yd, "standard_name", "latitude");
		set_text(yd, "long_name", "latitude");
		set_text(yd, "units", "degrees_north");
	} else {
		const char *unit = NULL;
		double f = srs ? OSRGetLinearUnits(srs, (char **)&unit) : 1.0;
		set_text(xd, "standard_name", "projection_x_coordinate");
		set_text(xd, "long_name", "x coordinate of projection");
		set_text(yd, "standard_name", "projection_y_coordinate");
		set_text(yd, "long_name", "y coordinate of projection");
		/* UDUNITS names for the linear units CRSs use; anything else is named as the
		   CRS names it and the factor to metres is in crs_wkt. */
		const char *ud = f == 1.0                               ? "m"
				 : fabs(f - 0.3048006096012192) < 1e-15 ? "US_survey_foot"
				 : f == 0.3048                          ? "ft"
				 : f == 1000.0                          ? "km"
									: (unit ? unit : "m");
		set_text(xd, "units", ud);
		set_text(yd, "units", ud);
	}
	set_text(xd, "axis", "X");
	set_text(yd, "axis", "Y");

	/* The grid-mapping variable. */
	sp = H5Screate(H5S_SCALAR);
	crs = sp >= 0 ? H5Dcreate2(v->group, "crs", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
	if (crs < 0) {
		rc = h5err(err, LODE_EIO, "creating the crs variable");
		goto out;
	}
	H5Sclose(sp);
	sp = H5I_INVALID_HID;
	if (srs)
		cf_grid_mapping(crs, srs);
	snprintf(gt, sizeof gt, "%.17g %.17g %.17g %.17g %.17g %.17g", def->gt[0], def->gt[1], def->gt[2],
		 def->gt[3], def->gt[4], def->gt[5]);
	if (set_text(crs, "crs_wkt", def->crs_wkt) < 0 || set_text(crs, "spatial_ref", def->crs_wkt) < 0 ||
	    set_text(crs, "GeoTransform", gt) < 0) {
		rc = h5err(err, LODE_EIO, "writing the crs attributes");
		goto out;
	}

	/* The data variable: chunked, shuffled, deflated, checksummed. */
	dims[0] = (hsize_t)def->nbands;
	dims[1] = (hsize_t)def->ny;
	dims[2] = (hsize_t)def->nx;
	chunk[0] = 1;
	chunk[1] = (hsize_t)(def->ny < def->chunk ? def->ny : def->chunk);
	chunk[2] = (hsize_t)(def->nx < def->chunk ? def->nx : def->chunk);
	sp = H5Screate_simple(rank, rank == 3 ? dims : dims + 1, NULL);
	if (sp < 0 || H5Pset_chunk(dcpl, rank, rank == 3 ? chunk : chunk + 1) < 0 ||
	    H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, DEFLATE_LEVEL) < 0 ||
	    H5Pset_fletcher32(dcpl) < 0) {
		rc = h5err(err, LODE_EINTERNAL, "setting up chunking and compression");
		goto out;
	}
	if (def->has_nodata) {
		to_bytes(def->dtype, def->nodata, fill);
		if (H5Pset_fill_value(dcpl, mem_type(def->dtype), fill) < 0) {
			rc = h5err(err, LODE_EINTERNAL, "setting the fill value");
			goto out;
		}
	}
	v->dset = H5Dcreate2(v->group, def->name, file_type(def->dtype), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (v->dset < 0) {
		rc = h5err(err, LODE_EIO, "creating the data variable");
		goto out;
	}
	if ((def->nbands > 1 && H5DSattach_scale(v->dset, bd, 0) < 0) ||
	    H5DSattach_scale(v->dset, yd, rank - 2) < 0 || H5DSattach_scale(v->dset, xd, rank - 1) < 0) {
		rc = h5err(err, LODE_EIO, "attaching the dimension scales");
		goto out;
	}
	if ((def->has_nodata &&
	     set_nums(v->dset, "_FillValue", file_type(def->dtype), mem_type(def->dtype), 1, fill) < 0) ||
	    set_text(v->dset, "grid_mapping", "crs") < 0 ||
	    set_text(v->dset, "long_name", def->long_name && def->long_name[0] ? def->long_name : def->name) <
		0 ||
	    (def->unit && def->unit[0] && set_text(v->dset, "units", def->unit) < 0)) {
		rc = h5err(err, LODE_EIO, "writing the variable's attributes");
		goto out;
	}
	*out = v;
	v = NULL;
out:
	if (srs)
		OSRDestroySpatialReference(srs);
	if (sp >= 0)
		H5Sclose(sp);
	if (crs >= 0)
		H5Dclose(crs);
	if (xd >= 0)
		H5Dclose(xd);
	if (yd >= 0)
		H5Dclose(yd);
	if (bd >= 0)
		H5Dclose(bd);
	if (gcpl >= 0)
		H5Pclose(gcpl);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	free(xs);
	free(ys);
	free(bs);
	lode__bvar_free(v);
	return rc;
}

lode_status lode__bvar_write_rows(lode__bvar *v, int y0, int ny, const void *buf, lode_error *err)
{
	int rank = v->nbands > 1 ? 3 : 2;
	hsize_t start[3] = {0, (hsize_t)y0, 0}, count[3] = {(hsize_t)v->nbands, (hsize_t)ny, (hsize_t)v->nx};
	hid_t fs = H5Dget_space(v->dset), ms = H5I_INVALID_HID;
	lode_status rc = LODE_OK;

	if (fs < 0 ||
	    H5Sselect_hyperslab(fs, H5S_SELECT_SET, rank == 3 ? start : start + 1, NULL,
				rank == 3 ? count : count + 1, NULL) < 0 ||
	    (ms = H5Screate_simple(rank, rank == 3 ? count : count + 1, NULL)) < 0 ||
	    H5Dwrite(v->dset, mem_type(v->dtype), ms, fs, H5P_DEFAULT, buf) < 0) {
		char what[64];
		snprintf(what, sizeof what, "writing rows %d-%d", y0, y0 + ny - 1);
		rc = h5err(err, LODE_EIO, what);
	}
	if (ms >= 0)
		H5Sclose(ms);
	if (fs >= 0)
		H5Sclose(fs);
	return rc;
}

lode_status lode__bvar_finish(lode__bvar *v, const lode_attr *attrs, size_t n, lode_error *err)
{
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < n && !rc; i++)
		if (set_text(v->dset, attrs[i].key, attrs[i].value) < 0)
			rc = h5err(err, LODE_EIO, attrs[i].key);
	lode__bvar_free(v);
	return rc;
}

void lode__bvar_free(lode__bvar *v)
{
	if (!v)
		return;
	if (v->dset >= 0)
		H5Dclose(v->dset);
	if (v->group >= 0)
		H5Gclose(v->group);
	free(v);
}

lode_status lode__bundle_close(lode__bundle *b, lode_error *err)
{
	lode_status rc = LODE_OK;

	if (!b)
		return LODE_OK;
	if (b->file >= 0) {
		if (H5Fflush(b->file, H5F_SCOPE_GLOBAL) < 0)
			rc = h5err(err, LODE_EIO, "flushing the bundle");
		if (H5Fclose(b->file) < 0 && !rc)
			rc = h5err(err, LODE_EIO, "closing the bundle");
	}
	free(b);
	return rc;
}

/* ---- reading ---- */

lode_status lode__bundle_open(const char *path, lode__bundle **out, lode_error *err)
{
	lode__bundle *b;
	hid_t fapl;
	htri_t is;
	char *fmt;
	struct stat st;

	h5_quiet();
	*out = NULL;
	if (stat(path, &st) != 0)
		return lode__err(err, LODE_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return lode__err(err, LODE_EBUNDLE, "%s: not a regular file", path);
	is = H5Fis_hdf5(path);
	H5Eclear2(H5E_DEFAULT);
	if (is <= 0)
		return lode__err(err, LODE_EBUNDLE,
				 "%s: not an HDF5 file, or truncated or damaged so that HDF5 cannot open it",
				 path);
	b = calloc(1, sizeof *b);
	if (!b)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
	b->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	H5Pclose(fapl);
	if (b->file < 0) {
		lode_status rc = h5err(err, LODE_EBUNDLE, path);
		free(b);
		return lode__err_ctx(err, "cannot open the bundle (truncated or damaged?): ") ? rc : rc;
	}
	fmt = get_text(b->file, "lode_format_version");
	if (!fmt) {
		lode__bundle_close(b, NULL);
		return lode__err(err, LODE_EBUNDLE,
				 "%s: an HDF5 file but not a lode bundle (no lode_format_version attribute)",
				 path);
	}
	free(fmt);
	*out = b;
	return LODE_OK;
}

lode_status lode__bundle_get_attr(lode__bundle *b, const char *key, char **value, lode_error *err)
{
	(void)err;
	*value = get_text(b->file, key);
	return LODE_OK;
}

typedef struct list_ctx {
	char **names;
	size_t n, cap;
	int oom;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
	list_ctx *c = data;
	H5O_info_t oi;

	(void)info;
	if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **nn = realloc(c->names, cap * sizeof *nn);
		if (!nn) {
			c->oom = 1;
			return -1;
		}
		c->names = nn;
		c->cap = cap;
	}
	if (!(c->names[c->n] = lode__strdup(name))) {
		c->oom = 1;
		return -1;
	}
	c->n++;
	return 0;
}

static void parse_gt(const char *s, double gt[6], int *ok)
{
	*ok = s && sscanf(s, "%lf %lf %lf %lf %lf %lf", &gt[0], &gt[1], &gt[2], &gt[3], &gt[4], &gt[5]) == 6;
}

/* Split text (taken, freed) into n lines; missing lines are "".  NULL on ENOMEM. */
static char **split_lines(char *text, int n)
{
	char **out = calloc((size_t)n, sizeof *out);
	const char *p = text;

	for (int i = 0; out && i < n; i++) {
		size_t len = p ? strcspn(p, "\n") : 0;
		if (!(out[i] = lode__sprintf("%.*s", (int)len, p ? p : ""))) {
			for (int j = 0; j < i; j++)
				free(out[j]);
			free(out);
			out = NULL;
			break;
		}
		if (p)
			p = p[len] ? p + len + 1 : NULL;
	}
	free(text);
	return out;
}

static void read_item(hid_t file, const char *name, lode_bundle_item *it)
{
	hid_t g = H5I_INVALID_HID, d = H5I_INVALID_HID, c = H5I_INVALID_HID, t = H5I_INVALID_HID,
	      s = H5I_INVALID_HID;
	hsize_t dims[3];
	int rank, ok;
	char *gts = NULL;

	it->kind = lode__strdup("raster");
	g = H5Gopen2(file, name, H5P_DEFAULT);
	if (g < 0) {
		it->problem = lode__strdup("the group cannot be opened");
		goto out;
	}
	if (H5Lexists(g, name, H5P_DEFAULT) <= 0 || (d = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
		it->problem = lode__sprintf("no data variable '%s' in the group", name);
		goto out;
	}
	t = H5Dget_type(d);
	s = H5Dget_space(d);
	rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
	it->dtype = t >= 0 ? dtype_of(t) : LODE_DT_UNKNOWN;
	if (it->dtype == LODE_DT_UNKNOWN || (rank != 2 && rank != 3) ||
	    H5Sget_simple_extent_dims(s, dims, NULL) < 0) {
		it->problem = lode__strdup("the data variable has an unsupported type or shape");
		goto out;
	}
	if (rank == 3) {
		it->nbands = (int)dims[0];
		it->ny = (int)dims[1];
		it->nx = (int)dims[2];
	} else {
		it->nbands = 1;
		it->ny = (int)dims[0];
		it->nx = (int)dims[1];
	}
	if (dims[rank - 1] > INT32_MAX || dims[rank - 2] > INT32_MAX || (rank == 3 && dims[0] > 65535)) {
		it->problem = lode__strdup("the data variable is implausibly large");
		goto out;
	}
	it->content_sha256 = get_text(d, "lode_content_sha256");
	it->lineage = get_text(d, "lode_lineage");
	it->has_nodata = get_double(d, "_FillValue", &it->nodata) == 0;
	it->band_names = split_lines(get_text(d, "lode_band_names"), it->nbands);
	it->band_units = split_lines(get_text(d, "lode_band_units"), it->nbands);
	if (!it->band_names || !it->band_units) {
		it->problem = lode__strdup("out of memory reading the band names");
		goto out;
	}
	if ((c = H5Dopen2(g, "crs", H5P_DEFAULT)) < 0) {
		it->problem = lode__strdup("no crs variable in the group");
		goto out;
	}
	it->crs_wkt = get_text(c, "crs_wkt");
	gts = get_text(c, "GeoTransform");
	parse_gt(gts, it->gt, &ok);
	if (!it->crs_wkt || !ok)
		it->problem = lode__strdup("the crs variable lacks crs_wkt or GeoTransform");
out:
	H5Eclear2(H5E_DEFAULT);
	free(gts);
	if (c >= 0)
		H5Dclose(c);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (d >= 0)
		H5Dclose(d);
	if (g >= 0)
		H5Gclose(g);
}

lode_status lode__bundle_items(lode__bundle *b, lode_bundle_item **items, size_t *n, lode_error *err)
{
	list_ctx c = {0};
	lode_bundle_item *it = NULL;
	hsize_t idx = 0;

	*items = NULL;
	*n = 0;
	/* Name order works on any HDF5 file; creation order needs the index we always write. */
	if (H5Literate(b->file, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, list_cb, &c) < 0) {
		H5Eclear2(H5E_DEFAULT);
		for (size_t i = 0; i < c.n; i++)
			free(c.names[i]);
		c.n = 0;
		idx = 0;
		if (c.oom || H5Literate(b->file, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c) < 0) {
			for (size_t i = 0; i < c.n; i++)
				free(c.names[i]);
			free(c.names);
			return c.oom ? lode__err(err, LODE_ENOMEM, "out of memory")
				     : h5err(err, LODE_EBUNDLE, "listing the bundle's groups");
		}
	}
	it = calloc(c.n ? c.n : 1, sizeof *it);
	if (!it) {
		for (size_t i = 0; i < c.n; i++)
			free(c.names[i]);
		free(c.names);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < c.n; i++) {
		it[i].name = c.names[i];
		read_item(b->file, c.names[i], &it[i]);
	}
	free(c.names);
	*items = it;
	*n = c.n;
	return LODE_OK;
}

void lode__bundle_items_free(lode_bundle_item *items, size_t n)
{
	for (size_t i = 0; i < n && items; i++) {
		free(items[i].name);
		free(items[i].kind);
		free(items[i].crs_wkt);
		free(items[i].content_sha256);
		free(items[i].lineage);
		free(items[i].problem);
		for (int k = 0; k < items[i].nbands; k++) {
			if (items[i].band_names)
				free(items[i].band_names[k]);
			if (items[i].band_units)
				free(items[i].band_units[k]);
		}
		free(items[i].band_names);
		free(items[i].band_units);
	}
	free(items);
}

lode_status lode__bundle_read_rows(lode__bundle *b, const lode_bundle_item *item, int band, int y0, int ny,
				   void *buf, lode_error *err)
{
	char path[300];
	hid_t d, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
	int rank = item->nbands > 1 ? 3 : 2;
	hsize_t start[3] = {(hsize_t)band - 1, (hsize_t)y0, 0},
		count[3] = {1, (hsize_t)ny, (hsize_t)item->nx};
	lode_status rc = LODE_OK;

	snprintf(path, sizeof path, "%s/%s", item->name, item->name);
	d = H5Dopen2(b->file, path, H5P_DEFAULT);
	if (d < 0)
		return h5err(err, LODE_EDAMAGED, "opening the data variable");
	fs = H5Dget_space(d);
	if (fs < 0 ||
	    H5Sselect_hyperslab(fs, H5S_SELECT_SET, rank == 3 ? start : start + 1, NULL,
				rank == 3 ? count : count + 1, NULL) < 0 ||
	    (ms = H5Screate_simple(rank, rank == 3 ? count : count + 1, NULL)) < 0 ||
	    H5Dread(d, mem_type(item->dtype), ms, fs, H5P_DEFAULT, buf) < 0) {
		char what[96];
		snprintf(what, sizeof what, "reading band %d rows %d-%d (a chunk is damaged)", band, y0,
			 y0 + ny - 1);
		rc = h5err(err, LODE_EDAMAGED, what);
	}
	if (ms >= 0)
		H5Sclose(ms);
	if (fs >= 0)
		H5Sclose(fs);
	H5Dclose(d);
	return rc;
}

int lode__bundle_chunk_rows(lode__bundle *b, const lode_bundle_item *item)
{
	char path[300];
	hid_t d, p;
	hsize_t chunk[3] = {0, 0, 0};
	int rank = item->nbands > 1 ? 3 : 2, rows = 256;

	snprintf(path, sizeof path, "%s/%s", item->name, item->name);
	d = H5Dopen2(b->file, path, H5P_DEFAULT);
	if (d < 0) {
		H5Eclear2(H5E_DEFAULT);
		return rows;
	}
	p = H5Dget_create_plist(d);
	if (p >= 0 && H5Pget_layout(p) == H5D_CHUNKED && H5Pget_chunk(p, rank, chunk) == rank &&
	    chunk[rank - 2] > 0 && chunk[rank - 2] <= 65536)
		rows = (int)chunk[rank - 2];
	if (p >= 0)
		H5Pclose(p);
	H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return rows;
}

lode_status lode__bundle_read_coords(lode__bundle *b, const lode_bundle_item *item, double **xs, double **ys,
				     lode_error *err)
{
	const char *names[2] = {"x", "y"};
	int counts[2] = {item->nx, item->ny};
	double **outs[2] = {xs, ys};
	lode_status rc = LODE_OK;

	*xs = *ys = NULL;
	for (int k = 0; k < 2 && !rc; k++) {
		char path[300];
		hid_t d, s;
		hsize_t n = 0;

		snprintf(path, sizeof path, "%s/%s", item->name, names[k]);
		d = H5Dopen2(b->file, path, H5P_DEFAULT);
		s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
		if (d < 0 || s < 0 || H5Sget_simple_extent_ndims(s) != 1 ||
		    H5Sget_simple_extent_dims(s, &n, NULL) < 0 || n != (hsize_t)counts[k]) {
			rc = lode__err(err, LODE_EDAMAGED,
				       "the %s coordinate variable is missing or has the wrong length",
				       names[k]);
		} else if (!(*outs[k] = malloc(sizeof(double) * (size_t)n))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		} else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *outs[k]) < 0) {
			rc = h5err(err, LODE_EDAMAGED, names[k]);
		}
		if (s >= 0)
			H5Sclose(s);
		if (d >= 0)
			H5Dclose(d);
	}
	H5Eclear2(H5E_DEFAULT);
	if (rc) {
		free(*xs);
		free(*ys);
		*xs = *ys = NULL;
	}
	return rc;
}

typedef struct attr_list {
	lode_kv *kv;
	size_t n, cap;
	int failed;
} attr_list;

/* An attribute's value as text: strings as they are, numbers as %.17g joined by ",". */
static char *attr_text(hid_t obj, const char *name)
{
	hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
	char *out = NULL;
	hssize_t np;
	H5T_class_t cls;

	if (a < 0)
		goto out;
	t = H5Aget_type(a);
	s = H5Aget_space(a);
	cls = H5Tget_class(t);
	if (cls == H5T_STRING) {
		H5Aclose(a);
		a = H5I_INVALID_HID;
		out = get_text(obj, name);
		goto out;
	}
	np = H5Sget_simple_extent_npoints(s);
	if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && np >= 0 && np <= 100000) {
		double *v = malloc(sizeof(double) * (size_t)(np ? np : 1));
		size_t cap = (size_t)np * 26 + 1;
		if (v && (out = calloc(1, cap)) && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) {
			for (hssize_t i = 0; i < np; i++)
				snprintf(out + strlen(out), cap - strlen(out), "%s%.17g", i ? "," : "", v[i]);
		}
		free(v);
	} else {
		out = lode__strdup("(unsupported attribute type)");
	}
out:
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	if (a >= 0)
		H5Aclose(a);
	H5Eclear2(H5E_DEFAULT);
	return out;
}

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
	attr_list *l = data;

	(void)info;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		lode_kv *kv = realloc(l->kv, cap * sizeof *kv);
		if (!kv) {
			l->failed = 1;
			return -1;
		}
		l->kv = kv;
		l->cap = cap;
	}
	l->kv[l->n].key = lode__strdup(name);
	l->kv[l->n].value = attr_text(obj, name);
	if (!l->kv[l->n].key || !l->kv[l->n].value) {
		free(l->kv[l->n].key);
		free(l->kv[l->n].value);
		l->failed = 1;
		return -1;
	}
	l->n++;
	return 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const lode_kv *)a)->key, ((const lode_kv *)b)->key);
}

lode_status lode__bundle_root_attrs(lode__bundle *b, lode_kv **attrs, size_t *n, lode_error *err)
{
	attr_list l = {NULL, 0, 0, 0};
	hsize_t idx = 0;

	*attrs = NULL;
	*n = 0;
	if (H5Aiterate2(b->file, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &l) < 0 || l.failed) {
		lode__kv_free(l.kv, l.n);
		H5Eclear2(H5E_DEFAULT);
		return lode__err(err, LODE_EBUNDLE, "the bundle's global attributes cannot be read");
	}
	qsort(l.kv, l.n, sizeof *l.kv, kv_cmp);
	*attrs = l.kv;
	*n = l.n;
	return LODE_OK;
}

void lode__kv_free(lode_kv *kv, size_t n)
{
	for (size_t i = 0; i < n && kv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}
