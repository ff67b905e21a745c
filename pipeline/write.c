/*
 * write.c -- writing datasets into a bundle, and bundle files into place.
 *
 * A raster is warped in strips of whole HDF5 chunk rows (memory is bounded by one strip,
 * whatever the raster's size); each strip's chunks are written as encoded and its rows
 * fed to the content digest.  A band of rows can be written on its own as a dataset of
 * that many rows: its chunks are then byte for byte the ones the whole raster has there,
 * which is what lets lode package assemble tiles made on different nodes by copying them.
 *
 * A bundle file is written under a temporary name beside its destination and renamed
 * into place only when complete (after fsync), so that nothing half-written ever sits
 * under a final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "crs_proj.h"
#include "digest.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "plan.h"
#include "raster_gdal.h"
#include "tiles.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"
#include "warp_params.h"
#include "write.h"

int lode__tick(lode__progress *pr, double amount, const char *label)
{
	pr->done += amount;
	if (pr->opt && pr->opt->progress)
		return pr->opt->progress(pr->total > 0 ? pr->done / pr->total : 1.0, label,
					 pr->opt->progress_user);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

lode_status lode__record_digest(lode_bundle_item *di, const char *name, const char *content, char **lineage,
				lode_error *err)
{
	di->name = lode__strdup(name);
	di->lineage = *lineage;
	*lineage = NULL;
	di->content_sha256 = lode__strdup(content);
	return di->content_sha256 && di->name ? LODE_OK : lode__err(err, LODE_ENOMEM, "out of memory");
}

void lode__digest_items_free(lode_bundle_item *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].name);
		free(d[i].content_sha256);
		free(d[i].lineage);
	}
	free(d);
}

/* ---- rasters ---- */

/* The lineage's band_names or band_units array. */
static const json_t *band_array(const plan_item *it, int units)
{
	return json_object_get(it->lineage, units ? "band_units" : "band_names");
}

char *lode__band_text(const plan_item *it, int units, int *oom)
{
	const json_t *a = band_array(it, units);
	const char **texts = calloc((size_t)it->nbands, sizeof *texts);
	char *text;

	if (!texts) {
		*oom = 1;
		return NULL;
	}
	for (int i = 0; i < it->nbands; i++)
		texts[i] = json_string_value(json_array_get(a, (size_t)i));
	text = lode__join_lines(texts, (size_t)it->nbands, oom);
	free(texts);
	return text;
}

lode_status lode__finish_raster(lode__bvar *v, const char *source, const char *lineage, const char *content,
				const char *names, const char *units, lode_error *err)
{
	lode_attr attrs[5] = {
	    {"source", source},
	    {"lode_lineage", lineage},
	    {"lode_content_sha256", content},
	};
	size_t n = 3;

	if (names)
		attrs[n++] = (lode_attr){"lode_band_names", names};
	if (units)
		attrs[n++] = (lode_attr){"lode_band_units", units};
	return lode__bvar_finish(v, attrs, n, err);
}

/* The unit every band shares, or NULL when they differ or have none. */
static const char *common_unit(const plan_item *it)
{
	const json_t *a = band_array(it, 1);
	const char *u = json_string_value(json_array_get(a, 0));

	for (int i = 1; u && i < it->nbands; i++) {
		const char *ui = json_string_value(json_array_get(a, (size_t)i));
		if (!ui || strcmp(u, ui) != 0)
			return NULL;
	}
	return u && u[0] ? u : NULL;
}

void lode__raster_def(const plan *p, const plan_item *it, lode_raster_def *def)
{
	memset(def, 0, sizeof *def);
	def->name = it->spec->name;
	def->dtype = it->dtype;
	def->nbands = it->nbands;
	def->nx = it->nx;
	def->ny = it->ny;
	def->crs_wkt = p->dst_wkt;
	def->has_nodata = it->has_nodata;
	def->nodata = it->nodata;
	def->unit = common_unit(it);
	def->long_name = it->nbands == 1 ? json_string_value(json_array_get(band_array(it, 0), 0)) : NULL;
	def->chunk = LODE_CHUNK;
	memcpy(def->gt, it->gt, sizeof def->gt);
}

