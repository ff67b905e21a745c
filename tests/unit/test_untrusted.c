/*
 * test_untrusted.c -- the child process that reads an untrusted bundle
 * (pipeline/untrusted.c), through lode__contained with jobs that behave as a hostile
 * file can make a reader behave: one that ends, one that stalls (killed after
 * LODE_WATCHDOG_SECONDS), one whose work outgrows what the file's size justifies, one
 * that burns CPU while reporting progress (killed by the CPU bound), one that crashes;
 * one killed by the watchdog while it writes in a private folder (publish.h), which is
 * then removed (and only it: a folder of another process that still runs stays); and
 * one ended by a SIGTERM whose handler calls lode_cleanup_on_signal, as the lode
 * command's does: the child removes its private folder itself and ends, and the call
 * returns "interrupted".  And the progress a child reports: its work over the work it
 * said it expects, below 1 while it runs, 1 once it ended well, never going back.  And
 * the child's memory bound: an allocation past --max-memory plus 512 MiB fails.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "lode.h"
#include "publish.h"
#include "untrusted.h"
#include "util.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static lode_status job_ok(void *arg, char **text, lode_error *err)
{
	(void)arg;
	lode__work_done(1000);
	*text = lode__strdup("report line\n");
	return lode__err(err, LODE_EDAMAGED, "the job's own verdict");
}

static lode_status job_stall(void *arg, char **text, lode_error *err)
{
	(void)arg;
	(void)text;
	(void)err;
	lode__work_done(1);
	sleep(60); /* as HDF5 looping for ever on a damaged heap: no work reported */
	return LODE_OK;
}

static lode_status job_overrun(void *arg, char **text, lode_error *err)
{
	(void)arg;
	(void)text;
	(void)err;
	for (int i = 0; i < 100000; i++) { /* 1 MiB "inflated" each time, 100 GiB in all */
		lode__work_done(1u << 20);
		usleep(100);
	}
	return LODE_OK;
}

static lode_status job_spin(void *arg, char **text, lode_error *err)
{
	volatile uint64_t x = 0;

	(void)arg;
	(void)text;
	(void)err;
	for (;;) { /* steady, tiny progress, and all the CPU it can get */
		for (int i = 0; i < 1000000; i++)
			x += (uint64_t)i;
		lode__work_done(1);
	}
	return LODE_OK;
}

static lode_status job_crash(void *arg, char **text, lode_error *err)
{
	(void)arg;
	(void)text;
	(void)err;
	signal(SIGSEGV, SIG_DFL); /* cmocka's handler, inherited, would go on testing here */
	raise(SIGSEGV);
	return LODE_OK;
}

/* Begins writing DIR/a.tif as extract does (a private folder .a.tif.tmp-HOST-PID-XXXXXX
   holding a.tif, and a.tif.part, a file of a name lode does not know, as a library
   writing a.tif might make), DIR being arg, then goes on reporting work until it is
   ended. */
