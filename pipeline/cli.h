/*
 * cli.h -- PRIVATE to the lode command (pipeline/cli*.c), never part of liblode: the
 * table of commands, the options they share, option parsing and usage messages.
 *
 * A command is one row of cli_commands (cli_commands.c): its name, its handler, its
 * synopsis and help, and the options it takes.  main (cli.c) finds the row, parses the
 * options with cli_parse, answers --help from the row, and calls the handler with the
 * options and the operands.  Adding a command is adding a row (and its handler).
 */
#ifndef LODE_CLI_H
#define LODE_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "lode_error.h"

#define EXIT_USAGE 2

/* The options a command takes, as bits of cli_command.options; -h and -q are every
   command's. */
enum {
	CLI_OUT = 1 << 0,        /* -o, --output */
	CLI_THREADS = 1 << 1,    /* -j, --threads */
	CLI_MAX_MEMORY = 1 << 2, /* --max-memory */
	CLI_JSON = 1 << 3,       /* --json */
	CLI_TRUST = 1 << 4,      /* --trust */
	CLI_KEY = 1 << 5,        /* --key */
	CLI_SIGNER = 1 << 6,     /* --signer */
	CLI_WORK = 1 << 7,       /* -w, --work */
	CLI_SHARD = 1 << 8,      /* --shard */
	CLI_FORCE = 1 << 9,      /* --force */
	CLI_TILE_ROWS = 1 << 10, /* --tile-rows */
	CLI_PREFIX = 1 << 11,    /* --prefix */
	CLI_FORMAT = 1 << 12,    /* --format */
	CLI_CHECK = 1 << 13,     /* --check */
	CLI_FULL = 1 << 14       /* --full */
};

#define CLI_MAX_TRUST 64

/* What the options said; the strings point into argv. */
typedef struct cli_opts {
	int help, quiet, json, threads;
	size_t max_memory; /* bytes, 0: no bound */
	const char *out, *key, *signer, *work;
	const char *trust[CLI_MAX_TRUST];
	size_t ntrust;
	int shard, nshards, force, tile_rows, prefix;
	const char *format; /* --format */
	int check;          /* --check */
	int full;           /* --full */
} cli_opts;

typedef struct cli_command {
	const char *name;
	/* Run the command with its options and its nargs operands; returns the exit status. */
	int (*fn)(const cli_opts *o, int nargs, char **args);
	const char *usage; /* the synopsis line, in lode --help and in usage errors */
	unsigned options;  /* the CLI_* options it takes */
	const char *help;  /* the rest of lode NAME --help */
} cli_command;

/* The table, in the order lode --help lists it. */
extern const cli_command cli_commands[];
extern const size_t cli_ncommands;

/* The row of the command called name, or NULL. */
const cli_command *cli_find_command(const char *name);

/*
 * Parse argv (argv[0] is the command's name) into *o, which starts from the defaults
 * (all zero, nshards 1); the operands are then argv + optind.  Returns -1 after printing
 * the usage error when an option is unknown, lacks its value, has a bad value or is not
 * one c takes.
 */
int cli_parse(const cli_command *c, int argc, char **argv, cli_opts *o);

/* Print "lode CMD: WHAT ARG", the command's usage and a hint to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *what, const char *arg);

/* Print the command's --help to stdout; returns 0. */
int cli_show_help(const cli_command *c);

/* Run command c on argv (argv[0] is the command's name): signals caught, options parsed,
   its help or its handler; ends the process with the exit status (cli_exit). */
int cli_run(const cli_command *c, int argc, char **argv);

/* ---- output (cli_output.c) ---- */

/* Print a report of several lines with control characters escaped (\xNN), newlines
   kept: names and values in messages come from manifests and bundles, which may hold
   anything. */
void cli_put_printable_lines(FILE *f, const char *s);
/* Report a library error on stderr, one "lode: error:" line per problem (err->lines:
   a manifest's problems, one per line), control characters escaped (\xNN) so that no
   other text can break the line; the exit status: 2 for a usage error, else 1. */
int cli_fail(const lode_error *err);
/* End the process with status rc, stdout and stderr flushed, without the libraries'
   exit-time destructors (returns rc in sanitizer builds, whose leak check must run). */
int cli_exit(int rc);

#endif /* LODE_CLI_H */
