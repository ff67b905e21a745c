/*
 * strict_vector.c -- the strict check of one vector layer (bundle-format.md section 5):
 * the root holds exactly its variables NAME_crs, NAME_node_coordinates, NAME_coordX,
 * NAME_coordY, NAME_coordZ (3D), NAME_coordM (measures), NAME_instance and NAME_node_count along it,
 * NAME_part, NAME_part_node_count and NAME_interior_ring along it (when its type has them), NAME and one
 * NAME_field_I_S per field of the lineage, each with the type, shape, filters, attributes and dimension
 * scales lode writes, the attributes' values equal to what the CRS and the lineage imply.  A table
 * (lode_ogr_geometry_type None) is the group NAME holding exactly NAME, the dimension NAME_row and its fields
 * along it (section 5.6).
 *
 * The layer's values (counts adding up, nulls, digests) are verify.c's and
 * formats/bundle_vector_read.c's; the helpers used here are strict.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_strict.h"
#include "dtype.h"
#include "strict_int.h"
#include "util.h"
#include "vdata.h"

/* The layer types lode writes (lode_ogr_geometry_type) and what they imply. */
typedef struct gtype {
	const char *ogr, *cf;
	int point, polygon, multi;
} gtype;

static const gtype gtypes[] = {
    {"Point", "point", 1, 0, 0},          {"LineString", "line", 0, 0, 0},
    {"Polygon", "polygon", 0, 1, 0},      {"MultiPoint", "point", 1, 0, 1},
    {"MultiLineString", "line", 0, 0, 1}, {"MultiPolygon", "polygon", 0, 1, 1},
};

/* The names of a layer's variables. */
typedef struct names {
	char crs[300], nodes[300], x[300], y[300], z[300], m[300], inst[300], part[300], count[300],
	    parts[300], ring[300];
} names;

/* Indexes of a layer's variables (-1 when absent) and its sizes. */
typedef struct layer {
	const char *name;
	const char *base; /* the fields' prefix: NAME, or NAME/NAME for a table */
	int table;
	const gtype *g;
	int z, m; /* 3D, with measures */
	int crs, nodes, x, y, zv, mv, idim, pdim, count, parts, ring, cont, instance;
	unsigned long long nnodes, nfeat, nparts;
	json_t *fields;
} layer;

/* The field variable lode names after field number i (1-based) called name, as
   formats/vector_read.c does: bytes other than A-Z a-z 0-9 as '_', cut to 60. */
