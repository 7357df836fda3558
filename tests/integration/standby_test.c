/* standby_test.c: psyncd --standby-of (docs/recovery.md). Failover: the
 * primary dies, the standby promotes itself (epoch 2) after the primary's
 * silence, the workers (given both addresses) fail over to it by
 * themselves and merging goes on from the newest version. Copy: the
 * standby follows every merged version itself, so a merge survives even
 * when no worker does. Split-brain: a standby cut off from a live primary promotes; a
 * worker that has seen its epoch then reaches the old primary, which fences
 * itself (refuses, exits 75): one lineage is never accepted after a newer
 * one. Both daemons are killed on failure (teardown). */
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_kit.h"
#include "keys.h"

#define N 1500
static pid_t live[2];

/* A client of the endpoint list eps. */
static psync_client *list_client(const char *eps, const char *name)
{
    psync_client *c = NULL;
    psync_client_opts o = {.control = eps, .name = name, .rank = -1};
    assert_int_equal(psync_client_new(&c, &o), PSYNC_OK);
    return c;
}

/* Starts psyncd as live[slot] (restarts it on d's endpoints if restart)
 * with the flags every test shares (4 KiB chunks, async, 100 ms
 * heartbeats, 1 s member timeout) followed by the NULL-terminated extra
 * flags, which override them (the last flag wins). */
static void start(kit_daemon *d, int slot, bool restart, ...)
{
    const char *argv[32] = {
        "--chunk-bytes",       "4096", "--policy", "async", "--heartbeat-ms", "100",
        "--member-timeout-ms", "1000"};
    int n = 8;
    va_list ap;
    va_start(ap, restart);
    for (const char *f; n < 31 && (f = va_arg(ap, const char *));)
        argv[n++] = f;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(restart ? kit_daemon_restart(d, argv) : kit_daemon_start(d, argv), 0);
    live[slot] = d->pid;
}

/* Starts a standby of primary (control endpoint) with silence_ms. */
static void start_standby(kit_daemon *b, const char *primary, const char *silence_ms)
{
    start(b, 1, false, "--recovery-window-ms", "300", "--standby-of", primary,
          "--standby-silence-ms", silence_ms, NULL);
}

/* Polls a and b until both hold at least v (or timeout_ms). */
static bool poll_both(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb,
                      uint64_t v, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (psync_client_held_version(a) >= v && psync_client_held_version(b) >= v) return true;
    }
    return false;
}

/* Polls the daemon's status until its version is v (or timeout_ms). */
static bool wait_version(const kit_daemon *d, uint64_t v, int timeout_ms)
{
    uint64_t got = 0;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (!kit_status_u64(d, "version", &got) && got == v) return true;
        poll(NULL, 0, 20);
    }
    return false;
}

/* After a failover the workers carry epoch 2. The promoted standby dies
 * too and a psyncd is restarted empty on its address: it takes over the
 * lineage the workers hold (epoch 3) instead of being fenced by their
 * epoch 2, restores v3 from their memory and merges v4 exactly. */
static void restart_after_failover(kit_daemon *sb, psync_client *a, psync_model *ma,
                                   psync_client *b, psync_model *mb)
{
    uint64_t epoch = 0, v = 0;
    assert_int_equal(kit_daemon_stop(sb), 0);
    start(sb, 1, true, "--recovery-window-ms", "300", "--async-members", "2", NULL);
    for (int i = 0; i < 1500 && (v < 3 || epoch != 3); i++) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (i % 10 == 9) {
            kit_status_u64(sb, "epoch", &epoch);
            kit_status_u64(sb, "version", &v);
        }
    }
    assert_int_equal(epoch, 3);
    assert_int_equal(v, 3);  /* restored from the workers' memory */
    kit_fill(ma, "w", 6.0f); /* v4 = 3.5 + (6 - 3.5) / 2 */
    for (int i = 0; i < 300 && psync_client_publish(a, ma, 1) != PSYNC_OK; i++)
        psync_client_poll(a, ma, 10, NULL);
    assert_true(poll_both(a, ma, b, mb, 4, 6000));
    assert_true(kit_maxdiff(mb, "w", 4.75f) < 1e-6);
}

