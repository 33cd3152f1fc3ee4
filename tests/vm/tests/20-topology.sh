#!/bin/bash
# 20-topology.sh - the daemon on the guest's real /sys reports the topology the guest itself
# sees, device by device: IDs, header and port types, parents (sysfs path and lspci -PP), links,
# ACS registers (lspci -vvv and setpci ECAP_ACS), bus numbers, IOMMU groups, drivers, NUMA nodes,
# p2pmem size/available/published; switches as upstream port + downstream ports; the CPU.
# vm-topology: switch2+rp1 twoswitch amdzen

vm_guest() {
	vm_log "starting p2pbrokerd on /sys"
	vm_daemon_start
	p2pctl topology || vm_fail "p2pctl topology failed"
	vm_log "the daemon against sysfs, lspci, setpci and cpuinfo"
	vmcheck topology "$VM_OUT" ||
		vm_fail "the daemon's topology differs from the guest's own view (MISMATCH lines)"
	vm_log "done"
}
