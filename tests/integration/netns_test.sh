#!/bin/sh
# netns_test.sh SRC BUILD [NETEM_WIRE]: psyncd and 3 workers in 4 network
# namespaces, worker N reaching the daemon at 169.254.N+1.1 from 169.254.N+1.2
# (link-local, only inside the namespaces made here), over a link that delays
# every packet 20 ms +- 5 ms and loses 1%, per direction:
# - kernel with sch_netem: every worker has a veth pair with `tc netem` on
#   both ends (so the RTT, like the wire's, holds the delay twice);
# - kernel without it (this one and CI's): workers 1 and 2 are joined by a
#   netem_wire each (tests/netns: a userspace cable over two TUN devices, FIFO,
#   no reordering), worker 0 keeps a plain veth pair. That mix is deliberate:
#   the sync policy waits for every member, so the two emulated members set the
#   pace of every round (also during the partition, when worker 1 still is
#   one); the veth is the unemulated reference the RTT check is compared with.
#   PSYNC_NETNS_WIRE=1 takes this path even where netem exists.
# Checks that the emulation is real (median UDP RTT >= 2*delay - jitter on each
# emulated link, losses seen, no reordering on a wire), that the cluster trains
# with the emulated members contributing, then partitions worker 2 (its link
# down on the daemon side): psyncd drops it within the member timeout, rounds
# go on; link up: worker 2 rejoins by itself and merging continues; at exit
# each wire's counters must show losses both ways (and the partition's drops).
# Exits 77 (skipped) only when namespaces are impossible (not root, no
# iproute2, netns refused). Every process and namespace is removed on exit.
set -eu
SRC=$1 BUILD=$2 WIRE=${3:-}
PSYNCD=$BUILD/daemon/psyncd WORKER=$BUILD/worker/psync-worker PSYNC=$BUILD/cli/psync
PROBE=$SRC/tests/netns/rtt_probe.py
DATA=${PSYNC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
DELAY_MS=20 JITTER_MS=5 LOSS_PCT=1
TAG=psn$$ PIDS= WIRES=
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
    for p in $PIDS $WIRES; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS $WIRES; do wait "$p" 2>/dev/null || true; done
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
# link_veth N [netem]: veth pair daemon <-> worker N, netem on both ends if asked.
link_veth() {
    a=${TAG}a$1 b=${TAG}b$1
    ip link add "$a" type veth peer name "$b" || fail "ip link add veth $a"
    ip link set "$a" netns "${TAG}d" && ip link set "$b" netns "$TAG$1"
    ip -n "${TAG}d" addr add "169.254.$(($1 + 1)).1/24" dev "$a"
    ip -n "$TAG$1" addr add "169.254.$(($1 + 1)).2/24" dev "$b"
    ip -n "${TAG}d" link set "$a" up && ip -n "$TAG$1" link set "$b" up
    [ $# -lt 2 ] && return 0
    for e in "${TAG}d $a" "$TAG$1 $b"; do
        set -- $e
        ip netns exec "$1" tc qdisc add dev "$2" root netem delay ${DELAY_MS}ms ${JITTER_MS}ms \
            loss ${LOSS_PCT}% || fail "tc netem on $2"
    done
}
# link_wire N: a netem_wire between TUN a<N> (daemon) and b<N> (worker N);
# returns once the program printed "ready" (both devices exist).
link_wire() {
    mkfifo "$LOGS/wire$1.fifo"
    "$WIRE" --ns-a "${TAG}d" --dev-a "${TAG}a$1" --ns-b "$TAG$1" --dev-b "${TAG}b$1" \
        --delay-ms $DELAY_MS --jitter-ms $JITTER_MS --loss-pct $LOSS_PCT --seed $(($1 + 1)) \
        >"$LOGS/wire$1.fifo" 2>"$LOGS/wire$1.log" &
    WIRES="$WIRES $!"
    eval "WIRE$1=$!"
    [ "$(timeout 5 head -n 1 "$LOGS/wire$1.fifo")" = ready ] || fail "netem_wire $1 not ready"
    ip -n "${TAG}d" addr add "169.254.$(($1 + 1)).1" peer "169.254.$(($1 + 1)).2" dev "${TAG}a$1"
    ip -n "$TAG$1" addr add "169.254.$(($1 + 1)).2" peer "169.254.$(($1 + 1)).1" dev "${TAG}b$1"
    ip -n "${TAG}d" link set "${TAG}a$1" up && ip -n "$TAG$1" link set "${TAG}b$1" up
}

ip -n "${TAG}d" link set lo up
for n in 0 1 2; do
    ip netns add "$TAG$n" || fail "ip netns add $TAG$n"
    ip -n "$TAG$n" link set lo up
done
if [ "${PSYNC_NETNS_WIRE:-0}" != 1 ] && $D tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
    $D tc qdisc del dev lo root
    MODE=netem EMULATED="0 1 2" PLAIN=
    for n in 0 1 2; do link_veth $n netem; done
else
    [ -x "$WIRE" ] || skip "no sch_netem in this kernel and no netem_wire program built"
    MODE=netem_wire EMULATED="1 2" PLAIN=0
    link_veth 0
    link_wire 1
    link_wire 2
fi
echo "namespaces ${TAG}d ${TAG}0-2 (169.254.N.1 <-> .2); $MODE on workers ${EMULATED}," \
    "plain veth: ${PLAIN:-none}; ${DELAY_MS} ms +- ${JITTER_MS} ms, ${LOSS_PCT}% loss per direction"

# --- the emulation is real: UDP round trips, daemon side echoing ---------------
# field NAME LINE: the value of NAME=... in a key=value line.
field() { echo "$2" | sed -n "s/.* $1=\([^ ;]*\).*/\1/p;s/^$1=\([^ ;]*\).*/\1/p" | head -n 1; }
RTT_PIDS=
for n in $EMULATED $PLAIN; do
    python3 "$PROBE" --server-ns "${TAG}d" --server-addr "169.254.$((n + 1)).1" \
        --client-ns "$TAG$n" --client-addr "169.254.$((n + 1)).2" --count 400 \
        >"$LOGS/rtt$n.out" 2>"$LOGS/rtt$n.log" &
    RTT_PIDS="$RTT_PIDS $!"
done
PIDS="$PIDS $RTT_PIDS"
for p in $RTT_PIDS; do wait "$p" || fail "rtt_probe failed"; done
LOST=0
for n in $EMULATED $PLAIN; do
    r=$(cat "$LOGS/rtt$n.out")
    echo "rtt worker $n: $r"
    med=$(field median_ms "$r" | cut -d. -f1) lost=$(field lost "$r")
    [ -n "$med" ] && [ "$med" != nan ] || fail "no echo came back from worker $n's link"
    if [ "$n" = "$PLAIN" ]; then
        [ "$med" -lt 10 ] || fail "plain veth of worker $n has a median RTT of $med ms"
        continue
    fi
    [ "$med" -ge $((2 * DELAY_MS - JITTER_MS)) ] && [ "$med" -le $((2 * DELAY_MS + 40)) ] ||
        fail "worker $n: median RTT $med ms, expected about $((2 * DELAY_MS)) ms"
    [ "$lost" -le 40 ] || fail "worker $n: $lost of 400 echoes lost (expected about 8)"
    [ $MODE = netem ] || [ "$(field reordered "$r")" = 0 ] || fail "a wire reordered packets"
    LOST=$((LOST + lost))
done
[ $LOST -gt 0 ] || fail "no echo lost on any emulated link (loss not emulated?)"

# --- cluster -----------------------------------------------------------------------
$D "$PSYNCD" --policy sync --bind-control tcp://0.0.0.0:5555 --bind-bulk tcp://0.0.0.0:5556 \
    --insecure-plain --heartbeat-ms 200 --member-timeout-ms 2000 --round-deadline-ms 3000 \
    >"$LOGS/psyncd.log" 2>&1 &
PIDS="$PIDS $!"
# each namespace stands for a host: psyncd sees their addresses are not its
# own and offers no shared memory, so every chunk crosses its link
for n in 0 1 2; do
    ip netns exec "$TAG$n" "$WORKER" --model "$SRC/deploy/models/mlp.psync" \
        --connect "tcp://169.254.$((n + 1)).1:5555" --insecure-plain --rank $n \
        --world-size 3 --epochs 200 --threads 1 --data-dir "$DATA" --publish-every-steps 10 \
        >"$LOGS/worker$n.log" 2>&1 &
    PIDS="$PIDS $!"
done

# status FIELD [RANK]: version, members (count), or a member's snapshots
# (by rank; -1 when absent), asked inside the daemon's namespace.
status() {
    $D "$PSYNC" status --json --timeout-ms 1000 tcp://127.0.0.1:5555 2>/dev/null |
        python3 -c 'import json, sys
d, f = json.load(sys.stdin), sys.argv[1]
if f == "members": print(len(d["members"]))
elif f == "snapshots": print(max([m["snapshots"] for m in d["members"] if m["rank"] == int(sys.argv[2])] + [-1]))
else: print(d[f])' "$@" 2>/dev/null || echo -1
}
wait_for() { # FIELD OP VALUE SECONDS (and never past 70 s of the whole test)
    i=0
    while [ $i -lt $(($4 * 5)) ] && [ $(($(date +%s) - START)) -lt 70 ]; do
        v=$(status "$1")
        [ "$v" -ge 0 ] && [ "$v" "$2" "$3" ] && { echo "$v"; return 0; }
        sleep 0.2
        i=$((i + 1))
    done
    echo "$v"
    return 1
}

wait_for members -eq 3 20 >/dev/null || fail "3 workers never joined across the links"
V0=$(wait_for version -ge 5 20) || fail "no merged versions"
S1=$(status snapshots 1) S2=$(status snapshots 2)
echo "joined: 3 members, version $V0; snapshots from the emulated links: worker 1 $S1, worker 2 $S2"
[ "$S2" -gt 0 ] && { [ $MODE = netem ] || [ "$S1" -gt 0 ]; } ||
    fail "an emulated worker contributed no snapshot"
$D ip link set "${TAG}a2" down
T0=$(now_ms)
echo "partition: link of worker 2 down"
wait_for members -eq 2 6 >/dev/null || fail "worker 2 not dropped within 6 s"
echo "dropped after $(($(now_ms) - T0)) ms (member_timeout_ms=2000)"
V1=$(status version)
V2=$(wait_for version -ge $((V1 + 5)) 15) || fail "rounds stalled at $V1 during the partition"
echo "rounds go on without it: version $V1 -> $V2"
$D ip link set "${TAG}a2" up
T1=$(now_ms)
wait_for members -eq 3 20 >/dev/null || fail "worker 2 did not rejoin within 20 s of the heal"
echo "healed: rejoined $(($(now_ms) - T1)) ms after link up"
V3=$(status version)
wait_for version -ge $((V3 + 5)) 15 >/dev/null || fail "rounds stalled after the rejoin"
grep -q 'event=welcomed' "$LOGS/worker2.log" || fail "worker 2 logged no welcome"
S1b=$(status snapshots 1)
[ $MODE = netem ] || [ "$S1b" -gt "$S1" ] || fail "worker 1 (emulated) stopped contributing"
NOT=$(grep -c 'event=shm_not_offered' "$LOGS/psyncd.log" || true)
echo "shared memory not offered: $NOT times (members from other namespaces' addresses)"
[ "$NOT" -ge 3 ] && ! grep -q 'event=shm_attached' "$LOGS/psyncd.log" ||
    fail "workers in other namespaces: $NOT not offered shared memory (expected >= 3), or one took it"

# --- each wire's own account: losses both ways, the partition's drops ----------
for n in $([ $MODE = netem ] || echo "$EMULATED"); do
    eval "p=\$WIRE$n"
    kill -TERM "$p" && wait "$p" || fail "netem_wire $n did not exit cleanly"
    c=$(cat "$LOGS/wire$n.log")
    echo "wire $n: ${c#netem_wire: }"
    ab=${c%%;*} ba=${c#*;}
    [ "$(field lost "$ab")" -gt 0 ] && [ "$(field lost "$ba")" -gt 0 ] ||
        fail "wire $n lost nothing in one direction"
    [ "$(field forwarded "$ab")" -gt 1000 ] && [ "$(field forwarded "$ba")" -gt 1000 ] ||
        fail "wire $n carried little traffic"
    [ "$n" != 2 ] || [ "$(field link_down "$ba")" -gt 0 ] || fail "wire 2 saw no partition drops"
done
echo "PASS ($MODE, $(($(date +%s) - START)) s)"
