/* ops.h: the engine's private op table and the compiled-graph types the ops
 * work on. One eng_op row per op: name, arity, which input is the i32 label,
 * param count and ranks, shape inference, forward and backward. Values are
 * batch-major float buffers sized once for max_batch (see engine.c). */
#ifndef PSYNC_ENGINE_OPS_H
#define PSYNC_ENGINE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "graph.h"
#include "model.h"

/* Largest per-sample value or param (elements): keeps every BLAS dimension
 * an int and every buffer size far from overflow (max_batch <= 2^24). */
#define ENG_MAX_ELEMS ((size_t)1 << 30)

/* A graph input or node output: per-sample shape, batch-major buffers. */
typedef struct eng_value {
    uint32_t rank;
    uint64_t shape[PSYNC_MAX_RANK]; /* per sample, no batch dimension */
    size_t size;                    /* elements per sample (1 for a scalar) */
    bool is_label;                  /* the i32 label input */
    bool scalar;                    /* one value per batch (the loss) */
    bool from_labels;               /* depends on the labels */
    bool needs_grad;                /* on a path to the loss, not an input */
    float *data;                    /* max_batch * size (1 if scalar) */
    float *grad;                    /* same size, NULL unless needs_grad */
    const int32_t *labels;          /* is_label: current batch's labels */
} eng_value;

/* A trained param with its gradient and optimizer slots (NULL if unused). */
typedef struct eng_param {
    char name[PSYNC_NAME_MAX];
    uint32_t rank;
    uint64_t shape[PSYNC_MAX_RANK];
    size_t size;
    float *w;     /* model tensor data (refreshed by rebind) */
    float *g;     /* engine-owned gradient */
    float *s1;    /* momentum buffer or adam m */
    float *s2;    /* adam v */
    bool trained; /* reached by backward */
} eng_param;

typedef struct eng_run {
    bool training;
    uint64_t *rng; /* the model's xoshiro256** state */
} eng_run;

struct eng_op;

/* A compiled node. infer fills out's shape, the attrs it needs and the
 * scratch sizes; the engine then allocates every buffer once. */
typedef struct eng_node {
    const struct eng_op *op;
    const psync_node *src;
    uint32_t n_in;
    eng_value *in[PSYNC_NODE_MAX_INPUTS];
    float *gin[PSYNC_NODE_MAX_INPUTS]; /* d(input) = in->grad, or NULL */
    eng_value *out;
    uint32_t n_params;
    eng_param *p[PSYNC_NODE_MAX_PARAMS];
    int64_t iattr[4];   /* op-specific integer attrs */
    float fattr;        /* op-specific float attr */
    bool active;        /* runs in backward */
    size_t scratch_len; /* floats, for max_batch */
    float *scratch;
    size_t iscratch_len; /* int32s, for max_batch */
    int32_t *iscratch;
} eng_node;

typedef struct eng_op {
    const char *name;
    uint32_t n_inputs;
    int label_input; /* index of the i32 label input, -1 if none */
    uint32_t n_params;
    uint32_t param_rank[PSYNC_NODE_MAX_PARAMS];
    /* Checks inputs, params and attrs; sets out shape/size and scratch. */
    psync_err (*infer)(eng_node *n, uint32_t max_batch);
    psync_err (*forward)(eng_node *n, uint32_t batch, const eng_run *run);
    /* Writes param grads (overwrite) and each non-NULL gin (overwrite). */
    void (*backward)(eng_node *n, uint32_t batch);
} eng_op;

/* for (size_t i = 0; i < n; i++) body, split so the first loop's count is
 * a known multiple of 8: at -O2 GCC only vectorizes loops it can replace
 * entirely (no epilogue), so this is what makes elementwise loops SIMD.
 * Pointers in body must be restrict-qualified function PARAMETERS (GCC
 * ignores restrict on locals here), so hot loops live in small helpers. */
#define ENG_VLOOP(i, n, body)                                                                      \
    do {                                                                                           \
        const size_t i##_n = (n), i##_n8 = i##_n & ~(size_t)7;                                     \
        for (size_t i = 0; i < i##_n8; i++)                                                        \
            body for (size_t i = i##_n8; i < i##_n; i++) body                                      \
    } while (0)

/* The op table lookup: the row named name, or NULL. */
const eng_op *eng_op_find(const char *name);

/* Sets v's per-sample shape (rank, dims) and size. */
void eng_value_set_shape(eng_value *v, uint32_t rank, const uint64_t *shape);

/* Helpers shared by the op families. */
psync_err eng_shape_fail(const eng_node *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
psync_err eng_need_rank(const eng_node *n, const eng_value *v, uint32_t rank);

/* Op rows, one per op family file. */
extern const eng_op eng_op_dense, eng_op_relu, eng_op_tanh, eng_op_sigmoid, eng_op_dropout,
    eng_op_conv2d, eng_op_maxpool2d, eng_op_flatten, eng_op_reshape, eng_op_softmax_xent;

/* optim.c: finds p's slot tensors for m's optimizer (PSYNC_ENOTFOUND if
 * missing, PSYNC_ESHAPE if the shape differs). */
psync_err eng_optim_bind(psync_model *m, eng_param *p);
/* Checks the optimizer kind and hyper-parameters (PSYNC_EINVAL). */
psync_err eng_optim_check(const psync_optimizer *o);
/* Applies one update of o (whose step is already incremented) to p. */
void eng_optim_apply(const psync_optimizer *o, eng_param *p);

#endif
