/*
 * cli_progress.h -- PRIVATE to the lode command: the progress bar on stderr and the
 * signals that end a command cleanly (cli_progress.c).
 */
#ifndef LODE_CLI_PROGRESS_H
#define LODE_CLI_PROGRESS_H

/* A progress bar: last is the percentage last drawn (-1: none yet); drawn only when draw
   is non-zero (stderr a terminal and no -q); t0 when it started and shown, when it was
   last drawn (CLOCK_MONOTONIC seconds), for the elapsed time and the ETA. */
typedef struct cli_bar {
	int last;
	int draw;
	double t0, shown;
} cli_bar;

/* Start a bar: drawn when stderr is a terminal and not quiet; the clock starts now. */
void cli_bar_start(cli_bar *b, int quiet);

/*
 * The library's progress callback (user: a cli_bar): redraws the bar on stderr when the
 * percentage changes or a second has passed, with the time elapsed and, from 1% and
 * 2 s on, the time left at the rate so far ("[#####...]  43% dem_kertau  0:12 ETA
 * 0:16"); at 100% the time it took.  Returns 0 (go on): a signal ends the command without it
 * (cli_catch_signals).
 */
int cli_draw_bar(double f, const char *label, void *user);

/*
 * From now on SIGINT, SIGTERM and SIGHUP end the command at once, whatever it is doing:
 * the temporary files of the writes in progress are removed and a child reading a
 * bundle is ended first (lode_cleanup_on_signal), a line says so on stderr, and the
 * process ends by the signal (exit status 128 + N in a shell).
 */
void cli_catch_signals(void);

/* Close the bar's line if it was cut short (drawn, not to 100%). */
void cli_bar_end(const cli_bar *b);

#endif /* LODE_CLI_PROGRESS_H */
