/*
 * vocab.c -- controlled vocabularies from CSV files (vocab.h): reading them through
 * GDAL's CSV reading (CSVReadParseLine3L: quoting, byte-order mark), the matching rule
 * (ICU: NFKD, combining marks removed, full case folding, white space normalised) and
 * the sorted key table that finds a concept and tells an ambiguous key.  It does not
 * know fields, manifests or bundles: pipeline/harmonize.c applies it.
 */
#include "vocab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_csv.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "gdal_util.h"
#include "sha256.h"
#include "util.h"

#define VOCAB_MAX_LINE (1u << 20)
#define VOCAB_MAX_ROWS 1000000u

typedef struct vkey {
	char *key;      /* normalised */
	size_t concept; /* row index */
} vkey;

typedef struct concept {
	char *uri;
	char *label; /* label_en, else the first label; may be "" */
}
concept;

struct lode__vocab {
	concept *c;
	size_t nc, capc;
	vkey *k;
	size_t nk, capk;
	char sha[65];
};

void lode__vocab_free(lode__vocab *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nc; i++) {
		free(v->c[i].uri);
		free(v->c[i].label);
	}
	for (size_t i = 0; i < v->nk; i++)
		free(v->k[i].key);
	free(v->c);
	free(v->k);
	free(v);
}

size_t lode__vocab_concepts(const lode__vocab *v)
{
	return v->nc;
}
const char *lode__vocab_sha256(const lode__vocab *v)
{
	return v->sha;
}

/* UTF-8 -> UTF-16, malloc'd; NULL on bad UTF-8 or ENOMEM. */
static UChar *to_u16(const char *s, int32_t *len)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t n = 0;
	UChar *u;

	u_strFromUTF8(NULL, 0, &n, s, -1, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		return NULL;
	u = malloc(((size_t)n + 1) * sizeof *u);
	if (!u)
		return NULL;
	st = U_ZERO_ERROR;
	u_strFromUTF8(u, n + 1, len, s, -1, &st);
	if (U_FAILURE(st)) {
		free(u);
		return NULL;
	}
	return u;
}

/* Apply an ICU UTF-16 transform (fold or normalise) into a new buffer. */
static UChar *fold(const UChar *in, int32_t n, int32_t *outn)
{
	UErrorCode st = U_ZERO_ERROR;
	int32_t m = u_strFoldCase(NULL, 0, in, n, U_FOLD_CASE_DEFAULT, &st);
	UChar *out = malloc(((size_t)m + 1) * sizeof *out);

	if (!out)
		return NULL;
	st = U_ZERO_ERROR;
	*outn = u_strFoldCase(out, m + 1, in, n, U_FOLD_CASE_DEFAULT, &st);
	if (U_FAILURE(st)) {
		free(out);
		return NULL;
	}
	return out;
}

static UChar *nfkd(const UChar *in, int32_t n, int32_t *outn)
{
	UErrorCode st = U_ZERO_ERROR;
	const UNormalizer2 *nz = unorm2_getNFKDInstance(&st);
	int32_t m;
	UChar *out;

	if (U_FAILURE(st))
		return NULL;
	m = unorm2_normalize(nz, in, n, NULL, 0, &st);
	if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
		return NULL;
	out = malloc(((size_t)m + 1) * sizeof *out);
	if (!out)
		return NULL;
	st = U_ZERO_ERROR;
	*outn = unorm2_normalize(nz, in, n, out, m + 1, &st);
	if (U_FAILURE(st)) {
		free(out);
		return NULL;
	}
	return out;
}

/* Drop combining marks, collapse white space; UTF-16 in place, returns the new length. */
static int32_t squeeze(UChar *u, int32_t n)
{
	int32_t o = 0, i = 0;
	int space = 0;

	while (i < n) {
		UChar32 c;
		int32_t at = i;

		U16_NEXT(u, i, n, c);
		if (u_charType(c) == U_NON_SPACING_MARK || u_charType(c) == U_ENCLOSING_MARK ||
		    u_charType(c) == U_COMBINING_SPACING_MARK)
			continue;
		if (u_isUWhiteSpace(c)) {
			space = o > 0;
			continue;
		}
		if (space)
			u[o++] = 0x20;
		space = 0;
		while (at < i)
			u[o++] = u[at++];
	}
	return o;
}