static void test_failover(void **state)
{
    kit_daemon pa, sb;
    char eps[160];
    uint64_t epoch = 0, v = 0;
    start(&pa, 0, false, NULL);
    start_standby(&sb, pa.control, "800");
    snprintf(eps, sizeof eps, "%s,%s", pa.control, sb.control);
    psync_client *a = list_client(eps, "a"), *b = list_client(eps, "b");
    psync_model *ma = kit_model(N, 1.0f, 0.0f), *mb = NULL;
    assert_int_equal(psync_client_join(a, &ma, 5000), PSYNC_OK);
    assert_int_equal(psync_client_join(b, &mb, 5000), PSYNC_OK);
    kit_fill(ma, "w", 3.0f); /* v2 = 1 + (3 - 1) / 2 */
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_true(poll_both(a, ma, b, mb, 2, 4000));
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 1);              /* still a standby */
    assert_true(wait_version(&sb, 2, 3000)); /* ... holding its own copy of v2 */
    uint64_t t0 = kit_now_ms();
    assert_int_equal(kit_daemon_stop(&pa), 0);
    live[0] = 0;
    uint64_t sinc = 0;
    assert_int_equal(kit_status_u64(&sb, "inc", &sinc), 0);
    for (int i = 0; i < 1500; i++) { /* until both workers are members of the standby */
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (psync_client_incarnation(a) == sinc && psync_client_incarnation(b) == sinc &&
            !psync_client_rejoining(a) && !psync_client_rejoining(b))
            break;
    }
    uint64_t restored = kit_now_ms() - t0;
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_int_equal(kit_status(&sb, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 2); /* its copy: the newest version the workers held */
    assert_true(poll_both(a, ma, b, mb, 2, 4000));
    kit_fill(ma, "w", 5.0f); /* v3 = 2 + (5 - 2) / 2 */
    for (int i = 0; i < 300 && psync_client_publish(a, ma, 1) != PSYNC_OK; i++)
        psync_client_poll(a, ma, 10, NULL);
    assert_true(poll_both(a, ma, b, mb, 3, 6000));
    assert_true(kit_maxdiff(mb, "w", 3.5f) < 1e-6);
    printf("failover: primary stopped -> standby serving v2 in %llu ms, v3 merged at %llu ms\n",
           (unsigned long long)restored, (unsigned long long)(kit_now_ms() - t0));
    restart_after_failover(&sb, a, ma, b, mb);
    psync_client_destroy(&a);
    psync_client_destroy(&b);
    psync_model_destroy(&ma);
    psync_model_destroy(&mb);
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
}

/* The standby keeps its own copy of the merged model: following a sync
 * primary it takes no part in the round (one worker's snapshot closes it
 * long before the deadline) and reports the primary's version; then the
 * worker leaves and the primary is killed, so no worker holds anything,
 * yet a new worker with no model bootstraps the merged weights and the
 * cluster's training state (step, samples) from the promoted standby. */
static void test_standby_copy(void **state)
{
    kit_daemon pa, sb;
    uint64_t epoch = 0;
    start(&pa, 0, false, "--policy", "sync", "--round-deadline-ms", "8000", NULL);
    start_standby(&sb, pa.control, "800");
    psync_client *a = list_client(pa.control, "a");
    psync_model *ma = kit_model(N, 1.0f, 0.0f), *mc = NULL;
    assert_int_equal(psync_client_join(a, &ma, 5000), PSYNC_OK);
    assert_true(wait_version(&sb, 1, 3000)); /* bootstrapped from the primary */
    kit_fill(ma, "w", 3.0f);
    ma->state.global_step = 123; /* reaches the standby in the merged headers */
    ma->state.samples_seen = 4567;
    uint64_t t0 = kit_now_ms();
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    for (int i = 0; i < 400 && psync_client_held_version(a) < 2; i++)
        psync_client_poll(a, ma, 10, NULL);
    assert_int_equal(psync_client_held_version(a), 2);
    assert_true(kit_now_ms() - t0 < 3000); /* the follower did not hold the round */
    assert_true(wait_version(&sb, 2, 3000));
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 1);
    psync_client_destroy(&a);
    kill(pa.pid, SIGKILL);
    waitpid(pa.pid, NULL, 0);
    live[0] = 0;
    for (int i = 0; i < 300 && (kit_status_u64(&sb, "epoch", &epoch) || epoch != 2); i++)
        poll(NULL, 0, 10);
    assert_int_equal(epoch, 2);
    psync_client *c = list_client(sb.control, "c");
    assert_int_equal(psync_client_join(c, &mc, 5000), PSYNC_OK);
    assert_int_equal(psync_client_held_version(c), 2);
    assert_true(kit_maxdiff(mc, "w", 3.0f) < 1e-6); /* the merge no surviving worker held */
    assert_int_equal(mc->state.global_step, 123);   /* and the cluster's training state */
    assert_int_equal(mc->state.samples_seen, 4567);
    psync_client_destroy(&c);
    psync_model_destroy(&ma);
    psync_model_destroy(&mc);
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
}

