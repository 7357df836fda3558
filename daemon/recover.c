/* recover.c: restoring the merged model from the members' memory after a
 * daemon (re)start (docs/recovery.md). The first hello opens a collection
 * window; when it closes (or every expected member said hello) the member
 * holding the newest merged version uploads it. A member that later
 * reports a newer version of the same model is asked for it too: versions
 * never go back. Also keeps the template's training state current. */
#include "daemon.h"

/* The member with a model and the newest held version (lowest id on a
 * tie), or NULL. */
static psd_member *psd_recover_best(psd *d)
{
    psd_member *best = NULL;
    for (uint32_t i = 0; i < d->n_members; i++) {
        psd_member *m = d->members[i];
        if (m->model_bytes && !m->follower && (!best || m->held > best->held)) best = m;
    }
    return best;
}

static bool psd_recover_window_over(const psd *d)
{
    bool held = false; /* a fresh cluster (nobody holds a merged version) does not wait */
    uint32_t workers = 0;
    for (uint32_t i = 0; i < d->n_members; i++) {
        held |= d->members[i]->held != 0 && !d->members[i]->follower;
        workers += !d->members[i]->follower;
    }
    if (!held) return true;
    if (d->set.expected_members && workers >= d->set.expected_members) return true;
    return d->recover_until_ms && psd_now_ms() >= d->recover_until_ms;
}

/* Asks the newest holder to upload; returns it (NULL if none). */
static psd_member *psd_recover_ask(psd *d)
{
    psd_member *best = psd_recover_best(d);
    if (!best) return NULL;
    d->upload.member = best->id;
    PSYNC_INFO("recovery_upload", "member=%llu name=%s held=%llu members=%u",
               (unsigned long long)best->id, best->name, (unsigned long long)best->held,
               d->n_members);
    return best;
}

const char *psd_recover_hello(psd *d, psd_member *m)
{
    if (!d->recover_until_ms) {
        d->recover_until_ms = psd_now_ms() + (uint64_t)d->set.recovery_window_ms;
        PSYNC_INFO("recovery_window", "window_ms=%lld expected_members=%u",
                   (long long)d->set.recovery_window_ms, d->set.expected_members);
    }
    if (d->upload.member || !psd_recover_window_over(d)) return "wait";
    psd_member *best = psd_recover_ask(d);
    if (best && best != m) psd_control_welcome(d, best, "upload");
    return best == m ? "upload" : "wait";
}

bool psd_recover_newer(psd *d, psd_member *m)
{
    if (!d->tmpl || d->upload.member || m->layout != d->layout || !m->model_bytes ||
        m->held <= d->version)
        return false;
    d->upload.member = m->id;
    PSYNC_WARN("recovery_newer", "member=%llu name=%s held=%llu version=%llu action=upload",
               (unsigned long long)m->id, m->name, (unsigned long long)m->held,
               (unsigned long long)d->version);
    return true;
}

void psd_recover_tick(psd *d)
{
    if (d->tmpl || d->upload.member || !d->recover_until_ms || !psd_recover_window_over(d)) return;
    psd_member *best = psd_recover_ask(d);
    if (best) psd_control_welcome(d, best, "upload");
}

void psd_recover_note(psd *d, const psd_inbound *in)
{
    d->samples_total += in->samples;
    psd_state_advance(d, in);
}

void psd_state_advance(psd *d, const psd_inbound *in)
{
    psync_model *t = d->tmpl;
    if (!t) return;
    t->state.global_step = in->gstep > t->state.global_step ? in->gstep : t->state.global_step;
    t->state.samples_seen = in->seen > t->state.samples_seen ? in->seen : t->state.samples_seen;
    t->opt.step = in->ostep > t->opt.step ? in->ostep : t->opt.step;
}