static void field_var(char out[96], size_t i, const char *name)
{
	char s[64];
	size_t k = 0;

	for (const char *p = name; *p && k < 60; p++)
		s[k++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
			     ? *p
			     : '_';
	s[k] = '\0';
	snprintf(out, 96, "%zu_%s", i, s);
}

static lode_dtype field_dtype(lode_ftype t)
{
	switch (t) {
	case LODE_FT_INT32:
	case LODE_FT_DATE: return LODE_DT_I32;
	case LODE_FT_INT64: return LODE_DT_I64;
	case LODE_FT_REAL:
	case LODE_FT_DATETIME: return LODE_DT_F64;
	case LODE_FT_BOOL: return LODE_DT_I8;
	default: return LODE_DT_UNKNOWN;
	}
}

/* Field j (0-based) of the lineage, fj: its variable *idx. */
static char *field_problem(const strict_ctx *c, const layer *ly, size_t j, const json_t *fj, int *idx)
{
	const char *name = json_string_value(json_object_get(fj, "name"));
	const char *var = json_string_value(json_object_get(fj, "variable"));
	const char *type = json_string_value(json_object_get(fj, "type"));
	json_t *width = json_object_get(fj, "width"), *nulls = json_object_get(fj, "nulls");
	lode_ftype ft = type ? lode__ftype_from_name(type) : 0;
	char want[96], path[400], shown[80], crs[320], *p;
	const char *nogeo = "on the fields of a layer with geometry";
	const lode_bobj *o;
	const lode_battr *fv;
	int num = ft && !lode__ftype_is_text(ft), w, nn;
	vspec v = {.kind = num ? LODE_BK_NUMBER : LODE_BK_VSTRING,
		   .dtype = field_dtype(ft),
		   .rank = 1,
		   .dims = {ly->nfeat},
		   .unlimited = 1,
		   .layout = LODE_BL_CHUNKED,
		   .filtered = num};
	aspec spec[11];
	size_t n = 0;

	*idx = -1;
	snprintf(crs, sizeof crs, "%s_crs", ly->name);
	if (!name || !var || !ft || !json_is_integer(width) || !json_is_integer(nulls) ||
	    json_integer_value(width) < 0 || json_integer_value(nulls) < 0 ||
	    (unsigned long long)json_integer_value(nulls) > ly->nfeat ||
	    json_integer_value(width) > 0x7fffffff)
		return lode__strict_fmt("the lineage's field %zu is malformed", j + 1);
	field_var(want, j + 1, name);
	if (strcmp(var, want) != 0)
		return lode__strict_fmt("the lineage's field %zu names the variable '%s', not '%s'", j + 1,
					lode__printable(shown, sizeof shown, var), want);
	snprintf(path, sizeof path, "%s_field_%s", ly->base, var);
	if ((*idx = lode__strict_find(c, path)) < 0)
		return lode__strict_fmt("the variable '%s' of field %zu is missing", path, j + 1);
	o = &c->t->objs[*idx];
	w = (int)json_integer_value(width);
	nn = (int)json_integer_value(nulls);
	spec[n++] = (aspec){"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0};
	spec[n++] =
	    (aspec){"_FillValue", A_FILL, num ? 1 : -1, num ? NULL : "on numeric fields", 0, {0, 0}, 0};
	spec[n++] = (aspec){"long_name", A_TEXT, 1, name, 0, {0, 0}, 0};
	spec[n++] = ly->table ? (aspec){"geometry", A_TEXT, -1, nogeo, 0, {0, 0}, 0}
			      : (aspec){"geometry", A_TEXT, 1, ly->name, 0, {0, 0}, 0};
	spec[n++] = ly->table ? (aspec){"grid_mapping", A_TEXT, -1, nogeo, 0, {0, 0}, 0}
			      : (aspec){"grid_mapping", A_TEXT, 1, crs, 0, {0, 0}, 0};
	spec[n++] = (aspec){"ogr_field_name", A_TEXT, 1, name, 0, {0, 0}, 0};
	spec[n++] = (aspec){"ogr_field_type", A_TEXT, 1, type, 0, {0, 0}, 0};
	spec[n++] =
	    w > 0 ? (aspec){"ogr_field_width", A_I32, 1, NULL, 0, {(double)w, 0}, 0}
		  : (aspec){"ogr_field_width", A_I32, -1, "when the source declares a width", 0, {0, 0}, 0};
	spec[n++] = ft == LODE_FT_DATE ? (aspec){"units", A_TEXT, 1, "days since 1970-01-01", 0, {0, 0}, 0}
		    : ft == LODE_FT_DATETIME
			? (aspec){"units", A_TEXT, 1, "seconds since 1970-01-01 00:00:00", 0, {0, 0}, 0}
			: (aspec){"units", A_TEXT, -1, "on Date and DateTime fields", 0, {0, 0}, 0};
	spec[n++] = nn > 0 ? (aspec){"lode_nulls", A_I64S, 1, NULL, (size_t)nn, {0, 0}, 0}
			   : (aspec){"lode_nulls", A_I64S, -1, "when the field has nulls", 0, {0, 0}, 0};
	if ((p = lode__strict_shape(o, &v)) ||
	    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, n, v.dtype)))
		return p;
	fv = lode__battr_find(o->attrs, o->nattrs, "_FillValue");
	if (!fv != !o->fill_user || (fv && memcmp(fv->raw, o->fill, lode__dtype_size(v.dtype)) != 0))
		return lode__strict_fmt("the HDF5 fill value of '%s' is not its _FillValue", o->path);
	return lode__strict_scales(c, o, &ly->instance);
}

