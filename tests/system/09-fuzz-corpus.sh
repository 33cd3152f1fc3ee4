#!/bin/bash
# 09-fuzz-corpus: every seed of every fuzz target (fuzz/corpus/) runs once through
# the target's checks under ASan+UBSan, as regression tests: requests through the
# real server and handlers on three fixtures, replies through the client
# library, config space through the scanner and the verdict engine.
. "$(dirname "$0")/lib.sh"

replay=$BIN/fuzz-replay
[ -x "$replay/fuzz_request" ] || fail "no replay binaries in $replay (make check builds them)"
empty=$T/empty
mkdir -p "$empty/sys/bus/pci/devices"
for root in "$(fixture dualsocket)" "$(fixture damaged)" "$empty"; do
	P2PB_FUZZ_ROOT=$root "$replay/fuzz_request" "$P2PB_TOP/fuzz/corpus/fuzz_request" ||
		fail "fuzz_request seeds on $(basename "$root")"
done
"$replay/fuzz_reply" "$P2PB_TOP/fuzz/corpus/fuzz_reply" || fail "fuzz_reply seeds"
"$replay/fuzz_config" "$P2PB_TOP/fuzz/corpus/fuzz_config" || fail "fuzz_config seeds"