char *lode__vocab_norm(const char *s)
{
	int32_t n = 0, m = 0, k = 0;
	UChar *a = NULL, *b = NULL, *c = NULL;
	char *out = NULL;
	UErrorCode st = U_ZERO_ERROR;

	a = to_u16(s ? s : "", &n);
	if (!a)
		goto out;
	/* Fold, decompose, fold again: a folded character may decompose (and vice versa). */
	b = fold(a, n, &m);
	if (!b)
		goto out;
	c = nfkd(b, m, &k);
	if (!c)
		goto out;
	free(b);
	b = fold(c, k, &m);
	if (!b)
		goto out;
	m = squeeze(b, m);
	{
		int32_t len = 0;

		u_strToUTF8(NULL, 0, &len, b, m, &st);
		if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
			goto out;
		st = U_ZERO_ERROR;
		out = malloc((size_t)len + 1);
		if (!out)
			goto out;
		u_strToUTF8(out, len + 1, NULL, b, m, &st);
		if (U_FAILURE(st)) {
			free(out);
			out = NULL;
		}
	}
out:
	free(a);
	free(b);
	free(c);
	return out;
}

static int add_concept(lode__vocab *v, const char *uri, const char *label)
{
	if (v->nc == v->capc) {
		size_t cap = v->capc ? v->capc * 2 : 64;
		concept *c = realloc(v->c, cap * sizeof *c);

		if (!c)
			return -1;
		v->c = c;
		v->capc = cap;
	}
	v->c[v->nc].uri = lode__strdup(uri);
	v->c[v->nc].label = lode__strdup(label ? label : "");
	if (!v->c[v->nc].uri || !v->c[v->nc].label) {
		free(v->c[v->nc].uri);
		free(v->c[v->nc].label);
		return -1;
	}
	v->nc++;
	return 0;
}

/* Add the key text (not yet normalised) for the last concept; "" adds nothing. 1 = bad UTF-8. */
static int add_key(lode__vocab *v, const char *text)
{
	char *k = lode__vocab_norm(text);

	if (!k)
		return 1;
	if (!*k) {
		free(k);
		return 0;
	}
	if (v->nk == v->capk) {
		size_t cap = v->capk ? v->capk * 2 : 256;
		vkey *nk = realloc(v->k, cap * sizeof *nk);

		if (!nk) {
			free(k);
			return -1;
		}
		v->k = nk;
		v->capk = cap;
	}
	v->k[v->nk].key = k;
	v->k[v->nk].concept = v->nc - 1;
	v->nk++;
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const vkey *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return (x->concept > y->concept) - (x->concept < y->concept);
}

enum col_role { COL_IGNORE, COL_URI, COL_KEY, COL_KEYS, COL_LABEL_EN };

static enum col_role role_of(const char *name, const char *target)
{
	if (!strcmp(name, target))
		return COL_URI;
	if (!strcmp(name, "label_en"))
		return COL_LABEL_EN;
	if (!strcmp(name, "code") || !strcmp(name, "value") || !strcmp(name, "label"))
		return COL_KEY;
	if (!strncmp(name, "labels", 6))
		return COL_KEYS;
	return COL_IGNORE;
}

