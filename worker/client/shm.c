/* shm.c: the client's side of the same-host path. psyncd offers an inbox
 * (a sealed memfd, opened through /proc): sync snapshots are written there
 * with their crc computed in the same pass, and only headers are sent;
 * merged chunks are announced by header and become frames over psyncd's
 * segment (no copy), which then go the way received frames go (held until
 * applied, their crc checked in the apply's copy; kept for recovery, and
 * kept.c checks their crcs again before a recovery upload, since psyncd
 * reuses its buffers). */
#include <stdlib.h>
#include <string.h>

#include "client.h"

static void pc_seg_unref(pc_seg *g)
{
    if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) return;
    psync_shm_close(&g->map);
    free(g);
}

/* ZeroMQ's free function of a frame over a segment. */
static void pc_seg_frame_free(void *data, void *hint)
{
    (void)data;
    pc_seg_unref(hint);
}

void pc_shm_reset(psync_client *c)
{
    psync_shm_close(&c->inbox);
    c->inbox_busy = false;
    for (uint32_t i = 0; i < PC_SHM_SEGS; i++) {
        pc_seg_unref(c->segs[i]); /* frames over it keep it mapped */
        c->segs[i] = NULL;
    }
    c->shm = false;
}

/* Answers an offer: sid = the inbox mapped, or 0 = frames (psyncd frees
 * the inbox and offers no more). */
static psync_err pc_shm_answer(psync_client *c, uint64_t sid)
{
    psync_wire_hdr a;
    psync_wire_init(&a, PSYNC_MSG_SHM_ACCEPT, c->inc);
    a.m = c->member;
    a.sid = sid;
    return psync_wire_send(c->bulk, NULL, 0, &a, NULL, 0);
}

void pc_shm_offer(psync_client *c, const psync_wire_hdr *h)
{
    pc_shm_reset(c);
    if (c->no_shm) {
        pc_shm_answer(c, 0);
        return;
    }
    if (psync_shm_open(h->pid, h->seg, h->sid, h->total, true, &c->inbox)) {
        /* another host, user or pid namespace: the socket carries it all */
        PSYNC_INFO("shm_unavailable", "detail=\"%s\" fallback=frames", psync_errdetail());
        pc_shm_answer(c, 0);
        return;
    }
    if (pc_shm_answer(c, h->sid)) {
        pc_shm_reset(c);
        return;
    }
    c->shm = true;
    c->shm_pid = h->pid;
    PSYNC_INFO("shm_attached", "inbox_bytes=%llu daemon_pid=%llu", (unsigned long long)c->inbox.len,
               (unsigned long long)h->pid);
}

void pc_shm_decline(psync_client *c, const char *why)
{
    PSYNC_WARN("shm_declined", "detail=\"%s\" fallback=frames", why);
    pc_shm_reset(c);
    pc_shm_answer(c, 0);
    c->boot_again = true; /* psyncd stops a bootstrap it was sending through it */
}

/* The daemon's segment sid (at least min_len bytes), mapped on first use
 * (replacing the oldest). */
static pc_seg *pc_shm_segment(psync_client *c, const psync_wire_hdr *h, uint64_t min_len)
{
    for (uint32_t i = 0; i < PC_SHM_SEGS; i++)
        if (c->segs[i] && c->segs[i]->map.id == h->sid) return c->segs[i];
    pc_seg **slot = &c->segs[c->next_seg++ % PC_SHM_SEGS];
    pc_seg_unref(*slot);
    *slot = calloc(1, sizeof **slot);
    if (!*slot) return NULL;
    atomic_init(&(*slot)->refs, 1); /* the cache's reference */
    if (psync_shm_open(c->shm_pid, h->seg, h->sid, min_len, false, &(*slot)->map)) {
        free(*slot);
        *slot = NULL;
    }
    return *slot;
}

/* Makes *frame point at chunk h, whose bytes lie at `at` of the daemon's
 * segment (mapped on first use), after checking its bounds; on failure
 * declines shared memory. Its crc is checked where it is copied (apply.c,
 * or the bootstrap's stage): checked here, psyncd could still change it
 * before then (a segment reused for a later version). */
static psync_err pc_shm_frame(psync_client *c, const psync_wire_hdr *h, uint64_t at,
                              zmq_msg_t *frame)
{
    uint64_t n = 0;
    const char *type = psync_wire_type_name(h->t);
    if (!c->shm) return psync_fail(PSYNC_EPROTO, "%s after shared memory was declined", type);
    psync_err e = psync_wire_chunk_span(h, c->chunk_bytes, UINT64_MAX, &n);
    pc_seg *g = e || at > UINT64_MAX - n ? NULL : pc_shm_segment(c, h, at + n);
    if (!e && !g)
        e = psync_fail(PSYNC_EIO, "segment %llu: %s", (unsigned long long)h->sid,
                       psync_errdetail());
    if (!e && !psync_shm_holds(&g->map, at, n))
        e = psync_fail(PSYNC_EPROTO, "%s chunk at %llu lies outside segment %llu", type,
                       (unsigned long long)at, (unsigned long long)h->sid);
    if (!e) {
        atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
        if (zmq_msg_init_data(frame, g->map.p + at, n, pc_seg_frame_free, g)) {
            pc_seg_unref(g);
            e = psync_fail(PSYNC_ENOMEM, "frame over segment %llu", (unsigned long long)h->sid);
        }
    }
    if (e) pc_shm_decline(c, psync_errdetail());
    return e;
}

psync_err pc_shm_merged(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    return pc_shm_frame(c, h, h->offset, frame);
}

psync_err pc_shm_bootstrap(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    return pc_shm_frame(c, h, h->at, frame);
}

psync_err pc_shm_send(psync_client *c, psync_wire_hdr *h, const uint8_t *data, uint64_t len)
{
    uint64_t cb = c->chunk_bytes, resets = c->resets;
    if (!c->shm || h->t != PSYNC_MSG_SNAPSHOT || !psync_shm_holds(&c->inbox, 0, len))
        return PSYNC_ENOTFOUND;
    if (c->inbox_busy && c->held == c->inbox_base)
        return PSYNC_ENOTFOUND; /* psyncd may still merge the last one from there: frames */
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
    c->inbox_busy = true;
    c->inbox_base = h->base;
    return e ? e : pc_sent_whole(c, resets, h->t);
}
