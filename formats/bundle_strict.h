/*
 * bundle_strict.h -- a bundle's whole object tree as plain data (bundle_strict.c), for
 * verify's strict check (pipeline/strict.c): every link, group, variable and attribute,
 * with its type, shape, storage, dimension-scale attachments and (for the small ones)
 * its value.  What lode writes is decided there; this file only reads, and reports
 * what no rule needs to judge: links that are not hard links, objects linked twice,
 * names with control characters or over LODE_MAX_NAME bytes, objects that are neither
 * groups nor variables, and what HDF5 cannot read.
 *
 * The file is untrusted: nothing is sized from it before being checked, text values are
 * read only up to the bundle module's attribute limit and numbers only when an attribute
 * holds at most LODE_BATTR_VALUES of them.  hdf5.h stays out of this header.
 */
#ifndef LODE_BUNDLE_STRICT_H
#define LODE_BUNDLE_STRICT_H

#include <stddef.h>

#include "bundle.h"
#include "dtype.h"
#include "lode_error.h"

#define LODE_MAX_NAME     255 /* bytes in the name of a link or an attribute */
#define LODE_BATTR_VALUES 4   /* numbers of an attribute read into lode_battr.v */

typedef enum lode_bkind {
	LODE_BK_OTHER = 0, /* a type lode never writes there */
	LODE_BK_TEXT,      /* a string (see lode_btext for its form) */
	LODE_BK_NUMBER,    /* a little-endian netCDF-4 integer or float type: dtype */
	LODE_BK_DIMLIST,   /* attribute DIMENSION_LIST: variable-length lists of object references */
	LODE_BK_REFLIST,   /* attribute REFERENCE_LIST: records {object reference, dimension} */
	LODE_BK_VSTRING,   /* a variable: variable-length UTF-8 strings */
	LODE_BK_F32BE,     /* a variable: big-endian float32 (netCDF's dimension without variable) */
} lode_bkind;

/* The form of a text attribute. */
typedef enum lode_btext {
	LODE_BT_BAD = 0, /* anything else: variable length, an array, a NUL inside, wrong padding or cset */
	LODE_BT_LODE,    /* lode's: scalar, fixed length, NULLTERM, size = byte length (1 for ""),
			    no NUL byte, ASCII, or UTF-8 when a byte is 0x80 or above */
	LODE_BT_SCALE,   /* HDF5's dimension scales': scalar, fixed length, NULLTERM, ASCII,
			    size = byte length + 1, the last byte a NUL and no other */
} lode_btext;

typedef struct lode_battr {
	char *name;
	lode_bkind kind;
	lode_btext form;             /* text */
	char *text;                  /* text: the bytes before the first NUL, or NULL when not read */
	lode_dtype dtype;            /* numbers */
	int rank;                    /* 0 scalar, 1 and more: its dimensions; -1 no data */
	unsigned long long npoints;  /* values */
	double v[LODE_BATTR_VALUES]; /* numbers, when npoints <= LODE_BATTR_VALUES: as doubles */
	unsigned char raw[8];        /* ... and the first one's bytes in its own type */
} lode_battr;

typedef enum lode_blayout {
	LODE_BL_OTHER = 0,
	LODE_BL_CONTIGUOUS,
	LODE_BL_CHUNKED,
	LODE_BL_COMPACT
} lode_blayout;

/* HDF5's filter identifiers, as lode writes them. */
#define LODE_BF_DEFLATE    1
#define LODE_BF_SHUFFLE    2
#define LODE_BF_FLETCHER32 3

typedef struct lode_bref {
	int obj; /* index of the variable in lode_btree.objs; -1 when it cannot be resolved */
	int dim;
} lode_bref;

typedef struct lode_bobj {
	char *path;       /* "dem_kertau/x", "deposits_crs" */
	const char *name; /* the last part of path */
	int group;        /* 1: a group; 0: a variable (an HDF5 dataset) */
	int parent;       /* the index of the group holding it, -1 for the root */
	/* variables */
	lode_bkind kind; /* NUMBER, VSTRING, F32BE or OTHER */
	lode_dtype dtype;
	int rank;                   /* 0 scalar; -1 no dataspace or more than 3 dimensions */
	unsigned long long dims[3]; /* current size */
	int unlimited, fixed;       /* every maximum size H5S_UNLIMITED; every one the current */
	lode_blayout layout;
	int external; /* its values are in other files (HDF5 external storage) */
	unsigned long long chunk[3];
	int nfilters, filters[8];   /* nfilters -1: more than 8 or unreadable */
	int fill_user;              /* the fill value was set (not HDF5's default) */
	unsigned char fill[8];      /* ... and its bytes, for a NUMBER variable */
	unsigned long long storage; /* bytes allocated for the values */
	lode_battr *attrs;
	size_t nattrs;
	int scales[3];   /* per axis, the attached dimension scale: its index; -1 none; -2 several
			    or one that cannot be resolved */
	lode_bref *refs; /* REFERENCE_LIST, resolved */
	size_t nrefs;
	unsigned long long addr; /* HDF5's address of the object, to resolve references */
} lode_bobj;

typedef struct lode_btree {
	lode_battr *root; /* the root group's attributes */
	size_t nroot;
	lode_bobj *objs; /* every object reached by a hard link from the root, one level of
			    groups deep (their own subgroups are listed, not entered) */
	size_t nobjs;
	char *problem; /* the first problem of links, names or reading, or NULL */
} lode_btree;

/*
 * Read the tree of the open bundle b into *out (free with lode__btree_free).  What is
 * wrong with links, names or readability goes to (*out)->problem; LODE_ENOMEM is the
 * only failure.
 */
lode_status lode__bundle_tree(lode__bundle *b, lode_btree **out, lode_error *err);
void lode__btree_free(lode_btree *t); /* NULL ok */
/* The attribute called name of an object (or of the root, root/nroot), or NULL. */
const lode_battr *lode__battr_find(const lode_battr *attrs, size_t n, const char *name);

/*
 * Read the n values of a 1-D integer variable (path from the root) as long long into out.
 * LODE_EDAMAGED when it is not such a variable of n values or cannot be read.
 */
lode_status lode__bundle_read_ints(lode__bundle *b, const char *path, size_t n, long long *out,
				   lode_error *err);

/*
 * Read the n values of a 1-D variable of variable-length strings (path from the root),
 * each at most max_len bytes, into out[0..n-1] (malloc'd; free each and NULL entries are
 * not left: every entry is set on success).  LODE_EDAMAGED when it is not such a
 * variable or cannot be read; nothing to free then.
 */
lode_status lode__bundle_read_texts(lode__bundle *b, const char *path, size_t n, size_t max_len, char **out,
				    lode_error *err);

#endif /* LODE_BUNDLE_STRICT_H */
