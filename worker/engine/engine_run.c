/* engine_run.c: running a compiled engine: forward over the node list,
 * backward in reverse over the nodes that reach the loss, the optimizer
 * update, a whole training step and chunked inference. No allocation. */
#include <math.h>
#include <string.h>

#include "engine_int.h"

/* Runs the forward pass (see engine.h). PSYNC_EINVAL on a bad batch or an
 * out-of-range label. */
psync_err psync_engine_forward(psync_engine *e, const float *x, const int32_t *y, uint32_t batch,
                               bool training, float *loss)
{
    if (!e || !x || batch == 0 || batch > e->max_batch)
        return psync_fail(PSYNC_EINVAL, "engine_forward: batch %u outside 1..%u or NULL input",
                          batch, e ? e->max_batch : 0);
    const eng_run run = {training, e->m->state.rng};
    const bool with_labels = y && e->labels;
    e->fwd_grad_ready = e->bwd_ready = false;
    e->x->data = (float *)x; /* read only: no op writes its inputs */
    if (e->labels) e->labels->labels = y;
    for (uint32_t i = 0; i < e->n_nodes; i++) {
        eng_node *n = &e->nodes[i];
        if (n->out->from_labels && !with_labels) continue;
        psync_err err = n->op->forward(n, batch, &run);
        if (err) return err;
    }
    e->fwd_batch = batch;
    e->fwd_grad_ready = training && with_labels && e->loss;
    if (loss) *loss = (with_labels && e->loss) ? e->loss->data[0] : 0.0f;
    return PSYNC_OK;
}

/* Backward of the last training forward. PSYNC_EINVAL if there was none. */
psync_err psync_engine_backward(psync_engine *e)
{
    if (!e || !e->fwd_grad_ready)
        return psync_fail(PSYNC_EINVAL, "engine_backward: needs a training forward with labels "
                                        "on a graph with a loss");
    const uint32_t batch = e->fwd_batch;
    for (uint32_t i = e->n_nodes; i-- > 0;) {
        eng_node *n = &e->nodes[i];
        if (n->active) n->op->backward(n, batch);
    }
    e->bwd_ready = true;
    return PSYNC_OK;
}

/* One optimizer step on every trained param; increments m->opt.step.
 * PSYNC_EINVAL if no backward preceded it or the optimizer is invalid,
 * PSYNC_ENOTFOUND if a changed optimizer's slots are missing. */
psync_err psync_engine_update(psync_engine *e)
{
    if (!e || !e->bwd_ready)
        return psync_fail(PSYNC_EINVAL, "engine_update: no gradients (run backward first)");
    psync_optimizer *o = &e->m->opt;
    psync_err err = eng_optim_check(o);
    if (!err && o->kind != e->bound_kind)
        err = eng_bind(e); /* the caller switched optimizers: find the new slots */
    if (err) return err;
    o->step++;
    for (uint32_t i = 0; i < e->n_params; i++)
        if (e->params[i].trained) eng_optim_apply(o, &e->params[i]);
    return PSYNC_OK;
}

/* Returns the index of the largest of n scores (first on ties). */
uint32_t psync_engine_argmax(const float *scores, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t j = 1; j < n; j++)
        if (scores[j] > scores[best]) best = j;
    return best;
}

/* forward + backward + update, then counts correct argmax predictions and
 * advances the training state. Errors as the three steps. */
psync_err psync_engine_train_step(psync_engine *e, const float *x, const int32_t *y, uint32_t batch,
                                  float *loss, uint32_t *correct)
{
    if (!y) return psync_fail(PSYNC_EINVAL, "engine_train_step: labels required");
    psync_err err = psync_engine_forward(e, x, y, batch, true, loss);
    if (!err) err = psync_engine_backward(e);
    if (!err) err = psync_engine_update(e);
    if (err) return err;
    if (correct) {
        const size_t k = e->output->size;
        uint32_t hits = 0;
        for (uint32_t r = 0; r < batch; r++)
            hits += (int32_t)psync_engine_argmax(e->output->data + r * k, (uint32_t)k) == y[r];
        *correct = hits;
    }
    e->m->state.global_step++;
    e->m->state.samples_seen += batch;
    return PSYNC_OK;
}

/* Logits of the last forward (batch x classes). */
const float *psync_engine_output(const psync_engine *e)
{
    return e->output->data;
}

/* Gradient buffer of the named param, or NULL if no node uses it. */
const float *psync_engine_grad(const psync_engine *e, const char *param)
{
    for (uint32_t i = 0; e && param && i < e->n_params; i++)
        if (strcmp(e->params[i].name, param) == 0) return e->params[i].g;
    return NULL;
}

/* Writes the softmax of k logits z into p. */
static void eng_softmax(const float *z, float *p, size_t k)
{
    float mx = z[psync_engine_argmax(z, (uint32_t)k)];
    double sum = 0.0;
    for (size_t j = 0; j < k; j++)
        sum += p[j] = expf(z[j] - mx);
    for (size_t j = 0; j < k; j++)
        p[j] = (float)(p[j] / sum);
}

/* Inference over n samples in max_batch chunks (see engine.h). */
psync_err psync_engine_predict(psync_engine *e, const float *x, uint64_t n, int32_t *classes,
                               float *scores)
{
    if (!e || (n && (!x || !classes)))
        return psync_fail(PSYNC_EINVAL, "engine_predict: NULL engine, input or classes");
    const size_t k = e->output->size, in = e->x->size;
    for (uint64_t done = 0; done < n;) {
        uint32_t b = (uint32_t)(n - done < e->max_batch ? n - done : e->max_batch);
        psync_err err = psync_engine_forward(e, x + done * in, NULL, b, false, NULL);
        if (err) return err;
        for (uint32_t r = 0; r < b; r++) {
            const float *z = e->output->data + r * k;
            classes[done + r] = (int32_t)psync_engine_argmax(z, (uint32_t)k);
            if (scores) eng_softmax(z, scores + (done + r) * k, k);
        }
        done += b;
    }
    return PSYNC_OK;
}
