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
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <jansson.h>
#include <ogr_srs_api.h>

#include "lode_internal.h"

#define MAX_ATTR_BYTES (64u << 20) /* refuse to read larger attributes from a bundle */
/* Level 1: on survey grids libdeflate at level 1 compresses about as well as zlib at 6,
   several times faster (docs/performance.md). */
#define DEFLATE_LEVEL 1
#define COLUMN_CHUNK  65536 /* values per chunk of a vector layer's columns */

struct lode__bundle {
	hid_t file;
	int threads;       /* for compressing vector columns; 0: one per core */
	int sync_fd;       /* a copy of the file's descriptor being synced, or -1 */
	pthread_t syncing; /* its fdatasync, while the rest is written */
};

struct lode__bvar {
	hid_t group, dset;
	lode_dtype dtype;
	int nbands, nx, ny;
	int chunk_rows, chunk_cols;
	unsigned char fill[8];
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
	if (e->desc && e->desc[0]) {
		snprintf(w->msg, sizeof w->msg, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
		/* Some HDF5 messages span lines ("..., time = ...\n"): keep errors on one. */
		for (char *p = w->msg; *p; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
	}
	return 0;
}

/*
 * Every HDF5 API call clears the error stack on entry, so a helper that closes handles
 * after a failure first saves the message here; h5err falls back to it.
 */
static h5_walk saved_h5;

static void save_h5(void)
{
	if (getenv("LODE_DEBUG_HDF5")) /* for developers: the whole HDF5 error stack */
		H5Eprint2(H5E_DEFAULT, stderr);
	saved_h5.msg[0] = '\0';
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &saved_h5);
}

/* Record an HDF5 failure: the context plus the innermost message on HDF5's stack. */
static lode_status h5err(lode_error *err, lode_status code, const char *what)
{
	h5_walk w = {""};

	if (getenv("LODE_DEBUG_HDF5"))
		H5Eprint2(H5E_DEFAULT, stderr);
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
	if (!w.msg[0] && saved_h5.msg[0])
		w = saved_h5;
	saved_h5.msg[0] = '\0';
	H5Eclear2(H5E_DEFAULT);
	return lode__err(err, code, "%s: %s", what, w.msg[0] ? w.msg : "HDF5 error");
}

static void h5_quiet(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	/* No clean-up at exit: after a failed write (a full disk) HDF5 keeps the file
	   open, and its exit handler would crash flushing it again.  lode closes every
	   file it opens and removes a failed bundle itself.  Must precede any HDF5 call. */
	H5dont_atexit();
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

/* Convert a double to the bytes of type t (for fill values), with HDF5's conversion. */
static void to_bytes(lode_dtype t, double v, unsigned char out[8])
{
	double buf[1] = {v};

	memset(out, 0, 8);
	if (H5Tconvert(H5T_NATIVE_DOUBLE, mem_type(t), 1, buf, NULL, H5P_DEFAULT) >= 0)
		memcpy(out, buf, lode__dtype_size(t));
	H5Eclear2(H5E_DEFAULT);
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
	b->sync_fd = -1;
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

lode_status lode__bundle_set_attrs(lode__bundle *b, const char *path, const lode_attr *attrs, size_t n,
				   lode_error *err)
{
	hid_t o = H5Oopen(b->file, path ? path : "/", H5P_DEFAULT); /* a group or a variable */
	lode_status rc = LODE_OK;

	if (o < 0)
		return h5err(err, LODE_EIO, "opening an object to write attributes");
	for (size_t i = 0; i < n; i++) {
		if (set_text(o, attrs[i].key, attrs[i].value) < 0) {
			rc = h5err(err, LODE_EIO, attrs[i].key);
			break;
		}
	}
	H5Oclose(o);
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
		save_h5();
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

/* UDUNITS names for the linear units CRSs use; anything else is named as the CRS
   names it, and the factor to metres is in crs_wkt. */
static const char *udunits(double to_metre, const char *name)
{
	return to_metre == 1.0                               ? "m"
	       : fabs(to_metre - 0.3048006096012192) < 1e-15 ? "US_survey_foot"
	       : to_metre == 0.3048                          ? "ft"
	       : to_metre == 1000.0                          ? "km"
							     : (name ? name : "m");
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
	v->chunk_rows = def->ny < def->chunk ? def->ny : def->chunk;
	v->chunk_cols = def->nx < def->chunk ? def->nx : def->chunk;
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
		const char *ud = udunits(f, unit);
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
		memcpy(v->fill, fill, sizeof v->fill);
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

void lode__bvar_chunk(const lode__bvar *v, int *rows, int *cols)
{
	*rows = v->chunk_rows;
	*cols = v->chunk_cols;
}

void lode__bvar_fill(const lode__bvar *v, unsigned char out[8])
{
	memcpy(out, v->fill, 8);
}

int lode__bundle_deflate_level(void)
{
	return DEFLATE_LEVEL;
}

lode_status lode__bvar_write_chunk(lode__bvar *v, int band0, int y0, int x0, const void *encoded, size_t len,
				   lode_error *err)
{
	hsize_t off[3] = {(hsize_t)band0, (hsize_t)y0, (hsize_t)x0};
	int rank = v->nbands > 1 ? 3 : 2;

	/* Filter mask 0: every filter of the pipeline was applied (by lode__chunk_encode). */
	if (H5Dwrite_chunk(v->dset, H5P_DEFAULT, 0, rank == 3 ? off : off + 1, len, encoded) < 0) {
		char what[96];
		snprintf(what, sizeof what, "writing the chunk at band %d, row %d, column %d", band0 + 1, y0,
			 x0);
		return h5err(err, LODE_EIO, what);
	}
	return LODE_OK;
}

/* The filter ids of a dataset's pipeline, in order; -1 on failure. */
static int filter_ids(hid_t dset, H5Z_filter_t ids[8])
{
	hid_t p = H5Dget_create_plist(dset);
	int n = p >= 0 ? H5Pget_nfilters(p) : -1;

	if (n < 0 || n > 8)
		n = -1;
	for (int i = 0; i < n; i++) {
		unsigned flags, cd[8];
		size_t ncd = 8;
		ids[i] = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, 0, NULL, NULL);
	}
	if (p >= 0)
		H5Pclose(p);
	return n;
}

lode_status lode__bvar_copy_chunks(lode__bvar *v, lode__bundle *src, const lode_bundle_item *item, int y0,
				   lode_error *err)
{
	char path[300];
	hid_t d = H5I_INVALID_HID, p = H5I_INVALID_HID;
	int rank = v->nbands > 1 ? 3 : 2, nf, nf2;
	hsize_t chunk[3] = {0, 0, 0};
	H5Z_filter_t f1[8], f2[8];
	size_t esize = H5Tget_size(mem_type(v->dtype)), cap;
	unsigned char *buf = NULL;
	lode_status rc = LODE_OK;

	if (item->dtype != v->dtype || item->nbands != v->nbands || item->nx != v->nx || y0 < 0 ||
	    y0 % v->chunk_rows != 0 || item->ny > v->ny - y0)
		return lode__err(
		    err, LODE_EBUNDLE,
		    "'%s' does not fit the dataset it is copied into (type, bands, width or rows)",
		    item->name);
	snprintf(path, sizeof path, "%s/%s", item->name, item->name);
	d = H5Dopen2(src->file, path, H5P_DEFAULT);
	if (d < 0)
		return h5err(err, LODE_EBUNDLE, "opening the data variable to copy");
	p = H5Dget_create_plist(d);
	nf = filter_ids(d, f1);
	nf2 = filter_ids(v->dset, f2);
	if (p < 0 || H5Pget_layout(p) != H5D_CHUNKED || H5Pget_chunk(p, rank, chunk) != rank ||
	    chunk[rank - 2] != (hsize_t)v->chunk_rows || chunk[rank - 1] != (hsize_t)v->chunk_cols ||
	    (rank == 3 && chunk[0] != 1) || nf < 0 || nf != nf2 ||
	    memcmp(f1, f2, sizeof *f1 * (size_t)nf) != 0) {
		rc = lode__err(err, LODE_EBUNDLE,
			       "'%s' is not chunked and filtered as lode writes rasters, so its chunks "
			       "cannot be copied as they are",
			       item->name);
		goto out;
	}
	/* A compressed chunk is at most a little larger than the raw one. */
	cap = (size_t)v->chunk_rows * (size_t)v->chunk_cols * esize * 2 + 4096;
	if (!(buf = malloc(cap))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int b = 0; b < v->nbands && !rc; b++)
		for (int r = 0; r < item->ny && !rc; r += v->chunk_rows)
			for (int c = 0; c < v->nx && !rc; c += v->chunk_cols) {
				hsize_t from[3] = {(hsize_t)b, (hsize_t)r, (hsize_t)c},
					to[3] = {(hsize_t)b, (hsize_t)(y0 + r), (hsize_t)c}, size = 0;
				uint32_t mask = 0;
				char what[128];

				lode__heartbeat();
				if (H5Dget_chunk_storage_size(d, rank == 3 ? from : from + 1, &size) < 0 ||
				    size == 0 || size > cap ||
				    H5Dread_chunk(d, H5P_DEFAULT, rank == 3 ? from : from + 1, &mask, buf) <
					0) {
					snprintf(
					    what, sizeof what,
					    "reading the stored chunk at band %d, row %d, column %d of '%s'",
					    b + 1, r, c, item->name);
					rc = h5err(err, LODE_EBUNDLE, what);
				} else if (H5Dwrite_chunk(v->dset, H5P_DEFAULT, mask, rank == 3 ? to : to + 1,
							  (size_t)size, buf) < 0) {
					snprintf(what, sizeof what,
						 "writing the chunk at band %d, row %d, column %d", b + 1,
						 y0 + r, c);
					rc = h5err(err, LODE_EIO, what);
				}
			}
out:
	free(buf);
	if (p >= 0)
		H5Pclose(p);
	H5Dclose(d);
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

static void end_writeback(lode__bundle *b);

lode_status lode__bundle_close(lode__bundle *b, lode_error *err)
{
	lode_status rc = LODE_OK;

	if (!b)
		return LODE_OK;
	end_writeback(b);
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

static lode_status open_bundle(const char *path, int writable, lode__bundle **out, lode_error *err);

lode_status lode__bundle_open(const char *path, lode__bundle **out, lode_error *err)
{
	return open_bundle(path, 0, out, err);
}

lode_status lode__bundle_open_rw(const char *path, lode__bundle **out, lode_error *err)
{
	return open_bundle(path, 1, out, err);
}

static lode_status open_bundle(const char *path, int writable, lode__bundle **out, lode_error *err)
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
	b->sync_fd = -1;
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
	b->file = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
	H5Pclose(fapl);
	if (b->file < 0) {
		lode_status rc = h5err(err, LODE_EBUNDLE, path);
		int fd = open(path, O_RDONLY), locked = 0;
		/* HDF5 locks files it opens (unless HDF5_USE_FILE_LOCKING=FALSE): say so plainly. */
		if (fd >= 0) {
			locked =
			    flock(fd, (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 && errno == EWOULDBLOCK;
			close(fd);
		}
		free(b);
		if (locked)
			return lode__err(
			    err, LODE_EIO,
			    "%s: locked by another process (HDF5 file locking); if no other program "
			    "is writing it, the file system may not support locking: set "
			    "HDF5_USE_FILE_LOCKING=FALSE",
			    path);
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
	unsigned char *vector; /* 1 for a vector layer's geometry container */
	size_t n, cap;
	int oom;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
	list_ctx *c = data;
	H5O_info_t oi;

	int vec;

	(void)info;
	if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
		return 0;
	/* Rasters are groups; vector layers are the root variables marked as lode layers. */
	vec = oi.type == H5O_TYPE_DATASET &&
	      H5Aexists_by_name(g, name, "lode_ogr_geometry_type", H5P_DEFAULT) > 0;
	H5Eclear2(H5E_DEFAULT);
	if (oi.type != H5O_TYPE_GROUP && !vec)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **nn = realloc(c->names, cap * sizeof *nn);
		unsigned char *nv = nn ? realloc(c->vector, cap) : NULL;
		if (nn)
			c->names = nn;
		if (!nn || !nv) {
			c->oom = 1;
			return -1;
		}
		c->vector = nv;
		c->cap = cap;
	}
	c->vector[c->n] = (unsigned char)vec;
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
	lode__heartbeat();

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
	it->source = get_text(d, "source");
	it->units = get_text(d, "units");
	it->long_name = get_text(d, "long_name");
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

static void read_vector_item(hid_t file, const char *name, lode_bundle_item *it);

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
			free(c.vector);
			return c.oom ? lode__err(err, LODE_ENOMEM, "out of memory")
				     : h5err(err, LODE_EBUNDLE, "listing the bundle's groups");
		}
	}
	it = calloc(c.n ? c.n : 1, sizeof *it);
	if (!it) {
		for (size_t i = 0; i < c.n; i++)
			free(c.names[i]);
		free(c.names);
		free(c.vector);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < c.n; i++) {
		it[i].name = c.names[i];
		if (c.vector[i])
			read_vector_item(b->file, c.names[i], &it[i]);
		else
			read_item(b->file, c.names[i], &it[i]);
	}
	free(c.names);
	free(c.vector);
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
		free(items[i].geometry_type);
		free(items[i].source);
		free(items[i].units);
		free(items[i].long_name);
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
	lode__heartbeat();

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
		if (!out) /* a string array or another form lode does not write */
			out = lode__strdup("(unsupported attribute type)");
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

/* ---- vector layers: CF-1.8 simple geometries at the root ---- */

#define MAX_VECTOR_ELEMS ((hsize_t)1 << 34) /* refuse implausible sizes read from a bundle */

/* A dimension with no variable of its name, the way netCDF-4 stores one. */
static hid_t make_pure_dim(hid_t loc, const char *name, hsize_t n)
{
	hsize_t max = H5S_UNLIMITED, chunk = 1;
	hid_t s = H5Screate_simple(1, &n, &max), p = dataset_cpl(), d = H5I_INVALID_HID;
	char label[128];

	if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0)
		d = H5Dcreate2(loc, name, H5T_IEEE_F32BE, s, H5P_DEFAULT, p, H5P_DEFAULT);
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)n);
	if (d >= 0 && H5DSset_scale(d, label) < 0) {
		H5Dclose(d);
		d = H5I_INVALID_HID;
	}
	if (p >= 0)
		H5Pclose(p);
	if (s >= 0)
		H5Sclose(s);
	return d;
}

/*
 * Compressing a vector column's chunks: every chunk is encoded by lode__chunk_encode
 * (shuffle, libdeflate at DEFLATE_LEVEL, Fletcher32: the dataset's own filter pipeline)
 * on up to one thread per core, and the calling thread stores them in order with
 * H5Dwrite_chunk (HDF5 is only called from the calling thread).  A reader inflates them
 * with HDF5's stock filters, as it does raster chunks.  The last chunk is padded to the
 * full chunk with the fill value, as HDF5 itself pads a partial edge chunk.
 */
typedef struct col_job {
	const unsigned char *data; /* n elements of esz bytes */
	size_t n, esz, chunk, nchunks;
	unsigned char pad[8]; /* one element of padding */
	unsigned char **enc;  /* nchunks encoded chunks */
	size_t *len;
	size_t next; /* next chunk to encode, under mu */
	int failed;
	lode_error err; /* the first failure */
	pthread_mutex_t mu;
} col_job;

static void col_encode_some(col_job *j)
{
	unsigned char *padded = NULL;

	for (;;) {
		size_t i, first, cnt;
		const unsigned char *src;
		lode_error e = {0};

		pthread_mutex_lock(&j->mu);
		i = j->failed ? j->nchunks : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->nchunks)
			break;
		first = i * j->chunk;
		cnt = j->n - first < j->chunk ? j->n - first : j->chunk;
		src = j->data + first * j->esz;
		if (cnt < j->chunk) {
			if (!padded && !(padded = malloc(j->chunk * j->esz))) {
				lode__err(&e, LODE_ENOMEM, "out of memory compressing a column");
				goto fail;
			}
			memcpy(padded, src, cnt * j->esz);
			for (size_t k = cnt; k < j->chunk; k++)
				memcpy(padded + k * j->esz, j->pad, j->esz);
			src = padded;
		}
		if (lode__chunk_encode(src, j->chunk * j->esz, j->esz, DEFLATE_LEVEL, &j->enc[i], &j->len[i],
				       &e) == LODE_OK)
			continue;
	fail:
		pthread_mutex_lock(&j->mu);
		if (!j->failed) {
			j->failed = 1;
			j->err = e;
		}
		pthread_mutex_unlock(&j->mu);
		break;
	}
	free(padded);
}

static void *col_worker(void *arg)
{
	col_encode_some(arg);
	lode__chunk_codec_thread_done();
	return NULL;
}

/* Threads for write_column_chunks, set by lode__bundle_add_vector (HDF5 calls, and so
   this, stay on one thread). */
static int column_threads;

/* Compress and store the values of the filtered 1-D dataset d (n values in chunks of
   chunk) from chunk first on (the chunks before it are stored already). */
static int write_column_chunks(hid_t d, const void *values, size_t n, size_t esz, size_t chunk,
			       const void *fill, size_t first)
{
	col_job j = {0};
	pthread_t th[16];
	int nth = 0, want, ok = 1;

	j.data = values;
	j.n = n;
	j.esz = esz;
	j.chunk = chunk;
	j.nchunks = (n + chunk - 1) / chunk;
	if (first >= j.nchunks) /* all stored already */
		return first == j.nchunks ? 0 : -1;
	if (fill)
		memcpy(j.pad, fill, esz);
	j.enc = calloc(j.nchunks, sizeof *j.enc);
	j.len = calloc(j.nchunks, sizeof *j.len);
	if (!j.enc || !j.len) {
		free(j.enc);
		free(j.len);
		return -1;
	}
	j.next = first;
	pthread_mutex_init(&j.mu, NULL);
	want = column_threads > 0 ? column_threads : lode__default_threads();
	if (want > 16)
		want = 16;
	if ((size_t)want > j.nchunks - first)
		want = (int)(j.nchunks - first);
	for (int t = 1; t < want; t++)
		if (pthread_create(&th[nth], NULL, col_worker, &j) == 0)
			nth++;
	col_encode_some(&j);
	for (int t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.failed)
		ok = 0;
	for (size_t i = first; i < j.nchunks; i++) {
		hsize_t off = (hsize_t)(i * chunk);
		/* Filter mask 0: every filter of the pipeline was applied. */
		if (ok && H5Dwrite_chunk(d, H5P_DEFAULT, 0, &off, j.len[i], j.enc[i]) < 0)
			ok = 0;
		free(j.enc[i]);
	}
	free(j.enc);
	free(j.len);
	return ok ? 0 : -1;
}

/* The chunk of a vector column of n values. */
static hsize_t column_chunk(hsize_t n)
{
	return n < COLUMN_CHUNK ? (n ? n : 1) : COLUMN_CHUNK;
}

/* A new 1-D chunked column of n values (none written), filtered unless its type is a
   variable-length string. */
static hid_t new_column(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, hsize_t chunk,
			const void *fill)
{
	hsize_t max = H5S_UNLIMITED;
	hid_t s = H5Screate_simple(1, &n, &max), p = dataset_cpl(), d = H5I_INVALID_HID;

	/* HDF5 cannot filter variable-length strings (the heap holds the text). */
	if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0 &&
	    (H5Tis_variable_str(ftype) > 0 ||
	     (H5Pset_shuffle(p) >= 0 && H5Pset_deflate(p, DEFLATE_LEVEL) >= 0 &&
	      H5Pset_fletcher32(p) >= 0)) &&
	    (!fill || H5Pset_fill_value(p, mtype, fill) >= 0))
		d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
	if (p >= 0)
		H5Pclose(p);
	if (s >= 0)
		H5Sclose(s);
	return d;
}

/*
 * A 1-D chunked, compressed variable of n values along dimension scale dim (or, when
 * dim is negative, itself a coordinate variable: the dimension of its own name).
 * Unlimited, so that empty layers are valid netCDF-4.  fill may be NULL.
 */
static hid_t make_column(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *values,
			 hid_t dim, const void *fill)
{
	hsize_t chunk = column_chunk(n);
	hid_t d = new_column(loc, name, ftype, mtype, n, chunk, fill);
	int filters = H5Tis_variable_str(ftype) <= 0;
	size_t esz = filters ? H5Tget_size(ftype) : 0;
	int ok = 0;

	if (d < 0)
		goto out;
	/* Numeric columns: the memory type is the file type (little-endian, native here). */
	if (n && filters && esz >= 1 && esz <= 8 && H5Tget_size(mtype) == esz) {
		if (write_column_chunks(d, values, (size_t)n, esz, (size_t)chunk, fill, 0) < 0)
			goto out;
	} else if (n && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
		goto out;
	}
	if (dim < 0 ? H5DSset_scale(d, name) < 0 : H5DSattach_scale(d, dim, 0) < 0)
		goto out;
	ok = 1;
out:
	if (!ok)
		save_h5();
	if (!ok && d >= 0) {
		H5Dclose(d);
		d = H5I_INVALID_HID;
	}
	return d;
}

/* A fill value for a numeric column that none of its real values equals. */
static void choose_fill(const lode_vfield *f, size_t n, unsigned char out[8])
{
	memset(out, 0, 8);
	switch (f->type) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: {
		int32_t c = -2147483647; /* netCDF's default */
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const int32_t *)f->values)[k] == c) {
					c--;
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 4);
		break;
	}
	case LODE_FT_INT64: {
		int64_t c = -9223372036854775806LL;
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const int64_t *)f->values)[k] == c) {
					c = c == INT64_MIN ? INT64_MAX : c - 1;
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 8);
		break;
	}
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: {
		double c = 9.9692099683868690e+36;
		for (int again = 1; again;) {
			again = 0;
			for (size_t k = 0; k < n; k++)
				if (!f->isnull[k] && ((const double *)f->values)[k] == c) {
					c = nextafter(c, HUGE_VAL);
					again = 1;
					break;
				}
		}
		memcpy(out, &c, 8);
		break;
	}
	case LODE_FT_BOOL: {
		int8_t c = -127;
		memcpy(out, &c, 1);
		break;
	}
	default: break;
	}
}

