/*
 * error.c -- the error record: a status code and a message that keeps the root cause
 * with one line of context per layer in front of it.  Recording never allocates, so
 * it also works when memory has run out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

const char *lode_status_name(lode_status code)
{
	switch (code) {
	case LODE_OK: return "success";
	case LODE_EUSAGE: return "usage error";
	case LODE_EMANIFEST: return "manifest error";
	case LODE_ESOURCE: return "source error";
	case LODE_EPOLICY: return "coordinate operation refused by policy";
	case LODE_EIO: return "input/output error";
	case LODE_EBUNDLE: return "not a valid lode bundle";
	case LODE_EDAMAGED: return "bundle damaged";
	case LODE_ESIGNATURE: return "signature check failed";
	case LODE_ENOMEM: return "out of memory";
	case LODE_EINTERNAL: return "internal error";
	}
	return "unknown error";
}

lode_status lode__err(lode_error *err, lode_status code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->lines = 0;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return code;
}

lode_status lode__err_ctx(lode_error *err, const char *fmt, ...)
{
	char prefix[512];
	size_t plen, mlen;
	va_list ap;

	if (!err)
		return LODE_EINTERNAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	plen = strlen(prefix);
	mlen = strlen(err->message);
	if (plen + mlen >= sizeof err->message)
		mlen = sizeof err->message - plen - 1;
	/* Shift the message right, then put the context in front. */
	memmove(err->message + plen, err->message, mlen);
	err->message[plen + mlen] = '\0';
	memcpy(err->message, prefix, plen);
	return err->code;
}

void lode__err_clear(lode_error *err)
{
	if (err) {
		err->code = LODE_OK;
		err->lines = 0;
		err->message[0] = '\0';
	}
}
