import { describe, expect, it } from 'vitest';
import { containsCidr, formatCidr, formatIpv4, networkOf, parseCidr, parseIpv4 } from '../../../src/ip/ipv4.ts';

describe('ipv4', () => {
  it('parses and formats dotted quads', () => {
    expect(parseIpv4('10.244.1.5')).toBe(0x0af40105);
    expect(formatIpv4(0x0af40105)).toBe('10.244.1.5');
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4/8', 'a.b.c.d', '', '::1']) {
      expect(parseIpv4(bad), bad).toBeUndefined();
    }
  });
  it('masks networks and checks containment', () => {
    const n = parseCidr('10.244.1.5/16')!;
    expect(formatCidr(networkOf(n))).toBe('10.244.0.0/16');
    expect(containsCidr(n, parseCidr('10.244.3.0/24')!)).toBe(true);
    expect(containsCidr(n, parseCidr('10.245.3.0/24')!)).toBe(false);
    expect(containsCidr(parseCidr('10.244.3.0/24')!, n)).toBe(false);
    expect(formatCidr(networkOf(parseCidr('1.2.3.4/0')!))).toBe('0.0.0.0/0');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  });
});
