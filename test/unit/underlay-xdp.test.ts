// When the daemon puts the underlay through AF_XDP (src/cli/daemon/xdp.ts):
// by default for GRE only, when the first GRE network comes, and once;
// --xdp at start for both, a failure stopping the start in one line;
// --no-xdp never. A switch that records the attaches stands in for the
// data path (the attach itself needs root and a device: xdp-path.test.ts).
import { describe, expect, it } from 'vitest';
import type { DaemonContext } from '../../src/cli/daemon/context.js';
import { underlayXdp } from '../../src/cli/daemon/xdp.js';
import type { Switch } from '../../src/switch/switch.js';
import type { Encap } from '../../src/datapath/wire.js';

function fakeSwitch(fail?: string) {
  const attaches: Array<{ ifname: string; vxlan: boolean; gre: boolean }> = [];
  const listeners: Array<(e: Encap) => void> = [];
  const sw = {
    attachXdp(ifname: string, o: { vxlan: boolean; gre: boolean }) {
      attaches.push({ ifname, ...o });
      if (fail) throw new Error(fail);
      return { queues: 2, zeroCopy: false };
    },
    onEncap(l: (e: Encap) => void) {
      listeners.push(l);
    },
  };
  const encap = (e: Encap) => listeners.forEach((l) => l(e));
  return { sw: sw as unknown as Switch, attaches, encap };
}

const ctx = (xdp?: boolean) => {
  const lines: string[] = [];
  const c = { opts: { xdp, underlay: '10.0.0.1' }, log: { info: (s: string) => lines.push(s) } } as unknown as DaemonContext;
  return { c, lines };
};

describe('underlayXdp', () => {
  it('by default attaches nothing until a GRE network comes, then once, for GRE only, and says so', () => {
    const { sw, attaches, encap } = fakeSwitch();
    const { c, lines } = ctx();
    const state = underlayXdp(c, sw, 'eth1');
    expect(state).toEqual({ path: 'sockets', why: 'no GRE network here yet (AF_XDP is for GRE; VXLAN is faster on its sockets)' });
    encap('vxlan');
    expect(attaches).toEqual([]);
    encap('gre');
    encap('gre');
    expect(attaches).toEqual([{ ifname: 'eth1', vxlan: false, gre: true }]);
    // The object the API serves is the one updated.
    expect(state).toEqual({ path: 'af_xdp', device: 'eth1', queues: 2, mode: 'copy', steers: ['gre'], why: 'for GRE, where the driver has native XDP (picked by default)' });
    expect(lines).toEqual(['the underlay eth1 is read and written through AF_XDP (gre, 2 queues, copy mode; for GRE, where the driver has native XDP (picked by default))']);
  });

  it('by default a device that cannot falls back to the sockets with the reason, and is not tried again', () => {
    const { sw, attaches, encap } = fakeSwitch("the device's driver has no native XDP: Operation not supported\nmore");
    const state = underlayXdp(ctx().c, sw, 'br0');
    encap('gre');
    encap('gre');
    expect(attaches).toHaveLength(1);
    expect(state).toEqual({ path: 'sockets', why: "AF_XDP on br0: the device's driver has no native XDP: Operation not supported" });
  });

  it('--xdp attaches at start for both encapsulations, and a failure stops the start in one line', () => {
    const ok = fakeSwitch();
    expect(underlayXdp(ctx(true).c, ok.sw, 'ul0')).toMatchObject({ path: 'af_xdp', steers: ['vxlan', 'gre'], why: 'asked for by --xdp' });
    expect(ok.attaches).toEqual([{ ifname: 'ul0', vxlan: true, gre: true }]);
    const bad = fakeSwitch('the device already has an XDP program');
    expect(() => underlayXdp(ctx(true).c, bad.sw, 'ul0')).toThrow(/^cannot use AF_XDP on ul0: the device already has an XDP program$/);
  });

  it('--no-xdp never attaches, whatever networks come', () => {
    const { sw, attaches, encap } = fakeSwitch();
    expect(underlayXdp(ctx(false).c, sw, 'ul0')).toEqual({ path: 'sockets', why: 'forbidden by --no-xdp' });
    encap('gre');
    expect(attaches).toEqual([]);
  });
});
