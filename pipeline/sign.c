/*
 * sign.c -- lode sign: add a signature to a bundle that verifies.
 *
 * The bundle is verified first (verify.c); the signature over its stored bundle digest
 * is made with the secret key (signature.c) and added as a global attribute to a copy
 * of the bundle made in a private folder beside it (publish.h), renamed into place with
 * the bundle's mode: the bundle is never half-signed, and its digests do not change.  The format of keys and
 * signatures, and checking them, are signature.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "error.h"
#include "lode.h"
#include "publish.h"
#include "signature.h"
#include "util.h"
#include "verify.h"

/* Copy file from, byte for byte, into descriptor out (closed here). */
static lode_status copy_into(const char *from, int out, const char *to, lode_error *err)
{
	int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[1 << 16];
	ssize_t n = 0;
	lode_status rc = LODE_OK;

	if (in < 0)
		rc = lode__err(err, LODE_EIO, "%s: %s", from, strerror(errno));
	while (!rc && (n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lode__err(err, LODE_EIO, "%s: %s", from, strerror(errno));
			break;
		}
		for (ssize_t done = 0, k; !rc && done < n; done += k)
			if ((k = write(out, buf + done, (size_t)(n - done))) < 0) {
				if (errno == EINTR)
					k = 0;
				else
					rc = lode__err(err, LODE_EIO, "%s: %s", to, strerror(errno));
			}
	}
	if (in >= 0)
		close(in);
	if (close(out) != 0 && !rc)
		rc = lode__err(err, LODE_EIO, "%s: %s", to, strerror(errno));
	return rc;
}

lode_status lode_sign(const char *bundle_path, const char *key_path, const char *signer, lode_error *err)
{
	lode__seckey k;
	char *report = NULL, *digest = NULL, *record = NULL, key[64];
	const char *same;
	lode__bundle *b = NULL;
	lode_kv *root = NULL;
	size_t nroot = 0;
	lode__pub pub = {.dirfd = -1, .parentfd = -1, .slot = -1};
	int fd;
	lode_status rc;

	lode__err_clear(err);
	if ((rc = lode__signature_init(err)))
		return rc;
	if (!signer || !signer[0])
		signer = "(unnamed)";
	if (lode__has_control(signer))
		return lode__err(err, LODE_EUSAGE,
				 "the signer's name must be one line without control characters");
	/* The bundle is replaced: it must be a regular file, and not the key. */
	if ((rc = lode__pub_check_dest(bundle_path, err)))
		return rc;
	if (lode__same_file(bundle_path, key_path))
		return lode__err(
		    err, LODE_EUSAGE,
		    "will not sign %s with --key %s: they are the same file (the key is NAME.key "
		    "from lode keygen)",
		    bundle_path, key_path);
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
	/* Sign a copy made in a private folder beside it and rename it into place (with the
	   bundle's mode): the bundle is never half-signed, and no write follows a planted
	   name. */
	if ((rc = lode__pub_begin(&pub, bundle_path, err)))
		goto out;
	if ((fd = lode__pub_create(&pub, err)) < 0) {
		rc = err->code;
		goto out;
	}
	if ((rc = copy_into(bundle_path, fd, bundle_path, err)) ||
	    (rc = lode__bundle_open_rw(pub.path, &b, err)))
		goto out;
	{
		lode_attr a = {key, record};
		if ((rc = lode__bundle_set_attrs(b, NULL, &a, 1, err)))
			goto out;
	}
	rc = lode__bundle_close(b, err);
	b = NULL;
	if (!rc)
		rc = lode__pub_commit(&pub, err);
out:
	if (rc)
		lode__pub_message(&pub, err);
	lode__pub_abort(&pub);
	lode__seckey_wipe(&k);
	lode__bundle_close(b, NULL);
	lode__kv_free(root, nroot);
	free(report);
	free(digest);
	free(record);
	return rc;
}
