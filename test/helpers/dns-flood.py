# Hostile DNS clients for the resolver's bounds tests (run inside a test
# namespace; never aimed outside it).
#   udp HOST PORT COUNT                 COUNT queries for distinct forwarded names, as fast as they go, never reading
#   tcp-pipeline HOST PORT NAME SECONDS  one connection, queries for NAME sent for SECONDS, never reading; then holds it open
#   syn IFACE SRCMAC SRCIP DSTMAC DSTIP COUNT   COUNT TCP SYNs to DSTIP:53 from random ports (AF_PACKET)
#   bad-ack IFACE SRCMAC SRCIP DSTMAC DSTIP COUNT   COUNT ACK+data segments for connections that never were
#   hold HOST PORT COUNT                COUNT real TCP connections to HOST:PORT, held open
#   rrl HOST PORT COUNT                 COUNT queries in a burst; prints "answers truncated" received within 2 s
#   tcp-order HOST PORT SLOW FAST       one connection, a query for SLOW (id 1) then FAST (id 2); prints the reply IDs and rcodes in arrival order
import random, select, socket, struct, sys, time

def query(name, qid):
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return q + b'\x00' + struct.pack('!HH', 1, 1)

def csum(b):
    if len(b) % 2:
        b += b'\x00'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def mac(s):
    return bytes(int(x, 16) for x in s.split(':'))

def tcp_frame(smac, sip, dmac, dip, sport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, 53, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = sip + dip + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return dmac + smac + b'\x08\x00' + ip + tcp

cmd = sys.argv[1]
if cmd == 'udp':
    host, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    qs = [query('f%d.flood.example' % i, i & 0xffff) for i in range(4096)]
    sent = 0
    while sent < count:
        try:
            s.sendto(qs[sent % 4096], (host, port))
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
    print(sent)
elif cmd == 'tcp-pipeline':
    host, port, name, seconds = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    q = query(name, 7)
    chunk = (struct.pack('!H', len(q)) + q) * 1000
    sent, end = 0, time.time() + seconds
    while time.time() < end:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    print(sent, flush=True)
    time.sleep(600)
elif cmd in ('syn', 'bad-ack'):
    ifc, smac, sip, dmac, dip, count = sys.argv[2], mac(sys.argv[3]), socket.inet_aton(sys.argv[4]), mac(sys.argv[5]), socket.inet_aton(sys.argv[6]), int(sys.argv[7])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifc, 0))
    for i in range(count):
        sport = random.randint(1024, 65535)
        if cmd == 'syn':
            f = tcp_frame(smac, sip, dmac, dip, sport, random.getrandbits(32), 0, 0x02)
        else:
            q = query('x.example', 1)
            f = tcp_frame(smac, sip, dmac, dip, sport, random.getrandbits(32), random.getrandbits(32), 0x18, struct.pack('!H', len(q)) + q)
        while True:
            try:
                s.send(f)
                break
            except BlockingIOError:
                time.sleep(0.001)
    print(count)
elif cmd == 'hold':
    host, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    socks = [socket.create_connection((host, port), timeout=5) for _ in range(count)]
    print(len(socks), flush=True)
    time.sleep(600)
elif cmd == 'rrl':
    host, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for i in range(count):
        s.sendto(query('rrl%d.example' % i, i), (host, port))
    answers = truncated = 0
    end = time.time() + 2
    while time.time() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            m = s.recv(4096)
            answers += 1
            if m[2] & 0x02:
                truncated += 1
    print(answers, truncated)
elif cmd == 'tcp-order':
    host, port, slow, fast = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    s = socket.create_connection((host, port), timeout=15)
    a, b = query(slow, 1), query(fast, 2)
    s.sendall(struct.pack('!H', len(a)) + a + struct.pack('!H', len(b)) + b)
    buf, out = b'', []
    while len(out) < 2:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack('!H', buf[:2])[0]:
            n = struct.unpack('!H', buf[:2])[0]
            m = buf[2:2 + n]
            buf = buf[2 + n:]
            out.append('%d/%d' % (struct.unpack('!H', m[:2])[0], m[3] & 0xf))
    print(' '.join(out))
