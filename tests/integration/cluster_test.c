/* cluster_test.c: a real psyncd over 127.0.0.1 TCP with clients of
 * libpsync_client: model upload by the first worker while another waits,
 * a sync round merging to the exact sample-weighted average, bootstrap of a
 * late joiner (graph + merged weights), a silent member dropped so the
 * round completes without it and its rejoin, easgd, and hostile messages
 * (malformed, truncated, oversized, wrong version/type/channel/layout/
 * incarnation, bad crc, NaN, stale, unknown member) refused with an error
 * and a counter while the merged state stays and good clients are served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "blob.h"
#include "cluster_kit.h"

#define N 1500 /* floats in "w": 3 chunks of 4096 bytes */
static const char *const small_chunks[] = {"--chunk-bytes", "4096", NULL};

/* Starts psyncd with flags into d; then a uploads while b waits and both
 * join, holding version 1. */
static void join_two(kit_daemon *d, const char *const *flags, psync_client **a, psync_model **ma,
                     psync_client **b, psync_model **mb)
{
    assert_int_equal(kit_daemon_start(d, flags), 0);
    *a = kit_client(d, "a");
    *b = kit_client(d, "b");
    *ma = kit_model(N, 1.0f, 0.0f);
    *mb = NULL;
    assert_int_equal(psync_client_connect(*b, NULL, 10000), PSYNC_OK);
    assert_int_equal(psync_client_action_get(*b), PSYNC_CLIENT_WAIT);
    assert_int_equal(psync_client_join(*a, ma, 10000), PSYNC_OK);
    assert_int_equal(psync_client_action_get(*a), PSYNC_CLIENT_UPLOAD);
    assert_int_equal(psync_client_bootstrap(*b, mb, 10000), PSYNC_OK);
    assert_true(kit_maxdiff(*mb, "w", 1.0f) == 0);
    assert_int_equal(psync_client_held_version(*a), 1);
    assert_int_equal(psync_client_held_version(*b), 1);
}

/* Polls c until it applies a merged version to m or timeout_ms pass. */
static bool poll_until_applied(psync_client *c, psync_model *m, int timeout_ms)
{
    return kit_poll_all((psync_client *[]){c}, (psync_model *[]){m}, 1, timeout_ms);
}

static void test_sync_round_and_bootstrap(void **state)
{
    kit_daemon d;
    psync_client *a, *b, *c;
    psync_model *ma, *mb, *mc = NULL;
    join_two(&d, small_chunks, &a, &ma, &b, &mb);
    kit_fill(ma, "w", 2.0f);
    kit_fill(ma, "b", 2.0f);
    kit_fill(ma, "w/momentum", 0.5f);
    kit_fill(mb, "w", 5.0f);
    kit_fill(mb, "b", 5.0f);
    kit_fill(mb, "w/momentum", 1.5f);
    assert_int_equal(psync_client_publish(a, ma, 100), PSYNC_OK);
    assert_int_equal(psync_client_publish(b, mb, 300), PSYNC_OK);
    psync_client *cs[2] = {a, b};
    psync_model *ms[2] = {ma, mb};
    assert_true(kit_poll_all(cs, ms, 2, 10000));
    for (int i = 0; i < 2; i++) {
        assert_true(kit_maxdiff(ms[i], "w", 4.25f) < 1e-6);
        assert_true(kit_maxdiff(ms[i], "b", 4.25f) < 1e-6);
        assert_true(kit_maxdiff(ms[i], "w/momentum", 1.25f) < 1e-6);
        assert_int_equal(((int32_t *)psync_model_find(ms[i], "count")->data)[1], 9);
        assert_int_equal(psync_client_held_version(cs[i]), 2);
    }
    /* A second publish for the closed round is refused locally in sync. */
    c = kit_client(&d, "c");
    assert_int_equal(psync_client_join(c, &mc, 10000), PSYNC_OK);
    assert_int_equal(mc->graph.n_nodes, 1);
    assert_string_equal(mc->graph.output, "fc");
    assert_true(kit_maxdiff(mc, "w", 4.25f) < 1e-6);
    assert_true(psync_model_layout_hash(mc) == psync_model_layout_hash(ma));
    assert_int_equal(mc->state.merge_version, 2);
    uint64_t v = 0;
    assert_int_equal(kit_status(&d, &v, NULL, NULL), 0);
    assert_int_equal(v, 2);
    kit_finish(&d, (psync_client *[]){a, b, c}, 3, (psync_model *[]){ma, mb, mc}, 3);
}

