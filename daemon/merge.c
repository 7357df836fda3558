/* merge.c: the merge policies over the flat f32 payload (merge ranges
 * only; every other byte keeps the template's value):
 *   sync   new = sum_i (n_i / N) w_i over the members whose snapshot has
 *          base == version, summed in member-id order (deterministic);
 *   easgd  new = c + alpha (w - c) per snapshot;
 *   async  new = c + s (w - c), s = 1 / (N * (1 + version - base)), N the
 *          async_members setting or else the largest membership seen (so
 *          the last worker left does not replace the merged model).
 * Results go to a free pool buffer (never one still in flight). */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "kernels.h"

psd_rcbuf *psd_merge_acquire(psd *d)
{
    for (int i = 0; i < PSD_POOL_MAX; i++) {
        psd_rcbuf *b = d->pool[i];
        if (b && b != d->cur && atomic_load(&b->refs) == 1) return b;
    }
    for (int i = 0; i < PSD_POOL_MAX; i++) {
        if (d->pool[i]) continue;
        if (psd_rcbuf_new(d->payload_len, d->n_chunks, psd_shm_wanted(d), &d->pool[i])) return NULL;
        memcpy(d->pool[i]->data, d->cur->data, d->payload_len);
        return d->pool[i];
    }
    return NULL;
}

/* Calls fn for every piece of a merge range inside chunk k. */
typedef void (*psd_seg_fn)(psd *d, uint64_t k, uint64_t off, uint64_t len, void *ctx);

static void psd_merge_segments(psd *d, uint64_t k, psd_seg_fn fn, void *ctx)
{
    uint64_t cb = d->set.chunk_bytes, lo = k * cb, hi = lo + cb;
    for (uint32_t r = 0; r < d->n_ranges; r++) {
        uint64_t a = d->ranges[r].off, b = a + d->ranges[r].len;
        if (b <= lo || a >= hi) continue;
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        fn(d, k, a, b - a, ctx);
    }
}

/* true if every merge-range float inside [lo, hi) of the payload, held at
 * data (which starts at payload offset base), is finite. */
static bool psd_window_finite(const psd *d, const uint8_t *data, uint64_t base, uint64_t lo,
                              uint64_t hi)
{
    for (uint32_t r = 0; r < d->n_ranges; r++) {
        uint64_t a = d->ranges[r].off, b = a + d->ranges[r].len;
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        if (a < b && !psd_k_finite(data + a - base, (b - a) / 4))
            return psync_fail(PSYNC_ENONFINITE, "snapshot has NaN or Inf in bytes [%llu, %llu)",
                              (unsigned long long)a, (unsigned long long)b) == PSYNC_OK;
    }
    return true;
}

/* true if payload bytes [lo, hi) lie inside one merge range, on its floats. */
static bool psd_window_in_range(const psd *d, uint64_t lo, uint64_t hi)
{
    for (uint32_t r = 0; r < d->n_ranges; r++) {
        uint64_t a = d->ranges[r].off, b = a + d->ranges[r].len;
        if (a <= lo && hi <= b) return (lo - a) % 4 == 0 && (hi - lo) % 4 == 0;
    }
    return false;
}

psync_err psd_merge_chunk_verify(psd *d, uint64_t k, const uint8_t *data, uint64_t len,
                                 uint32_t crc)
{
    /* crc32 and the finite check share one pass over 64 KiB blocks: one
     * read of the data for a block inside a merge range (most of them). */
    uint64_t base = k * d->set.chunk_bytes;
    uint32_t c = 0;
    for (uint64_t off = 0; off < len; off += 65536) {
        uint64_t n = len - off < 65536 ? len - off : 65536, lo = base + off;
        bool ok = true, fused = psd_window_in_range(d, lo, lo + n);
        if (fused)
            c = psync_wire_crc_finite(c, data + off, n, &ok);
        else
            c = psync_wire_crc_update(c, data + off, n);
        if (!ok)
            return psync_fail(PSYNC_ENONFINITE, "chunk has NaN or Inf in bytes [%llu, %llu)",
                              (unsigned long long)lo, (unsigned long long)(lo + n));
        if (!fused && !psd_window_finite(d, data, base, lo, lo + n)) return PSYNC_ENONFINITE;
    }
    if (c != crc)
        return psync_fail(PSYNC_EPROTO, "chunk at %llu has crc32 %08x, header says %08x",
                          (unsigned long long)base, c, crc);
    return PSYNC_OK;
}

