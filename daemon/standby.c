/* standby.c: lineage epochs and the hot standby (docs/recovery.md). A
 * daemon starts at epoch 1. With standby_of it is a standby: it refuses
 * members, follows the primary (follow.c: its own copy of every merged
 * version; heartbeat acks, or status replies until it is welcomed, tell it
 * the primary is alive); once the primary has been
 * silent for standby_silence_ms it promotes itself to the primary's epoch
 * + 1 and serves from that copy (workers holding a newer version upload
 * it, as after a restart). A daemon that hears a hello carrying a higher
 * epoch has been replaced: it fences itself (refuses everyone) and stops. */
#include <signal.h>
#include <string.h>

#include "daemon.h"
#include "secopts.h"

/* The watch connection is a client of the primary like a worker: CURVE
 * with our key_file and the primary's standby_server_key, or plain (loopback,
 * or insecure_plain), by the same rules (protocol/secopts.h). */
static psync_err psd_standby_security(psd *d)
{
    const psd_settings *s = &d->set;
    psync_err e = psync_secopts_client(&d->watch_sec, s->key_file, s->standby_server_key,
                                       s->insecure_plain, s->standby_of, NULL);
    if (e) return psync_fail(e, "standby_of %s: %s", s->standby_of, psync_errdetail());
    return psync_security_apply(d->watch_sec, d->watch, s->standby_of);
}

psync_err psd_standby_open(psd *d)
{
    int zero = 0, hwm = 4;
    psync_err e;
    d->epoch = 1;
    if (!d->set.standby_of[0]) return PSYNC_OK;
    d->watch = zmq_socket(d->ctx, ZMQ_DEALER);
    if (!d->watch || zmq_setsockopt(d->watch, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(d->watch, ZMQ_SNDHWM, &hwm, sizeof hwm))
        return psync_fail(PSYNC_EIO, "standby_of %s: %s", d->set.standby_of,
                          zmq_strerror(zmq_errno()));
    if ((e = psd_standby_security(d)) || (e = psd_follow_open(d))) return e;
    if (zmq_connect(d->watch, d->set.standby_of))
        return psync_fail(PSYNC_EIO, "standby_of %s: %s", d->set.standby_of,
                          zmq_strerror(zmq_errno()));
    d->standby = true;
    d->primary_seen_ms = psd_now_ms();
    PSYNC_INFO("standby", "primary=%s primary_bulk=%s silence_ms=%lld", d->set.standby_of,
               d->follow.bulk_ep, (long long)d->set.standby_silence_ms);
    return PSYNC_OK;
}

void psd_standby_close(psd *d)
{
    psd_follow_close(d);
    if (d->watch) zmq_close(d->watch);
    d->watch = NULL;
    psync_security_destroy(&d->watch_sec);
}

void psd_standby_readable(psd *d)
{
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n;
    bool extra;
    psync_wire_hdr h;
    while (d->watch && !psync_wire_recv(d->watch, fr, &n, &extra)) {
        bool ok = n >= 1 && !psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), &h);
        if (ok && (h.t == PSYNC_MSG_STATUS || h.t == PSYNC_MSG_HEARTBEAT_ACK)) {
            d->primary_seen_ms = psd_now_ms(); /* alive, at this epoch and version */
            d->primary_epoch = h.epoch;
            d->primary_version = h.version;
        }
        if (ok) psd_follow_control(d, &h);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&fr[i]);
    }
}

/* The primary is gone: serve at its epoch + 1 from the followed copy. The
 * versions it announced are burned, so ours never reuse one of its numbers. */
static void psd_standby_promote(psd *d, uint64_t now)
{
    d->epoch = (d->primary_epoch ? d->primary_epoch : 1) + 1;
    d->standby = false;
    if (d->primary_version > d->burned) d->burned = d->primary_version;
    uint64_t followed = d->follow.versions;
    psd_standby_close(d);
    d->round_start_ms = now;
    PSYNC_WARN("promoted",
               "epoch=%llu primary=%s silent_ms=%llu primary_version=%llu version=%llu "
               "followed_versions=%llu",
               (unsigned long long)d->epoch, d->set.standby_of,
               (unsigned long long)(now - d->primary_seen_ms),
               (unsigned long long)d->primary_version, (unsigned long long)d->version,
               (unsigned long long)followed);
}

/* A daemon with no model (a restart) takes over the lineage the workers
 * carry: epoch = the highest they have seen + 1, so a promoted standby that
 * may still live is superseded rather than joined at the same epoch. A
 * daemon with a model never adopts: a newer epoch fences it (below). */
