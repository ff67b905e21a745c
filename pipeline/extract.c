/*
 * extract.c -- lode extract: datasets of a bundle written out, a raster to NAME.tif (a
 * GeoTIFF with its CRS, geotransform, nodata, band names and units and lineage), a
 * vector layer to NAME.gpkg.  Each is checked against its content digest on the way and
 * written in a private folder in DIR (publish.h), renamed into place only when whole: a
 * damaged dataset is never extracted, and nothing is written outside DIR or through a
 * symbolic link.  A raster is read in strips and a layer whole, each within
 * --max-memory (checked before anything is written).  The bundle is read in a child
 * process (untrusted.c), which removes what a crashed, overrunning or killed child
 * left.  It checks nothing else of the bundle (verify's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bundle.h"
#include "bundle_items.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "extract.h"
#include "gpkg_write.h"
#include "lode.h"
#include "manifest.h"
#include "publish.h"
#include "raster_gdal.h"
#include "strict.h"
#include "strip_read.h"
#include "untrusted.h"
#include "util.h"
#include "vdata.h"

/* The lineage's band_legends (bundle-format.md 4.6) as nbands JSON texts (NULL where a
   band has none) in *out, or *out NULL when there are none.  Free with free_legends. */
static lode_status legends_of(const lode_bundle_item *it, char ***out, lode_error *err)
{
	json_t *l = it->lineage ? json_loads(it->lineage, 0, NULL) : NULL;
	const json_t *a = json_object_get(l, "band_legends");
	char **t = NULL;
	lode_status rc = LODE_OK;

	*out = NULL;
	if (!a)
		goto out;
	if (!json_is_array(a) || json_array_size(a) != (size_t)it->nbands) {
		rc = lode__err(err, LODE_EBUNDLE, "its lineage's band_legends is not an array of %d legends",
			       it->nbands);
		goto out;
	}
	if (!(t = calloc((size_t)it->nbands, sizeof *t))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < it->nbands && !rc; i++) {
		const json_t *e = json_array_get(a, (size_t)i);
		if (json_is_object(e) && !(t[i] = json_dumps(e, JSON_COMPACT)))
			rc = lode__err(err, LODE_ENOMEM, "out of memory");
		else if (!json_is_object(e) && !json_is_null(e))
			rc = lode__err(err, LODE_EBUNDLE, "band %d's legend in the lineage is not an object",
				       i + 1);
	}
	*out = t;
out:
	json_decref(l);
	return rc;
}

static void free_legends(char **t, int n)
{
	for (int i = 0; t && i < n; i++)
		free(t[i]);
	free(t);
}

/*
 * GDAL keeps what a GeoTIFF cannot hold (category names, raster attribute tables) in a
 * side car, TIF.aux.xml, as gdal_translate does.  After the GeoTIFF at pub->path is
 * closed: its side car (if GDAL wrote one) is read into *aux; publish_aux then puts it
 * beside the published GeoTIFF, or removes a stale one that an earlier extract left.
 */
static lode_status read_aux(const lode__pub *pub, char **aux, size_t *len, lode_error *err)
{
	char *path = lode__sprintf("%s.aux.xml", pub->path);
	lode_status rc = LODE_OK;

	*aux = NULL;
	*len = 0;
	if (!path)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (access(path, F_OK) == 0)
		rc = lode__read_file(path, (size_t)256 << 20, aux, len, err);
	free(path);
	return rc;
}

