/* modelfile_layers.c: the "input" and layer lines of a model file. One row
 * per op: how many inputs, which keys, and a shape function that checks the
 * input shapes, sets the node's attributes and the param shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelfile_internal.h"

typedef struct mf_layer_ctx {
    mf_parser *p;
    char **kv; /* key=value tokens */
    int nkv;
    int64_t units; /* dense's positional width */
    psync_node node;
    const mf_shape *in[2];
    mf_shape out;
    uint32_t n_params; /* 0 or 2: weight then bias */
    uint32_t prank[2];
    uint64_t pshape[2][4];
} mf_layer_ctx;

typedef struct mf_op {
    const char *name;
    int n_in;  /* inputs after the node name */
    int units; /* 1: a positional width follows */
    const char *const keys[6];
    psync_err (*shape)(mf_layer_ctx *c);
} mf_op;

static uint64_t mf_count(const mf_shape *s)
{
    uint64_t n = 1;
    for (uint32_t i = 0; i < s->rank; i++)
        n *= s->dims[i];
    return n;
}

static void mf_set_out(mf_layer_ctx *c, uint32_t rank, const uint64_t *dims)
{
    c->out.rank = rank;
    c->out.dtype = PSYNC_DTYPE_F32;
    if (rank) /* a scalar output passes no dims (NULL) */
        memcpy(c->out.dims, dims, rank * sizeof *dims);
}

/* Reads init=he|glorot|zeros into the node (default he). */
static psync_err mf_init_attr(mf_layer_ctx *c)
{
    const char *init = mf_key_str(c->kv, c->nkv, "init");
    if (!init) init = "he";
    if (strcmp(init, "he") && strcmp(init, "glorot") && strcmp(init, "zeros"))
        return mf_fail(c->p, PSYNC_EFORMAT, "init=%.32s; expected he, glorot or zeros", init);
    return psync_node_set_str(&c->node, "init", init);
}

static psync_err mf_shape_dense(mf_layer_ctx *c)
{
    uint64_t in = mf_count(c->in[0]), units = (uint64_t)c->units;
    c->n_params = 2;
    c->prank[0] = 2, c->pshape[0][0] = in, c->pshape[0][1] = units;
    c->prank[1] = 1, c->pshape[1][0] = units;
    mf_set_out(c, 1, &units);
    psync_err err = psync_node_set_int(&c->node, "units", c->units);
    return err ? err : mf_init_attr(c);
}

static psync_err mf_shape_same(mf_layer_ctx *c)
{
    mf_set_out(c, c->in[0]->rank, c->in[0]->dims);
    return PSYNC_OK;
}

static psync_err mf_shape_flatten(mf_layer_ctx *c)
{
    uint64_t n = mf_count(c->in[0]);
    mf_set_out(c, 1, &n);
    return PSYNC_OK;
}

static psync_err mf_shape_dropout(mf_layer_ctx *c)
{
    double rate = -1;
    psync_err err = mf_key_float(c->p, c->kv, c->nkv, "rate", &rate, 0.0, 0.99);
    if (!err && rate < 0)
        err = mf_fail(c->p, PSYNC_EFORMAT, "dropout needs rate=R with 0 <= R < 1");
    if (!err) err = psync_node_set_float(&c->node, "rate", rate);
    return err ? err : mf_shape_same(c);
}

static psync_err mf_need_chw(mf_layer_ctx *c)
{
    if (c->in[0]->rank != 3)
        return mf_fail(c->p, PSYNC_ESHAPE, "input '%s' has rank %u; expected [C,H,W]",
                       c->in[0]->name, c->in[0]->rank);
    return PSYNC_OK;
}

/* Output size of a window of k with stride s and padding pad over n. */
static psync_err mf_window(mf_layer_ctx *c, uint64_t n, int64_t k, int64_t s, int64_t pad,
                           uint64_t *out)
{
    if ((int64_t)n + 2 * pad < k)
        return mf_fail(c->p, PSYNC_ESHAPE, "window %lld is larger than the padded input %lld",
                       (long long)k, (long long)n + 2 * pad);
    *out = (n + 2 * (uint64_t)pad - (uint64_t)k) / (uint64_t)s + 1;
    return PSYNC_OK;
}

