/*
 * cli.c -- the lode command's main: argv to a command of the table, its exit status to
 * the process's.
 *
 * Subcommands come from one table (cli_commands.c); adding a command is adding a row.
 * Exit status: 0 success, 1 failure (bad data, damaged bundle, I/O), 2 usage error, 3
 * (status only) parts not made yet.
 * Messages go to stderr; results (ls, plan, verify reports) to stdout.  A progress bar
 * is drawn on stderr only when stderr is a terminal and -q was not given
 * (cli_progress.c).  Options are parsed in cli_options.c; what each command does is in
 * cli_commands.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lode.h"
#include "cli.h"
#include "cli_progress.h"

static void main_help(FILE *f)
{
	fprintf(f, "usage: lode COMMAND [OPTIONS] ...\n\n"
		   "lode packages survey rasters and vector layers held in many coordinate systems\n"
		   "into one signed, self-describing netCDF-4/HDF5 bundle on an agreed grid and CRS,\n"
		   "and checks, lists, merges and unpacks such bundles.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < cli_ncommands; i++)
		fprintf(f, "  %s\n", cli_commands[i].usage);
	fprintf(f, "\n  lode --help       this help;  lode COMMAND --help  help on one command\n"
		   "  lode --version    the versions of lode, its bundle format and its libraries\n\n"
		   "Every command takes -q, --quiet (no progress bar, no messages but errors) and\n"
		   "-h, --help.  A progress bar is drawn on stderr only when it is a terminal.\n\n"
		   "Exit status: 0 success, 1 failure, 2 usage error, 3 (status) parts not made yet.\n"
		   "See man lode and docs/cli.md.\n");
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

static int quick_exit_code(int rc)
{
#ifndef LODE_NORMAL_EXIT
	if (fflush(stdout) != 0 || fflush(stderr) != 0)
		rc = rc ? rc : 1;
	_exit(rc);
#endif
	return rc;
}

int main(int argc, char **argv)
{
	const cli_command *c;
	cli_opts o;

	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		main_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lode %s (bundle format %s)\n%s\n", LODE_VERSION, LODE_FORMAT_VERSION,
		       lode_library_versions());
		return quick_exit_code(0);
	}
	c = cli_find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "lode: unknown command '%s'\n", argv[1]);
		main_help(stderr);
		return EXIT_USAGE;
	}
	/* A signal ends any command with its temporary files removed (cli_progress.c). */
	cli_catch_signals();
	/* The command's options, then its help or the command on its operands. */
	if (cli_parse(c, argc - 1, argv + 1, &o) < 0)
		return quick_exit_code(EXIT_USAGE);
	if (o.help)
		return quick_exit_code(cli_show_help(c));
	return quick_exit_code(c->fn(&o, argc - 1 - optind, argv + 1 + optind));
}
