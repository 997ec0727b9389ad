#!/usr/bin/env python3
"""Sends raw Ethernet frames from an interface (an AF_PACKET socket), as a
hostile container would. Frames are built by the tests (test/helpers/frames.ts).

  send_frames.py IFACE COUNT EVERY_MS HEX [HEX...]   each frame COUNT times, EVERY_MS apart
  send_frames.py IFACE --flood DST_HEX COUNT TYPE_HEX COUNT frames to DST, each from its own
                                                     random unicast source MAC

Prints how many frames the kernel took.
"""
import os
import socket
import sys
import time


def main():
    iface = sys.argv[1]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    sent = 0
    if sys.argv[2] == "--flood":
        dst = bytes.fromhex(sys.argv[3])
        count = int(sys.argv[4])
        etype = int(sys.argv[5], 16).to_bytes(2, "big")
        for i in range(count):
            src = bytearray(os.urandom(6))
            src[0] = (src[0] & 0xFC) | 0x02  # locally administered unicast
            s.send(dst + bytes(src) + etype + bytes(46))
            sent += 1
            # Paced so the device queue between here and the switch keeps up.
            if i % 100 == 99:
                time.sleep(0.002)
    else:
        count = int(sys.argv[2])
        every = float(sys.argv[3]) / 1000
        frames = [bytes.fromhex(h) for h in sys.argv[4:]]
        for _ in range(count):
            for f in frames:
                s.send(f)
                sent += 1
                if every:
                    time.sleep(every)
    print(sent)


main()
