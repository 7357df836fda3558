#!/bin/sh
# resume_test.sh WORKER MODELFILE OPTIMIZER K M VIA: trains K+M steps in one
# process, then K steps frozen into a NEW process (through VIA: pipe, fd or
# unix) that trains M more; per-step losses and final blobs must be identical.
set -eu
W=$1 MODEL=$2 OPT=$3 K=$4 M=$5 VIA=$6
N=$((K + M))
COMMON="--model $MODEL --optimizer $OPT --test none --threads 1 --log-every 1"
RESUME="--test none --threads 1 --log-every 1"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
steps() { grep 'event=step ' "$1" | sed 's/.*event=step //'; }

"$W" $COMMON --steps "$N" --freeze-to - 2>"$OUT/full.log" | od -An -tx1 -v > "$OUT/full.hex"
case $VIA in
pipe)
    "$W" $COMMON --steps "$K" --freeze-to - 2>"$OUT/a.log" |
        "$W" --resume-from - $RESUME --steps "$M" --freeze-to - 2>"$OUT/b.log" |
        od -An -tx1 -v > "$OUT/resumed.hex" ;;
fd)
    { "$W" $COMMON --steps "$K" --freeze-to fd:5 5>&1 >/dev/null 2>"$OUT/a.log"; } |
        { "$W" --resume-from fd:7 $RESUME --steps "$M" --freeze-to - 7<&0 </dev/null \
            2>"$OUT/b.log"; } | od -An -tx1 -v > "$OUT/resumed.hex" ;;
unix)
    # A relay holds the blob in memory: the first process connects and sends
    # it, the second connects and receives it.
    /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(2)
print("ready", flush=True)
c, _ = s.accept(); blob = b""
while True:
    d = c.recv(1 << 20)
    if not d: break
    blob += d
c.close(); c, _ = s.accept(); c.sendall(blob); c.close()
' "$OUT/relay.sock" > "$OUT/relay.out" &
    RELAY=$!
    while ! grep -q ready "$OUT/relay.out" 2>/dev/null; do sleep 0.05; done
    "$W" $COMMON --steps "$K" --freeze-to "unix:$OUT/relay.sock" 2>"$OUT/a.log"
    "$W" --resume-from "unix:$OUT/relay.sock" $RESUME --steps "$M" --freeze-to - \
        2>"$OUT/b.log" | od -An -tx1 -v > "$OUT/resumed.hex"
    wait "$RELAY" ;;
*) echo "unknown VIA $VIA"; exit 2 ;;
esac

steps "$OUT/full.log" > "$OUT/full.steps"
{ steps "$OUT/a.log"; steps "$OUT/b.log"; } > "$OUT/resumed.steps"
echo "uninterrupted: $(wc -l < "$OUT/full.steps") steps; resumed: $(wc -l < "$OUT/resumed.steps") steps"
cat "$OUT/resumed.steps"
if [ "$(wc -l < "$OUT/full.steps")" -ne "$N" ] || ! cmp -s "$OUT/full.steps" "$OUT/resumed.steps"; then
    echo "FAIL: per-step losses differ"; diff "$OUT/full.steps" "$OUT/resumed.steps" || true
    cat "$OUT/a.log" "$OUT/b.log"; exit 1
fi
if [ ! -s "$OUT/full.hex" ] || ! cmp -s "$OUT/full.hex" "$OUT/resumed.hex"; then
    echo "FAIL: final blobs differ"; cat "$OUT/b.log"; exit 1
fi
echo "PASS: $OPT via $VIA, $K+$M steps: identical losses and bit-identical blobs"
