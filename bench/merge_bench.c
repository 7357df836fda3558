/* merge_bench.c: averaging 4 snapshots of 100 MB, the work of one sync
 * merge. psyncd's kernels (daemon/kernels.c) driven the way daemon/merge.c
 * drives them (scale then axpy per 8192-float block, member order) against a
 * fused one-thread C loop (sum of 4 / 4) and the machine's memcpy; also the
 * daemon's per-merge extras (finite check of each snapshot, chunk crcs).
 * Bandwidth counts the useful bytes: 4 snapshots read + 1 result written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchkit.h"
#include "daemon.h"

#define MERGE_N 4
#define MERGE_BLOCK_DFLT 8192 /* daemon/merge.c PSD_BLOCK_FLOATS */
static uint64_t merge_block = MERGE_BLOCK_DFLT; /* --block-floats, to tune it */

/* The baseline: one pass, 4 loads and 1 store per element. */
static void merge_fused(float *restrict d, const float *restrict a, const float *restrict b,
                        const float *restrict c, const float *restrict e, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        d[i] = (a[i] + b[i] + c[i] + e[i]) * 0.25f;
}

/* psyncd's sync average: blocks of merge_block floats, scale by the first
 * snapshot's weight then axpy the others (daemon/merge.c psd_seg_average). */
static void merge_daemon(float *d, float *const *x, const float *w, uint64_t n)
{
    for (uint64_t b = 0; b < n; b += merge_block) {
        uint64_t m = n - b < merge_block ? n - b : merge_block;
        psd_k_scale(d + b, x[0] + b, w[0], m);
        for (int i = 1; i < MERGE_N; i++)
            psd_k_axpy(d + b, x[i] + b, w[i], m);
    }
}

/* The daemon's per-merge checks: every snapshot finite. */
static int merge_finite(float *const *x, uint64_t n)
{
    int ok = 1;
    for (int i = 0; i < MERGE_N; i++)
        ok &= psd_k_finite(x[i], n);
    return ok;
}

typedef struct merge_ms {
    double fused, daemon, copy, finite, crc;
} merge_ms;

static void merge_measure(float *const *x, psd_rcbuf *out, float *ref, uint64_t n,
                          uint64_t chunk, int reps, merge_ms *ms)
{
    double f[reps + 1], dm[reps + 1], c[reps + 1], fi[reps + 1], cr[reps + 1];
    const float w[MERGE_N] = {0.25f, 0.25f, 0.25f, 0.25f};
    float *dst = (float *)(void *)out->data;
    for (int r = 0; r <= reps; r++) {
        double t0 = bench_now();
        merge_fused(ref, x[0], x[1], x[2], x[3], n);
        double t1 = bench_now();
        merge_daemon(dst, x, w, n);
        double t2 = bench_now();
        memcpy(ref, x[r % MERGE_N], n * 4);
        double t3 = bench_now();
        int ok = merge_finite(x, n);
        double t4 = bench_now();
        psd_rcbuf_crcs(out, n * 4, chunk);
        double t5 = bench_now();
        f[r] = (t1 - t0) * 1e3, dm[r] = (t2 - t1) * 1e3, c[r] = (t3 - t2) * 1e3;
        fi[r] = ok ? (t4 - t3) * 1e3 : -1, cr[r] = (t5 - t4) * 1e3;
    }
    ms->fused = bench_median(f + 1, reps);
    ms->daemon = bench_median(dm + 1, reps);
    ms->copy = bench_median(c + 1, reps);
    ms->finite = bench_median(fi + 1, reps);
    ms->crc = bench_median(cr + 1, reps);
}

/* Largest relative difference between the daemon's and the fused result. */
static double merge_check(float *const *x, const float *dst, float *ref, uint64_t n)
{
    double worst = 0;
    merge_fused(ref, x[0], x[1], x[2], x[3], n);
    for (uint64_t i = 0; i < n; i++) {
        double diff = (double)dst[i] - (double)ref[i], mag = ref[i] < 0 ? -ref[i] : ref[i];
        diff = diff < 0 ? -diff : diff;
        if (diff > worst * (mag + 1e-6))
            worst = diff / (mag + 1e-6);
    }
    return worst;
}

static void merge_report(const merge_ms *ms, uint64_t bytes, double err)
{
    double useful = 5.0 * (double)bytes;
    printf("peer fused_loop_ms=%.2f fused_gbps=%.2f memcpy_ms=%.2f memcpy_gbps=%.2f "
           "(read+write)\n", ms->fused, useful / ms->fused / 1e6, ms->copy,
           2.0 * (double)bytes / ms->copy / 1e6);
    printf("psync daemon_merge_ms=%.2f daemon_gbps=%.2f max_rel_diff=%.2g finite_check_ms=%.2f "
           "chunk_crcs_ms=%.2f\n", ms->daemon, useful / ms->daemon / 1e6, err, ms->finite,
           ms->crc);
    printf("psync merge_pct_of_fused=%.1f%% merge_plus_checks_pct_of_fused=%.1f%%\n",
           100.0 * ms->fused / ms->daemon,
           100.0 * ms->fused / (ms->daemon + ms->finite + ms->crc));
    bench_ratio("daemon_merge_bw/fused_bw", ms->fused / ms->daemon, ">=", 0.70);
}

int main(int argc, char **argv)
{
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: merge_bench [--size-mb MB per snapshot (100)] [--reps N(5)]\n"
               "                   [--chunk-bytes N(4194304)] [--block-floats N(8192)]\n");
        return 0;
    }
    uint64_t n = (uint64_t)(bench_flag_num(argc, argv, "--size-mb", 100) * 1e6 / 4) / 16 * 16;
    uint64_t chunk = (uint64_t)bench_flag_num(argc, argv, "--chunk-bytes", 4194304);
    int reps = (int)bench_flag_num(argc, argv, "--reps", 5);
    double blk = bench_flag_num(argc, argv, "--block-floats", MERGE_BLOCK_DFLT);
    float *x[MERGE_N], *ref = bench_alloc_hot(n * 4, NULL);
    psd_rcbuf *out = NULL;
    merge_ms ms;
    reps = reps < 1 ? 1 : reps > 1000 ? 1000 : reps;
    n = n < 16 ? 16 : n;
    merge_block = blk < 16 ? 16 : (uint64_t)blk;
    chunk = chunk < 64 ? 64 : chunk / 64 * 64;
    bench_log_env("merge");
    if (!ref || psd_rcbuf_new(n * 4, (n * 4 + chunk - 1) / chunk, &out))
        return 1;
    memset(out->data, 0, n * 4); /* pre-fault, as the daemon's pool is reused */
    for (int i = 0; i < MERGE_N; i++) {
        if (!(x[i] = bench_alloc_hot(n * 4, NULL)))
            return 1;
        for (uint64_t j = 0; j < n; j++)
            x[i][j] = (float)((j * (uint64_t)(i + 3)) % 1024) * 1e-3f - 0.5f;
    }
    printf("env snapshots=%d snapshot_bytes=%llu reps=%d threads=1 chunk_bytes=%llu "
           "block_floats=%llu\n", MERGE_N, (unsigned long long)(n * 4), reps,
           (unsigned long long)chunk, (unsigned long long)merge_block);
    merge_measure(x, out, ref, n, chunk, reps, &ms);
    merge_report(&ms, n * 4, merge_check(x, (const float *)(void *)out->data, ref, n));
    for (int i = 0; i < MERGE_N; i++)
        free(x[i]);
    free(ref);
    psd_rcbuf_unref(out);
    return 0;
}
