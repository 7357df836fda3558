# round_psync.sh: sourced by round_bench.sh. psync_round KIND N REPS runs
# psyncd and 4 round_worker processes in five layouts and prints one
# "psync ..." line with the median (over rounds) of the slowest worker's
# round for each:
#   psync_ipc_round_ms         ipc://, same-host shared memory (the default)
#   psync_ipc_frames_round_ms  ipc:// with --no-shm: socket frames
#   psync_tcp_round_ms         TCP loopback with --no-shm: every byte
#                              through TCP sockets, as between hosts
#   psync_tcp_colocated_round_ms  TCP loopback, psyncd beside worker 0 (on
#                              shared memory), workers 1-3 over TCP sockets
#                              (PSYNC_SHM=0): four hosts, psyncd on one
#   psync_tcp_shm_round_ms     TCP loopback, all on this host: every member
#                              takes shared memory (what tcp:// gets here)
# With PSYNC_BENCH_STANDBY=1 a
# standby psyncd follows the daemon during the rounds (what a standby costs)
# and the line also says how many versions it followed. Needs
# $BUILD/daemon/psyncd and $BUILD/bench/round_worker; says so when missing.

# psync_round_one ENDPOINT_CONTROL ENDPOINT_BULK PARAMS REPS DIR
#                 [STANDBY_CONTROL STANDBY_BULK]: median ms. $ROUND_FLAGS
#                 (unquoted) adds psyncd flags; the ranks in
#                 $ROUND_FRAMES_RANKS decline shared memory (PSYNC_SHM=0).
psync_round_one() {
    # shellcheck disable=SC2086
    "$BUILD/daemon/psyncd" --bind-control "$1" --bind-bulk "$2" --log-level warn \
        --round-deadline-ms 60000 --max-message-bytes 67108864 ${ROUND_FLAGS:-} \
        2>"$5/psyncd.log" &
    dpid=$!
    spid=""
    if [ "${PSYNC_BENCH_STANDBY:-0}" = 1 ] && [ -n "${6:-}" ]; then
        "$BUILD/daemon/psyncd" --bind-control "$6" --bind-bulk "$7" --log-level warn \
            --standby-of "$1" --standby-bulk "$2" --max-message-bytes 67108864 \
            2>"$5/standby.log" &
        spid=$!
    fi
    pids=""
    for r in 0 1 2 3; do
        shm=1
        case " ${ROUND_FRAMES_RANKS:-} " in *" $r "*) shm=0 ;; esac
        PSYNC_SHM=$shm timeout 600 "$BUILD/bench/round_worker" --control "$1" --bulk "$2" --rank $r \
            --workers 4 --params "$3" --reps "$4" --sync-dir "$5" >"$5/w$r.out" 2>"$5/w$r.err" &
        pids="$pids $!"
    done
    fail=0
    for p in $pids; do wait "$p" || fail=1; done
    if [ -n "$spid" ]; then
        followed=$("$BUILD/cli/psync" status --json "$6" 2>/dev/null |
            sed -n 's/.*"followed_versions": *\([0-9]*\).*/\1/p')
        echo "standby endpoint=$6 followed_versions=${followed:-0}" >&2
        kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
    fi
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
    port=$(/usr/bin/python3 "$HERE/../deploy/free_port.py" 4) || port=$((20000 + $$ % 10000 * 2))
    ipc=$(psync_round_one "ipc://$dir/c.sock" "ipc://$dir/b.sock" "$n" "$3" "$dir" \
        "ipc://$dir/sc.sock" "ipc://$dir/sb.sock") || ipc=""
    frames=$(ROUND_FLAGS=--no-shm psync_round_one "ipc://$dir/c.sock" "ipc://$dir/b.sock" "$n" \
        "$3" "$dir" "ipc://$dir/sc.sock" "ipc://$dir/sb.sock") || frames=""
    set -- "$n" "$3" "$dir" "tcp://127.0.0.1:$((port + 2))" "tcp://127.0.0.1:$((port + 3))"
    tcpc="tcp://127.0.0.1:$port" tcpb="tcp://127.0.0.1:$((port + 1))"
    tcp=$(ROUND_FLAGS=--no-shm psync_round_one "$tcpc" "$tcpb" "$@") || tcp=""
    colo=$(ROUND_FRAMES_RANKS="1 2 3" psync_round_one "$tcpc" "$tcpb" "$@") || colo=""
    tshm=$(psync_round_one "$tcpc" "$tcpb" "$@") || tshm=""
    rm -rf "$dir"
    echo "psync params=$n psync_ipc_round_ms=${ipc:-n/a}" \
        "psync_ipc_frames_round_ms=${frames:-n/a} psync_tcp_round_ms=${tcp:-n/a}" \
        "psync_tcp_colocated_round_ms=${colo:-n/a} psync_tcp_shm_round_ms=${tshm:-n/a}" \
        "standby=${PSYNC_BENCH_STANDBY:-0}"
}
