/* model_test.c: the get/set weights API, arena layout and growth, metadata,
 * clone, finiteness checks, and set on a borrowed (decoded) model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "testmodel.h"

static void test_layout_and_growth(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(psync_model_new(&m), PSYNC_OK);
    assert_int_equal(m->opt.kind, PSYNC_OPT_SGD);
    uint64_t s[1] = {3};
    for (int i = 0; i < 300; i++) { /* forces many arena and table moves */
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        float v[3] = {(float)i, 1, 2};
        s[0] = 3 + (uint64_t)(i % 5) * 100;
        assert_int_equal(psync_model_add_tensor(m, name, PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, s,
                                                i % 5 ? NULL : v, NULL),
                         PSYNC_OK);
    }
    assert_int_equal((uintptr_t)m->payload % PSYNC_ALIGN, 0);
    uint64_t end = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const psync_tensor *t = &m->tensors[i];
        assert_int_equal(t->offset, end);
        assert_int_equal(t->offset % PSYNC_ALIGN, 0);
        assert_ptr_equal(t->data, m->payload + t->offset); /* refreshed after moves */
        float first = ((const float *)t->data)[0];
        assert_float_equal(first, (i % 5 ? 0.0f : (float)i), 0);
        for (uint64_t b = t->offset + t->nbytes; b < psync_align_up(t->offset + t->nbytes); b++)
            assert_int_equal(m->payload[b], 0); /* zero padding */
        end = psync_align_up(t->offset + t->nbytes);
    }
    assert_int_equal(m->payload_len, end);
    assert_int_equal(
        psync_model_add_tensor(m, "t7", PSYNC_ROLE_PARAM, PSYNC_DTYPE_F32, 1, s, NULL, NULL),
        PSYNC_EINVAL); /* duplicate */
    assert_int_equal(
        psync_model_add_tensor(m, "bad", (psync_role)0, PSYNC_DTYPE_F32, 1, s, NULL, NULL),
        PSYNC_EINVAL);
    psync_model_destroy(&m);
    psync_model_destroy(&m); /* NULL-safe */
}

static void test_get_set(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    unsigned params = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++)
        params += m->tensors[i].role == PSYNC_ROLE_PARAM;
    assert_int_equal(params, 4);
    assert_int_equal(m->n_tensors, 13);

    const psync_tensor *t = NULL;
    assert_int_equal(psync_model_get(m, "fc2.b", &t), PSYNC_OK);
    assert_int_equal(t->rank, 1);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(psync_model_get(m, "nope", &t), PSYNC_ENOTFOUND);
    assert_non_null(strstr(psync_errdetail(), "nope"));

    const float v[3] = {7, 8, 9};
    uint64_t shape[2] = {3, 1};
    assert_int_equal(psync_model_set(m, "fc2.b", PSYNC_DTYPE_F64, 1, shape, v), PSYNC_EDTYPE);
    assert_non_null(strstr(psync_errdetail(), "f64"));
    assert_int_equal(psync_model_set(m, "fc2.b", PSYNC_DTYPE_F32, 2, shape, v), PSYNC_ESHAPE);
    assert_non_null(strstr(psync_errdetail(), "[3,1]"));
    shape[0] = 4;
    assert_int_equal(psync_model_set(m, "fc2.b", PSYNC_DTYPE_F32, 1, shape, v), PSYNC_ESHAPE);
    shape[0] = 3;
    assert_int_equal(psync_model_set(m, "fc2.b", PSYNC_DTYPE_F32, 1, shape, v), PSYNC_OK);
    assert_int_equal(psync_model_get(m, "fc2.b", &t), PSYNC_OK);
    assert_memory_equal(t->data, v, sizeof v);
    psync_model_destroy(&m);
}

