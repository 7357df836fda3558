#!/bin/sh
# cluster_join_test.sh SRC BUILD: a sync cluster of 3 workers; when worker 0
# has finished epoch 3 of 6, a 4th worker starts with only the daemon's
# address (no model file). Passes if the joiner got the model from the
# daemon (its log says model=none and model_from=daemon), and its first
# evaluation, right after the bootstrap, is within 2 points of the cluster's
# accuracy at that time, defined as the mean of each original worker's
# latest per-epoch test accuracy logged before the joiner's evaluation.
set -eu
SRC=$1 BUILD=$2
LOGS=$(mktemp -d /tmp/psync-join-test.XXXXXX)
trap 'rm -rf "$LOGS"' EXIT
OUT=$(sh "$SRC/deploy/local-cluster.sh" --build "$BUILD" --logs "$LOGS" --policy sync \
    --epochs 6 --workers 3 --join-at 3 2>&1) || { echo "$OUT"; exit 1; }
J=$LOGS/joiner.log
grep 'event=cluster_joining model=none' "$J" || { echo "FAIL: joiner had a model"; cat "$J"; exit 1; }
grep 'event=cluster_joined .*model_from=daemon' "$J" || { echo "FAIL: no bootstrap"; exit 1; }
EVAL=$(grep 'event=joined_eval' "$J")
echo "$EVAL"
T=$(echo "$EVAL" | sed 's/^time=\([^ ]*\) .*/\1/')
ACC=$(echo "$EVAL" | sed 's/.*test_accuracy=\([0-9.]*\).*/\1/')
# Each original worker's latest progress line before T (ISO times sort as text).
CLUSTER=$(for r in 0 1 2; do
    grep 'event=progress' "$LOGS/worker$r.log" | awk -v t="$T" '{ split($1, a, "="); if (a[2] < t) l = $0 } END { print l }' |
        sed -n 's/.*test_accuracy=\([0-9.]*\).*/\1/p'
done | awk '{ s += $1; n++ } END { if (n == 3) printf "%.4f", s / n }')
echo "joiner_first_accuracy=$ACC cluster_accuracy=$CLUSTER (mean of the 3 workers' latest evals)"
echo "$OUT" | grep 'cluster test_accuracy'
[ -n "$CLUSTER" ] || { echo "FAIL: no worker evaluation before the join"; exit 1; }
awk -v a="$ACC" -v c="$CLUSTER" 'BEGIN { d = a - c; if (d < 0) d = -d; exit !(d <= 0.02) }' ||
    { echo "FAIL: more than 2 points apart"; exit 1; }
echo PASS
