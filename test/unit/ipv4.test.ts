import { thrown } from '../helpers/errors.js';
import { describe, expect, it } from 'vitest';
import {
  contains,
  formatCidr,
  formatIPv4,
  isHostAddress,
  overlaps,
  parseCidr,
  parseIPv4,
  size,
} from '../../src/control/ipv4.js';

const ip = parseIPv4;

describe('parseIPv4', () => {
  it('parses dotted quads into 32-bit numbers', () => {
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('10.1.0.7')).toBe(0x0a010007);
    expect(parseIPv4('192.168.1.254')).toBe(0xc0a801fe);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
  });

  it('rejects an octet above 255 with a 400 naming the input', () => {
    for (const bad of ['256.0.0.1', '10.0.0.256', '1.2.300.4', '999.999.999.999']) {
      const e = thrown(() => parseIPv4(bad));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`malformed IPv4 address '${bad}'`);
    }
  });

  it('rejects garbage', () => {
    for (const bad of ['', 'abc', '10.0.0', '10.0.0.1.2', '10.0.0.-1', '10.0.0.1 ', ' 10.0.0.1', '10.0.0.1/24', '1..2.3', '0x1.2.3.4', '1234.1.1.1', '10.0.0.1\n']) {
      expect(thrown(() => parseIPv4(bad)).message).toContain('malformed IPv4 address');
    }
  });
});

describe('formatIPv4', () => {
  it('formats numbers as dotted quads', () => {
    expect(formatIPv4(0)).toBe('0.0.0.0');
    expect(formatIPv4(0x0a010007)).toBe('10.1.0.7');
    expect(formatIPv4(0xffffffff)).toBe('255.255.255.255');
  });

  it('round-trips with parseIPv4', () => {
    for (const a of ['1.2.3.4', '172.16.254.1', '127.0.0.1', '224.0.0.251']) expect(formatIPv4(parseIPv4(a))).toBe(a);
  });
});

