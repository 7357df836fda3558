/* graph.c: building, copying, querying and validating a psync_graph (see
 * graph.h). The canonical encoding behind psync_graph_hash lives in
 * graph_codec.c, shared with the blob codec. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "graph_codec.h"
#include "nameset.h"

void psync_graph_init(psync_graph *g)
{
    memset(g, 0, sizeof *g);
}

void psync_graph_clear(psync_graph *g)
{
    free(g->nodes);
    psync_graph_init(g);
}

psync_err psync_graph_copy(psync_graph *dst, const psync_graph *src)
{
    if (dst == src) return PSYNC_OK;
    psync_node *nodes = NULL;
    if (src->n_nodes) {
        nodes = malloc((size_t)src->n_nodes * sizeof *nodes);
        if (!nodes) return psync_fail(PSYNC_ENOMEM, "graph copy of %u nodes", src->n_nodes);
        memcpy(nodes, src->nodes, (size_t)src->n_nodes * sizeof *nodes);
    }
    free(dst->nodes);
    *dst = *src;
    dst->nodes = nodes;
    dst->cap_nodes = src->n_nodes;
    return PSYNC_OK;
}

/* Copies a name into dst[PSYNC_NAME_MAX]; PSYNC_EINVAL if empty or long. */
static psync_err graph_name(char *dst, const char *name, const char *what)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= PSYNC_NAME_MAX)
        return psync_fail(PSYNC_EINVAL, "%s name must have 1..%d bytes", what, PSYNC_NAME_MAX - 1);
    memcpy(dst, name, n + 1);
    return PSYNC_OK;
}

psync_err psync_graph_add_input(psync_graph *g, const char *name, psync_dtype dt, uint32_t rank,
                                const uint64_t *shape)
{
    if (g->n_inputs >= PSYNC_GRAPH_MAX_INPUTS)
        return psync_fail(PSYNC_ELIMIT, "graph already has %d inputs", PSYNC_GRAPH_MAX_INPUTS);
    if (rank > PSYNC_MAX_RANK || !psync_dtype_size(dt))
        return psync_fail(PSYNC_EINVAL, "input '%s': bad rank %u or dtype %d", name ? name : "",
                          rank, (int)dt);
    psync_graph_input *in = &g->inputs[g->n_inputs];
    memset(in, 0, sizeof *in);
    psync_err err = graph_name(in->name, name, "input");
    if (err) return err;
    in->dtype = dt;
    in->rank = rank;
    if (rank) memcpy(in->shape, shape, rank * sizeof *shape);
    g->n_inputs++;
    return PSYNC_OK;
}

