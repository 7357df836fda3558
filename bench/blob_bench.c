/* blob_bench.c: freeze + thaw of a ~200 MB model (dense MLP weights and one
 * momentum slot each): psync_blob_encode_into a reused pre-faulted buffer
 * and zero-copy psync_blob_decode, against one memcpy of the same bytes and
 * against torch.save / torch.load to io.BytesIO (bench/torch_blob.py, run in
 * the same invocation). Prints medians and the ratios DESIGN.md holds us to. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchkit.h"
#include "blob.h"
#include "model.h"

#define HIDDEN 2 /* 784-w-w-10 */

/* Width w of a 784-w-w-10 MLP whose f32 params take about mb megabytes. */
static uint64_t blob_width(double mb)
{
    double elems = mb * 1e6 / 4.0; /* w^2 + 794 w = elems */
    double w = (-794.0 + sqrt(794.0 * 794.0 + 4.0 * elems)) / 2.0;
    uint64_t wi = (uint64_t)w / 16 * 16;
    return wi < 16 ? 16 : wi;
}

/* Adds param `name` (filled with a ramp) and its momentum slot. */
static psync_err blob_add_param(psync_model *m, const char *name, uint32_t rank,
                                const uint64_t *shape)
{
    psync_tensor *t = NULL;
    char slot[PSYNC_NAME_MAX];
    psync_err err =
        psync_model_add_tensor(m, name, PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, rank, shape, NULL, &t);
    if (err) return err;
    float *p = t->data;
    for (uint64_t i = 0; i < psync_tensor_elems(t); i++)
        p[i] = (float)(i % 1000) * 1e-3f - 0.5f;
    if ((err = psync_slot_name(slot, name, "momentum"))) return err;
    return psync_model_add_tensor(m, slot, PSYNC_ROLE_SLOT, PSYNC_DTYPE_F32, rank, shape, NULL,
                                  NULL);
}

/* Adds dense layer k (in -> out), its params, and a relu unless last. */
static psync_err blob_add_layer(psync_model *m, int k, uint64_t in, uint64_t out, int last,
                                char *prev)
{
    psync_node n;
    char name[PSYNC_NAME_MAX], w[PSYNC_NAME_MAX], b[PSYNC_NAME_MAX];
    uint64_t ws[2] = {in, out}, bs[1] = {out};
    psync_err err;
    snprintf(name, sizeof name, "fc%d", k);
    snprintf(w, sizeof w, "fc%d.w", k);
    snprintf(b, sizeof b, "fc%d.b", k);
    if ((err = blob_add_param(m, w, 2, ws)) || (err = blob_add_param(m, b, 1, bs))) return err;
    psync_node_init(&n, name, "dense");
    psync_node_add_input(&n, prev);
    psync_node_add_param(&n, w);
    psync_node_add_param(&n, b);
    if ((err = psync_graph_add_node(&m->graph, &n, 64, NULL))) return err;
    snprintf(prev, PSYNC_NAME_MAX, "%s", name);
    if (last) return PSYNC_OK;
    snprintf(name, sizeof name, "relu%d", k);
    psync_node_init(&n, name, "relu");
    psync_node_add_input(&n, prev);
    snprintf(prev, PSYNC_NAME_MAX, "%s", name);
    return psync_graph_add_node(&m->graph, &n, 64, NULL);
}

/* Builds the 784-w-w-10 MLP with momentum slots and a softmax_xent loss. */
static psync_err blob_build(uint64_t w, psync_model **out)
{
    uint64_t widths[HIDDEN + 2] = {784, w, w, 10}, in_shape[1] = {784};
    char prev[PSYNC_NAME_MAX] = "x";
    psync_model *m = NULL;
    psync_node n;
    psync_err err = psync_model_new(&m);
    if (err) return err;
    m->opt.kind = PSYNC_OPT_MOMENTUM;
    m->opt.momentum = 0.9;
    err = psync_graph_add_input(&m->graph, "x", PSYNC_DTYPE_F32, 1, in_shape);
    if (!err) err = psync_graph_add_input(&m->graph, "y", PSYNC_DTYPE_I32, 0, NULL);
    for (int k = 1; !err && k <= HIDDEN + 1; k++)
        err = blob_add_layer(m, k, widths[k - 1], widths[k], k == HIDDEN + 1, prev);
    psync_node_init(&n, "loss", "softmax_xent");
    psync_node_add_input(&n, prev);
    psync_node_add_input(&n, "y");
    if (!err) err = psync_graph_add_node(&m->graph, &n, 64, NULL);
    snprintf(m->graph.output, sizeof m->graph.output, "%s", prev);
    snprintf(m->graph.loss, sizeof m->graph.loss, "loss");
    if (err) psync_model_destroy(&m);
    *out = m;
    return err;
}

typedef struct blob_times {
    double enc_ms, dec_ms, copy_ms, freeze_ms, thaw_ms;
    int zero_copy;
} blob_times;

/* One decode + destroy; records whether the payload pointed into buf. */
static psync_err blob_decode_once(void *buf, size_t len, int *zero_copy)
{
    psync_model *d = NULL;
    psync_err err = psync_blob_decode(buf, len, NULL, 0, &d);
    if (err) return err;
    *zero_copy =
        !d->payload_owned && d->payload >= (uint8_t *)buf && d->payload < (uint8_t *)buf + len;
    psync_model_destroy(&d);
    return PSYNC_OK;
}

