/*
 * bundle_canon.h -- the canonical encoding of a bundle's whole HDF5 object tree
 * (formats/bundle_canon.c, formats/bundle_canon_values.c), which the bundle digest
 * hashes (docs/bundle-format.md section 7.1 defines it byte for byte).
 *
 * The walk visits every object from the root in link creation order, depth first, and
 * hands the encoding to the caller piece by piece: each object's path, kind, comment,
 * datatype, dataspace, layout, filters, fill value and every attribute with its exact
 * stored bytes, every link (hard, soft, external), object references resolved to the
 * paths of the objects they point to.  The values of a dataset enter the encoding as a
 * 32-byte values digest: the caller either knows it (a writer that hashed the values
 * while writing them) or is handed the values' encoding plane by plane and returns the
 * digest.  The module computes no hash itself: pipeline/digest.c does.
 *
 * What the encoding cannot represent unambiguously is refused (LODE_EDAMAGED, a message
 * naming the object): a group or object that does not track creation order, a link or
 * attribute name that is empty, "." or holds '/', a user-defined link, a datatype
 * outside integer, IEEE float, string, object reference, variable-length sequence of
 * object references and compound of those, virtual or external raw data, a reference to
 * an object no link reaches, and what exceeds the limits of bundle-format.md section 7.1
 * (groups nested deeper than LODE__CANON_MAX_DEPTH, more than LODE__CANON_MAX_ATTRS
 * attributes on an object, attributes over 64 MB, ...).
 */
#ifndef LODE_BUNDLE_CANON_H
#define LODE_BUNDLE_CANON_H

#include <stddef.h>

#include "bundle.h"
#include "lode_error.h"

#define LODE__CANON_MAX_DEPTH      64 /* groups within groups */
#define LODE__CANON_MAX_DEPTH_TEXT "64"
#define LODE__CANON_MAX_ATTRS      (1u << 20) /* attributes of one object */
#define LODE__CANON_MAX_ATTRS_TEXT "1048576"

typedef struct lode__canon_sink {
	void *user;
	/* The next bytes of the encoding. */
	void (*put)(void *user, const void *bytes, size_t n);
	/* Non-zero: the root attribute name is left out of the encoding (the signature set). */
	int (*skip_root_attr)(const char *name);
	/* Non-zero when the caller knows the values digest of the dataset at path (then its
	   values are not read); NULL: read every value. */
	int (*known_values)(void *user, const char *path, unsigned char digest[32]);
	/* A dataset's values, when not known: values_plane opens the next plane (in order),
	   values_bytes adds element encodings to the open plane, values_end returns the
	   values digest (also when no plane was opened: a dataset with no planes). */
	void (*values_plane)(void *user);
	void (*values_bytes)(void *user, const void *bytes, size_t n);
	void (*values_end)(void *user, unsigned char digest[32]);
} lode__canon_sink;

/*
 * Encode the bundle b (open for reading or writing) into s.  LODE_EDAMAGED with a
 * message naming the object when the tree cannot be encoded or read, LODE_ENOMEM out
 * of memory.  On failure the bytes already given to s mean nothing.
 */
lode_status lode__bundle_canon(lode__bundle *b, const lode__canon_sink *s, lode_error *err);

#endif /* LODE_BUNDLE_CANON_H */
