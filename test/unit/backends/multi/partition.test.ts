import { describe, expect, it } from 'vitest';
import { advertisedBackend, countByType, foreignRoutesFor, leavingPeers, partitionPeers, type BackendType } from '../../../../src/backends/multi/partition.ts';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../../../src/ip/ipv6.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';

const lease = (n: number, backendType: string, v6 = false): Lease => ({
  subnet: parseCidr(`10.244.${n}.0/24`)!,
  ...(v6 ? { ipv6Subnet: parseCidr6(`fd00:10:244:${n}::/64`)! } : {}),
  attrs: { backendType, publicIp: `198.18.0.${n}`, backendData: 'null' },
  node: `node${n}`,
});
const peers = (...ls: Lease[]): Map<string, Lease> => new Map(ls.map((l) => [`10.244.${l.node!.slice(4)}.0/24`, l]));

describe('advertisedBackend', () => {
  it('reads backend-type, with the empty type as udp (upstream publishes none for udp)', () => {
    expect(advertisedBackend(lease(2, 'vxlan'))).toBe('vxlan');
    expect(advertisedBackend(lease(2, 'host-gw'))).toBe('host-gw');
    expect(advertisedBackend(lease(2, ''))).toBe('udp');
    expect(advertisedBackend(lease(2, 'udp'))).toBe('udp');
    expect(advertisedBackend(lease(2, 'wireguard'))).toBeUndefined();
  });
});

describe('partitionPeers', () => {
  it('groups the peers by the backend they advertise and sets aside the ones flannel-ts does not implement', () => {
    const p = partitionPeers(peers(lease(2, 'vxlan'), lease(3, 'host-gw'), lease(4, ''), lease(5, 'vxlan'), lease(6, 'ipip')));
    expect([...p.byType.get('vxlan')!.keys()]).toEqual(['10.244.2.0/24', '10.244.5.0/24']);
    expect([...p.byType.get('host-gw')!.keys()]).toEqual(['10.244.3.0/24']);
    expect([...p.byType.get('udp')!.keys()]).toEqual(['10.244.4.0/24']);
    expect(p.unsupported.map((l) => l.node)).toEqual(['node6']);
    expect(countByType(p)).toEqual(new Map([['vxlan', 2], ['host-gw', 1], ['udp', 1]]));
  });
});

describe('foreignRoutesFor', () => {
  const byType = partitionPeers(peers(lease(2, 'vxlan', true), lease(3, 'host-gw', true), lease(4, ''))).byType;
  const all = new Set<BackendType>(['vxlan', 'host-gw', 'udp']);
  it("is the other running routed backends' peer subnets, both families", () => {
    expect(foreignRoutesFor('vxlan', byType, all)).toEqual(new Set(['10.244.3.0/24', 'fd00:10:244:3::/64']));
    expect(foreignRoutesFor('host-gw', byType, all)).toEqual(new Set(['10.244.2.0/24', 'fd00:10:244:2::/64']));
    // udp routes the whole Network, not each peer: its peers' stale routes are not protected.
    expect(foreignRoutesFor('udp', byType, all)).toEqual(new Set(['10.244.2.0/24', 'fd00:10:244:2::/64', '10.244.3.0/24', 'fd00:10:244:3::/64']));
  });
  it('leaves out backends that do not run (their peers cannot be programmed)', () => {
    expect(foreignRoutesFor('vxlan', byType, new Set<BackendType>(['vxlan', 'udp']))).toEqual(new Set());
  });
});

describe('leavingPeers', () => {
  it('are the peers an instance served that now advertise another running backend, with their old leases', () => {
    const old = lease(2, 'vxlan');
    const served = peers(old, lease(3, 'vxlan'), lease(4, 'vxlan'), lease(5, 'vxlan'));
    const now = partitionPeers(peers(lease(2, 'host-gw'), lease(3, 'vxlan'), lease(5, 'wireguard'))).byType;
    const leaving = leavingPeers('vxlan', served, now, new Set<BackendType>(['vxlan', 'host-gw']));
    // node3 stays, node4 is gone, node5 moved to a backend nobody runs here: only node2 leaves.
    expect([...leaving]).toEqual([['10.244.2.0/24', old]]);
    expect(leavingPeers('vxlan', served, now, new Set<BackendType>(['vxlan'])).size).toBe(0);
  });
});
