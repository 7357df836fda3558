/* control.c: the control socket: hello/welcome (what a joiner must do
 * next), heartbeats, leave, status requests, and the announce sent when a
 * model becomes available. Small messages only; bulk data never waits here. */
#include <string.h>

#include "daemon.h"
#include "recv.h"

void psd_control_welcome(psd *d, psd_member *m, const char *action)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_WELCOME, d->inc);
    h.m = m->id;
    snprintf(h.action, sizeof h.action, "%s", action);
    snprintf(h.policy, sizeof h.policy, "%s", psd_policy_name(d->set.policy));
    h.version = d->version;
    h.layout = d->layout;
    h.alpha = d->set.alpha;
    h.slots = d->set.merge_slots;
    h.heartbeat_ms = (uint64_t)d->set.heartbeat_ms;
    h.timeout_ms = (uint64_t)d->set.member_timeout_ms;
    h.chunk_bytes = d->set.chunk_bytes;
    h.epoch = d->epoch;
    psync_wire_send(d->control, m->rid, m->rid_len, &h, NULL, ZMQ_DONTWAIT);
}

void psd_control_announce(psd *d)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_ANNOUNCE, d->inc);
    h.version = d->version;
    h.layout = d->layout;
    for (uint32_t i = 0; i < d->n_members; i++)
        psync_wire_send(d->control, d->members[i]->rid, d->members[i]->rid_len, &h, NULL,
                        ZMQ_DONTWAIT);
}

/* What a member should do after hello. */
static const char *psd_hello_action(psd *d, psd_member *m)
{
    if (d->upload.member == m->id) return "upload"; /* asked before: it said hello again */
    if (!d->tmpl) return psd_recover_hello(d, m);
    if (psd_recover_newer(d, m)) return "upload";
    return m->layout == d->layout ? "train" : "bootstrap";
}

/* The member a hello or follow comes from, (re)described by its header;
 * NULL if refused (fenced, standby, full: answered). */
static psd_member *psd_member_enter(psd *d, psd_msg *msg, bool follower)
{
    psd_member *m;
    const char *ref = follower ? "follow" : "hello";
    if (!psd_standby_admit(d, msg->rid, msg->rid_len, msg->h.epoch, !follower)) return NULL;
    psync_err e = psd_member_join(d, msg->rid, msg->rid_len, &m);
    if (e) {
        psd_refuse(d, d->control, msg->rid, msg->rid_len, PSD_R_FULL, e, ref);
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", msg->h.name);
    m->rank = follower ? -1 : msg->h.rank;
    m->follower = follower;
    m->layout = msg->h.layout;
    m->held = msg->h.held;
    m->held_inc = msg->h.held_inc;
    m->model_bytes = follower ? 0 : msg->h.model_bytes; /* a follower never uploads */
    m->last_seen_ms = psd_now_ms();
    m->attached = false;
    psd_inbound_clear(&m->in);
    return m;
}

static void psd_on_hello(psd *d, psd_msg *msg)
{
    psd_member *m = psd_member_enter(d, msg, false);
    if (!m) return;
    const char *action = psd_hello_action(d, m);
    PSYNC_INFO("member_joined", "member=%llu name=%s rank=%lld held=%llu action=%s members=%u",
               (unsigned long long)m->id, m->name, (long long)m->rank, (unsigned long long)m->held,
               action, d->n_members);
    psd_control_welcome(d, m, action);
}

/* A standby psyncd follows this one: a member that gets every merged
 * version (and a bootstrap) but never takes part in a merge. */
static void psd_on_follow(psd *d, psd_msg *msg)
{
    psd_member *m = psd_member_enter(d, msg, true);
    if (!m) return;
    const char *action = !d->cur ? "wait" : m->layout == d->layout ? "follow" : "bootstrap";
    PSYNC_INFO("standby_following", "member=%llu name=%s held=%llu action=%s",
               (unsigned long long)m->id, m->name, (unsigned long long)m->held, action);
    psd_control_welcome(d, m, action);
}

static void psd_on_heartbeat(psd *d, psd_msg *msg)
{
    psd_member *m = psd_msg_member(d, d->control, msg);
    if (!m) return;
    m->held = msg->h.held;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_HEARTBEAT_ACK, d->inc);
    h.version = d->version;
    h.layout = d->layout;
    h.epoch = d->epoch;
    psync_wire_send(d->control, m->rid, m->rid_len, &h, NULL, ZMQ_DONTWAIT);
}

static void psd_on_leave(psd *d, psd_msg *msg)
{
    psd_member *m = psd_msg_member(d, d->control, msg);
    char why[80];
    if (!m) return;
    snprintf(why, sizeof why, "leave:%s", msg->h.reason);
    psd_member_drop(d, m, why);
}

void psd_control_readable(psd *d)
{
    psd_msg msg;
    if (!psd_recv(d, d->control, PSYNC_CH_CONTROL, &msg)) return;
    switch (msg.h.t) {
    case PSYNC_MSG_HELLO:
        psd_on_hello(d, &msg);
        break;
    case PSYNC_MSG_FOLLOW:
        psd_on_follow(d, &msg);
        break;
    case PSYNC_MSG_HEARTBEAT:
        psd_on_heartbeat(d, &msg);
        break;
    case PSYNC_MSG_LEAVE:
        psd_on_leave(d, &msg);
        break;
    case PSYNC_MSG_STATUS_REQ:
        psd_status_reply(d, msg.rid, msg.rid_len);
        break;
    default:
        break; /* psd_recv admits only the types above */
    }
    psd_msg_close(&msg);
}
