/*
 * cli_options.c -- the lode command's options: the one list of long options, parsing
 * them for a command (each takes the options its row in cli_commands names), their
 * values checked (thread counts, memory sizes, shards, tile rows), and the usage error
 * and --help texts of a command.  What the options mean is the commands' business
 * (cli_commands.c).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* getopt's value of each option: a short option's letter, else a number from 1000; a
   missing value of those from OPT_SHARD on is reported naming the option. */
enum {
	OPT_HELP = 'h',
	OPT_QUIET = 'q',
	OPT_OUT = 'o',
	OPT_JOBS = 'j',
	OPT_JSON = 1000,
	OPT_TRUST,
	OPT_KEY,
	OPT_SIGNER,
	OPT_WORK = 'w',
	OPT_SHARD = 1100,
	OPT_FORCE,
	OPT_TILE_ROWS,
	OPT_PREFIX,
	OPT_MAX_MEMORY,
	OPT_FORMAT,
	OPT_CHECK,
	OPT_FULL
};

/* clang-format off */
static const struct option long_opts[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"output", required_argument, NULL, OPT_OUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"threads", required_argument, NULL, OPT_JOBS},
    {"trust", required_argument, NULL, OPT_TRUST},
    {"key", required_argument, NULL, OPT_KEY},
    {"signer", required_argument, NULL, OPT_SIGNER},
    {"work", required_argument, NULL, OPT_WORK},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"force", no_argument, NULL, OPT_FORCE},
    {"tile-rows", required_argument, NULL, OPT_TILE_ROWS},
    {"prefix", no_argument, NULL, OPT_PREFIX},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"check", no_argument, NULL, OPT_CHECK},
    {"full", no_argument, NULL, OPT_FULL},
    {NULL, 0, NULL, 0},
};
/* clang-format on */

/* A whole number from lo to hi, or -1. */
static long number(const char *s, long lo, long hi)
{
	char *end;
	long n;

	if (!*s)
		return -1;
	n = strtol(s, &end, 10);
	return *end || n < lo || n > hi ? -1 : n;
}

/* A memory size: a whole number of megabytes, or with a unit K, M, G or T (binary, upper
   or lower case, an optional B or iB after it); 0 when it is not one, or below 1 MB. */
static size_t memory_size(const char *s)
{
	const char *units = "KMGT";
	char *end;
	unsigned long long n;
	size_t shift = 20; /* megabytes without a unit */
	const char *u;

	if (!isdigit((unsigned char)*s))
		return 0;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return 0;
	if (*end) {
		if (!(u = strchr(units, toupper((unsigned char)*end))))
			return 0;
		shift = 10 * (size_t)(u - units + 1);
		end++;
		if (strcmp(end, "") != 0 && strcmp(end, "B") != 0 && strcmp(end, "b") != 0 &&
		    strcmp(end, "iB") != 0)
			return 0;
	}
	if (n > (SIZE_MAX >> shift) || (n << shift) < (1u << 20))
		return 0;
	return (size_t)(n << shift);
}

/* The CLI_* bit of option ch; 0 for -h, -q and unknown options, which are for every command. */
static unsigned option_bit(int ch)
{
	switch (ch) {
	case OPT_OUT: return CLI_OUT;
	case OPT_JOBS: return CLI_THREADS;
	case OPT_TRUST: return CLI_TRUST;
	case OPT_KEY: return CLI_KEY;
	case OPT_SIGNER: return CLI_SIGNER;
	case OPT_WORK: return CLI_WORK;
	case OPT_SHARD: return CLI_SHARD;
	case OPT_FORCE: return CLI_FORCE;
	case OPT_TILE_ROWS: return CLI_TILE_ROWS;
	case OPT_MAX_MEMORY: return CLI_MAX_MEMORY;
	case OPT_PREFIX: return CLI_PREFIX;
	case OPT_JSON: return CLI_JSON;
	case OPT_FORMAT: return CLI_FORMAT;
	case OPT_CHECK: return CLI_CHECK;
	case OPT_FULL: return CLI_FULL;
	default: return 0;
	}
}

/* Does the command take option ch?  -h, -q and unknown options are for every command. */
static int takes(const cli_command *c, int ch)
{
	unsigned bit = option_bit(ch);

	return !bit || (c->options & bit);
}