/* One data row: its concept and keys.  Returns 0, or sets err. */
static lode_status add_row(lode__vocab *v, char **row, const enum col_role *roles, int ncols,
			   const char *path, size_t line, const char *target, lode_error *err)
{
	const char *uri = NULL, *label_en = NULL, *first = NULL;
	int r = 0;

	for (int i = 0; i < ncols && row[i]; i++) {
		if (roles[i] == COL_URI)
			uri = row[i];
		else if (roles[i] == COL_LABEL_EN && row[i][0])
			label_en = row[i];
		else if (roles[i] == COL_KEY && row[i][0] && !first)
			first = row[i];
	}
	if (!uri || !*uri)
		return lode__err(err, LODE_ESOURCE, "%s:%zu: a row without a %s", path, line, target);
	if (strchr(uri, '|')) { /* several concepts, said explicitly: "A|B" (a URI has no '|') */
		char **parts = CSLTokenizeString2(
		    uri, "|", CSLT_STRIPLEADSPACES | CSLT_STRIPENDSPACES | CSLT_ALLOWEMPTYTOKENS);
		char *joined = NULL;

		for (int j = 0; parts && parts[j] && r == 0; j++) {
			char *t = parts[j][0] ? lode__sprintf("%s%s%s", joined ? joined : "",
							      joined ? "|" : "", parts[j])
					      : NULL;
			r = !parts[j][0] ? 1 : !t ? -1 : 0;
			free(joined);
			joined = t;
		}
		r = !parts ? -1 : r;
		CSLDestroy(parts);
		if (r == 0 && add_concept(v, joined, label_en ? label_en : first) < 0)
			r = -1;
		free(joined);
		if (r > 0)
			return lode__err(err, LODE_ESOURCE,
					 "%s:%zu: an empty %s between '|' (several concepts are "
					 "written A|B)",
					 path, line, target);
	} else if (add_concept(v, uri, label_en ? label_en : first) < 0) {
		r = -1;
	}
	if (r < 0)
		return lode__err(err, LODE_ENOMEM, "%s:%zu: out of memory", path, line);
	for (int i = 0; i < ncols && row[i] && r == 0; i++) {
		if (roles[i] == COL_KEY || roles[i] == COL_LABEL_EN) {
			r = add_key(v, row[i]);
		} else if (roles[i] == COL_KEYS) {
			char **parts = CSLTokenizeString2(row[i], ";", 0);

			for (int j = 0; parts && parts[j] && r == 0; j++)
				r = add_key(v, parts[j]);
			CSLDestroy(parts);
		}
	}
	if (r < 0)
		return lode__err(err, LODE_ENOMEM, "%s:%zu: out of memory", path, line);
	if (r > 0)
		return lode__err(err, LODE_ESOURCE, "%s:%zu: a value that is not UTF-8", path, line);
	return LODE_OK;
}

lode_status lode__vocab_load(const char *path, lode__vocab **out, lode_error *err)
{
	return lode__vocab_load_col(path, "uri", out, err);
}