/* The geometry container NAME (index ly->cont). */
static char *container_problem(const strict_ctx *c, const layer *ly, const names *nm, const json_t *l)
{
	const lode_bobj *o = &c->t->objs[ly->cont];
	vspec v = {.kind = LODE_BK_NUMBER, .dtype = LODE_DT_I32, .layout = LODE_BL_CONTIGUOUS, .empty = 1};
	char coords[1000];
	aspec spec[12];
	size_t n = 0;
	char *p;

	snprintf(coords, sizeof coords, "%s %s%s%s", nm->x, nm->y, ly->z ? " " : "", ly->z ? nm->z : "");
	spec[n++] = (aspec){"geometry_type", A_TEXT, 1, ly->g->cf, 0, {0, 0}, 0};
	spec[n++] = (aspec){"node_coordinates", A_TEXT, 1, coords, 0, {0, 0}, 0};
	spec[n++] = (aspec){"node_count",
			    A_TEXT,
			    ly->count >= 0 ? 1 : -1,
			    ly->count >= 0 ? nm->count : "when the variable exists",
			    0,
			    {0, 0},
			    0};
	spec[n++] = (aspec){"part_node_count",
			    A_TEXT,
			    ly->parts >= 0 ? 1 : -1,
			    ly->parts >= 0 ? nm->parts : "when the variable exists",
			    0,
			    {0, 0},
			    0};
	spec[n++] = (aspec){"interior_ring",
			    A_TEXT,
			    ly->ring >= 0 ? 1 : -1,
			    ly->ring >= 0 ? nm->ring : "when the variable exists",
			    0,
			    {0, 0},
			    0};
	spec[n++] = (aspec){"grid_mapping", A_TEXT, 1, nm->crs, 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_ogr_geometry_type", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"long_name", A_TEXT, 1, lode__strict_lstr(l, "source", "layer"), 0, {0, 0}, 0};
	spec[n++] = (aspec){"source", A_TEXT, 1, lode__strict_lstr(l, "source", "path"), 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_lineage", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	spec[n++] = (aspec){"lode_content_sha256", A_TEXT, 1, NULL, 0, {0, 0}, 0};
	if (!lode__strict_lstr(l, "source", "layer") || !lode__strict_lstr(l, "source", "path"))
		return lode__strict_fmt("the lineage lacks source.layer or source.path");
	if ((p = lode__strict_shape(o, &v)))
		return p;
	return lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, n, 0);
}

/* A dimension without a variable of its name (index d, n long), as netCDF-4 stores one:
   the nodes, the instances, the parts, a table's rows (empty: no variable along it). */
static char *dim_problem(const strict_ctx *c, int d, unsigned long long n, int empty)
{
	const lode_bobj *nd = &c->t->objs[d];
	char label[128], *p;
	vspec dim = {.kind = LODE_BK_F32BE,
		     .rank = 1,
		     .dims = {n},
		     .unlimited = 1,
		     .layout = LODE_BL_CHUNKED,
		     .chunk = {1},
		     .empty = 1};
	aspec ds[3] = {
	    {"CLASS", A_SCALE, 1, "DIMENSION_SCALE", 0, {0, 0}, 0},
	    {"NAME", A_SCALE, 1, label, 0, {0, 0}, 0},
	    {"REFERENCE_LIST", A_REFLIST, empty ? -1 : 1, empty ? "without fields" : NULL, 0, {0, 0}, 0}};

	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu", n);
	if ((p = lode__strict_shape(nd, &dim)) ||
	    (p = lode__strict_attrs(nd->path, nd->attrs, nd->nattrs, ds, 3, 0)))
		return p;
	if (nd->fill_user)
		return lode__strict_fmt("'%s' has a fill value; lode sets none there", nd->path);
	return NULL;
}

/* The node dimension, x, y and z. */
static char *nodes_problem(const strict_ctx *c, const layer *ly, const lode_crs_attrs *ca)
{
	char *p;
	vspec col = {.kind = LODE_BK_NUMBER,
		     .dtype = LODE_DT_F64,
		     .rank = 1,
		     .dims = {ly->nnodes},
		     .unlimited = 1,
		     .layout = LODE_BL_CHUNKED,
		     .filtered = 1};
	aspec xs[4] = {{"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0},
		       {"axis", A_TEXT, 1, "X", 0, {0, 0}, 0},
		       {"standard_name", A_TEXT, 1, ca->x_standard_name, 0, {0, 0}, 0},
		       {"units", A_TEXT, 1, ca->x_units, 0, {0, 0}, 0}};
	aspec zs[3] = {{"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0},
		       {"axis", A_TEXT, 1, "Z", 0, {0, 0}, 0},
		       {"long_name", A_TEXT, 1, "z coordinate", 0, {0, 0}, 0}};
	aspec ms[2] = {{"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0},
		       {"long_name", A_TEXT, 1, "measure", 0, {0, 0}, 0}};
	int axes[4] = {ly->x, ly->y, ly->zv, ly->mv};

	if ((p = dim_problem(c, ly->nodes, ly->nnodes, 0)))
		return p;
	for (int k = 0; k < 4; k++) {
		const lode_bobj *o = &c->t->objs[axes[k]];
		if (axes[k] < 0)
			continue;
		if (k == 3) { /* M: a node variable, not a coordinate */
			if ((p = lode__strict_shape(o, &col)) ||
			    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, ms, 2, 0)) ||
			    (p = lode__strict_scales(c, o, &ly->nodes)))
				return p;
			if (o->fill_user)
				return lode__strict_fmt("'%s' has a fill value; lode sets none there",
							o->path);
			continue;
		}
		xs[1].text = k == 0 ? "X" : k == 1 ? "Y" : "Z";
		xs[2].text = k == 0 ? ca->x_standard_name : ca->y_standard_name;
		xs[3].text = k == 0 ? ca->x_units : ca->y_units;
		if ((p = lode__strict_shape(o, &col)) ||
		    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, k == 2 ? zs : xs, k == 2 ? 3 : 4,
					    0)) ||
		    (p = lode__strict_scales(c, o, &ly->nodes)))
			return p;
		if (o->fill_user)
			return lode__strict_fmt("'%s' has a fill value; lode sets none there", o->path);
	}
	return NULL;
}

