/* boot_shm_test.c: a real client bootstraps from a fake psyncd (two
 * ROUTER sockets served by a thread of this test) on the same host, which
 * offers shared memory and sends the blob's payload chunks as
 * bootstrap_shm headers into a merged segment of its own. Sent right, the
 * client copies them from there (one request, nothing declined). Sent
 * wrong (a crc the bytes in the segment do not have, as a segment psyncd
 * rewrote meanwhile; an offset outside the segment), the client declines
 * shared memory, asks again, takes the blob as frames, and ends with the
 * exact model: nothing the bad headers pointed at reached it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "blob.h"
#include "cluster_kit.h"
#include "shm.h"

#define N 1500 /* "w" and its momentum: 12160 payload bytes, 3 whole chunks */
#define CHUNK 4096
#define INC 0xb007b007ull
#define VERSION 3

typedef enum { SEND_RIGHT, WRONG_CRC, OUTSIDE_SEGMENT } fake_way;

typedef struct fake {
    void *ctx, *ctl, *bulk;
    char ctl_ep[64], bulk_ep[64];
    fake_way way;
    const uint8_t *blob;
    size_t len;
    uint64_t off, plen, layout; /* the payload within the blob */
    psync_shm inbox, merged;    /* offered to the client; the payload's segment */
    bool shm;                   /* the client accepted the inbox */
    bool answered, deferred;    /* the offer was; a request waits for that */
    int accepted, declined, requests, shm_chunks;
    atomic_bool stop;
} fake;

static void *fake_router(fake *f, char *ep)
{
    void *s = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    size_t n = 64;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(s, "tcp://127.0.0.1:*") || zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &n))
        return NULL;
    return s;
}

/* Sends h (and n bytes of data, if any) to the client: rid is the routing
 * id frame its message came with (the same on both sockets). */
static void fake_reply(void *sock, const zmq_msg_t *rid, psync_wire_hdr *h, const void *data,
                       size_t n)
{
    zmq_msg_t frame;
    if (data) {
        zmq_msg_init_size(&frame, n);
        memcpy(zmq_msg_data(&frame), data, n);
    }
    if (psync_wire_send(sock, zmq_msg_data((zmq_msg_t *)rid), zmq_msg_size(rid), h,
                        data ? &frame : NULL, 0) &&
        data)
        zmq_msg_close(&frame);
}

static void fake_welcome(fake *f, const zmq_msg_t *rid)
{
    psync_wire_hdr w;
    psync_wire_init(&w, PSYNC_MSG_WELCOME, INC);
    w.m = 1;
    snprintf(w.action, sizeof w.action, "bootstrap");
    snprintf(w.policy, sizeof w.policy, "sync");
    w.version = VERSION;
    w.layout = f->layout;
    w.heartbeat_ms = 100;
    w.timeout_ms = 5000;
    w.chunk_bytes = CHUNK;
    fake_reply(f->ctl, rid, &w, NULL, 0);
}

/* Control: welcome the hello, acknowledge heartbeats. */
static void fake_control(fake *f, const zmq_msg_t *rid, const psync_wire_hdr *h)
{
    psync_wire_hdr r;
    if (h->t == PSYNC_MSG_HELLO) fake_welcome(f, rid);
    if (h->t != PSYNC_MSG_HEARTBEAT) return;
    psync_wire_init(&r, PSYNC_MSG_HEARTBEAT_ACK, INC);
    r.version = VERSION;
    r.layout = f->layout;
    fake_reply(f->ctl, rid, &r, NULL, 0);
}

/* Chunk k of the blob: a bootstrap_shm header into the merged segment if
 * the client took shared memory and the chunk lies wholly in the payload
 * (the last such chunk bent as f->way says), else a bootstrap frame. */
static void fake_chunk(fake *f, const zmq_msg_t *rid, uint64_t k, uint64_t last_shm)
{
    uint64_t at = k * CHUNK, n = f->len - at < CHUNK ? f->len - at : CHUNK;
    psync_wire_hdr h;
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP, INC);
    h.layout = f->layout;
    h.version = VERSION;
    h.offset = at;
    h.total = f->len;
    h.crc = psync_wire_crc(f->blob + at, n);
    if (!f->shm || at < f->off) {
        fake_reply(f->bulk, rid, &h, f->blob + at, n);
        return;
    }
    h.t = PSYNC_MSG_BOOTSTRAP_SHM;
    h.seg = (uint64_t)f->merged.fd;
    h.sid = f->merged.id;
    h.at = at - f->off;
    if (k == last_shm && f->way == WRONG_CRC) h.crc ^= 1;
    if (k == last_shm && f->way == OUTSIDE_SEGMENT) h.at = f->merged.len;
    f->shm_chunks++;
    fake_reply(f->bulk, rid, &h, NULL, 0);
}

static void fake_blob(fake *f, const zmq_msg_t *rid)
{
    uint64_t chunks = (f->len + CHUNK - 1) / CHUNK;
    for (uint64_t k = 0; k < chunks; k++)
        fake_chunk(f, rid, k, chunks - 1);
}

/* Bulk, as psyncd does: offer the inbox on attach, hold a bootstrap
 * request back until the offer is answered, then send the blob. */
