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
 * text (*text malloc'd for the caller, or NULL).  A child that crashes, or sends no
 * heartbeat (lode__heartbeat) for LODE_WATCHDOG_SECONDS (default 120), makes the bundle
 * LODE_EDAMAGED, naming bundle_path; then the private folders it left in cleanup_dir
 * (NULL: none) are removed (publish.h's lode__pub_clean_stale).  The child ends when
 * this process dies (Linux) or gets SIGTERM, SIGINT or SIGHUP, removing its temporary
 * files first; lode_cleanup_on_signal (lode.h) ends it from this process's handler.
 * LODE_IN_PROCESS=1 (or LODE_VERIFY_IN_PROCESS), or a pipe or fork that fails, runs fn
 * in this process instead.
 */
lode_status lode__contained(const char *bundle_path, lode__job_fn fn, void *arg, char **text, lode_error *err,
			    const char *cleanup_dir);

#endif /* LODE_UNTRUSTED_H */
