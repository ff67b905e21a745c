/*
 * vector_shares.c -- reading a large GeoPackage layer on several threads, in shares of
 * feature ids, put back together in id order into the same layer a single reader
 * builds (see "Reading a layer on several threads" below), and the --max-memory count
 * every reader keeps.  Each share is read with vector_read.c's reader and builder
 * (vector_read_int.h); opening the source, and reading a layer that is not cut into
 * shares (or is read again after a failed share), are vector_read.c's.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>
#include <ogr_api.h>

#include "error.h"
#include "gdal_util.h"
#include "util.h"
#include "vdata.h"
#include "vector_read.h"
#include "vector_read_int.h"

/*
 * Reading a layer on several threads.  A GeoPackage table (not a view) without a where:
 * filter is cut into shares of consecutive feature ids (at most MAX_SHARES, of at least
 * MIN_SHARE features each; the same shares whatever the number of threads).  Every
 * thread reads through a dataset of its own (GDAL datasets are not shared between
 * threads) with its own coordinate transformation, taking the next share as it finishes
 * one; SQLite returns a table's rows in id order with or without a filter on the id.
 * Finished shares are appended to the layer in share order as soon as the shares before
 * them are in, and whole chunks of x and y go to the column encoder from there; so the
 * layer is the same, byte for byte, whatever the number of threads, and the one a single
 * reader of the table builds.  If any share fails, the layer is read again as one, so
 * that an error names the same feature as it would have without shares.
 */
#define MIN_SHARE  4096
#define MAX_SHARES 64

struct shared_read {
	lode__vector *v;
	const lode_vector_read *r;
	const char *fidcol;      /* the layer's id column */
	long long lo, hi;        /* the layer's smallest and largest feature ids */
	int nshares;             /* shares of (hi - lo + 1) / nshares ids, the last one longer */
	pthread_mutex_t mu;      /* guards what follows */
	int next_share;          /* the next share to read */
	int next_merge;          /* the next share to append to out */
	const lode_vdata *empty; /* the layer's type and fields, no features: shares copy it */
	/* Shares read but not yet appended, by share: the values (NULL until read), the bytes
	   of their strings, the room of their x and y arrays, their part of held. */
	struct {
		lode_vdata *d;
		size_t text, cap_x, cap_y, held;
	} * done;
	/* The x and y arrays of shares appended already, for the next shares to read into:
	   no copies while they grow, no new pages to fault in. */
	struct {
		double *x, *y;
		size_t cap_x, cap_y;
	} spare[MAX_SHARES];
	int nspare;
	builder out;        /* the layer so far: shares 0 .. next_merge - 1 */
	size_t out_told;    /* out's part of held */
	int failed;         /* a share failed or the types mixed: read again on one thread */
	atomic_size_t held; /* bytes held by out, the shares read or waiting, spares (--max-memory) */
};

/* Whether the layer's values (every thread's) have outgrown --max-memory. */
int lode__vshares_over_bound(reader *t, const builder *b)
{
	size_t now = lode__vread_held(b), all;

	if (!t->rd)
		return now > t->r->max_bytes;
	all = atomic_fetch_add(&t->rd->held, now - t->told) + (now - t->told);
	t->told = now;
	return all > t->r->max_bytes;
}

/* Append src's optional column (z or m: *sc, NULL when src has none) to a's (*ac, grown
   from NULL with zeros for a's nodes so far); a's nn nodes are a->nnodes + src's. */
static int append_opt(double **ac, size_t *cap, const double *sc, size_t before, size_t nn)
{
	int first = !*ac;

	if (!sc && !*ac)
		return 0;
	if (lode__vread_grow((void **)ac, cap, nn, sizeof(double)))
		return -1;
	if (first)
		memset(*ac, 0, before * sizeof(double));
	if (sc)
		memcpy(*ac + before, sc, (nn - before) * sizeof(double));
	else
		memset(*ac + before, 0, (nn - before) * sizeof(double));
	return 0;
}

