#!/bin/bash
# 00-boot.sh - the harness itself: the guest boots, sees the topology's NVMe drives with p2pmem
# published, reaches the host's root read-only and the output share read-write.
# vm-topology: switch2+rp1

vm_guest() {
	local want n d
	case $VM_TOPOLOGY in
	switch2+rp1 | amdzen) want=3 ;;
	twoswitch) want=6 ;;
	*) vm_fail "no expected drive count for topology $VM_TOPOLOGY" ;;
	esac
	n=$(vm_nvme_bdfs | wc -l)
	[ "$n" -eq "$want" ] || vm_fail "$n NVMe functions seen, $want expected: $(vm_nvme_bdfs)"
	for d in $(vm_nvme_bdfs); do
		[ "$(cat "/sys/bus/pci/devices/$d/p2pmem/published")" = 1 ] ||
			vm_fail "$d: p2pmem not published"
		[ "$(cat "/sys/bus/pci/devices/$d/p2pmem/size")" = 16777216 ] ||
			vm_fail "$d: p2pmem size is not the 16 MiB CMB"
	done
	touch "$P2PB_TOP/.vm-write-probe" 2>/dev/null && vm_fail "the host root is writable in the guest"
	echo "$VM_TOPOLOGY" >"$VM_OUT/boot" || vm_fail "cannot write to the output share $VM_OUT"
	lspci -tv
}

vm_host() {
	[ "$(cat "$VM_OUT/boot")" = "$VM_TOPOLOGY" ] || vm_fail "the guest's file did not reach the host"
}
