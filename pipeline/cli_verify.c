/*
 * cli_verify.c -- lode verify: the command's handler and its row of the command table,
 * shared by lode-full's table (cli_commands.c) and lode-verify's (cli_light.c), which
 * runs it without GDAL.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lode.h"
#include "cli.h"
#include "cli_progress.h"
#include "cli_verify.h"

int cli_cmd_verify(const cli_opts *o, int nargs, char **args)
{
	lode_error err = {0};
	lode_read_options ro = {
	    .max_memory = o->max_memory, .report_json = o->json, .full = o->full, .progress = cli_draw_bar};
	cli_bar b = {.last = -1};
	char *report = NULL;
	lode_status rc;

	if (nargs != 1)
		return cli_usage_error("verify", "expected one BUNDLE", NULL);
	cli_bar_start(&b, o->quiet);
	ro.progress_user = &b;
	rc = lode_verify_opt(args[0], o->trust, o->ntrust, &ro, &report, &err);
	cli_bar_end(&b);
	/* --json: the report whatever -q says (JSON escapes what the file holds). */
	if (report && o->json)
		printf("%s\n", report);
	else if (report && !o->quiet)
		cli_put_printable_lines(stdout, report);
	free(report);
	if (rc != LODE_OK)
		return cli_fail(&err);
	if (o->json)
		return 0;
	if (!o->quiet)
		printf("OK: %s verified\n", args[0]);
	return 0;
}
