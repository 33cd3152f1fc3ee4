# shellcheck shell=bash
# host.sh - the host side of the VM test runner: finding a kernel, building the initramfs,
# turning a topology file into QEMU arguments and booting one guest test. Sourced by run.sh,
# which sets $top, the repository's real path.
# shellcheck disable=SC2154

VM_DEFAULT_TOPOLOGY=switch2+rp1
VM_DISK_SIZE=64M

# vm_kernel_places: where a kernel is looked for, for messages.
vm_kernel_places() {
	if [ -n "${P2PB_TEST_KERNEL:-}" ]; then
		echo "P2PB_TEST_KERNEL=$P2PB_TEST_KERNEL does not exist"
	else
		echo "P2PB_TEST_KERNEL unset, no ../shared/vm/bzImage beside the repository," \
			"no tests/vm/cache/bzImage"
	fi
}

# vm_find_kernel: prints the path of the test kernel, or nothing.
vm_find_kernel() {
	local repo k
	if [ -n "${P2PB_TEST_KERNEL:-}" ]; then
		[ -f "$P2PB_TEST_KERNEL" ] && echo "$P2PB_TEST_KERNEL"
		return
	fi
	repo=$(git -C "$top" rev-parse --show-toplevel 2>/dev/null) || repo=$top
	for k in "$repo/../shared/vm/bzImage" "$top/tests/vm/cache/bzImage" "$top/build/vm/kernel/bzImage"; do
		if [ -f "$k" ]; then
			(cd "$(dirname "$k")" && echo "$(pwd -P)/bzImage")
			return
		fi
	done
}

# vm_missing_tools: prints what is missing on the host to boot guests, or nothing.
vm_missing_tools() {
	local missing="" c
	for c in qemu-system-x86_64 cpio gzip timeout flock; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	# The initramfs needs a static busybox: it runs before the host's root (and libc) is mounted.
	if [ ! -x /bin/busybox ] || ! LC_ALL=C readelf -d /bin/busybox 2>&1 | grep -q 'no dynamic section'; then
		missing="$missing static-busybox(busybox-static)"
	fi
	[ -n "$missing" ] && echo "missing on this machine:$missing"
}

