#!/bin/bash
# 08-install: `make install DESTDIR=...` lays out the daemon, CLI, library,
# header, pkg-config file and units; a program builds against the installed
# library with pkg-config alone and talks to the daemon.
. "$(dirname "$0")/lib.sh"

dest=$T/dest
make -C "$P2PB_TOP" -s install DESTDIR="$dest" PREFIX=/usr >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; fail "make install"; }
for f in usr/sbin/p2pbrokerd usr/bin/p2pctl usr/lib/libp2pbroker.so.1 usr/lib/libp2pbroker.so \
	usr/include/p2pbroker.h usr/lib/pkgconfig/p2pbroker.pc \
	usr/lib/systemd/system/p2pbrokerd.service usr/lib/systemd/system/p2pbrokerd.socket; do
	[ -e "$dest/$f" ] || fail "not installed: $f"
done
grep -q "ExecStart=/usr/sbin/p2pbrokerd" "$dest/usr/lib/systemd/system/p2pbrokerd.service" ||
	fail "unit's ExecStart does not point at the installed daemon"
# Only the API is exported.
bad=$(nm -D --defined-only "$dest/usr/lib/libp2pbroker.so.1" | awk '$2 ~ /[TDBR]/ && $3 !~ /^p2pb_/ {print $3}' | grep -v '^P2PBROKER_' || true)
[ -z "$bad" ] || fail "library exports non-API symbols: $bad"

cat >"$T/hello.c" <<'C'
#include <p2pbroker.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	struct p2pb_client *c = NULL;
	int r = p2pb_connect(argc > 1 ? argv[1] : NULL, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %d\n", r);
		return 1;
	}
	p2pb_disconnect(c);
	puts("connected");
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig
cc -o "$T/hello" "$T/hello.c" $(pkg-config --cflags --libs p2pbroker) ||
	fail "cannot build against the installed library with pkg-config"
start_daemon "$(fixture qemu)"
LD_LIBRARY_PATH=$dest/usr/lib "$T/hello" "$SOCK" | grep -q connected || fail "installed library cannot connect"
stop_daemon || fail "daemon did not exit cleanly"
