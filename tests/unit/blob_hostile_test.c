/* blob_hostile_test.c: decoding blobs an attacker wrote. Truncation at every
 * offset, inflated length prefixes, nesting bombs, bad tensor tables, bad
 * graphs, wrong version/format, layout-hash mismatch: each must fail with a
 * specific error and a detail, without crashing, leaking or allocating more
 * than the input justifies (the allocator is wrapped to count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "testmodel.h"

/* ---- counting allocator (-Wl,--wrap=...) ---- */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
static size_t alloc_bytes; /* requested since the last reset */

void *__wrap_malloc(size_t n)
{
    alloc_bytes += n;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n)
{
    alloc_bytes += k * n;
    return __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n)
{
    alloc_bytes += n;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    alloc_bytes += n;
    return __real_posix_memalign(p, a, n);
}

/* ---- helpers ---- */
static uint8_t *good; /* a valid blob of the test model */
static size_t good_len;

static int setup(void **state)
{
    psync_model *m = NULL;
    void *buf = NULL;
    if (testmodel_build(&m) || psync_blob_encode(m, &buf, &good_len)) return -1;
    good = buf;
    psync_model_destroy(&m);
    return 0;
}

static int teardown(void **state)
{
    free(good);
    return 0;
}

/* Decodes a copy of buf[0..len) and asserts it fails with want + a detail. */
static void expect_fail(const void *buf, size_t len, psync_err want, const char *needle)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    psync_model *m = NULL;
    psync_errclear();
    psync_err err = psync_blob_decode(copy, len, NULL, 0, &m);
    if (err != want)
        print_error("got %s (%s), want %s\n", psync_strerror(err), psync_errdetail(),
                    psync_strerror(want));
    assert_int_equal(err, want);
    assert_null(m);
    assert_true(strlen(psync_errdetail()) > 0);
    if (needle && !strstr(psync_errdetail(), needle))
        fail_msg("detail '%s' lacks '%s'", psync_errdetail(), needle);
    free(copy);
}

/* Offset of the first occurrence of a byte string in the good blob. */
static size_t find(const char *s, size_t n)
{
    for (size_t i = 0; i + n <= good_len; i++)
        if (!memcmp(good + i, s, n)) return i;
    fail_msg("pattern not in blob");
    return 0;
}

static void test_good_decodes(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(psync_blob_decode(good, good_len, NULL, 0, &m), PSYNC_OK);
    psync_model_destroy(&m);
}

static void test_truncated_everywhere(void **state)
{
    for (size_t n = 0; n < good_len; n++) {
        psync_model *m = NULL;
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, good, n);
        psync_err err = psync_blob_decode(copy, n, NULL, 0, &m);
        assert_int_not_equal(err, PSYNC_OK);
        assert_null(m);
        assert_true(strlen(psync_errdetail()) > 0);
        free(copy);
    }
    expect_fail(good, good_len - 1, PSYNC_ETRUNC, "payload");
    expect_fail(good, 10, PSYNC_ETRUNC, NULL);
}

static void test_trailing_and_limits(void **state)
{
    uint8_t *big = malloc(good_len + 1);
    memcpy(big, good, good_len);
    big[good_len] = 0xc0;
    expect_fail(big, good_len + 1, PSYNC_EFORMAT, "trailing");
    free(big);
    psync_limits lim = psync_default_limits;
    psync_model *m = NULL;
    lim.max_blob_bytes = good_len - 1;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    lim = psync_default_limits;
    lim.max_tensors = 12;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    assert_non_null(strstr(psync_errdetail(), "tensors"));
    lim = psync_default_limits;
    lim.max_nodes = 3;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    lim = psync_default_limits;
    lim.max_header_bytes = 100;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    lim = psync_default_limits;
    lim.max_depth = 4;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    lim = psync_default_limits;
    lim.max_dim = 7;
    assert_int_equal(psync_blob_decode(good, good_len, &lim, 0, &m), PSYNC_ELIMIT);
    assert_non_null(strstr(psync_errdetail(), "exceeds max_dim 7"));
    assert_null(m);
}

/* Patches a copy of the good blob at off with bytes and expects an error. */
static void patch_fail(size_t off, const void *bytes, size_t n, psync_err want, const char *needle)
{
    uint8_t *copy = malloc(good_len);
    memcpy(copy, good, good_len);
    memcpy(copy + off, bytes, n);
    expect_fail(copy, good_len, want, needle);
    free(copy);
}

