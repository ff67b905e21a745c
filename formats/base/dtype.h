/*
 * dtype.h -- PRIVATE to liblode (formats/base/dtype.c): the pixel data types a raster
 * may have, named as GDAL names them.
 */
#ifndef LODE_BASE_DTYPE_H
#define LODE_BASE_DTYPE_H

#include <stddef.h>

typedef enum lode_dtype {
	LODE_DT_UNKNOWN = 0,
	LODE_DT_U8,
	LODE_DT_I8,
	LODE_DT_U16,
	LODE_DT_I16,
	LODE_DT_U32,
	LODE_DT_I32,
	LODE_DT_U64,
	LODE_DT_I64,
	LODE_DT_F32,
	LODE_DT_F64
} lode_dtype;

size_t lode__dtype_size(lode_dtype t);      /* bytes per value; 0 for unknown */
const char *lode__dtype_name(lode_dtype t); /* GDAL's names: Byte, Int16, Float32 ... */
lode_dtype lode__dtype_from_name(const char *name);
/* Is v exactly representable in t (integers in range, no fraction)? */
int lode__dtype_holds(lode_dtype t, double v);

#endif /* LODE_BASE_DTYPE_H */
