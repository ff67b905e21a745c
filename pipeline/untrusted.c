/*
 * untrusted.c -- reading an untrusted bundle in a child process: fork, watch the work
 * the child reports (util.h: bytes inflated or read), bound that work and the child's
 * CPU time by the file's size, carry its status, error record and report back through a
 * pipe, and report the bundle damaged when the child crashes, stops making progress or
 * overruns its bounds; and ending the child with its parent (a signal, or the parent's
 * death) after it removed its temporary files (lode_cleanup_on_signal).  What the child
 * does (verify, ls, extract) is the job given to it; this file knows nothing of bundles
 * but their path (for messages) and size (for the bounds).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

/* ---- the bounds (docs/cli.md, "Reading an untrusted bundle") ---- */

#define DEFLATE_MAX_RATIO 1032ull /* bytes deflate inflates from one stored byte, at most */
#define MIB               (1024ull * 1024ull)

/* The most work a file of size bytes justifies: each stored byte inflated at most 1032
   times, and counted twice (inflated, then copied out), plus 64 MiB for the rest. */
static uint64_t work_budget(uint64_t size)
{
	return 2 * DEFLATE_MAX_RATIO * size + 64 * MIB;
}

/* CPU seconds a file of size bytes justifies: the watchdog's period, plus 16 s per MiB
   (the time to inflate, hash and write 1032 MiB, deflate's most, at 64 MiB/s). */
static rlim_t cpu_budget(uint64_t size, int watchdog)
{
	return (rlim_t)watchdog + (rlim_t)((size * 16 + MIB - 1) / MIB);
}

/*
 * The memory the child may map for data (RLIMIT_DATA): the reader's --max-memory plus
 * 512 MiB for the libraries, the threads' stacks and HDF5's own buffers (extract of a
 * small bundle lode wrote needs about 32 MiB of that).  HDF5 1.10's type conversion
 * allocates and clears a buffer of the length a variable-length value claims
 * (H5T__conv_vlen) before it reads the value, so one damaged length in an attribute
 * made a reader take 4 GiB; past this bound the allocation fails and the read fails
 * with it.  0 (no bound) under AddressSanitizer, whose shadow memory the limit would
 * count: there the sanitizer's max_allocation_size_mb does it (the Makefile,
 * tests/fuzz/run.sh).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LODE__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define LODE__SANITIZED 1
#endif
#endif
static rlim_t data_budget(const lode_read_options *opt)
{
#ifdef LODE__SANITIZED
	(void)opt;
	return 0;
#else
	size_t m = opt && opt->max_memory ? opt->max_memory : LODE_READ_MEMORY_DEFAULT;
	return (rlim_t)m + (rlim_t)(512 * MIB);
#endif
}

/* ---- the child ---- */

/* In the child: its signals and its parent's death end it cleanly (child_signals), the
   CPU and memory bounds (data 0: none); then the job, its work reported on work_fd and
   its outcome on out_fd. */
__attribute__((noreturn)) static void child(lode__job_fn fn, void *arg, int out_fd, int work_fd, rlim_t cpu,
					    rlim_t data, pid_t parent, const sigset_t *mask)
{
	struct rlimit rl = {cpu, cpu + 5}, dl = {data, data}, had;
	char *out = NULL;
	lode_error e = {0};
	int32_t code;
	uint64_t len;

	child_signals(parent);
	pthread_sigmask(SIG_SETMASK, mask, NULL); /* its handlers are in place: let them come */
	setrlimit(RLIMIT_CPU, &rl);
	/* a lower limit of the user's (ulimit -d) stays */
	if (data && getrlimit(RLIMIT_DATA, &had) == 0 &&
	    (had.rlim_cur == RLIM_INFINITY || had.rlim_cur > data))
		setrlimit(RLIMIT_DATA, &dl);
	if (lode__child_hook)
		lode__child_hook();
	lode__work_fd(work_fd);
	code = (int32_t)fn(arg, &out, &e);
	/* The parent reads the outcome once the work pipe is closed. */
	lode__work_fd(-1);
	close(work_fd);
	len = out ? strlen(out) : 0;
	if (write_all(out_fd, &code, sizeof code) || write_all(out_fd, &e, sizeof e) ||
	    write_all(out_fd, &len, sizeof len) || (len && write_all(out_fd, out, (size_t)len)))
		_exit(3);
	_exit(0);
}

/* ---- the parent ---- */

