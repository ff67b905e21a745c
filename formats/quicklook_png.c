/*
 * quicklook_png.c -- an RGBA image as a base64 PNG (quicklook_png.h): a MEM dataset
 * copied by GDAL's PNG driver into a /vsimem/ file, whose bytes CPLBase64Encode turns
 * into text.  The temporary in-memory file (and any .aux.xml beside it) is removed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include "error.h"
#include "quicklook_png.h"
#include "util.h"

lode_status lode__png_base64(const unsigned char *rgba, int w, int h, char **b64, lode_error *err)
{
	GDALDriverH mem = GDALGetDriverByName("MEM"), png = GDALGetDriverByName("PNG");
	GDALDatasetH ds = NULL, out = NULL;
	char name[96], aux[112];
	vsi_l_offset len = 0;
	GByte *bytes;
	char *text = NULL;
	lode_status rc = LODE_OK;

	*b64 = NULL;
	if (!mem || !png)
		return lode__err(err, LODE_EIO, "GDAL has no %s driver to make the quick-look",
				 mem ? "PNG" : "MEM");
	if (w < 1 || h < 1 || (int64_t)w * h > 16 * 1024 * 1024)
		return lode__err(err, LODE_EIO, "a quick-look of %d x %d pixels", w, h);
	snprintf(name, sizeof name, "/vsimem/lode_quicklook_%p.png", (const void *)rgba);
	snprintf(aux, sizeof aux, "%s.aux.xml", name);
	ds = GDALCreate(mem, "", w, h, 4, GDT_Byte, NULL);
	if (!ds ||
	    GDALDatasetRasterIO(ds, GF_Write, 0, 0, w, h, (void *)(uintptr_t)rgba, w, h, GDT_Byte, 4, NULL, 4,
				(GSpacing)4 * w, 1) != CE_None ||
	    !(out = GDALCreateCopy(png, name, ds, FALSE, NULL, NULL, NULL))) {
		rc = lode__err(err, LODE_EIO, "making the quick-look PNG: %s", CPLGetLastErrorMsg());
		goto done;
	}
	GDALClose(out);
	out = NULL;
	bytes = VSIGetMemFileBuffer(name, &len, FALSE);
	if (!bytes || len == 0 || len > INT32_MAX / 2) {
		rc = lode__err(err, LODE_EIO, "making the quick-look PNG: no bytes written");
		goto done;
	}
	text = CPLBase64Encode((int)len, bytes);
	if (!text || !(*b64 = lode__strdup(text)))
		rc = lode__err(err, LODE_ENOMEM, "out of memory encoding the quick-look");
done:
	CPLFree(text);
	if (out)
		GDALClose(out);
	if (ds)
		GDALClose(ds);
	VSIUnlink(name);
	VSIUnlink(aux);
	return rc;
}
