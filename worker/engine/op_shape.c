/* op_shape.c: flatten (per-sample shape -> [size]) and reshape (attr
 * "shape", ints, one -1 allowed). Data is copied; both are cheap next to
 * the layers around them and keep every value's buffer its own. */
#include <string.h>

#include "ops.h"

static psync_err flatten_infer(eng_node *n, uint32_t max_batch)
{
    if (n->in[0]->scalar) return eng_shape_fail(n, "input is a scalar loss");
    uint64_t size = n->in[0]->size;
    eng_value_set_shape(n->out, 1, &size);
    return PSYNC_OK;
}

/* Fills dims from the "shape" attr, resolving one -1 against size. */
static psync_err reshape_dims(const eng_node *n, size_t size, uint32_t *rank, uint64_t *dims)
{
    const psync_attr *a = psync_node_attr(n->src, "shape");
    if (!a || a->type != PSYNC_ATTR_INTS || a->n_ints > PSYNC_MAX_RANK)
        return psync_fail(PSYNC_EGRAPH, "node '%s' (reshape): needs attr shape (ints)",
                          n->src->name);
    uint64_t known = 1;
    int wild = -1;
    for (uint32_t i = 0; i < a->n_ints; i++) {
        if (a->ints[i] == -1 && wild < 0)
            wild = (int)i;
        else if (a->ints[i] <= 0)
            return eng_shape_fail(n, "shape entry %u is %lld", i, (long long)a->ints[i]);
        else
            known *= (uint64_t)a->ints[i];
        dims[i] = a->ints[i] > 0 ? (uint64_t)a->ints[i] : 0;
    }
    if (wild >= 0 && known > 0 && size % known == 0) dims[wild] = size / known, known = size;
    if (known != size) return eng_shape_fail(n, "shape does not hold %zu elements", size);
    *rank = a->n_ints;
    return PSYNC_OK;
}

static psync_err reshape_infer(eng_node *n, uint32_t max_batch)
{
    uint32_t rank = 0;
    uint64_t dims[PSYNC_MAX_RANK];
    if (n->in[0]->scalar) return eng_shape_fail(n, "input is a scalar loss");
    psync_err err = reshape_dims(n, n->in[0]->size, &rank, dims);
    if (err) return err;
    eng_value_set_shape(n->out, rank, dims);
    return PSYNC_OK;
}

static psync_err shape_forward(eng_node *n, uint32_t batch, const eng_run *run)
{
    memcpy(n->out->data, n->in[0]->data, (size_t)batch * n->out->size * sizeof(float));
    return PSYNC_OK;
}

static void shape_backward(eng_node *n, uint32_t batch)
{
    memcpy(n->gin[0], n->out->grad, (size_t)batch * n->out->size * sizeof(float));
}

const eng_op eng_op_flatten = {
    .name = "flatten",
    .n_inputs = 1,
    .label_input = -1,
    .infer = flatten_infer,
    .forward = shape_forward,
    .backward = shape_backward,
};

const eng_op eng_op_reshape = {
    .name = "reshape",
    .n_inputs = 1,
    .label_input = -1,
    .infer = reshape_infer,
    .forward = shape_forward,
    .backward = shape_backward,
};
