/* shm.c: the same-host path. Every member of a sync cluster whose
 * connection comes from this host (peer.c) is offered an inbox (a sealed
 * memfd), a joiner before its bootstrap. One that maps it, over ipc:// or
 * tcp:// alike, writes its sync snapshots there and sends only their
 * headers; merged buffers live in sealed memfds too, and it is sent only
 * the headers of merged chunks, which it applies from there, and of the
 * payload chunks of its bootstrap, which it keeps there. One that cannot
 * map it declines and stays on frames. Each side copies once instead of
 * the kernel copying twice. */
#include <unistd.h>

#include "daemon.h"

bool psd_shm_wanted(const psd *d)
{
    return d->set.shm && d->set.policy == PSD_SYNC;
}

void psd_shm_offer(psd *d, psd_member *m, const zmq_msg_t *frame)
{
    char peer[96];
    if (!psd_shm_wanted(d) || m->follower || m->shm_declined || m->inbox.p || !m->attached ||
        !d->payload_len || (m->layout != d->layout && m->layout) || !d->cur || !d->cur->shm.p)
        return;
    if (!psd_peer_on_host(frame, peer, sizeof peer)) {
        m->shm_declined = true; /* its frames say it is elsewhere */
        PSYNC_INFO("shm_not_offered", "member=%llu peer=%s reason=\"not on this host\"",
                   (unsigned long long)m->id, peer);
        return;
    }
    psync_err e = psync_shm_create(d->payload_len, "psync-inbox", &m->inbox);
    if (e) {
        PSYNC_WARN("shm_unavailable", "member=%llu detail=\"%s\" fallback=frames",
                   (unsigned long long)m->id, psync_errdetail());
        return;
    }
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_SHM_OFFER, d->inc);
    h.pid = (uint64_t)getpid();
    h.seg = (uint64_t)m->inbox.fd;
    h.sid = m->inbox.id;
    h.total = d->payload_len;
    if (psync_wire_send(d->bulk, m->rid, m->rid_len, &h, NULL, ZMQ_DONTWAIT)) {
        psd_shm_release(m); /* its queue is full: offered again on its next message */
        return;
    }
    PSYNC_INFO("shm_offered", "member=%llu peer=%s inbox_bytes=%llu", (unsigned long long)m->id,
               peer, (unsigned long long)m->inbox.len);
}

void psd_shm_release(psd_member *m)
{
    psync_shm_close(&m->inbox);
    m->shm = false;
}

bool psd_shm_pending(const psd_member *m)
{
    return m->inbox.p && !m->shm && !m->shm_declined;
}

/* The bootstrap m asked for while its offer was unanswered. */
static void psd_shm_serve_deferred(psd *d, psd_member *m)
{
    if (!m->boot_deferred) return;
    m->boot_deferred = false;
    psync_err e = psd_bootstrap_serve(d, m);
    if (e) psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_STATE, e, "bootstrap_req");
}

void psd_shm_accept(psd *d, psd_member *m, const psync_wire_hdr *h)
{
    if (h->sid && m->inbox.p && h->sid == m->inbox.id) {
        m->shm = true;
        PSYNC_INFO("shm_attached", "member=%llu inbox_bytes=%llu", (unsigned long long)m->id,
                   (unsigned long long)m->inbox.len);
        psd_shm_serve_deferred(d, m);
        return;
    }
    if (h->sid) {
        psync_err e = psync_fail(PSYNC_EMISMATCH, "segment %llu is not your inbox: send sid 0",
                                 (unsigned long long)h->sid);
        psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_STATE, e, "shm_accept");
        return;
    }
    bool was = m->shm;
    if (was) psd_inbound_clear(&m->in); /* its frames point into the inbox */
    psd_shm_release(m);
    m->shm_declined = true;
    PSYNC_INFO("shm_declined", "member=%llu was_attached=%d", (unsigned long long)m->id, was);
    if (was && m->boot.buf)
        psd_stream_stop(&m->boot); /* its headers are of no use now: it asks again */
    if (was && !m->boot_deferred && d->cur && m->layout == d->layout && !psd_member_current(d, m))
        psd_stream_start(&m->merged, d->cur, PSYNC_MSG_MERGED, d->version, d->layout,
                         d->payload_len); /* what it could not copy, as frames */
    psd_shm_serve_deferred(d, m);
}

/* Where a SNAPSHOT_SHM chunk lies in m's inbox (*len bytes at h->offset);
 * PSD_R_COUNT_ if it may be held there, else the refusal reason and *e. */
static psd_reason psd_shm_locate(psd *d, const psd_member *m, const psync_wire_hdr *h,
                                 uint64_t *len, psync_err *e)
{
    if (!m->shm) {
        *e = psync_fail(PSYNC_EPROTO, "no shared inbox accepted: send snapshot chunks as frames");
        return PSD_R_STATE;
    }
    if ((*e = psync_wire_chunk_span(h, d->set.chunk_bytes, UINT64_MAX, len))) return PSD_R_CHUNK;
    if (!psync_shm_holds(&m->inbox, h->offset, *len)) {
        *e = psync_fail(PSYNC_ELIMIT, "chunk [%llu, +%llu) lies outside the %llu-byte inbox",
                        (unsigned long long)h->offset, (unsigned long long)*len,
                        (unsigned long long)m->inbox.len);
        return PSD_R_CHUNK;
    }
    return PSD_R_COUNT_;
}

bool psd_shm_snapshot_frame(psd *d, psd_member *m, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    uint64_t len = 0;
    psync_err e = PSYNC_OK;
    psd_reason why = psd_shm_locate(d, m, h, &len, &e);
    if (why == PSD_R_COUNT_ && zmq_msg_init_data(frame, m->inbox.p + h->offset, len, NULL, NULL)) {
        e = psync_fail(PSYNC_ENOMEM, "frame over the inbox");
        why = PSD_R_STATE;
    }
    if (why != PSD_R_COUNT_) {
        psd_inbound_clear(&m->in); /* a refused chunk voids the whole snapshot */
        psd_refuse(d, d->bulk, m->rid, m->rid_len, why, e, "snapshot_shm");
        return false;
    }
    d->shm_bytes_in += len;
    return true;
}

psync_err psd_shm_send_chunk(psd *d, psd_member *m, const psync_wire_hdr *h, psd_rcbuf *buf,
                             uint64_t off, uint64_t len)
{
    bool merged = h->t == PSYNC_MSG_MERGED, boot = h->t == PSYNC_MSG_BOOTSTRAP;
    if (!m->shm || !(merged || boot) || !buf->shm.p) return PSYNC_ENOTFOUND;
    psync_wire_hdr s = *h;
    s.t = merged ? PSYNC_MSG_MERGED_SHM : PSYNC_MSG_BOOTSTRAP_SHM;
    s.seg = (uint64_t)buf->shm.fd;
    s.sid = buf->shm.id;
    s.at = off;
    psync_err e = psync_wire_send(d->bulk, m->rid, m->rid_len, &s, NULL, ZMQ_DONTWAIT);
    if (!e) d->shm_bytes_out += len;
    return e;
}
