#!/bin/bash
# 10-providers: provider choice as the kernel's pci_p2pmem_find_many() makes it
# (published p2pmem every client reaches, least total distance), with ties
# broken the documented way where the kernel picks at random: more clients on
# the provider's NUMA node, more free bytes, lower address. Orders worked out by
# hand on the gpu8 fixture (tests/fixtures/gpu8.topo).
. "$(dirname "$0")/lib.sh"

start_daemon "$(fixture gpu8)"

# ranking CLIENT... -> "BDF:DISTANCE BDF:DISTANCE ..." best first
ranking() {
	local args=() c
	for c in "$@"; do args+=(--client "$c"); done
	ctl --json providers "${args[@]}" |
		json '" ".join("%s:%d" % (p["provider"], p["total_distance"]) for p in j["providers"])'
}

# GPUs 1a and 1b below switch 0 (downstream ports with ACS SV UF only).
# - 1c:00.0, NVMe on the same switch: 4 + 4 = 8, bus-addr for both.
# - every other published NVMe is below another root port on another host
#   bridge: no common upstream device, 4 devices in each chain, so 8 per
#   client, 16 in all, through whitelisted Skylake-E host bridges.
#   3f:00.0 is on NUMA node 0 with both clients; b3, b4 and 8a are on node 1;
#   b3 and b4 have 64 MiB free, 8a 32 MiB. 40:00.0 and 1d:00.0 publish nothing.
expect_eq "providers for 1a+1b" "$(ranking 0000:1a:00.0 0000:1b:00.0)" \
	"0000:1c:00.0:8 0000:3f:00.0:16 0000:b3:00.0:16 0000:b4:00.0:16 0000:8a:00.0:16"

# GPU b1 and NVMe b3 below switch 3, whose port b0:0a.0 (above b3) has ACS RR CR.
# - b3 itself: to b1 via the common upstream port af:00.0, 2 + 2 = 4 with b0:0a's
#   redirect counted: thru-host-bridge 4 (whitelisted); to itself 0. Total 4.
# - b4: to b1 bus-addr 4; to b3 thru-host-bridge 4 (redirect on the client's
#   side, b0:0a). Total 8.
# - 8a (node 1, like both clients), 3f and 1c (node 0): 8 + 8 = 16 each; 8a first
#   on NUMA, then 3f (64 MiB free) before 1c (60 MiB free).
expect_eq "providers for b1+b3" "$(ranking 0000:b1:00.0 0000:b3:00.0)" \
	"0000:b3:00.0:4 0000:b4:00.0:8 0000:8a:00.0:16 0000:3f:00.0:16 0000:1c:00.0:16"

stop_daemon || fail "daemon did not exit cleanly"

# On the QEMU machine (q35 host bridge 8086:29c0, not on the whitelist; Intel
# CPU) nothing below a root port can reach the host bridge device 00:00.0, so
# it gets an empty list, not an error; an NVMe behind the switch gets itself
# (0), then its neighbour (4); the NVMe on the other root port is unreachable.
start_daemon "$(fixture qemu)"
expect_eq "providers for 00:00.0" "$(ranking 0000:00:00.0)" ""
ctl providers --client 0000:00:00.0 | grep -qi "no published p2pmem provider" ||
	fail "text output does not say that no provider fits"
expect_eq "providers for 03:00.0" "$(ranking 0000:03:00.0)" "0000:03:00.0:0 0000:04:00.0:4"
stop_daemon || fail "daemon did not exit cleanly"
