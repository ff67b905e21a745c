/*
 * bundle_bounds.c -- what an untrusted bundle may make its reader do (bundle-format.md,
 * "Limits a reader applies"): a variable's declared size checked against what the file
 * stores before anything is allocated or read (every chunk stored, none declaring more
 * than its stored bytes can inflate to under deflate's maximum ratio, no chunk over
 * LODE__MAX_CHUNK_BYTES, no axis over LODE__MAX_DIM), and values read so that no chunk
 * inflates past the size its variable declares: deflated chunks are read raw and decoded
 * by lode__chunk_decode, because HDF5's own deflate filter (which cannot be replaced:
 * H5Zregister refuses predefined filters) inflates until the stream ends.  What is
 * inflated or read is counted as the reader's work (lode__work_done, util.h).
 *
 * It bounds single variables.  What a whole dataset needs in memory is decided by its
 * reader (bundle_vector_read.c, pipeline/bundle_items.c); the watchdog that bounds the
 * total work is pipeline/untrusted.c's.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "chunk_codec.h"
#include "error.h"
#include "util.h"

/* ---- reading a variable ---- */

/* The most a stored chunk of c bytes may take: deflate's worst case (stored blocks, 5
   bytes per 65535), zlib's header and trailer, Fletcher-32, and room to spare. */
static uint64_t stored_most(uint64_t c)
{
	return c + c / 256 + 1024;
}

/* What decoding a chunked variable needs: its filters as lode_chunk_filter, the chunk's
   shape and bytes, the element size shuffle used.  -1 with a problem. */
typedef struct chunked {
	int rank, nf;
	hsize_t cdims[H5S_MAX_RANK];
	lode_chunk_filter f[3];
	size_t c, esize;
} chunked;

static int describe_chunks(hid_t d, hid_t ftype, chunked *k, const char **why)
{
	hid_t p = H5Dget_create_plist(d);
	int nf = p >= 0 ? H5Pget_nfilters(p) : -1;

	k->rank = p >= 0 ? H5Pget_chunk(p, H5S_MAX_RANK, k->cdims) : -1;
	k->esize = H5Tget_size(ftype);
	k->c = k->esize;
	k->nf = 0;
	*why = NULL;
	for (int i = 0; i < k->rank && k->c <= LODE__MAX_CHUNK_BYTES; i++)
		k->c = k->cdims[i] ? k->c * (size_t)k->cdims[i] : SIZE_MAX;
	if (k->rank < 1 || nf < 0 || nf > 3 || k->c > LODE__MAX_CHUNK_BYTES || !k->esize)
		*why = "its chunks or filters are not ones a reader decodes";
	for (int i = 0; !*why && i < nf; i++) {
		unsigned flags = 0, cd[4] = {0}, config = 0;
		size_t ncd = 4;
		H5Z_filter_t id = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, 0, NULL, &config);
		k->f[k->nf++] = id == H5Z_FILTER_SHUFFLE      ? LODE_CF_SHUFFLE
				: id == H5Z_FILTER_DEFLATE    ? LODE_CF_DEFLATE
				: id == H5Z_FILTER_FLETCHER32 ? LODE_CF_FLETCHER32
							      : 0;
		if (!k->f[k->nf - 1] || (id == H5Z_FILTER_SHUFFLE && ncd >= 1 && cd[0] != k->esize))
			*why = "its filters are not ones a reader decodes";
	}
	if (p >= 0)
		H5Pclose(p);
	return *why ? -1 : 0;
}

/* Copy the part of a decoded chunk (at off, of k's shape, esz-byte values) that lies in
   the slab [start, start + count) into buf, the slab's values in C order. */
