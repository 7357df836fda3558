/* tensor_test.c: dtype and role names, element sizes and overflow-checked
 * shape arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tensor.h"

static void test_dtype_names(void **state)
{
    static const struct {
        psync_dtype dt;
        const char *name;
        size_t size;
    } tab[] = {
        {PSYNC_DTYPE_F32, "f32", 4}, {PSYNC_DTYPE_F64, "f64", 8}, {PSYNC_DTYPE_I32, "i32", 4},
        {PSYNC_DTYPE_I64, "i64", 8}, {PSYNC_DTYPE_U8, "u8", 1},
    };
    for (unsigned i = 0; i < 5; i++) {
        psync_dtype dt = 0;
        assert_string_equal(psync_dtype_name(tab[i].dt), tab[i].name);
        assert_int_equal(psync_dtype_parse(tab[i].name, &dt), PSYNC_OK);
        assert_int_equal(dt, tab[i].dt);
        assert_int_equal(psync_dtype_size(tab[i].dt), tab[i].size);
    }
    psync_dtype dt;
    assert_int_equal(psync_dtype_parse("f16", &dt), PSYNC_EDTYPE);
    assert_non_null(strstr(psync_errdetail(), "f16"));
    assert_null(psync_dtype_name((psync_dtype)0));
    assert_null(psync_dtype_name((psync_dtype)99));
    assert_int_equal(psync_dtype_size((psync_dtype)99), 0);
}

static void test_role_names(void **state)
{
    psync_role r = 0;
    assert_int_equal(psync_role_parse("slot", &r), PSYNC_OK);
    assert_int_equal(r, PSYNC_ROLE_SLOT);
    assert_string_equal(psync_role_name(PSYNC_ROLE_BUFFER), "buffer");
    assert_int_not_equal(psync_role_parse("weights", &r), PSYNC_OK);
    assert_null(psync_role_name((psync_role)7));
}

static void test_shape_count(void **state)
{
    uint64_t elems = 0, nbytes = 0;
    const uint64_t s[3] = {2, 3, 5};
    assert_int_equal(psync_shape_count(3, s, PSYNC_DTYPE_F64, &elems, &nbytes), PSYNC_OK);
    assert_int_equal(elems, 30);
    assert_int_equal(nbytes, 240);
    assert_int_equal(psync_shape_count(0, NULL, PSYNC_DTYPE_I32, &elems, &nbytes), PSYNC_OK);
    assert_int_equal(elems, 1); /* scalar */
    const uint64_t zero[2] = {0, 1ULL << 40};
    assert_int_equal(psync_shape_count(2, zero, PSYNC_DTYPE_F32, &elems, &nbytes), PSYNC_OK);
    assert_int_equal(nbytes, 0);
    const uint64_t huge[3] = {1ULL << 31, 1ULL << 31, 4};
    assert_int_equal(psync_shape_count(3, huge, PSYNC_DTYPE_U8, &elems, NULL), PSYNC_ELIMIT);
    const uint64_t big[1] = {1ULL << 61};
    assert_int_equal(psync_shape_count(1, big, PSYNC_DTYPE_F32, NULL, &nbytes), PSYNC_ELIMIT);
    assert_int_equal(psync_shape_count(1, big, (psync_dtype)9, NULL, &nbytes), PSYNC_EDTYPE);
    assert_int_equal(psync_shape_count(PSYNC_MAX_RANK + 1, s, PSYNC_DTYPE_U8, NULL, NULL),
                     PSYNC_ELIMIT);
}

static void test_align(void **state)
{
    assert_int_equal(psync_align_up(0), 0);
    assert_int_equal(psync_align_up(1), 64);
    assert_int_equal(psync_align_up(64), 64);
    assert_int_equal(psync_align_up(65), 128);
    psync_tensor t = {.rank = 2, .shape = {7, 9}};
    assert_int_equal(psync_tensor_elems(&t), 63);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_role_names),
        cmocka_unit_test(test_shape_count),
        cmocka_unit_test(test_align),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
