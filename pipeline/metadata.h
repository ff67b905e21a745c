/*
 * metadata.h -- the metadata module (metadata.c): lode_metadata and lode_metadata_check
 * are public (lode.h); these two are for the stages that write a bundle (run.c,
 * work_package.c) when the manifest lists metadata: records to write beside it.
 */
#ifndef LODE_METADATA_H
#define LODE_METADATA_H

#include "lode.h"
#include "manifest.h"

/*
 * Before anything is written: can the records m->metadata lists be made from the
 * manifest's bundle: keys?  LODE_EMANIFEST naming the first key missing (or the STAC
 * datetime), else LODE_OK.
 */
lode_status lode__metadata_precheck(const lode_manifest *m, const char *manifest_path, lode_error *err);

/*
 * After the bundle is written: each record of formats (LODE_MD_* bits) beside it, as
 * lode_metadata makes it, in the order ISO 19139, FGDC, STAC (so the item lists the
 * others): BUNDLE.nc -> BUNDLE.iso19139.xml, BUNDLE.fgdc.xml, BUNDLE.stac.json.  On a
 * failure the bundle stays and the error says which record was not written.
 */
lode_status lode__metadata_beside(const char *bundle_path, unsigned formats, lode_error *err);

#endif /* LODE_METADATA_H */