static void test_inflated_lengths(void **state)
{
    /* the top map itself claims 2^32-1 entries (0xdf) would shift bytes; instead
     * walk every container/str/bin prefix and inflate it in place */
    size_t payload = good_len - 0; /* payload bin32 length -> 2^32-1 */
    uint64_t off = 0, plen = 0;
    assert_int_equal(psync_blob_payload(good, good_len, &off, &plen), PSYNC_OK);
    payload = (size_t)off - 4;
    patch_fail(payload, "\xff\xff\xff\xff", 4, PSYNC_ETRUNC, "payload");
    /* tensors array: fixarray 0x9d (13) -> 0x9f (15): more entries than present */
    size_t t = find("\xa7tensors\x9d", 9);
    patch_fail(t + 8, "\x9f", 1, PSYNC_EFORMAT, "tensors[13]");
    /* meta fixmap 0x82 -> 0x8f: swallows the next keys, which then mismatch */
    size_t meta = find("\xa4meta\x82", 6);
    patch_fail(meta + 5, "\x8f", 1, PSYNC_EFORMAT, "meta");
    /* fixstr lengths inflated: a tensor name 0xa5 -> 0xbf runs into other keys */
    patch_fail(find("\xa5"
                    "fc1.b\xa4role",
                    11),
               "\xbf", 1, PSYNC_EFORMAT, "tensors[1]");
    /* a str8 length inflated: "dataset" value is fixstr; use the format str */
    patch_fail(find("\xabpsync.model", 12), "\xbf", 1, PSYNC_EFORMAT, "not a psync");
}

/* Every header position overwritten by a 32-bit container/str/bin prefix
 * claiming 2^32-1 entries or bytes: never a big allocation, and an error
 * unless the 5 bytes landed inside a number's bytes (then it is data). */
static void test_inflated_everywhere(void **state)
{
    static const uint8_t prefixes[4] = {0xdf, 0xdd, 0xdb, 0xc6};
    size_t header = find("\xa3pad\xc4", 5);
    uint8_t *copy = malloc(good_len);
    size_t decoded = 0;
    for (size_t i = 0; i + 5 <= header; i++) {
        for (unsigned k = 0; k < 4; k++) {
            memcpy(copy, good, good_len);
            memcpy(copy + i, (const uint8_t[]){prefixes[k], 0xff, 0xff, 0xff, 0xff}, 5);
            psync_model *m = NULL;
            alloc_bytes = 0;
            psync_err err = psync_blob_decode(copy, good_len, NULL, 0, &m);
            assert_true(alloc_bytes < 256 * 1024);
            decoded += err == PSYNC_OK;
            assert_true(err == PSYNC_OK || strlen(psync_errdetail()) > 0);
            psync_model_destroy(&m);
        }
    }
    assert_true(decoded * 20 < header * 4); /* under 5%: inside float64/uint64 bytes */
    free(copy);
}

/* Builds a blob with an unknown top-level key holding v (n bytes). */
static void with_extra(const uint8_t *v, size_t n, uint8_t **out, size_t *len)
{
    /* top map 0x8a -> 0x8b, insert "zz": v before "graph" */
    size_t at = find("\xa5graph", 6);
    *len = good_len + 3 + n;
    *out = malloc(*len);
    memcpy(*out, good, at);
    (*out)[0] = 0x8b;
    memcpy(*out + at, "\xa2zz", 3);
    memcpy(*out + at + 3, v, n);
    memcpy(*out + at + 3 + n, good + at, good_len - at);
}

static void test_nesting_bombs(void **state)
{
    uint8_t deep[4000], *blob;
    size_t len;
    memset(deep, 0x91, sizeof deep - 1); /* [[[[...nil]]]] */
    deep[sizeof deep - 1] = 0xc0;
    with_extra(deep, sizeof deep, &blob, &len);
    expect_fail(blob, len, PSYNC_ELIMIT, "nesting");
    free(blob);
    const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    with_extra(huge_map, sizeof huge_map, &blob, &len);
    expect_fail(blob, len, PSYNC_ETRUNC, "zz");
    free(blob);
    const uint8_t ok_extra[] = {0x92, 0x01, 0xa1, 'x'}; /* unknown keys are skipped */
    with_extra(ok_extra, sizeof ok_extra, &blob, &len);
    psync_model *m = NULL;
    assert_int_equal(psync_blob_decode(blob, len, NULL, 0, &m), PSYNC_OK);
    psync_model_destroy(&m);
    free(blob);
    const uint8_t reserved[] = {0xc1};
    with_extra(reserved, 1, &blob, &len);
    expect_fail(blob, len, PSYNC_EFORMAT, "0xc1");
    free(blob);
}

