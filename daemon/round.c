/* round.c: the streaming sync round. Once every merging member has sent
 * chunk k of a snapshot based on the current version, chunk k of the
 * average is computed (member-id order, sample weights fixed when the round
 * begins) and goes out to every member at once, so receiving, merging and
 * sending overlap. If a participant leaves, restarts its snapshot or the
 * deadline passes, the round is aborted: its version number is burned (the
 * partial chunks sent under it are dropped by the workers, latest wins)
 * and the round closes the ordinary way over the complete snapshots. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void psd_round_abort(psd *d, const char *why);

static bool psd_round_alloc(psd *d, psd_round *r)
{
    uint32_t cap = d->set.max_members;
    if (!r->ids) {
        r->ids = calloc(cap, sizeof *r->ids);
        r->gens = calloc(cap, sizeof *r->gens);
        r->samples = calloc(cap, sizeof *r->samples);
        r->w = calloc(cap, sizeof *r->w);
        r->who = calloc(cap, sizeof *r->who);
    }
    free(r->done);
    r->done = calloc(d->n_chunks, 1);
    return r->ids && r->gens && r->samples && r->w && r->who && r->done;
}

static bool psd_round_has(const psd *d, const psd_member *m, uint64_t k)
{
    return m->in.received && m->in.base == d->version && m->in.have[k];
}

/* Starts a round if every merging member has chunk k; false if not. */
static bool psd_round_begin(psd *d, uint64_t k)
{
    psd_round *r = &d->round;
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (!psd_member_merges(m)) continue;
        if (!psd_round_has(d, m, k)) return false;
        n++;
    }
    if (!n || !psd_round_alloc(d, r) || !(r->out = psd_merge_acquire(d))) return false;
    n = 0;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (!psd_member_merges(m)) continue;
        r->who[n] = m;
        r->ids[n] = m->id;
        r->gens[n] = m->in.gen;
        r->samples[n++] = m->in.samples;
    }
    psd_merge_weights(r->who, n, r->w);
    r->n = n;
    r->n_done = r->prefix = 0;
    r->version = psd_merge_next_version(d);
    r->t0_us = psd_now_us();
    r->active = true;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->attached && m->layout == d->layout) {
            psd_stream_start(&m->merged, r->out, PSYNC_MSG_MERGED, r->version, d->layout,
                             d->payload_len);
            m->merged.limit = 0;
        }
    }
    return true;
}

/* The round is complete: the streamed buffer becomes the current version. */
static void psd_round_finish(psd *d)
{
    psd_round *r = &d->round;
    r->active = false;
    for (uint32_t i = 0; i < r->n; i++)
        psd_inbound_clear(&r->who[i]->in);
    psd_merge_commit(d, r->out, r->t0_us, true);
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->attached && m->layout == d->layout && m->merged.buf != r->out)
            psd_stream_start(&m->merged, r->out, PSYNC_MSG_MERGED, d->version, d->layout,
                             d->payload_len);
    }
    psd_streams_limit(d, r->out, d->payload_len);
    psd_streams_pump(d);
    d->round_start_ms = psd_now_ms();
    PSYNC_INFO("round_closed", "version=%llu snapshots=%u streamed=1 round_us=%llu",
               (unsigned long long)d->version, r->n, (unsigned long long)d->last_merge_us);
}

/* Merges chunk k if every participant has it. */
static void psd_round_try(psd *d, uint64_t k)
{
    psd_round *r = &d->round;
    uint64_t cb = d->set.chunk_bytes;
    if (r->done[k]) return;
    for (uint32_t i = 0; i < r->n; i++)
        if (!psd_round_has(d, r->who[i], k)) return;
    if (!psd_merge_average_chunk(d, k, r->who, r->w, r->n, r->out)) { /* and its crc */
        /* an input did not match its crc or was not finite (a shared
         * inbox written wrong or rewritten): its snapshot is voided and
         * the round restarts without it */
        if (!psd_merge_blame(d, k, r->who, r->n)) psd_round_abort(d, "nonfinite_average");
        psd_round_check(d);
        return;
    }
    r->done[k] = 1;
    r->n_done++;
    while (r->prefix < d->n_chunks && r->done[r->prefix])
        r->prefix++;
    uint64_t ready = r->prefix * cb < d->payload_len ? r->prefix * cb : d->payload_len;
    if (r->n_done == d->n_chunks) {
        psd_round_finish(d);
        return;
    }
    psd_streams_limit(d, r->out, ready);
    psd_streams_pump(d);
}

void psd_round_chunk(psd *d, psd_member *m, uint64_t k)
{
    psd_round *r = &d->round;
    if (d->set.policy != PSD_SYNC || !d->cur || m->in.base != d->version) return;
    if (!r->active) {
        if (!psd_merge_quorum(d) || !psd_round_begin(d, k)) return;
        for (uint64_t j = 0; j < d->n_chunks && r->active; j++)
            psd_round_try(d, j);
        return;
    }
    psd_round_check(d);
    if (r->active) psd_round_try(d, k);
}

static void psd_round_abort(psd *d, const char *why)
{
    psd_round *r = &d->round;
    r->active = false;
    d->burned = r->version;
    psd_streams_cancel(d, r->out);
    PSYNC_INFO("round_restarted", "version=%llu why=%s chunks_done=%llu",
               (unsigned long long)r->version, why, (unsigned long long)r->n_done);
}

void psd_round_check(psd *d)
{
    psd_round *r = &d->round;
    if (!r->active) return;
    for (uint32_t i = 0; i < r->n; i++) {
        psd_member *m = psd_member_by_id(d, r->ids[i]);
        r->who[i] = m;
        if (!m) {
            psd_round_abort(d, "participant_left");
            return;
        }
        if (m->in.gen != r->gens[i] || !m->in.received || m->in.base != d->version ||
            m->in.samples != r->samples[i]) {
            psd_round_abort(d, "participant_restarted");
            return;
        }
    }
    if (psd_now_ms() - d->round_start_ms >= (uint64_t)d->set.round_deadline_ms)
        psd_round_abort(d, "deadline");
}
