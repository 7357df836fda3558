/* engine_testnet.c: the layer-by-layer model builder of the engine tests
 * (see engine_testnet.h). */
#include "engine_testnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

void tnet_fill(uint64_t rng[4], float *dst, uint64_t n, float a)
{
    for (uint64_t i = 0; i < n; i++)
        dst[i] = (2.0f * psync_rng_uniform_f32(rng) - 1.0f) * a;
}

void tnet_begin(tnet *t, uint64_t seed, uint32_t rank, const uint64_t *shape)
{
    memset(t, 0, sizeof *t);
    psync_rng_seed(t->rng, seed);
    t->err = psync_model_new(&t->m);
    if (!t->err) t->err = psync_graph_add_input(&t->m->graph, "x", PSYNC_DTYPE_F32, rank, shape);
    if (!t->err) t->err = psync_graph_add_input(&t->m->graph, "y", PSYNC_DTYPE_I32, 0, NULL);
    snprintf(t->last, sizeof t->last, "x");
}

/* Adds a param "<node>.<suffix>" filled uniformly in +-a. */
static void tnet_param(tnet *t, psync_node *n, const char *suffix, uint32_t rank,
                       const uint64_t *shape, float a)
{
    char name[2 * PSYNC_NAME_MAX];
    uint64_t count = 1;
    for (uint32_t i = 0; i < rank; i++)
        count *= shape[i];
    float *data = malloc(count * sizeof(float));
    if (!data) {
        t->err = PSYNC_ENOMEM;
        return;
    }
    tnet_fill(t->rng, data, count, a);
    snprintf(name, sizeof name, "%s.%s", n->name, suffix);
    t->err = psync_model_add_tensor(t->m, name, PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, rank, shape,
                                    data, NULL);
    if (!t->err) t->err = psync_node_add_param(n, name);
    free(data);
}

/* Appends n (input: the previous node) and makes it the last node. */
static void tnet_push(tnet *t, psync_node *n)
{
    if (!t->err) t->err = psync_node_add_input(n, t->last);
    if (!t->err) t->err = psync_graph_add_node(&t->m->graph, n, 1024, NULL);
    snprintf(t->last, sizeof t->last, "%s", n->name);
}

void tnet_dense(tnet *t, const char *name, uint64_t in, uint64_t out)
{
    psync_node n;
    uint64_t wshape[2] = {in, out};
    if (t->err) return;
    psync_node_init(&n, name, "dense");
    tnet_param(t, &n, "w", 2, wshape, 1.0f / sqrtf((float)in));
    if (!t->err) tnet_param(t, &n, "b", 1, &out, 1.0f / sqrtf((float)in));
    tnet_push(t, &n);
}

void tnet_conv(tnet *t, const char *name, uint64_t in_c, uint64_t out_c, uint64_t k, int64_t stride,
               int64_t pad)
{
    psync_node n;
    uint64_t wshape[4] = {out_c, in_c, k, k};
    float a = 1.0f / sqrtf((float)(in_c * k * k));
    if (t->err) return;
    psync_node_init(&n, name, "conv2d");
    tnet_param(t, &n, "w", 4, wshape, a);
    if (!t->err) tnet_param(t, &n, "b", 1, &out_c, a);
    if (!t->err) t->err = psync_node_set_int(&n, "stride", stride);
    if (!t->err) t->err = psync_node_set_int(&n, "pad", pad);
    tnet_push(t, &n);
}

void tnet_op(tnet *t, const char *name, const char *op, const char *key1, int64_t v1,
             const char *key2, int64_t v2)
{
    psync_node n;
    if (t->err) return;
    psync_node_init(&n, name, op);
    if (key1) t->err = psync_node_set_int(&n, key1, v1);
    if (key2 && !t->err) t->err = psync_node_set_int(&n, key2, v2);
    tnet_push(t, &n);
}

void tnet_dropout(tnet *t, const char *name, double rate)
{
    psync_node n;
    if (t->err) return;
    psync_node_init(&n, name, "dropout");
    t->err = psync_node_set_float(&n, "rate", rate);
    tnet_push(t, &n);
}

psync_model *tnet_end(tnet *t)
{
    psync_node n;
    if (!t->err) {
        snprintf(t->m->graph.output, sizeof t->m->graph.output, "%s", t->last);
        psync_node_init(&n, "loss", "softmax_xent");
        t->err = psync_node_add_input(&n, t->last);
    }
    if (!t->err) t->err = psync_node_add_input(&n, "y");
    if (!t->err) t->err = psync_graph_add_node(&t->m->graph, &n, 1024, NULL);
    if (!t->err) snprintf(t->m->graph.loss, sizeof t->m->graph.loss, "loss");
    if (t->err) psync_model_destroy(&t->m);
    return t->m;
}
