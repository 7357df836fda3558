/* bulk.c: the bulk socket: attach, model upload chunks, snapshot chunks
 * (checked for layout, staleness, chunk consistency and finiteness before
 * they are held for the merge) and bootstrap requests. */
#include "daemon.h"
#include "recv.h"

static void psd_on_attach(psd *d, psd_member *m)
{
    /* A member that does not hold the current version (a number merged by
     * the same incarnation) gets it to train from; one that does keeps its
     * own progress since (after a failover or a restart, it publishes it). */
    if (d->cur && m->layout == d->layout && !psd_member_current(d, m))
        psd_stream_start(&m->merged, d->cur, PSYNC_MSG_MERGED, d->version, d->layout,
                         d->payload_len);
}

/* Served once m answered its shared-memory offer, if one is out: the
 * blob's payload then comes through shared memory, or as frames. */
static void psd_on_bootstrap_req(psd *d, psd_member *m)
{
    if (psd_shm_pending(m)) {
        m->boot_deferred = true;
        return;
    }
    psync_err e = psd_bootstrap_serve(d, m);
    if (e) psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_STATE, e, "bootstrap_req");
}

/* Checks one snapshot chunk (its bytes too unless late: then the merge
 * checks them as it reads them); PSD_R_COUNT_ if it may be held. */
static psd_reason psd_snapshot_check(psd *d, const psync_wire_hdr *h, zmq_msg_t *frame, bool late,
                                     psync_err *e)
{
    psd_reason why;
    if (!d->cur) {
        *e = psync_fail(PSYNC_EBUSY, "no model yet: wait for announce");
        return PSD_R_STATE;
    }
    if (h->layout != d->layout || h->total != d->payload_len) {
        *e = psync_fail(PSYNC_EMISMATCH,
                        "snapshot layout %016llx (%llu bytes) differs from the cluster's %016llx "
                        "(%llu bytes): bootstrap to get the cluster's model",
                        (unsigned long long)h->layout, (unsigned long long)h->total,
                        (unsigned long long)d->layout, (unsigned long long)d->payload_len);
        return PSD_R_LAYOUT;
    }
    if ((*e = psd_merge_admit(d, h, &why))) return why;
    if ((*e = psync_wire_chunk_check(h, NULL, zmq_msg_size(frame), d->set.chunk_bytes,
                                     d->payload_len)))
        return PSD_R_CHUNK;
    if (late) return PSD_R_COUNT_;
    *e = psd_merge_chunk_verify(d, h->offset / d->set.chunk_bytes, zmq_msg_data(frame),
                                zmq_msg_size(frame), (uint32_t)h->crc);
    if (*e) return *e == PSYNC_ENONFINITE ? PSD_R_NONFINITE : PSD_R_CHUNK;
    return PSD_R_COUNT_;
}

/* A snapshot chunk (late: one in m's shared inbox, see psd_snapshot_check). */
static void psd_on_snapshot(psd *d, psd_member *m, const psync_wire_hdr *h, zmq_msg_t *frame,
                            bool late)
{
    psync_err e = PSYNC_OK;
    const char *ref = late ? "snapshot_shm" : "snapshot";
    psd_reason why = psd_snapshot_check(d, h, frame, late, &e);
    psd_inbound *in = &m->in;
    if (m->follower) {
        e = psync_fail(PSYNC_EPROTO, "a follower (standby) does not publish snapshots");
        why = PSD_R_STATE;
    }
    if (why != PSD_R_COUNT_) {
        psd_inbound_clear(in); /* a refused chunk voids the whole snapshot */
        psd_refuse(d, d->bulk, m->rid, m->rid_len, why, e, ref);
        return;
    }
    bool fresh = !in->received || in->complete || in->base != h->base ||
                 in->samples != h->samples || in->gstep != h->gstep;
    if (fresh && (e = psd_inbound_begin(in, h->total, d->n_chunks))) {
        psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_STATE, e, ref);
        return;
    }
    in->base = h->base;
    in->samples = h->samples;
    in->layout = h->layout;
    in->gstep = h->gstep;
    in->seen = h->seen;
    in->ostep = h->ostep;
    m->bytes_in += zmq_msg_size(frame);
    d->bytes_in += zmq_msg_size(frame);
    uint64_t k = h->offset / d->set.chunk_bytes;
    bool complete = psd_inbound_put(in, k, frame, (uint32_t)h->crc, late);
    if (complete) psd_merge_count(d, m);
    psd_round_chunk(d, m, k); /* sync: may merge and send chunk k now */
    if (complete && in->complete) psd_merge_poll(d);
}

/* A chunk written into m's shared inbox: a frame over it (no copy), then
 * the path of a chunk that came as a frame, its bytes checked late. */
static void psd_on_snapshot_shm(psd *d, psd_member *m, const psync_wire_hdr *h)
{
    zmq_msg_t frame;
    psync_wire_hdr as_frame = *h;
    as_frame.t = PSYNC_MSG_SNAPSHOT;
    if (!psd_shm_snapshot_frame(d, m, h, &frame)) return;
    psd_on_snapshot(d, m, &as_frame, &frame, true);
    zmq_msg_close(&frame);
}

void psd_bulk_readable(psd *d)
{
    psd_msg msg;
    if (!psd_recv(d, d->bulk, PSYNC_CH_BULK, &msg)) return;
    psd_member *m = psd_msg_member(d, d->bulk, &msg);
    if (m) {
        m->attached = true;
        /* once, when it can be: attached, a model; before a bootstrap
         * request is served. The header frame: the routing id frame a
         * ROUTER makes carries no Peer-Address */
        psd_shm_offer(d, m, &msg.frames[1]);
        switch (msg.h.t) {
        case PSYNC_MSG_ATTACH:
            psd_on_attach(d, m);
            break;
        case PSYNC_MSG_MODEL:
            psd_upload_chunk(d, m, &msg.h, msg.payload);
            break;
        case PSYNC_MSG_SNAPSHOT:
            psd_on_snapshot(d, m, &msg.h, msg.payload, false);
            break;
        case PSYNC_MSG_SNAPSHOT_SHM:
            psd_on_snapshot_shm(d, m, &msg.h);
            break;
        case PSYNC_MSG_SHM_ACCEPT:
            psd_shm_accept(d, m, &msg.h);
            break;
        case PSYNC_MSG_BOOTSTRAP_REQ:
            psd_on_bootstrap_req(d, m);
            break;
        default:
            break;
        }
        psd_shm_offer(d, m, &msg.frames[1]); /* an upload may just have installed a model */
    }
    psd_msg_close(&msg);
}
