/* follow_stream.c: a standby receiving its primary's BOOTSTRAP and MERGED
 * streams (follow.c). Chunks are checked on arrival and held as ZeroMQ
 * delivered them; a newer stream replaces an unfinished one (latest
 * wins). A whole bootstrap blob is decoded with the daemon's limits and
 * installed as the model; a whole merged payload is copied (crc fused)
 * into a free pool buffer that becomes the current version. */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "daemon.h"

/* Counts and logs (rate-limited) a refused input from the primary. */
static void psd_follow_refuse(psd *d, psync_err e, const char *what)
{
    d->follow.refused++;
    if (psd_log_budget(d))
        PSYNC_WARN("standby_input_refused", "what=%s error=%s detail=\"%s\" refused=%llu", what,
                   psync_wire_err_name(e), psync_errdetail(),
                   (unsigned long long)d->follow.refused);
}

/* The whole bootstrap blob is in: decode (limits, layout, finite), install. */
static psync_err psd_follow_install_blob(psd *d)
{
    psd_follow *f = &d->follow;
    uint64_t cb = f->chunk_bytes, total = f->in.total;
    uint8_t *buf = aligned_alloc(64, (total + 63) & ~(uint64_t)63);
    psync_model *model = NULL;
    psync_err e;
    if (!buf)
        return psync_fail(PSYNC_ENOMEM, "bootstrap blob of %llu bytes", (unsigned long long)total);
    for (uint64_t k = 0; k < f->in.n_chunks; k++)
        memcpy(buf + k * cb, psd_inbound_chunk(&f->in, k),
               total - k * cb < cb ? total - k * cb : cb);
    psd_reason why;
    if ((e = psd_model_decode(d, &buf, total, f->layout, "the primary's bootstrap blob", &model,
                              &why))) {
        free(buf);
        return e;
    }
    return psd_model_install(d, model, f->version);
}

/* The whole merged payload is in: copy it into a free pool buffer. */
static psync_err psd_follow_install_merged(psd *d)
{
    psd_follow *f = &d->follow;
    uint64_t cb = f->chunk_bytes;
    psd_rcbuf *out = psd_merge_acquire(d);
    if (!out) return psync_fail(PSYNC_EBUSY, "no free merged buffer: version skipped");
    for (uint64_t k = 0; k < f->in.n_chunks; k++) {
        uint64_t len = d->payload_len - k * cb < cb ? d->payload_len - k * cb : cb;
        out->crc[k] = psync_wire_copy_crc(out->data + k * cb, psd_inbound_chunk(&f->in, k), len);
    }
    out->version = d->version = f->version;
    d->cur = out;
    psd_state_advance(d, &f->in); /* the primary's training state */
    return PSYNC_OK;
}

/* A stream is complete: install it, then release its frames. */
static void psd_follow_complete(psd *d)
{
    psd_follow *f = &d->follow;
    bool blob = f->type == PSYNC_MSG_BOOTSTRAP;
    psync_err e = blob ? psd_follow_install_blob(d) : psd_follow_install_merged(d);
    psd_inbound_clear(&f->in);
    if (e) {
        psd_follow_refuse(d, e, blob ? "bootstrap" : "merged");
        return;
    }
    d->version_inc = f->inc; /* the primary merged it: workers hold the same */
    f->versions++;
    PSYNC_DEBUG("standby_version", "version=%llu kind=%s", (unsigned long long)d->version,
                blob ? "bootstrap" : "merged");
}

/* Checks one chunk's header against what this standby can take. */
static psync_err psd_follow_check(psd *d, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    psd_follow *f = &d->follow;
    bool blob = h->t == PSYNC_MSG_BOOTSTRAP;
    if (!blob && (!d->tmpl || h->layout != d->layout || h->total != d->payload_len))
        return psync_fail(PSYNC_EMISMATCH,
                          "merged stream for layout %016llx (%llu bytes) does "
                          "not fit the standby's model: bootstrap first",
                          (unsigned long long)h->layout, (unsigned long long)h->total);
    if (h->version <= d->version && d->tmpl)
        return psync_fail(PSYNC_ESTALE, "version %llu is not newer than the standby's %llu",
                          (unsigned long long)h->version, (unsigned long long)d->version);
    psync_err e =
        psync_wire_chunk_check(h, blob ? zmq_msg_data(frame) : NULL, zmq_msg_size(frame),
                               f->chunk_bytes, blob ? d->set.max_model_bytes : d->payload_len);
    if (e || blob) return e;
    return psd_merge_chunk_verify(d, h->offset / f->chunk_bytes, zmq_msg_data(frame),
                                  zmq_msg_size(frame), (uint32_t)h->crc);
}

/* One MERGED or BOOTSTRAP chunk from the primary. */
static void psd_follow_chunk(psd *d, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    psd_follow *f = &d->follow;
    psync_err e = psd_follow_check(d, h, frame);
    if (e == PSYNC_ESTALE) return; /* an older version still in flight: no fault */
    if (e) {
        psd_inbound_clear(&f->in); /* a refused chunk voids the stream it was part of */
        psd_follow_refuse(d, e, psync_wire_type_name(h->t));
        return;
    }
    bool fresh = !f->in.received || f->type != h->t || f->version != h->version ||
                 f->layout != h->layout || f->in.total != h->total;
    uint64_t n = (h->total + f->chunk_bytes - 1) / f->chunk_bytes;
    if (fresh && (e = psd_inbound_begin(&f->in, h->total, n))) {
        psd_follow_refuse(d, e, psync_wire_type_name(h->t));
        return;
    }
    f->type = h->t;
    f->version = h->version;
    f->layout = h->layout;
    f->in.gstep = h->gstep;
    f->in.seen = h->seen;
    f->in.ostep = h->ostep;
    if (psd_inbound_put(&f->in, h->offset / f->chunk_bytes, frame, (uint32_t)h->crc, false))
        psd_follow_complete(d);
}

/* Handles one message read from the primary's bulk socket. */
static void psd_follow_message(psd *d, zmq_msg_t *fr, int n, bool extra)
{
    psd_follow *f = &d->follow;
    psync_wire_hdr h;
    psync_err e = n >= 1 ? psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), &h)
                         : psync_fail(PSYNC_EPROTO, "empty message");
    if (e) {
        psd_follow_refuse(d, e, "bulk");
        return;
    }
    if (h.t == PSYNC_MSG_ERROR) {
        psd_follow_control(d, &h);
        return;
    }
    if ((h.t != PSYNC_MSG_MERGED && h.t != PSYNC_MSG_BOOTSTRAP) || extra || n != 2 || !f->m ||
        h.inc != f->inc) {
        e = psync_fail(PSYNC_EPROTO, "'%s' (%d frames) from incarnation %016llx not expected",
                       psync_wire_type_name(h.t), n, (unsigned long long)h.inc);
        psd_follow_refuse(d, e, "bulk");
        return;
    }
    psd_follow_chunk(d, &h, &fr[1]);
}

void psd_follow_bulk_readable(psd *d)
{
    for (int i = 0; i < 64 && d->follow.bulk; i++) {
        zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
        int n;
        bool extra;
        if (psync_wire_recv(d->follow.bulk, fr, &n, &extra)) return;
        psd_follow_message(d, fr, n, extra);
        for (int j = 0; j < n; j++)
            zmq_msg_close(&fr[j]);
    }
}
