/*
 * verify.h -- the verify module (verify.c): a bundle's content digests, coordinates,
 * lineage, structure, bundle digest and signatures checked.  Its interface is public,
 * lode_verify and lode_verify_trusted, declared with their contracts in lode.h; other
 * modules that verify (sign.c) include this header to say so.
 */
#ifndef LODE_VERIFY_H
#define LODE_VERIFY_H

#include "lode.h"

#endif /* LODE_VERIFY_H */
