/* blob_test.c: the model blob codec. The first test is the usage example:
 * build a model, encode it into one buffer, decode it zero-copy, use it.
 * Then: exact sizing, buffer reuse, TAKE / COPY / misaligned decoding, and a
 * stock Python msgpack reading a blob and recomputing both hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"
#include "testmodel.h"

/* 1 if needle occurs in hay. */
static int blob_contains(const uint8_t *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return 1;
    return 0;
}

/* Usage: encode a model into one buffer, decode it without copying. */
static void test_usage_example(void **state)
{
    psync_model *m = NULL, *back = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);

    void *buf = NULL;
    size_t len = 0, size = 0;
    assert_int_equal(psync_blob_size(m, &size), PSYNC_OK);
    assert_int_equal(psync_blob_encode(m, &buf, &len), PSYNC_OK);
    assert_int_equal(len, size);

    assert_int_equal(psync_blob_decode(buf, len, NULL, 0, &back), PSYNC_OK);
    assert_int_equal(testmodel_diff(m, back), 0);

    /* Zero-copy: tensor data lives inside buf; the payload is 64-aligned. */
    const psync_tensor *w = NULL;
    assert_int_equal(psync_model_get(back, "fc1.w", &w), PSYNC_OK);
    assert_true((uint8_t *)w->data > (uint8_t *)buf && (uint8_t *)w->data < (uint8_t *)buf + len);
    assert_false(back->payload_owned);
    assert_float_equal(((const float *)w->data)[3], -1.5 + 3 / 8.0, 1e-6);
    uint64_t off = 0, plen = 0;
    assert_int_equal(psync_blob_payload(buf, len, &off, &plen), PSYNC_OK);
    assert_int_equal(off % PSYNC_ALIGN, 0);
    assert_int_equal(plen, m->payload_len);
    assert_ptr_equal(back->payload, (uint8_t *)buf + off);
    assert_int_equal(psync_model_layout_hash(back), psync_model_layout_hash(m));

    psync_model_destroy(&back); /* the model borrows buf: destroy it first */
    free(buf);
    psync_model_destroy(&m);
    assert_null(m);
}

static void test_encode_into_reuse(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    size_t size = 0, len = 0;
    assert_int_equal(psync_blob_size(m, &size), PSYNC_OK);
    uint8_t *a = aligned_alloc(64, (size + 63) / 64 * 64), *b = malloc(size);
    assert_int_equal(psync_blob_encode_into(m, a, size - 1, &len), PSYNC_ELIMIT);
    assert_true(strlen(psync_errdetail()) > 0);
    assert_int_equal(psync_blob_encode_into(m, a, size, &len), PSYNC_OK);
    assert_int_equal(len, size);
    assert_int_equal(psync_blob_encode_into(m, b, size, &len), PSYNC_OK);
    assert_memory_equal(a, b, size); /* deterministic bytes */
    /* the graph entry starts at the 4th value: ensure attrs are sorted */
    assert_true(blob_contains(a, size, "\x83\xa4init\xa2he\xa5scale", 13));
    free(a);
    free(b);
    psync_model_destroy(&m);
}

/* The head alone (what psyncd streams in front of a merged buffer) is the
 * blob's bytes before its payload, whatever bytes follow it. */
static void test_encode_head(void **state)
{
    psync_model *m = NULL, *back = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    size_t size = 0, len = 0, head = 0;
    assert_int_equal(psync_blob_size(m, &size), PSYNC_OK);
    uint8_t *whole = aligned_alloc(64, (size + 63) / 64 * 64);
    uint8_t *pieced = aligned_alloc(64, (size + 63) / 64 * 64);
    assert_int_equal(psync_blob_encode_into(m, whole, size, &len), PSYNC_OK);
    size_t want = size - m->payload_len;
    assert_int_equal(psync_blob_encode_head(m, pieced, want - 1, &head), PSYNC_ELIMIT);
    assert_non_null(strstr(psync_errdetail(), "head needs"));
    assert_int_equal(psync_blob_encode_head(m, pieced, size, &head), PSYNC_OK);
    assert_int_equal(head, want);
    assert_int_equal(head % PSYNC_ALIGN, 0);
    memcpy(pieced + head, m->payload, m->payload_len);
    assert_memory_equal(pieced, whole, size);
    assert_int_equal(psync_blob_decode(pieced, size, NULL, 0, &back), PSYNC_OK);
    assert_int_equal(testmodel_diff(m, back), 0);
    psync_model_destroy(&back);
    free(whole);
    free(pieced);
    psync_model_destroy(&m);
}

static void test_take_and_copy(void **state)
{
    psync_model *m = NULL, *took = NULL, *copied = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0;
    assert_int_equal(psync_blob_encode(m, &buf, &len), PSYNC_OK);
    assert_int_equal(psync_blob_encode(m, &buf2, &len), PSYNC_OK);

    assert_int_equal(psync_blob_decode(buf, len, NULL, PSYNC_DECODE_TAKE, &took), PSYNC_OK);
    assert_ptr_equal(took->blob, buf); /* freed with the model */
    assert_int_equal(psync_blob_decode(buf2, len, NULL, PSYNC_DECODE_COPY, &copied), PSYNC_OK);
    assert_true(copied->payload_owned);
    assert_true((uint8_t *)copied->payload < (uint8_t *)buf2 ||
                (uint8_t *)copied->payload >= (uint8_t *)buf2 + len);
    assert_int_equal((uintptr_t)copied->payload % PSYNC_ALIGN, 0);
    free(buf2); /* the copy does not need it */
    assert_int_equal(testmodel_diff(m, copied), 0);
    assert_int_equal(testmodel_diff(m, took), 0);
    psync_model_destroy(&took);
    psync_model_destroy(&copied);
    psync_model_destroy(&m);
}

static void test_misaligned_copies(void **state)
{
    psync_model *m = NULL, *back = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(psync_blob_encode(m, &buf, &len), PSYNC_OK);
    uint8_t *odd = malloc(len + 1);
    memcpy(odd + 1, buf, len);
    assert_int_equal(psync_blob_decode(odd + 1, len, NULL, 0, &back), PSYNC_OK);
    assert_true(back->payload_owned); /* f32 data cannot live at an odd address */
    assert_int_equal(testmodel_diff(m, back), 0);
    psync_model_destroy(&back);
    free(odd);
    free(buf);
    psync_model_destroy(&m);
}

static void test_python_reads_blob(void **state)
{
    const char *src = getenv("PSYNC_SOURCE_DIR");
    if (!src || access("/usr/bin/python3", X_OK)) skip();
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(psync_blob_encode(m, &buf, &len), PSYNC_OK);
    char dir[] = "/tmp/psync-blob-XXXXXX", path[128], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.psync", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/unit/blob_read.py %s %016llx", src, path,
             (unsigned long long)psync_graph_hash(&m->graph));
    int rc = system(cmd);
    unlink(path);
    rmdir(dir);
    assert_int_equal(rc, 0);
    free(buf);
    psync_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_example),     cmocka_unit_test(test_encode_into_reuse),
        cmocka_unit_test(test_encode_head),       cmocka_unit_test(test_take_and_copy),
        cmocka_unit_test(test_misaligned_copies), cmocka_unit_test(test_python_reads_blob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
