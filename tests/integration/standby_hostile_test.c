/* standby_hostile_test.c: a standby psyncd follows a fake primary (two
 * ROUTER sockets in this test) that sends it a good bootstrap (version 5),
 * then every kind of bad input on the follow path: wrong crc, NaN, wrong
 * total, misaligned offset, short chunk, a foreign incarnation, an
 * undecodable header, extra frames, a blob that is not msgpack, and a stale
 * version. Each bad one is refused and counted (follow_refused), a stale
 * one is ignored, and the standby's version does not move; a good merged
 * version 6 is then installed. When the fake primary falls silent the
 * standby promotes itself and a new client bootstraps exactly version 6's
 * weights from it: nothing the primary sent wrong reached them. */
#include <setjmp.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "blob.h"
#include "cluster_kit.h"

#define N 1500
#define CHUNK 4096
#define INC 0x5eed5eed5eedull

typedef struct fake {
    void *ctx, *ctl, *bulk;
    char ctl_ep[64], bulk_ep[64];
    uint8_t rid[64]; /* the standby's routing id (same on both sockets) */
    size_t rid_len;
    uint64_t layout;
    bool alive; /* answers heartbeats and status requests */
} fake;

static fake F;
static kit_daemon SB;

static void *fake_router(fake *f, char *ep)
{
    void *s = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    size_t len = 64;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    assert_int_equal(zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len), 0);
    return s;
}

/* Sends header h (and payload bytes, if any) to the standby on sock. */
static void fake_send(void *sock, const psync_wire_hdr *h, const void *payload, size_t plen)
{
    zmq_msg_t frame;
    if (payload) {
        assert_int_equal(zmq_msg_init_size(&frame, plen), 0);
        memcpy(zmq_msg_data(&frame), payload, plen);
    }
    assert_int_equal(psync_wire_send(sock, F.rid, F.rid_len, h, payload ? &frame : NULL, 0),
                     PSYNC_OK);
}

/* Receives one message on sock within timeout_ms; answers heartbeats and
 * status requests while alive. Returns its type (0: none). */
static psync_msg_type fake_recv(void *sock, int timeout_ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n = 0;
    bool extra;
    psync_wire_hdr h = {0}, r;
    if (zmq_poll(&it, 1, timeout_ms) <= 0 || psync_wire_recv(sock, fr, &n, &extra)) return 0;
    if (n >= 2) {
        F.rid_len = zmq_msg_size(&fr[0]) < sizeof F.rid ? zmq_msg_size(&fr[0]) : sizeof F.rid;
        memcpy(F.rid, zmq_msg_data(&fr[0]), F.rid_len);
        psync_wire_decode(zmq_msg_data(&fr[1]), zmq_msg_size(&fr[1]), &h);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&fr[i]);
    if (F.alive && h.t == PSYNC_MSG_HEARTBEAT) {
        psync_wire_init(&r, PSYNC_MSG_HEARTBEAT_ACK, INC);
        r.version = 5;
        r.layout = F.layout;
        r.epoch = 1;
        fake_send(F.ctl, &r, NULL, 0);
    }
    if (F.alive && h.t == PSYNC_MSG_STATUS_REQ) {
        psync_wire_init(&r, PSYNC_MSG_STATUS, INC);
        r.epoch = 1;
        fake_send(F.ctl, &r, "\x80", 1); /* an empty map: the standby reads the header */
    }
    return h.t;
}

/* Serves the control socket until a message of type t comes on sock
 * (true) or ms pass (false). */
static bool fake_wait(void *sock, psync_msg_type t, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        if (sock != F.ctl && fake_recv(sock, 0) == t) return true;
        if (fake_recv(F.ctl, 10) == t && sock == F.ctl) return true;
    }
    return false;
}

/* Serves the control socket (heartbeats, status) for about ms. */
static void fake_serve(int ms)
{
    for (int waited = 0; waited < ms; waited += 10)
        fake_recv(F.ctl, 10);
}

/* Sends bytes as a stream of `type` chunks (crc computed, then bent by
 * crc_delta on chunk bad_chunk). */
