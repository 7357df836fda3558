/* cluster.c: psync-worker's cluster mode over the client library: joining
 * (upload, bootstrap or hot join), the per-step publish/apply schedule of
 * each merge policy, and the final round. Under async a merged version
 * lands in a scratch model and the worker keeps the steps it has not yet
 * published: params w = merged + (w - reference); merged optimizer slots
 * are taken as they are. See docs/cluster.md. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "cluster.h"
#include "log.h"
#include "psync_client.h"

struct psync_cluster {
    psync_client *client;
    psync_cluster_opts o;
    bool sync, async, bootstrapped;
    psync_model *scratch; /* async: receives merged versions */
    uint8_t *ref;         /* async: payload the unpublished steps start from */
    uint64_t samples;     /* trained since the last publish */
    uint64_t steps;       /* steps since the last publish */
    uint64_t last_pub_ms;
    uint64_t published, applied, skipped, late;
    bool down; /* the daemon is unreachable (logged once) */
};

static uint64_t cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool psync_cluster_wanted(const char *connect)
{
    const char *a = getenv("PSYNC_ADDR"), *m = getenv("MASTER_ADDR");
    return (connect && *connect) || (a && *a) || (m && *m);
}

static psync_err cl_open(const psync_cluster_opts *o, psync_cluster **out)
{
    psync_cluster *c = calloc(1, sizeof *c);
    if (!c) return psync_fail(PSYNC_ENOMEM, "cluster state");
    c->o = *o;
    psync_client_opts co = {.control = o->connect && *o->connect ? o->connect : NULL,
                            .rank = o->rank,
                            .key_file = o->key_file,
                            .server_key = o->server_key,
                            .insecure_plain = o->insecure_plain,
                            .retry_auth = o->retry_auth,
                            .no_shm = o->no_shm};
    psync_err e = psync_client_new(&c->client, &co);
    if (e) {
        free(c);
        return e;
    }
    *out = c;
    return PSYNC_OK;
}

/* Async: a scratch copy of m (through its blob) and the reference payload. */
static psync_err cl_async_init(psync_cluster *c, const psync_model *m)
{
    void *blob = NULL;
    size_t len = 0;
    psync_err e = psync_blob_encode(m, &blob, &len);
    if (!e && (e = psync_blob_decode(blob, len, NULL, PSYNC_DECODE_TAKE, &c->scratch))) free(blob);
    if (!e && !(c->ref = malloc(m->payload_len ? m->payload_len : 1)))
        e = psync_fail(PSYNC_ENOMEM, "async reference payload of %zu bytes", m->payload_len);
    if (!e) memcpy(c->ref, m->payload, m->payload_len);
    return e;
}

/* Async, one f32 tensor: a param keeps its unpublished steps
 * (w += merged - ref); a slot the daemon merged (it changed) is replaced,
 * as a moment such as Adam's v must stay what the merge made it. */
static void cl_async_tensor(float *w, float *ref, const float *merged, uint64_t n, bool param)
{
    if (param) {
        for (uint64_t i = 0; i < n; i++)
            w[i] += merged[i] - ref[i];
    } else if (memcmp(merged, ref, n * 4)) {
        memcpy(w, merged, n * 4);
    }
    memcpy(ref, merged, n * 4);
}

static void cl_async_rebase(psync_cluster *c, psync_model *m)
{
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        if (t->dtype != PSYNC_DTYPE_F32 ||
            (t->role != PSYNC_ROLE_PARAM && t->role != PSYNC_ROLE_SLOT))
            continue;
        cl_async_tensor((float *)t->data, (float *)(void *)(c->ref + t->offset),
                        (const float *)(const void *)(c->scratch->payload + t->offset),
                        psync_tensor_elems(t), t->role == PSYNC_ROLE_PARAM);
    }
    m->state.merge_version = psync_client_held_version(c->client);
}

