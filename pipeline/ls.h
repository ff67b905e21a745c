/*
 * ls.h -- the ls module (ls.c): a bundle described as text or JSON.  Its interface is
 * public, lode_ls, declared with its contract in lode.h.
 */
#ifndef LODE_LS_H
#define LODE_LS_H

#include "lode.h"

#endif /* LODE_LS_H */
