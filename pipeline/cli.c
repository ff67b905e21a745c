/*
 * cli.c -- main of lode-full, the lode command with every command: argv to a command of
 * the table, its exit status to the process's.  Users run lode (cli_front.c), which
 * runs this program, or lode-verify for verify (cli_light.c), in its place.
 *
 * Subcommands come from one table (cli_commands.c); adding a command is adding a row.
 * Exit status: 0 success, 1 failure (bad data, damaged bundle, I/O), 2 usage error, 3
 * (status only) parts not made yet.
 * Messages go to stderr; results (ls, plan, verify reports) to stdout.  A progress bar
 * is drawn on stderr only when stderr is a terminal and -q was not given
 * (cli_progress.c).  Options are parsed in cli_options.c; what each command does is in
 * cli_commands.c.
 */
#include <stdio.h>
#include <string.h>

#include "lode.h"
#include "cli.h"

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

int main(int argc, char **argv)
{
	const cli_command *c;

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
		return cli_exit(0);
	}
	c = cli_find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "lode: unknown command '%s'\n", argv[1]);
		main_help(stderr);
		return EXIT_USAGE;
	}
	return cli_run(c, argc - 1, argv + 1);
}