/*
 * --max-memory for a raster: how many worker threads fit beside GDAL's block cache and
 * one strip (the strip buffer, and its encoded chunks twice over at worst), each worker
 * taking about five chunk-sized buffers (its window, a band's chunk, the codec's and the
 * warper's); the calling thread works too, with buffers of its own.  Fewer threads than
 * asked when needed; not even one fitting is an error.
 */
static lode_status bounded_threads(const plan *p, const plan_item *it, int rows, int cols, int *threads,
				   lode_error *err)
{
	const double mb = 1048576.0;
	size_t esize = lode__dtype_size(it->dtype), strip, tile, fixed, per, fit;
	int want = *threads > 0 ? *threads : lode__default_threads();

	if (!p->max_memory)
		return LODE_OK;
	strip = (size_t)it->nx * (size_t)rows * (size_t)it->nbands * esize;
	tile = (size_t)rows * (size_t)cols * (size_t)it->nbands * esize;
	fixed = lode__gdal_bound_cache(0) + 3 * strip;
	per = 5 * tile;
	if (fixed + 2 * per > p->max_memory)
		return lode__err(
		    err, LODE_ESOURCE, /* this dataset cannot be made within the bound */
		    "warping it needs about %.0f MB with one thread (a strip of %d x %d pixels x %d "
		    "band%s, and GDAL's block cache of %.0f MB), more than --max-memory allows "
		    "(%.0f MB)",
		    (fixed + 2 * per) / mb, it->nx, rows, it->nbands, it->nbands == 1 ? "" : "s",
		    lode__gdal_bound_cache(0) / mb, p->max_memory / mb);
	fit = (p->max_memory - fixed) / per - 1;
	*threads = fit < (size_t)want ? (int)fit : want;
	return LODE_OK;
}

/* The warper's parameters for the whole target grid of raster item it. */
static void warp_params(const plan *p, const plan_item *it, lode_warp_params *wp)
{
	*wp = (lode_warp_params){
	    .src_crs_wkt = it->src_wkt,
	    .dst_crs_wkt = p->dst_wkt,
	    .pipeline = it->op.pipeline,
	    .nx = it->nx,
	    .ny = it->ny,
	    .bands = it->bands,
	    .nbands = it->nbands,
	    .resampling = it->spec->resampling,
	    .error_threshold = it->et,
	    .has_src_nodata = it->has_nodata,
	    .src_nodata = it->nodata,
	    .has_dst_nodata = it->has_nodata,
	    .dst_nodata = it->nodata,
	    .dtype = it->dtype,
	};
	memcpy(wp->gt, it->gt, sizeof wp->gt);
}

/*
 * The tiler that warps and encodes variable v's strips, with as many threads as the
 * memory bound allows: *nthreads of them, strips of *rows rows, chunks *tcols wide.
 * wp must outlive the tiler.
 */
static lode_status start_tiler(const plan *p, const plan_item *it, const lode_warp_params *wp, lode__bvar *v,
			       lode__tiler **tiler, int *nthreads, int *rows, int *tcols, lode_error *err)
{
	lode_status rc;
	lode_tiler_params tp = {.source_path = it->spec->source_path,
				.open_options = (const char *const *)it->spec->open_options,
				.rules = &it->rules,
				.wp = wp,
				.threads = p->threads,
				.level = lode__bundle_deflate_level()};

	lode__bvar_chunk(v, &tp.chunk_rows, &tp.chunk_cols);
	lode__bvar_fill(v, tp.fill);
	if ((rc = bounded_threads(p, it, tp.chunk_rows, tp.chunk_cols, &tp.threads, err)))
		return rc;
	*nthreads = tp.threads > 0 ? tp.threads : lode__default_threads();
	*rows = tp.chunk_rows;
	*tcols = tp.chunk_cols;
	return lode__tiler_new(&tp, tiler, err);
}

/* For developers (LODE_PROFILE set and not 0): where a raster's time went. */
static void print_profile(const plan_item *it, int nthreads, const double prof[3])
{
	if (getenv("LODE_PROFILE") && strcmp(getenv("LODE_PROFILE"), "") != 0 &&
	    strcmp(getenv("LODE_PROFILE"), "0") != 0) {
		long fast, gdal;
		lode__warp_counts(&fast, &gdal);
		fprintf(stderr,
			"lode: profile: %s: %d threads, warp+encode %.2f s, write %.2f s, digest %.2f s; "
			"windows so far: %ld by lode's bilinear kernel, %ld by GDAL's warper\n",
			it->spec->name, nthreads, prof[0], prof[1], prof[2], fast, gdal);
	}
}

