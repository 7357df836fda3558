/* op_act.c: elementwise activations relu, tanh and sigmoid. Each backward
 * uses the saved output y, so no extra scratch is needed. */
#include <math.h>

#include "ops.h"

static psync_err act_infer(eng_node *n, uint32_t max_batch)
{
    if (n->in[0]->scalar)
        return eng_shape_fail(n, "input is a scalar loss");
    eng_value_set_shape(n->out, n->in[0]->rank, n->in[0]->shape);
    return PSYNC_OK;
}

static size_t act_count(const eng_node *n, uint32_t batch)
{
    return (size_t)batch * n->out->size;
}

static psync_err relu_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return PSYNC_OK;
}

static void relu_backward(eng_node *n, uint32_t batch)
{
    const float *y = n->out->data, *dy = n->out->grad;
    float *dx = n->gin[0];
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
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
    const float *y = n->out->data, *dy = n->out->grad;
    float *dx = n->gin[0];
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
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
    const float *y = n->out->data, *dy = n->out->grad;
    float *dx = n->gin[0];
    for (size_t i = 0, c = act_count(n, batch); i < c; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

/* One table row per activation: one input, no params, same shape out. */
#define ACT_ROW(op_name, fwd, bwd)                                                              \
    {                                                                                           \
        .name = op_name, .n_inputs = 1, .label_input = -1, .n_params = 0, .infer = act_infer,   \
        .forward = fwd, .backward = bwd,                                                        \
    }

const eng_op eng_op_relu = ACT_ROW("relu", relu_forward, relu_backward);
const eng_op eng_op_tanh = ACT_ROW("tanh", tanh_forward, tanh_backward);
const eng_op eng_op_sigmoid = ACT_ROW("sigmoid", sigmoid_forward, sigmoid_backward);
