#!/bin/bash
# 04-bad-clients: the daemon never trusts its socket. Oversized, empty, garbage,
# wrong-version and invalid requests get clear errors; a client that stops
# reading or vanishes mid-frame does not hold up others; the daemon keeps its
# state and exits cleanly afterwards.
. "$(dirname "$0")/lib.sh"

start_daemon "$(fixture gpu8)"
before=$(ctl --json status) || fail "status"
PYTHONPATH=$(dirname "$0") python3 - "$SOCK" "$DAEMON_PID" <<'PY' || fail "bad-client checks"
import os, socket, struct, sys, time
from wire import *
path, pid = sys.argv[1], int(sys.argv[2])

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def expect(reply, status, what):
    assert reply[2] == status, f"{what}: status {reply[2]}, want {status} ({reply.get(3, b'').decode()})"
    assert reply.get(3), f"{what}: reply carries no human message"
    print(f"ok: {what}: {reply[3].decode()}")

# 1. A header announcing 1 GiB: refused without reading it into memory.
rss0 = rss_kib()
s = connect(path)
s.sendall(struct.pack(">I", 1 << 30))
expect(read_reply(s), TOO_LARGE, "1 GiB request")
s.settimeout(5)
assert s.recv(1) == b"", "connection should be closed after an oversized request"
s.close()
assert rss_kib() - rss0 < 16 * 1024, f"RSS grew from {rss0} to {rss_kib()} KiB"

# 2. Same connection survives: empty frame, garbage, wrong version, no body, bad BDF.
s = connect(path)
s.sendall(frame(b""))
expect(read_reply(s), INVALID, "empty frame")
s.sendall(frame(b"\xff\xff\xff\xff\xff\x01garbage"))
expect(read_reply(s), INVALID, "undecodable frame")
s.sendall(frame(request(7, STATUS, version=99)))
r = read_reply(s)
expect(r, UNSUPPORTED_VERSION, "version 99")
assert r.get(1) == 7, f"reply id {r.get(1)}, want 7"
s.sendall(frame(request(8, None)))
expect(read_reply(s), INVALID, "request without body")
s.sendall(frame(request(9, PATH, field_bytes(1, bdf(0, 999, 0, 0)) + field_bytes(2, bdf(0, 0, 0, 0)))))
expect(read_reply(s), INVALID, "bus 999")
s.sendall(frame(request(10, PATH, field_bytes(1, bdf(0, 0, 40, 0)) + field_bytes(2, bdf(0, 0, 0, 0)))))
expect(read_reply(s), INVALID, "device 40")
s.sendall(frame(request(11, PATH, field_bytes(1, bdf(0, 0, 0, 0)))))
expect(read_reply(s), INVALID, "path without client")
s.sendall(frame(request(12, STATUS)))
r = read_reply(s)
expect(r, OK, "status after errors") if r.get(3) else None
assert r[2] == OK and r.get(1) == 12, f"status after errors: {r}"
s.close()

# 3. Vanishing clients: half a header, half a body.
for junk in (b"\x00\x00", struct.pack(">I", 100) + b"abc"):
    s = connect(path)
    s.sendall(junk)
    s.close()

# 4. A client that asks for a lot and never reads does not stall another.
stuck = connect(path)
# One write: the daemon applies back-pressure to a client that does not read,
# so many small writes could fill this side's socket buffer and block the test.
stuck.sendall(b"".join(frame(request(100 + i, TOPOLOGY)) for i in range(200)))
other = connect(path)
for i in range(20):
    other.sendall(frame(request(1000 + i, STATUS)))
    r = read_reply(other)
    assert r[2] == OK and r.get(1) == 1000 + i, f"status while another client is stuck: {r}"
print("ok: 20 status replies while another client has 200 unread topology replies queued")
other.close()
stuck.close()
PY
after=$(ctl --json status) || fail "daemon stopped answering"
expect_eq "device count after bad clients" "$(echo "$after" | json 'j["devices"]')" \
	"$(echo "$before" | json 'j["devices"]')"
stop_daemon || fail "daemon did not exit cleanly"