/* Append src's features to the layer b builds (src keeps nothing: its strings are b's). */
static int append(builder *b, lode_vdata *src)
{
	lode_vdata *a = b->d;
	size_t nf = a->nfeat + src->nfeat, nn = a->nnodes + src->nnodes, np = a->nparts + src->nparts;

	if (lode__vread_grow((void **)&a->x, &b->cap_x, nn, sizeof(double)) ||
	    lode__vread_grow((void **)&a->y, &b->cap_y, nn, sizeof(double)) ||
	    append_opt(&a->z, &b->cap_z, src->z, a->nnodes, nn) ||
	    append_opt(&a->m, &b->cap_m, src->m, a->nnodes, nn) ||
	    lode__vread_grow((void **)&a->node_count, &b->cap_nc, nf, sizeof(int32_t)) ||
	    lode__vread_grow((void **)&a->part_node_count, &b->cap_pnc, np, sizeof(int32_t)) ||
	    lode__vread_grow((void **)&a->interior_ring, &b->cap_ir, np, sizeof(int32_t)))
		return -1;
	memcpy(a->x + a->nnodes, src->x, src->nnodes * sizeof(double));
	memcpy(a->y + a->nnodes, src->y, src->nnodes * sizeof(double));
	if (src->nfeat)
		memcpy(a->node_count + a->nfeat, src->node_count, src->nfeat * sizeof(int32_t));
	if (src->nparts) {
		memcpy(a->part_node_count + a->nparts, src->part_node_count, src->nparts * sizeof(int32_t));
		memcpy(a->interior_ring + a->nparts, src->interior_ring, src->nparts * sizeof(int32_t));
	}
	for (size_t i = 0; i < a->nfields; i++) {
		lode_vfield *fa = &a->fields[i], *fs = &src->fields[i];
		size_t sz = lode__ftype_size(fa->type);
		if (lode__vread_grow(&fa->values, &b->cap_field[i], nf, sz) ||
		    lode__vread_grow((void **)&fa->isnull, &b->cap_null[i], nf, 1))
			return -1;
		if (src->nfeat) {
			memcpy((unsigned char *)fa->values + a->nfeat * sz, fs->values, src->nfeat * sz);
			memcpy(fa->isnull + a->nfeat, fs->isnull, src->nfeat);
		}
		lode__vfield_text_move(fa, fs);
		fa->nnull += fs->nnull;
	}
	a->nfeat = nf;
	a->nnodes = nn;
	a->nparts = np;
	a->multi |= src->multi;
	a->has_z |= src->has_z;
	a->has_m |= src->has_m;
	src->nfeat = 0; /* its strings are a's now (their text moved above) */
	return 0;
}

/* An empty lode_vdata with e's type and fields (the threads do not touch OGR's layer
   definition, which belongs to the thread reading through v's dataset). */
static lode_vdata *vdata_like(const lode_vdata *e)
{
	lode_vdata *d = calloc(1, sizeof *d);

	if (!d || !(d->fields = calloc(e->nfields ? e->nfields : 1, sizeof *d->fields))) {
		free(d);
		return NULL;
	}
	d->kind = e->kind;
	d->multi = e->multi;
	d->has_z = e->has_z;
	d->has_m = e->has_m;
	d->nfields = e->nfields;
	for (size_t i = 0; i < e->nfields; i++) {
		d->fields[i].type = e->fields[i].type;
		d->fields[i].width = e->fields[i].width;
		d->fields[i].name = lode__strdup(e->fields[i].name);
		d->fields[i].var = lode__strdup(e->fields[i].var);
		if (!d->fields[i].name || !d->fields[i].var) {
			lode__vdata_free(d);
			return NULL;
		}
	}
	return d;
}

/* Under rd->mu: append the shares that are ready, in order. */
static void merge_ready(shared_read *rd)
{
	lode_error ignored;

	while (!rd->failed && rd->next_merge < rd->nshares && rd->done[rd->next_merge].d) {
		lode_vdata *src = rd->done[rd->next_merge].d, *a = rd->out.d;
		size_t now;
		if (a->kind && src->kind && a->kind != src->kind) {
			rd->failed = 1; /* mixed types: the one-thread read names the feature */
			break;
		}
		if (!a->kind)
			a->kind = src->kind;
		rd->out.text += rd->done[rd->next_merge].text;
		if (append(&rd->out, src) || lode__vread_send_xy(&rd->out, &ignored)) {
			rd->failed = 1;
			break;
		}
		if (rd->nspare < MAX_SHARES && src->x && src->y) {
			size_t cx = rd->done[rd->next_merge].cap_x, cy = rd->done[rd->next_merge].cap_y;
			rd->spare[rd->nspare].x = src->x;
			rd->spare[rd->nspare].y = src->y;
			rd->spare[rd->nspare].cap_x = cx;
			rd->spare[rd->nspare++].cap_y = cy;
			src->x = src->y = NULL;
			atomic_fetch_add(&rd->held, (cx + cy) * sizeof(double)); /* still held, spare */
		}
		lode__vdata_free(src);
		atomic_fetch_sub(&rd->held, rd->done[rd->next_merge].held);
		rd->done[rd->next_merge++].d = NULL;
		now = lode__vread_held(&rd->out);
		atomic_fetch_add(&rd->held, now - rd->out_told);
		rd->out_told = now;
	}
}