static void scatter(const unsigned char *chunk, const chunked *k, const hsize_t *off, const hsize_t *start,
		    const hsize_t *count, size_t esz, unsigned char *buf)
{
	hsize_t lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1}, cd[3] = {1, 1, 1}, o[3] = {0, 0, 0}, s[3] = {0, 0, 0},
		n[3] = {1, 1, 1};
	int r = k->rank, pad = 3 - r;

	for (int i = 0; i < r; i++) {
		cd[pad + i] = k->cdims[i];
		o[pad + i] = off[i];
		s[pad + i] = start[i];
		n[pad + i] = count[i];
		lo[pad + i] = off[i] > start[i] ? off[i] : start[i];
		hi[pad + i] =
		    off[i] + k->cdims[i] < start[i] + count[i] ? off[i] + k->cdims[i] : start[i] + count[i];
	}
	for (hsize_t i0 = lo[0]; i0 < hi[0]; i0++)
		for (hsize_t i1 = lo[1]; i1 < hi[1]; i1++) {
			size_t from =
			    (size_t)((((i0 - o[0]) * cd[1] + (i1 - o[1])) * cd[2]) + (lo[2] - o[2]));
			size_t to = (size_t)((((i0 - s[0]) * n[1] + (i1 - s[1])) * n[2]) + (lo[2] - s[2]));
			memcpy(buf + to * esz, chunk + from * esz, (size_t)(hi[2] - lo[2]) * esz);
		}
}

/* Read the slab of a chunked, deflated variable by decoding its chunks with
   lode__chunk_decode (the stored bytes bounded, each chunk inflated into its declared
   size) and converting to mtype with H5Tconvert, as H5Dread would. */
static lode_status read_decoded(hid_t d, hid_t ftype, hid_t mtype, const chunked *k, const hsize_t *start,
				const hsize_t *count, void *buf, lode_error *err, lode_status code,
				const char *what)
{
	size_t msize = H5Tget_size(mtype), nelem = k->c / k->esize, most = (size_t)stored_most(k->c);
	size_t conv_size = nelem * (msize > k->esize ? msize : k->esize);
	int convert = H5Tequal(ftype, mtype) <= 0;
	unsigned char *raw = malloc(most), *a = malloc(k->c), *b = malloc(k->c),
		      *conv = convert ? malloc(conv_size) : NULL;
	hsize_t first[3] = {0, 0, 0}, last[3] = {0, 0, 0}, idx[3] = {0, 0, 0}, off[3];
	lode_status rc = LODE_OK;
	int r = k->rank, done = 0;

	if (!raw || !a || !b || (convert && !conv)) {
		rc = lode__err(err, LODE_ENOMEM, "%s: out of memory", what);
		goto out;
	}
	for (int i = 0; i < r; i++) {
		if (!count[i]) {
			done = 1;
			break;
		}
		first[i] = idx[i] = start[i] / k->cdims[i];
		last[i] = (start[i] + count[i] - 1) / k->cdims[i];
	}
	while (!done && !rc) {
		unsigned mask = 0;
		uint32_t filters = 0;
		haddr_t addr = HADDR_UNDEF;
		hsize_t size = 0;
		unsigned char *chunk = NULL;

		for (int i = 0; i < r; i++)
			off[i] = idx[i] * k->cdims[i];
		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF ||
		    size == 0 || size > most) {
			H5Eclear2(H5E_DEFAULT);
			rc = lode__err(err, code, "%s: the chunk at offset %llu is missing or too large",
				       what, (unsigned long long)off[r - 1]);
			break;
		}
		if (H5Dread_chunk(d, H5P_DEFAULT, off, &filters, raw) < 0) {
			rc = lode__h5_err(err, code, what);
			break;
		}
		if ((rc = lode__chunk_decode(raw, (size_t)size, k->f, k->nf, filters, k->esize, k->c, a, b,
					     &chunk, err))) {
			lode__err_ctx(err, "%s: ", what);
			err->code = rc = code;
			break;
		}
		lode__work_done(k->c);
		if (convert) {
			memcpy(conv, chunk, k->c);
			if (H5Tconvert(ftype, mtype, nelem, conv, NULL, H5P_DEFAULT) < 0) {
				rc = lode__h5_err(err, code, what);
				break;
			}
			chunk = conv;
		}
		scatter(chunk, k, off, start, count, convert ? msize : k->esize, buf);
		/* the next chunk of the slab, the last axis fastest */
		done = 1;
		for (int i = r - 1; i >= 0 && done; i--) {
			if (idx[i] < last[i]) {
				idx[i]++;
				done = 0;
			} else {
				idx[i] = first[i];
			}
		}
	}
