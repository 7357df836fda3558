#!/bin/sh
# recovery_times.sh SRC BUILD: measures what docs/recovery.md quotes, on a
# sync cluster of 3 workers over 127.0.0.1 (heartbeat 200 ms, member timeout
# 2000 ms, recovery window 500 ms):
#   worker: kill -9 of a worker mid-training -> the first merged version
#           without it (the round completes after the member timeout);
#   daemon: kill -9 of psyncd, restart on the same address -> the first new
#           merged version, and the restored version vs the newest any
#           worker held (from the workers' heartbeats in psync status).
# Prints one line per figure; every process is killed on exit.
set -eu
SRC=$1 BUILD=$2
PSYNCD=$BUILD/daemon/psyncd WORKER=$BUILD/worker/psync-worker PSYNC=$BUILD/cli/psync
DATA=${PSYNC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
LOGS=$(mktemp -d /tmp/psync-rtimes.XXXXXX)
PIDS=
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_LOGS:-}" ] || rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now_ms() { echo $(($(date +%s%N) / 1000000)); }
PORT=$(python3 "$SRC/deploy/free_port.py" 2)
ADDR=tcp://127.0.0.1:$PORT
daemon() {
    "$PSYNCD" --policy sync --bind-control "$ADDR" --bind-bulk "tcp://127.0.0.1:$((PORT + 1))" \
        --heartbeat-ms 200 --member-timeout-ms 2000 --recovery-window-ms 500 \
        --expected-members 3 >>"$LOGS/psyncd.log" 2>&1 &
    DPID=$!
    PIDS="$PIDS $!"
}
# field: version | members | held (max over members) | inc
status() {
    "$PSYNC" status --json --timeout-ms 300 "$ADDR" 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
f = sys.argv[1]
print(len(d["members"]) if f == "members" else
      max([m["held"] for m in d["members"]] or [0]) if f == "held" else d[f])' "$1" 2>/dev/null ||
        echo -1
}
wait_for() { # FIELD OP VALUE SECONDS
    i=0
    while [ $i -lt $(($4 * 50)) ]; do
        v=$(status "$1")
        [ "$v" != -1 ] && [ "$v" "$2" "$3" ] && { echo "$v"; return 0; }
        sleep 0.02
        i=$((i + 1))
    done
    return 1
}
daemon
for r in 0 1 2; do
    "$WORKER" --model "$SRC/deploy/models/mlp.psync" --connect "$ADDR" --rank $r --world-size 3 \
        --epochs 200 --threads 1 --data-dir "$DATA" --publish-every-steps 10 \
        >"$LOGS/w$r.log" 2>&1 &
    PIDS="$PIDS $!"
    eval "W$r=$!"
done
wait_for members -eq 3 30 >/dev/null
wait_for version -ge 20 30 >/dev/null

# --- a worker dies mid-training ---------------------------------------------------
V=$(status version)
T0=$(now_ms)
kill -9 "$W2"
# the longest pause between merged versions in the 5 s after the kill
LAST=$T0 GAP=0 DROP=
while [ $(($(now_ms) - T0)) -lt 5000 ]; do
    v=$(status version)
    t=$(now_ms)
    if [ "$v" != -1 ] && [ "$v" -gt "$V" ]; then
        [ $((t - LAST)) -le "$GAP" ] || GAP=$((t - LAST))
        V=$v LAST=$t
    fi
    [ -n "$DROP" ] || [ "$(status members)" != 2 ] || DROP=$((t - T0))
done
echo "worker_kill: dropped after ${DROP:-?} ms; longest pause between merged versions" \
    "$GAP ms (member_timeout_ms=2000); version $V 5 s after the kill"

# --- the daemon dies and restarts empty ------------------------------------------------
wait_for version -ge $((V + 20)) 20 >/dev/null
HELD=$(status held)
VD=$(status version)
kill -9 "$DPID"
sleep 0.5
T0=$(now_ms)
daemon
R=$(wait_for version -gt 0 20) || R=none
T1=$(now_ms)
N=$(wait_for version -gt "$R" 20) || N=none
T2=$(now_ms)
echo "daemon_restart: killed at version $VD (workers held up to $HELD); restored version $R" \
    "after $((T1 - T0)) ms; first new merged version $N after $((T2 - T0)) ms"
