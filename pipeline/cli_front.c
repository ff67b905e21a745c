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
 * Where: beside this program (the build tree: build/lode, build/lode-full), then in
 * ../libexec/lode from it (make install: PREFIX/bin/lode, PREFIX/libexec/lode/), both
 * found from /proc/self/exe; without /proc, in LODE_LIBEXEC_DIR, where make install puts
 * them.  Never from PATH or the environment.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
