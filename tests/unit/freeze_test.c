/* freeze_test.c: psync_blob_freeze writes the header in front of the
 * model's own payload: same bytes as psync_blob_encode, no payload copy,
 * and re-freezing a decoded (taken) blob works in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "testmodel.h"

/* Usage example: freeze, ship the bytes, thaw elsewhere. */
static void test_freeze_matches_encode(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *enc = NULL;
    size_t enc_len = 0, len = 0;
    assert_int_equal(psync_blob_encode(m, &enc, &enc_len), PSYNC_OK);
    const void *blob = NULL;
    assert_int_equal(psync_blob_freeze(m, &blob, &len), PSYNC_OK);
    assert_int_equal(len, enc_len);
    assert_memory_equal(blob, enc, len);
    /* zero-copy: the blob ends exactly at the end of the model's payload */
    assert_ptr_equal((const uint8_t *)blob + (len - m->payload_len), m->payload);
    assert_int_equal((uintptr_t)blob % PSYNC_ALIGN, 0);
    psync_model *back = NULL;
    assert_int_equal(psync_blob_decode((void *)blob, len, NULL, PSYNC_DECODE_COPY, &back),
                     PSYNC_OK);
    assert_int_equal(testmodel_diff(m, back), 0);
    psync_model_destroy(&back);
    free(enc);
    psync_model_destroy(&m);
}

/* A model decoded with TAKE re-freezes into its own blob buffer. */
static void test_refreeze_taken_blob(void **state)
{
    psync_model *m = NULL, *back = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *enc = NULL;
    size_t enc_len = 0, len = 0;
    assert_int_equal(psync_blob_encode(m, &enc, &enc_len), PSYNC_OK);
    assert_int_equal(psync_blob_decode(enc, enc_len, NULL, PSYNC_DECODE_TAKE, &back), PSYNC_OK);
    uint8_t *payload_before = back->payload;
    back->state.global_step += 7; /* same header size: fits in place */
    m->state.global_step += 7;
    const void *blob = NULL;
    assert_int_equal(psync_blob_freeze(back, &blob, &len), PSYNC_OK);
    assert_ptr_equal(back->payload, payload_before);
    assert_ptr_equal(blob, enc);
    void *want = NULL;
    size_t want_len = 0;
    assert_int_equal(psync_blob_encode(m, &want, &want_len), PSYNC_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(blob, want, len);
    free(want);
    psync_model_destroy(&back);
    psync_model_destroy(&m);
}

/* A model borrowing a caller's buffer has no headroom: freezing refuses
 * until headroom is reserved (one copy), and the caller's bytes stay alone. */
static void test_freeze_borrowed_copies_once(void **state)
{
    psync_model *m = NULL, *back = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *enc = NULL, *orig = NULL;
    size_t enc_len = 0, len = 0;
    assert_int_equal(psync_blob_encode(m, &enc, &enc_len), PSYNC_OK);
    orig = malloc(enc_len);
    memcpy(orig, enc, enc_len);
    assert_int_equal(psync_blob_decode(enc, enc_len, NULL, 0, &back), PSYNC_OK);
    assert_int_equal(back->headroom, 0);
    back->state.epoch = 99;
    const void *blob = NULL;
    assert_int_equal(psync_blob_freeze(back, &blob, &len), PSYNC_ELIMIT);
    assert_non_null(strstr(psync_errdetail(), "psync_model_reserve_headroom"));
    assert_int_equal(psync_model_reserve_headroom(back, PSYNC_MODEL_HEADROOM), PSYNC_OK);
    assert_int_equal(psync_blob_freeze(back, &blob, &len), PSYNC_OK);
    assert_true(back->payload_owned);
    assert_true(back->headroom >= len - back->payload_len);
    assert_memory_equal(enc, orig, enc_len); /* caller's buffer untouched */
    psync_model *again = NULL;
    assert_int_equal(psync_blob_decode((void *)blob, len, NULL, PSYNC_DECODE_COPY, &again),
                     PSYNC_OK);
    assert_int_equal(again->state.epoch, 99);
    psync_model_destroy(&again);
    psync_model_destroy(&back);
    free(orig);
    free(enc);
    psync_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freeze_matches_encode),
        cmocka_unit_test(test_refreeze_taken_blob),
        cmocka_unit_test(test_freeze_borrowed_copies_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
