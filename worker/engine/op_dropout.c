/* op_dropout.c: inverted dropout (attr "rate", the drop probability). While
 * training, each element is kept with probability 1-rate and scaled by
 * 1/(1-rate); the mask is drawn from the model's RNG so a resumed model
 * draws the same masks. Identity when not training. */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

static psync_err dropout_infer(eng_node *n, uint32_t max_batch)
{
    double rate = psync_node_float(n->src, "rate", 0.5);
    if (!(rate >= 0.0 && rate < 1.0))
        return psync_fail(PSYNC_EGRAPH, "node '%s' (dropout): rate %g outside [0, 1)", n->src->name,
                          rate);
    if (n->in[0]->scalar) return eng_shape_fail(n, "input is a scalar loss");
    n->fattr = (float)rate;
    eng_value_set_shape(n->out, n->in[0]->rank, n->in[0]->shape);
    n->scratch_len = (size_t)max_batch * n->out->size; /* the scaled mask */
    return PSYNC_OK;
}

static psync_err dropout_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const size_t count = (size_t)batch * n->out->size;
    const float *x = n->in[0]->data;
    float *y = n->out->data, *mask = n->scratch;
    if (!run->training) {
        memcpy(y, x, count * sizeof(float));
        return PSYNC_OK;
    }
    const float rate = n->fattr, scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < count; i++) {
        mask[i] = psync_rng_uniform_f32(run->rng) >= rate ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
    return PSYNC_OK;
}

static void dropout_bwd_loop(float *restrict dx, const float *restrict dy,
                             const float *restrict mask, size_t count)
{
    ENG_VLOOP(i, count, { dx[i] = dy[i] * mask[i]; });
}

static void dropout_backward(eng_node *n, uint32_t batch)
{
    dropout_bwd_loop(n->gin[0], n->out->grad, n->scratch, (size_t)batch * n->out->size);
}

const eng_op eng_op_dropout = {
    .name = "dropout",
    .n_inputs = 1,
    .label_input = -1,
    .n_params = 0,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
