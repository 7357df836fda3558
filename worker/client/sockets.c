/* sockets.c: where the client finds the daemon (options, PSYNC_ADDR,
 * MASTER_ADDR/MASTER_PORT), its security (CURVE keys or explicit plain,
 * the handshake watcher) and every ZeroMQ object it creates, with all
 * socket options in one place. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "secopts.h"

uint64_t pc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "tcp://h:p" or "h:p" -> control endpoint; bulk = port + 1 (or .bulk). */
static psync_err pc_derive(psync_client *c, const char *addr, const char *bulk)
{
    const char *colon = strrchr(addr, ':');
    bool ipc = !strncmp(addr, "ipc://", 6);
    bool tcp = !strncmp(addr, "tcp://", 6);
    snprintf(c->control_ep, sizeof c->control_ep, "%s%s", ipc || tcp ? "" : "tcp://", addr);
    if (bulk) {
        snprintf(c->bulk_ep, sizeof c->bulk_ep, "%s", bulk);
        return PSYNC_OK;
    }
    if (ipc) {
        snprintf(c->bulk_ep, sizeof c->bulk_ep, "%s.bulk", addr);
        return PSYNC_OK;
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || *end || port < 1 || port > 65534)
        return psync_fail(PSYNC_ECONFIG, "daemon address '%s' has no valid port (tcp://HOST:PORT)",
                          addr);
    snprintf(c->bulk_ep, sizeof c->bulk_ep, "%s%.*s:%ld", tcp ? "" : "tcp://", (int)(colon - addr),
             addr, port + 1);
    return PSYNC_OK;
}

psync_err pc_endpoints(psync_client *c, const psync_client_opts *o)
{
    char buf[300];
    const char *env = getenv("PSYNC_ADDR"), *host = getenv("MASTER_ADDR");
    const char *bulk = o && o->bulk ? o->bulk : getenv("PSYNC_BULK_ADDR");
    if (o && o->control) return pc_derive(c, o->control, bulk);
    if (env && *env) return pc_derive(c, env, bulk);
    if (host && *host) {
        const char *port = getenv("MASTER_PORT");
        snprintf(buf, sizeof buf, "tcp://%s:%s", host, port && *port ? port : "5555");
        return pc_derive(c, buf, bulk);
    }
    return pc_derive(c, "tcp://127.0.0.1:5555", bulk);
}

psync_err psync_client_endpoints(const psync_client_opts *opts, char *control, char *bulk,
                                 size_t cap)
{
    psync_client c;
    memset(&c, 0, sizeof c);
    psync_err e = pc_endpoints(&c, opts);
    if (!e) {
        snprintf(control, cap, "%s", c.control_ep);
        snprintf(bulk, cap, "%s", c.bulk_ep);
    }
    return e;
}

static psync_err pc_opt(void *s, int opt, int v)
{
    if (zmq_setsockopt(s, opt, &v, sizeof v))
        return psync_fail(PSYNC_EIO, "setsockopt %d: %s", opt, zmq_strerror(zmq_errno()));
    return PSYNC_OK;
}

/* A DEALER with our routing id, connected to ep. */
static psync_err pc_dealer(psync_client *c, void **out, const char *ep, bool bulk)
{
    psync_err e;
    int64_t maxmsg = bulk ? (int64_t)1 << 30 : 16 << 20;
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!s) return psync_fail(PSYNC_EIO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    if ((e = pc_opt(s, ZMQ_LINGER, 0)) || (e = pc_opt(s, ZMQ_SNDHWM, bulk ? 4096 : 1000)) ||
        (e = pc_opt(s, ZMQ_RCVHWM, bulk ? 64 : 1000)) ||
        (e = pc_opt(s, ZMQ_IMMEDIATE, bulk ? 0 : 1)))
        goto close_socket;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(s, ZMQ_ROUTING_ID, c->rid, sizeof c->rid)) {
        e = psync_fail(PSYNC_EIO, "setsockopt: %s", zmq_strerror(zmq_errno()));
        goto close_socket;
    }
    if ((e = psync_security_apply(c->sec, s, ep))) goto close_socket;
    if (!bulk && (e = psync_handshake_watch_start(c->ctx, s, &c->watch))) goto close_socket;
    if (zmq_connect(s, ep)) {
        e = psync_fail(PSYNC_ECONFIG, "connect %s: %s", ep, zmq_strerror(zmq_errno()));
        goto close_socket;
    }
    *out = s;
    return PSYNC_OK;
