#!/bin/bash
# 01-verdicts: on every bundled fixture the daemon's path verdicts equal the
# ones worked out by hand from the kernel's rules (tests/fixtures/*.expect).
. "$(dirname "$0")/lib.sh"

n=0
for expect in "$P2PB_TOP"/tests/fixtures/*.expect; do
	name=$(basename "$expect" .expect)
	start_daemon "$(fixture "$name")"
	check_expect "$name"
	stop_daemon || fail "$name: daemon did not exit cleanly"
	n=$((n + 1))
done
[ $n -ge 4 ] || fail "expected at least 4 fixtures with .expect files, found $n"