static psync_err mf_shape_conv(mf_layer_ctx *c)
{
    int64_t out = 0, k = 0, s = 1, pad = 0;
    mf_parser *p = c->p;
    psync_err err = mf_need_chw(c);
    if (!err && !(err = mf_key_int(p, c->kv, c->nkv, "out", &out, 1, 65536)) && !out)
        err = mf_fail(p, PSYNC_EFORMAT, "conv2d needs out=CHANNELS");
    if (!err && !(err = mf_key_int(p, c->kv, c->nkv, "k", &k, 1, 64)) && !k)
        err = mf_fail(p, PSYNC_EFORMAT, "conv2d needs k=KERNEL_SIZE");
    if (!err) err = mf_key_int(p, c->kv, c->nkv, "stride", &s, 1, 64);
    if (!err) err = mf_key_int(p, c->kv, c->nkv, "pad", &pad, 0, 64);
    uint64_t d[3] = {(uint64_t)out, 0, 0};
    if (!err && !(err = mf_window(c, c->in[0]->dims[1], k, s, pad, &d[1])))
        err = mf_window(c, c->in[0]->dims[2], k, s, pad, &d[2]);
    const char *names[] = {"out", "k", "stride", "pad"};
    int64_t vals[] = {out, k, s, pad};
    for (int i = 0; !err && i < 4; i++)
        err = psync_node_set_int(&c->node, names[i], vals[i]);
    if (err) return err;
    uint64_t w[4] = {(uint64_t)out, c->in[0]->dims[0], (uint64_t)k, (uint64_t)k};
    c->n_params = 2;
    c->prank[0] = 4, memcpy(c->pshape[0], w, sizeof w);
    c->prank[1] = 1, c->pshape[1][0] = (uint64_t)out;
    mf_set_out(c, 3, d);
    return mf_init_attr(c);
}

static psync_err mf_shape_pool(mf_layer_ctx *c)
{
    int64_t size = 0, s = 0;
    psync_err err = mf_need_chw(c);
    if (!err && !(err = mf_key_int(c->p, c->kv, c->nkv, "size", &size, 1, 64)) && !size)
        err = mf_fail(c->p, PSYNC_EFORMAT, "maxpool2d needs size=WINDOW");
    if (!err && !(err = mf_key_int(c->p, c->kv, c->nkv, "stride", &s, 1, 64)) && !s) s = size;
    uint64_t d[3] = {c->in[0]->dims[0], 0, 0};
    if (!err && !(err = mf_window(c, c->in[0]->dims[1], size, s, 0, &d[1])))
        err = mf_window(c, c->in[0]->dims[2], size, s, 0, &d[2]);
    if (!err && !(err = psync_node_set_int(&c->node, "size", size)))
        err = psync_node_set_int(&c->node, "stride", s);
    if (!err) mf_set_out(c, 3, d);
    return err;
}

static psync_err mf_shape_xent(mf_layer_ctx *c)
{
    const mf_shape *logits = c->in[0], *labels = c->in[1];
    if (logits->rank != 1)
        return mf_fail(c->p, PSYNC_ESHAPE, "logits '%s' has rank %u; expected [CLASSES]",
                       logits->name, logits->rank);
    if (labels->dtype != PSYNC_DTYPE_I32 || labels->rank != 0)
        return mf_fail(c->p, PSYNC_ESHAPE, "labels '%s' must be an 'input NAME i32' line",
                       labels->name);
    snprintf(c->p->m->graph.loss, PSYNC_NAME_MAX, "%s", c->node.name);
    mf_set_out(c, 0, NULL);
    return PSYNC_OK;
}