typedef enum verdict { ENDED, STALLED, OVERRAN, STOPPED } verdict;

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Where the child's progress goes: the reader's options' callback, and the work the
   child said it expects (0: not yet). */
typedef struct progress_sink {
	const lode_read_options *opt;
	uint64_t expected;
	const char *label; /* the bundle's file name */
} progress_sink;

/* Report the child's work as a fraction of what it expects, below 1 until it ends. */
static void show_progress(progress_sink *ps, uint64_t done)
{
	double f;

	if (!ps || !ps->opt || !ps->opt->progress || !ps->expected)
		return;
	f = (double)done / (double)ps->expected;
	ps->opt->progress(f < 0.99 ? f : 0.99, ps->label, ps->opt->progress_user);
}

/* Watch the work the child reports until it closes the pipe (done, or dead), or its work
   stops growing for watchdog seconds or exceeds budget.  A signal that ends this process
   ends the child from its handler (lode_cleanup_on_signal), closing the pipe.  The work
   it expects (a value with LODE__WORK_EXPECTED set) goes to ps. */
static verdict watch(int fd, int watchdog, uint64_t budget, uint64_t *done, progress_sink *ps)
{
	double last = seconds();

	*done = 0;
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, 200);

		if (r > 0) {
			uint64_t v[512]; /* whole values: the child writes 8 bytes at a time */
			ssize_t n = read(fd, v, sizeof v);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				return ENDED;
			for (ssize_t i = 0; i < n / (ssize_t)sizeof *v; i++) {
				if (v[i] & LODE__WORK_EXPECTED) {
					if (ps)
						ps->expected = v[i] & ~LODE__WORK_EXPECTED;
				} else if (v[i] != *done) {
					*done = v[i];
					last = seconds();
				}
			}
			show_progress(ps, *done);
			if (*done > budget)
				return OVERRAN;
		} else if (r < 0 && errno != EINTR) {
			return ENDED;
		}
		if (seconds() - last >= watchdog)
			return STALLED;
	}
}

/* Read the child's outcome from fd: its status, error record and text. */
static int read_outcome(int fd, int32_t *code, lode_error *e, char **text)
{
	uint64_t len = 0;
	char *out;

	if (read_all(fd, code, sizeof *code) || read_all(fd, e, sizeof *e) ||
	    read_all(fd, &len, sizeof len) || len >= ((uint64_t)1 << 32) || !(out = malloc((size_t)len + 1)))
		return -1;
	if (len && read_all(fd, out, (size_t)len)) {
		free(out);
		return -1;
	}
	out[len] = '\0';
	*text = out;
	return 0;
}

