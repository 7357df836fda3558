/* log_test.c: log lines are one line each, carry level/role/rank/event, are
 * filtered by level before formatting, and JSON mode escapes values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* Runs fn with stderr redirected into buf. */
static void capture(void (*fn)(void), char *buf, size_t cap)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
}

static int formatted_calls;
static int counted_arg(void)
{
    return ++formatted_calls;
}

static void emit_logfmt(void)
{
    psync_log_set_format(PSYNC_LOGFMT);
    psync_log_set_context("psyncd", 3);
    psync_log_set_level(PSYNC_LOG_INFO);
    PSYNC_DEBUG("hidden", "n=%d", counted_arg());
    PSYNC_WARN("snapshot_refused", "peer=%s reason=\"%s\"", "w1", "bad graph");
}

static void emit_json(void)
{
    psync_log_set_format(PSYNC_LOG_JSON);
    psync_log_set_context("worker", -1);
    PSYNC_ERROR("oops", "path=%s note=\"%s\"", "a\"b", "x y");
    psync_log_set_format(PSYNC_LOGFMT);
}

static void test_logfmt_line(void **state)
{
    char buf[4096];
    formatted_calls = 0;
    capture(emit_logfmt, buf, sizeof buf);
    assert_int_equal(formatted_calls, 0); /* level checked before formatting */
    assert_null(strstr(buf, "hidden"));
    assert_non_null(strstr(buf, "level=warn role=psyncd rank=3 event=snapshot_refused peer=w1"));
    assert_non_null(strstr(buf, "reason=\"bad graph\"\n"));
    assert_int_equal(strchr(buf, '\n') - buf + 1, (long)strlen(buf));
}

static void test_json_line(void **state)
{
    char buf[4096];
    capture(emit_json, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"level\":\"error\",\"role\":\"worker\",\"event\":\"oops\""));
    assert_non_null(strstr(buf, "\"path\":\"a\\\"b\""));
    assert_non_null(strstr(buf, "\"note\":\"x y\"}"));
}

static void test_errors(void **state)
{
    assert_int_equal(psync_fail(PSYNC_ESHAPE, "tensor '%s' bad", "w"), PSYNC_ESHAPE);
    assert_string_equal(psync_errdetail(), "tensor 'w' bad");
    assert_string_equal(psync_strerror(PSYNC_ESHAPE), "wrong shape");
    assert_string_equal(psync_strerror((psync_err)999), "unknown error");
    assert_int_equal(psync_exit_code(PSYNC_ECONFIG), 78);
    assert_int_equal(psync_exit_code(PSYNC_EPROTO), 76);
    psync_errclear();
    assert_string_equal(psync_errdetail(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_line),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
