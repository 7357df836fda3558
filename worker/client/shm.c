/* shm.c: the client's side of the same-host path. psyncd offers an inbox
 * (a sealed memfd, opened through /proc): sync snapshots are written there
 * with their crc computed in the same pass, and only headers are sent;
 * merged chunks are announced by header and copied out of psyncd's
 * segment into a frame, which then goes the way a received frame goes
 * (crc check, held until applied, kept for recovery). */
#include <string.h>

#include "client.h"

void pc_shm_reset(psync_client *c)
{
    psync_shm_close(&c->inbox);
    for (uint32_t i = 0; i < PC_SHM_SEGS; i++)
        psync_shm_close(&c->segs[i]);
    c->shm = false;
}

void pc_shm_offer(psync_client *c, const psync_wire_hdr *h)
{
    if (c->no_shm) return;
    pc_shm_reset(c);
    psync_err e = psync_shm_open(h->pid, h->seg, h->sid, h->total, true, &c->inbox);
    if (e) {
        PSYNC_INFO("shm_unavailable", "detail=\"%s\" fallback=frames", psync_errdetail());
        return;
    }
    psync_wire_hdr a;
    psync_wire_init(&a, PSYNC_MSG_SHM_ACCEPT, c->inc);
    a.m = c->member;
    a.sid = h->sid;
    if (psync_wire_send(c->bulk, NULL, 0, &a, NULL, 0)) {
        pc_shm_reset(c);
        return;
    }
    c->shm = true;
    c->shm_pid = h->pid;
    PSYNC_INFO("shm_attached", "inbox_bytes=%llu daemon_pid=%llu", (unsigned long long)c->inbox.len,
               (unsigned long long)h->pid);
}

/* Stops using shared memory and tells the daemon (it sends frames again). */
static void pc_shm_decline(psync_client *c, const char *why)
{
    PSYNC_WARN("shm_declined", "detail=\"%s\" fallback=frames", why);
    pc_shm_reset(c);
    psync_wire_hdr a;
    psync_wire_init(&a, PSYNC_MSG_SHM_ACCEPT, c->inc);
    a.m = c->member;
    a.sid = 0;
    psync_wire_send(c->bulk, NULL, 0, &a, NULL, 0);
}

/* The daemon's segment sid, mapped on first use (replacing the oldest). */
static const psync_shm *pc_shm_segment(psync_client *c, const psync_wire_hdr *h)
{
    for (uint32_t i = 0; i < PC_SHM_SEGS; i++)
        if (c->segs[i].p && c->segs[i].ino == h->sid) return &c->segs[i];
    psync_shm *s = &c->segs[c->next_seg++ % PC_SHM_SEGS];
    psync_shm_close(s);
    if (psync_shm_open(c->shm_pid, h->seg, h->sid, h->total, false, s)) return NULL;
    return s;
}

psync_err pc_shm_merged(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    uint64_t cb = c->chunk_bytes;
    if (!c->shm) return psync_fail(PSYNC_EPROTO, "merged_shm after shared memory was declined");
    const psync_shm *s = pc_shm_segment(c, h);
    psync_err e = PSYNC_OK;
    if (!s)
        e = psync_fail(PSYNC_EIO, "segment %llu: %s", (unsigned long long)h->sid,
                       psync_errdetail());
    else if (!cb || h->offset >= h->total || h->offset % cb)
        e = psync_fail(PSYNC_EPROTO, "merged_shm offset %llu does not start a chunk of %llu",
                       (unsigned long long)h->offset, (unsigned long long)h->total);
    uint64_t n = e ? 0 : h->total - h->offset < cb ? h->total - h->offset : cb;
    if (!e && !psync_shm_holds(s, h->offset, n))
        e = psync_fail(PSYNC_EPROTO, "merged_shm chunk at %llu lies outside segment %llu",
                       (unsigned long long)h->offset, (unsigned long long)h->sid);
    if (!e && zmq_msg_init_size(frame, n))
        e = psync_fail(PSYNC_ENOMEM, "chunk of %llu bytes", (unsigned long long)n);
    if (!e && psync_wire_copy_crc(zmq_msg_data(frame), s->p + h->offset, n) != h->crc) {
        zmq_msg_close(frame); /* read too late: psyncd reused the buffer */
        e = psync_fail(PSYNC_EPROTO, "merged_shm chunk at %llu of version %llu: crc32 mismatch",
                       (unsigned long long)h->offset, (unsigned long long)h->version);
    }
    if (e) {
        pc_shm_decline(c, psync_errdetail());
        return e;
    }
    return PSYNC_OK;
}

psync_err pc_shm_send(psync_client *c, psync_wire_hdr *h, const uint8_t *data, uint64_t len)
{
    uint64_t cb = c->chunk_bytes, resets = c->resets;
    if (!c->shm || h->t != PSYNC_MSG_SNAPSHOT || !psync_shm_holds(&c->inbox, 0, len))
        return PSYNC_ENOTFOUND;
    psync_err e = PSYNC_OK;
    h->t = PSYNC_MSG_SNAPSHOT_SHM;
    h->total = len;
    for (uint64_t off = 0; off < len && !e && c->resets == resets; off += cb) {
        uint64_t n = len - off < cb ? len - off : cb;
        h->offset = off;
        h->crc = psync_wire_copy_crc(c->inbox.p + off, data + off, n);
        e = psync_wire_send(c->bulk, NULL, 0, h, NULL, 0);
        pc_tick(c); /* heartbeats stay on time */
    }
    h->t = PSYNC_MSG_SNAPSHOT;
    if (!e && c->resets != resets)
        e = psync_fail(PSYNC_EBUSY, "the connection to psyncd was reset while publishing: "
                                    "the snapshot was dropped; publish again once rejoined");
    return e;
}