static void test_split_brain(void **state)
{
    kit_daemon pa, sb;
    char eps[160];
    int st = 0;
    uint64_t epoch = 0;
    start(&pa, 0, false, NULL);
    start_standby(&sb, "tcp://127.0.0.1:9", "300"); /* cut off: its primary never answers */
    for (int i = 0; i < 300 && (kit_status_u64(&sb, "epoch", &epoch) || epoch != 2); i++)
        poll(NULL, 0, 10);
    assert_int_equal(epoch, 2);
    /* two lineages: y on the old primary, x on the promoted standby */
    psync_client *y = list_client(pa.control, "y");
    psync_model *my = kit_model(N, 1.0f, 0.0f), *mx = kit_model(N, 7.0f, 0.0f);
    assert_int_equal(psync_client_join(y, &my, 5000), PSYNC_OK);
    snprintf(eps, sizeof eps, "%s,%s", sb.control, pa.control);
    psync_client *x = list_client(eps, "x");
    assert_int_equal(psync_client_join(x, &mx, 5000), PSYNC_OK);
    uint64_t held = psync_client_held_version(x);
    /* the standby dies; x reaches the old primary, which must fence itself */
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
    for (int i = 0; i < 600 && waitpid(pa.pid, &st, WNOHANG) == 0; i++)
        psync_client_poll(x, mx, 10, NULL);
    live[0] = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 75); /* fenced by x's hello (epoch 2) */
    assert_int_equal(psync_client_held_version(x), held);
    assert_true(kit_maxdiff(mx, "w", 7.0f) == 0); /* nothing of the old lineage applied */
    psync_client_destroy(&x);
    psync_client_destroy(&y);
    psync_model_destroy(&mx);
    psync_model_destroy(&my);
}

/* --quorum 2 on both daemons (docs/recovery.md): a primary with one worker
 * pauses merging; a standby cut off from that live primary does not
 * promote on the hello of one worker (below quorum), only once a second
 * distinct worker asks it too; the primary resumes merging, with the exact
 * async value, when its second worker attaches. At most one side of a cut
 * merges at a time. */
static void test_quorum(void **state)
{
    kit_daemon pa, sb;
    uint64_t epoch = 0, v = 0;
    start(&pa, 0, false, "--member-timeout-ms", "5000", "--quorum", "2", NULL);
    start(&sb, 1, false, "--member-timeout-ms", "3000", "--standby-silence-ms", "300",
          "--standby-of", "tcp://127.0.0.1:9", "--quorum", "2", NULL);
    psync_client *y1 = list_client(pa.control, "y1"), *y2 = list_client(pa.control, "y2");
    psync_model *m1 = kit_model(N, 1.0f, 0.0f), *m2 = NULL;
    assert_int_equal(psync_client_join(y1, &m1, 5000), PSYNC_OK); /* v1 */
    kit_fill(m1, "w", 3.0f);
    assert_int_equal(psync_client_publish(y1, m1, 1), PSYNC_OK);
    for (int i = 0; i < 50; i++) /* 500 ms: one worker is below the quorum */
        psync_client_poll(y1, m1, 10, NULL);
    assert_int_equal(kit_status(&pa, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 1);
    psync_client *x1 = list_client(sb.control, "x1"), *x2 = list_client(sb.control, "x2");
    psync_model *mx1 = kit_model(N, 7.0f, 0.0f), *mx2 = kit_model(N, 7.0f, 0.0f);
    assert_int_not_equal(psync_client_join(x1, &mx1, 1000), PSYNC_OK);
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 1); /* one worker asked: no second lineage */
    assert_int_equal(psync_client_join(x2, &mx2, 5000), PSYNC_OK);
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 2); /* a second distinct worker completed the quorum */
    assert_int_equal(psync_client_join(y2, &m2, 5000), PSYNC_OK);
    for (int i = 0; i < 300 && psync_client_held_version(y2) < 2; i++) {
        psync_client_poll(y1, m1, 5, NULL);
        psync_client_poll(y2, m2, 5, NULL);
    }
    assert_int_equal(psync_client_held_version(y2), 2); /* quorum reached: merging resumed */
    assert_true(kit_maxdiff(m2, "w", 2.0f) < 1e-6);     /* 1 + (3 - 1) / 2 */
    psync_client *cs[] = {y1, y2, x1, x2};
    psync_model *ms[] = {m1, m2, mx1, mx2};
    for (int i = 0; i < 4; i++) {
        psync_client_destroy(&cs[i]);
        psync_model_destroy(&ms[i]);
    }
}

