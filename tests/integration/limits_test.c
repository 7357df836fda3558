/* limits_test.c: psyncd's configurable hard limits against a real daemon
 * over 127.0.0.1: an uploaded model over max_tensors / max_model_bytes /
 * max_depth, or holding NaN/Inf, is refused and counted and no model is
 * installed; the per-peer control rate limit drops a storm unanswered
 * (counted) while another peer is still served. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_kit.h"

#define N 1500

/* Starts a daemon with flags, tries to upload m (must fail), then checks
 * the refusal counter `reason` and that no model was installed. */
static void upload_refused(const char *const *flags, psync_model *m, const char *reason)
{
    kit_daemon d;
    uint64_t version = 1, count = 0;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    psync_client *c = kit_client(&d, "uploader");
    assert_int_not_equal(psync_client_join(c, &m, 1500), PSYNC_OK);
    assert_int_equal(kit_status(&d, &version, reason, &count), 0);
    if (count < 1 || count == UINT64_MAX)
        fail_msg("counter %s = %llu", reason, (unsigned long long)count);
    assert_int_equal(version, 0); /* nothing installed, nothing merged */
    kit_finish(&d, &c, 1, &m, 1);
}

static void test_upload_over_max_tensors(void **state)
{
    (void)state;
    static const char *const flags[] = {"--chunk-bytes", "4096", "--max-tensors", "2", NULL};
    upload_refused(flags, kit_model(N, 1.0f, 0.0f), "bad_model");
}

static void test_upload_over_max_model_bytes(void **state)
{
    (void)state;
    static const char *const flags[] = {"--chunk-bytes", "4096", "--max-model-bytes", "8192", NULL};
    upload_refused(flags, kit_model(N, 1.0f, 0.0f), "bad_chunk");
}

static void test_upload_over_max_depth(void **state)
{
    (void)state;
    static const char *const flags[] = {"--chunk-bytes", "4096", "--max-depth", "4", NULL};
    upload_refused(flags, kit_model(N, 1.0f, 0.0f), "bad_model");
}

static void test_upload_nonfinite(void **state)
{
    (void)state;
    static const char *const flags[] = {"--chunk-bytes", "4096", NULL};
    psync_model *m = kit_model(N, 1.0f, 0.0f);
    ((float *)psync_model_find(m, "w")->data)[N - 1] = NAN;
    upload_refused(flags, m, "nonfinite");
    m = kit_model(N, 1.0f, 0.0f);
    ((float *)psync_model_find(m, "w/momentum")->data)[0] = INFINITY;
    upload_refused(flags, m, "nonfinite");
}

/* 60 status requests at once from one routing id with burst 5: about 5
 * answered, the rest dropped unanswered and counted; another peer is served. */
static void test_control_rate_limit(void **state)
{
    (void)state;
    static const char *const flags[] = {"--rate-per-s", "5", "--rate-burst", "5", NULL};
    kit_daemon d;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    kit_peer storm;
    kit_peer_open(&storm, &d, "storm", NULL);
    void *s = storm.ctl;
    psync_wire_hdr h, r;
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    for (int i = 0; i < 60; i++)
        kit_raw_send_hdr(s, &h, NULL, 0);
    int answered = 0;
    while (answered < 60 && kit_raw_recv(s, &r, 500) == 0)
        answered++;
    uint64_t version = 0, limited = 0;
    assert_int_equal(kit_status(&d, &version, "rate_limited", &limited), 0);
    printf("answered %d of 60, rate_limited %llu\n", answered, (unsigned long long)limited);
    assert_true(answered >= 5 && answered <= 10);
    assert_int_equal(limited, 60 - answered);
    kit_peer_close(&storm);
    assert_int_equal(kit_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_upload_over_max_tensors, kit_teardown),
        cmocka_unit_test_teardown(test_upload_over_max_model_bytes, kit_teardown),
        cmocka_unit_test_teardown(test_upload_over_max_depth, kit_teardown),
        cmocka_unit_test_teardown(test_upload_nonfinite, kit_teardown),
        cmocka_unit_test_teardown(test_control_rate_limit, kit_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
