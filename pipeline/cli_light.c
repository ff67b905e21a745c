/*
 * cli_light.c -- main of lode-verify: `lode verify` without GDAL.
 *
 * lode (cli_front.c) runs this program for verify, the command a partner runs on every
 * bundle received.  It links PROJ, HDF5 and the hash and signature libraries, not GDAL,
 * whose hundred-odd libraries take 50 ms to load before main runs: verify's checks use
 * nothing of GDAL's (the CF attributes of a CRS come from PROJ, formats/crs_cf.c), and
 * the Makefile links this program without -lgdal, so a use of GDAL added to verify's
 * path fails the build.  Its one command is the row lode-full has (cli_verify.h); its
 * options, help and messages are the same.
 */
#include <stdio.h>
#include <string.h>

#include "lode.h"
#include "cli.h"
#include "cli_verify.h"

const cli_command cli_commands[] = {CLI_VERIFY_ROW};
const size_t cli_ncommands = sizeof cli_commands / sizeof cli_commands[0];

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], cli_commands[0].name) != 0) {
		fprintf(stderr, "lode-verify: runs lode verify only (lode runs it): %s\n",
			cli_commands[0].usage);
		return EXIT_USAGE;
	}
	return cli_run(&cli_commands[0], argc - 1, argv + 1);
}