/* An average of one chunk in progress: at is the payload offset its crc
 * (and the inputs' xcrc, when they are checked here) has covered (bytes
 * between merge ranges keep the template's value). */
typedef struct psd_avg {
    psd_member **who;
    const float *w;
    uint32_t n;
    psd_rcbuf *out;
    uint64_t at;
    uint32_t crc;
    bool finite;
    uint32_t *xcrc; /* n inputs' crcs, or NULL: none came late */
} psd_avg;

/* Continues the inputs' crcs over chunk k's bytes [a->at, to). */
static void psd_avg_inputs_to(const psd *d, psd_avg *a, uint64_t k, uint64_t to)
{
    uint64_t base = k * d->set.chunk_bytes;
    for (uint32_t i = 0; a->xcrc && i < a->n; i++)
        a->xcrc[i] = psync_wire_crc_update(
            a->xcrc[i], psd_inbound_chunk(&a->who[i]->in, k) + a->at - base, to - a->at);
}

static void psd_seg_average(psd *d, uint64_t k, uint64_t off, uint64_t len, void *ctx)
{
    psd_avg *a = ctx;
    uint64_t base = k * d->set.chunk_bytes, n = len / 4;
    const psd_f32u *x[a->n];
    for (uint32_t i = 0; i < a->n; i++)
        x[i] = (const psd_f32u *)(const void *)(psd_inbound_chunk(&a->who[i]->in, k) + off - base);
    a->crc = psync_wire_crc_update(a->crc, a->out->data + a->at, off - a->at);
    psd_avg_inputs_to(d, a, k, off);
    a->crc = psd_k_average((float *)(void *)(a->out->data + off), x, a->w, a->n, n,
                           PSD_K_BLOCK_FLOATS, a->crc, &a->finite, a->xcrc);
    a->at = off + n * 4;
}

typedef struct psd_lerp {
    const psd_member *m;
    float s;
    psd_rcbuf *out;
} psd_lerp;

static void psd_seg_lerp(psd *d, uint64_t k, uint64_t off, uint64_t len, void *ctx)
{
    psd_lerp *l = ctx;
    uint64_t base = k * d->set.chunk_bytes;
    const psd_f32u *x =
        (const psd_f32u *)(const void *)(psd_inbound_chunk(&l->m->in, k) + off - base);
    psd_k_lerp((float *)(void *)(l->out->data + off),
               (const float *)(const void *)(d->cur->data + off), x, l->s, len / 4);
}

uint64_t psd_merge_next_version(const psd *d)
{
    return (d->burned > d->version ? d->burned : d->version) + 1;
}

void psd_merge_commit(psd *d, psd_rcbuf *out, uint64_t t0_us, bool crcs_done)
{
    if (!crcs_done) psd_rcbuf_crcs(out, d->payload_len, d->set.chunk_bytes);
    out->version = d->version = psd_merge_next_version(d);
    d->version_inc = d->inc;
    d->cur = out;
    d->merges++;
    d->last_merge_us = psd_now_us() - t0_us;
}

bool psd_merge_average_chunk(psd *d, uint64_t k, psd_member **who, const float *w, uint32_t n,
                             psd_rcbuf *out)
{
    uint64_t cb = d->set.chunk_bytes, lo = k * cb;
    uint64_t hi = d->payload_len - lo < cb ? d->payload_len : lo + cb;
    uint32_t xcrc[n];
    bool late = false;
    for (uint32_t i = 0; i < n; i++) {
        late |= who[i]->in.late[k];
        xcrc[i] = 0;
    }
    psd_avg a = {who, w, n, out, lo, 0, true, late ? xcrc : NULL};
    psd_merge_segments(d, k, psd_seg_average, &a); /* ranges come sorted */
    out->crc[k] = psync_wire_crc_update(a.crc, out->data + a.at, hi - a.at);
    psd_avg_inputs_to(d, &a, k, hi);
    bool intact = true; /* every input is the bytes its header declared */
    for (uint32_t i = 0; late && i < n; i++)
        intact &= xcrc[i] == who[i]->in.crc[k];
    return a.finite && intact;
}

/* Why member m's chunk k (len bytes at base) fails when merged, or
 * PSD_R_COUNT_ if it does not: its bytes no longer match its declared crc
 * (checked late only; *e says so), or it holds NaN or Inf. */
