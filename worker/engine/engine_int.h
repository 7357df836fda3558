/* engine_int.h: the compiled engine shared by engine.c (compile, lifetime)
 * and engine_run.c (forward, backward, update, predict). Private to
 * worker/engine. */
#ifndef PSYNC_ENGINE_INT_H
#define PSYNC_ENGINE_INT_H

#include "engine.h"
#include "ops.h"

struct psync_engine {
    psync_model *m; /* borrowed */
    uint32_t max_batch;
    uint32_t n_values; /* graph inputs, then one per node */
    eng_value *values;
    uint32_t n_nodes;
    eng_node *nodes;
    uint32_t n_params;
    eng_param *params;     /* one per distinct node param */
    eng_value *x, *labels; /* the f32 input and the i32 label input */
    eng_value *output, *loss;
    float *arena;              /* every buffer, allocated once */
    psync_opt_kind bound_kind; /* optimizer whose slots the params point at */
    uint32_t fwd_batch;        /* batch of the last forward */
    bool fwd_grad_ready;       /* last forward was training with a loss */
    bool bwd_ready;            /* grads hold the last backward */
};

/* engine.c: points every param at its tensor and its optimizer's slots
 * (also after the optimizer kind changed); PSYNC_ENOTFOUND / ESHAPE. */
psync_err eng_bind(psync_engine *e);

#endif
