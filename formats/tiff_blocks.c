/*
 * tiff_blocks.c -- a Float32 GeoTIFF source's blocks with the floating-point predictor,
 * decoded by lode for its warp kernels.
 *
 * libtiff undoes the floating-point predictor (PREDICTOR=3, what GDAL recommends for
 * Float32 grids) by adding each byte to the one before it in memory, then reorders the
 * bytes with a multiplication per byte: a quarter of lode's CPU warping a Float32 grid,
 * and as much of gdalwarp's.  Here the block's bytes are read with pread at the offset
 * GDAL gives (its "TIFF" metadata domain, BLOCK_OFFSET_x_y and BLOCK_SIZE_x_y), inflated
 * by libdeflate, the running byte sums taken 16 bytes at a time (SSE2) and the byte
 * planes put back with lode__interleave_planes.  Other predictors and types gain nothing
 * (libtiff's horizontal predictor is as fast; measured in docs/performance.md) and stay
 * with GDAL.  What it does not handle it leaves to GDAL, so that the values stay GDAL's
 * bit for bit:
 *
 *  - whole sources: other drivers, compressions, predictors or types, NBITS, a name GDAL
 *    opens through /vsi..., a header that is not TIFF's;
 *  - single blocks: a block that is missing (sparse), out of the file, or that does not
 *    inflate to exactly its size (damaged, or longer than needed): the window that needs
 *    it is read through GDAL, which repairs or reports it as it always has;
 *  - the first block decoded is compared with GDALReadBlock's values for it; if they
 *    differ in one bit, GDAL reads everything from then on.
 *
 * Decoded blocks are kept in a cache of a fixed number of slots, the least recently used
 * replaced first: a warp worker sweeps the same columns strip after strip, so the blocks
 * of the bottom of one strip are needed again at the top of the next.  One reader per
 * worker thread (each with its own GDAL dataset), never shared.  The floating-point
 * predictor's bytes do not depend on the file's byte order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdeflate.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "chunk_codec.h"
#include "tiff_blocks.h"

/* A decoded block larger than this is left to GDAL (a striped file of one strip). */
#define MAX_BLOCK_BYTES ((size_t)64 << 20)
/* More blocks than this (every band's) are left to GDAL: the tables would be too large. */
#define MAX_BLOCKS (1 << 20)

/* Blocks decoded and windows left to GDAL by every reader so far (LODE_PROFILE). */
static _Atomic long decoded_total, to_gdal_total;

typedef struct slot {
	unsigned char *data;
	long key; /* the block it holds, -1 none */
	uint64_t used;
} slot;

struct lode__tiff_blocks {
	GDALDatasetH ds;
	int fd;
	uint64_t file_size;
	int width, height, bx, by, nbx, nby;
	int spp; /* samples of a pixel in a block: the bands when stored pixel by pixel, else 1 */
	int nbands, *bands;
	size_t block_bytes, row_bytes;
	int *where;             /* per block: its slot, -1 none */
	unsigned char *to_gdal; /* per block: 1 when GDAL must read it */
	slot *slots;
	int nslots;
	uint64_t tick;
	unsigned char *comp, *row; /* a block as stored; one row, for the predictor */
	size_t comp_cap;
	struct libdeflate_decompressor *dec;
	int checked, off;
};

static int metadata_is(GDALMajorObjectH o, const char *key, const char *want)
{
	const char *v = GDALGetMetadataItem(o, key, "IMAGE_STRUCTURE");
	return v && strcmp(v, want) == 0;
}

/* Whether the file starts with a TIFF header (either byte order, TIFF or BigTIFF). */
static int tiff_header(int fd)
{
	unsigned char h[4];

	if (pread(fd, h, 4, 0) != 4)
		return 0;
	return (h[0] == 'I' && h[1] == 'I' && (h[2] == 42 || h[2] == 43) && h[3] == 0) ||
	       (h[0] == 'M' && h[1] == 'M' && h[2] == 0 && (h[3] == 42 || h[3] == 43));
}

/*
 * Does another descriptor of this process refer to the file that fd (lode's, opened by
 * the dataset's name) refers to: GDAL's, opened before?  When the name was given to
 * another file in between (renamed over it), it does not, and GDAL reads: lode's block
 * offsets are those of the file GDAL opened.
 */
static int open_elsewhere(int fd, const struct stat *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char *end;
		long n = strtol(e->d_name, &end, 10);
		struct stat o;
		if (end == e->d_name || *end || n < 0 || n > INT_MAX || n == fd || n == dirfd(d))
			continue;
		found = fstat((int)n, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
	}
	closedir(d);
	return found;
}

