/* trainer.c: the step loop. Batches are gathered through the epoch's
 * permutation into buffers allocated once; epoch, cursor and rng advance in
 * the model's state only, so frozen state resumes bit-exactly. */
#include "trainer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"

#define TRAINER_PERM_SEED_KEY "perm_seed"

struct psync_trainer {
    psync_model *m;
    psync_engine *e;
    const psync_dataset *train, *test;
    uint32_t batch;      /* max samples per step */
    float *xb;           /* batch * dim gathered features */
    int32_t *yb;         /* batch labels */
    uint32_t *perm;      /* train->n indices */
    uint64_t perm_epoch; /* epoch perm belongs to, UINT64_MAX: none */
    /* since the last progress report */
    double loss_sum, train_seconds;
    uint64_t correct, seen;
};

static psync_err trainer_check_data(const psync_trainer *t, const psync_dataset *d,
                                    const char *what)
{
    uint32_t in = psync_engine_input_size(t->e), classes = psync_engine_classes(t->e);
    if (d->dim != in)
        return psync_fail(PSYNC_ESHAPE,
                          "%s set has %u features per sample; the model's input "
                          "takes %u",
                          what, d->dim, in);
    if (!d->labeled) return psync_fail(PSYNC_EINVAL, "%s set has no labels", what);
    for (uint64_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || (uint32_t)d->y[i] >= classes)
            return psync_fail(PSYNC_ESHAPE,
                              "%s set: sample %" PRIu64 " has label %d; the "
                              "model's output has %u classes",
                              what, i, d->y[i], classes);
    return PSYNC_OK;
}

psync_err psync_trainer_new(psync_model *m, psync_engine *e, const psync_dataset *train,
                            const psync_dataset *test, psync_trainer **out)
{
    if (!train || train->n == 0 || m->state.batch_size == 0)
        return psync_fail(PSYNC_EINVAL, "trainer needs training samples and a batch size");
    psync_trainer *t = calloc(1, sizeof *t);
    if (!t) return psync_fail(PSYNC_ENOMEM, "trainer");
    *t = (psync_trainer){.m = m,
                         .e = e,
                         .train = train,
                         .test = test,
                         .batch = m->state.batch_size,
                         .perm_epoch = UINT64_MAX};
    psync_err err = trainer_check_data(t, train, "training");
    if (!err && test) err = trainer_check_data(t, test, "test");
    if (err) goto free_trainer;
    t->xb = malloc((size_t)t->batch * train->dim * sizeof(float));
    t->yb = malloc((size_t)t->batch * sizeof(int32_t));
    t->perm = malloc(train->n * sizeof(uint32_t));
    if (!t->xb || !t->yb || !t->perm) {
        err = psync_fail(PSYNC_ENOMEM, "trainer buffers for %" PRIu64 " samples", train->n);
        goto free_trainer;
    }
    *out = t;
    return PSYNC_OK;
free_trainer:
    psync_trainer_destroy(&t);
    return err;
}

void psync_trainer_destroy(psync_trainer **t)
{
    if (!t || !*t) return;
    free((*t)->xb);
    free((*t)->yb);
    free((*t)->perm);
    free(*t);
    *t = NULL;
}

/* Makes t->perm the current epoch's order: a new seed from the model's rng
 * when the epoch starts, else the seed recorded in the metadata. */
static psync_err trainer_permutation(psync_trainer *t)
{
    psync_train_state *s = &t->m->state;
    uint64_t seed;
    if (s->cursor == 0) {
        char hex[24];
        seed = psync_rng_next(s->rng);
        snprintf(hex, sizeof hex, "%016" PRIx64, seed);
        psync_err err = psync_model_set_meta(t->m, TRAINER_PERM_SEED_KEY, hex);
        if (err) return err;
    } else if (t->perm_epoch == s->epoch) {
        return PSYNC_OK;
    } else {
        const char *hex = psync_model_get_meta(t->m, TRAINER_PERM_SEED_KEY);
        char *end;
        if (!hex || (seed = strtoull(hex, &end, 16), *end))
            return psync_fail(PSYNC_EFORMAT,
                              "model is mid-epoch (cursor %" PRIu64 ") but has "
                              "no valid '%s' metadata",
                              s->cursor, TRAINER_PERM_SEED_KEY);
    }
    if (s->cursor >= t->train->n)
        return psync_fail(PSYNC_ESHAPE,
                          "model's cursor %" PRIu64 " is past the %" PRIu64
                          " training samples (resumed on other data?)",
                          s->cursor, t->train->n);
    psync_data_permutation(seed, t->perm, t->train->n);
    t->perm_epoch = s->epoch;
    return PSYNC_OK;
}