static void fake_stream(psync_msg_type type, uint64_t version, uint64_t inc, const uint8_t *data,
                        uint64_t len, uint64_t total, int bad_chunk, uint32_t crc_delta)
{
    for (uint64_t off = 0, k = 0; off < len; off += CHUNK, k++) {
        uint64_t n = len - off < CHUNK ? len - off : CHUNK;
        psync_wire_hdr h;
        psync_wire_init(&h, type, inc);
        h.layout = F.layout;
        h.version = version;
        h.offset = off;
        h.total = total;
        h.crc = psync_wire_crc(data + off, n) + ((int)k == bad_chunk ? crc_delta : 0);
        fake_send(F.bulk, &h, data + off, n);
    }
}

static uint64_t standby_u64(const char *key)
{
    uint64_t v = UINT64_MAX;
    for (int i = 0; i < 50 && kit_status_u64(&SB, key, &v); i++)
        fake_serve(20);
    return v;
}

/* Serves until the standby's key reaches want (or ms); returns the value. */
static uint64_t standby_until(const char *key, uint64_t want, int ms)
{
    uint64_t v = standby_u64(key);
    for (int waited = 0; waited < ms && v != want; waited += 50) {
        fake_serve(50);
        v = standby_u64(key);
    }
    return v;
}

/* Follow handshake and a good bootstrap of m as version 5. */
static void follow_and_bootstrap(const psync_model *m)
{
    void *blob = NULL;
    size_t len = 0;
    psync_wire_hdr w;
    assert_true(fake_wait(F.ctl, PSYNC_MSG_FOLLOW, 5000));
    psync_wire_init(&w, PSYNC_MSG_WELCOME, INC);
    w.m = 7;
    snprintf(w.action, sizeof w.action, "bootstrap");
    snprintf(w.policy, sizeof w.policy, "async");
    w.version = 5;
    w.layout = F.layout;
    w.alpha = 0.5;
    w.heartbeat_ms = 100;
    w.timeout_ms = 1000;
    w.chunk_bytes = CHUNK;
    w.epoch = 1;
    fake_send(F.ctl, &w, NULL, 0);
    assert_true(fake_wait(F.bulk, PSYNC_MSG_BOOTSTRAP_REQ, 3000));
    assert_int_equal(psync_blob_encode(m, &blob, &len), PSYNC_OK);
    fake_stream(PSYNC_MSG_BOOTSTRAP, 5, INC, blob, len, len, -1, 0);
    free(blob);
    assert_int_equal(standby_until("version", 5, 3000), 5);
}

/* Every bad merged / bootstrap input; returns how many must be counted. */
static uint64_t send_hostile(psync_model *m)
{
    const uint8_t *p = m->payload;
    uint64_t len = m->payload_len;
    uint8_t *nan_copy = malloc(len), junk[300];
    memcpy(nan_copy, p, len);
    float nan = NAN;
    memcpy(nan_copy + CHUNK + 8, &nan, sizeof nan);           /* inside "w" (a merged range) */
    fake_stream(PSYNC_MSG_MERGED, 6, INC, p, len, len, 1, 1); /* bad crc */
    fake_stream(PSYNC_MSG_MERGED, 6, INC, nan_copy, len, len, -1, 0); /* NaN, crc right */
    fake_stream(PSYNC_MSG_MERGED, 6, INC, p, CHUNK, len + 64, -1, 0); /* wrong total */
    fake_stream(PSYNC_MSG_MERGED, 4, INC, p, len, len, -1, 0);        /* stale: ignored */
    fake_stream(PSYNC_MSG_MERGED, 6, INC ^ 1, p, CHUNK, len, -1, 0);  /* foreign incarnation */
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_MERGED, INC);
    h.layout = F.layout;
    h.version = 6;
    h.total = len;
    h.offset = 100; /* misaligned */
    h.crc = psync_wire_crc(p, 64);
    fake_send(F.bulk, &h, p, 64);
    h.offset = CHUNK; /* a chunk shorter than chunk_bytes that is not the last */
    h.crc = psync_wire_crc(p + CHUNK, 100);
    fake_send(F.bulk, &h, p + CHUNK, 100);
    memset(junk, 0xc1, sizeof junk); /* 0xc1: never valid msgpack */
    zmq_send(F.bulk, F.rid, F.rid_len, ZMQ_SNDMORE);
    zmq_send(F.bulk, junk, 40, 0); /* undecodable header */
    h.offset = 0;
    h.crc = psync_wire_crc(p, CHUNK);
    uint8_t hb[PSYNC_WIRE_MAX_HEADER];
    size_t hl = 0;
    assert_int_equal(psync_wire_encode(&h, hb, sizeof hb, &hl), PSYNC_OK);
    zmq_send(F.bulk, F.rid, F.rid_len, ZMQ_SNDMORE);
    zmq_send(F.bulk, hb, hl, ZMQ_SNDMORE);
    zmq_send(F.bulk, p, CHUNK, ZMQ_SNDMORE);
    zmq_send(F.bulk, p, 8, 0); /* an extra frame */
    fake_stream(PSYNC_MSG_BOOTSTRAP, 7, INC, junk, sizeof junk, sizeof junk, -1,
                0); /* not a blob */
    free(nan_copy);
    return 9;
}

