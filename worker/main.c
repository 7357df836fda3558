/* main.c: psync-worker, the reference trainer. Builds a model from a model
 * file, thaws one from a blob or (cluster mode, worker/cluster.h) gets it
 * from psyncd, trains it on Fashion-MNIST/MNIST/CSV data with the engine,
 * and freezes its whole state to a pipe or socket at the end or on SIGUSR1.
 * Settings come from one table (protocol/config.h). */
#include <cblas.h>
#include <inttypes.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "cluster.h"
#include "config.h"
#include "data.h"
#include "endpoint.h"
#include "engine.h"
#include "log.h"
#include "modelfile.h"
#include "trainer.h"

static const psync_cfg_def worker_settings[] = {
    {"model", PSYNC_CFG_STR, "", 1, 0, "model file to build and train (see docs/model-format.md)"},
    {"resume_from", PSYNC_CFG_STR, "", 1, 0,
     "thaw a frozen model from -, fd:N, unix:PATH or a file"},
    {"data_dir", PSYNC_CFG_STR, "/usr/share/datasets/fashion-mnist", 1, 0,
     "directory of train-/t10k- idx.gz files"},
    {"train", PSYNC_CFG_STR, "", 1, 0, "training set instead of data_dir: FILE.csv or idx images"},
    {"test", PSYNC_CFG_STR, "", 1, 0, "test set instead of data_dir: FILE.csv, idx images or none"},
    {"csv", PSYNC_CFG_STR, "", 1, 0, "training set as CSV (label first), same as --train FILE.csv"},
    {"epochs", PSYNC_CFG_INT, "0", 0, 1e9, "train until this epoch (0: the model's own)"},
    {"steps", PSYNC_CFG_INT, "0", 0, 1e12, "stop after this many steps of this run (0: no limit)"},
    {"batch_size", PSYNC_CFG_INT, "0", 0, 1 << 20, "samples per step (0: the model's own)"},
    {"lr", PSYNC_CFG_FLOAT, "0", 0, 1e6, "learning rate (0: the model's own)"},
    {"optimizer", PSYNC_CFG_STR, "", 1, 0, "sgd, momentum, nesterov or adam (new models only)"},
    {"seed", PSYNC_CFG_INT, "0", 0, 9e18, "initialisation and shuffling seed (0: the model's)"},
    {"threads", PSYNC_CFG_INT, "1", 1, 256, "OpenBLAS threads"},
    {"rank", PSYNC_CFG_INT, "-1", -1, 1 << 20, "shard index (-1: RANK or SLURM_PROCID, else 0)"},
    {"world_size", PSYNC_CFG_INT, "0", 0, 1 << 20,
     "shard count (0: WORLD_SIZE or SLURM_NTASKS, else 1)"},
    {"eval_every", PSYNC_CFG_INT, "0", 0, 1e12, "also evaluate every N steps (0: each epoch)"},
    {"log_every", PSYNC_CFG_INT, "0", 0, 1e12, "log the loss of every Nth step (0: never)"},
    {"freeze_to", PSYNC_CFG_STR, "", 1, 0,
     "freeze the model at the end and on SIGUSR1 to -, "
     "fd:N or unix:PATH"},
    {"connect", PSYNC_CFG_STR, "", 1, 0,
     "psyncd control endpoint tcp://HOST:PORT, or "
     "PRIMARY,STANDBY to fail over (else PSYNC_ADDR, MASTER_ADDR:MASTER_PORT); without "
     "--model: hot join"},
    {"publish_every_steps", PSYNC_CFG_INT, "10", 0, 1e12, "cluster: publish every K steps"},
    {"publish_every_ms", PSYNC_CFG_INT, "0", 0, 1e9, "cluster: publish every T ms (0: off)"},
    {"sync_timeout_ms", PSYNC_CFG_INT, "30000", 1, 1e9, "cluster, sync: longest wait for a merge"},
    {"join_timeout_ms", PSYNC_CFG_INT, "120000", 1, 1e9, "cluster: longest wait for psyncd"},
    {"key_file", PSYNC_CFG_STR, "", 1, 0, "cluster: our CURVE key pair (psync keygen NAME)"},
    {"server_key", PSYNC_CFG_STR, "", 1, 0, "cluster: psyncd's public key (.pub file or Z85)"},
    {"insecure_plain", PSYNC_CFG_BOOL, "false", 1, 0,
     "cluster: no CURVE even to a non-loopback psyncd (logged)"},
    {"retry_auth", PSYNC_CFG_BOOL, "false", 1, 0,
     "cluster: when psyncd refuses our key, keep retrying instead of exiting"},
    {"shm", PSYNC_CFG_BOOL, "true", 1, 0,
     "cluster: take a same-host psyncd's shared memory (sync; ipc:// or tcp://) instead of "
     "socket frames"},
    {"eval_only", PSYNC_CFG_BOOL, "false", 1, 0, "cluster: join, evaluate the model, leave"},
    {"log_format", PSYNC_CFG_STR, "logfmt", 1, 0, "logfmt or json"},
    {"log_level", PSYNC_CFG_STR, "info", 1, 0, "debug, info, warn, error or off"},
};
#define WORKER_NSETTINGS (sizeof worker_settings / sizeof worker_settings[0])

