#!/bin/bash
# run-all.sh - runs the test suites: unit (cmocka, ASan+UBSan build), fixture
# generator checks, system (real daemon + p2pctl on fixtures), vm (QEMU guest).
#   tests/run-all.sh [unit|fixtures|system|vm ...]     (default: all)
# Prints one line per test and closes with "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit fixtures system vm)

export P2PB_TOP=$top
export P2PB_BUILD=${P2PB_BUILD:-$top/build}
export P2PB_SAN_BUILD=${P2PB_SAN_BUILD:-$top/build/san}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logdir=$top/build/test-logs
mkdir -p "$logdir"

passed=0
failed=0
skipped=0
failures=()

# run NAME CMD...: runs one test, its output to a log, shown on failure.
run() {
	local name=$1 log rc
	shift
	log=$logdir/$(echo "$name" | tr '/ ' '__').log
	local start=$SECONDS
	"$@" >"$log" 2>&1
	rc=$?
	local took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS  %-48s %3ss\n' "$name" "$took"
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		printf 'SKIP  %-48s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-80)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL  %-48s %3ss (exit %s)\n' "$name" "$took" "$rc"
		sed 's/^/    | /' "$log" | tail -n 60
	fi
}

for suite in "${suites[@]}"; do
	case $suite in
	unit)
		echo "== unit tests (ASan+UBSan: $P2PB_SAN_BUILD)"
		shopt -s nullglob
		bins=("$P2PB_SAN_BUILD"/tests/unit/test_*)
		shopt -u nullglob
		if [ ${#bins[@]} -eq 0 ]; then
			echo "no unit test binaries in $P2PB_SAN_BUILD/tests/unit: run 'make check'" >&2
			failed=$((failed + 1))
			failures+=("unit: no binaries")
		fi
		for b in "${bins[@]}"; do
			run "unit/$(basename "$b")" "$b"
		done
		;;
	fixtures)
		echo "== fixture generator"
		for t in tests/fixtures/test_*.sh; do
			[ -e "$t" ] || continue
			run "fixtures/$(basename "$t" .sh)" bash "$t"
		done
		;;
	system)
		echo "== system tests (daemon + p2pctl on fixtures)"
		for t in tests/system/[0-9]*.sh; do
			[ -e "$t" ] || continue
			run "system/$(basename "$t" .sh)" bash "$t"
		done
		;;
	vm)
		echo "== VM tests (QEMU guest, Linux with PCI P2PDMA)"
		if [ -x tests/vm/run.sh ]; then
			run "vm" tests/vm/run.sh
			# the VM runner's own per-test lines
			grep -E '^(PASS|FAIL|SKIP) ' "$logdir/vm.log" | sed 's/^/    /'
		else
			echo "SKIP  vm: tests/vm/run.sh not present"
			skipped=$((skipped + 1))
		fi
		;;
	*)
		echo "unknown suite: $suite (unit, fixtures, system, vm)" >&2
		exit 2
		;;
	esac
done

if [ $failed -gt 0 ]; then
	echo "failed: ${failures[*]}"
	echo "logs: $logdir"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
