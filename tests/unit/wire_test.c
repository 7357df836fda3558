/* wire_test.c: the wire codec against messages.def: every message type
 * round-trips with every field; truncated, oversized, wrong-version,
 * wrong-type, wrong-kind, out-of-range and duplicate-key headers are refused
 * with their specific error; chunk checks; docs/protocol.md lists all. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <zlib.h>

#include "mpwrite.h"
#include "wire.h"

/* Fills every field of h with a distinctive in-bounds value. */
static void fill_fields(psync_wire_hdr *h, uint64_t seed)
{
    h->m = 7 + seed;
    snprintf(h->name, sizeof h->name, "host-%llu:42", (unsigned long long)seed);
    h->rank = 3;
    h->layout = 0xfeedface12345678ULL ^ seed;
    h->held = 11;
    h->held_inc = UINT64_MAX - seed;
    h->model_bytes = 1 << 20;
    strcpy(h->action, "bootstrap");
    strcpy(h->policy, "easgd");
    h->version = 99;
    h->base = 98;
    h->samples = 12345;
    h->alpha = 0.125;
    h->slots = true;
    h->heartbeat_ms = 500;
    h->timeout_ms = 5000;
    h->chunk_bytes = 4 << 20;
    h->offset = 8 << 20;
    h->total = 100 << 20;
    h->crc = 0xdeadbeef;
    strcpy(h->code, "EMISMATCH");
    strcpy(h->ref, "snapshot");
    strcpy(h->detail, "layout hash differs");
    strcpy(h->reason, "done");
    h->pid = 4242;
    h->seg = 7;
    h->sid = 0x1122334455ULL;
}

static void test_roundtrip_every_type(void **state)
{
    for (int t = 1; t < PSYNC_MSG_COUNT_; t++) {
        psync_wire_hdr in, out;
        unsigned char buf[PSYNC_WIRE_MAX_HEADER];
        size_t len;
        psync_wire_init(&in, (psync_msg_type)t, 0x1234567890abcdefULL);
        fill_fields(&in, (uint64_t)t);
        assert_int_equal(psync_wire_encode(&in, buf, sizeof buf, &len), PSYNC_OK);
        assert_int_equal(psync_wire_decode(buf, len, &out), PSYNC_OK);
        assert_int_equal(out.t, t);
        assert_int_equal(out.v, PSYNC_PROTO_VERSION);
        assert_true(out.inc == in.inc);
        uint64_t f = psync_wire_msg((psync_msg_type)t)->fields;
        /* Every field of the type decodes to what was sent; others stay 0. */
        if (f & PSYNC_WF(m))
            assert_true(out.m == in.m);
        else
            assert_true(out.m == 0);
        if (f & PSYNC_WF(name)) assert_string_equal(out.name, in.name);
        if (f & PSYNC_WF(rank)) assert_int_equal(out.rank, 3);
        if (f & PSYNC_WF(layout)) assert_true(out.layout == in.layout);
        if (f & PSYNC_WF(held_inc)) assert_true(out.held_inc == in.held_inc);
        if (f & PSYNC_WF(action)) assert_string_equal(out.action, "bootstrap");
        if (f & PSYNC_WF(alpha)) assert_true(out.alpha == 0.125);
        if (f & PSYNC_WF(slots)) assert_true(out.slots);
        if (f & PSYNC_WF(total)) assert_true(out.total == in.total);
        if (f & PSYNC_WF(crc)) assert_true(out.crc == 0xdeadbeef);
        if (f & PSYNC_WF(detail)) assert_string_equal(out.detail, in.detail);
        /* Every strict prefix is refused, never accepted or crashing. */
        for (size_t cut = 0; cut < len; cut++)
            assert_int_not_equal(psync_wire_decode(buf, cut, &out), PSYNC_OK);
    }
}

/* Packs a header map from (key, kind, value) triples: 'u' uint, 'i' int,
 * 's' str, 'd' double, 'a' array of 2 (a non-scalar). */
static size_t pack_raw(unsigned char *buf, size_t cap, int n, ...)
{
    msgpack_packer pk;
    psync_mpbuf mb;
    va_list ap;
    psync_mpbuf_packer(&pk, &mb, buf, cap);
    msgpack_pack_map(&pk, (size_t)n);
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        psync_mp_pack_cstr(&pk, va_arg(ap, const char *));
        switch (va_arg(ap, int)) {
        case 'u':
            msgpack_pack_uint64(&pk, va_arg(ap, uint64_t));
            break;
        case 'i':
            msgpack_pack_int64(&pk, va_arg(ap, int64_t));
            break;
        case 's':
            psync_mp_pack_cstr(&pk, va_arg(ap, const char *));
            break;
        case 'd':
            msgpack_pack_double(&pk, va_arg(ap, double));
            break;
        default:
            msgpack_pack_array(&pk, 2);
            msgpack_pack_nil(&pk);
            msgpack_pack_nil(&pk);
        }
    }
    va_end(ap);
    assert_false(mb.overflow);
    return mb.len;
}

