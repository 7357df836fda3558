# round_psync.sh: sourced by round_bench.sh. psync_round KIND N REPS runs
# psyncd and 4 round_worker processes over ipc:// and then TCP loopback and
# prints "psync psync_ipc_round_ms=... psync_tcp_round_ms=..." (median over
# rounds of the slowest worker's round). Needs $BUILD/daemon/psyncd and
# $BUILD/bench/round_worker; says so when they are missing.

# psync_round_one ENDPOINT_CONTROL ENDPOINT_BULK PARAMS REPS DIR: median ms.
psync_round_one() {
    "$BUILD/daemon/psyncd" --bind-control "$1" --bind-bulk "$2" --log-level warn \
        --round-deadline-ms 60000 --max-message-bytes 67108864 2>"$5/psyncd.log" &
    dpid=$!
    pids=""
    for r in 0 1 2 3; do
        timeout 600 "$BUILD/bench/round_worker" --control "$1" --bulk "$2" --rank $r \
            --workers 4 --params "$3" --reps "$4" --sync-dir "$5" >"$5/w$r.out" 2>"$5/w$r.err" &
        pids="$pids $!"
    done
    fail=0
    for p in $pids; do wait "$p" || fail=1; done
    kill -TERM "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null || true
    rm -f "$5"/ready.* "$5"/joined.*
    if [ "$fail" = 1 ] || grep -q 'ok=0' "$5"/w?.out; then
        echo "psync_round_failed endpoint=$1" >&2
        cat "$5"/w?.err "$5/psyncd.log" | tail -n 20 >&2
        return 1
    fi
    # slowest worker per round (round 0 = warm-up dropped), then the median
    sed -n 's/.*times_ms=//p' "$5"/w?.out | awk -F, '
        { for (i = 2; i <= NF; i++) if ($i > m[i]) m[i] = $i; n = NF }
        END { k = 0; for (i = 2; i <= n; i++) v[++k] = m[i]
              for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                  if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
              printf "%.2f\n", k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }'
}

psync_round() {
    if [ ! -x "$BUILD/daemon/psyncd" ] || [ ! -x "$BUILD/bench/round_worker" ]; then
        echo "psync_round unavailable: need $BUILD/daemon/psyncd and $BUILD/bench/round_worker"
        return 1
    fi
    if [ "$1" = mb ]; then n=$(awk -v m="$2" 'BEGIN { printf "%d", m * 1e6 / 4 }'); else n=$2; fi
    dir=$(mktemp -d)
    port=$(( 20000 + $$ % 20000 ))
    ipc=$(psync_round_one "ipc://$dir/c.sock" "ipc://$dir/b.sock" "$n" "$3" "$dir") || ipc=""
    tcp=$(psync_round_one "tcp://127.0.0.1:$port" "tcp://127.0.0.1:$((port + 1))" "$n" "$3" \
        "$dir") || tcp=""
    rm -rf "$dir"
    echo "psync params=$n psync_ipc_round_ms=${ipc:-n/a} psync_tcp_round_ms=${tcp:-n/a}"
}
