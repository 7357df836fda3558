/* zap.c: the ZAP handler thread. Answers libzmq's authentication requests
 * on inproc://zeromq.zap.01: admits allow-listed CURVE keys in domain
 * "psync", denies everything else, counts both, logs denials (rate-limited)
 * with the peer address and key so an operator can act on them. */
#include "zap.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "security.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 8     /* version, id, domain, address, identity, mechanism, creds */
#define ZAP_LOG_PER_SECOND 5 /* denial lines per second before suppressing */

struct psync_zap {
    void *rep, *ctl_main, *ctl_thread;
    pthread_t thread;
    const psync_allowlist *allow;
    atomic_uint_fast64_t accepted, denied;
    time_t log_second; /* handler thread only: rate-limit window */
    unsigned log_lines;
    uint64_t log_suppressed;
};

typedef struct zap_request {
    zmq_msg_t frames[ZAP_MAX_FRAMES];
    int n;     /* frames kept */
    int extra; /* frames beyond ZAP_MAX_FRAMES (drained) */
} zap_request;

typedef struct zap_verdict {
    const char *code; /* "200" / "400" / "500" */
    char reason[96];
    const char *user; /* allow-list name on success */
} zap_verdict;

/* True if frame i of req holds exactly the string s. */
static int zap_frame_is(const zap_request *req, int i, const char *s)
{
    size_t n = strlen(s);
    return i < req->n && zmq_msg_size((zmq_msg_t *)&req->frames[i]) == n &&
           !memcmp(zmq_msg_data((zmq_msg_t *)&req->frames[i]), s, n);
}

/* Copies frame i as a printable string into out (cap bytes). */
static void zap_frame_text(zap_request *req, int i, char *out, size_t cap)
{
    size_t n = i < req->n ? zmq_msg_size(&req->frames[i]) : 0;
    const char *d = n ? zmq_msg_data(&req->frames[i]) : "";
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), d);
    for (char *p = out; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f) *p = '?';
}

/* Receives one whole request (draining frames past ZAP_MAX_FRAMES). */
static int zap_recv(void *rep, zap_request *req)
{
    req->n = req->extra = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, rep, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (req->n < ZAP_MAX_FRAMES)
            req->frames[req->n++] = m;
        else {
            req->extra++;
            zmq_msg_close(&m);
        }
    }
    return 0;
}

/* Decides on one request (the only place that says 200). */
static void zap_decide(const psync_zap *z, zap_request *req, zap_verdict *v)
{
    v->code = "400";
    v->user = "";
    if (req->n < 7 || req->extra || !zap_frame_is(req, 0, "1.0")) {
        v->code = "500";
        snprintf(v->reason, sizeof v->reason, "malformed ZAP request (%d frames)", req->n);
    } else if (!zap_frame_is(req, 2, PSYNC_ZAP_DOMAIN)) {
        snprintf(v->reason, sizeof v->reason, "wrong ZAP domain");
    } else if (!zap_frame_is(req, 5, "CURVE") || req->n != 7 ||
               zmq_msg_size(&req->frames[6]) != PSYNC_KEY_BYTES) {
        snprintf(v->reason, sizeof v->reason, "mechanism is not CURVE");
    } else if (!(v->user = psync_allowlist_find(z->allow, zmq_msg_data(&req->frames[6])))) {
        v->user = "";
        snprintf(v->reason, sizeof v->reason, "key not on the allow-list");
    } else {
        v->code = "200";
        snprintf(v->reason, sizeof v->reason, "OK");
    }
}

/* Sends the reply frames (version, id, code, text, user id, metadata). */
static void zap_reply(void *rep, zap_request *req, const zap_verdict *v)
{
    int has_id = req->n > 1;
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, has_id ? zmq_msg_data(&req->frames[1]) : "",
             has_id ? zmq_msg_size(&req->frames[1]) : 0, ZMQ_SNDMORE);
    zmq_send(rep, v->code, 3, ZMQ_SNDMORE);
    zmq_send(rep, v->reason, strlen(v->reason), ZMQ_SNDMORE);
    zmq_send(rep, v->user, strlen(v->user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

/* Logs one denial unless this second already had ZAP_LOG_PER_SECOND. */
static void zap_log_denial(psync_zap *z, zap_request *req, const zap_verdict *v)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec != z->log_second) {
        z->log_second = now.tv_sec;
        z->log_lines = 0;
    }
    if (z->log_lines++ >= ZAP_LOG_PER_SECOND) {
        z->log_suppressed++;
        return;
    }
    char peer[64], domain[32], mech[16], key[PSYNC_KEY_Z85_LEN + 1] = "-";
    zap_frame_text(req, 3, peer, sizeof peer);
    zap_frame_text(req, 2, domain, sizeof domain);
    zap_frame_text(req, 5, mech, sizeof mech);
    if (req->n == 7 && zmq_msg_size(&req->frames[6]) == PSYNC_KEY_BYTES)
        zmq_z85_encode(key, zmq_msg_data(&req->frames[6]), PSYNC_KEY_BYTES);
    PSYNC_WARN("auth_denied",
               "peer=%s key=\"%s\" domain=%s mechanism=%s reason=\"%s\" suppressed=%llu", peer, key,
               domain, mech, v->reason, (unsigned long long)z->log_suppressed);
    z->log_suppressed = 0;
}