psync_err psync_cluster_join(const psync_cluster_opts *o, psync_model **m, psync_cluster **out)
{
    psync_cluster *c = NULL;
    psync_model *before = *m;
    psync_err e = cl_open(o, &c);
    if (e) return e;
    PSYNC_INFO("cluster_joining", "model=%s hot_join=%s timeout_ms=%d", before ? "local" : "none",
               before ? "false" : "true", o->join_timeout_ms);
    if ((e = psync_client_join(c->client, m, o->join_timeout_ms))) {
        psync_cluster_destroy(&c);
        return e;
    }
    c->sync = !strcmp(psync_client_policy(c->client), "sync");
    c->async = !strcmp(psync_client_policy(c->client), "async");
    if (c->async && (e = cl_async_init(c, *m))) {
        psync_cluster_destroy(&c);
        return e;
    }
    psync_client_action a = psync_client_action_get(c->client);
    c->bootstrapped = !before || a == PSYNC_CLIENT_BOOTSTRAP || a == PSYNC_CLIENT_WAIT;
    c->last_pub_ms = cl_now_ms();
    PSYNC_INFO("cluster_joined",
               "member=%" PRIu64 " policy=%s version=%" PRIu64 " model_from=%s "
               "graph_nodes=%u tensors=%u every_steps=%" PRIu64 " every_ms=%" PRIu64,
               psync_client_member_id(c->client), psync_client_policy(c->client),
               psync_client_held_version(c->client), c->bootstrapped ? "daemon" : "local",
               (*m)->graph.n_nodes, (*m)->n_tensors, o->every_steps, o->every_ms);
    *out = c;
    return PSYNC_OK;
}

bool psync_cluster_bootstrapped(const psync_cluster *c)
{
    return c && c->bootstrapped;
}

void psync_cluster_catch_up(psync_cluster *c, psync_model *m, uint64_t train_n)
{
    if (!c || !c->bootstrapped || !train_n) return;
    /* The daemon keeps its template's training state current from every
     * snapshot (largest global step, samples seen and optimizer step of
     * any worker), so the bootstrap blob carries the exact step. */
    uint64_t v = psync_client_held_version(c->client), steps = m->state.global_step;
    const char *from = "blob";
    if (!steps && c->o.every_steps) {
        /* A daemon without that state: estimate from the version number
         * (sync: one merge per round; else one per worker snapshot). */
        uint64_t w = c->o.world_size ? c->o.world_size : 1, merges = v > 1 ? v - 1 : 0;
        steps = c->sync ? merges * c->o.every_steps : merges * c->o.every_steps / w;
        m->state.global_step = steps;
        m->state.samples_seen = steps * m->state.batch_size;
        m->opt.step = steps > m->opt.step ? steps : m->opt.step;
        from = "estimate";
    }
    if (!steps) return;
    m->state.epoch = m->state.samples_seen / train_n;
    /* Resume mid-epoch (the blob's epoch permutation seed, if it has one)
     * so a joiner stops at the same step as the workers it joins. */
    m->state.cursor = psync_model_get_meta(m, "perm_seed") ? m->state.samples_seen % train_n : 0;
    PSYNC_INFO("caught_up",
               "version=%" PRIu64 " global_step=%" PRIu64 " samples_seen=%" PRIu64
               " opt_step=%" PRIu64 " epoch=%" PRIu64 " from=%s",
               v, steps, m->state.samples_seen, m->opt.step, m->state.epoch, from);
}

psync_err psync_cluster_evaluate(psync_cluster *c, psync_trainer *t, const psync_dataset *test,
                                 const char *event)
{
    psync_eval ev;
    if (!c || !test) return PSYNC_OK;
    psync_err e = psync_trainer_evaluate(t, test, &ev);
    if (!e)
        PSYNC_INFO(event,
                   "version=%" PRIu64 " model_from=%s test_accuracy=%.4f "
                   "test_loss=%.4f step=%" PRIu64,
                   psync_client_held_version(c->client), c->bootstrapped ? "daemon" : "local",
                   ev.accuracy, ev.loss, psync_trainer_model(t)->state.global_step);
    return e;
}

/* Polls for up to timeout_ms (0: drain only); counts an applied merge. */
static psync_err cl_poll(psync_cluster *c, psync_model *m, int timeout_ms, bool *applied)
{
    psync_err e = psync_client_poll(c->client, c->async ? c->scratch : m, timeout_ms, applied);
    if (!e && *applied) {
        c->applied++;
        c->down = false;
        if (c->async) cl_async_rebase(c, m);
        if (c->sync) { /* our steps since the last publish were replaced */
            c->samples = 0;
            c->steps = 0;
        }
    }
    return e;
}