static lode_status share_filter(reader *t, int i)
{
	shared_read *rd = t->rd;
	long long span = (rd->hi - rd->lo + 1) / rd->nshares;
	long long lo = rd->lo + span * i, hi = i == rd->nshares - 1 ? rd->hi : lo + span - 1;
	char filter[256];

	snprintf(filter, sizeof filter, "\"%s\" BETWEEN %lld AND %lld", rd->fidcol, lo, hi);
	return OGR_L_SetAttributeFilter(t->layer, filter) == OGRERR_NONE ? LODE_OK : LODE_ESOURCE;
}

/* One thread's work: take the next share, read it, hand it over; until none is left. */
static void read_shares(shared_read *rd, int own_dataset)
{
	reader t;
	lode_error err = {0};
	int ok = lode__vread_reader_start(&t, rd->v, rd->r, rd, own_dataset, &err) == LODE_OK;

	for (;;) {
		lode_vdata *d = NULL;
		builder b = {0};
		int i;

		pthread_mutex_lock(&rd->mu);
		if (!ok)
			rd->failed = 1;
		i = rd->failed || rd->next_share == rd->nshares ? -1 : rd->next_share++;
		pthread_mutex_unlock(&rd->mu);
		if (i < 0)
			break;
		t.told = 0;
		ok = (d = vdata_like(rd->empty)) != NULL &&
		     lode__vread_builder_start(&b, d, NULL, &err) == LODE_OK;
		if (ok) {
			pthread_mutex_lock(&rd->mu);
			if (rd->nspare > 0) {
				rd->nspare--;
				d->x = rd->spare[rd->nspare].x;
				d->y = rd->spare[rd->nspare].y;
				b.cap_x = rd->spare[rd->nspare].cap_x;
				b.cap_y = rd->spare[rd->nspare].cap_y;
				/* counted again as the share's own, as it reads */
				atomic_fetch_sub(&rd->held, (b.cap_x + b.cap_y) * sizeof(double));
			}
			pthread_mutex_unlock(&rd->mu);
		}
		ok = ok && share_filter(&t, i) == LODE_OK && lode__vread_features(&t, &b, &err) == LODE_OK;
		lode__vread_builder_end(&b);
		/* A share read stays counted until it is appended (merge_ready). */
		if (!ok)
			atomic_fetch_sub(&rd->held, t.told);
		pthread_mutex_lock(&rd->mu);
		if (ok) {
			rd->done[i].d = d;
			rd->done[i].text = b.text;
			rd->done[i].cap_x = b.cap_x;
			rd->done[i].cap_y = b.cap_y;
			rd->done[i].held = t.told;
			d = NULL;
			merge_ready(rd);
		}
		pthread_mutex_unlock(&rd->mu);
		lode__vdata_free(d);
		/* The calling thread stores what the merges gave the encoder so far. */
		if (!own_dataset && rd->r->drain)
			rd->r->drain(rd->r->drain_arg);
	}
	lode__vread_reader_end(&t);
}

static void *share_main(void *arg)
{
	read_shares(arg, 1);
	return NULL;
}

/* rd->nshares, how many shares to read the layer in (1: as one, in SQLite's order), and
   rd->fidcol, lo and hi; the same whatever the number of threads, so that the order is. */
