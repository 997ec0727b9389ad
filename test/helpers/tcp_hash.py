#!/usr/bin/env python3
"""A TCP transfer whose bytes are checked end to end.

  tcp_hash.py serve ADDR PORT          accept one connection, print the sha256
                                       and byte count of what arrived
  tcp_hash.py send ADDR PORT BYTES MSS send BYTES pseudo-random bytes with
                                       TCP_MAXSEG=MSS (0: the default); print
                                       the sha256 and byte count sent

The sender's kernel hands the switch GSO frames of MSS-sized segments (the
last one short when BYTES is not a multiple); the receiver's kernel checks
every checksum, and the digests show no byte was changed, lost or repeated.
"""
import hashlib
import random
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def serve(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    print('listening', flush=True)
    conn, _ = s.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    print(h.hexdigest(), n, flush=True)


def send(addr, port, total, mss):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    if mss:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    s.settimeout(30)
    s.connect((addr, port))
    rng = random.Random(total * 31 + mss)
    h, left = hashlib.sha256(), total
    while left:
        chunk = rng.randbytes(min(left, 256 * 1024 + 7))  # odd-sized writes as well
        s.sendall(chunk)
        h.update(chunk)
        left -= len(chunk)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the receiver to close: everything was read
    print(h.hexdigest(), total, flush=True)


if __name__ == '__main__':
    if sys.argv[1] == 'serve':
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