static void fake_bulk(fake *f, const zmq_msg_t *rid, const psync_wire_hdr *h)
{
    psync_wire_hdr r;
    switch (h->t) {
    case PSYNC_MSG_ATTACH:
        psync_wire_init(&r, PSYNC_MSG_SHM_OFFER, INC);
        r.pid = (uint64_t)getpid();
        r.seg = (uint64_t)f->inbox.fd;
        r.sid = f->inbox.id;
        r.total = f->plen;
        fake_reply(f->bulk, rid, &r, NULL, 0);
        break;
    case PSYNC_MSG_SHM_ACCEPT:
        f->shm = h->sid == f->inbox.id;
        f->accepted += f->shm;
        f->declined += h->sid == 0;
        f->answered = true;
        if (f->deferred) fake_blob(f, rid);
        f->deferred = false;
        break;
    case PSYNC_MSG_BOOTSTRAP_REQ:
        f->requests++;
        f->deferred = !f->answered;
        if (f->answered) fake_blob(f, rid);
        break;
    default:
        break;
    }
}

/* Handles one message on sock if one waits. */
static void fake_one(fake *f, void *sock)
{
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n = 0;
    bool extra;
    psync_wire_hdr h;
    if (psync_wire_recv(sock, fr, &n, &extra)) return;
    if (n >= 2 && !psync_wire_decode(zmq_msg_data(&fr[1]), zmq_msg_size(&fr[1]), &h)) {
        if (sock == f->ctl) fake_control(f, &fr[0], &h);
        if (sock == f->bulk) fake_bulk(f, &fr[0], &h);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&fr[i]);
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    for (int i = 0; i < 3000 && !atomic_load(&f->stop); i++) { /* at most ~30 s */
        zmq_pollitem_t it[2] = {{f->ctl, 0, ZMQ_POLLIN, 0}, {f->bulk, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 10) <= 0) continue;
        if (it[0].revents) fake_one(f, f->ctl);
        if (it[1].revents) fake_one(f, f->bulk);
    }
    return NULL;
}

/* The fake daemon over m's blob, its sockets bound, its segments made. */
static void fake_open(fake *f, const psync_model *m, fake_way way)
{
    void *blob = NULL;
    memset(f, 0, sizeof *f);
    f->way = way;
    f->ctx = zmq_ctx_new();
    f->ctl = fake_router(f, f->ctl_ep);
    f->bulk = fake_router(f, f->bulk_ep);
    assert_non_null(f->ctl);
    assert_non_null(f->bulk);
    assert_int_equal(psync_blob_encode(m, &blob, &f->len), PSYNC_OK);
    f->blob = blob;
    assert_int_equal(psync_blob_payload(blob, f->len, &f->off, &f->plen), PSYNC_OK);
    f->layout = psync_model_layout_hash(m);
    assert_int_equal(psync_shm_create(f->plen, "psync-inbox", &f->inbox), PSYNC_OK);
    assert_int_equal(psync_shm_create(f->plen, "psync-merged", &f->merged), PSYNC_OK);
    memcpy(f->merged.p, f->blob + f->off, f->plen);
}

static void fake_close(fake *f)
{
    zmq_close(f->ctl);
    zmq_close(f->bulk);
    zmq_ctx_term(f->ctx);
    psync_shm_close(&f->inbox);
    psync_shm_close(&f->merged);
    free((void *)f->blob);
}

/* A client joins the fake daemon sending the blob `way`; asserts it ends
 * with m's exact weights and momentum, and returns what the fake saw. */
static void join_fake(fake *f, fake_way way)
{
    psync_model *m = kit_model(N, 2.5f, -0.75f), *got = NULL;
    psync_client *c = NULL;
    pthread_t t;
    fake_open(f, m, way);
    assert_int_equal(pthread_create(&t, NULL, fake_main, f), 0);
    psync_client_opts o = {.control = f->ctl_ep, .bulk = f->bulk_ep, .rank = -1};
    assert_int_equal(psync_client_new(&c, &o), PSYNC_OK);
    psync_err e = psync_client_join(c, &got, 10000);
    psync_client_destroy(&c);
    atomic_store(&f->stop, true);
    pthread_join(t, NULL);
    fake_close(f);
    assert_int_equal(e, PSYNC_OK);
    assert_int_equal(got->payload_len, m->payload_len);
    assert_memory_equal(got->payload, m->payload, m->payload_len);
    psync_model_destroy(&got);
    psync_model_destroy(&m);
}

static void test_payload_from_segment(void **state)
{
    (void)state;
    fake f;
    join_fake(&f, SEND_RIGHT);
    assert_int_equal(f.accepted, 1);
    assert_int_equal(f.declined, 0);
    assert_int_equal(f.requests, 1);
    assert_true(f.shm_chunks >= 2);
}

/* Joins with one bad header sent `way`: declined once, asked again. */
static void join_declined(fake_way way)
{
    fake f;
    join_fake(&f, way);
    assert_int_equal(f.accepted, 1);
    assert_int_equal(f.declined, 1);
    assert_int_equal(f.requests, 2); /* asked again, got frames */
}

static void test_wrong_crc_declined(void **state)
{
    (void)state;
    join_declined(WRONG_CRC);
}

static void test_outside_segment_declined(void **state)
{
    (void)state;
    join_declined(OUTSIDE_SEGMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_from_segment),
        cmocka_unit_test(test_wrong_crc_declined),
        cmocka_unit_test(test_outside_segment_declined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
