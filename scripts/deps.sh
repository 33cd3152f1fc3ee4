#!/bin/sh
# deps.sh - install what building and testing p2pbroker needs (Debian/Ubuntu).
# Fast no-op when everything is present; `make` calls it on every run.
#   scripts/deps.sh [--quiet] [--vm]     --vm adds QEMU and busybox for tests/vm
set -eu

quiet=0
vm=0
for a in "$@"; do
	case "$a" in
	--quiet) quiet=1 ;;
	--vm) vm=1 ;;
	*) echo "usage: $0 [--quiet] [--vm]" >&2; exit 2 ;;
	esac
done

# command -> package, and pkg-config module -> package
cmds="cc:gcc make:make pkg-config:pkg-config protoc-c:protobuf-c-compiler python3:python3
lspci:pciutils setpci:pciutils"
mods="libpci:libpci-dev libsystemd:libsystemd-dev libevent_core:libevent-dev
libprotobuf-c:libprotobuf-c-dev json-c:libjson-c-dev cmocka:libcmocka-dev inih:libinih-dev"
files="/usr/bin/time:time"
vmcmds="qemu-system-x86_64:qemu-system-x86 cpio:cpio"
vmfiles="/bin/busybox:busybox-static"

missing=""
for pair in $cmds; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if command -v pkg-config >/dev/null 2>&1; then
	for pair in $mods; do
		pkg-config --exists "${pair%%:*}" 2>/dev/null || missing="$missing ${pair#*:}"
	done
else
	for pair in $mods; do missing="$missing ${pair#*:}"; done
fi
for pair in $files; do
	[ -e "${pair%%:*}" ] || missing="$missing ${pair#*:}"
done
if [ "$vm" = 1 ]; then
	for pair in $vmcmds; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
	done
	for pair in $vmfiles; do
		# busybox-static installs /bin/busybox; a dynamic busybox would not do
		if ! dpkg-query -W -f='${Status}' "${pair#*:}" 2>/dev/null | grep -q 'ok installed'; then
			missing="$missing ${pair#*:}"
		fi
	done
fi

if [ -z "$missing" ]; then
	[ "$quiet" = 1 ] || echo "deps.sh: all build and test dependencies are present"
	exit 0
fi

# shellcheck disable=SC2086
missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
echo "deps.sh: installing:$missing" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: no apt-get here; install these packages by hand:$missing" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
echo "deps.sh: done" >&2
