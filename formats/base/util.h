/*
 * util.h -- PRIVATE to liblode (formats/base/util.c): small helpers any layer may use.
 * Every malloc'd result is the caller's to free; NULL means out of memory unless said.
 */
#ifndef LODE_BASE_UTIL_H
#define LODE_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

char *lode__strdup(const char *s);                            /* NULL-safe; NULL on ENOMEM */
char *lode__sprintf(const char *fmt, ...) LODE__PRINTF(1, 2); /* malloc'd, NULL on ENOMEM */
/* Read a whole file (NUL-terminated); refuses files larger than max_bytes. */
lode_status lode__read_file(const char *path, size_t max_bytes, char **text, size_t *len, lode_error *err);
/* Folder part of a path ("." if none), malloc'd. */
char *lode__dirname(const char *path);
/* Join dir and a relative path; an absolute path is returned as is.  malloc'd. */
char *lode__path_join(const char *dir, const char *rel);
/* Append s to *acc (malloc'd or NULL) with sep between items: 0, or -1 out of memory
   (*acc then unchanged). */
int lode__append(char **acc, const char *sep, const char *s);
/* glibc's allocator tunables lode's front (pipeline/cli_front.c) gives lode-full and
   lode-verify when the environment has no GLIBC_TUNABLES, and the heap slack they keep
   (top_pad, per heap: one per thread at most). */
#define LODE_MALLOC_TOP_PAD ((size_t)32 << 20) /* the top_pad of LODE_MALLOC_TUNABLES */
#define LODE_MALLOC_TUNABLES                                                                                 \
	"glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576:glibc.malloc.top_pad=33554432"
/* Keep the slack of malloc's heaps within an eighth of max_memory (--max-memory) over
   threads worker threads (0: lode__default_threads()) and the calling one: with lode's
   tunables, each heap may keep LODE_MALLOC_TOP_PAD of freed memory, which a run of many
   threads under a tight bound could not afford.  Nothing without a bound or with a
   GLIBC_TUNABLES of the user's. */
void lode__bound_heap_slack(size_t max_memory, int threads);
/* Ask the kernel to back the whole 2 MB stretches of buffer p (bytes long) with huge
   pages, where it does so on request (transparent_hugepage "madvise"): a large buffer
   touched once then pays a page fault every 2 MB rather than every 4 kB.  Only a hint;
   nothing happens for buffers under 4 MB or where the kernel says no. */
void lode__advise_huge(void *p, size_t bytes);
/* Fault in the pages of two fresh buffers (p1, n1 bytes and p2, n2 bytes; either may be
   NULL) on a thread of its own, while the caller goes on, so that the kernel zeroes them
   on an idle core instead of when the caller first writes them (MADV_POPULATE_WRITE: the
   whole pages within each buffer).  Their contents are left alone, so other threads may
   fill them meanwhile.  Returns a handle for lode__prefault_join, NULL when there is
   nothing worth a thread (under 8 MB together) or no thread could be started (the pages
   are then faulted in as they are first written, as without it, as they are on kernels
   before Linux 5.14). */
struct lode__prefault;
struct lode__prefault *lode__prefault_start(void *p1, size_t n1, void *p2, size_t n2);
/* Wait for the thread of lode__prefault_start and free h (NULL: nothing). */
void lode__prefault_join(struct lode__prefault *h);
/*
 * Progress of a child process reading an untrusted bundle (pipeline/untrusted.c):
 * readers report the work they do as they go, in units: bytes inflated or read, and one
 * unit for a step that moves no bytes (lode__heartbeat).  Each call adds to a running
 * total and writes the total (a uint64_t, host order) to the fd given to
 * lode__work_fd (none by default: then it only counts).  Never blocks.
 */
void lode__work_fd(int fd);
void lode__work_done(uint64_t units);
void lode__heartbeat(void); /* lode__work_done(1) */
/*
 * How much work the reader expects to do in all (an estimate from the sizes it is about
 * to read), for the progress bar of its parent: written as one value with the top bit
 * set (LODE__WORK_EXPECTED), which the watcher tells apart from the work done.  The
 * count of work restarts at 0 when lode__work_fd is given a pipe.
 */
#define LODE__WORK_EXPECTED ((uint64_t)1 << 63)
void lode__work_expect(uint64_t units);
/*
 * A name or value from an untrusted file made safe to print, into out (cap bytes, at
 * least 16): every byte below 0x20 and 0x7f as \xNN, cut with "..." to fit.  Returns out.
 */
char *lode__printable(char *out, size_t cap, const char *s);
/* Does s hold a control byte (below 0x20, or 0x7f)? */
int lode__has_control(const char *s);
/* Lower-case hex of n bytes into out (2n+1 chars). */
void lode__hex(const unsigned char *bytes, size_t n, char *out);
/* n texts (NULL counts as "") joined by newlines, malloc'd; NULL when all are empty or on
   out of memory (then *oom is set). */
char *lode__join_lines(const char *const *texts, size_t n, int *oom);
/* "YYYY-MM-DDTHH:MM:SSZ" for t, malloc'd; NULL on failure. */
char *lode__iso_utc(time_t t);
/* The cores this process may use (1..256): the default number of threads. */
int lode__default_threads(void);

#endif /* LODE_BASE_UTIL_H */
