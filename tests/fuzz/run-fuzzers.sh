#!/bin/sh
# run-fuzzers.sh BUILD_DIR [SECONDS]: configures BUILD_DIR with clang and
# -DPSYNC_FUZZ=ON, builds every libFuzzer harness (tests/*_fuzz) and runs
# each for SECONDS (default 60) on a scratch copy of its seed corpus,
# printing executions per second and coverage at the end of each run.
set -eu
build=${1:?usage: run-fuzzers.sh BUILD_DIR [SECONDS]}
secs=${2:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
CC=clang cmake -S "$src" -B "$build" -DPSYNC_FUZZ=ON -DPSYNC_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(grep -ho 'psync_fuzz_target([a-z_]*' "$src"/tests/fuzz/*.cmake | sed 's/.*(//' |
    grep -v '^name$')
if ! make -C "$build" -j2 $targets >"$build/fuzz-build.log" 2>&1; then
    tail -30 "$build/fuzz-build.log"
    exit 1
fi
status=0
for harness in "$build"/tests/*_fuzz; do
    [ -x "$harness" ] || continue
    name=$(basename "$harness" _fuzz)
    work=$(mktemp -d)
    [ -d "$src/tests/fuzz/corpus/$name" ] && cp "$src/tests/fuzz/corpus/$name"/* "$work"/
    echo "== $name: ${secs}s"
    if ! "$harness" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=1024 \
        -max_len=65536 "$work" >"$work.log" 2>&1; then
        status=1
        tail -40 "$work.log"
    fi
    grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' \
        "$work.log" | sed 's/^/  /'
    grep -E 'cov: [0-9]+' "$work.log" | tail -1 | sed 's/^/  last: /'
    rm -rf "$work" "$work.log"
done
exit $status
