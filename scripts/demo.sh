#!/bin/bash
# demo.sh - the main job on a bundled example: builds the 8-GPU training server
# fixture, starts p2pbrokerd on it with a private socket, and shows what it
# knows with p2pctl. Without P2P hardware this is how to see p2pbroker work.
#   scripts/demo.sh [FIXTURE]     (default gpu8; any tests/fixtures/*.topo)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-gpu8}
build=${P2PB_BUILD:-$top/build}
work=$(mktemp -d /tmp/p2pb-demo.XXXXXX)
sock=$work/socket
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== building fixture '$name' from tests/fixtures/$name.topo"
python3 "$top/tests/fixtures/mkfixture.py" "$top/tests/fixtures/$name.topo" "$work/root" >/dev/null
echo "== starting: p2pbrokerd --root $work/root --socket $sock --foreground"
"$build/p2pbrokerd" --root "$work/root" --socket "$sock" --foreground 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 100); do
	"$build/p2pctl" --socket "$sock" status >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
	sleep 0.05
done
ctl() { echo; echo "\$ p2pctl $*"; "$build/p2pctl" --socket "$sock" "$@"; }
ctl status
ctl topology
ctl matrix
if [ -t 0 ] && [ -z "${P2PB_DEMO_NOWAIT:-}" ]; then
	echo
	echo "The daemon is still running. In another shell try:"
	echo "  $build/p2pctl --socket $sock path 0000:1a:00.0 0000:1c:00.0"
	echo "Press Enter to stop it."
	read -r _
fi
