#!/bin/sh
# conf_example_test.sh PSYNCD CONF: deploy/psyncd.conf says it lists every
# psyncd setting with its default value. Checks both: every setting that
# `psyncd --print-config` knows appears in CONF (set, or commented out when
# its default is empty), and loading CONF changes no value.
set -eu
PSYNCD=$1 CONF=$2
fail() { echo "FAIL: $*"; exit 1; }
defaults=$("$PSYNCD" --print-config) || fail "psyncd --print-config failed"
loaded=$("$PSYNCD" --config "$CONF" --print-config) || fail "psyncd --config $CONF refused it"
names=$(echo "$defaults" | awk '$2 == "=" { print $1 }')
[ -n "$names" ] || fail "no settings printed"
n=0
for name in $names; do
    grep -Eq "^#?$name = " "$CONF" || fail "$CONF does not list '$name'"
    n=$((n + 1))
done
# name -> value (the text between " = " and the source comment)
values() { sed -n 's/^\([a-z_]*\)[[:space:]]*= \(.*\)# [a-z]*$/\1 \2/p' | sed 's/[[:space:]]*$//'; }
changed=$( (echo "$defaults" | values; echo "$loaded" | values) | sort | uniq -u | head -2 | tr '\n' ';')
[ -z "$changed" ] || fail "$CONF changes a default: $changed"
echo "PASS: $n settings listed, all at their defaults"
