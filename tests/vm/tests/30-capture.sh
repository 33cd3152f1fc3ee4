#!/bin/bash
# 30-capture.sh - the guest's /sys captured by scripts/capture-sysfs.sh gives the same answers
# outside the VM as inside. In the guest: capture, then the daemon on the real /sys saves its
# topology, matrix and the path of every NVMe pair. On the host: lspci reads the capture as the
# guest read its /sys, a daemon on the captured root gives the same saved answers, and that
# daemon's topology matches what sysfs, lspci and setpci say about the capture.
# vm-topology: switch2+rp1 twoswitch amdzen

vm_guest() {
	local root=$VM_WORK/root p c
	local -a drives
	vm_log "capturing /sys"
	"$P2PB_TOP/scripts/capture-sysfs.sh" "$root" || vm_fail "capture-sysfs.sh failed"
	# one file through the share: 9p writes of many small files are slow under emulation
	tar -C "$root" -cf "$VM_OUT/root.tar" . || vm_fail "cannot write the capture to the share"
	lspci -tv >"$VM_OUT/lspci-tv.txt"
	lspci -vvv -n >"$VM_OUT/lspci-vvvn.txt"
	vm_log "the daemon's answers on /sys"
	vm_daemon_start
	mapfile -t drives < <(vm_nvme_bdfs)
	for p in "${drives[@]}"; do
		for c in "${drives[@]}"; do
			echo "$p $c"
		done
	done >"$VM_OUT/pairs.txt"
	mkdir -p "$VM_OUT/guest"
	vmcheck answers "$VM_OUT/pairs.txt" "$VM_OUT/guest" || vm_fail "cannot save the daemon's answers"
	vm_log "done"
}

vm_host() {
	local root=$VM_WORK/root o
	mkdir -p "$root" "$VM_WORK/host"
	tar -C "$root" -xf "$VM_OUT/root.tar" || vm_fail "cannot unpack the capture"
	for o in tv vvvn; do
		diff -u "$VM_OUT/lspci-$o.txt" \
			<(lspci -$o -A linux-sysfs -O sysfs.path="$root/sys/bus/pci") ||
			vm_fail "lspci -$o reads the capture differently from the guest's /sys"
	done
	vm_log "the daemon on the captured root"
	vm_daemon_start "$root"
	vmcheck answers "$VM_OUT/pairs.txt" "$VM_WORK/host" || vm_fail "cannot save the daemon's answers"
	vmcheck same "$VM_OUT/guest" "$VM_WORK/host" ||
		vm_fail "the daemon answers differently on the capture than in the guest (DIFFERENT lines)"
	vmcheck topology --root "$root" "$VM_WORK/host" ||
		vm_fail "on the capture, the daemon's topology differs from sysfs/lspci (MISMATCH lines)"
}
