/*
 * bundle_items.c -- small helpers the readers of a bundle (verify, ls, extract) share:
 * opening a bundle with its list of datasets, what reading a raster strip by strip holds
 * against the bound, a strip buffer sized from an untrusted dataset, appending to a
 * report.  It reads no values and checks no digest: that is verify.c's and extract.c's
 * work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bundle_items.h"
#include "dtype.h"
#include "error.h"
#include "lode.h"
#include "util.h"

/* Append a formatted line to a growing text; returns -1 on out-of-memory. */
int lode__addf(char **text, const char *fmt, ...)
{
	va_list ap;
	char line[4096], *n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	n = lode__sprintf("%s%s", *text ? *text : "", line);
	if (!n)
		return -1;
	free(*text);
	*text = n;
	return 0;
}

/* Open a bundle and list its datasets; a listing that fails means a damaged file. */
lode_status lode__open_items(const char *bundle_path, size_t vector_memory, lode__bundle **b,
			     lode_bundle_item **items, size_t *n, lode_error *err)
{
	lode_status rc;

	if ((rc = lode__bundle_open(bundle_path, b, err)))
		return rc;
	lode__bundle_set_max_memory(*b, vector_memory);
	if ((rc = lode__bundle_items(*b, items, n, err))) {
		lode__err_ctx(err, "%s: damaged: ", bundle_path);
		err->code = rc = LODE_EDAMAGED;
	}
	return rc;
}

size_t lode__read_memory(const lode_read_options *opt)
{
	return opt && opt->max_memory ? opt->max_memory : LODE_READ_MEMORY_DEFAULT;
}

int lode__strip_rows(lode__bundle *b, const lode_bundle_item *it)
{
	int rows = lode__bundle_chunk_rows(b, it);

	return it->ny > 0 && rows > it->ny ? it->ny : rows;
}

lode_status lode__raster_budget(const lode_bundle_item *it, int rows, size_t extra, size_t max_memory,
				lode_error *err)
{
	const double mb = 1048576.0;
	double strip = (double)it->nx * rows * (double)lode__dtype_size(it->dtype);
	double need = strip + 3.0 * (double)it->chunk_bytes + (double)extra;

	if (need <= (double)max_memory)
		return LODE_OK;
	return lode__err(err, LODE_ENOMEM,
			 "reading it needs about %.0f MB (a strip of %d x %d values of %s, its chunks%s), "
			 "more than --max-memory allows (%.0f MB)",
			 need / mb, it->nx, rows, lode__dtype_name(it->dtype), extra ? " and more" : "",
			 max_memory / mb);
}

/* Sized from untrusted dimensions: checked before the allocation. */
lode_status lode__strip_buffer(const lode_bundle_item *it, int rows, unsigned char **buf, lode_error *err)
{
	size_t bytes = (size_t)it->nx * (size_t)rows * lode__dtype_size(it->dtype);

	if (it->nx <= 0 || it->ny <= 0 || rows <= 0)
		return lode__err(err, LODE_EBUNDLE, "dataset '%s': implausible dimensions %d x %d", it->name,
				 it->nx, it->ny);
	*buf = malloc(bytes ? bytes : 1);
	if (!*buf)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}

uint64_t lode__items_bytes(const lode_bundle_item *items, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].kind, "vector") == 0)
			sum += items[i].nfeat > 0 ? 32 * (uint64_t)items[i].nfeat : 0;
		else if (items[i].nx > 0 && items[i].ny > 0 && items[i].nbands > 0)
			sum += (uint64_t)items[i].nx * (uint64_t)items[i].ny * (uint64_t)items[i].nbands *
			       lode__dtype_size(items[i].dtype);
	return sum;
}