/* An int32 column of the geometry (node_count, part_node_count, interior_ring; index s,
   n values) along the dimension dim, with its long_name. */
static char *count_problem(const strict_ctx *c, int s, unsigned long long n, int dim, const char *long_name,
			   int fill0)
{
	const lode_bobj *o = &c->t->objs[s];
	vspec v = {.kind = LODE_BK_NUMBER,
		   .dtype = LODE_DT_I32,
		   .rank = 1,
		   .dims = {n},
		   .unlimited = 1,
		   .layout = LODE_BL_CHUNKED,
		   .filtered = 1};
	aspec spec[3] = {
	    {"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0},
	    {"long_name", A_TEXT, 1, long_name, 0, {0, 0}, 0},
	    {"_FillValue", A_FILL, fill0 ? 1 : -1, fill0 ? NULL : "on node counts", 0, {0, 0}, 0}};
	const int32_t zero = 0;
	const lode_battr *fv;
	char *p;

	if ((p = lode__strict_shape(o, &v)) ||
	    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, 3, LODE_DT_I32)))
		return p;
	fv = lode__battr_find(o->attrs, o->nattrs, "_FillValue");
	if (fill0 && (!o->fill_user || memcmp(o->fill, &zero, 4) != 0 || memcmp(fv->raw, &zero, 4) != 0))
		return lode__strict_fmt("'%s' has not _FillValue 0 and the HDF5 fill value 0", o->path);
	if (!fill0 && o->fill_user)
		return lode__strict_fmt("'%s' has a fill value; lode sets none there", o->path);
	return lode__strict_scales(c, o, &dim);
}

