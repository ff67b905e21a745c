/*
 * bundle_raster.c -- raster items: the group NAME holding the x and y coordinate
 * variables (several bands: the band dimension and the band_name and band_units
 * labels), the crs grid-mapping variable and the data variable NAME (chunked,
 * shuffled, deflated, checksummed); the lode__bvar_* writer that stores chunks encoded
 * elsewhere (lode__chunk_encode) as they are, or copies the stored chunks of another
 * bundle's raster without recompressing them.
 *
 * It does not encode chunks (chunk_codec.c) nor read rasters back (bundle_read.c).
 * Vector layers are bundle_vector.c's; tables or another kind of item would get a file
 * like this one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "error.h"
#include "util.h"

/* A 1-D coordinate variable that is also the dimension scale `name`. */
static hid_t make_coord(hid_t group, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
			const void *values)
{
	hid_t s = H5Screate_simple(1, &n, NULL), dcpl = lode__h5_dataset_cpl(), d = H5I_INVALID_HID;

	if (s < 0 || dcpl < 0)
		goto out;
	d = H5Dcreate2(group, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	if (d < 0)
		goto out;
	if (H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0 || H5DSset_scale(d, name) < 0) {
		lode__h5_save();
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

/*
 * The band dimension of a multi-band raster: a netCDF dimension with no variable of its
 * name (as netCDF-4 stores one: big-endian float32 values never written, NAME saying so).
 * A 1-D `band` variable would make GDAL's netCDF driver list the raster's group as a
 * vector layer with a field `band` (GDAL 3.6), and its values (1..n) said nothing a
 * reader does not know.
 */
static hid_t make_band_dim(hid_t group, hsize_t n)
{
	hid_t s = H5Screate_simple(1, &n, NULL), p = lode__h5_dataset_cpl(), d = H5I_INVALID_HID;
	char label[128];

	if (s >= 0 && p >= 0)
		d = H5Dcreate2(group, "band", H5T_IEEE_F32BE, s, H5P_DEFAULT, p, H5P_DEFAULT);
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)n);
	if (d >= 0 && H5DSset_scale(d, label) < 0) {
		lode__h5_save();
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
 * The auxiliary coordinate variable name(band) of a multi-band raster: one text per band
 * (variable-length UTF-8 strings, netCDF's string type, "" where none), with long_name
 * and the band dimension bd attached.  So each band's name and unit reads per band in
 * xarray, R and ncdump (the data variable's coordinates attribute names them).
 */
static lode_status make_band_labels(hid_t group, hid_t bd, const char *name, const char *long_name,
				    const char *lines, int n, lode_error *err)
{
	hsize_t len = (hsize_t)n;
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &len, NULL), p = lode__h5_dataset_cpl();
	hid_t d = H5I_INVALID_HID;
	char **vals = calloc((size_t)n, sizeof *vals), *copy = lode__strdup(lines ? lines : "");
	lode_status rc = LODE_OK;

	if (!vals || !copy) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	/* One text per line, as lode_band_names and lode_band_units hold them. */
	for (int i = 0, at = 0; i < n; i++) {
		char *nl = strchr(copy + at, '\n');
		vals[i] = copy + at;
		if (nl) {
			*nl = '\0';
			at = (int)(nl - copy) + 1;
		} else {
			at = (int)strlen(copy);
		}
	}
	if (t < 0 || s < 0 || p < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
	    (d = H5Dcreate2(group, name, t, s, H5P_DEFAULT, p, H5P_DEFAULT)) < 0 ||
	    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals) < 0 || H5DSattach_scale(d, bd, 0) < 0 ||
	    lode__h5_set_text(d, "long_name", long_name) < 0)
		rc = lode__h5_err(err, LODE_EIO, name);
out:
	free(vals);
	free(copy);
	if (d >= 0)
		H5Dclose(d);
	if (p >= 0)
		H5Pclose(p);
	if (s >= 0)
		H5Sclose(s);
	if (t >= 0)
		H5Tclose(t);
	return rc;
}

/* The CF attributes of a raster's x and y: longitude and latitude, or projected x and y in
   the CRS's linear unit. */
static void raster_xy_attrs(hid_t xd, hid_t yd, const lode_crs_attrs *ca)
{
	/* In this order (it decides where HDF5 puts them, so the bytes of the file). */
	lode__h5_set_text(xd, "standard_name", ca->x_standard_name);
	lode__h5_set_text(xd, "long_name", ca->x_long_name);
	if (ca->geographic)
		lode__h5_set_text(xd, "units", ca->x_units);
	lode__h5_set_text(yd, "standard_name", ca->y_standard_name);
	lode__h5_set_text(yd, "long_name", ca->y_long_name);
	if (!ca->geographic)
		lode__h5_set_text(xd, "units", ca->x_units);
	lode__h5_set_text(yd, "units", ca->y_units);
	lode__h5_set_text(xd, "axis", "X");
	lode__h5_set_text(yd, "axis", "Y");
}

/* The grid-mapping variable crs of a raster's group: the CRS (its CF attributes ca) and
   the geotransform.  *sp and *crs: handles the caller closes. */
static lode_status raster_grid_mapping(hid_t group, hid_t dcpl, const lode_raster_def *def,
				       const lode_crs_attrs *ca, hid_t *sp, hid_t *crs, lode_error *err)
{
	char gt[256];

	*sp = H5Screate(H5S_SCALAR);
	*crs = *sp >= 0 ? H5Dcreate2(group, "crs", H5T_STD_I32LE, *sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
	if (*crs < 0)
		return lode__h5_err(err, LODE_EIO, "creating the crs variable");
	H5Sclose(*sp);
	*sp = H5I_INVALID_HID;
	lode__h5_write_grid_mapping(*crs, ca);
	snprintf(gt, sizeof gt, "%.17g %.17g %.17g %.17g %.17g %.17g", def->gt[0], def->gt[1], def->gt[2],
		 def->gt[3], def->gt[4], def->gt[5]);
	if (lode__h5_set_text(*crs, "crs_wkt", def->crs_wkt) < 0 ||
	    lode__h5_set_text(*crs, "spatial_ref", def->crs_wkt) < 0 ||
	    lode__h5_set_text(*crs, "GeoTransform", gt) < 0)
		return lode__h5_err(err, LODE_EIO, "writing the crs attributes");
	return LODE_OK;
}

/* A raster's data variable v->dset in v->group: chunked, shuffled, deflated,
   checksummed, along the coordinates bd (band, when several), yd and xd, with its
   attributes.  dcpl: the dataset creation list to set up; *sp: a handle the caller
   closes. */
static lode_status raster_data_var(lode__bvar *v, const lode_raster_def *def, hid_t dcpl, hid_t bd, hid_t yd,
				   hid_t xd, hid_t *sp, lode_error *err)
{
	int rank = def->nbands > 1 ? 3 : 2;
	hsize_t dims[3], chunk[3];
	unsigned char fill[8];

	dims[0] = (hsize_t)def->nbands;
	dims[1] = (hsize_t)def->ny;
	dims[2] = (hsize_t)def->nx;
	chunk[0] = 1;
	chunk[1] = (hsize_t)(def->ny < def->chunk ? def->ny : def->chunk);
	chunk[2] = (hsize_t)(def->nx < def->chunk ? def->nx : def->chunk);
	*sp = H5Screate_simple(rank, rank == 3 ? dims : dims + 1, NULL);
	if (*sp < 0 || H5Pset_chunk(dcpl, rank, rank == 3 ? chunk : chunk + 1) < 0 ||
	    H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, DEFLATE_LEVEL) < 0 ||
	    H5Pset_fletcher32(dcpl) < 0)
		return lode__h5_err(err, LODE_EINTERNAL, "setting up chunking and compression");
	if (def->has_nodata) {
		lode__h5_to_bytes(def->dtype, def->nodata, fill);
		memcpy(v->fill, fill, sizeof v->fill);
		if (H5Pset_fill_value(dcpl, lode__h5_mem_type(def->dtype), fill) < 0)
			return lode__h5_err(err, LODE_EINTERNAL, "setting the fill value");
	}
	v->dset = H5Dcreate2(v->group, def->name, lode__h5_file_type(def->dtype), *sp, H5P_DEFAULT, dcpl,
			     H5P_DEFAULT);
	if (v->dset < 0)
		return lode__h5_err(err, LODE_EIO, "creating the data variable");
	if ((def->nbands > 1 && H5DSattach_scale(v->dset, bd, 0) < 0) ||
	    H5DSattach_scale(v->dset, yd, rank - 2) < 0 || H5DSattach_scale(v->dset, xd, rank - 1) < 0)
		return lode__h5_err(err, LODE_EIO, "attaching the dimension scales");
	if ((def->has_nodata && lode__h5_set_nums(v->dset, "_FillValue", lode__h5_file_type(def->dtype),
						  lode__h5_mem_type(def->dtype), 1, fill) < 0) ||
	    lode__h5_set_text(v->dset, "grid_mapping", "crs") < 0 ||
	    lode__h5_set_text(v->dset, "long_name",
			      def->long_name && def->long_name[0] ? def->long_name : def->name) < 0 ||
	    (def->unit && def->unit[0] && lode__h5_set_text(v->dset, "units", def->unit) < 0))
		return lode__h5_err(err, LODE_EIO, "writing the variable's attributes");
	return LODE_OK;
}

lode_status lode__bundle_add_raster(lode__bundle *b, const lode_raster_def *def, lode__bvar **out,
				    lode_error *err)
{
	lode__bvar *v = NULL;
	hid_t gcpl = lode__h5_group_cpl(), dcpl = lode__h5_dataset_cpl();
	hid_t xd = H5I_INVALID_HID, yd = H5I_INVALID_HID, bd = H5I_INVALID_HID;
	hid_t crs = H5I_INVALID_HID, sp = H5I_INVALID_HID;
	double *xs = NULL, *ys = NULL;
	lode_crs_attrs ca;
	lode_status rc = LODE_OK;

	*out = NULL;
	lode__crs_attrs(def->crs_wkt, &ca);
	v = calloc(1, sizeof *v);
	xs = malloc(sizeof *xs * (size_t)def->nx);
	ys = malloc(sizeof *ys * (size_t)def->ny);
	if (!v || !xs || !ys || gcpl < 0 || dcpl < 0) {
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
		rc = lode__h5_err(err, LODE_EIO, "creating the group");
		goto out;
	}

	/* Coordinates: pixel centres of the target grid. */
	for (int i = 0; i < def->nx; i++)
		xs[i] = def->gt[0] + (i + 0.5) * def->gt[1];
	for (int j = 0; j < def->ny; j++)
		ys[j] = def->gt[3] + (j + 0.5) * def->gt[5];
	if (def->nbands > 1 && (bd = make_band_dim(v->group, (hsize_t)def->nbands)) < 0) {
		rc = lode__h5_err(err, LODE_EIO, "writing the band dimension");
		goto out;
	}
	yd = make_coord(v->group, "y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)def->ny, ys);
	xd = make_coord(v->group, "x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)def->nx, xs);
	if (xd < 0 || yd < 0) {
		rc = lode__h5_err(err, LODE_EIO, "writing the x/y coordinates");
		goto out;
	}
	raster_xy_attrs(xd, yd, &ca);

	/* The grid-mapping variable. */
	if ((rc = raster_grid_mapping(v->group, dcpl, def, &ca, &sp, &crs, err)))
		goto out;

	/* The data variable: chunked, shuffled, deflated, checksummed. */
	if ((rc = raster_data_var(v, def, dcpl, bd, yd, xd, &sp, err)))
		goto out;
	if (def->nbands > 1) {
		if ((rc = make_band_labels(v->group, bd, "band_name", "band name", def->band_names,
					   def->nbands, err)) ||
		    (rc = make_band_labels(v->group, bd, "band_units", "units of each band", def->band_units,
					   def->nbands, err)))
			goto out;
		if (lode__h5_set_text(v->dset, "coordinates", "band_name band_units") < 0) {
			rc = lode__h5_err(err, LODE_EIO, "writing the coordinates attribute");
			goto out;
		}
	}
	*out = v;
	v = NULL;
out:
	lode__crs_attrs_free(&ca);
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
	lode__bvar_free(v);
	return rc;
}

void lode__bvar_chunk(const lode__bvar *v, int *rows, int *cols)
{
	*rows = v->chunk_rows;
	*cols = v->chunk_cols;
}

int lode__bvar_nbands(const lode__bvar *v)
{
	return v->nbands;
}

lode_dtype lode__bvar_dtype(const lode__bvar *v)
{
	return v->dtype;
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
		return lode__h5_err(err, LODE_EIO, what);
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
	size_t esize = H5Tget_size(lode__h5_mem_type(v->dtype)), cap;
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
		return lode__h5_err(err, LODE_EBUNDLE, "opening the data variable to copy");
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
					rc = lode__h5_err(err, LODE_EBUNDLE, what);
				} else if (H5Dwrite_chunk(v->dset, H5P_DEFAULT, mask, rank == 3 ? to : to + 1,
							  (size_t)size, buf) < 0) {
					snprintf(what, sizeof what,
						 "writing the chunk at band %d, row %d, column %d", b + 1,
						 y0 + r, c);
					rc = lode__h5_err(err, LODE_EIO, what);
				}
			}
out:
	free(buf);
	if (p >= 0)
		H5Pclose(p);
	H5Dclose(d);
	return rc;
}

lode_status lode__bvar_set_flags(lode__bvar *v, const double *values, size_t n, const char *meanings,
				 lode_error *err)
{
	unsigned char *buf;
	size_t esize = lode__dtype_size(v->dtype);
	lode_status rc = LODE_OK;

	if (!n)
		return LODE_OK;
	if (!(buf = malloc(n * esize)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		unsigned char one[8];
		lode__h5_to_bytes(v->dtype, values[i], one);
		memcpy(buf + i * esize, one, esize);
	}
	if (lode__h5_set_nums(v->dset, "flag_values", lode__h5_file_type(v->dtype),
			      lode__h5_mem_type(v->dtype), n, buf) < 0 ||
	    lode__h5_set_text(v->dset, "flag_meanings", meanings) < 0)
		rc = lode__h5_err(err, LODE_EIO, "writing flag_values and flag_meanings");
	free(buf);
	return rc;
}

lode_status lode__bvar_finish(lode__bvar *v, const lode_attr *attrs, size_t n, lode_error *err)
{
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < n && !rc; i++)
		if (lode__h5_set_text(v->dset, attrs[i].key, attrs[i].value) < 0)
			rc = lode__h5_err(err, LODE_EIO, attrs[i].key);
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
