/* session.c: the client's membership: creating and destroying it, hello
 * and welcome (with retry and backoff), heartbeats, rejoining after the
 * daemon restarted or dropped us, and dispatching every received message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blob.h"
#include "client.h"

psync_err pc_send(psync_client *c, void *sock, psync_wire_hdr *h)
{
    return psync_wire_send(sock, NULL, 0, h, NULL, ZMQ_DONTWAIT);
}

psync_err pc_send_hello(psync_client *c)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_HELLO, c->inc);
    snprintf(h.name, sizeof h.name, "%s", c->name);
    h.rank = c->rank;
    h.layout = c->my_layout;
    h.held = c->held;
    h.held_inc = c->held_inc;
    h.model_bytes = c->my_model_bytes;
    h.epoch = c->epoch;
    c->last_hello_ms = pc_now_ms();
    return pc_send(c, c->control, &h);
}

void pc_tick(psync_client *c)
{
    uint64_t now = pc_now_ms();
    if (c->n_eps > 1 && now - c->last_heard_ms > c->timeout_ms) {
        pc_failover(c, "silent");
        now = pc_now_ms();
    }
    if (c->rejoin && now - c->last_hello_ms >= c->rejoin_backoff_ms) {
        /* backoff: 250 ms doubling to 5 s while the daemon does not answer */
        if (pc_send_hello(c) != PSYNC_EBUSY && c->last_hello_ms)
            c->rejoin_backoff_ms = c->rejoin_backoff_ms >= 2500 ? 5000 : c->rejoin_backoff_ms * 2;
        return;
    }
    if (!c->welcomed || now - c->last_hb_ms < c->heartbeat_ms) return;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_HEARTBEAT, c->inc);
    h.m = c->member;
    h.held = c->held;
    pc_send(c, c->control, &h);
    c->last_hb_ms = now;
    if (now - c->last_heard_ms > c->timeout_ms && !c->rejoin) {
        PSYNC_WARN("daemon_silent", "endpoint=%s silent_ms=%llu", c->control_ep,
                   (unsigned long long)(now - c->last_heard_ms));
        c->rejoin = true;
    }
}

static void pc_on_welcome(psync_client *c, const psync_wire_hdr *h)
{
    if (pc_epoch_stale(c, h->epoch)) return; /* a daemon a standby replaced: never go back to it */
    bool first = !c->welcomed || c->inc != h->inc;
    /* held is kept across daemon incarnations: version numbers continue
     * (the daemon restores the newest held version), so a merged version
     * below it is never applied (docs/recovery.md, fencing). */
    if (first) pc_shm_reset(c); /* a new daemon offers its own segments */
    c->inc = h->inc;
    c->member = h->m;
    c->dversion = h->version;
    c->layout = h->layout;
    snprintf(c->policy, sizeof c->policy, "%s", h->policy);
    c->alpha = h->alpha;
    c->slots = h->slots;
    c->heartbeat_ms = h->heartbeat_ms;
    c->timeout_ms = h->timeout_ms;
    c->chunk_bytes = h->chunk_bytes;
    c->action = !strcmp(h->action, "upload")  ? PSYNC_CLIENT_UPLOAD
                : !strcmp(h->action, "train") ? PSYNC_CLIENT_TRAIN
                : !strcmp(h->action, "wait")  ? PSYNC_CLIENT_WAIT
                                              : PSYNC_CLIENT_BOOTSTRAP;
    c->upload_asked = c->action == PSYNC_CLIENT_UPLOAD;
    c->welcomed = true;
    c->rejoin = false;
    c->rejoin_backoff_ms = 250;
    c->last_hb_ms = pc_now_ms();
    psync_wire_hdr a;
    psync_wire_init(&a, PSYNC_MSG_ATTACH, c->inc);
    a.m = c->member;
    psync_wire_send(c->bulk, NULL, 0, &a, NULL, 0);
    if (first)
        PSYNC_INFO("welcomed", "member=%llu action=%s policy=%s version=%llu endpoint=%s",
                   (unsigned long long)c->member, h->action, c->policy,
                   (unsigned long long)c->dversion, c->control_ep);
}