/* The error for a child that did not end well. */
static lode_status failure(const char *bundle_path, verdict v, int status, int watchdog, uint64_t size,
			   rlim_t cpu, const char *cleanup_dir, lode_error *err)
{
	if (v == STOPPED)
		return lode__err(err, LODE_EIO, "%s: interrupted: stopped reading it%s", bundle_path,
				 cleanup_dir ? ", the files being written were removed" : "");
	if (v == STALLED)
		return lode__err(err, LODE_EDAMAGED,
				 "%s: damaged: the HDF5 library stopped making progress reading it (no "
				 "progress for %d s); its internal structure is corrupt or hostile",
				 bundle_path, watchdog);
	if (v == OVERRAN)
		return lode__err(
		    err, LODE_EDAMAGED,
		    "%s: damaged: reading it took more work than a file of %llu bytes can justify "
		    "(over %llu MB inflated or read; deflate makes at most 1032 bytes of one); its "
		    "internal structure is corrupt or hostile",
		    bundle_path, (unsigned long long)size, (unsigned long long)(work_budget(size) / MIB));
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
		return lode__err(
		    err, LODE_EDAMAGED,
		    "%s: damaged: reading it took more than %llu s of CPU time, more than a file "
		    "of %llu bytes can justify; its internal structure is corrupt or hostile",
		    bundle_path, (unsigned long long)cpu, (unsigned long long)size);
	return lode__err(err, LODE_EDAMAGED,
			 "%s: damaged: reading it crashed the HDF5 library (%s %d): its internal structure "
			 "is corrupt or hostile; do not open it with other tools either",
			 bundle_path, WIFSIGNALED(status) ? "signal" : "exit status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/*
 * HDF5 1.10 can crash (a damaged global heap makes H5HG_read copy past its buffer; a
 * damaged link index makes H5Literate free a wild pointer) or spin for ever (a heap
 * loop in H5HG_read) on hostile metadata; ncdump, GDAL and h5py crash on such files
 * too.  A bundle is untrusted input, so verify, ls and extract read it in a child
 * process, which reports its work as it goes (lode__work_done: bytes inflated or read).
 * The child is killed, and the bundle reported damaged, when it crashes, when its work
 * stops growing for LODE_WATCHDOG_SECONDS (default 120), when the work exceeds what the
 * file's size justifies (work_budget), or when its CPU time does (cpu_budget, a limit
 * the kernel enforces); the private folders it left in cleanup_dir are then removed.
 * Signals are not caught here: the child ends by itself on SIGTERM, SIGINT or SIGHUP,
 * or when this process dies (child_signals), and lode_cleanup_on_signal ends it from
 * this process's handler.  LODE_IN_PROCESS=1 (or LODE_VERIFY_IN_PROCESS) runs the job
 * in this process instead.
 */
lode_status lode__contained(const char *bundle_path, lode__job_fn fn, void *arg, char **text, lode_error *err,
			    const char *cleanup_dir)
{
	return lode__contained_progress(bundle_path, fn, arg, text, err, cleanup_dir, NULL);
}

lode_status lode__contained_progress(const char *bundle_path, lode__job_fn fn, void *arg, char **text,
				     lode_error *err, const char *cleanup_dir, const lode_read_options *opt)
{
	progress_sink ps = {opt, 0, strrchr(bundle_path, '/') ? strrchr(bundle_path, '/') + 1 : bundle_path};
	int fds[2], work[2], status = 0;
	const char *wd = getenv("LODE_WATCHDOG_SECONDS");
	int watchdog = wd && atoi(wd) > 0 ? atoi(wd) : 120;
	struct stat st;
	uint64_t size = stat(bundle_path, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0, done = 0;
	rlim_t cpu = cpu_budget(size, watchdog);
	pid_t pid, parent = getpid(), w;
	sigset_t stop, mask;
	verdict v;

	*text = NULL;
	if (getenv("LODE_IN_PROCESS") || getenv("LODE_VERIFY_IN_PROCESS"))
		return fn(arg, text, err);
	if (pipe(fds) != 0)
		return fn(arg, text, err);
	if (pipe(work) != 0) {
		close(fds[0]);
		close(fds[1]);
		return fn(arg, text, err);
	}
	fflush(NULL);
	/* SIGTERM, SIGINT and SIGHUP wait until reading_child names the child, so that
	   lode_cleanup_on_signal ends it whenever they come (the child lets them in once its
	   own handlers are set). */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &mask);
	pid = fork();
	if (pid < 0) {
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
		close(fds[0]);
		close(fds[1]);
		close(work[0]);
		close(work[1]);
		return fn(arg, text, err);
	}
	if (pid == 0) {
		close(fds[0]);
		close(work[0]);
		child(fn, arg, fds[1], work[1], cpu, data_budget(opt), parent, &mask);
	}
	reading_child = (sig_atomic_t)pid;
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	close(fds[1]);
	close(work[1]);
	v = watch(work[0], watchdog, work_budget(size), &done, &ps);
	close(work[0]);
	if (v != ENDED)
		kill(pid, SIGKILL);
	{
		int32_t code = 0;
		lode_error e = {0};
		int ok = v == ENDED && read_outcome(fds[0], &code, &e, text) == 0;

		close(fds[0]);
		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		reading_child = 0;
		if (w < 0 ||
		    (WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT ||
					     WTERMSIG(status) == SIGHUP)))
			v = STOPPED; /* ended by a signal sent to stop it, not by what it read (reaped
					by lode_cleanup_on_signal, w < 0, from a handler that returned) */
		else if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			e.message[sizeof e.message - 1] = '\0';
			*err = e;
			if (code == LODE_OK && ps.expected && opt && opt->progress)
				opt->progress(1.0, ps.label, opt->progress_user);
			if (code != LODE_OK && *text && !**text) { /* no report: nothing to hand back */
				free(*text);
				*text = NULL;
			}
			return (lode_status)code;
		}
		free(*text);
		*text = NULL;
	}
	/* What the child left: its private folders in cleanup_dir (its process is gone). */
	if (cleanup_dir)
		lode__pub_clean_stale(cleanup_dir, NULL);
	return failure(bundle_path, v, status, watchdog, size, cpu, cleanup_dir, err);
}