/* How an option is written in messages: "-o" for those with a short form, else "--name". */
static const char *option_label(int ch)
{
	static char label[40];

	if (ch < 128) {
		snprintf(label, sizeof label, "-%c", ch);
		return label;
	}
	for (const struct option *l = long_opts; l->name; l++)
		if (l->val == ch) {
			snprintf(label, sizeof label, "--%s", l->name);
			return label;
		}
	return "this option";
}

/* Parse options; returns -1 and prints on a usage error. */
int cli_parse(const cli_command *c, int argc, char **argv, cli_opts *o)
{
	const char *cmd = c->name;
	int ch;

	*o = (cli_opts){.nshards = 1};
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "hqo:j:w:", long_opts, NULL)) != -1) {
		if (ch != '?' && !takes(c, ch)) {
			cli_usage_error(cmd, "this command does not take", option_label(ch));
			return -1;
		}
		switch (ch) {
		case OPT_HELP: o->help = 1; break;
		case OPT_QUIET: o->quiet = 1; break;
		case OPT_OUT: o->out = optarg; break;
		case OPT_JOBS:
			if ((o->threads = (int)number(optarg, 1, 256)) < 0) {
				cli_usage_error(cmd, "-j takes a number of threads from 1 to 256, not",
						optarg);
				return -1;
			}
			break;
		case OPT_MAX_MEMORY:
			if (!(o->max_memory = memory_size(optarg))) {
				cli_usage_error(
				    cmd,
				    "--max-memory takes a size of at least 1 MB such as 512M, 2G or 800 "
				    "(megabytes), not",
				    optarg);
				return -1;
			}
			break;
		case OPT_TRUST:
			if (o->ntrust == CLI_MAX_TRUST) {
				cli_usage_error(cmd, "too many --trust keys", NULL);
				return -1;
			}
			o->trust[o->ntrust++] = optarg;
			break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_SIGNER: o->signer = optarg; break;
		case OPT_WORK: o->work = optarg; break;
		case OPT_SHARD: {
			const char *slash = strchr(optarg, '/');
			char first[32];
			if (slash && (size_t)(slash - optarg) < sizeof first) {
				memcpy(first, optarg, (size_t)(slash - optarg));
				first[slash - optarg] = '\0';
				o->shard = (int)number(first, 0, 1000000);
				o->nshards = (int)number(slash + 1, 1, 1000000);
			}
			if (!slash || o->shard < 0 || o->nshards < 1 || o->shard >= o->nshards) {
				cli_usage_error(
				    cmd,
				    "--shard takes I/N, shard I of N numbered from 0 to N-1 (e.g. "
				    "--shard $SLURM_ARRAY_TASK_ID/4), not",
				    optarg);
				return -1;
			}
			break;
		}
		case OPT_FORCE: o->force = 1; break;
		case OPT_TILE_ROWS:
			o->tile_rows = (int)number(optarg, 512, 1 << 30);
			if (o->tile_rows < 0 || o->tile_rows % 512 != 0) {
				cli_usage_error(
				    cmd, "--tile-rows takes a multiple of 512 (the chunk rows), not", optarg);
				return -1;
			}
			break;
		case OPT_PREFIX: o->prefix = 1; break;
		case OPT_FORMAT: o->format = optarg; break; /* each command checks its own */
		case OPT_JSON: o->json = 1; break;
		case OPT_CHECK: o->check = 1; break;
		case OPT_FULL: o->full = 1; break;
		default:
			if (optopt == 'o' || optopt == 'j' || optopt == 'w')
				cli_usage_error(cmd,
						optopt == 'o'   ? "option -o needs a value"
						: optopt == 'j' ? "option -j needs a value"
								: "option -w needs a value",
						NULL);
			else if (optopt >= OPT_SHARD)
				cli_usage_error(cmd, "this option needs a value:", argv[optind - 1]);
			else
				cli_usage_error(cmd, "unknown option", argv[optind - 1]);
			return -1;
		}
	}
	return 0;
}

const cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < cli_ncommands; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

int cli_usage_error(const char *cmd, const char *what, const char *arg)
{
	const cli_command *c = cli_find_command(cmd);

	fprintf(stderr, "lode %s: %s%s%s", cmd, what, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "\nusage: %s\nTry 'lode %s --help'.\n", c ? c->usage : "lode COMMAND ...", cmd);
	return EXIT_USAGE;
}

int cli_show_help(const cli_command *c)
{
	printf("usage: %s\n\n%s", c->usage, c->help);
	return 0;
}
