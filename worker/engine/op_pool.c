/* op_pool.c: maxpool2d over NCHW samples [C,H,W] (attrs size, stride
 * defaulting to size; no padding). Forward records each window's argmax
 * (first maximum wins, as in PyTorch) so backward is a scatter. */
#include <string.h>

#include "ops.h"

enum { POOL_SIZE, POOL_STRIDE };

static psync_err pool_infer(eng_node *n, uint32_t max_batch)
{
    const eng_value *x = n->in[0];
    psync_err err = eng_need_rank(n, x, 3);
    if (err) return err;
    int64_t k = psync_node_int(n->src, "size", 2);
    int64_t s = psync_node_int(n->src, "stride", k);
    if (k < 1 || s < 1 || k > 1 << 16 || s > 1 << 16)
        return psync_fail(PSYNC_EGRAPH, "node '%s' (maxpool2d): size %lld / stride %lld invalid",
                          n->src->name, (long long)k, (long long)s);
    if (x->shape[1] < (uint64_t)k || x->shape[2] < (uint64_t)k)
        return eng_shape_fail(n, "window %lld larger than input %llux%llu", (long long)k,
                              (unsigned long long)x->shape[1], (unsigned long long)x->shape[2]);
    uint64_t dims[3] = {x->shape[0], (x->shape[1] - (uint64_t)k) / (uint64_t)s + 1,
                        (x->shape[2] - (uint64_t)k) / (uint64_t)s + 1};
    n->iattr[POOL_SIZE] = k;
    n->iattr[POOL_STRIDE] = s;
    eng_value_set_shape(n->out, 3, dims);
    n->iscratch_len = (size_t)max_batch * n->out->size; /* argmax per output */
    return PSYNC_OK;
}

/* Max of the window at (oh, ow) of one channel plane; *arg gets its index. */
static float pool_window(const float *plane, size_t w, size_t k, size_t h0, size_t w0, int32_t *arg)
{
    size_t best = h0 * w + w0;
    for (size_t i = h0; i < h0 + k; i++)
        for (size_t j = w0; j < w0 + k; j++)
            if (plane[i * w + j] > plane[best]) best = i * w + j;
    *arg = (int32_t)best;
    return plane[best];
}

static psync_err pool_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const size_t k = (size_t)n->iattr[POOL_SIZE], s = (size_t)n->iattr[POOL_STRIDE];
    const size_t h = n->in[0]->shape[1], w = n->in[0]->shape[2];
    const size_t oh = n->out->shape[1], ow = n->out->shape[2];
    const size_t planes = (size_t)batch * n->out->shape[0];
    for (size_t p = 0; p < planes; p++) {
        const float *plane = n->in[0]->data + p * h * w;
        float *y = n->out->data + p * oh * ow;
        int32_t *arg = n->iscratch + p * oh * ow;
        for (size_t i = 0; i < oh; i++)
            for (size_t j = 0; j < ow; j++)
                y[i * ow + j] = pool_window(plane, w, k, i * s, j * s, &arg[i * ow + j]);
    }
    return PSYNC_OK;
}

static void pool_backward(eng_node *n, uint32_t batch)
{
    const size_t in_plane = n->in[0]->shape[1] * n->in[0]->shape[2];
    const size_t out_plane = n->out->shape[1] * n->out->shape[2];
    const size_t planes = (size_t)batch * n->out->shape[0];
    memset(n->gin[0], 0, (size_t)batch * n->in[0]->size * sizeof(float));
    for (size_t p = 0; p < planes; p++) {
        float *dx = n->gin[0] + p * in_plane;
        const float *dy = n->out->grad + p * out_plane;
        const int32_t *arg = n->iscratch + p * out_plane;
        for (size_t i = 0; i < out_plane; i++)
            dx[arg[i]] += dy[i];
    }
}

const eng_op eng_op_maxpool2d = {
    .name = "maxpool2d",
    .n_inputs = 1,
    .label_input = -1,
    .infer = pool_infer,
    .forward = pool_forward,
    .backward = pool_backward,
};