static volatile sig_atomic_t worker_freeze_requested, worker_stop_requested, worker_training;

/* SIGUSR1 asks for a freeze at the next step; SIGTERM/SIGINT stop at the next
 * step boundary. Before training starts (loading, joining) there is nothing
 * to save or drain, so a stop signal exits at once, cleanly. */
static void worker_on_signal(int sig)
{
    if (sig == SIGUSR1)
        worker_freeze_requested = 1;
    else if (!worker_training)
        _exit(0);
    else
        worker_stop_requested = 1;
}

typedef struct worker {
    psync_config *cfg;
    psync_model *m;
    psync_engine *e;
    psync_dataset *train, *test;
    psync_trainer *t;
    psync_cluster *cl;
    int64_t log_every;
    const char *freeze_to;
} worker;

/* Rank and size: flags, else RANK/WORLD_SIZE, else SLURM_PROCID/SLURM_NTASKS. */
static void worker_rank(const psync_config *cfg, uint32_t *rank, uint32_t *size)
{
    const char *r = getenv("RANK") ? getenv("RANK") : getenv("SLURM_PROCID");
    const char *s = getenv("WORLD_SIZE") ? getenv("WORLD_SIZE") : getenv("SLURM_NTASKS");
    int64_t fr = psync_config_int(cfg, "rank"), fs = psync_config_int(cfg, "world_size");
    *rank = (uint32_t)(fr >= 0 ? fr : r ? strtol(r, NULL, 10) : 0);
    *size = (uint32_t)(fs > 0 ? fs : s ? strtol(s, NULL, 10) : 1);
}

/* Loads FILE.csv, or idx images with the labels file named alongside. */
static psync_err worker_load_file(const char *path, psync_dataset **out)
{
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".csv")) return psync_data_load_csv(path, 0, out);
    char labels[4096];
    const char *at = strstr(path, "images-idx3");
    if (!at || n >= sizeof labels)
        return psync_fail(PSYNC_EINVAL,
                          "%s: expected FILE.csv or an idx file named "
                          "*images-idx3* (labels in *labels-idx1*)",
                          path);
    memcpy(labels, path, n + 1);
    memcpy(labels + (at - path), "labels-idx1", 11);
    return psync_data_load_idx(path, labels, out);
}

static psync_err worker_load_data(worker *w)
{
    const char *dir = psync_config_str(w->cfg, "data_dir");
    const char *train = psync_config_str(w->cfg, "csv");
    const char *test = psync_config_str(w->cfg, "test");
    uint32_t rank, size;
    train = *train ? train : psync_config_str(w->cfg, "train");
    psync_err err =
        *train ? worker_load_file(train, &w->train) : psync_data_load_dir(dir, true, &w->train);
    if (!err && strcmp(test, "none"))
        err = *test ? worker_load_file(test, &w->test) : psync_data_load_dir(dir, false, &w->test);
    worker_rank(w->cfg, &rank, &size);
    if (!err && size > 1) err = psync_data_shard(w->train, rank, size);
    if (!err)
        PSYNC_INFO("data_loaded",
                   "train=%" PRIu64 " test=%" PRIu64 " dim=%u shard=%u/%u "
                   "sharding=strided",
                   w->train->n, w->test ? w->test->n : 0, w->train->dim, rank, size);
    return err;
}

