/* members.c: the member table (sorted by id, so merges run in member-id
 * order), joining, lookups by routing id or id, timeouts and stall
 * reports. A member is identified on both sockets by one routing id. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

psd_member *psd_member_by_rid(psd *d, const uint8_t *rid, size_t len)
{
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->rid_len == len && !memcmp(m->rid, rid, len)) return m;
    }
    return NULL;
}

psd_member *psd_member_by_id(psd *d, uint64_t id)
{
    for (uint32_t i = 0; i < d->n_members; i++)
        if (d->members[i]->id == id) return d->members[i];
    return NULL;
}

psync_err psd_member_join(psd *d, const uint8_t *rid, size_t len, psd_member **out)
{
    psd_member *m = psd_member_by_rid(d, rid, len);
    if (m) {
        *out = m;
        return PSYNC_OK;
    }
    if (d->n_members >= d->set.max_members)
        return psync_fail(PSYNC_ELIMIT, "cluster is full (%u members)", d->set.max_members);
    if (!len || len > PSD_RID_MAX) return psync_fail(PSYNC_EPROTO, "routing id of %zu bytes", len);
    m = calloc(1, sizeof *m);
    if (!m) return psync_fail(PSYNC_ENOMEM, "member");
    m->id = ++d->next_id;
    memcpy(m->rid, rid, len);
    m->rid_len = len;
    m->joined_ms = m->last_seen_ms = m->last_publish_ms = psd_now_ms();
    d->members[d->n_members++] = m; /* ids only grow: the array stays sorted */
    *out = m;
    return PSYNC_OK;
}

void psd_member_drop(psd *d, psd_member *m, const char *why)
{
    uint32_t i = 0;
    while (i < d->n_members && d->members[i] != m)
        i++;
    if (i == d->n_members) return;
    memmove(&d->members[i], &d->members[i + 1], (d->n_members - i - 1) * sizeof *d->members);
    d->n_members--;
    PSYNC_INFO("member_left", "member=%llu name=%s rank=%lld why=%s members=%u",
               (unsigned long long)m->id, m->name, (long long)m->rank, why, d->n_members);
    bool uploader = d->upload.member == m->id;
    psd_inbound_free(&m->in);
    psd_stream_stop(&m->merged);
    psd_stream_stop(&m->boot);
    psd_shm_release(m);
    free(m);
    if (uploader) psd_upload_abort(d, why);
    psd_merge_poll(d);
}

bool psd_member_merges(const psd_member *m)
{
    return m->attached && !m->follower;
}

bool psd_member_current(const psd *d, const psd_member *m)
{
    return m->held == d->version && m->held_inc == d->version_inc;
}

uint32_t psd_members_attached(const psd *d)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->n_members; i++)
        n += psd_member_merges(d->members[i]);
    return n;
}

void psd_members_tick(psd *d)
{
    uint64_t now = psd_now_ms();
    for (uint32_t i = 0; i < d->n_members;) {
        psd_member *m = d->members[i];
        if (now - m->last_seen_ms > (uint64_t)d->set.member_timeout_ms) {
            PSYNC_WARN("member_timeout", "member=%llu name=%s silent_ms=%llu",
                       (unsigned long long)m->id, m->name,
                       (unsigned long long)(now - m->last_seen_ms));
            psd_member_drop(d, m, "timeout");
            continue;
        }
        i++;
    }
}
