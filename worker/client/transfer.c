/* transfer.c: chunked streams on the bulk socket. Sending either copies
 * each chunk into a ZeroMQ message or sends it zero-copy from the caller's
 * buffer and waits until ZeroMQ has released every frame (an in-flight
 * count its I/O threads decrement); either way the buffer is the caller's
 * again on return. Receiving checks every chunk (offset, length, crc) and
 * holds or assembles it, latest version wins. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"
#include "decode_limits.h"

/* ZeroMQ's free function for a zero-copy frame (an I/O thread, or ours on
 * a failed send): one fewer in flight; the last one wakes the poll. */
static void pc_frame_released(void *data, void *hint)
{
    psync_client *c = hint;
    (void)data;
    if (atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_acq_rel) == 1) {
        uint64_t one = 1;
        ssize_t r = write(c->efd, &one, sizeof one); /* fails only if already readable */
        (void)r;
    }
}

void pc_inflight_drain(psync_client *c)
{
    uint64_t v;
    ssize_t r = read(c->efd, &v, sizeof v); /* EAGAIN: nothing to drain */
    (void)r;
}

/* One chunk as a frame: a copy (with its crc in the same pass), or
 * zero-copy over data (counted in flight). */
static psync_err pc_frame(psync_client *c, zmq_msg_t *f, const uint8_t *data, uint64_t n,
                          bool zero_copy, uint32_t *crc)
{
    if (!zero_copy) {
        if (zmq_msg_init_size(f, n))
            return psync_fail(PSYNC_ENOMEM, "chunk of %llu bytes", (unsigned long long)n);
        *crc = psync_wire_copy_crc(zmq_msg_data(f), data, n);
        return PSYNC_OK;
    }
    *crc = psync_wire_crc(data, n);
    atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
    if (zmq_msg_init_data(f, (void *)data, n, pc_frame_released, c)) {
        atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
        return psync_fail(PSYNC_ENOMEM, "chunk of %llu bytes", (unsigned long long)n);
    }
    return PSYNC_OK;
}

/* Gives up on frames ZeroMQ keeps: reconnects (dropping what is queued,
 * which releases it), or fails over to the next daemon if this one has
 * also been silent for the timeout, and says PSYNC_EBUSY. */
static psync_err pc_inflight_abort(psync_client *c)
{
    if (c->n_eps > 1 && pc_now_ms() - c->last_heard_ms >= c->timeout_ms)
        pc_failover(c, "silent");
    else
        pc_reconnect(c, "send stalled");
    uint_fast64_t left = atomic_load(&c->inflight);
    if (left) PSYNC_ERROR("frames_not_released", "count=%llu", (unsigned long long)left);
    return psync_fail(PSYNC_EBUSY, "psyncd at %s took no bytes for %llu ms: reconnecting",
                      c->control_ep, (unsigned long long)c->timeout_ms);
}

/* Waits until ZeroMQ released every zero-copy frame, pumping meanwhile;
 * aborts after the member timeout without progress. */
static psync_err pc_inflight_wait(psync_client *c)
{
    uint64_t since = pc_now_ms();
    uint_fast64_t left = atomic_load(&c->inflight);
    while (left) {
        bool failed = pc_pump(c, 50) != PSYNC_OK;
        uint_fast64_t now = atomic_load(&c->inflight);
        if (now != left) since = pc_now_ms(); /* the daemon is taking bytes */
        left = now;
        if (left && (failed || pc_now_ms() - since >= c->timeout_ms)) return pc_inflight_abort(c);
    }
    return PSYNC_OK;
}

psync_err pc_sent_whole(const psync_client *c, uint64_t resets, psync_msg_type t)
{
    if (c->resets == resets) return PSYNC_OK;
    return psync_fail(PSYNC_EBUSY,
                      "the connection to psyncd was reset while sending (see the reconnect or "
                      "failover line logged): the %s was dropped; send it again once rejoined",
                      psync_wire_type_name(t));
}

