/*
 * strict_raster.c -- the strict check of a multi-band raster's band axis
 * (bundle-format.md 4.1, 8.1): the dimension `band` without a variable (a netCDF-4 pure
 * dimension) and the auxiliary coordinates band_name and band_units along it, their
 * texts equal to the lineage's band_names and band_units.
 *
 * The rest of a raster group (x, y, crs, the data variable, an older bundle's band(band)
 * variable) is strict.c's, whose helpers are used here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_strict.h"
#include "strict_int.h"
#include "util.h"

/* The label variable band_name or band_units (bundle-format.md 4.1) of raster it along
   the band dimension (index band): variable-length strings, one per band, equal to the
   lineage's band_names or band_units. */
static char *raster_label(const strict_ctx *c, const lode_bundle_item *it, const json_t *l, const char *name,
			  int band)
{
	char path[300], *p = NULL;
	int s, units = !strcmp(name, "band_units");
	const lode_bobj *o;
	const json_t *want = json_object_get(l, units ? "band_units" : "band_names");
	vspec v = {.kind = LODE_BK_VSTRING,
		   .rank = 1,
		   .dims = {(unsigned long long)it->nbands},
		   .layout = LODE_BL_CONTIGUOUS};
	aspec spec[2] = {{"DIMENSION_LIST", A_DIMLIST, 1, NULL, 0, {0, 0}, 0},
			 {"long_name", A_TEXT, 1, units ? "units of each band" : "band name", 0, {0, 0}, 0}};
	char **vals;
	lode_error e;

	snprintf(path, sizeof path, "%s/%s", it->name, name);
	if ((s = lode__strict_find(c, path)) < 0)
		return lode__strict_fmt("the group '%s' lacks its %s variable", it->name, name);
	o = &c->t->objs[s];
	if ((p = lode__strict_shape(o, &v)) ||
	    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, 2, 0)) ||
	    (p = lode__strict_scales(c, o, &band)))
		return p;
	if (!(vals = calloc((size_t)it->nbands, sizeof *vals)))
		return lode__strict_fmt("out of memory");
	if (lode__bundle_read_texts(c->b, o->path, (size_t)it->nbands, 65536, vals, &e) != LODE_OK)
		p = lode__strict_fmt("%s", e.message);
	for (int i = 0; i < it->nbands && !p; i++) {
		const char *w = json_string_value(json_array_get(want, (size_t)i));
		char shown[80];
		if (!w || strcmp(vals[i], w) != 0)
			p = lode__strict_fmt("'%s' holds '%s' for band %d, not the lineage's %s", o->path,
					     lode__printable(shown, sizeof shown, vals[i]), i + 1,
					     units ? "unit" : "name");
	}
	for (int i = 0; i < it->nbands; i++)
		free(vals[i]);
	free(vals);
	return p;
}

char *lode__strict_raster_band(const strict_ctx *c, const lode_bundle_item *it, const json_t *l, int s, int d)
{
	const lode_bobj *o = &c->t->objs[s];
	char label[128], *p;
	vspec v = {.kind = LODE_BK_F32BE,
		   .rank = 1,
		   .dims = {(unsigned long long)it->nbands},
		   .layout = LODE_BL_CONTIGUOUS,
		   .empty = 1};
	aspec spec[3] = {{"CLASS", A_SCALE, 1, "DIMENSION_SCALE", 0, {0, 0}, 0},
			 {"NAME", A_SCALE, 1, label, 0, {0, 0}, 0},
			 {"REFERENCE_LIST", A_REFLIST, 1, NULL, 0, {0, 0}, 0}};
	lode_bref want[3] = {{d, 0}, {-1, 0}, {-1, 0}};
	char path[300];

	/* Its labels band_name and band_units are along it too. */
	snprintf(path, sizeof path, "%s/band_name", c->t->objs[c->t->objs[s].parent].path);
	want[1].obj = lode__strict_find(c, path);
	snprintf(path, sizeof path, "%s/band_units", c->t->objs[c->t->objs[s].parent].path);
	want[2].obj = lode__strict_find(c, path);
	if (want[1].obj < 0 || want[2].obj < 0)
		return lode__strict_fmt("the group of '%s' lacks its band_name or band_units variable",
					o->path);
	snprintf(label, sizeof label, "This is a netCDF dimension but not a netCDF variable.%10llu",
		 (unsigned long long)it->nbands);
	if ((p = lode__strict_shape(o, &v)) ||
	    (p = lode__strict_attrs(o->path, o->attrs, o->nattrs, spec, 3, 0)) ||
	    (p = lode__strict_refs(c, o, want, 3)))
		return p;
	if (o->fill_user)
		return lode__strict_fmt("'%s' has a fill value; lode sets none there", o->path);
	if ((p = raster_label(c, it, l, "band_name", s)))
		return p;
	return raster_label(c, it, l, "band_units", s);
}
