#!/bin/sh
# cluster_drop_test.sh SRC BUILD: a sync cluster of 3 workers (psyncd with
# member_timeout_ms 2000, heartbeat_ms 200). Worker 2 is frozen with SIGSTOP:
# psyncd must drop it within the timeout (+2 s), the rounds must carry on
# without it (the merged version keeps increasing, per `psync status
# --json`), and after SIGCONT it must rejoin by itself (a member again, and
# applying merges). Every process is stopped at the end (the cluster script
# traps TERM).
set -eu
SRC=$1 BUILD=$2
PSYNC=$BUILD/cli/psync
LOGS=$(mktemp -d /tmp/psync-drop-test.XXXXXX)
LC=
finish() {
    [ -z "$LC" ] || { kill "$LC" 2>/dev/null || true; wait "$LC" 2>/dev/null || true; }
    rm -rf "$LOGS"
}
trap finish EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*"; tail -n 5 "$LOGS"/psyncd.log "$LOGS"/worker2.log; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

sed -e 's/^member_timeout_ms = .*/member_timeout_ms = 2000/' \
    -e 's/^heartbeat_ms = .*/heartbeat_ms = 200/' "$SRC/deploy/psyncd.conf" >"$LOGS/psyncd.conf"
sh "$SRC/deploy/local-cluster.sh" --build "$BUILD" --logs "$LOGS" --config "$LOGS/psyncd.conf" \
    --policy sync --epochs 200 --workers 3 --join-at none >"$LOGS/cluster.out" 2>&1 &
LC=$!

# status FIELD: "version" or "members" (count) from psync status --json.
status() {
    [ -s "$LOGS/address" ] || { echo -1; return; }
    "$PSYNC" status --json "$(cat "$LOGS/address")" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["members"]) if sys.argv[1] == "members" else d[sys.argv[1]])' "$1" 2>/dev/null || echo -1
}
# wait_for FIELD OP VALUE SECONDS: polls status until `FIELD OP VALUE` holds.
wait_for() {
    i=0
    while [ $i -lt $(($4 * 10)) ]; do
        v=$(status "$1")
        [ "$v" -ge 0 ] && [ "$v" "$2" "$3" ] && { echo "$v"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "$v"
    return 1
}

wait_for members -eq 3 60 >/dev/null || fail "3 workers never joined"
V0=$(wait_for version -ge 5 60) || fail "no merged versions"
W2=$(cat "$LOGS/worker2.pid")
kill -STOP "$W2"
T0=$(now_ms)
echo "version=$V0: SIGSTOP worker 2 (pid $W2)"
wait_for members -eq 2 4 >/dev/null || fail "worker 2 not dropped within 4 s"
echo "dropped after $(($(now_ms) - T0)) ms (member_timeout_ms=2000)"
grep -m1 'event=member_dropped\|event=member_left' "$LOGS/psyncd.log" || true
V1=$(status version)
V2=$(wait_for version -ge $((V1 + 5)) 10) || fail "rounds stalled at version $V1 without worker 2"
echo "rounds carry on without it: version $V1 -> $V2"
kill -CONT "$W2"
T1=$(now_ms)
wait_for members -eq 3 10 >/dev/null || fail "worker 2 did not rejoin within 10 s of SIGCONT"
echo "rejoined $(($(now_ms) - T1)) ms after SIGCONT"
V3=$(status version)
wait_for version -ge $((V3 + 5)) 10 >/dev/null || fail "rounds stalled after the rejoin"
N=$(grep -c 'event=member_joined' "$LOGS/psyncd.log")
[ "$N" -ge 4 ] || fail "psyncd logged $N joins, expected a 4th (the rejoin)"
grep 'event=member_joined' "$LOGS/psyncd.log" | tail -n 1
echo PASS
