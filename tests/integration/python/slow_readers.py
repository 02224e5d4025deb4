#!/usr/bin/env python3
"""slow_readers.py - stuck WebSocket clients for slow-clients.test.mjs.

Usage: slow_readers.py HOST PORT PATH QUERY NAMESPACE COUNT

Opens COUNT raw Engine.IO WebSocket connections (plain sockets, no library), joins NAMESPACE
on each, prints "ready N" and then never reads again, so the server's writes back up in TCP.
Each socket asks for a small receive buffer and a small MSS, so that the kernel holds only a
few kilobytes for it and the gateway's own bounded send queue is what fills (Node cannot set
either). Each one prints "closed I" if the server ends it while we still read the handshake.
It exits when stdin closes (the test's end), or after 600 s.
"""
import base64
import os
import select
import socket
import sys


def frame(text):
    """A masked client text frame (payloads under 126 bytes)."""
    data = text.encode()
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def read_until(sock, buf, pred):
    sock.settimeout(30)
    while not pred(buf):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buf += chunk
    return buf


def ws_frames(buf):
    """The complete unmasked server frames at the start of buf (after the HTTP response)."""
    out = []
    i = 0
    while i + 2 <= len(buf):
        n = buf[i + 1] & 0x7F
        h = 2
        if n == 126:
            if i + 4 > len(buf):
                break
            n = int.from_bytes(buf[i + 2:i + 4], "big")
            h = 4
        elif n == 127:
            if i + 10 > len(buf):
                break
            n = int.from_bytes(buf[i + 2:i + 10], "big")
            h = 10
        if i + h + n > len(buf):
            break
        out.append(buf[i + h:i + h + n])
        i += h + n
    return out


def open_one(host, port, path, query, nsp):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path}?EIO=4&transport=websocket{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = read_until(s, b"", lambda b: b"\r\n\r\n" in b)
    head, rest = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(head.split(b"\r\n")[0].decode())
    rest = read_until(s, rest, lambda b: len(ws_frames(b)) >= 1)  # the open packet
    s.sendall(frame(f"40{nsp}," if nsp != "/" else "40"))
    want = f"40{nsp}," if nsp != "/" else "40"
    read_until(s, rest, lambda b: any(f.decode(errors="replace").startswith(want) for f in ws_frames(b)))
    return s


def main():
    host, port, path, query, nsp, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
    socks = [open_one(host, port, path, query, nsp) for _ in range(count)]
    print(f"ready {len(socks)}", flush=True)
    # From here on nothing is read: wait for stdin to close.
    select.select([sys.stdin], [], [], 600)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
