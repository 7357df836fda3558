/* ratelimit.c: per-peer request rates on the control socket: a token
 * bucket per routing id (rate_per_s, burst rate_burst) in a fixed table of
 * PSD_RATE_SLOTS slots keyed by a seeded hash, so a flood costs O(1) memory
 * and a peer cannot pick a routing id that lands on another peer's slot. */
#include <stdlib.h>

#include "daemon.h"
#include "fnv.h"

#define PSD_RATE_SLOTS 4096
#define PSD_RATE_IDLE_US 10000000ULL /* a slot idle this long may change owner */

typedef struct psd_bucket {
    uint64_t tag;     /* hash of the routing id that owns the slot */
    uint64_t last_us; /* last refill */
    double tokens;
} psd_bucket;

struct psd_rate {
    uint64_t seed;
    uint64_t log_window_ms;
    uint32_t log_count;
    psd_bucket slot[PSD_RATE_SLOTS];
};

psync_err psd_rate_new(psd *d)
{
    d->rate = calloc(1, sizeof *d->rate);
    if (!d->rate) return psync_fail(PSYNC_ENOMEM, "rate table");
    d->rate->seed = psync_fnv1a64_u64(PSYNC_FNV_OFFSET, d->inc ^ psd_now_us());
    return PSYNC_OK;
}

void psd_rate_destroy(psd *d)
{
    free(d->rate);
    d->rate = NULL;
}

/* The bucket of tag, refilled up to now. A colliding routing id shares the
 * bucket of a recently active one (never gets a fresh, full bucket). */
static psd_bucket *psd_rate_bucket(psd *d, uint64_t tag, uint64_t now)
{
    psd_bucket *b = &d->rate->slot[tag % PSD_RATE_SLOTS];
    double burst = d->set.rate_burst;
    if (b->tag != tag && (!b->last_us || now - b->last_us > PSD_RATE_IDLE_US)) {
        b->tag = tag;
        b->tokens = burst;
        b->last_us = now;
    }
    b->tokens += (double)(now - b->last_us) * 1e-6 * d->set.rate_per_s;
    b->tokens = b->tokens > burst ? burst : b->tokens;
    b->last_us = now;
    return b;
}

bool psd_rate_admit(psd *d, const uint8_t *rid, size_t len)
{
    if (!d->rate || !d->set.rate_per_s) return true;
    uint64_t tag = psync_fnv1a64(d->rate->seed, rid, len);
    psd_bucket *b = psd_rate_bucket(d, tag, psd_now_us());
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    d->refused[PSD_R_RATE]++;
    d->rate->log_count++;
    uint64_t now = psd_now_ms();
    if (now - d->rate->log_window_ms >= 10000) { /* first drop, then every 10 s */
        PSYNC_WARN("rate_limited", "dropped=%u total=%llu rate_per_s=%u burst=%u",
                   d->rate->log_count, (unsigned long long)d->refused[PSD_R_RATE],
                   d->set.rate_per_s, d->set.rate_burst);
        d->rate->log_window_ms = now;
        d->rate->log_count = 0;
    }
    return false;
}