/* Key pairs "primary" and "standby" in kdir; kdir/allow holds standby.pub,
 * the one key both daemons admit (the standby's watch and the test's status
 * probes use it). */
static char kdir[] = "/tmp/psync-standby-keys-XXXXXX";
static char kpath_buf[4][300];

static const char *kpath(int slot, const char *name)
{
    snprintf(kpath_buf[slot], sizeof kpath_buf[slot], "%s/%s", kdir, name);
    return kpath_buf[slot];
}

static void keys_make(void)
{
    static const char *const names[] = {"primary", "standby"};
    assert_int_equal(kit_keys_make(kdir, names, 2, 0x2u), 0);
}

/* Removes what keys_make wrote (nothing if it did not run). */
static void keys_remove(void)
{
    kit_keys_remove(kdir);
}

/* The epoch a CURVE daemon reports to a probe holding the standby's key. */
static uint64_t curve_epoch(const kit_daemon *d, const char *server_pub)
{
    uint64_t epoch = 0;
    setenv("PSYNC_KEY_FILE", kpath(3, "standby.key"), 1);
    setenv("PSYNC_SERVER_KEY", server_pub, 1);
    int rc = kit_status_u64(d, "epoch", &epoch);
    unsetenv("PSYNC_KEY_FILE");
    unsetenv("PSYNC_SERVER_KEY");
    return rc ? 0 : epoch;
}

/* Starts a CURVE standby of pa whose watch trusts server_pub. */
static void start_curve_standby(kit_daemon *sb, const kit_daemon *pa, const char *server_pub)
{
    const char *flags[] = {"--policy",
                           "async",
                           "--heartbeat-ms",
                           "100",
                           "--standby-of",
                           pa->control,
                           "--standby-silence-ms",
                           "400",
                           "--key-file",
                           kpath(0, "standby.key"),
                           "--allow-list",
                           kpath(1, "allow"),
                           "--standby-server-key",
                           server_pub,
                           NULL};
    assert_int_equal(kit_daemon_start(sb, flags), 0);
    live[1] = sb->pid;
}

/* The standby's watch of the primary is CURVE-authenticated both ways: with
 * the primary's real key it keeps hearing the primary (stays epoch 1 well
 * past its silence limit); trusting another key it cannot hear the primary
 * at all and promotes itself. */
static void test_curve_watch(void **state)
{
    kit_daemon pa, sb;
    char primary_pub[300];
    keys_make();
    snprintf(primary_pub, sizeof primary_pub, "%s/primary.pub", kdir);
    const char *pflags[] = {"--policy",     "async",           "--heartbeat-ms",
                            "100",          "--key-file",      kpath(2, "primary.key"),
                            "--allow-list", kpath(1, "allow"), NULL};
    assert_int_equal(kit_daemon_start(&pa, pflags), 0);
    live[0] = pa.pid;
    start_curve_standby(&sb, &pa, primary_pub);
    poll(NULL, 0, 1500); /* more than three silence limits */
    assert_int_equal(curve_epoch(&sb, kpath(3, "standby.pub")), 1);
    assert_int_equal(curve_epoch(&pa, primary_pub), 1);
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
    char wrong_pub[300];
    snprintf(wrong_pub, sizeof wrong_pub, "%s/standby.pub", kdir);
    start_curve_standby(&sb, &pa, wrong_pub);
    uint64_t epoch = 0;
    for (int i = 0; i < 300 && epoch != 2; i++) {
        poll(NULL, 0, 10);
        epoch = curve_epoch(&sb, wrong_pub);
    }
    assert_int_equal(epoch, 2);
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
    assert_int_equal(kit_daemon_stop(&pa), 0);
    live[0] = 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < 2; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    kit_cleanup();
    keys_remove();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover, teardown),
        cmocka_unit_test_teardown(test_standby_copy, teardown),
        cmocka_unit_test_teardown(test_split_brain, teardown),
        cmocka_unit_test_teardown(test_quorum, teardown),
        cmocka_unit_test_teardown(test_curve_watch, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
