/*
 * cli_progress.c -- the lode command's progress bar and interruption: a bar drawn on
 * stderr (only when asked: stderr a terminal, no -q), and Ctrl-C, a scheduler's SIGTERM
 * or a hang-up ending the command at once, its temporary files removed first
 * (lode_cleanup_on_signal).  It decides nothing about when to draw: the commands do.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

int cli_draw_bar(double f, const char *label, void *user)
{
	cli_bar *b = user;
	int pct = (int)(f * 100.0 + 0.5), filled = pct * 30 / 100;

	if (!b->draw || pct == b->last)
		return 0;
	b->last = pct;
	fprintf(stderr, "\r[%.*s%*s] %3d%% %-24.24s", filled, "##############################", 30 - filled,
		"", pct, label);
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
