/* follow.c: a standby's own copy of its primary's merged model. The
 * standby joins the primary as a follower (FOLLOW on the watch socket,
 * ATTACH on a DEALER to the primary's bulk socket, one routing id for
 * both), bootstraps the whole model once, then receives every merged
 * version the primary streams. Each chunk is checked (offset, length, crc,
 * finiteness) as it arrives and held as received; a complete version
 * becomes this daemon's current one, so a promotion serves at once from
 * it. Versions never go back; the primary's input is checked like a
 * worker's. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "blob.h"
#include "daemon.h"
#include "address.h"

psync_err psd_follow_open(psd *d)
{
    psd_follow *f = &d->follow;
    int zero = 0, hwm = 64;
    int64_t maxmsg = (int64_t)d->set.max_message_bytes;
    psync_err e;
    if (getrandom(f->rid, sizeof f->rid, 0) != sizeof f->rid)
        return psync_fail(PSYNC_EIO, "getrandom for the standby's routing id failed");
    f->rid[0] |= 1; /* a routing id must not start with a zero byte */
    if (d->set.standby_bulk[0])
        snprintf(f->bulk_ep, sizeof f->bulk_ep, "%s", d->set.standby_bulk);
    else if ((e = psync_address_derive(d->set.standby_of, NULL, f->bulk_ep, sizeof f->bulk_ep)))
        return e;
    f->bulk = zmq_socket(d->ctx, ZMQ_DEALER);
    if (!f->bulk || zmq_setsockopt(f->bulk, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(f->bulk, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(f->bulk, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(f->bulk, ZMQ_ROUTING_ID, f->rid, sizeof f->rid) ||
        zmq_setsockopt(d->watch, ZMQ_ROUTING_ID, f->rid, sizeof f->rid))
        return psync_fail(PSYNC_EIO, "standby bulk %s: %s", f->bulk_ep, zmq_strerror(zmq_errno()));
    if ((e = psync_security_apply(d->watch_sec, f->bulk, f->bulk_ep))) return e;
    if (zmq_connect(f->bulk, f->bulk_ep))
        return psync_fail(PSYNC_EIO, "standby bulk %s: %s", f->bulk_ep, zmq_strerror(zmq_errno()));
    return PSYNC_OK;
}

void psd_follow_close(psd *d)
{
    psd_follow *f = &d->follow;
    psd_inbound_free(&f->in);
    if (f->bulk) zmq_close(f->bulk);
    f->bulk = NULL;
    f->m = f->inc = 0;
}

/* Sends one control message to the primary (dropped if not connected). */
static void psd_follow_send(psd *d, psync_wire_hdr *h)
{
    psync_wire_send(d->watch, NULL, 0, h, NULL, ZMQ_DONTWAIT);
}

void psd_follow_tick(psd *d)
{
    psd_follow *f = &d->follow;
    psync_wire_hdr h;
    if (!f->m) {
        psync_wire_init(&h, PSYNC_MSG_FOLLOW, 0);
        snprintf(h.name, sizeof h.name, "standby:%ld", (long)getpid());
        h.layout = d->layout;
        h.held = d->version;
        h.held_inc = d->version_inc;
        h.epoch = d->epoch;
        psd_follow_send(d, &h);
        return;
    }
    psync_wire_init(&h, PSYNC_MSG_HEARTBEAT, f->inc);
    h.m = f->m;
    h.held = d->version;
    psd_follow_send(d, &h);
}

/* Asks for the whole model on the bulk socket. */
static void psd_follow_bootstrap(psd *d)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, d->follow.inc);
    h.m = d->follow.m;
    psync_wire_send(d->follow.bulk, NULL, 0, &h, NULL, ZMQ_DONTWAIT);
}

/* Welcome: attach the bulk socket, then bootstrap unless the primary will
 * stream merged versions of a model we already hold. */
static void psd_follow_welcomed(psd *d, const psync_wire_hdr *h)
{
    psd_follow *f = &d->follow;
    if (h->chunk_bytes != d->set.chunk_bytes) {
        if (psd_log_budget(d)) /* FOLLOW is retried every tick */
            PSYNC_ERROR("standby_chunk_bytes",
                        "primary=%llu ours=%llu action=\"give this standby "
                        "--chunk-bytes %llu\"",
                        (unsigned long long)h->chunk_bytes, (unsigned long long)d->set.chunk_bytes,
                        (unsigned long long)h->chunk_bytes);
        return; /* not following: FOLLOW again next tick */
    }
    bool fresh = f->inc != h->inc;
    f->m = h->m;
    f->inc = h->inc;
    f->chunk_bytes = h->chunk_bytes;
    psync_wire_hdr a;
    psync_wire_init(&a, PSYNC_MSG_ATTACH, f->inc);
    a.m = f->m;
    psync_wire_send(f->bulk, NULL, 0, &a, NULL, ZMQ_DONTWAIT);
    if (!strcmp(h->action, "bootstrap")) psd_follow_bootstrap(d);
    if (fresh)
        PSYNC_INFO("standby_following", "primary=%s member=%llu action=%s primary_version=%llu",
                   d->set.standby_of, (unsigned long long)f->m, h->action,
                   (unsigned long long)h->version);
}

void psd_follow_control(psd *d, const psync_wire_hdr *h)
{
    psd_follow *f = &d->follow;
    switch (h->t) {
    case PSYNC_MSG_WELCOME:
        psd_follow_welcomed(d, h);
        break;
    case PSYNC_MSG_ANNOUNCE:
        if (f->m && h->inc == f->inc && h->layout != d->layout) psd_follow_bootstrap(d);
        break;
    case PSYNC_MSG_ERROR:
        f->m = 0; /* dropped or restarted primary: FOLLOW again */
        PSYNC_WARN("standby_refused", "primary=%s code=%s detail=\"%s\"", d->set.standby_of,
                   h->code, h->detail);
        break;
    default:
        if (f->m && h->inc != f->inc) f->m = 0; /* a new incarnation: follow it */
        break;
    }
}
