/* join.c: the client's model traffic: uploading its blob when the daemon
 * has none, bootstrapping the cluster's model, joining (either, as asked)
 * and publishing snapshots of the payload arena. */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "client.h"

/* Waits (pumping) until done(c) or the timeout; ETIMEOUT says `what`. */
static psync_err pc_wait(psync_client *c, bool (*done)(const psync_client *c), int timeout_ms,
                         const char *what)
{
    uint64_t start = pc_now_ms(), last_log = start;
    while (!done(c)) {
        uint64_t now = pc_now_ms();
        if (timeout_ms >= 0 && now - start >= (uint64_t)timeout_ms)
            return psync_fail(PSYNC_ETIMEOUT, "waited %d ms for %s from %s", timeout_ms, what,
                              c->control_ep);
        if (now - last_log >= 5000) {
            PSYNC_INFO("waiting", "for=\"%s\" endpoint=%s waited_ms=%llu", what, c->control_ep,
                       (unsigned long long)(now - start));
            last_log = now;
        }
        psync_err e = pc_pump(c, 50);
        if (e) return e;
    }
    return PSYNC_OK;
}

static bool pc_has_layout(const psync_client *c)
{
    return c->welcomed && c->layout != 0;
}
static bool pc_layout_or_upload(const psync_client *c)
{
    return pc_has_layout(c) || c->upload_asked;
}
/* Done, refused, the daemon restarted (the request died with it), or
 * shared memory was declined meanwhile (psyncd stopped sending). */
static bool pc_boot_done(const psync_client *c)
{
    return c->boot.complete || c->last_err || c->boot_again ||
           (c->welcomed && !c->rejoin && c->inc != c->boot_inc);
}

/* The model to upload: m itself, or (after a merge) m's graph, optimizer
 * and state around the last merged payload we received, numbered with its
 * version. *view is filled when the copy is used. */
static const psync_model *pc_upload_view(psync_client *c, const psync_model *m, psync_model *view)
{
    const pc_kept *k = &c->kept;
    if (!k->version || k->len != m->payload_len || k->layout != psync_model_layout_hash(m))
        return m;
    const uint8_t *payload = pc_kept_payload(c);
    if (!payload) return m;
    *view = *m;
    view->payload = (uint8_t *)payload; /* the encoder reads only the payload */
    view->state.merge_version = k->version;
    return view;
}

psync_err psync_client_upload_model(psync_client *c, const psync_model *m, int timeout_ms)
{
    void *blob = NULL;
    size_t len;
    psync_model view;
    const psync_model *up = pc_upload_view(c, m, &view);
    psync_err e = psync_blob_encode(up, &blob, &len);
    if (e) return e;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_MODEL, c->inc);
    h.m = c->member;
    h.layout = psync_model_layout_hash(m);
    h.version = up->state.merge_version;
    c->last_err = PSYNC_OK;
    c->upload_asked = false;
    e = pc_send_chunks(c, &h, blob, len, true);
    uint64_t off = 0, plen = 0;
    if (!e) e = psync_blob_payload(blob, len, &off, &plen);
    if (e) {
        free(blob);
        return e;
    }
    PSYNC_INFO("model_uploaded", "bytes=%zu layout=%016llx version=%llu merged_copy=%s", len,
               (unsigned long long)h.layout, (unsigned long long)h.version, up == m ? "no" : "yes");
    if (!(e = pc_wait(c, pc_has_layout, timeout_ms, "the daemon to accept our model")) &&
        c->layout != h.layout)
        e = psync_fail(c->last_err ? c->last_err : PSYNC_EMISMATCH,
                       "daemon holds another model: %s", c->last_detail);
    if (e) {
        free(blob);
        return e;
    }
    c->dversion = h.version > c->dversion ? h.version : c->dversion;
    c->held = up == m ? c->dversion : h.version;
    c->held_inc = c->inc;
    c->my_layout = h.layout;
    c->my_model_bytes = len;
    pc_kept_give(c, blob, off, plen, c->held, h.layout); /* what we uploaded, no copy */
    return PSYNC_OK;
}