/* Whether lode decodes ds's blocks itself, filling in what it needs to. */
static int eligible(lode__tiff_blocks *t, GDALDatasetH ds)
{
	GDALRasterBandH b1 = GDALGetRasterBand(ds, 1);
	GDALDriverH drv = GDALGetDatasetDriver(ds);
	const char *path = GDALGetDescription(ds);
	int nb = GDALGetRasterCount(ds);
	struct stat st;

	if (!b1 || !drv || strcmp(GDALGetDriverShortName(drv), "GTiff") != 0 || !path || !path[0] ||
	    strncmp(path, "/vsi", 4) == 0 || !metadata_is(ds, "COMPRESSION", "DEFLATE") ||
	    !metadata_is(ds, "PREDICTOR", "3"))
		return 0;
	if (nb == 1 || metadata_is(ds, "INTERLEAVE", "BAND"))
		t->spp = 1;
	else if (metadata_is(ds, "INTERLEAVE", "PIXEL"))
		t->spp = nb;
	else
		return 0;
	GDALGetBlockSize(b1, &t->bx, &t->by);
	for (int i = 1; i <= nb; i++) {
		GDALRasterBandH b = GDALGetRasterBand(ds, i);
		int bx, by;
		GDALGetBlockSize(b, &bx, &by);
		if (GDALGetRasterDataType(b) != GDT_Float32 || bx != t->bx || by != t->by ||
		    GDALGetMetadataItem(b, "NBITS", "IMAGE_STRUCTURE"))
			return 0;
	}
	t->width = GDALGetRasterXSize(ds);
	t->height = GDALGetRasterYSize(ds);
	if (t->bx < 1 || t->by < 1 || t->width < 1 || t->height < 1)
		return 0;
	t->row_bytes = (size_t)t->bx * (size_t)t->spp * 4;
	if ((size_t)t->by > MAX_BLOCK_BYTES / t->row_bytes)
		return 0;
	t->block_bytes = t->row_bytes * (size_t)t->by;
	t->nbx = (t->width - 1) / t->bx + 1;
	t->nby = (t->height - 1) / t->by + 1;
	if ((double)t->nbx * t->nby * (t->spp == 1 ? nb : 1) > MAX_BLOCKS)
		return 0;
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0 || fstat(t->fd, &st) != 0 || !S_ISREG(st.st_mode) || !tiff_header(t->fd) ||
	    !open_elsewhere(t->fd, &st))
		return 0;
	t->file_size = (uint64_t)st.st_size;
	return 1;
}

lode__tiff_blocks *lode__tiff_blocks_new(GDALDatasetH ds, const int *bands, int n, size_t cache)
{
	const char *env = getenv("LODE_TIFF_DECODE");
	lode__tiff_blocks *t;
	size_t nblocks, tables;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	return NULL; /* the byte order of the values below is a little-endian host's */
#endif
	if ((env && strcmp(env, "gdal") == 0) || !ds || n < 1 || !(t = calloc(1, sizeof *t)))
		return NULL;
	t->fd = -1;
	t->ds = ds;
	if (!eligible(t, ds))
		goto fail;
	/* The per-block tables come out of the cache budget too (--max-memory). */
	nblocks = (size_t)t->nbx * (size_t)t->nby * (t->spp == 1 ? (size_t)GDALGetRasterCount(ds) : 1);
	tables = nblocks * (sizeof *t->where + sizeof *t->to_gdal);
	if (tables > cache / 4)
		goto fail;
	cache -= tables;
	t->nslots = (int)(cache / t->block_bytes < 4096 ? cache / t->block_bytes : 4096);
	if (t->nslots < 2)
		goto fail; /* no room to keep a block: GDAL's cache does better */
	t->nbands = n;
	t->bands = malloc(sizeof *t->bands * (size_t)n);
	t->where = malloc(sizeof *t->where * nblocks);
	t->to_gdal = calloc(nblocks, 1);
	t->slots = calloc((size_t)t->nslots, sizeof *t->slots);
	t->row = malloc(t->row_bytes);
	t->dec = libdeflate_alloc_decompressor();
	if (!t->bands || !t->where || !t->to_gdal || !t->slots || !t->row || !t->dec)
		goto fail;
	for (int i = 0; i < n; i++) {
		if (bands[i] < 1 || bands[i] > GDALGetRasterCount(ds))
			goto fail;
		t->bands[i] = bands[i];
	}
	for (size_t i = 0; i < nblocks; i++)
		t->where[i] = -1;
	for (int i = 0; i < t->nslots; i++)
		t->slots[i].key = -1;
	return t;
fail:
	lode__tiff_blocks_free(t);
	return NULL;
}