/* Sync: waits until the merge of the round we are in is applied. inc: the
 * daemon incarnation the snapshot was published to (taken before the
 * publish, which may pump a welcome from a restarted daemon meanwhile). */
static psync_err cl_wait_merge(psync_cluster *c, psync_model *m, uint64_t inc)
{
    uint64_t start = cl_now_ms();
    bool applied = false;
    while (!applied) {
        if (psync_client_incarnation(c->client) != inc)
            return PSYNC_OK; /* the daemon restarted: our round died with it */
        uint64_t waited = cl_now_ms() - start;
        if (c->o.stop && *c->o.stop) return PSYNC_OK; /* stopping: the caller ends the run */
        if (waited >= (uint64_t)c->o.sync_timeout_ms) {
            c->late++;
            PSYNC_WARN("merge_late",
                       "waited_ms=%" PRIu64 " held=%" PRIu64 " daemon=%" PRIu64
                       " action=\"keep training\"",
                       waited, psync_client_held_version(c->client),
                       psync_client_daemon_version(c->client));
            return PSYNC_OK;
        }
        psync_err e = cl_poll(c, m, 100, &applied);
        if (e) return e;
        if (!applied && psync_client_rejoining(c->client)) {
            c->late++;
            if (c->down) return PSYNC_OK; /* logged once per outage */
            c->down = true;
            PSYNC_WARN("daemon_unreachable",
                       "waited_ms=%" PRIu64 " held=%" PRIu64
                       " action=\"keep training, rejoin with backoff\"",
                       cl_now_ms() - start, psync_client_held_version(c->client));
            return PSYNC_OK;
        }
    }
    return PSYNC_OK;
}

static bool cl_due(const psync_cluster *c)
{
    if (c->o.every_steps && c->steps >= c->o.every_steps) return true;
    return c->o.every_ms && cl_now_ms() - c->last_pub_ms >= c->o.every_ms;
}

/* Publishes the model; transient refusals skip this snapshot. */
static psync_err cl_publish(psync_cluster *c, psync_model *m)
{
    uint64_t inc = psync_client_incarnation(c->client);
    psync_err e = psync_client_publish(c->client, m, c->samples);
    if (e == PSYNC_ESTALE || e == PSYNC_EBUSY || e == PSYNC_ECLOSED) {
        c->skipped++;
        PSYNC_DEBUG("publish_skipped", "reason=\"%s\"", psync_errdetail());
        /* sync: a newer merge is on its way; take it before going on */
        return c->sync && e == PSYNC_ESTALE ? cl_wait_merge(c, m, inc) : PSYNC_OK;
    }
    if (e) return e;
    c->published++;
    if (c->async) memcpy(c->ref, m->payload, m->payload_len);
    c->samples = 0;
    c->steps = 0;
    c->last_pub_ms = cl_now_ms();
    return c->sync ? cl_wait_merge(c, m, inc) : PSYNC_OK;
}

psync_err psync_cluster_step(psync_cluster *c, psync_model *m, const psync_step_stats *s)
{
    bool applied = false;
    c->samples += s->batch;
    c->steps++;
    psync_err e = cl_poll(c, m, 0, &applied);
    if (e || !cl_due(c)) return e;
    return cl_publish(c, m);
}

psync_err psync_cluster_finish(psync_cluster *c, psync_model *m)
{
    psync_err e = c->steps ? cl_publish(c, m) : PSYNC_OK;
    PSYNC_INFO("cluster_done",
               "published=%" PRIu64 " applied=%" PRIu64 " skipped=%" PRIu64 " late=%" PRIu64
               " held=%" PRIu64,
               c->published, c->applied, c->skipped, c->late, psync_client_held_version(c->client));
    return e;
}

void psync_cluster_destroy(psync_cluster **c)
{
    if (!c || !*c) return;
    psync_client_destroy(&(*c)->client);
    psync_model_destroy(&(*c)->scratch);
    free((*c)->ref);
    free(*c);
    *c = NULL;
}
