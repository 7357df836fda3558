/* graph.h: the description of a model's computation: typed inputs, nodes
 * (op, inputs, parameter tensors, attributes), the output node and the loss
 * node. Pure data: the engine in worker/ gives ops their meaning. Nodes are
 * stored in topological order; psync_graph_validate enforces it. */
#ifndef PSYNC_GRAPH_H
#define PSYNC_GRAPH_H

#include <stdint.h>

#include "error.h"
#include "tensor.h"

#define PSYNC_GRAPH_MAX_INPUTS 4
#define PSYNC_NODE_MAX_INPUTS 4
#define PSYNC_NODE_MAX_PARAMS 4
#define PSYNC_NODE_MAX_ATTRS 8
#define PSYNC_OP_MAX 32 /* op name length incl. NUL */
#define PSYNC_ATTR_STR_MAX 64

typedef enum psync_attr_type {
    PSYNC_ATTR_INT = 1,
    PSYNC_ATTR_FLOAT = 2,
    PSYNC_ATTR_STR = 3,
    PSYNC_ATTR_INTS = 4, /* up to PSYNC_MAX_RANK integers */
} psync_attr_type;

typedef struct psync_attr {
    char key[32];
    psync_attr_type type;
    int64_t i;
    double f;
    char s[PSYNC_ATTR_STR_MAX];
    uint32_t n_ints;
    int64_t ints[PSYNC_MAX_RANK];
} psync_attr;

typedef struct psync_node {
    char name[PSYNC_NAME_MAX];
    char op[PSYNC_OP_MAX];
    uint32_t n_inputs; /* names of graph inputs or earlier nodes */
    char inputs[PSYNC_NODE_MAX_INPUTS][PSYNC_NAME_MAX];
    uint32_t n_params; /* names of tensors in the model's tensor table */
    char params[PSYNC_NODE_MAX_PARAMS][PSYNC_NAME_MAX];
    uint32_t n_attrs;
    psync_attr attrs[PSYNC_NODE_MAX_ATTRS];
} psync_node;

/* A graph input; shape excludes the batch dimension (e.g. [1,28,28]).
 * Labels are an input of dtype i32 and rank 0. */
typedef struct psync_graph_input {
    char name[PSYNC_NAME_MAX];
    psync_dtype dtype;
    uint32_t rank;
    uint64_t shape[PSYNC_MAX_RANK];
} psync_graph_input;

typedef struct psync_graph {
    uint32_t n_inputs;
    psync_graph_input inputs[PSYNC_GRAPH_MAX_INPUTS];
    uint32_t n_nodes;
    uint32_t cap_nodes;
    psync_node *nodes;           /* owned, heap array of cap_nodes */
    char output[PSYNC_NAME_MAX]; /* node giving predictions (logits) */
    char loss[PSYNC_NAME_MAX];   /* node giving the scalar loss ("" if none) */
} psync_graph;

/* Initialises an empty graph (no allocation). */
void psync_graph_init(psync_graph *g);
/* Frees the node array; g may be reused after psync_graph_init. */
void psync_graph_clear(psync_graph *g);
/* Deep copy; dst must be initialised (its old nodes are freed). */
psync_err psync_graph_copy(psync_graph *dst, const psync_graph *src);

/* Appends an input; PSYNC_ELIMIT if full, PSYNC_EINVAL on a bad name. */
psync_err psync_graph_add_input(psync_graph *g, const char *name, psync_dtype dt, uint32_t rank,
                                const uint64_t *shape);
/* Appends a node (copied) and returns a pointer to the stored copy, valid
 * until the next add. max_nodes bounds growth (PSYNC_ELIMIT). */
psync_err psync_graph_add_node(psync_graph *g, const psync_node *node, uint32_t max_nodes,
                               psync_node **out);

/* Helpers to fill a node before adding it. */
void psync_node_init(psync_node *n, const char *name, const char *op);
psync_err psync_node_add_input(psync_node *n, const char *name);
psync_err psync_node_add_param(psync_node *n, const char *tensor_name);
psync_err psync_node_set_int(psync_node *n, const char *key, int64_t v);
psync_err psync_node_set_float(psync_node *n, const char *key, double v);
psync_err psync_node_set_str(psync_node *n, const char *key, const char *v);
psync_err psync_node_set_ints(psync_node *n, const char *key, uint32_t count, const int64_t *v);
/* Attribute lookup; NULL if absent. */
const psync_attr *psync_node_attr(const psync_node *n, const char *key);
/* Typed attribute lookup with default (also used when the type differs). */
int64_t psync_node_int(const psync_node *n, const char *key, int64_t dflt);
double psync_node_float(const psync_node *n, const char *key, double dflt);

/* Index of the node with this name, or -1. */
int psync_graph_find_node(const psync_graph *g, const char *name);
/* Index of the input with this name, or -1. */
int psync_graph_find_input(const psync_graph *g, const char *name);

/* Structural validation: unique names, every node input names a graph input
 * or an EARLIER node (so no cycles and no dangling edges), output and loss
 * name existing nodes, attribute types known. Op names are not checked here
 * (the engine knows them); PSYNC_EGRAPH with a detail naming the problem. */
psync_err psync_graph_validate(const psync_graph *g);

/* Stable 64-bit FNV-1a hash of the graph's canonical form (inputs, nodes in
 * order with ops, inputs, params and attributes sorted by key, output, loss).
 * Equal for the same model in any process, on any host. */
uint64_t psync_graph_hash(const psync_graph *g);

#endif
