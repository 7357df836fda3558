#!/bin/sh
# local-cluster.sh: a whole psync cluster on this machine. Builds psync if
# needed (build/release), starts psyncd and N workers on shards of
# Fashion-MNIST (deploy/models/mlp.psync), hot-joins one more worker with only
# the daemon's address at mid-training, then prints the cluster's test
# accuracy (the daemon's merged model). With --standby a second psyncd
# follows the first and the workers get both addresses; --kill-primary-at
# SIGKILLs the first one mid-training to show the failover. With --ipc every
# socket is an ipc:// file in the logs directory. A sync cluster moves its
# chunks through shared memory either way (all of it runs on this host).
# Every process it starts is stopped on
# exit, Ctrl-C or SIGTERM. See deploy/README.md,
# docs/cluster.md and docs/recovery.md.
set -eu

usage() {
    cat <<EOF
usage: sh deploy/local-cluster.sh [options]
  --policy P          merge policy: sync | easgd | async        (sync)
  --epochs N          epochs each worker trains                 (6)
  --workers N         workers started with the model file       (3)
  --join-at E         hot-join one more worker when worker 0 has
                      finished epoch E; 'none': no joiner     (epochs/2)
  --publish-every K   steps between snapshots                   (10)
  --port P            control port (bulk: P+1); 0: a free one   (0)
  --ipc               ipc:// sockets in the logs directory instead of
                      TCP ports (under sync, chunks go through shared
                      memory either way: docs/protocol.md)
  --build DIR         build directory                  (build/release)
  --logs DIR          keep the logs here              (a temp dir)
  --config FILE       psyncd config file          (deploy/psyncd.conf)
  --worker-flags F    extra psync-worker flags for every worker, e.g.
                      "--lr 0.0005 --batch-size 128"
  --standby           run a hot standby psyncd (ports P+2, P+3) that
                      follows the primary; workers get both addresses
  --kill-primary-at E SIGKILL the primary when worker 0 has finished
                      epoch E (implies --standby)               (never)
EOF
}

SRC=$(cd "$(dirname "$0")/.." && pwd)
POLICY=sync EPOCHS=6 WORKERS=3 JOIN_AT= EVERY=10 PORT=0
BUILD=$SRC/build/release LOGS= CONFIG=$SRC/deploy/psyncd.conf WFLAGS= STANDBY=0 KILL_AT= IPC=0
while [ $# -gt 0 ]; do
    case $1 in
    --policy) POLICY=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --join-at) JOIN_AT=$2; shift 2 ;;
    --publish-every) EVERY=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --ipc) IPC=1; shift ;;
    --build) BUILD=$2; shift 2 ;;
    --logs) LOGS=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --worker-flags) WFLAGS=$2; shift 2 ;;
    --standby) STANDBY=1; shift ;;
    --kill-primary-at) KILL_AT=$2; STANDBY=1; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 64 ;;
    esac
