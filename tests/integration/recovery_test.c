/* recovery_test.c: a restarted psyncd (empty memory, same address) restores
 * the NEWEST merged version any worker holds: within the collection window
 * it picks the newest holder; a holder of a newer version arriving after
 * an older one was installed makes the daemon restore the newer one; an
 * upload that is not newer than the daemon's version is refused (fencing);
 * a worker never applies an older merged version; merging resumes from the
 * restored version with the async weight of the largest membership seen;
 * what a worker uploads is the merged payload it kept, not its weights; a
 * zero-copy sync publish to a stopped daemon returns with its frames freed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "blob.h"
#include "cluster_kit.h"

#define N 1500 /* floats in "w": 3 chunks of 4096 bytes */

/* a uploads (v1), b bootstraps; a publishes twice (v2 = 2.0, v3 = 3.0)
 * while b applies only v2. b is then destroyed: *mb keeps v2. */
static void two_versions(kit_daemon *d, psync_client **a, psync_model **ma, psync_model **mb)
{
    psync_client *b = kit_client(d, "b");
    *a = kit_client(d, "a");
    *ma = kit_model(N, 1.0f, 0.0f);
    *mb = NULL;
    assert_int_equal(psync_client_join(*a, ma, 10000), PSYNC_OK);
    assert_int_equal(psync_client_join(b, mb, 10000), PSYNC_OK);
    assert_true(kit_poll_version(b, *mb, 1, 2000) || psync_client_held_version(b) == 1);
    kit_fill(*ma, "w", 3.0f); /* v2 = 1 + (3 - 1) / 2 */
    assert_int_equal(psync_client_publish(*a, *ma, 1), PSYNC_OK);
    assert_true(kit_poll_version(*a, *ma, 2, 4000));
    assert_true(kit_poll_version(b, *mb, 2, 4000));
    psync_client_destroy(&b); /* a worker that holds v2 only */
    kit_fill(*ma, "w", 4.0f); /* v3 = 2 + (4 - 2) / 2 (largest membership: 2) */
    assert_int_equal(psync_client_publish(*a, *ma, 1), PSYNC_OK);
    assert_true(kit_poll_version(*a, *ma, 3, 4000));
    assert_true(kit_maxdiff(*ma, "w", 3.0f) < 1e-6);
    assert_true(kit_maxdiff(*mb, "w", 2.0f) < 1e-6);
    assert_int_equal((*mb)->state.merge_version, 2);
}

/* Polls a and b until both hold v. */
static bool poll_both(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb,
                      uint64_t v, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
        if (psync_client_held_version(a) == v && psync_client_held_version(b) == v) return true;
    }
    return false;
}

/* Starts psyncd (async, 4096-byte chunks, heartbeat 100 ms, member
 * timeout 1 s, recovery window window_ms), makes a hold v3 and *mb v2,
 * restarts the daemon (empty memory, same address) and makes *b, a new
 * client "b-again" for the holder of *mb (not yet connected). */
static void restart_after_two(kit_daemon *d, const char *window_ms, psync_client **a,
                              psync_model **ma, psync_client **b, psync_model **mb)
{
    const char *const flags[] = {"--chunk-bytes",
                                 "4096",
                                 "--policy",
                                 "async",
                                 "--recovery-window-ms",
                                 window_ms,
                                 "--heartbeat-ms",
                                 "100",
                                 "--member-timeout-ms",
                                 "1000",
                                 NULL};
    assert_int_equal(kit_daemon_start(d, flags), 0);
    two_versions(d, a, ma, mb);
    assert_int_equal(kit_daemon_stop(d), 0);
    assert_int_equal(kit_daemon_restart(d, flags), 0);
    *b = kit_client(d, "b-again");
}