static hid_t field_ftype(lode_ftype t)
{
	switch (t) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: return H5T_STD_I32LE;
	case LODE_FT_INT64: return H5T_STD_I64LE;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: return H5T_IEEE_F64LE;
	case LODE_FT_BOOL: return H5T_STD_I8LE;
	default: return H5I_INVALID_HID;
	}
}

static hid_t field_mtype(lode_ftype t)
{
	switch (t) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: return H5T_NATIVE_INT32;
	case LODE_FT_INT64: return H5T_NATIVE_INT64;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: return H5T_NATIVE_DOUBLE;
	case LODE_FT_BOOL: return H5T_NATIVE_INT8;
	default: return H5I_INVALID_HID;
	}
}

static hid_t vlen_string_type(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
		H5Tclose(t);
		t = H5I_INVALID_HID;
	}
	return t;
}

static lode_status write_field(hid_t root, const char *layer, const lode_vfield *f, size_t n, hid_t dim,
			       lode_error *err)
{
	char *vname = lode__sprintf("%s_field_%s", layer, f->var);
	hid_t d = H5I_INVALID_HID, st = H5I_INVALID_HID;
	unsigned char fill[8];
	int64_t *nulls = NULL;
	void *values = f->values;
	unsigned char *filled = NULL;
	lode_status rc = LODE_OK;

	if (!vname)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (f->type == LODE_FT_STRING) {
		st = vlen_string_type();
		d = st >= 0 ? make_column(root, vname, st, st, n, f->values, dim, NULL) : -1;
	} else {
		size_t sz = lode__ftype_size(f->type);
		choose_fill(f, n, fill);
		/* Null slots hold the fill value, which GDAL and netCDF readers show as null. */
		if (f->nnull) {
			filled = malloc(n * sz);
			if (!filled) {
				rc = lode__err(err, LODE_ENOMEM, "out of memory");
				goto out;
			}
			memcpy(filled, f->values, n * sz);
			for (size_t k = 0; k < n; k++)
				if (f->isnull[k])
					memcpy(filled + k * sz, fill, sz);
			values = filled;
		}
		d = make_column(root, vname, field_ftype(f->type), field_mtype(f->type), n, values, dim,
				fill);
		if (d >= 0 &&
		    set_nums(d, "_FillValue", field_ftype(f->type), field_mtype(f->type), 1, fill) < 0)
			goto h5fail;
	}
	if (d < 0)
		goto h5fail;
	if (set_text(d, "long_name", f->name) < 0 || set_text(d, "geometry", layer) < 0 ||
	    set_text(d, "ogr_field_name", f->name) < 0 ||
	    set_text(d, "ogr_field_type", lode__ftype_name(f->type)) < 0)
		goto h5fail;
	if (f->width > 0 && set_nums(d, "ogr_field_width", H5T_STD_I32LE, H5T_NATIVE_INT, 1, &f->width) < 0)
		goto h5fail;
	if (f->type == LODE_FT_DATE && set_text(d, "units", "days since 1970-01-01") < 0)
		goto h5fail;
	if (f->type == LODE_FT_DATETIME && set_text(d, "units", "seconds since 1970-01-01 00:00:00") < 0)
		goto h5fail;
	if (f->nnull) {
		size_t j = 0;
		nulls = malloc(f->nnull * sizeof *nulls);
		if (!nulls) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++)
			if (f->isnull[k])
				nulls[j++] = (int64_t)k;
		if (set_nums(d, "lode_nulls", H5T_STD_I64LE, H5T_NATIVE_INT64, j, nulls) < 0)
			goto h5fail;
	}
	goto out;
