/* graph_codec.c: canonical msgpack packing of a graph and its bounded
 * reading from untrusted bytes (see graph_codec.h, docs/blob-format.md). */
#include "graph_codec.h"

#include <stdio.h>
#include <string.h>

void psync_codec_pack_shape(msgpack_packer *pk, uint32_t rank, const uint64_t *shape)
{
    msgpack_pack_array(pk, rank);
    for (uint32_t i = 0; i < rank; i++)
        msgpack_pack_uint64(pk, shape[i]);
}

static void codec_pack_input(msgpack_packer *pk, const psync_graph_input *in)
{
    msgpack_pack_map(pk, 3);
    psync_mp_pack_cstr(pk, "name");
    psync_mp_pack_cstr(pk, in->name);
    psync_mp_pack_cstr(pk, "dtype");
    psync_mp_pack_cstr(pk, psync_dtype_name(in->dtype) ? psync_dtype_name(in->dtype) : "");
    psync_mp_pack_cstr(pk, "shape");
    psync_codec_pack_shape(pk, in->rank, in->shape);
}

static void codec_pack_attr(msgpack_packer *pk, const psync_attr *a)
{
    psync_mp_pack_cstr(pk, a->key);
    switch (a->type) {
    case PSYNC_ATTR_INT:
        msgpack_pack_int64(pk, a->i);
        break;
    case PSYNC_ATTR_FLOAT:
        msgpack_pack_double(pk, a->f);
        break;
    case PSYNC_ATTR_STR:
        psync_mp_pack_cstr(pk, a->s);
        break;
    case PSYNC_ATTR_INTS:
        msgpack_pack_array(pk, a->n_ints);
        for (uint32_t i = 0; i < a->n_ints; i++)
            msgpack_pack_int64(pk, a->ints[i]);
        break;
    default:
        msgpack_pack_nil(pk);
        break;
    }
}

/* Attributes in byte-wise key order (insertion sort of at most 8). */
static void codec_pack_attrs(msgpack_packer *pk, const psync_node *n)
{
    const psync_attr *order[PSYNC_NODE_MAX_ATTRS];
    uint32_t count = n->n_attrs < PSYNC_NODE_MAX_ATTRS ? n->n_attrs : PSYNC_NODE_MAX_ATTRS;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t j = i;
        for (; j > 0 && strcmp(order[j - 1]->key, n->attrs[i].key) > 0; j--)
            order[j] = order[j - 1];
        order[j] = &n->attrs[i];
    }
    msgpack_pack_map(pk, count);
    for (uint32_t i = 0; i < count; i++)
        codec_pack_attr(pk, order[i]);
}

static void codec_pack_names(msgpack_packer *pk, uint32_t n, const char (*names)[PSYNC_NAME_MAX])
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        psync_mp_pack_cstr(pk, names[i]);
}

static void codec_pack_node(msgpack_packer *pk, const psync_node *n)
{
    msgpack_pack_map(pk, 5);
    psync_mp_pack_cstr(pk, "name");
    psync_mp_pack_cstr(pk, n->name);
    psync_mp_pack_cstr(pk, "op");
    psync_mp_pack_cstr(pk, n->op);
    psync_mp_pack_cstr(pk, "inputs");
    codec_pack_names(pk, n->n_inputs, n->inputs);
    psync_mp_pack_cstr(pk, "params");
    codec_pack_names(pk, n->n_params, n->params);
    psync_mp_pack_cstr(pk, "attrs");
    codec_pack_attrs(pk, n);
}

void psync_graph_pack(const psync_graph *g, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 4);
    psync_mp_pack_cstr(pk, "inputs");
    msgpack_pack_array(pk, g->n_inputs);
    for (uint32_t i = 0; i < g->n_inputs; i++)
        codec_pack_input(pk, &g->inputs[i]);
    psync_mp_pack_cstr(pk, "nodes");
    msgpack_pack_array(pk, g->n_nodes);
    for (uint32_t i = 0; i < g->n_nodes; i++)
        codec_pack_node(pk, &g->nodes[i]);
    psync_mp_pack_cstr(pk, "output");
    psync_mp_pack_cstr(pk, g->output);
    psync_mp_pack_cstr(pk, "loss");
    psync_mp_pack_cstr(pk, g->loss);
}

/* ---- reading ---- */

typedef struct codec_ctx {
    const psync_limits *lim;
    psync_graph *g;
    psync_graph_input *in;
    psync_node *node;
} codec_ctx;