static lode_status publish_aux(const char *final, const char *aux, size_t len, lode_error *err)
{
	char *dest = lode__sprintf("%s.aux.xml", final);
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	struct stat st;
	int fd = -1;
	lode_status rc = LODE_OK;

	if (!dest)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (!aux) {
		/* A side car of the GeoTIFF just replaced would describe it wrongly. */
		if (lstat(dest, &st) == 0 && S_ISREG(st.st_mode) && unlink(dest) != 0)
			rc = lode__err(err, LODE_EIO, "%s: cannot remove the old side car: %s", dest,
				       strerror(errno));
		goto out;
	}
	if ((rc = lode__pub_begin(&pub, dest, err)))
		goto out;
	if ((fd = lode__pub_create(&pub, err)) < 0) {
		rc = LODE_EIO;
		goto out;
	}
	if (write(fd, aux, len) != (ssize_t)len) {
		rc = lode__err(err, LODE_EIO, "%s: %s", dest, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	rc = lode__pub_commit(&pub, err);
out:
	if (fd >= 0)
		close(fd);
	lode__pub_abort(&pub);
	free(dest);
	return rc;
}

/* What extract_one does with each strip (lode__read_strips): hash it and write it. */
typedef struct strip_writer {
	lode__content_hash *h;
	lode__gtiff *g;
	size_t row_bytes;
} strip_writer;

static lode_status write_strip(void *user, int band, int y0, int ny, const unsigned char *buf,
			       lode_error *err)
{
	strip_writer *w = user;

	lode__content_hash_update(w->h, band - 1, buf, w->row_bytes * (size_t)ny);
	return lode__gtiff_write(w->g, band, y0, ny, buf, err);
}

/* A raster to DIR/NAME.tif, its values checked against the content digest as they pass. */
static lode_status extract_one(lode__bundle *b, const lode_bundle_item *it, const char *dir,
			       size_t max_memory, lode_error *err)
{
	char *final = lode__sprintf("%s/%s.tif", dir, it->name);
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	char *md_lineage = NULL, *md_sha = NULL;
	const char *md[3] = {NULL, NULL, NULL};
	lode__gtiff *g = NULL;
	strip_writer w = {0};
	char hex[65];
	int rows = lode__strip_rows(b, it);
	char **legends = NULL, *aux = NULL;
	size_t aux_len = 0;
	size_t cache = lode__gdal_bound_cache(0);
	lode_status rc = LODE_OK;

	if (!final) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (it->problem) {
		rc = lode__err(err, LODE_EBUNDLE, "%s", it->problem);
		goto out;
	}
	/* Before anything is written: the strip, its chunks and GDAL's cache must fit. */
	if ((rc = lode__raster_budget(it, rows, cache, max_memory, err)))
		goto out;
	if ((rc = legends_of(it, &legends, err)) || (rc = lode__pub_begin(&pub, final, err)))
		goto out;
	if (it->lineage && (md_lineage = lode__sprintf("LODE_LINEAGE=%s", it->lineage)))
		md[0] = md_lineage;
	if (it->content_sha256 && (md_sha = lode__sprintf("LODE_CONTENT_SHA256=%s", it->content_sha256)))
		md[md[0] ? 1 : 0] = md_sha;
	{
		lode_gtiff_params gp = {
		    .width = it->nx,
		    .height = it->ny,
		    .nbands = it->nbands,
		    .dtype = it->dtype,
		    .crs_wkt = it->crs_wkt,
		    .has_nodata = it->has_nodata,
		    .nodata = it->nodata,
		    .band_names = (const char *const *)it->band_names,
		    .band_units = (const char *const *)it->band_units,
		    .band_legends = (const char *const *)legends,
		    .metadata = md,
		    .threads = lode__read_cores(), /* a few tiles each */
		};
		memcpy(gp.gt, it->gt, sizeof gp.gt);
		if ((rc = lode__gtiff_create(pub.path, &gp, &g, err)))
			goto out;
	}
	/* Check the content digest on the way: a damaged dataset is never extracted. */
	if (!(w.h = lode__content_hash_new(it->nbands))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	w.g = g;
	w.row_bytes = (size_t)it->nx * lode__dtype_size(it->dtype);
	rc = lode__read_strips(b, it, cache, max_memory, write_strip, &w, err);
	lode__content_hash_final(w.h, hex);
	if (!rc && (!it->content_sha256 || strcmp(hex, it->content_sha256) != 0))
		rc = lode__err(err, LODE_EDAMAGED,
			       "the values do not match the dataset's content digest: the bundle is damaged "
			       "(run lode verify)");
	if (!rc) {
		rc = lode__gtiff_close(g, err);
		g = NULL;
	}
	if (!rc)
		rc = read_aux(&pub, &aux, &aux_len, err);
	if (!rc)
		rc = lode__pub_commit(&pub, err);
	if (!rc)
		rc = publish_aux(final, aux, aux_len, err);
out:
	if (g) {
		lode_error ignored;
		lode__gtiff_close(g, &ignored);
	}
	if (rc)
		lode__pub_message(&pub, err);
	lode__pub_abort(&pub);
	free(md_lineage);
	free(md_sha);
	free(aux);
	free_legends(legends, it->nbands);
	free(final);
	return rc;
}

static int wanted(const lode_bundle_item *it, const char *const *names, size_t nnames);

/* A layer's values, checked against its content digest. */
static lode_status read_checked(lode__bundle *b, const lode_bundle_item *it, lode_vdata **d, lode_error *err)
{
	char hex[65];
	lode_status rc = lode__bundle_read_vector(b, it, d, err);

	if (rc)
		return rc;
	lode__vector_digest(*d, hex);
	if (!hex[0] || !it->content_sha256 || strcmp(hex, it->content_sha256) != 0) {
		lode__vdata_free(*d);
		*d = NULL;
		if (!hex[0])
			return lode__err(err, LODE_ENOMEM, "out of memory");
		return lode__err(
		    err, LODE_EDAMAGED,
		    "%s: the layer does not match its content digest: the bundle is damaged (run "
		    "lode verify)",
		    it->name);
	}
	return LODE_OK;
}

/* Into the GeoPackage path of dataset base: every extracted dataset whose lineage says it
   references base (key:, references:; bundle-format.md 5.4), and the relation
   (gpkg_write.c, the Related Tables Extension), for GDAL and QGIS to show. */
static lode_status add_related(lode__bundle *b, const lode_bundle_item *base, const lode_bundle_item *items,
			       size_t n, const char *const *names, size_t nnames, const char *path,
			       lode_error *err)
{
	lode_status rc = LODE_OK;

	for (size_t i = 0; i < n && !rc; i++) {
		json_t *lin, *refs;
		lode_vdata *d = NULL;
		if (&items[i] == base || strcmp(items[i].kind, "vector") != 0 ||
		    !wanted(&items[i], names, nnames) || !items[i].lineage || !lode__name_ok(items[i].name))
			continue;
		lin = json_loads(items[i].lineage, 0, NULL);
		refs = json_object_get(lin, "references");
		for (size_t k = 0; k < json_array_size(refs) && !rc; k++) {
			json_t *r = json_array_get(refs, k);
			const char *field = json_string_value(json_object_get(r, "field")),
				   *key = json_string_value(json_object_get(r, "key")),
				   *to = json_string_value(json_object_get(r, "dataset"));
			if (!field || !key || !to || strcmp(to, base->name) != 0)
				continue;
			if (!d && !(rc = read_checked(b, &items[i], &d, err)))
				rc = lode__vdata_write_more(path, items[i].name, items[i].crs_wkt, d, err);
			if (!rc)
				rc = lode__gpkg_relate(path, base->name, key, items[i].name, field, err);
		}
		lode__vdata_free(d);
		json_decref(lin);
	}
	return rc;
}

/* A vector layer or table to DIR/NAME.gpkg (DIR/NAME.csv with csv), after checking its
   content digest; a GeoPackage also holds the datasets that reference it, related. */
static lode_status extract_vector(lode__bundle *b, const lode_bundle_item *it, const lode_bundle_item *items,
				  size_t n, const char *const *names, size_t nnames, const char *dir,
				  size_t max_memory, int csv, lode_error *err)
{
	char *final = lode__sprintf("%s/%s.%s", dir, it->name, csv ? "csv" : "gpkg");
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	lode_vdata *d = NULL;
	char hex[65];
	lode_status rc = LODE_OK;

	(void)max_memory; /* the layer is read within the bundle's own bound (lode__open_items) */
	if (!final) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lode__bundle_read_vector(b, it, &d, err)))
		goto out;
	lode__vector_digest(d, hex);
	if (!hex[0]) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	if (!it->content_sha256 || strcmp(hex, it->content_sha256) != 0) {
		rc = lode__err(
		    err, LODE_EDAMAGED,
		    "the layer does not match its content digest: the bundle is damaged (run lode verify)");
		goto out;
	}
	if ((rc = lode__pub_begin(&pub, final, err)))
		goto out;
	/* The GeoPackage layer is named after the dataset (the source layer is in the lineage). */
	if ((rc = lode__vdata_write(pub.path, csv, it->name, it->crs_wkt, d, err)) ||
	    (!csv && (rc = add_related(b, it, items, n, names, nnames, pub.path, err))))
		goto out;
	rc = lode__pub_commit(&pub, err);
out:
	if (rc)
		lode__pub_message(&pub, err);
	lode__pub_abort(&pub);
	lode__vdata_free(d);
	free(final);
	return rc;
}

static int wanted(const lode_bundle_item *it, const char *const *names, size_t nnames)
{
	for (size_t k = 0; k < nnames; k++)
		if (strcmp(it->name, names[k]) == 0)
			return 1;
	return nnames == 0;
}

/* Can item it be written into dir?  Its file must be absent or a regular file, and not
   the bundle. */
static lode_status check_output(const char *bundle_path, const lode_bundle_item *it, int vector, int csv,
				const char *dir, lode_error *err)
{
	char *final;
	lode_status rc;

	if (!(final = lode__sprintf("%s/%s.%s", dir, it->name, !vector ? "tif" : csv ? "csv" : "gpkg")))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	if (lode__same_file(final, bundle_path))
		rc = lode__err(err, LODE_EUSAGE,
			       "will not write %s: it is the bundle being extracted; extract into another "
			       "folder",
			       final);
	else
		rc = lode__pub_check_dest(final, err);
	free(final);
	return rc;
}

/*
 * Is the file what its bundle digest says (bundle-format.md 7.1)?  Recomputed from the
 * whole file before anything is written, so that no value, attribute or lineage that was
 * changed after the digest (a forged CRS, a lineage edited to agree with it) reaches the
 * GeoTIFFs and GeoPackages.  It reads every value once more than the extraction does.
 */
static lode_status digest_matches(const char *bundle_path, lode__bundle *b, lode_error *err)
{
	char digest[65], *stored = NULL;
	lode_error e;
	lode_status rc;

	/* Chunks decoded on every core, as many threads as fit in the bound (bundle_canon). */
	lode__bundle_set_decode_threads(b, lode__read_cores());
	rc = lode__bundle_digest(b, NULL, 0, digest, &e);
	lode__bundle_set_decode_threads(b, 0);

	if (rc == LODE_ENOMEM)
		return lode__err(err, LODE_ENOMEM, "%s: %s", bundle_path, e.message);
	if (rc)
		return lode__err(
		    err, LODE_EDAMAGED,
		    "%s: damaged: its bundle digest cannot be computed: %s (lode verify tells more)",
		    bundle_path, e.message);
	lode__bundle_get_attr(b, "lode_bundle_sha256", &stored, &e);
	if (!stored || strcmp(stored, digest) != 0)
		rc = lode__err(err, LODE_EDAMAGED,
			       "%s: damaged: the file differs from its bundle digest (an object, attribute, "
			       "link or value was changed, added or removed): nothing extracted (lode verify "
			       "tells more)",
			       bundle_path);
	free(stored);
	return rc;
}

static lode_status extract_impl(const char *bundle_path, const char *const *names, size_t nnames,
				const char *dir, size_t max_memory, int csv, lode_error *err)
{
	lode__bundle *b = NULL;
	lode_bundle_item *items = NULL;
	size_t n = 0;
	struct stat st;
	lode_status rc;

	lode__err_clear(err);
	lode__gdal_init();
	/* GDAL's block cache: a quarter of the bound, at most 48 MB (counted for rasters). */
	lode__gdal_bound_cache(max_memory);
	lode__bound_heap_slack(max_memory, 0);
	if ((rc = lode__open_items(bundle_path, max_memory, &b, &items, &n, err)) ||
	    (rc = lode__strict_refuse(bundle_path, b, items, n, err)))
		goto out;
	/* The bundle digest reads every value, and so does writing each dataset out: about
	   twice their bytes of work (the demo bundle: 7.29 MB for 3.62 MB of values). */
	lode__work_expect(2 * lode__items_bytes(items, n) + 1);
	if ((rc = digest_matches(bundle_path, b, err)))
		goto out;
	for (size_t k = 0; k < nnames; k++) {
		size_t i;
		for (i = 0; i < n && strcmp(items[i].name, names[k]) != 0; i++)
			;
		if (i == n) {
			char list[1024] = "";
			for (size_t j = 0; j < n; j++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 j ? ", " : "", items[j].name);
			rc = lode__err(err, LODE_EUSAGE, "%s: no dataset named '%s' (the bundle holds: %s)",
				       bundle_path, names[k], list);
			goto out;
		}
	}
	if (stat(dir, &st) != 0) {
		if (mkdir(dir, 0777) != 0) {
			rc = lode__err(err, LODE_EIO, "%s: cannot create the folder: %s", dir,
				       strerror(errno));
			goto out;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = lode__err(err, LODE_EIO, "%s: exists and is not a folder", dir);
		goto out;
	}
	lode__pub_clean_stale(dir, NULL); /* what killed extracts left */
	/* Every output checked before any is written; then each written. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			int vector = strcmp(items[i].kind, "vector") == 0;
			if (!wanted(&items[i], names, nnames))
				continue;
			/* Names come from an untrusted file: only plain dataset names become file
			   names (and only they are printed). */
			if (!lode__name_ok(items[i].name)) {
				rc = lode__err(err, LODE_EBUNDLE,
					       "%s: refusing to extract a dataset with an unsafe name",
					       bundle_path);
				goto out;
			}
			if (pass == 0)
				rc = check_output(bundle_path, &items[i], vector, csv, dir, err);
			else if (vector)
				rc = extract_vector(b, &items[i], items, n, names, nnames, dir, max_memory,
						    csv, err);
			else
				rc = extract_one(b, &items[i], dir, max_memory, err);
			if (rc) {
				lode__err_ctx(err, "%s: dataset '%s': ", bundle_path, items[i].name);
				goto out;
			}
		}
out:
	lode__bundle_items_free(items, n);
	lode__bundle_close(b, NULL);
	return rc;
}

typedef struct extract_job {
	const char *path, *dir;
	const char *const *names;
	size_t nnames, max_memory;
	int csv;
} extract_job;

static lode_status extract_job_fn(void *arg, char **text, lode_error *err)
{
	extract_job *j = arg;

	*text = NULL;
	return extract_impl(j->path, j->names, j->nnames, j->dir, j->max_memory, j->csv, err);
}

lode_status lode_extract(const char *bundle_path, const char *const *names, size_t nnames, const char *dir,
			 lode_error *err)
{
	return lode_extract_opt(bundle_path, names, nnames, dir, NULL, err);
}

lode_status lode_extract_opt(const char *bundle_path, const char *const *names, size_t nnames,
			     const char *dir, const lode_read_options *opt, lode_error *err)
{
	const char *fmt = opt ? opt->vector_format : NULL;
	extract_job j = {bundle_path, dir, names, nnames, lode__read_memory(opt), fmt && !strcmp(fmt, "csv")};
	char *text = NULL;
	lode_status rc;

	lode__err_clear(err);
	if (fmt && strcmp(fmt, "gpkg") != 0 && strcmp(fmt, "csv") != 0)
		return lode__err(err, LODE_EUSAGE, "vector_format is gpkg or csv, not '%s'", fmt);
	rc = lode__contained_progress(bundle_path, extract_job_fn, &j, &text, err, dir, opt);
	free(text);
	return rc;
}
