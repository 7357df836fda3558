/* apply.c: applying a complete merged version to the trainer's model,
 * over the merge ranges only (f32 params, and slots if the daemon merges
 * them): sync and async replace them; easgd pulls them toward the centre
 * (w -= alpha (w - centre)). */
#include <stdlib.h>
#include <string.h>

#include "client.h"

#pragma GCC optimize("O3")

static void pc_pull(float *restrict w, const float *restrict centre, float a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        w[i] -= a * (w[i] - centre[i]);
}

/* Merge ranges of m (recomputed when the layout changes). */
static psync_err pc_ranges(psync_client *c, const psync_model *m, uint64_t layout)
{
    if (c->ranges && c->ranges_layout == layout)
        return PSYNC_OK;
    free(c->ranges);
    c->ranges = NULL;
    psync_err e = psync_wire_merge_ranges(m, c->slots, &c->ranges, &c->n_ranges);
    c->ranges_layout = e ? 0 : layout;
    return e;
}

psync_err pc_apply(psync_client *c, psync_model *m)
{
    pc_stage *st = &c->merged;
    uint64_t layout = psync_model_layout_hash(m);
    st->complete = false;
    if (layout != st->layout || m->payload_len != st->total)
        return psync_fail(PSYNC_EMISMATCH, "merged version %llu is for layout %016llx, the model "
                          "has %016llx", (unsigned long long)st->version,
                          (unsigned long long)st->layout, (unsigned long long)layout);
    psync_err e = pc_ranges(c, m, layout);
    if (e)
        return e;
    /* Written in place: a bootstrapped model's arena lives in the blob it
     * owns, so the engine's tensor pointers stay valid. */
    bool easgd = !strcmp(c->policy, "easgd");
    for (uint32_t i = 0; i < c->n_ranges; i++) {
        const psync_wire_range *r = &c->ranges[i];
        if (easgd)
            pc_pull((float *)(void *)(m->payload + r->off),
                    (const float *)(const void *)(st->buf + r->off), (float)c->alpha, r->len / 4);
        else
            memcpy(m->payload + r->off, st->buf + r->off, r->len);
    }
    c->held = st->version;
    c->held_inc = c->inc;
    m->state.merge_version = st->version;
    return PSYNC_OK;
}
