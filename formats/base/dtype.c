/*
 * dtype.c -- the table of pixel data types: size, GDAL's name and the range of values
 * each holds.  Nothing else.
 */
#include <math.h>
#include <string.h>

#include "dtype.h"

static const struct {
	lode_dtype t;
	size_t size;
	const char *name;
	double lo, hi;
} dtypes[] = {
    {LODE_DT_U8, 1, "Byte", 0, 255},
    {LODE_DT_I8, 1, "Int8", -128, 127},
    {LODE_DT_U16, 2, "UInt16", 0, 65535},
    {LODE_DT_I16, 2, "Int16", -32768, 32767},
    {LODE_DT_U32, 4, "UInt32", 0, 4294967295.0},
    {LODE_DT_I32, 4, "Int32", -2147483648.0, 2147483647.0},
    {LODE_DT_U64, 8, "UInt64", 0, 18446744073709551615.0},
    {LODE_DT_I64, 8, "Int64", -9223372036854775808.0, 9223372036854775807.0},
    {LODE_DT_F32, 4, "Float32", -3.4028234663852886e38, 3.4028234663852886e38},
    {LODE_DT_F64, 8, "Float64", -HUGE_VAL, HUGE_VAL},
};

size_t lode__dtype_size(lode_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].size;
	return 0;
}

const char *lode__dtype_name(lode_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].name;
	return "Unknown";
}

lode_dtype lode__dtype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return dtypes[i].t;
	return LODE_DT_UNKNOWN;
}

int lode__dtype_holds(lode_dtype t, double v)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
		if (dtypes[i].t != t)
			continue;
		if (t == LODE_DT_F32 || t == LODE_DT_F64)
			return isnan(v) || (v >= dtypes[i].lo && v <= dtypes[i].hi) || isinf(v);
		return isfinite(v) && v == floor(v) && v >= dtypes[i].lo && v <= dtypes[i].hi;
	}
	return 0;
}