static void test_hostile_headers(void **state)
{
    unsigned char buf[4096];
    psync_wire_hdr h;
    size_t n;
    n = pack_raw(buf, sizeof buf, 4, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION - 1, "t", 's',
                 "attach", "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)1);
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_EVERSION);
    n = pack_raw(buf, sizeof buf, 4, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "bogus",
                 "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)1);
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_EPROTO);
    n = pack_raw(buf, sizeof buf, 3, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0);
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_EFORMAT); /* m missing */
    assert_non_null(strstr(psync_errdetail(), "'m'"));
    n = pack_raw(buf, sizeof buf, 4, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0, "m", 's', "one");
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_EFORMAT); /* wrong kind */
    n = pack_raw(buf, sizeof buf, 4, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)0);
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_ELIMIT); /* m below 1 */
    n = pack_raw(buf, sizeof buf, 5, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)1, "m", 'u', (uint64_t)2);
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_EFORMAT); /* duplicate */
    n = pack_raw(buf, sizeof buf, 5, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)5, "future", 'a');
    assert_int_equal(psync_wire_decode(buf, n, &h), PSYNC_OK); /* unknown key skipped */
    assert_true(h.m == 5);
    n = pack_raw(buf, sizeof buf, 5, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "welcome",
                 "inc", 'u', (uint64_t)0, "alpha", 'd', 2.0, "m", 'u', (uint64_t)1);
    assert_int_not_equal(psync_wire_decode(buf, n, &h), PSYNC_OK);
    assert_int_equal(psync_wire_decode(buf, PSYNC_WIRE_MAX_HEADER + 1, &h), PSYNC_ELIMIT);
    assert_int_equal(psync_wire_decode("\x93\x01\x02\x03", 4, &h), PSYNC_EFORMAT); /* array */
    assert_int_equal(psync_wire_decode("\xdf\xff\xff\xff\xff", 5, &h), PSYNC_ELIMIT);
    n = pack_raw(buf, sizeof buf, 4, "v", 'u', (uint64_t)PSYNC_PROTO_VERSION, "t", 's', "attach",
                 "inc", 'u', (uint64_t)0, "m", 'u', (uint64_t)1);
    buf[n] = 0xc0;
    assert_int_equal(psync_wire_decode(buf, n + 1, &h), PSYNC_EFORMAT); /* trailing */
}

static void test_encode_refuses_out_of_bounds(void **state)
{
    psync_wire_hdr h;
    unsigned char buf[PSYNC_WIRE_MAX_HEADER];
    size_t len;
    psync_wire_init(&h, PSYNC_MSG_WELCOME, 1);
    fill_fields(&h, 1);
    h.chunk_bytes = 1;
    assert_int_equal(psync_wire_encode(&h, buf, sizeof buf, &len), PSYNC_EINVAL);
    fill_fields(&h, 1);
    assert_int_equal(psync_wire_encode(&h, buf, 8, &len), PSYNC_ELIMIT);
}

static void test_chunk_check(void **state)
{
    unsigned char data[100];
    psync_wire_hdr h;
    memset(data, 7, sizeof data);
    psync_wire_init(&h, PSYNC_MSG_SNAPSHOT, 1);
    h.total = 164;
    h.offset = 64;
    h.crc = psync_wire_crc(data, 100);
    assert_int_equal(psync_wire_chunk_check(&h, data, 100, 64, 1000), PSYNC_EPROTO); /* len */
    h.crc = psync_wire_crc(data, 64);
    assert_int_equal(psync_wire_chunk_check(&h, data, 64, 64, 1000), PSYNC_OK);
    data[3] ^= 1;
    assert_int_equal(psync_wire_chunk_check(&h, data, 64, 64, 1000), PSYNC_EPROTO); /* crc */
    data[3] ^= 1;
    h.offset = 32;
    assert_int_equal(psync_wire_chunk_check(&h, data, 64, 64, 1000), PSYNC_EPROTO); /* align */
    h.offset = 128;
    h.crc = psync_wire_crc(data, 36);
    assert_int_equal(psync_wire_chunk_check(&h, data, 36, 64, 1000), PSYNC_OK); /* last */
    assert_int_equal(psync_wire_chunk_check(&h, data, 36, 64, 100), PSYNC_ELIMIT);
    h.offset = 192;
    assert_int_equal(psync_wire_chunk_check(&h, data, 36, 64, 1000), PSYNC_EPROTO);
}