static uint32_t trainer_gather(psync_trainer *t)
{
    const psync_dataset *d = t->train;
    uint64_t left = d->n - t->m->state.cursor;
    uint32_t b = left < t->batch ? (uint32_t)left : t->batch;
    const uint32_t *idx = t->perm + t->m->state.cursor;
    for (uint32_t i = 0; i < b; i++) {
        memcpy(t->xb + (size_t)i * d->dim, d->x + (size_t)idx[i] * d->dim, d->dim * sizeof(float));
        t->yb[i] = d->y[idx[i]];
    }
    return b;
}

psync_err psync_trainer_step(psync_trainer *t, psync_step_stats *st)
{
    psync_train_state *s = &t->m->state;
    psync_step_stats local;
    st = st ? st : &local;
    psync_err err = trainer_permutation(t);
    if (err) return err;
    uint32_t b = trainer_gather(t);
    err = psync_engine_train_step(t->e, t->xb, t->yb, b, &st->loss, &st->correct);
    if (err) return err;
    s->cursor += b;
    st->epoch_end = s->cursor >= t->train->n;
    if (st->epoch_end) {
        s->cursor = 0;
        s->epoch++;
    }
    st->batch = b;
    st->epoch = s->epoch;
    st->global_step = s->global_step;
    return PSYNC_OK;
}

/* Index of the largest of n scores (first on ties). */
static uint32_t trainer_argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

psync_err psync_trainer_evaluate(psync_trainer *t, const psync_dataset *d, psync_eval *out)
{
    uint32_t classes = psync_engine_classes(t->e);
    double loss_sum = 0;
    uint64_t correct = 0;
    for (uint64_t at = 0; at < d->n; at += t->batch) {
        uint32_t b = d->n - at < t->batch ? (uint32_t)(d->n - at) : t->batch;
        float loss = 0;
        psync_err err = psync_engine_forward(t->e, d->x + at * d->dim, d->y + at, b, false, &loss);
        if (err) return err;
        const float *logits = psync_engine_output(t->e);
        for (uint32_t i = 0; i < b; i++)
            correct +=
                trainer_argmax(logits + (size_t)i * classes, classes) == (uint32_t)d->y[at + i];
        loss_sum += (double)loss * b;
    }
    out->n = d->n;
    out->accuracy = d->n ? (double)correct / (double)d->n : 0.0;
    out->loss = d->n ? loss_sum / (double)d->n : 0.0;
    return PSYNC_OK;
}

static double trainer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Evaluates (if there is a test set), reports, and resets the window. */
static psync_err trainer_report(psync_trainer *t, const psync_run_opts *o)
{
    psync_progress p = {.epoch = t->m->state.epoch, .global_step = t->m->state.global_step};
    p.train_loss = t->seen ? t->loss_sum / (double)t->seen : 0.0;
    p.train_accuracy = t->seen ? (double)t->correct / (double)t->seen : 0.0;
    p.images_per_s = t->train_seconds > 0 ? (double)t->seen / t->train_seconds : 0.0;
    p.has_test = t->test != NULL;
    if (p.has_test) {
        psync_err err = psync_trainer_evaluate(t, t->test, &p.test);
        if (err) return err;
    }
    if (o->progress) o->progress(o->ctx, &p);
    t->loss_sum = t->train_seconds = 0;
    t->correct = t->seen = 0;
    return PSYNC_OK;
}

static bool trainer_done(const psync_trainer *t, const psync_run_opts *o, uint64_t steps)
{
    return (o->epochs && t->m->state.epoch >= o->epochs) || (o->max_steps && steps >= o->max_steps);
}

psync_err psync_trainer_run(psync_trainer *t, const psync_run_opts *o)
{
    bool stop = false;
    psync_err err = PSYNC_OK;
    for (uint64_t steps = 0; !err && !stop && !trainer_done(t, o, steps); steps++) {
        psync_step_stats st;
        double t0 = trainer_now();
        if ((err = psync_trainer_step(t, &st))) break;
        t->train_seconds += trainer_now() - t0;
        t->loss_sum += (double)st.loss * st.batch;
        t->correct += st.correct;
        t->seen += st.batch;
        if (st.epoch_end || (o->eval_every && st.global_step % o->eval_every == 0))
            err = trainer_report(t, o);
        if (!err && o->hook) err = o->hook(o->ctx, t, &st, &stop);
    }
    return err;
}

psync_model *psync_trainer_model(const psync_trainer *t)
{
    return t->m;
}

psync_engine *psync_trainer_engine(const psync_trainer *t)
{
    return t->e;
}