/* A new model from --model, or a thawed one from --resume-from. */
static psync_err worker_load_model(worker *w)
{
    const psync_config *c = w->cfg;
    const char *file = psync_config_str(c, "model"), *src = psync_config_str(c, "resume_from");
    if (!*file && !*src && psync_cluster_wanted(psync_config_str(c, "connect")))
        return PSYNC_OK; /* hot join: the model comes from psyncd */
    if (!*file == !*src)
        return psync_fail(PSYNC_ECONFIG, "give exactly one of --model FILE or --resume-from SRC "
                                         "(or only --connect ENDPOINT to hot-join a cluster)");
    if (*file) {
        psync_model_overrides ov = {.optimizer = *psync_config_str(c, "optimizer")
                                                     ? psync_config_str(c, "optimizer")
                                                     : NULL,
                                    .lr = psync_config_float(c, "lr"),
                                    .batch_size = (uint32_t)psync_config_int(c, "batch_size"),
                                    .seed = (uint64_t)psync_config_int(c, "seed")};
        return psync_modelfile_load(file, &ov, &w->m);
    }
    psync_err err = psync_model_thaw(src, &w->m);
    if (err) return err;
    if (*psync_config_str(c, "optimizer") || psync_config_int(c, "seed"))
        PSYNC_WARN("resume_ignores",
                   "settings=optimizer,seed reason=\"fixed by the frozen model\"");
    if (psync_config_float(c, "lr") > 0) w->m->opt.lr = psync_config_float(c, "lr");
    if (psync_config_int(c, "batch_size"))
        w->m->state.batch_size = (uint32_t)psync_config_int(c, "batch_size");
    PSYNC_INFO("model_thawed", "src=%s step=%" PRIu64 " epoch=%" PRIu64 " cursor=%" PRIu64, src,
               w->m->state.global_step, w->m->state.epoch, w->m->state.cursor);
    return PSYNC_OK;
}

static void worker_progress(void *ctx, const psync_progress *p)
{
    char test[96] = "";
    if (p->has_test)
        snprintf(test, sizeof test, " test_accuracy=%.4f test_loss=%.4f", p->test.accuracy,
                 p->test.loss);
    PSYNC_INFO("progress",
               "epoch=%" PRIu64 " step=%" PRIu64 " loss=%.4f train_accuracy=%.4f%s "
               "images_per_s=%.0f",
               p->epoch, p->global_step, p->train_loss, p->train_accuracy, test, p->images_per_s);
}

static psync_err worker_freeze(worker *w, const char *why)
{
    size_t len = 0;
    psync_err err = psync_model_freeze(w->m, w->freeze_to, &len);
    if (!err)
        PSYNC_INFO("model_frozen", "dst=%s bytes=%zu step=%" PRIu64 " reason=%s", w->freeze_to, len,
                   w->m->state.global_step, why);
    return err;
}

/* Between steps: per-step loss line, SIGUSR1 freeze, SIGTERM/SIGINT stop. */
static psync_err worker_hook(void *ctx, psync_trainer *t, const psync_step_stats *s, bool *stop)
{
    worker *w = ctx;
    if (w->log_every && s->global_step % (uint64_t)w->log_every == 0)
        PSYNC_INFO("step", "step=%" PRIu64 " epoch=%" PRIu64 " loss=%.9g", s->global_step, s->epoch,
                   (double)s->loss);
    if (worker_freeze_requested && *w->freeze_to) {
        worker_freeze_requested = 0;
        psync_err err = worker_freeze(w, "sigusr1");
        if (err) return err;
    }
    *stop = worker_stop_requested != 0;
    return w->cl ? psync_cluster_step(w->cl, w->m, s) : PSYNC_OK;
}

static uint64_t worker_epochs(const worker *w)
{
    int64_t e = psync_config_int(w->cfg, "epochs");
    const char *meta = psync_model_get_meta(w->m, "epochs");
    return e > 0 ? (uint64_t)e : meta ? strtoull(meta, NULL, 10) : 10;
}

