/* kept.c: the last merged payload a client received, kept for recovery (a
 * restarted daemon restores it from us). Kept without copying it where we
 * can: the frames a merged version arrived in (gathered into one buffer
 * only when a recovery asks for it), the blob we uploaded, or the second
 * copy a bootstrap assembles as its chunks arrive. */
#include <stdlib.h>
#include <string.h>

#include "client.h"

void pc_kept_free(pc_kept *k)
{
    for (uint64_t i = 0; i < k->n_frames; i++)
        zmq_msg_close(&k->frames[i]);
    free(k->frames);
    free(k->crcs);
    free(k->buf);
    memset(k, 0, sizeof *k);
}

void pc_kept_take(psync_client *c, pc_stage *st, uint64_t base, uint64_t len)
{
    pc_kept *k = &c->kept;
    pc_kept_free(k);
    k->frames = st->frames;
    k->crcs = st->crcs;
    k->n_frames = st->n_chunks;
    k->chunk = c->chunk_bytes;
    k->base = base;
    k->len = len;
    k->version = st->version;
    k->layout = st->layout;
    /* the stage keeps its other arrays; it allocates new frames next time */
    st->frames = NULL;
    st->crcs = NULL;
    free(st->have);
    st->have = NULL;
    st->cap_chunks = st->n_chunks = st->received = 0;
    st->complete = false;
}

void pc_kept_give(psync_client *c, uint8_t *buf, uint64_t base, uint64_t len, uint64_t version,
                  uint64_t layout)
{
    pc_kept *k = &c->kept;
    pc_kept_free(k);
    k->buf = buf;
    k->base = base;
    k->len = len;
    k->version = version;
    k->layout = layout;
}

/* A new pre-faulted buffer of len bytes (NULL: logged). */
static uint8_t *pc_kept_alloc(uint64_t len, uint64_t version)
{
    uint8_t *p = pc_buf_alloc(len ? len : 1);
    if (!p)
        PSYNC_WARN("merged_copy_failed", "bytes=%llu version=%llu", (unsigned long long)len,
                   (unsigned long long)version);
    return p;
}

/* Copies the kept payload out of its frames into dst (len bytes), checking
 * each frame's crc on the way; false if one changed since it arrived (a
 * frame over psyncd's shared memory, which psyncd reused). */
static bool pc_kept_gather(const pc_kept *k, uint8_t *dst)
{
    uint64_t lo = k->base, hi = k->base + k->len;
    bool ok = true;
    for (uint64_t i = 0; i < k->n_frames; i++) {
        uint64_t a = i * k->chunk, b = a + zmq_msg_size(&k->frames[i]);
        const uint8_t *src = zmq_msg_data((zmq_msg_t *)&k->frames[i]);
        ok &= !k->crcs || psync_wire_crc(src, b - a) == k->crcs[i];
        if (b <= lo || a >= hi) continue;
        uint64_t from = a > lo ? a : lo, to = b < hi ? b : hi;
        memcpy(dst + (from - lo), src + (from - a), to - from);
    }
    return ok;
}

const uint8_t *pc_kept_payload(psync_client *c)
{
    pc_kept *k = &c->kept;
    if (!k->version) return NULL;
    if (k->buf) return k->buf + k->base;
    uint8_t *p = pc_kept_alloc(k->len, k->version);
    if (!p) return NULL;
    if (!pc_kept_gather(k, p)) {
        PSYNC_WARN("merged_copy_lost",
                   "version=%llu detail=\"psyncd reused the shared buffer it "
                   "was in\"",
                   (unsigned long long)k->version);
        free(p);
        pc_kept_free(k);
        return NULL;
    }
    pc_kept_give(c, p, 0, k->len, k->version, k->layout); /* closes the frames */
    return p;
}
