/*
 * bundle_items.c -- small helpers the readers of a bundle (verify, ls, extract) share:
 * opening a bundle with its list of datasets, sizing a strip buffer from an untrusted
 * dataset, appending to a report.  It reads no values and checks no digest: that is
 * verify.c's and extract.c's work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bundle.h"
#include "bundle_items.h"
#include "dtype.h"
#include "error.h"
#include "util.h"

#define MAX_STRIP_BYTES (256u << 20)

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
lode_status lode__open_items(const char *bundle_path, lode__bundle **b, lode_bundle_item **items, size_t *n,
			     lode_error *err)
{
	lode_status rc;

	if ((rc = lode__bundle_open(bundle_path, b, err)))
		return rc;
	if ((rc = lode__bundle_items(*b, items, n, err))) {
		lode__err_ctx(err, "%s: damaged: ", bundle_path);
		err->code = rc = LODE_EDAMAGED;
	}
	return rc;
}

/* Sized from untrusted dimensions: checked before the allocation. */
lode_status lode__strip_buffer(const lode_bundle_item *it, int rows, unsigned char **buf, lode_error *err)
{
	size_t bytes = (size_t)it->nx * (size_t)rows * lode__dtype_size(it->dtype);

	if (it->nx <= 0 || it->ny <= 0 || bytes > MAX_STRIP_BYTES)
		return lode__err(err, LODE_EBUNDLE, "dataset '%s': implausible dimensions %d x %d", it->name,
				 it->nx, it->ny);
	*buf = malloc(bytes ? bytes : 1);
	if (!*buf)
		return lode__err(err, LODE_ENOMEM, "out of memory");
	return LODE_OK;
}
