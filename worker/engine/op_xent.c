/* op_xent.c: fused, numerically stable softmax cross-entropy of logits
 * [classes] against i32 labels, averaged over the batch. Forward keeps the
 * softmax probabilities; backward is (p - onehot(y)) / batch. */
#include <math.h>

#include "ops.h"

static psync_err xent_infer(eng_node *n, uint32_t max_batch)
{
    psync_err err = eng_need_rank(n, n->in[0], 1);
    if (err) return err;
    if (n->in[0]->size < 1) return eng_shape_fail(n, "logits have no classes");
    eng_value_set_shape(n->out, 0, NULL);
    n->out->scalar = true;
    n->scratch_len = (size_t)max_batch * n->in[0]->size; /* probabilities */
    return PSYNC_OK;
}

/* Writes softmax(z) into p and returns -log p[label] (in double). */
static double xent_row(const float *z, float *p, size_t k, int32_t label)
{
    float mx = z[0];
    for (size_t j = 1; j < k; j++)
        mx = z[j] > mx ? z[j] : mx;
    double sum = 0.0;
    for (size_t j = 0; j < k; j++) {
        p[j] = expf(z[j] - mx);
        sum += p[j];
    }
    const float inv = (float)(1.0 / sum);
    for (size_t j = 0; j < k; j++)
        p[j] *= inv;
    return log(sum) - ((double)z[label] - mx);
}

static psync_err xent_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const size_t k = n->in[0]->size;
    const int32_t *y = n->in[1]->labels;
    double total = 0.0;
    for (uint32_t r = 0; r < batch; r++) {
        if (y[r] < 0 || (size_t)y[r] >= k)
            return psync_fail(PSYNC_EINVAL, "node '%s': label %d of sample %u outside [0, %zu)",
                              n->src->name, y[r], r, k);
        total += xent_row(n->in[0]->data + r * k, n->scratch + r * k, k, y[r]);
    }
    n->out->data[0] = (float)(total / batch);
    return PSYNC_OK;
}

static void xent_scale(float *restrict dz, const float *restrict p, float inv, size_t count)
{
    ENG_VLOOP(i, count, { dz[i] = p[i] * inv; });
}

static void xent_backward(eng_node *n, uint32_t batch)
{
    const size_t k = n->in[0]->size, count = (size_t)batch * k;
    const int32_t *y = n->in[1]->labels;
    const float inv = 1.0f / (float)batch;
    float *dz = n->gin[0];
    xent_scale(dz, n->scratch, inv, count);
    for (uint32_t r = 0; r < batch; r++)
        dz[r * k + (size_t)y[r]] -= inv;
}

const eng_op eng_op_softmax_xent = {
    .name = "softmax_xent",
    .n_inputs = 2,
    .label_input = 1,
    .n_params = 0,
    .infer = xent_infer,
    .forward = xent_forward,
    .backward = xent_backward,
};
