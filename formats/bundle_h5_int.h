/*
 * bundle_h5_int.h -- PRIVATE to the bundle module's files (formats/bundle_*.c): nothing
 * else may include it.  What they share among themselves: the definitions of the
 * handles, HDF5 error capture, type and property-list helpers (bundle_file.c),
 * attribute helpers and the CF grid mapping (bundle_attr.c), and the few helpers the
 * vector files share.  The rest of the library sees the module through bundle.h.
 *
 * Everything here is called on the thread that calls HDF5.  Helpers that return an int
 * give 0 on success and -1 on failure, leaving HDF5's message on its error stack for
 * lode__h5_err.
 */
#ifndef LODE_BUNDLE_H5_INT_H
#define LODE_BUNDLE_H5_INT_H

#include <pthread.h>
#include <stdint.h>

#include <hdf5.h>
#include <ogr_srs_api.h>

#include "bundle.h"
#include "dtype.h"
#include "vdata.h"

#define MAX_ATTR_BYTES (64u << 20) /* refuse to read larger attributes from a bundle */
/* Level 1: on survey grids libdeflate at level 1 compresses about as well as zlib at 6,
   several times faster (docs/performance.md). */
#define DEFLATE_LEVEL 1

struct lode__bundle {
	hid_t file;
	size_t max_memory;  /* what reading a vector layer may hold (bytes); 0: no bound */
	int threads;        /* for compressing vector columns; 0: one per core */
	int decode_threads; /* decoding a raster's chunks (lode__bundle_read_rows); 0: none */
	int sync_fd;        /* a copy of the file's descriptor being synced, or -1 */
	pthread_t syncing;  /* its fdatasync, while the rest is written */
};

struct lode__bvar {
	hid_t group, dset;
	lode_dtype dtype;
	int nbands, nx, ny;
	int chunk_rows, chunk_cols;
	unsigned char fill[8];
};

/* ---- HDF5 errors (bundle_file.c) ---- */

/* Keep HDF5's current message before closing handles after a failure (every HDF5 call
   clears the error stack on entry); lode__h5_err falls back to it. */
void lode__h5_save(void);
/* Record an HDF5 failure in err: what, then the innermost message on HDF5's error stack
   (or the one lode__h5_save kept); clears the stack.  Returns code. */
lode_status lode__h5_err(lode_error *err, lode_status code, const char *what);

/* ---- types and property lists (bundle_file.c) ---- */

/* The little-endian file type and the native memory type of t; H5I_INVALID_HID when
   unknown.  Predefined types: never closed. */
hid_t lode__h5_file_type(lode_dtype t);
hid_t lode__h5_mem_type(lode_dtype t);
/* The lode type of an HDF5 type; LODE_DT_UNKNOWN for what lode does not read. */
lode_dtype lode__h5_dtype_of(hid_t t);
/* Convert a double to the bytes of type t (for fill values), with HDF5's conversion. */
void lode__h5_to_bytes(lode_dtype t, double v, unsigned char out[8]);
/* Creation property lists with creation order tracked and indexed and no timestamps;
   the caller closes them (negative on failure). */
hid_t lode__h5_group_cpl(void);
hid_t lode__h5_dataset_cpl(void);

/* ---- attributes (bundle_attr.c) ---- */

/* A text attribute, fixed-length, ASCII or UTF-8 (replacing one of that name). */
int lode__h5_set_text(hid_t obj, const char *name, const char *value);
/* A numeric attribute of n values (a scalar when n is 1): file type ftype, values v of
   memory type mtype. */
int lode__h5_set_nums(hid_t obj, const char *name, hid_t ftype, hid_t mtype, size_t n, const void *v);
int lode__h5_set_double(hid_t obj, const char *name, double v);
/* Read a text attribute (fixed or variable length), malloc'd; NULL if absent or not
   text.  Clears HDF5's error stack. */
char *lode__h5_get_text(hid_t obj, const char *name);
/* Read a numeric scalar attribute as double; 0 on success.  Clears HDF5's error stack. */
int lode__h5_get_double(hid_t obj, const char *name, double *v);
/* The CF grid-mapping attributes of a (lode__crs_attrs) on the grid-mapping variable crs
   (crs_wkt is written by the caller); attributes that fail are left out. */
