/* apply.c: applying a complete merged version to the trainer's model,
 * over the merge ranges only (f32 params, and slots if the daemon merges
 * them): sync and async replace them; easgd pulls them toward the centre
 * (w -= alpha (w - centre)). */
#include <stdlib.h>
#include <string.h>

#include "client.h"

#pragma GCC optimize("O3")

/* Received frames sit at any address (ZeroMQ's receive buffer). */
typedef float pc_f32u __attribute__((aligned(1)));

static void pc_pull(float *restrict w, const pc_f32u *restrict centre, float a, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        w[i] -= a * (w[i] - centre[i]);
}

/* Merge ranges of m (recomputed when the layout changes). */
static psync_err pc_ranges(psync_client *c, const psync_model *m, uint64_t layout)
{
    if (c->ranges && c->ranges_layout == layout) return PSYNC_OK;
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
    if (layout != st->layout || m->payload_len != st->total) {
        pc_stage_drop(st);
        return psync_fail(PSYNC_EMISMATCH,
                          "merged version %llu is for layout %016llx, the model "
                          "has %016llx",
                          (unsigned long long)st->version, (unsigned long long)st->layout,
                          (unsigned long long)layout);
    }
    psync_err e = pc_ranges(c, m, layout);
    if (e) {
        pc_stage_drop(st);
        return e;
    }
    /* Written in place: a bootstrapped model's arena lives in the blob it
     * owns, so the engine's tensor pointers stay valid. */
    bool easgd = !strcmp(c->policy, "easgd");
    uint64_t cb = c->chunk_bytes;
    for (uint64_t k = 0; k < st->n_chunks; k++) {
        const uint8_t *src = zmq_msg_data(&st->frames[k]);
        uint64_t lo = k * cb, hi = lo + zmq_msg_size(&st->frames[k]);
        for (uint32_t i = 0; i < c->n_ranges; i++) {
            uint64_t a = c->ranges[i].off, b = a + c->ranges[i].len;
            a = a < lo ? lo : a;
            b = b > hi ? hi : b;
            if (a >= b) continue;
            if (easgd)
                pc_pull((float *)(void *)(m->payload + a),
                        (const pc_f32u *)(const void *)(src + a - lo), (float)c->alpha,
                        (b - a) / 4);
            else
                memcpy(m->payload + a, src + a - lo, b - a);
        }
    }
    c->held = st->version;
    c->held_inc = c->inc;
    m->state.merge_version = st->version;
    pc_kept_take(c, st, 0, st->total); /* the frames themselves, for recovery */
    return PSYNC_OK;
}
