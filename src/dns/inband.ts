// DNS in-band: each local network's DNS address answers inside the overlay.
// The data path gives the network a service port (no device) with a MAC of
// its own; proxy ARP answers for the DNS address with that MAC, and the
// unicast frames sent to it come up to here in batches (the one exception
// DESIGN.md allows to "packets never enter JavaScript"). Replies are
// injected from the service port and switched like any frame.
//
// The tenant whose names a query sees is the tenant of the network the
// frame arrived on: a container cannot ask another tenant's zone.
//
// UDP is answered frame for frame. TCP (for answers too big for UDP) is a
// small server-side TCP, bounded against floods: inband-tcp.ts.
import { localMac, macToBytes } from '../datapath/mac.js';
import type { Switch } from '../switch/switch.js';
import { udpLimit } from './answer.js';
import { FORWARD, type Resolver } from './resolver.js';
import { fitReply } from './truncate.js';
import { parseQuery } from './wire.js';
import type { Asker } from './zones.js';
import { formatIPv4 } from '../control/ipv4.js';
import { readIp4, readUdp, udpFrame, type Endpoint } from './packet.js';
import { InbandTcp } from './inband-tcp.js';

/** Who claims the DNS addresses in the switch's ARP table. */
const ARP_OWNER = 'in-band DNS';

interface Service {
  port: number;
  network: number;
  tenant: string;
  ip: number;
  mac: Buffer;
  macNum: number;
  mtu: number;
  /** Who asks on this port: its tenant, the DNS address (NS glue) and the largest datagram the port carries. */
  who: Asker;
}

export interface InbandCounters {
  frames: number;
  udp: number;
  tcpSegments: number;
  ignored: number;
}

export class InbandDns {
  readonly counters: InbandCounters = { frames: 0, udp: 0, tcpSegments: 0, ignored: 0 };
  readonly #byNetwork = new Map<number, Service>();
  readonly #tcp: InbandTcp;

  constructor(
    private readonly sw: Switch,
    private readonly resolver: Resolver,
  ) {
    this.#tcp = new InbandTcp(resolver, (port, frames) => this.sw.inject(port, frames));
  }

  /** Answers DNS at `dnsIp` on a local network of `tenant`. */
  serve(network: number, tenant: string, dnsIp: number, mtu: number): void {
    const cur = this.#byNetwork.get(network);
    if (cur && cur.ip === dnsIp && cur.tenant === tenant && cur.mtu === mtu) return;
    if (cur) this.stop(network);
    const macNum = localMac(dnsIp);
    const { id: port } = this.sw.addService({ name: `dns:${network}`, network, mtu });
    this.sw.pin(network, macNum, port);
    this.sw.claimArp(ARP_OWNER, network, dnsIp, macNum);
    // A reply datagram has to fit the port: MTU - 20 (IPv4) - 8 (UDP).
    const server = formatIPv4(dnsIp);
    const who: Asker = { tenant, server, udpMax: mtu - 28, key: `${tenant}@${server}/${mtu}` };
    this.#byNetwork.set(network, { port, network, tenant, ip: dnsIp, mac: macToBytes(macNum), macNum, mtu, who });
  }

  stop(network: number): void {
    const s = this.#byNetwork.get(network);
    if (!s) return;
    this.sw.releaseArp(ARP_OWNER, network, s.ip);
    this.sw.unpin(network, s.macNum);
    this.sw.removePort(s.port);
    this.#byNetwork.delete(network);
    this.#tcp.stop(network);
  }

  /** Frames the data path handed up from service ports, one batch. */
  onFrames(frames: Array<{ port: number; network: number; frame: Buffer }>): void {
    // Local UDP answers of this batch, per service port: injected together (one wake of the worker).
    const answers = new Map<number, Buffer[]>();
    for (const f of frames) {
      this.counters.frames++;
      const svc = this.#byNetwork.get(f.network);
      const ip = readIp4(f.frame);
      if (!svc || svc.port !== f.port || !ip || ip.dst !== svc.ip) {
        this.counters.ignored++;
        continue;
      }
      if (ip.proto === 17) {
        const reply = this.#udp(svc, ip.srcMac, ip.src, ip.l4);
        if (reply) answers.set(svc.port, [...(answers.get(svc.port) ?? []), reply]);
      } else if (ip.proto === 6) {
        if (this.#tcp.segment(svc, ip.srcMac, ip.src, ip.l4)) this.counters.tcpSegments++;
        else this.counters.ignored++;
      } else this.counters.ignored++;
    }
    for (const [port, list] of answers) this.sw.inject(port, list);
    this.#tcp.flush();
  }

  #me(svc: Service): Endpoint {
    return { mac: svc.mac, ip: svc.ip, port: 53 };
  }

  /** The answer frame when the name is ours (the caller injects it with the batch's others); forwarded ones go alone, later. */
  #udp(svc: Service, srcMac: Buffer, src: number, l4: Buffer): Buffer | undefined {
    const u = readUdp(l4);
    if (!u || u.dstPort !== 53) {
      this.counters.ignored++;
      return undefined;
    }
    this.counters.udp++;
    const client: Endpoint = { mac: Buffer.from(srcMac), ip: src, port: u.srcPort };
    const frame = (reply: Buffer) => udpFrame(this.#me(svc), client, reply);
    const query = Buffer.from(u.payload);
    let local: ReturnType<Resolver['answerLocal']>;
    try {
      local = this.resolver.answerLocal(query, svc.who, 'udp');
    } catch {
      // A query we could not answer costs the rest of the batch nothing (counted as dropped).
      this.resolver.counters.dropped++;
      return undefined;
    }
    if (local !== FORWARD) return local && frame(local);
    // The upstream answered for the client's EDNS size, which may be more than this port carries: cut to fit, TC set.
    const limit = udpLimit(parseQuery(query), svc.who.udpMax);
    this.resolver.forward(query, 'udp').then(
      (reply) => {
        const fit = fitReply(reply, limit);
        if (fit !== reply) this.resolver.counters.truncated++;
        if (fit && this.#byNetwork.get(svc.network) === svc) this.sw.inject(svc.port, frame(fit));
      },
      () => undefined,
    );
    return undefined;
  }

  close(): void {
    this.#tcp.close();
  }
}