done
[ -n "$JOIN_AT" ] || JOIN_AT=$((EPOCHS / 2))
DATA=${PSYNC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
MODEL=$SRC/deploy/models/mlp.psync

say() { printf '[local-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# --- build (reused when the three programs are there) ------------------------
if [ ! -x "$BUILD/daemon/psyncd" ] || [ ! -x "$BUILD/worker/psync-worker" ] ||
   [ ! -x "$BUILD/cli/psync" ]; then
    say "building psync in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j 2 --target psyncd psync-worker psync-cli >/dev/null
fi
PSYNCD=$BUILD/daemon/psyncd WORKER=$BUILD/worker/psync-worker PSYNC=$BUILD/cli/psync

# --- processes and cleanup ----------------------------------------------------
PIDS=
[ -n "$LOGS" ] || { LOGS=$(mktemp -d /tmp/psync-cluster.XXXXXX); }
mkdir -p "$LOGS"
rm -f "$LOGS/.stop"
cleanup() {
    trap - EXIT INT TERM
    for p in $PIDS; do kill "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

[ "$PORT" != 0 ] || [ "$IPC" = 1 ] || PORT=$(python3 "$SRC/deploy/free_port.py" 4) # control, bulk, standby's two
ADDR=tcp://127.0.0.1:$PORT BULK=tcp://127.0.0.1:$((PORT + 1))
STANDBY_ADDR=tcp://127.0.0.1:$((PORT + 2)) STANDBY_BULK=tcp://127.0.0.1:$((PORT + 3))
if [ "$IPC" = 1 ]; then # a worker derives the bulk endpoint as CONTROL.bulk
    ADDR=ipc://$LOGS/psyncd.sock BULK=ipc://$LOGS/psyncd.sock.bulk
    STANDBY_ADDR=ipc://$LOGS/standby.sock STANDBY_BULK=ipc://$LOGS/standby.sock.bulk
fi
# What workers connect to: the primary, then the standby if there is one.
CONNECT=$ADDR
[ "$STANDBY" = 0 ] || CONNECT=$ADDR,$STANDBY_ADDR

# Prints the worker log lines worth watching as they come, once a second
# (a plain loop: no pipeline left behind), until $LOGS/.stop exists.
watch_logs() {
    while [ ! -e "$LOGS/.stop" ]; do
        sleep 1
        i=0
        for f in "$@"; do
            i=$((i + 1))
            eval "seen=\${seen_$i:-0}"
            total=$(wc -l <"$f")
            if [ "$total" -gt "$seen" ]; then
                sed -n "$((seen + 1)),${total}p" "$f" |
                    grep -E 'event=(cluster_joined|caught_up|joined_eval|progress|final_eval|worker_failed)' |
                    sed 's/^time=[^ ]* level=[a-z]* role=//' || true
                eval "seen_$i=$total"
            fi
        done
    done
}

# --- run ------------------------------------------------------------------------
START=$(date +%s)
say "psyncd at $ADDR, policy $POLICY; $WORKERS workers x $EPOCHS epochs; logs in $LOGS"
"$PSYNCD" --config "$CONFIG" --policy "$POLICY" --bind-control "$ADDR" \
    --bind-bulk "$BULK" >"$LOGS/psyncd.log" 2>&1 &
PRIMARY=$!
PIDS="$PIDS $!"
if [ "$STANDBY" = 1 ]; then
    say "standby psyncd at $STANDBY_ADDR follows the primary"
    "$PSYNCD" --config "$CONFIG" --policy "$POLICY" --bind-control "$STANDBY_ADDR" \
        --bind-bulk "$STANDBY_BULK" --standby-of "$ADDR" \
        >"$LOGS/standby.log" 2>&1 &
    PIDS="$PIDS $!"
fi
echo "$ADDR" >"$LOGS/address"
LOGFILES=
for r in $(seq 0 $((WORKERS - 1))); do
    : >"$LOGS/worker$r.log"
    LOGFILES="$LOGFILES $LOGS/worker$r.log"
done
: >"$LOGS/joiner.log"
watch_logs $LOGFILES "$LOGS/joiner.log" &
WATCH=$!
PIDS="$PIDS $WATCH"
WPIDS=
for r in $(seq 0 $((WORKERS - 1))); do
    "$WORKER" --model "$MODEL" --connect "$CONNECT" --rank "$r" --world-size "$WORKERS" \
        --epochs "$EPOCHS" --threads 1 --data-dir "$DATA" --publish-every-steps "$EVERY" \
        $WFLAGS >"$LOGS/worker$r.log" 2>&1 &
    WPIDS="$WPIDS $!"
    echo $! >"$LOGS/worker$r.pid"
done
PIDS="$PIDS $WPIDS"

if [ "$JOIN_AT" != none ]; then
    # Waits for worker 0's progress line of epoch JOIN_AT (or its end).
    W0=$(echo $WPIDS | cut -d' ' -f1)
    while ! grep -q "event=progress epoch=$JOIN_AT " "$LOGS/worker0.log" &&
          kill -0 "$W0" 2>/dev/null; do
        sleep 0.2
    done
    say "hot join: a worker with only the daemon's address ($ADDR), no model file"
    "$WORKER" --connect "$CONNECT" --rank "$WORKERS" --world-size $((WORKERS + 1)) \
        --epochs "$EPOCHS" --threads 1 --data-dir "$DATA" --publish-every-steps "$EVERY" \
        $WFLAGS >"$LOGS/joiner.log" 2>&1 &
    WPIDS="$WPIDS $!"
    PIDS="$PIDS $!"
fi

ACTIVE=$ADDR
if [ -n "$KILL_AT" ]; then
    W0=$(echo $WPIDS | cut -d' ' -f1)
    while ! grep -q "event=progress epoch=$KILL_AT " "$LOGS/worker0.log" &&
          kill -0 "$W0" 2>/dev/null; do
        sleep 0.2
    done
    V=$("$PSYNC" status --json "$ADDR" 2>/dev/null | sed -n 's/.*"version": *\([0-9]*\).*/\1/p')
    say "failover: SIGKILL the primary psyncd at version ${V:-?}; the standby takes over"
    kill -9 "$PRIMARY" 2>/dev/null || true
    ACTIVE=$STANDBY_ADDR
fi

FAILED=0
for p in $WPIDS; do wait "$p" || FAILED=$((FAILED + 1)); done
[ "$FAILED" -eq 0 ] || { say "$FAILED worker(s) failed; logs in $LOGS"; exit 1; }
"$PSYNC" status "$ACTIVE" >"$LOGS/status.txt" 2>&1 || true

# --- the cluster's accuracy: evaluate the daemon's merged model -----------------
"$WORKER" --connect "$ACTIVE" --eval-only --threads 1 --data-dir "$DATA" \
    >"$LOGS/eval.log" 2>&1 || { say "evaluation failed"; cat "$LOGS/eval.log"; exit 1; }
touch "$LOGS/.stop"
wait "$WATCH" 2>/dev/null || true
LINE=$(grep 'event=joined_eval' "$LOGS/eval.log")
ACC=$(echo "$LINE" | sed 's/.*test_accuracy=\([0-9.]*\).*/\1/')
VER=$(echo "$LINE" | sed 's/.* version=\([0-9]*\).*/\1/')
say "cluster test_accuracy=$ACC merged_version=$VER policy=$POLICY workers=$WORKERS" \
    "epochs=$EPOCHS daemon=$ACTIVE seconds=$(($(date +%s) - START))"