close_socket:
    zmq_close(s);
    return e;
}

/* CURVE with key_file + server_key, else plain (refused for a
 * non-loopback daemon unless insecure_plain); see secopts.h. */
static psync_err pc_security(psync_client *c, const psync_client_opts *o)
{
    c->retry_auth = o && o->retry_auth;
    return psync_secopts_client(&c->sec, o ? o->key_file : NULL, o ? o->server_key : NULL,
                                o && o->insecure_plain, c->control_ep, c->bulk_ep);
}

psync_err pc_auth_poll(psync_client *c)
{
    if (!c->watch) return PSYNC_OK;
    psync_err e = psync_handshake_watch_wait(c->watch, 0);
    if (e == PSYNC_OK) {
        psync_handshake_watch_destroy(&c->watch); /* authenticated: stop watching */
        return PSYNC_OK;
    }
    if (e != PSYNC_EAUTH) return PSYNC_OK;
    if (psync_security_is_plain(c->sec))
        e = psync_fail(PSYNC_EAUTH,
                       "psyncd at %s refused a plain connection: it requires CURVE; "
                       "give --key-file and --server-key (PSYNC_KEY_FILE, PSYNC_SERVER_KEY)",
                       c->control_ep);
    static uint64_t logged_ms; /* libzmq retries every 100 ms: log every 5 s */
    if (!c->retry_auth || pc_now_ms() - logged_ms >= 5000) {
        logged_ms = pc_now_ms();
        PSYNC_ERROR("auth_refused", "endpoint=%s retry=%s detail=\"%s\"", c->control_ep,
                    c->retry_auth ? "true" : "false", psync_errdetail());
    }
    return c->retry_auth ? PSYNC_OK : e;
}

psync_err pc_sockets_open(psync_client *c, const psync_client_opts *o)
{
    psync_err e;
    /* See docs/api.md: without this glibc trims and re-faults the heap
     * ZeroMQ uses for every received chunk (1.4-4.7x slower rounds). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    /* One arena: ZeroMQ's I/O threads would otherwise allocate frames in
     * per-thread heaps that glibc unmaps whenever they empty, whatever the
     * trim threshold (measured: 15% of the daemon's time in page faults). */
    mallopt(M_ARENA_MAX, 1);
    if (getrandom(c->rid, sizeof c->rid, 0) != (ssize_t)sizeof c->rid)
        for (size_t i = 0; i < sizeof c->rid; i++)
            c->rid[i] = (uint8_t)(rand() ^ getpid());
    c->rid[0] |= 1; /* a routing id must not start with a zero byte */
    c->ctx = zmq_ctx_new();
    if (!c->ctx) return psync_fail(PSYNC_EIO, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    zmq_ctx_set(c->ctx, ZMQ_IO_THREADS, 2);
    if ((e = pc_security(c, o)) || (e = pc_dealer(c, &c->control, c->control_ep, false)) ||
        (e = pc_dealer(c, &c->bulk, c->bulk_ep, true)))
        return e;
    return PSYNC_OK;
}

void pc_sockets_close(psync_client *c)
{
    psync_handshake_watch_destroy(&c->watch);
    if (c->control) zmq_close(c->control);
    if (c->bulk) zmq_close(c->bulk);
    c->control = c->bulk = NULL;
    psync_security_destroy(&c->sec);
    if (c->ctx) zmq_ctx_term(c->ctx);
    c->ctx = NULL;
    c->resets++;     /* whatever was queued is gone: a send spanning this failed */
    pc_shm_reset(c); /* a new connection is a new membership: offered anew */
}
