/*
 * util.c -- small helpers every layer above may use: strings, paths, whole-file reads,
 * hex, joined lines, UTC dates, the number of cores and the progress of a child process.
 * Nothing here knows a library, a format or the pipeline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

char *lode__strdup(const char *s)
{
	char *d;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

char *lode__sprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

lode_status lode__read_file(const char *path, size_t max_bytes, char **text, size_t *len, lode_error *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	struct stat st;
	size_t n;
	lode_status rc = LODE_OK;

	*text = NULL;
	if (stat(path, &st) != 0) {
		rc = lode__err(err, LODE_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = lode__err(err, LODE_EIO, "%s: is a directory, not a file", path);
		goto out;
	}
	if ((size_t)st.st_size > max_bytes) {
		rc = lode__err(err, LODE_EIO, "%s: file too large (%lld bytes; the limit is %zu)", path,
			       (long long)st.st_size, max_bytes);
		goto out;
	}
	f = fopen(path, "rb");
	if (!f) {
		rc = lode__err(err, LODE_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = lode__err(err, LODE_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		rc = lode__err(err, LODE_EIO, "%s: read failed: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*text = buf;
	buf = NULL;
	if (len)
		*len = n;
out:
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

char *lode__dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return lode__strdup(".");
	if (slash == path)
		return lode__strdup("/");
	return lode__sprintf("%.*s", (int)(slash - path), path);
}

char *lode__path_join(const char *dir, const char *rel)
{
	if (rel[0] == '/' || !dir || !dir[0] || strcmp(dir, ".") == 0)
		return lode__strdup(rel);
	return lode__sprintf("%s/%s", dir, rel);
}

void lode__hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The progress of a child reading an untrusted bundle (pipeline/untrusted.c): the work
   done so far, sent whole each time so that a lost write loses nothing. */
static int work_fd = -1;
static uint64_t work_total;

void lode__work_fd(int fd)
{
	work_fd = fd;
	if (fd >= 0) { /* a slow reader of the progress must never block the work */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		work_total = 0;
	}
}

void lode__work_expect(uint64_t units)
{
	uint64_t v = LODE__WORK_EXPECTED | (units & ~LODE__WORK_EXPECTED);

	if (work_fd >= 0) {
		ssize_t ignored = write(work_fd, &v, sizeof v);
		(void)ignored;
	}
}

void lode__work_done(uint64_t units)
{
	work_total += units;
	if (work_fd >= 0) {
		/* 8 bytes, fewer than PIPE_BUF: written whole or not at all (a full pipe). */
		ssize_t ignored = write(work_fd, &work_total, sizeof work_total);
		(void)ignored;
	}
}

void lode__heartbeat(void)
{
	lode__work_done(1);
}

char *lode__printable(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (!s)
		s = "(null)";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int ctl = *p < 0x20 || *p == 0x7f;
		size_t need = ctl ? 4 : 1;
		if (o + need + 4 > cap) { /* room for "..." and the NUL */
			memcpy(out + o, "...", 4);
			return out;
		}
		if (ctl)
			snprintf(out + o, 5, "\\x%02x", *p);
		else
			out[o] = (char)*p;
		o += need;
	}
	out[o] = '\0';
	return out;
}

int lode__has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

char *lode__join_lines(const char *const *texts, size_t n, int *oom)
{
	char *out = NULL;
	int any = 0;

	*oom = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = texts[i] ? texts[i] : "";
		char *joined = lode__sprintf("%s%s%s", out ? out : "", i ? "\n" : "", t);

		any |= t[0] != '\0';
		free(out);
		if (!(out = joined)) {
			*oom = 1;
			return NULL;
		}
	}
	if (!any) {
		free(out);
		out = NULL;
	}
	return out;
}

char *lode__iso_utc(time_t t)
{
	char buf[32];
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return lode__strdup(buf);
}

void lode__bound_heap_slack(size_t max_memory, int threads)
{
	const char *t = getenv("GLIBC_TUNABLES");
	size_t cap;

	if (!max_memory || !t || strcmp(t, LODE_MALLOC_TUNABLES) != 0)
		return;
	if (threads <= 0)
		threads = lode__default_threads();
	cap = max_memory / 8 / ((size_t)threads + 1);
#ifdef M_TOP_PAD
	if (cap < LODE_MALLOC_TOP_PAD)
		mallopt(M_TOP_PAD, (int)cap);
#endif
}

int lode__default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int lode__append(char **acc, const char *sep, const char *s)
{
	char *n = *acc ? lode__sprintf("%s%s%s", *acc, sep, s) : lode__strdup(s);

	if (!n)
		return -1;
	free(*acc);
	*acc = n;
	return 0;
}

void lode__advise_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t)2 << 20, start = ((uintptr_t)p + huge - 1) & ~(huge - 1),
			end = ((uintptr_t)p + bytes) & ~(huge - 1);

	if (bytes >= 2 * huge && end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
	(void)p;
	(void)bytes;
#endif
}

struct lode__prefault {
	pthread_t thread;
	unsigned char *p[2];
	size_t n[2];
};

/* MADV_POPULATE_WRITE (Linux 5.14) faults the pages in writable and leaves their
   contents alone, so another thread may write the buffer meanwhile.  Where the kernel
   lacks it nothing is done: the pages are faulted in as they are first written. */
static void *prefault_main(void *arg)
{
#ifdef MADV_POPULATE_WRITE
	const struct lode__prefault *h = arg;
	const long page = sysconf(_SC_PAGESIZE);
	const uintptr_t step = page > 0 ? (uintptr_t)page : 4096;

	for (int k = 0; k < 2; k++) {
		const uintptr_t start = ((uintptr_t)h->p[k] + step - 1) & ~(step - 1),
				end = ((uintptr_t)h->p[k] + h->n[k]) & ~(step - 1);
		if (h->n[k] && end > start)
			(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
	}
#else
	(void)arg;
#endif
	return NULL;
}

struct lode__prefault *lode__prefault_start(void *p1, size_t n1, void *p2, size_t n2)
{
	struct lode__prefault *h;

	n1 = p1 ? n1 : 0;
	n2 = p2 ? n2 : 0;
	if (n1 + n2 < ((size_t)8 << 20) || !(h = malloc(sizeof *h)))
		return NULL;
	*h = (struct lode__prefault){.p = {p1, p2}, .n = {n1, n2}};
	if (pthread_create(&h->thread, NULL, prefault_main, h) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

void lode__prefault_join(struct lode__prefault *h)
{
	if (!h)
		return;
	pthread_join(h->thread, NULL);
	free(h);
}
