# shellcheck shell=bash
# testlib.sh - helpers for VM test scripts, sourced in the guest and on the host.
# Gives: P2PB_TOP, P2PB_BUILD, VM_OUT (dir shared with the host), VM_TOPOLOGY, VM_WORK (scratch dir,
# removed on exit), and functions below. A test fails by exiting non-zero (vm_fail), skips with 77.

: "${P2PB_TOP:?}"
P2PB_BUILD=${P2PB_BUILD:-$P2PB_TOP/build}
VM_OUT=${VM_OUT:-}
VM_TOPOLOGY=${VM_TOPOLOGY:-}
VM_WORK=$(mktemp -d "${TMPDIR:-/tmp}/p2pb-vm.XXXXXX") || exit 1
VM_DAEMON_PID=
VM_SOCKET=
export P2PB_TOP P2PB_BUILD VM_OUT VM_TOPOLOGY VM_WORK

# At exit: a daemon that crashed or did not stop cleanly fails the test too.
vm_cleanup() {
	local rc=$?
	vm_daemon_stop || [ $rc -ne 0 ] || rc=1
	rm -rf "$VM_WORK"
	exit $rc
}
trap vm_cleanup EXIT

vm_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

vm_skip() {
	echo "SKIP: $*"
	exit 77
}

VM_T0=$EPOCHREALTIME

# vm_log MESSAGE: a progress line with the time since the test started (no fork: bash builtins).
vm_log() {
	local now=${EPOCHREALTIME/./} t0=${VM_T0/./}
	local ms=$(((now - t0) / 1000))
	printf '== [%d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}

# vm_need_bin NAME...: the built binaries a test needs ($P2PB_BUILD/NAME); a missing one fails,
# since `make` should have built it.
vm_need_bin() {
	local b
	for b in "$@"; do
		[ -x "$P2PB_BUILD/$b" ] || vm_fail "$P2PB_BUILD/$b not built (run make)"
	done
}

# vm_daemon_start [ROOT]: starts p2pbrokerd on ROOT (default: the real system) with a private socket
# and waits until it answers `p2pctl status`. Sets VM_SOCKET; exported as P2PBROKER_SOCKET.
vm_daemon_start() {
	local root=${1:-} _
	local -a args=(--foreground --socket "$VM_WORK/p2pb.sock")
	[ -n "$root" ] && args+=(--root "$root")
	vm_need_bin p2pbrokerd p2pctl
	VM_SOCKET=$VM_WORK/p2pb.sock
	export P2PBROKER_SOCKET=$VM_SOCKET
	"$P2PB_BUILD/p2pbrokerd" "${args[@]}" >"$VM_WORK/daemon.log" 2>&1 &
	VM_DAEMON_PID=$!
	for _ in $(seq 1 300); do
		if [ -S "$VM_SOCKET" ] && "$P2PB_BUILD/p2pctl" status >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$VM_DAEMON_PID" 2>/dev/null; then
			VM_DAEMON_PID=
			cat "$VM_WORK/daemon.log" >&2
			vm_fail "p2pbrokerd exited during start-up (root: ${root:-/})"
		fi
		sleep 0.1
	done
	cat "$VM_WORK/daemon.log" >&2
	vm_fail "p2pbrokerd did not answer within 30 s (root: ${root:-/})"
}

# vm_daemon_stop: SIGTERM and wait; non-zero (with the daemon's log) if it did not exit with 0.
vm_daemon_stop() {
	local pid=$VM_DAEMON_PID rc
	[ -n "$pid" ] || return 0
	VM_DAEMON_PID=
	kill "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: p2pbrokerd exited with status $rc; its log:" >&2
		cat "$VM_WORK/daemon.log" >&2
		return 1
	fi
}

# p2pctl ARGS...: the built CLI on the test's daemon.
p2pctl() {
	"$P2PB_BUILD/p2pctl" "$@"
}

# vm_nvme_bdfs: the BDFs of the NVMe functions (class 0x010802) the guest's kernel sees, sorted.
vm_nvme_bdfs() {
	local d class
	for d in /sys/bus/pci/devices/*; do
		read -r class <"$d/class" 2>/dev/null || continue
		[ "$class" = 0x010802 ] && echo "${d##*/}"
	done
}

# vm_probe P C: the kernel's own answer for one pair, from p2pmem-probe --verify: prints
# "P C RESULT VERIFY" (RESULT ok, EREMOTEIO, ...; VERIFY match, mismatch, not-run). The probe's
# full line goes to $VM_WORK/probe.log. A mapping that does not take its length from p2pmem's
# `available` fails the test. (No subshells here: every fork is slow under TCG.)
vm_probe() {
	local line kv
	local -A f=()
	line=$("$P2PB_BUILD/tests/tools/p2pmem-probe" --verify "$1" "$2")
	echo "$line" >>"$VM_WORK/probe.log"
	for kv in $line; do
		f[${kv%%=*}]=${kv#*=}
	done
	[ -n "${f[result]:-}" ] || vm_fail "p2pmem-probe $1 $2 printed no result: $line"
	case ${f[stage]} in find-block | open-allocate | mmap) ;;
	*)
		[ "${f[available_mapped]}" -eq $((f[available_before] - f[bytes])) ] ||
			vm_fail "$1: p2pmem available went from ${f[available_before]} to" \
				"${f[available_mapped]} while ${f[bytes]} bytes were mapped"
		;;
	esac
	echo "$1 $2 ${f[result]} ${f[verify]}"
}

# vm_probe_all FILE: vm_probe for every ordered pair of NVMe functions (a drive with itself
# included), into FILE.
vm_probe_all() {
	local p c
	local -a drives
	mapfile -t drives < <(vm_nvme_bdfs)
	: >"$1"
	for p in "${drives[@]}"; do
		for c in "${drives[@]}"; do
			vm_probe "$p" "$c" >>"$1" || exit 1
		done
	done
}

# vmcheck ARGS...: the comparison tool (tests/vm/lib/vmcheck.py); see its usage.
vmcheck() {
	python3 "$P2PB_TOP/tests/vm/lib/vmcheck.py" "$@"
}
