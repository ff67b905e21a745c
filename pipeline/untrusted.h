/*
 * untrusted.h -- reading an untrusted bundle in a child process (untrusted.c), for
 * verify, ls and extract.
 */
#ifndef LODE_UNTRUSTED_H
#define LODE_UNTRUSTED_H

#include "lode_error.h"

/*
 * A job that reads a bundle: fills *text with a malloc'd report (or NULL) and err,
 * returns a status.  arg is the job's own parameters.
 */
typedef lode_status (*lode__job_fn)(void *arg, char **text, lode_error *err);

/*
 * Run fn(arg, text, err) in a child process and hand back its status, error record and
 * text (*text malloc'd for the caller, or NULL).  The child reports its work as it goes
 * (lode__work_done in util.h).  A child that crashes, whose work stops growing for
 * LODE_WATCHDOG_SECONDS (default 120), or exceeds what the size of the file at
 * bundle_path justifies (2 x 1032 x its bytes + 64 MiB of work; the watchdog's seconds
 * plus 16 s per MiB of CPU time), is killed and the bundle is LODE_EDAMAGED, naming
 * bundle_path.  SIGINT, SIGTERM or SIGHUP while it runs kill it too: LODE_EIO,
 * "interrupted" (a handler the caller had installed then gets the signal as well).
 * After a kill or a crash the temporary files the child left in cleanup_dir (NULL:
 * none) are removed: those whose names start with '.' and hold "tmp-PID" not followed
 * by a digit.  LODE_IN_PROCESS=1 (or LODE_VERIFY_IN_PROCESS), or a pipe or fork that
 * fails, runs fn in this process instead, without these bounds.
 */
lode_status lode__contained(const char *bundle_path, lode__job_fn fn, void *arg, char **text, lode_error *err,
			    const char *cleanup_dir);

#endif /* LODE_UNTRUSTED_H */
