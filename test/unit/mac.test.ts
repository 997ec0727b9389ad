import { describe, expect, it } from 'vitest';
import { formatMac, isMulticastMac, localMac, macFromBytes, parseMac } from '../../src/datapath/mac.js';

describe('parseMac / formatMac', () => {
  it('parses colon-separated MACs into 48-bit numbers', () => {
    expect(parseMac('00:00:00:00:00:00')).toBe(0);
    expect(parseMac('00:00:00:00:00:01')).toBe(1);
    expect(parseMac('02:42:ac:11:00:02')).toBe(0x0242ac110002);
    expect(parseMac('ff:ff:ff:ff:ff:ff')).toBe(2 ** 48 - 1);
  });

  it('accepts dashes and any letter case', () => {
    expect(parseMac('02-42-AC-11-00-02')).toBe(0x0242ac110002);
    expect(parseMac('02:42:Ac:11:00:02')).toBe(0x0242ac110002);
    expect(parseMac('AA:BB:CC:DD:EE:FF')).toBe(parseMac('aa-bb-cc-dd-ee-ff'));
  });

  it('formats as lower-case, colon-separated, zero-padded', () => {
    expect(formatMac(0)).toBe('00:00:00:00:00:00');
    expect(formatMac(1)).toBe('00:00:00:00:00:01');
    expect(formatMac(0x0242ac110002)).toBe('02:42:ac:11:00:02');
    expect(formatMac(2 ** 48 - 1)).toBe('ff:ff:ff:ff:ff:ff');
  });

  it('round-trips, normalising separators and case', () => {
    for (const m of ['02:57:0a:01:00:05', '01:00:5e:00:00:fb', '33:33:00:00:00:01', '00:1b:21:3a:4f:60']) {
      expect(formatMac(parseMac(m))).toBe(m);
    }
    expect(formatMac(parseMac('00-1B-21-3A-4F-60'))).toBe('00:1b:21:3a:4f:60');
  });

  it('rejects malformed input with "malformed MAC"', () => {
    const bad = [
      '',
      'aa:bb:cc:dd:ee',
      'aa:bb:cc:dd:ee:ff:00',
      'aabbccddeeff',
      'aabb.ccdd.eeff',
      'a:b:c:d:e:f',
      'aa:bb:cc:dd:ee:f',
      'aaa:bb:cc:dd:ee:ff',
      'gg:bb:cc:dd:ee:ff',
      'aa bb cc dd ee ff',
      'aa:bb:cc:dd:ee:ff ',
      ' aa:bb:cc:dd:ee:ff',
      'aa:bb:cc:dd:ee:ff:',
      'aa::bb:cc:dd:ee:ff',
    ];
    for (const text of bad) {
      expect(() => parseMac(text), text).toThrow(`malformed MAC address '${text}'`);
    }
  });
});

describe('isMulticastMac', () => {
  it('is true for IPv4/IPv6 multicast and broadcast', () => {
    expect(isMulticastMac(parseMac('01:00:5e:00:00:fb'))).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01'))).toBe(true);
    expect(isMulticastMac(parseMac('ff:ff:ff:ff:ff:ff'))).toBe(true);
    expect(isMulticastMac(parseMac('01:80:c2:00:00:00'))).toBe(true);
  });

  it('is false for unicast, including locally administered', () => {
    expect(isMulticastMac(parseMac('02:42:ac:11:00:02'))).toBe(false);
    expect(isMulticastMac(parseMac('00:00:00:00:00:00'))).toBe(false);
    expect(isMulticastMac(parseMac('fe:ff:ff:ff:ff:ff'))).toBe(false);
    expect(isMulticastMac(parseMac('00:01:00:00:00:00'))).toBe(false);
    // The group bit of the *last* octet means nothing.
    expect(isMulticastMac(parseMac('02:00:00:00:00:01'))).toBe(false);
  });
});

describe('macFromBytes', () => {
  it('reads six bytes big-endian', () => {
    expect(macFromBytes(Uint8Array.from([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]))).toBe(0x0242ac110002);
    expect(macFromBytes(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(2 ** 48 - 1);
  });

  it('reads at an offset (e.g. the source MAC of an Ethernet header)', () => {
    const frame = Uint8Array.from([
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
      0x02, 0x57, 0x0a, 0x01, 0x00, 0x05, // source
      0x08, 0x06,
    ]);
    expect(formatMac(macFromBytes(frame))).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(macFromBytes(frame, 6))).toBe('02:57:0a:01:00:05');
  });

  it('works on a Buffer', () => {
    expect(macFromBytes(Buffer.from('00000002424242aabb', 'hex'), 3)).toBe(0x02424242aabb);
  });
});

describe('localMac', () => {
  it('is 02:57 followed by the four tail bytes', () => {
    expect(formatMac(localMac(0x0a010005))).toBe('02:57:0a:01:00:05');
    expect(formatMac(localMac(0))).toBe('02:57:00:00:00:00');
    expect(formatMac(localMac(0xffffffff))).toBe('02:57:ff:ff:ff:ff');
  });

  it('takes the tail as unsigned 32 bits', () => {
    expect(localMac(-1)).toBe(localMac(0xffffffff));
    expect(localMac(2 ** 32 + 5)).toBe(localMac(5));
  });

  it('is locally administered unicast', () => {
    const m = localMac(0xdeadbeef);
    expect(isMulticastMac(m)).toBe(false);
    const firstOctet = Math.floor(m / 2 ** 40);
    expect(firstOctet & 0x02).toBe(0x02);
  });
});
