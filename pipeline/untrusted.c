/*
 * untrusted.c -- reading an untrusted bundle in a child process: fork, watch the
 * child's heartbeat, carry its status, error record and report back through a pipe,
 * and report the bundle damaged when the child crashes or stalls; and ending the child
 * with its parent (a signal, or the parent's death) after it removed its temporary
 * files (lode_cleanup_on_signal).  What the child does (verify, ls, extract) is the job
 * given to it; this file knows nothing of bundles but their path, for messages.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "error.h"
#include "lode.h"
#include "publish.h"
#include "untrusted.h"
#include "util.h"

/* Move exactly n bytes to (writing) or from fd, across short transfers and EINTR. */
static int all_bytes(int fd, void *buf, size_t n, int writing)
{
	char *p = buf;

	while (n > 0) {
		ssize_t k = writing ? write(fd, p, n) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	return all_bytes(fd, (void *)buf, n, 1);
}

static int read_all(int fd, void *buf, size_t n)
{
	return all_bytes(fd, buf, n, 0);
}

/*
 * A hook the fuzz targets define (tests/fuzz/fuzz_bundle.c): called in the child right
 * after fork, so that a crash there is treated as lode treats it in production (the
 * parent reports the bundle damaged) rather than as a crash of the fuzzer.  Weak:
 * absent from lode itself.
 */
extern void lode__child_hook(void) __attribute__((weak));

/* The child reading a bundle now, for lode_cleanup_on_signal (0: none). */
static volatile sig_atomic_t reading_child;

/* The child's SIGTERM, SIGINT and SIGHUP: remove its temporary files, then end as the
   signal would. */
static void child_on_signal(int sig)
{
	lode__pub_abandon_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* In the child: its signals end it cleanly, and so does its parent's death. */
static void child_signals(pid_t parent)
{
	struct sigaction sa;
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = child_on_signal;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
	if (getppid() != parent) /* the parent died before that */
		raise(SIGTERM);
}

void lode_cleanup_on_signal(void)
{
	pid_t c = (pid_t)reading_child;

	if (c > 0) {
		/* Let it remove its own temporary files (child_on_signal), for up to 2 s. */
		struct timespec tick = {0, 10 * 1000 * 1000};
		int gone = 0;
		kill(c, SIGTERM);
		for (int i = 0; i < 200 && !gone; i++) {
			gone = waitpid(c, NULL, WNOHANG) != 0;
			if (!gone)
				nanosleep(&tick, NULL);
		}
		if (!gone) {
			kill(c, SIGKILL);
			waitpid(c, NULL, 0);
		}
		reading_child = 0;
	}
	lode__pub_abandon_all();
}

/*
 * HDF5 1.10 can crash (a damaged global heap makes H5HG_read copy past its buffer; a
 * damaged link index makes H5Literate free a wild pointer) or spin for ever (a heap
 * loop in H5HG_read) on hostile metadata; ncdump, GDAL and h5py crash on such files
 * too.  A bundle is untrusted input, so verify, ls and extract read it in a child
 * process.  The child sends a heartbeat as it goes (lode__heartbeat); if it crashes,
 * or is silent for LODE_WATCHDOG_SECONDS (default 120), the bundle is reported damaged
 * and whatever temporary files the child left in cleanup_dir are removed.
 * LODE_IN_PROCESS=1 (or LODE_VERIFY_IN_PROCESS) runs the job in this process instead.
 */
lode_status lode__contained(const char *bundle_path, lode__job_fn fn, void *arg, char **text, lode_error *err,
			    const char *cleanup_dir)
{
	int fds[2], beat[2], status = 0, timed_out = 0;
	const char *wd = getenv("LODE_WATCHDOG_SECONDS");
	int watchdog = wd && atoi(wd) > 0 ? atoi(wd) : 120;
	pid_t pid, parent;
	uint64_t len = 0;
	lode_status rc;

	*text = NULL;
	if (getenv("LODE_IN_PROCESS") || getenv("LODE_VERIFY_IN_PROCESS"))
		return fn(arg, text, err);
	if (pipe(fds) != 0)
		return fn(arg, text, err);
	if (pipe(beat) != 0) {
		close(fds[0]);
		close(fds[1]);
		return fn(arg, text, err);
	}
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		close(beat[0]);
		close(beat[1]);
		return fn(arg, text, err);
	}
	if (pid == 0) {
		char *out = NULL;
		lode_error e = {0};
		int32_t code;

		close(fds[0]);
		close(beat[0]);
		child_signals(parent);
		if (lode__child_hook)
			lode__child_hook();
		lode__heartbeat_fd(beat[1]);
		code = (int32_t)fn(arg, &out, &e);
		len = out ? strlen(out) : 0;
		if (write_all(fds[1], &code, sizeof code) || write_all(fds[1], &e, sizeof e) ||
		    write_all(fds[1], &len, sizeof len) || (len && write_all(fds[1], out, (size_t)len)))
			_exit(3);
		_exit(0);
	}
	reading_child = (sig_atomic_t)pid;
	close(fds[1]);
	close(beat[1]);
	/* Watch the heartbeat until the child closes it (exit or crash) or falls silent. */
	for (;;) {
		struct pollfd pfd = {beat[0], POLLIN, 0};
		char buf[256];
		int r = poll(&pfd, 1, watchdog * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (read(beat[0], buf, sizeof buf) <= 0)
			break;
	}
	close(beat[0]);
	{
		int32_t code = 0;
		lode_error e = {0};
		int ok = !timed_out && read_all(fds[0], &code, sizeof code) == 0 &&
			 read_all(fds[0], &e, sizeof e) == 0 && read_all(fds[0], &len, sizeof len) == 0 &&
			 len < ((uint64_t)1 << 32);
		char *out = ok ? malloc((size_t)len + 1) : NULL;

		if (out && (len == 0 || read_all(fds[0], out, (size_t)len) == 0)) {
			out[len] = '\0';
			*text = out;
		} else {
			free(out);
			ok = 0;
		}
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		reading_child = 0;
		if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			e.message[sizeof e.message - 1] = '\0';
			*err = e;
			if (code != LODE_OK && *text && !**text) { /* no report: nothing to hand back */
				free(*text);
				*text = NULL;
			}
			return (lode_status)code;
		}
	}
	/* What the child left: its private folders in cleanup_dir (its process is gone). */
	if (cleanup_dir)
		lode__pub_clean_stale(cleanup_dir, NULL);
	if (timed_out)
		rc = lode__err(err, LODE_EDAMAGED,
			       "%s: damaged: the HDF5 library stopped making progress reading it (no "
			       "progress for %d s); "
			       "its internal structure is corrupt or hostile",
			       bundle_path, watchdog);
	else
		rc = lode__err(
		    err, LODE_EDAMAGED,
		    "%s: damaged: reading it crashed the HDF5 library (%s %d): its internal structure is "
		    "corrupt or hostile; do not open it with other tools either",
		    bundle_path, WIFSIGNALED(status) ? "signal" : "exit status",
		    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return rc;
}
