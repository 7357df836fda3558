/* train_bench.c: training throughput of psync's engine on Fashion-MNIST
 * (deploy/models/mlp.psync: 784-256-128-10) against PyTorch training the
 * same MLP with the same batch size, optimizer and one BLAS thread
 * (bench/torch_train.py, run in the same invocation). Both loops gather a
 * shuffled batch then take one step; images/s medians and test accuracy. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchkit.h"
#include "data.h"
#include "engine.h"
#include "modelfile.h"

typedef struct train_ctx {
    psync_model *m;
    psync_engine *e;
    psync_dataset *train, *test;
    uint32_t batch, *perm;
    float *xb;
    int32_t *yb;
} train_ctx;

/* Trains on `samples` images (whole batches, wrapping over a new shuffled
 * permutation per pass); *rate gets images per second. */
static psync_err train_round(train_ctx *c, uint64_t samples, uint64_t seed, double *rate)
{
    uint32_t dim = c->train->dim, n = (uint32_t)c->train->n;
    uint64_t steps = samples / c->batch, pos = n;
    psync_err err = PSYNC_OK;
    double t0 = bench_now();
    for (uint64_t s = 0; s < steps && !err; s++) {
        if (pos + c->batch > n) {
            psync_data_permutation(seed++, c->perm, n);
            pos = 0;
        }
        for (uint32_t i = 0; i < c->batch; i++, pos++) {
            memcpy(c->xb + (size_t)i * dim, c->train->x + (size_t)c->perm[pos] * dim,
                   dim * sizeof(float));
            c->yb[i] = c->train->y[c->perm[pos]];
        }
        err = psync_engine_train_step(c->e, c->xb, c->yb, c->batch, NULL, NULL);
    }
    *rate = (double)(steps * c->batch) / (bench_now() - t0);
    return err;
}

/* Fraction of the test set classified correctly. */
static psync_err train_accuracy(train_ctx *c, double *acc)
{
    int32_t *cls = malloc(c->test->n * sizeof *cls);
    if (!cls) return psync_fail(PSYNC_ENOMEM, "test predictions");
    psync_err err = psync_engine_predict(c->e, c->test->x, c->test->n, cls, NULL);
    uint64_t ok = 0;
    for (uint64_t i = 0; !err && i < c->test->n; i++)
        ok += cls[i] == c->test->y[i];
    *acc = (double)ok / (double)c->test->n;
    free(cls);
    return err;
}

/* Loads data and model, compiles the engine, allocates batch buffers. */
static psync_err train_open(train_ctx *c, const char *model, const char *data, uint32_t batch)
{
    psync_model_overrides ov = {.batch_size = batch};
    psync_err err = psync_modelfile_load(model, &ov, &c->m);
    if (!err) err = psync_data_load_dir(data, true, &c->train);
    if (!err) err = psync_data_load_dir(data, false, &c->test);
    if (err) return err;
    c->batch = c->m->state.batch_size;
    if ((err = psync_engine_new(c->m, c->batch, &c->e))) return err;
    c->perm = malloc(c->train->n * sizeof *c->perm);
    c->xb = malloc((size_t)c->batch * c->train->dim * sizeof *c->xb);
    c->yb = malloc(c->batch * sizeof *c->yb);
    return c->perm && c->xb && c->yb ? PSYNC_OK : psync_fail(PSYNC_ENOMEM, "batch buffers");
}

static void train_close(train_ctx *c)
{
    free(c->perm);
    free(c->xb);
    free(c->yb);
    psync_engine_destroy(&c->e);
    psync_data_destroy(&c->train);
    psync_data_destroy(&c->test);
    psync_model_destroy(&c->m);
}

/* Runs torch_train.py with psync's batch size, optimizer and lr. */
static int train_peer(int argc, char **argv, const train_ctx *c, const char *data, uint64_t samples,
                      int reps, bench_kv *kv)
{
    char cmd[2048];
    const psync_optimizer *o = &c->m->opt;
    snprintf(cmd, sizeof cmd,
             "timeout 900 %s %s/torch_train.py --data '%s' --batch %u "
             "--samples %llu --reps %d --optimizer %s --lr %g --momentum %g --beta1 %g "
             "--beta2 %g --eps %g",
             bench_python(argc, argv), bench_dir(argc, argv), data, c->batch,
             (unsigned long long)samples, reps, psync_opt_name(o->kind), o->lr, o->momentum,
             o->beta1, o->beta2, o->eps);
    return bench_peer_run(cmd, kv);
}

static void train_report(const train_ctx *c, double rate, double acc, const bench_kv *kv)
{
    double peer = bench_kv_get(kv, "torch_images_per_s");
    printf("psync images_per_s=%.0f test_accuracy=%.4f batch=%u optimizer=%s lr=%g\n", rate, acc,
           c->batch, psync_opt_name(c->m->opt.kind), c->m->opt.lr);
    bench_ratio("psync/torch(images_per_s)", peer > 0 ? rate / peer : -1, ">=", 1.0);
}

int main(int argc, char **argv)
{
    char model_dflt[1024];
    const char *env = getenv("PSYNC_DATA_DIR");
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: train_bench [--samples N(60000 per round)] [--reps N(3)] [--batch N]\n"
               "                   [--model FILE] [--data DIR] [--no-peer] [--python PATH]\n");
        return 0;
    }
    snprintf(model_dflt, sizeof model_dflt, "%s/../deploy/models/mlp.psync", bench_dir(argc, argv));
    const char *model = bench_flag_str(argc, argv, "--model", model_dflt);
    const char *data = bench_flag_str(argc, argv, "--data",
                                      env && *env ? env : "/usr/share/datasets/fashion-mnist");
    uint64_t samples = (uint64_t)bench_flag_num(argc, argv, "--samples", 60000);
    int reps = (int)bench_flag_num(argc, argv, "--reps", 3);
    train_ctx c = {0};
    double rates[100], acc = 0;
    bench_kv kv = {0};
    reps = reps < 1 ? 1 : reps > 100 ? 100 : reps;
    openblas_set_num_threads(1);
    bench_log_env("train");
    psync_err err = train_open(&c, model, data, (uint32_t)bench_flag_num(argc, argv, "--batch", 0));
    if (!err) /* warm-up: 20 batches */
        err = train_round(&c, 20ull * c.batch, 1000, &rates[0]);
    for (int r = 0; r < reps && !err; r++)
        err = train_round(&c, samples, (uint64_t)r + 1, &rates[r]);
    if (!err) err = train_accuracy(&c, &acc);
    if (err) {
        fprintf(stderr, "train_bench: %s: %s\n", psync_strerror(err), psync_errdetail());
        train_close(&c);
        return 1;
    }
    if (!bench_flag_set(argc, argv, "--no-peer") &&
        train_peer(argc, argv, &c, data, samples, reps, &kv) != 0)
        fprintf(stderr, "train_bench: torch peer failed (figures missing)\n");
    train_report(&c, bench_median(rates, reps), acc, &kv);
    train_close(&c);
    return 0;
}
