import { describe, expect, it } from 'vitest';
import { parseTraceRequest } from '../../src/api/trace-target.js';
import { traceVerdict } from '../../src/api/trace-verdict.js';
import { formatStep } from '../../src/cli/observe-commands.js';

function refusal(body: unknown): string {
  try {
    parseTraceRequest(body);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('POST /v1/trace body', () => {
  it('defaults to ICMP and keeps what was given', () => {
    expect(parseTraceRequest({ from: 'c1', to: '10.1.0.3' })).toEqual({ from: 'c1', to: '10.1.0.3', proto: 'icmp', net: undefined, tenant: undefined });
    expect(parseTraceRequest({ from: 'c1', net: 'blue', tenant: 't', to: '10.1.0.3', proto: 'tcp', dport: 80 })).toEqual({ from: 'c1', net: 'blue', tenant: 't', to: '10.1.0.3', proto: 'tcp', dport: 80 });
  });

  it.each([
    [{ to: '10.1.0.3' }, "field 'from' must be a non-empty string"],
    [{ from: 'c1', to: '10.1.0' }, "'10.1.0' is not an IPv4 address"],
    [{ from: 'c1', to: '10.1.0.300' }, "'10.1.0.300' is not an IPv4 address"],
    [{ from: 'c1', to: '10.1.0.3', proto: 'sctp' }, "proto must be icmp, tcp or udp, not 'sctp'"],
    [{ from: 'c1', to: '10.1.0.3', dport: 80 }, 'a destination port needs tcp or udp'],
    [{ from: 'c1', to: '10.1.0.3', proto: 'udp' }, 'a udp trace needs a destination port (dport)'],
    [{ from: 'c1', to: '10.1.0.3', proto: 'tcp', dport: 70000 }, 'dport must be a whole number from 1 to 65535'],
    [{ from: 'c1', to: '10.1.0.3', port: 1 }, "unknown field 'port'"],
    [[], 'request body must be a JSON object'],
  ])('refuses %j in one line', (body, msg) => {
    expect(refusal(body)).toBe(msg);
  });
});

describe('trace verdict', () => {
  it('a drop names its reason', () => {
    expect(traceVerdict([{ step: 'port', port: 1 }, { step: 'drop', reason: 'spoof' }])).toEqual({ verdict: 'drop', summary: 'dropped: spoof' });
  });
  it('a tunnel names the VTEP, its host and the VNI', () => {
    const steps = [{ step: 'fib', result: 'hit', port: 3 }, { step: 'tunnel', port: 3, remote: '10.250.0.3', encap: 'vxlan', vni: 256, host: 'h2' }, { step: 'output', ports: [3] }];
    expect(traceVerdict(steps)).toEqual({ verdict: 'forward', summary: 'sent through the vxlan tunnel to VTEP 10.250.0.3 (host h2), VNI 256' });
  });
  it('a flood lists where it goes, by name when the daemon named them', () => {
    expect(traceVerdict([{ step: 'fib', result: 'miss' }, { step: 'flood', ports: [2, 3], portNames: ['c2', 'vtep:10.0.0.2'] }]).summary).toBe('flooded to c2, vtep:10.0.0.2');
  });
});

describe('a trace step on one line', () => {
  it('shows names in place of ids', () => {
    expect(formatStep({ step: 'fib', result: 'hit', port: 3, portName: 'vtep:10.0.0.2', pinned: true })).toBe('fib        result=hit port=vtep:10.0.0.2 pinned=true');
    expect(formatStep({ step: 'flood', ports: [2, 3], portNames: ['a', 'b'] })).toBe('flood      ports=[a, b]');
  });
});