psync_err pc_send_chunks(psync_client *c, psync_wire_hdr *h, const uint8_t *data, uint64_t len,
                         bool zero_copy)
{
    uint64_t cb = c->chunk_bytes, resets = c->resets;
    psync_err e = zero_copy ? pc_shm_send(c, h, data, len) : PSYNC_ENOTFOUND;
    if (e != PSYNC_ENOTFOUND) return e; /* through shared memory (or failed there) */
    e = PSYNC_OK;
    h->total = len;
    for (uint64_t off = 0; off < len && !e && c->resets == resets; off += cb) {
        uint64_t n = len - off < cb ? len - off : cb;
        zmq_msg_t frame;
        uint32_t crc = 0;
        h->offset = off;
        if ((e = pc_frame(c, &frame, data + off, n, zero_copy, &crc))) break;
        h->crc = crc;
        if ((e = psync_wire_send(c->bulk, NULL, 0, h, &frame, 0))) zmq_msg_close(&frame);
        pc_tick(c); /* a long upload must not starve heartbeats */
    }
    psync_err w = zero_copy ? pc_inflight_wait(c) : PSYNC_OK;
    if (e || w) return e ? e : w;
    return pc_sent_whole(c, resets, h->t);
}

void pc_stage_drop(pc_stage *st)
{
    for (uint64_t k = 0; st->frames && (st->hold || st->keep) && k < st->n_chunks; k++)
        if (st->have[k]) zmq_msg_close(&st->frames[k]);
    if (st->have) memset(st->have, 0, st->n_chunks);
    st->received = 0;
    st->complete = false;
}

void pc_stage_free(pc_stage *st)
{
    bool hold = st->hold, twin = st->twin_wanted;
    pc_stage_drop(st);
    free(st->buf);
    free(st->twin);
    free(st->frames);
    free(st->crcs);
    free(st->late);
    free(st->have);
    memset(st, 0, sizeof *st);
    st->hold = hold;
    st->twin_wanted = twin;
}

uint8_t *pc_buf_alloc(uint64_t len)
{
    const uint64_t huge = 2u << 20;
    if (len < huge) return aligned_alloc(64, (len + 63) & ~(uint64_t)63);
    uint64_t cap = (len + huge - 1) & ~(huge - 1);
    uint8_t *p = aligned_alloc(huge, cap);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, cap, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
#ifdef MADV_POPULATE_WRITE
    if (p) /* fault it in one call (Linux 5.14+): 50 ms instead of 70 for 100 MB of 4 KiB pages */
        madvise(p, cap, MADV_POPULATE_WRITE);
#endif
    return p;
}

/* The per-chunk arrays for n chunks (reused when they are big enough). */
static bool pc_stage_arrays(pc_stage *st, uint64_t n)
{
    bool framed = st->hold || st->keep;
    if (st->cap_chunks < n || (framed && !st->frames)) {
        free(st->have);
        free(st->frames);
        free(st->crcs);
        free(st->late);
        st->have = calloc(n, 1);
        st->frames = framed ? calloc(n, sizeof *st->frames) : NULL;
        st->crcs = framed ? calloc(n, sizeof *st->crcs) : NULL;
        st->late = st->hold ? calloc(n, 1) : NULL;
        bool ok = st->have && (!framed || (st->frames && st->crcs)) && (!st->hold || st->late);
        st->cap_chunks = ok ? n : 0;
    }
    return st->cap_chunks >= n;
}

/* The assembled buffer and, unless hold or keep, its twin, pre-faulted. */
static bool pc_stage_buffers(pc_stage *st, uint64_t total)
{
    if (st->hold) return true;
    if (st->cap < total) {
        free(st->buf);
        free(st->twin);
        st->twin = NULL;
        st->buf = pc_buf_alloc(total);
        st->cap = st->buf ? total : 0;
    }
    if (st->cap && st->twin_wanted && !st->keep && !st->twin) st->twin = pc_buf_alloc(st->cap);
    return st->cap && (st->twin || !st->twin_wanted || st->keep);
}

