/* round_worker.c: one worker of bench/round_bench.sh's psync round: joins
 * psyncd with a flat f32 model of --params values (all rank+1), waits until
 * --workers peers are ready (files in --sync-dir), then runs --reps + 1
 * rounds (the first is a warm-up): publish, poll until the merged version is
 * applied. Prints "round_worker rank=R ok=0|1 times_ms=t0,t1,..." where ok
 * says the merged value is the workers' mean. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchkit.h"
#include "flatmodel.h"
#include "log.h"
#include "psync_client.h"

/* File barrier: creates dir/<what>.<rank> (rank >= 0), then waits (up to
 * 120 s) for dir/<what>.0 .. <what>.<count-1>. */
static int rw_barrier(const char *dir, const char *what, int rank, int count)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%d", dir, what, rank);
    int fd = rank < 0 ? 0 : open(path, O_CREAT | O_WRONLY, 0600);
    if (fd < 0) return -1;
    if (rank >= 0) close(fd);
    for (int waited = 0; waited < 120000; waited += 5) {
        int ready = 0;
        for (int r = 0; r < count; r++) {
            snprintf(path, sizeof path, "%s/%s.%d", dir, what, r);
            ready += access(path, F_OK) == 0;
        }
        if (ready == count) return 0;
        usleep(5000);
    }
    return -1;
}

/* One round: publish, then poll until a merged version is applied. */
static psync_err rw_round(psync_client *c, psync_model *m, double *ms)
{
    bool applied = false;
    double t0 = bench_now();
    psync_err err = psync_client_publish(c, m, 1);
    for (int i = 0; !err && !applied && i < 600; i++)
        err = psync_client_poll(c, m, 100, &applied);
    *ms = (bench_now() - t0) * 1e3;
    return err ? err : applied ? PSYNC_OK : psync_fail(PSYNC_ETIMEOUT, "no merged version");
}

/* Joins (rank 0 first, so it alone uploads), applies the cluster's current
 * version, then sets every value to rank + 1 (what arrives holds rank 0's
 * values). */
static psync_err rw_join(psync_client *c, psync_model **m, const char *dir, int rank)
{
    if (rank > 0 && rw_barrier(dir, "joined", -1, 1))
        return psync_fail(PSYNC_ETIMEOUT, "rank 0 did not join");
    psync_err err = psync_client_join(c, m, 120000);
    if (err) return err;
    if (rank == 0 && rw_barrier(dir, "joined", 0, 1))
        return psync_fail(PSYNC_EIO, "barrier file in %s", dir);
    for (int i = 0; !err && i < 1200; i++) { /* hold the cluster's version first */
        if (psync_client_held_version(c) >= psync_client_daemon_version(c)) break;
        err = psync_client_poll(c, *m, 100, NULL);
    }
    if (err) return err;
    float *w = (float *)(void *)(*m)->payload;
    for (uint64_t i = 0; i < (*m)->payload_len / 4; i++)
        w[i] = (float)(rank + 1);
    return PSYNC_OK;
}

static psync_err rw_run(psync_client *c, psync_model **m, int argc, char **argv, double *ms,
                        int rounds)
{
    const char *dir = bench_flag_str(argc, argv, "--sync-dir", ".");
    int rank = (int)bench_flag_num(argc, argv, "--rank", 0);
    int workers = (int)bench_flag_num(argc, argv, "--workers", 4);
    psync_err err = rw_join(c, m, dir, rank);
    if (!err && rw_barrier(dir, "ready", rank, workers))
        err = psync_fail(PSYNC_ETIMEOUT, "peers not ready");
    for (int r = 0; r < rounds && !err; r++)
        err = rw_round(c, *m, &ms[r]);
    return err;
}

int main(int argc, char **argv)
{
    int rank = (int)bench_flag_num(argc, argv, "--rank", 0);
    int workers = (int)bench_flag_num(argc, argv, "--workers", 4);
    int rounds = 1 + (int)bench_flag_num(argc, argv, "--reps", 3);
    uint64_t n = (uint64_t)bench_flag_num(argc, argv, "--params", 25000000);
    psync_client_opts o = {.control = bench_flag_str(argc, argv, "--control", NULL),
                           .bulk = bench_flag_str(argc, argv, "--bulk", NULL),
                           .rank = rank};
    psync_client *c = NULL;
    psync_model *m = NULL;
    double ms[101];
    rounds = rounds < 2 ? 2 : rounds > 101 ? 101 : rounds;
    psync_log_set_level(PSYNC_LOG_WARN);
    psync_err err = bench_flat_model(n ? n : 1, (float)(rank + 1), &m);
    if (!err) err = psync_client_new(&c, &o);
    if (!err) err = rw_run(c, &m, argc, argv, ms, rounds);
    if (err) {
        fprintf(stderr, "round_worker %d: %s: %s\n", rank, psync_strerror(err), psync_errdetail());
        psync_client_destroy(&c);
        psync_model_destroy(&m);
        return 1;
    }
    float v = ((const float *)(const void *)m->payload)[0], mean = (float)(workers + 1) / 2;
    printf("round_worker rank=%d ok=%d times_ms=", rank, v > mean - 1e-3f && v < mean + 1e-3f);
    for (int r = 0; r < rounds; r++)
        printf("%s%.3f", r ? "," : "", ms[r]);
    printf("\n");
    psync_client_destroy(&c);
    psync_model_destroy(&m);
    return 0;
}
