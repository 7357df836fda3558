/* merge_bench.c: averaging 4 snapshots of 100 MB, the work of one sync
 * merge. psyncd's own code: psd_k_average (daemon/kernels.c, the average
 * with the crc of each result chunk taken as it is produced) called per
 * chunk as daemon/merge.c calls it, and psd_merge_chunk_verify (crc +
 * finite check of every received snapshot chunk: the socket path checks
 * each on arrival), against a fused one-thread C loop (sum of 4 / 4, no
 * crc) and the machine's memcpy; also the shared-memory path's average,
 * which checks every input's crc in the same pass instead (one read).
 * Bandwidth counts the useful bytes: 4 snapshots read + 1 result written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchkit.h"
#include "daemon.h"
#include "kernels.h"

#define MERGE_N 4
#define MERGE_BLOCK_DFLT PSD_K_BLOCK_FLOATS
static uint64_t merge_block = MERGE_BLOCK_DFLT; /* --block-floats, to tune it */

/* The baseline: one pass, 4 loads and 1 store per element. */
static void merge_fused(float *restrict d, const float *restrict a, const float *restrict b,
                        const float *restrict c, const float *restrict e, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        d[i] = (a[i] + b[i] + c[i] + e[i]) * 0.25f;
}

/* psyncd's sync average: psd_k_average per chunk (daemon/merge.c
 * psd_seg_average with one merge range), the chunk crcs and the output's
 * finite check fused in; with crcs (the n_chunks crcs per snapshot its
 * headers declared), each input's crc too, as for chunks that came
 * through shared memory. Returns the number of input chunks whose crc
 * differs (0). */
static int merge_daemon(psd_rcbuf *out, float *const *x, const float *w, uint64_t n, uint64_t chunk,
                        const uint32_t *crcs)
{
    const psd_f32u *xs[MERGE_N];
    uint32_t xcrc[MERGE_N];
    uint64_t n_chunks = (n * 4 + chunk - 1) / chunk;
    int bad = 0;
    uint64_t per = chunk / 4;
    bool finite = true;
    for (uint64_t k = 0; k * per < n; k++) {
        uint64_t b = k * per, m = n - b < per ? n - b : per;
        for (int i = 0; i < MERGE_N; i++) {
            xs[i] = x[i] + b;
            xcrc[i] = 0;
        }
        out->crc[k] = psd_k_average((float *)(void *)out->data + b, xs, w, MERGE_N, m, merge_block,
                                    0, &finite, crcs ? xcrc : NULL);
        for (int i = 0; crcs && i < MERGE_N; i++)
            bad += xcrc[i] != crcs[i * n_chunks + k];
    }
    if (!finite) fprintf(stderr, "merge_bench: non-finite average\n");
    return bad;
}

/* The daemon's receive-side check of every snapshot chunk (crc32 against
 * the header's, every float finite): psd_merge_chunk_verify itself, on a
 * daemon whose one merge range is the whole payload. */
static int merge_verify(psd *d, float *const *x, const uint32_t *crcs, uint64_t bytes)
{
    int ok = 1;
    uint64_t cb = d->set.chunk_bytes;
    for (int i = 0; i < MERGE_N; i++)
        for (uint64_t k = 0; k * cb < bytes; k++) {
            uint64_t len = bytes - k * cb < cb ? bytes - k * cb : cb;
            const uint8_t *p = (const uint8_t *)x[i] + k * cb;
            ok &= psd_merge_chunk_verify(d, k, p, len, crcs[i * d->n_chunks + k]) == PSYNC_OK;
        }
    return ok;
}

/* The crc32 each snapshot chunk's header would carry (as a worker sends). */
static uint32_t *merge_crcs(float *const *x, uint64_t bytes, uint64_t cb, uint64_t n_chunks)
{
    uint32_t *c = calloc(MERGE_N * n_chunks, sizeof *c);
    for (int i = 0; c && i < MERGE_N; i++)
        for (uint64_t k = 0; k < n_chunks; k++) {
            uint64_t len = bytes - k * cb < cb ? bytes - k * cb : cb;
            c[i * n_chunks + k] = psync_wire_crc((const uint8_t *)x[i] + k * cb, len);
        }
    return c;
}

typedef struct merge_ms {
    double fused, daemon, copy, verify, late;
} merge_ms;