psync_err psync_client_bootstrap(psync_client *c, psync_model **out, int timeout_ms)
{
    psync_err e = PSYNC_OK;
    c->boot.complete = false;
    for (int tries = 0; !c->boot.complete && tries < 10; tries++) {
        if ((e = pc_wait(c, pc_has_layout, timeout_ms, "a model (announce)"))) return e;
        psync_wire_hdr h;
        psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, c->inc);
        h.m = c->member;
        c->last_err = PSYNC_OK;
        c->boot_inc = c->inc;
        c->boot_again = false;
        if ((e = psync_wire_send(c->bulk, NULL, 0, &h, NULL, 0)) ||
            (e = pc_wait(c, pc_boot_done, timeout_ms, "the bootstrap blob")))
            return e;
        if (c->last_err) break;
    }
    if (!c->boot.complete)
        return psync_fail(c->last_err ? c->last_err : PSYNC_ETIMEOUT, "bootstrap refused: %s",
                          c->last_detail);
    psync_model *m = NULL;
    if ((e = psync_blob_decode(c->boot.buf, c->boot.total, NULL, PSYNC_DECODE_TAKE, &m))) return e;
    uint8_t *blob = c->boot.buf, *twin = c->boot.twin;
    bool keep = c->boot.keep;
    c->boot.buf = c->boot.twin = NULL; /* the model owns the blob now */
    c->boot.cap = 0;
    c->boot.complete = false;
    c->held = c->boot.version;
    c->held_inc = c->inc;
    c->my_layout = psync_model_layout_hash(m);
    c->my_model_bytes = c->boot.total; /* it can upload this after a daemon restart */
    m->state.merge_version = c->held;
    /* the payload as received (the model's is trained): its twin, or the
     * frames themselves, over psyncd's segment where they came that way */
    uint64_t base = m->payload_len ? (uint64_t)(m->payload - blob) : 0;
    if (keep) {
        free(twin);
        pc_kept_take(c, &c->boot, base, m->payload_len);
    } else {
        pc_kept_give(c, twin, base, m->payload_len, c->held, c->my_layout);
    }
    PSYNC_INFO("bootstrapped", "version=%llu bytes=%llu tensors=%u shm=%d",
               (unsigned long long)c->held, (unsigned long long)c->boot.total, m->n_tensors, keep);
    *out = m;
    return PSYNC_OK;
}

psync_err psync_client_join(psync_client *c, psync_model **model, int timeout_ms)
{
    psync_err e = psync_client_connect(c, *model, timeout_ms);
    if (e) return e;
    if (c->action == PSYNC_CLIENT_UPLOAD && *model)
        return psync_client_upload_model(c, *model, timeout_ms);
    if (c->action == PSYNC_CLIENT_TRAIN && *model) return PSYNC_OK;
    if (c->action == PSYNC_CLIENT_WAIT && *model) {
        /* a collection window: we may be asked to upload after all */
        if ((e = pc_wait(c, pc_layout_or_upload, timeout_ms, "a model or an upload request")))
            return e;
        if (c->upload_asked) return psync_client_upload_model(c, *model, timeout_ms);
    }
    psync_model *m = NULL;
    if ((e = psync_client_bootstrap(c, &m, timeout_ms))) return e;
    psync_model_destroy(model);
    *model = m;
    return PSYNC_OK;
}

psync_err psync_client_publish(psync_client *c, const psync_model *m, uint64_t samples)
{
    if (!c->welcomed) return psync_fail(PSYNC_ECLOSED, "not a member (yet): connect first");
    if (c->rejoin) return psync_fail(PSYNC_EBUSY, "rejoining psyncd at %s", c->control_ep);
    if (!c->layout) /* a restarted daemon collecting what its members hold */
        return psync_fail(PSYNC_EBUSY, "psyncd at %s has no model yet (recovering)", c->control_ep);
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_SNAPSHOT, c->inc);
    h.m = c->member;
    h.layout = psync_model_layout_hash(m);
    h.base = c->held;
    h.samples = samples;
    h.gstep = m->state.global_step;
    h.seen = m->state.samples_seen;
    h.ostep = m->opt.step;
    if (h.layout != c->layout)
        return psync_fail(PSYNC_EMISMATCH, "model layout %016llx is not the cluster's %016llx",
                          (unsigned long long)h.layout, (unsigned long long)c->layout);
    if (!strcmp(c->policy, "sync") && c->held < c->dversion)
        return psync_fail(PSYNC_ESTALE,
                          "merged version %llu must be applied before publishing "
                          "(holding %llu)",
                          (unsigned long long)c->dversion, (unsigned long long)c->held);
    /* sync: the trainer waits for the merge anyway, so send the arena
     * itself (returning once ZeroMQ released it); else copy and return */
    return pc_send_chunks(c, &h, m->payload, m->payload_len, !strcmp(c->policy, "sync"));
}