/* The older holder says hello first; the window lets the newer one in. */
static void test_window_restores_newest(void **state)
{
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint64_t v = 0;
    restart_after_two(&d, "600", &a, &ma, &b, &mb);
    assert_int_equal(psync_client_connect(b, mb, 5000), PSYNC_OK);
    assert_int_equal(psync_client_action_get(b), PSYNC_CLIENT_WAIT);
    assert_true(poll_both(a, ma, b, mb, 3, 8000));
    assert_int_equal(kit_status(&d, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 3);
    assert_true(kit_maxdiff(mb, "w", 3.0f) < 1e-6); /* a's merged v3, not its weights */
    /* merging resumes from v3: 3 + (5 - 3) / 2 */
    kit_fill(ma, "w", 5.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_true(poll_both(a, ma, b, mb, 4, 8000));
    assert_true(kit_maxdiff(mb, "w", 4.0f) < 1e-6);
    kit_finish_two(&d, a, ma, b, mb);
}

/* No window: the older holder's v2 is installed first, then the newer
 * holder's hello makes the daemon restore v3; nobody goes back. */
static void test_late_newer_holder(void **state)
{
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint64_t v = 0;
    restart_after_two(&d, "0", &a, &ma, &b, &mb);
    assert_int_equal(psync_client_join(b, &mb, 5000), PSYNC_OK);
    assert_int_equal(psync_client_action_get(b), PSYNC_CLIENT_UPLOAD);
    assert_int_equal(kit_status(&d, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 2);
    assert_true(poll_both(a, ma, b, mb, 3, 8000));
    assert_int_equal(kit_status(&d, &v, "stale_version", NULL), 0);
    assert_int_equal(v, 3);
    assert_true(kit_maxdiff(ma, "w", 3.0f) < 1e-6);
    assert_true(kit_maxdiff(mb, "w", 3.0f) < 1e-6);
    kit_finish_two(&d, a, ma, b, mb);
}

/* Sends blob as MODEL chunks of cb bytes from a raw bulk socket. */
static void raw_upload(void *bulk, uint64_t inc, uint64_t m, uint64_t layout, uint64_t version,
                       const uint8_t *blob, size_t len, uint64_t cb)
{
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_MODEL, inc);
    h.m = m;
    h.layout = layout;
    h.version = version;
    h.total = len;
    for (uint64_t off = 0; off < len; off += cb) {
        uint64_t n = len - off < cb ? len - off : cb;
        h.offset = off;
        h.crc = psync_wire_crc(blob + off, n);
        kit_raw_send_hdr(bulk, &h, blob + off, n);
    }
}

/* A peer claims a newer version but uploads an older one: refused, the
 * daemon's version and model stay. */
static void test_stale_upload_refused(void **state)
{
    static const char *const flags[] = {"--chunk-bytes", "4096", "--policy", "async", NULL};
    kit_daemon d;
    psync_client *a = NULL;
    psync_model *ma = kit_model(N, 1.0f, 0.0f), *old = kit_model(N, 9.0f, 0.0f);
    uint64_t v = 0, n = 0;
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    a = kit_client(&d, "a");
    assert_int_equal(psync_client_join(a, &ma, 5000), PSYNC_OK);
    kit_fill(ma, "w", 3.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_true(kit_poll_version(a, ma, 2, 4000)); /* alone: v2 = 3.0 */
    assert_int_equal(psync_blob_encode(old, &blob, &len), PSYNC_OK);
    kit_peer liar;
    kit_peer_open(&liar, &d, "liar", "liar");
    psync_wire_hdr h, r;
    kit_hello_init(&h, old, 100);
    snprintf(h.name, sizeof h.name, "liar");
    h.rank = -1;
    h.held_inc = 77;
    h.model_bytes = len;
    assert_int_equal(kit_peer_hello(&liar, &h, &r), 0);
    assert_string_equal(r.action, "upload");
    raw_upload(liar.bulk, r.inc, r.m, h.layout, 1, blob, len, r.chunk_bytes);
    kit_expect_error(liar.bulk, "ESTALE", NULL);
    assert_int_equal(kit_status(&d, &v, "stale_version", &n), 0);
    assert_int_equal(v, 2);
    assert_true(n >= 1);
    /* the honest worker is still served and merges from 3.0 */
    kit_fill(ma, "w", 5.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_true(kit_poll_version(a, ma, 3, 4000));
    assert_true(kit_maxdiff(ma, "w", 4.0f) < 1e-6 || kit_maxdiff(ma, "w", 5.0f) < 1e-6);
    free(blob);
    kit_peer_close(&liar);
    kit_finish(&d, (psync_client *[]){a}, 1, (psync_model *[]){ma, old}, 2);
}

/* A worker keeps the merged payload it received, not its trained weights:
 * b bootstraps v1 (w = 1.5), then trains away from it (w = 9); the only
 * other worker leaves and the daemon restarts; b uploads what it kept and
 * a new joiner bootstraps exactly w = 1.5 from the restored daemon. */
static void test_kept_copy_restores(void **state)
{
    static const char *const flags[] = {
        "--chunk-bytes",        "4096", "--policy", "async", "--heartbeat-ms", "100",
        "--recovery-window-ms", "200",  NULL};
    kit_daemon d;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    psync_client *a = kit_client(&d, "a"), *b = kit_client(&d, "b"), *c = NULL;
    psync_model *ma = kit_model(N, 1.5f, 0.0f), *mb = NULL, *mc = NULL;
    assert_int_equal(psync_client_join(a, &ma, 5000), PSYNC_OK);
    assert_int_equal(psync_client_join(b, &mb, 5000), PSYNC_OK);
    assert_true(kit_maxdiff(mb, "w", 1.5f) == 0);
    kit_fill(mb, "w", 9.0f); /* b trains: its weights are no longer the merged ones */
    psync_client_destroy(&a);
    assert_int_equal(kit_daemon_stop(&d), 0);
    assert_int_equal(kit_daemon_restart(&d, flags), 0);
    uint64_t v = 0; /* b is asked to upload what it kept */
    for (int i = 0; i < 500 && (kit_status_u64(&d, "version", &v) || v < 1); i++)
        psync_client_poll(b, mb, 10, NULL);
    assert_int_equal(v, 1);
    c = kit_client(&d, "c");
    assert_int_equal(psync_client_join(c, &mc, 5000), PSYNC_OK);
    assert_true(kit_maxdiff(mc, "w", 1.5f) == 0);
    assert_true(kit_maxdiff(mb, "w", 9.0f) == 0); /* b's own training untouched */
    kit_finish(&d, (psync_client *[]){b, c}, 2, (psync_model *[]){ma, mb, mc}, 3);
}

/* The most one loopback TCP connection can buffer once autotuning grew
 * it: the receiver's tcp_rmem maximum plus the sender's tcp_wmem maximum
 * (the third field of each; 36 MiB on Debian 12's defaults). */
static uint64_t tcp_buffer_max(void)
{
    static const char *const files[] = {"/proc/sys/net/ipv4/tcp_rmem",
                                        "/proc/sys/net/ipv4/tcp_wmem"};
    uint64_t sum = 0;
    for (int i = 0; i < 2; i++) {
        unsigned long long lo = 0, def = 0, max = 32ull << 20; /* if unreadable */
        FILE *f = fopen(files[i], "r");
        if (f && fscanf(f, "%llu %llu %llu", &lo, &def, &max) != 3) max = 32ull << 20;
        if (f) fclose(f);
        sum += max;
    }
    return sum;
}

/* A sync publish sends straight from the model's memory and returns only
 * once ZeroMQ released every frame. To a daemon that takes nothing
 * (SIGSTOP) it returns EBUSY after about the member timeout (3 s: a TSan
 * daemon needs more than 1 s to check the upload), and the model can be
 * freed at once (the ASan stage would see a frame still in use). The
 * snapshot is larger than the kernel can buffer on the connection (the
 * join's upload may have grown the daemon's receive buffer to the
 * tcp_rmem maximum), so ZeroMQ cannot hand all of it over. */
static void test_publish_to_stopped_daemon(void **state)
{
#ifdef KIT_TSAN
    skip(); /* a large upload takes the instrumented daemon longer than the test allows */
#endif
    uint64_t bytes = tcp_buffer_max() + (16u << 20); /* params + slot: 8 bytes a float */
    if (bytes > (512ull << 20)) skip();              /* a host tuned for huge buffers */
    /* --no-shm: a publish sent from the model's memory is what is under test */
    static const char *const flags[] = {
        "--policy", "sync", "--heartbeat-ms", "200", "--member-timeout-ms", "3000",
        "--no-shm", NULL};
    kit_daemon d;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    psync_client *a = kit_client(&d, "a");
    psync_model *ma = kit_model(bytes / 8, 1.0f, 0.0f);
    assert_int_equal(psync_client_join(a, &ma, 20000), PSYNC_OK);
    kill(d.pid, SIGSTOP);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    psync_err e = psync_client_publish(a, ma, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    psync_model_destroy(&ma);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    kill(d.pid, SIGCONT);
    assert_int_equal(e, PSYNC_EBUSY);
    assert_true(s >= 1.5 && s < 20.0); /* about the member timeout */
    kit_finish(&d, &a, 1, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_window_restores_newest, kit_teardown),
        cmocka_unit_test_teardown(test_late_newer_holder, kit_teardown),
        cmocka_unit_test_teardown(test_stale_upload_refused, kit_teardown),
        cmocka_unit_test_teardown(test_kept_copy_restores, kit_teardown),
        cmocka_unit_test_teardown(test_publish_to_stopped_daemon, kit_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