static void test_bad_tensors(void **state)
{
    patch_fail(find("\xa5param\xa5"
                    "dtype\xa3"
                    "f32",
                    15) +
                   13,
               "f16", 3, PSYNC_EDTYPE, "tensors[0].dtype");
    patch_fail(find("\xa4role\xa5param", 11) + 6, "parax", 5, PSYNC_EFORMAT, "tensors[0].role");
    /* fc1.w shape [4,8] -> [4,9]: nbytes no longer matches */
    patch_fail(find("\xa5shape\x92\x04\x08", 9) + 8, "\x09", 1, PSYNC_ESHAPE, "nbytes");
    /* fc1.b offset 128 (0xcc 0x80) -> 0x81: misaligned; -> 0x40: overlaps */
    size_t o = find("\xa6offset\xcc\x80", 9);
    patch_fail(o + 8, "\x81", 1, PSYNC_EFORMAT, "multiple of 64");
    patch_fail(o + 8, "\xc0", 1, PSYNC_EFORMAT, "tensors[1].offset");
    /* a duplicate name: fc1.b -> fc1.w */
    patch_fail(find("\xa5"
                    "fc1.b\xa4role",
                    11) +
                   1,
               "fc1.w", 5, PSYNC_EFORMAT, "twice");
    /* a node param naming no tensor: fc2.b -> fc9.b in the graph */
    patch_fail(find("\xa5"
                    "fc2.b",
                    6) +
                   1,
               "fc9.b", 5, PSYNC_EGRAPH, "fc9.b");
}

static void test_bad_graphs(void **state)
{
    /* fc2's input "act" -> "fc2": a self-cycle; "act" -> "zzz": dangling */
    size_t in = find("\x91\xa3"
                     "act",
                     5);
    patch_fail(in + 2, "fc2", 3, PSYNC_EGRAPH, "fc2");
    patch_fail(in + 2, "zzz", 3, PSYNC_EGRAPH, "zzz");
    /* attribute of unsupported type: the "init" str -> true, then nil */
    size_t a = find("\xa4init\xa2he", 8);
    patch_fail(a + 5, "\xc3\xc0\xc0", 3, PSYNC_EGRAPH, "attrs.init");
    patch_fail(a + 5, "\xc4\x01\x00", 3, PSYNC_EGRAPH, "unsupported attribute type bin");
    patch_fail(find("\xa6output\xa3"
                    "fc2",
                    11) +
                   8,
               "zzz", 3, PSYNC_EGRAPH, "output");
}

static void test_version_format_hash(void **state)
{
    patch_fail(find("\xa7version\x01", 9) + 8, "\x02", 1, PSYNC_EVERSION, "version 2");
    patch_fail(find("psync.model", 11), "psync.other", 11, PSYNC_EFORMAT, "format");
    size_t h = find("\xablayout_hash\xcf", 13);
    uint8_t flipped = good[h + 13] ^ 1;
    patch_fail(h + 13, &flipped, 1, PSYNC_EMISMATCH, "layout_hash");
    /* changing an attribute value changes the graph hash, so the layout too */
    patch_fail(find("\xa5units\x08", 7) + 6, "\x09", 1, PSYNC_EMISMATCH, "layout_hash");
}

static void test_nonfinite(void **state)
{
    uint8_t *copy = malloc(good_len);
    memcpy(copy, good, good_len);
    psync_model *m = NULL;
    assert_int_equal(psync_blob_decode(copy, good_len, NULL, 0, &m), PSYNC_OK);
    ((float *)psync_model_find(m, "fc2.w")->data)[2] = INFINITY;
    assert_int_equal(psync_model_check_finite(m, 1u << PSYNC_ROLE_PARAM), PSYNC_ENONFINITE);
    assert_non_null(strstr(psync_errdetail(), "fc2.w"));
    psync_model_destroy(&m);
    free(copy);
}

static void test_small_input_allocates_little(void **state)
{
    /* Any 100-byte input: allocation is bounded by the input, not by the
     * counts it claims. Try the good blob's prefix and a hostile header. */
    uint8_t in[100];
    memcpy(in, good, sizeof in);
    const uint8_t hostile[] = {0x8a, 0xa6, 'f', 'o', 'r',  'm',  'a',  't',  0xab, 'p',  's',
                               'y',  'n',  'c', '.', 'm',  'o',  'd',  'e',  'l',  0xa7, 'v',
                               'e',  'r',  's', 'i', 'o',  'n',  0x01, 0xa7, 't',  'e',  'n',
                               's',  'o',  'r', 's', 0xdd, 0x00, 0x00, 0x0f, 0xff};
    for (int round = 0; round < 2; round++) {
        if (round) memcpy(in, hostile, sizeof hostile);
        psync_model *m = NULL;
        alloc_bytes = 0;
        assert_int_not_equal(psync_blob_decode(in, sizeof in, NULL, 0, &m), PSYNC_OK);
        assert_true(alloc_bytes < 64 * 1024);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_decodes),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_trailing_and_limits),
        cmocka_unit_test(test_inflated_lengths),
        cmocka_unit_test(test_inflated_everywhere),
        cmocka_unit_test(test_nesting_bombs),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_version_format_hash),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_small_input_allocates_little),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