out:
	free(raw);
	free(a);
	free(b);
	free(conv);
	return rc;
}

lode_status lode__h5_read_slab(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count, void *buf,
			       lode_error *err, lode_status code, const char *what)
{
	hid_t s = H5Dget_space(d), t = H5Dget_type(d), p = H5Dget_create_plist(d), ms = H5I_INVALID_HID;
	hsize_t dims[H5S_MAX_RANK], zero[H5S_MAX_RANK] = {0};
	int rank = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1, deflated = 0;
	lode_status rc = LODE_OK;
	const char *why = NULL;
	chunked k;

	if (rank < 0 || t < 0 || p < 0) {
		rc = lode__h5_err(err, code, what);
		goto out;
	}
	if (!start) {
		start = zero;
		count = dims;
	}
	for (int i = 0; p >= 0 && H5Pget_layout(p) == H5D_CHUNKED && i < H5Pget_nfilters(p); i++) {
		unsigned flags = 0, config = 0;
		size_t ncd = 0;
		deflated |= H5Pget_filter2(p, (unsigned)i, &flags, &ncd, NULL, 0, NULL, &config) ==
			    H5Z_FILTER_DEFLATE;
	}
	if (deflated) {
		/* HDF5's deflate filter inflates until the stream ends: decode here instead. */
		if (rank < 1 || rank > 3 || H5Tis_variable_str(t) > 0 || H5Tget_class(t) == H5T_VLEN ||
		    describe_chunks(d, t, &k, &why) < 0 || k.rank != rank)
			rc = lode__err(err, code, "%s: %s", what,
				       why ? why : "compressed values of a kind a reader does not decode");
		else
			rc = read_decoded(d, t, mtype, &k, start, count, buf, err, code, what);
		goto out;
	}
	/* Unfiltered, or shuffle and Fletcher-32 only: HDF5's buffers are the chunk's size. */
	if (rank > 0 && ((ms = H5Screate_simple(rank, count, NULL)) < 0 ||
			 H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, count, NULL) < 0)) {
		rc = lode__h5_err(err, code, what);
		goto out;
	}
	if (H5Dread(d, mtype, rank > 0 ? ms : H5S_ALL, rank > 0 ? s : H5S_ALL, H5P_DEFAULT, buf) < 0) {
		rc = lode__h5_err(err, code, what);
		goto out;
	}
	{
		uint64_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= count[i];
		lode__work_done(n * H5Tget_size(mtype));
	}
out:
	if (ms >= 0)
		H5Sclose(ms);
	if (p >= 0)
		H5Pclose(p);
	if (t >= 0)
		H5Tclose(t);
	if (s >= 0)
		H5Sclose(s);
	return rc;
}

/* ---- what a variable declares against what the file stores ---- */

/* The filters of a chunked variable: only shuffle, deflate and Fletcher-32, each at most
   once (what lode writes; the others' expansion cannot be bounded).  *deflate_bit is the
   filter-mask bit of deflate (0 when absent).  NULL or a malloc'd problem. */
static char *filters_problem(hid_t p, unsigned *deflate_bit)
{
	int n = H5Pget_nfilters(p);
	unsigned seen = 0;

	*deflate_bit = 0;
	for (int i = 0; i < n; i++) {
		unsigned flags = 0, cd[8], config = 0;
		size_t ncd = 8;
		char name[64] = "";
		H5Z_filter_t id =
		    H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &config);
		unsigned bit = id == H5Z_FILTER_SHUFFLE      ? 1u
			       : id == H5Z_FILTER_DEFLATE    ? 2u
			       : id == H5Z_FILTER_FLETCHER32 ? 4u
							     : 0u;

		if (!bit || (seen & bit) || i >= 32)
			return lode__sprintf(
			    "its filter %d (HDF5 filter %d) is not one a reader bounds (only "
			    "shuffle, deflate and Fletcher-32, each once)",
			    i + 1, (int)id);
		seen |= bit;
		if (id == H5Z_FILTER_DEFLATE)
			*deflate_bit = 1u << i;
	}
	return n < 0 ? lode__strdup("its filters cannot be read") : NULL;
}

