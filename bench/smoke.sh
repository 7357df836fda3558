#!/bin/sh
# smoke.sh PROGRAM ARGS...: "does it run" check of a benchmark program: it
# must exit 0 and print at least one "ratio ..." line. Numbers are not
# judged here (a tiny size on a shared machine says nothing).
out=$("$@") || { rc=$?; printf '%s\n' "$out"; echo "smoke: $1 exited $rc" >&2; exit 1; }
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q '^ratio ' || { echo "smoke: no ratio line from $1" >&2; exit 1; }
