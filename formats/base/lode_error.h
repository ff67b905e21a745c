/*
 * lode_error.h -- PUBLIC (installed beside lode.h, which includes it): the status codes
 * and the error record that every layer of liblode fills, from the format adapters up.
 * It lives in formats/base, the lowest floor, so that formats/ need not reach up into
 * pipeline/ for it.
 */
#ifndef LODE_ERROR_H
#define LODE_ERROR_H

/* Status codes.  0 is success; every other value is a failure class. */
typedef enum lode_status {
	LODE_OK = 0,
	LODE_EUSAGE,     /* the caller passed something meaningless */
	LODE_EMANIFEST,  /* the manifest is malformed or inconsistent */
	LODE_ESOURCE,    /* a source cannot be read or is unusable */
	LODE_EPOLICY,    /* no coordinate operation satisfies the policy */
	LODE_EIO,        /* reading or writing a file failed */
	LODE_EBUNDLE,    /* a bundle is not a lode bundle or is malformed */
	LODE_EDAMAGED,   /* a bundle's content does not match its digests */
	LODE_ESIGNATURE, /* a signature does not verify, or none is by a trusted key */
	LODE_ENOMEM,     /* out of memory */
	LODE_EINTERNAL   /* a dependency failed in a way we did not expect */
} lode_status;

/*
 * The error record.  The message keeps the root cause with one line of context per
 * layer prepended ("dataset 'dem': reading band 1: ...").  Recording never allocates.
 */
typedef struct lode_error {
	lode_status code;
	char message[2048];
	/* Several problems, one per line ('\n' between them, each line's own control
	   characters already escaped): a manifest's problems, or its datasets'.  0: one
	   message, whose control characters a printer must escape, newlines included. */
	int lines;
} lode_error;

/* A short English name for a status ("manifest error", ...). Never NULL. */
const char *lode_status_name(lode_status code);

#endif /* LODE_ERROR_H */
