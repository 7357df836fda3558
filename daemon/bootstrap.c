/* bootstrap.c: the daemon's model. On a first start there is none: one
 * member is asked to upload its blob (MODEL chunks), which becomes the
 * template (graph, tensor table, optimizer, state) and the first merged
 * payload. A joiner gets a BOOTSTRAP: the blob re-encoded from the template
 * and the current merged payload, cached per version. */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "daemon.h"

static void psd_upload_reset(psd_upload *u)
{
    free(u->buf);
    free(u->have);
    memset(u, 0, sizeof *u);
}

void psd_upload_abort(psd *d, const char *why)
{
    PSYNC_WARN("upload_aborted", "member=%llu why=%s", (unsigned long long)d->upload.member, why);
    psd_upload_reset(&d->upload);
    psd_recover_tick(d); /* no model yet: ask the next newest holder */
}

/* A newer version of the installed model (same layout): becomes current
 * in a free pool buffer; in-flight buffers are left to their streams. */
static psync_err psd_model_replace(psd *d, psync_model *model, uint64_t version)
{
    psd_rcbuf *out = d->round.active ? NULL : psd_merge_acquire(d);
    if (!out) {
        psync_model_destroy(&model);
        return psync_fail(PSYNC_EBUSY, "a merge is in flight: restore later");
    }
    memcpy(out->data, model->payload, d->payload_len);
    psd_rcbuf_crcs(out, d->payload_len, d->set.chunk_bytes);
    psync_model_destroy(&d->tmpl);
    d->tmpl = model;
    d->cur = out;
    d->version = out->version = version;
    d->version_inc = d->inc;
    for (uint32_t i = 0; i < d->n_members; i++)
        psd_inbound_clear(&d->members[i]->in); /* trained from older versions */
    d->round_start_ms = psd_now_ms();
    PSYNC_INFO("model_restored", "version=%llu layout=%016llx", (unsigned long long)version,
               (unsigned long long)d->layout);
    return PSYNC_OK;
}

psync_err psd_model_install(psd *d, psync_model *model, uint64_t version)
{
    psync_err e;
    if (!model->payload_len) {
        psync_model_destroy(&model);
        return psync_fail(PSYNC_EFORMAT, "model has an empty payload");
    }
    version = version ? version : 1;
    if (d->tmpl) return psd_model_replace(d, model, version);
    d->payload_len = model->payload_len;
    d->n_chunks = (model->payload_len + d->set.chunk_bytes - 1) / d->set.chunk_bytes;
    if ((e = psync_wire_merge_ranges(model, d->set.merge_slots, &d->ranges, &d->n_ranges)) ||
        (e = psd_rcbuf_new(d->payload_len, d->n_chunks, psd_shm_wanted(d), &d->pool[0]))) {
        psync_model_destroy(&model);
        return e;
    }
    memcpy(d->pool[0]->data, model->payload, d->payload_len);
    psd_rcbuf_crcs(d->pool[0], d->payload_len, d->set.chunk_bytes);
    d->tmpl = model;
    d->layout = psync_model_layout_hash(model);
    d->cur = d->pool[0];
    d->version = d->cur->version = version;
    d->version_inc = d->inc;
    d->round_start_ms = psd_now_ms();
    PSYNC_INFO("model_ready", "version=%llu layout=%016llx payload_bytes=%llu tensors=%u ranges=%u",
               (unsigned long long)d->version, (unsigned long long)d->layout,
               (unsigned long long)d->payload_len, model->n_tensors, d->n_ranges);
    return PSYNC_OK;
}

psync_err psd_model_decode(psd *d, uint8_t **buf, uint64_t len, uint64_t layout, const char *what,
                           psync_model **out, psd_reason *why)
{
    psync_model *model = NULL;
    psync_err e = psync_blob_decode(*buf, len, &d->set.blob_limits, PSYNC_DECODE_TAKE, &model);
    *why = PSD_R_MODEL;
    if (e) return e;
    *buf = NULL; /* the model owns it now */
    uint64_t lay = psync_model_layout_hash(model);
    if (lay != layout || (d->tmpl && lay != d->layout)) {
        *why = PSD_R_LAYOUT;
        e = psync_fail(PSYNC_EMISMATCH, "%s: layout hash %016llx differs from the %s", what,
                       (unsigned long long)lay, d->tmpl ? "cluster's" : "header's");
    } else if ((e = psync_model_check_finite(model,
                                             (1u << PSYNC_ROLE_PARAM) | (1u << PSYNC_ROLE_SLOT)))) {
        *why = PSD_R_NONFINITE;
    }
    if (e) {
        psync_model_destroy(&model);
        return e;
    }
    *out = model;
    return PSYNC_OK;
}

/* The whole blob is in: decode, check, install, announce. */
static void psd_upload_finish(psd *d, psd_member *m, const psync_wire_hdr *h)
{
    psync_model *model = NULL;
    psd_reason why;
    psync_err e = psd_model_decode(d, &d->upload.buf, d->upload.total, h->layout, "uploaded blob",
                                   &model, &why);
    if (!e && d->tmpl && h->version <= d->version) {
        psync_model_destroy(&model); /* fencing: never go back to an older version */
        why = PSD_R_STALE;
        e = psync_fail(PSYNC_ESTALE, "uploaded version %llu is not newer than %llu",
                       (unsigned long long)h->version, (unsigned long long)d->version);
    }
    if (!e) e = psd_model_install(d, model, h->version);
    if (e) {
        psd_refuse(d, d->bulk, m->rid, m->rid_len, why, e, "model");
        psd_upload_abort(d, "bad model");
        return;
    }
    psd_upload_reset(&d->upload);
    if (m->held == d->version && m->held_inc)
        d->version_inc = m->held_inc; /* the merged copy it kept: same content */
    m->layout = d->layout;
    m->held = d->version;
    m->held_inc = d->version_inc;
    psd_control_announce(d);
    /* Members that already hold this model (a restarted daemon recovering
     * from its workers) get the installed version to train from, unless
     * they hold that very version. */
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *o = d->members[i];
        if (o != m && o->attached && o->layout == d->layout && !psd_member_current(d, o))
            psd_stream_start(&o->merged, d->cur, PSYNC_MSG_MERGED, d->version, d->layout,
                             d->payload_len);
    }
}