static void test_timeout_round_and_rejoin(void **state)
{
    static const char *const flags[] = {
        "--chunk-bytes", "4096", "--heartbeat-ms", "100", "--member-timeout-ms", "600", NULL};
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    join_two(&d, flags, &a, &ma, &b, &mb);
    kit_fill(ma, "w", 3.0f);
    assert_int_equal(psync_client_publish(a, ma, 10), PSYNC_OK);
    /* b stays silent: the round closes once it is dropped, without it. */
    assert_true(poll_until_applied(a, ma, 4000));
    assert_int_equal(psync_client_held_version(a), 2);
    assert_true(kit_maxdiff(ma, "w", 3.0f) == 0);
    /* b wakes up: it is told it is unknown, rejoins and gets version 2. */
    assert_true(poll_until_applied(b, mb, 5000));
    assert_int_equal(psync_client_held_version(b), 2);
    assert_true(kit_maxdiff(mb, "w", 3.0f) == 0);
    kit_finish_two(&d, a, ma, b, mb);
}

static void test_easgd(void **state)
{
    static const char *const flags[] = {"--chunk-bytes", "4096", "--policy", "easgd",
                                        "--alpha",       "0.5",  NULL};
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    join_two(&d, flags, &a, &ma, &b, &mb);
    kit_fill(ma, "w", 3.0f); /* centre 1 -> 1 + 0.5 (3 - 1) = 2 */
    assert_int_equal(psync_client_publish(a, ma, 10), PSYNC_OK);
    assert_true(poll_until_applied(a, ma, 4000));
    /* the worker is pulled toward the centre: 3 - 0.5 (3 - 2) = 2.5 */
    assert_true(kit_maxdiff(ma, "w", 2.5f) < 1e-6);
    kit_finish_two(&d, a, ma, b, mb);
}

/* async: c += (w - c) / (attached (1 + staleness)); too stale is refused. */
static void test_async_staleness(void **state)
{
    static const char *const flags[] = {"--chunk-bytes",   "4096", "--policy", "async",
                                        "--max-staleness", "1",    NULL};
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    const char *detail;
    join_two(&d, flags, &a, &ma, &b, &mb);
    kit_fill(ma, "w", 3.0f); /* v2: 1 + (3 - 1) / 2 = 2 */
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_true(kit_poll_version(a, ma, 2, 4000));
    assert_true(kit_maxdiff(ma, "w", 2.0f) < 1e-6);
    kit_fill(mb, "w", 5.0f); /* base 1 at v2: 2 + (5 - 2) / (2 * 2) = 2.75 */
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    assert_true(kit_poll_version(b, mb, 3, 4000));
    assert_true(kit_maxdiff(mb, "w", 2.75f) < 1e-6);
    kit_fill(mb, "w", 6.0f); /* base 3 at v3: 2.75 + (6 - 2.75) / 2 = 4.375 */
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    assert_true(kit_poll_version(b, mb, 4, 4000));
    assert_true(kit_maxdiff(mb, "w", 4.375f) < 1e-6);
    /* a still holds v2: staleness 2 > 1 is refused, the centre stays. */
    assert_int_equal(psync_client_held_version(a), 2);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    for (int i = 0; i < 100 && psync_client_last_error(a, &detail) != PSYNC_ESTALE; i++)
        psync_client_poll(a, NULL, 10, NULL);
    assert_int_equal(psync_client_last_error(a, &detail), PSYNC_ESTALE);
    uint64_t v = 0, n = 0;
    assert_int_equal(kit_status(&d, &v, "stale_version", &n), 0);
    assert_int_equal(v, 4);
    assert_true(n >= 1);
    kit_finish_two(&d, a, ma, b, mb);
}

/* Sends raw bytes on s and expects an ERROR with one of two codes. */
static void expect_error(void *s, const void *hdr, size_t len, const void *pl, size_t plen,
                         const char *code, const char *alt)
{
    kit_raw_send(s, hdr, len, pl, plen);
    kit_expect_error(s, code, alt);
}

/* Sends header h (and payload pl) on s and expects an ERROR with code. */
static void expect_error_hdr(void *s, const psync_wire_hdr *h, const void *pl, size_t plen,
                             const char *code)
{
    kit_raw_send_hdr(s, h, pl, plen);
    kit_expect_error(s, code, NULL);
}

/* Chunk 0 (4096 bytes) of a snapshot of m at base 1, one sample, from the
 * member that welcome answered. */
