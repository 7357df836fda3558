/* trainer.h: the training loop over a model, its engine, a training set and an
 * optional test set. All progress (epoch, cursor in the epoch's permutation,
 * rng, step counters) lives in the model's state, so a model frozen between
 * two steps and thawed in another process continues with exactly the same
 * batches and dropout masks. The per-step hook is where a cluster client
 * publishes snapshots or applies merges, between steps. */
#ifndef PSYNC_TRAINER_H
#define PSYNC_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "engine.h"
#include "error.h"
#include "model.h"

typedef struct psync_trainer psync_trainer;

/* What one step did (state values are those after the step). */
typedef struct psync_step_stats {
    uint64_t global_step;
    uint64_t epoch;
    uint32_t batch;   /* samples in this step */
    uint32_t correct; /* of them predicted right */
    float loss;       /* mean loss of the batch */
    bool epoch_end;   /* this step finished an epoch */
} psync_step_stats;

typedef struct psync_eval {
    uint64_t n;
    double accuracy; /* 0..1 */
    double loss;     /* mean */
} psync_eval;

/* One progress report (at each epoch end and every eval_every steps). */
typedef struct psync_progress {
    uint64_t epoch; /* epochs completed */
    uint64_t global_step;
    double train_loss; /* mean over the steps since the last report */
    double train_accuracy;
    bool has_test;
    psync_eval test;     /* valid if has_test */
    double images_per_s; /* training throughput since the last report */
} psync_progress;

typedef void (*psync_progress_fn)(void *ctx, const psync_progress *p);
/* Called after every step. May read or replace the model's weights (call
 * psync_engine_rebind if the arena moved). Set *stop to end the run after
 * this step; an error ends the run with that error. */
typedef psync_err (*psync_step_hook)(void *ctx, psync_trainer *t, const psync_step_stats *s,
                                     bool *stop);

typedef struct psync_run_opts {
    uint64_t epochs;            /* stop once state.epoch reaches this (0: no limit) */
    uint64_t max_steps;         /* stop after this many steps of this run (0: no limit) */
    uint64_t eval_every;        /* also report every N global steps (0: epoch ends only) */
    psync_progress_fn progress; /* may be NULL */
    psync_step_hook hook;       /* may be NULL */
    void *ctx;                  /* passed to both */
} psync_run_opts;

/* Creates a trainer; borrows m, e, train and test (NULL: none), which must
 * outlive it. Allocates the batch buffers and the permutation once; no step
 * allocates. PSYNC_ESHAPE if the data's dim differs from the engine's input
 * size or a label is outside the output's classes; PSYNC_EINVAL on an empty
 * training set or a zero batch size. */
psync_err psync_trainer_new(psync_model *m, psync_engine *e, const psync_dataset *train,
                            const psync_dataset *test, psync_trainer **out);
void psync_trainer_destroy(psync_trainer **t);

/* Runs one step: the next batch of the epoch's permutation (drawn from the
 * model's rng when the epoch starts; its seed is kept in the model's
 * metadata "perm_seed" so a thawed model finds the same order), one
 * forward/backward/update, then advances cursor and epoch. st may be NULL. */
psync_err psync_trainer_step(psync_trainer *t, psync_step_stats *st);

/* Accuracy and mean loss of the model on d, in batches, without dropout and
 * without touching the rng. */
psync_err psync_trainer_evaluate(psync_trainer *t, const psync_dataset *d, psync_eval *out);

/* Steps until a stop condition of o holds, the hook asks to stop, or an
 * error; reports progress through o->progress. */
psync_err psync_trainer_run(psync_trainer *t, const psync_run_opts *o);

psync_model *psync_trainer_model(const psync_trainer *t);
psync_engine *psync_trainer_engine(const psync_trainer *t);

#endif
