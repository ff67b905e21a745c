/*
 * cli_progress.h -- PRIVATE to the lode command: the progress bar on stderr and the
 * signals that stop a run cleanly (cli_progress.c).
 */
#ifndef LODE_CLI_PROGRESS_H
#define LODE_CLI_PROGRESS_H

/* A progress bar: last is the percentage last drawn (-1: none yet); drawn only when draw
   is non-zero (stderr a terminal and no -q). */
typedef struct cli_bar {
	int last;
	int draw;
} cli_bar;

/*
 * The library's progress callback (user: a cli_bar): redraws the bar on stderr when the
 * percentage changes.  Returns 1, asking the library to stop, once SIGINT, SIGTERM or
 * SIGHUP came (cli_catch_signals).
 */
int cli_draw_bar(double f, const char *label, void *user);

/* From now on SIGINT, SIGTERM and SIGHUP only mark the run interrupted (cli_draw_bar). */
void cli_catch_signals(void);

/* Close the bar's line if it was cut short (drawn, not to 100%). */
void cli_bar_end(const cli_bar *b);

#endif /* LODE_CLI_PROGRESS_H */