/* A worker hello to the standby with a routing id longer than any member
 * may have (ZeroMQ allows 255 bytes): refused, the standby lives on. */
static void long_rid_hello(void)
{
    char rid[201];
    memset(rid, 'r', sizeof rid - 1);
    rid[sizeof rid - 1] = '\0';
    void *s = kit_raw(F.ctx, SB.control, rid);
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_HELLO, 0);
    snprintf(h.name, sizeof h.name, "long");
    h.rank = -1;
    kit_raw_send_hdr(s, &h, NULL, 0);
    assert_int_equal(kit_raw_recv(s, &h, 3000), 0);
    assert_int_equal(h.t, PSYNC_MSG_ERROR); /* a standby: not serving */
    zmq_close(s);
}

static void test_hostile_primary(void **state)
{
    char sil[] = "1500";
    psync_model *m = kit_model(N, 2.0f, 0.5f), *mc = NULL;
    F.ctx = zmq_ctx_new();
    F.ctl = fake_router(&F, F.ctl_ep);
    F.bulk = fake_router(&F, F.bulk_ep);
    F.layout = psync_model_layout_hash(m);
    F.alive = true;
    const char *flags[] = {"--standby-of",
                           F.ctl_ep,
                           "--standby-bulk",
                           F.bulk_ep,
                           "--standby-silence-ms",
                           sil,
                           "--chunk-bytes",
                           "4096",
                           "--heartbeat-ms",
                           "100",
                           NULL};
    assert_int_equal(kit_daemon_start(&SB, flags), 0);
    follow_and_bootstrap(m);
    uint64_t want = send_hostile(m);
    assert_int_equal(standby_until("follow_refused", want, 3000), want);
    assert_int_equal(standby_u64("version"), 5);
    assert_int_equal(standby_u64("epoch"), 1);
    long_rid_hello();
    assert_int_equal(standby_u64("version"), 5);
    kit_fill(m, "w", 3.0f); /* a good version 6 */
    fake_stream(PSYNC_MSG_MERGED, 6, INC, m->payload, m->payload_len, m->payload_len, -1, 0);
    assert_int_equal(standby_until("version", 6, 3000), 6);
    assert_int_equal(standby_u64("follow_refused"), want);
    F.alive = false; /* the primary falls silent: the standby takes over */
    assert_int_equal(standby_until("epoch", 2, 4000), 2);
    psync_client *c = kit_client(&SB, "c");
    assert_int_equal(psync_client_join(c, &mc, 5000), PSYNC_OK);
    assert_int_equal(psync_client_held_version(c), 6);
    assert_true(kit_maxdiff(mc, "w", 3.0f) == 0);
    assert_true(kit_maxdiff(mc, "w/momentum", 0.5f) == 0);
    psync_client_destroy(&c);
    psync_model_destroy(&mc);
    psync_model_destroy(&m);
    assert_int_equal(kit_daemon_stop(&SB), 0);
    SB.pid = 0;
}

static int teardown(void **state)
{
    if (SB.pid > 0) {
        kill(SB.pid, SIGKILL);
        waitpid(SB.pid, NULL, 0);
    }
    kit_cleanup();
    if (F.ctl) zmq_close(F.ctl);
    if (F.bulk) zmq_close(F.bulk);
    if (F.ctx) zmq_ctx_term(F.ctx);
    memset(&F, 0, sizeof F);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hostile_primary, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