lode_status lode__write_raster(plan *p, plan_item *it, lode__bundle *b, int row0, int nrows,
			       const char *lineage, lode__progress *pr, lode_bundle_item *digest_item,
			       lode_error *err)
{
	lode__tiler *tiler = NULL;
	unsigned char *strip = NULL, **chunks[2] = {NULL, NULL};
	size_t *lens[2] = {NULL, NULL}, nchunks = 0;
	int ncols = 0, tcols = 0, pending = 0, end = row0 + nrows;
	double prof[3] = {0, 0, 0};
	lode__bvar *v = NULL;
	lode__content_hash *h = NULL;
	char *names_text = NULL, *units_text = NULL, *lineage_copy = NULL;
	char content[65];
	size_t esize = lode__dtype_size(it->dtype), plane;
	int rows = LODE_CHUNK, oom1, oom2, nthreads = 0;
	lode_status rc = LODE_OK;

	lode_warp_params wp;

	warp_params(p, it, &wp);
	names_text = lode__band_text(it, 0, &oom1);
	units_text = lode__band_text(it, 1, &oom2);
	if (oom1 || oom2) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	{
		/* A band of rows is a raster of its own, nrows high, starting row0 rows down. */
		lode_raster_def def;
		lode__raster_def(p, it, &def);
		def.ny = nrows;
		def.gt[3] = it->gt[3] + row0 * it->gt[5];
		if ((rc = lode__bundle_add_raster(b, &def, &v, err)))
			goto out;
	}
	if ((rc = start_tiler(p, it, &wp, v, &tiler, &nthreads, &rows, &tcols, err)))
		goto out;
	ncols = lode__tiler_count(tiler);
	plane = (size_t)it->nx * (size_t)rows * esize;
	nchunks = (size_t)ncols * (size_t)it->nbands;
	strip = malloc(plane * (size_t)it->nbands);
	for (int k = 0; k < 2; k++) {
		chunks[k] = calloc(nchunks, sizeof *chunks[k]);
		lens[k] = calloc(nchunks, sizeof *lens[k]);
	}
	h = lode__content_hash_new(it->nbands);
	if (!strip || !chunks[0] || !chunks[1] || !lens[0] || !lens[1] || !h) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory (a strip of %d rows needs %zu bytes)", rows,
			       plane * (size_t)it->nbands);
		goto out;
	}
	/* One chunk row at a time.  Once strip k is warped and encoded, this thread hashes
	   its rows, hands the strip buffer to the workers for strip k+1, and writes strip k's
	   encoded chunks (kept apart, double-buffered) in a fixed order while they work: one
	   strip of pixels in memory, whatever the raster's size. */
	lode__tiler_submit(tiler, row0, end - row0 < rows ? end - row0 : rows, strip, chunks[0], lens[0]);
	pending = 1;
	for (int y0 = row0, k = 0; y0 < end; y0 += rows, k ^= 1) {
		int ny = end - y0 < rows ? end - y0 : rows, nt = 0, next = y0 + rows;
		size_t pl = (size_t)it->nx * (size_t)ny * esize;
		double t0 = now_s(), t1, t2;

		rc = lode__tiler_wait(tiler, &nt, err);
		pending = 0;
		if (rc)
			goto out;
		t1 = now_s();
		for (int bd = 0; bd < it->nbands; bd++)
			lode__content_hash_update(h, bd, strip + (size_t)bd * pl, pl);
		if (next < end) {
			lode__tiler_submit(tiler, next, end - next < rows ? end - next : rows, strip,
					   chunks[k ^ 1], lens[k ^ 1]);
			pending = 1;
		}
		t2 = now_s();
		for (int c = 0; c < nt && !rc; c++)
			for (int bd = 0; bd < it->nbands && !rc; bd++)
				rc = lode__bvar_write_chunk(v, bd, y0 - row0, c * tcols,
							    chunks[k][(size_t)bd * nt + c],
							    lens[k][(size_t)bd * nt + c], err);
		for (size_t i = 0; i < nchunks; i++) {
			free(chunks[k][i]);
			chunks[k][i] = NULL;
		}
		if (rc)
			goto out;
		lode__bundle_writeback(b); /* the strips so far on disk while the next is made */
		prof[0] += t1 - t0;
		prof[1] += now_s() - t2;
		prof[2] += t2 - t1;
		if (lode__tick(pr, (double)it->nx * ny * it->nbands, it->spec->name)) {
			rc = lode__err(err, LODE_EIO, "interrupted at rows %d-%d: nothing was written", y0,
				       y0 + ny - 1);
			goto out;
		}
	}
	lode__content_hash_final(h, content);
	h = NULL;
	print_profile(it, nthreads, prof);

	rc = lode__finish_raster(v, it->spec->source, lineage, content, names_text, units_text, err);
	v = NULL;
	if (rc)
		goto out;
	if (!(lineage_copy = lode__strdup(lineage))) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	rc = lode__record_digest(digest_item, it->spec->name, content, &lineage_copy, err);
