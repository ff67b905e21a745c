/*
 * cli.c -- the lode command: argv to a library call, messages, exit codes.
 *
 * Subcommands come from one table; adding a command is adding a row.  Exit status:
 * 0 success, 1 failure (bad data, damaged bundle, I/O), 2 usage error.  Messages go
 * to stderr; results (ls, plan, verify reports) to stdout.  A progress bar is drawn on
 * stderr only when stderr is a terminal and -q was not given.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lode.h"

#define EXIT_USAGE 2

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
} command;

static const command *find_command(const char *name);

static int usage_error(const char *cmd, const char *what, const char *arg)
{
	const command *c = find_command(cmd);

	fprintf(stderr, "lode %s: %s%s%s", cmd, what, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "\nusage: %s\nTry 'lode %s --help'.\n", c ? c->usage : "lode COMMAND ...", cmd);
	return EXIT_USAGE;
}

static int show_help(const char *cmd)
{
	const command *c = find_command(cmd);

	printf("usage: %s\n\n%s", c->usage, c->help);
	return 0;
}

/* Print text with control characters escaped (\xNN): names and values in messages come
   from manifests and bundles, which may hold anything. */
static void put_printable(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

/* The same for a report of several lines: newlines kept, other controls escaped. */
static void put_printable_lines(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static int fail(const lode_error *err)
{
	fputs("lode: error: ", stderr);
	put_printable(stderr, err->message[0] ? err->message : lode_status_name(err->code));
	fputc('\n', stderr);
	return err->code == LODE_EUSAGE ? EXIT_USAGE : 1;
}

/* ---- progress and interruption ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Ctrl-C or a scheduler's SIGTERM stops the run cleanly: the library removes its
   temporary file when the progress callback asks it to stop. */
static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

typedef struct bar {
	int last;
	int draw;
} bar;

static int draw_bar(double f, const char *label, void *user)
{
	bar *b = user;
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

/* ---- option parsing shared by the commands ---- */

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
	OPT_MAX_MEMORY
};

#define MAX_TRUST 64

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
    {NULL, 0, NULL, 0},
};

typedef struct opts {
	int help, quiet, json, threads;
	size_t max_memory; /* bytes, 0: no bound */
	const char *out, *key, *signer, *work;
	const char *trust[MAX_TRUST];
	size_t ntrust;
	int shard, nshards, force, tile_rows, prefix;
	int allow_json, allow_out, allow_threads, allow_trust, allow_sign, allow_work, allow_shard,
	    allow_tile_rows, allow_prefix;
} opts;

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

/* Does the command take option ch?  -h, -q and unknown options are for every command. */
static int takes(const opts *o, int ch)
{
	switch (ch) {
	case OPT_OUT: return o->allow_out;
	case OPT_JOBS: return o->allow_threads;
	case OPT_TRUST: return o->allow_trust;
	case OPT_KEY:
	case OPT_SIGNER: return o->allow_sign;
	case OPT_WORK: return o->allow_work;
	case OPT_SHARD:
	case OPT_FORCE: return o->allow_shard;
	case OPT_TILE_ROWS: return o->allow_tile_rows;
	case OPT_MAX_MEMORY: return o->allow_threads;
	case OPT_PREFIX: return o->allow_prefix;
	case OPT_JSON: return o->allow_json;
	default: return 1;
	}
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
static int parse(const char *cmd, int argc, char **argv, opts *o)
{
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "hqo:j:w:", long_opts, NULL)) != -1) {
		if (ch != '?' && !takes(o, ch)) {
			usage_error(cmd, "this command does not take", option_label(ch));
			return -1;
		}
		switch (ch) {
		case OPT_HELP: o->help = 1; break;
		case OPT_QUIET: o->quiet = 1; break;
		case OPT_OUT: o->out = optarg; break;
		case OPT_JOBS:
			if ((o->threads = (int)number(optarg, 1, 256)) < 0) {
				usage_error(cmd, "-j takes a number of threads from 1 to 256, not", optarg);
				return -1;
			}
			break;
		case OPT_MAX_MEMORY:
			if (!(o->max_memory = memory_size(optarg))) {
				usage_error(
				    cmd,
				    "--max-memory takes a size of at least 1 MB such as 512M, 2G or 800 "
				    "(megabytes), not",
				    optarg);
				return -1;
			}
			break;
		case OPT_TRUST:
			if (o->ntrust == MAX_TRUST) {
				usage_error(cmd, "too many --trust keys", NULL);
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
				usage_error(cmd,
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
				usage_error(cmd, "--tile-rows takes a multiple of 512 (the chunk rows), not",
					    optarg);
				return -1;
			}
			break;
		case OPT_PREFIX: o->prefix = 1; break;
		case OPT_JSON: o->json = 1; break;
		default:
			if (optopt == 'o' || optopt == 'j' || optopt == 'w')
				usage_error(cmd,
					    optopt == 'o'   ? "option -o needs a value"
					    : optopt == 'j' ? "option -j needs a value"
							    : "option -w needs a value",
					    NULL);
			else if (optopt >= OPT_SHARD)
				usage_error(cmd, "this option needs a value:", argv[optind - 1]);
			else
				usage_error(cmd, "unknown option", argv[optind - 1]);
			return -1;
		}
	}
	return 0;
}

