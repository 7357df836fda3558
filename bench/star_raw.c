/* star_raw.c: the transport floor under psync's sync round: the same star
 * (one hub, --workers processes, --size-mb each) in raw ZeroMQ, with no
 * protocol, no checks and no merge. The hub is a ROUTER with 2 I/O threads
 * (as psyncd), each worker a DEALER with 2 (as the client), and both tune
 * glibc malloc as psync does. Per round each worker sends its buffer in
 * --chunk-bytes zero-copy frames; the hub, once chunk k has come from every
 * worker, sends chunk k of its result buffer (zero-copy) to each; a worker
 * copies what it receives into its buffer (as applying a merged version
 * does). A round's time is the slowest worker's, from the hub's "go" to its
 * last chunk; the median of --reps after one warm-up, over tcp:// loopback
 * and ipc:// in one run.
 *
 * What psync's round costs over this figure is its own work (headers,
 * crcs, the average, its checks); what this costs over gloo's ring is the
 * star itself: 2N payloads through the hub's sockets where a ring moves
 * 2(N-1) in all. Prints "peer star_raw_tcp_round_ms=... star_raw_ipc_round_ms=..."
 * (round_bench.sh reads it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "benchkit.h"
#include "rawzmq.h"

#define STAR_MAX_WORKERS 16

typedef struct star {
    const char *ep;
    int workers, reps;
    size_t len, chunk, nchunks;
} star;

/* One worker: ready, then per round: wait for go, send every chunk, copy
 * every returned chunk in, report the time. Exit status 0 on success. */
static int star_worker(const star *st, int rank)
{
    raw_tune_malloc();
    void *ctx = raw_context(), *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    uint8_t *buf = bench_alloc_hot(st->len, NULL);
    char id[16];
    snprintf(id, sizeof id, "w%d", rank);
    if (!s || !buf || zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id)) || zmq_connect(s, st->ep) ||
        zmq_send(s, "ready", 5, 0) != 5)
        return 1;
    for (int r = 0; r <= st->reps; r++) {
        char go[8];
        if (zmq_recv(s, go, sizeof go, 0) < 0) return 1;
        double t0 = bench_now();
        for (size_t k = 0; k < st->nchunks; k++) {
            size_t off = k * st->chunk, n = st->len - off < st->chunk ? st->len - off : st->chunk;
            if (raw_send_ref(s, buf + off, n, 0)) return 1;
        }
        for (size_t k = 0; k < st->nchunks; k++) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            size_t off = k * st->chunk;
            if (zmq_msg_recv(&m, s, 0) < 0 || zmq_msg_size(&m) > st->len - off) return 1;
            memcpy(buf + off, zmq_msg_data(&m), zmq_msg_size(&m));
            zmq_msg_close(&m);
        }
        double ms = (bench_now() - t0) * 1e3;
        if (zmq_send(s, &ms, sizeof ms, 0) != (int)sizeof ms) return 1;
    }
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(buf);
    return 0;
}

/* Receives [routing id][body] on the hub; the worker's rank (from its id
 * "wR") or -1; body is left in m (caller closes it). */
static int star_hub_recv(void *s, zmq_msg_t *m)
{
    char id[16] = {0};
    int n = zmq_recv(s, id, sizeof id - 1, 0);
    zmq_msg_init(m);
    if (n < 2 || id[0] != 'w' || zmq_msg_recv(m, s, 0) < 0) return -1;
    return atoi(id + 1);
}

/* One round on the hub: go to all, chunk k back to all once all sent it,
 * then the workers' times; the slowest one's, or -1. */
