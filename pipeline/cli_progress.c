/*
 * cli_progress.c -- the lode command's progress bar and interruption: a bar drawn on
 * stderr (only when asked: stderr a terminal, no -q), and Ctrl-C, a scheduler's SIGTERM
 * or a hang-up ending the command at once, its temporary files removed first
 * (lode_cleanup_on_signal).  It decides nothing about when to draw: the commands do.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_progress.h"
#include "lode.h"

static volatile sig_atomic_t bar_open; /* a bar's line is drawn and not ended */

/* Remove the temporary files (and end a child reading a bundle), say so, then end as
   the signal would: the shell and the scheduler see the signal. */
static void on_signal(int sig)
{
	static const char msg[] = "lode: interrupted: the files being written were removed\n";

	lode_cleanup_on_signal();
	if (bar_open && write(STDERR_FILENO, "\n", 1) < 0)
		bar_open = 0;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		bar_open = 0;
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns: the signal is blocked until then */
}

void cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask); /* a second signal waits for the cleaning to finish */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void cli_bar_start(cli_bar *b, int quiet)
{
	*b = (cli_bar){.last = -1, .draw = !quiet && isatty(STDERR_FILENO), .t0 = now()};
	b->shown = b->t0;
}

/* Seconds as m:ss, or h:mm:ss from an hour on. */
static const char *clock_text(char *buf, size_t n, double s)
{
	long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;

	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
	return buf;
}

int cli_draw_bar(double f, const char *label, void *user)
{
	cli_bar *b = user;
	int pct, filled;
	double t = 0, elapsed;
	char el[24], eta[24], left[40] = "";

	if (!b->draw || b->last >= 100) /* drawn to its end: a later call draws nothing */
		return 0;
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	pct = (int)(f * 100.0);
	filled = pct * 24 / 100;
	t = now();
	if (b->t0 <= 0) /* a bar not started with cli_bar_start: its clock starts now */
		b->t0 = b->shown = t;
	if (pct == b->last && t - b->shown < 1.0)
		return 0;
	b->last = pct;
	b->shown = t;
	elapsed = t - b->t0;
	clock_text(el, sizeof el, elapsed);
	if (pct >= 100)
		snprintf(left, sizeof left, " took %s", el);
	else if (f >= 0.01 && elapsed >= 2.0)
		snprintf(left, sizeof left, " ETA %s", clock_text(eta, sizeof eta, elapsed * (1 - f) / f));
	else
		snprintf(left, sizeof left, " ETA -:--");
	if (pct >= 100)
		fprintf(stderr, "\r[%.*s] %3d%% %-20.20s%s\033[K", 24, "########################", pct,
			label ? label : "", left);
	else
		fprintf(stderr, "\r[%.*s%*s] %3d%% %-20.20s %s%s\033[K", filled, "########################",
			24 - filled, "", pct, label ? label : "", el, left);
	bar_open = pct < 100;
	if (pct >= 100)
		fputc('\n', stderr);
	fflush(stderr);
	return 0;
}

void cli_bar_end(const cli_bar *b)
{
	if (b->last >= 0 && b->last < 100)
		fputc('\n', stderr);
	bar_open = 0;
}
