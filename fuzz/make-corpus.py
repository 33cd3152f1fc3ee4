#!/usr/bin/env python3
# make-corpus.py - writes the fuzzers' seed corpora (fuzz/corpus/<target>/) from valid requests,
# replies recorded from the real daemon on fixtures, and config files of the fixtures.
"""Regenerate the seed corpora of the fuzz targets.

  fuzz/make-corpus.py [--daemon build/p2pbrokerd]

Needs a built daemon (make). Writes fuzz/corpus/fuzz_request, fuzz_reply and fuzz_config,
replacing what is there. Replies carry timings, so seeds differ from run to run in a few bytes.
"""

import argparse
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "system"))
import wire  # noqa: E402  (the project's own minimal protobuf encoder)

MKFIXTURE = os.path.join(TOP, "tests", "fixtures", "mkfixture.py")
CORPUS = os.path.join(TOP, "fuzz", "corpus")

# fuzz_reply's control byte: the call, a raw-stream flag, descriptors to pass.
CALLS = {"status": 0, "topology": 1, "path": 2, "providers": 3, "matrix": 4, "rescan": 5}
RAW = 0x08
FDS_SHIFT = 4
# fuzz_config's first byte: which tree the config goes into.
LAYOUT_ALONE, LAYOUT_ENDPOINT, LAYOUT_BRIDGE = 0, 1, 2
CONFIG_SEEDS = 14
MAX_REQUEST_BYTES = 64 * 1024  # daemon/protocol.h
BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


def fixture(name, tmp):
    out = os.path.join(tmp, name)
    if not os.path.isdir(out):
        src = os.path.join(TOP, "tests", "fixtures", name + ".topo")
        if not os.path.exists(src):
            src = os.path.join(TOP, "tests", "fixtures", name + ".lspci")
        subprocess.run([sys.executable, MKFIXTURE, src, out], check=True,
                       stdout=subprocess.DEVNULL)
    return out


def devices(root):
    d = os.path.join(root, "sys", "bus", "pci", "devices")
    return sorted(e for e in os.listdir(d) if BDF.fullmatch(e))


def bdf_fields(name):
    dom, bus, rest = name.split(":")
    dev, fn = rest.split(".")
    return wire.bdf(int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16))


def is_provider(root, name):
    return os.path.isdir(os.path.join(root, "sys", "bus", "pci", "devices", name, "p2pmem"))


def path_body(provider, client):
    body = b""
    if provider:
        body += wire.field_bytes(1, bdf_fields(provider))
    if client:
        body += wire.field_bytes(2, bdf_fields(client))
    return body


def providers_body(clients):
    return b"".join(wire.field_bytes(1, bdf_fields(c)) for c in clients)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(target):
    shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)


# --- requests ---------------------------------------------------------------------------

