/* standby_test.c: psyncd --standby-of (docs/recovery.md). Failover: the
 * primary dies, the standby promotes itself (epoch 2) after the primary's
 * silence, the workers (given both addresses) fail over to it by
 * themselves, it restores the newest merged version from them and merging
 * goes on. Split-brain: a standby cut off from a live primary promotes; a
 * worker that has seen its epoch then reaches the old primary, which fences
 * itself (refuses, exits 75): one lineage is never accepted after a newer
 * one. Both daemons are killed on failure (teardown). */
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "cluster_kit.h"

#define N 1500
static pid_t live[2];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A client of the endpoint list eps. */
static psync_client *list_client(const char *eps, const char *name)
{
    psync_client *c = NULL;
    psync_client_opts o = {.control = eps, .name = name, .rank = -1};
    assert_int_equal(psync_client_new(&c, &o), PSYNC_OK);
    return c;
}

/* Starts a standby of primary (control endpoint) with silence_ms. */
static void start_standby(kit_daemon *b, const char *primary, const char *silence_ms)
{
    const char *flags[] = {"--chunk-bytes", "4096", "--policy", "async", "--heartbeat-ms", "100",
                           "--member-timeout-ms", "1000", "--recovery-window-ms", "300",
                           "--standby-of", primary, "--standby-silence-ms", silence_ms, NULL};
    assert_int_equal(kit_daemon_start(b, flags), 0);
    live[1] = b->pid;
}

static const char *const primary_flags[] = {"--chunk-bytes", "4096", "--policy", "async",
                                            "--heartbeat-ms", "100", "--member-timeout-ms",
                                            "1000", NULL};

/* Polls a and b until both hold at least v (or timeout_ms). */
static bool poll_both(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb,
                      uint64_t v, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (psync_client_held_version(a) >= v && psync_client_held_version(b) >= v)
            return true;
    }
    return false;
}

static void test_failover(void **state)
{
    kit_daemon pa, sb;
    char eps[160];
    uint64_t epoch = 0, v = 0;
    assert_int_equal(kit_daemon_start(&pa, primary_flags), 0);
    live[0] = pa.pid;
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
    assert_int_equal(epoch, 1); /* still a standby */
    uint64_t t0 = now_ms();
    assert_int_equal(kit_daemon_stop(&pa), 0);
    live[0] = 0;
    for (int i = 0; i < 1500; i++) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (i % 10 == 9 && !kit_status(&sb, &v, "stale_version", NULL) && v >= 2)
            break;
    }
    uint64_t restored = now_ms() - t0;
    assert_int_equal(kit_status_u64(&sb, "epoch", &epoch), 0);
    assert_int_equal(epoch, 2);
    assert_int_equal(kit_status(&sb, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 2); /* the newest version the workers held */
    assert_true(poll_both(a, ma, b, mb, 2, 4000));
    kit_fill(ma, "w", 5.0f); /* v3 = 2 + (5 - 2) / 2 */
    for (int i = 0; i < 300 && psync_client_publish(a, ma, 1) != PSYNC_OK; i++)
        psync_client_poll(a, ma, 10, NULL);
    assert_true(poll_both(a, ma, b, mb, 3, 6000));
    assert_true(kit_maxdiff(mb, "w", 3.5f) < 1e-6);
    printf("failover: primary stopped -> standby restored v2 in %llu ms, v3 merged at %llu ms\n",
           (unsigned long long)restored, (unsigned long long)(now_ms() - t0));
    psync_client_destroy(&a);
    psync_client_destroy(&b);
    psync_model_destroy(&ma);
    psync_model_destroy(&mb);
    assert_int_equal(kit_daemon_stop(&sb), 0);
    live[1] = 0;
}

static void test_split_brain(void **state)
{
    kit_daemon pa, sb;
    char eps[160];
    int st = 0;
    uint64_t epoch = 0;
    assert_int_equal(kit_daemon_start(&pa, primary_flags), 0);
    live[0] = pa.pid;
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

static int teardown(void **state)
{
    for (int i = 0; i < 2; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
    kit_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_failover, teardown),
        cmocka_unit_test_teardown(test_split_brain, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