h5fail:
	rc = h5err(err, LODE_EIO, vname);
out:
	free(nulls);
	free(filled);
	free(vname);
	if (st >= 0)
		H5Tclose(st);
	if (d >= 0)
		H5Dclose(d);
	return rc;
}

void lode__bundle_set_threads(lode__bundle *b, int threads)
{
	b->threads = threads;
}

/* Put what the bundle holds so far on disk on another thread (fdatasync of a copy of the
   descriptor; the bundle uses HDF5's default sec2 driver, whose handle is an int) while
   the rest is written, so that the fsync before the bundle gets its name has only the
   rest left to wait for; lode__bundle_close waits for it. */
static void *sync_main(void *arg)
{
	fdatasync(*(int *)arg);
	return NULL;
}

void lode__bundle_writeback(lode__bundle *b)
{
	int *fd = NULL;

	if (b->sync_fd >= 0) { /* one still running: start another only once it is done */
		if (pthread_tryjoin_np(b->syncing, NULL) != 0)
			return;
		close(b->sync_fd);
		b->sync_fd = -1;
	}
	if (H5Fget_vfd_handle(b->file, H5P_DEFAULT, (void **)&fd) < 0 || !fd || *fd < 0 ||
	    (b->sync_fd = dup(*fd)) < 0)
		return;
	if (pthread_create(&b->syncing, NULL, sync_main, &b->sync_fd) != 0) {
		close(b->sync_fd);
		b->sync_fd = -1;
	}
}

