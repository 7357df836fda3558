/* mpread_test.c: the bounded msgpack reader reads every integer encoding
 * into both signed and unsigned outputs, and refuses what does not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mpread.h"

static int64_t read_int(const uint8_t *b, size_t n, psync_err *err)
{
    psync_mp mp;
    int64_t v = -12345;
    psync_mp_init(&mp, b, n, 8);
    *err = psync_mp_read_int(&mp, &v);
    return v;
}

static void test_int_encodings(void **state)
{
    psync_err err;
    static const uint8_t fixpos[] = {0x05}, fixneg[] = {0xfb}, u8[] = {0xcc, 0xc8},
                         u32[] = {0xce, 0x00, 0x01, 0x00, 0x00}, i16[] = {0xd1, 0xfc, 0x18},
                         u64big[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(read_int(fixpos, 1, &err), 5);
    assert_int_equal(err, PSYNC_OK);
    assert_int_equal(read_int(fixneg, 1, &err), -5);
    assert_int_equal(read_int(u8, 2, &err), 200);
    assert_int_equal(err, PSYNC_OK);
    assert_int_equal(read_int(u32, 5, &err), 65536);
    assert_int_equal(read_int(i16, 3, &err), -1000);
    read_int(u64big, 9, &err);
    assert_int_equal(err, PSYNC_ELIMIT);
    read_int(u32, 3, &err);
    assert_int_equal(err, PSYNC_ETRUNC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_int_encodings)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
