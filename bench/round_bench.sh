#!/bin/sh
# round_bench.sh: one synchronous averaging round, 4 workers x 100 MB (and
# the 1M-parameter variant), psync (psyncd + round_worker over ipc:// with
# same-host shared memory, over ipc:// with socket frames, over TCP
# loopback sockets only, with psyncd beside one worker and three over TCP,
# and over tcp:// with every member on this host taking shared memory:
# round_psync.sh) against torch.distributed gloo all_reduce (gloo_round.py) and a
# pyzmq+msgpack+numpy server (pyzmq_round.py), all in this one run, the
# same star in raw ZeroMQ (star_raw: the transport floor) and a sharded
# round's floor (shard_raw). Prints each figure (median round ms) and the
# ratios DESIGN.md holds psync to.
# Usage: bench/round_bench.sh [--build DIR] [--reps N] [--size-mb MB]
#        [--params N] [--skip-pyzmq]      (a size flag runs that size only)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${PSYNC_BUILD_DIR:-$HERE/../build/release}
PY=${PSYNC_PYTHON:-/usr/bin/python3}
REPS=3 SIZES="mb:100 params:1000000" SKIP_PYZMQ=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --size-mb) SIZES="mb:$2"; shift 2 ;;
    --params) SIZES="params:$2"; shift 2 ;;
    --skip-pyzmq) SKIP_PYZMQ=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "round_bench: unknown flag $1" >&2; exit 64 ;;
    esac
done

# value KEY TEXT: the number after "KEY=" in TEXT (empty if absent).
value() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=\([0-9.]*\).*/\1/p" | head -n1; }

# ratio NAME NUM DEN OP GOAL: prints "ratio NAME=NUM/DEN goalOPGOAL met|MISSED".
ratio() {
    if [ -z "$2" ] || [ -z "$3" ]; then
        echo "ratio $1=n/a goal$4$5 (figure missing)"; return
    fi
    awk -v n="$2" -v d="$3" -v op="$4" -v g="$5" -v name="$1" 'BEGIN {
        r = n / d; met = (op == "<=") ? r <= g : r >= g
        printf "ratio %s=%.3f goal%s%s %s\n", name, r, op, g, met ? "met" : "MISSED" }'
}

. "$HERE/round_psync.sh"

echo "env bench=round OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} cpus=$(nproc) reps=$REPS"
for size in $SIZES; do
    kind=${size%%:*} n=${size#*:}
    if [ "$kind" = mb ]; then flag="--size-mb $n"; else flag="--params $n"; fi
    echo "== round $kind=$n workers=4"
    gloo=$(timeout 900 "$PY" "$HERE/gloo_round.py" $flag --reps "$REPS") || true
    printf '%s\n' "$gloo"
    pz=""
    if [ "$SKIP_PYZMQ" = 0 ]; then
        pz=$(timeout 900 "$PY" "$HERE/pyzmq_round.py" $flag --reps "$REPS") || true
        printf '%s\n' "$pz"
    fi
    sleep 3 # the peers' teardown (GBs freed, pages compacted) out of psync's first figure
    ps=$(psync_round "$kind" "$n" "$REPS") || true
    printf '%s\n' "$ps"
    star="" shard=""
    if [ "$kind" = mb ]; then sflag="--size-mb $n"; else sflag="--params $n"; fi
    if [ -x "$BUILD/bench/star_raw" ]; then
        star=$(timeout 600 "$BUILD/bench/star_raw" $sflag --reps "$REPS" | grep '^peer') || true
        printf '%s\n' "$star"
    fi
    if [ -x "$BUILD/bench/shard_raw" ]; then
        shard=$(timeout 600 "$BUILD/bench/shard_raw" $sflag --reps "$REPS" | grep '^peer') || true
        printf '%s\n' "$shard"
    fi
    g=$(value gloo_round_ms "$gloo")
    ipc=$(value psync_ipc_round_ms "$ps") tcp=$(value psync_tcp_round_ms "$ps")
    frames=$(value psync_ipc_frames_round_ms "$ps")
    colo=$(value psync_tcp_colocated_round_ms "$ps") tshm=$(value psync_tcp_shm_round_ms "$ps")
    if [ -n "$ipc" ] && [ -n "$frames" ]; then # no goal: what shared memory gains
        awk -v s="$ipc" -v f="$frames" 'BEGIN { printf "info psync_ipc_shm/frames=%.3f\n", s / f }'
    fi
    # no goal either: psync over the raw star (its own work), the raw star
    # over gloo (the topology: 2N payloads through one hub, 2(N-1) in a ring)
    st=$(value star_raw_tcp_round_ms "$star") si=$(value star_raw_ipc_round_ms "$star")
    if [ -n "$st" ] && [ -n "$si" ] && [ -n "$tcp" ] && [ -n "$frames" ] && [ -n "$g" ]; then
        awk -v p="$tcp" -v s="$st" -v f="$frames" -v i="$si" -v g="$g" 'BEGIN {
            printf "info psync_tcp/star_raw_tcp=%.3f psync_ipc_frames/star_raw_ipc=%.3f", p / s, f / i
            printf " star_raw_tcp/gloo=%.3f\n", s / g }'
    fi
    # and what shards could reach: their transport floor over gloo
    sh_ms=$(value shard_raw_tcp_round_ms "$shard")
    if [ -n "$sh_ms" ] && [ -n "$g" ]; then
        awk -v s="$sh_ms" -v g="$g" 'BEGIN { printf "info shard_raw_tcp/gloo=%.3f\n", s / g }'
    fi
    if [ "$kind" = mb ]; then ipc_goal=0.7; else ipc_goal=1.0; fi
    ratio "psync_ipc/gloo" "$ipc" "$g" "<=" "$ipc_goal"
    ratio "psync_tcp/gloo" "$tcp" "$g" "<=" 1.0 # sockets only: the cross-host path
    ratio "psync_tcp_colocated/gloo" "$colo" "$g" "<=" 1.0
    ratio "psync_tcp_shm/gloo" "$tshm" "$g" "<=" "$ipc_goal"
    ratio "pyzmq_ipc/psync_ipc" "$(value pyzmq_ipc_round_ms "$pz")" "$ipc" ">=" 1.0
done
