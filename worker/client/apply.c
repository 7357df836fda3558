/* apply.c: applying a complete merged version to the trainer's model,
 * over the merge ranges only (f32 params, and slots if the daemon merges
 * them): sync and async replace them; easgd pulls them toward the centre
 * (w -= alpha (w - centre)). */
#include <stdio.h>
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

/* A chunk being applied: its crc over the bytes passed so far, when it is
 * checked here (a late chunk: a frame over psyncd's segment). */
typedef struct pc_put {
    const uint8_t *src; /* the chunk, payload offset lo */
    uint64_t lo, at;    /* at: payload offset the crc has covered */
    uint32_t crc;
    bool check;
} pc_put;

/* Applies src's merge range [a, b) to m: pulled toward (easgd) or
 * copied, the crc (when checked) continued over the bytes before it and
 * the copy's. */
static void pc_put_range(psync_client *c, psync_model *m, pc_put *p, uint64_t a, uint64_t b,
                         bool easgd)
{
    const uint8_t *from = p->src + (a - p->lo);
    if (p->check) p->crc = psync_wire_crc_update(p->crc, p->src + (p->at - p->lo), a - p->at);
    if (easgd) {
        if (p->check) p->crc = psync_wire_crc_update(p->crc, from, b - a);
        pc_pull((float *)(void *)(m->payload + a), (const pc_f32u *)(const void *)from,
                (float)c->alpha, (b - a) / 4);
    } else if (p->check) {
        p->crc = psync_wire_copy_crc_update(p->crc, m->payload + a, from, b - a);
    } else {
        memcpy(m->payload + a, from, b - a);
    }
    p->at = b;
}

/* Applies chunk k of the stage; false if it is late and its bytes do not
 * match its crc (then part of it may have been written). */
static bool pc_apply_chunk(psync_client *c, psync_model *m, uint64_t k, bool easgd)
{
    pc_stage *st = &c->merged;
    uint64_t lo = k * c->chunk_bytes, hi = lo + zmq_msg_size(&st->frames[k]);
    pc_put p = {zmq_msg_data(&st->frames[k]), lo, lo, 0, st->late[k]};
    for (uint32_t i = 0; i < c->n_ranges; i++) {
        uint64_t a = c->ranges[i].off, b = a + c->ranges[i].len;
        a = a < lo ? lo : a;
        b = b > hi ? hi : b;
        if (a < b) pc_put_range(c, m, &p, a, b, easgd);
    }
    if (!p.check) return true;
    p.crc = psync_wire_crc_update(p.crc, p.src + (p.at - lo), hi - p.at);
    return p.crc == st->crcs[k];
}

psync_err pc_apply(psync_client *c, psync_model *m, bool *done)
{
    pc_stage *st = &c->merged;
    uint64_t layout = psync_model_layout_hash(m);
    *done = false;
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
    for (uint64_t k = 0; k < st->n_chunks; k++)
        if (!pc_apply_chunk(c, m, k, easgd)) {
            char why[160];
            snprintf(why, sizeof why,
                     "merged version %llu chunk at %llu changed in psyncd's segment before it "
                     "was applied (crc32 mismatch)",
                     (unsigned long long)st->version, (unsigned long long)(k * c->chunk_bytes));
            pc_stage_drop(st);
            pc_shm_decline(c, why); /* the version comes again as frames */
            return PSYNC_OK;
        }
    c->held = st->version;
    c->held_inc = c->inc;
    m->state.merge_version = st->version;
    pc_kept_take(c, st, 0, st->total); /* the frames themselves, for recovery */
    *done = true;
    return PSYNC_OK;
}
