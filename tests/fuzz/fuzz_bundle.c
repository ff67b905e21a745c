/*
 * fuzz_bundle.c -- libFuzzer target: the bytes are a bundle file handed to lode_verify
 * and to lode_ls as text and as JSON.  Everything returned is freed.
 *
 * By default lode reads the bundle the way users run it: in a child process that
 * contains HDF5 1.10's own crashes and hangs on hostile metadata (reported as
 * "damaged"), so this target checks lode's side: the parent, the protocol, the
 * watchdog, leaks and error records.  LODE_FUZZ_IN_PROCESS=1 reads in the fuzzer's
 * own process instead, for deeper campaigns that also reach HDF5's own bugs (found so
 * far: tests/fuzz/regressions/fuzz_bundle, both inside HDF5).
 *
 * After each input the target checks that no HDF5 object is left open: an id lode
 * forgets to close on an error path is a leak LeakSanitizer cannot see (HDF5 keeps it
 * in its own tables), and in a long-lived process it keeps the file open.  Set
 * LODE_FUZZ_ALLOW_OPEN_IDS=1 to turn that check off.
 *
 * Build and run: make fuzz (see tests/fuzz/README.md).
 */
#include <stdint.h>

#include <hdf5.h>

#include "fuzz_common.h"
#include "lode.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_ids = 1;

/* In the child that reads the bundle, a sanitizer report ends the child quietly with a
   failure status, which the parent reports as "damaged", as in production. */
void __sanitizer_set_death_callback(void (*callback)(void));
void lode__child_hook(void);

static void child_death(void)
{
	_exit(77);
}

void lode__child_hook(void)
{
	__sanitizer_set_death_callback(child_death);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("LODE_FUZZ_IN_PROCESS"))
		setenv("LODE_IN_PROCESS", "1", 1);
	else
		setenv("LODE_WATCHDOG_SECONDS", "5", 0); /* a hung child is killed quickly */
	/* GDAL/PROJ are only used for labels; keep them from looking for network grids. */
	setenv("PROJ_NETWORK", "OFF", 1);
	if (getenv("LODE_FUZZ_ALLOW_OPEN_IDS"))
		check_ids = 0;
	fuzz_tmp_init("bundle", ".nc");
	return 0;
}

static void check_report(const char *what, lode_status rc, const lode_error *err)
{
	if (rc != LODE_OK && (err->code != rc || !memchr(err->message, '\0', sizeof err->message) ||
			      !err->message[0])) {
		fprintf(stderr, "fuzz_bundle: %s failed (%d) without a proper error record\n", what, (int)rc);
		abort();
	}
}

/* Abort if lode left any HDF5 file or object open. */
static void check_open_ids(const char *after)
{
	ssize_t n;

	if (!check_ids)
		return;
	n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
	if (n != 0) {
		fprintf(stderr,
			"fuzz_bundle: %zd HDF5 object(s) left open after %s (files %zd, datasets %zd, "
			"groups %zd, datatypes %zd, attributes %zd)\n",
			n, after, H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_FILE),
			H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_DATASET),
			H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_GROUP),
			H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_DATATYPE),
			H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ATTR));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lode_error err;
	char *text = NULL;
	lode_status rc;

	fuzz_write(data, size);

	memset(&err, 0, sizeof err);
	rc = lode_verify(fuzz_path, &text, &err);
	check_report("lode_verify", rc, &err);
	free(text);
	text = NULL;
	check_open_ids("lode_verify");

	memset(&err, 0, sizeof err);
	rc = lode_ls(fuzz_path, 0, &text, &err);
	check_report("lode_ls", rc, &err);
	free(text);
	text = NULL;
	check_open_ids("lode_ls");

	memset(&err, 0, sizeof err);
	rc = lode_ls(fuzz_path, 1, &text, &err);
	check_report("lode_ls --json", rc, &err);
	free(text);
	check_open_ids("lode_ls --json");
	return 0;
}