/* "(I)" or "(I, J)": where a chunk starts, by its first one or two offsets. */
static const char *chunk_at(char at[48], const hsize_t *off, int rank)
{
	if (rank > 1)
		snprintf(at, 48, "(%" PRIu64 ", %" PRIu64 ")", (uint64_t)off[0], (uint64_t)off[1]);
	else
		snprintf(at, 48, "(%" PRIu64 ")", (uint64_t)off[0]);
	return at;
}

/* Every chunk of a chunked variable stored, within the file, and no chunk declaring more
   (c bytes) than its stored bytes can inflate to.  NULL or a malloc'd problem. */
static char *chunks_problem(hid_t d, int rank, const hsize_t *dims, const hsize_t *cdims, uint64_t c,
			    unsigned deflate_bit, hsize_t fsize)
{
	hsize_t off[H5S_MAX_RANK], nchunks = 1;
	char at[48];

	for (int k = 0; k < rank; k++) {
		hsize_t along = (dims[k] + cdims[k] - 1) / cdims[k];
		if (along && nchunks > fsize / along)
			return lode__sprintf("it declares more chunks than a file of %" PRIu64
					     " bytes can hold (lode stores every chunk)",
					     (uint64_t)fsize);
		nchunks *= along;
		off[k] = 0;
	}
	for (hsize_t i = 0; i < nchunks; i++) {
		unsigned mask = 0;
		haddr_t addr = HADDR_UNDEF;
		hsize_t size = 0;
		uint64_t most;

		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0)
			return lode__sprintf("its chunk at offset %" PRIu64 " cannot be looked up",
					     (uint64_t)off[rank - 1]);
		if (addr == HADDR_UNDEF || size == 0)
			return lode__sprintf("its chunk at %s is not stored: a reader would make "
					     "values the file does not hold (lode stores every chunk)",
					     chunk_at(at, off, rank));
		if (size > fsize || addr > fsize - size)
			return lode__sprintf("its chunk at offset %" PRIu64 " lies outside the file",
					     (uint64_t)off[rank - 1]);
		if (size > stored_most(c))
			return lode__sprintf("its chunk at offset %" PRIu64 " stores %" PRIu64
					     " bytes for %" PRIu64 ", more than any compressor makes of them",
					     (uint64_t)off[rank - 1], (uint64_t)size, c);
		most = deflate_bit && !(mask & deflate_bit) ? (uint64_t)size * LODE__DEFLATE_MAX_RATIO
							    : (uint64_t)size;
		if (c > most)
			return lode__sprintf("its chunk at %s declares %" PRIu64 " bytes but stores %" PRIu64
					     "%s",
					     chunk_at(at, off, rank), c, (uint64_t)size,
					     deflate_bit && !(mask & deflate_bit)
						 ? ": deflate makes at most 1032 bytes of each stored byte "
						   "(a decompression bomb)"
						 : ", uncompressed");
		/* the next chunk, the last axis fastest */
		for (int k = rank - 1; k >= 0; k--) {
			off[k] += cdims[k];
			if (off[k] < dims[k])
				break;
			off[k] = 0;
		}
	}
	return NULL;
}