static psync_err psd_upload_begin(psd *d, const psync_wire_hdr *h)
{
    psd_upload *u = &d->upload;
    u->n_chunks = (h->total + d->set.chunk_bytes - 1) / d->set.chunk_bytes;
    u->buf = aligned_alloc(64, (h->total + 63) & ~(uint64_t)63);
    u->have = calloc(u->n_chunks, sizeof *u->have);
    if (!u->buf || !u->have)
        return psync_fail(PSYNC_ENOMEM, "model upload of %llu bytes", (unsigned long long)h->total);
    u->total = h->total;
    u->layout = h->layout;
    u->received = 0;
    return PSYNC_OK;
}

void psd_upload_chunk(psd *d, psd_member *m, const psync_wire_hdr *h, zmq_msg_t *frame)
{
    psd_upload *u = &d->upload;
    psync_err e = PSYNC_OK;
    if (u->member != m->id) {
        e = psync_fail(PSYNC_EPROTO, "model upload not requested from this member");
        psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_STATE, e, "model");
        return;
    }
    e = psync_wire_chunk_check(h, zmq_msg_data(frame), zmq_msg_size(frame), d->set.chunk_bytes,
                               d->set.max_model_bytes);
    if (e) {
        psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_CHUNK, e, "model");
        return;
    }
    if (u->buf && (u->total != h->total || u->layout != h->layout)) {
        free(u->buf);
        free(u->have);
        u->buf = NULL;
        u->have = NULL;
    }
    if (!u->buf && (e = psd_upload_begin(d, h))) {
        psd_refuse(d, d->bulk, m->rid, m->rid_len, PSD_R_MODEL, e, "model");
        return;
    }
    uint64_t k = h->offset / d->set.chunk_bytes;
    memcpy(u->buf + h->offset, zmq_msg_data(frame), zmq_msg_size(frame));
    u->received += !u->have[k];
    u->have[k] = true;
    if (u->received == u->n_chunks) psd_upload_finish(d, m, h);
}

/* Builds the bootstrap head for the current version into d->boot: the
 * blob's chunks that hold any of its header (encoded from the template),
 * the payload's first bytes copied in behind it, and room for the crcs of
 * every chunk of the blob. The rest of the blob is the merged buffer
 * itself, streamed from where it lies (psd_stream). */
static psync_err psd_bootstrap_build(psd *d)
{
    size_t size, head;
    psync_err e;
    uint64_t cb = d->set.chunk_bytes;
    d->tmpl->state.merge_version = d->version;
    if ((e = psync_blob_size(d->tmpl, &size))) return e;
    if (d->tmpl->payload_len != d->payload_len)
        return psync_fail(PSYNC_EMISMATCH, "template payload %llu bytes, merged %llu",
                          (unsigned long long)d->tmpl->payload_len,
                          (unsigned long long)d->payload_len);
    uint64_t cut = (size - d->payload_len + cb - 1) / cb * cb, n = (size + cb - 1) / cb;
    cut = cut < size ? cut : size;
    if (!d->boot || atomic_load(&d->boot->refs) != 1 || d->boot->len != cut ||
        d->boot->n_crc != n) {
        psd_rcbuf_unref(d->boot);
        d->boot = NULL;
        if ((e = psd_rcbuf_new(cut, n, false, &d->boot))) return e;
    }
    if ((e = psync_blob_encode_head(d->tmpl, d->boot->data, cut, &head))) return e;
    memcpy(d->boot->data + head, d->cur->data, cut - head);
    psd_rcbuf_crcs(d->boot, cut, cb); /* the head's; the payload's as sent */
    d->boot->n_known = (uint32_t)((cut + cb - 1) / cb);
    d->boot->version = d->version;
    d->boot->len = cut;
    d->boot_from = d->cur;
    d->boot_shift = head;
    return PSYNC_OK;
}

psync_err psd_bootstrap_serve(psd *d, psd_member *m)
{
    psync_err e;
    if (!d->cur) return psync_fail(PSYNC_EBUSY, "no model yet: wait for announce");
    bool stale = !d->boot || d->boot->version != d->version || d->boot_from != d->cur;
    if (stale && (e = psd_bootstrap_build(d))) return e;
    uint64_t total = d->boot_shift + d->payload_len;
    psd_stream_start_blob(&m->boot, d->boot, d->cur, d->boot_shift, d->version, d->layout, total);
    psd_stream_stop(&m->merged); /* the blob already holds this version */
    m->layout = d->layout;
    PSYNC_INFO("bootstrap", "member=%llu name=%s version=%llu bytes=%llu",
               (unsigned long long)m->id, m->name, (unsigned long long)d->version,
               (unsigned long long)total);
    return PSYNC_OK;
}