def request_seeds(root, damaged):
    """Valid requests of every type on the fixtures fuzz_request serves, and each refusal."""
    devs = devices(root)
    providers = [d for d in devs if is_provider(root, d)]
    ends = [d for d in devs if d not in providers]
    seeds = {
        "status": wire.request(1, wire.STATUS),
        "topology": wire.request(2, wire.TOPOLOGY),
        "matrix": wire.request(3, wire.MATRIX),
        "rescan": wire.request(4, wire.RESCAN),
        "path-missing-client": wire.request(5, wire.PATH, path_body(providers[0], None)),
        "path-fn-out-of-range": wire.request(
            6, wire.PATH, path_body(providers[0], None) + wire.field_bytes(
                2, wire.bdf(0, 1, 0, 9))),
        "path-dev-out-of-range": wire.request(
            13, wire.PATH, path_body(providers[0], None) + wire.field_bytes(
                2, wire.bdf(0, 1, 32, 0))),
        "path-bus-out-of-range": wire.request(
            14, wire.PATH, path_body(providers[0], None) + wire.field_bytes(
                2, wire.bdf(0, 256, 0, 0))),
        "path-unknown-device": wire.request(
            7, wire.PATH, path_body(providers[0], None) + wire.field_bytes(
                2, wire.bdf(0x77, 0xee, 0x1f, 7))),
        "providers-none": wire.request(8, wire.PROVIDERS, b""),
        "providers-one": wire.request(9, wire.PROVIDERS, providers_body(ends[-1:])),
        "providers-three": wire.request(10, wire.PROVIDERS, providers_body(ends[:3])),
        "version-2": wire.request(11, wire.STATUS, version=2),
        "no-body": wire.request(12, None),
        "unknown-body": wire.request(13, None) + wire.field_bytes(20, b""),
        "not-protobuf": b"\xff\xff\xff\xff\x0f",
        "empty": b"",
    }
    # Pairs across the tree: provider to each kind of neighbour.
    for i, client in enumerate(ends[:: max(1, len(ends) // 6)]):
        prov = providers[i % len(providers)]
        seeds[f"path-{i}"] = wire.request(20 + i, wire.PATH, path_body(prov, client))
    # The damaged tree's functions, whose data the scanner only half knows.
    bad = devices(damaged)
    for i, (a, b) in enumerate(zip(bad[1::7], bad[4::7])):
        seeds[f"damaged-path-{i}"] = wire.request(40 + i, wire.PATH, path_body(a, b))
    seeds["damaged-providers"] = wire.request(50, wire.PROVIDERS, providers_body(bad[-3:]))
    # One byte over the limit: refused unread, then the daemon hangs up.
    status = wire.request(60, wire.STATUS)
    tag = wire.varint(99 << 3 | 2)  # an unknown field the padding rides in
    pad = MAX_REQUEST_BYTES + 1 - len(status) - len(tag) - 3
    seeds["too-large"] = status + tag + wire.varint(pad) + bytes(pad)
    assert len(seeds["too-large"]) == MAX_REQUEST_BYTES + 1
    return seeds


# --- replies ----------------------------------------------------------------------------

def start_daemon(daemon, root, tmp):
    sock = os.path.join(tmp, "socket")
    proc = subprocess.Popen([daemon, "--root", root, "--socket", sock, "--foreground",
                             "--log-level", "err"])
    for _ in range(200):
        if os.path.exists(sock):
            try:
                s = wire.connect(sock)
                return proc, s
            except OSError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("make-corpus.py: the daemon did not start")


def exchange(s, payload):
    s.sendall(wire.frame(payload))
    (n,) = struct.unpack(">I", wire.recv_exact(s, 4))
    return wire.recv_exact(s, n)


class Daemon:
    """The real daemon on a fixture, with one connection, for as long as a with-block."""

    def __init__(self, path, root, tmp):
        self.path, self.root, self.tmp = path, root, tmp

    def __enter__(self):
        self.proc, self.sock = start_daemon(self.path, self.root, self.tmp)
        return self

    def __exit__(self, *exc):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait()

    def ask(self, call, req):
        """fuzz_reply's input for this reply: the call's control byte, then the reply."""
        return bytes([CALLS[call]]) + exchange(self.sock, req)


def path_fields(reply):
    """Field numbers present in a path reply's body."""
    body = wire.decode(reply[1:]).get(12, b"")
    nums, i = set(), 0
    while i < len(body):
        key, i = wire._varint_at(body, i)
        nums.add(key >> 3)
        if key & 7 == 0:
            _, i = wire._varint_at(body, i)
        else:
            n, i = wire._varint_at(body, i)
            i += n
    return nums


def reply_seeds(daemon, roots, tmp):
    """Replies of the real daemon to the calls the library makes, all with id 1."""
    seeds = {}
    with Daemon(daemon, roots["damaged"], tmp) as d:
        # Warnings, devices without config, unknown parents.
        seeds["topology-damaged"] = d.ask("topology", wire.request(1, wire.TOPOLOGY))
    with Daemon(daemon, roots["acsredir"], tmp) as d:
        # A path that lists bridges with ACS redirect and their registers.
        devs = [x for x in devices(d.root) if is_provider(d.root, x)] + devices(d.root)
        for a in devs:
            for b in devs:
                rep = d.ask("path", wire.request(1, wire.PATH, path_body(a, b)))
                if {6, 7, 8} <= path_fields(rep):
                    seeds["path-acs"] = rep
                    break
            if "path-acs" in seeds:
                break
    with Daemon(daemon, roots["qemu"], tmp) as d:
        devs = devices(d.root)
        providers = [x for x in devs if is_provider(d.root, x)]
        asks = {
            "status": ("status", wire.request(1, wire.STATUS)),
            "topology": ("topology", wire.request(1, wire.TOPOLOGY)),
            "path": ("path", wire.request(1, wire.PATH, path_body(providers[0], providers[-1]))),
            "providers": ("providers", wire.request(1, wire.PROVIDERS,
                                                    providers_body(providers[:2]))),
            "matrix": ("matrix", wire.request(1, wire.MATRIX)),
            "rescan": ("rescan", wire.request(1, wire.RESCAN)),
            "path-not-found": ("path", wire.request(1, wire.PATH, path_body(
                providers[0], None) + wire.field_bytes(2, wire.bdf(9, 9, 9, 1)))),
        }
        for name, (call, req) in asks.items():
            seeds[name] = d.ask(call, req)
    # The same status reply as a raw stream (framing included), and one that
    # announces a descriptor which the fake daemon passes.
    status = seeds["status"][1:]
    seeds["status-raw"] = bytes([CALLS["status"] | RAW]) + wire.frame(status)
    seeds["status-fd"] = bytes([CALLS["status"] | 1 << FDS_SHIFT]) + status + \
        wire.field_varint(4, 1)
    seeds["id-zero-error"] = bytes([CALLS["matrix"]]) + wire.field_varint(2, 1) + \
        wire.field_bytes(3, b"request of 3 bytes is not a valid p2pbroker.v1.Request")
    return seeds


# --- config space -----------------------------------------------------------------------

def config_files(roots):
    """Distinct config files of the fixtures, with whether each is a bridge."""
    seen, out = set(), []
    for root in roots:
        base = os.path.join(root, "sys", "bus", "pci", "devices")
        for name in devices(root):
            path = os.path.join(base, name, "config")
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            # One per shape: header type, capability pointer, length, first ext cap.
            shape = (data[0x0e:0x0f], data[0x34:0x35], len(data), data[0x100:0x102])
            if shape in seen:
                continue
            seen.add(shape)
            bridge = len(data) > 0x0e and data[0x0e] & 0x7f == 1
            out.append((os.path.basename(root), name, bridge, data))
    return out


def config_seeds(roots):
    seeds = {}
    files = config_files(roots)
    for fx, name, bridge, data in files[:CONFIG_SEEDS]:
        label = f"{fx}-{name.replace(':', '_')}"
        if bridge:
            seeds[label] = bytes([LAYOUT_BRIDGE]) + data
        else:
            seeds[label] = bytes([LAYOUT_ENDPOINT]) + data
    # The same endpoint cut where the scanner's behaviour changes, and alone.
    ep = next(d for _, _, b, d in files if not b and len(d) == 4096)
    for cut in (0, 63, 64, 255, 256, 4095):
        seeds[f"cut-{cut}"] = bytes([LAYOUT_ENDPOINT]) + ep[:cut]
    seeds["alone"] = bytes([LAYOUT_ALONE]) + ep
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--daemon", default=os.path.join(TOP, "build", "p2pbrokerd"))
    args = ap.parse_args()
    if not os.access(args.daemon, os.X_OK):
        raise SystemExit(f"make-corpus.py: {args.daemon} not built; run make first")
    tmp = tempfile.mkdtemp(prefix="p2pb-corpus-", dir="/dev/shm" if os.access(
        "/dev/shm", os.W_OK) else None)
    try:
        names = ("damaged", "dualsocket", "workstation", "qemu", "acsredir")
        roots = {n: fixture(n, tmp) for n in names}
        out = {
            "fuzz_request": request_seeds(roots["dualsocket"], roots["damaged"]),
            "fuzz_reply": reply_seeds(args.daemon, roots, tmp),
            # The damaged tree first: its odd shapes are the most wanted seeds.
            "fuzz_config": config_seeds([roots[n] for n in names]),
        }
        for target, seeds in out.items():
            reset(target)
            for name, data in seeds.items():
                write(target, name, data)
            total = sum(len(d) for d in seeds.values())
            print(f"{target}: {len(seeds)} seeds, {total} bytes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
