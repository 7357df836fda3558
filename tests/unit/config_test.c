/* config_test.c: the settings table: precedence default < file < env < flag,
 * validation of types and bounds, --print-config sources, positionals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static const psync_cfg_def test_table[] = {
    {"batch_size", PSYNC_CFG_INT, "64", 1, 65536, "samples per step"},
    {"lr", PSYNC_CFG_FLOAT, "0.01", 0, 10, "learning rate"},
    {"policy", PSYNC_CFG_STR, "sync", 1, 0, "merge policy"},
    {"verbose", PSYNC_CFG_BOOL, "false", 1, 0, "more logs"},
};
#define NT (sizeof test_table / sizeof test_table[0])

static psync_config *load(int argc, char **argv, psync_err *err)
{
    psync_config *c = NULL;
    assert_int_equal(psync_config_new(&c, test_table, NT), PSYNC_OK);
    *err = psync_config_load(c, argc, argv);
    return c;
}

/* Usage example: defaults, then a flag overrides and is reported as such. */
static void test_defaults_and_flags(void **state)
{
    char *argv[] = {"prog", "--batch-size", "128", "--lr=0.5", "--verbose", "data.gz", NULL};
    psync_err err;
    psync_config *c = load(6, argv, &err);
    assert_int_equal(err, PSYNC_OK);
    assert_int_equal(psync_config_int(c, "batch_size"), 128);
    assert_true(psync_config_float(c, "lr") == 0.5);
    assert_true(psync_config_bool(c, "verbose"));
    assert_string_equal(psync_config_str(c, "policy"), "sync");
    assert_int_equal(psync_config_source(c, "policy"), PSYNC_SRC_DEFAULT);
    assert_int_equal(psync_config_source(c, "lr"), PSYNC_SRC_FLAG);
    char **pos;
    assert_int_equal(psync_config_positional(c, &pos), 1);
    assert_string_equal(pos[0], "data.gz");
    psync_config_destroy(&c);
    assert_null(c);
}

static void test_precedence_file_env_flag(void **state)
{
    char path[] = "/tmp/psync-config-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# comment\nbatch_size = 32\npolicy = \"easgd\"\nlr = 0.2\n";
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    setenv("PSYNC_LR", "0.3", 1);
    setenv("PSYNC_POLICY", "async", 1);
    char *argv[] = {"prog", "--config", path, "--policy", "sync", NULL};
    psync_err err;
    psync_config *c = load(5, argv, &err);
    assert_int_equal(err, PSYNC_OK);
    assert_int_equal(psync_config_int(c, "batch_size"), 32);
    assert_int_equal(psync_config_source(c, "batch_size"), PSYNC_SRC_FILE);
    assert_true(psync_config_float(c, "lr") == 0.3);
    assert_int_equal(psync_config_source(c, "lr"), PSYNC_SRC_ENV);
    assert_string_equal(psync_config_str(c, "policy"), "sync");
    assert_int_equal(psync_config_source(c, "policy"), PSYNC_SRC_FLAG);
    unsetenv("PSYNC_LR");
    unsetenv("PSYNC_POLICY");
    unlink(path);
    psync_config_destroy(&c);
}

static void expect_config_error(int argc, char **argv, const char *needle)
{
    psync_err err;
    psync_config *c = load(argc, argv, &err);
    assert_int_equal(err, PSYNC_ECONFIG);
    assert_non_null(strstr(psync_errdetail(), needle));
    psync_config_destroy(&c);
}

static void test_bad_values(void **state)
{
    char *a1[] = {"prog", "--batch-size", "0", NULL};
    expect_config_error(3, a1, "outside the allowed range");
    char *a2[] = {"prog", "--batch-size", "12x", NULL};
    expect_config_error(3, a2, "not a valid integer");
    char *a3[] = {"prog", "--lr", "nan", NULL};
    expect_config_error(3, a3, "not a valid number");
    char *a4[] = {"prog", "--no-such-thing", NULL};
    expect_config_error(2, a4, "unknown option");
    char *a5[] = {"prog", "--verbose=maybe", NULL};
    expect_config_error(2, a5, "not a boolean");
    char *a6[] = {"prog", "--lr", NULL};
    expect_config_error(2, a6, "needs a value");
}

static void test_special_flags(void **state)
{
    char *argv[] = {"prog", "--print-config", "--no-verbose", NULL};
    psync_err err;
    psync_config *c = load(3, argv, &err);
    assert_int_equal(err, PSYNC_OK);
    assert_int_equal(psync_config_wants(c), PSYNC_WANT_PRINT_CONFIG);
    assert_false(psync_config_bool(c, "verbose"));
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    psync_config_print(c, f, true);
    fclose(f);
    assert_non_null(strstr(buf, "\"verbose\": {\"value\": \"false\", \"source\": \"flag\"}"));
    assert_non_null(strstr(buf, "\"batch_size\": {\"value\": \"64\", \"source\": \"default\"}"));
    psync_config_destroy(&c);
    char *h[] = {"prog", "--help", NULL};
    c = load(2, h, &err);
    assert_int_equal(psync_config_wants(c), PSYNC_WANT_HELP);
    psync_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_precedence_file_env_flag),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_special_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