static void snapshot_chunk0(psync_wire_hdr *h, const psync_wire_hdr *welcome, const psync_model *m)
{
    psync_wire_init(h, PSYNC_MSG_SNAPSHOT, welcome->inc);
    h->m = welcome->m;
    h->layout = welcome->layout;
    h->base = 1;
    h->samples = 1;
    h->total = m->payload_len;
    h->crc = psync_wire_crc(m->payload, 4096);
}

static void hostile_envelopes(void *ctl, uint64_t inc)
{
    unsigned char buf[4096];
    size_t len;
    psync_wire_hdr h;
    expect_error(ctl, "\xc1garbage", 8, NULL, 0, "EFORMAT", NULL);
    psync_wire_init(&h, PSYNC_MSG_HELLO, 0);
    strcpy(h.name, "evil");
    assert_int_equal(psync_wire_encode(&h, buf, sizeof buf, &len), PSYNC_OK);
    expect_error(ctl, buf, len / 2, NULL, 0, "ETRUNC", "EFORMAT");
    h.v = PSYNC_PROTO_VERSION + 1; /* the encoder writes any v: a future peer */
    assert_int_equal(psync_wire_encode(&h, buf, sizeof buf, &len), PSYNC_OK);
    expect_error(ctl, buf, len, NULL, 0, "EVERSION", NULL);
    assert_int_equal(PSYNC_PROTO_VERSION, 2); /* the raw headers below say v 2 */
    memcpy(buf, "\x84\xa1v\x02\xa1t\xa4nope\xa3inc\x00\xa1m\x01", 19);
    expect_error(ctl, buf, 19, NULL, 0, "EPROTO", NULL);
    memset(buf, 'a', sizeof buf);
    memcpy(buf, "\x84\xa1v\x02\xa1t\xa6status\xa3inc\x00\xa3pad\xda\x0b\xb8", 25);
    expect_error(ctl, buf, 25 + 3000, NULL, 0, "ELIMIT", NULL); /* 3 KB header */
    psync_wire_init(&h, PSYNC_MSG_SNAPSHOT, inc);
    h.m = 1;
    h.total = 1;
    expect_error_hdr(ctl, &h, "x", 1, "EPROTO"); /* bulk message on control */
    psync_wire_init(&h, PSYNC_MSG_HEARTBEAT, inc + 1);
    h.m = 1;
    expect_error_hdr(ctl, &h, NULL, 0, "ESTALE"); /* another daemon's incarnation */
}

/* A raw member: hello on control, then hostile snapshots on bulk. */
static void hostile_snapshots(const kit_daemon *d, const psync_model *good)
{
    psync_wire_hdr h, w;
    kit_peer p;
    kit_peer_open(&p, d, "evil-2", "evil-2");
    void *bulk = p.bulk;
    kit_hello_init(&h, good, 1);
    assert_int_equal(kit_peer_hello(&p, &h, &w), 0);
    psync_model *bad = NULL;
    assert_int_equal(psync_model_clone(good, &bad), PSYNC_OK);
    float *x = psync_model_find(bad, "w")->data;
    snapshot_chunk0(&h, &w, bad);
    h.layout = w.layout ^ 1;
    expect_error_hdr(bulk, &h, bad->payload, 4096, "EMISMATCH");
    h.layout = w.layout;
    h.crc ^= 1;
    expect_error_hdr(bulk, &h, bad->payload, 4096, "EPROTO");
    h.base = 0;
    h.crc ^= 1;
    expect_error_hdr(bulk, &h, bad->payload, 4096, "ESTALE");
    h.base = 1;
    x[5] = 0.0f / 0.0f;
    h.crc = psync_wire_crc(bad->payload, 4096);
    expect_error_hdr(bulk, &h, bad->payload, 4096, "ENONFINITE");
    void *stranger = kit_raw(p.ctx, d->bulk, "evil-3");
    h.m = 999;
    x[5] = 1.0f;
    h.crc = psync_wire_crc(bad->payload, 4096);
    expect_error_hdr(stranger, &h, bad->payload, 4096, "ENOTFOUND");
    /* A frame over --max-message-bytes: ZeroMQ drops that connection. */
    size_t huge = 17u << 20;
    char *big = calloc(1, huge);
    kit_raw_send(stranger, "x", 1, big, huge);
    free(big);
    psync_wire_init(&h, PSYNC_MSG_LEAVE, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(p.ctl, &h, NULL, 0);
    psync_model_destroy(&bad);
    zmq_close(stranger);
    kit_peer_close(&p);
}

static void expect_count(const kit_daemon *d, const char *reason, uint64_t at_least)
{
    uint64_t v = 0, n = 0;
    assert_int_equal(kit_status(d, &v, reason, &n), 0);
    if (n < at_least || n == UINT64_MAX)
        fail_msg("counter %s = %llu, expected >= %llu", reason, (unsigned long long)n,
                 (unsigned long long)at_least);
    assert_int_equal(v, 1); /* merged state unchanged by everything refused */
}

static void test_hostile_messages(void **state)
{
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    join_two(&d, small_chunks, &a, &ma, &b, &mb);
    kit_peer evil;
    kit_peer_open(&evil, &d, "evil-1", NULL);
    hostile_envelopes(evil.ctl, 0x1234);
    hostile_snapshots(&d, ma);
    kit_peer_close(&evil);
    expect_count(&d, "malformed", 3);
    expect_count(&d, "protocol_version", 1);
    expect_count(&d, "bad_type", 2);
    expect_count(&d, "stale_incarnation", 1);
    expect_count(&d, "layout_mismatch", 1);
    expect_count(&d, "bad_chunk", 1);
    expect_count(&d, "stale_version", 1);
    expect_count(&d, "nonfinite", 1);
    expect_count(&d, "unknown_member", 1);
    /* The good clients are still served: an exact round. */
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000));
    kit_finish_two(&d, a, ma, b, mb);
}

