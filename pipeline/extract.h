/*
 * extract.h -- the extract module (extract.c): datasets of a bundle written out as
 * GeoTIFFs and GeoPackages, each checked against its content digest.  Its interface is
 * public, lode_extract, declared with its contract in lode.h.
 */
#ifndef LODE_EXTRACT_H
#define LODE_EXTRACT_H

#include "lode.h"

#endif /* LODE_EXTRACT_H */
