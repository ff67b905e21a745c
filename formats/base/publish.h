/*
 * publish.h -- PRIVATE to liblode (formats/base/publish.c): writing a file so that it
 * appears under its final name only when complete, and never through a name that
 * someone else could have planted.
 *
 * lode__pub_begin makes a private folder beside the destination DEST, named
 * ".NAME.tmp-HOST-PID-XXXXXX" (NAME: DEST's file name, XXXXXX random; mkdtemp, mode
 * 0700): nobody else can create an entry in it, so no symbolic link can be waiting at
 * a name lode writes.  Writers write p->path, the file NAME inside that folder, reached
 * through the folder's open descriptor (/proc/self/fd/N/NAME) so that renaming or
 * replacing the folder while they write cannot redirect them.  lode__pub_commit checks
 * that the file is a regular file, fsyncs it, gives it its mode (that of the regular
 * file it replaces, or 0666 & ~umask for a new one), renames it onto DEST and removes
 * the folder.  DEST must be absent or a regular file: a symbolic link, a folder or
 * anything else there is refused, at begin and again at commit.
 *
 * While a folder exists it is registered so that lode__pub_abandon_all, called from a
 * signal handler, removes it.  A process killed by SIGKILL leaves it behind; the next
 * lode__pub_begin beside the same DEST (or lode__pub_clean_stale) removes it once its
 * process is gone.
 */
#ifndef LODE_BASE_PUBLISH_H
#define LODE_BASE_PUBLISH_H

#include <sys/types.h>

#include "error.h"

typedef struct lode__pub {
	char *dest;   /* the final path, as given */
	char *path;   /* where to write: the file inside the private folder */
	char *dir;    /* the private folder, by its path (for messages); NULL: nothing begun */
	int dirfd;    /* the private folder */
	int parentfd; /* the folder of dest */
	int slot;     /* in the signal-time registry, -1: none */
	mode_t mode;  /* the mode the published file gets */
} lode__pub;

/* DEST may be written: absent, or a regular file (never a symbolic link).  Else an
   error naming it. */
lode_status lode__pub_check_dest(const char *dest, lode_error *err);

/*
 * Begin writing DEST: check it (lode__pub_check_dest), remove stale private folders of
 * killed writers beside it, make a new one.  On failure nothing is left and *p needs no
 * abort (it may be aborted all the same).
 */
lode_status lode__pub_begin(lode__pub *p, const char *dest, lode_error *err);

/* Create p->path exclusively (O_EXCL, O_NOFOLLOW) for writing; a descriptor the caller
   closes, or -1 with err set. */
int lode__pub_create(lode__pub *p, lode_error *err);

/* Publish: the written file onto DEST (see above); the private folder is gone after,
   whatever the outcome.  The file must be closed by its writer first. */
lode_status lode__pub_commit(lode__pub *p, lode_error *err);

/* Give up: remove the private folder and what is in it, free *p.  NULL-safe; a zeroed
   or committed *p is fine. */
void lode__pub_abort(lode__pub *p);

/* Put DEST where err's message names p->path (the library saw the private name). */
void lode__pub_message(const lode__pub *p, lode_error *err);

/*
 * Remove private folders (and, from older lode, temporary files) that killed writers
 * left in folder DIR: those named ".BASE.tmp-HOST-PID-XXXXXX" (any BASE when base is
 * NULL) made on this host by a process that no longer runs, or untouched for a day.
 * Only folders of this user are entered; their regular files are removed, nothing else.
 */
void lode__pub_clean_stale(const char *dir, const char *base);

/*
 * For a signal handler: remove every private folder this process has open (their
 * writers are abandoned; the process must end afterwards).  Async-signal-safe.
 */
void lode__pub_abandon_all(void);

/*
 * Are paths a and b the same file?  1 when both exist and have the same device and
 * inode (symbolic links followed), or, when one of them does not exist, when both
 * resolve to the same absolute path; 0 otherwise.
 */
int lode__same_file(const char *a, const char *b);

#endif /* LODE_BASE_PUBLISH_H */