static void test_set_on_borrowed(void **state)
{
    psync_model *m = NULL, *back = NULL, *again = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    void *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(psync_blob_encode(m, &buf, &len), PSYNC_OK);
    void *orig = malloc(len);
    memcpy(orig, buf, len);
    assert_int_equal(psync_blob_decode(buf, len, NULL, 0, &back), PSYNC_OK);
    assert_false(back->payload_owned);

    const float v[3] = {7, 8, 9};
    const uint64_t shape[1] = {3};
    assert_int_equal(psync_model_set(back, "fc2.b", PSYNC_DTYPE_F32, 1, shape, v), PSYNC_OK);
    assert_true(back->payload_owned);
    assert_memory_equal(buf, orig, len); /* the blob is untouched */
    const psync_tensor *t = NULL;
    assert_int_equal(psync_model_get(back, "fc2.b", &t), PSYNC_OK);
    assert_memory_equal(t->data, v, sizeof v);

    assert_int_equal(psync_blob_encode(back, &buf2, &len2), PSYNC_OK); /* re-encode */
    assert_int_equal(len2, len);
    assert_int_equal(psync_blob_decode(buf2, len2, NULL, 0, &again), PSYNC_OK);
    assert_int_equal(testmodel_diff(back, again), 0);
    assert_int_not_equal(testmodel_diff(m, again), 0);
    assert_int_equal(psync_model_set(m, "fc2.b", PSYNC_DTYPE_F32, 1, shape, v), PSYNC_OK);
    assert_int_equal(testmodel_diff(m, again), 0);
    psync_model_destroy(&again);
    psync_model_destroy(&back);
    free(buf);
    free(buf2);
    free(orig);
    psync_model_destroy(&m);
}

static void test_clone_meta_slots(void **state)
{
    psync_model *m = NULL, *c = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    assert_int_equal(psync_model_clone(m, &c), PSYNC_OK);
    assert_int_equal(testmodel_diff(m, c), 0);
    assert_ptr_not_equal(c->payload, m->payload);
    assert_string_equal(psync_model_get_meta(c, "name"), "mlp-test");
    assert_int_equal(psync_model_set_meta(c, "name", "other"), PSYNC_OK);
    assert_string_equal(psync_model_get_meta(c, "name"), "other");
    assert_int_equal(c->n_meta, 2);
    assert_null(psync_model_get_meta(c, "absent"));
    for (int i = 2; i < PSYNC_META_MAX; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(psync_model_set_meta(c, k, "v"), PSYNC_OK);
    }
    assert_int_equal(psync_model_set_meta(c, "full", "v"), PSYNC_ELIMIT);
    char name[PSYNC_NAME_MAX], longp[PSYNC_NAME_MAX];
    assert_int_equal(psync_slot_name(name, "fc1.w", "momentum"), PSYNC_OK);
    assert_string_equal(name, "fc1.w/momentum");
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    assert_int_equal(psync_slot_name(name, longp, "m"), PSYNC_EINVAL);
    psync_opt_kind k;
    assert_int_equal(psync_opt_parse("nesterov", &k), PSYNC_OK);
    assert_string_equal(psync_opt_name(k), "nesterov");
    assert_int_not_equal(psync_opt_parse("lbfgs", &k), PSYNC_OK);
    psync_model_destroy(&c);
    psync_model_destroy(&m);
}

static void test_check_finite(void **state)
{
    psync_model *m = NULL;
    assert_int_equal(testmodel_build(&m), PSYNC_OK);
    unsigned all = (1u << PSYNC_ROLE_PARAM) | (1u << PSYNC_ROLE_SLOT) | (1u << PSYNC_ROLE_BUFFER);
    assert_int_equal(psync_model_check_finite(m, all), PSYNC_OK);
    psync_tensor *t = psync_model_find(m, "fc1.w/v");
    ((float *)t->data)[5] = NAN;
    assert_int_equal(psync_model_check_finite(m, 1u << PSYNC_ROLE_PARAM), PSYNC_OK);
    assert_int_equal(psync_model_check_finite(m, all), PSYNC_ENONFINITE);
    assert_non_null(strstr(psync_errdetail(), "fc1.w/v"));
    assert_non_null(strstr(psync_errdetail(), "element 5"));
    psync_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_growth), cmocka_unit_test(test_get_set),
        cmocka_unit_test(test_set_on_borrowed),   cmocka_unit_test(test_clone_meta_slots),
        cmocka_unit_test(test_check_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
