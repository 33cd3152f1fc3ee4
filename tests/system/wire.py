# wire.py - a minimal hand-rolled client for the p2pbroker wire protocol, for
# system tests that must send what a well-behaved client never would.
import socket
import struct


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


# Request body field numbers (proto/p2pbroker.proto)
STATUS, TOPOLOGY, PATH, PROVIDERS, MATRIX, RESCAN = 10, 11, 12, 13, 14, 15
# StatusCode
OK, INVALID, NOT_FOUND, TOO_LARGE, UNSUPPORTED_VERSION = 0, 1, 2, 3, 4


def request(rid, body_field, body=b"", version=1):
    msg = field_varint(1, rid) + field_varint(2, version)
    if body_field is not None:
        msg += field_bytes(body_field, body)
    return msg


def bdf(domain, bus, dev, fn):
    return field_varint(1, domain) + field_varint(2, bus) + field_varint(3, dev) + field_varint(4, fn)


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_reply(s):
    (n,) = struct.unpack(">I", recv_exact(s, 4))
    return decode(recv_exact(s, n))


def decode(data):
    """Top-level fields of a Reply: {1: id, 2: status, 3: message, ...}."""
    out, i = {}, 0
    while i < len(data):
        key, i = _varint_at(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint_at(data, i)
        elif wt == 2:
            ln, i = _varint_at(data, i)
            val, i = data[i:i + ln], i + ln
        elif wt == 1:
            val, i = data[i:i + 8], i + 8
        elif wt == 5:
            val, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        out[num] = val
    out.setdefault(2, 0)
    return out


def _varint_at(data, i):
    shift = val = 0
    while True:
        b = data[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, i
