/*
 * vdata.c -- the columnar vector model shared by reading, the bundle and the digest
 * (vdata.h): the field types and their OGR names, the text of text fields, freeing a
 * layer, naming its type.
 * Filling a layer from a source is vector_read.c's; storing it is bundle_h5.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "vdata.h"

/* ---- field types ---- */

static const struct {
	lode_ftype t;
	const char *name;
	size_t size;
} ftypes[] = {
    {LODE_FT_INT32, "Integer", 4},
    {LODE_FT_INT64, "Integer64", 8},
    {LODE_FT_REAL, "Real", 8},
    {LODE_FT_STRING, "String", sizeof(char *)},
    {LODE_FT_DATE, "Date", 4},
    {LODE_FT_DATETIME, "DateTime", 8},
    {LODE_FT_BOOL, "Integer(Boolean)", 1},
    {LODE_FT_JSON, "String(JSON)", sizeof(char *)},
    {LODE_FT_STRLIST, "StringList", sizeof(char *)},
    {LODE_FT_INTLIST, "IntegerList", sizeof(char *)},
    {LODE_FT_INT64LIST, "Integer64List", sizeof(char *)},
    {LODE_FT_REALLIST, "RealList", sizeof(char *)},
};

int lode__ftype_is_text(lode_ftype t)
{
	return t == LODE_FT_STRING || t == LODE_FT_JSON || lode__ftype_is_list(t);
}

int lode__ftype_is_list(lode_ftype t)
{
	return t == LODE_FT_STRLIST || t == LODE_FT_INTLIST || t == LODE_FT_INT64LIST ||
	       t == LODE_FT_REALLIST;
}

const char *lode__ftype_name(lode_ftype t)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (ftypes[i].t == t)
			return ftypes[i].name;
	return "Unknown";
}

lode_ftype lode__ftype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (strcmp(ftypes[i].name, name) == 0)
			return ftypes[i].t;
	return 0;
}

size_t lode__ftype_size(lode_ftype t)
{
	for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
		if (ftypes[i].t == t)
			return ftypes[i].size;
	return 0;
}

/* ---- the text of text fields ---- */

/* A field's first block; each next one as big as the text so far (so they double), up
   to TEXT_MOST.  A string longer than that gets a block of its own. */
#define TEXT_FIRST 1024u
#define TEXT_MOST  (1024u * 1024u)

struct lode_vtext_block {
	lode_vtext_block *next;
	size_t cap, used; /* bytes of data */
	char data[];
};

char *lode__vfield_text(lode_vfield *f, const char *s, size_t len)
{
	lode_vtext_block *b = f->text.blocks;
	char *p;

	if (len > SIZE_MAX / 2)
		return NULL;
	if (!b || b->cap - b->used <= len) {
		size_t total = f->text.bytes < TEXT_FIRST  ? TEXT_FIRST
			       : f->text.bytes < TEXT_MOST ? f->text.bytes
							   : TEXT_MOST;
		int alone = len + 1 > total - sizeof *b;
		lode_vtext_block *nb;

		if (alone)
			total = sizeof *b + len + 1;
		if (!(nb = malloc(total)))
			return NULL;
		nb->cap = total - sizeof *b;
		nb->used = 0;
		if (alone && b) { /* behind the newest, whose room stays in use */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			f->text.blocks = nb;
		}
		b = nb;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	f->text.bytes += len + 1;
	return p;
}

int lode__vfield_set_text(lode_vfield *f, size_t k, const char *s)
{
	if (!s)
		s = "";
	return (((char **)f->values)[k] = lode__vfield_text(f, s, strlen(s))) ? 0 : -1;
}

void lode__vfield_text_free(lode_vfield *f)
{
	for (lode_vtext_block *b = f->text.blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	f->text.blocks = NULL;
	f->text.bytes = 0;
}

void lode__vfield_text_move(lode_vfield *to, lode_vfield *from)
{
	lode_vtext_block *last = from->text.blocks;

	if (!last)
		return;
	while (last->next)
		last = last->next;
	/* Behind to's newest block, which goes on taking strings. */
	if (to->text.blocks) {
		last->next = to->text.blocks->next;
		to->text.blocks->next = from->text.blocks;
	} else {
		to->text.blocks = from->text.blocks;
	}
	to->text.bytes += from->text.bytes;
	from->text.blocks = NULL;
	from->text.bytes = 0;
}

void lode__vdata_free(lode_vdata *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	free(d->z);
	free(d->m);
	free(d->node_count);
	free(d->part_node_count);
	free(d->interior_ring);
	for (size_t i = 0; i < d->nfields; i++) {
		lode_vfield *f = &d->fields[i];
		lode__vfield_text_free(f);
		free(f->values);
		free(f->isnull);
		free(f->name);
		free(f->var);
	}
	free(d->fields);
	free(d);
}

size_t lode__vfield_bytes(const lode_vfield *f, size_t nfeat)
{
	return nfeat * (lode__ftype_size(f->type) + 1) + f->text.bytes;
}

size_t lode__vdata_bytes(const lode_vdata *d)
{
	size_t n = d->nnodes * sizeof(double) * (2u + (d->z != NULL) + (d->m != NULL)) +
		   (d->nfeat + 2 * d->nparts) * sizeof(int32_t);

	for (size_t i = 0; i < d->nfields; i++)
		n += lode__vfield_bytes(&d->fields[i], d->nfeat);
	return n;
}

const char *lode__vdata_type_name(const lode_vdata *d)
{
	static const char *const names[2][2][2][4] = {
	    {{{"", "Point", "LineString", "Polygon"}, {"", "MultiPoint", "MultiLineString", "MultiPolygon"}},
	     {{"", "3D Point", "3D LineString", "3D Polygon"},
	      {"", "3D MultiPoint", "3D MultiLineString", "3D MultiPolygon"}}},
	    {{{"", "Point M", "LineString M", "Polygon M"},
	      {"", "MultiPoint M", "MultiLineString M", "MultiPolygon M"}},
	     {{"", "3D Point M", "3D LineString M", "3D Polygon M"},
	      {"", "3D MultiPoint M", "3D MultiLineString M", "3D MultiPolygon M"}}},
	};
	if (d->kind == LODE_GK_NONE)
		return "None";
	return names[d->has_m ? 1 : 0][d->has_z ? 1 : 0][d->multi ? 1 : 0][d->kind];
}