static psd_reason psd_merge_fault(psd *d, const psd_member *m, uint64_t k, uint64_t base,
                                  uint64_t len, psync_err *e)
{
    const uint8_t *x = psd_inbound_chunk(&m->in, k);
    uint32_t c = m->in.late[k] ? psync_wire_crc_update(0, x, len) : m->in.crc[k];
    if (c != m->in.crc[k]) {
        *e = psync_fail(PSYNC_EPROTO,
                        "snapshot chunk at %llu has crc32 %08x in the shared inbox when "
                        "merged, header said %08x (written wrong, or rewritten after its "
                        "header was sent)",
                        (unsigned long long)base, c, m->in.crc[k]);
        return PSD_R_CHUNK;
    }
    if (psd_window_finite(d, x, base, base, base + len)) return PSD_R_COUNT_;
    *e = psync_fail(PSYNC_ENONFINITE, "snapshot chunk at %llu holds NaN or Inf when merged",
                    (unsigned long long)base);
    return PSD_R_NONFINITE;
}

bool psd_merge_blame(psd *d, uint64_t k, psd_member **who, uint32_t n)
{
    uint64_t cb = d->set.chunk_bytes, base = k * cb;
    uint64_t len = d->payload_len - base < cb ? d->payload_len - base : cb;
    bool found = false;
    for (uint32_t i = 0; i < n; i++) {
        if (!who[i] || !who[i]->in.received || !who[i]->in.have[k]) continue;
        psync_err e = PSYNC_OK;
        psd_reason why = psd_merge_fault(d, who[i], k, base, len, &e);
        if (why == PSD_R_COUNT_) continue;
        psd_refuse(d, d->bulk, who[i]->rid, who[i]->rid_len, why, e,
                   who[i]->in.late[k] ? "snapshot_shm" : "snapshot");
        psd_inbound_clear(&who[i]->in);
        found = true;
    }
    return found;
}

void psd_merge_weights(psd_member **who, uint32_t n, float *w)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += who[i]->in.samples;
    for (uint32_t i = 0; i < n; i++)
        w[i] = total ? (float)((double)who[i]->in.samples / (double)total) : 1.0f / (float)n;
}

/* Closes the round over the members whose snapshots are complete (the
 * path when not every member published: deadline, or a member left). */
static void psd_merge_sync_close(psd *d, psd_member **who, uint32_t n)
{
    uint64_t t0 = psd_now_us();
    float w[n];
    psd_rcbuf *out = psd_merge_acquire(d);
    if (!out) {
        d->merge_deferred = true;
        return;
    }
    psd_merge_weights(who, n, w);
    for (uint64_t k = 0; k < d->n_chunks; k++)
        if (!psd_merge_average_chunk(d, k, who, w, n, out)) {
            psd_merge_blame(d, k, who, n); /* the next poll closes over the others */
            return;
        }
    for (uint32_t i = 0; i < n; i++)
        psd_inbound_clear(&who[i]->in);
    d->merge_deferred = false;
    psd_merge_commit(d, out, t0, true); /* each chunk's crc came with its average */
    psd_broadcast_merged(d);
    d->round_start_ms = psd_now_ms();
    PSYNC_INFO("round_closed", "version=%llu snapshots=%u streamed=0 merge_us=%llu",
               (unsigned long long)d->version, n, (unsigned long long)d->last_merge_us);
}

static void psd_merge_sync_poll(psd *d)
{
    uint32_t attached = 0, n = 0;
    if (d->round.active) {
        psd_round_check(d);
        if (d->round.active) return;
    }
    psd_member *who[d->n_members ? d->n_members : 1];
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        attached += psd_member_merges(m);
        if (m->in.complete && m->in.base == d->version) who[n++] = m;
    }
    bool late = psd_now_ms() - d->round_start_ms >= (uint64_t)d->set.round_deadline_ms;
    if (n && (n >= attached || late)) psd_merge_sync_close(d, who, n);
}