static void end_writeback(lode__bundle *b)
{
	if (b->sync_fd < 0)
		return;
	pthread_join(b->syncing, NULL);
	close(b->sync_fd);
	b->sync_fd = -1;
}

/* ---- vector layers ---- */

/* The names of a layer's variables: NAME_ and what they hold. */
typedef struct layer_names {
	char nodes[160], count[160], parts[160], ring[160], x[160], y[160], z[160], crs[160];
} layer_names;

static void name_layer(layer_names *n, const char *name)
{
	snprintf(n->nodes, sizeof n->nodes, "%s_node_coordinates", name);
	snprintf(n->count, sizeof n->count, "%s_node_count", name);
	snprintf(n->parts, sizeof n->parts, "%s_part_node_count", name);
	snprintf(n->ring, sizeof n->ring, "%s_interior_ring", name);
	snprintf(n->x, sizeof n->x, "%s_coordX", name);
	snprintf(n->y, sizeof n->y, "%s_coordY", name);
	snprintf(n->z, sizeof n->z, "%s_coordZ", name);
	snprintf(n->crs, sizeof n->crs, "%s_crs", name);
}

/* The head of a layer, in this order: its grid mapping variable, its node dimension
   (n nodes) and x and y along it with their CF attributes (chunks of chunk values, none
   written yet).  h: crs, nodes, x, y; closed by the caller. */