static void pc_on_error(psync_client *c, const psync_wire_hdr *h)
{
    c->last_err = psync_wire_err_parse(h->code);
    snprintf(c->last_detail, sizeof c->last_detail, "%s (refused %s)", h->detail, h->ref);
    PSYNC_WARN("daemon_refused", "code=%s ref=%s detail=\"%s\"", h->code, h->ref, h->detail);
    if ((c->last_err == PSYNC_EBUSY && strstr(h->detail, "standby")) ||
        (c->last_err == PSYNC_ESTALE && strstr(h->detail, "fenced")))
        c->failover_pending = c->n_eps > 1;
    if (c->last_err == PSYNC_ENOTFOUND ||
        (c->last_err == PSYNC_ESTALE && strstr(h->detail, "incarnation"))) {
        c->rejoin = true;
        c->last_hello_ms = 0;
    }
}

/* A merged chunk (frame) for the stage, unless its version is old. */
static void pc_on_merged(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *payload, bool late)
{
    if (h->version < c->held || (h->version == c->held && c->held_inc == c->inc)) {
        PSYNC_DEBUG("merged_ignored", "version=%llu held=%llu", (unsigned long long)h->version,
                    (unsigned long long)c->held);
        return; /* never go back to an older merged version */
    }
    if (payload && !pc_stage_put(c, &c->merged, h, payload, UINT64_MAX, late) &&
        h->version > c->dversion)
        c->dversion = h->version;
}

/* A merged chunk in the daemon's shared memory: a frame over it, then the
 * same as one that came as a frame, its crc checked as it is applied. */
static void pc_on_merged_shm(psync_client *c, const psync_wire_hdr *h)
{
    zmq_msg_t frame;
    psync_wire_hdr as_frame = *h;
    as_frame.t = PSYNC_MSG_MERGED;
    if (pc_shm_merged(c, h, &frame)) return;
    pc_on_merged(c, &as_frame, &frame, true);
    zmq_msg_close(&frame);
}

/* A bootstrap chunk in psyncd's segment: the path of one that came as a
 * frame (copied into the blob, crc checked in that copy; the frame kept
 * as our recovery copy), and shared memory declined if it fails there
 * (the bootstrap then asks for the blob again: frames). */
static void pc_on_bootstrap_shm(psync_client *c, const psync_wire_hdr *h)
{
    zmq_msg_t frame;
    psync_wire_hdr as_frame = *h;
    as_frame.t = PSYNC_MSG_BOOTSTRAP;
    if (pc_shm_bootstrap(c, h, &frame)) return;
    psync_err e = pc_stage_put(c, &c->boot, &as_frame, &frame, UINT64_MAX, false);
    if (e && e != PSYNC_ESTALE) pc_shm_decline(c, psync_errdetail());
    zmq_msg_close(&frame);
}

/* Handles one decoded message from the daemon. */
static void pc_dispatch(psync_client *c, const psync_wire_hdr *h, zmq_msg_t *payload)
{
    if (h->t != PSYNC_MSG_WELCOME && h->t != PSYNC_MSG_ERROR && c->welcomed && h->inc != c->inc) {
        PSYNC_WARN("daemon_restarted", "old_inc=%016llx new_inc=%016llx",
                   (unsigned long long)c->inc, (unsigned long long)h->inc);
        c->rejoin = true;
        c->last_hello_ms = 0;
        return;
    }
    switch (h->t) {
    case PSYNC_MSG_WELCOME:
        pc_on_welcome(c, h);
        break;
    case PSYNC_MSG_HEARTBEAT_ACK:
        if (pc_epoch_stale(c, h->epoch)) break;
        /* fall through */
    case PSYNC_MSG_ANNOUNCE:
        c->dversion = h->version;
        c->layout = h->layout;
        break;
    case PSYNC_MSG_ERROR:
        pc_on_error(c, h);
        break;
    case PSYNC_MSG_MERGED:
        pc_on_merged(c, h, payload, false);
        break;
    case PSYNC_MSG_MERGED_SHM:
        pc_on_merged_shm(c, h);
        break;
    case PSYNC_MSG_SHM_OFFER:
        pc_shm_offer(c, h);
        break;
    case PSYNC_MSG_BOOTSTRAP:
        if (payload) pc_stage_put(c, &c->boot, h, payload, UINT64_MAX, false);
        break;
    case PSYNC_MSG_BOOTSTRAP_SHM:
        pc_on_bootstrap_shm(c, h);
        break;
    default:
        break;
    }
}

