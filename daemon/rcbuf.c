/* rcbuf.c: reference-counted 64-byte-aligned buffers that ZeroMQ sends
 * zero-copy. Every frame over a buffer holds a reference that a ZeroMQ I/O
 * thread drops once the frame is sent, so a buffer is reused only when no
 * frame still points into it (never overwrite in-flight data). */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* The buffer's bytes: a shared segment when asked and possible, else the
 * heap. */
static uint8_t *psd_rcbuf_alloc(psd_rcbuf *b, uint64_t len, bool shared)
{
    b->shm = (psync_shm){NULL, 0, 0, -1};
    if (shared && !psync_shm_create(len, "psync-merged", &b->shm)) return b->shm.p;
    if (shared)
        PSYNC_WARN("shm_unavailable", "bytes=%llu detail=\"%s\" fallback=frames",
                   (unsigned long long)len, psync_errdetail());
    size_t cap = (size_t)((len + 63) & ~(uint64_t)63);
    return aligned_alloc(64, cap ? cap : 64);
}

static void psd_rcbuf_release(psd_rcbuf *b)
{
    if (b->shm.p)
        psync_shm_close(&b->shm);
    else
        free(b->data);
    free(b->crc);
    free(b);
}

psync_err psd_rcbuf_new(uint64_t len, uint64_t n_chunks, bool shared, psd_rcbuf **out)
{
    psd_rcbuf *b = calloc(1, sizeof *b);
    if (!b) return psync_fail(PSYNC_ENOMEM, "buffer header");
    b->data = psd_rcbuf_alloc(b, len, shared);
    b->crc = calloc(n_chunks ? n_chunks : 1, sizeof *b->crc);
    if (!b->data || !b->crc) {
        psd_rcbuf_release(b);
        return psync_fail(PSYNC_ENOMEM, "buffer of %llu bytes", (unsigned long long)len);
    }
    atomic_init(&b->refs, 1);
    b->len = len;
    b->n_crc = (uint32_t)n_chunks;
    *out = b;
    return PSYNC_OK;
}

void psd_rcbuf_ref(psd_rcbuf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void psd_rcbuf_unref(psd_rcbuf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    psd_rcbuf_release(b);
}

void psd_rcbuf_crcs(psd_rcbuf *b, uint64_t len, uint64_t chunk_bytes)
{
    for (uint64_t k = 0; k < b->n_crc && k * chunk_bytes < len; k++) {
        uint64_t off = k * chunk_bytes;
        uint64_t n = len - off < chunk_bytes ? len - off : chunk_bytes;
        b->crc[k] = psync_wire_crc(b->data + off, n);
    }
}

static void psd_rcbuf_frame_free(void *data, void *hint)
{
    psd_rcbuf_unref(hint);
}

psync_err psd_rcbuf_frame(psd_rcbuf *b, uint64_t off, uint64_t len, zmq_msg_t *msg)
{
    psd_rcbuf_ref(b);
    if (zmq_msg_init_data(msg, b->data + off, len, psd_rcbuf_frame_free, b)) {
        psd_rcbuf_unref(b);
        return psync_fail(PSYNC_ENOMEM, "zero-copy frame");
    }
    return PSYNC_OK;
}
