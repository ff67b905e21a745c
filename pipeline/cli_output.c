/*
 * cli_output.c -- what every lode command prints the same way: a library error as
 * "lode: error:" lines, a report with control characters escaped, and the end of the
 * process (cli_exit).  Shared by lode-full (cli.c) and lode-verify (cli_light.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "lode.h"
#include "cli.h"
#include "cli_progress.h"

void cli_put_printable_lines(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

int cli_fail(const lode_error *err)
{
	const char *msg = err->message[0] ? err->message : lode_status_name(err->code);

	fputs("lode: error: ", stderr);
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (*p == '\n' && p[1] && err->lines)
			fputs("\nlode: error: ", stderr);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	fputc('\n', stderr);
	return err->code == LODE_EUSAGE ? EXIT_USAGE : 1;
}

/*
 * End the process without running the libraries' exit-time destructors: every file lode
 * wrote is closed (and synced) by the time a command returns, and GDAL's and PROJ's
 * teardown of drivers and database caches took 30-40 ms of a half-second run.  Builds
 * with AddressSanitizer exit normally, so that its leak check still runs.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LODE_NORMAL_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LODE_NORMAL_EXIT 1
#endif
#endif

int cli_exit(int rc)
{
#ifndef LODE_NORMAL_EXIT
	if (fflush(stdout) != 0 || fflush(stderr) != 0)
		rc = rc ? rc : 1;
	_exit(rc);
#endif
	return rc;
}

int cli_run(const cli_command *c, int argc, char **argv)
{
	cli_opts o;

	/* A signal ends any command with its temporary files removed (cli_progress.c). */
	cli_catch_signals();
	/* The command's options, then its help or the command on its operands. */
	if (cli_parse(c, argc, argv, &o) < 0)
		return cli_exit(EXIT_USAGE);
	if (o.help)
		return cli_exit(cli_show_help(c));
	return cli_exit(c->fn(&o, argc - optind, argv + optind));
}
