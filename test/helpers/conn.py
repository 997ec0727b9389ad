#!/usr/bin/env python3
"""Connections inside a network namespace, for the policy tests (stdlib only).

  serve --tcp 22,80 --udp 5353   one process: TCP line-echo servers and UDP echo
                                 servers; every accept and every line received is
                                 a JSON line on stdout (what reached the server)
  tcp IP PORT [--timeout S]      one connection: prints "ok|refused|timeout SPORT"
  udp IP PORT [--timeout S]      one datagram, waits for its echo: "ok|refused|timeout
                                 SPORT" (refused: an ICMP port unreachable came back)
  prober                         runs in the caller's namespace and serves probes:
                                 each stdin line {"id","ns","proto","ip","port",
                                 "timeout"} is run at once in a thread that joins
                                 namespace ns; answers {"id","got","sport"} lines
                                 (one process for every probe of a test, no
                                 `ip netns exec` per probe on a busy machine);
                                 proto tcp, udp, or icmp (an echo request whose
                                 identifier is the answer's sport)
  session IP PORT                a long-lived TCP session driven from stdin: each
                                 line is sent, and "echo LINE" or "noecho LINE"
                                 printed (after --timeout); "connected" first
  synloop IP PORT N              N new connections (one SYN each, distinct source
                                 ports), closed at once; prints how many were sent
  knock IP PORT                  a new connection every 10 ms (each given
                                 --timeout) until stdin closes; prints
                                 "ok N refused N timeout N"

Exit status is 0 whenever the helper itself worked: the test reads the verdict.
"""
import errno
import json
import random
import selectors
import socket
import struct
import sys
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def ports(name):
    v = arg(name, "")
    return [int(p) for p in v.split(",") if p]


def serve():
    sel = selectors.DefaultSelector()
    for p in ports("--tcp"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p))
        s.listen(512)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("listen", p))
    for p in ports("--udp"):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", p))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, ("udp", p))
    out(json.dumps({"ev": "ready"}))
    bufs = {}
    while True:
        for key, _ in sel.select():
            kind, p = key.data
            s = key.fileobj
            if kind == "listen":
                try:
                    c, peer = s.accept()
                except OSError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, ("conn", p))
                bufs[c] = b""
                out(json.dumps({"ev": "accept", "port": p, "peer": "%s:%d" % peer}))
            elif kind == "udp":
                try:
                    data, peer = s.recvfrom(65535)
                except OSError:
                    continue
                out(json.dumps({"ev": "udp", "port": p, "peer": "%s:%d" % peer, "data": data.decode(errors="replace")}))
                s.sendto(data, peer)
            else:
                try:
                    data = s.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    bufs.pop(s, None)
                    s.close()
                    continue
                bufs[s] += data
                peer = "%s:%d" % s.getpeername()
                while b"\n" in bufs[s]:
                    line, bufs[s] = bufs[s].split(b"\n", 1)
                    out(json.dumps({"ev": "recv", "port": p, "peer": peer, "data": line.decode(errors="replace")}))
                    try:
                        s.sendall(line + b"\n")
                    except OSError:
                        pass


