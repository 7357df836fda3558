/* torch_step.c: writes the engine's side of the PyTorch comparison. For an
 * MLP 784-256-128-10 and a small CNN, and for each optimizer, it saves the
 * model before ("<case>.before.blob"), runs two training steps on a fixed
 * batch and saves the model after ("<case>.after.blob", losses in meta
 * "loss.0", "loss.1"); the batches are "<net>.x.f32" and "<net>.y.i32".
 * tests/python/torch_step_test.py replays the same steps with torch.optim. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "engine.h"
#include "engine_testnet.h"
#include "rng.h"

enum { TS_BATCH = 64, TS_STEPS = 2 };

typedef struct ts_opt {
    const char *name;
    psync_optimizer opt;
} ts_opt;

/* Adam's eps is 1e-6, not 1e-8: where g + wd*w cancels to rounding noise
 * (~1e-9; a few of 200k weights), m/(sqrt(v)+1e-8) turns that noise into a
 * full +-lr step whose sign differs between any two implementations. */
static const ts_opt ts_opts[] = {
    {"sgd", {PSYNC_OPT_SGD, 0.1, 0, 0, 0, 0, 0, 0}},
    {"momentum", {PSYNC_OPT_MOMENTUM, 0.05, 0.9, 0, 0, 0, 1e-3, 0}},
    {"nesterov", {PSYNC_OPT_NESTEROV, 0.05, 0.9, 0, 0, 0, 0, 0}},
    {"adam", {PSYNC_OPT_ADAM, 1e-3, 0, 0.9, 0.999, 1e-6, 1e-2, 0}},
};

static psync_err ts_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    size_t wrote = f ? fwrite(data, 1, len, f) : 0;
    if (!f || fclose(f) != 0 || wrote != len) return psync_fail(PSYNC_EIO, "cannot write %s", path);
    return PSYNC_OK;
}

static psync_err ts_write_blob(const char *dir, const char *name, const psync_model *m)
{
    void *buf = NULL;
    size_t len = 0;
    psync_err err = psync_blob_encode(m, &buf, &len);
    if (!err) err = ts_write(dir, name, buf, len);
    free(buf);
    return err;
}

static psync_model *ts_mlp(void)
{
    tnet t;
    uint64_t in = 784;
    tnet_begin(&t, 1234, 1, &in);
    tnet_dense(&t, "fc1", 784, 256);
    tnet_op(&t, "r1", "relu", NULL, 0, NULL, 0);
    tnet_dense(&t, "fc2", 256, 128);
    tnet_op(&t, "r2", "relu", NULL, 0, NULL, 0);
    tnet_dense(&t, "fc3", 128, 10);
    return tnet_end(&t);
}

static psync_model *ts_cnn(void)
{
    tnet t;
    uint64_t in[3] = {1, 28, 28};
    tnet_begin(&t, 4321, 3, in);
    tnet_conv(&t, "conv", 1, 4, 3, 1, 1);
    tnet_op(&t, "r", "relu", NULL, 0, NULL, 0);
    tnet_op(&t, "pool", "maxpool2d", "size", 2, "stride", 2);
    tnet_op(&t, "flat", "flatten", NULL, 0, NULL, 0);
    tnet_dense(&t, "fc", 4 * 14 * 14, 10);
    return tnet_end(&t);
}

/* Runs the steps on a copy of base with optimizer o; writes both blobs. */
static psync_err ts_case(const char *dir, const char *net, const psync_model *base, const ts_opt *o,
                         const float *x, const int32_t *y)
{
    char name[256], value[64];
    psync_model *m = NULL;
    psync_engine *e = NULL;
    psync_err err = psync_model_clone(base, &m);
    if (!err) {
        m->opt = o->opt;
        err = psync_optim_init_slots(m);
    }
    snprintf(name, sizeof name, "%s_%s.before.blob", net, o->name);
    err = err ? err : ts_write_blob(dir, name, m);
    err = err ? err : psync_engine_new(m, TS_BATCH, &e);
    for (int s = 0; !err && s < TS_STEPS; s++) {
        float loss = 0;
        err = psync_engine_train_step(e, x, y, TS_BATCH, &loss, NULL);
        snprintf(name, sizeof name, "loss.%d", s);
        snprintf(value, sizeof value, "%.9g", loss);
        err = err ? err : psync_model_set_meta(m, name, value);
    }
    snprintf(name, sizeof name, "%s_%s.after.blob", net, o->name);
    err = err ? err : ts_write_blob(dir, name, m);
    psync_engine_destroy(&e);
    psync_model_destroy(&m);
    return err;
}

/* Writes the batch of one net, then every optimizer's case. */
static psync_err ts_net(const char *dir, const char *net, psync_model *m, uint64_t seed)
{
    static float x[TS_BATCH * 784];
    int32_t y[TS_BATCH];
    char name[256];
    uint64_t rng[4];
    if (!m) return psync_fail(PSYNC_EINVAL, "cannot build net %s", net);
    psync_rng_seed(rng, seed);
    for (size_t i = 0; i < TS_BATCH * 784; i++)
        x[i] = psync_rng_uniform_f32(rng);
    for (int i = 0; i < TS_BATCH; i++)
        y[i] = (int32_t)psync_rng_below(rng, 10);
    snprintf(name, sizeof name, "%s.x.f32", net);
    psync_err err = ts_write(dir, name, x, sizeof x);
    snprintf(name, sizeof name, "%s.y.i32", net);
    err = err ? err : ts_write(dir, name, y, sizeof y);
    for (size_t i = 0; !err && i < sizeof ts_opts / sizeof ts_opts[0]; i++)
        err = ts_case(dir, net, m, &ts_opts[i], x, y);
    psync_model_destroy(&m);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
        return 64;
    }
    psync_err err = ts_net(argv[1], "mlp", ts_mlp(), 1);
    if (!err) err = ts_net(argv[1], "cnn", ts_cnn(), 2);
    if (err) {
        fprintf(stderr, "torch_step: %s: %s\n", psync_strerror(err), psync_errdetail());
        return 1;
    }
    return 0;
}
