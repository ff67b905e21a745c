/*
 * vdata.h -- the columnar vector model: a layer's geometries and attribute fields as
 * arrays, the way CF-1.8 simple geometries store them.  OGR reading (vector_read.c)
 * fills it, the bundle writer and reader (bundle_h5.c) store and load it, the digest
 * (pipeline/digest.c) hashes it and extract writes it out (gpkg_write.c).  Plain C: no
 * GDAL or HDF5 header here.
 */
#ifndef LODE_VDATA_H
#define LODE_VDATA_H

#include <stddef.h>
#include <stdint.h>

typedef enum lode_ftype {
	LODE_FT_INT32 = 1, /* int32_t */
	LODE_FT_INT64,     /* int64_t */
	LODE_FT_REAL,      /* double */
	LODE_FT_STRING,    /* char * (UTF-8, owned; "" when null) */
	LODE_FT_DATE,      /* int32_t days since 1970-01-01 */
	LODE_FT_DATETIME,  /* double seconds since 1970-01-01T00:00:00 (UTC when the source said so) */
	LODE_FT_BOOL,      /* int8_t 0 or 1 */
	/* Text types, char * as LODE_FT_STRING: */
	LODE_FT_JSON,    /* a String of OGR's JSON sub-type, kept as such */
	LODE_FT_STRLIST, /* lists, as the compact JSON array of their items ("" when null): */
	LODE_FT_INTLIST, /*   ["a","b"], [1,2], [9007199254740993], [1.5,0.1] (17 digits) */
	LODE_FT_INT64LIST,
	LODE_FT_REALLIST
} lode_ftype;

const char *lode__ftype_name(lode_ftype t); /* OGR's names: "Integer", "Integer(Boolean)" ... */
lode_ftype lode__ftype_from_name(const char *name);
size_t lode__ftype_size(lode_ftype t); /* bytes per value in memory */
int lode__ftype_is_text(lode_ftype t); /* stored as text: String, String(JSON), the lists */
int lode__ftype_is_list(lode_ftype t);

/* LODE_GK_NONE: a table, a layer without geometry (every node count 0, no nodes). */
typedef enum lode_gkind { LODE_GK_POINT = 1, LODE_GK_LINE, LODE_GK_POLYGON, LODE_GK_NONE } lode_gkind;

/*
 * The text of a text field's values: big blocks the strings are copied into one after the
 * other, freed together with the field.  One malloc per value left the heap of a large
 * layer with list fields (a million rows) more than half holes: each value's small
 * string stayed between the temporaries GDAL's reader had freed around it, which later
 * reads could not reuse (docs/performance.md).
 */
typedef struct lode_vtext_block lode_vtext_block;
typedef struct lode_vtext {
	lode_vtext_block *blocks; /* the newest first; NULL before the first string */
	size_t bytes;             /* the strings' bytes, their NULs included */
} lode_vtext;

typedef struct lode_vfield {
	char *name; /* the source's field name, as written */
	char *var;  /* suffix of its variable name: letters, digits, '_' */
	lode_ftype type;
	int width;             /* the source's width, 0 if none */
	void *values;          /* nfeat values of the type above; text: pointers into text */
	unsigned char *isnull; /* nfeat flags */
	size_t nnull;
	lode_vtext text; /* text types: owns the strings values points to (zeroed: empty) */
} lode_vfield;

/* A copy of the len bytes at s (and a NUL) in f's text, or NULL when out of memory.
   lode__vfield_set_text puts a copy of s (NULL: "") at value k; 0, or -1 when out of
   memory.  lode__vfield_text_free frees the text, every value pointing into it. */
char *lode__vfield_text(lode_vfield *f, const char *s, size_t len);
int lode__vfield_set_text(lode_vfield *f, size_t k, const char *s);
void lode__vfield_text_free(lode_vfield *f);
/* Move from's text blocks to to (from's values now point into to's text). */
void lode__vfield_text_move(lode_vfield *to, lode_vfield *from);

/*
 * A vector layer in columns, as CF-1.8 simple geometries store it.  Feature f has
 * node_count[f] nodes (0: null or empty geometry).  Lines and polygons are cut into
 * parts (a line string, a ring): part_node_count[p] nodes each, interior_ring[p] 1 for
 * holes.  Multi-points have one node per point and no parts.
 */
typedef struct lode_vdata {
	lode_gkind kind;
	int multi, has_z, has_m; /* has_m: the nodes carry measures (M) in m */
	size_t nfeat, nnodes, nparts;
	double *x, *y, *z, *m;
	int32_t *node_count;
	int32_t *part_node_count, *interior_ring;
	lode_vfield *fields;
	size_t nfields;
	size_t cap_feat, cap_nodes, cap_parts; /* allocation sizes */
} lode_vdata;

void lode__vdata_free(lode_vdata *d); /* frees the contents and d; NULL ok */
/* The bytes a field of nfeat values holds (values, null flags, its strings; not the
   unused ends of its text's blocks, as free room of the allocator's is not counted), and
   those the whole layer holds: what --max-memory counts after the read. */
size_t lode__vfield_bytes(const lode_vfield *f, size_t nfeat);
size_t lode__vdata_bytes(const lode_vdata *d);
/* "Point", "MultiLineString", "3D Polygon", "3D LineString M"...: the OGR name of the
   layer's type, " M" after it when it has measures ("None" for a table). */
const char *lode__vdata_type_name(const lode_vdata *d);

#endif
