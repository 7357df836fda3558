/* modelfile_init.c: deterministic parameter initialisation from a seed:
 * he or glorot uniform weights drawn from the model's xoshiro256** state in
 * node order, zero biases, zero optimizer slots. */
#include <math.h>
#include <string.h>

#include "modelfile.h"
#include "rng.h"

/* Fan-in and fan-out of a dense [in,out] or conv [out,in,kh,kw] weight. */
static void init_fans(const psync_tensor *t, double *fan_in, double *fan_out)
{
    if (t->rank == 4) {
        double rf = (double)(t->shape[2] * t->shape[3]);
        *fan_in = (double)t->shape[1] * rf;
        *fan_out = (double)t->shape[0] * rf;
    } else {
        *fan_in = (double)t->shape[0];
        *fan_out = t->rank > 1 ? (double)t->shape[1] : 1.0;
    }
}

static void init_weight(psync_tensor *t, const char *init, uint64_t rng[4])
{
    float *w = t->data;
    uint64_t n = psync_tensor_elems(t);
    double fan_in, fan_out;
    init_fans(t, &fan_in, &fan_out);
    if (!strcmp(init, "zeros") || t->rank < 2) {
        memset(w, 0, t->nbytes);
        return;
    }
    double limit = !strcmp(init, "glorot") ? sqrt(6.0 / (fan_in + fan_out)) : sqrt(6.0 / fan_in);
    float lim = (float)limit;
    for (uint64_t i = 0; i < n; i++)
        w[i] = (2.0f * psync_rng_uniform_f32(rng) - 1.0f) * lim;
}

psync_err psync_model_init_params(psync_model *m, uint64_t seed)
{
    psync_rng_seed(m->state.rng, seed);
    for (uint32_t i = 0; i < m->graph.n_nodes; i++) {
        const psync_node *n = &m->graph.nodes[i];
        const psync_attr *a = psync_node_attr(n, "init");
        for (uint32_t k = 0; k < n->n_params; k++) {
            psync_tensor *t = psync_model_find(m, n->params[k]);
            if (!t || t->dtype != PSYNC_DTYPE_F32)
                return psync_fail(PSYNC_ENOTFOUND,
                                  "param '%s' of node '%s' is not an f32 "
                                  "tensor of the model",
                                  n->params[k], n->name);
            init_weight(t, a && a->type == PSYNC_ATTR_STR ? a->s : "he", m->state.rng);
        }
    }
    for (uint32_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].role == PSYNC_ROLE_SLOT)
            memset(m->tensors[i].data, 0, m->tensors[i].nbytes);
    m->opt.step = 0;
    return PSYNC_OK;
}