/* The parts: their dimension, part_node_count and interior_ring along it. */
static char *parts_problem(const strict_ctx *c, const layer *ly)
{
	lode_bref along[2] = {{ly->parts, 0}, {ly->ring, 0}};
	char *p;

	if ((p = dim_problem(c, ly->pdim, ly->nparts, 0)) ||
	    (p = lode__strict_refs(c, &c->t->objs[ly->pdim], along, ly->ring >= 0 ? 2 : 1)) ||
	    (p = count_problem(c, ly->parts, ly->nparts, ly->pdim, "nodes of each part", 0)))
		return p;
	if (ly->ring >= 0)
		return count_problem(c, ly->ring, ly->nparts, ly->pdim,
				     "1 for an interior ring, 0 for an exterior ring", 0);
	return NULL;
}

static void layer_names(names *nm, const char *N)
{
	snprintf(nm->crs, sizeof nm->crs, "%s_crs", N);
	snprintf(nm->nodes, sizeof nm->nodes, "%s_node_coordinates", N);
	snprintf(nm->x, sizeof nm->x, "%s_coordX", N);
	snprintf(nm->y, sizeof nm->y, "%s_coordY", N);
	snprintf(nm->z, sizeof nm->z, "%s_coordZ", N);
	snprintf(nm->m, sizeof nm->m, "%s_coordM", N);
	snprintf(nm->inst, sizeof nm->inst, "%s_instance", N);
	snprintf(nm->part, sizeof nm->part, "%s_part", N);
	snprintf(nm->count, sizeof nm->count, "%s_node_count", N);
	snprintf(nm->parts, sizeof nm->parts, "%s_part_node_count", N);
	snprintf(nm->ring, sizeof nm->ring, "%s_interior_ring", N);
}

/* Which variables the layer has, and whether its type allows them. */
static char *find_layer(const strict_ctx *c, layer *ly, const names *nm)
{
	ly->crs = lode__strict_find(c, nm->crs);
	ly->nodes = lode__strict_find(c, nm->nodes);
	ly->x = lode__strict_find(c, nm->x);
	ly->y = lode__strict_find(c, nm->y);
	ly->zv = lode__strict_find(c, nm->z);
	ly->mv = lode__strict_find(c, nm->m);
	ly->idim = lode__strict_find(c, nm->inst);
	ly->pdim = lode__strict_find(c, nm->part);
	ly->count = lode__strict_find(c, nm->count);
	ly->parts = lode__strict_find(c, nm->parts);
	ly->ring = lode__strict_find(c, nm->ring);
	if (ly->crs < 0 || ly->nodes < 0 || ly->x < 0 || ly->y < 0)
		return lode__strict_fmt("the variable '%s' is missing", ly->crs < 0     ? nm->crs
									: ly->nodes < 0 ? nm->nodes
									: ly->x < 0     ? nm->x
											: nm->y);
	if ((ly->zv >= 0) != ly->z)
		return lode__strict_fmt("'%s' %s, but the layer is %s", nm->z,
					ly->z ? "is missing" : "exists", ly->z ? "3D" : "2D");
	if ((ly->mv >= 0) != ly->m)
		return lode__strict_fmt("'%s' %s, but the layer %s measures", nm->m,
					ly->m ? "is missing" : "exists", ly->m ? "has" : "has no");
	/* Plain point layers may go without node counts; every other type has them. */
	if (ly->count < 0 && !(ly->g->point && !ly->g->multi))
		return lode__strict_fmt("the variable '%s' is missing (every %s layer has it)", nm->count,
					ly->g->ogr);
	/* Parts: multi-lines and multi-polygons always, polygons with holes or several rings. */
	if (ly->parts >= 0 && (ly->g->point || (!ly->g->polygon && !ly->g->multi)))
		return lode__strict_fmt("'%s' exists, but a %s layer has no parts", nm->parts, ly->g->ogr);
	if (ly->parts < 0 && ly->g->multi && !ly->g->point)
		return lode__strict_fmt("the variable '%s' is missing (every %s layer has it)", nm->parts,
					ly->g->ogr);
	if ((ly->ring >= 0) != (ly->parts >= 0 && ly->g->polygon))
		return lode__strict_fmt("'%s' %s", nm->ring,
					ly->ring >= 0 ? "exists without the parts of a polygon layer"
						      : "is missing");
	if ((ly->idim >= 0) != (ly->count >= 0))
		return lode__strict_fmt("'%s' %s", nm->inst,
					ly->idim >= 0 ? "exists without the node counts" : "is missing");
	if ((ly->pdim >= 0) != (ly->parts >= 0))
		return lode__strict_fmt("'%s' %s", nm->part,
					ly->pdim >= 0 ? "exists without the part node counts" : "is missing");
	ly->nnodes = c->t->objs[ly->nodes].dims[0];
	ly->nfeat = ly->idim >= 0 ? c->t->objs[ly->idim].dims[0] : ly->nnodes;
	ly->nparts = ly->pdim >= 0 ? c->t->objs[ly->pdim].dims[0] : 0;
	ly->instance = ly->idim >= 0 ? ly->idim : ly->nodes;
	return NULL;
}

