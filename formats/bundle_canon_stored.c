/*
 * bundle_canon_stored.c -- the values digest of a chunked dataset (bundle format 4,
 * docs/bundle-format.md section 7.1): SHA-256 over u64 the number of stored chunks,
 * then for each stored chunk in row-major order of its chunk offsets: u64 its offset
 * along each axis, u32 its filter mask, u64 its stored size and the SHA-256 of its
 * stored bytes (as H5Dread_chunk returns them).  No chunk is inflated: the dataset's
 * head (layout, chunk shape, filters and their parameters, fill value) and its stored
 * bytes determine every value a reader sees, so the digest covers them as surely as
 * one over the decoded values, at the speed of SHA-256.
 *
 * The file is untrusted.  The caller has checked the dataset's storage first
 * (lode__h5_digest_storage_problem: every chunk of a dataset of more than
 * LODE__UNSTORED_BYTES stored, inside the file and no larger than stored_most of its
 * declared size); this walk checks each chunk it reads again (a tiny dataset's chunks
 * were not), reads none larger than that bound, and refuses a dataset whose index
 * holds chunks the grid of its extent does not reach.  The stored bytes read are
 * counted as work (lode__work_done).  Unlike the rest of the encoding, this file hashes
 * (formats/sha256.c): the digests of the chunks are the encoding's values digest.
 *
 * The chunks are hashed on worker threads when the reader allows them
 * (c->decode_threads, within c->max_memory): this thread calls HDF5 and reads each
 * stored chunk into a slot of a ring, workers hash the slots, and this thread adds the
 * records to the values digest in chunk order as it reuses the slots.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bundle.h"
#include "bundle_canon_int.h"
#include "bundle_h5_int.h"
#include "sha256.h"
#include "util.h"

#define MAX_SLOTS (LODE__DECODE_MAX_THREADS + 2)

/* One stored chunk: its record, and its bytes while they are hashed. */
typedef struct slot {
	unsigned char *raw, digest[32];
	hsize_t off[H5S_MAX_RANK];
	uint32_t mask;
	uint64_t size;
	int state; /* 0 free, 1 read and waiting, 2 being hashed, 3 hashed */
} slot;

typedef struct ring {
	slot s[MAX_SLOTS];
	int nslots, ending, rank;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	lode__sha256 *top;
} ring;

static void hash_slot(slot *s)
{
	lode__sha256 *h = lode__sha256_new();

	if (!h) { /* out of memory: zeros, which match no digest */
		memset(s->digest, 0, 32);
		return;
	}
	lode__sha256_update(h, s->raw, (size_t)s->size);
	lode__sha256_final(h, s->digest);
}

