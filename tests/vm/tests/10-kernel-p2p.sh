#!/bin/bash
# 10-kernel-p2p.sh - the ground truth the daemon is judged by: for every pair of NVMe functions
# the kernel either refuses a p2pmem transfer (EREMOTEIO) or performs it, and then the bytes
# written on the client drive arrive in the provider's buffer. The kernel's answers must match the
# ones worked out by hand from Linux 6.12's rules in topologies/<topology>.kernel.
# vm-topology: switch2+rp1 twoswitch amdzen

vm_guest() {
	local want=$P2PB_TOP/tests/vm/topologies/$VM_TOPOLOGY.kernel bad
	vm_need_bin tests/tools/p2pmem-probe
	[ -f "$want" ] || vm_fail "no hand-worked kernel verdicts: $want"
	vm_probe_all "$VM_OUT/kernel.txt"
	cat "$VM_WORK/probe.log"
	bad=$(awk '$3 != "ok" && $3 != "EREMOTEIO" || $3 == "ok" && $4 != "match"' "$VM_OUT/kernel.txt")
	[ -z "$bad" ] || vm_fail "probes that neither transferred the bytes nor were refused: $bad"
	# the .kernel file names each pair once; compare "P C RESULT"
	if ! diff -u <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$want" | awk '{print $1, $2, $3}' | sort) \
		<(awk '{print $1, $2, $3}' "$VM_OUT/kernel.txt" | sort); then
		vm_fail "the kernel's answers (+) differ from $want (-)"
	fi
	echo "$(wc -l <"$VM_OUT/kernel.txt") pairs: kernel answers as worked out by hand"
}