void lode__tiff_blocks_free(lode__tiff_blocks *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	for (int i = 0; t->slots && i < t->nslots; i++)
		free(t->slots[i].data);
	free(t->slots);
	free(t->bands);
	free(t->where);
	free(t->to_gdal);
	free(t->comp);
	free(t->row);
	if (t->dec)
		libdeflate_free_decompressor(t->dec);
	free(t);
}

void lode__tiff_blocks_counts(long *decoded, long *to_gdal)
{
	*decoded = decoded_total;
	*to_gdal = to_gdal_total;
}

/* GDAL's offset or size of a block of plane p, parsed; 0 when it has none. */
static uint64_t block_item(lode__tiff_blocks *t, const char *what, int p, int bi, int bj)
{
	char key[64];
	const char *v;
	char *end;
	unsigned long long x;

	snprintf(key, sizeof key, "BLOCK_%s_%d_%d", what, bi, bj);
	v = GDALGetMetadataItem(GDALGetRasterBand(t->ds, p + 1), key, "TIFF");
	if (!v || !*v)
		return 0;
	errno = 0;
	x = strtoull(v, &end, 10);
	return errno || *end ? 0 : (uint64_t)x;
}

/* The running sum of n bytes, modulo 256, in place: 16 at a time with SSE2 (the sums
   within a vector in four shifted additions, plus the last sum of the vector before). */
static void byte_sums(unsigned char *c, size_t n)
{
	size_t i = 0;
	unsigned char sum = 0;

#ifdef __SSE2__
	__m128i carry = _mm_setzero_si128();
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(c + i));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 1));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 2));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 4));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 8));
		x = _mm_add_epi8(x, carry);
		_mm_storeu_si128((__m128i *)(c + i), x);
		carry = _mm_srli_si128(x, 15); /* the last sum, broadcast to every byte */
		carry = _mm_unpacklo_epi8(carry, carry);
		carry = _mm_unpacklo_epi16(carry, carry);
		carry = _mm_shuffle_epi32(carry, 0);
	}
	if (i)
		sum = c[i - 1];
#endif
	for (; i < n; i++) {
		sum = (unsigned char)(sum + c[i]);
		c[i] = sum;
	}
}

/* Undo the floating-point predictor on rows of a block (in place), as libtiff's fpAcc:
   the running byte sums of each row (of each sample, with several interleaved), then
   byte plane k of the row holds byte 3 - k of each value (the most significant first;
   a little-endian host). */
static void undo_predictor(lode__tiff_blocks *t, unsigned char *d, int rows)
{
	size_t s = (size_t)t->spp, wc = t->row_bytes / 4;
	const unsigned char *p[4] = {t->row + 3 * wc, t->row + 2 * wc, t->row + wc, t->row};

	for (int r = 0; r < rows; r++) {
		unsigned char *c = d + (size_t)r * t->row_bytes;
		if (s == 1)
			byte_sums(c, t->row_bytes);
		else
			for (size_t i = s; i < t->row_bytes; i++)
				c[i] = (unsigned char)(c[i] + c[i - s]);
		memcpy(t->row, c, t->row_bytes);
		lode__interleave_planes(p, 4, wc, c);
	}
}

/* Read and decode block (bi, bj) of plane p into d: 0, or -1 when GDAL must. */
static int decode(lode__tiff_blocks *t, int p, int bi, int bj, unsigned char *d)
{
	uint64_t off = block_item(t, "OFFSET", p, bi, bj), size = block_item(t, "SIZE", p, bi, bj);
	int rows = t->by, left = t->height - bj * t->by;
	size_t got = 0, have = 0;

	/* A stored block far larger than its values is left to GDAL (zlib's worst case is
	   about 0.03% over the input). */
	if (!off || !size || off > t->file_size || size > t->file_size - off ||
	    size > t->block_bytes + t->block_bytes / 8 + 4096)
		return -1;
	if (size > t->comp_cap) {
		unsigned char *c = realloc(t->comp, (size_t)size);
		if (!c)
			return -1;
		t->comp = c;
		t->comp_cap = (size_t)size;
	}
	while (have < size) {
		ssize_t k = pread(t->fd, t->comp + have, (size_t)size - have, (off_t)(off + have));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		have += (size_t)k;
	}
	if (libdeflate_zlib_decompress(t->dec, t->comp, (size_t)size, d, t->block_bytes, &got) !=
	    LIBDEFLATE_SUCCESS)
		return -1;
	/* A strip file's last strip holds only the rows left (strips span the width). */
	if (got != t->block_bytes) {
		if (t->bx != t->width || bj != t->nby - 1 || left >= t->by ||
		    got != t->row_bytes * (size_t)left)
			return -1;
		rows = left;
	}
	undo_predictor(t, d, rows);
	return 0;
}

