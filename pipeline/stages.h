/*
 * stages.h -- PRIVATE to pipeline/: being dissolved into plan.h and write.h.
 */
#ifndef LODE_STAGES_H
#define LODE_STAGES_H

#include "plan.h"
#include "write.h"

#endif /* LODE_STAGES_H */