/* Serves one request: receive, decide, count, log, reply. */
static void zap_serve_one(psync_zap *z)
{
    zap_request req;
    if (zap_recv(z->rep, &req)) return;
    zap_verdict v;
    zap_decide(z, &req, &v);
    if (v.code[0] == '2') {
        atomic_fetch_add(&z->accepted, 1);
        char peer[64];
        zap_frame_text(&req, 3, peer, sizeof peer);
        PSYNC_INFO("auth_accepted", "peer=%s name=%s", peer, v.user);
    } else {
        atomic_fetch_add(&z->denied, 1);
        zap_log_denial(z, &req, &v);
    }
    zap_reply(z->rep, &req, &v);
    for (int i = 0; i < req.n; i++)
        zmq_msg_close(&req.frames[i]);
}

/* The handler thread: serves requests until told to stop (or ETERM). */
static void *zap_thread(void *arg)
{
    psync_zap *z = arg;
    zmq_pollitem_t items[2] = {{z->rep, 0, ZMQ_POLLIN, 0}, {z->ctl_thread, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR) continue;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN) break;
        if (items[0].revents & ZMQ_POLLIN) zap_serve_one(z);
    }
    return NULL;
}

/* Creates a socket of type on ctx with linger 0; NULL on failure. */
static void *zap_socket(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

/* Closes whatever sockets z holds and frees it. */
static void zap_free(psync_zap *z)
{
    if (z->rep) zmq_close(z->rep);
    if (z->ctl_thread) zmq_close(z->ctl_thread);
    if (z->ctl_main) zmq_close(z->ctl_main);
    free(z);
}

/* Creates and binds the REP socket and the stop pipe. */
static psync_err zap_open(psync_zap *z, void *ctx)
{
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://psync-zap-ctl-%p", (void *)z);
    z->rep = zap_socket(ctx, ZMQ_REP);
    z->ctl_thread = zap_socket(ctx, ZMQ_PAIR);
    z->ctl_main = zap_socket(ctx, ZMQ_PAIR);
    if (!z->rep || !z->ctl_thread || !z->ctl_main)
        return psync_fail(PSYNC_EIO, "ZAP sockets: %s", zmq_strerror(zmq_errno()));
    if (zmq_bind(z->rep, ZAP_ENDPOINT) != 0)
        return zmq_errno() == EADDRINUSE
                   ? psync_fail(PSYNC_EBUSY, "this ZeroMQ context already has a ZAP handler")
                   : psync_fail(PSYNC_EIO, "bind %s: %s", ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
    if (zmq_bind(z->ctl_thread, ctl) || zmq_connect(z->ctl_main, ctl))
        return psync_fail(PSYNC_EIO, "ZAP stop pipe: %s", zmq_strerror(zmq_errno()));
    return PSYNC_OK;
}

psync_err psync_zap_start(void *zmq_ctx, const psync_allowlist *allow, psync_zap **out)
{
    *out = NULL;
    psync_zap *z = calloc(1, sizeof *z);
    if (!z) return psync_fail(PSYNC_ENOMEM, "ZAP handler");
    z->allow = allow;
    atomic_init(&z->accepted, 0);
    atomic_init(&z->denied, 0);
    psync_err err = zap_open(z, zmq_ctx);
    if (!err && pthread_create(&z->thread, NULL, zap_thread, z) != 0)
        err = psync_fail(PSYNC_EIO, "ZAP handler thread: cannot start");
    if (err) {
        zap_free(z);
        return err;
    }
    *out = z;
    return PSYNC_OK;
}

void psync_zap_counts(const psync_zap *z, uint64_t *accepted, uint64_t *denied)
{
    *accepted = z ? atomic_load(&((psync_zap *)z)->accepted) : 0;
    *denied = z ? atomic_load(&((psync_zap *)z)->denied) : 0;
}

void psync_zap_stop(psync_zap **zp)
{
    if (!zp || !*zp) return;
    psync_zap *z = *zp;
    zmq_send(z->ctl_main, "", 0, ZMQ_DONTWAIT);
    pthread_join(z->thread, NULL);
    /* Unbinding unregisters the endpoint at once (closing does it later, in
     * libzmq's reaper): from here every new handshake fails closed. */
    zmq_unbind(z->rep, ZAP_ENDPOINT);
    zap_free(z);
    *zp = NULL;
}
