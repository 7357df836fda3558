#!/bin/sh
# keygen_cli_test.sh PSYNC: `psync keygen` writes NAME.key (0600) and NAME.pub
# (0644), refuses to overwrite without --force (exit 73), prints --help on
# stdout with exit 0, and rejects bad usage with exit 64.
set -u
PSYNC=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
passes=0
check() { # check DESCRIPTION CONDITION...
    desc=$1; shift
    if "$@"; then echo "ok: $desc"; passes=$((passes + 1)); else echo "FAIL: $desc"; fails=$((fails + 1)); fi
}
cd "$dir" || exit 1
umask 000
"$PSYNC" keygen --help > help.txt 2> help.err; rc=$?
check "--help exits 0" [ "$rc" -eq 0 ]
check "--help on stdout" grep -q "usage: psync keygen" help.txt
"$PSYNC" keygen > /dev/null 2>&1; rc=$?
check "no NAME exits 64" [ "$rc" -eq 64 ]
"$PSYNC" keygen node1 > out.txt; rc=$?
check "keygen exits 0" [ "$rc" -eq 0 ]
check "key file mode 0600 despite umask 000" [ "$(stat -c %a node1.key)" = 600 ]
check "pub file mode 0644" [ "$(stat -c %a node1.pub)" = 644 ]
check "key file has both keys" [ "$(grep -c -E '^(public|secret)-key = .{40}$' node1.key)" -eq 2 ]
check "pub file has no secret" [ "$(grep -c secret-key node1.pub)" -eq 0 ]
check "same public key in both" [ "$(grep public-key node1.key)" = "$(grep public-key node1.pub)" ]
before=$(cat node1.key)
"$PSYNC" keygen node1 > /dev/null 2>&1; rc=$?
check "existing files: exit 73" [ "$rc" -eq 73 ]
check "existing files untouched" [ "$(cat node1.key)" = "$before" ]
"$PSYNC" keygen --force node1 > /dev/null; rc=$?
check "--force exits 0" [ "$rc" -eq 0 ]
check "--force wrote a new pair" [ "$(cat node1.key)" != "$before" ]
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
