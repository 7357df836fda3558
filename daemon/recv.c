/* recv.c: receiving one message from a ROUTER socket and checking its
 * envelope before any handler sees it: frame count, header decode,
 * channel and direction of the type, payload presence, incarnation.
 * Anything wrong is refused here (error reply, log, counter). */
#include <string.h>

#include "daemon.h"
#include "recv.h"

void psd_msg_close(psd_msg *msg)
{
    for (int i = 0; i < msg->n; i++)
        zmq_msg_close(&msg->frames[i]);
    msg->n = 0;
}

static psd_reason psd_decode_reason(psync_err e)
{
    if (e == PSYNC_EVERSION) return PSD_R_VERSION;
    return e == PSYNC_EPROTO ? PSD_R_TYPE : PSD_R_MALFORMED;
}

/* Checks type against the socket and the frames; 0 or a refusal reason. */
static psd_reason psd_envelope(psd *d, psd_msg *msg, psync_wire_channel ch, psync_err *err)
{
    const psync_wire_msg_info *mi = psync_wire_msg(msg->h.t);
    bool want_payload = mi->payload != PSYNC_PL_NONE;
    if (!(mi->channel & ch) || !(mi->dir & PSYNC_DIR_TO_DAEMON)) {
        *err = psync_fail(PSYNC_EPROTO, "'%s' is not accepted on the %s socket", mi->name,
                          ch == PSYNC_CH_CONTROL ? "control" : "bulk");
        return PSD_R_TYPE;
    }
    if (msg->extra || msg->n != (want_payload ? 3 : 2)) {
        *err = psync_fail(PSYNC_EPROTO, "'%s' needs %s payload frame", mi->name,
                          want_payload ? "one" : "no");
        return PSD_R_FRAMES;
    }
    bool any_inc = msg->h.t == PSYNC_MSG_HELLO || msg->h.t == PSYNC_MSG_FOLLOW ||
                   msg->h.t == PSYNC_MSG_STATUS_REQ;
    if (!any_inc && msg->h.inc != d->inc) {
        *err =
            psync_fail(PSYNC_ESTALE, "incarnation %016llx is not this daemon's %016llx: send hello",
                       (unsigned long long)msg->h.inc, (unsigned long long)d->inc);
        return PSD_R_INCARNATION;
    }
    return PSD_R_COUNT_;
}

bool psd_recv(psd *d, void *sock, psync_wire_channel ch, psd_msg *msg)
{
    memset(msg, 0, sizeof *msg);
    if (psync_wire_recv(sock, msg->frames, &msg->n, &msg->extra)) return false;
    msg->rid = zmq_msg_data(&msg->frames[0]);
    msg->rid_len = zmq_msg_size(&msg->frames[0]);
    if (ch == PSYNC_CH_CONTROL && !psd_rate_admit(d, msg->rid, msg->rid_len)) {
        psd_msg_close(msg); /* over its rate: dropped unanswered, counted */
        return false;
    }
    psync_err e;
    psd_reason r;
    if (msg->n < 2) {
        e = psync_fail(PSYNC_EPROTO, "message without a header frame");
        r = PSD_R_FRAMES;
    } else if ((e = psync_wire_decode(zmq_msg_data(&msg->frames[1]), zmq_msg_size(&msg->frames[1]),
                                      &msg->h))) {
        r = psd_decode_reason(e);
    } else if ((r = psd_envelope(d, msg, ch, &e)) == PSD_R_COUNT_) {
        msg->payload = msg->n == 3 ? &msg->frames[2] : NULL;
        return true;
    }
    psd_refuse(d, sock, msg->rid, msg->rid_len, r, e,
               msg->h.t ? psync_wire_type_name(msg->h.t) : "");
    psd_msg_close(msg);
    return false;
}

psd_member *psd_msg_member(psd *d, void *sock, psd_msg *msg)
{
    psd_member *m = psd_member_by_rid(d, msg->rid, msg->rid_len);
    if (!m || m->id != msg->h.m) {
        psync_err e = psync_fail(PSYNC_ENOTFOUND, "member %llu is unknown here: send hello",
                                 (unsigned long long)msg->h.m);
        psd_refuse(d, sock, msg->rid, msg->rid_len, PSD_R_MEMBER, e,
                   psync_wire_type_name(msg->h.t));
        return NULL;
    }
    m->last_seen_ms = psd_now_ms();
    return m;
}
