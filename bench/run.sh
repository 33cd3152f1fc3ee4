#!/bin/bash
# run.sh - speed and memory figures, each side by side with a baseline measured
# in the same run (never asserted in tests):
#   1. full scan of a 4096-function tree: p2pb_scan() vs `lspci -vt` on the same tree
#   2. all-pairs matrix for 1024 endpoints: p2pb_matrix() vs a kernel-style per-pair walk
#   3. daemon RSS after the scan of the 4096-function tree vs lspci's peak RSS on it
# Goals (issue 2): scan no slower than lspci -vt, matrix under 100 ms, RSS under 16 MiB.
#   bench/run.sh [FUNCTIONS] [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${P2PB_BUILD:-$top/build}
nfunc=${1:-4096}
runs=${2:-7}
work=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo /tmp)/p2pb-bench.XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { date +%s%N | awk '{printf "%.2f", $1/1e6}'; }

root=$work/synthetic
python3 "$top/tests/fixtures/mkfixture.py" --synthetic "$nfunc" "$root" >/dev/null
n=$(find "$root/sys/bus/pci/devices" -mindepth 1 -maxdepth 1 | wc -l)
echo "machine: $(nproc) cores, $(uname -r); tree: $n functions ($root)"
echo

# 1. scan
read -r ndev ours < <("$build/bench/scan_bench" "$root" "$runs")
lspci_ms=$(for _ in $(seq 1 "$runs"); do
	t0=$(now_ms)
	lspci -vt -A linux-sysfs -O "sysfs.path=$root/sys/bus/pci" >/dev/null
	t1=$(now_ms)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", b-a}'
done | median)
printf '%-44s %10s %12s\n' "scan ($ndev functions, median of $runs)" "p2pbroker" "lspci -vt"
printf '%-44s %8.2f ms %9.2f ms\n' "" "$ours" "$lspci_ms"
echo

# 2. matrix
"$build/bench/matrix_bench" 1024
echo

# 3. RSS
"$build/p2pbrokerd" --root "$root" --socket "$work/socket" --foreground 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 1 200); do
	"$build/p2pctl" --socket "$work/socket" status >/dev/null 2>&1 && break
	sleep 0.05
done
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
"$build/p2pctl" --socket "$work/socket" --json topology >/dev/null
rss_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
lspci_rss=$( { /usr/bin/env time -f '%M' lspci -vt -A linux-sysfs -O "sysfs.path=$root/sys/bus/pci" >/dev/null; } 2>&1 | tail -n1)
printf '%-44s %10s %12s\n' "memory ($ndev functions)" "p2pbrokerd" "lspci -vt"
printf '%-44s %7.1f MiB %9.1f MiB\n' "RSS after scan (peak $((hwm / 1024)) MiB)" "$(echo "$rss" | awk '{print $1/1024}')" \
	"$(echo "$lspci_rss" | awk '{print $1/1024}')"
printf '%-44s %7.1f MiB\n' "RSS after serving one topology reply" "$(echo "$rss_after" | awk '{print $1/1024}')"
