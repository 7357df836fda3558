/* wire_io.c: moving wire messages through ZeroMQ sockets (one multipart
 * message = [routing id] header [payload]) and checking chunk frames
 * (offset, total, length, crc32) against their header. */
#include "wire.h"

#include <errno.h>
#include <string.h>

psync_err psync_wire_chunk_span(const psync_wire_hdr *h, uint64_t chunk_bytes, uint64_t max_total,
                                uint64_t *len)
{
    const char *tn = psync_wire_type_name(h->t);
    if (h->total > max_total)
        return psync_fail(PSYNC_ELIMIT, "%s: total %llu exceeds the limit %llu", tn,
                          (unsigned long long)h->total, (unsigned long long)max_total);
    if (!chunk_bytes || h->offset >= h->total || h->offset % chunk_bytes)
        return psync_fail(PSYNC_EPROTO,
                          "%s: offset %llu is not a multiple of %llu below total %llu", tn,
                          (unsigned long long)h->offset, (unsigned long long)chunk_bytes,
                          (unsigned long long)h->total);
    *len = h->total - h->offset < chunk_bytes ? h->total - h->offset : chunk_bytes;
    return PSYNC_OK;
}

psync_err psync_wire_chunk_check(const psync_wire_hdr *h, const void *data, size_t len,
                                 uint64_t chunk_bytes, uint64_t max_total)
{
    const char *tn = psync_wire_type_name(h->t);
    uint64_t want = 0;
    psync_err e = psync_wire_chunk_span(h, chunk_bytes, max_total, &want);
    if (e) return e;
    if (len != want)
        return psync_fail(PSYNC_EPROTO, "%s: chunk at %llu has %zu bytes, expected %llu", tn,
                          (unsigned long long)h->offset, len, (unsigned long long)want);
    if (!data) return PSYNC_OK;
    uint32_t crc = psync_wire_crc(data, len);
    if (crc != h->crc)
        return psync_fail(PSYNC_EPROTO, "%s: chunk at %llu has crc32 %08x, header says %08llx", tn,
                          (unsigned long long)h->offset, crc, (unsigned long long)h->crc);
    return PSYNC_OK;
}

static psync_err wire_errno(const char *what)
{
    int err = zmq_errno();
    if (err == EAGAIN) return psync_fail(PSYNC_EBUSY, "%s: queue full", what);
    if (err == EHOSTUNREACH) return psync_fail(PSYNC_ECLOSED, "%s: peer is gone", what);
    if (err == ETERM) return psync_fail(PSYNC_ECLOSED, "%s: context terminated", what);
    return psync_fail(PSYNC_EIO, "%s: %s", what, zmq_strerror(err));
}

psync_err psync_wire_send(void *sock, const void *rid, size_t rid_len, const psync_wire_hdr *h,
                          zmq_msg_t *payload, int flags)
{
    unsigned char buf[PSYNC_WIRE_MAX_HEADER];
    size_t len;
    psync_err e = psync_wire_encode(h, buf, sizeof buf, &len);
    if (e) return e;
    int more = payload ? ZMQ_SNDMORE : 0;
    if (rid_len && zmq_send(sock, rid, rid_len, flags | ZMQ_SNDMORE) < 0)
        return wire_errno(psync_wire_type_name(h->t));
    /* Once the first frame is accepted the rest of the message is too. */
    if (zmq_send(sock, buf, len, (rid_len ? 0 : flags) | more) < 0)
        return wire_errno(psync_wire_type_name(h->t));
    if (payload && zmq_msg_send(payload, sock, 0) < 0)
        return wire_errno(psync_wire_type_name(h->t));
    return PSYNC_OK;
}

psync_err psync_wire_recv(void *sock, zmq_msg_t frames[PSYNC_WIRE_MAX_FRAMES], int *nframes,
                          bool *extra)
{
    int n = 0, more = 1;
    *extra = false;
    while (more) {
        zmq_msg_t tmp, *m = n < PSYNC_WIRE_MAX_FRAMES ? &frames[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < n && i < PSYNC_WIRE_MAX_FRAMES; i++)
                zmq_msg_close(&frames[i]);
            return wire_errno("recv");
        }
        more = zmq_msg_more(m);
        if (m == &tmp) {
            zmq_msg_close(m);
            *extra = true;
        } else {
            n++;
        }
    }
    *nframes = n;
    return PSYNC_OK;
}
