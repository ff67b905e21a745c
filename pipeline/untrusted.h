/*
 * untrusted.h -- reading an untrusted bundle in a child process (untrusted.c), for
 * verify, ls and extract.
 */
#ifndef LODE_UNTRUSTED_H
#define LODE_UNTRUSTED_H

#include "lode.h"
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
 * bundle_path; then the private folders it left in cleanup_dir (NULL: none) are removed
 * (publish.h's lode__pub_clean_stale).  The child ends when this process dies (Linux)
 * or gets SIGTERM, SIGINT or SIGHUP, removing its temporary files first;
 * lode_cleanup_on_signal (lode.h) ends it from this process's handler (should that
 * handler return, this call returns LODE_EIO, "interrupted").  LODE_IN_PROCESS=1 (or
 * LODE_VERIFY_IN_PROCESS), or a pipe or fork that fails, runs fn in this process
 * instead, without these bounds.
 */
lode_status lode__contained(const char *bundle_path, lode__job_fn fn, void *arg, char **text, lode_error *err,
			    const char *cleanup_dir);

/*
 * As lode__contained, and the child's progress to opt->progress (when opt and it are
 * not NULL): its work done over the work it said it expects (lode__work_expect), kept
 * below 1 (the caller reports the end).  Nothing is reported when the job runs in this
 * process (LODE_IN_PROCESS).  The child's data memory (RLIMIT_DATA) is bounded by
 * opt->max_memory (0 or opt NULL: LODE_READ_MEMORY_DEFAULT) plus 512 MiB, so that an
 * allocation a hostile file makes HDF5 attempt fails instead of taking the machine's
 * memory (not under AddressSanitizer; lode__contained: the default).
 */
lode_status lode__contained_progress(const char *bundle_path, lode__job_fn fn, void *arg, char **text,
				     lode_error *err, const char *cleanup_dir, const lode_read_options *opt);

#endif /* LODE_UNTRUSTED_H */
