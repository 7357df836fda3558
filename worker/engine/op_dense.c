/* op_dense.c: the fully connected layer y = x W + b with W stored [in, out]
 * and b [out], both through cblas_sgemm on batch-major rows (no explicit
 * transposes: the transposed products use sgemm's trans flags). An input of
 * any rank is read flattened (each sample's elements are contiguous). */
#include <cblas.h>
#include <string.h>

#include "ops.h"

static psync_err dense_infer(eng_node *n, uint32_t max_batch)
{
    const eng_param *w = n->p[0], *b = n->p[1];
    if (n->in[0]->scalar) /* any other rank is read flattened: rows are contiguous */
        return eng_shape_fail(n, "input is a scalar loss");
    if (w->shape[0] != n->in[0]->size)
        return eng_shape_fail(n, "weight '%s' has %llu rows, input has %zu features", w->name,
                              (unsigned long long)w->shape[0], n->in[0]->size);
    if (b->shape[0] != w->shape[1])
        return eng_shape_fail(n, "bias '%s' has %llu entries, weight has %llu columns", b->name,
                              (unsigned long long)b->shape[0], (unsigned long long)w->shape[1]);
    int64_t units = psync_node_int(n->src, "units", (int64_t)w->shape[1]);
    if (units != (int64_t)w->shape[1])
        return eng_shape_fail(n, "attr units=%lld but weight has %llu columns", (long long)units,
                              (unsigned long long)w->shape[1]);
    eng_value_set_shape(n->out, 1, &w->shape[1]);
    return PSYNC_OK;
}

static psync_err dense_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    const int in = (int)n->in[0]->size, out = (int)n->out->size;
    const float *bias = n->p[1]->w;
    float *y = n->out->data;
    for (uint32_t r = 0; r < batch; r++)
        memcpy(y + (size_t)r * out, bias, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, out, in, 1.0f,
                n->in[0]->data, in, n->p[0]->w, out, 1.0f, y, out);
    return PSYNC_OK;
}

/* db += row; not inlined so its restrict params hold and the loop is SIMD. */
__attribute__((noinline)) static void dense_add_row(float *restrict db, const float *restrict row,
                                                    size_t out)
{
    ENG_VLOOP(j, out, { db[j] += row[j]; });
}

/* db = column sums of dy, summed row by row. */
static void dense_bias_grad(float *db, const float *dy, uint32_t batch, size_t out)
{
    memset(db, 0, out * sizeof(float));
    for (size_t r = 0; r < batch; r++)
        dense_add_row(db, dy + r * out, out);
}

static void dense_backward(eng_node *n, uint32_t batch)
{
    const int in = (int)n->in[0]->size, out = (int)n->out->size;
    const float *dy = n->out->grad;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, (int)batch, 1.0f, n->in[0]->data,
                in, dy, out, 0.0f, n->p[0]->g, out);
    dense_bias_grad(n->p[1]->g, dy, batch, (size_t)out);
    if (n->gin[0])
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, in, out, 1.0f, dy, out,
                    n->p[0]->w, out, 0.0f, n->gin[0], in);
}

const eng_op eng_op_dense = {
    .name = "dense",
    .n_inputs = 1,
    .label_input = -1,
    .n_params = 2,
    .param_rank = {2, 1},
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
};