static double star_hub_round(const star *st, void *s, const uint8_t *result, unsigned *count,
                             size_t *next)
{
    char id[16];
    for (int w = 0; w < st->workers; w++) {
        snprintf(id, sizeof id, "w%d", w);
        if (zmq_send(s, id, strlen(id), ZMQ_SNDMORE) < 0 || zmq_send(s, "go", 2, 0) != 2) return -1;
        next[w] = 0;
    }
    memset(count, 0, st->nchunks * sizeof *count);
    double slowest = 0;
    for (size_t got = 0, want = st->nchunks * (size_t)st->workers, times = 0;
         got < want || times < (size_t)st->workers;) {
        zmq_msg_t m;
        int w = star_hub_recv(s, &m);
        if (w < 0 || w >= st->workers) return -1;
        if (next[w] == st->nchunks) { /* its time: its last chunk came back */
            double ms = 0;
            memcpy(&ms, zmq_msg_data(&m), zmq_msg_size(&m) == sizeof ms ? sizeof ms : 0);
            slowest = ms > slowest ? ms : slowest;
            times++;
            zmq_msg_close(&m);
            continue;
        }
        size_t k = next[w]++;
        zmq_msg_close(&m); /* chunks arrive in order on one connection */
        got++;
        if (++count[k] < (unsigned)st->workers) continue;
        size_t off = k * st->chunk, n = st->len - off < st->chunk ? st->len - off : st->chunk;
        for (int v = 0; v < st->workers; v++) {
            snprintf(id, sizeof id, "w%d", v);
            if (zmq_send(s, id, strlen(id), ZMQ_SNDMORE) < 0 || raw_send_ref(s, result + off, n, 0))
                return -1;
        }
    }
    return slowest;
}

/* The hub: waits for every worker, runs the rounds; the median, or -1. */
static double star_hub(const star *st)
{
    raw_tune_malloc();
    void *ctx = raw_context(), *s = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    uint8_t *result = bench_alloc_hot(st->len, NULL);
    unsigned *count = calloc(st->nchunks, sizeof *count);
    size_t next[STAR_MAX_WORKERS];
    double t[st->reps + 1], med = -1;
    int hwm = 0, ok = s && result && count && !zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) &&
                      !zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) && !zmq_bind(s, st->ep);
    for (int ready = 0; ok && ready < st->workers; ready++) {
        zmq_msg_t m;
        ok = star_hub_recv(s, &m) >= 0;
        zmq_msg_close(&m);
    }
    for (int r = 0; ok && r <= st->reps; r++)
        ok = (t[r] = star_hub_round(st, s, result, count, next)) >= 0;
    if (ok) med = bench_median(t + 1, st->reps);
    int linger = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (s) zmq_close(s);
    if (ctx) zmq_ctx_term(ctx);
    free(result);
    free(count);
    return med;
}

/* Runs the hub here and the workers as child processes on endpoint ep. */
static double star_run(star st, const char *ep)
{
    pid_t pids[STAR_MAX_WORKERS];
    st.ep = ep;
    fflush(NULL);
    for (int w = 0; w < st.workers; w++)
        if ((pids[w] = fork()) == 0) _exit(star_worker(&st, w));
    return raw_reap(pids, st.workers, star_hub(&st));
}

int main(int argc, char **argv)
{
    raw_run r;
    int rc = raw_flags(argc, argv, "star_raw", 1, STAR_MAX_WORKERS, &r);
    if (rc >= 0) return rc;
    star st = {NULL, r.workers, r.reps, r.len, r.chunk, 0};
    st.nchunks = (st.len + st.chunk - 1) / st.chunk;
    bench_log_env("star_raw");
    char tcp[64], ipc[64], dir[] = "/tmp/psync-star-XXXXXX";
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", bench_tcp_ports(1));
    if (!mkdtemp(dir)) return 1;
    snprintf(ipc, sizeof ipc, "ipc://%s/hub.sock", dir);
    double t = star_run(st, tcp), i = star_run(st, ipc);
    unlink(ipc + 6);
    rmdir(dir);
    printf("env workers=%d payload_bytes=%zu chunk_bytes=%zu reps=%d\n", st.workers, st.len,
           st.chunk, st.reps);
    printf("peer star_raw_tcp_round_ms=%.2f star_raw_ipc_round_ms=%.2f\n", t, i);
    return t < 0 || i < 0;
}