/* Compare block (bi, bj) of plane p, decoded in d, with GDAL's reading of it: 0 same. */
static int check(lode__tiff_blocks *t, int p, int bi, int bj, const unsigned char *d)
{
	int cols = t->width - bi * t->bx < t->bx ? t->width - bi * t->bx : t->bx;
	int rows = t->height - bj * t->by < t->by ? t->height - bj * t->by : t->by;
	size_t plane = (size_t)t->bx * (size_t)t->by * 4;
	unsigned char *g = malloc(plane);
	int bad = !g;

	CPLPushErrorHandler(CPLQuietErrorHandler);
	for (int s = 0; s < t->spp && !bad; s++) {
		int band = t->spp == 1 ? p + 1 : s + 1;
		if (GDALReadBlock(GDALGetRasterBand(t->ds, band), bi, bj, g) != CE_None) {
			bad = 1;
			break;
		}
		for (int r = 0; r < rows && !bad; r++)
			for (int c = 0; c < cols && !bad; c++)
				bad = memcmp(g + ((size_t)r * (size_t)t->bx + (size_t)c) * 4,
					     d + (size_t)r * t->row_bytes +
						 ((size_t)c * (size_t)t->spp + (size_t)s) * 4,
					     4) != 0;
	}
	CPLPopErrorHandler();
	free(g);
	return bad;
}

/* Block (bi, bj) of plane p, decoded, from the cache or decoded now; NULL: GDAL must. */
static const unsigned char *block(lode__tiff_blocks *t, int p, int bi, int bj)
{
	long key = ((long)p * t->nby + bj) * t->nbx + bi;
	slot *s;
	int k = t->where[key];

	if (k >= 0) {
		t->slots[k].used = ++t->tick;
		return t->slots[k].data;
	}
	if (t->to_gdal[key])
		return NULL;
	k = 0; /* the slot never used, or the one used longest ago */
	for (int i = 1; i < t->nslots && t->slots[k].key >= 0; i++)
		if (t->slots[i].key < 0 || t->slots[i].used < t->slots[k].used)
			k = i;
	s = &t->slots[k];
	if (s->key >= 0)
		t->where[s->key] = -1;
	s->key = -1;
	if (!s->data && !(s->data = malloc(t->block_bytes)))
		return NULL;
	if (decode(t, p, bi, bj, s->data) != 0) {
		t->to_gdal[key] = 1;
		return NULL;
	}
	if (!t->checked) {
		if (check(t, p, bi, bj, s->data) != 0) {
			t->off = 1;
			return NULL;
		}
		t->checked = 1;
	}
	decoded_total++;
	s->key = key;
	s->used = ++t->tick;
	t->where[key] = k;
	return s->data;
}

/* Columns c0 .. c0 + n - 1 of a block's row (sample s) into out. */
static void put_row(const lode__tiff_blocks *t, const unsigned char *row, int s, int c0, int n, float *out)
{
	const float *v = (const float *)(const void *)row + (size_t)c0 * (size_t)t->spp + (size_t)s;

	if (t->spp == 1)
		memcpy(out, v, (size_t)n * 4);
	else
		for (int i = 0; i < n; i++)
			out[i] = v[(size_t)i * (size_t)t->spp];
}

int lode__tiff_blocks_read(lode__tiff_blocks *t, int x, int y, int w, int h, float *buf)
{
	if (t->off || x < 0 || y < 0 || w < 1 || h < 1 || w > t->width - x || h > t->height - y)
		goto gdal;
	for (int k = 0; k < t->nbands; k++) {
		int p = t->spp == 1 ? t->bands[k] - 1 : 0, s = t->spp == 1 ? 0 : t->bands[k] - 1;
		float *plane = buf + (size_t)k * (size_t)w * (size_t)h;
		for (int bj = y / t->by; bj <= (y + h - 1) / t->by; bj++)
			for (int bi = x / t->bx; bi <= (x + w - 1) / t->bx; bi++) {
				const unsigned char *d = block(t, p, bi, bj);
				int c0 = bi * t->bx > x ? bi * t->bx : x;
				int c1 = (bi + 1) * t->bx < x + w ? (bi + 1) * t->bx : x + w;
				int r0 = bj * t->by > y ? bj * t->by : y;
				int r1 = (bj + 1) * t->by < y + h ? (bj + 1) * t->by : y + h;
				if (!d)
					goto gdal;
				for (int r = r0; r < r1; r++)
					put_row(t, d + (size_t)(r - bj * t->by) * t->row_bytes, s,
						c0 - bi * t->bx, c1 - c0,
						plane + (size_t)(r - y) * (size_t)w + (size_t)(c0 - x));
			}
	}
	return 0;
gdal:
	to_gdal_total++;
	return -1;
}
