/* main.c: psyncd. Loads the settings, binds the control and bulk sockets,
 * runs the event loop until SIGTERM/SIGINT, drains within grace_ms and
 * exits with a sysexits.h code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon.h"

static psd *psd_signalled;

static void psd_on_signal(int sig)
{
    if (psd_signalled) psd_signalled->stopping = sig;
}

static uint64_t psd_incarnation(void)
{
    uint64_t v = 0;
    while (!v)
        if (getrandom(&v, sizeof v, 0) != sizeof v) v = psd_now_us() ^ ((uint64_t)getpid() << 32);
    return v;
}

static int psd_start(psd *d)
{
    psync_err e;
    d->inc = psd_incarnation();
    d->quorum_lost = d->set.quorum > 0; /* until that many workers attach */
    d->members = calloc(d->set.max_members, sizeof *d->members);
    if (!d->members || psd_rate_new(d)) return EX_OSERR;
    if ((e = psd_sockets_open(d)) || (e = psd_standby_open(d))) {
        PSYNC_ERROR("bind_failed", "error=%s detail=\"%s\"", psync_wire_err_name(e),
                    psync_errdetail());
        return e == PSYNC_ECONFIG ? EX_CONFIG : EX_UNAVAILABLE;
    }
    psd_loop_timer(d, (uint64_t)(d->set.heartbeat_ms < 200 ? d->set.heartbeat_ms : 200),
                   psd_members_tick);
    psd_loop_timer(d, 20, psd_merge_tick);
    psd_loop_timer(d, 50, psd_recover_tick);
    psd_loop_timer(d, (uint64_t)(d->set.heartbeat_ms < 200 ? d->set.heartbeat_ms : 200),
                   psd_standby_tick);
    PSYNC_INFO("started", "version=%s control=%s bulk=%s policy=%s inc=%016llx pid=%d",
               PSYNC_VERSION_STRING, d->set.bind_control, d->set.bind_bulk,
               psd_policy_name(d->set.policy), (unsigned long long)d->inc, (int)getpid());
    struct sigaction sa = {.sa_handler = psd_on_signal};
    psd_signalled = d;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    e = psd_loop_run(d);
    PSYNC_INFO("stopped", "signal=%d version=%llu merges=%llu", (int)d->stopping,
               (unsigned long long)d->version, (unsigned long long)d->merges);
    psd_standby_close(d);
    psd_sockets_close(d, 0);
    psd_rate_destroy(d);
    return e ? EX_SOFTWARE : d->fenced ? EX_TEMPFAIL : 0;
}

int main(int argc, char **argv)
{
    static psd d;
    psync_config *cfg = NULL;
    psync_log_set_context("psyncd", -1);
    psync_err e = psd_settings_load(&d.set, argc, argv, &cfg);
    if (e) {
        fprintf(stderr, "psyncd: %s\n", psync_errdetail());
        psync_config_destroy(&cfg);
        return EX_CONFIG;
    }
    int rc = 0;
    switch (psync_config_wants(cfg)) {
    case PSYNC_WANT_HELP:
        psd_settings_help(stdout);
        break;
    case PSYNC_WANT_VERSION:
        printf("psyncd %s (protocol %d)\n", PSYNC_VERSION_STRING, PSYNC_PROTO_VERSION);
        break;
    case PSYNC_WANT_PRINT_CONFIG:
        psync_config_print(cfg, stdout, false);
        break;
    case PSYNC_WANT_RUN:
        rc = psd_start(&d);
        break;
    }
    psync_config_destroy(&cfg);
    return rc;
}
