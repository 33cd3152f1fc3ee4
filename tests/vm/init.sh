#!/bin/busybox sh
# init.sh - /init of the VM tests' initramfs: mounts the host's root (9p, read-only), chroots
# into it and runs one guest test, then prints "P2PB-VM-RESULT: <rc>" and powers off.
# Parameters come on the kernel command line: p2pb.top= (repo path), p2pb.test= (test script,
# relative to the repo), p2pb.topology= (its name), p2pb.out= (host dir shared writable, or "").

/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

result() {
	echo "P2PB-VM-RESULT: $1"
	sync
	poweroff -f
	sleep 10 # poweroff -f does not return; this keeps init from exiting (a panic) if it does
}

fail() {
	echo "p2pb-vm-init: $*"
	result 125
}

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev 2>/dev/null # CONFIG_DEVTMPFS_MOUNT may have done it
# What udev or systemd would add: bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

top='' test='' topology='' out=
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	p2pb.top=*) top=${arg#p2pb.top=} ;;
	p2pb.test=*) test=${arg#p2pb.test=} ;;
	p2pb.topology=*) topology=${arg#p2pb.topology=} ;;
	p2pb.out=*) out=${arg#p2pb.out=} ;;
	esac
done
if [ -z "$top" ] || [ -z "$test" ]; then
	fail "p2pb.top= and p2pb.test= missing from the kernel command line"
fi

mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host || fail "cannot mount the host root (9p tag hostroot)"
# The host's /proc, /sys and /dev show through 9p: cover them with the guest's own.
for d in proc sys dev; do
	mount -o bind /$d /host/$d || fail "cannot bind /$d into /host"
done
# The shared root is read-only; give the test writable scratch space.
for d in tmp run var/tmp dev/shm root; do
	[ -d /host/$d ] && mount -t tmpfs -o mode=1777 tmpfs /host/$d
done
if [ -n "$out" ]; then
	mount -t 9p -o trans=virtio,version=9p2000.L,rw out "/host$out" ||
		fail "cannot mount the output share (9p tag out) at $out"
fi

echo "p2pb-vm-init: up $(cut -d" " -f1 /proc/uptime)s; running $test on topology $topology"
chroot /host /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb P2PB_TOP="$top" VM_OUT="$out" VM_TOPOLOGY="$topology" \
	/bin/bash "$top/tests/vm/lib/guest-main.sh" "$top/$test"
rc=$?
echo "p2pb-vm-init: test ended at $(cut -d" " -f1 /proc/uptime)s"
if [ $rc -ne 0 ]; then
	echo "p2pb-vm-init: test failed (exit $rc); last kernel messages:"
	dmesg | tail -n 30
fi
umount "/host$out" 2>/dev/null
result $rc