static void merge_measure(psd *d, float *const *x, const uint32_t *crcs, psd_rcbuf *out, float *ref,
                          uint64_t n, int reps, merge_ms *ms)
{
    double f[reps + 1], dm[reps + 1], c[reps + 1], v[reps + 1], l[reps + 1];
    const float w[MERGE_N] = {0.25f, 0.25f, 0.25f, 0.25f};
    for (int r = 0; r <= reps; r++) {
        double t0 = bench_now();
        merge_fused(ref, x[0], x[1], x[2], x[3], n);
        double t1 = bench_now();
        merge_daemon(out, x, w, n, d->set.chunk_bytes, NULL);
        double t2 = bench_now();
        memcpy(ref, x[r % MERGE_N], n * 4);
        double t3 = bench_now();
        int ok = merge_verify(d, x, crcs, n * 4);
        double t4 = bench_now();
        int intact = merge_daemon(out, x, w, n, d->set.chunk_bytes, crcs) == 0;
        double t5 = bench_now();
        f[r] = (t1 - t0) * 1e3, dm[r] = (t2 - t1) * 1e3, c[r] = (t3 - t2) * 1e3;
        v[r] = ok ? (t4 - t3) * 1e3 : -1;
        l[r] = intact ? (t5 - t4) * 1e3 : -1;
    }
    ms->fused = bench_median(f + 1, reps);
    ms->daemon = bench_median(dm + 1, reps);
    ms->copy = bench_median(c + 1, reps);
    ms->verify = bench_median(v + 1, reps);
    ms->late = bench_median(l + 1, reps);
}

/* Largest relative difference between the daemon's and the fused result. */
static double merge_check(float *const *x, const float *dst, float *ref, uint64_t n)
{
    double worst = 0;
    merge_fused(ref, x[0], x[1], x[2], x[3], n);
    for (uint64_t i = 0; i < n; i++) {
        double diff = (double)dst[i] - (double)ref[i], mag = ref[i] < 0 ? -ref[i] : ref[i];
        diff = diff < 0 ? -diff : diff;
        if (diff > worst * (mag + 1e-6)) worst = diff / (mag + 1e-6);
    }
    return worst;
}

static void merge_report(const merge_ms *ms, uint64_t bytes, double err)
{
    double useful = 5.0 * (double)bytes;
    printf("peer fused_loop_ms=%.2f fused_gbps=%.2f memcpy_ms=%.2f memcpy_gbps=%.2f "
           "(read+write)\n",
           ms->fused, useful / ms->fused / 1e6, ms->copy, 2.0 * (double)bytes / ms->copy / 1e6);
    printf("psync daemon_merge_ms=%.2f daemon_gbps=%.2f max_rel_diff=%.2g (crcs of the result "
           "included) verify_4_snapshots_ms=%.2f (crc + finite, -1: a check failed)\n",
           ms->daemon, useful / ms->daemon / 1e6, err, ms->verify);
    printf("psync merge_pct_of_fused=%.1f%% merge_plus_verify_pct_of_fused=%.1f%%\n",
           100.0 * ms->fused / ms->daemon, 100.0 * ms->fused / (ms->daemon + ms->verify));
    printf("psync merge_checking_inputs_ms=%.2f (the shared-memory path: each input's crc in "
           "the average's pass, -1: a crc differed) vs merge + verify %.2f ms: %.2fx\n",
           ms->late, ms->daemon + ms->verify, ms->late / (ms->daemon + ms->verify));
    bench_ratio("daemon_merge_bw/fused_bw", ms->fused / ms->daemon, ">=", 0.70);
}

int main(int argc, char **argv)
{
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: merge_bench [--size-mb MB per snapshot (100)] [--reps N(5)]\n"
               "                   [--chunk-bytes N(4194304)] [--block-floats N(1024)]\n");
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
    if (!ref ||
        psd_rcbuf_new(n * 4, (n * 4 + chunk - 1) / chunk, getenv("PSYNC_BENCH_SHM") != NULL, &out))
        return 1;
    memset(out->data, 0, n * 4); /* pre-fault, as the daemon's pool is reused */
    for (int i = 0; i < MERGE_N; i++) {
        if (!(x[i] = bench_alloc_hot(n * 4, NULL))) return 1;
        for (uint64_t j = 0; j < n; j++)
            x[i][j] = (float)((j * (uint64_t)(i + 3)) % 1024) * 1e-3f - 0.5f;
    }
    printf("env snapshots=%d snapshot_bytes=%llu reps=%d threads=1 chunk_bytes=%llu "
           "block_floats=%llu\n",
           MERGE_N, (unsigned long long)(n * 4), reps, (unsigned long long)chunk,
           (unsigned long long)merge_block);
    static psd d; /* what psd_merge_chunk_verify reads: chunking, merge ranges */
    psync_wire_range all = {0, n * 4};
    d.set.chunk_bytes = chunk;
    d.n_chunks = (n * 4 + chunk - 1) / chunk;
    d.ranges = &all;
    d.n_ranges = 1;
    uint32_t *crcs = merge_crcs(x, n * 4, chunk, d.n_chunks);
    if (!crcs) return 1;
    merge_measure(&d, x, crcs, out, ref, n, reps, &ms);
    merge_report(&ms, n * 4, merge_check(x, (const float *)(void *)out->data, ref, n));
    for (int i = 0; i < MERGE_N; i++)
        free(x[i]);
    free(ref);
    free(crcs);
    psd_rcbuf_unref(out);
    return 0;
}
