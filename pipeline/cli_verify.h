/*
 * cli_verify.h -- PRIVATE to the lode command: verify's handler and its row of a command
 * table (cli.h), for lode-full's table and lode-verify's.
 */
#ifndef LODE_CLI_VERIFY_H
#define LODE_CLI_VERIFY_H

#include "cli.h"

int cli_cmd_verify(const cli_opts *o, int nargs, char **args);

/* verify's row: its name, handler, synopsis, options and help. */
#define CLI_VERIFY_ROW                                                                                       \
	{                                                                                                    \
		"verify", cli_cmd_verify,                                                                    \
		    "lode verify BUNDLE [--trust NAME.pub]... [--max-memory SIZE] [--full] [--json] [-q]",   \
		    CLI_TRUST | CLI_MAX_MEMORY | CLI_JSON | CLI_FULL,                                        \
		    "Recompute the bundle digest (over every stored byte a reader decodes) and each\n"       \
		    "vector layer's content digest, check the structure and every signature.  When the\n"    \
		    "bundle digest does not match, every raster is decoded to name the damaged ones.\n"      \
		    "Exit 0 when everything matches; exit 1 naming each damaged dataset or failing\n"        \
		    "signature.\n\n"                                                                         \
		    "  --trust NAME.pub   a partner's public key (repeatable): then at least one valid\n"    \
		    "                     signature by one of these keys is required\n"                      \
		    "  --max-memory SIZE  bound what reading the bundle holds (default 1G, e.g. 256M, "      \
		    "4G):\n"                                                                                 \
		    "                     a dataset that cannot be read within it is not checked, and\n"     \
		    "                     the bundle not verified (exit 1)\n"                                \
		    "  --full             also decode every raster and recompute its content digest\n"       \
		    "                     when the bundle digest matches (slower: checks that the\n"         \
		    "                     stored chunks decode to the values the writer digested)\n"         \
		    "  --json             the report as one JSON object (printed also with -q)\n"            \
		    "  -q, --quiet        no report, no progress bar: the exit status and errors only\n"     \
	}

#endif /* LODE_CLI_VERIFY_H */
