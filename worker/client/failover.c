/* failover.c: a client given several daemon endpoints ("tcp://a:5555,
 * tcp://b:5555": a primary and its standbys) talks to one at a time and
 * switches to the next when the current one is silent for the timeout, is
 * a standby, or has fenced itself. Epochs: a daemon whose epoch is below
 * the highest this client has seen is refused (never go back). */
#include <stdlib.h>
#include <string.h>

#include "client.h"

psync_err pc_failover_init(psync_client *c, const psync_client_opts *o, psync_client_opts *first)
{
    static const psync_client_opts none = {.rank = -1};
    c->opts = o ? *o : none;
    snprintf(c->key_file, sizeof c->key_file, "%s", c->opts.key_file ? c->opts.key_file : "");
    snprintf(c->server_key, sizeof c->server_key, "%s",
             c->opts.server_key ? c->opts.server_key : "");
    c->opts.key_file = c->opts.key_file ? c->key_file : NULL;
    c->opts.server_key = c->opts.server_key ? c->server_key : NULL;
    c->opts.name = c->name;
    *first = c->opts;
    const char *list = c->opts.control;
    if (!list || !strchr(list, ',')) return PSYNC_OK;
    c->opts.bulk = NULL; /* each daemon's bulk is derived from its control */
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (c->n_eps == PC_MAX_EPS || !n || n >= sizeof c->eps[0])
            return psync_fail(PSYNC_ECONFIG,
                              "control list '%s': at most %d endpoints of < %zu "
                              "bytes each",
                              list, PC_MAX_EPS, sizeof c->eps[0]);
        memcpy(c->eps[c->n_eps], p, n);
        c->eps[c->n_eps++][n] = '\0';
        p += n + (p[n] == ',');
    }
    c->opts.control = NULL;
    *first = c->opts;
    first->control = c->eps[0];
    return PSYNC_OK;
}

void pc_failover(psync_client *c, const char *why)
{
    c->failover_pending = false;
    c->rejoin = true;
    c->last_hello_ms = 0;
    c->last_heard_ms = pc_now_ms(); /* the next one gets a whole timeout */
    if (c->n_eps < 2) return;
    const char *from = c->eps[c->cur_ep];
    c->cur_ep = (c->cur_ep + 1) % c->n_eps;
    PSYNC_WARN("failover", "from=%s to=%s why=%s epoch=%llu held=%llu", from, c->eps[c->cur_ep],
               why, (unsigned long long)c->epoch, (unsigned long long)c->held);
    pc_stage_drop(&c->merged);
    pc_stage_drop(&c->boot);
    pc_sockets_close(c);
    psync_client_opts o = c->opts;
    o.control = c->eps[c->cur_ep];
    psync_err e = pc_endpoints(c, &o);
    if (!e) e = pc_sockets_open(c, &o);
    if (e) PSYNC_WARN("failover_failed", "endpoint=%s detail=\"%s\"", o.control, psync_errdetail());
}

void pc_reconnect(psync_client *c, const char *why)
{
    PSYNC_WARN("reconnect", "endpoint=%s why=%s held=%llu", c->control_ep, why,
               (unsigned long long)c->held);
    pc_stage_drop(&c->merged);
    pc_stage_drop(&c->boot);
    pc_sockets_close(c); /* terminates the context: every queued frame is released */
    c->rejoin = true;
    c->last_hello_ms = 0;
    c->last_heard_ms = pc_now_ms();
    psync_err e = pc_sockets_open(c, &c->opts);
    if (e)
        PSYNC_WARN("reconnect_failed", "endpoint=%s detail=\"%s\"", c->control_ep,
                   psync_errdetail());
}

bool pc_epoch_stale(psync_client *c, uint64_t epoch)
{
    if (epoch < c->epoch) {
        PSYNC_WARN("stale_daemon_refused", "endpoint=%s epoch=%llu seen_epoch=%llu",
                   c->n_eps ? c->eps[c->cur_ep] : c->control_ep, (unsigned long long)epoch,
                   (unsigned long long)c->epoch);
        c->failover_pending = true;
        return true;
    }
    c->epoch = epoch;
    return false;
}
