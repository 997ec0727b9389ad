#!/usr/bin/env python3
"""Sends hand-made tunnel packets, for tests of what a VTEP must refuse.

  tunnel_craft.py udp SRC DST PORT HEX...      each HEX as one UDP datagram
  tunnel_craft.py gre SRC DST HEX...           each HEX as the payload of one
                                               IPv4 packet of protocol 47 (the
                                               kernel writes the IP header)
  tunnel_craft.py train SRC DST PORT GSO HEX... each HEX as one UDP_SEGMENT
                                               send: a train of GSO-byte
                                               datagrams, the last shorter
  tunnel_craft.py flood SRC DST PORT COUNT SEED COUNT datagrams of 1..1400
                                               pseudo-random bytes, the VXLAN
                                               I flag cleared in each

Prints the number of datagrams or packets sent.
"""
import random
import socket
import struct
import sys

SOL_UDP, UDP_SEGMENT = 17, 103


def udp(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    return s


def main(argv):
    mode = argv[1]
    if mode == 'udp':
        src, dst, port = argv[2], argv[3], int(argv[4])
        s = udp(src)
        for h in argv[5:]:
            s.sendto(bytes.fromhex(h), (dst, port))
        print(len(argv) - 5)
    elif mode == 'gre':
        src, dst = argv[2], argv[3]
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
        s.bind((src, 0))
        for h in argv[4:]:
            s.sendto(bytes.fromhex(h), (dst, 0))
        print(len(argv) - 4)
    elif mode == 'train':
        src, dst, port, gso = argv[2], argv[3], int(argv[4]), int(argv[5])
        s = udp(src)
        n = 0
        for h in argv[6:]:
            b = bytes.fromhex(h)
            s.sendmsg([b], [(SOL_UDP, UDP_SEGMENT, struct.pack('=H', gso))], 0, (dst, port))
            n += (len(b) + gso - 1) // gso
        print(n)
    elif mode == 'flood':
        src, dst, port, count, seed = argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6])
        s = udp(src)
        rng = random.Random(seed)
        for _ in range(count):
            b = bytearray(rng.randbytes(rng.randint(1, 1400)))
            b[0] &= ~0x08
            s.sendto(b, (dst, port))
        print(count)
    else:
        raise SystemExit(f'unknown mode {mode}')


if __name__ == '__main__':
    main(sys.argv)
