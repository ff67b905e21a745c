/*
 * error.h -- PRIVATE to liblode (formats/base/error.c): filling the error record of
 * lode_error.h.  Every fallible function of every layer returns a lode_status and
 * records why through these; recording never allocates, so it works out of memory.
 */
#ifndef LODE_BASE_ERROR_H
#define LODE_BASE_ERROR_H

#include "lode_error.h"

#if defined(__GNUC__)
#define LODE__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LODE__PRINTF(a, b)
#endif

/* Set the root cause: replaces any message.  Returns code for "return lode__err(...)". */
lode_status lode__err(lode_error *err, lode_status code, const char *fmt, ...) LODE__PRINTF(3, 4);
/* Prepend one line of context ("dataset 'x': ") to the current message; keeps the code. */
lode_status lode__err_ctx(lode_error *err, const char *fmt, ...) LODE__PRINTF(2, 3);
void lode__err_clear(lode_error *err);

#endif /* LODE_BASE_ERROR_H */
