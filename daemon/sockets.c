/* sockets.c: every ZeroMQ object psyncd creates: the context, its security
 * (CURVE with the ZAP allow-list, or an explicit, logged plain mode) and the
 * control and bulk ROUTER sockets, with all their options in one place.
 * Also tunes glibc malloc first. */
#include <malloc.h>

#include "daemon.h"

/* libzmq allocates each received frame in an I/O thread and frees it in
 * ours; without these glibc returns the heap to the kernel every round and
 * faults it back in (measured 1.4-4.7x slower). Both are needed. */
static void psd_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    /* One arena: ZeroMQ's I/O threads would otherwise allocate frames in
     * per-thread heaps that glibc unmaps whenever they empty, whatever the
     * trim threshold (measured: 15% of the daemon's time in page faults). */
    mallopt(M_ARENA_MAX, 1);
}

static psync_err psd_sockopt(void *s, int opt, int64_t v, const char *name)
{
    int iv = (int)v;
    int rc = opt == ZMQ_MAXMSGSIZE ? zmq_setsockopt(s, opt, &v, sizeof v)
                                   : zmq_setsockopt(s, opt, &iv, sizeof iv);
    if (rc) return psync_fail(PSYNC_EIO, "setsockopt %s: %s", name, zmq_strerror(zmq_errno()));
    return PSYNC_OK;
}

/* One ROUTER socket. Control: small messages, deep queues. Bulk: chunk
 * frames, shallow per-peer queues (HWM counts messages, and every chunk
 * frame is zero-copy so a queue entry costs no memory of its own). */
static psync_err psd_router(psd *d, void **out, const char *ep, bool bulk)
{
    psync_err e = PSYNC_OK;
    void *s = zmq_socket(d->ctx, ZMQ_ROUTER);
    if (!s) return psync_fail(PSYNC_EIO, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int64_t maxmsg = (int64_t)(bulk ? d->set.max_message_bytes : d->set.max_control_bytes);
    /* HANDOVER: a peer reconnecting with its routing id (a worker after a
     * reset, across a partition whose old connection this side still
     * holds) takes the id over; without it ZeroMQ ignores the newcomer
     * until the old connection dies. Ids are 16 random bytes per process. */
    if ((e = psd_sockopt(s, ZMQ_ROUTER_MANDATORY, 1, "ROUTER_MANDATORY")) ||
        (e = psd_sockopt(s, ZMQ_ROUTER_HANDOVER, 1, "ROUTER_HANDOVER")) ||
        (e = psd_sockopt(s, ZMQ_MAXMSGSIZE, maxmsg, "MAXMSGSIZE")) ||
        (e = psd_sockopt(s, ZMQ_SNDHWM, bulk ? 8 : 1000, "SNDHWM")) ||
        (e = psd_sockopt(s, ZMQ_RCVHWM, bulk ? 64 : 1000, "RCVHWM")) ||
        (e = psd_sockopt(s, ZMQ_LINGER, 0, "LINGER")))
        goto close_socket;
    if ((e = psync_security_apply(d->sec, s, ep))) goto close_socket;
    if (zmq_bind(s, ep)) {
        e = psync_fail(PSYNC_EIO, "bind %s: %s", ep, zmq_strerror(zmq_errno()));
        goto close_socket;
    }
    *out = s;
    return PSYNC_OK;
close_socket:
    zmq_close(s);
    return e;
}

/* CURVE when a key file is given; otherwise plain, which is refused for a
 * non-loopback endpoint unless insecure_plain says so (then logged). */
static psync_err psd_security_open(psd *d)
{
    const psd_settings *s = &d->set;
    bool remote = psync_security_required(s->bind_control) || psync_security_required(s->bind_bulk);
    if (*s->key_file && !*s->allow_list)
        return psync_fail(PSYNC_ECONFIG, "key_file needs allow_list: a directory of the workers' "
                                         ".pub files (psync keygen NAME on each worker)");
    if (*s->key_file) /* logs security_curve with our key and the allow-list size */
        return psync_security_server_from_files(&d->sec, d->ctx, s->key_file, s->allow_list);
    if (remote && !s->insecure_plain)
        return psync_fail(PSYNC_ECONFIG,
                          "%s is not loopback: give --key-file and --allow-list "
                          "(psync keygen, docs/security.md) or, knowingly, --insecure-plain",
                          psync_security_required(s->bind_control) ? s->bind_control
                                                                   : s->bind_bulk);
    PSYNC_WARN("security", "mode=plain remote=%s reason=%s", remote ? "true" : "false",
               remote ? "insecure_plain" : "loopback_without_key_file");
    return psync_security_plain_new(&d->sec, remote);
}

psync_err psd_sockets_open(psd *d)
{
    psync_err e;
    psd_tune_malloc();
    d->ctx = zmq_ctx_new();
    if (!d->ctx) return psync_fail(PSYNC_EIO, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    zmq_ctx_set(d->ctx, ZMQ_IO_THREADS, 2);
    if ((e = psd_security_open(d)) ||
        (e = psd_router(d, &d->control, d->set.bind_control, false)) ||
        (e = psd_router(d, &d->bulk, d->set.bind_bulk, true))) {
        psd_sockets_close(d, 0);
        return e;
    }
    return PSYNC_OK;
}

void psd_sockets_close(psd *d, int linger_ms)
{
    if (d->control) {
        zmq_setsockopt(d->control, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(d->control);
    }
    if (d->bulk) {
        zmq_setsockopt(d->bulk, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(d->bulk);
    }
    d->control = d->bulk = NULL;
    psync_security_destroy(&d->sec);
    if (d->ctx) zmq_ctx_term(d->ctx);
    d->ctx = NULL;
}
