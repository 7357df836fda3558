/* shard_raw.c: the transport floor of a sharded round (DESIGN.md: one
 * psyncd per parameter range, one beside each worker), in raw ZeroMQ over
 * TCP loopback, as star_raw.c is for today's star. --workers N workers
 * and N hubs, each its own process with 2 I/O threads and psync's malloc
 * settings; hub h owns range h of the payload (1/N of it) and sits beside
 * worker h, whose range h never touches a socket (the floor of shared
 * memory: free). Per round each worker sends every other range, in
 * --chunk-bytes zero-copy frames, to the hub that owns it; a hub, once
 * chunk k of its range has come from the N-1 others, sends its result's
 * chunk k back to each of them, and a worker copies what it receives into
 * its buffer. So the sockets carry 2(N-1)/N payloads per worker, gloo's
 * ring's count. A round's time is the slowest worker's, from the
 * coordinator's "go" to its last chunk; the median of --reps after one
 * warm-up. No protocol, no checks, no merge: if this is not below gloo,
 * shards cannot bring psync's TCP round there on this machine either.
 * Prints "peer shard_raw_tcp_round_ms=..." (round_bench.sh reads it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "benchkit.h"
#include "rawzmq.h"

#define SHARD_MAX 8

typedef struct shard {
    int workers, reps, port; /* coordinator on port, hub h on port + 1 + h */
    size_t len, chunk;
} shard;

static void *shard_socket(void *ctx, int type, const char *id, int port, int bind)
{
    char ep[64];
    int hwm = 0;
    void *s = zmq_socket(ctx, type);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        (id && zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id))) ||
        (bind ? zmq_bind(s, ep) : zmq_connect(s, ep)))
        return NULL;
    return s;
}

/* Range h of the payload: [*off, *off + *n), 64-byte aligned starts. */
static void shard_range(const shard *st, int h, size_t *off, size_t *n)
{
    size_t per = (st->len / (size_t)st->workers + 63) / 64 * 64;
    size_t a = per * (size_t)h < st->len ? per * (size_t)h : st->len;
    size_t b = a + per < st->len && h < st->workers - 1 ? a + per : st->len;
    *off = a;
    *n = b - a;
}

static size_t shard_chunks(const shard *st, size_t n)
{
    return (n + st->chunk - 1) / st->chunk;
}

/* Hub h: reps + 1 rounds of its range; exit status 0 on success. */
static int shard_hub(const shard *st, int h)
{
    raw_tune_malloc();
    size_t off, n;
    shard_range(st, h, &off, &n);
    size_t nk = shard_chunks(st, n), next[SHARD_MAX] = {0};
    void *ctx = raw_context();
    void *s = shard_socket(ctx, ZMQ_ROUTER, NULL, st->port + 1 + h, 1);
    uint8_t *result = bench_alloc_hot(n ? n : 1, NULL);
    unsigned *count = calloc(nk ? nk : 1, sizeof *count);
    if (!s || !result || !count) return 1;
    for (int r = 0; r <= st->reps; r++) {
        memset(count, 0, nk * sizeof *count);
        memset(next, 0, sizeof next);
        for (size_t sent = 0; sent < nk;) {
            char id[16] = {0};
            zmq_msg_t m;
            if (zmq_recv(s, id, sizeof id - 1, 0) < 2) return 1;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, 0) < 0) return 1;
            zmq_msg_close(&m);
            int w = atoi(id + 1);
            if (w < 0 || w >= st->workers || w == h || next[w] >= nk) return 1;
            size_t k = next[w]++;
            if (++count[k] < (unsigned)(st->workers - 1)) continue;
            size_t o = k * st->chunk, len = n - o < st->chunk ? n - o : st->chunk;
            for (int v = 0; v < st->workers; v++) {
                if (v == h) continue;
                snprintf(id, sizeof id, "w%d", v);
                if (zmq_send(s, id, strlen(id), ZMQ_SNDMORE) < 0 ||
                    raw_send_ref(s, result + o, len, 0))
                    return 1;
            }
            sent++;
        }
    }
    zmq_close(s); /* every worker has had every chunk: nothing is pending */
    zmq_ctx_term(ctx);
    return 0;
}

/* Worker w: ready, then per round: go, send the other ranges, copy their
 * results in, report its time. Exit status 0 on success. */