psync_err psync_graph_add_node(psync_graph *g, const psync_node *node, uint32_t max_nodes,
                               psync_node **out)
{
    if (g->n_nodes >= max_nodes)
        return psync_fail(PSYNC_ELIMIT, "graph exceeds %u nodes", max_nodes);
    if (!node->name[0] || !memchr(node->name, 0, PSYNC_NAME_MAX))
        return psync_fail(PSYNC_EINVAL, "node name must have 1..%d bytes", PSYNC_NAME_MAX - 1);
    if (g->n_nodes == g->cap_nodes) {
        uint32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 8;
        psync_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return psync_fail(PSYNC_ENOMEM, "graph of %u nodes", cap);
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    psync_node *dst = &g->nodes[g->n_nodes++];
    *dst = *node;
    if (out) *out = dst;
    return PSYNC_OK;
}

void psync_node_init(psync_node *n, const char *name, const char *op)
{
    memset(n, 0, sizeof *n);
    if (name) strncpy(n->name, name, PSYNC_NAME_MAX - 1);
    if (op) strncpy(n->op, op, PSYNC_OP_MAX - 1);
}

psync_err psync_node_add_input(psync_node *n, const char *name)
{
    if (n->n_inputs >= PSYNC_NODE_MAX_INPUTS)
        return psync_fail(PSYNC_ELIMIT, "node '%s' already has %d inputs", n->name,
                          PSYNC_NODE_MAX_INPUTS);
    psync_err err = graph_name(n->inputs[n->n_inputs], name, "node input");
    if (!err) n->n_inputs++;
    return err;
}

psync_err psync_node_add_param(psync_node *n, const char *tensor_name)
{
    if (n->n_params >= PSYNC_NODE_MAX_PARAMS)
        return psync_fail(PSYNC_ELIMIT, "node '%s' already has %d params", n->name,
                          PSYNC_NODE_MAX_PARAMS);
    psync_err err = graph_name(n->params[n->n_params], tensor_name, "param");
    if (!err) n->n_params++;
    return err;
}

/* Attribute slot for key: the existing one or a new one (type set later). */
static psync_err node_attr_slot(psync_node *n, const char *key, psync_attr_type type,
                                psync_attr **out)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0 || len >= sizeof n->attrs[0].key)
        return psync_fail(PSYNC_EINVAL, "attribute key must have 1..%zu bytes",
                          sizeof n->attrs[0].key - 1);
    psync_attr *a = (psync_attr *)psync_node_attr(n, key);
    if (!a) {
        if (n->n_attrs >= PSYNC_NODE_MAX_ATTRS)
            return psync_fail(PSYNC_ELIMIT, "node '%s' already has %d attributes", n->name,
                              PSYNC_NODE_MAX_ATTRS);
        a = &n->attrs[n->n_attrs++];
    }
    memset(a, 0, sizeof *a);
    memcpy(a->key, key, len + 1);
    a->type = type;
    *out = a;
    return PSYNC_OK;
}

psync_err psync_node_set_int(psync_node *n, const char *key, int64_t v)
{
    psync_attr *a;
    psync_err err = node_attr_slot(n, key, PSYNC_ATTR_INT, &a);
    if (!err) a->i = v;
    return err;
}

psync_err psync_node_set_float(psync_node *n, const char *key, double v)
{
    psync_attr *a;
    psync_err err = node_attr_slot(n, key, PSYNC_ATTR_FLOAT, &a);
    if (!err) a->f = v;
    return err;
}

psync_err psync_node_set_str(psync_node *n, const char *key, const char *v)
{
    if (!v || strlen(v) >= PSYNC_ATTR_STR_MAX)
        return psync_fail(PSYNC_EINVAL, "attribute '%s': string must be shorter than %d bytes",
                          key ? key : "", PSYNC_ATTR_STR_MAX);
    psync_attr *a;
    psync_err err = node_attr_slot(n, key, PSYNC_ATTR_STR, &a);
    if (!err) strcpy(a->s, v);
    return err;
}

psync_err psync_node_set_ints(psync_node *n, const char *key, uint32_t count, const int64_t *v)
{
    if (count > PSYNC_MAX_RANK)
        return psync_fail(PSYNC_EINVAL, "attribute '%s': %u integers exceed %d", key ? key : "",
                          count, PSYNC_MAX_RANK);
    psync_attr *a;
    psync_err err = node_attr_slot(n, key, PSYNC_ATTR_INTS, &a);
    if (err) return err;
    a->n_ints = count;
    if (count) memcpy(a->ints, v, count * sizeof *v);
    return PSYNC_OK;
}

const psync_attr *psync_node_attr(const psync_node *n, const char *key)
{
    for (uint32_t i = 0; i < n->n_attrs && i < PSYNC_NODE_MAX_ATTRS; i++)
        if (!strcmp(n->attrs[i].key, key)) return &n->attrs[i];
    return NULL;
}

int64_t psync_node_int(const psync_node *n, const char *key, int64_t dflt)
{
    const psync_attr *a = psync_node_attr(n, key);
    return a && a->type == PSYNC_ATTR_INT ? a->i : dflt;
}

double psync_node_float(const psync_node *n, const char *key, double dflt)
{
    const psync_attr *a = psync_node_attr(n, key);
    if (a && a->type == PSYNC_ATTR_FLOAT) return a->f;
    if (a && a->type == PSYNC_ATTR_INT) return (double)a->i;
    return dflt;
}

int psync_graph_find_node(const psync_graph *g, const char *name)
{
    for (uint32_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].name, name)) return (int)i;
    return -1;
}

