#!/bin/bash
# 05-rescan: a rescan (by request or SIGHUP) replaces the topology as a whole:
# the generation increases and the new tree is what every reply sees.
. "$(dirname "$0")/lib.sh"

root=$T/root
cp -a "$(fixture qemu)" "$root"
start_daemon "$root"
g0=$(ctl --json status | json 'j["generation"]')
n0=$(ctl --json devices | json 'len(j["devices"])')

# Replace the tree under the daemon's feet with a bigger one, then rescan.
rm -rf "$root/sys" "$root/proc"
cp -a "$(fixture gpu8)/." "$root/"
n_gpu8=$(find "$root/sys/bus/pci/devices" -mindepth 1 -maxdepth 1 | wc -l)
ctl rescan >"$T/rescan.out" || fail "p2pctl rescan failed"
g1=$(ctl --json status | json 'j["generation"]')
n1=$(ctl --json devices | json 'len(j["devices"])')
[ "$g1" -gt "$g0" ] || fail "generation did not increase on rescan ($g0 -> $g1)"
expect_eq "devices after rescan" "$n1" "$n_gpu8"
[ "$n1" != "$n0" ] || fail "device count unchanged after swapping the tree ($n0)"

# SIGHUP rescans too.
rm -rf "$root/sys" "$root/proc"
cp -a "$(fixture qemu)/." "$root/"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do
	n2=$(ctl --json devices | json 'len(j["devices"])')
	[ "$n2" = "$n0" ] && break
	sleep 0.05
done
expect_eq "devices after SIGHUP rescan" "$n2" "$n0"
g2=$(ctl --json status | json 'j["generation"]')
[ "$g2" -gt "$g1" ] || fail "generation did not increase on SIGHUP ($g1 -> $g2)"

# A rescan of a root that vanished keeps the old topology and says why.
mv "$root/sys" "$root/sys.away"
ctl rescan >"$T/rescan.out" 2>"$T/rescan.err" && fail "rescan of a missing tree succeeded"
n3=$(ctl --json devices | json 'len(j["devices"])')
expect_eq "devices kept after failed rescan" "$n3" "$n0"
mv "$root/sys.away" "$root/sys"
stop_daemon || fail "daemon did not exit cleanly"
