/* testmodel.c: the shared protocol test model (see testmodel.h). */
#include "testmodel.h"

#include <string.h>

static psync_err testmodel_graph(psync_graph *g)
{
    const uint64_t xshape[1] = {4};
    psync_node n;
    psync_err err = psync_graph_add_input(g, "x", PSYNC_DTYPE_F32, 1, xshape);
    if (!err) err = psync_graph_add_input(g, "y", PSYNC_DTYPE_I32, 0, NULL);
    psync_node_init(&n, "fc1", "dense");
    psync_node_add_input(&n, "x");
    psync_node_add_param(&n, "fc1.w");
    psync_node_add_param(&n, "fc1.b");
    psync_node_set_int(&n, "units", 8);
    psync_node_set_str(&n, "init", "he");
    psync_node_set_float(&n, "scale", 0.5);
    if (!err) err = psync_graph_add_node(g, &n, 16, NULL);
    psync_node_init(&n, "act", "relu");
    psync_node_add_input(&n, "fc1");
    const int64_t perm[3] = {-1, 0, 300};
    psync_node_set_ints(&n, "axes", 3, perm);
    if (!err) err = psync_graph_add_node(g, &n, 16, NULL);
    psync_node_init(&n, "fc2", "dense");
    psync_node_add_input(&n, "act");
    psync_node_add_param(&n, "fc2.w");
    psync_node_add_param(&n, "fc2.b");
    psync_node_set_int(&n, "units", 3);
    if (!err) err = psync_graph_add_node(g, &n, 16, NULL);
    psync_node_init(&n, "loss", "softmax_xent");
    psync_node_add_input(&n, "fc2");
    psync_node_add_input(&n, "y");
    if (!err) err = psync_graph_add_node(g, &n, 16, NULL);
    strcpy(g->output, "fc2");
    strcpy(g->loss, "loss");
    return err;
}

/* Adds a tensor whose element i is base + i/8 (f32). */
static psync_err testmodel_tensor(psync_model *m, const char *name, psync_role role, uint32_t rank,
                                  const uint64_t *shape, float base)
{
    float data[64];
    uint64_t n = 1;
    for (uint32_t i = 0; i < rank; i++)
        n *= shape[i];
    for (uint64_t i = 0; i < n && i < 64; i++)
        data[i] = base + (float)i / 8.0f;
    return psync_model_add_tensor(m, name, role, PSYNC_DTYPE_F32, rank, shape, data, NULL);
}

static psync_err testmodel_tensors(psync_model *m)
{
    static const struct {
        const char *name;
        uint32_t rank;
        uint64_t shape[2];
    } params[] = {
        {"fc1.w", 2, {4, 8}},
        {"fc1.b", 1, {8}},
        {"fc2.w", 2, {8, 3}},
        {"fc2.b", 1, {3}},
    };
    psync_err err = PSYNC_OK;
    for (unsigned i = 0; i < 4 && !err; i++)
        err = testmodel_tensor(m, params[i].name, PSYNC_ROLE_PARAM, params[i].rank, params[i].shape,
                               (float)i - 1.5f);
    for (unsigned i = 0; i < 4 && !err; i++) {
        char slot[PSYNC_NAME_MAX];
        psync_slot_name(slot, params[i].name, "m");
        err = testmodel_tensor(m, slot, PSYNC_ROLE_SLOT, params[i].rank, params[i].shape, 0.25f);
        psync_slot_name(slot, params[i].name, "v");
        if (!err)
            err =
                testmodel_tensor(m, slot, PSYNC_ROLE_SLOT, params[i].rank, params[i].shape, 0.125f);
    }
    const uint64_t cshape[1] = {5};
    const int64_t counts[5] = {1, -2, 3, -4, 1LL << 40};
    if (!err)
        err = psync_model_add_tensor(m, "counts", PSYNC_ROLE_BUFFER, PSYNC_DTYPE_I64, 1, cshape,
                                     counts, NULL);
    return err;
}

psync_err testmodel_build(psync_model **out)
{
    psync_model *m = NULL;
    psync_err err = psync_model_new(&m);
    if (!err) err = testmodel_graph(&m->graph);
    if (!err) err = testmodel_tensors(m);
    if (err) {
        psync_model_destroy(&m);
        return err;
    }
    m->opt = (psync_optimizer){PSYNC_OPT_ADAM, 0.001, 0.0, 0.9, 0.999, 1e-8, 1e-4, 42};
    m->state = (psync_train_state){1234, 78976, 2, 4000, 17, {1, 2, 0xdeadbeefcafef00dULL, 4}, 64};
    psync_model_set_meta(m, "name", "mlp-test");
    psync_model_set_meta(m, "dataset", "fashion-mnist");
    *out = m;
    return PSYNC_OK;
}

static int testmodel_diff_tensor(const psync_tensor *a, const psync_tensor *b)
{
    return strcmp(a->name, b->name) || a->role != b->role || a->dtype != b->dtype ||
           a->rank != b->rank || memcmp(a->shape, b->shape, sizeof a->shape) ||
           a->offset != b->offset || a->nbytes != b->nbytes ||
           (a->nbytes && memcmp(a->data, b->data, a->nbytes));
}

static int testmodel_diff_scalars(const psync_model *a, const psync_model *b)
{
    const psync_optimizer *o = &a->opt, *p = &b->opt;
    const psync_train_state *s = &a->state, *t = &b->state;
    if (o->kind != p->kind || o->lr != p->lr || o->momentum != p->momentum ||
        o->beta1 != p->beta1 || o->beta2 != p->beta2 || o->eps != p->eps ||
        o->weight_decay != p->weight_decay || o->step != p->step)
        return 1;
    if (s->global_step != t->global_step || s->samples_seen != t->samples_seen ||
        s->epoch != t->epoch || s->cursor != t->cursor || s->merge_version != t->merge_version ||
        memcmp(s->rng, t->rng, sizeof s->rng) || s->batch_size != t->batch_size)
        return 1;
    if (a->n_meta != b->n_meta) return 1;
    for (uint32_t i = 0; i < a->n_meta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].value, b->meta[i].value))
            return 1;
    return 0;
}

int testmodel_diff(const psync_model *a, const psync_model *b)
{
    if (psync_graph_hash(&a->graph) != psync_graph_hash(&b->graph)) return 1;
    if (a->n_tensors != b->n_tensors || a->payload_len != b->payload_len) return 2;
    for (uint32_t i = 0; i < a->n_tensors; i++)
        if (testmodel_diff_tensor(&a->tensors[i], &b->tensors[i])) return 3;
    if (testmodel_diff_scalars(a, b)) return 4;
    if (a->payload_len && memcmp(a->payload, b->payload, a->payload_len)) return 5;
    return 0;
}
