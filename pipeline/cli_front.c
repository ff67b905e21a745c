/*
 * cli_front.c -- main of lode, the program users run: it runs lode-verify for
 * `lode verify` and lode-full for everything else, with the same arguments and
 * environment.  execv keeps the process, so its exit status and signals are the
 * command's own.
 *
 * Why: lode-full links GDAL, whose hundred-odd libraries take 50 ms to load before main
 * runs, a third of the time verify takes on a 100 MB bundle; lode-verify (cli_light.c)
 * does not.  This program links the C library alone and starts in a millisecond.
 *
 * Before it runs them it sets glibc's allocator tunables (GLIBC_TUNABLES) unless the
 * environment already has that variable, set to anything, empty included.  Why: GDAL's
 * block cache and lode's windows fault in hundreds of megabytes, 4 kB at a time with
 * glibc's defaults, and on the 2-core virtual machine of docs/performance.md (issue 19,
 * session 20) the faults were a quarter to a third of a warp's CPU.  LODE_MALLOC_TUNABLES
 * (util.h):
 *  - hugetlb=1: malloc's heaps advised as transparent huge pages (glibc 2.35; a kernel
 *    without them, or older glibc, ignores it), one fault for 2 MB instead of 512;
 *  - mmap_threshold=1 MiB: GDAL's source blocks (64-256 kB) come from the heaps, reused
 *    from block to block, instead of a fresh mapping each, faulted in again;
 *  - top_pad=32 MiB: a heap grows and shrinks by that much more, so memory freed by one
 *    window is there for the next instead of going back to the kernel.
 * Pixels and bundles do not change; the peak memory grows by a few MB a thread, and
 * --max-memory caps the slack (lode__bound_heap_slack).
 *
 * Where: beside this program (the build tree: build/lode, build/lode-full), then in
 * ../libexec/lode from it (make install: PREFIX/bin/lode, PREFIX/libexec/lode/), both
 * found from /proc/self/exe; without /proc, in LODE_LIBEXEC_DIR, where make install puts
 * them.  Never from PATH or the environment.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#ifndef LODE_LIBEXEC_DIR
#define LODE_LIBEXEC_DIR "/usr/local/libexec/lode"
#endif

/* Run dir/name with argv: returns only when that failed, with errno set. */
static void run(const char *dir, const char *name, char **argv, char *path, size_t n)
{
	if (snprintf(path, n, "%s/%s", dir, name) >= (int)n) {
		errno = ENAMETOOLONG;
		return;
	}
	execv(path, argv);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 && strcmp(argv[1], "verify") == 0 ? "lode-verify" : "lode-full";
	char self[PATH_MAX], dirs[2][PATH_MAX + 32], path[PATH_MAX + 64];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	size_t ndirs = 0;
	char *slash;

	if (len > 0) {
		self[len] = '\0';
		if ((slash = strrchr(self, '/'))) {
			*slash = '\0';
			snprintf(dirs[ndirs++], sizeof dirs[0], "%s", self);
			snprintf(dirs[ndirs++], sizeof dirs[0], "%s/../libexec/lode", self);
		}
	}
	if (ndirs == 0)
		snprintf(dirs[ndirs++], sizeof dirs[0], "%s", LODE_LIBEXEC_DIR);
	if (setenv("GLIBC_TUNABLES", LODE_MALLOC_TUNABLES, 0) != 0)
		fprintf(stderr,
			"lode: warning: cannot set GLIBC_TUNABLES (%s): malloc keeps glibc's defaults\n",
			strerror(errno));
	for (size_t i = 0; i < ndirs; i++) {
		run(dirs[i], name, argv, path, sizeof path);
		if (errno != ENOENT) {
			fprintf(stderr, "lode: cannot run %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "lode: cannot find %s in %s%s%s: build it (make) or install lode (make install)\n",
		name, dirs[0], ndirs > 1 ? " or " : "", ndirs > 1 ? dirs[1] : "");
	return 1;
}