out:
	free(lineage_copy);
	free(names_text);
	free(units_text);
	if (h) {
		char ignored[65];
		lode__content_hash_final(h, ignored);
	}
	if (pending) { /* let the workers finish with the buffers before they go */
		int nt;
		lode_error ignored;
		lode__tiler_wait(tiler, &nt, &ignored);
	}
	lode__tiler_free(tiler);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; chunks[k] && i < nchunks; i++)
			free(chunks[k][i]);
		free(chunks[k]);
		free(lens[k]);
	}
	free(strip);
	lode__bvar_free(v);
	return rc;
}

/* ---- vector layers ---- */

/* What is computed from a layer's values beside writing them: its content digest and
   the extent its lineage records. */
typedef struct digest_job {
	const lode_vdata *d;
	char *content; /* 65 bytes */
	double extent[4];
	pthread_t thread;
} digest_job;

static void *digest_main(void *arg)
{
	digest_job *j = arg;

	lode__vector_digest(j->d, j->content);
	lode__vector_extent(j->d, j->extent);
	return NULL;
}

lode_status lode__write_vector(plan *p, plan_item *it, lode__bundle *b, lode__progress *pr,
			       lode_bundle_item *digest_item, lode_error *err)
{
	lode_vector_read r = {.src_crs_wkt = it->src_wkt,
			      .dst_crs_wkt = p->dst_wkt,
			      .pipeline = it->op.pipeline,
			      .bounds = p->m->bounds,
			      .clip = it->spec->clip,
			      .max_bytes = p->max_memory,
			      .threads = p->threads,
			      .drain = lode__xyw_drain};
	lode_vdata *d = NULL;
	lode__xyw *xy = NULL;
	json_t *lj = NULL;
	char *lineage = NULL, content[65];
	digest_job dj = {0};
	int digesting = 0, reread = 0;
	lode_status rc;

	/* x and y are most of a layer's bytes: compress them on another core while the
	   features are read, and store them as they come, so that the disk has them by the
	   time the layer is written. */
	if ((rc = lode__bundle_xy_begin(b, it->spec->name, p->dst_wkt, &xy, err)))
		goto out;
	r.xy = lode__xyw_encoder(xy);
	r.drain_arg = xy;
	r.reread = &reread;
	if ((rc = lode__vector_read(it->vsrc, &r, &d, err)))
		goto out;
	if (reread)
		lode__xyw_discard(xy);
	/* The content digest and the extent on another core while the layer is written (it
	   reads d only); the lineage and the digest go on the layer's variable last. */
	dj.d = d;
	dj.content = content;
	content[0] = '\0';
	digesting = p->threads != 1 && pthread_create(&dj.thread, NULL, digest_main, &dj) == 0;
	if (!digesting)
		digest_main(&dj);
	{
		lode_attr attrs[] = {
		    {"long_name", lode__vector_info(it->vsrc)->layer},
		    {"source", it->spec->source},
		};
		if ((rc = lode__bundle_add_vector(b, it->spec->name, p->dst_wkt, d, xy, attrs, 2, err)))
			goto out;
	}
	if (digesting) {
		pthread_join(dj.thread, NULL);
		digesting = 0;
	}
	lj = lode__vector_lineage(it->lineage, d, dj.extent);
	lineage = lj ? json_dumps(lj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (!lineage || !content[0]) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	{
		lode_attr a[] = {{"lode_lineage", lineage}, {"lode_content_sha256", content}};
		if ((rc = lode__bundle_set_attrs(b, it->spec->name, a, 2, err)))
			goto out;
	}
	rc = lode__record_digest(digest_item, it->spec->name, content, &lineage, err);
	if (!rc && lode__tick(pr, 1.0, it->spec->name))
		rc = lode__err(err, LODE_EIO, "interrupted: nothing was written");
out:
	if (digesting)
		pthread_join(dj.thread, NULL);
	lode__xyw_free(xy);
	json_decref(lj);
	free(lineage);
	lode__vdata_free(d);
	return rc;
}

/* ---- the root group ---- */

char *lode__utc_date(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long t;

	if (!sde || !*sde)
		return NULL;
	t = strtoll(sde, &end, 10);
	if (*end || t < 0)
		return NULL;
	return lode__iso_utc((time_t)t);
}

lode_status lode__write_root(plan *p, lode__bundle *b, lode_error *err)
{
	lode_attr attrs[64];
	size_t n = 0;
	double ll[4];
	char *poly = NULL, *date = lode__utc_date();
	lode_error ignored;
	lode_status rc;

	attrs[n++] = (lode_attr){"Conventions", "CF-1.8, ACDD-1.3"};
	for (size_t i = 0; i < p->m->nmeta && n < 40; i++)
		attrs[n++] = (lode_attr){p->m->meta[i].key, p->m->meta[i].value};
	poly = lode__sprintf("POLYGON((%.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g, %.17g %.17g))",
			     p->m->bounds[0], p->m->bounds[1], p->m->bounds[2], p->m->bounds[1],
			     p->m->bounds[2], p->m->bounds[3], p->m->bounds[0], p->m->bounds[3],
			     p->m->bounds[0], p->m->bounds[1]);
	if (!poly) {
		free(date);
		return lode__err(err, LODE_ENOMEM, "out of memory");
	}
	attrs[n++] = (lode_attr){"geospatial_bounds", poly};
	attrs[n++] = (lode_attr){"geospatial_bounds_crs", p->dst_label};
	if (date)
		attrs[n++] = (lode_attr){"date_created", date};
	attrs[n++] = (lode_attr){"lode_version", LODE_VERSION};
	attrs[n++] = (lode_attr){"lode_format_version", LODE_FORMAT_VERSION};
	attrs[n++] = (lode_attr){"lode_manifest", p->m->text};
	rc = lode__bundle_set_attrs(b, NULL, attrs, n, err);
	if (!rc && lode__crs_bounds_to_lonlat(p->dst_wkt, p->m->bounds, ll, &ignored) == LODE_OK) {
		static const char *const keys[4] = {"geospatial_lon_min", "geospatial_lat_min",
						    "geospatial_lon_max", "geospatial_lat_max"};
		for (int k = 0; k < 4 && !rc; k++)
			rc = lode__bundle_set_double(b, keys[k], ll[k], err);
	}
	free(poly);
	free(date);
	return rc;
}

/* ---- bundle files: temporary name, then rename ---- */

/* This machine's short host name, for temporary file names ("node12"). */
static void short_host(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		snprintf(buf, n, "host");
	buf[n - 1] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '.' || *c == '/') {
			*c = '\0';
			break;
		}
	if (!buf[0])
		snprintf(buf, n, "host");
}

