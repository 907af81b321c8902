import { describe, expect, it } from 'vitest';
import { formatIpv6, normalizeIpv6Cidr, parseIpv6 } from '../../../src/ip/ipv6.ts';

describe('ipv6-cidr', () => {
  it.each([
    ['fc00::5/48', 'fc00::/48'],
    ['FC00:0:0:1::/64', 'fc00:0:0:1::/64'],
    ['2001:cafe:42:0:0:0:0:0/56', '2001:cafe:42::/56'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['::ffff:10.0.0.1/128', '::ffff:a00:1/128'],
    ['::/0', '::/0'],
    ['1:2:3:4:5:6:7:8/64', '1:2:3:4::/64'],
  ])('%s → %s', (input, out) => {
    expect(normalizeIpv6Cidr(input)).toBe(out);
  });

  it.each(['fc00::', 'fc00::/129', '10.0.0.0/8', 'fe80::1%eth0/64', 'fc00::/x', 'gggg::/64'])('rejects %s', (input) => {
    expect(normalizeIpv6Cidr(input)).toBeUndefined();
  });

  it('formats RFC 5952: first longest zero run, no :: for a single zero group', () => {
    expect(formatIpv6(parseIpv6('1:0:0:2:0:0:3:4')!)).toBe('1::2:0:0:3:4');
    expect(formatIpv6(parseIpv6('1:0:2:3:4:5:6:7')!)).toBe('1:0:2:3:4:5:6:7');
    expect(formatIpv6(0n)).toBe('::');
    expect(formatIpv6(1n)).toBe('::1');
  });
});
