#!/usr/bin/env python3
"""A machine on one VLAN of a trunk, for a kernel without 8021q: an AF_PACKET
socket on IFACE that only looks at frames tagged VID (the tag from
PACKET_AUXDATA, where the kernel puts it, or in-band), answers ARP and ICMP
echo for its IP as MAC, and sends everything tagged. Untagged frames and other
VIDs are ignored (counted). With --ping DST it also pings DST COUNT times
(ARP first) and exits, printing one JSON line; without it, it answers until
killed, printing a JSON line of counters on SIGTERM.

usage: vlan_machine.py IFACE VID MAC IP [--ping DST COUNT]
"""
import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10

iface, vid, mac_s, ip_s = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ping = sys.argv[6:8] if len(sys.argv) >= 8 and sys.argv[5] == '--ping' else None
MAC = bytes.fromhex(mac_s.replace(':', ''))
IP = socket.inet_aton(ip_s)
BCAST = b'\xff' * 6
counts = {'rx_tagged': 0, 'rx_other_vid': 0, 'rx_untagged': 0, 'arp_answered': 0, 'echo_answered': 0}

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.bind((iface, 0))


def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff


def send(dst, ethertype, payload):
    frame = dst + MAC + struct.pack('!HHH', 0x8100, vid & 0xfff, ethertype) + payload
    s.send(frame.ljust(64, b'\0'))


def ipv4(dst_ip, proto, body):
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 0, 0x4000, 64, proto, 0, IP, dst_ip)
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return hdr + body


def arp(op, tha, tpa):
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op, MAC, IP, tha, tpa)


def recv(timeout):
    """One frame of our VLAN: (src MAC, ethertype, payload), or None."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return None
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(20))
    if addr[2] == socket.PACKET_OUTGOING:
        return None
    tag = None
    for level, typ, cdata in anc:
        if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
            status, _l, _sl, _m, _n, tci, _tpid = struct.unpack('IIIHHHH', cdata[:20])
            if status & TP_STATUS_VLAN_VALID:
                tag = tci & 0xfff
    et = struct.unpack('!H', data[12:14])[0]
    body = data[14:]
    if tag is None and et == 0x8100:
        tag = struct.unpack('!H', data[14:16])[0] & 0xfff
        et = struct.unpack('!H', data[16:18])[0]
        body = data[18:]
    if tag is None:
        counts['rx_untagged'] += 1
        return None
    if tag != vid:
        counts['rx_other_vid'] += 1
        return None
    counts['rx_tagged'] += 1
    return data[6:12], et, body, data[0:6]


def answer(src, et, body):
    """Answers ARP requests and echo requests for IP; returns what else it was."""
    if et == 0x0806 and len(body) >= 28:
        op, sha, spa, tpa = struct.unpack('!6xH6s4s6x4s', body[:28])
        if op == 1 and tpa == IP:
            send(src, 0x0806, arp(2, sha, spa))
            counts['arp_answered'] += 1
        return ('arp', op, sha, spa)
    if et == 0x0800 and len(body) >= 28 and body[9] == 1:
        ihl = (body[0] & 15) * 4
        total = struct.unpack('!H', body[2:4])[0]
        src_ip, dst_ip = body[12:16], body[16:20]
        icmp = body[ihl:total]
        if icmp[0] == 8 and dst_ip == IP:
            reply = b'\0\0\0\0' + icmp[4:]
            reply = reply[:2] + struct.pack('!H', csum(reply)) + reply[4:]
            send(src, 0x0800, ipv4(src_ip, 1, reply))
            counts['echo_answered'] += 1
        return ('icmp', icmp[0], src_ip, icmp[4:8])
    return None


def do_ping(dst_s, count):
    dst = socket.inet_aton(dst_s)
    dmac = None
    end = time.time() + 5
    while dmac is None and time.time() < end:
        send(BCAST, 0x0806, arp(1, b'\0' * 6, dst))
        until = time.time() + 0.5
        while time.time() < until:
            f = recv(0.1)
            if not f:
                continue
            what = answer(f[0], f[1], f[2])
            if what and what[0] == 'arp' and what[1] == 2 and what[3] == dst:
                dmac = what[2]
                break
    if dmac is None:
        return {'arp': False, 'sent': 0, 'received': 0}
    got = 0
    for seq in range(1, count + 1):
        icmp = struct.pack('!BBHHH', 8, 0, 0, 0x5757, seq) + b'weft-vlan' * 4
        icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
        send(dmac, 0x0800, ipv4(dst, 1, icmp))
        until = time.time() + 1
        while time.time() < until:
            f = recv(0.1)
            if not f:
                continue
            what = answer(f[0], f[1], f[2])
            if what and what[0] == 'icmp' and what[1] == 0 and what[2] == dst and what[3] == struct.pack('!HH', 0x5757, seq):
                got += 1
                break
    return {'arp': True, 'mac': dmac.hex(':'), 'sent': count, 'received': got}


def stop(*_):
    print(json.dumps(counts), flush=True)
    sys.exit(0)


if ping:
    print(json.dumps({**do_ping(ping[0], int(ping[1])), **counts}), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
while True:
    f = recv(1.0)
    if f:
        answer(f[0], f[1], f[2])