static int shard_worker(const shard *st, int w)
{
    raw_tune_malloc();
    char id[16];
    snprintf(id, sizeof id, "w%d", w);
    void *ctx = raw_context(), *hub[SHARD_MAX] = {0};
    void *ctl = shard_socket(ctx, ZMQ_DEALER, id, st->port, 0);
    uint8_t *buf = bench_alloc_hot(st->len, NULL);
    zmq_pollitem_t items[SHARD_MAX];
    int ni = 0;
    for (int h = 0; h < st->workers; h++) {
        if (h == w) continue;
        if (!(hub[h] = shard_socket(ctx, ZMQ_DEALER, id, st->port + 1 + h, 0))) return 1;
        items[ni++] = (zmq_pollitem_t){hub[h], 0, ZMQ_POLLIN, 0};
    }
    if (!ctl || !buf || zmq_send(ctl, "ready", 5, 0) != 5) return 1;
    for (int r = 0; r <= st->reps; r++) {
        char go[8];
        size_t got[SHARD_MAX] = {0}, want = 0, have = 0;
        if (zmq_recv(ctl, go, sizeof go, 0) < 0) return 1;
        double t0 = bench_now();
        for (int h = 0; h < st->workers; h++) {
            size_t off, n;
            shard_range(st, h, &off, &n);
            for (size_t k = 0; h != w && k * st->chunk < n; k++, want++) {
                size_t len = n - k * st->chunk < st->chunk ? n - k * st->chunk : st->chunk;
                if (raw_send_ref(hub[h], buf + off + k * st->chunk, len, 0)) return 1;
            }
        }
        while (have < want) {
            if (zmq_poll(items, ni, -1) < 0) return 1;
            for (int i = 0; i < ni; i++) {
                if (!(items[i].revents & ZMQ_POLLIN)) continue;
                int h = i < w ? i : i + 1;
                size_t off, n;
                shard_range(st, h, &off, &n);
                zmq_msg_t m;
                zmq_msg_init(&m);
                size_t o = got[h]++ * st->chunk;
                if (zmq_msg_recv(&m, hub[h], 0) < 0 || zmq_msg_size(&m) > n - o) return 1;
                memcpy(buf + off + o, zmq_msg_data(&m), zmq_msg_size(&m));
                zmq_msg_close(&m);
                have++;
            }
        }
        double ms = (bench_now() - t0) * 1e3;
        if (zmq_send(ctl, &ms, sizeof ms, 0) != (int)sizeof ms) return 1;
    }
    int linger = 0;
    for (int h = 0; h < st->workers; h++)
        if (hub[h]) zmq_setsockopt(hub[h], ZMQ_LINGER, &linger, sizeof linger), zmq_close(hub[h]);
    zmq_setsockopt(ctl, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(ctl);
    zmq_ctx_term(ctx);
    free(buf);
    return 0;
}

/* The coordinator: go to every worker, the slowest one's time; median. */
static double shard_coordinate(const shard *st)
{
    void *ctx = zmq_ctx_new(), *s = shard_socket(ctx, ZMQ_ROUTER, NULL, st->port, 1);
    double t[st->reps + 1], med = -1;
    char id[16];
    int ok = s != NULL;
    for (int ready = 0; ok && ready < st->workers; ready++)
        ok = zmq_recv(s, id, sizeof id, 0) > 0 && zmq_recv(s, id, sizeof id, 0) > 0;
    for (int r = 0; ok && r <= st->reps; r++) {
        for (int w = 0; ok && w < st->workers; w++) {
            snprintf(id, sizeof id, "w%d", w);
            ok = zmq_send(s, id, strlen(id), ZMQ_SNDMORE) >= 0 && zmq_send(s, "go", 2, 0) == 2;
        }
        t[r] = 0;
        for (int w = 0; ok && w < st->workers; w++) {
            double ms = 0;
            ok = zmq_recv(s, id, sizeof id, 0) > 0 &&
                 zmq_recv(s, &ms, sizeof ms, 0) == (int)sizeof ms;
            t[r] = ms > t[r] ? ms : t[r];
        }
    }
    if (ok) med = bench_median(t + 1, st->reps);
    int linger = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), zmq_close(s);
    zmq_ctx_term(ctx);
    return med;
}

int main(int argc, char **argv)
{
    raw_run r;
    int rc = raw_flags(argc, argv, "shard_raw", 2, SHARD_MAX, &r);
    if (rc >= 0) return rc;
    shard st = {r.workers, r.reps, 0, r.len, r.chunk};
    st.port = bench_tcp_ports(1 + st.workers);
    bench_log_env("shard_raw");
    pid_t pids[2 * SHARD_MAX];
    int np = 0;
    fflush(NULL);
    for (int h = 0; h < st.workers; h++)
        if ((pids[np++] = fork()) == 0) _exit(shard_hub(&st, h));
    for (int w = 0; w < st.workers; w++)
        if ((pids[np++] = fork()) == 0) _exit(shard_worker(&st, w));
    double ms = raw_reap(pids, np, shard_coordinate(&st));
    printf("env workers=%d hubs=%d payload_bytes=%zu chunk_bytes=%zu reps=%d\n", st.workers,
           st.workers, st.len, st.chunk, st.reps);
    printf("peer shard_raw_tcp_round_ms=%.2f\n", ms);
    return ms < 0;
}
