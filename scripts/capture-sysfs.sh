#!/bin/bash
# capture-sysfs.sh - copies a machine's PCI view of /sys (and /proc/cpuinfo) into a fixture root
# that `p2pbrokerd --root` and `lspci -A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci` read as they
# read the real system. Used by the VM tests; useful to turn any machine into a fixture.
#   scripts/capture-sysfs.sh [--from ROOT] OUTDIR
# --from: capture another fixture root instead of the running system (default /).
# Only known attribute files are read: some sysfs files (resourceN, rom, reset, remove) act on the
# hardware when read or written, and p2pmem/allocate allocates.
set -eu

from=/
case ${1:-} in
--from)
	from=${2:?--from needs a directory}
	shift 2
	;;
-h | --help)
	sed -n '2,7s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
if [ $# -ne 1 ]; then
	echo "usage: $0 [--from ROOT] OUTDIR" >&2
	exit 2
fi
out=$1
src=${from%/}
[ -d "$src/sys/bus/pci/devices" ] || {
	echo "$0: $src/sys/bus/pci/devices does not exist" >&2
	exit 1
}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
srcsys=$(cd "$src/sys" && pwd -P)

# Attribute files of a PCI function the scan (libpci's sysfs back end and the daemon) may read.
ATTRS="config vendor device subsystem_vendor subsystem_device class revision irq resource
numa_node local_cpulist local_cpus enable modalias msi_bus ari_enabled d3cold_allowed
broken_parity_status current_link_speed current_link_width max_link_speed max_link_width
secondary_bus_number subordinate_bus_number sriov_numvfs sriov_totalvfs sriov_offset sriov_stride
sriov_vf_device label index acpi_index"
# Links of a PCI function; all are relative and stay inside /sys, so they resolve in the copy.
LINKS="driver iommu_group physfn subsystem"
P2PMEM_ATTRS="size available published"

# copy_link LINK DEST: recreates symlink LINK at DEST with the same (relative) target, and makes
# sure the target directory exists in the copy so the link is not dangling.
copy_link() {
	local target
	target=$(readlink "$1") || return 0
	mkdir -p "$(dirname "$2")"
	ln -sfn "$target" "$2"
	case $target in
	/*) ;; # absolute: not produced by sysfs; left as it is
	*) mkdir -p "$(realpath -m "$(dirname "$2")/$target")" ;;
	esac
}

# copy_device REALDIR: the function's directory (under $srcsys) with its attributes and links.
copy_device() {
	local dir=$1 rel dest a files=()
	rel=${dir#"$srcsys"/}
	dest=$out/sys/$rel
	mkdir -p "$dest"
	for a in $ATTRS; do
		[ -f "$dir/$a" ] && [ -r "$dir/$a" ] && files+=("$dir/$a")
	done
	[ ${#files[@]} -gt 0 ] && cp "${files[@]}" "$dest/" 2>/dev/null
	for a in $LINKS "$dir"/virtfn*; do
		a=${a##*/}
		[ -L "$dir/$a" ] && copy_link "$dir/$a" "$dest/$a"
	done
	if [ -d "$dir/p2pmem" ]; then
		mkdir -p "$dest/p2pmem"
		for a in $P2PMEM_ATTRS; do
			[ -f "$dir/p2pmem/$a" ] && cp "$dir/p2pmem/$a" "$dest/p2pmem/$a"
		done
	fi
	return 0
}

mkdir -p "$out/sys/bus/pci/devices" "$out/sys/bus/pci/drivers" "$out/sys/kernel/iommu_groups"
n=0
for link in "$src"/sys/bus/pci/devices/*; do
	[ -e "$link" ] || [ -L "$link" ] || continue
	copy_link "$link" "$out/sys/bus/pci/devices/${link##*/}"
	real=$(realpath -e "$link" 2>/dev/null) || continue
	copy_device "$real"
	n=$((n + 1))
done
# Drivers' and IOMMU groups' back links, as the kernel lays them out.
for link in "$src"/sys/bus/pci/drivers/*/*:*:*.* "$src"/sys/kernel/iommu_groups/*/devices/*; do
	[ -L "$link" ] || continue
	copy_link "$link" "$out/sys/${link#"$src"/sys/}"
done
for f in "$src"/sys/kernel/iommu_groups/*/type; do
	[ -f "$f" ] && cp "$f" "$out/sys/${f#"$src"/sys/}"
done
if [ -r "$src/proc/cpuinfo" ]; then
	mkdir -p "$out/proc"
	cp "$src/proc/cpuinfo" "$out/proc/cpuinfo"
fi
echo "captured $n PCI functions from ${from} into $out"
