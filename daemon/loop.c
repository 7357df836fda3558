/* loop.c: psyncd's single-threaded event loop: zmq_poll on the control and
 * bulk sockets, timers, pumping outbound chunk streams, and the drain on
 * shutdown. Everything the daemon owns is touched from this thread only. */
#include <time.h>

#include "daemon.h"

uint64_t psd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t psd_now_ms(void)
{
    return psd_now_us() / 1000u;
}

void psd_loop_timer(psd *d, uint64_t every_ms, void (*fn)(psd *d))
{
    if (d->n_timers >= sizeof d->timers / sizeof d->timers[0]) return;
    d->timers[d->n_timers++] = (psd_timer){psd_now_ms() + every_ms, every_ms, fn};
}

/* Runs due timers; returns ms until the next one. */
static long psd_loop_timers(psd *d)
{
    uint64_t now = psd_now_ms();
    long wait = 1000;
    for (unsigned i = 0; i < d->n_timers; i++) {
        psd_timer *t = &d->timers[i];
        if (now >= t->due_ms) {
            t->fn(d);
            t->due_ms = now + t->every_ms;
        }
        long left = (long)(t->due_ms - now);
        if (left < wait) wait = left;
    }
    return wait < 0 ? 0 : wait;
}

/* One poll round: readable sockets are drained (bounded per round so one
 * busy socket cannot starve the other or the timers). */
static psync_err psd_loop_once(psd *d, long timeout)
{
    zmq_pollitem_t items[4] = {{d->control, 0, ZMQ_POLLIN, 0},
                               {d->bulk, 0, ZMQ_POLLIN, 0},
                               {d->watch, 0, ZMQ_POLLIN, 0},
                               {d->follow.bulk, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(items, d->standby ? 4 : 2, timeout) < 0) {
        if (zmq_errno() == EINTR) return PSYNC_OK;
        return psync_fail(PSYNC_EIO, "zmq_poll: %s", zmq_strerror(zmq_errno()));
    }
    for (int i = 0; i < 64 && (items[0].revents & ZMQ_POLLIN); i++) {
        psd_control_readable(d);
        zmq_poll(items, 1, 0);
    }
    for (int i = 0; i < 64 && (items[1].revents & ZMQ_POLLIN); i++) {
        psd_bulk_readable(d);
        zmq_poll(&items[1], 1, 0);
    }
    if (d->standby && (items[2].revents & ZMQ_POLLIN)) psd_standby_readable(d);
    if (d->standby && (items[3].revents & ZMQ_POLLIN)) psd_follow_bulk_readable(d);
    return PSYNC_OK;
}

psync_err psd_loop_run(psd *d)
{
    psync_err e = PSYNC_OK;
    while (!d->stopping) {
        long wait = psd_loop_timers(d);
        if (psd_streams_pump(d)) wait = wait > 1 ? 1 : wait;
        if ((e = psd_loop_once(d, wait))) return e;
    }
    uint64_t until = psd_now_ms() + (uint64_t)d->set.grace_ms;
    PSYNC_INFO("draining", "grace_ms=%lld version=%llu", (long long)d->set.grace_ms,
               (unsigned long long)d->version);
    while (psd_streams_pump(d) && psd_now_ms() < until)
        psd_loop_once(d, 1);
    return PSYNC_OK;
}