static int make_head(hid_t root, const layer_names *nm, const char *crs_wkt, hsize_t n, hsize_t chunk,
		     hid_t h[4])
{
	OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
	hid_t sp = H5Screate(H5S_SCALAR), dcpl = dataset_cpl();
	const char *unit = NULL;
	double f = 1.0;
	int ok = 0, geo = 0;

	h[0] = h[1] = h[2] = h[3] = H5I_INVALID_HID;
	if (srs && OSRSetFromUserInput(srs, crs_wkt) != OGRERR_NONE) {
		OSRDestroySpatialReference(srs);
		srs = NULL;
	}
	if (srs && !(geo = OSRIsGeographic(srs)))
		f = OSRGetLinearUnits(srs, (char **)&unit);
	h[0] = sp >= 0 && dcpl >= 0
		   ? H5Dcreate2(root, nm->crs, H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)
		   : -1;
	if (h[0] < 0 || set_text(h[0], "crs_wkt", crs_wkt) < 0 || set_text(h[0], "spatial_ref", crs_wkt) < 0)
		goto out;
	if (srs)
		cf_grid_mapping(h[0], srs);
	if ((h[1] = make_pure_dim(root, nm->nodes, n)) < 0 ||
	    (h[2] = new_column(root, nm->x, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, chunk, NULL)) < 0 ||
	    H5DSattach_scale(h[2], h[1], 0) < 0 ||
	    (h[3] = new_column(root, nm->y, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, chunk, NULL)) < 0 ||
	    H5DSattach_scale(h[3], h[1], 0) < 0)
		goto out;
	set_text(h[2], "axis", "X");
	set_text(h[3], "axis", "Y");
	set_text(h[2], "standard_name", geo ? "longitude" : "projection_x_coordinate");
	set_text(h[3], "standard_name", geo ? "latitude" : "projection_y_coordinate");
	set_text(h[2], "units", geo ? "degrees_east" : udunits(f, unit));
	set_text(h[3], "units", geo ? "degrees_north" : udunits(f, unit));
	ok = 1;
out:
	if (!ok)
		save_h5();
	if (srs)
		OSRDestroySpatialReference(srs);
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return ok ? 0 : -1;
}

static void close_head(hid_t h[4])
{
	for (int i = 0; i < 4; i++)
		if (h[i] >= 0) {
			H5Dclose(h[i]);
			h[i] = H5I_INVALID_HID;
		}
}

/* Give the node dimension made by make_head its length: extent and netCDF's label. */
static int size_nodes(hid_t nodes, hsize_t n)
{
	char label[128];
	hid_t a, t;
	int rc = -1;

	if (H5Dset_extent(nodes, &n) < 0)
		return -1;
	/* The same length of text as make_pure_dim's (%10llu), so NAME is rewritten in place. */
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)n);
	if ((a = H5Aopen(nodes, "NAME", H5P_DEFAULT)) < 0)
		return -1;
	if ((t = H5Aget_type(a)) >= 0 && H5Tget_size(t) == strlen(label) + 1 && H5Awrite(a, t, label) >= 0)
		rc = 0;
	if (t >= 0)
		H5Tclose(t);
	H5Aclose(a);
	return rc;
}

struct lode__xyw {
	lode__bundle *b;
	lode__colenc *enc;
	layer_names nm;
	char *crs_wkt;
	hid_t head[4];  /* crs, nodes, x, y: H5I_INVALID_HID until the first chunks */
	size_t written; /* chunks of x, and of y, stored */
	int discard;    /* the layer was read again: store no more, rewrite x and y whole */
	int failed;     /* err says why; nothing more is stored */
	lode_error err;
};

