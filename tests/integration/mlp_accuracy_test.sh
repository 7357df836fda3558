#!/bin/sh
# mlp_accuracy_test.sh WORKER MODELFILE: one worker trains the 784-256-128-10
# MLP on Fashion-MNIST (PSYNC_DATA_DIR) for 10 epochs with one BLAS thread;
# prints the accuracy curve and requires >= 88% test accuracy by epoch 10.
set -eu
W=$1 MODEL=$2
LOG=$("$W" --model "$MODEL" --epochs 10 --threads 1 2>&1) || { echo "$LOG"; exit 1; }
echo "epoch accuracy images_per_s"
CURVE=$(echo "$LOG" | grep 'event=progress ' |
    sed 's/.*epoch=\([0-9]*\) .*test_accuracy=\([0-9.]*\) .*images_per_s=\([0-9]*\).*/\1 \2 \3/')
echo "$CURVE"
echo "$LOG" | grep 'event=training ' | sed 's/.*event=training //'
BEST=$(echo "$CURVE" | awk '$2 > b { b = $2 } END { print b + 0 }')
EPOCHS=$(echo "$CURVE" | wc -l)
echo "best test accuracy $BEST over $EPOCHS epochs"
[ "$EPOCHS" -eq 10 ] || { echo "FAIL: expected 10 epoch reports"; exit 1; }
awk -v b="$BEST" 'BEGIN { exit !(b >= 0.88) }' || { echo "FAIL: below 0.88"; exit 1; }
echo PASS