static void *hash_worker(void *arg)
{
	ring *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		slot *s = NULL;
		for (int i = 0; i < r->nslots && !s; i++)
			if (r->s[i].state == 1)
				s = &r->s[i];
		if (!s) {
			if (r->ending)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		s->state = 2;
		pthread_mutex_unlock(&r->mu);
		hash_slot(s);
		pthread_mutex_lock(&r->mu);
		s->state = 3;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Add slot s's record to the values digest (once hashed) and free it. */
static void consume(ring *r, slot *s, int threaded)
{
	unsigned char rec[8 * H5S_MAX_RANK + 12];
	size_t n = 0;

	if (threaded) {
		pthread_mutex_lock(&r->mu);
		while (s->state != 3)
			pthread_cond_wait(&r->cv, &r->mu);
		pthread_mutex_unlock(&r->mu);
	}
	for (int k = 0; k < r->rank; k++, n += 8)
		lode__canon_le(rec + n, s->off[k], 8);
	lode__canon_le(rec + n, s->mask, 4);
	lode__canon_le(rec + n + 4, s->size, 8);
	lode__sha256_update(r->top, rec, n + 12);
	lode__sha256_update(r->top, s->digest, 32);
	s->state = 0;
}

/* The worker threads for chunks of most stored bytes (0: hash on this thread). */
static int hash_threads(const lode__canon *c, uint64_t most, uint64_t nchunks)
{
	int n = c->decode_threads > LODE__DECODE_MAX_THREADS ? LODE__DECODE_MAX_THREADS : c->decode_threads;

	if (n < 2 || nchunks < 2)
		return 0;
	while (n >= 2 && c->max_memory && (uint64_t)c->max_memory / (uint64_t)(n + 2) < most)
		n--;
	return n < 2 ? 0 : n;
}

/* Read and hash every stored chunk of d in row-major order of the grid of its extent
   (dims in chunks of cdims); *found gets how many were stored.  -1 after a failure. */
static int walk_chunks(lode__canon *c, hid_t d, ring *r, const hsize_t *dims, const hsize_t *cdims,
		       uint64_t most, hsize_t fsize, int threaded, uint64_t *found, const char *where)
{
	hsize_t off[H5S_MAX_RANK] = {0};
	uint64_t seq = 0;
	int rank = r->rank;

	*found = 0;
	for (int k = 0; k < rank; k++)
		if (!dims[k])
			return 0;
	for (;;) {
		unsigned mask = 0;
		uint32_t filters = 0;
		haddr_t addr = HADDR_UNDEF;
		hsize_t size = 0;

		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0)
			return lode__canon_h5fail(c, where, "its chunk index cannot be read");
		if (addr != HADDR_UNDEF && size) { /* stored */
			slot *s = &r->s[seq % (uint64_t)r->nslots];
			if (size > most || size > fsize || addr > fsize - size)
				return lode__canon_fail(c, where,
							"its chunk at offset %" PRIu64 " stores %" PRIu64
							" bytes, outside the file or more than any "
							"compressor makes of its declared size",
							(uint64_t)off[rank - 1], (uint64_t)size);
			if (seq >= (uint64_t)r->nslots) /* the slot's last chunk, into the digest */
				consume(r, s, threaded);
			seq++;
			if (H5Dread_chunk(d, H5P_DEFAULT, off, &filters, s->raw) < 0)
				return lode__canon_h5fail(c, where, "a stored chunk cannot be read");
			lode__work_done(size);
			memcpy(s->off, off, sizeof off);
			s->mask = mask;
			s->size = size;
			++*found;
			if (threaded) {
				pthread_mutex_lock(&r->mu);
				s->state = 1;
				pthread_cond_broadcast(&r->cv);
				pthread_mutex_unlock(&r->mu);
			} else {
				hash_slot(s);
				s->state = 3;
			}
		}
		/* the next chunk of the grid, the last axis fastest */
		{
			int k = rank - 1;
			for (; k >= 0; k--) {
				off[k] += cdims[k];
				if (off[k] < dims[k])
					break;
				off[k] = 0;
			}
			if (k < 0)
				break;
		}
	}
	/* the slots not consumed yet, in chunk order */
	for (uint64_t i = seq > (uint64_t)r->nslots ? seq - (uint64_t)r->nslots : 0; i < seq; i++)
		consume(r, &r->s[i % (uint64_t)r->nslots], threaded);
	return 0;
}

int lode__canon_stored_values(lode__canon *c, hid_t d, uint64_t chunk, const char *where,
			      unsigned char out[32])
{
	hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d), f = H5Iget_file_id(d);
	hsize_t dims[H5S_MAX_RANK], cdims[H5S_MAX_RANK], fsize = 0, nstored = 0;
	int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1, threads = 0, rc = 0;
	uint64_t most = lode__h5_stored_most(chunk), nchunks = 1, found = 0;
	unsigned char le[8];
	ring r;
	pthread_t th[LODE__DECODE_MAX_THREADS];

	memset(&r, 0, sizeof r);
	memset(out, 0, 32);
	if (rank < 1 || rank > H5S_MAX_RANK || dcpl < 0 || f < 0 || H5Fget_filesize(f, &fsize) < 0 ||
	    H5Sget_simple_extent_dims(sp, dims, NULL) != rank ||
	    H5Pget_chunk(dcpl, H5S_MAX_RANK, cdims) != rank) {
		rc = lode__canon_h5fail(c, where, "its shape or chunks cannot be read");
		goto out;
	}
	for (int k = 0; k < rank; k++) {
		if (!cdims[k]) {
			rc = lode__canon_fail(c, where, "a chunk of no extent");
			goto out;
		}
		nchunks *= (dims[k] + cdims[k] - 1) / cdims[k]; /* bounded: storage_check */
	}
	if (!(r.top = lode__sha256_new())) {
		rc = lode__canon_oom(c);
		goto out;
	}
	/* A dataset that stores nothing (fill values): no chunk, no walk. */
	if (H5Dget_storage_size(d) && H5Dget_num_chunks(d, sp, &nstored) < 0) {
		rc = lode__canon_h5fail(c, where, "its chunks cannot be counted");
		goto out;
	}
	lode__canon_le(le, nstored, 8);
	lode__sha256_update(r.top, le, 8);
	if (!nstored)
		goto out;
	r.rank = rank;
	threads = hash_threads(c, most, nchunks);
	r.nslots = threads ? threads + 2 : 1;
	for (int i = 0; i < r.nslots; i++)
		if (!(r.s[i].raw = malloc((size_t)most))) {
			rc = lode__canon_oom(c);
			goto out;
		}
	if (threads) {
		int n = 0;
		pthread_mutex_init(&r.mu, NULL);
		pthread_cond_init(&r.cv, NULL);
		while (n < threads && pthread_create(&th[n], NULL, hash_worker, &r) == 0)
			n++;
		threads = n;
		if (!n) { /* no thread: one slot on this one */
			pthread_mutex_destroy(&r.mu);
			pthread_cond_destroy(&r.cv);
			r.nslots = 1;
		}
	}
	rc = walk_chunks(c, d, &r, dims, cdims, most, fsize, threads > 0, &found, where);
	if (threads) {
		pthread_mutex_lock(&r.mu);
		r.ending = 1;
		pthread_cond_broadcast(&r.cv);
		pthread_mutex_unlock(&r.mu);
		for (int i = 0; i < threads; i++)
			pthread_join(th[i], NULL);
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.cv);
	}
	if (!rc && found != nstored)
		rc = lode__canon_fail(
		    c, where, "chunks stored outside its extent (%" PRIu64 " stored, %" PRIu64 " within it)",
		    (uint64_t)nstored, found);
out:
	if (r.top)
		lode__sha256_final(r.top, out);
	if (rc)
		memset(out, 0, 32);
	for (int i = 0; i < MAX_SLOTS; i++)
		free(r.s[i].raw);
	if (sp >= 0)
		H5Sclose(sp);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (f >= 0)
		H5Fclose(f);
	H5Eclear2(H5E_DEFAULT);
	return rc;
}
