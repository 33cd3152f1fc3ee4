#!/bin/bash
# build-kernel.sh - builds the VM tests' kernel (bzImage with PCI P2PDMA) from Debian's
# linux-source-6.12 package and tests/vm/kernel.fragment; no other downloads.
#   scripts/build-kernel.sh [--config-only] [OUTDIR]      (default OUTDIR: tests/vm/cache)
# Installs linux-source-6.12 and the build dependencies with apt-get when missing. Takes about
# 15 minutes on 2 cores; tests/vm/run.sh then finds OUTDIR/bzImage. --config-only stops after
# `make olddefconfig` and checks that every option of the fragment took effect.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd -P)
config_only=0
if [ "${1:-}" = --config-only ]; then
	config_only=1
	shift
fi
out=${1:-$top/tests/vm/cache}
fragment=$top/tests/vm/kernel.fragment
tarball=/usr/src/linux-source-6.12.tar.xz
mkdir -p "$out"
out=$(cd "$out" && pwd -P)

need_pkgs() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "build-kernel.sh: installing:$missing"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

need_pkgs linux-source-6.12 bc bison flex libelf-dev libssl-dev make gcc xz-utils cpio
[ -f "$tarball" ] || {
	echo "build-kernel.sh: $tarball missing after installing linux-source-6.12" >&2
	exit 1
}

src=$out/src
if [ ! -f "$src/Makefile" ] || [ "$tarball" -nt "$src/Makefile" ]; then
	echo "build-kernel.sh: unpacking $tarball into $src"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
fi
cd "$src"

# defconfig + the fragment + olddefconfig, as the notes in ../shared/vm/README.md describe.
make -s defconfig
args=()
while read -r line; do
	line=${line%%#*}
	[ -n "${line// /}" ] || continue
	case ${line#*=} in
	y) args+=(-e "${line%%=*}") ;;
	n) args+=(-d "${line%%=*}") ;;
	*)
		echo "build-kernel.sh: $fragment: bad line '$line' (want NAME=y or NAME=n)" >&2
		exit 1
		;;
	esac
done <"$fragment"
./scripts/config "${args[@]}"
make -s olddefconfig

# olddefconfig silently drops options whose dependencies are missing: say which did not stick.
# (INTEL_IOMMU_DEFAULT_ON is a choice that the kernel resolves to its own default; the tests pass
# intel_iommu=on on the command line.)
bad=""
while read -r line; do
	line=${line%%#*}
	[ -n "${line// /}" ] || continue
	name=${line%%=*}
	[ "$name" = INTEL_IOMMU_DEFAULT_ON ] && continue
	case ${line#*=} in
	y) grep -q "^CONFIG_$name=y" .config || bad="$bad $name" ;;
	n) grep -q "^CONFIG_$name=y" .config && bad="$bad $name" ;;
	esac
done <"$fragment"
if [ -n "$bad" ]; then
	echo "build-kernel.sh: options that did not take effect after olddefconfig:$bad" >&2
	exit 1
fi
cp .config "$out/kernel.config"
echo "build-kernel.sh: configured ($out/kernel.config)"
[ $config_only = 1 ] && exit 0

make -j"$(($(nproc) + 1))" bzImage
cp arch/x86/boot/bzImage "$out/bzImage.tmp"
mv "$out/bzImage.tmp" "$out/bzImage"
echo "build-kernel.sh: built $out/bzImage (tests/vm/run.sh uses it when no other kernel is given)"
