/*
 * fuzz_common.h -- shared by the libFuzzer targets in tests/fuzz/.
 *
 * lode's entry points take file paths, so each input is written to one temporary file
 * per fuzzing process (in $LODE_FUZZ_TMPDIR, else /dev/shm when it is writable, else
 * $TMPDIR, else /tmp) and the file is removed at exit.
 */
#ifndef LODE_FUZZ_COMMON_H
#define LODE_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[4096];

static void fuzz_cleanup(void)
{
	if (fuzz_path[0])
		unlink(fuzz_path);
}

/* Choose the per-process temporary file name once: DIR/lode-fuzz-TAG-PID.SUFFIX */
static void fuzz_tmp_init(const char *tag, const char *suffix)
{
	const char *dir = getenv("LODE_FUZZ_TMPDIR");

	if (!dir || !*dir)
		dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(fuzz_path, sizeof fuzz_path, "%s/lode-fuzz-%s-%ld%s", dir, tag, (long)getpid(), suffix);
	atexit(fuzz_cleanup);
}

/* Replace the temporary file's contents with the input; aborts on I/O failure. */
static void fuzz_write(const unsigned char *data, size_t size)
{
	int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;

	if (fd < 0) {
		fprintf(stderr, "fuzz: %s: %s\n", fuzz_path, strerror(errno));
		abort();
	}
	while (done < size) {
		ssize_t k = write(fd, data + done, size - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "fuzz: writing %s: %s\n", fuzz_path, strerror(errno));
			abort();
		}
		done += (size_t)k;
	}
	if (close(fd) != 0) {
		fprintf(stderr, "fuzz: closing %s: %s\n", fuzz_path, strerror(errno));
		abort();
	}
}

#endif
