/*
 * sign.c -- lode sign: add a signature to a bundle that verifies.
 *
 * The bundle is verified first (verify.c); the signature over its stored bundle digest
 * is made with the secret key (signature.c) and added as a global attribute to a copy
 * of the bundle, renamed into place: the bundle is never half-signed, and its digests
 * do not change.  The format of keys and signatures, and checking them, are
 * signature.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "error.h"
#include "lode.h"
#include "signature.h"
#include "util.h"
#include "verify.h"

/* Copy a file byte for byte (to a new name). */
static lode_status copy_file(const char *from, const char *to, lode_error *err)
{
	FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
	char buf[1 << 16];
	size_t n;
	lode_status rc = LODE_OK;

	if (!in || !out)
		rc = lode__err(err, LODE_EIO, "%s: %s", !in ? from : to, strerror(errno));
	while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = lode__err(err, LODE_EIO, "%s: %s", to, strerror(errno));
	if (!rc && ferror(in))
		rc = lode__err(err, LODE_EIO, "%s: %s", from, strerror(errno));
	if (out && (fflush(out) != 0 || fsync(fileno(out)) != 0) && !rc)
		rc = lode__err(err, LODE_EIO, "%s: %s", to, strerror(errno));
	if (out)
		fclose(out);
	if (in)
		fclose(in);
	return rc;
}

lode_status lode_sign(const char *bundle_path, const char *key_path, const char *signer, lode_error *err)
{
	lode__seckey k;
	char *report = NULL, *digest = NULL, *tmp = NULL, *record = NULL, key[64];
	const char *same;
	lode__bundle *b = NULL;
	lode_kv *root = NULL;
	size_t nroot = 0;
	lode_status rc;

	lode__err_clear(err);
	if ((rc = lode__signature_init(err)))
		return rc;
	if (!signer || !signer[0])
		signer = "(unnamed)";
	if (lode__has_control(signer))
		return lode__err(err, LODE_EUSAGE,
				 "the signer's name must be one line without control characters");
	/* Only an intact bundle is signed. */
	if ((rc = lode_verify(bundle_path, &report, err))) {
		lode__err_ctx(err, "will not sign a bundle that does not verify: ");
		goto out;
	}
	if ((rc = lode__seckey_load(key_path, &k, err)))
		goto out;
	if ((rc = lode__bundle_open(bundle_path, &b, err)) ||
	    (rc = lode__bundle_get_attr(b, "lode_bundle_sha256", &digest, err)) ||
	    (rc = lode__bundle_root_attrs(b, &root, &nroot, err)))
		goto out;
	if ((same = lode__signature_find(root, nroot, &k, key))) {
		rc =
		    lode__err(err, LODE_EUSAGE, "%s is already signed with this key (%s)", bundle_path, same);
		goto out;
	}
	lode__bundle_close(b, NULL);
	b = NULL;
	if ((rc = lode__signature_make(&k, digest, signer, &record, err)))
		goto out;
	tmp = lode__sprintf("%s.sign-tmp-%ld", bundle_path, (long)getpid());
	if (!tmp) {
		rc = lode__err(err, LODE_ENOMEM, "out of memory");
		goto out;
	}
	/* Sign a copy and rename it into place: the bundle is never half-signed. */
	if ((rc = copy_file(bundle_path, tmp, err)) || (rc = lode__bundle_open_rw(tmp, &b, err)))
		goto out;
	{
		lode_attr a = {key, record};
		if ((rc = lode__bundle_set_attrs(b, NULL, &a, 1, err)))
			goto out;
	}
	rc = lode__bundle_close(b, err);
	b = NULL;
	if (rc)
		goto out;
	if (rename(tmp, bundle_path) != 0) {
		rc = lode__err(err, LODE_EIO, "%s: %s", bundle_path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	lode__seckey_wipe(&k);
	lode__bundle_close(b, NULL);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	lode__kv_free(root, nroot);
	free(report);
	free(digest);
	free(record);
	return rc;
}