char *lode__temp_beside(const char *dest, lode_error *err)
{
	char *dir = lode__dirname(dest), *name, host[128];
	const char *base = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
	int fd;

	if (!dir) {
		lode__err(err, LODE_ENOMEM, "out of memory");
		return NULL;
	}
	short_host(host, sizeof host);
	name = lode__sprintf("%s/.%s.tmp-%s-%ld-XXXXXX", dir, base, host, (long)getpid());
	free(dir);
	if (!name) {
		lode__err(err, LODE_ENOMEM, "out of memory");
		return NULL;
	}
	fd = mkstemp(name);
	if (fd < 0) {
		lode__err(err, LODE_EIO, "%s: cannot create a file in that folder: %s", dest,
			  strerror(errno));
		free(name);
		return NULL;
	}
	/* mkstemp makes the file private (0600); a bundle is for sharing, so give it the
	   mode any new file gets under the user's umask. */
	{
		mode_t mask = umask(0);
		umask(mask);
		fchmod(fd, 0666 & ~mask);
	}
	close(fd);
	return name;
}

void lode__clean_stale_temps(const char *dest)
{
	char *dir = lode__dirname(dest), *prefix, host[128];
	const char *base = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
	size_t plen;
	glob_t g;

	if (!dir)
		return;
	short_host(host, sizeof host);
	prefix = lode__sprintf(".%s.tmp-", base);
	if (!prefix) {
		free(dir);
		return;
	}
	plen = strlen(prefix);
	/* Only the folder goes through glob: the name is compared as plain text. */
	{
		char *pattern = lode__sprintf("%s/.*.tmp-*", dir);
		if (!pattern || glob(pattern, GLOB_NOSORT, NULL, &g) != 0) {
			free(pattern);
			free(prefix);
			free(dir);
			return;
		}
		free(pattern);
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i], *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		const char *rest = name + plen, *dash;
		struct stat st;
		int stale = 0;

		if (strncmp(name, prefix, plen) != 0 || lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		/* rest is "HOST-PID-XXXXXX" */
		dash = strlen(rest) > 8 ? rest + strlen(rest) - 8 : NULL; /* "-XXXXXX" is 7 chars */
		while (dash && dash > rest && *dash != '-')
			dash--;
		if (dash && dash > rest) {
			const char *pid_at = dash + 1;
			size_t hlen = (size_t)(dash - rest);
			long pid = strtol(pid_at, NULL, 10);
			if (hlen == strlen(host) && strncmp(rest, host, hlen) == 0 && pid > 0 &&
			    pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
				stale = 1;
		}
		if (time(NULL) - st.st_mtime > 24 * 3600)
			stale = 1;
		if (stale)
			unlink(path);
	}
	globfree(&g);
	free(prefix);
	free(dir);
}

/* fsync a file by name so that the rename publishes complete data. */
static lode_status sync_file(const char *path, lode_error *err)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fsync(fd) != 0) {
		lode_status rc = lode__err(err, LODE_EIO, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	return LODE_OK;
}

lode_status lode__out_begin(lode__out *o, const char *dest, lode_error *err)
{
	lode_status rc;

	memset(o, 0, sizeof *o);
	if (!(o->dest = lode__strdup(dest)))
		return lode__err(err, LODE_ENOMEM, "out of memory");
	lode__clean_stale_temps(dest);
	if (!(o->tmp = lode__temp_beside(dest, err)))
		return err->code;
	if ((rc = lode__bundle_create(o->tmp, &o->b, err)))
		return lode__err_ctx(err, "writing %s: ", dest);
	return LODE_OK;
}

lode_status lode__out_commit(lode__out *o, const lode_bundle_item *digests, size_t n, lode_error *err)
{
	char *bundle_digest = NULL;
	lode_status rc;

	/* The digest covers the root attributes as a reader will see them: read them back. */
	{
		lode_kv *root = NULL;
		size_t nroot = 0;
		if ((rc = lode__bundle_root_attrs(o->b, &root, &nroot, err)))
			goto out;
		bundle_digest = lode__bundle_digest(digests, n, root, nroot);
		lode__kv_free(root, nroot);
	}
	if (!bundle_digest) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	{
		lode_attr a = {"lode_bundle_sha256", bundle_digest};
		if ((rc = lode__bundle_set_attrs(o->b, NULL, &a, 1, err)))
			goto out;
	}
	rc = lode__bundle_close(o->b, err);
	o->b = NULL;
	if (rc || (rc = sync_file(o->tmp, err)))
		goto out;
	if (rename(o->tmp, o->dest) != 0) {
		rc = lode__err(err, LODE_EIO, "%s: cannot move the finished file into place: %s", o->dest,
			       strerror(errno));
		goto out;
	}
	free(o->tmp);
	o->tmp = NULL;
out:
	free(bundle_digest);
	return rc;
}

void lode__out_abort(lode__out *o)
{
	if (o->b) {
		lode_error ignored;
		lode__bundle_close(o->b, &ignored);
	}
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->dest);
	memset(o, 0, sizeof *o);
}
