/* stream.c: chunked zero-copy sends of a refcounted buffer to one member on
 * the bulk socket (MERGED and BOOTSTRAP). A send that finds the member's
 * queue full (EAGAIN under ROUTER_MANDATORY) is resumed on the next loop
 * turn; a newer version replaces an unfinished older one (latest wins),
 * so memory stays bounded whatever the number or speed of the members. */
#include "daemon.h"

void psd_stream_start(psd_stream *s, psd_rcbuf *buf, psync_msg_type type, uint64_t version,
                      uint64_t layout, uint64_t total)
{
    psd_rcbuf_ref(buf);
    psd_stream_stop(s);
    *s = (psd_stream){.buf = buf,
                      .type = type,
                      .version = version,
                      .layout = layout,
                      .total = total,
                      .limit = total};
}

void psd_stream_start_blob(psd_stream *s, psd_rcbuf *head, psd_rcbuf *buf, uint64_t shift,
                           uint64_t version, uint64_t layout, uint64_t total)
{
    psd_rcbuf_ref(head);
    psd_stream_start(s, buf, PSYNC_MSG_BOOTSTRAP, version, layout, total);
    s->head = head;
    s->shift = shift;
}

void psd_stream_stop(psd_stream *s)
{
    psd_rcbuf_unref(s->buf);
    psd_rcbuf_unref(s->head);
    s->buf = s->head = NULL;
}

/* Where the len bytes at s->next lie (*b at *off) and their crc: in head
 * while they lie in it, else in buf, their crc computed once per head (buf's
 * own are for its chunks, not the blob's) and kept in head for every later
 * joiner of that version and for a send that is retried. */
static uint32_t psd_stream_source(psd *d, psd_stream *s, uint64_t len, psd_rcbuf **b, uint64_t *off)
{
    uint64_t k = s->next / d->set.chunk_bytes;
    psd_rcbuf *h = s->head;
    if (!h || s->next < h->len) {
        *b = h ? h : s->buf;
        *off = s->next;
        return (*b)->crc[k];
    }
    *b = s->buf;
    *off = s->next - s->shift;
    if (k < h->n_known) return h->crc[k];
    uint32_t crc = psync_wire_crc(s->buf->data + *off, len);
    if (k == h->n_known && k < h->n_crc) {
        h->crc[k] = crc;
        h->n_known++;
    }
    return crc;
}

/* Sends one chunk; PSYNC_EBUSY if the member's queue is full. */
static psync_err psd_stream_chunk(psd *d, psd_member *m, psd_stream *s)
{
    uint64_t cb = d->set.chunk_bytes;
    uint64_t len = s->total - s->next < cb ? s->total - s->next : cb;
    psync_wire_hdr h;
    zmq_msg_t frame;
    psync_wire_init(&h, s->type, d->inc);
    h.layout = s->layout;
    h.version = s->version;
    h.offset = s->next;
    h.total = s->total;
    if (d->tmpl) { /* the cluster's training state (a standby keeps it current) */
        h.gstep = d->tmpl->state.global_step;
        h.seen = d->tmpl->state.samples_seen;
        h.ostep = d->tmpl->opt.step;
    }
    psd_rcbuf *b;
    uint64_t off;
    h.crc = psd_stream_source(d, s, len, &b, &off);
    psync_err e = psd_shm_send_chunk(d, m, &h, b, off, len); /* same host: header only */
    if (e == PSYNC_ENOTFOUND && !(e = psd_rcbuf_frame(b, off, len, &frame)) &&
        (e = psync_wire_send(d->bulk, m->rid, m->rid_len, &h, &frame, ZMQ_DONTWAIT)))
        zmq_msg_close(&frame);
    if (e) return e;
    s->next += len;
    m->bytes_out += len;
    d->bytes_out += len;
    return PSYNC_OK;
}

/* Pumps one stream; true while it has chunks it could send now. */
static bool psd_stream_pump(psd *d, psd_member *m, psd_stream *s)
{
    while (s->buf && s->next < s->limit) {
        psync_err e = psd_stream_chunk(d, m, s);
        if (e == PSYNC_EBUSY) return true;
        if (e) {
            PSYNC_WARN("send_failed", "member=%llu type=%s error=%s detail=\"%s\"",
                       (unsigned long long)m->id, psync_wire_type_name(s->type),
                       psync_wire_err_name(e), psync_errdetail());
            psd_stream_stop(s);
            return false;
        }
    }
    if (s->next >= s->total) psd_stream_stop(s);
    return false;
}

void psd_streams_limit(psd *d, const psd_rcbuf *buf, uint64_t limit)
{
    for (uint32_t i = 0; i < d->n_members; i++)
        if (d->members[i]->merged.buf == buf) d->members[i]->merged.limit = limit;
}

void psd_streams_cancel(psd *d, const psd_rcbuf *buf)
{
    for (uint32_t i = 0; i < d->n_members; i++)
        if (d->members[i]->merged.buf == buf) psd_stream_stop(&d->members[i]->merged);
}

bool psd_streams_pump(psd *d)
{
    bool pending = false;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->boot.buf) pending |= psd_stream_pump(d, m, &m->boot);
        if (m->merged.buf && !m->boot.buf) pending |= psd_stream_pump(d, m, &m->merged);
    }
    return pending;
}

void psd_broadcast_merged(psd *d)
{
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->attached && m->layout == d->layout)
            psd_stream_start(&m->merged, d->cur, PSYNC_MSG_MERGED, d->version, d->layout,
                             d->payload_len);
    }
    psd_streams_pump(d);
}
