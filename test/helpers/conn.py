#!/usr/bin/env python3
"""Connections inside a network namespace, for the policy tests (stdlib only).

  serve --tcp 22,80 --udp 5353   one process: TCP line-echo servers and UDP echo
                                 servers; every accept and every line received is
                                 a JSON line on stdout (what reached the server)
  tcp IP PORT [--timeout S]      one connection: prints "ok|refused|timeout SPORT"
  udp IP PORT [--timeout S]      one datagram, waits for its echo: "ok|timeout SPORT"
  session IP PORT                a long-lived TCP session driven from stdin: each
                                 line is sent, and "echo LINE" or "noecho LINE"
                                 printed (after --timeout); "connected" first
  synloop IP PORT N              N new connections (one SYN each, distinct source
                                 ports), closed at once; prints how many were sent

Exit status is 0 whenever the helper itself worked: the test reads the verdict.
"""
import errno
import json
import selectors
import socket
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


def tcp(ip, port, timeout):
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
    out("%s %d" % (verdict, sport))


def udp(ip, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    sport = s.getsockname()[1]
    s.settimeout(timeout)
    msg = ("probe-%d" % sport).encode()
    s.sendto(msg, (ip, port))
    verdict = "timeout"
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            data, _ = s.recvfrom(65535)
            if data == msg:
                verdict = "ok"
                break
    except (socket.timeout, TimeoutError, ConnectionRefusedError):
        pass
    out("%s %d" % (verdict, sport))


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
    elif cmd == "synloop":
        synloop(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
