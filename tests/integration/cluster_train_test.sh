#!/bin/sh
# cluster_train_test.sh SRC BUILD POLICY EPOCHS [tcp|ipc|frames]: psyncd + 3
# workers on shards of Fashion-MNIST on this host (deploy/local-cluster.sh,
# no joiner). Passes if the cluster's result, the daemon's final merged
# model, reaches >= 88% test accuracy. Prints it, the best of the workers'
# per-epoch evaluations, and the wall time. Transport: tcp (default) over
# 127.0.0.1, ipc over ipc:// sockets; under sync both also require that
# psyncd and every worker logged that they moved chunks through shared
# memory (shm_attached). frames: over 127.0.0.1 with every worker
# declining shared memory (--no-shm, as on another host), and requires that
# psyncd saw 3 declines and no worker took it.
set -eu
SRC=$1 BUILD=$2 POLICY=$3 EPOCHS=$4 TRANSPORT=${5:-tcp}
case $TRANSPORT in
ipc) FLAGS=--ipc ;;
frames) FLAGS="--worker-flags --no-shm" ;;
*) FLAGS= ;;
esac
LOGS=$(mktemp -d /tmp/psync-train-test.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
START=$(date +%s)
OUT=$(sh "$SRC/deploy/local-cluster.sh" --build "$BUILD" --logs "$LOGS" --policy "$POLICY" \
    --epochs "$EPOCHS" --workers 3 --join-at none $FLAGS 2>&1) || { echo "$OUT"; exit 1; }
SECS=$(($(date +%s) - START))
echo "$OUT" | grep -E 'rank=0 event=progress|cluster test_accuracy' || true
FINAL=$(echo "$OUT" | sed -n 's/.*cluster test_accuracy=\([0-9.]*\).*/\1/p')
BEST=$(cat "$LOGS"/worker*.log | sed -n 's/.*event=progress .*test_accuracy=\([0-9.]*\).*/\1/p' |
    awk -v f="$FINAL" 'BEGIN { b = f } $1 > b { b = $1 } END { print b }')
echo "policy=$POLICY epochs=$EPOCHS final_merged_accuracy=$FINAL best_accuracy=$BEST seconds=$SECS"
[ -n "$FINAL" ] || { echo "FAIL: no final accuracy"; echo "$OUT"; exit 1; }
awk -v f="$FINAL" 'BEGIN { exit !(f >= 0.88) }' ||
    { echo "FAIL: final merged accuracy $FINAL below 0.88"; exit 1; }
N=$(grep -c 'role=psyncd event=shm_attached' "$LOGS/psyncd.log" || true)
echo "psyncd shm_attached=$N"
if [ "$POLICY" = sync ] && [ "$TRANSPORT" != frames ]; then
    [ "$N" -ge 3 ] || { echo "FAIL: $N members on shared memory, expected 3"; exit 1; }
    for r in 0 1 2; do
        grep -q 'event=shm_attached' "$LOGS/worker$r.log" ||
            { echo "FAIL: worker $r did not use shared memory"; exit 1; }
    done
elif [ "$TRANSPORT" = frames ]; then
    D=$(grep -c 'role=psyncd event=shm_declined' "$LOGS/psyncd.log" || true)
    [ "$D" -ge 3 ] || { echo "FAIL: $D workers declined shared memory, expected 3"; exit 1; }
    for r in 0 1 2; do
        ! grep -q 'event=shm_attached' "$LOGS/worker$r.log" ||
            { echo "FAIL: worker $r took shared memory despite --no-shm"; exit 1; }
    done
fi
echo PASS