static const mf_op mf_ops[] = {
    {"dense", 1, 1, {"init", NULL}, mf_shape_dense},
    {"relu", 1, 0, {NULL}, mf_shape_same},
    {"tanh", 1, 0, {NULL}, mf_shape_same},
    {"sigmoid", 1, 0, {NULL}, mf_shape_same},
    {"dropout", 1, 0, {"rate", NULL}, mf_shape_dropout},
    {"conv2d", 1, 0, {"out", "k", "stride", "pad", "init", NULL}, mf_shape_conv},
    {"maxpool2d", 1, 0, {"size", "stride", NULL}, mf_shape_pool},
    {"flatten", 1, 0, {NULL}, mf_shape_flatten},
    {"softmax_xent", 2, 0, {NULL}, mf_shape_xent},
};
#define MF_NOPS (sizeof mf_ops / sizeof mf_ops[0])

static const mf_op *mf_op_row(const char *word)
{
    for (size_t i = 0; i < MF_NOPS; i++)
        if (!strcmp(word, mf_ops[i].name)) return &mf_ops[i];
    return NULL;
}

int mf_find_op(const char *word)
{
    return mf_op_row(word) != NULL;
}

const char *mf_op_list(void)
{
    return "dense, relu, tanh, sigmoid, dropout, conv2d, maxpool2d, flatten, softmax_xent";
}

static const mf_shape *mf_lookup(const mf_parser *p, const char *name)
{
    for (uint32_t i = 0; i < p->n_shapes; i++)
        if (!strcmp(p->shapes[i].name, name)) return &p->shapes[i];
    return NULL;
}

/* Checks a new name: identifier characters, length, not yet declared. */
static psync_err mf_new_name(mf_parser *p, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= MF_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                     "QRSTUVWXYZ0123456789_") != n)
        return mf_fail(p, PSYNC_EFORMAT, "name '%.64s'; expected 1-%d letters, digits or '_'", name,
                       MF_NAME_MAX - 1);
    if (mf_lookup(p, name))
        return mf_fail(p, PSYNC_EGRAPH, "'%s' is already declared; names must be unique", name);
    if (p->n_shapes == sizeof p->shapes / sizeof p->shapes[0])
        return mf_fail(p, PSYNC_ELIMIT, "more than %d layers", MF_MAX_NODES);
    return PSYNC_OK;
}

psync_err mf_input(mf_parser *p, char **tok, int ntok)
{
    mf_shape s = {.rank = 0};
    psync_err err = ntok < 3 ? mf_fail(p, PSYNC_EFORMAT,
                                       "expected 'input NAME f32 DIM...' "
                                       "or 'input NAME i32'")
                             : mf_new_name(p, tok[1]);
    if (err) return err;
    if (psync_dtype_parse(tok[2], &s.dtype) ||
        (s.dtype != PSYNC_DTYPE_F32 && s.dtype != PSYNC_DTYPE_I32))
        return mf_fail(p, PSYNC_EFORMAT, "dtype '%.16s'; expected f32 or i32", tok[2]);
    if (s.dtype == PSYNC_DTYPE_I32 ? ntok != 3 : (ntok < 4 || ntok > 3 + 3))
        return mf_fail(p, PSYNC_EFORMAT,
                       "%d dimensions; expected none for i32 labels, 1-3 "
                       "for f32 features",
                       ntok - 3);
    for (int i = 3; i < ntok; i++) {
        char *end;
        unsigned long long v = strtoull(tok[i], &end, 10);
        if (*end || v == 0 || v > (1u << 20) || tok[i][0] == '-')
            return mf_fail(p, PSYNC_EFORMAT, "dimension '%.16s'; expected 1..%u", tok[i], 1u << 20);
        s.dims[s.rank++] = v;
    }
    snprintf(s.name, sizeof s.name, "%s", tok[1]);
    if ((err = psync_graph_add_input(&p->m->graph, s.name, s.dtype, s.rank, s.dims)))
        return mf_fail(p, err, "%s", psync_errdetail());
    p->shapes[p->n_shapes++] = s;
    return PSYNC_OK;
}