static void worker_signals(void)
{
    struct sigaction sa = {.sa_handler = worker_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static psync_err worker_logging(const psync_config *cfg)
{
    psync_log_level level;
    const char *fmt = psync_config_str(cfg, "log_format");
    if (psync_log_level_parse(psync_config_str(cfg, "log_level"), &level) ||
        (strcmp(fmt, "logfmt") && strcmp(fmt, "json")))
        return psync_fail(PSYNC_ECONFIG, "log_level must be debug|info|warn|error|off and "
                                         "log_format logfmt|json");
    psync_log_set_level(level);
    psync_log_set_format(strcmp(fmt, "json") ? PSYNC_LOGFMT : PSYNC_LOG_JSON);
    uint32_t rank, size;
    worker_rank(cfg, &rank, &size);
    psync_log_set_context("worker", (int)rank);
    return PSYNC_OK;
}

/* Cluster mode: joins psyncd (upload, bootstrap or hot join). */
static psync_err worker_join(worker *w)
{
    const psync_config *c = w->cfg;
    if (!psync_cluster_wanted(psync_config_str(c, "connect"))) return PSYNC_OK;
    uint32_t rank, size;
    worker_rank(c, &rank, &size);
    psync_cluster_opts o = {.connect = psync_config_str(c, "connect"),
                            .rank = (int)rank,
                            .world_size = size,
                            .every_steps = (uint64_t)psync_config_int(c, "publish_every_steps"),
                            .every_ms = (uint64_t)psync_config_int(c, "publish_every_ms"),
                            .sync_timeout_ms = (int)psync_config_int(c, "sync_timeout_ms"),
                            .join_timeout_ms = (int)psync_config_int(c, "join_timeout_ms"),
                            .stop = &worker_stop_requested,
                            .key_file = psync_config_str(c, "key_file"),
                            .server_key = psync_config_str(c, "server_key"),
                            .insecure_plain = psync_config_bool(c, "insecure_plain"),
                            .retry_auth = psync_config_bool(c, "retry_auth"),
                            .no_shm = !psync_config_bool(c, "shm")};
    if (!o.every_steps && !o.every_ms)
        return psync_fail(PSYNC_ECONFIG, "publish_every_steps and publish_every_ms are both 0");
    return psync_cluster_join(&o, &w->m, &w->cl);
}

static psync_err worker_main(worker *w)
{
    int threads = (int)psync_config_int(w->cfg, "threads");
    psync_err err = worker_logging(w->cfg);
    worker_signals();
    if (err || (err = worker_load_model(w)) || (err = worker_join(w)) ||
        (err = worker_load_data(w)))
        return err;
    psync_cluster_catch_up(w->cl, w->m, w->train->n);
    openblas_set_num_threads(threads);
    if ((err = psync_engine_new(w->m, w->m->state.batch_size, &w->e)) ||
        (err = psync_trainer_new(w->m, w->e, w->train, w->test, &w->t)) ||
        (err = psync_cluster_evaluate(w->cl, w->t, w->test, "joined_eval")))
        return err;
    if (w->cl && psync_config_bool(w->cfg, "eval_only")) return PSYNC_OK;
    w->log_every = psync_config_int(w->cfg, "log_every");
    w->freeze_to = psync_config_str(w->cfg, "freeze_to");
    psync_run_opts o = {.epochs = worker_epochs(w),
                        .max_steps = (uint64_t)psync_config_int(w->cfg, "steps"),
                        .eval_every = (uint64_t)psync_config_int(w->cfg, "eval_every"),
                        .progress = worker_progress,
                        .hook = worker_hook,
                        .ctx = w};
    PSYNC_INFO("training",
               "optimizer=%s lr=%g batch_size=%u epochs=%" PRIu64 " threads=%d "
               "blas_core=%s",
               psync_opt_name(w->m->opt.kind), w->m->opt.lr, w->m->state.batch_size, o.epochs,
               threads, openblas_get_corename());
    worker_training = 1;
    if ((err = psync_trainer_run(w->t, &o))) return err;
    /* A stop signal leaves at once; a finished run takes part in a last round. */
    if (w->cl && ((!worker_stop_requested && (err = psync_cluster_finish(w->cl, w->m))) ||
                  (err = psync_cluster_evaluate(w->cl, w->t, w->test, "final_eval"))))
        return err;
    return *w->freeze_to ? worker_freeze(w, "end") : PSYNC_OK;
}

static void worker_cleanup(worker *w)
{
    psync_cluster_destroy(&w->cl);
    psync_trainer_destroy(&w->t);
    psync_engine_destroy(&w->e);
    psync_data_destroy(&w->train);
    psync_data_destroy(&w->test);
    psync_model_destroy(&w->m);
    psync_config_destroy(&w->cfg);
}

int main(int argc, char **argv)
{
    worker w = {0};
    psync_err err = psync_config_new(&w.cfg, worker_settings, WORKER_NSETTINGS);
    if (!err && (err = psync_config_load(w.cfg, argc, argv)) == PSYNC_OK) {
        switch (psync_config_wants(w.cfg)) {
        case PSYNC_WANT_HELP:
            printf("usage: psync-worker (--model FILE | --resume-from SRC) [--connect EP] "
                   "[options]\n       psync-worker --connect EP [options]   (hot join)\n\n"
                   "Trains a model alone or in a psync cluster (docs/cluster.md); freezes its "
                   "whole state to DST endpoints (-, fd:N, unix:PATH).\n\n");
            psync_config_help(worker_settings, WORKER_NSETTINGS, stdout);
            break;
        case PSYNC_WANT_VERSION:
            printf("psync-worker %s\n", PSYNC_VERSION_STRING);
            break;
        case PSYNC_WANT_PRINT_CONFIG:
            psync_config_print(w.cfg, stdout,
                               !strcmp(psync_config_str(w.cfg, "log_format"), "json"));
            break;
        default:
            err = worker_main(&w);
        }
    }
    if (err)
        PSYNC_ERROR("worker_failed", "error=\"%s\" detail=\"%s\"", psync_strerror(err),
                    psync_errdetail());
    worker_cleanup(&w);
    return err ? psync_exit_code(err) : 0;
}
