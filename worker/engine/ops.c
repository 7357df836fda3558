/* ops.c: the op table (one row per op, defined in the op family files) and
 * the small helpers the families share for shape checks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"

static const eng_op *const ops_table[] = {
    &eng_op_dense,  &eng_op_relu,      &eng_op_tanh,    &eng_op_sigmoid, &eng_op_dropout,
    &eng_op_conv2d, &eng_op_maxpool2d, &eng_op_flatten, &eng_op_reshape, &eng_op_softmax_xent,
};

/* Returns the row named name or NULL. */
const eng_op *eng_op_find(const char *name)
{
    for (size_t i = 0; i < sizeof ops_table / sizeof ops_table[0]; i++)
        if (strcmp(ops_table[i]->name, name) == 0) return ops_table[i];
    return NULL;
}

/* Copies the shape into v and recomputes its per-sample size, saturating
 * at SIZE_MAX (the engine then refuses it as over ENG_MAX_ELEMS). */
void eng_value_set_shape(eng_value *v, uint32_t rank, const uint64_t *shape)
{
    v->rank = rank;
    v->size = 1;
    for (uint32_t i = 0; i < rank; i++) {
        v->shape[i] = shape[i];
        if (shape[i] > SIZE_MAX || __builtin_mul_overflow(v->size, (size_t)shape[i], &v->size))
            v->size = SIZE_MAX;
    }
}

/* Records PSYNC_ESHAPE with "node '<name>' (<op>): <detail>". */
psync_err eng_shape_fail(const eng_node *n, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return psync_fail(PSYNC_ESHAPE, "node '%s' (%s): %s", n->src->name, n->src->op, detail);
}

/* PSYNC_ESHAPE unless v has the given per-sample rank. */
psync_err eng_need_rank(const eng_node *n, const eng_value *v, uint32_t rank)
{
    if (v->rank == rank && !v->scalar) return PSYNC_OK;
    return eng_shape_fail(n, "input has rank %u, needs rank %u (per sample)", v->rank, rank);
}
