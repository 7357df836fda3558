/* flatmodel.h: the model the cluster benchmarks ship: one f32 param "fc.w"
 * of shape [1, n] behind a one-node graph (input x -> dense fc), so the
 * payload is n * 4 bytes and every byte of it is merged. */
#ifndef PSYNC_BENCH_FLATMODEL_H
#define PSYNC_BENCH_FLATMODEL_H

#include <stdint.h>

#include "error.h"
#include "model.h"

/* New model with n values all equal to value; *out owned by the caller
 * (psync_model_destroy), NULL on error. PSYNC_ENOMEM / PSYNC_ELIMIT. */
psync_err bench_flat_model(uint64_t n, float value, psync_model **out);

#endif