/* Splits a layer line into inputs, the optional width and key=value tokens. */
static psync_err mf_layer_tokens(mf_layer_ctx *c, const mf_op *op, char **tok, int ntok)
{
    int npos = 2;
    while (npos < ntok && !strchr(tok[npos], '='))
        npos++;
    c->kv = tok + npos;
    c->nkv = ntok - npos;
    if (npos != 2 + op->n_in + op->units)
        return mf_fail(c->p, PSYNC_EFORMAT,
                       "%d arguments before the options; expected "
                       "'%s NAME %s%s'",
                       npos - 1, op->name, op->n_in == 2 ? "LOGITS LABELS" : "INPUT",
                       op->units ? " UNITS" : "");
    if (op->units) {
        char *end;
        long long v = strtoll(tok[2 + op->n_in], &end, 10);
        if (*end || v < 1 || v > (1 << 20))
            return mf_fail(c->p, PSYNC_EFORMAT, "width '%.16s'; expected 1..%d", tok[2 + op->n_in],
                           1 << 20);
        c->units = v;
    }
    return mf_check_keys(c->p, c->kv, c->nkv, op->keys);
}

/* Resolves the layer's inputs: declared above, f32 except softmax labels. */
static psync_err mf_layer_inputs(mf_layer_ctx *c, const mf_op *op, char **tok)
{
    for (int i = 0; i < op->n_in; i++) {
        const mf_shape *s = mf_lookup(c->p, tok[2 + i]);
        if (!s)
            return mf_fail(c->p, PSYNC_EGRAPH,
                           "input '%.64s' is not declared above; expected "
                           "an input or an earlier layer",
                           tok[2 + i]);
        if (i == 0 && s->dtype != PSYNC_DTYPE_F32)
            return mf_fail(c->p, PSYNC_ESHAPE, "input '%s' holds labels; expected features",
                           s->name);
        c->in[i] = s;
        psync_err err = psync_node_add_input(&c->node, s->name);
        if (err) return err;
    }
    return PSYNC_OK;
}

/* Adds "<node>.w" and "<node>.b" (zeros until init) and names them on the node. */
static psync_err mf_layer_params(mf_layer_ctx *c)
{
    static const char *const suffix[2] = {".w", ".b"};
    for (uint32_t i = 0; i < c->n_params; i++) {
        char name[PSYNC_NAME_MAX];
        snprintf(name, sizeof name, "%s%s", c->node.name, suffix[i]);
        psync_err err = psync_model_add_tensor(c->p->m, name, PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32,
                                               c->prank[i], c->pshape[i], NULL, NULL);
        if (!err) err = psync_node_add_param(&c->node, name);
        if (err) return mf_fail(c->p, err, "%s", psync_errdetail());
    }
    return PSYNC_OK;
}

psync_err mf_layer(mf_parser *p, char **tok, int ntok)
{
    const mf_op *op = mf_op_row(tok[0]);
    mf_layer_ctx *c = calloc(1, sizeof *c);
    if (!c) return psync_fail(PSYNC_ENOMEM, "%s:%u: layer", p->name, p->line);
    c->p = p;
    psync_err err = ntok < 2 ? mf_fail(p, PSYNC_EFORMAT, "expected '%s NAME ...'", op->name)
                             : mf_new_name(p, tok[1]);
    if (!err) {
        psync_node_init(&c->node, tok[1], op->name);
        err = mf_layer_tokens(c, op, tok, ntok);
    }
    if (!err && !(err = mf_layer_inputs(c, op, tok)) && !(err = op->shape(c)))
        err = mf_layer_params(c);
    if (!err && (err = psync_graph_add_node(&p->m->graph, &c->node, MF_MAX_NODES, NULL)))
        err = mf_fail(p, err, "%s", psync_errdetail());
    if (!err) {
        snprintf(c->out.name, sizeof c->out.name, "%s", c->node.name);
        p->shapes[p->n_shapes++] = c->out;
    }
    free(c);
    return err;
}