/* Every root variable NAME_... is one of the layer's: its head (nm, those that exist)
   or the variable of a field the lineage lists. */
static char *strays(strict_ctx *c, const layer *ly, const names *nm)
{
	const char *head[] = {nm->crs,  nm->nodes, nm->x,     nm->y,     nm->z,   nm->m,
			      nm->inst, nm->part,  nm->count, nm->parts, nm->ring};
	size_t len = strlen(ly->name), nf = json_array_size(ly->fields), from, to;
	char prefix[300];

	snprintf(prefix, sizeof prefix, "%s_", ly->name);
	lode__strict_prefix(c, prefix, &from, &to);
	for (size_t k = from; k < to; k++) {
		size_t i = (size_t)c->byname[k];
		const lode_bobj *o = &c->t->objs[i];
		int mine = 0;
		if (o->parent >= 0)
			continue;
		c->claimed[i] = 1;
		for (size_t h = 0; h < sizeof head / sizeof head[0] && !mine; h++)
			mine = !o->group && !strcmp(o->name, head[h]);
		for (size_t j = 0; j < nf && !mine && !o->group; j++) {
			const char *var =
			    json_string_value(json_object_get(json_array_get(ly->fields, j), "variable"));
			mine =
			    var && !strncmp(o->name + len, "_field_", 7) && !strcmp(o->name + len + 7, var);
		}
		if (!mine)
			return lode__strict_fmt("unexpected %s '%s' among the variables of vector layer '%s'",
						o->group ? "group" : "variable", o->path, ly->name);
	}
	return NULL;
}

/* The fields, field by field (their indexes appended to idx), and what lies along the
   node and instance dimensions: x, y, z along the nodes, the fields along the instances. */
static char *fields_problem(strict_ctx *c, layer *ly, int *idx, size_t *n)
{
	size_t nf = json_array_size(ly->fields);
	lode_bref *refs = malloc(sizeof *refs * (nf + 5));
	size_t nr = 3;
	char *p = NULL;

	if (!refs)
		return lode__strict_fmt("out of memory");
	refs[0] = (lode_bref){ly->x, 0};
	refs[1] = (lode_bref){ly->y, 0};
	refs[2] = (lode_bref){ly->zv, 0};
	if (ly->zv < 0) /* 2D: the fields from refs[2] */
		nr = 2;
	if (ly->mv >= 0) /* M after the coordinates */
		refs[nr++] = (lode_bref){ly->mv, 0};
	if (ly->idim >= 0) /* the node counts lie along the instances, before the fields */
		refs[nr++] = (lode_bref){ly->count, 0};
	for (size_t j = 0; j < nf && !p; j++) {
		p = field_problem(c, ly, j, json_array_get(ly->fields, j), &idx[*n]);
		if (idx[*n] >= 0)
			refs[nr++] = (lode_bref){idx[(*n)++], 0};
	}
	if (!p && ly->idim >= 0) {
		size_t ncoords = (ly->zv < 0 ? 2 : 3) + (ly->mv >= 0);
		if (!(p = lode__strict_refs(c, &c->t->objs[ly->nodes], refs, ncoords)) &&
		    !(p = dim_problem(c, ly->idim, ly->nfeat, 0)) &&
		    !(p = lode__strict_refs(c, &c->t->objs[ly->idim], refs + ncoords, nr - ncoords)))
			p = count_problem(c, ly->count, ly->nfeat, ly->idim, "nodes of each feature", 1);
	} else if (!p) {
		p = lode__strict_refs(c, &c->t->objs[ly->nodes], refs, nr);
	}
	free(refs);
	return p;
}

