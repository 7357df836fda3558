/* cluster.h: psync-worker's cluster mode, built on the client library
 * (worker/client/psync_client.h): join a psyncd (upload our model, or hot
 * join with none and bootstrap the cluster's), then from the trainer's
 * per-step hook publish snapshots every K steps or T ms and apply merges.
 * Sync blocks a step only to wait for the merge of the round it published
 * (bounded by sync_timeout_ms); easgd and async never block a step. */
#ifndef PSYNC_WORKER_CLUSTER_H
#define PSYNC_WORKER_CLUSTER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "data.h"
#include "error.h"
#include "model.h"
#include "trainer.h"

typedef struct psync_cluster psync_cluster;

typedef struct psync_cluster_opts {
    const char *connect;  /* control endpoint; NULL or "": PSYNC_ADDR, MASTER_ADDR... */
    int rank;             /* -1: RANK or SLURM_PROCID */
    uint32_t world_size;  /* workers expected (for the hot joiner's step estimate) */
    uint64_t every_steps; /* publish every K steps (0: by time only) */
    uint64_t every_ms;    /* publish every T ms (0: by steps only) */
    int sync_timeout_ms;  /* sync: longest wait for a round's merge */
    int join_timeout_ms;  /* longest wait for the daemon at start */
    const volatile sig_atomic_t *stop; /* may be NULL; nonzero ends any wait */
    const char *key_file;              /* CURVE: our key pair (NULL: PSYNC_KEY_FILE) */
    const char *server_key;            /* CURVE: psyncd's .pub or Z85 (NULL: PSYNC_SERVER_KEY) */
    bool insecure_plain;               /* plain even to a non-loopback daemon */
    bool retry_auth;                   /* refused key: keep retrying until join_timeout_ms */
    bool no_shm;                       /* frames even from a same-host psyncd */
} psync_cluster_opts;

/* true if cluster mode is asked for: a connect endpoint, PSYNC_ADDR or
 * MASTER_ADDR in the environment. */
bool psync_cluster_wanted(const char *connect);

/* Connects to the daemon and joins: *m (may be NULL: hot join) is uploaded
 * if the daemon has no model, or replaced by the cluster's (bootstrap) if
 * the daemon asks. On success *out is owned by the caller
 * (psync_cluster_destroy) and *m is a model to train. PSYNC_ETIMEOUT if
 * no daemon answers in join_timeout_ms, PSYNC_ECONFIG for a bad endpoint,
 * the daemon's refusal otherwise. On failure *m is unchanged or NULL. */
psync_err psync_cluster_join(const psync_cluster_opts *o, psync_model **m, psync_cluster **out);

/* true if the model came from the daemon (bootstrap), not from a file. */
bool psync_cluster_bootstrapped(const psync_cluster *c);

/* After a bootstrap: moves the model's training state (global step,
 * optimizer step, epoch) to where the cluster is, estimated from the merged
 * version (the daemon's blob carries the state it was uploaded with), for a
 * shard of train_n samples. No-op for a model that did not come from the
 * daemon. */
void psync_cluster_catch_up(psync_cluster *c, psync_model *m, uint64_t train_n);

/* Evaluates t's model on test (may be NULL: nothing) and logs it as
 * event=<event> with the merged version held and where the model came from
 * (e.g. "joined_eval" right after a join, "final_eval" after finish).
 * Errors from the evaluation are returned. */
psync_err psync_cluster_evaluate(psync_cluster *c, psync_trainer *t, const psync_dataset *test,
                                 const char *event);

/* The per-step part of the trainer's hook: sends heartbeats, applies a
 * merged version that arrived, publishes when K steps or T ms are due and,
 * under sync, waits for that round's merge. Daemon hiccups (stale, busy,
 * rejoining, timeouts) are logged and training goes on; errors are
 * returned only for what cannot recover (a layout mismatch, I/O). */
psync_err psync_cluster_step(psync_cluster *c, psync_model *m, const psync_step_stats *s);

/* At the end of training: publishes what is left since the last snapshot
 * and, under sync, waits (bounded) for its merge, so the model ends as the
 * cluster's. */
psync_err psync_cluster_finish(psync_cluster *c, psync_model *m);

/* Leaves the cluster (best effort) and frees c. Accepts NULL; sets *c NULL. */
void psync_cluster_destroy(psync_cluster **c);

#endif