psync_err psync_codec_read_shape(psync_mp *mp, const psync_limits *lim, const char *path,
                                 uint32_t *rank, uint64_t *shape)
{
    uint32_t n;
    uint32_t max_rank = lim->max_rank < PSYNC_MAX_RANK ? lim->max_rank : PSYNC_MAX_RANK;
    psync_err err = psync_mp_read_array(mp, &n, max_rank);
    if (err) return psync_mp_wrap(err, path);
    for (uint32_t i = 0; i < n; i++) {
        char sub[176];
        snprintf(sub, sizeof sub, "%s[%u]", path, i);
        err = psync_mp_wrap(psync_mp_read_uint(mp, &shape[i]), sub);
        if (err) return err;
        if (shape[i] > lim->max_dim)
            return psync_fail(PSYNC_ELIMIT, "%s: %llu exceeds max_dim %llu", sub,
                              (unsigned long long)shape[i], (unsigned long long)lim->max_dim);
    }
    psync_mp_end(mp);
    *rank = n;
    return PSYNC_OK;
}

static psync_err codec_read_nodes(psync_mp *mp, codec_ctx *x, const char *path);

static psync_err codec_in_name(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_str_copy(mp, x->in->name, PSYNC_NAME_MAX), path);
}

static psync_err codec_in_dtype(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    char name[16];
    psync_err err = psync_mp_read_str_copy(mp, name, sizeof name);
    if (!err) err = psync_dtype_parse(name, &x->in->dtype);
    return psync_mp_wrap(err, path);
}

static psync_err codec_in_shape(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_codec_read_shape(mp, x->lim, path, &x->in->rank, x->in->shape);
}

static const psync_mp_field codec_input_fields[] = {
    {"name", codec_in_name, false},
    {"dtype", codec_in_dtype, false},
    {"shape", codec_in_shape, false},
};

static psync_err codec_inputs(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    uint32_t n;
    psync_err err = psync_mp_read_array(mp, &n, PSYNC_GRAPH_MAX_INPUTS);
    if (err) return psync_mp_wrap(err, path);
    for (uint32_t i = 0; i < n; i++) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s[%u]", path, i);
        x->in = &x->g->inputs[i];
        err = psync_mp_read_fields(mp, 16, codec_input_fields, 3, x, sub);
        if (err) return err;
        x->g->n_inputs = i + 1;
    }
    psync_mp_end(mp);
    return PSYNC_OK;
}

static psync_err codec_output(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_str_copy(mp, x->g->output, PSYNC_NAME_MAX), path);
}

static psync_err codec_loss(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_str_copy(mp, x->g->loss, PSYNC_NAME_MAX), path);
}

static psync_err codec_nodes(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return codec_read_nodes(mp, x, path);
}

static const psync_mp_field codec_graph_fields[] = {
    {"inputs", codec_inputs, false},
    {"nodes", codec_nodes, false},
    {"output", codec_output, false},
    {"loss", codec_loss, false},
};

psync_err psync_graph_unpack(psync_mp *mp, const psync_limits *lim, psync_graph *g)
{
    codec_ctx x = {.lim = lim, .g = g};
    return psync_mp_read_fields(mp, 16, codec_graph_fields, 4, &x, "graph");
}

/* ---- nodes ---- */

static psync_err codec_node_name(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_str_copy(mp, x->node->name, PSYNC_NAME_MAX), path);
}

static psync_err codec_node_op(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return psync_mp_wrap(psync_mp_read_str_copy(mp, x->node->op, PSYNC_OP_MAX), path);
}

/* Array of at most max names into names[][PSYNC_NAME_MAX]. */
static psync_err codec_names(psync_mp *mp, const char *path, uint32_t max, uint32_t *count,
                             char (*names)[PSYNC_NAME_MAX])
{
    uint32_t n;
    psync_err err = psync_mp_read_array(mp, &n, max);
    if (err) return psync_mp_wrap(err, path);
    for (uint32_t i = 0; i < n; i++) {
        char sub[176];
        snprintf(sub, sizeof sub, "%s[%u]", path, i);
        err = psync_mp_wrap(psync_mp_read_str_copy(mp, names[i], PSYNC_NAME_MAX), sub);
        if (err) return err;
    }
    psync_mp_end(mp);
    *count = n;
    return PSYNC_OK;
}

