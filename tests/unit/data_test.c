/* data_test.c: dataset loading on the real Fashion-MNIST files (counts, dims,
 * labels, scaling), sharding, permutations, and clean errors for truncated,
 * corrupt or lying idx files and malformed CSV (files made in a temp dir). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "data.h"

static char tmpdir[] = "/tmp/psync-data-test-XXXXXX";

static const char *data_dir(void)
{
    const char *d = getenv("PSYNC_DATA_DIR");
    return d ? d : "/usr/share/datasets/fashion-mnist";
}

static const char *tmp_path(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static void write_gz(const char *path, const void *bytes, size_t len)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, bytes, (unsigned)len), (int)len);
    gzclose(gz);
}

/* An idx3 header for n images of rows x cols. */
static void idx3_header(unsigned char *h, uint32_t magic, uint32_t n, uint32_t r, uint32_t c)
{
    uint32_t v[4] = {magic, n, r, c};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            h[i * 4 + b] = (unsigned char)(v[i] >> (24 - 8 * b));
}

static void expect_error(psync_err got, psync_err want, const char *a, const char *b)
{
    if (got != want || !strstr(psync_errdetail(), a) || (b && !strstr(psync_errdetail(), b)))
        fail_msg("got %s '%s'; expected %s with '%s' and '%s'", psync_strerror(got),
                 psync_errdetail(), psync_strerror(want), a, b ? b : "");
}