/* Receives and handles one message from sock; false if none waited. */
static bool pc_recv_one(psync_client *c, void *sock)
{
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n;
    bool extra;
    psync_wire_hdr h;
    if (psync_wire_recv(sock, fr, &n, &extra)) return false;
    if (!extra && n >= 1 && !psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), &h)) {
        c->last_heard_ms = pc_now_ms();
        pc_dispatch(c, &h, n == 2 ? &fr[1] : NULL);
    } else {
        PSYNC_WARN("bad_message", "frames=%d detail=\"%s\"", n, psync_errdetail());
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&fr[i]);
    return true;
}

psync_err pc_pump(psync_client *c, int timeout_ms)
{
    pc_tick(c);
    if (!c->control) { /* a failover could not open the sockets: next one */
        pc_failover(c, "no socket");
        zmq_poll(NULL, 0, timeout_ms);
        return PSYNC_OK;
    }
    zmq_pollitem_t it[3] = {
        {c->control, 0, ZMQ_POLLIN, 0}, {c->bulk, 0, ZMQ_POLLIN, 0}, {NULL, c->efd, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 3, timeout_ms) < 0 && zmq_errno() != EINTR)
        return psync_fail(PSYNC_EIO, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    if (it[2].revents & ZMQ_POLLIN) pc_inflight_drain(c); /* zero-copy frames released */
    while (!c->failover_pending && pc_recv_one(c, c->control))
        ;
    for (int i = 0; i < 256 && !c->failover_pending && pc_recv_one(c, c->bulk); i++)
        ;
    if (c->failover_pending) pc_failover(c, "refused");
    return PSYNC_OK;
}

psync_err psync_client_new(psync_client **out, const psync_client_opts *opts)
{
    char host[48] = "host";
    psync_client *c = calloc(1, sizeof *c);
    if (!c) return psync_fail(PSYNC_ENOMEM, "client");
    atomic_init(&c->inflight, 0);
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0) {
        free(c);
        return psync_fail(PSYNC_EIO, "eventfd: %s", strerror(errno));
    }
    const char *r = getenv("RANK") ? getenv("RANK") : getenv("SLURM_PROCID");
    c->rank = opts && opts->rank >= 0 ? opts->rank : r ? atoi(r) : -1;
    gethostname(host, sizeof host - 1);
    if (opts && opts->name)
        snprintf(c->name, sizeof c->name, "%s", opts->name);
    else
        snprintf(c->name, sizeof c->name, "%s:%d", host, (int)getpid());
    c->heartbeat_ms = 1000;
    c->timeout_ms = 10000;
    c->rejoin_backoff_ms = 250;
    c->merged.hold = true;      /* apply straight from the received frames */
    c->boot.twin_wanted = true; /* the kept payload, copied as chunks arrive */
    c->no_shm =
        (opts && opts->no_shm) || (getenv("PSYNC_SHM") && !strcmp(getenv("PSYNC_SHM"), "0"));
    psync_client_opts first;
    c->last_heard_ms = pc_now_ms();
    psync_err e = pc_failover_init(c, opts, &first);
    if (!e) e = pc_endpoints(c, &first);
    if (!e) e = pc_sockets_open(c, &first);
    if (e) {
        psync_client_destroy(&c);
        return e;
    }
    *out = c;
    return PSYNC_OK;
}

