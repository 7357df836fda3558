/* handshake.c: the client-side handshake watcher. libzmq retries a failed
 * CURVE handshake silently forever; a socket monitor sees each attempt,
 * so a client can report "refused" (PSYNC_EAUTH) in milliseconds instead of
 * hanging. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "security.h"

#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                        \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

struct psync_handshake_watch {
    void *socket; /* watched, not owned */
    void *pair;   /* our end of the monitor */
};

static atomic_uint handshake_serial;

psync_err psync_handshake_watch_start(void *zmq_ctx, void *socket, psync_handshake_watch **out)
{
    *out = NULL;
    char ep[80];
    snprintf(ep, sizeof ep, "inproc://psync-handshake-%p-%u", socket,
             atomic_fetch_add(&handshake_serial, 1));
    psync_handshake_watch *w = calloc(1, sizeof *w);
    if (!w) return psync_fail(PSYNC_ENOMEM, "handshake watch");
    w->socket = socket;
    if (zmq_socket_monitor(socket, ep, HANDSHAKE_EVENTS) != 0) {
        free(w);
        return psync_fail(PSYNC_EIO, "zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    }
    int zero = 0;
    w->pair = zmq_socket(zmq_ctx, ZMQ_PAIR);
    if (!w->pair || zmq_setsockopt(w->pair, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_connect(w->pair, ep)) {
        psync_err err = psync_fail(PSYNC_EIO, "monitor pipe: %s", zmq_strerror(zmq_errno()));
        psync_handshake_watch_destroy(&w);
        return err;
    }
    *out = w;
    return PSYNC_OK;
}

/* Milliseconds on the monotonic clock. */
static long long handshake_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one event (two frames); returns its number (0 if malformed) and
 * stores the value and the peer endpoint. -1 if nothing could be read. */
static int handshake_read_event(void *pair, uint32_t *value, char *peer, size_t cap)
{
    uint8_t head[6];
    int n = zmq_recv(pair, head, sizeof head, 0);
    if (n < 0) return -1;
    int more = 0;
    size_t len = sizeof more;
    zmq_getsockopt(pair, ZMQ_RCVMORE, &more, &len);
    int m = more ? zmq_recv(pair, peer, cap - 1, 0) : 0;
    peer[m > 0 ? ((size_t)m < cap - 1 ? (size_t)m : cap - 1) : 0] = '\0';
    if (n != 6) return 0;
    uint16_t ev;
    memcpy(&ev, head, 2);
    memcpy(value, head + 2, 4);
    return ev;
}

/* Turns a failure event into PSYNC_EAUTH with a detail an operator can use. */
static psync_err handshake_failure(int ev, uint32_t value, const char *peer)
{
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return psync_fail(PSYNC_EAUTH,
                          "%s refused our key (status %u): add our .pub file to "
                          "the server's allow-list",
                          peer, value);
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return psync_fail(PSYNC_EAUTH,
                          "security mismatch with %s (protocol error 0x%x): does "
                          "one side use CURVE and the other not?",
                          peer, value);
    return psync_fail(PSYNC_EAUTH,
                      "handshake with %s failed (%s): wrong server public key, or "
                      "the server's authenticator is not running",
                      peer, strerror((int)value));
}

psync_err psync_handshake_watch_wait(psync_handshake_watch *w, int timeout_ms)
{
    long long deadline = handshake_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        long long left = deadline - handshake_now_ms();
        zmq_pollitem_t item = {w->pair, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, left > 0 ? left : 0);
        if (rc < 0 && zmq_errno() != EINTR)
            return psync_fail(PSYNC_ECLOSED, "handshake watch: %s", zmq_strerror(zmq_errno()));
        if (rc <= 0 && left <= 0)
            return psync_fail(PSYNC_ETIMEOUT,
                              "no handshake completed within %d ms (server not "
                              "up or not reachable yet?)",
                              timeout_ms);
        if (rc <= 0) continue;
        uint32_t value = 0;
        char peer[256];
        int ev = handshake_read_event(w->pair, &value, peer, sizeof peer);
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) return PSYNC_OK;
        if (ev > 0) return handshake_failure(ev, value, peer);
    }
}

void psync_handshake_watch_destroy(psync_handshake_watch **w)
{
    if (!w || !*w) return;
    zmq_socket_monitor((*w)->socket, NULL, 0);
    if ((*w)->pair) zmq_close((*w)->pair);
    free(*w);
    *w = NULL;
}

psync_err psync_security_watch_handshake(void *zmq_ctx, void *socket, const char *endpoint,
                                         int timeout_ms)
{
    psync_handshake_watch *w;
    psync_err err = psync_handshake_watch_start(zmq_ctx, socket, &w);
    if (err) return err;
    if (zmq_connect(socket, endpoint) != 0)
        err = psync_fail(PSYNC_EIO, "connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    else
        err = psync_handshake_watch_wait(w, timeout_ms);
    psync_handshake_watch_destroy(&w);
    return err;
}
