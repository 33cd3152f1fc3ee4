# lib.sh - helpers for system tests: build a fixture, start the real daemon on
# it with a private socket, drive it with the real p2pctl, clean up always.
# Source it from tests/system/NN-name.sh; each test exits non-zero on failure.
set -u

P2PB_TOP=${P2PB_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# System tests use the sanitizer build when present, so ASan/UBSan watch the
# daemon while real clients talk to it.
if [ -x "${P2PB_SAN_BUILD:-$P2PB_TOP/build/san}/p2pbrokerd" ]; then
	BIN=${P2PB_SAN_BUILD:-$P2PB_TOP/build/san}
else
	BIN=${P2PB_BUILD:-$P2PB_TOP/build}
fi
MKFIXTURE="python3 $P2PB_TOP/tests/fixtures/mkfixture.py"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# tmpfs when there is one: the 4096-function tree is 10x faster to build there.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	T=$(mktemp -d /dev/shm/p2pb-test.XXXXXX)
else
	T=$(mktemp -d /tmp/p2pb-test.XXXXXX)
fi
DAEMON_PID=""
SOCK=$T/socket
export P2PBROKER_SOCKET=$SOCK

cleanup() {
	local rc=$?
	stop_daemon
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# fixture NAME -> prints the root directory of a freshly built fixture
fixture() {
	local out=$T/fixtures/$1 src=$P2PB_TOP/tests/fixtures/$1.topo
	[ -f "$src" ] || src=$P2PB_TOP/tests/fixtures/$1.lspci
	if [ ! -d "$out" ]; then
		$MKFIXTURE "$src" "$out" >"$T/mkfixture-$1.log" 2>&1 ||
			{ cat "$T/mkfixture-$1.log" >&2; fail "cannot build fixture $1"; }
	fi
	echo "$out"
}

# start_daemon ROOT [extra daemon args...]: starts p2pbrokerd and waits for its socket.
start_daemon() {
	local root=$1
	shift
	"$BIN/p2pbrokerd" --root "$root" --socket "$SOCK" --foreground "$@" \
		>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 200); do
		if [ -S "$SOCK" ] && ctl status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || {
			cat "$T/daemon.log" >&2
			fail "daemon exited during start-up"
		}
		sleep 0.05
	done
	cat "$T/daemon.log" >&2
	fail "daemon did not answer on $SOCK within 10 s"
}

# stop_daemon: SIGTERM, wait, and fail if the daemon did not exit cleanly
# (ASan leak reports make its exit status non-zero).
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	local pid=$DAEMON_PID rc
	DAEMON_PID=""
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "daemon exited with status $rc; its log:" >&2
		cat "$T/daemon.log" >&2
		return 1
	fi
}

ctl() {
	"$BIN/p2pctl" --socket "$SOCK" "$@"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# json EXPR < file: evaluates a python expression on the parsed JSON `j`
json() {
	python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

# check_expect FIXTURE: every line "PROVIDER CLIENT VERDICT DISTANCE" of
# tests/fixtures/FIXTURE.expect (worked out by hand from the kernel's rules)
# must match `p2pctl --json path`. Mismatches print both sides.
check_expect() {
	python3 - "$1" "$P2PB_TOP/tests/fixtures/$1.expect" "$BIN/p2pctl" "$SOCK" <<'PY' || fail "$1: verdicts differ"
import json, subprocess, sys
name, path, ctl, sock = sys.argv[1:5]
n = bad = 0
for line in open(path):
    f = line.split("#", 1)[0].split()
    if not f:
        continue
    p, c, v, d = f[:4]
    out = subprocess.run([ctl, "--socket", sock, "--json", "path", p, c],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{name}: p2pctl path {p} {c} failed: {out.stderr.strip()}")
        bad += 1
        continue
    j = json.loads(out.stdout)
    n += 1
    if (j["verdict"], str(j["distance"])) != (v, d):
        print(f"MISMATCH {name}: {p} -> {c}: daemon says {j['verdict']} {j['distance']}, "
              f"expected {v} {d}\n  reason: {j['reason']}")
        bad += 1
assert n > 0, f"no verdicts in {path}"
print(f"{name}: {n - bad} of {n} verdicts agree with {path}")
sys.exit(1 if bad else 0)
PY
}