static void check_real(psync_dataset *d, uint64_t n)
{
    uint64_t per_class[10] = {0};
    assert_int_equal(d->n, n);
    assert_int_equal(d->dim, 784);
    assert_int_equal(d->classes, 10);
    assert_true(d->labeled);
    float lo = 1, hi = 0;
    for (uint64_t i = 0; i < d->n * d->dim; i++) {
        lo = d->x[i] < lo ? d->x[i] : lo;
        hi = d->x[i] > hi ? d->x[i] : hi;
    }
    assert_true(lo == 0.0f && hi == 1.0f);
    for (uint64_t i = 0; i < d->n; i++) {
        assert_in_range(d->y[i], 0, 9);
        per_class[d->y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        assert_true(per_class[c] >= n / 20); /* every class present */
}

static void test_real_files(void **state)
{
    psync_dataset *train = NULL, *test = NULL;
    psync_err err = psync_data_load_dir(data_dir(), true, &train);
    if (err) fail_msg("%s", psync_errdetail());
    check_real(train, 60000);
    assert_int_equal(psync_data_load_dir(data_dir(), false, &test), PSYNC_OK);
    check_real(test, 10000);
    psync_data_destroy(&train);
    psync_data_destroy(&test);
    assert_null(train);
}

static void test_shard_strided(void **state)
{
    psync_dataset *a = NULL, *b = NULL;
    assert_int_equal(psync_data_load_dir(data_dir(), false, &a), PSYNC_OK);
    assert_int_equal(psync_data_load_dir(data_dir(), false, &b), PSYNC_OK);
    assert_int_equal(psync_data_shard(b, 1, 3), PSYNC_OK);
    assert_int_equal(b->n, 3333);
    for (uint64_t k = 0; k < b->n; k += 1111) {
        assert_memory_equal(b->x + k * 784, a->x + (3 * k + 1) * 784, 784 * sizeof(float));
        assert_int_equal(b->y[k], a->y[3 * k + 1]);
    }
    assert_int_equal(psync_data_shard(a, 3, 3), PSYNC_EINVAL);
    psync_data_destroy(&a);
    psync_data_destroy(&b);
}

static void test_permutation(void **state)
{
    enum { N = 1000 };
    static uint32_t p[N], q[N], r[N];
    unsigned char seen[N] = {0};
    psync_data_permutation(42, p, N);
    psync_data_permutation(42, q, N);
    psync_data_permutation(43, r, N);
    for (int i = 0; i < N; i++) {
        assert_true(p[i] < N && !seen[p[i]]);
        seen[p[i]] = 1;
    }
    assert_memory_equal(p, q, sizeof p);
    assert_memory_not_equal(p, r, sizeof p);
}

/* Reads a real gz file's bytes (for truncation/corruption). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_truncated_and_corrupt_gz(void **state)
{
    char real[4096];
    size_t len;
    psync_dataset *d = NULL;
    snprintf(real, sizeof real, "%s/t10k-images-idx3-ubyte.gz", data_dir());
    unsigned char *b = slurp(real, &len);
    const char *cut = tmp_path("cut-images-idx3-ubyte.gz");
    write_file(cut, b, len / 2);
    expect_error(psync_data_load_idx(cut, NULL, &d), PSYNC_ETRUNC, cut, "truncated");
    const char *bad = tmp_path("bad-images-idx3-ubyte.gz");
    for (size_t i = len / 3; i < len / 3 + 64; i++)
        b[i] ^= 0x5a;
    write_file(bad, b, len);
    expect_error(psync_data_load_idx(bad, NULL, &d), PSYNC_EFORMAT, bad, "corrupt");
    assert_null(d);
    free(b);
}

static void test_lying_headers(void **state)
{
    unsigned char h[16 + 4 * 4 + 1] = {0};
    psync_dataset *d = NULL;
    const char *p = tmp_path("x-images-idx3-ubyte");
    idx3_header(h, 0x804, 4, 2, 2);
    write_gz(p, h, 32);
    expect_error(psync_data_load_idx(p, NULL, &d), PSYNC_EFORMAT, p, "magic 0x00000804; expected");
    idx3_header(h, 0x803, 1000000, 28, 28);
    write_file(p, h, 16);
    expect_error(psync_data_load_idx(p, NULL, &d), PSYNC_ETRUNC, p, "cannot hold");
    idx3_header(h, 0x803, 0, 28, 28);
    write_file(p, h, 16);
    expect_error(psync_data_load_idx(p, NULL, &d), PSYNC_ELIMIT, p, "0 samples");
    idx3_header(h, 0x803, 4, 2, 2);
    write_gz(p, h, sizeof h); /* one byte too many */
    expect_error(psync_data_load_idx(p, NULL, &d), PSYNC_EFORMAT, p, "unexpected bytes");
    write_gz(p, h, 32);
    const char *lab = tmp_path("x-labels-idx1-ubyte");
    unsigned char l[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 5};
    write_gz(lab, l, sizeof l);
    expect_error(psync_data_load_idx(p, lab, &d), PSYNC_EFORMAT, lab, "with 4 labels");
    l[7] = 4;
    write_gz(lab, l, 12);
    assert_int_equal(psync_data_load_idx(p, lab, &d), PSYNC_OK);
    assert_int_equal(d->n, 4);
    assert_int_equal(d->classes, 5);
    psync_data_destroy(&d);
    expect_error(psync_data_load_idx(tmp_path("missing"), NULL, &d), PSYNC_ENOTFOUND, "missing",
                 NULL);
}

static void test_csv(void **state)
{
    psync_dataset *d = NULL;
    const char *p = tmp_path("t.csv");
    const char good[] = "label,a,b,c\n3,0,255,51\n\n1,255,0,0\n";
    write_file(p, good, sizeof good - 1);
    assert_int_equal(psync_data_load_csv(p, 0, &d), PSYNC_OK);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->dim, 3);
    assert_int_equal(d->classes, 4);
    assert_int_equal(d->y[0], 3);
    assert_float_equal(d->x[1], 1.0, 1e-7);
    assert_float_equal(d->x[2], 0.2, 1e-7);
    psync_data_destroy(&d);
    const char unl[] = "0.5,0.25,1\n0,0,0\n";
    write_file(p, unl, sizeof unl - 1);
    assert_int_equal(psync_data_load_csv(p, 3, &d), PSYNC_OK);
    assert_false(d->labeled);
    assert_int_equal(d->y[1], -1);
    assert_float_equal(d->x[0], 0.5, 0);
    psync_data_destroy(&d);
    const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"1,2,3\n1,x,3\n", "t.csv:2: field 2 is not a finite number"},
        {"1,2,3\n1,2\n", "t.csv:2: 2 fields; expected 3 like the first line"},
        {"1.5,2,3\n", "t.csv:1: label must be an integer"},
        {"1,2,300\n", "range over [0, 300]"},
        {"5\n", "t.csv:1: expected a label then features"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(p, bad[i].text, strlen(bad[i].text));
        expect_error(psync_data_load_csv(p, 0, &d), PSYNC_EFORMAT, bad[i].want, NULL);
    }
    write_file(p, "1,2\n", 4);
    expect_error(psync_data_load_csv(p, 5, &d), PSYNC_EFORMAT, "t.csv:1: 2 fields; expected 5",
                 NULL);
}

static void test_csv_line_limit(void **state)
{
    psync_dataset *d = NULL;
    size_t n = PSYNC_CSV_LINE_MAX + 100;
    char *big = malloc(n);
    memset(big, '1', n);
    for (size_t i = 1; i < n - 1; i += 2)
        big[i] = ',';
    big[n - 1] = '\n';
    const char *p = tmp_path("big.csv");
    write_file(p, big, n);
    free(big);
    expect_error(psync_data_load_csv(p, 0, &d), PSYNC_ELIMIT, "big.csv:1: line longer than", NULL);
}

static int setup(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    const char *names[] = {"cut-images-idx3-ubyte.gz",
                           "bad-images-idx3-ubyte.gz",
                           "x-images-idx3-ubyte",
                           "x-labels-idx1-ubyte",
                           "t.csv",
                           "big.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(tmp_path(names[i]));
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_files),     cmocka_unit_test(test_shard_strided),
        cmocka_unit_test(test_permutation),    cmocka_unit_test(test_truncated_and_corrupt_gz),
        cmocka_unit_test(test_lying_headers),  cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_line_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
