// A trace's verdict in a word and a line: what the data path would do with
// the frame, read from its last steps (drop, output through a tunnel or to
// ports, flood, proxy-ARP answer).
import type { TraceStep } from '../switch/observe-datapath.js';

export interface TraceVerdict {
  verdict: 'drop' | 'forward' | 'flood' | 'answer';
  summary: string;
}

export function traceVerdict(steps: TraceStep[]): TraceVerdict {
  const find = (name: string) => steps.find((s) => s.step === name);
  const drop = find('drop');
  if (drop) return { verdict: 'drop', summary: `dropped: ${String(drop.reason)}` };
  const tunnel = find('tunnel');
  const flood = find('flood');
  const out = find('output');
  const names = (s?: TraceStep) => ((s?.portNames ?? s?.ports ?? []) as unknown[]).map(String);
  if (find('proxy_arp') && !flood) return { verdict: 'answer', summary: `answered by the switch (proxy ARP)${out ? ` on ${names(out).join(', ')}` : ''}` };
  if (flood) return { verdict: 'flood', summary: `flooded to ${names(out ?? flood).join(', ') || 'no port'}` };
  if (tunnel) {
    const host = tunnel.host ? ` (host ${String(tunnel.host)})` : '';
    return { verdict: 'forward', summary: `sent through the ${String(tunnel.encap)} tunnel to VTEP ${String(tunnel.remote)}${host}, VNI ${String(tunnel.vni)}` };
  }
  return { verdict: 'forward', summary: `sent to ${names(out).join(', ') || 'no port'}` };
}