static void psd_standby_adopt(psd *d, uint64_t epoch)
{
    if (epoch + 1 <= d->epoch) return;
    PSYNC_WARN("epoch_adopted",
               "epoch=%llu was=%llu seen_epoch=%llu reason=\"no model: restoring "
               "the lineage the workers hold\"",
               (unsigned long long)(epoch + 1), (unsigned long long)d->epoch,
               (unsigned long long)epoch);
    d->epoch = epoch + 1;
}

/* Counts the distinct workers that said hello within the member timeout;
 * with rid, notes that one first (the oldest entry makes room; a routing id
 * longer than any member may have is not noted). */
static uint32_t psd_standby_knocks(psd *d, const uint8_t *rid, size_t len, uint64_t now)
{
    const uint32_t cap = sizeof d->knocks / sizeof d->knocks[0];
    uint32_t slot = 0, n = 0;
    if (!len || len > sizeof d->knocks[0].rid) rid = NULL;
    for (uint32_t i = 0; rid && i < cap; i++) {
        struct psd_knock *k = &d->knocks[i];
        if (k->len == len && !memcmp(k->rid, rid, len)) {
            slot = i;
            break;
        }
        if (k->ms < d->knocks[slot].ms) slot = i;
    }
    if (rid) {
        memcpy(d->knocks[slot].rid, rid, len);
        d->knocks[slot].len = len;
        d->knocks[slot].ms = now;
    }
    for (uint32_t i = 0; i < cap; i++)
        n += d->knocks[i].len && now - d->knocks[i].ms <= (uint64_t)d->set.member_timeout_ms;
    return n;
}

/* The primary is silent and, with a quorum set, enough workers asked us. */
static bool psd_standby_may_promote(const psd *d, uint64_t now, uint32_t knocks)
{
    if (now - d->primary_seen_ms <= (uint64_t)d->set.standby_silence_ms) return false;
    return !d->set.quorum || knocks >= d->set.quorum;
}

void psd_standby_tick(psd *d)
{
    if (!d->standby) return;
    psd_standby_readable(d);
    uint64_t now = psd_now_ms();
    if (psd_standby_may_promote(d, now, psd_standby_knocks(d, NULL, 0, now))) {
        psd_standby_promote(d, now);
        return;
    }
    psd_follow_tick(d);
    if (d->follow.m) return; /* following: heartbeat acks say the primary is alive */
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    psync_wire_send(d->watch, NULL, 0, &h, NULL, ZMQ_DONTWAIT); /* dropped if not connected */
}

bool psd_standby_admit(psd *d, const uint8_t *rid, size_t rid_len, uint64_t epoch, bool worker)
{
    psync_err e;
    uint64_t now = psd_now_ms();
    if (d->standby && worker && epoch <= d->epoch &&
        psd_standby_may_promote(d, now, psd_standby_knocks(d, rid, rid_len, now)))
        psd_standby_promote(d, now); /* this worker's hello completed the quorum */
    if (epoch > d->epoch && worker && !d->standby && !d->fenced && !d->tmpl && !d->upload.member)
        psd_standby_adopt(d, epoch);
    if (epoch > d->epoch && !d->standby && !d->fenced) {
        d->fenced = true;
        d->stopping = SIGTERM;
        PSYNC_WARN("fenced", "epoch=%llu seen_epoch=%llu action=\"refuse everyone, stop\"",
                   (unsigned long long)d->epoch, (unsigned long long)epoch);
    }
    if (d->fenced || (d->standby && epoch > d->epoch)) {
        e = psync_fail(PSYNC_ESTALE, "epoch %llu is newer than this daemon's %llu: fenced",
                       (unsigned long long)epoch, (unsigned long long)d->epoch);
        psd_refuse(d, d->control, rid, rid_len, PSD_R_STALE, e, "hello");
        return false;
    }
    if (d->standby) {
        e = d->set.quorum && now - d->primary_seen_ms > (uint64_t)d->set.standby_silence_ms
                ? psync_fail(PSYNC_EBUSY,
                             "standby of %s: the primary is silent but fewer than quorum %u "
                             "workers asked this standby: not promoting (split-brain guard)",
                             d->set.standby_of, d->set.quorum)
                : psync_fail(PSYNC_EBUSY, "standby of %s: not serving until promoted",
                             d->set.standby_of);
        psd_refuse(d, d->control, rid, rid_len, PSD_R_STATE, e, "hello");
        return false;
    }
    return true;
}