static void plan_shares(shared_read *rd)
{
	lode__vector *v = rd->v;
	const char *fidcol = OGR_L_GetFIDColumn(v->layer), *type;
	lode__cpl_capture cap;
	char sql[1024];
	OGRLayerH res;
	OGRFeatureH f;
	long long n = v->info.nfeat / MIN_SHARE;

	if (n < 2 || v->has_where || !v->path || strcmp(v->info.driver, "GPKG") || !fidcol || !fidcol[0] ||
	    strlen(fidcol) > 100 || strpbrk(fidcol, "\"'") || strlen(v->info.layer) > 200 ||
	    strpbrk(v->info.layer, "\"'")) {
		rd->nshares = 1;
		return;
	}
	if (n > MAX_SHARES)
		n = MAX_SHARES;
	/* Only a table: a view has no id b-tree to cut along, and its own order.  MIN and MAX
	   in subqueries of their own: SQLite looks each up in the b-tree, where both in one
	   query scan the whole table (50 ms for 54 MB, on one core, before the threads start). */
	snprintf(sql, sizeof sql,
		 "SELECT (SELECT type FROM sqlite_master WHERE name = '%s'), "
		 "(SELECT MIN(\"%s\") FROM \"%s\"), (SELECT MAX(\"%s\") FROM \"%s\")",
		 v->info.layer, fidcol, v->info.layer, fidcol, v->info.layer);
	lode__cpl_push(&cap); /* a failed query means one share, not a message */
	res = GDALDatasetExecuteSQL(v->ds, sql, NULL, NULL);
	lode__cpl_pop();
	if (!res) {
		rd->nshares = 1;
		return;
	}
	f = OGR_L_GetNextFeature(res);
	type = f && OGR_F_IsFieldSetAndNotNull(f, 0) ? OGR_F_GetFieldAsString(f, 0) : "";
	if (f && !strcmp(type, "table") && OGR_F_IsFieldSetAndNotNull(f, 1) &&
	    OGR_F_IsFieldSetAndNotNull(f, 2)) {
		rd->lo = OGR_F_GetFieldAsInteger64(f, 1);
		rd->hi = OGR_F_GetFieldAsInteger64(f, 2);
	} else {
		n = 1;
	}
	if (f)
		OGR_F_Destroy(f);
	GDALDatasetReleaseResultSet(v->ds, res);
	if (n > 1 && (rd->lo < -(1LL << 60) || rd->hi > (1LL << 60) || rd->hi < rd->lo ||
		      rd->hi - rd->lo < n * MIN_SHARE / 2))
		n = 1;
	rd->nshares = (int)n;
	rd->fidcol = fidcol;
}

/* The layer in shares, on up to threads threads, into *out; LODE_OK with *out NULL if
   it is read as one instead (*tried: after a failed read in shares). */
lode_status lode__vshares_read(lode__vector *v, const lode_vector_read *r, int threads, lode_vdata **out,
			       int *tried, lode_error *err)
{
	shared_read rd = {.v = v, .r = r};
	pthread_t th[MAX_SHARES];
	int nth = 0;
	lode_status rc;

	*out = NULL;
	*tried = 0;
	plan_shares(&rd);
	if (rd.nshares < 2)
		return LODE_OK;
	*tried = 1;
	rd.done = calloc((size_t)rd.nshares, sizeof *rd.done);
	if (!rd.done)
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	else if ((rc = lode__vread_new_vdata(v, &rd.out.d, err)) == LODE_OK &&
		 (rc = lode__vread_builder_start(&rd.out, rd.out.d, r->xy, err)) == LODE_OK &&
		 !(rd.empty = vdata_like(rd.out.d)))
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
	if (rc) {
		lode__vdata_free(rd.out.d);
		lode__vdata_free((lode_vdata *)rd.empty);
		lode__vread_builder_end(&rd.out);
		free(rd.done);
		return rc;
	}
	pthread_mutex_init(&rd.mu, NULL);
	if (threads > rd.nshares)
		threads = rd.nshares;
	for (int i = 1; i < threads && i < MAX_SHARES; i++)
		if (pthread_create(&th[nth], NULL, share_main, &rd) == 0)
			nth++;
	read_shares(&rd, 0);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&rd.mu);
	for (int i = 0; i < rd.nshares; i++)
		lode__vdata_free(rd.done[i].d);
	for (int i = 0; i < rd.nspare; i++) {
		free(rd.spare[i].x);
		free(rd.spare[i].y);
	}
	free(rd.done);
	lode__vdata_free((lode_vdata *)rd.empty);
	lode__vread_builder_end(&rd.out);
	if (rd.failed || rd.next_merge != rd.nshares) {
		lode__vdata_free(rd.out.d);
		return LODE_OK;
	}
	*out = rd.out.d;
	return LODE_OK;
}