/* A participant leaves after its first chunk was merged and streamed: the
 * streamed version is abandoned (its number burned) and the round closes
 * over the complete snapshot; the worker ends up with exactly that. */
static void test_round_abort(void **state)
{
    kit_daemon d;
    psync_client *a;
    psync_model *ma = kit_model(N, 1.0f, 0.0f);
    psync_wire_hdr h, w;
    kit_peer q;
    assert_int_equal(kit_daemon_start(&d, small_chunks), 0);
    a = kit_client(&d, "a");
    assert_int_equal(psync_client_join(a, &ma, 10000), PSYNC_OK);
    kit_peer_open(&q, &d, "quitter", "quitter");
    kit_hello_init(&h, ma, 1);
    assert_int_equal(kit_peer_hello(&q, &h, &w), 0);
    snapshot_chunk0(&h, &w, ma);
    kit_raw_send_hdr(q.bulk, &h, ma->payload, 4096); /* chunk 0 only */
    uint64_t in = 0; /* wait until the daemon holds it: the quitter is a participant */
    for (int i = 0; i < 300 && (kit_status_u64(&d, "bytes_in", &in) || in < 4096); i++)
        zmq_poll(NULL, 0, 10);
    assert_true(in >= 4096);
    uint64_t out0 = 0, out = 0;
    assert_int_equal(kit_status_u64(&d, "bytes_out", &out0), 0);
    kit_fill(ma, "w", 7.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    /* Wait until chunk 0 of version 2 was merged and streamed (a fixed
     * number of polls was too short on a loaded machine). */
    for (int i = 0; i < 400 && (kit_status_u64(&d, "bytes_out", &out) || out < out0 + 4096); i++)
        psync_client_poll(a, ma, 10, NULL);
    assert_true(out >= out0 + 4096);
    psync_wire_init(&h, PSYNC_MSG_LEAVE, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(q.ctl, &h, NULL, 0);
    assert_true(kit_poll_version(a, ma, 3, 4000));
    assert_true(kit_maxdiff(ma, "w", 7.0f) == 0);
    kit_peer_close(&q);
    kit_finish(&d, (psync_client *[]){a}, 1, (psync_model *[]){ma}, 1);
}

/* The daemon restarts (no disk): the workers notice the new incarnation,
 * one uploads the model it holds (keeping its merged version number), the
 * other gets that version from the daemon, and rounds go on exactly. */
static void test_daemon_restart(void **state)
{
    static const char *const flags[] = {
        "--chunk-bytes", "4096", "--heartbeat-ms", "100", "--member-timeout-ms", "1000", NULL};
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    join_two(&d, flags, &a, &ma, &b, &mb);
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000));
    assert_int_equal(kit_daemon_stop(&d), 0);
    uint64_t old_inc = psync_client_incarnation(a);
    assert_int_equal(kit_daemon_restart(&d, flags), 0);
    for (int i = 0;
         i < 500 &&
         (psync_client_incarnation(a) == old_inc || psync_client_incarnation(b) == old_inc ||
          psync_client_daemon_version(a) != 2 || psync_client_daemon_version(b) != 2);
         i++) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
    }
    assert_int_equal(psync_client_held_version(a), 2);
    assert_int_equal(psync_client_held_version(b), 2);
    assert_true(psync_client_incarnation(b) != old_inc);
    assert_true(kit_maxdiff(mb, "w", 3.0f) < 1e-6);
    kit_fill(ma, "w", 1.0f);
    kit_fill(mb, "w", 2.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_int_equal(psync_client_publish(b, mb, 3), PSYNC_OK);
    assert_true(kit_poll_all((psync_client *[]){a, b}, (psync_model *[]){ma, mb}, 2, 10000));
    assert_true(kit_maxdiff(ma, "w", 1.75f) < 1e-6);
    assert_int_equal(psync_client_held_version(a), 3);
    kit_finish_two(&d, a, ma, b, mb);
}

