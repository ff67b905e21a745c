/*
 * cli_progress.c -- the lode command's progress bar and interruption: a bar drawn on
 * stderr (only when asked: stderr a terminal, no -q), and Ctrl-C or a scheduler's
 * SIGTERM turned into a request to stop that the library sees through the progress
 * callback.  It decides nothing about when to draw: the commands do.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli_progress.h"

static volatile sig_atomic_t interrupted;

/* The first signal asks the library to stop cleanly: it polls through the progress
   callback, between strips and while hashing, and removes its temporary file.  A second
   one means the first was not heard (lode waiting in a library call that does not
   return, such as a slow network read): it ends lode at once, by the signal. */
static void on_signal(int sig)
{
	if (interrupted) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupted = 1;
}

/* Ctrl-C or a scheduler's SIGTERM stops the run cleanly: the library removes its
   temporary file when the progress callback asks it to stop. */
void cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_draw_bar(double f, const char *label, void *user)
{
	cli_bar *b = user;
	int pct = (int)(f * 100.0 + 0.5), filled = pct * 30 / 100;

	if (interrupted)
		return 1;
	if (!b->draw || pct == b->last)
		return 0;
	b->last = pct;
	fprintf(stderr, "\r[%.*s%*s] %3d%% %-24.24s", filled, "##############################", 30 - filled,
		"", pct, label);
	if (pct >= 100)
		fputc('\n', stderr);
	fflush(stderr);
	return 0;
}

void cli_bar_end(const cli_bar *b)
{
	if (b->last >= 0 && b->last < 100)
		fputc('\n', stderr);
}
