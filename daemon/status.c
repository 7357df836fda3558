/* status.c: the STATUS reply: one msgpack document (documented in
 * docs/protocol.md) with the daemon's version, policy, counters by refusal
 * reason and every member's progress. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "mpwrite.h"

static void psd_kv_u(msgpack_packer *pk, const char *k, uint64_t v)
{
    psync_mp_pack_cstr(pk, k);
    msgpack_pack_uint64(pk, v);
}

static void psd_status_member(msgpack_packer *pk, const psd *d, const psd_member *m, uint64_t now)
{
    msgpack_pack_map(pk, 14);
    psd_kv_u(pk, "id", m->id);
    psync_mp_pack_cstr(pk, "name");
    psync_mp_pack_cstr(pk, m->name);
    psync_mp_pack_cstr(pk, "rank");
    msgpack_pack_int64(pk, m->rank);
    psd_kv_u(pk, "held", m->held);
    psd_kv_u(pk, "lag", d->version > m->held ? d->version - m->held : 0);
    psd_kv_u(pk, "samples", m->samples);
    psd_kv_u(pk, "snapshots", m->snapshots);
    psd_kv_u(pk, "last_seen_ms", now - m->last_seen_ms);
    psd_kv_u(pk, "last_publish_ms", now - m->last_publish_ms);
    psd_kv_u(pk, "bytes_in", m->bytes_in);
    psd_kv_u(pk, "bytes_out", m->bytes_out);
    psync_mp_pack_cstr(pk, "attached");
    m->attached ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    psync_mp_pack_cstr(pk, "role");
    psync_mp_pack_cstr(pk, m->follower ? "standby" : "worker");
    psync_mp_pack_cstr(pk, "transport");
    psync_mp_pack_cstr(pk, m->shm ? "shm" : "frames");
}

static void psd_status_pack(msgpack_packer *pk, const psd *d)
{
    uint64_t now = psd_now_ms();
    psync_security_counts sc = {0, 0};
    if (d->sec) psync_security_counts_get(d->sec, &sc);
    msgpack_pack_map(pk, 21);
    psd_kv_u(pk, "inc", d->inc);
    psd_kv_u(pk, "epoch", d->epoch);
    psync_mp_pack_cstr(pk, "role");
    psync_mp_pack_cstr(pk, d->standby ? "standby" : "primary");
    psync_mp_pack_cstr(pk, "security");
    psync_mp_pack_cstr(pk, !d->sec || psync_security_is_plain(d->sec) ? "plain" : "curve");
    psd_kv_u(pk, "auth_accepted", sc.accepted);
    psd_kv_u(pk, "auth_denied", sc.denied);
    psd_kv_u(pk, "version", d->version);
    psync_mp_pack_cstr(pk, "policy");
    psync_mp_pack_cstr(pk, psd_policy_name(d->set.policy));
    psd_kv_u(pk, "layout", d->layout);
    psd_kv_u(pk, "payload_bytes", d->payload_len);
    psd_kv_u(pk, "merges", d->merges);
    psd_kv_u(pk, "last_merge_us", d->last_merge_us);
    psd_kv_u(pk, "snapshots", d->snapshots_in);
    psd_kv_u(pk, "bytes_in", d->bytes_in);
    psd_kv_u(pk, "bytes_out", d->bytes_out);
    psd_kv_u(pk, "shm_bytes_in", d->shm_bytes_in);
    psd_kv_u(pk, "shm_bytes_out", d->shm_bytes_out);
    psd_kv_u(pk, "followed_versions", d->follow.versions);
    psd_kv_u(pk, "follow_refused", d->follow.refused);
    psync_mp_pack_cstr(pk, "refused");
    msgpack_pack_map(pk, PSD_R_COUNT_);
    for (int r = 0; r < PSD_R_COUNT_; r++)
        psd_kv_u(pk, psd_reason_name((psd_reason)r), d->refused[r]);
    psync_mp_pack_cstr(pk, "members");
    msgpack_pack_array(pk, d->n_members);
    for (uint32_t i = 0; i < d->n_members; i++)
        psd_status_member(pk, d, d->members[i], now);
}

void psd_status_reply(psd *d, const uint8_t *rid, size_t rid_len)
{
    msgpack_packer pk;
    psync_mpbuf mb;
    zmq_msg_t doc;
    psync_mpbuf_packer(&pk, &mb, NULL, 0);
    psd_status_pack(&pk, d);
    if (zmq_msg_init_size(&doc, mb.len)) return;
    psync_mpbuf_packer(&pk, &mb, zmq_msg_data(&doc), zmq_msg_size(&doc));
    psd_status_pack(&pk, d);
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_STATUS, d->inc);
    h.version = d->version;
    h.epoch = d->epoch;
    if (psync_wire_send(d->control, rid, rid_len, &h, &doc, ZMQ_DONTWAIT)) zmq_msg_close(&doc);
}
