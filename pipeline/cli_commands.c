/*
 * cli_commands.c -- the lode command's subcommands: one handler per command, turning
 * the parsed options and the operands into a library call and its outcome into
 * messages and an exit status, and the table of commands (their synopsis, the options
 * they take and their help) that dispatch and help both read.  Option parsing is
 * cli_options.c's; the progress bar cli_progress.c's; error lines cli_output.c's; verify
 * is cli_verify.c's (lode-verify runs it too); main is in cli.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lode.h"
#include "cli.h"
#include "cli_progress.h"
#include "cli_verify.h"

/* End a command that wrote OUT with a progress bar: close the bar's line if it was cut
   short, then the error, or "lode: wrote OUT" unless quiet. */
static int wrote(lode_status rc, const cli_bar *b, const lode_error *err, int quiet, const char *out)
{
	cli_bar_end(b);
	if (rc != LODE_OK)
		return cli_fail(err);
	if (!quiet)
		fprintf(stderr, "lode: wrote %s\n", out);
	return 0;
}

/* A library warning on stderr, one line, control characters escaped. */
static void warn_line(const char *line, void *user)
{
	cli_bar *b = user;

	if (b)
		cli_bar_end(b);
	fputs("lode: warning: ", stderr);
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	}
	fputc('\n', stderr);
}

static int cmd_run(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_run_options ro = {0};
	cli_bar b = {.last = -1};
	size_t len;

	if (nargs != 1)
		return cli_usage_error(
		    "run", nargs == 0 ? "expected one MANIFEST" : "expected only one MANIFEST", NULL);
	if (!o->out)
		return cli_usage_error("run", "missing -o BUNDLE.nc (where to write the bundle)", NULL);
	len = strlen(o->out);
	if (!o->quiet && (len < 3 || strcmp(o->out + len - 3, ".nc") != 0))
		fprintf(stderr,
			"lode: warning: %s does not end in .nc: GDAL opens a bundle with its netCDF driver "
			"(and its CRS) only under a .nc name\n",
			o->out);
	cli_bar_start(&b, o->quiet);
	ro.threads = o->threads;
	ro.max_memory = o->max_memory;
	ro.progress = cli_draw_bar;
	ro.progress_user = &b;
	if (!o->quiet) {
		ro.warn = warn_line;
		ro.warn_user = &b;
	}
	return wrote(lode_run(args[0], o->out, &ro, &err), &b, &err, o->quiet, o->out);
}