describe('parseCidr', () => {
  it('parses a network and its prefix', () => {
    expect(parseCidr('10.1.0.0/24')).toEqual({ base: ip('10.1.0.0'), prefix: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
    expect(parseCidr('10.1.2.3/32')).toEqual({ base: ip('10.1.2.3'), prefix: 32 });
  });

  it('clears host bits: 10.1.0.7/24 has base 10.1.0.0', () => {
    expect(parseCidr('10.1.0.7/24')).toEqual({ base: ip('10.1.0.0'), prefix: 24 });
    expect(parseCidr('10.1.255.255/16')).toEqual({ base: ip('10.1.0.0'), prefix: 16 });
    expect(parseCidr('192.168.1.130/25')).toEqual({ base: ip('192.168.1.128'), prefix: 25 });
    expect(parseCidr('255.255.255.255/1')).toEqual({ base: ip('128.0.0.0'), prefix: 1 });
    expect(parseCidr('255.255.255.255/0')).toEqual({ base: 0, prefix: 0 });
  });

  it('formats back to a canonical CIDR', () => {
    expect(formatCidr(parseCidr('10.1.0.7/24'))).toBe('10.1.0.0/24');
    expect(formatCidr(parseCidr('172.16.5.9/12'))).toBe('172.16.0.0/12');
  });

  it('rejects a missing or empty prefix', () => {
    for (const bad of ['10.1.0.0', '10.1.0.0/']) {
      const e = thrown(() => parseCidr(bad));
      expect(e.status).toBe(400);
      expect(e.message).toBe(`malformed CIDR '${bad}' (expected e.g. 10.1.0.0/24)`);
    }
  });

  it('rejects a prefix above 32 or not a plain number', () => {
    for (const bad of ['10.1.0.0/33', '10.1.0.0/99', '10.1.0.0/100', '10.1.0.0/-1', '10.1.0.0/2a', '10.1.0.0/ 24', '10.1.0.0/24.0']) {
      expect(thrown(() => parseCidr(bad)).message).toContain('malformed CIDR');
    }
  });

  it('rejects extra slashes', () => {
    expect(thrown(() => parseCidr('10.1.0.0/24/8')).message).toContain('malformed CIDR');
    expect(thrown(() => parseCidr('10.1.0.0//24')).message).toContain('malformed CIDR');
  });

  it('rejects a bad address part with the IPv4 message', () => {
    expect(thrown(() => parseCidr('10.1.0.256/24')).message).toBe("malformed IPv4 address '10.1.0.256'");
    expect(thrown(() => parseCidr('/24')).message).toContain('malformed IPv4 address');
  });
});

describe('size', () => {
  it('counts the addresses of a prefix', () => {
    expect(size(32)).toBe(1);
    expect(size(31)).toBe(2);
    expect(size(24)).toBe(256);
    expect(size(0)).toBe(2 ** 32);
  });
});

describe('contains', () => {
  const net = parseCidr('10.1.0.0/24');

  it('includes the first and last address and nothing outside', () => {
    expect(contains(net, ip('10.1.0.0'))).toBe(true);
    expect(contains(net, ip('10.1.0.128'))).toBe(true);
    expect(contains(net, ip('10.1.0.255'))).toBe(true);
    expect(contains(net, ip('10.1.1.0'))).toBe(false);
    expect(contains(net, ip('10.0.255.255'))).toBe(false);
  });

  it('handles /0 and /32', () => {
    expect(contains(parseCidr('0.0.0.0/0'), ip('255.255.255.255'))).toBe(true);
    expect(contains(parseCidr('0.0.0.0/0'), 0)).toBe(true);
    const host = parseCidr('10.9.9.9/32');
    expect(contains(host, ip('10.9.9.9'))).toBe(true);
    expect(contains(host, ip('10.9.9.10'))).toBe(false);
    expect(contains(host, ip('10.9.9.8'))).toBe(false);
  });
});

describe('overlaps', () => {
  it('is true for nested subnets, in both orders', () => {
    const big = parseCidr('10.0.0.0/8');
    const small = parseCidr('10.1.2.0/24');
    expect(overlaps(big, small)).toBe(true);
    expect(overlaps(small, big)).toBe(true);
  });

  it('is true for a subnet nested at the very end of another', () => {
    expect(overlaps(parseCidr('10.1.0.0/24'), parseCidr('10.1.0.252/30'))).toBe(true);
    expect(overlaps(parseCidr('10.1.0.255/32'), parseCidr('10.1.0.0/24'))).toBe(true);
  });

  it('is true for identical subnets', () => {
    expect(overlaps(parseCidr('10.1.0.0/24'), parseCidr('10.1.0.9/24'))).toBe(true);
  });

  it('is false for disjoint subnets', () => {
    expect(overlaps(parseCidr('10.1.0.0/24'), parseCidr('192.168.0.0/16'))).toBe(false);
    expect(overlaps(parseCidr('192.168.0.0/16'), parseCidr('10.1.0.0/24'))).toBe(false);
  });

  it('is false for adjacent subnets', () => {
    const a = parseCidr('10.1.0.0/24');
    const b = parseCidr('10.1.1.0/24');
    expect(overlaps(a, b)).toBe(false);
    expect(overlaps(b, a)).toBe(false);
    expect(overlaps(parseCidr('10.1.0.0/25'), parseCidr('10.1.0.128/25'))).toBe(false);
  });
});

describe('isHostAddress', () => {
  const net = parseCidr('10.1.0.0/24');

  it('excludes the network and broadcast addresses', () => {
    expect(isHostAddress(net, ip('10.1.0.0'))).toBe(false);
    expect(isHostAddress(net, ip('10.1.0.255'))).toBe(false);
    expect(isHostAddress(net, ip('10.1.0.1'))).toBe(true);
    expect(isHostAddress(net, ip('10.1.0.254'))).toBe(true);
  });

  it('excludes addresses outside the subnet', () => {
    expect(isHostAddress(net, ip('10.1.1.1'))).toBe(false);
    expect(isHostAddress(net, ip('10.0.255.254'))).toBe(false);
  });

  it('a /30 has exactly two host addresses', () => {
    const p2p = parseCidr('10.1.0.4/30');
    const hosts = [4, 5, 6, 7].filter((o) => isHostAddress(p2p, ip(`10.1.0.${o}`)));
    expect(hosts).toEqual([5, 6]);
  });

  it('a /31 uses both addresses (RFC 3021)', () => {
    const p2p = parseCidr('10.1.0.6/31');
    expect(isHostAddress(p2p, ip('10.1.0.6'))).toBe(true);
    expect(isHostAddress(p2p, ip('10.1.0.7'))).toBe(true);
    expect(isHostAddress(p2p, ip('10.1.0.8'))).toBe(false);
    expect(isHostAddress(p2p, ip('10.1.0.5'))).toBe(false);
  });

  it('a /32 is its one address', () => {
    const host = parseCidr('10.1.0.9/32');
    expect(isHostAddress(host, ip('10.1.0.9'))).toBe(true);
    expect(isHostAddress(host, ip('10.1.0.10'))).toBe(false);
  });
});