void psync_client_destroy(psync_client **cp)
{
    if (!cp || !*cp) return;
    psync_client *c = *cp;
    if (c->welcomed && c->control) {
        psync_wire_hdr h;
        psync_wire_init(&h, PSYNC_MSG_LEAVE, c->inc);
        h.m = c->member;
        snprintf(h.reason, sizeof h.reason, "shutdown");
        pc_send(c, c->control, &h);
        zmq_poll(NULL, 0, 20); /* give the leave a moment to go out */
    }
    pc_sockets_close(c);
    pc_stage_free(&c->merged);
    pc_stage_free(&c->boot);
    pc_kept_free(&c->kept);
    close(c->efd); /* after the context: no I/O thread writes it any more */
    free(c->ranges);
    free(c);
    *cp = NULL;
}

/* Records what this process holds, for hello. */
static void pc_describe(psync_client *c, const psync_model *m)
{
    size_t size = 0;
    c->my_layout = m ? psync_model_layout_hash(m) : 0;
    c->my_model_bytes = m && !psync_blob_size(m, &size) ? size : 0;
    if (m && !c->held) c->held = m->state.merge_version;
}

psync_err psync_client_connect(psync_client *c, const psync_model *model, int timeout_ms)
{
    uint64_t start = pc_now_ms(), backoff = 250, attempt = 0;
    pc_describe(c, model);
    c->welcomed = false;
    while (!c->welcomed) {
        psync_err auth = pc_auth_poll(c);
        if (auth) return auth;
        uint64_t now = pc_now_ms();
        if (timeout_ms >= 0 && now - start >= (uint64_t)timeout_ms)
            return psync_fail(PSYNC_ETIMEOUT, "no welcome from psyncd at %s after %d ms",
                              c->control_ep, timeout_ms);
        if (now - c->last_hello_ms >= backoff) {
            if (attempt++)
                PSYNC_INFO("waiting_for_daemon", "endpoint=%s attempt=%llu next_retry_ms=%llu",
                           c->control_ep, (unsigned long long)attempt, (unsigned long long)backoff);
            if (pc_send_hello(c) == PSYNC_EBUSY) {
                /* not connected yet (ZMQ_IMMEDIATE): retry soon, quietly */
                c->last_hello_ms = now - backoff + 1;
                attempt--;
                pc_pump(c, 1);
                continue;
            }
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        pc_pump(c, 50);
        if (!c->welcomed && c->last_err == PSYNC_ELIMIT)
            return psync_fail(PSYNC_ELIMIT, "psyncd refused us: %s", c->last_detail);
    }
    return PSYNC_OK;
}

psync_err psync_client_poll(psync_client *c, psync_model *m, int timeout_ms, bool *applied)
{
    uint64_t until = pc_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    if (applied) *applied = false;
    for (;;) {
        uint64_t now = pc_now_ms();
        int left = now < until ? (int)(until - now) : 0;
        psync_err e = pc_pump(c, c->merged.complete ? 0 : (left > 50 ? 50 : left));
        if (!e && c->welcomed && c->upload_asked && m) /* e.g. a restarted daemon */
            e = psync_client_upload_model(c, m, (int)c->timeout_ms);
        if (e) return e;
        bool done = false;
        if (c->merged.complete && m && (e = pc_apply(c, m, &done))) return e;
        if (done) {
            if (applied) *applied = true;
            return PSYNC_OK;
        }
        if (pc_now_ms() >= until) return PSYNC_OK;
    }
}

psync_client_action psync_client_action_get(const psync_client *c)
{
    return c->action;
}
uint64_t psync_client_held_version(const psync_client *c)
{
    return c->held;
}
uint64_t psync_client_daemon_version(const psync_client *c)
{
    return c->dversion;
}
const char *psync_client_policy(const psync_client *c)
{
    return c->policy;
}
uint64_t psync_client_member_id(const psync_client *c)
{
    return c->member;
}
uint64_t psync_client_incarnation(const psync_client *c)
{
    return c->inc;
}
bool psync_client_rejoining(const psync_client *c)
{
    return !c->welcomed || c->rejoin;
}

psync_err psync_client_last_error(const psync_client *c, const char **detail)
{
    if (detail) *detail = c->last_detail;
    return c->last_err;
}