lode_status lode__vocab_load_col(const char *path, const char *target, lode__vocab **out, lode_error *err)
{
	lode_status rc = LODE_OK;
	lode__vocab *v = NULL;
	VSILFILE *fp = NULL;
	char **row = NULL;
	enum col_role *roles = NULL;
	int ncols = 0, have_uri = 0;
	size_t line = 1;
	uint64_t size = 0;
	lode__cpl_capture cap;

	*out = NULL;
	v = calloc(1, sizeof *v);
	if (!v)
		return lode__err(err, LODE_ENOMEM, "%s: out of memory", path);
	rc = lode__sha256_file(path, v->sha, &size, err);
	if (rc)
		goto out;
	lode__cpl_push(&cap);
	fp = VSIFOpenL(path, "rb");
	if (!fp) {
		rc = lode__err(err, LODE_ESOURCE, "%s: %s", path,
			       lode__cpl_msg(&cap, "cannot open the vocabulary"));
		goto pop;
	}
	row = CSVReadParseLine3L(fp, VOCAB_MAX_LINE, ",", true, false, false, true);
	ncols = CSLCount(row);
	roles = calloc((size_t)ncols + 1, sizeof *roles);
	if (!roles && ncols) {
		rc = lode__err(err, LODE_ENOMEM, "%s: out of memory", path);
		goto pop;
	}
	for (int i = 0; i < ncols; i++) {
		roles[i] = role_of(row[i], target);
		have_uri |= roles[i] == COL_URI;
	}
	if (!have_uri) {
		rc = lode__err(err, LODE_ESOURCE,
			       "%s:1: the header has no column `%s` (expected %s and code, value, "
			       "label_en, label or labels_*)",
			       path, target, target);
		goto pop;
	}
	CSLDestroy(row);
	while ((row = CSVReadParseLine3L(fp, VOCAB_MAX_LINE, ",", true, false, false, false)) != NULL) {
		line++;
		if (CSLCount(row) == 0 || (CSLCount(row) == 1 && !row[0][0])) {
			CSLDestroy(row);
			continue;
		}
		if (v->nc >= VOCAB_MAX_ROWS) {
			rc = lode__err(err, LODE_ESOURCE, "%s:%zu: more than %u rows", path, line,
				       VOCAB_MAX_ROWS);
			goto pop;
		}
		rc = add_row(v, row, roles, ncols < CSLCount(row) ? ncols : CSLCount(row), path, line, target,
			     err);
		CSLDestroy(row);
		row = NULL;
		if (rc)
			goto pop;
	}
	if (cap.failures) {
		rc = lode__err(err, LODE_ESOURCE, "%s:%zu: %s", path, line,
			       lode__cpl_msg(&cap, "unreadable CSV"));
		goto pop;
	}
	if (v->nk)
		qsort(v->k, v->nk, sizeof *v->k, cmp_key);
pop:
	lode__cpl_pop();
out:
	CSLDestroy(row);
	free(roles);
	if (fp)
		VSIFCloseL(fp);
	if (rc)
		lode__vocab_free(v);
	else
		*out = v;
	return rc;
}

lode__vocab_hit lode__vocab_match(const lode__vocab *v, const char *value, const char **uri,
				  const char **other)
{
	char *k = lode__vocab_norm(value);
	size_t lo = 0, hi = v->nk;
	lode__vocab_hit hit = LODE__VOCAB_NONE;

	if (uri)
		*uri = NULL;
	if (other)
		*other = NULL;
	if (!k || !*k)
		goto out;
	while (lo < hi) { /* first key >= k */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v->k[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == v->nk || strcmp(v->k[lo].key, k))
		goto out;
	hit = LODE__VOCAB_ONE;
	if (uri)
		*uri = v->c[v->k[lo].concept].uri;
	for (size_t i = lo + 1; i < v->nk && !strcmp(v->k[i].key, k); i++) {
		const char *u = v->c[v->k[i].concept].uri;

		if (strcmp(u, v->c[v->k[lo].concept].uri)) {
			hit = LODE__VOCAB_AMBIGUOUS;
			if (other)
				*other = u;
			break;
		}
	}
out:
	free(k);
	return hit;
}

const char *lode__vocab_label(const lode__vocab *v, const char *uri)
{
	for (size_t i = 0; i < v->nc; i++)
		if (!strcmp(v->c[i].uri, uri))
			return v->c[i].label;
	return NULL;
}

#ifndef LODE_VOCAB_DIR
#define LODE_VOCAB_DIR "/usr/local/share/lode/vocab"
#endif
#ifndef LODE_SOURCE_VOCAB_DIR
#define LODE_SOURCE_VOCAB_DIR "vocab"
#endif

char *lode__vocab_builtin(const char *name)
{
	static const char *const names[] = {"CommodityCode", "MineralDepositModel", "MineralOccurrenceType",
					    "MineStatus",    "ResourceCategory",    "ReserveCategory"};
	VSIStatBufL st;
	char *p;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(name, names[i]))
			continue;
		p = lode__sprintf("%s/%s.csv", LODE_VOCAB_DIR, name);
		if (p && VSIStatL(p, &st) == 0)
			return p;
		free(p);
		return lode__sprintf("%s/%s.csv", LODE_SOURCE_VOCAB_DIR, name);
	}
	return NULL;
}
