/* curve_bench.c: what CURVE costs on the bulk path. Streams 4 MiB frames
 * DEALER -> ROUTER through psync_security (CURVE + ZAP allow-list) and
 * through plain ZeroMQ (the peer), over tcp loopback and ipc, and prints
 * both rates and their ratio. glibc malloc is tuned as psyncd tunes it.
 * Usage: curve_bench [--size-mb N] [--reps N] [--default-malloc] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "benchkit.h"
#include "log.h"
#include "security.h"

#define CURVE_FRAME (4u << 20)

typedef struct curve_pair {
    void *ctx, *srv, *cli;
    psync_security *server, *client;
} curve_pair;

/* Opens a ROUTER bound at ep and a DEALER connected to it, CURVE or plain. */
static int curve_open(curve_pair *p, int curve, const char *ep)
{
    memset(p, 0, sizeof *p);
    p->ctx = zmq_ctx_new();
    if (curve) {
        psync_keypair s, c;
        psync_allowlist *al;
        if (psync_keypair_generate(&s) || psync_keypair_generate(&c) || psync_allowlist_new(&al) ||
            psync_allowlist_add(al, c.public_key, "bench") ||
            psync_security_server_new(&p->server, p->ctx, &s, al) ||
            psync_security_client_new(&p->client, &c, s.public_key))
            return -1;
    }
    p->srv = zmq_socket(p->ctx, ZMQ_ROUTER);
    p->cli = zmq_socket(p->ctx, ZMQ_DEALER);
    char bound[256];
    size_t len = sizeof bound;
    if ((curve && (psync_security_apply(p->server, p->srv, ep) ||
                   psync_security_apply(p->client, p->cli, ep))) ||
        zmq_bind(p->srv, ep) || zmq_getsockopt(p->srv, ZMQ_LAST_ENDPOINT, bound, &len))
        return -1;
    return psync_security_watch_handshake(p->ctx, p->cli, bound, 3000) ? -1 : 0;
}

static void curve_close(curve_pair *p)
{
    int zero = 0;
    zmq_setsockopt(p->cli, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p->srv, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(p->cli);
    zmq_close(p->srv);
    psync_security_destroy(&p->server);
    psync_security_destroy(&p->client);
    zmq_ctx_term(p->ctx);
}

/* GB/s of moving bytes (in CURVE_FRAME frames) from cli to srv; -1 on error. */
static double curve_stream(curve_pair *p, const char *buf, size_t bytes)
{
    size_t frames = bytes / CURVE_FRAME ? bytes / CURVE_FRAME : 1;
    double t0 = bench_now();
    for (size_t i = 0; i < frames; i++) {
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        zmq_msg_init(&m);
        if (zmq_send(p->cli, buf, CURVE_FRAME, 0) < 0 || zmq_msg_recv(&id, p->srv, 0) < 0 ||
            zmq_msg_recv(&m, p->srv, 0) < 0)
            return -1;
        zmq_msg_close(&id);
        zmq_msg_close(&m);
    }
    return (double)frames * CURVE_FRAME / (bench_now() - t0) / 1e9;
}

/* Median GB/s over reps runs on a fresh pair each. */
static double curve_rate(int curve, const char *ep, const char *buf, size_t bytes, int reps)
{
    double v[16];
    int n = reps < 16 ? reps : 16;
    for (int r = 0; r < n; r++) {
        curve_pair p;
        if (curve_open(&p, curve, ep)) return -1;
        v[r] = curve_stream(&p, buf, bytes);
        curve_close(&p);
        if (v[r] < 0) return -1;
    }
    return bench_median(v, n);
}

int main(int argc, char **argv)
{
    size_t bytes = (size_t)(bench_flag_num(argc, argv, "--size-mb", 256) * (1 << 20));
    int reps = (int)bench_flag_num(argc, argv, "--reps", 3);
    char *buf = bench_alloc_hot(CURVE_FRAME, NULL);
    if (!buf || reps < 1) return 1;
    psync_log_set_level(PSYNC_LOG_ERROR);
    if (!bench_flag_set(argc, argv, "--default-malloc")) { /* as psyncd does (DESIGN) */
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
    bench_log_env("curve");
    char ipc[64];
    snprintf(ipc, sizeof ipc, "ipc:///tmp/psync-curve-bench-%d", (int)getpid());
    const char *eps[2] = {"tcp://127.0.0.1:*", ipc};
    const char *names[2] = {"tcp", "ipc"};
    for (int i = 0; i < 2; i++) {
        double plain = curve_rate(0, eps[i], buf, bytes, reps);
        double curve = curve_rate(1, eps[i], buf, bytes, reps);
        printf("psync transport=%s curve_gbps=%.3f\npeer transport=%s plain_gbps=%.3f\n", names[i],
               curve, names[i], plain);
        char name[32];
        snprintf(name, sizeof name, "curve_over_plain_%s", names[i]);
        bench_ratio(name, plain > 0 && curve > 0 ? curve / plain : -1, ">=", 0.5);
    }
    unlink(ipc + 6);
    free(buf);
    return 0;
}
