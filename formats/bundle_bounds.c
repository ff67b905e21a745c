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
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_h5_int.h"
#include "chunk_codec.h"
#include "error.h"
#include "util.h"

/* ---- reading a variable ---- */

/* The most a stored chunk of c bytes may take: deflate's worst case (stored blocks, 5
   bytes per 65535), zlib's header and trailer, Fletcher-32, and room to spare. */
uint64_t lode__h5_stored_most(uint64_t c)
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
   the slab [start, start + count) into buf, the slab's values in C order; when shuffled,
   chunk holds the chunk's byte planes, put back in place row by row (no other copy). */
static void scatter(const unsigned char *chunk, int shuffled, const chunked *k, const hsize_t *off,
		    const hsize_t *start, const hsize_t *count, size_t esz, unsigned char *buf)
{
	hsize_t lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1}, cd[3] = {1, 1, 1}, o[3] = {0, 0, 0}, s[3] = {0, 0, 0},
		n[3] = {1, 1, 1};
	int r = k->rank, pad = 3 - r;
	size_t nelem = k->c / esz;

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
			if (shuffled)
				lode__unshuffle_part(chunk, nelem, from, (size_t)(hi[2] - lo[2]),
						     buf + to * esz, esz);
			else
				memcpy(buf + to * esz, chunk + from * esz, (size_t)(hi[2] - lo[2]) * esz);
		}
}

/* ---- decoding a slab's chunks on worker threads ---- */

/*
 * The calling thread (the only one that calls HDF5) reads each stored chunk into a free
 * slot, in slab order; workers decode the slots and put the values in the slab (chunks
 * cover disjoint parts of it).  The failure reported is that of the first chunk in slab
 * order that fails, as when one thread decodes them all.  Memory: threads + 1 stored
 * chunks and two decoded chunks per worker (LODE__DECODE_THREAD_CHUNKS each).
 */
typedef struct dslot {
	unsigned char *raw;
	hsize_t size, off[3];
	uint32_t filters;
	size_t seq;
	int state; /* 0 free, 1 read and waiting, 2 being decoded */
} dslot;

typedef struct dpool {
	const chunked *k;
	const hsize_t *start, *count;
	unsigned char *buf;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	dslot *slots;
	int nslots, ending;
	size_t fail_seq; /* SIZE_MAX: none yet */
	lode_error fail;
} dpool;

static void pool_failed(dpool *p, size_t seq, const lode_error *e)
{
	if (seq < p->fail_seq) {
		p->fail_seq = seq;
		p->fail = *e;
	}
}

static void *decode_worker(void *arg)
{
	dpool *p = arg;
	const chunked *k = p->k;
	unsigned char *a = malloc(k->c), *b = malloc(k->c);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		dslot *s = NULL;
		for (int i = 0; i < p->nslots && !s; i++)
			if (p->slots[i].state == 1)
				s = &p->slots[i];
		if (!s) {
			if (p->ending)
				break;
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		s->state = 2;
		{
			unsigned char *chunk = NULL;
			int shuffled = 0;
			lode_error e;
			lode_status rc = LODE_OK;
			pthread_mutex_unlock(&p->mu);
			if (!a || !b)
				rc = lode__err(&e, LODE_ENOMEM, "out of memory");
			else if (!(rc = lode__chunk_decode_planes(s->raw, (size_t)s->size, k->f, k->nf,
								  s->filters, k->esize, k->c, a, b, &chunk,
								  &shuffled, &e)))
				scatter(chunk, shuffled, k, s->off, p->start, p->count, k->esize, p->buf);
			pthread_mutex_lock(&p->mu);
			if (rc)
				pool_failed(p, s->seq, &e);
			s->state = 0;
			pthread_cond_broadcast(&p->cv);
		}
	}
	pthread_mutex_unlock(&p->mu);
	free(a);
	free(b);
	lode__chunk_codec_thread_done();
	return NULL;
}

/* Start the workers of p (up to threads); the number started (0: decode on this thread). */
static int pool_start(dpool *p, pthread_t *th, int threads, size_t most)
{
	int n = 0;

	p->fail_seq = SIZE_MAX;
	if (!(p->slots = calloc((size_t)threads + 1, sizeof *p->slots)))
		return 0;
	for (p->nslots = 0; p->nslots < threads + 1; p->nslots++)
		if (!(p->slots[p->nslots].raw = malloc(most)))
			break;
	if (p->nslots < 2)
		return 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	while (n < threads && n < p->nslots - 1 && pthread_create(&th[n], NULL, decode_worker, p) == 0)
		n++;
	if (!n) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	return n;
}

