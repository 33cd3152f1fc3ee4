#!/bin/bash
# run.sh - runs the VM tests: boots the Linux test kernel under QEMU (TCG) once per guest test and
# topology, with the host's root shared read-only so the guest runs the binaries just built.
#   tests/vm/run.sh [-l] [TEST...]      TEST: a script name or prefix in tests/vm/tests/ ("20")
# Environment: P2PB_TEST_KERNEL (bzImage), P2PB_VM_TIMEOUT (seconds per boot, default 150),
# P2PB_VM_REQUIRED=1 (a missing kernel or QEMU fails instead of skipping), P2PB_VM_KEEP=1 (keep
# disk images). Prints one line per run and ends with "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$top" || exit 1
# shellcheck source=tests/vm/lib/host.sh
. "$top/tests/vm/lib/host.sh"

list_only=0
if [ "${1:-}" = -l ]; then
	list_only=1
	shift
fi

vmdir=$top/build/vm
mkdir -p "$vmdir"
start_all=$SECONDS

if [ $list_only = 0 ]; then
	why=$(vm_missing_tools)
	kernel=$(vm_find_kernel)
	[ -n "$kernel" ] || why="${why:+$why; }no test kernel found ($(vm_kernel_places))"
	if [ -n "$why" ]; then
		echo "VM tests SKIPPED: $why."
		echo "To run them: scripts/deps.sh --vm (QEMU, busybox-static, cpio), and a Linux kernel"
		echo "with CONFIG_PCI_P2PDMA: set P2PB_TEST_KERNEL=/path/to/bzImage, or place one at"
		echo "../shared/vm/bzImage beside the repository, or build one with scripts/build-kernel.sh"
		echo "(about 15 minutes; it lands in tests/vm/cache/bzImage). See docs/vm-tests.md."
		if [ "${P2PB_VM_REQUIRED:-0}" = 1 ]; then
			echo "FAIL  vm: P2PB_VM_REQUIRED=1 and the VM tests cannot run"
			echo "0 passed, 1 failed, 0 skipped"
			exit 1
		fi
		echo "SKIP  vm: $why"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
	# One run at a time: runs share build/vm/, and two TCG guests on a small machine only make
	# each other slow enough to time out.
	exec 9>"$vmdir/.lock"
	if ! flock -n 9; then
		echo "another VM test run holds $vmdir/.lock; waiting for it (at most 15 minutes)"
		if ! flock -w 900 9; then
			echo "FAIL  vm: another VM test run did not finish within 15 minutes"
			echo "0 passed, 1 failed, 0 skipped"
			exit 1
		fi
	fi
	echo "kernel: $kernel"
	initrd=$(vm_build_initramfs "$vmdir") || {
		echo "FAIL  vm: cannot build the initramfs"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	}
fi

passed=0 failed=0 skipped=0
failures=()
while read -r test topo; do
	name="$(basename "$test" .sh)[$topo]"
	if [ $list_only = 1 ]; then
		echo "$name"
		continue
	fi
	rundir=$vmdir/runs/$(basename "$test" .sh)-$topo
	t0=$SECONDS
	vm_run_one "$kernel" "$initrd" "$test" "$topo" "$rundir"
	rc=$?
	took=$((SECONDS - t0))
	case $rc in
	0)
		passed=$((passed + 1))
		printf 'PASS  vm/%-44s %3ss\n' "$name" "$took"
		;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP  vm/%-44s %s\n' "$name" "$(grep -m1 'SKIP' "$rundir/test.log" | cut -c1-70)"
		;;
	*)
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL  vm/%-44s %3ss (exit %s)\n' "$name" "$took" "$rc"
		sed 's/^/    | /' "$rundir/test.log" | tail -n 80
		;;
	esac
done < <(vm_list_tests "$top/tests/vm/tests" "$@")

[ $list_only = 1 ] && exit 0
if [ $failed -gt 0 ]; then
	echo "failed: ${failures[*]}"
	echo "logs: $vmdir/runs/*/test.log (console: console.log)"
fi
echo "VM time: $((SECONDS - start_all))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