/* kit_model plus extra params "p<i>/<padding>" of 37 floats each, named
 * long enough that the blob's header spans several 4096-byte chunks. */
#define EXTRA 150
static psync_model *big_header_model(float v)
{
    psync_model *m = kit_model(N, v, 0.0f);
    uint64_t shp[1] = {37};
    char name[96];
    for (int i = 0; i < EXTRA; i++) {
        snprintf(name, sizeof name, "p%03d/a_long_tensor_name_that_makes_the_blob_header_grow", i);
        assert_int_equal(
            psync_model_add_tensor(m, name, PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, shp, NULL, NULL),
            PSYNC_OK);
        kit_fill(m, name, v);
    }
    return m;
}

/* A bootstrap streams the blob's header chunks from a copy and the rest
 * straight out of the merged buffer: a joiner after a merge, with a header
 * of several chunks and a payload that starts mid-chunk, gets every byte. */
static void test_bootstrap_big_header(void **state)
{
    kit_daemon d;
    psync_client *a, *c;
    psync_model *ma = big_header_model(1.0f), *mc = NULL;
    size_t size = 0;
    assert_int_equal(psync_blob_size(ma, &size), PSYNC_OK);
    assert_true(size - ma->payload_len > 2 * 4096); /* the header spans 3+ chunks */
    assert_int_equal(kit_daemon_start(&d, small_chunks), 0);
    a = kit_client(&d, "a");
    assert_int_equal(psync_client_join(a, &ma, 10000), PSYNC_OK);
    kit_fill(ma, "w", 3.0f);
    kit_fill(ma, "p149/a_long_tensor_name_that_makes_the_blob_header_grow", -2.5f);
    assert_int_equal(psync_client_publish(a, ma, 10), PSYNC_OK);
    assert_true(poll_until_applied(a, ma, 10000));
    assert_int_equal(psync_client_held_version(a), 2);
    c = kit_client(&d, "c");
    assert_int_equal(psync_client_join(c, &mc, 10000), PSYNC_OK);
    assert_int_equal(mc->state.merge_version, 2);
    assert_int_equal(mc->n_tensors, ma->n_tensors);
    assert_true(psync_model_layout_hash(mc) == psync_model_layout_hash(ma));
    assert_memory_equal(mc->payload, ma->payload, ma->payload_len);
    assert_true(kit_maxdiff(mc, "w", 3.0f) == 0);
    assert_true(kit_maxdiff(mc, "p149/a_long_tensor_name_that_makes_the_blob_header_grow", -2.5f) ==
                0);
    kit_finish_two(&d, a, ma, c, mc);
}

static void test_cluster_full(void **state)
{
    static const char *const flags[] = {"--max-members", "1", NULL};
    kit_daemon d;
    psync_client *a, *b;
    assert_int_equal(kit_daemon_start(&d, flags), 0);
    a = kit_client(&d, "a");
    b = kit_client(&d, "b");
    assert_int_equal(psync_client_connect(a, NULL, 5000), PSYNC_OK);
    assert_int_equal(psync_client_connect(b, NULL, 5000), PSYNC_ELIMIT);
    uint64_t v = 0, n = 0;
    assert_int_equal(kit_status(&d, &v, "full", &n), 0);
    assert_true(n >= 1);
    kit_finish(&d, (psync_client *[]){a, b}, 2, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sync_round_and_bootstrap, kit_teardown),
        cmocka_unit_test_teardown(test_timeout_round_and_rejoin, kit_teardown),
        cmocka_unit_test_teardown(test_easgd, kit_teardown),
        cmocka_unit_test_teardown(test_async_staleness, kit_teardown),
        cmocka_unit_test_teardown(test_hostile_messages, kit_teardown),
        cmocka_unit_test_teardown(test_round_abort, kit_teardown),
        cmocka_unit_test_teardown(test_daemon_restart, kit_teardown),
        cmocka_unit_test_teardown(test_cluster_full, kit_teardown),
        cmocka_unit_test_teardown(test_bootstrap_big_header, kit_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