static int cmd_schema(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	char *text = NULL;

	if (nargs > 1)
		return cli_usage_error("schema", "expected at most one NAME", NULL);
	if (lode_schema_text(nargs ? args[0] : NULL, o->json, &text, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet) {
		fputs(text, stdout);
		if (o->json)
			fputc('\n', stdout);
	}
	free(text);
	return 0;
}

static int cmd_plan(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	char *report = NULL;

	if (nargs != 1)
		return cli_usage_error("plan", "expected one MANIFEST", NULL);
	if (o->tile_rows && !o->work)
		return cli_usage_error("plan", "--tile-rows goes with -w WORK", NULL);
	if (o->work) {
		lode_stage_options so = {.tile_rows = o->tile_rows, .progress = cli_draw_bar};
		cli_bar b = {.last = -1};
		so.progress_user = &b;
		if (!o->quiet) {
			so.warn = warn_line;
			so.warn_user = &b;
		}
		if (lode_plan_work(args[0], o->work, &so, &report, &err) != LODE_OK)
			return cli_fail(&err);
		if (!o->quiet && report)
			fprintf(stderr, "lode: %s\n", report);
		free(report);
		return 0;
	}
	/* A table for people; --json the JSON that lode plan has always printed, for scripts. */
	if (lode_plan_report(args[0], o->json, o->quiet ? NULL : warn_line, NULL, &report, &err) != LODE_OK)
		return cli_fail(&err);
	if (o->json)
		printf("%s\n", report);
	else
		cli_put_printable_lines(stdout, report);
	free(report);
	return 0;
}

static int cmd_reproject(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_stage_options so = {0};
	cli_bar b = {.last = -1};
	char *summary = NULL;
	lode_status rc;

	(void)args; /* takes no operand */
	if (nargs != 0 || !o->work)
		return cli_usage_error("reproject", "expected -w WORK and no other argument", NULL);
	cli_bar_start(&b, o->quiet);
	so.threads = o->threads;
	so.max_memory = o->max_memory;
	so.shard = o->shard;
	so.nshards = o->nshards;
	so.force = o->force;
	so.progress = cli_draw_bar;
	so.progress_user = &b;
	rc = lode_reproject(o->work, &so, &summary, &err);
	cli_bar_end(&b);
	if (summary && !o->quiet)
		fprintf(stderr, "lode: %s\n", summary);
	free(summary);
	return rc != LODE_OK ? cli_fail(&err) : 0;
}

static int cmd_package(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_stage_options so = {0};
	cli_bar b = {.last = -1};

	(void)args; /* takes no operand */
	if (nargs != 0 || !o->work || !o->out)
		return cli_usage_error("package", "expected -w WORK -o BUNDLE.nc and no other argument",
				       NULL);
	cli_bar_start(&b, o->quiet);
	so.progress = cli_draw_bar;
	so.progress_user = &b;
	return wrote(lode_package(o->work, o->out, &so, &err), &b, &err, o->quiet, o->out);
}

static int cmd_status(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	char *out = NULL;
	int complete = 0;

	(void)args; /* takes no operand */
	if (nargs != 0 || !o->work)
		return cli_usage_error("status", "expected -w WORK and no other argument", NULL);
	if (lode_work_status(o->work, o->json, &out, &complete, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet) { /* -q: the exit status alone */
		cli_put_printable_lines(stdout, out);
		if (o->json)
			fputc('\n', stdout);
	}
	free(out);
	return complete ? 0 : 3;
}

static int cmd_merge(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {.max_memory = o->max_memory, .progress = cli_draw_bar};
	cli_bar b;

	if (nargs == 0 || !o->out)
		return cli_usage_error("merge", "expected BUNDLE.nc... -o OUT.nc", NULL);
	cli_bar_start(&b, o->quiet);
	ro.progress_user = &b;
	return wrote(lode_merge_opt((const char *const *)args, (size_t)nargs, o->out, o->prefix, &ro, &err),
		     &b, &err, o->quiet, o->out);
}

static int cmd_keygen(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};

	(void)args; /* takes no operand */
	if (nargs != 0 || !o->out)
		return cli_usage_error("keygen", "expected -o NAME and nothing else", NULL);
	if (lode_keygen(o->out, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet)
		fprintf(
		    stderr,
		    "lode: wrote %s.key (secret: keep it, mode 0600) and %s.pub (give it to your partners)\n",
		    o->out, o->out);
	return 0;
}

static int cmd_sign(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};

	if (nargs != 1)
		return cli_usage_error("sign", "expected one BUNDLE", NULL);
	if (!o->key)
		return cli_usage_error("sign", "missing --key NAME.key (from lode keygen)", NULL);
	if (lode_sign(args[0], o->key, o->signer, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet)
		fprintf(stderr, "lode: signed %s\n", args[0]);
	return 0;
}

static int cmd_ls(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {.max_memory = o->max_memory};
	char *out = NULL;
	lode_status rc;

	if (nargs != 1)
		return cli_usage_error("ls", "expected one BUNDLE", NULL);
	rc = lode_ls_opt(args[0], o->json, &ro, &out, &err);
	/* A damaged bundle is still listed, its problems shown, before the error; -q: the
	   exit status alone. */
	if (out && !o->quiet) {
		cli_put_printable_lines(stdout, out);
		if (o->json)
			fputc('\n', stdout);
		fflush(stdout);
	}
	free(out);
	return rc != LODE_OK ? cli_fail(&err) : 0;
}

static int cmd_extract(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {
	    .max_memory = o->max_memory, .vector_format = o->format, .progress = cli_draw_bar};
	cli_bar b;
	lode_status rc;

	if (nargs == 0)
		return cli_usage_error("extract", "expected a BUNDLE", NULL);
	if (o->format && strcmp(o->format, "gpkg") != 0 && strcmp(o->format, "csv") != 0)
		return cli_usage_error("extract", "--format takes gpkg or csv, not", o->format);
	if (!o->out)
		return cli_usage_error("extract", "missing -o DIR (the folder to write GeoTIFFs into)", NULL);
	cli_bar_start(&b, o->quiet);
	ro.progress_user = &b;
	rc = lode_extract_opt(args[0], (const char *const *)args + 1, (size_t)(nargs - 1), o->out, &ro, &err);
	cli_bar_end(&b);
	if (rc != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet)
		fprintf(stderr, "lode: extracted into %s\n", o->out);
	return 0;
}

/* lode metadata --check on a STAC item: the vendored JSON Schemas through Python's
   jsonschema (PYTHON SCHEMAS/stac/validate_offline.py ITEM), never the network.  PYTHON
   is $LODE_PYTHON, else Debian's /usr/bin/python3 (which python3-jsonschema serves: a
   python3 first on PATH, such as a pyenv one, may lack it), else python3 on PATH. */
static int check_stac(const char *item)
{
	char script[4096];
	const char *py = getenv("LODE_PYTHON");
	pid_t pid;
	int st = 0;

	if (!py || !*py)
		py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";

	snprintf(script, sizeof script, "%s/stac/validate_offline.py", lode_metadata_schema_dir());
	fflush(NULL);
	if ((pid = fork()) < 0) {
		perror("lode: fork");
		return 1;
	}
	if (pid == 0) {
		execlp(py, py, script, item, (char *)NULL);
		fprintf(stderr, "lode: error: cannot run %s %s (Debian: python3-jsonschema)\n", py, script);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) /* said above: Python did not run */
		return 1;
	fprintf(stderr, "lode: error: %s does not validate against the STAC schemas\n", item);
	return 1;
}

static int cmd_metadata(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {.max_memory = o->max_memory};
	char *report = NULL;
	lode_status rc;
	size_t len;

	if (nargs != 1)
		return cli_usage_error("metadata", o->check ? "expected one RECORD" : "expected one BUNDLE",
				       NULL);
	if (o->check) {
		if (o->format || o->out)
			return cli_usage_error("metadata", "--check takes only the RECORD to validate", NULL);
		len = strlen(args[0]);
		if (len > 5 && strcmp(args[0] + len - 5, ".json") == 0) {
			FILE *f = fopen(args[0], "r");
			if (!f) {
				fprintf(stderr, "lode: error: %s: cannot read it: %s\n", args[0],
					strerror(errno));
				return 1;
			}
			fclose(f);
			return check_stac(args[0]);
		}
		rc = lode_metadata_check(args[0], NULL, &report, &err);
		if (report)
			cli_put_printable_lines(rc ? stderr : stdout, report);
		free(report);
		return rc != LODE_OK ? cli_fail(&err) : 0;
	}
	if (!o->format || !o->out)
		return cli_usage_error("metadata", "expected --format iso19139|fgdc|stac and -o FILE", NULL);
	if (lode_metadata(args[0], o->format, o->out, &ro, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet)
		fprintf(stderr, "lode: wrote %s\n", o->out);
	return 0;
}

static int cmd_report(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {.max_memory = o->max_memory};

	if (nargs != 1 || !o->out)
		return cli_usage_error("report", "expected one BUNDLE and -o REPORT.html", NULL);
	if (lode_report_trusted(args[0], o->out, o->trust, o->ntrust, &ro, &err) != LODE_OK)
		return cli_fail(&err);
	if (!o->quiet)
		fprintf(stderr, "lode: wrote %s\n", o->out);
	return 0;
}

/*
 * The commands, one row each: name, handler, synopsis, the options it takes (CLI_*),
 * help.  lode --help lists them in this order.
 */
const cli_command cli_commands[] = {
    {"run", cmd_run, "lode run MANIFEST -o BUNDLE.nc [-j THREADS] [--max-memory SIZE] [-q]",
     CLI_OUT | CLI_THREADS | CLI_MAX_MEMORY,
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
    {"plan", cmd_plan, "lode plan MANIFEST [--json] [-q] [-w WORK [--tile-rows ROWS]]",
     CLI_JSON | CLI_WORK | CLI_TILE_ROWS,
     "Check the manifest and every source and choose the coordinate operations, as\n"
     "'run' would, and print the plan as a table: per dataset its CRSs, operation (EPSG\n"
     "code), accuracy, ballpark flag, grid and estimated size.  Every problem of the\n"
     "manifest and its datasets is reported at once; each accepted ballpark operation\n"
     "gets a warning line on stderr.  Writes nothing.\n\n"
     "  --json              the whole plan as JSON instead (sources, digests, operations\n"
     "                      with every candidate and why it was refused, target grids)\n"
     "  -q, --quiet         no warnings and (with -w) no summary line: errors only\n"
     "  -w, --work WORK     instead, write the plan into the work folder WORK (made if\n"
     "                      missing) for reproject, package and status\n"
     "  --tile-rows ROWS    cut rasters of at least twice ROWS rows into tiles of ROWS rows\n"
     "                      (a multiple of 512) that shards make apart (default: tiles of\n"
     "                      about 256 MB of output)\n"},
    {"schema", cmd_schema, "lode schema [NAME] [--json] [-q]", CLI_JSON,
     "Print lode's built-in exchange schemas (or the one named): each field with its type,\n"
     "vocabulary and meaning.  A dataset with schema: NAME in the manifest must make\n"
     "exactly these fields (lode plan names every one that does not fit).\n\n"
     "  --json     the schemas as JSON\n"
     "  -q, --quiet  nothing on stdout: the exit status tells whether NAME is known\n"},
    {"reproject", cmd_reproject,
     "lode reproject -w WORK [--shard I/N] [-j THREADS] [--max-memory SIZE] [--force] [-q]",
     CLI_WORK | CLI_SHARD | CLI_FORCE | CLI_THREADS | CLI_MAX_MEMORY,
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
     "  --force             make the parts again even when they exist\n"
     "  -w, --work WORK     the work folder lode plan -w made\n"
     "  -q, --quiet         no progress bar, no summary line: errors only\n"},
    {"package", cmd_package, "lode package -w WORK -o BUNDLE.nc [-q]", CLI_WORK | CLI_OUT,
     "Assemble the parts in WORK into the bundle, copying raster chunks as they are stored.\n"
     "Fails, naming them, if parts are missing.  The bundle holds exactly what lode run\n"
     "makes from the same manifest.\n\n"
     "  -w, --work WORK         the work folder whose parts are made\n"
     "  -o, --output BUNDLE.nc  where to write the bundle (name it .nc for GDAL)\n"
     "  -q, --quiet             no progress bar, no messages but errors\n"},
    {"status", cmd_status, "lode status -w WORK [--json] [-q]", CLI_WORK | CLI_JSON,
     "What the plan in WORK holds and how far it is: parts planned, done, missing and\n"
     "failed (with the error).  Exit 0 when every part is made, 3 when some are not.\n\n"
     "  -w, --work WORK  the work folder\n"
     "  --json           machine-readable output\n"
     "  -q, --quiet      print nothing: the exit status alone tells\n"},
    {"merge", cmd_merge, "lode merge BUNDLE.nc... -o OUT.nc [--prefix] [--max-memory SIZE] [-q]",
     CLI_OUT | CLI_PREFIX | CLI_MAX_MEMORY,
     "Make one bundle from several (e.g. one from each survey).  Each input must verify and\n"
     "all must share the target CRS; datasets are copied as stored with their lineage.\n"
     "A name found in two inputs is refused unless --prefix is given.\n\n"
     "  -o, --output OUT.nc  where to write the merged bundle\n"
     "  --prefix             rename every dataset to STEM_NAME, STEM being its file's name\n"
     "                       without folder and extension (usgs.nc: usgs_dem)\n"
     "  --max-memory SIZE    bound what reading the inputs holds (default 1G), as for verify\n"
     "  -q, --quiet          no progress bar, no messages but errors\n"},
    CLI_VERIFY_ROW,
    {"keygen", cmd_keygen, "lode keygen -o NAME [-q]", CLI_OUT,
     "Make an Ed25519 key pair for signing bundles: NAME.key, the secret key (mode 0600;\n"
     "keep it private), and NAME.pub, the public key partners pass to verify --trust.\n"
     "Existing files are never overwritten.\n\n"
     "  -o, --output NAME  the key files' name, without .key or .pub\n"
     "  -q, --quiet        no messages but errors\n"},
    {"sign", cmd_sign, "lode sign BUNDLE --key NAME.key [--signer NAME] [-q]", CLI_KEY | CLI_SIGNER,
     "Add a signature over the bundle digest and the signer's name.  The bundle must\n"
     "verify first; its digests do not change.  A bundle can carry several signatures\n"
     "(the partner countersigns with its own key).\n\n"
     "  --key NAME.key     the secret key from lode keygen\n"
     "  --signer NAME      who signs, e.g. \"Jabatan Mineral dan Geosains Malaysia\"\n"
     "  -q, --quiet        no messages but errors\n"},
    {"ls", cmd_ls, "lode ls BUNDLE [--json] [--max-memory SIZE] [-q]", CLI_JSON | CLI_MAX_MEMORY,
     "List the datasets in a bundle: type, size, CRS, bounds, nodata, source and the\n"
     "coordinate operation applied.  A dataset with a problem is listed with it, and\n"
     "the exit status is then 1.\n\n"
     "  --json             machine-readable output\n"
     "  --max-memory SIZE  bound what reading the bundle holds (default 1G)\n"
     "  -q, --quiet        no listing: the exit status and errors only\n"},
    {"extract", cmd_extract,
     "lode extract BUNDLE [NAME...] -o DIR [--format gpkg|csv] [--max-memory SIZE] [-q]",
     CLI_OUT | CLI_MAX_MEMORY | CLI_FORMAT,
     "Write each named dataset (all when none is named) into DIR, each checked against its\n"
     "digest first: a raster to NAME.tif, a GeoTIFF with its CRS, geotransform, nodata,\n"
     "band names and units and lineage (LODE_LINEAGE metadata); a vector layer to\n"
     "NAME.gpkg, a GeoPackage whose layer is named NAME; a table (a layer without\n"
     "geometry) to a GeoPackage attributes table.\n\n"
     "  --format csv       vector layers and tables to NAME.csv instead (geometry as WKT)\n"
     "  --max-memory SIZE  bound what reading the bundle holds (default 1G): a dataset\n"
     "                     that cannot be read within it is refused before it is written\n"
     "  -o, --output DIR   the folder to write into (made if missing)\n"
     "  -q, --quiet        no progress bar, no messages but errors\n"},
    {"metadata", cmd_metadata,
     "lode metadata BUNDLE --format iso19139|fgdc|stac -o FILE [--max-memory SIZE] [-q] | lode metadata "
     "--check RECORD",
     CLI_OUT | CLI_FORMAT | CLI_CHECK | CLI_MAX_MEMORY,
     "Write a metadata record of a bundle for a catalogue, from its root attributes and\n"
     "lineage: ISO 19139 XML (ISO 19115; MyGDI, GeoNetwork), FGDC CSDGM XML (USGS) or a\n"
     "STAC 1.1 Item (JSON).  The bundle must verify first.  A field the format requires\n"
     "that the bundle lacks is refused, naming the manifest key that fills it.\n\n"
     "  --format FMT       iso19139, fgdc or stac\n"
     "  -o, --output FILE  where to write the record (a STAC item lists the bundle and\n"
     "                     the STEM.iso19139.xml, STEM.fgdc.xml records beside it)\n"
     "  --check RECORD     validate a record offline against lode's copies of the schemas\n"
     "                     (XML with libxml2; a .json STAC item with python3-jsonschema)\n"
     "  --max-memory SIZE  bound what reading the bundle holds (default 1G)\n"
     "  -q, --quiet        no messages but errors\n"},
    {"report", cmd_report, "lode report BUNDLE -o REPORT.html [--trust KEY.pub]... [--max-memory SIZE] [-q]",
     CLI_OUT | CLI_MAX_MEMORY | CLI_TRUST,
     "Write a report of a bundle for people: one self-contained HTML page (no script, no\n"
     "outside file) with what the bundle is, its verification and signatures, a map with\n"
     "every raster as a quick-look (legend with values and units) and the vector layers\n"
     "over it, and a row per dataset: size, CRS, nodata, fields, source and its SHA-256,\n"
     "the coordinate operation with its EPSG code and accuracy (ballpark and unknown ones\n"
     "marked).  The bundle must verify first.\n\n"
     "  -o, --output REPORT.html  where to write the report\n"
     "  --trust KEY.pub           verify against this public key, as 'lode verify' (repeatable)\n"
     "  --max-memory SIZE         bound what reading the bundle holds (default 1G)\n"
     "  -q, --quiet               no messages but errors\n"},
};

const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];
