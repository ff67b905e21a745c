/*
 * version.c -- lode_library_versions: the versions of the libraries lode runs with, as
 * linked (GDAL, PROJ and HDF5 asked at run time; libdeflate, which has no such query,
 * as built), for lode --version and bug reports.  Each adapter of formats/ answers for
 * its library; this file only joins their answers.
 */
#include <stdio.h>

#include "bundle.h"
#include "chunk_codec.h"
#include "crs_proj.h"
#include "lode.h"
#include "raster_gdal.h"

const char *lode_library_versions(void)
{
	static char line[160];

	snprintf(line, sizeof line, "GDAL %s, PROJ %s, HDF5 %s, libdeflate %s", lode__gdal_version(),
		 lode__proj_version(), lode__hdf5_version(), lode__deflate_version());
	return line;
}
