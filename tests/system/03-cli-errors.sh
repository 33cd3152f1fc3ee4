#!/bin/bash
# 03-cli-errors: p2pctl exit codes and messages: 0 ok, 1 error, 2 usage.
. "$(dirname "$0")/lib.sh"

# expect_exit CODE CMD...: runs p2pctl, checks the exit code and that errors go to stderr.
expect_exit() {
	local want=$1 rc
	shift
	"$BIN/p2pctl" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc -eq "$want" ] || fail "p2pctl $*: exit $rc, want $want; stderr: $(cat "$T/err")"
	if [ "$want" -ne 0 ]; then
		[ -s "$T/err" ] || fail "p2pctl $*: exit $rc but nothing on stderr"
	fi
}

# No daemon yet: connection errors name the socket.
expect_exit 1 --socket "$T/nothing-here" status
grep -q "$T/nothing-here" "$T/err" || fail "connection error does not name the socket path"

start_daemon "$(fixture qemu)"
expect_exit 0 status
expect_exit 0 --socket "$SOCK" status
P2PBROKER_SOCKET=$SOCK expect_exit 0 status
expect_exit 2
expect_exit 2 no-such-command
expect_exit 2 path
expect_exit 2 path 0000:00:00.0
expect_exit 2 path not-a-bdf 0000:00:00.0
expect_exit 2 path 0000:00:00.0 00:zz.0
expect_exit 2 providers
expect_exit 2 --no-such-option status
# Well-formed but absent devices: an error from the daemon naming the device.
expect_exit 1 path 0000:7f:1f.7 0000:00:00.0
grep -q "0000:7f:1f.7" "$T/err" || fail "unknown-device error does not name the device"
expect_exit 1 providers --client 0000:7f:1f.7
expect_exit 0 --json status
python3 -c "import json,sys; json.load(open('$T/out'))" || fail "--json status is not JSON"
# Short BDF form means domain 0.
first=$(ctl --json matrix | json 'j["devices"][0]')
short=${first#0000:}
expect_exit 0 path "$short" "$short"
stop_daemon || fail "daemon did not exit cleanly"
