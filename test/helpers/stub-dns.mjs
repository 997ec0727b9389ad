// A stub upstream DNS server for tests: answers `A` for names listed on the
// command line (NAME=IP ...), NXDOMAIN for anything else. Runs inside a test
// namespace: `node stub-dns.mjs 127.0.0.53 5353 outside.example=192.0.2.1`.
import { createSocket } from 'node:dgram';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dnsPacket = require('dns-packet');
const [host, port, ...pairs] = process.argv.slice(2);
const names = new Map(pairs.map((p) => p.split('=')).map(([n, ip]) => [n.toLowerCase(), ip]));
const sock = createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  let q;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return;
  }
  const question = q.questions[0];
  const ip = question && question.type === 'A' ? names.get(question.name.toLowerCase()) : undefined;
  const reply = dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
    questions: q.questions,
    answers: ip ? [{ type: 'A', name: question.name, ttl: 30, data: ip }] : [],
  });
  sock.send(reply, rinfo.port, rinfo.address);
});
sock.bind(Number(port), host, () => console.log('ready'));