/* ---- commands ---- */

/* End a command that wrote OUT with a progress bar: close the bar's line if it was cut
   short, then the error, or "lode: wrote OUT" unless quiet. */
static int wrote(lode_status rc, const bar *b, const lode_error *err, int quiet, const char *out)
{
	if (b->last >= 0 && b->last < 100)
		fputc('\n', stderr);
	if (rc != LODE_OK)
		return fail(err);
	if (!quiet)
		fprintf(stderr, "lode: wrote %s\n", out);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	opts o = {.allow_out = 1, .allow_threads = 1};
	lode_error err = {0};
	lode_run_options ro = {0};
	bar b = {-1, 0};
	size_t len;

	if (parse("run", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("run");
	if (optind != argc - 1)
		return usage_error(
		    "run", optind >= argc ? "expected one MANIFEST" : "expected only one MANIFEST", NULL);
	if (!o.out)
		return usage_error("run", "missing -o BUNDLE.nc (where to write the bundle)", NULL);
	len = strlen(o.out);
	if (!o.quiet && (len < 3 || strcmp(o.out + len - 3, ".nc") != 0))
		fprintf(stderr,
			"lode: warning: %s does not end in .nc: GDAL opens a bundle with its netCDF driver "
			"(and its CRS) only under a .nc name\n",
			o.out);
	b.draw = !o.quiet && isatty(STDERR_FILENO);
	ro.threads = o.threads;
	ro.max_memory = o.max_memory;
	ro.progress = draw_bar;
	ro.progress_user = &b;
	catch_signals();
	return wrote(lode_run(argv[optind], o.out, &ro, &err), &b, &err, o.quiet, o.out);
}

static int cmd_plan(int argc, char **argv)
{
	opts o = {.allow_json = 1, .allow_work = 1, .allow_tile_rows = 1};
	lode_error err = {0};
	char *report = NULL;

	if (parse("plan", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("plan");
	if (optind != argc - 1)
		return usage_error("plan", "expected one MANIFEST", NULL);
	if (o.tile_rows && !o.work)
		return usage_error("plan", "--tile-rows goes with -w WORK", NULL);
	if (o.work) {
		lode_stage_options so = {.tile_rows = o.tile_rows, .progress = draw_bar};
		bar b = {-1, 0};
		so.progress_user = &b;
		catch_signals();
		if (lode_plan_work(argv[optind], o.work, &so, &report, &err) != LODE_OK)
			return fail(&err);
		if (!o.quiet && report)
			fprintf(stderr, "lode: %s\n", report);
		free(report);
		return 0;
	}
	if (lode_plan_json(argv[optind], &report, &err) != LODE_OK)
		return fail(&err);
	/* The plan is JSON either way: it is for people and scripts alike. */
	printf("%s\n", report);
	free(report);
	return 0;
}

static int cmd_reproject(int argc, char **argv)
{
	opts o = {.allow_work = 1, .allow_shard = 1, .allow_threads = 1, .nshards = 1};
	lode_error err = {0};
	lode_stage_options so = {0};
	bar b = {-1, 0};
	char *summary = NULL;
	lode_status rc;

	if (parse("reproject", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("reproject");
	if (optind != argc || !o.work)
		return usage_error("reproject", "expected -w WORK and no other argument", NULL);
	b.draw = !o.quiet && isatty(STDERR_FILENO);
	so.threads = o.threads;
	so.max_memory = o.max_memory;
	so.shard = o.shard;
	so.nshards = o.nshards;
	so.force = o.force;
	so.progress = draw_bar;
	so.progress_user = &b;
	catch_signals();
	rc = lode_reproject(o.work, &so, &summary, &err);
	if (b.last >= 0 && b.last < 100)
		fputc('\n', stderr);
	if (summary && !o.quiet)
		fprintf(stderr, "lode: %s\n", summary);
	free(summary);
	return rc != LODE_OK ? fail(&err) : 0;
}

static int cmd_package(int argc, char **argv)
{
	opts o = {.allow_work = 1, .allow_out = 1};
	lode_error err = {0};
	lode_stage_options so = {0};
	bar b = {-1, 0};

	if (parse("package", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("package");
	if (optind != argc || !o.work || !o.out)
		return usage_error("package", "expected -w WORK -o BUNDLE.nc and no other argument", NULL);
	b.draw = !o.quiet && isatty(STDERR_FILENO);
	so.progress = draw_bar;
	so.progress_user = &b;
	catch_signals();
	return wrote(lode_package(o.work, o.out, &so, &err), &b, &err, o.quiet, o.out);
}

static int cmd_status(int argc, char **argv)
{
	opts o = {.allow_work = 1, .allow_json = 1};
	lode_error err = {0};
	char *out = NULL;
	int complete = 0;

	if (parse("status", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("status");
	if (optind != argc || !o.work)
		return usage_error("status", "expected -w WORK and no other argument", NULL);
	if (lode_work_status(o.work, o.json, &out, &complete, &err) != LODE_OK)
		return fail(&err);
	put_printable_lines(stdout, out);
	if (o.json)
		fputc('\n', stdout);
	free(out);
	return complete ? 0 : 3;
}

static int cmd_merge(int argc, char **argv)
{
	opts o = {.allow_out = 1, .allow_prefix = 1};
	lode_error err = {0};

	if (parse("merge", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("merge");
	if (optind >= argc || !o.out)
		return usage_error("merge", "expected BUNDLE.nc... -o OUT.nc", NULL);
	if (lode_merge((const char *const *)argv + optind, (size_t)(argc - optind), o.out, o.prefix, &err) !=
	    LODE_OK)
		return fail(&err);
	if (!o.quiet)
		fprintf(stderr, "lode: wrote %s\n", o.out);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	opts o = {.allow_trust = 1};
	lode_error err = {0};
	char *report = NULL;
	lode_status rc;

	if (parse("verify", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("verify");
	if (optind != argc - 1)
		return usage_error("verify", "expected one BUNDLE", NULL);
	rc = lode_verify_trusted(argv[optind], o.trust, o.ntrust, &report, &err);
	if (report && !o.quiet)
		put_printable_lines(stdout, report);
	free(report);
	if (rc != LODE_OK)
		return fail(&err);
	if (!o.quiet)
		printf("OK: %s verified\n", argv[optind]);
	return 0;
}

static int cmd_keygen(int argc, char **argv)
{
	opts o = {.allow_out = 1};
	lode_error err = {0};

	if (parse("keygen", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("keygen");
	if (optind != argc || !o.out)
		return usage_error("keygen", "expected -o NAME and nothing else", NULL);
	if (lode_keygen(o.out, &err) != LODE_OK)
		return fail(&err);
	if (!o.quiet)
		fprintf(
		    stderr,
		    "lode: wrote %s.key (secret: keep it, mode 0600) and %s.pub (give it to your partners)\n",
		    o.out, o.out);
	return 0;
}

static int cmd_sign(int argc, char **argv)
{
	opts o = {.allow_sign = 1};
	lode_error err = {0};

	if (parse("sign", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("sign");
	if (optind != argc - 1)
		return usage_error("sign", "expected one BUNDLE", NULL);
	if (!o.key)
		return usage_error("sign", "missing --key NAME.key (from lode keygen)", NULL);
	if (lode_sign(argv[optind], o.key, o.signer, &err) != LODE_OK)
		return fail(&err);
	if (!o.quiet)
		fprintf(stderr, "lode: signed %s\n", argv[optind]);
	return 0;
}

static int cmd_ls(int argc, char **argv)
{
	opts o = {.allow_json = 1};
	lode_error err = {0};
	char *out = NULL;

	if (parse("ls", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("ls");
	if (optind != argc - 1)
		return usage_error("ls", "expected one BUNDLE", NULL);
	if (lode_ls(argv[optind], o.json, &out, &err) != LODE_OK) {
		free(out);
		return fail(&err);
	}
	put_printable_lines(stdout, out);
	if (o.json)
		fputc('\n', stdout);
	free(out);
	return 0;
}

static int cmd_extract(int argc, char **argv)
{
	opts o = {.allow_out = 1};
	lode_error err = {0};

	if (parse("extract", argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.help)
		return show_help("extract");
	if (optind >= argc)
		return usage_error("extract", "expected a BUNDLE", NULL);
	if (!o.out)
		return usage_error("extract", "missing -o DIR (the folder to write GeoTIFFs into)", NULL);
	if (lode_extract(argv[optind], (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1),
			 o.out, &err) != LODE_OK)
		return fail(&err);
	if (!o.quiet)
		fprintf(stderr, "lode: extracted into %s\n", o.out);
	return 0;
}

static const command commands[] = {
    {"run", cmd_run, "lode run MANIFEST -o BUNDLE.nc [-j THREADS] [--max-memory SIZE] [-q]",
     "Read MANIFEST, check every source, choose every coordinate operation under the\n"
     "manifest's policy, reproject every dataset onto the target grid and write one\n"
     "bundle.  The bundle appears under its name only when complete.\n\n"
     "  -o, --output BUNDLE.nc  where to write the bundle (name it .nc for GDAL)\n"
     "  -j, --threads N         threads for warping and compressing (default: one per core);\n"
     "                          the bundle is the same whatever N\n"
     "  --max-memory SIZE       bound lode's buffers and GDAL's block cache (e.g. 512M, 2G):\n"
     "                          fewer threads if need be; a raster strip or a vector layer\n"
     "                          that cannot fit fails, naming it (libraries not counted)\n"
     "  -q, --quiet             no progress bar, no messages but errors\n"
     "  -h, --help              this help\n"},
    {"plan", cmd_plan, "lode plan MANIFEST [-w WORK [--tile-rows ROWS]]",
     "Check the manifest and every source and choose the coordinate operations, as\n"
     "'run' would, and print the plan as JSON (sources, digests, operations with every\n"
     "candidate and why it was refused, target grids).  Writes nothing.\n\n"
     "  -w, --work WORK     instead, write the plan into the work folder WORK (made if\n"
     "                      missing) for reproject, package and status\n"
     "  --tile-rows ROWS    cut rasters of at least twice ROWS rows into tiles of ROWS rows\n"
     "                      (a multiple of 512) that shards make apart (default: tiles of\n"
     "                      about 256 MB of output)\n"},
    {"reproject", cmd_reproject,
     "lode reproject -w WORK [--shard I/N] [-j THREADS] [--max-memory SIZE] [--force] [-q]",
     "Make the parts of the plan in WORK that do not exist yet: each a one-dataset bundle\n"
     "in WORK/parts, named by a content key.  Parts that are done are skipped, so a rerun\n"
     "after a kill or a failure makes only what is missing.  A part that fails is\n"
     "recorded (lode status shows why) and the others are still made; the exit status\n"
     "is then 1.\n\n"
     "  --shard I/N         make only shard I of N (0 to N-1), e.g. from a job array:\n"
     "                      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\n"
     "  -j, --threads N     threads for warping and compressing (default: one per core)\n"
     "  --max-memory SIZE   as for lode run, e.g. the job's memory less 100M for the\n"
     "                      libraries: --max-memory $((SLURM_MEM_PER_NODE - 100))M\n"
     "  --force             make the parts again even when they exist\n"},
    {"package", cmd_package, "lode package -w WORK -o BUNDLE.nc [-q]",
     "Assemble the parts in WORK into the bundle, copying raster chunks as they are stored.\n"
     "Fails, naming them, if parts are missing.  The bundle holds exactly what lode run\n"
     "makes from the same manifest.\n"},
    {"status", cmd_status, "lode status -w WORK [--json]",
     "What the plan in WORK holds and how far it is: parts planned, done, missing and\n"
     "failed (with the error).  Exit 0 when every part is made, 3 when some are not.\n\n"
     "  --json   machine-readable output\n"},
    {"merge", cmd_merge, "lode merge BUNDLE.nc... -o OUT.nc [--prefix]",
     "Make one bundle from several (e.g. one from each survey).  Each input must verify and\n"
     "all must share the target CRS; datasets are copied as stored with their lineage.\n"
     "A name found in two inputs is refused unless --prefix is given.\n\n"
     "  --prefix   rename every dataset to STEM_NAME, STEM being its file's name without\n"
     "             folder and extension (usgs.nc: usgs_dem)\n"},
    {"verify", cmd_verify, "lode verify BUNDLE [--trust NAME.pub]... [-q]",
     "Recompute every dataset's content digest and the bundle digest, check the\n"
     "structure and every signature.  Exit 0 when everything matches; exit 1 naming\n"
     "each damaged dataset or failing signature.\n\n"
     "  --trust NAME.pub   a partner's public key (repeatable): then at least one valid\n"
     "                     signature by one of these keys is required\n"},
    {"keygen", cmd_keygen, "lode keygen -o NAME",
     "Make an Ed25519 key pair for signing bundles: NAME.key, the secret key (mode 0600;\n"
     "keep it private), and NAME.pub, the public key partners pass to verify --trust.\n"
     "Existing files are never overwritten.\n"},
    {"sign", cmd_sign, "lode sign BUNDLE --key NAME.key [--signer NAME]",
     "Add a signature over the bundle digest and the signer's name.  The bundle must\n"
     "verify first; its digests do not change.  A bundle can carry several signatures\n"
     "(the partner countersigns with its own key).\n\n"
     "  --key NAME.key     the secret key from lode keygen\n"
     "  --signer NAME      who signs, e.g. \"Jabatan Mineral dan Geosains Malaysia\"\n"},
    {"ls", cmd_ls, "lode ls BUNDLE [--json]",
     "List the datasets in a bundle: type, size, CRS, bounds, nodata, source and the\n"
     "coordinate operation applied.\n\n"
     "  --json   machine-readable output\n"},
    {"extract", cmd_extract, "lode extract BUNDLE [NAME...] -o DIR",
     "Write each named dataset (all when none is named) into DIR, each checked against its\n"
     "digest first: a raster to NAME.tif, a GeoTIFF with its CRS, geotransform, nodata,\n"
     "band names and units and lineage (LODE_LINEAGE metadata); a vector layer to\n"
     "NAME.gpkg, a GeoPackage whose layer is named NAME.\n"},
};

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void main_help(FILE *f)
{
	fprintf(f, "usage: lode COMMAND [OPTIONS] ...\n\n"
		   "lode packages survey rasters held in many coordinate systems into one\n"
		   "self-describing HDF5/netCDF-4 bundle on an agreed grid, and checks and unpacks it.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "\n  lode --help       this help;  lode COMMAND --help  help on one command\n"
		   "  lode --version    the version of lode and of its bundle format\n\n"
		   "Exit status: 0 success, 1 failure, 2 usage error.  See docs/cli.md.\n");
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
	const command *c;

	if (argc < 2) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		main_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("lode %s (bundle format %s)\n", LODE_VERSION, LODE_FORMAT_VERSION);
		return 0;
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "lode: unknown command '%s'\n", argv[1]);
		main_help(stderr);
		return EXIT_USAGE;
	}
	return quick_exit_code(c->fn(argc - 1, argv + 1));
}
