/*
 * test_untrusted.c -- the child process that reads an untrusted bundle
 * (pipeline/untrusted.c), through lode__contained with jobs that behave as a hostile
 * file can make a reader behave: one that ends, one that stalls (killed after
 * LODE_WATCHDOG_SECONDS), one whose work outgrows what the file's size justifies, one
 * that burns CPU while reporting progress (killed by the CPU bound), one that crashes,
 * and one interrupted by SIGTERM, whose temporary files are then removed (and only
 * those: a file of another pid that starts with the same digits stays).
 */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
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

/* Leaves a temporary file named as extract names them, with its own pid, in the folder
   arg, then waits to be stopped. */
static lode_status job_tmpfile(void *arg, char **text, lode_error *err)
{
	char path[512];
	FILE *f;

	(void)text;
	(void)err;
	snprintf(path, sizeof path, "%s/.a.tif.tmp-%ld", (const char *)arg, (long)getpid());
	if ((f = fopen(path, "w")))
		fclose(f);
	for (;;) {
		lode__work_done(1);
		usleep(10000);
	}
	return LODE_OK;
}

static void *send_sigterm(void *arg)
{
	(void)arg;
	usleep(400000);
	kill(getpid(), SIGTERM);
	return NULL;
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

static void sigterm_stops_the_child_and_removes_its_files(void **state)
{
	char dir[] = "/tmp/lode-test-untrusted.XXXXXX", other[600];
	lode_error err = {0};
	char *text = NULL;
	pthread_t t;
	struct stat st;
	double t0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* Another process's file whose pid begins with ours' digits must stay. */
	snprintf(other, sizeof other, "%s/.b.tif.tmp-%ld7", dir, (long)getpid() + 1);
	f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);
	t0 = now();
	assert_int_equal(pthread_create(&t, NULL, send_sigterm, NULL), 0);
	assert_int_equal(lode__contained("/nonexistent/b.nc", job_tmpfile, dir, &text, &err, dir), LODE_EIO);
	pthread_join(t, NULL);
	assert_true(now() - t0 < 5);
	assert_non_null(strstr(err.message, "interrupted"));
	assert_int_equal(stat(other, &st), 0);
	unlink(other);
	/* The folder is empty again: the child's .a.tif.tmp-PID was removed. */
	assert_int_equal(rmdir(dir), 0);
	/* The default action is back. */
	{
		struct sigaction sa;
		sigaction(SIGTERM, NULL, &sa);
		assert_true(sa.sa_handler == SIG_DFL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ending_job_hands_back_its_outcome),
	    cmocka_unit_test(stalled_job_is_killed),
	    cmocka_unit_test(overrunning_job_is_killed),
	    cmocka_unit_test(spinning_job_meets_the_cpu_bound),
	    cmocka_unit_test(crashing_job_is_a_verdict),
	    cmocka_unit_test(sigterm_stops_the_child_and_removes_its_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
