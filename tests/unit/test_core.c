/*
 * test_core.c -- the error record, SHA-256 and the digest rules (against FIPS 180-2 vectors
 * and values computed with Python's hashlib, an independent SHA-256; the bundle digest
 * against tests/bundle_digest.py, h5py), the data-type table and the page prefault helper.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "bundle.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "manifest.h"
#include "sha256.h"
#include "util.h"
#include "vdata.h"

/* tests/bundle_digest.py's digest of a bundle with the two root attributes of
   bundle_digest_rules and nothing else. */
#define BUNDLE_DIGEST_TWO_ATTRS "231563c0ad9066aeb44452239dba6468a0e826f0de002350a23ad02014a0cd5f"

static void error_context_is_prepended(void **state)
{
	lode_error err = {0};
	char big[3000];

	(void)state;
	assert_int_equal(lode__err(&err, LODE_EIO, "no space left on device"), LODE_EIO);
	assert_int_equal(lode__err_ctx(&err, "writing band %d: ", 2), LODE_EIO);
	lode__err_ctx(&err, "dataset '%s': ", "aeromag");
	assert_string_equal(err.message, "dataset 'aeromag': writing band 2: no space left on device");
	/* An over-long message is cut, never overflows. */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	lode__err(&err, LODE_EIO, "%s", big);
	lode__err_ctx(&err, "context: ");
	assert_int_equal(strlen(err.message), sizeof err.message - 1);
	assert_memory_equal(err.message, "context: xxx", 12);
	lode__err_clear(&err);
	assert_int_equal(err.code, LODE_OK);
}

/* SHA-256 itself (formats/sha256.c), against FIPS 180-2 vectors and hashlib: the empty
   message, one block, two blocks fed in pieces that straddle block boundaries, a million
   bytes, and whole files (empty, and longer than the 1 MiB read block). */
