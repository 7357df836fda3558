#!/bin/sh
# chaos.sh SRC BUILD [SEED]: a sync cluster of 3 workers trains Fashion-MNIST
# over 127.0.0.1 while a seeded schedule SIGKILLs random workers (restarted
# as hot joiners with no model file) and the daemon (restarted empty on the
# same address: it restores the newest merged version from the workers).
# Training is boxed by merged version: once the cluster reaches V_END (500
# sync rounds, ~16 epochs per worker) every worker gets SIGTERM together (a
# drained stop), so the final merged model averages every replica instead
# of being the last replica left (workers restarted mid-run do not finish
# their epochs at the same moment as the others). Bounded by T_MAX.
# Passes if the final merged model is >= 88% accurate, no process we did
# not kill died (exit status and signal), the merged version never goes
# back (psync status --json samples: per incarnation, and never below a
# version a member already held), and psyncd's VmRSS stays bounded. Every
# process started is killed on exit (trap). Bounded: ~2 minutes.
set -eu
SRC=$1 BUILD=$2 SEED=${3:-${PSYNC_CHAOS_SEED:-1}}
PSYNCD=$BUILD/daemon/psyncd WORKER=$BUILD/worker/psync-worker PSYNC=$BUILD/cli/psync
DATA=${PSYNC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
MODEL=$SRC/deploy/models/mlp.psync
EPOCHS=60 V_END=${PSYNC_CHAOS_VERSIONS:-500} T_MAX=150 MAX_RSS_KB=262144
LOGS=$(mktemp -d /tmp/psync-chaos.XXXXXX)
PIDS= SAMPLER=
say() { printf '[chaos %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
cleanup() {
    trap - EXIT INT TERM
    for p in $PIDS $SAMPLER; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS $SAMPLER; do wait "$p" 2>/dev/null || true; done
    [ -n "${KEEP_LOGS:-}" ] || rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
    echo "FAIL: $*"
    tail -n 8 "$LOGS"/psyncd*.log "$LOGS"/w*.log 2>/dev/null | cut -c1-240
    exit 1
}

PORT=$(python3 "$SRC/deploy/free_port.py" 2)
ADDR=tcp://127.0.0.1:$PORT

# --- processes: start, kill, reap --------------------------------------------
DN=0 DPID=
start_daemon() {
    DN=$((DN + 1))
    "$PSYNCD" --policy sync --bind-control "$ADDR" --bind-bulk "tcp://127.0.0.1:$((PORT + 1))" \
        --heartbeat-ms 100 --member-timeout-ms 1000 --round-deadline-ms 2000 \
        --recovery-window-ms 500 --expected-members 3 >"$LOGS/psyncd$DN.log" 2>&1 &
    DPID=$!
    PIDS="$PIDS $!"
    echo "$DPID psyncd$DN" >>"$LOGS/procs"
}
# start_worker RANK [joiner]: with the model file, or as a hot joiner.
start_worker() {
    n=$(ls "$LOGS" | grep -c "^w$1\." || true)
    log=$LOGS/w$1.$n.log
    if [ "${2:-}" = joiner ]; then set -- "$1" ""; else set -- "$1" "--model $MODEL"; fi
    # shellcheck disable=SC2086
    "$WORKER" $2 --connect "$ADDR" --rank "$1" --world-size 3 --epochs "$EPOCHS" --threads 1 \
        --data-dir "$DATA" --publish-every-steps 10 --log-every 0 >"$log" 2>&1 &
    eval "W$1=$!"
    PIDS="$PIDS $!"
    echo "$! w$1.$n" >>"$LOGS/procs"
}
killed() { echo "$1" >>"$LOGS/killed"; kill -9 "$1" 2>/dev/null || true; }
alive() { kill -0 "$1" 2>/dev/null; }

# Samples status (inc, version, members' held) and psyncd's VmRSS every 0.5 s.
sampler() {
    while :; do
        rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$(cat "$LOGS/dpid")/status" 2>/dev/null || echo 0)
        "$PSYNC" status --json --timeout-ms 400 "$ADDR" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
held = max([m["held"] for m in d.get("members", [])] or [0])
print(d["inc"], d["version"], held, sys.argv[1])' "${rss:-0}" >>"$LOGS/samples" 2>/dev/null || true
        sleep 0.5
    done
}

# --- the schedule: seeded, 5 kills 3-5 s apart, at least 2 of the daemon --------
SCHEDULE=$(awk -v s="$SEED" 'BEGIN { srand(s); t = 4
    for (i = 0; i < 5; i++) {
        who = (i == 1 || i == 3) ? "d" : (rand() < 0.25 ? "d" : "w" int(rand() * 3))
        printf "%d:%s ", t, who; t += 3 + int(rand() * 3) } }')
running() { n=0; for r in 0 1 2; do eval "p=\$W$r"; ! alive "$p" || n=$((n + 1)); done; echo $n; }
say "seed=$SEED schedule(s:target)=$SCHEDULE addr=$ADDR logs=$LOGS"

START=$(date +%s)
start_daemon
echo "$DPID" >"$LOGS/dpid"
for r in 0 1 2; do start_worker "$r"; done
sampler &
SAMPLER=$!
for ev in $SCHEDULE; do
    at=${ev%%:*} who=${ev#*:}
    while [ $(($(date +%s) - START)) -lt "$at" ]; do sleep 0.2; done
    if [ "$who" = d ] && [ "$(running)" -lt 2 ]; then
        say "t=${at}s fewer than 2 workers still training: psyncd is left alone"
    elif [ "$who" = d ]; then
        say "t=${at}s SIGKILL psyncd (pid $DPID)"
        killed "$DPID"
        sleep 1
        start_daemon
        echo "$DPID" >"$LOGS/dpid"
        say "psyncd restarted (pid $DPID)"
    else
        r=${who#w}
        eval "p=\$W$r"
        alive "$p" || { say "t=${at}s worker $r already finished"; continue; }
        say "t=${at}s SIGKILL worker $r (pid $p); restarting it as a hot joiner"
        killed "$p"
        sleep 1
        start_worker "$r" joiner
        # until it is welcomed (its stop handler is set by then): a SIGTERM
        # that came sooner would find the default action, not a drained stop
        i=0
        while [ $i -lt 50 ] && ! grep -q 'event=welcomed' "$log" 2>/dev/null; do
            sleep 0.2
            i=$((i + 1))
        done
    fi
done
version() { v=$(tail -n 1 "$LOGS/samples" 2>/dev/null | cut -d' ' -f2); echo "${v:-0}"; }
while [ "$(version)" -lt "$V_END" ] && [ $(($(date +%s) - START)) -lt "$T_MAX" ] &&
      [ "$(running)" -gt 0 ]; do
    sleep 0.2
done
say "t=$(($(date +%s) - START))s version=$(version): SIGTERM every worker (training boxed by version)"
for r in 0 1 2; do eval "p=\$W$r"; kill -TERM "$p" 2>/dev/null || true; done

# --- every worker we did not kill must exit 0 ----------------------------------
while read -r pid name; do
    case $name in psyncd*) continue ;; esac
    grep -qx "$pid" "$LOGS/killed" 2>/dev/null && continue
    n=0
    while alive "$pid" && [ $n -lt 900 ]; do sleep 0.2; n=$((n + 1)); done
    alive "$pid" && fail "$name (pid $pid) still running after 3 minutes"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$name (pid $pid) exited with status $rc (signal $((rc > 128 ? rc - 128 : 0)))"
done <"$LOGS/procs"
alive "$DPID" || fail "psyncd (pid $DPID) died on its own"

# --- the final merged model -------------------------------------------------------
"$WORKER" --connect "$ADDR" --eval-only --threads 1 --data-dir "$DATA" >"$LOGS/eval.log" 2>&1 ||
    fail "evaluating the merged model"
kill "$SAMPLER" 2>/dev/null || true
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
[ "$rc" -eq 0 ] || fail "psyncd exited with $rc on SIGTERM"
ACC=$(sed -n 's/.*event=joined_eval.*test_accuracy=\([0-9.]*\).*/\1/p' "$LOGS/eval.log")
VER=$(sed -n 's/.*event=joined_eval.* version=\([0-9]*\).*/\1/p' "$LOGS/eval.log")
RESTORED=$(cat "$LOGS"/psyncd*.log | grep -c 'event=model_ready' || true)

# --- versions never go back; RSS bounded ---------------------------------------
CHECK=$(awk -v maxrss="$MAX_RSS_KB" '
    $2 == 0 { next }                           # no model yet (recovery window)
    { if ($1 == inc && $2 < last) { print "version " last " -> " $2 " in incarnation " $1; bad = 1 }
      if ($2 < held) { print "version " $2 " below a held " held; bad = 1 }
      inc = $1; last = $2; if ($3 > held) held = $3; n++
      if ($4 > rss) rss = $4 }
    END { if (rss > maxrss) { print "psyncd VmRSS " rss " kB > " maxrss; bad = 1 }
          printf "samples=%d max_rss_kb=%d\n", n, rss; exit bad }' "$LOGS/samples") ||
    fail "$CHECK"
KILLS=$(wc -l <"$LOGS/killed")
say "final_merged_accuracy=$ACC version=$VER kills=$KILLS daemon_starts=$DN model_installs=$RESTORED $CHECK seconds=$(($(date +%s) - START))"
[ -n "$ACC" ] || fail "no accuracy"
awk -v a="$ACC" 'BEGIN { exit !(a >= 0.88) }' || fail "final merged accuracy $ACC < 0.88"
echo PASS
