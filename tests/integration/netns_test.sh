#!/bin/sh
# netns_test.sh SRC BUILD: psyncd and 3 workers in 4 network namespaces,
# each worker joined to the daemon's namespace by its own veth pair with
# link-local addresses (169.254.N.1 daemon side, 169.254.N.2 worker side,
# only inside the namespaces created here). With `tc netem` (delay 20 ms,
# loss 1%) on every worker link when the kernel has it (else a 200 Mbit/s
# token bucket, and the test says netem was not available), a sync cluster
# trains; then worker 2's link goes down (a partition): psyncd drops it
# within the member timeout and the rounds go on; the link comes back: the
# worker rejoins by itself and merging continues. Exits 77 (skipped) when
# namespaces are impossible (not root, no ip/tc, netns refused). Every
# process and namespace is removed on exit.
set -eu
SRC=$1 BUILD=$2
PSYNCD=$BUILD/daemon/psyncd WORKER=$BUILD/worker/psync-worker PSYNC=$BUILD/cli/psync
DATA=${PSYNC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
TAG=psn$$ PIDS=
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null && command -v tc >/dev/null || skip "needs ip and tc (iproute2)"
# Namespaces of an earlier run that was killed before its cleanup (ctest
# timeout): psn<pid><d|0-2> whose pid is gone.
for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(psn[0-9]*[d0-2]\)\( .*\)\{0,1\}$/\1/p'); do
    pid=$(echo "$ns" | sed 's/^psn\([0-9]*\)[d0-2]$/\1/')
    kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
done
ip netns add "${TAG}d" 2>/dev/null || skip "ip netns add refused (no CAP_SYS_ADMIN?)"
START=$(date +%s)
LOGS=$(mktemp -d /tmp/psync-netns.XXXXXX)
cleanup() {
    trap - EXIT INT TERM
    for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    for n in d 0 1 2; do ip netns del "$TAG$n" 2>/dev/null || true; done
    rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "FAIL: $*"; tail -n 6 "$LOGS"/*.log | cut -c1-240; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
D="ip netns exec ${TAG}d"

# --- topology --------------------------------------------------------------------
$D ip link set lo up
NETEM=yes
for n in 0 1 2; do
    ip netns add "$TAG$n" || fail "ip netns add $TAG$n"
    ip link add "${TAG}a$n" type veth peer name "${TAG}b$n"
    ip link set "${TAG}a$n" netns "${TAG}d"
    ip link set "${TAG}b$n" netns "$TAG$n"
    $D ip addr add "169.254.$((n + 1)).1/24" dev "${TAG}a$n"
    $D ip link set "${TAG}a$n" up
    ip netns exec "$TAG$n" ip addr add "169.254.$((n + 1)).2/24" dev "${TAG}b$n"
    ip netns exec "$TAG$n" ip link set "${TAG}b$n" up
    ip netns exec "$TAG$n" ip link set lo up
    if [ "$NETEM" = yes ] && ! ip netns exec "$TAG$n" tc qdisc add dev "${TAG}b$n" root netem \
            delay 20ms 5ms loss 1% 2>/dev/null; then
        NETEM="no (this kernel has no sch_netem: delay/loss not emulated)"
    fi
    [ "$NETEM" = yes ] || ip netns exec "$TAG$n" tc qdisc add dev "${TAG}b$n" root tbf \
        rate 200mbit burst 256kb latency 50ms 2>/dev/null || true
done
echo "namespaces ${TAG}d ${TAG}0-2, veth 169.254.N.1 <-> 169.254.N.2; netem: $NETEM"

# --- cluster -----------------------------------------------------------------------
$D "$PSYNCD" --policy sync --bind-control tcp://0.0.0.0:5555 --bind-bulk tcp://0.0.0.0:5556 \
    --insecure-plain --heartbeat-ms 200 --member-timeout-ms 2000 --round-deadline-ms 3000 \
    >"$LOGS/psyncd.log" 2>&1 &
PIDS="$PIDS $!"
for n in 0 1 2; do
    ip netns exec "$TAG$n" "$WORKER" --model "$SRC/deploy/models/mlp.psync" \
        --connect "tcp://169.254.$((n + 1)).1:5555" --insecure-plain --rank $n --world-size 3 \
        --epochs 200 --threads 1 --data-dir "$DATA" --publish-every-steps 10 \
        >"$LOGS/worker$n.log" 2>&1 &
    PIDS="$PIDS $!"
done

# status FIELD: version or members (count), asked inside the daemon's namespace.
status() {
    $D "$PSYNC" status --json --timeout-ms 1000 tcp://127.0.0.1:5555 2>/dev/null |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
print(len(d["members"]) if sys.argv[1] == "members" else d[sys.argv[1]])' "$1" 2>/dev/null || echo -1
}
wait_for() { # FIELD OP VALUE SECONDS (and never past 50 s of the whole test)
    i=0
    while [ $i -lt $(($4 * 5)) ] && [ $(($(date +%s) - START)) -lt 50 ]; do
        v=$(status "$1")
        [ "$v" -ge 0 ] && [ "$v" "$2" "$3" ] && { echo "$v"; return 0; }
        sleep 0.2
        i=$((i + 1))
    done
    echo "$v"
    return 1
}

wait_for members -eq 3 20 >/dev/null || fail "3 workers never joined across the veths"
V0=$(wait_for version -ge 5 20) || fail "no merged versions"
echo "joined: 3 members, version $V0"
$D ip link set "${TAG}a2" down
T0=$(now_ms)
echo "partition: link of worker 2 down"
wait_for members -eq 2 6 >/dev/null || fail "worker 2 not dropped within 6 s"
echo "dropped after $(($(now_ms) - T0)) ms (member_timeout_ms=2000)"
V1=$(status version)
V2=$(wait_for version -ge $((V1 + 5)) 10) || fail "rounds stalled at $V1 during the partition"
echo "rounds go on without it: version $V1 -> $V2"
$D ip link set "${TAG}a2" up
T1=$(now_ms)
wait_for members -eq 3 15 >/dev/null || fail "worker 2 did not rejoin within 15 s of the heal"
echo "healed: rejoined $(($(now_ms) - T1)) ms after link up"
V3=$(status version)
wait_for version -ge $((V3 + 5)) 10 >/dev/null || fail "rounds stalled after the rejoin"
grep -q 'event=welcomed' "$LOGS/worker2.log" || fail "worker 2 logged no welcome"
echo "PASS (netem: $NETEM)"