void lode__h5_write_grid_mapping(hid_t crs, const lode_crs_attrs *a);

/* ---- vector layers (bundle_vector.c; used by bundle_vector_read.c) ---- */

/* The native memory type of a numeric field type; H5I_INVALID_HID for strings. */
hid_t lode__h5_field_mtype(lode_ftype t);
/* A new variable-length UTF-8 string type (the caller closes it); negative on failure. */
hid_t lode__h5_vlen_string_type(void);

/* ---- limits on reading an untrusted bundle (bundle_bounds.c) ---- */

/* Deflate inflates each stored byte to at most 1032 (258 bytes from a 2-bit code). */
#define LODE__DEFLATE_MAX_RATIO 1032
/* The largest chunk a reader inflates: eight times lode's largest (512 x 512 x 8 bytes). */
#define LODE__MAX_CHUNK_BYTES (16u << 20)
/* The longest axis a reader accepts: what lode's int dimensions can hold. */
#define LODE__MAX_DIM ((hsize_t)2147483647)
/* The longest lode_lineage a reader parses as JSON (lode writes a few kilobytes; a
   parsed JSON text can take tens of times its size). */
#define LODE__MAX_LINEAGE_BYTES (4u << 20)
/* A variable of at most this many bytes may be left unstored (netCDF's scalars). */
#define LODE__UNSTORED_BYTES 4096

/* The most a stored chunk of c declared bytes may take: deflate's worst case (stored
   blocks, 5 bytes per 65535), zlib's header and trailer, Fletcher-32, and room to spare. */
uint64_t lode__h5_stored_most(uint64_t c);
/*
 * Can variable d of file be read within the limits (bundle-format.md, "Limits a reader
 * applies")?  A readable type and layout (contiguous, compact or chunked, not virtual,
 * nothing in external files), no axis longer than LODE__MAX_DIM, chunks of at most
 * LODE__MAX_CHUNK_BYTES filtered only by shuffle, deflate and Fletcher-32, every chunk
 * (every byte, unchunked) stored inside the file, and no chunk declaring more than its
 * stored bytes can inflate to.  Variables of at most LODE__UNSTORED_BYTES are exempt
 * from being stored.  Returns NULL, or a malloc'd problem ("it declares ..."); *declared
 * gets the variable's size in bytes, *chunk one chunk's (0 unchunked).  Reads no values.
 */
char *lode__h5_storage_problem(hid_t file, hid_t d, uint64_t *declared, uint64_t *chunk);
/*
 * The same for the bundle digest, which reads every value, fill values included
 * (bundle_canon_values.c): a variable that stores nothing at all may also be left
 * unstored when it declares at most LODE__DEFLATE_MAX_RATIO times the file's size (the
 * most its stored bytes could inflate to; netCDF writes its dimensions without a
 * variable so, as datasets of fill values).
 */
char *lode__h5_digest_storage_problem(hid_t file, hid_t d, uint64_t *declared, uint64_t *chunk);
/*
 * Read the slab [start, start + count) of variable d (start NULL: all of it) into buf as
 * memory type mtype, the slab's values in C order, as H5Dread would; a chunked variable
 * with deflate among its filters (rank 1 to 3, fixed-size values) is read chunk by chunk
 * through lode__chunk_decode, so that no chunk inflates past its declared size.  What is
 * inflated or read is counted as work (lode__work_done).  On failure `code`, the message
 * "WHAT: " and why.  Check the variable with lode__h5_storage_problem first.
 */
lode_status lode__h5_read_slab(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count, void *buf,
			       lode_error *err, lode_status code, const char *what);
/* The same, its chunks decoded on up to threads worker threads (0: on this thread), which
   needs LODE__DECODE_THREAD_CHUNKS chunks of memory more per thread (bundle.h); the same
   values and, on failure, the same message. */
lode_status lode__h5_read_slab_mt(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count, void *buf,
				  int threads, lode_error *err, lode_status code, const char *what);

/* ---- listing (bundle_vector_read.c; used by bundle_read.c) ---- */

/* Fill the item of the vector layer whose geometry container is the root variable name;
   what cannot be read goes to it->problem. */
void lode__h5_read_vector_item(hid_t file, const char *name, lode_bundle_item *it);

#endif /* LODE_BUNDLE_H5_INT_H */
