/* engine_testnet.h: builds small psync models layer by layer for the engine
 * tests (gradient checks, the PyTorch step comparison, timings): inputs "x"
 * (f32) and "y" (i32 label), then layers, then a softmax_xent loss. Weights
 * are deterministic (seeded xoshiro, uniform +-1/sqrt(fan_in)). */
#ifndef PSYNC_ENGINE_TESTNET_H
#define PSYNC_ENGINE_TESTNET_H

#include <stdint.h>

#include "model.h"

typedef struct tnet {
    psync_model *m;
    char last[PSYNC_NAME_MAX]; /* name of the last node (or "x") */
    uint64_t rng[4];           /* weight initialisation stream */
    psync_err err;             /* first failure; later calls do nothing */
} tnet;

/* Starts a model whose f32 input has the per-sample shape given. */
void tnet_begin(tnet *t, uint64_t seed, uint32_t rank, const uint64_t *shape);
void tnet_dense(tnet *t, const char *name, uint64_t in, uint64_t out);
void tnet_conv(tnet *t, const char *name, uint64_t in_c, uint64_t out_c, uint64_t k, int64_t stride,
               int64_t pad);
/* A parameterless op with optional integer attrs (key NULL: none). */
void tnet_op(tnet *t, const char *name, const char *op, const char *key1, int64_t v1,
             const char *key2, int64_t v2);
void tnet_dropout(tnet *t, const char *name, double rate);
/* Adds the loss node and sets output/loss; returns the model (or NULL on
 * any earlier failure, t->err telling why). The caller owns the model. */
psync_model *tnet_end(tnet *t);

/* Fills n floats with deterministic uniform values in [-a, a). */
void tnet_fill(uint64_t rng[4], float *dst, uint64_t n, float a);

#endif