static void pool_end(dpool *p, pthread_t *th, int n)
{
	if (n) {
		pthread_mutex_lock(&p->mu);
		p->ending = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	for (int i = 0; p->slots && i < p->nslots; i++)
		free(p->slots[i].raw);
	free(p->slots);
}

/* A free slot of p, waiting for one; NULL once a chunk has failed. */
static dslot *pool_slot(dpool *p)
{
	dslot *s = NULL;

	pthread_mutex_lock(&p->mu);
	while (p->fail_seq == SIZE_MAX && !s) {
		for (int i = 0; i < p->nslots && !s; i++)
			if (p->slots[i].state == 0)
				s = &p->slots[i];
		if (!s)
			pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

/* Read the slab of a chunked, deflated variable by decoding its chunks with
   lode__chunk_decode (the stored bytes bounded, each chunk inflated into its declared
   size) and converting to mtype with H5Tconvert, as H5Dread would; on up to threads
   worker threads when no conversion is needed (HDF5 is called on this thread only). */
static lode_status read_decoded(hid_t d, hid_t ftype, hid_t mtype, const chunked *k, const hsize_t *start,
				const hsize_t *count, void *buf, int threads, lode_error *err,
				lode_status code, const char *what)
{
	size_t msize = H5Tget_size(mtype), nelem = k->c / k->esize, most = (size_t)lode__h5_stored_most(k->c);
	size_t conv_size = nelem * (msize > k->esize ? msize : k->esize), nchunks = 1, seq = 0;
	int convert = H5Tequal(ftype, mtype) <= 0;
	unsigned char *raw = NULL, *a = NULL, *b = NULL, *conv = NULL;
	hsize_t first[3] = {0, 0, 0}, last[3] = {0, 0, 0}, idx[3] = {0, 0, 0}, off[3];
	lode_status rc = LODE_OK;
	int r = k->rank, done = 0, workers = 0, decode_failed = 0;
	dpool pool = {.k = k, .start = start, .count = count, .buf = buf};
	pthread_t th[LODE__DECODE_MAX_THREADS];

	for (int i = 0; i < r; i++) {
		if (!count[i]) {
			done = 1;
			break;
		}
		first[i] = idx[i] = start[i] / k->cdims[i];
		last[i] = (start[i] + count[i] - 1) / k->cdims[i];
		nchunks *= (size_t)(last[i] - first[i] + 1);
	}
	if (threads > LODE__DECODE_MAX_THREADS)
		threads = LODE__DECODE_MAX_THREADS;
	if (!convert && !done && threads >= 1 && nchunks >= 2)
		workers = pool_start(&pool, th, (size_t)threads < nchunks ? threads : (int)nchunks, most);
	if (!workers) {
		raw = malloc(most);
		a = malloc(k->c);
		b = malloc(k->c);
		conv = convert ? malloc(conv_size) : NULL;
		if (!raw || !a || !b || (convert && !conv)) {
			rc = lode__err(err, LODE_ENOMEM, "%s: out of memory", what);
			done = 1;
		}
	}
	for (; !done && !rc; seq++) {
		unsigned mask = 0;
		uint32_t filters = 0;
		haddr_t addr = HADDR_UNDEF;
		hsize_t size = 0;
		unsigned char *chunk = NULL;
		dslot *s = NULL;
		int shuffled = 0;

		if (workers && !(s = pool_slot(&pool)))
			break; /* a chunk before failed */
		for (int i = 0; i < r; i++)
			off[i] = idx[i] * k->cdims[i];
		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0 || addr == HADDR_UNDEF ||
		    size == 0 || size > most) {
			H5Eclear2(H5E_DEFAULT);
			rc = lode__err(err, code, "%s: the chunk at offset %llu is missing or too large",
				       what, (unsigned long long)off[r - 1]);
			break;
		}
		if (H5Dread_chunk(d, H5P_DEFAULT, off, &filters, s ? s->raw : raw) < 0) {
			rc = lode__h5_err(err, code, what);
			break;
		}
		if (s) {
			lode__work_done(k->c);
			pthread_mutex_lock(&pool.mu);
			s->size = size;
			s->filters = filters;
			s->seq = seq;
			memcpy(s->off, off, sizeof off);
			s->state = 1;
			pthread_cond_broadcast(&pool.cv);
			pthread_mutex_unlock(&pool.mu);
		} else {
			if ((rc = lode__chunk_decode_planes(raw, (size_t)size, k->f, k->nf, filters, k->esize,
							    k->c, a, b, &chunk, convert ? NULL : &shuffled,
							    err))) {
				decode_failed = 1;
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
			scatter(chunk, shuffled, k, off, start, count, convert ? msize : k->esize, buf);
		}
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
	if (workers) {
		pool_end(&pool, th, workers);
		/* A chunk that failed to decode before the one this thread failed on wins. */
		if (pool.fail_seq != SIZE_MAX && (!rc || pool.fail_seq < seq)) {
			*err = pool.fail;
			rc = err->code;
			decode_failed = 1;
		}
	} else if (pool.slots) {
		pool_end(&pool, th, 0);
	}
	if (decode_failed) {
		lode__err_ctx(err, "%s: ", what);
		if (rc != LODE_ENOMEM) /* a worker's buffers: beyond memory, not damaged */
			err->code = rc = code;
	}
	free(raw);
	free(a);
	free(b);
	free(conv);
	return rc;
}

lode_status lode__h5_read_slab(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count, void *buf,
			       lode_error *err, lode_status code, const char *what)
{
	return lode__h5_read_slab_mt(d, mtype, start, count, buf, 0, err, code, what);
}

lode_status lode__h5_read_slab_mt(hid_t d, hid_t mtype, const hsize_t *start, const hsize_t *count, void *buf,
				  int threads, lode_error *err, lode_status code, const char *what)
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
			rc = read_decoded(d, t, mtype, &k, start, count, buf, threads, err, code, what);
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

/* The number of chunks of a variable (*n), no more than a file of fsize bytes can hold,
   and off set to the first chunk's offsets.  NULL or a malloc'd problem. */
static char *count_chunks(int rank, const hsize_t *dims, const hsize_t *cdims, hsize_t fsize, hsize_t *n,
			  hsize_t *off)
{
	*n = 1;
	for (int k = 0; k < rank; k++) {
		hsize_t along = (dims[k] + cdims[k] - 1) / cdims[k];
		if (along && *n > fsize / along)
			return lode__sprintf("it declares more chunks than a file of %" PRIu64
					     " bytes can hold (lode stores every chunk)",
					     (uint64_t)fsize);
		*n *= along;
		off[k] = 0;
	}
	return NULL;
}

/* Every chunk of a chunked variable stored, within the file, and no chunk declaring more
   (c bytes) than its stored bytes can inflate to.  NULL or a malloc'd problem. */
static char *chunks_problem(hid_t d, int rank, const hsize_t *dims, const hsize_t *cdims, uint64_t c,
			    unsigned deflate_bit, hsize_t fsize)
{
	hsize_t off[H5S_MAX_RANK], nchunks;
	char at[48], *problem = count_chunks(rank, dims, cdims, fsize, &nchunks, off);

	if (problem)
		return problem;
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
		if (size > lode__h5_stored_most(c))
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

/*
 * A variable-length value is stored as 16 bytes: its length (4 bytes, little-endian),
 * then where the global heap holds it.  HDF5 1.10.8 allocates and clears a buffer of
 * that length before it reads the heap object (H5T__conv_vlen), so a damaged length
 * makes a reader allocate up to 4 GiB a value.  Each stored length is checked here
 * against the file's size before any value is read.  (An attribute's values cannot be
 * read raw: pipeline/untrusted.c bounds the reader's memory for those.)
 */

/* The first of the bytes / 16 stored values at v claiming more items of base bytes
   (1 for a string) than the file's fsize bytes hold; where says where v is ("its chunk
   at (0)").  NULL or a malloc'd problem. */
static char *vlen_lengths_problem(const unsigned char *v, uint64_t bytes, uint64_t base, hsize_t fsize,
				  const char *where)
{
	for (uint64_t j = 0; j + 16 <= bytes; j += 16) {
		const uint64_t len = (uint64_t)v[j] | (uint64_t)v[j + 1] << 8 | (uint64_t)v[j + 2] << 16 |
				     (uint64_t)v[j + 3] << 24;
		if (len && len > fsize / base)
			return lode__sprintf("a variable-length value in %s claims %" PRIu64
					     " items of %" PRIu64 " bytes, more than the file's %" PRIu64
					     " bytes hold",
					     where, len, base, (uint64_t)fsize);
	}
	return NULL;
}

/* A contiguous variable's stored values, read from the file in pieces (its stored bytes
   are checked to lie within the file first; a variable not yet stored reads as empty
   values).  total: the bytes it declares. */
static char *vlen_contiguous_problem(hid_t file, hid_t d, uint64_t total, uint64_t base, hsize_t fsize)
{
	const hsize_t stored = H5Dget_storage_size(d);
	const haddr_t at = H5Dget_offset(d);
	const uint64_t n = (stored < total ? stored : total) & ~(uint64_t)15;
	const size_t piece = 1 << 16;
	unsigned char *buf;
	char *problem = NULL;
	int *fd = NULL;

	if (stored == 0 || at == HADDR_UNDEF)
		return NULL;
	if (stored > fsize || at > fsize - stored)
		return lode__strdup("its values lie outside the file");
	if (H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fd) < 0 || !fd || *fd < 0)
		return lode__strdup("its variable-length values cannot be read from the file");
	if (!(buf = malloc(piece)))
		return lode__strdup("out of memory");
	for (uint64_t done = 0; done < n && !problem;) {
		size_t want = n - done < piece ? (size_t)(n - done) : piece;
		ssize_t got = pread(*fd, buf, want, (off_t)(at + done));
		if (got != (ssize_t)want)
			problem = lode__strdup("its variable-length values cannot be read from the file");
		else
			problem = vlen_lengths_problem(buf, want, base, fsize, "its values");
		done += want;
	}
	free(buf);
	return problem;
}

/* A chunked variable's: every chunk decoded (shuffle, deflate and Fletcher-32 only, as
   filters_problem allows) and every element of it, the edge chunks' padding included. */
static char *vlen_chunks_problem(hid_t d, hid_t p, int rank, const hsize_t *dims, const hsize_t *cdims,
				 uint64_t c, uint64_t base, hsize_t fsize)
{
	lode_chunk_filter f[3];
	size_t elem = 16;
	int nf = H5Pget_nfilters(p);
	hsize_t off[H5S_MAX_RANK], nchunks;
	unsigned char *raw = NULL, *a = NULL, *b = NULL;
	char *problem = NULL, at[48], where[64];

	if (nf < 0 || nf > 3)
		return lode__strdup("its filters cannot be read");
	for (int i = 0; i < nf; i++) {
		unsigned flags = 0, cd[4] = {0}, config = 0;
		size_t ncd = 4;
		H5Z_filter_t id = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, 0, NULL, &config);
		f[i] = id == H5Z_FILTER_SHUFFLE   ? LODE_CF_SHUFFLE
		       : id == H5Z_FILTER_DEFLATE ? LODE_CF_DEFLATE
						  : LODE_CF_FLETCHER32;
		if (id == H5Z_FILTER_SHUFFLE && ncd >= 1 && cd[0] >= 1 && cd[0] <= 16)
			elem = cd[0];
	}
	if ((problem = count_chunks(rank, dims, cdims, fsize, &nchunks, off)))
		return problem;
	if (!(raw = malloc((size_t)lode__h5_stored_most(c))) || !(a = malloc((size_t)c)) ||
	    !(b = malloc((size_t)c)))
		problem = lode__strdup("out of memory");
	for (hsize_t i = 0; i < nchunks && !problem; i++) {
		unsigned mask = 0;
		uint32_t filters = 0;
		haddr_t addr = HADDR_UNDEF;
		hsize_t size = 0;
		unsigned char *v = NULL;
		lode_error e = {0};

		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0) {
			problem =
			    lode__sprintf("its chunk at %s cannot be looked up", chunk_at(at, off, rank));
			break;
		}
		if (addr == HADDR_UNDEF || size == 0)
			goto next; /* not stored: HDF5 reads empty values (others check it is not) */
		if (size > fsize || addr > fsize - size || size > lode__h5_stored_most(c) ||
		    H5Dread_chunk(d, H5P_DEFAULT, off, &filters, raw) < 0) {
			problem = lode__sprintf("its chunk at %s cannot be read", chunk_at(at, off, rank));
			break;
		}
		if (lode__chunk_decode(raw, (size_t)size, f, nf, filters, elem, (size_t)c, a, b, &v, &e)) {
			problem = lode__sprintf("its chunk at %s: %s", chunk_at(at, off, rank), e.message);
			break;
		}
		snprintf(where, sizeof where, "its chunk at %s", chunk_at(at, off, rank));
		problem = vlen_lengths_problem(v, c, base, fsize, where);
	next:
		for (int k = rank - 1; k >= 0; k--) {
			off[k] += cdims[k];
			if (off[k] < dims[k])
				break;
			off[k] = 0;
		}
	}
	H5Eclear2(H5E_DEFAULT);
	free(raw);
	free(a);
	free(b);
	return problem;
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
	/* Variable-length values: every stored length bounded before any is read, a small
	   variable's too */
	if (esize == 16 && (H5Tis_variable_str(t) > 0 || H5Tget_class(t) == H5T_VLEN)) {
		hid_t super = H5Tis_variable_str(t) > 0 ? -1 : H5Tget_super(t);
		size_t base = super >= 0 ? H5Tget_size(super) : 1;
		if (super >= 0)
			H5Tclose(super);
		if (!base)
			problem = lode__strdup("its values have a type a reader does not read");
		else if (layout == H5D_CHUNKED)
			problem = vlen_chunks_problem(d, p, rank, dims, cdims, c, base, fsize);
		else if (layout == H5D_CONTIGUOUS)
			problem = vlen_contiguous_problem(file, d, total, base, fsize);
		else
			problem = lode__strdup("its variable-length values are stored in its header "
					       "(compact), which lode never writes and a reader cannot "
					       "bound");
		if (problem)
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

void lode__bundle_set_decode_threads(lode__bundle *b, int n)
{
	if (b)
		b->decode_threads = n < 0 ? 0 : n > LODE__DECODE_MAX_THREADS ? LODE__DECODE_MAX_THREADS : n;
}
