import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr, parseIpv4 } from '../../../../src/ip/ipv4.ts';
import { formatCidr6, parseCidr6, parseIpv6 } from '../../../../src/ip/ipv6.ts';
import { freeSubnets, freeSubnets6, isIpv6SubnetCompatible, isSubnetCompatible, outOfSubnetsMessage, type StoredLease } from '../../../../src/subnet/etcd/allocate.ts';

const c = (s: string) => parseCidr(s)!;
const ip = (s: string) => parseIpv4(s)!;
const range = (min: string, max: string, len = 24) => ({ subnetLen: len, subnetMin: ip(min), subnetMax: ip(max) });
const c6 = (s: string) => parseCidr6(s)!;
const range6 = (min: string, max: string, len = 64) => ({ subnetLen: len, subnetMin: parseIpv6(min)!, subnetMax: parseIpv6(max)! });

describe('isSubnetCompatible (upstream isSubnetConfigCompat)', () => {
  const r = range('10.5.1.0', '10.5.255.0');
  it.each([
    ['10.5.1.0/24', true],
    ['10.5.255.0/24', true],
    ['10.5.0.0/24', false],
    ['10.6.0.0/24', false],
    ['10.5.7.0/25', false],
  ])('%s → %s', (s, ok) => expect(isSubnetCompatible(r, c(s))).toBe(ok));
});

describe('isIpv6SubnetCompatible (upstream isIPv6SubnetConfigCompat)', () => {
  const dual = { ...range('10.5.1.0', '10.5.255.0'), ipv6: range6('fd00:5:0:1::', 'fd00:5:0:ff::') };
  it.each([
    ['fd00:5:0:1::/64', true],
    ['fd00:5:0:ff::/64', true],
    ['fd00:5::/64', false],
    ['fd00:5:0:100::/64', false],
    ['fd00:5:0:7::/65', false],
    [undefined, false],
  ])('dual-stack: %s → %s', (s, ok) => expect(isIpv6SubnetCompatible(dual, s === undefined ? undefined : c6(s))).toBe(ok));

  it('an IPv4-only network wants no IPv6 half', () => {
    const v4 = range('10.5.1.0', '10.5.255.0');
    expect(isIpv6SubnetCompatible(v4, undefined)).toBe(true);
    expect(isIpv6SubnetCompatible(v4, c6('fd00:5:0:1::/64'))).toBe(false);
  });
});

describe('freeSubnets6', () => {
  it('walks the IPv6 range as freeSubnets walks the IPv4 one', () => {
    const free = freeSubnets6(range6('fd00:5:0:1::', 'fd00:5:0:ff::'), [c6('fd00:5:0:2::/64'), c6('fd00:5:0:4::/63'), c6('fd00:5:0:9:8000::/65')]);
    expect(free.slice(0, 6).map(formatCidr6)).toEqual(['fd00:5:0:1::/64', 'fd00:5:0:3::/64', 'fd00:5:0:6::/64', 'fd00:5:0:7::/64', 'fd00:5:0:8::/64', 'fd00:5:0:a::/64']);
    expect(free).toHaveLength(100);
  });

  it('a range of 2^64 subnets is walked only up to the limit', () => {
    expect(freeSubnets6(range6('fd00::', 'fd00:ffff:ffff:ffff::'), [], 3).map(formatCidr6)).toEqual(['fd00::/64', 'fd00:0:0:1::/64', 'fd00:0:0:2::/64']);
  });
});

