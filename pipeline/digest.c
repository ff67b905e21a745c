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
 * Bundle digest: SHA-256 over a text of lines.  First one line per root attribute,
 * sorted by name bytewise, "attribute NAME SHA256(VALUE)\n", leaving out
 * lode_bundle_sha256 itself and lode_signature*; VALUE is the attribute's text, or for
 * numbers their %.17g forms joined by ",".  Then one line per dataset, sorted by name,
 * "dataset NAME CONTENT_SHA256 LINEAGE_SHA256\n".  The manifest text is the root
 * attribute lode_manifest, so it is covered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "digest.h"
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

static int by_name(const void *a, const void *b)
{
	const lode_bundle_item *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

int lode__digest_skips_attr(const char *key)
{
	return strcmp(key, "lode_bundle_sha256") == 0 || strncmp(key, "lode_signature", 14) == 0;
}

static void line3(lode__sha256 *h, const char *a, const char *b, const char *c)
{
	lode__sha256_update(h, a, strlen(a));
	lode__sha256_update(h, " ", 1);
	lode__sha256_update(h, b, strlen(b));
	lode__sha256_update(h, " ", 1);
	lode__sha256_update(h, c, strlen(c));
	lode__sha256_update(h, "\n", 1);
}

char *lode__bundle_digest(const lode_bundle_item *items, size_t n, const lode_kv *root, size_t nroot)
{
	const lode_bundle_item **sorted = NULL;
	lode__sha256 *h = NULL;
	unsigned char d[32];
	char hex[65], *result = NULL;

	sorted = malloc((n ? n : 1) * sizeof *sorted);
	h = lode__sha256_new();
	if (!sorted || !h)
		goto out;
	/* Root attributes come sorted by name from the reader. */
	for (size_t i = 0; i < nroot; i++) {
		if (lode__digest_skips_attr(root[i].key))
			continue;
		lode__sha256_hex(root[i].value, strlen(root[i].value), hex);
		line3(h, "attribute", root[i].key, hex);
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &items[i];
	qsort(sorted, n, sizeof *sorted, by_name);
	for (size_t i = 0; i < n; i++) {
		const char *lin = sorted[i]->lineage ? sorted[i]->lineage : "";
		char both[130];

		lode__sha256_hex(lin, strlen(lin), hex);
		snprintf(both, sizeof both, "%s %s",
			 sorted[i]->content_sha256 ? sorted[i]->content_sha256 : "", hex);
		line3(h, "dataset", sorted[i]->name, both);
	}
	lode__sha256_final(h, d);
	h = NULL;
	result = malloc(65);
	if (result)
		lode__hex(d, 32, result);
out:
	if (h) {
		unsigned char ignored[32];
		lode__sha256_final(h, ignored);
	}
	free(sorted);
	return result;
}

static void part(lode__sha256 *top, const void *data, size_t n)
{
	unsigned char dg[32];
	lode__sha256 *h = lode__sha256_new();

	if (!h)
		return;
	lode__sha256_update(h, data, n);
	lode__sha256_final(h, dg);
	lode__sha256_update(top, dg, sizeof dg);
}

void lode__vector_digest(const lode_vdata *d, char hex[65])
{
	lode__sha256 *top = lode__sha256_new();
	unsigned char dg[32];

	hex[0] = '\0';
	if (!top)
		return;
	part(top, d->x, d->nnodes * sizeof(double));
	part(top, d->y, d->nnodes * sizeof(double));
	if (d->has_z)
		part(top, d->z, d->nnodes * sizeof(double));
	part(top, d->node_count, d->nfeat * sizeof(int32_t));
	part(top, d->part_node_count, d->nparts * sizeof(int32_t));
	part(top, d->interior_ring, d->nparts * sizeof(int32_t));
	for (size_t i = 0; i < d->nfields; i++) {
		const lode_vfield *f = &d->fields[i];
		if (f->type == LODE_FT_STRING) {
			lode__sha256 *h = lode__sha256_new();
			if (!h)
				break;
			for (size_t k = 0; k < d->nfeat; k++) {
				const char *s = ((char *const *)f->values)[k];
				uint64_t len = f->isnull[k] || !s ? 0 : strlen(s);
				unsigned char le[8];
				for (int b = 0; b < 8; b++)
					le[b] = (unsigned char)(len >> (8 * b));
				lode__sha256_update(h, le, 8);
				if (len)
					lode__sha256_update(h, s, (size_t)len);
			}
			lode__sha256_final(h, dg);
			lode__sha256_update(top, dg, sizeof dg);
		} else {
			part(top, f->values, d->nfeat * lode__ftype_size(f->type));
		}
		part(top, f->isnull, d->nfeat);
	}
	lode__sha256_final(top, dg);
	lode__hex(dg, sizeof dg, hex);
}
