// An uplink's in-band 802.1Q tag (native/port_uplink.h PopVlanTag): the
// kernel normally hands a received tag over in auxdata, but a frame that
// still carries one in-band is popped in place, and the vnet header's
// offsets (checksum start, GSO header length) move with the payload.
import { describe, expect, it } from 'vitest';
import { addon } from '../../src/datapath/native.js';
import { ETH_IPV4, gsoFrame, pattern, readVnetHdr, tcpFrame, VNET_LEN, vnetHdr } from './packet-builders.js';

const { popVlanTag } = addon.testing;

/** `f` with an 802.1Q tag (TPID `tpid`, TCI `tci`) after its MACs. */
const tag = (f: Buffer, tci: number, tpid = 0x8100) => {
  const t = Buffer.alloc(4);
  t.writeUInt16BE(tpid, 0);
  t.writeUInt16BE(tci, 2);
  return Buffer.concat([f.subarray(0, 12), t, f.subarray(12)]);
};

describe('popping an in-band VLAN tag', () => {
  it('takes the VID (not the priority bits) and gives back the untagged frame', () => {
    const f = tcpFrame(pattern(100));
    const r = popVlanTag(vnetHdr(), tag(f, (5 << 13) | 100));
    expect(r.vid).toBe(100);
    expect(r.frame).toEqual(f);
    expect(r.frame.readUInt16BE(12)).toBe(ETH_IPV4);
  });

  it('moves a GSO frame\'s csum_start and hdr_len back by the tag', () => {
    const g = gsoFrame(tcpFrame(pattern(3000)), 1000);
    const hdr = g.subarray(0, VNET_LEN), f = g.subarray(VNET_LEN);
    const tagged = readVnetHdr(hdr);
    const moved = vnetHdr({ ...tagged, csumStart: tagged.csumStart + 4, hdrLen: tagged.hdrLen + 4 });
    const r = popVlanTag(moved, tag(f, 300));
    expect(r.vid).toBe(300);
    expect(r.frame).toEqual(f);
    expect(readVnetHdr(r.vnetHdr)).toEqual(tagged);
  });

  it('leaves an untagged frame and one of another TPID alone, and calls a tag cut short bad', () => {
    const f = tcpFrame(pattern(20));
    expect(popVlanTag(vnetHdr(), f)).toEqual({ vid: 0, vnetHdr: vnetHdr(), frame: f });
    const qinq = tag(f, 100, 0x88a8);
    expect(popVlanTag(vnetHdr(), qinq).vid).toBe(0);
    expect(popVlanTag(vnetHdr(), qinq).frame).toEqual(qinq);
    // Ethernet header and half a tag: 16 bytes.
    const cut = tag(f, 100).subarray(0, 16);
    expect(popVlanTag(vnetHdr(), cut).vid).toBe(-1);
    expect(popVlanTag(vnetHdr(), cut.subarray(0, 10)).vid).toBe(-1);
  });
});
