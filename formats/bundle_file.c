/*
 * bundle_file.c -- a bundle file's life: create, open (to read, or to add attributes),
 * put on disk while writing goes on, close; and what every part of the bundle module
 * needs: HDF5's errors taken from its error stack (automatic printing off), lode's
 * types as HDF5 types and back, and the property lists that track creation order and
 * store no timestamps (what netCDF-4 needs, and identical content gives identical files).
 *
 * It writes no content: attributes are bundle_attr.c's; items are bundle_raster.c's and
 * bundle_vector.c's (tables or another kind of item would get a bundle_<kind>.c beside
 * them); reading them is bundle_read.c's.  The module's interface is bundle.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "dtype.h"
#include "error.h"

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
 * after a failure first saves the message here; lode__h5_err falls back to it.
 */
static h5_walk saved_h5;

void lode__h5_save(void)
{
	if (getenv("LODE_DEBUG_HDF5")) /* for developers: the whole HDF5 error stack */
		H5Eprint2(H5E_DEFAULT, stderr);
	saved_h5.msg[0] = '\0';
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &saved_h5);
}

/* Record an HDF5 failure: the context plus the innermost message on HDF5's stack. */
lode_status lode__h5_err(lode_error *err, lode_status code, const char *what)
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

hid_t lode__h5_file_type(lode_dtype t)
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

hid_t lode__h5_mem_type(lode_dtype t)
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

lode_dtype lode__h5_dtype_of(hid_t t)
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
void lode__h5_to_bytes(lode_dtype t, double v, unsigned char out[8])
{
	double buf[1] = {v};

	memset(out, 0, 8);
	if (H5Tconvert(H5T_NATIVE_DOUBLE, lode__h5_mem_type(t), 1, buf, NULL, H5P_DEFAULT) >= 0)
		memcpy(out, buf, lode__dtype_size(t));
	H5Eclear2(H5E_DEFAULT);
}

/* ---- property lists: creation order everywhere, no timestamps ---- */

hid_t lode__h5_group_cpl(void)
{
	hid_t p = H5Pcreate(H5P_GROUP_CREATE);

	if (p < 0)
		return p;
	H5Pset_link_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_obj_track_times(p, 0);
	return p;
}

hid_t lode__h5_dataset_cpl(void)
{
	hid_t p = H5Pcreate(H5P_DATASET_CREATE);

	if (p < 0)
		return p;
	H5Pset_attr_creation_order(p, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
	H5Pset_obj_track_times(p, 0);
	return p;
}

/* ---- the file: create, write back, close ---- */

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
		rc = lode__h5_err(err, LODE_EINTERNAL, "setting up the HDF5 file properties");
		goto out;
	}
	b->file = H5Fcreate(path, H5F_ACC_EXCL, fcpl, fapl);
	if (b->file < 0) {
		rc = lode__h5_err(err, LODE_EIO, path);
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

void lode__bundle_writeback_wait(lode__bundle *b)
{
	if (b)
		end_writeback(b);
}

lode_status lode__bundle_close(lode__bundle *b, lode_error *err)
{
	lode_status rc = LODE_OK;

	if (!b)
		return LODE_OK;
	end_writeback(b);
	if (b->file >= 0) {
		if (H5Fflush(b->file, H5F_SCOPE_GLOBAL) < 0)
			rc = lode__h5_err(err, LODE_EIO, "flushing the bundle");
		if (H5Fclose(b->file) < 0 && !rc)
			rc = lode__h5_err(err, LODE_EIO, "closing the bundle");
	}
	free(b);
	return rc;
}

/* ---- opening an existing bundle ---- */

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
		lode_status rc = lode__h5_err(err, LODE_EBUNDLE, path);
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
	fmt = lode__h5_get_text(b->file, "lode_format_version");
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

const char *lode__hdf5_version(void)
{
	static char v[48];
	unsigned maj = 0, min = 0, rel = 0;

	if (!v[0] && H5get_libversion(&maj, &min, &rel) >= 0)
		snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
	return v[0] ? v : "unknown";
}