describe('freeSubnets', () => {
  it('walks from SubnetMin in SubnetLen steps, skipping every subnet that overlaps a lease, up to 100', () => {
    const free = freeSubnets(range('10.5.1.0', '10.5.255.0'), [c('10.5.2.0/24'), c('10.5.4.0/23'), c('10.5.9.128/25')]);
    expect(free.slice(0, 6).map(formatCidr)).toEqual(['10.5.1.0/24', '10.5.3.0/24', '10.5.6.0/24', '10.5.7.0/24', '10.5.8.0/24', '10.5.10.0/24']);
    expect(free).toHaveLength(100);
  });

  it('a lease wider than the subnets (an old config) hides all of them', () => {
    expect(freeSubnets(range('10.5.1.0', '10.5.8.0'), [c('10.5.0.0/20')])).toEqual([]);
  });

  it('nested and unsorted leases', () => {
    const free = freeSubnets(range('10.5.0.0', '10.5.7.0'), [c('10.5.6.0/24'), c('10.5.0.0/22'), c('10.5.1.0/24')]);
    expect(free.map(formatCidr)).toEqual(['10.5.4.0/24', '10.5.5.0/24', '10.5.7.0/24']);
  });

  it('stays cheap with thousands of leases', () => {
    const leases = Array.from({ length: 60_000 }, (_, i) => ({ ip: ip('10.0.0.0') + i * 256, prefixLen: 24 }));
    const free = freeSubnets(range('10.0.1.0', '10.255.255.0'), leases);
    expect(free[0] && formatCidr(free[0])).toBe('10.234.96.0/24');
  });
});

describe('outOfSubnetsMessage', () => {
  const lease = (subnet: string, publicIp: string | undefined, createRevision: number, lease = '7587'): StoredLease => ({
    key: `/coreos.com/network/subnets/${subnet.replace('/', '-')}`,
    subnet: c(subnet),
    ...(publicIp ? { attrs: { publicIp, backendType: 'vxlan', backendData: 'null' } } : {}),
    lease,
    createRevision,
  });

  it('names the range, the count, reservations and the three oldest holders by creation revision', () => {
    const msg = outOfSubnetsMessage(
      range('10.5.1.0', '10.5.4.0'),
      [lease('10.5.3.0/24', '198.18.0.13', 40), lease('10.5.1.0/24', '198.18.0.11', 12), lease('10.5.4.0/24', undefined, 30), lease('10.5.2.0/24', '198.18.0.12', 5, '0')],
      '/coreos.com/network/subnets/',
    );
    expect(msg).toBe(
      'out of subnets: all 4 /24 subnets from 10.5.1.0 to 10.5.4.0 are taken; 4 leases under /coreos.com/network/subnets/ (1 of them reservations without TTL); ' +
        'oldest holders: 10.5.1.0/24 held by 198.18.0.11 (created at revision 12), 10.5.4.0/24 held by (unreadable value) (created at revision 30), 10.5.3.0/24 held by 198.18.0.13 (created at revision 40). ' +
        'Leases of nodes that are gone expire 24 h after their last renewal; free a subnet now with `etcdctl del /coreos.com/network/subnets/10.5.1.0-24`, or widen Network, SubnetMin or SubnetMax',
    );
  });

  it('names the IPv6 range when that is what ran out, and each holder by both subnets', () => {
    const dual = { ...range('10.5.1.0', '10.5.4.0'), ipv6: range6('fd00:5:0:1::', 'fd00:5:0:2::') };
    const held = (v4: string, v6: string, publicIp: string, rev: number): StoredLease => ({
      key: `/coreos.com/network/subnets/${v4.replace('/', '-')}&${v6.replace('/', '-')}`,
      subnet: c(v4),
      ipv6Subnet: c6(v6),
      attrs: { publicIp, backendType: 'vxlan', backendData: 'null' },
      lease: '7587',
      createRevision: rev,
    });
    const msg = outOfSubnetsMessage(dual, [held('10.5.2.0/24', 'fd00:5:0:2::/64', '198.18.0.12', 9), held('10.5.1.0/24', 'fd00:5:0:1::/64', '198.18.0.11', 4)], '/coreos.com/network/subnets/', 'ipv6');
    expect(msg).toBe(
      'out of IPv6 subnets: all 2 /64 subnets from fd00:5:0:1:: to fd00:5:0:2:: are taken; 2 leases under /coreos.com/network/subnets/; ' +
        'oldest holders: 10.5.1.0/24&fd00:5:0:1::/64 held by 198.18.0.11 (created at revision 4), 10.5.2.0/24&fd00:5:0:2::/64 held by 198.18.0.12 (created at revision 9). ' +
        'Leases of nodes that are gone expire 24 h after their last renewal; free a subnet now with `etcdctl del /coreos.com/network/subnets/10.5.1.0-24&fd00:5:0:1::-64`, or widen IPv6Network, IPv6SubnetMin or IPv6SubnetMax',
    );
  });
});