static lode_status job_writing(void *arg, char **text, lode_error *err)
{
	char dest[512], part[1024];
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	int fd;

	(void)text;
	snprintf(dest, sizeof dest, "%s/a.tif", (const char *)arg);
	if (lode__pub_begin(&pub, dest, err) != LODE_OK || (fd = lode__pub_create(&pub, err)) < 0)
		return LODE_EIO;
	close(fd);
	snprintf(part, sizeof part, "%s.part", pub.path);
	if ((fd = open(part, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return LODE_EIO;
	close(fd);
	for (;;) {
		lode__work_done(1);
		usleep(10000);
	}
	return LODE_OK;
}

/* Writes as job_writing, then reports no more work (killed by the watchdog). */
static lode_status job_writing_stalls(void *arg, char **text, lode_error *err)
{
	char dest[512];
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	int fd;

	(void)text;
	snprintf(dest, sizeof dest, "%s/a.tif", (const char *)arg);
	if (lode__pub_begin(&pub, dest, err) != LODE_OK || (fd = lode__pub_create(&pub, err)) < 0)
		return LODE_EIO;
	close(fd);
	lode__work_done(1);
	sleep(60);
	return LODE_OK;
}

/* How many entries folder dir holds, "." and ".." aside; name gets the first's. */
static int entries(const char *dir, char *name, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int count = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && count++ == 0 && name)
			snprintf(name, n, "%s", e->d_name);
	closedir(d);
	return count;
}

/* Has the private folder of a writer come in dir?  Waits up to 5 s. */
static int folder_came(const char *dir)
{
	for (int i = 0; i < 500; i++) {
		if (entries(dir, NULL, 0) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

static volatile sig_atomic_t got_signal;

/* As the lode command's handler, but returning: the test goes on. */
static void cleanup_handler(int sig)
{
	got_signal = sig;
	lode_cleanup_on_signal();
}

typedef struct signal_at {
	pthread_t target;
	const char *dir;
} signal_at;

/* SIGTERM to the thread in lode__contained once the child's private folder is there. */
static void *send_sigterm(void *arg)
{
	signal_at *s = arg;

	if (folder_came(s->dir))
		pthread_kill(s->target, SIGTERM);
	return NULL;
}

/* Expects 4 MB of work and does it in 64 steps, slowly enough to be seen. */
static lode_status job_progressing(void *arg, char **text, lode_error *err)
{
	struct timespec pause = {0, 2 * 1000 * 1000};

	(void)arg;
	(void)err;
	lode__work_expect(4u << 20);
	for (int i = 0; i < 64; i++) {
		lode__work_done(1u << 16);
		nanosleep(&pause, NULL);
	}
	*text = NULL;
	return LODE_OK;
}

typedef struct seen {
	int calls, back;
	double first, last, before_last;
	char label[64];
} seen;

static int record(double f, const char *label, void *user)
{
	seen *s = user;

	if (s->calls && f < s->last)
		s->back++;
	if (!s->calls)
		s->first = f;
	s->before_last = s->last;
	s->last = f;
	s->calls++;
	snprintf(s->label, sizeof s->label, "%s", label);
	return 0;
}

static void child_progress_reaches_its_parent(void **state)
{
	lode_error err = {0};
	char *text = NULL;
	seen s = {0};
	lode_read_options opt = {.progress = record, .progress_user = &s};

	(void)state;
	assert_int_equal(
	    lode__contained_progress("/nonexistent/b.nc", job_progressing, NULL, &text, &err, NULL, &opt),
	    LODE_OK);
	assert_true(s.calls >= 3);
	assert_int_equal(s.back, 0);
	assert_true(s.first < 0.5);
	assert_true(s.before_last > 0.5 && s.before_last <= 0.99);
	assert_true(s.last == 1.0);
	assert_string_equal(s.label, "b.nc");
	free(text);
	/* Without a callback, or when the job fails, nothing more is said. */
	assert_int_equal(
	    lode__contained_progress("/nonexistent/b.nc", job_progressing, NULL, &text, &err, NULL, NULL),
	    LODE_OK);
	free(text);
	memset(&s, 0, sizeof s);
	assert_int_equal(lode__contained_progress("/nonexistent/b.nc", job_ok, NULL, &text, &err, NULL, &opt),
			 LODE_EDAMAGED);
	assert_int_equal(s.calls, 0);
	free(text);
}

/* Allocates (and touches) 32 MiB, then asks for 1 GiB: the second must fail in a child
   bounded to 64 MiB + 512 MiB of data. */
static lode_status job_allocating(void *arg, char **text, lode_error *err)
{
	const size_t small = (size_t)32 << 20, big = (size_t)1 << 30;
	unsigned char *a = malloc(small), *b;

	(void)arg;
	(void)text;
	if (!a)
		return lode__err(err, LODE_EIO, "32 MiB refused");
	memset(a, 1, small);
	lode__work_done(small);
	b = malloc(big);
	free(a);
	if (b) {
		free(b);
		return lode__err(err, LODE_EIO, "1 GiB granted");
	}
	return lode__err(err, LODE_ENOMEM, "1 GiB refused");
}

static void child_memory_is_bounded(void **state)
{
	lode_error err = {0};
	char *text = NULL;
	lode_read_options opt = {.max_memory = (size_t)64 << 20};

	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip(); /* no RLIMIT_DATA under ASan (its shadow memory); max_allocation_size_mb does it */
#endif
	assert_int_equal(
	    lode__contained_progress("/nonexistent/b.nc", job_allocating, NULL, &text, &err, NULL, &opt),
	    LODE_ENOMEM);
	assert_string_equal(err.message, "1 GiB refused");
	free(text);
	/* The bound follows --max-memory: with 2 GiB, 1 GiB is granted. */
	opt.max_memory = (size_t)2 << 30;
	assert_int_equal(
	    lode__contained_progress("/nonexistent/b.nc", job_allocating, NULL, &text, &err, NULL, &opt),
	    LODE_EIO);
	assert_string_equal(err.message, "1 GiB granted");
	free(text);
}

static void ending_job_hands_back_its_outcome(void **state)
{
	lode_error err = {0};
	char *text = NULL;

	(void)state;
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_ok, NULL, &text, &err, NULL),
			 LODE_EDAMAGED);
	assert_string_equal(err.message, "the job's own verdict");
	assert_non_null(text);
	assert_string_equal(text, "report line\n");
	free(text);
}

static void stalled_job_is_killed(void **state)
{
	lode_error err = {0};
	char *text = NULL;
	double t0 = now();

	(void)state;
	setenv("LODE_WATCHDOG_SECONDS", "1", 1);
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_stall, NULL, &text, &err, NULL),
			 LODE_EDAMAGED);
	unsetenv("LODE_WATCHDOG_SECONDS");
	assert_null(text);
	assert_non_null(strstr(err.message, "/nonexistent/b.nc: damaged: "));
	assert_non_null(strstr(err.message, "no progress for 1 s"));
	assert_true(now() - t0 < 10);
}

static void overrunning_job_is_killed(void **state)
{
	lode_error err = {0};
	char *text = NULL;
	double t0 = now();

	(void)state;
	/* A file of 0 bytes justifies 64 MiB of work. */
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_overrun, NULL, &text, &err, NULL),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "more work than a file of 0 bytes can justify"));
	assert_true(now() - t0 < 10);
}

