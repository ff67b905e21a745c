/*
 * fuzz_manifest.c -- libFuzzer target: the bytes are a manifest file handed to
 * lode__manifest_load (formats/manifest_yaml.c).  The model is freed on success, so
 * LeakSanitizer sees any allocation the loader forgets on an error path.
 *
 * Build and run: make fuzz (see tests/fuzz/README.md).
 */
#include <stdint.h>

#include "fuzz_common.h"
#include "manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmp_init("manifest", ".yaml");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lode_manifest *m = NULL;
	lode_error err;
	lode_status rc;

	memset(&err, 0, sizeof err);
	fuzz_write(data, size);
	rc = lode__manifest_load(fuzz_path, &m, &err);
	if (rc == LODE_OK) {
		/* A loaded model must be complete: the invariants run.c relies on. */
		if (!m || !m->target_crs || m->ndatasets == 0 || !m->datasets || !(m->xres > 0) ||
		    !(m->yres > 0) || !(m->bounds[2] > m->bounds[0]) || !(m->bounds[3] > m->bounds[1])) {
			fprintf(stderr, "fuzz_manifest: LODE_OK with an incomplete model\n");
			abort();
		}
		for (size_t i = 0; i < m->ndatasets; i++) {
			const lode_dataset_spec *d = &m->datasets[i];
			if (!d->name || !lode__name_ok(d->name) || !d->source || !d->source_path ||
			    !d->resampling) {
				fprintf(stderr, "fuzz_manifest: LODE_OK with an incomplete dataset %zu\n", i);
				abort();
			}
		}
	} else {
		if (m) {
			fprintf(stderr, "fuzz_manifest: failure %d but a model was returned\n", (int)rc);
			abort();
		}
		if (err.code != rc || !memchr(err.message, '\0', sizeof err.message) || !err.message[0]) {
			fprintf(stderr, "fuzz_manifest: failure %d without a proper error record\n", (int)rc);
			abort();
		}
	}
	lode__manifest_free(m);
	return 0;
}
