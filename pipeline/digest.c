/*
 * digest.c -- the digest rules of the bundle format (docs/bundle-format.md, section
 * "Integrity"), shared by the writer and by lode verify so that both compute exactly
 * the same thing.
 *
 * Content digest of a dataset: SHA-256 over the concatenation of the 32-byte SHA-256
 * digests of each band plane, in band order; a plane is the band's (y, x) values in
 * row-major order, little-endian, exactly as stored.  Per-plane hashing lets the writer
 * stream rows of all bands at once.
 *
 * Bundle digest: SHA-256 over the canonical encoding of the whole HDF5 object tree
 * (formats/bundle_canon.c walks the file and emits it), in which each dataset's values
 * appear as their values digest: SHA-256 over the concatenated SHA-256 of each plane
 * (the slices along axis 0 for rank 3 and more, else the whole dataset as one plane),
 * so that a raster's values digest is its content digest, which the writer registers
 * instead of reading the raster back.  Only the signature set (lode_bundle_sha256 and
 * lode_signature_N at the root) is left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bundle_canon.h"
#include "digest.h"
#include "error.h"
#include "sha256.h"
#include "util.h"
#include "vdata.h"

/* The digests hash values as they lie in memory, which the format defines as
   little-endian: refuse to build where that would silently differ. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lode's digests assume a little-endian machine; add byte swapping before porting"
#endif

struct lode__content_hash {
	int nbands;
	lode__sha256 **planes;
};

lode__content_hash *lode__content_hash_new(int nbands)
{
	lode__content_hash *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->nbands = nbands;
	h->planes = calloc((size_t)nbands, sizeof *h->planes);
	if (!h->planes) {
		free(h);
		return NULL;
	}
	for (int i = 0; i < nbands; i++) {
		if (!(h->planes[i] = lode__sha256_new())) {
			unsigned char ignored[32];
			for (int j = 0; j < i; j++)
				lode__sha256_final(h->planes[j], ignored);
			free(h->planes);
			free(h);
			return NULL;
		}
	}
	return h;
}

void lode__content_hash_update(lode__content_hash *h, int band0, const void *data, size_t n)
{
	lode__sha256_update(h->planes[band0], data, n);
}

void lode__content_hash_final(lode__content_hash *h, char hex[65])
{
	lode__sha256 *top = lode__sha256_new();
	unsigned char d[32];

	for (int i = 0; i < h->nbands; i++) {
		lode__sha256_final(h->planes[i], d);
		if (top)
			lode__sha256_update(top, d, sizeof d);
	}
	if (top) {
		lode__sha256_final(top, d);
		lode__hex(d, sizeof d, hex);
	} else {
		hex[0] = '\0'; /* out of memory: an empty digest never matches */
	}
	free(h->planes);
	free(h);
}

int lode__digest_skips_attr(const char *key)
{
	const char *n = key + 15;

	if (strcmp(key, "lode_bundle_sha256") == 0)
		return 1;
	if (strncmp(key, "lode_signature_", 15) != 0 || *n < '1' || *n > '9')
		return 0;
	while (*n >= '0' && *n <= '9')
		n++;
	return *n == '\0';
}

