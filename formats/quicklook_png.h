/*
 * quicklook_png.h -- an RGBA image encoded as PNG and then as base64 text, for a data:
 * URI in lode report's page (formats/quicklook_png.c, GDAL's PNG driver through
 * /vsimem/: nothing touches the disk).
 */
#ifndef LODE_QUICKLOOK_PNG_H
#define LODE_QUICKLOOK_PNG_H

#include "lode_error.h"

/* rgba: w x h pixels, 4 bytes each (red, green, blue, alpha), row after row.  *b64:
   the PNG file's bytes in base64 (malloc'd, NUL-terminated). */
lode_status lode__png_base64(const unsigned char *rgba, int w, int h, char **b64, lode_error *err);

#endif /* LODE_QUICKLOOK_PNG_H */