/* Starts assembling a new stream (arrays and buffers reused); keep: see
 * pc_stage.keep. */
static psync_err pc_stage_begin(pc_stage *st, const psync_wire_hdr *h, uint64_t cb, bool keep)
{
    uint64_t n = (h->total + cb - 1) / cb;
    pc_stage_drop(st);
    st->keep = keep && st->twin_wanted && !st->hold;
    if (!pc_stage_arrays(st, n) || !pc_stage_buffers(st, h->total))
        return psync_fail(PSYNC_ENOMEM, "staging of %llu bytes", (unsigned long long)h->total);
    st->n_chunks = n;
    st->total = h->total;
    st->version = h->version;
    st->layout = h->layout;
    return PSYNC_OK;
}

/* Stores chunk k: moves the frame (hold) or copies it; checks the crc
 * (a late hold frame's when it is applied). */
static psync_err pc_stage_store(pc_stage *st, const psync_wire_hdr *h, uint64_t k, zmq_msg_t *frame,
                                bool late)
{
    const void *src = zmq_msg_data(frame);
    size_t n = zmq_msg_size(frame);
    uint32_t crc = st->hold && late ? (uint32_t)h->crc
                   : st->hold       ? psync_wire_crc(src, n)
                                    : psync_wire_copy_crc(st->buf + h->offset, src, n);
    if (st->twin && !st->keep) /* the second copy while the chunk is in cache */
        memcpy(st->twin + h->offset, src, n);
    if (crc != h->crc) {
        if (st->have[k] && !st->hold) {
            if (st->keep) zmq_msg_close(&st->frames[k]);
            st->have[k] = 0; /* the copy overwrote it: this chunk must come again */
            st->received--;
        }
        PSYNC_WARN("bad_chunk", "type=%s offset=%llu detail=crc32 mismatch",
                   psync_wire_type_name(h->t), (unsigned long long)h->offset);
        return psync_fail(PSYNC_EPROTO, "%s chunk at %llu: crc32 mismatch",
                          psync_wire_type_name(h->t), (unsigned long long)h->offset);
    }
    if (st->hold || st->keep) {
        if (st->have[k]) zmq_msg_close(&st->frames[k]);
        zmq_msg_init(&st->frames[k]);
        zmq_msg_move(&st->frames[k], frame);
        st->crcs[k] = crc;
        if (st->hold) st->late[k] = late;
    }
    st->received += !st->have[k];
    st->have[k] = 1;
    st->complete = st->received == st->n_chunks;
    return PSYNC_OK;
}

psync_err pc_stage_put(psync_client *c, pc_stage *st, const psync_wire_hdr *h, zmq_msg_t *frame,
                       uint64_t max_total, bool late)
{
    uint64_t cb = c->chunk_bytes;
    if (max_total > psync_default_limits.max_blob_bytes)
        max_total = psync_default_limits.max_blob_bytes;
    if (!cb) return psync_fail(PSYNC_EPROTO, "chunk before welcome");
    psync_err e = psync_wire_chunk_check(h, NULL, zmq_msg_size(frame), cb, max_total);
    if (e) {
        PSYNC_WARN("bad_chunk", "type=%s detail=\"%s\"", psync_wire_type_name(h->t),
                   psync_errdetail());
        return e;
    }
    bool open = st->n_chunks && !st->complete;
    bool same =
        open && st->version == h->version && st->total == h->total && st->layout == h->layout;
    if (!same && open && h->version < st->version)
        return psync_fail(PSYNC_ESTALE, "chunk of older version %llu",
                          (unsigned long long)h->version);
    if (!same && (e = pc_stage_begin(st, h, cb, c->shm))) return e;
    return pc_stage_store(st, h, h->offset / cb, frame, late);
}