lode_status lode__known_add(lode__known *k, const char *path, const char *hex, lode_error *err)
{
	lode__known_values *r;

	if (!hex || strlen(hex) != 64)
		return lode__err(err, LODE_EINTERNAL, "no values digest for %s", path);
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		lode__known_values *v = realloc(k->v, cap * sizeof *v);
		if (!v)
			return lode__err(err, LODE_ENOMEM, "out of memory");
		k->v = v;
		k->cap = cap;
	}
	r = &k->v[k->n];
	if (!(r->path = lode__strdup(path)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	memcpy(r->hex, hex, 65);
	k->n++;
	return LODE_OK;
}

void lode__known_free(lode__known *k)
{
	for (size_t i = 0; k && i < k->n; i++)
		free(k->v[i].path);
	if (k)
		free(k->v);
	if (k)
		memset(k, 0, sizeof *k);
}

/* The hashing side of the canonical encoding: the whole stream, and a dataset's planes. */
typedef struct tree_hash {
	lode__sha256 *all, *values, *plane;
	const lode__known_values *known;
	size_t nknown;
	int oom;
} tree_hash;

static void th_put(void *user, const void *bytes, size_t n)
{
	tree_hash *t = user;

	if (t->all)
		lode__sha256_update(t->all, bytes, n);
}

/* The open plane's digest into the values digest. */
static void th_close_plane(tree_hash *t)
{
	unsigned char d[32];

	if (!t->plane)
		return;
	lode__sha256_final(t->plane, d);
	t->plane = NULL;
	if (t->values)
		lode__sha256_update(t->values, d, sizeof d);
}

static void th_plane(void *user)
{
	tree_hash *t = user;

	th_close_plane(t);
	if (!t->values && !(t->values = lode__sha256_new()))
		t->oom = 1;
	if (!(t->plane = lode__sha256_new()))
		t->oom = 1;
}

static void th_bytes(void *user, const void *bytes, size_t n)
{
	tree_hash *t = user;

	if (t->plane)
		lode__sha256_update(t->plane, bytes, n);
}

static void th_end(void *user, unsigned char digest[32])
{
	tree_hash *t = user;

	th_close_plane(t);
	if (!t->values && !(t->values = lode__sha256_new())) { /* a dataset without planes */
		t->oom = 1;
		memset(digest, 0, 32);
		return;
	}
	lode__sha256_final(t->values, digest);
	t->values = NULL;
}

static int th_known(void *user, const char *path, unsigned char digest[32])
{
	const tree_hash *t = user;

	for (size_t i = 0; i < t->nknown; i++) {
		const char *hex = t->known[i].hex;
		if (!t->known[i].path || strcmp(t->known[i].path, path) != 0)
			continue;
		for (int k = 0; k < 32; k++) {
			unsigned v;
			if (sscanf(hex + 2 * k, "%2x", &v) != 1)
				return 0;
			digest[k] = (unsigned char)v;
		}
		return 1;
	}
	return 0;
}

lode_status lode__bundle_digest(lode__bundle *b, const lode__known_values *known, size_t n, char hex[65],
				lode_error *err)
{
	tree_hash t = {.all = lode__sha256_new(), .known = known, .nknown = n};
	lode__canon_sink s = {.user = &t,
			      .put = th_put,
			      .skip_root_attr = lode__digest_skips_attr,
			      .known_values = th_known,
			      .values_plane = th_plane,
			      .values_bytes = th_bytes,
			      .values_end = th_end};
	unsigned char d[32];
	lode_status rc;

	hex[0] = '\0';
	rc = t.all ? lode__bundle_canon(b, &s, err) : lode__err(err, LODE_ENOMEM, "out of memory");
	th_close_plane(&t); /* after a failure midway */
	if (t.values)
		lode__sha256_final(t.values, d);
	if (t.all)
		lode__sha256_final(t.all, d);
	if (!rc && t.oom)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	if (!rc)
		lode__hex(d, sizeof d, hex);
	return rc;
}

/* SHA-256 of data into top; values (when not NULL) gets SHA-256 of that digest in hex:
   the values digest of a rank-1 dataset holding exactly data (one plane).  -1 out of
   memory. */
static int part(lode__sha256 *top, const void *data, size_t n, char *values)
{
	unsigned char dg[32];
	lode__sha256 *h = lode__sha256_new();

	if (values)
		values[0] = '\0';
	if (!h)
		return -1;
	lode__sha256_update(h, data, n);
	lode__sha256_final(h, dg);
	lode__sha256_update(top, dg, sizeof dg);
	if (values && (h = lode__sha256_new())) {
		lode__sha256_update(h, dg, sizeof dg);
		lode__sha256_final(h, dg);
		lode__hex(dg, sizeof dg, values);
	}
	return 0;
}

void lode__vector_digest(const lode_vdata *d, char hex[65])
{
	lode__vector_digest_ex(d, hex, NULL, NULL);
}

/* SHA-256 of a digest, in hex: the values digest of a dataset of one plane whose element
   encodings hash to dg (bundle-format.md 7.1). */
static void values_hex(const unsigned char dg[32], char hex[65])
{
	unsigned char v[32];
	lode__sha256 *h = lode__sha256_new();

	hex[0] = '\0';
	if (!h)
		return;
	lode__sha256_update(h, dg, 32);
	lode__sha256_final(h, v);
	lode__hex(v, sizeof v, hex);
}

/* SHA-256 into dg of the n strings of text field f, each as a uint64 little-endian byte
   length then the bytes: the strings stored, or (nulls_empty) with a null as empty, as
   the content digest takes them.  *null_text (not NULL): set when a null's slot holds
   text.  -1 out of memory. */
static int text_digest(const lode_vfield *f, size_t n, int nulls_empty, unsigned char dg[32], int *null_text)
{
	lode__sha256 *h = lode__sha256_new();

	if (!h)
		return -1;
	for (size_t k = 0; k < n; k++) {
		const char *s = ((char *const *)f->values)[k];
		uint64_t len = (nulls_empty && f->isnull[k]) || !s ? 0 : strlen(s);
		unsigned char le[8];
		if (null_text && f->isnull[k] && s && *s)
			*null_text = 1;
		for (int b = 0; b < 8; b++)
			le[b] = (unsigned char)(len >> (8 * b));
		lode__sha256_update(h, le, 8);
		if (len)
			lode__sha256_update(h, s, (size_t)len);
	}
	lode__sha256_final(h, dg);
	return 0;
}

void lode__vector_digest_ex(const lode_vdata *d, char hex[65], char coords[3][65], char (*texts)[65])
{
	lode__sha256 *top = lode__sha256_new();
	unsigned char dg[32];
	int oom = 0;

	hex[0] = '\0';
	if (coords)
		coords[0][0] = coords[1][0] = coords[2][0] = '\0';
	if (!top)
		return;
	oom |= part(top, d->x, d->nnodes * sizeof(double), coords ? coords[0] : NULL);
	oom |= part(top, d->y, d->nnodes * sizeof(double), coords ? coords[1] : NULL);
	if (d->has_z)
		oom |= part(top, d->z, d->nnodes * sizeof(double), coords ? coords[2] : NULL);
	if (d->has_m) /* after z, as in the bundle (a layer without M hashes as before) */
		oom |= part(top, d->m, d->nnodes * sizeof(double), NULL);
	oom |= part(top, d->node_count, d->nfeat * sizeof(int32_t), NULL);
	oom |= part(top, d->part_node_count, d->nparts * sizeof(int32_t), NULL);
	oom |= part(top, d->interior_ring, d->nparts * sizeof(int32_t), NULL);
	for (size_t i = 0; texts && i < d->nfields; i++)
		texts[i][0] = '\0';
	for (size_t i = 0; i < d->nfields; i++) {
		const lode_vfield *f = &d->fields[i];
		if (lode__ftype_is_text(f->type)) {
			int null_text = 0;
			if (text_digest(f, d->nfeat, 1, dg, &null_text) != 0) {
				oom = 1;
				break;
			}
			lode__sha256_update(top, dg, sizeof dg);
			/* The stored strings' values digest: the same hash unless a null's slot
			   holds text. */
			if (texts && d->nfeat > 0) {
				unsigned char sd[32];
				if (!null_text)
					values_hex(dg, texts[i]);
				else if (text_digest(f, d->nfeat, 0, sd, NULL) == 0)
					values_hex(sd, texts[i]);
			}
		} else {
			oom |= part(top, f->values, d->nfeat * lode__ftype_size(f->type), NULL);
		}
		oom |= part(top, f->isnull, d->nfeat, NULL);
	}
	lode__sha256_final(top, dg);
	if (!oom) /* else hex stays empty: no digest rather than one of part of the layer */
		lode__hex(dg, sizeof dg, hex);
}

lode_status lode__vector_digests(const lode_vdata *d, char hex[65], char coords[3][65], char (**texts)[65],
				 lode_error *err)
{
	*texts = calloc(d->nfields ? d->nfields : 1, sizeof **texts);
	if (*texts)
		lode__vector_digest_ex(d, hex, coords, *texts);
	if (!*texts || !hex[0]) {
		free(*texts);
		*texts = NULL;
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	return LODE_OK;
}