int psync_graph_find_input(const psync_graph *g, const char *name)
{
    for (uint32_t i = 0; i < g->n_inputs && i < PSYNC_GRAPH_MAX_INPUTS; i++)
        if (!strcmp(g->inputs[i].name, name)) return (int)i;
    return -1;
}

/* Checks one node against the names defined before it (inputs and earlier
 * nodes, all in `seen`), then adds its own name. */
static psync_err graph_check_node(const psync_node *n, uint32_t idx, psync_nameset *seen)
{
    if (!n->name[0] || !memchr(n->name, 0, PSYNC_NAME_MAX) || !memchr(n->op, 0, PSYNC_OP_MAX))
        return psync_fail(PSYNC_EGRAPH, "nodes[%u]: empty or unterminated name or op", idx);
    if (n->n_inputs > PSYNC_NODE_MAX_INPUTS || n->n_params > PSYNC_NODE_MAX_PARAMS ||
        n->n_attrs > PSYNC_NODE_MAX_ATTRS)
        return psync_fail(PSYNC_EGRAPH, "node '%s': too many inputs, params or attributes",
                          n->name);
    for (uint32_t k = 0; k < n->n_inputs; k++) {
        if (!memchr(n->inputs[k], 0, PSYNC_NAME_MAX) || !psync_nameset_has(seen, n->inputs[k]))
            return psync_fail(PSYNC_EGRAPH,
                              "node '%s': input '%.*s' is not a graph input or an "
                              "earlier node (dangling edge or cycle)",
                              n->name, PSYNC_NAME_MAX - 1, n->inputs[k]);
    }
    for (uint32_t k = 0; k < n->n_attrs; k++) {
        psync_attr_type t = n->attrs[k].type;
        if (t < PSYNC_ATTR_INT || t > PSYNC_ATTR_INTS || n->attrs[k].n_ints > PSYNC_MAX_RANK)
            return psync_fail(PSYNC_EGRAPH, "node '%s': attribute %u has unknown type %d", n->name,
                              k, (int)t);
    }
    if (!psync_nameset_add(seen, n->name))
        return psync_fail(PSYNC_EGRAPH, "node name '%s' is used twice", n->name);
    return PSYNC_OK;
}

/* Output and loss must name nodes (loss may be empty). */
static psync_err graph_check_ends(const psync_graph *g)
{
    if (!g->output[0] || psync_graph_find_node(g, g->output) < 0)
        return psync_fail(PSYNC_EGRAPH, "output '%s' is not a node", g->output);
    if (g->loss[0] && psync_graph_find_node(g, g->loss) < 0)
        return psync_fail(PSYNC_EGRAPH, "loss '%s' is not a node", g->loss);
    return PSYNC_OK;
}

psync_err psync_graph_validate(const psync_graph *g)
{
    if (g->n_inputs > PSYNC_GRAPH_MAX_INPUTS)
        return psync_fail(PSYNC_EGRAPH, "%u inputs exceed %d", g->n_inputs, PSYNC_GRAPH_MAX_INPUTS);
    psync_nameset seen;
    psync_err err = psync_nameset_init(&seen, g->n_inputs + g->n_nodes);
    if (err) return err;
    for (uint32_t i = 0; i < g->n_inputs && !err; i++) {
        if (!g->inputs[i].name[0] || !psync_nameset_add(&seen, g->inputs[i].name))
            err = psync_fail(PSYNC_EGRAPH, "input %u: empty or duplicate name '%s'", i,
                             g->inputs[i].name);
    }
    for (uint32_t i = 0; i < g->n_nodes && !err; i++)
        err = graph_check_node(&g->nodes[i], i, &seen);
    psync_nameset_free(&seen);
    return err ? err : graph_check_ends(g);
}

uint64_t psync_graph_hash(const psync_graph *g)
{
    msgpack_packer pk;
    psync_mpbuf b;
    psync_mpbuf_hasher(&pk, &b);
    psync_graph_pack(g, &pk);
    return b.fnv;
}