static psync_err codec_node_inputs(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return codec_names(mp, path, PSYNC_NODE_MAX_INPUTS, &x->node->n_inputs, x->node->inputs);
}

static psync_err codec_node_params(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    return codec_names(mp, path, PSYNC_NODE_MAX_PARAMS, &x->node->n_params, x->node->params);
}

/* An attribute value: int, float, str or array of at most PSYNC_MAX_RANK
 * ints; any other msgpack kind is PSYNC_EGRAPH. */
static psync_err codec_attr_value(psync_mp *mp, psync_attr *a, const char *path)
{
    psync_mp_kind k;
    psync_err err = psync_mp_peek(mp, &k);
    if (err) return err;
    switch (k) {
    case PSYNC_MP_UINT:
    case PSYNC_MP_INT:
        a->type = PSYNC_ATTR_INT;
        return psync_mp_read_int(mp, &a->i);
    case PSYNC_MP_FLOAT:
        a->type = PSYNC_ATTR_FLOAT;
        return psync_mp_read_double(mp, &a->f);
    case PSYNC_MP_STR:
        a->type = PSYNC_ATTR_STR;
        return psync_mp_read_str_copy(mp, a->s, PSYNC_ATTR_STR_MAX);
    case PSYNC_MP_ARRAY:
        break;
    default:
        return psync_fail(PSYNC_EGRAPH,
                          "unsupported attribute type %s (int, float, str or "
                          "array of int)",
                          psync_mp_kind_name(k));
    }
    a->type = PSYNC_ATTR_INTS;
    err = psync_mp_read_array(mp, &a->n_ints, PSYNC_MAX_RANK);
    for (uint32_t i = 0; i < a->n_ints && !err; i++) {
        err = psync_mp_peek(mp, &k);
        if (!err && k != PSYNC_MP_INT && k != PSYNC_MP_UINT)
            return psync_fail(PSYNC_EGRAPH, "[%u]: unsupported array element %s (int only)", i,
                              psync_mp_kind_name(k));
        if (!err) err = psync_mp_read_int(mp, &a->ints[i]);
    }
    if (!err) psync_mp_end(mp);
    return err;
}

static psync_err codec_node_attrs(psync_mp *mp, void *c, const char *path)
{
    codec_ctx *x = c;
    uint32_t n;
    psync_err err = psync_mp_read_map(mp, &n, PSYNC_NODE_MAX_ATTRS);
    if (err) return psync_mp_wrap(err, path);
    for (uint32_t i = 0; i < n; i++) {
        psync_attr *a = &x->node->attrs[i];
        err = psync_mp_read_key(mp, a->key, sizeof a->key);
        if (err) return psync_mp_wrap(err, path);
        char sub[192];
        snprintf(sub, sizeof sub, "%s.%s", path, a->key);
        if (!a->key[0] || psync_node_attr(x->node, a->key))
            return psync_fail(PSYNC_EFORMAT, "%s: empty or repeated attribute key", sub);
        err = psync_mp_wrap(codec_attr_value(mp, a, sub), sub);
        if (err) return err;
        x->node->n_attrs = i + 1;
    }
    psync_mp_end(mp);
    return PSYNC_OK;
}

static const psync_mp_field codec_node_fields[] = {
    {"name", codec_node_name, false},     {"op", codec_node_op, false},
    {"inputs", codec_node_inputs, false}, {"params", codec_node_params, false},
    {"attrs", codec_node_attrs, false},
};

static psync_err codec_read_nodes(psync_mp *mp, codec_ctx *x, const char *path)
{
    uint32_t n;
    psync_err err = psync_mp_read_array(mp, &n, x->lim->max_nodes);
    if (err) return psync_mp_wrap(err, path);
    psync_node node;
    x->node = &node;
    for (uint32_t i = 0; i < n; i++) {
        char sub[160];
        snprintf(sub, sizeof sub, "%s[%u]", path, i);
        psync_node_init(&node, NULL, NULL);
        err = psync_mp_read_fields(mp, 16, codec_node_fields, 5, x, sub);
        if (!err && !node.name[0]) err = psync_fail(PSYNC_EGRAPH, "%s.name: empty node name", sub);
        if (!err)
            err = psync_mp_wrap(psync_graph_add_node(x->g, &node, x->lim->max_nodes, NULL), sub);
        if (err) return err;
    }
    psync_mp_end(mp);
    return PSYNC_OK;
}
