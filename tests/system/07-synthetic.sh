#!/bin/bash
# 07-synthetic: a generated tree of 4096+ functions is scanned whole and served;
# the topology and matrix replies (several MiB) arrive intact.
. "$(dirname "$0")/lib.sh"

root=$T/synthetic
$MKFIXTURE --synthetic 4096 "$root" >/dev/null || fail "cannot generate the synthetic tree"
want=$(find "$root/sys/bus/pci/devices" -mindepth 1 -maxdepth 1 | wc -l)
[ "$want" -ge 4096 ] || fail "synthetic tree has only $want functions"
start_daemon "$root"
got=$(ctl --json devices | json 'len(j["devices"])')
expect_eq "devices served" "$got" "$want"
ctl topology >"$T/tree.txt" || fail "text topology"
[ "$(grep -c '[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-7]' "$T/tree.txt")" -ge "$want" ] ||
	fail "text topology shows fewer than $want functions"
# The text matrix of every endpoint (millions of cells) arrives whole.
ctl matrix >"$T/matrix.txt" || fail "matrix"
ends=$(ctl --json devices | json 'sum(1 for d in j["devices"] if not d.get("bridge", d["header_type"] == 1))')
rows=$(grep -c '^D[0-9]' "$T/matrix.txt")
[ "$rows" -ge 1000 ] || fail "matrix has only $rows rows"
expect_eq "matrix rows" "$rows" "$ends"
stop_daemon || fail "daemon did not exit cleanly"
