#!/bin/bash
# 10-verdicts.sh - the kernel is the judge. For every ordered pair of NVMe functions p2pmem-probe
# maps the provider's p2pmem and reads into it from the client drive: the kernel refuses
# (EREMOTEIO) or performs the transfer, and then the bytes written on the client drive must
# arrive. (1) The kernel's answers must be the ones worked out by hand from Linux 6.12's rules
# (topologies/<topology>.kernel), which checks the harness and the topology. (2) The daemon on the
# guest's /sys must agree with the kernel on every pair: not-supported <=> EREMOTEIO, bus-addr or
# thru-host-bridge <=> the bytes arrived.
# vm-topology: switch2+rp1 twoswitch amdzen

vm_guest() {
	local want=$P2PB_TOP/tests/vm/topologies/$VM_TOPOLOGY.kernel bad=0 odd
	vm_need_bin tests/tools/p2pmem-probe
	[ -f "$want" ] || vm_fail "no hand-worked kernel verdicts: $want"
	vm_log "probing every pair"
	vm_probe_all "$VM_OUT/kernel.txt"
	cat "$VM_WORK/probe.log"
	odd=$(awk '$3 != "ok" && $3 != "EREMOTEIO" || $3 == "ok" && $4 != "match"' "$VM_OUT/kernel.txt")
	if [ -n "$odd" ]; then
		echo "FAIL: probes that neither moved the bytes nor were refused:"
		echo "$odd"
		bad=1
	fi
	vm_log "the kernel's answers against $want"
	if ! diff -u <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$want" | awk '{print $1, $2, $3}' | sort) \
		<(awk '{print $1, $2, $3}' "$VM_OUT/kernel.txt" | sort); then
		echo "FAIL: the kernel's answers (+) differ from the hand-worked ones (-)"
		bad=1
	fi
	vm_log "the daemon's verdicts against the kernel's"
	vm_daemon_start
	vmcheck verdicts "$VM_OUT/kernel.txt" "$VM_OUT/paths.json" || bad=1
	[ $bad = 0 ] || vm_fail "see above"
	vm_log "done"
}
