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
# Links of a PCI function; sysfs makes them relative and inside /sys, so they resolve in the copy.
LINKS="driver iommu_group physfn subsystem"
P2PMEM_ATTRS="size available published"

# Everything is collected with shell builtins and copied by one `cp -P --parents`: under an
# emulated CPU (the VM tests) every process costs a tenth of a second.
files=()
n=0
cd "$src/" || exit 1
for link in sys/bus/pci/devices/*; do
	[ -L "$link" ] || continue
	files+=("$link")
	# the function's real directory, as the kernel nests it (cd -P resolves the link)
	dir=$(cd -P "$link" 2>/dev/null && pwd) || continue
	dir=sys/${dir#"$srcsys"/}
	for a in $ATTRS; do
		[ -f "$dir/$a" ] && [ -r "$dir/$a" ] && files+=("$dir/$a")
	done
	for a in $LINKS "$dir"/virtfn*; do
		a=${a##*/}
		[ -L "$dir/$a" ] && files+=("$dir/$a")
	done
	for a in $P2PMEM_ATTRS; do
		[ -f "$dir/p2pmem/$a" ] && files+=("$dir/p2pmem/$a")
	done
	n=$((n + 1))
done
# What the links point to, as the kernel lays it out: drivers with their back links, IOMMU
# groups with their devices.
for f in sys/bus/pci/drivers/*/*:*:*.* sys/kernel/iommu_groups/*/devices/* \
	sys/kernel/iommu_groups/*/type proc/cpuinfo; do
	{ [ -L "$f" ] || [ -f "$f" ]; } && files+=("$f")
done
dirs=("$out/sys/bus/pci/devices" "$out/sys/kernel/iommu_groups")
for d in sys/bus/pci/drivers/*/; do
	dirs+=("$out/$d")
done
mkdir -p "${dirs[@]}"
cp -P --parents "${files[@]}" "$out/" ||
	echo "$0: some files could not be copied (see above); the capture is incomplete" >&2
echo "captured $n PCI functions from $from into $out"
