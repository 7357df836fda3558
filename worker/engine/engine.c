/* engine.c: compiles a model's graph into an execution plan: resolves every
 * node's op, inputs and params, infers shapes, decides which values need
 * gradients, then allocates all buffers (activations, gradients, scratch)
 * for max_batch in ONE arena that every step reuses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* Sets up the graph inputs: exactly one f32 input, at most one i32 label. */
static psync_err eng_compile_input(psync_engine *e, const psync_graph_input *gi, eng_value *v)
{
    eng_value_set_shape(v, gi->rank, gi->shape);
    if (v->size > ENG_MAX_ELEMS)
        return psync_fail(PSYNC_ELIMIT, "graph input '%s': more than 2^30 elements", gi->name);
    if (gi->dtype == PSYNC_DTYPE_F32 && !e->x && gi->rank > 0) {
        e->x = v;
        return PSYNC_OK;
    }
    if (gi->dtype == PSYNC_DTYPE_I32 && gi->rank == 0 && !e->labels) {
        v->is_label = v->from_labels = true;
        e->labels = v;
        return PSYNC_OK;
    }
    return psync_fail(PSYNC_EGRAPH,
                      "graph input '%s': only one f32 input and one rank-0 i32 "
                      "label input are supported",
                      gi->name);
}

/* The value named name among the graph inputs and the nodes before limit. */
static eng_value *eng_find_value(psync_engine *e, const char *name, uint32_t limit)
{
    const psync_graph *g = &e->m->graph;
    for (uint32_t i = 0; i < g->n_inputs; i++)
        if (strcmp(g->inputs[i].name, name) == 0) return &e->values[i];
    for (uint32_t i = 0; i < limit; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return e->nodes[i].out;
    return NULL;
}

/* Resolves input k of node n and checks it is (or is not) the label. */
static psync_err eng_compile_edge(psync_engine *e, eng_node *n, uint32_t idx, uint32_t k)
{
    eng_value *v = eng_find_value(e, n->src->inputs[k], idx);
    if (!v)
        return psync_fail(PSYNC_EGRAPH,
                          "node '%s': input '%s' is not a graph input or an "
                          "earlier node",
                          n->src->name, n->src->inputs[k]);
    if (v->is_label != (n->op->label_input == (int)k))
        return psync_fail(PSYNC_EDTYPE, "node '%s' (%s): input %u '%s' must be %s", n->src->name,
                          n->src->op, k, n->src->inputs[k], v->is_label ? "f32" : "the i32 label");
    n->in[k] = v;
    n->out->from_labels |= v->from_labels;
    return PSYNC_OK;
}

/* Checks a param tensor against the op's spec and records it once. */
static psync_err eng_compile_param(psync_engine *e, eng_node *n, uint32_t k)
{
    const char *name = n->src->params[k];
    const psync_tensor *t = psync_model_find(e->m, name);
    if (!t)
        return psync_fail(PSYNC_ENOTFOUND, "node '%s': param tensor '%s' not in the model",
                          n->src->name, name);
    if (t->role != PSYNC_ROLE_PARAM || t->dtype != PSYNC_DTYPE_F32)
        return psync_fail(PSYNC_EDTYPE, "node '%s': tensor '%s' must be an f32 param", n->src->name,
                          name);
    if (t->rank != n->op->param_rank[k])
        return psync_fail(PSYNC_ESHAPE, "node '%s' (%s): param '%s' has rank %u, needs %u",
                          n->src->name, n->src->op, name, t->rank, n->op->param_rank[k]);
    for (uint32_t i = 0; i < e->n_params; i++)
        if (strcmp(e->params[i].name, name) == 0)
            return psync_fail(PSYNC_EGRAPH,
                              "node '%s': param '%s' already used by another "
                              "node (weight sharing is not supported)",
                              n->src->name, name);
    if (psync_tensor_elems(t) > ENG_MAX_ELEMS)
        return psync_fail(PSYNC_ELIMIT, "param '%s': more than 2^30 elements", name);
    eng_param *p = &e->params[e->n_params++];
    memcpy(p->name, t->name, sizeof p->name);
    p->rank = t->rank;
    memcpy(p->shape, t->shape, sizeof p->shape);
    p->size = (size_t)psync_tensor_elems(t);
    n->p[k] = p;
    return PSYNC_OK;
}

/* Compiles node idx: op lookup, arity, edges, params, shape inference. */
static psync_err eng_compile_node(psync_engine *e, uint32_t idx)
{
    eng_node *n = &e->nodes[idx];
    n->src = &e->m->graph.nodes[idx];
    n->out = &e->values[e->m->graph.n_inputs + idx];
    n->op = eng_op_find(n->src->op);
    if (!n->op)
        return psync_fail(PSYNC_EGRAPH, "node '%s': unknown op '%s'", n->src->name, n->src->op);
    if (n->src->n_inputs != n->op->n_inputs || n->src->n_params != n->op->n_params)
        return psync_fail(PSYNC_EGRAPH, "node '%s' (%s): has %u inputs / %u params, needs %u / %u",
                          n->src->name, n->src->op, n->src->n_inputs, n->src->n_params,
                          n->op->n_inputs, n->op->n_params);
    n->n_in = n->op->n_inputs;
    n->n_params = n->op->n_params;
    psync_err err = PSYNC_OK;
    for (uint32_t k = 0; !err && k < n->n_in; k++)
        err = eng_compile_edge(e, n, idx, k);
    for (uint32_t k = 0; !err && k < n->n_params; k++)
        err = eng_compile_param(e, n, k);
    err = err ? err : n->op->infer(n, e->max_batch);
    if (!err && n->out->size > ENG_MAX_ELEMS)
        err =
            psync_fail(PSYNC_ELIMIT, "node '%s': output of more than 2^30 elements", n->src->name);
    return err;
}

/* The output (rank-1 logits, label-free) and the optional scalar loss. */
static psync_err eng_compile_ends(psync_engine *e)
{
    const psync_graph *g = &e->m->graph;
    int out = psync_graph_find_node(g, g->output);
    if (out < 0) return psync_fail(PSYNC_EGRAPH, "output node '%s' not found", g->output);
    e->output = e->nodes[out].out;
    if (e->output->rank != 1 || e->output->from_labels)
        return psync_fail(PSYNC_ESHAPE, "output node '%s' must give rank-1 logits", g->output);
    if (g->loss[0] == '\0') return PSYNC_OK;
    int loss = psync_graph_find_node(g, g->loss);
    if (loss < 0) return psync_fail(PSYNC_EGRAPH, "loss node '%s' not found", g->loss);
    e->loss = e->nodes[loss].out;
    if (!e->loss->scalar)
        return psync_fail(PSYNC_ESHAPE, "loss node '%s' must give a scalar", g->loss);
    return PSYNC_OK;
}

/* Marks, from the loss backwards, the nodes that run in backward, the
 * values that need a gradient and the params that train. No op joins two
 * f32 values, so a value has at most one consumer on the path to the loss
 * and gradients are written, never accumulated; a joining op would need
 * accumulation here. */
static void eng_plan_backward(psync_engine *e)
{
    for (uint32_t i = e->n_nodes; i-- > 0;) {
        eng_node *n = &e->nodes[i];
        if (n->out != e->loss && !n->out->needs_grad) continue;
        n->active = n->n_params > 0;
        for (uint32_t k = 0; k < n->n_params; k++)
            n->p[k]->trained = true;
        for (uint32_t k = 0; k < n->n_in; k++) {
            eng_value *v = n->in[k];
            if (v >= e->values + e->m->graph.n_inputs) /* graph inputs need no grad */
                v->needs_grad = n->active = true;
        }
    }
}

/* Hands out 64-byte-aligned float slices; with base NULL it only counts. */
typedef struct eng_layout {
    float *base;
    size_t used;
} eng_layout;

static float *eng_take(eng_layout *l, size_t floats)
{
    float *p = l->base ? l->base + l->used : NULL;
    if (floats > SIZE_MAX / 8 ||
        __builtin_add_overflow(l->used, (floats + 15) & ~(size_t)15, &l->used))
        l->used = SIZE_MAX; /* saturates: eng_alloc refuses it */
    return p;
}

/* Lays out every buffer; run once to size the arena, once to assign. */
static void eng_layout_all(psync_engine *e, eng_layout *l)
{
    const size_t mb = e->max_batch;
    for (uint32_t i = e->m->graph.n_inputs; i < e->n_values; i++) {
        eng_value *v = &e->values[i];
        size_t len = v->scalar ? 1 : mb * v->size;
        v->data = eng_take(l, len);
        v->grad = v->needs_grad ? eng_take(l, len) : NULL;
    }
    for (uint32_t i = 0; i < e->n_nodes; i++) {
        eng_node *n = &e->nodes[i];
        n->scratch = n->scratch_len ? eng_take(l, n->scratch_len) : NULL;
        n->iscratch = n->iscratch_len ? (int32_t *)eng_take(l, n->iscratch_len) : NULL;
        for (uint32_t k = 0; k < n->n_in; k++)
            n->gin[k] = n->in[k]->grad;
    }
    for (uint32_t i = 0; i < e->n_params; i++)
        e->params[i].g = eng_take(l, e->params[i].size);
}

/* Allocates the zeroed arena and points every buffer into it. */
static psync_err eng_alloc(psync_engine *e)
{
    eng_layout l = {NULL, 0};
    eng_layout_all(e, &l);
    if (l.used > SIZE_MAX / 8)
        return psync_fail(PSYNC_ELIMIT, "engine buffers overflow the address space");
    size_t bytes = (l.used ? l.used : 16) * sizeof(float);
    if (posix_memalign((void **)&e->arena, 64, bytes) != 0)
        return psync_fail(PSYNC_ENOMEM, "engine buffers: %zu bytes", bytes);
    memset(e->arena, 0, bytes);
    l = (eng_layout){e->arena, 0};
    eng_layout_all(e, &l);
    return PSYNC_OK;
}

/* Points each param at its (possibly moved) tensor and slots. */
psync_err eng_bind(psync_engine *e)
{
    e->bound_kind = 0; /* until every param is bound: the next update retries */
    for (uint32_t i = 0; i < e->n_params; i++) {
        eng_param *p = &e->params[i];
        const psync_tensor *t = psync_model_find(e->m, p->name);
        if (!t)
            return psync_fail(PSYNC_ENOTFOUND, "param tensor '%s' gone from the model", p->name);
        if (t->dtype != PSYNC_DTYPE_F32 || t->rank != p->rank ||
            memcmp(t->shape, p->shape, sizeof(uint64_t) * p->rank) != 0)
            return psync_fail(PSYNC_ESHAPE, "param tensor '%s' changed dtype or shape", p->name);
        p->w = t->data;
        psync_err err = eng_optim_bind(e->m, p);
        if (err) return err;
    }
    e->bound_kind = e->m->opt.kind;
    return PSYNC_OK;
}

/* Compiles everything after the engine's arrays are allocated. */
static psync_err eng_compile(psync_engine *e)
{
    const psync_graph *g = &e->m->graph;
    psync_err err = eng_optim_check(&e->m->opt);
    for (uint32_t i = 0; !err && i < g->n_inputs; i++)
        err = eng_compile_input(e, &g->inputs[i], &e->values[i]);
    if (!err && !e->x) err = psync_fail(PSYNC_EGRAPH, "graph has no f32 input");
    for (uint32_t i = 0; !err && i < e->n_nodes; i++)
        err = eng_compile_node(e, i);
    if (!err) err = eng_compile_ends(e);
    if (err) return err;
    eng_plan_backward(e);
    err = eng_alloc(e);
    return err ? err : eng_bind(e);
}

/* Compiles m's graph for up to max_batch samples. On success *out is owned
 * by the caller (psync_engine_destroy); m is borrowed and must outlive it.
 * PSYNC_EINVAL / EGRAPH / ESHAPE / EDTYPE / ENOTFOUND / ENOMEM with detail. */
psync_err psync_engine_new(psync_model *m, uint32_t max_batch, psync_engine **out)
{
    if (!m || !out || max_batch == 0 || max_batch > (1u << 24))
        return psync_fail(PSYNC_EINVAL, "engine_new: model, out and 1..2^24 batch required");
    const psync_graph *g = &m->graph;
    psync_engine *e = calloc(1, sizeof *e);
    if (!e) return psync_fail(PSYNC_ENOMEM, "engine");
    e->m = m;
    e->max_batch = max_batch;
    e->n_nodes = g->n_nodes;
    e->n_values = g->n_inputs + g->n_nodes;
    e->values = calloc(e->n_values ? e->n_values : 1, sizeof *e->values);
    e->nodes = calloc(g->n_nodes ? g->n_nodes : 1, sizeof *e->nodes);
    e->params = calloc(g->n_nodes * PSYNC_NODE_MAX_PARAMS + 1, sizeof *e->params);
    psync_err err = (e->values && e->nodes && e->params) ? eng_compile(e)
                                                         : psync_fail(PSYNC_ENOMEM, "engine plan");
    if (err) {
        psync_engine_destroy(&e);
        return err;
    }
    *out = e;
    return PSYNC_OK;
}

/* Frees the engine and its buffers (not the model); accepts NULL. */
void psync_engine_destroy(psync_engine **e)
{
    if (!e || !*e) return;
    free((*e)->arena);
    free((*e)->params);
    free((*e)->nodes);
    free((*e)->values);
    free(*e);
    *e = NULL;
}

/* Re-reads param and slot pointers after the model's arena moved.
 * PSYNC_ENOTFOUND / PSYNC_ESHAPE if a tensor vanished or changed. */
psync_err psync_engine_rebind(psync_engine *e)
{
    if (!e) return psync_fail(PSYNC_EINVAL, "engine_rebind: NULL engine");
    return eng_bind(e);
}

/* Elements per sample of the f32 input. */
uint32_t psync_engine_input_size(const psync_engine *e)
{
    return (uint32_t)e->x->size;
}

/* Width of the output node (the class count). */
uint32_t psync_engine_classes(const psync_engine *e)
{
    return (uint32_t)e->output->size;
}
