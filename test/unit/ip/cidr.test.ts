import { describe, expect, it } from 'vitest';
import { addressOf, containsAddress, containsAnyCidr, familyOf, formatAnyCidr, isAddressOf, overlapsCidr, parseCidrOf } from '../../../src/ip/cidr.ts';
import { containsCidr6, maskOf6, networkOf6, parseCidr6 } from '../../../src/ip/ipv6.ts';

const v4 = (s: string) => parseCidrOf('ipv4', s)!;
const v6 = (s: string) => parseCidrOf('ipv6', s)!;

describe('cidr (both families)', () => {
  it('parses per family and tells the families apart', () => {
    expect(parseCidrOf('ipv4', 'fd00::/64')).toBeUndefined();
    expect(parseCidrOf('ipv6', '10.0.0.0/8')).toBeUndefined();
    expect(familyOf(v4('10.244.1.0/24'))).toBe('ipv4');
    expect(familyOf(v6('fd00:10:244:1::/64'))).toBe('ipv6');
    expect(formatAnyCidr(v6('FD00:10:244:1:0::/64'))).toBe('fd00:10:244:1::/64');
    expect(addressOf(v6('fd00:10:244:1::/64'))).toBe('fd00:10:244:1::');
    expect(addressOf(v4('10.244.1.0/24'))).toBe('10.244.1.0');
    expect([isAddressOf('ipv6', 'fd00::1'), isAddressOf('ipv6', '10.0.0.1'), isAddressOf('ipv4', 'fd00::1')]).toEqual([true, false, false]);
  });

  it('contains and overlaps within a family, never across', () => {
    expect(containsAnyCidr(v6('fd00:10:244::/56'), v6('fd00:10:244:3::/64'))).toBe(true);
    expect(containsAnyCidr(v6('fd00:10:244::/56'), v6('fd00:10:245::/64'))).toBe(false);
    expect(containsAnyCidr(v6('fd00:10:244:3::/64'), v6('fd00:10:244::/56'))).toBe(false);
    expect(containsAnyCidr(v4('0.0.0.0/0'), v6('::/0'))).toBe(false);
    expect(containsAddress(v6('fd00:10:244:3::/64'), 'fd00:10:244:3::1')).toBe(true);
    expect(containsAddress(v6('fd00:10:244:3::/64'), 'not an ip')).toBe(false);
    expect(overlapsCidr(v6('fd00:10:244:3::/64'), v6('fd00:10:244::/56'))).toBe(true);
    expect(overlapsCidr(v6('fd00:10:244:3::/64'), v6('fd00:10:244:4::/64'))).toBe(false);
    expect(overlapsCidr(v4('10.244.0.0/16'), v4('10.244.3.0/24'))).toBe(true);
    expect(overlapsCidr(v4('10.244.0.0/16'), v6('::/0'))).toBe(false);
  });

  it('masks IPv6 at every length', () => {
    expect(maskOf6(0)).toBe(0n);
    expect(maskOf6(128)).toBe((1n << 128n) - 1n);
    expect(networkOf6(parseCidr6('fd00::ffff/127')!).ip).toBe(parseCidr6('fd00::fffe/128')!.ip);
    expect(containsCidr6(parseCidr6('::/0')!, parseCidr6('fd00::/8')!)).toBe(true);
  });
});
