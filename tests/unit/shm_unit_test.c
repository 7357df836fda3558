/* shm_unit_test.c: protocol/shm.c, the segments of the same-host path: a
 * created segment is sealed (cannot shrink or grow) and opens through
 * /proc/PID/fd with its content shared; an opener refuses a descriptor that
 * is named for another id, too small, unsealed, not a memfd or not open;
 * psync_shm_holds bounds every range without overflow. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm.h"

static void test_create_and_open(void **state)
{
    (void)state;
    psync_shm s, r;
    assert_int_equal(psync_shm_create(10000, "test", &s), PSYNC_OK);
    assert_true(s.len >= 10000 && s.len % (uint64_t)sysconf(_SC_PAGESIZE) == 0);
    assert_true(s.fd >= 0 && s.id != 0);
    assert_int_not_equal(ftruncate(s.fd, 0), 0);                /* sealed: no shrinking */
    assert_int_not_equal(ftruncate(s.fd, (off_t)s.len * 2), 0); /* nor growing */
    assert_int_equal(psync_shm_open((uint64_t)getpid(), (uint64_t)s.fd, s.id, 10000, false, &r),
                     PSYNC_OK);
    assert_int_equal(r.len, s.len);
    assert_int_equal(r.fd, -1);
    memcpy(s.p + 4096, "psync", 6);
    assert_string_equal((const char *)r.p + 4096, "psync"); /* one memory */
    psync_shm_close(&r);
    psync_shm_close(&s);
    assert_null(s.p);
    psync_shm_close(&s); /* twice: harmless */
}

static void test_open_refusals(void **state)
{
    (void)state;
    psync_shm s, r;
    uint64_t pid = (uint64_t)getpid();
    assert_int_equal(psync_shm_create(8192, "test", &s), PSYNC_OK);
    assert_int_equal(psync_shm_open(pid, (uint64_t)s.fd, s.id + 1, 1, false, &r),
                     PSYNC_EMISMATCH); /* another segment than announced */
    assert_int_equal(psync_shm_open(pid, (uint64_t)s.fd, s.id, s.len + 1, false, &r),
                     PSYNC_EMISMATCH); /* smaller than announced */
    assert_int_equal(psync_shm_open(pid, 100000, s.id, 1, false, &r), PSYNC_EIO);
    assert_null(r.p);
    /* named as segment 0x1234 would be, but unsealed: it could shrink under a reader */
    int plain = memfd_create("psync-test-0000000000001234", MFD_CLOEXEC);
    assert_true(plain >= 0);
    assert_int_equal(ftruncate(plain, 8192), 0);
    assert_int_equal(psync_shm_open(pid, (uint64_t)plain, 0x1234, 1, false, &r), PSYNC_EMISMATCH);
    assert_string_equal(psync_errdetail(), "segment 0000000000001234 is not sealed against "
                                           "shrinking");
    close(plain);
    /* a file that is no memfd at all (what a pid and descriptor number
     * reused on another host would most likely name) */
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    assert_int_equal(psync_shm_open(pid, (uint64_t)file, s.id, 1, false, &r), PSYNC_EMISMATCH);
    close(file);
    psync_shm_close(&s);
}

static void test_holds(void **state)
{
    (void)state;
    psync_shm s;
    assert_int_equal(psync_shm_create(4096, "test", &s), PSYNC_OK);
    assert_true(psync_shm_holds(&s, 0, s.len));
    assert_true(psync_shm_holds(&s, s.len, 0));
    assert_false(psync_shm_holds(&s, s.len, 1));
    assert_false(psync_shm_holds(&s, 1, s.len));
    assert_false(psync_shm_holds(&s, UINT64_MAX, 2));
    assert_false(psync_shm_holds(&s, 2, UINT64_MAX));
    psync_shm_close(&s);
    assert_false(psync_shm_holds(&s, 0, 0)); /* closed: nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_open),
        cmocka_unit_test(test_open_refusals),
        cmocka_unit_test(test_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
