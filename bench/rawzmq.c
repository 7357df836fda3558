/* rawzmq.c: helpers of the raw ZeroMQ floors (rawzmq.h). */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <zmq.h>

#include "benchkit.h"
#include "rawzmq.h"

int raw_flags(int argc, char **argv, const char *prog, int min_workers, int max_workers, raw_run *r)
{
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: %s [--workers N(4)] [--size-mb MB(100)] [--params N]\n"
               "       [--chunk-bytes B(1048576)] [--reps N(5)]\n",
               prog);
        return 0;
    }
    double params = bench_flag_num(argc, argv, "--params", 0);
    r->workers = (int)bench_flag_num(argc, argv, "--workers", 4);
    r->reps = (int)bench_flag_num(argc, argv, "--reps", 5);
    r->chunk = (size_t)bench_flag_num(argc, argv, "--chunk-bytes", 1048576);
    r->len = params > 0 ? (size_t)params * 4
                        : (size_t)(bench_flag_num(argc, argv, "--size-mb", 100) * 1e6) / 4 * 4;
    if (r->workers < min_workers || r->workers > max_workers || r->reps < 1 || !r->chunk ||
        !r->len) {
        fprintf(stderr, "%s: need %d-%d workers, reps >= 1, a size and a chunk size\n", prog,
                min_workers, max_workers);
        return 64;
    }
    return -1;
}

double raw_reap(const pid_t *pids, int n, double ms)
{
    for (int i = 0; i < n; i++) {
        int status = 1;
        if (pids[i] > 0 && ms < 0) kill(pids[i], SIGKILL);
        if (pids[i] <= 0 || waitpid(pids[i], &status, 0) < 0 || status != 0) ms = -1;
    }
    return ms;
}

void raw_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_ARENA_MAX, 1);
}

void *raw_context(void)
{
    void *ctx = zmq_ctx_new();
    if (ctx) zmq_ctx_set(ctx, ZMQ_IO_THREADS, 2);
    return ctx;
}

int raw_send_ref(void *s, const uint8_t *p, size_t n, int flags)
{
    zmq_msg_t m;
    zmq_msg_init_data(&m, (void *)p, n, NULL, NULL);
    if (zmq_msg_send(&m, s, flags) >= 0) return 0;
    zmq_msg_close(&m);
    return -1;
}
