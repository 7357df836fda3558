#!/bin/sh
# Builds psync and runs its whole test suite, the way CI does:
#   1. release build with -Werror, every ctest test;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, every test not
#      labelled "slow" (the long training-to-accuracy runs);
#   3. ThreadSanitizer build, the daemon's integration tests (label
#      "daemon": psyncd's event loop and ZAP handler threads, the clients'
#      ZeroMQ threads), each bounded by a 120 s ctest timeout;
#   4. each libFuzzer harness for a bounded time (PSYNC_FUZZ_SECONDS, 20 s),
#      when clang's fuzzer runtime is installed.
# Usage: tests/run.sh [BUILD_ROOT]   (default: ./build)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${1:-$SRC/build}
JOBS=${PSYNC_JOBS:-2}
FUZZ_SECONDS=${PSYNC_FUZZ_SECONDS:-20}

step() { printf '\n==== %s\n' "$*"; }

# run_ctest NAME COMMAND...: runs one ctest stage, shows its output, adds its
# counts to the totals printed at the end, and stops the run if it failed.
PASSED=0 FAILED=0
run_ctest() {
    log=$ROOT/ctest-$1.log
    shift
    rc=0
    "$@" >"$log" 2>&1 || rc=$?
    cat "$log"
    line=$(grep -E '[0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
        t=$(echo "$line" | sed -E 's/.* tests failed out of ([0-9]+).*/\1/')
        PASSED=$((PASSED + t - f))
        FAILED=$((FAILED + f))
    fi
    if [ "$rc" -ne 0 ]; then
        # The failing lines again, last: a long log shown cut in the middle
        # still ends with the cause (cmocka's ERROR/LINE, scripts' FAIL:).
        echo "---- failures in $log"
        grep -E '^\[  (ERROR|FAILED) |^\[   LINE   \]|FAIL:|Failed|\*\*\*|runtime error|Sanitizer' \
            "$log" | tail -n 40 || true
        echo "tests: $PASSED passed, $FAILED failed"
        exit "$rc"
    fi
}

step "release build ($ROOT/release)"
cmake -S "$SRC" -B "$ROOT/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPSYNC_WERROR=ON >/dev/null
cmake --build "$ROOT/release" -j "$JOBS"
step "tests (release)"
mkdir -p "$ROOT"
run_ctest release ctest --test-dir "$ROOT/release" --output-on-failure --timeout 300

step "sanitizer build ($ROOT/asan)"
cmake -S "$SRC" -B "$ROOT/asan" -DCMAKE_BUILD_TYPE=Debug -DPSYNC_WERROR=ON \
    -DPSYNC_SANITIZE=ON -DPSYNC_BENCH=OFF >/dev/null
cmake --build "$ROOT/asan" -j "$JOBS"
step "tests (ASan + UBSan, without the slow ones)"
run_ctest asan env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$ROOT/asan" --output-on-failure --timeout 600 -LE slow

step "ThreadSanitizer build ($ROOT/tsan)"
cmake -S "$SRC" -B "$ROOT/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPSYNC_WERROR=ON \
    -DPSYNC_TSAN=ON -DPSYNC_BENCH=OFF >/dev/null
cmake --build "$ROOT/tsan" -j "$JOBS"
step "daemon integration tests (ThreadSanitizer, tests/tsan.supp)"
run_ctest tsan env TSAN_OPTIONS="suppressions=$SRC/tests/tsan.supp:exitcode=66" \
    ctest --test-dir "$ROOT/tsan" --output-on-failure --timeout 120 -L daemon

if [ -x "$SRC/tests/fuzz/run-fuzzers.sh" ] && command -v clang >/dev/null 2>&1; then
    step "fuzzers, ${FUZZ_SECONDS}s each"
    "$SRC/tests/fuzz/run-fuzzers.sh" "$ROOT/fuzz" "$FUZZ_SECONDS"
fi
step "all test stages passed"
echo "tests: $PASSED passed, $FAILED failed"