/* crc + finite check in one pass: the crc is zlib's and a NaN or Inf
 * anywhere (bulk or tail, any lane) is found; finite data passes. */
static void test_crc_finite(void **state)
{
    (void)state;
    static float f[17000];
    for (size_t i = 0; i < 17000; i++)
        f[i] = (float)i * 0.5f - 100.0f;
    size_t lens[] = {0, 4, 60, 252, 256, 260, 1024, 1028, 4100, 65536, 68000};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 11; i++) {
        size_t n = lens[i];
        bool ok = false;
        uint32_t z = (uint32_t)crc32(0, (const Bytef *)f, (uInt)n);
        assert_int_equal(psync_wire_crc_finite(0, f, n, &ok), z);
        assert_true(ok);
        size_t at[] = {0, n / 8, n / 4 - 1, n / 4 > 70 ? n / 4 - 70 : 0};
        for (int j = 0; j < 4 && n; j++)
            for (int b = 0; b < 3; b++) {
                float keep = f[at[j]];
                f[at[j]] = bad[b];
                z = (uint32_t)crc32(0, (const Bytef *)f, (uInt)n);
                assert_int_equal(psync_wire_crc_finite(0, f, n, &ok), z);
                assert_false(ok);
                f[at[j]] = keep;
            }
    }
}

/* The accelerated crc32 equals zlib's for every length and alignment. */
static void test_crc_matches_zlib(void **state)
{
    static unsigned char buf[70000], dst[70000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t len = 0; len < 300; len++)
        for (size_t off = 0; off < 5; off++)
            assert_int_equal(psync_wire_crc(buf + off, len),
                             (uint32_t)crc32(0, buf + off, (uInt)len));
    size_t big[] = {4096, 65536, 65537, 69999};
    for (int i = 0; i < 4; i++) {
        uint32_t z = (uint32_t)crc32(0, buf + 1, (uInt)big[i]);
        assert_int_equal(psync_wire_crc(buf + 1, big[i]), z);
        assert_int_equal(psync_wire_copy_crc(dst, buf + 1, big[i]), z);
        assert_memory_equal(dst, buf + 1, big[i]);
        uint32_t part = psync_wire_crc(buf + 1, 1000);
        assert_int_equal(psync_wire_crc_update(part, buf + 1001, big[i] - 1000), z);
    }
}

static void test_error_names(void **state)
{
    for (int e = 0; e < PSYNC_ERR_COUNT_; e++)
        assert_int_equal(psync_wire_err_parse(psync_wire_err_name((psync_err)e)), e);
    assert_string_equal(psync_wire_err_name(PSYNC_EMISMATCH), "EMISMATCH");
    assert_int_equal(psync_wire_err_parse("EWHATEVER"), PSYNC_EPROTO);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    return text;
}

/* docs/protocol.md has a "### `name`" section per message that names every
 * field of the type as `key`, and a row for every field in its table. */
static void test_docs_cover_table(void **state)
{
    const char *src = getenv("PSYNC_SOURCE_DIR");
    char path[4096], head[96];
    snprintf(path, sizeof path, "%s/docs/protocol.md", src ? src : ".");
    char *doc = slurp(path);
    assert_non_null(doc);
    for (int t = 1; t < PSYNC_MSG_COUNT_; t++) {
        const psync_wire_msg_info *mi = psync_wire_msg((psync_msg_type)t);
        snprintf(head, sizeof head, "### `%s`", mi->name);
        char *sec = strstr(doc, head);
        if (!sec) fail_msg("docs/protocol.md lacks a section '%s'", head);
        char *end = strstr(sec + 4, "\n### ");
        for (unsigned b = 0; b < PSYNC_WFI_COUNT_; b++) {
            if (!((mi->fields >> b) & 1)) continue;
            snprintf(head, sizeof head, "`%s`", psync_wire_field(b)->key);
            char *hit = strstr(sec, head);
            if (!hit || (end && hit > end))
                fail_msg("docs/protocol.md section %s does not name field %s", mi->name, head);
        }
    }
    for (unsigned b = 0; b < PSYNC_WFI_COUNT_; b++) {
        snprintf(head, sizeof head, "| `%s` |", psync_wire_field(b)->key);
        if (!strstr(doc, head)) fail_msg("docs/protocol.md field table lacks a row '%s'", head);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_encode_refuses_out_of_bounds),
        cmocka_unit_test(test_chunk_check),
        cmocka_unit_test(test_crc_matches_zlib),
        cmocka_unit_test(test_crc_finite),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_docs_cover_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