static void spinning_job_meets_the_cpu_bound(void **state)
{
	lode_error err = {0};
	char *text = NULL;
	double t0 = now();

	(void)state;
	/* A file of 0 bytes justifies the watchdog's seconds of CPU time: 1 here. */
	setenv("LODE_WATCHDOG_SECONDS", "1", 1);
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_spin, NULL, &text, &err, NULL),
			 LODE_EDAMAGED);
	unsetenv("LODE_WATCHDOG_SECONDS");
	assert_non_null(strstr(err.message, "more than 1 s of CPU time"));
	assert_true(now() - t0 < 20);
}

static void crashing_job_is_a_verdict(void **state)
{
	lode_error err = {0};
	char *text = NULL;

	(void)state;
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_crash, NULL, &text, &err, NULL),
			 LODE_EDAMAGED);
	assert_non_null(strstr(err.message, "crashed the HDF5 library (signal 11)"));
}

static void killed_child_leaves_no_folder(void **state)
{
	char dir[] = "/tmp/lode-test-untrusted.XXXXXX", host[128], other[600], name[256];
	lode_error err = {0};
	char *text = NULL;
	struct stat st;
	int lockfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* The private folder of another writer that still runs (our parent) must stay. */
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "host");
	host[sizeof host - 1] = '\0';
	host[strcspn(host, "./")] = '\0';
	snprintf(other, sizeof other, "%s/.b.tif.tmp-%s-%ld-abcdef", dir, host[0] ? host : "host",
		 (long)getppid());
	assert_int_equal(mkdir(other, 0700), 0);
	/* A live writer holds the lock on its folder (lode__pub_begin). */
	lockfd = open(other, O_RDONLY | O_DIRECTORY);
	assert_true(lockfd >= 0);
	assert_int_equal(flock(lockfd, LOCK_EX | LOCK_NB), 0);
	setenv("LODE_WATCHDOG_SECONDS", "1", 1);
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_writing_stalls, dir, &text, &err, dir),
			 LODE_EDAMAGED);
	unsetenv("LODE_WATCHDOG_SECONDS");
	close(lockfd);
	assert_non_null(strstr(err.message, "no progress for 1 s"));
	/* The child's .a.tif.tmp-HOST-PID-XXXXXX is gone, the other writer's stays. */
	assert_int_equal(entries(dir, name, sizeof name), 1);
	assert_string_equal(name, strrchr(other, '/') + 1);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(rmdir(other), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void sigterm_ends_the_child_which_removes_its_folder(void **state)
{
	char dir[] = "/tmp/lode-test-untrusted.XXXXXX";
	lode_error err = {0};
	char *text = NULL;
	struct sigaction sa, old;
	signal_at at;
	pthread_t t;
	double t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cleanup_handler;
	sigfillset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old);
	got_signal = 0;
	at = (signal_at){pthread_self(), dir};
	t0 = now();
	assert_int_equal(pthread_create(&t, NULL, send_sigterm, &at), 0);
	/* no cleanup folder: the parent sweeps nothing, what is gone the child removed */
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_writing, dir, &text, &err, NULL), LODE_EIO);
	pthread_join(t, NULL);
	assert_true(now() - t0 < 5);
	assert_int_equal(got_signal, SIGTERM);
	assert_non_null(strstr(err.message, "/nonexistent/b.nc: interrupted"));
	assert_null(text);
	/* The folder is empty again: the child removed its .a.tif.tmp-HOST-PID-XXXXXX, with
	   the file of a name it does not know in it. */
	assert_int_equal(entries(dir, NULL, 0), 0);
	assert_int_equal(rmdir(dir), 0);
	/* lode__contained left the signal's handling as it was. */
	{
		struct sigaction now_sa;
		sigaction(SIGTERM, NULL, &now_sa);
		assert_true(now_sa.sa_handler == cleanup_handler);
	}
	sigaction(SIGTERM, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ending_job_hands_back_its_outcome),
	    cmocka_unit_test(child_progress_reaches_its_parent),
	    cmocka_unit_test(child_memory_is_bounded),
	    cmocka_unit_test(stalled_job_is_killed),
	    cmocka_unit_test(overrunning_job_is_killed),
	    cmocka_unit_test(spinning_job_meets_the_cpu_bound),
	    cmocka_unit_test(crashing_job_is_a_verdict),
	    cmocka_unit_test(killed_child_leaves_no_folder),
	    cmocka_unit_test(sigterm_ends_the_child_which_removes_its_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