# vm_build_initramfs DIR: builds DIR/initramfs.cpio.gz (busybox + init.sh), prints its path.
vm_build_initramfs() {
	local dir=$1 img=$1/initramfs.cpio.gz staging
	if [ -f "$img" ] && [ "$img" -nt "$top/tests/vm/init.sh" ] && [ "$img" -nt /bin/busybox ]; then
		echo "$img"
		return 0
	fi
	staging=$dir/initramfs
	rm -rf "$staging"
	mkdir -p "$staging"/{bin,sbin,proc,sys,dev,host,tmp} || return 1
	cp /bin/busybox "$staging/bin/busybox" || return 1
	cp "$top/tests/vm/init.sh" "$staging/init" || return 1
	chmod 0755 "$staging/init"
	(cd "$staging" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$img.tmp" || return 1
	mv "$img.tmp" "$img"
	echo "$img"
}

# vm_header FILE KEY: the value of a "# vm-KEY: value" header line of a test script.
vm_header() {
	sed -n "s/^# vm-$2:[[:space:]]*//p" "$1" | head -n 1
}

# vm_list_tests DIR [FILTER...]: prints "SCRIPT TOPOLOGY" for every run to do, in name order.
vm_list_tests() {
	local dir=$1 t base topos topo f want
	shift
	for t in "$dir"/[0-9]*.sh; do
		[ -e "$t" ] || continue
		base=$(basename "$t")
		want=$(($# == 0))
		for f in "$@"; do
			case $base in "$f"*) want=1 ;; esac
		done
		[ "$want" = 1 ] || continue
		topos=$(vm_header "$t" topology)
		for topo in ${topos:-$VM_DEFAULT_TOPOLOGY}; do
			echo "$t $topo"
		done
	done
}

# vm_topology_args FILE RUNDIR: prints the QEMU arguments of a topology file, one per line.
# Lines hold whitespace-separated arguments; "#" starts a comment; @disk:NAME@ becomes a fresh
# sparse image RUNDIR/disks/NAME.img.
vm_topology_args() {
	local file=$1 rundir=$2 line word name
	sed -e 's/#.*//' "$file" | while read -r line; do
		for word in $line; do
			while [[ $word =~ @disk:([A-Za-z0-9_-]+)@ ]]; do
				name=${BASH_REMATCH[1]}
				truncate -s "$VM_DISK_SIZE" "$rundir/disks/$name.img" || return 1
				word=${word//@disk:$name@/$rundir/disks/$name.img}
			done
			echo "$word"
		done
	done
}

# vm_boot KERNEL INITRD SCRIPT TOPOLOGY RUNDIR LIMIT QEMU_ARGS...: one boot, its serial console in
# RUNDIR/console.log; returns the exit status of timeout(1)/qemu.
vm_boot() {
	local kernel=$1 initrd=$2 test=$3 topo=$4 rundir=$5 limit=$6
	shift 6
	# The shares sit at fixed slots 0x10/0x11 so topology files own the low slots of pcie.0.
	timeout -k 5 "$limit" qemu-system-x86_64 \
		-accel tcg -M q35,kernel-irqchip=split -cpu max -smp 2 -m 1G \
		-nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot \
		-device intel-iommu,intremap=on \
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,addr=0x10 \
		-fsdev local,id=out,path="$rundir/out",security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=out,mount_tag=out,addr=0x11 \
		"$@" \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 no_timer_check intel_iommu=on iommu=pt p2pb.top=$top p2pb.test=${test#"$top"/} p2pb.topology=$topo p2pb.out=$rundir/out" \
		</dev/null >"$rundir/console.log" 2>&1
}

# vm_run_one KERNEL INITRD SCRIPT TOPOLOGY RUNDIR: boots one guest test; its console and the host
# part's output go to RUNDIR/test.log. Returns the test's status (77: skipped).
vm_run_one() {
	local kernel=$1 initrd=$2 test=$3 topo=$4 rundir=$5
	local topofile=$top/tests/vm/topologies/$topo.qemu limit rc marker attempt log=$rundir/test.log
	local -a topoargs
	rm -rf "$rundir"
	mkdir -p "$rundir/out" "$rundir/disks"
	: >"$log"
	if [ ! -f "$topofile" ]; then
		echo "topology '$topo' named by $test: no file $topofile" >>"$log"
		return 1
	fi
	mapfile -t topoargs < <(vm_topology_args "$topofile" "$rundir")
	limit=$(vm_header "$test" timeout)
	limit=${P2PB_VM_TIMEOUT:-${limit:-150}}
	# A guest that never reached init is the machine's fault, not the test's (seen: the kernel's
	# early timer check on a loaded host, and QEMU 7.2 segfaulting during boot): up to three boots,
	# each failed one said in the log.
	for attempt in 1 2 3; do
		vm_boot "$kernel" "$initrd" "$test" "$topo" "$rundir" "$limit" "${topoargs[@]}"
		rc=$?
		tr -d '\r' <"$rundir/console.log" >>"$log"
		grep -q '^p2pb-vm-init: ' "$log" && break
		echo "vm: boot $attempt: the guest did not reach init (qemu exit $rc)" >>"$log"
		# a hang before init is not worth another full timeout
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && break
		sleep 1
	done
	[ "${P2PB_VM_KEEP:-0}" = 1 ] || rm -rf "$rundir/disks"

	marker=$(tr -d '\r' <"$rundir/console.log" | sed -n 's/^P2PB-VM-RESULT: \([0-9]*\)$/\1/p' | tail -n 1)
	if [ -z "$marker" ]; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			echo "vm: TIMEOUT: the guest did not finish within ${limit}s (console above)" >>"$log"
		else
			echo "vm: the guest ended without a result (qemu exit $rc; boot failure? console above)" >>"$log"
		fi
		return 1
	fi
	[ "$marker" -ne 0 ] && return "$marker"
	if grep -q '^vm_host()' "$test"; then
		echo "--- host part" >>"$log"
		P2PB_TOP=$top VM_OUT=$rundir/out VM_TOPOLOGY=$topo \
			bash "$top/tests/vm/lib/host-main.sh" "$test" >>"$log" 2>&1
		return $?
	fi
	return 0
}
