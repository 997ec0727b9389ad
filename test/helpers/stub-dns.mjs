// A stub upstream DNS server for tests: answers `A` for names listed on the
// command line (NAME=IP ...), NXDOMAIN for anything else, over UDP and TCP
// on the same port. Runs inside a test namespace:
// `node stub-dns.mjs 127.0.0.53 5353 outside.example=192.0.2.1`.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dnsPacket = require('dns-packet');
const [host, port, ...pairs] = process.argv.slice(2);
const names = new Map(pairs.map((p) => p.split('=')).map(([n, ip]) => [n.toLowerCase(), ip]));

function answer(msg) {
  let q;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const question = q.questions[0];
  const ip = question && question.type === 'A' ? names.get(question.name.toLowerCase()) : undefined;
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
    questions: q.questions,
    answers: ip ? [{ type: 'A', name: question.name, ttl: 30, data: ip }] : [],
  });
}

const sock = createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  const reply = answer(msg);
  if (reply) sock.send(reply, rinfo.port, rinfo.address);
});
const tcp = createServer((c) => {
  let buf = Buffer.alloc(0);
  c.on('error', () => undefined);
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const reply = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
      if (reply) c.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 0xff]), reply]));
    }
  });
});
let up = 0;
const ready = () => ++up === 2 && console.log('ready');
sock.bind(Number(port), host, ready);
tcp.listen(Number(port), host, ready);
