/* op_act.c: elementwise activations relu, tanh and sigmoid. Each backward
 * uses the saved output y, so no extra scratch is needed. */
#include <math.h>

#include "ops.h"

static psync_err act_infer(eng_node *n, uint32_t max_batch)
{
    if (n->in[0]->scalar) return eng_shape_fail(n, "input is a scalar loss");
    eng_value_set_shape(n->out, n->in[0]->rank, n->in[0]->shape);
    return PSYNC_OK;
}

static size_t act_count(const eng_node *n, uint32_t batch)
{
    return (size_t)batch * n->out->size;
}

static void relu_fwd_loop(float *restrict y, const float *restrict x, size_t c)
{
    ENG_VLOOP(i, c, { y[i] = x[i] > 0.0f ? x[i] : 0.0f; });
}

static void relu_bwd_loop(float *restrict dx, const float *restrict y, const float *restrict dy,
                          size_t c)
{
    ENG_VLOOP(i, c, {
        const float d = dy[i]; /* loaded unconditionally so the select vectorizes */
        dx[i] = y[i] > 0.0f ? d : 0.0f;
    });
}

static void tanh_bwd_loop(float *restrict dx, const float *restrict y, const float *restrict dy,
                          size_t c)
{
    ENG_VLOOP(i, c, { dx[i] = dy[i] * (1.0f - y[i] * y[i]); });
}

static void sigmoid_bwd_loop(float *restrict dx, const float *restrict y, const float *restrict dy,
                             size_t c)
{
    ENG_VLOOP(i, c, { dx[i] = dy[i] * y[i] * (1.0f - y[i]); });
}

static psync_err relu_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    relu_fwd_loop(n->out->data, n->in[0]->data, act_count(n, batch));
    return PSYNC_OK;
}

static void relu_backward(eng_node *n, uint32_t batch)
{
    relu_bwd_loop(n->gin[0], n->out->data, n->out->grad, act_count(n, batch));
}

static psync_err tanh_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        y[i] = tanhf(x[i]);
    return PSYNC_OK;
}

static void tanh_backward(eng_node *n, uint32_t batch)
{
    tanh_bwd_loop(n->gin[0], n->out->data, n->out->grad, act_count(n, batch));
}

static psync_err sigmoid_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
    return PSYNC_OK;
}

static void sigmoid_backward(eng_node *n, uint32_t batch)
{
    sigmoid_bwd_loop(n->gin[0], n->out->data, n->out->grad, act_count(n, batch));
}

/* One table row per activation: one input, no params, same shape out. */
#define ACT_ROW(op_name, fwd, bwd)                                                                 \
    {                                                                                              \
        .name = op_name, .n_inputs = 1, .label_input = -1, .n_params = 0, .infer = act_infer,      \
        .forward = fwd, .backward = bwd,                                                           \
    }

const eng_op eng_op_relu = ACT_ROW("relu", relu_forward, relu_backward);
const eng_op eng_op_tanh = ACT_ROW("tanh", tanh_forward, tanh_backward);
const eng_op eng_op_sigmoid = ACT_ROW("sigmoid", sigmoid_forward, sigmoid_backward);
