import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr, parseIpv4 } from '../../../../src/ip/ipv4.ts';
import { freeSubnets, isSubnetCompatible, outOfSubnetsMessage, type StoredLease } from '../../../../src/subnet/etcd/allocate.ts';

const c = (s: string) => parseCidr(s)!;
const ip = (s: string) => parseIpv4(s)!;
const range = (min: string, max: string, len = 24) => ({ subnetLen: len, subnetMin: ip(min), subnetMax: ip(max) });

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
});