lode_status lode__bundle_xy_begin(lode__bundle *b, const char *name, const char *crs_wkt, lode__xyw **out,
				  lode_error *err)
{
	int threads = b->threads > 0 ? b->threads : lode__default_threads();
	lode__xyw *w = calloc(1, sizeof *w);
	lode_status rc;

	*out = NULL;
	if (!w || !(w->crs_wkt = lode__strdup(crs_wkt))) {
		free(w);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	w->b = b;
	name_layer(&w->nm, name);
	for (int i = 0; i < 4; i++)
		w->head[i] = H5I_INVALID_HID;
	if ((rc = lode__colenc_new(2, sizeof(double), COLUMN_CHUNK, DEFLATE_LEVEL, threads > 1, &w->enc,
				   err))) {
		lode__xyw_free(w);
		return rc;
	}
	*out = w;
	return LODE_OK;
}

lode__colenc *lode__xyw_encoder(lode__xyw *w)
{
	return w->enc;
}

/* Store chunk i of x and of y, growing both to hold it. */
static int store_pair(lode__xyw *w, size_t i)
{
	for (int c = 0; c < 2; c++) {
		hsize_t ext = (hsize_t)(i + 1) * COLUMN_CHUNK, off = (hsize_t)i * COLUMN_CHUNK;
		size_t len = 0;
		unsigned char *enc = lode__colenc_take(w->enc, c, i, &len);
		int bad = !enc || H5Dset_extent(w->head[2 + c], &ext) < 0 ||
			  H5Dwrite_chunk(w->head[2 + c], H5P_DEFAULT, 0, &off, len, enc) < 0;
		free(enc);
		if (bad)
			return -1;
	}
	return 0;
}

void lode__xyw_drain(void *arg)
{
	lode__xyw *w = arg;
	size_t before = w->written;

	while (!w->failed && !w->discard && lode__colenc_ready(w->enc, 0, w->written) &&
	       lode__colenc_ready(w->enc, 1, w->written)) {
		if (w->head[0] < 0 &&
		    make_head(w->b->file, &w->nm, w->crs_wkt, 0, COLUMN_CHUNK, w->head) < 0) {
			w->failed = 1;
			h5err(&w->err, LODE_EIO, "writing the layer");
			close_head(w->head);
			break;
		}
		if (store_pair(w, w->written) < 0) {
			w->failed = 1;
			h5err(&w->err, LODE_EIO, "writing the layer's coordinates");
			break;
		}
		w->written++;
	}
	/* The disk takes them while the reading goes on. */
	if (w->written > before)
		lode__bundle_writeback(w->b);
}

void lode__xyw_discard(lode__xyw *w)
{
	w->discard = 1;
}

void lode__xyw_free(lode__xyw *w)
{
	if (!w)
		return;
	lode__colenc_free(w->enc);
	close_head(w->head);
	free(w->crs_wkt);
	free(w);
}

lode_status lode__bundle_add_vector(lode__bundle *b, const char *name, const char *crs_wkt,
				    const lode_vdata *d, lode__xyw *xy, const lode_attr *attrs, size_t nattrs,
				    lode_error *err)
{
	hid_t root = b->file, inst = H5I_INVALID_HID, parts = H5I_INVALID_HID;
	hid_t cz = H5I_INVALID_HID, ir = H5I_INVALID_HID;
	hid_t cont = H5I_INVALID_HID, sp = H5I_INVALID_HID, dcpl = dataset_cpl();
	hid_t head[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
	hid_t nodes = H5I_INVALID_HID, cx = H5I_INVALID_HID, cy = H5I_INVALID_HID; /* head[1..3] */
	layer_names nm;
	char coords[500];
	int pure_points = d->kind == LODE_GK_POINT && !d->multi;
	int write_parts = (d->kind == LODE_GK_LINE && d->multi) ||
			  (d->kind == LODE_GK_POLYGON && (d->multi || d->nparts > d->nfeat));
	size_t stored = 0; /* chunks of x and y stored while the layer was read */
	lode_status rc = LODE_OK;

	column_threads = b->threads;
	if (xy) {
		if ((rc = lode__colenc_finish(xy->enc, err)))
			goto out;
		lode__xyw_drain(xy);
		if (xy->failed) {
			*err = xy->err;
			rc = err->code;
			goto out;
		}
		memcpy(head, xy->head, sizeof head);
		for (int i = 0; i < 4; i++)
			xy->head[i] = H5I_INVALID_HID;
		/* Read again: the chunks stored may be of other nodes; all are written anew. */
		stored = xy->discard ? 0 : xy->written;
	}

	for (size_t k = 0; pure_points && k < d->nfeat; k++)
		if (d->node_count[k] != 1)
			pure_points = 0;
	/* A polygon layer whose features each have one ring needs no parts either. */
	if (d->kind == LODE_GK_POLYGON && !write_parts)
		for (size_t k = 0; k < d->nparts; k++)
			if (d->interior_ring[k])
				write_parts = 1;
	name_layer(&nm, name);
	sp = H5Screate(H5S_SCALAR);
	if (sp < 0)
		goto h5fail;
	/* The grid mapping, the nodes, x and y: made while the layer was read when it had
	   whole chunks, then grown to their length; else made here. */
	if (head[0] >= 0) {
		hsize_t n = d->nnodes;
		if (stored * COLUMN_CHUNK > d->nnodes) {
			rc = lode__err(err, LODE_EINTERNAL, "layer '%s': more coordinates stored than read",
				       name);
			goto out;
		}
		if (size_nodes(head[1], n) < 0 || H5Dset_extent(head[2], &n) < 0 ||
		    H5Dset_extent(head[3], &n) < 0)
			goto h5fail;
	} else if (make_head(root, &nm, crs_wkt, d->nnodes, column_chunk(d->nnodes), head) < 0) {
		goto h5fail;
	}
	nodes = head[1];
	cx = head[2];
	cy = head[3];
	if (d->nnodes && (write_column_chunks(cx, d->x, d->nnodes, sizeof(double), column_chunk(d->nnodes),
					      NULL, stored) < 0 ||
			  write_column_chunks(cy, d->y, d->nnodes, sizeof(double), column_chunk(d->nnodes),
					      NULL, stored) < 0))
		goto h5fail;
	if (d->has_z && (cz = make_column(root, nm.z, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, d->nnodes, d->z,
					  nodes, NULL)) < 0)
		goto h5fail;
	lode__bundle_writeback(b);
	if (cz >= 0)
		set_text(cz, "axis", "Z");
	/* Instances and parts. */
	if (!pure_points && (inst = make_column(root, nm.count, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nfeat,
						d->node_count, -1, NULL)) < 0)
		goto h5fail;
	if (write_parts) {
		parts = make_column(root, nm.parts, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nparts,
				    d->part_node_count, -1, NULL);
		if (parts < 0)
			goto h5fail;
		if (d->kind == LODE_GK_POLYGON &&
		    (ir = make_column(root, nm.ring, H5T_STD_I32LE, H5T_NATIVE_INT32, d->nparts,
				      d->interior_ring, parts, NULL)) < 0)
			goto h5fail;
	}
	/* The geometry container. */
	cont = H5Dcreate2(root, name, H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (cont < 0)
		goto h5fail;
	snprintf(coords, sizeof coords, "%s %s%s%s", nm.x, nm.y, d->has_z ? " " : "", d->has_z ? nm.z : "");
	if (set_text(cont, "geometry_type",
		     d->kind == LODE_GK_POINT  ? "point"
		     : d->kind == LODE_GK_LINE ? "line"
					       : "polygon") < 0 ||
	    set_text(cont, "node_coordinates", coords) < 0 ||
	    (inst >= 0 && set_text(cont, "node_count", nm.count) < 0) ||
	    (parts >= 0 && set_text(cont, "part_node_count", nm.parts) < 0) ||
	    (ir >= 0 && set_text(cont, "interior_ring", nm.ring) < 0) ||
	    set_text(cont, "grid_mapping", nm.crs) < 0 ||
	    set_text(cont, "lode_ogr_geometry_type", lode__vdata_type_name(d)) < 0)
		goto h5fail;
	for (size_t i = 0; i < nattrs; i++)
		if (attrs[i].value && set_text(cont, attrs[i].key, attrs[i].value) < 0)
			goto h5fail;
	/* Fields, along the instance dimension. */
	for (size_t i = 0; i < d->nfields; i++)
		if ((rc = write_field(root, name, &d->fields[i], d->nfeat, inst >= 0 ? inst : nodes, err)))
			goto out;
	goto out;
h5fail:
	rc = h5err(err, LODE_EIO, "writing the layer");
out:
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (cont >= 0)
		H5Dclose(cont);
	if (ir >= 0)
		H5Dclose(ir);
	if (parts >= 0)
		H5Dclose(parts);
	if (inst >= 0)
		H5Dclose(inst);
	if (cz >= 0)
		H5Dclose(cz);
	close_head(head);
	return rc;
}

/* Length of a 1-D variable, or -1. */
static long long var_len(hid_t file, const char *name)
{
	hid_t d = H5Dopen2(file, name, H5P_DEFAULT), s = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
	hsize_t n = 0;
	long long len = -1;

	if (s >= 0 && H5Sget_simple_extent_ndims(s) == 1 && H5Sget_simple_extent_dims(s, &n, NULL) == 1 &&
	    n <= MAX_VECTOR_ELEMS)
		len = (long long)n;
	if (s >= 0)
		H5Sclose(s);
	if (d >= 0)
		H5Dclose(d);
	H5Eclear2(H5E_DEFAULT);
	return len;
}

static void read_vector_item(hid_t file, const char *name, lode_bundle_item *it)
{
	hid_t c = H5Dopen2(file, name, H5P_DEFAULT), crs = H5I_INVALID_HID;
	char *count = NULL, *coords = NULL, *gm = NULL;
	lode__heartbeat();

	it->kind = lode__strdup("vector");
	it->nbands = 0;
	if (c < 0) {
		it->problem = lode__strdup("the geometry container cannot be opened");
		goto out;
	}
	it->geometry_type = get_text(c, "lode_ogr_geometry_type");
	it->content_sha256 = get_text(c, "lode_content_sha256");
	it->lineage = get_text(c, "lode_lineage");
	it->source = get_text(c, "source");
	it->long_name = get_text(c, "long_name");
	count = get_text(c, "node_count");
	coords = get_text(c, "node_coordinates");
	gm = get_text(c, "grid_mapping");
	if (!coords || !gm) {
		it->problem = lode__strdup("the geometry container lacks node_coordinates or grid_mapping");
		goto out;
	}
	if (count) {
		it->nfeat = var_len(file, count);
	} else {
		char first[300];
		sscanf(coords, "%299s", first);
		it->nfeat = var_len(file, first);
	}
	if (it->nfeat < 0) {
		it->problem = lode__strdup("the node or instance count cannot be read");
		goto out;
	}
	crs = H5Dopen2(file, gm, H5P_DEFAULT);
	if (crs >= 0)
		it->crs_wkt = get_text(crs, "crs_wkt");
	if (!it->crs_wkt)
		it->problem = lode__strdup("the grid-mapping variable lacks crs_wkt");
out:
	H5Eclear2(H5E_DEFAULT);
	free(count);
	free(coords);
	free(gm);
	if (crs >= 0)
		H5Dclose(crs);
	if (c >= 0)
		H5Dclose(c);
}

/*
 * Is n values of sz bytes a plausible size for a column of this file?  lode writes every
 * value (no sparse columns), and coordinates and numbers compress at most a few tens of
 * times, so a column more than 100 times the file (and over 256 MB) is a lie told by a
 * damaged or hostile file: refuse it before allocating.
 */
static int plausible(hid_t file, size_t n, size_t sz)
{
	hsize_t fsize = 0;
	double bytes = (double)n * (double)sz;

	if (H5Fget_filesize(file, &fsize) < 0)
		return 0;
	return bytes <= 256e6 || bytes <= 100.0 * (double)fsize;
}

/* Read a whole 1-D numeric variable of n values into a new buffer of memory type mt. */
static void *read_column(hid_t file, const char *name, hid_t mt, size_t n, size_t sz, lode_error *err,
			 lode_status *rc)
{
	void *buf;
	long long len = var_len(file, name);
	hid_t d;
	lode__heartbeat();

	if (len < 0 || (size_t)len != n) {
		*rc = lode__err(err, LODE_EDAMAGED, "variable %s is missing or has the wrong length", name);
		return NULL;
	}
	if (!plausible(file, n, sz)) {
		*rc = lode__err(err, LODE_EDAMAGED,
				"variable %s claims %zu values, implausibly many for this file", name, n);
		return NULL;
	}
	buf = malloc(n ? n * sz : 1);
	if (!buf) {
		*rc = lode__err(err, LODE_ENOMEM, "out of memory");
		return NULL;
	}
	d = H5Dopen2(file, name, H5P_DEFAULT);
	if (d < 0 || (n && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) {
		*rc = h5err(err, LODE_EDAMAGED, name);
		free(buf);
		buf = NULL;
	}
	if (d >= 0)
		H5Dclose(d);
	return buf;
}

static lode_status read_vfield(hid_t file, const char *layer, lode_vfield *f, size_t n, lode_error *err)
{
	char *vname = lode__sprintf("%s_field_%s", layer, f->var), *fname = NULL, *ftype = NULL;
	hid_t d = H5I_INVALID_HID, a = H5I_INVALID_HID, as = H5I_INVALID_HID, st = H5I_INVALID_HID;
	size_t sz = lode__ftype_size(f->type);
	lode_status rc = LODE_OK;
	lode__heartbeat();

	if (!vname)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (!plausible(file, n, sizeof(char *) + sz)) {
		free(vname);
		return lode__err(err, LODE_EDAMAGED,
				 "layer %s: %zu features is implausibly many for this file", layer, n);
	}
	if (!(f->isnull = calloc(n ? n : 1, 1))) {
		free(vname);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	d = H5Dopen2(file, vname, H5P_DEFAULT);
	if (d < 0) {
		rc = lode__err(err, LODE_EDAMAGED, "field variable %s is missing", vname);
		goto out;
	}
	fname = get_text(d, "ogr_field_name");
	ftype = get_text(d, "ogr_field_type");
	if (!fname || !ftype || strcmp(fname, f->name) != 0 || lode__ftype_from_name(ftype) != f->type) {
		rc = lode__err(err, LODE_EDAMAGED,
			       "field variable %s does not match the lineage's field '%s'", vname, f->name);
		goto out;
	}
	/* Nulls: the lode_nulls attribute lists the feature indices. */
	if (H5Aexists(d, "lode_nulls") > 0) {
		hssize_t k;
		int64_t *idx;
		a = H5Aopen(d, "lode_nulls", H5P_DEFAULT);
		as = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
		k = as >= 0 ? H5Sget_simple_extent_npoints(as) : -1;
		if (k < 0 || (size_t)k > n) {
			rc = lode__err(err, LODE_EDAMAGED, "%s: implausible lode_nulls", vname);
			goto out;
		}
		idx = malloc((size_t)(k ? k : 1) * sizeof *idx);
		if (!idx || H5Aread(a, H5T_NATIVE_INT64, idx) < 0) {
			free(idx);
			rc = idx ? h5err(err, LODE_EDAMAGED, vname)
				 : lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (hssize_t j = 0; j < k; j++) {
			if (idx[j] < 0 || (size_t)idx[j] >= n) {
				rc = lode__err(err, LODE_EDAMAGED,
					       "%s: lode_nulls names feature %lld, beyond the layer", vname,
					       (long long)idx[j]);
				free(idx);
				goto out;
			}
			if (!f->isnull[idx[j]])
				f->nnull++;
			f->isnull[idx[j]] = 1;
		}
		free(idx);
	}
	if (f->type == LODE_FT_STRING) {
		char **vals = calloc(n ? n : 1, sizeof *vals);
		st = vlen_string_type();
		if (!vals || st < 0) {
			free(vals);
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		if (var_len(file, vname) != (long long)n ||
		    (n && H5Dread(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals) < 0)) {
			free(vals);
			rc = h5err(err, LODE_EDAMAGED, vname);
			goto out;
		}
		/* Copy into malloc'd strings we own, then give HDF5's back. */
		f->values = calloc(n ? n : 1, sizeof(char *));
		for (size_t k = 0; f->values && k < n; k++)
			((char **)f->values)[k] = lode__strdup(f->isnull[k] || !vals[k] ? "" : vals[k]);
		for (size_t k = 0; k < n; k++)
			H5free_memory(vals[k]);
		free(vals);
		if (!f->values)
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	f->values = read_column(file, vname, field_mtype(f->type), n, sz, err, &rc);
	if (!f->values)
		goto out;
	{
		/* The fill value must mark exactly the nulls, or GDAL and lode would disagree. */
		unsigned char fill[8] = {0};
		int has_fill = 0;
		if (H5Aexists(d, "_FillValue") > 0) {
			hid_t fa = H5Aopen(d, "_FillValue", H5P_DEFAULT);
			has_fill = fa >= 0 && H5Aread(fa, field_mtype(f->type), fill) >= 0;
			if (fa >= 0)
				H5Aclose(fa);
		}
		for (size_t k = 0; k < n; k++) {
			unsigned char *slot = (unsigned char *)f->values + k * sz;
			int is_fill = has_fill && memcmp(slot, fill, sz) == 0;
			if (is_fill != f->isnull[k]) {
				rc = lode__err(err, LODE_EDAMAGED,
					       "%s: feature %zu: the _FillValue and lode_nulls disagree",
					       vname, k);
				goto out;
			}
			if (f->isnull[k])
				memset(slot, 0, sz);
		}
	}
out:
	H5Eclear2(H5E_DEFAULT);
	if (st >= 0)
		H5Tclose(st);
	if (as >= 0)
		H5Sclose(as);
	if (a >= 0)
		H5Aclose(a);
	if (d >= 0)
		H5Dclose(d);
	free(fname);
	free(ftype);
	free(vname);
	return rc;
}

lode_status lode__bundle_read_vector(lode__bundle *b, const lode_bundle_item *item, lode_vdata **out,
				     lode_error *err)
{
	hid_t file = b->file, c = H5I_INVALID_HID;
	char *gtype = NULL, *coords = NULL, *count = NULL, *parts = NULL, *ring = NULL;
	char nx[300] = "", ny[300] = "", nz[300] = "";
	json_t *lin = NULL, *fields;
	lode_vdata *d = NULL;
	lode_status rc = LODE_OK;

	*out = NULL;
	if (item->problem)
		return lode__err(err, LODE_EDAMAGED, "%s", item->problem);
	d = calloc(1, sizeof *d);
	c = H5Dopen2(file, item->name, H5P_DEFAULT);
	if (!d || c < 0) {
		rc = d ? h5err(err, LODE_EDAMAGED, item->name) : lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	gtype = get_text(c, "geometry_type");
	coords = get_text(c, "node_coordinates");
	count = get_text(c, "node_count");
	parts = get_text(c, "part_node_count");
	ring = get_text(c, "interior_ring");
	d->kind = !gtype                      ? 0
		  : !strcmp(gtype, "point")   ? LODE_GK_POINT
		  : !strcmp(gtype, "line")    ? LODE_GK_LINE
		  : !strcmp(gtype, "polygon") ? LODE_GK_POLYGON
					      : 0;
	if (!d->kind || !coords || sscanf(coords, "%299s %299s %299s", nx, ny, nz) < 2 ||
	    !item->geometry_type) {
		rc = lode__err(err, LODE_EDAMAGED,
			       "the geometry container's attributes are missing or unknown");
		goto out;
	}
	d->has_z = nz[0] != '\0';
	d->multi = strstr(item->geometry_type, "Multi") != NULL;
	d->nnodes = (size_t)(var_len(file, nx) < 0 ? 0 : var_len(file, nx));
	d->nfeat = (size_t)item->nfeat;
	if (!(d->x = read_column(file, nx, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc)) ||
	    !(d->y = read_column(file, ny, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc)) ||
	    (d->has_z && !(d->z = read_column(file, nz, H5T_NATIVE_DOUBLE, d->nnodes, 8, err, &rc))))
		goto out;
	if (count) {
		if (!(d->node_count = read_column(file, count, H5T_NATIVE_INT32, d->nfeat, 4, err, &rc)))
			goto out;
	} else {
		/* Plain points: one node per feature. */
		if (d->nnodes != d->nfeat || !(d->node_count = malloc((d->nfeat ? d->nfeat : 1) * 4))) {
			rc = lode__err(err, d->nnodes != d->nfeat ? LODE_EDAMAGED : LODE_ENOMEM,
				       "point layer: node and feature counts differ");
			goto out;
		}
		for (size_t k = 0; k < d->nfeat; k++)
			d->node_count[k] = 1;
	}
	if (parts) {
		long long np = var_len(file, parts);
		d->nparts = np < 0 ? 0 : (size_t)np;
		if (!(d->part_node_count =
			  read_column(file, parts, H5T_NATIVE_INT32, d->nparts, 4, err, &rc)))
			goto out;
		if (ring) {
			if (!(d->interior_ring =
				  read_column(file, ring, H5T_NATIVE_INT32, d->nparts, 4, err, &rc)))
				goto out;
		} else if (!(d->interior_ring = calloc(d->nparts ? d->nparts : 1, 4))) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
	} else if (d->kind != LODE_GK_POINT) {
		/* One part per feature: the whole feature is one line or one ring. */
		d->nparts = 0;
		d->part_node_count = malloc((d->nfeat ? d->nfeat : 1) * 4);
		d->interior_ring = calloc(d->nfeat ? d->nfeat : 1, 4);
		if (!d->part_node_count || !d->interior_ring) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < d->nfeat; k++)
			if (d->node_count[k] > 0)
				d->part_node_count[d->nparts++] = d->node_count[k];
	}
	/* The counts must add up, or the geometry cannot be rebuilt. */
	{
		unsigned long long sum = 0, psum = 0;
		for (size_t k = 0; k < d->nfeat; k++) {
			if (d->node_count[k] < 0) {
				rc = lode__err(err, LODE_EDAMAGED, "a negative node count");
				goto out;
			}
			sum += (unsigned long long)d->node_count[k];
		}
		for (size_t k = 0; k < d->nparts; k++) {
			if (d->part_node_count[k] <= 0) {
				rc = lode__err(err, LODE_EDAMAGED, "an empty or negative part");
				goto out;
			}
			psum += (unsigned long long)d->part_node_count[k];
		}
		if (sum != d->nnodes || (d->kind != LODE_GK_POINT && psum != d->nnodes)) {
			rc = lode__err(err, LODE_EDAMAGED, "the node, part and feature counts do not add up");
			goto out;
		}
	}
	/* The CF type, lode's OGR type and the parts must tell the same story. */
	{
		const char *t = item->geometry_type;
		lode_gkind want = strstr(t, "Polygon")      ? LODE_GK_POLYGON
				  : strstr(t, "LineString") ? LODE_GK_LINE
				  : strstr(t, "Point")      ? LODE_GK_POINT
							    : 0;
		size_t part = 0;
		if (want != d->kind) {
			rc = lode__err(err, LODE_EDAMAGED, "geometry_type '%s' contradicts the layer type %s",
				       gtype, t);
			goto out;
		}
		for (size_t k = 0; d->kind != LODE_GK_POINT && k < d->nfeat; k++) {
			long long left = d->node_count[k];
			int nparts = 0, exteriors = 0;
			for (; left > 0 && part < d->nparts; part++, nparts++) {
				exteriors += d->kind == LODE_GK_POLYGON && !d->interior_ring[part];
				left -= d->part_node_count[part];
			}
			if (left != 0 ||
			    (nparts && d->kind == LODE_GK_POLYGON && d->interior_ring[part - nparts]) ||
			    (!d->multi && (d->kind == LODE_GK_LINE ? nparts > 1 : exteriors > 1))) {
				rc = lode__err(err, LODE_EDAMAGED,
					       "feature %zu: its parts do not fit its node count or type", k);
				goto out;
			}
		}
	}
	/* Fields, as the lineage lists them. */
	lin = item->lineage ? json_loads(item->lineage, 0, NULL) : NULL;
	fields = json_object_get(lin, "fields");
	if (!json_is_array(fields)) {
		rc = lode__err(err, LODE_EDAMAGED, "the lineage lacks the field list");
		goto out;
	}
	d->fields = calloc(json_array_size(fields) + 1, sizeof *d->fields);
	if (!d->fields) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(fields); i++) {
		json_t *fj = json_array_get(fields, i);
		lode_vfield *f = &d->fields[i];
		const char *fname = json_string_value(json_object_get(fj, "name"));
		const char *fvar = json_string_value(json_object_get(fj, "variable"));
		const char *ftype = json_string_value(json_object_get(fj, "type"));

		d->nfields = i + 1;
		if (!fname || !fvar || !ftype || !(f->type = lode__ftype_from_name(ftype))) {
			rc = lode__err(err, LODE_EDAMAGED, "the lineage's field %zu is malformed", i + 1);
			goto out;
		}
		f->name = lode__strdup(fname);
		f->var = lode__strdup(fvar);
		f->width = (int)json_integer_value(json_object_get(fj, "width"));
		if (!f->name || !f->var) {
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = read_vfield(file, item->name, f, d->nfeat, err)))
			goto out;
	}
	*out = d;
	d = NULL;
out:
	json_decref(lin);
	lode__vdata_free(d);
	free(gtype);
	free(coords);
	free(count);
	free(parts);
	free(ring);
	if (c >= 0)
		H5Dclose(c);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}

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