def tcp_verdict(ip, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    sport = s.getsockname()[1]
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
        verdict = "ok"
    except ConnectionRefusedError:
        verdict = "refused"
    except (socket.timeout, TimeoutError):
        verdict = "timeout"
    except OSError as e:
        # No ARP answer ends as EHOSTUNREACH: nothing answered, as for a drop.
        verdict = "timeout" if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error:" + errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    return verdict, sport


def tcp(ip, port, timeout):
    out("%s %d" % tcp_verdict(ip, port, timeout))


def udp_verdict(ip, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    sport = s.getsockname()[1]
    s.settimeout(timeout)
    msg = ("probe-%d" % sport).encode()
    # Connected: an ICMP error about it is reported to this socket.
    s.connect((ip, port))
    s.send(msg)
    verdict = "timeout"
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            data = s.recv(65535)
            if data == msg:
                verdict = "ok"
                break
    except ConnectionRefusedError:
        # The peer's ICMP port unreachable came back.
        verdict = "refused"
    except (socket.timeout, TimeoutError):
        pass
    s.close()
    return verdict, sport


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_verdict(ip, _port, timeout):
    """One ICMP echo request; "ok" when its reply comes. The identifier is the "sport"."""
    ident = random.randint(1, 0xFFFF)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    payload = b"weft-policy-probe"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    s.sendto(struct.pack("!BBHHH", 8, 0, icmp_checksum(hdr + payload), ident, 1) + payload, (ip, 0))
    verdict = "timeout"
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            data, peer = s.recvfrom(65535)
            ihl = (data[0] & 0x0F) * 4
            typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and peer[0] == ip:
                verdict = "ok"
                break
    except (socket.timeout, TimeoutError):
        pass
    s.close()
    return verdict, ident


def udp(ip, port, timeout):
    out("%s %d" % udp_verdict(ip, port, timeout))


def prober():
    import ctypes
    import os
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET = 0x40000000
    lock = threading.Lock()

    def answer(obj):
        with lock:
            out(json.dumps(obj))

    def one(req):
        try:
            fd = os.open("/run/netns/" + req["ns"], os.O_RDONLY)
            try:
                # setns moves only this thread: its sockets are the namespace's.
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns " + req["ns"])
            finally:
                os.close(fd)
            f = {"tcp": tcp_verdict, "udp": udp_verdict, "icmp": icmp_verdict}[req.get("proto", "tcp")]
            got, sport = f(req["ip"], int(req["port"]), float(req.get("timeout", 2)))
            answer({"id": req["id"], "got": got, "sport": sport})
        except Exception as e:  # the test sees it as the probe's result
            answer({"id": req["id"], "got": "error:%s" % e, "sport": 0})

    for line in sys.stdin:
        if line.strip():
            threading.Thread(target=one, args=(json.loads(line),), daemon=True).start()


def session(ip, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((ip, port))
    except OSError as e:
        out("failed %s" % e)
        return
    out("connected %d" % s.getsockname()[1])
    buf = b""
    for line in sys.stdin:
        line = line.rstrip("\n")
        try:
            s.sendall(line.encode() + b"\n")
        except OSError as e:
            out("noecho %s" % line)
            continue
        end = time.monotonic() + timeout
        got = False
        while time.monotonic() < end and not got:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = s.recv(65535)
            except (socket.timeout, TimeoutError):
                break
            except OSError:
                break
            if not data:
                break
            buf += data
            while b"\n" in buf:
                echoed, buf = buf.split(b"\n", 1)
                if echoed.decode(errors="replace") == line:
                    got = True
        out(("echo %s" if got else "noecho %s") % line)


def synloop(ip, port, n):
    sent = 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        # connect() has put the SYN on the wire when it returns EINPROGRESS;
        # closing a SYN_SENT socket sends nothing more.
        r = s.connect_ex((ip, port))
        if r in (errno.EINPROGRESS, 0):
            sent += 1
        s.close()
    out("sent %d" % sent)


def knock(ip, port, timeout):
    """A new connection every 10 ms, each given `timeout`, until stdin closes."""
    import threading
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    counts = {"ok": 0, "refused": 0, "timeout": 0}
    sel = selectors.DefaultSelector()
    pending = {}

    def finish(s, verdict):
        counts[verdict] += 1
        sel.unregister(s)
        del pending[s]
        s.close()

    next_at = time.monotonic()
    while not done.is_set() or pending:
        if not done.is_set() and len(pending) < 200 and time.monotonic() >= next_at:
            next_at += 0.01
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((ip, port))
            pending[s] = time.monotonic() + timeout
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(max(0, min(0.01, next_at - time.monotonic()))):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            finish(key.fileobj, "ok" if err == 0 else "refused" if err == errno.ECONNREFUSED else "timeout")
        now = time.monotonic()
        for s in [s for s, end in pending.items() if end < now]:
            finish(s, "timeout")
    out("ok %(ok)d refused %(refused)d timeout %(timeout)d" % counts)


def main():
    cmd = sys.argv[1]
    timeout = float(arg("--timeout", "2"))
    if cmd == "serve":
        serve()
    elif cmd == "tcp":
        tcp(sys.argv[2], int(sys.argv[3]), timeout)
    elif cmd == "udp":
        udp(sys.argv[2], int(sys.argv[3]), timeout)
    elif cmd == "session":
        session(sys.argv[2], int(sys.argv[3]), timeout)
    elif cmd == "prober":
        prober()
    elif cmd == "knock":
        knock(sys.argv[2], int(sys.argv[3]), timeout)
    elif cmd == "synloop":
        synloop(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