/* easgd / async: applies m's complete snapshot to the centre. */
static void psd_merge_apply(psd *d, psd_member *m)
{
    uint64_t t0 = psd_now_us(), stale = d->version - m->in.base;
    uint32_t live = psd_members_attached(d);
    d->peak_members = live > d->peak_members ? live : d->peak_members;
    uint32_t n = d->set.async_members ? d->set.async_members : d->peak_members;
    psd_lerp l = {m, (float)d->set.alpha, psd_merge_acquire(d)};
    if (!l.out) {
        d->merge_deferred = true;
        return;
    }
    if (d->set.policy == PSD_ASYNC)
        l.s = (float)(1.0 / ((double)(n ? n : 1) * (double)(1 + stale)));
    for (uint64_t k = 0; k < d->n_chunks; k++)
        psd_merge_segments(d, k, psd_seg_lerp, &l);
    psd_inbound_clear(&m->in);
    bool send = d->set.policy == PSD_ASYNC || ++d->easgd_pending >= d->set.easgd_every;
    if (send) d->easgd_pending = 0;
    psd_merge_commit(d, l.out, t0, false);
    if (send) psd_broadcast_merged(d);
    PSYNC_DEBUG("merged", "version=%llu member=%llu s=%g staleness=%llu",
                (unsigned long long)d->version, (unsigned long long)m->id, (double)l.s,
                (unsigned long long)stale);
}

bool psd_merge_quorum(psd *d)
{
    uint32_t live = psd_members_attached(d);
    bool lost = d->set.quorum && live < d->set.quorum;
    if (lost != d->quorum_lost)
        PSYNC_WARN(lost ? "quorum_lost" : "quorum_reached",
                   "workers=%u quorum=%u version=%llu action=\"%s\"", live, d->set.quorum,
                   (unsigned long long)d->version, lost ? "merging paused" : "merging resumes");
    d->quorum_lost = lost;
    return !lost;
}

void psd_merge_poll(psd *d)
{
    if (!d->cur || !psd_merge_quorum(d)) return;
    if (d->set.policy == PSD_SYNC) {
        psd_merge_sync_poll(d);
        return;
    }
    d->merge_deferred = false;
    for (uint32_t i = 0; i < d->n_members && !d->merge_deferred; i++)
        if (d->members[i]->in.complete) psd_merge_apply(d, d->members[i]);
}

void psd_merge_count(psd *d, psd_member *m)
{
    m->samples += m->in.samples;
    m->snapshots++;
    m->last_publish_ms = psd_now_ms();
    m->stall_report_ms = 0;
    d->snapshots_in++;
    psd_recover_note(d, &m->in);
}

psync_err psd_merge_admit(psd *d, const psync_wire_hdr *h, psd_reason *why)
{
    *why = PSD_R_STALE;
    if (h->base > d->version) {
        *why = PSD_R_STATE;
        return psync_fail(PSYNC_EPROTO, "snapshot base %llu is ahead of the daemon's version %llu",
                          (unsigned long long)h->base, (unsigned long long)d->version);
    }
    if (d->set.policy == PSD_SYNC && h->base != d->version)
        return psync_fail(PSYNC_ESTALE,
                          "sync round for version %llu is closed; apply merged version %llu and "
                          "publish again",
                          (unsigned long long)h->base, (unsigned long long)d->version);
    if (d->set.policy == PSD_ASYNC && d->version - h->base > d->set.max_staleness)
        return psync_fail(PSYNC_ESTALE, "snapshot is %llu versions old, max_staleness is %llu",
                          (unsigned long long)(d->version - h->base),
                          (unsigned long long)d->set.max_staleness);
    return PSYNC_OK;
}

/* Logs members that have not published for a while (sync: the stall):
 * once past 5 heartbeats, then each time the silence doubles. */
static void psd_merge_stalls(psd *d, uint64_t now)
{
    uint64_t quiet = 5 * (uint64_t)d->set.heartbeat_ms;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        uint64_t silent = now - m->last_publish_ms;
        uint64_t next = m->stall_report_ms ? m->stall_report_ms : quiet;
        if (!psd_member_merges(m) || m->in.complete || silent < next) continue;
        PSYNC_INFO("stall", "member=%llu name=%s version=%llu quiet_ms=%llu",
                   (unsigned long long)m->id, m->name, (unsigned long long)d->version,
                   (unsigned long long)silent);
        m->stall_report_ms = 2 * next;
    }
}

void psd_merge_tick(psd *d)
{
    if (!d->cur) return;
    psd_merge_poll(d);
    if (d->set.policy == PSD_SYNC) psd_merge_stalls(d, psd_now_ms());
}