static void sha256_vectors(void **state)
{
	static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const size_t pieces[] = {1, 2, 3, 5, 7, 11, 13, 14};
	char hex[65], tmpl[] = "/tmp/lode-test-sha256.XXXXXX";
	unsigned char d[32], *big;
	lode__sha256 *h;
	lode_error err = {0};
	uint64_t size = 1;
	size_t off, k;
	int fd;
	FILE *f;

	(void)state;
	lode__sha256_hex("", 0, hex);
	assert_string_equal(hex, empty);
	h = lode__sha256_new(); /* no update at all */
	assert_non_null(h);
	lode__sha256_final(h, d);
	lode__hex(d, sizeof d, hex);
	assert_string_equal(hex, empty);
	lode__sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	lode__sha256_hex(two, strlen(two), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	h = lode__sha256_new(); /* the same 56 bytes in 8 updates, one of them empty */
	lode__sha256_update(h, two, 0);
	for (off = 0, k = 0; k < sizeof pieces / sizeof pieces[0]; off += pieces[k++])
		lode__sha256_update(h, two + off, pieces[k]);
	assert_int_equal(off, 56);
	lode__sha256_final(h, d);
	lode__hex(d, sizeof d, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* A million 'a' in updates of 1 to 1000 bytes. */
	big = malloc(2500000);
	assert_non_null(big);
	memset(big, 'a', 2500000);
	h = lode__sha256_new();
	for (off = 0, k = 1; off < 1000000; off += k, k = k % 1000 + 37)
		lode__sha256_update(h, big, off + k > 1000000 ? 1000000 - off : k);
	lode__sha256_final(h, d);
	lode__hex(d, sizeof d, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* Files: empty, then 2,500,000 'a' (three read blocks). */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(lode__sha256_file(tmpl, hex, &size, &err), LODE_OK);
	assert_string_equal(hex, empty);
	assert_int_equal(size, 0);
	f = fopen(tmpl, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(big, 1, 2500000, f), 2500000);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(lode__sha256_file(tmpl, hex, &size, &err), LODE_OK);
	assert_string_equal(hex, "38a637965059125eeb67f54c30e7f48a61859a467a800ba09740ba48a924f2b9");
	assert_int_equal(size, 2500000);
	unlink(tmpl);
	assert_int_equal(lode__sha256_file(tmpl, hex, &size, &err), LODE_ESOURCE); /* gone */
	free(big);
}

static void content_digest_rule(void **state)
{
	lode__content_hash *h;
	char hex[65];
	unsigned char a[10], b[20];

	(void)state;
	/* One band "abc": SHA-256(SHA-256("abc")), from hashlib. */
	h = lode__content_hash_new(1);
	lode__content_hash_update(h, 0, "a", 1);
	lode__content_hash_update(h, 0, "bc", 2); /* streaming gives the same */
	lode__content_hash_final(h, hex);
	assert_string_equal(hex, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
	/* Two bands, fed interleaved as strips are: bytes 0..9 and 10..29. */
	for (int i = 0; i < 10; i++)
		a[i] = (unsigned char)i;
	for (int i = 0; i < 20; i++)
		b[i] = (unsigned char)(10 + i);
	h = lode__content_hash_new(2);
	lode__content_hash_update(h, 0, a, 5);
	lode__content_hash_update(h, 1, b, 10);
	lode__content_hash_update(h, 0, a + 5, 5);
	lode__content_hash_update(h, 1, b + 10, 10);
	lode__content_hash_final(h, hex);
	assert_string_equal(hex, "f0f0ae61013c060781d0a91160e3b9732ba022f353f50a94b7e2d067644f9293");
}

/* The bundle digest of a new bundle at path holding only the root attributes attrs[0..n). */
static void digest_of(const char *path, const lode_attr *attrs, size_t n, char hex[65])
{
	lode__bundle *b = NULL;
	lode_error err;

	unlink(path); /* bundles are created exclusively: never over an existing file */
	assert_int_equal(lode__bundle_create(path, &b, &err), LODE_OK);
	assert_int_equal(lode__bundle_set_attrs(b, NULL, attrs, n, &err), LODE_OK);
	assert_int_equal(lode__bundle_digest(b, NULL, 0, hex, &err), LODE_OK);
	assert_int_equal(lode__bundle_close(b, &err), LODE_OK);
}

static void bundle_digest_rules(void **state)
{
	char path[] = "/tmp/lode-test-digest.XXXXXX", d1[65], d2[65], d3[65];
	lode_attr base[2] = {{"Conventions", "CF-1.8, ACDD-1.3"}, {"title", "T"}};
	lode_attr signed_[4] = {base[0], base[1], {"lode_bundle_sha256", "x"}, {"lode_signature_1", "{}"}};
	lode_attr odd[3] = {base[0], base[1], {"lode_signature_01", "{}"}};
	lode_attr shifted[2] = {{"Conventions", "CF-1.8,"}, {" ACDD-1.3title", "T"}};
	lode_attr swapped[2] = {base[1], base[0]};
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* The value tests/bundle_digest.py (h5py and hashlib) prints for this file. */
	digest_of(path, base, 2, d1);
	assert_string_equal(d1, BUNDLE_DIGEST_TWO_ATTRS);
	/* The signature set is left out; anything else counts, in creation order. */
	digest_of(path, signed_, 4, d2);
	assert_string_equal(d1, d2);
	digest_of(path, odd, 3, d3);
	assert_string_not_equal(d1, d3);
	digest_of(path, shifted, 2, d3); /* the same bytes cut elsewhere */
	assert_string_not_equal(d1, d3);
	digest_of(path, swapped, 2, d3);
	assert_string_not_equal(d1, d3);
	unlink(path);
	assert_true(lode__digest_skips_attr("lode_bundle_sha256"));
	assert_true(lode__digest_skips_attr("lode_signature_1"));
	assert_true(lode__digest_skips_attr("lode_signature_10"));
	assert_false(lode__digest_skips_attr("lode_signature_01"));
	assert_false(lode__digest_skips_attr("lode_signature_0"));
	assert_false(lode__digest_skips_attr("lode_signature_"));
	assert_false(lode__digest_skips_attr("lode_signature_1a"));
	assert_false(lode__digest_skips_attr("lode_signature"));
	assert_false(lode__digest_skips_attr("lode_bundle_sha256 "));
}

static void dtypes(void **state)
{
	(void)state;
	assert_true(lode__dtype_holds(LODE_DT_U8, 255));
	assert_false(lode__dtype_holds(LODE_DT_U8, 256));
	assert_false(lode__dtype_holds(LODE_DT_U8, -1));
	assert_false(lode__dtype_holds(LODE_DT_I16, 1.5));
	assert_true(lode__dtype_holds(LODE_DT_I16, -32768));
	assert_true(lode__dtype_holds(LODE_DT_F32, -99999));
	assert_true(lode__dtype_holds(LODE_DT_F32, NAN));
	assert_false(lode__dtype_holds(LODE_DT_I32, NAN));
	assert_int_equal(lode__dtype_size(LODE_DT_F64), 8);
	assert_int_equal(lode__dtype_from_name("UInt16"), LODE_DT_U16);
	assert_string_equal(lode__dtype_name(LODE_DT_I8), "Int8");
}

static void paths(void **state)
{
	char *s;

	(void)state;
	s = lode__path_join("samples", "data/a.tif");
	assert_string_equal(s, "samples/data/a.tif");
	free(s);
	s = lode__path_join("samples", "/abs/a.tif");
	assert_string_equal(s, "/abs/a.tif");
	free(s);
	s = lode__dirname("m.yaml");
	assert_string_equal(s, ".");
	free(s);
	s = lode__dirname("/m.yaml");
	assert_string_equal(s, "/");
	free(s);
	assert_true(lode__name_ok("aeromag_tmi-2"));
	assert_false(lode__name_ok("2dem"));
	assert_false(lode__name_ok("a b"));
	assert_false(lode__name_ok(""));
}

/* A text field's strings in its blocks (vdata.h): every copy intact after many small
   ones, one longer than a block, and two fields' blocks moved into one; the count is the
   strings' bytes. */
static void vfield_text_blocks(void **state)
{
	enum { N = 100000 };
	lode_vfield a = {0}, b = {0};
	char **va = calloc(N + 2, sizeof *va), **vb = calloc(N, sizeof *vb), buf[32];
	size_t big_len = 3u << 20, want = 0;
	char *big = malloc(big_len + 1);

	(void)state;
	assert_non_null(va);
	assert_non_null(vb);
	assert_non_null(big);
	memset(big, 'x', big_len);
	big[big_len] = '\0';
	a.type = b.type = LODE_FT_STRING;
	a.values = va;
	b.values = vb;
	for (size_t k = 0; k < N; k++) {
		snprintf(buf, sizeof buf, "value %zu", k);
		assert_int_equal(lode__vfield_set_text(&a, k, buf), 0);
		assert_int_equal(lode__vfield_set_text(&b, k, k % 7 ? buf : NULL), 0);
		want += strlen(buf) + 1;
		if (k == N / 2)
			assert_int_equal(lode__vfield_set_text(&a, N, big), 0); /* a block alone */
	}
	assert_int_equal(lode__vfield_set_text(&a, N + 1, "after"), 0);
	assert_int_equal(a.text.bytes, want + big_len + 1 + 6);
	lode__vfield_text_move(&a, &b);
	assert_null(b.text.blocks);
	assert_int_equal(b.text.bytes, 0);
	for (size_t k = 0; k < N; k++) {
		snprintf(buf, sizeof buf, "value %zu", k);
		assert_string_equal(va[k], buf);
		assert_string_equal(vb[k], k % 7 ? buf : "");
	}
	assert_int_equal(strlen(va[N]), big_len);
	assert_string_equal(va[N + 1], "after");
	lode__vfield_text_free(&a);
	lode__vfield_text_free(&b);
	assert_null(a.text.blocks);
	free(va);
	free(vb);
	free(big);
}

/* SHA-256(SHA-256(the element encodings of strs)): a text variable's values digest as
   bundle-format.md 7.1 defines it (one plane), computed here independently. */
static void stored_values_digest(const char *const *strs, size_t n, char hex[65])
{
	unsigned char d[32];
	lode__sha256 *h = lode__sha256_new();

	for (size_t k = 0; k < n; k++) {
		uint64_t len = strlen(strs[k]);
		unsigned char le[8];
		for (int b = 0; b < 8; b++)
			le[b] = (unsigned char)(len >> (8 * b));
		lode__sha256_update(h, le, 8);
		lode__sha256_update(h, strs[k], (size_t)len);
	}
	lode__sha256_final(h, d);
	h = lode__sha256_new();
	lode__sha256_update(h, d, 32);
	lode__sha256_final(h, d);
	lode__hex(d, 32, hex);
}

/* The values digest lode__vector_digest_ex gives the writers for a text field's variable
   is that of the strings stored, also when a null's slot holds text (the content digest
   counts a null as empty; the bundle digest reads what is stored). */
static void text_field_values_digest(void **state)
{
	const char *vals[3] = {"a", "", "x\xc3\xa9z"};
	unsigned char isnull[3] = {0, 1, 0};
	int32_t counts[3] = {0, 0, 0};
	lode_vfield f = {.name = "s",
			 .var = "1_s",
			 .type = LODE_FT_STRING,
			 .values = (void *)vals,
			 .isnull = isnull,
			 .nnull = 1};
	lode_vdata d = {.kind = LODE_GK_NONE, .nfeat = 3, .node_count = counts, .fields = &f, .nfields = 1};
	char content[65], again[65], coords[3][65], texts[1][65], want[65];

	(void)state;
	lode__vector_digest_ex(&d, content, coords, texts);
	stored_values_digest(vals, 3, want);
	assert_string_equal(texts[0], want);
	/* A null whose slot holds text: the content digest is unchanged, the values digest
	   is that of what is stored. */
	vals[1] = "held";
	lode__vector_digest_ex(&d, again, coords, texts);
	assert_string_equal(again, content);
	stored_values_digest(vals, 3, want);
	assert_string_equal(texts[0], want);
	/* No features: no values digest (the bundle digest reads the empty variable). */
	d.nfeat = 0;
	lode__vector_digest_ex(&d, again, coords, texts);
	assert_string_equal(texts[0], "");
}

/* Pages of a buffer in memory (mincore), from its first whole page to its last. */
static size_t resident_pages(const unsigned char *p, size_t n, size_t *pages)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const uintptr_t start = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1),
			end = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
	unsigned char *v;
	size_t in = 0;

	*pages = (end - start) / page;
	v = malloc(*pages);
	assert_non_null(v);
	assert_int_equal(mincore((void *)start, end - start, v), 0);
	for (size_t i = 0; i < *pages; i++)
		in += v[i] & 1;
	free(v);
	return in;
}

/* Whether this kernel has MADV_POPULATE_WRITE (Linux 5.14). */
static int populate_works(void)
{
	int ok = 0;
#ifdef MADV_POPULATE_WRITE
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok = p != MAP_FAILED && madvise(p, page, MADV_POPULATE_WRITE) == 0;
	if (p != MAP_FAILED)
		munmap(p, page);
#endif
	return ok;
}

/* Fresh buffers of their own mapping (never touched: none of their pages in memory)
   are wholly in memory after the prefault, their contents as they were (zeros), and
   nothing is started for less than 8 MB.  The bytes written meanwhile by another
   thread stay (the prefault writes none). */
static void prefault_populates_every_page(void **state)
{
	const size_t n1 = (size_t)6 << 20, n2 = (size_t)3 << 20;
	unsigned char *a = mmap(NULL, n1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *b = mmap(NULL, n2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct lode__prefault *h;
	size_t pages, in;

	(void)state;
	assert_true(a != MAP_FAILED && b != MAP_FAILED);
	assert_null(lode__prefault_start(a, n1, NULL, n2)); /* 6 MB: not worth a thread */
	assert_null(lode__prefault_start(NULL, n1, NULL, n2));
	lode__prefault_join(NULL);
	in = resident_pages(a, n1, &pages);
	assert_int_equal(in, 0);
	h = lode__prefault_start(a, n1, b, n2);
	assert_non_null(h);
	memset(b + n2 / 2, 0xcd, n2 / 2); /* while it runs */
	lode__prefault_join(h);
	/* a kernel before Linux 5.14 refuses MADV_POPULATE_WRITE: then nothing is faulted in */
	in = resident_pages(a, n1, &pages);
	if (populate_works()) {
		assert_int_equal(in, pages);
		in = resident_pages(b, n2, &pages);
		assert_int_equal(in, pages);
	}
	for (size_t i = 0; i < n1; i++)
		if (a[i] != 0)
			fail_msg("first buffer, byte %zu: %#x", i, a[i]);
	for (size_t i = 0; i < n2; i++)
		if (b[i] != (i < n2 / 2 ? 0 : 0xcd))
			fail_msg("second buffer, byte %zu: %#x", i, b[i]);
	munmap(a, n1);
	munmap(b, n2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(error_context_is_prepended),
	    cmocka_unit_test(sha256_vectors),
	    cmocka_unit_test(content_digest_rule),
	    cmocka_unit_test(bundle_digest_rules),
	    cmocka_unit_test(dtypes),
	    cmocka_unit_test(paths),
	    cmocka_unit_test(vfield_text_blocks),
	    cmocka_unit_test(text_field_values_digest),
	    cmocka_unit_test(prefault_populates_every_page),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