/* Long: one check after another on one variable, each a sentence of its own. */
static char *storage_problem(hid_t file, hid_t d, uint64_t *declared, uint64_t *chunk, int for_digest)
{
	hid_t s = H5Dget_space(d), t = H5Dget_type(d), p = H5Dget_create_plist(d);
	hsize_t dims[H5S_MAX_RANK], cdims[H5S_MAX_RANK], fsize = 0;
	int rank = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
	uint64_t esize, total, c = 0;
	char *problem = NULL;
	H5D_layout_t layout = p >= 0 ? H5Pget_layout(p) : H5D_LAYOUT_ERROR;
	unsigned deflate_bit = 0;

	*declared = *chunk = 0;
	if (rank < 0 || t < 0 || layout < 0 || H5Fget_filesize(file, &fsize) < 0 ||
	    H5Sget_simple_extent_dims(s, dims, NULL) < 0) {
		problem = lode__strdup("its shape, type or layout cannot be read");
		goto out;
	}
	/* Variable-length values take 16 bytes in the file (a length and a heap address). */
	esize = H5Tis_variable_str(t) > 0 || H5Tget_class(t) == H5T_VLEN ? 16 : H5Tget_size(t);
	total = esize;
	for (int k = 0; k < rank; k++) {
		if (dims[k] > LODE__MAX_DIM) {
			problem = lode__sprintf("it declares %" PRIu64 " values along axis %d, more than a "
						"reader allows (%" PRIu64 ")",
						(uint64_t)dims[k], k, (uint64_t)LODE__MAX_DIM);
			goto out;
		}
		total = dims[k] && total > (UINT64_MAX >> 2) / dims[k] ? UINT64_MAX >> 2 : total * dims[k];
	}
	*declared = total;
	if (esize == 0 || esize > 4096) {
		problem = lode__strdup("its values have a type a reader does not read");
		goto out;
	}
	if (H5Pget_external_count(p) > 0) {
		problem = lode__strdup("its values are stored in files outside the bundle");
		goto out;
	}
	if (layout == H5D_CHUNKED) {
		if (H5Pget_chunk(p, rank, cdims) != rank) {
			problem = lode__strdup("its chunk shape cannot be read");
			goto out;
		}
		c = esize;
		for (int k = 0; k < rank; k++)
			c = cdims[k] == 0 || c > LODE__MAX_CHUNK_BYTES ? UINT64_MAX : c * cdims[k];
		*chunk = c;
		if (c > LODE__MAX_CHUNK_BYTES) {
			problem = lode__sprintf("it declares chunks of %" PRIu64 " bytes, more than a reader "
						"allows (%u MiB; lode writes at most 2 MiB)",
						c, LODE__MAX_CHUNK_BYTES >> 20);
			goto out;
		}
		if ((problem = filters_problem(p, &deflate_bit)))
			goto out;
	} else if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT) {
		problem = lode__strdup("it is a virtual dataset: its values live in other files");
		goto out;
	}
	/* A variable of a few bytes need not be stored (netCDF's scalars hold no data).  For
	   the digest, which reads fill values too, neither need one that stores nothing
	   (netCDF's dimensions without a variable) and declares no more than the file's
	   bytes can inflate to. */
	if (total <= LODE__UNSTORED_BYTES ||
	    (for_digest && H5Dget_storage_size(d) == 0 && total / LODE__DEFLATE_MAX_RATIO <= fsize))
		goto out;
	if (layout == H5D_CHUNKED) {
		problem = chunks_problem(d, rank, dims, cdims, c, deflate_bit, fsize);
	} else {
		hsize_t stored = H5Dget_storage_size(d);
		haddr_t at = layout == H5D_CONTIGUOUS ? H5Dget_offset(d) : 0;
		if (stored < total)
			problem = lode__sprintf("it declares %" PRIu64 " bytes but the file stores %" PRIu64
						" of them: a reader would make values the file does not hold",
						total, (uint64_t)stored);
		else if (stored > fsize ||
			 (layout == H5D_CONTIGUOUS && (at == HADDR_UNDEF || at > fsize - stored)))
			problem = lode__strdup("its values lie outside the file");
	}
out:
	if (p >= 0)
		H5Pclose(p);
	if (t >= 0)
		H5Tclose(t);
	if (s >= 0)
		H5Sclose(s);
	H5Eclear2(H5E_DEFAULT);
	return problem;
}

char *lode__h5_storage_problem(hid_t file, hid_t d, uint64_t *declared, uint64_t *chunk)
{
	return storage_problem(file, d, declared, chunk, 0);
}

char *lode__h5_digest_storage_problem(hid_t file, hid_t d, uint64_t *declared, uint64_t *chunk)
{
	return storage_problem(file, d, declared, chunk, 1);
}

void lode__bundle_set_max_memory(lode__bundle *b, size_t bytes)
{
	if (b)
		b->max_memory = bytes;
}
