/*
 * vocab.h -- PRIVATE to liblode: controlled vocabularies (formats/vocab.c).
 *
 * A vocabulary is a CSV file read through GDAL's CSV reading: a header row, then one row
 * per concept.  The column `uri` is required; the columns `code`, `value`, `label_en`,
 * `label`, and every column whose name starts with `labels` (`labels_ms`: several
 * labels joined by ";") give the keys that match the concept; other columns are ignored.
 * The CGI vocabularies (vocab/NAME.csv: uri,code,label_en[,labels_ms]) and a user's map
 * (value,uri) are both this form.
 *
 * Matching rule (lode__vocab_norm): a value and a key match when they are equal after
 * Unicode compatibility decomposition (NFKD), removal of combining marks (accents), full
 * case folding and whitespace normalisation (leading and trailing white space removed,
 * every inner run of white space one space).  Nothing else is equated: "tin_ore" and
 * "tin ore" differ.  A value whose normalised form is a key of two concepts is
 * ambiguous and is never matched.  A row whose uri is "A|B" (a URI cannot hold '|')
 * names several concepts on purpose: the match gives "A|B" as one uri, the caller cuts it.
 */
#ifndef LODE_VOCAB_H
#define LODE_VOCAB_H

#include <stddef.h>

#include "error.h"

typedef struct lode__vocab lode__vocab;

/*
 * Read the vocabulary in path.  On failure *out is NULL and err names the file and line
 * (a row without a uri, a header without `uri`, bad UTF-8, an unreadable file).
 * The caller frees *out with lode__vocab_free.
 */
lode_status lode__vocab_load(const char *path, lode__vocab **out, lode_error *err);
/*
 * The same with another column in the role of `uri`: a translation table (value,text)
 * read with target "text" matches a value to its text.
 */
lode_status lode__vocab_load_col(const char *path, const char *target, lode__vocab **out, lode_error *err);
void lode__vocab_free(lode__vocab *v); /* NULL ok */

size_t lode__vocab_concepts(const lode__vocab *v);    /* number of rows (concepts) */
const char *lode__vocab_sha256(const lode__vocab *v); /* lower-case hex SHA-256 of the file */

typedef enum lode__vocab_hit {
	LODE__VOCAB_NONE = 0, /* no key matches */
	LODE__VOCAB_ONE,      /* *uri is the concept */
	LODE__VOCAB_AMBIGUOUS /* two concepts share the key: *uri and *other name them */
} lode__vocab_hit;

/*
 * Match value (UTF-8) under the rule above.  *uri and *other (either may be NULL) point
 * into v.  A value that is not valid UTF-8 or is empty after normalisation matches
 * nothing.
 */
lode__vocab_hit lode__vocab_match(const lode__vocab *v, const char *value, const char **uri,
				  const char **other);

/* The English label (label_en, else the first label, else "") of the concept uri, or NULL. */
const char *lode__vocab_label(const lode__vocab *v, const char *uri);

/*
 * The normalised form of s (malloc'd; the caller frees), or NULL when s is not valid
 * UTF-8 or memory ran out.
 */
char *lode__vocab_norm(const char *s);

/*
 * The file of a built-in vocabulary: name is one of CommodityCode, MineralDepositModel,
 * MineralOccurrenceType, MineStatus, ResourceCategory, ReserveCategory (written
 * "cgi:NAME" in a manifest).  The installed copy (PREFIX/share/lode/vocab) when it
 * exists, else the source tree's vocab/.  malloc'd; NULL for another name (or ENOMEM).
 */
char *lode__vocab_builtin(const char *name);
/* The version recorded for the built-in vocabularies (their upstream commit). */
#define LODE_VOCAB_BUILTIN_VERSION "cgi-vocabs@8c732a1d12c0c0743632031a706080164caa51f2"

#endif