/* A table (bundle-format.md section 5.6): the group NAME (index g) holds exactly NAME,
   NAME_row and the fields the lineage lists, along NAME_row. */
static char *table_problem(strict_ctx *c, layer *ly, int g, const json_t *l)
{
	size_t nf = json_array_size(ly->fields), from, to;
	char path[600], rows[300], *p = NULL;
	int *idx = NULL;
	lode_bref *refs = NULL;
	size_t n = 0;
	vspec v = {.kind = LODE_BK_NUMBER, .dtype = LODE_DT_I32, .layout = LODE_BL_CONTIGUOUS, .empty = 1};
	aspec spec[5] = {{"lode_ogr_geometry_type", A_TEXT, 1, "None", 0, {0, 0}, 0},
			 {"long_name", A_TEXT, 1, lode__strict_lstr(l, "source", "layer"), 0, {0, 0}, 0},
			 {"source", A_TEXT, 1, lode__strict_lstr(l, "source", "path"), 0, {0, 0}, 0},
			 {"lode_lineage", A_TEXT, 1, NULL, 0, {0, 0}, 0},
			 {"lode_content_sha256", A_TEXT, 1, NULL, 0, {0, 0}, 0}};

	c->claimed[g] = 1;
	if (c->t->objs[g].nattrs)
		return lode__strict_fmt("the group '%s' has the attribute '%s'; lode writes none there",
					ly->name, c->t->objs[g].attrs[0].name);
	if (!lode__strict_lstr(l, "source", "layer") || !lode__strict_lstr(l, "source", "path"))
		return lode__strict_fmt("the lineage lacks source.layer or source.path");
	if (json_object_get(l, "target") || json_object_get(l, "operation"))
		return lode__strict_fmt("the lineage of a table has a target or an operation");
	snprintf(rows, sizeof rows, "%s_row", ly->name);
	snprintf(path, sizeof path, "%s/", ly->name);
	lode__strict_prefix(c, path, &from, &to);
	for (size_t k = from; k < to && !p; k++) {
		size_t i = (size_t)c->byname[k];
		const lode_bobj *o = &c->t->objs[i];
		int mine = !o->group && (!strcmp(o->name, ly->name) || !strcmp(o->name, rows));
		if (o->parent != g)
			continue;
		c->claimed[i] = 1;
		for (size_t j = 0; j < nf && !mine && !o->group; j++) {
			const char *var =
			    json_string_value(json_object_get(json_array_get(ly->fields, j), "variable"));
			size_t len = strlen(ly->name);
			mine = var && !strncmp(o->name, ly->name, len) &&
			       !strncmp(o->name + len, "_field_", 7) && !strcmp(o->name + len + 7, var);
		}
		if (!mine)
			p = lode__strict_fmt("unexpected %s '%s' in the table's group",
					     o->group ? "group" : "variable", o->path);
	}
	if (p)
		return p;
	snprintf(path, sizeof path, "%s/%s", ly->name, rows);
	ly->instance = lode__strict_find(c, path);
	if ((ly->cont = lode__strict_find(c, ly->base)) < 0 || ly->instance < 0)
		return lode__strict_fmt("the table's %s is missing",
					ly->cont < 0 ? "variable" : "row dimension");
	ly->nfeat = c->t->objs[ly->instance].dims[0];
	if ((p = lode__strict_shape(&c->t->objs[ly->cont], &v)) ||
	    (p = lode__strict_attrs(c->t->objs[ly->cont].path, c->t->objs[ly->cont].attrs,
				    c->t->objs[ly->cont].nattrs, spec, 5, 0)) ||
	    (p = dim_problem(c, ly->instance, ly->nfeat, nf == 0)))
		return p;
	if (!(idx = malloc(sizeof *idx * (nf + 1))) || !(refs = malloc(sizeof *refs * (nf + 1)))) {
		free(idx);
		return lode__strict_fmt("out of memory");
	}
	for (size_t j = 0; j < nf && !p; j++) {
		p = field_problem(c, ly, j, json_array_get(ly->fields, j), &idx[n]);
		if (idx[n] >= 0) {
			refs[n] = (lode_bref){idx[n], 0};
			n++;
		}
	}
	if (!p && nf)
		p = lode__strict_refs(c, &c->t->objs[ly->instance], refs, n);
	free(idx);
	free(refs);
	return p;
}

