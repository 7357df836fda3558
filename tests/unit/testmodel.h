/* testmodel.h: a small but complete model for protocol tests and seed
 * blobs: an MLP graph with params, Adam slots, a buffer, optimizer state,
 * training state and metadata, filled with deterministic values. */
#ifndef PSYNC_TESTMODEL_H
#define PSYNC_TESTMODEL_H

#include "model.h"

/* Builds the test model into *out (caller destroys it). */
psync_err testmodel_build(psync_model **out);

/* Asserts with cmocka-free checks that a and b are equal in every field and
 * tensor byte; returns 0 if equal, else the 1-based index of the first
 * difference found (for diagnostics). */
int testmodel_diff(const psync_model *a, const psync_model *b);

#endif