/* Times reps rounds (after one warm-up) of encode, decode and memcpy. */
static psync_err blob_measure(psync_model *m, void *buf, size_t cap, void *dst, int reps,
                              size_t *len, blob_times *t)
{
    double enc[reps + 1], dec[reps + 1], cpy[reps + 1], frz[reps + 1], thw[reps + 1];
    psync_err err = PSYNC_OK;
    for (int r = 0; r <= reps && !err; r++) {
        const void *frozen = NULL;
        size_t flen = 0;
        int zc = 0;
        double f0 = bench_now();
        err = psync_blob_freeze(m, &frozen, &flen);
        double f1 = bench_now();
        if (!err) err = blob_decode_once((void *)frozen, flen, &zc);
        frz[r] = (f1 - f0) * 1e3, thw[r] = (bench_now() - f1) * 1e3;
        double t0 = bench_now();
        err = psync_blob_encode_into(m, buf, cap, len);
        double t1 = bench_now();
        if (!err) err = blob_decode_once(buf, *len, &t->zero_copy);
        double t2 = bench_now();
        memcpy(dst, buf, *len);
        double t3 = bench_now();
        enc[r] = (t1 - t0) * 1e3, dec[r] = (t2 - t1) * 1e3, cpy[r] = (t3 - t2) * 1e3;
    }
    t->enc_ms = bench_median(enc + 1, reps);
    t->dec_ms = bench_median(dec + 1, reps);
    t->copy_ms = bench_median(cpy + 1, reps);
    t->freeze_ms = bench_median(frz + 1, reps);
    t->thaw_ms = bench_median(thw + 1, reps);
    return err;
}

/* Runs torch_blob.py on the same layer widths; fills kv. */
static int blob_peer(int argc, char **argv, uint64_t w, int reps, bench_kv *kv)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 600 %s %s/torch_blob.py --layers 784,%llu,%llu,10 --reps %d",
             bench_python(argc, argv), bench_dir(argc, argv), (unsigned long long)w,
             (unsigned long long)w, reps);
    return bench_peer_run(cmd, kv);
}

static void blob_report(const blob_times *t, size_t len, const bench_kv *kv)
{
    double psync_ms = t->enc_ms + t->dec_ms;
    double ts = bench_kv_get(kv, "torch_save_ms"), tl = bench_kv_get(kv, "torch_load_ms");
    double ds = bench_kv_get(kv, "torch_default_save_ms");
    double dl = bench_kv_get(kv, "torch_default_load_ms");
    printf("psync blob_bytes=%zu encode_ms=%.2f decode_ms=%.3f zero_copy=%s memcpy_ms=%.2f "
           "memcpy_gbps=%.2f\n",
           len, t->enc_ms, t->dec_ms, t->zero_copy ? "yes" : "NO", t->copy_ms,
           (double)len / (t->copy_ms * 1e-3) / 1e9);
    printf("psync freeze_in_place_ms=%.3f thaw_ms=%.3f (header written into the model's "
           "headroom, payload not copied)\n",
           t->freeze_ms, t->thaw_ms);
    bench_ratio("(encode+decode)/memcpy", psync_ms / t->copy_ms, "<=", 2.0);
    double frozen_ms = t->freeze_ms + t->thaw_ms;
    bench_ratio("torch_warm(save+load)/psync_freeze+thaw",
                ts < 0 || tl < 0 ? -1 : (ts + tl) / frozen_ms, ">=", 20.0);
    bench_ratio("torch_warm(save+load)/psync", ts < 0 || tl < 0 ? -1 : (ts + tl) / psync_ms,
                ">=", 20.0);
    bench_ratio("torch_default(save+load)/psync", ds < 0 || dl < 0 ? -1 : (ds + dl) / psync_ms,
                ">=", 20.0);
}

int main(int argc, char **argv)
{
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: blob_bench [--size-mb MB(params, default 100)] [--reps N(5)] [--no-peer]\n"
               "                  [--python PATH] [--bench-dir DIR]\n");
        return 0;
    }
    int reps = (int)bench_flag_num(argc, argv, "--reps", 5);
    uint64_t w = blob_width(bench_flag_num(argc, argv, "--size-mb", 100));
    psync_model *m = NULL;
    size_t cap = 0, len = 0;
    double touch = 0;
    blob_times t = {0};
    bench_kv kv = {0};
    reps = reps < 1 ? 1 : reps > 1000 ? 1000 : reps;
    bench_log_env("blob");
    psync_err err = blob_build(w, &m);
    if (!err) err = psync_blob_size(m, &cap);
    if (err) {
        fprintf(stderr, "blob_bench: %s: %s\n", psync_strerror(err), psync_errdetail());
        return 1;
    }
    void *buf = bench_alloc_hot(cap, &touch), *dst = bench_alloc_hot(cap, NULL);
    if (!buf || !dst) return 1;
    printf("psync model=784-%llu-%llu-10 payload_bytes=%llu reps=%d first_touch_gbps=%.2f "
           "(buffers pre-faulted and reused)\n",
           (unsigned long long)w, (unsigned long long)w, (unsigned long long)m->payload_len, reps,
           touch);
    err = blob_measure(m, buf, cap, dst, reps, &len, &t);
    if (err) {
        fprintf(stderr, "blob_bench: %s: %s\n", psync_strerror(err), psync_errdetail());
        return 1;
    }
    if (!bench_flag_set(argc, argv, "--no-peer") && blob_peer(argc, argv, w, reps, &kv) != 0)
        fprintf(stderr, "blob_bench: torch peer failed (figures missing)\n");
    blob_report(&t, len, &kv);
    free(buf);
    free(dst);
    psync_model_destroy(&m);
    return 0;
}