char *lode__strict_vector(strict_ctx *c, const lode_bundle_item *it, int container, const json_t *l)
{
	layer ly = {.name = it->name, .base = it->name, .cont = container};
	names nm;
	lode_crs_attrs ca;
	int *idx = NULL;
	size_t n = 0;
	char *p = NULL;
	const char *t = it->geometry_type ? it->geometry_type : "";

	ly.z = strncmp(t, "3D ", 3) == 0;
	ly.m = strlen(t) > 2 && !strcmp(t + strlen(t) - 2, " M"); /* "3D LineString M" */
	for (size_t i = 0; i < sizeof gtypes / sizeof gtypes[0]; i++)
		if (strlen(t) == strlen(gtypes[i].ogr) + (ly.z ? 3 : 0) + (ly.m ? 2 : 0) &&
		    !strncmp(t + (ly.z ? 3 : 0), gtypes[i].ogr, strlen(gtypes[i].ogr)))
			ly.g = &gtypes[i];
	ly.fields = json_object_get(l, "fields");
	if (!strcmp(t, "None")) { /* a table */
		char base[300];
		snprintf(base, sizeof base, "%s/%s", it->name, it->name);
		ly.base = base;
		ly.table = 1;
		if (strcmp(lode__strict_lstr(l, "kind", NULL) ? lode__strict_lstr(l, "kind", NULL) : "",
			   "vector") != 0 ||
		    !json_is_array(ly.fields))
			return lode__strict_fmt("the lineage is not a vector layer's (kind, fields)");
		return table_problem(c, &ly, container, l);
	}
	if (!ly.g)
		return lode__strict_fmt("lode_ogr_geometry_type is not a layer type lode writes");
	if (strcmp(lode__strict_lstr(l, "kind", NULL) ? lode__strict_lstr(l, "kind", NULL) : "", "vector") !=
		0 ||
	    !json_is_array(ly.fields))
		return lode__strict_fmt("the lineage is not a vector layer's (kind, fields)");
	layer_names(&nm, ly.name);
	if ((p = strays(c, &ly, &nm)) || (p = find_layer(c, &ly, &nm)))
		return p;
	if (!(idx = malloc(sizeof *idx * (json_array_size(ly.fields) + 12))))
		return lode__strict_fmt("out of memory");
	idx[n++] = ly.cont;
	idx[n++] = ly.crs;
	idx[n++] = ly.nodes;
	idx[n++] = ly.x;
	idx[n++] = ly.y;
	if (ly.zv >= 0)
		idx[n++] = ly.zv;
	if (ly.mv >= 0)
		idx[n++] = ly.mv;
	if (ly.idim >= 0)
		idx[n++] = ly.idim;
	if (ly.pdim >= 0)
		idx[n++] = ly.pdim;
	if (ly.count >= 0)
		idx[n++] = ly.count;
	if (ly.parts >= 0)
		idx[n++] = ly.parts;
	if (ly.ring >= 0)
		idx[n++] = ly.ring;
	lode__crs_attrs(it->crs_wkt, &ca);
	if (!(p = container_problem(c, &ly, &nm, l)) &&
	    !(p = lode__strict_crs(&c->t->objs[ly.crs], NULL, l)) && !(p = nodes_problem(c, &ly, &ca)) &&
	    !(p = fields_problem(c, &ly, idx, &n)) && ly.parts >= 0)
		p = parts_problem(c, &ly);
	lode__crs_attrs_free(&ca);
	free(idx);
	return p;
}
