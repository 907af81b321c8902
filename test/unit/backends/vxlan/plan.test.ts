import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../../../src/ip/ipv6.ts';
import type { Neigh, Route } from '../../../../src/netlink/types.ts';
import { AF_BRIDGE, AF_INET, AF_INET6, NTF_SELF, NUD_PERMANENT, RTPROT_KERNEL } from '../../../../src/netlink/types.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';
import { formatVxlanBackendData, peerVtepMac, randomMac } from '../../../../src/backends/vxlan/mac.ts';
import { planVxlan, type VxlanKernelState, type VxlanPlanInput } from '../../../../src/backends/vxlan/plan.ts';

const DEV = 7;
const EXT = 2;
const network = parseCidr('10.244.0.0/16')!;
const own = parseCidr('10.244.1.0/24')!;

function peer(n: number, mac = `0a:00:00:00:00:0${n}`, publicIp = `198.18.0.${n}`, type = 'vxlan'): [string, Lease] {
  const subnet = `10.244.${n}.0/24`;
  return [subnet, { subnet: parseCidr(subnet)!, node: `node${n}`, attrs: { publicIp, backendType: type, backendData: type === 'vxlan' ? formatVxlanBackendData(1, mac) : 'null' } }];
}
const neigh = (n: number, mac = `0a:00:00:00:00:0${n}`, state = NUD_PERMANENT): Neigh => ({ index: DEV, family: AF_INET, ip: `10.244.${n}.0`, mac, state });
const fdb = (n: number, mac = `0a:00:00:00:00:0${n}`, ip = `198.18.0.${n}`): Neigh => ({ index: DEV, family: AF_BRIDGE, ip, mac, state: NUD_PERMANENT, flags: NTF_SELF });
const route = (n: number): Route => ({ family: AF_INET, dst: `10.244.${n}.0/24`, gateway: `10.244.${n}.0`, oif: DEV, onlink: true });

function input(peers: [string, Lease][], have: Partial<VxlanKernelState> = {}, onLink?: string[]): VxlanPlanInput {
  return {
    scope: { family: 'ipv4', network, own }, peers: new Map(peers), deviceIndex: DEV, extIndex: EXT,
    onLink: onLink === undefined ? undefined : new Set(onLink),
    have: { neighs: have.neighs ?? [], fdbs: have.fdbs ?? [], routes: have.routes ?? [] },
  };
}

describe('planVxlan', () => {
  it('wants a neighbour, an fdb entry and an onlink route per vxlan peer', () => {
    const p = planVxlan(input([peer(2)]));
    expect(p.neigh.create.map((w) => w.obj)).toEqual([neigh(2)]);
    expect(p.fdb.create.map((w) => w.obj)).toEqual([fdb(2)]);
    expect(p.route.create.map((w) => w.obj)).toEqual([route(2)]);
    expect(p.route.create[0]).toMatchObject({ subnet: '10.244.2.0/24', node: 'node2' });
  });

  it('adopts matching state with zero changes', () => {
    const p = planVxlan(input([peer(2), peer(3)], { neighs: [neigh(2), neigh(3)], fdbs: [fdb(2), fdb(3)], routes: [route(2), route(3)] }));
    for (const d of [p.neigh, p.fdb, p.route]) expect({ c: d.create.length, r: d.replace.length, x: d.remove.length }).toEqual({ c: 0, r: 0, x: 0 });
    expect(p.neigh.unchanged + p.fdb.unchanged + p.route.unchanged).toBe(6);
  });

  it('removes everything of a peer that is gone, and of peers deleted while we were down', () => {
    const p = planVxlan(input([peer(2)], { neighs: [neigh(2), neigh(9)], fdbs: [fdb(2), fdb(9)], routes: [route(2), route(9)] }));
    expect(p.neigh.remove).toEqual([neigh(9)]);
    expect(p.fdb.remove).toEqual([fdb(9)]);
    expect(p.route.remove).toEqual([route(9)]);
  });

  it('after a VtepMAC change replaces the neighbour and swaps the fdb entry, leaving no stale one', () => {
    const p = planVxlan(input([peer(2, '0a:00:00:00:00:22')], { neighs: [neigh(2)], fdbs: [fdb(2)], routes: [route(2)] }));
    expect(p.neigh.replace.map(([w]) => w.obj.mac)).toEqual(['0a:00:00:00:00:22']);
    expect(p.fdb.remove).toEqual([fdb(2)]);
    expect(p.fdb.create.map((w) => w.obj)).toEqual([fdb(2, '0a:00:00:00:00:22')]);
    expect(p.route.unchanged).toBe(1);
  });

  it('after a public IP change swaps the fdb entry and drops extra remotes of the same MAC', () => {
    const p = planVxlan(input([peer(2, undefined, '198.18.0.52')], { fdbs: [fdb(2), fdb(2, undefined, '198.18.0.99'), fdb(2, undefined, '198.18.0.52')] }));
    expect(p.fdb.remove.map((f) => f.ip)).toEqual(['198.18.0.2', '198.18.0.99']);
    expect(p.fdb.create).toEqual([]);
    expect(p.fdb.unchanged).toBe(1);
  });

  it('owns only permanent entries on the device and only peer routes on the external interface', () => {
    const p = planVxlan(input([], {
      neighs: [neigh(5, '0a:00:00:00:00:05', 0x02), { ...neigh(6), index: 99 }],
      fdbs: [{ ...fdb(5), state: 0x02 }],
      routes: [
        { family: AF_INET, dst: '198.18.0.0/24', oif: EXT, protocol: RTPROT_KERNEL },
        { family: AF_INET, gateway: '198.18.0.1', oif: EXT },
        { family: AF_INET, dst: '10.244.0.0/16', oif: EXT },
        { family: AF_INET, dst: '10.244.1.0/24', oif: EXT },
        { family: AF_INET, dst: '10.244.1.0/25', oif: EXT },
        { family: AF_INET, dst: '10.250.0.0/24', gateway: '198.18.0.9', oif: EXT },
        { family: AF_INET, dst: '10.244.8.0/24', gateway: '198.18.0.8', oif: EXT },
        { family: AF_INET, dst: '10.244.9.0/24', gateway: '10.244.9.0', oif: 99, onlink: true },
        { family: AF_INET, dst: '10.244.7.0/24', gateway: '10.244.7.0', oif: DEV, onlink: true, table: 100 },
      ],
    }));
    expect(p.neigh.remove).toEqual([]);
    expect(p.fdb.remove).toEqual([]);
    expect(p.route.remove.map((r) => r.dst)).toEqual(['10.244.8.0/24']);
  });

  it('replaces a non-permanent neighbour at a wanted address and a route with another gateway', () => {
    const p = planVxlan(input([peer(2)], { neighs: [neigh(2, '0a:00:00:00:00:02', 0x02)], routes: [{ ...route(2), onlink: false, gateway: '10.244.2.9' }] }));
    expect(p.neigh.replace).toHaveLength(1);
    expect(p.route.replace.map(([w]) => w.obj)).toEqual([route(2)]);
  });

  it('deletes and adds, never replaces, a route that moves to another device (IPv6 refuses that replace)', () => {
    const hostGw: Route = { family: AF_INET, dst: '10.244.2.0/24', gateway: '198.18.0.2', oif: EXT };
    const p = planVxlan(input([peer(2)], { routes: [hostGw] }));
    expect(p.route.replace).toEqual([]);
    expect(p.route.remove).toEqual([hostGw]);
    expect(p.route.create.map((w) => w.obj)).toEqual([route(2)]);
  });

  it('routes on-link peers directly with DirectRouting and removes their vxlan entries', () => {
    const p = planVxlan(input([peer(2), peer(3)], { neighs: [neigh(2)], fdbs: [fdb(2)], routes: [route(2)] }, ['198.18.0.2']));
    expect(p.route.remove).toEqual([route(2)]);
    expect(p.neigh.remove).toEqual([neigh(2)]);
    expect(p.fdb.remove).toEqual([fdb(2)]);
    expect(p.route.create.map((w) => w.obj)).toEqual([route(3), { family: AF_INET, dst: '10.244.2.0/24', gateway: '198.18.0.2', oif: EXT }]);
  });

  it('skips other backends and reports bad backend data and duplicate MACs', () => {
    const bad: [string, Lease] = ['10.244.4.0/24', { ...peer(4)[1], attrs: { publicIp: '198.18.0.4', backendType: 'vxlan', backendData: '{"VNI":1}' } }];
    const p = planVxlan(input([peer(2), peer(3, '0a:00:00:00:00:02'), bad, peer(5, undefined, undefined, 'host-gw')]));
    expect(p.otherBackend.map((l) => l.node)).toEqual(['node5']);
    expect(p.invalid.map((i) => `${i.lease.node}: ${i.reason}`)).toEqual([
      'node3: VtepMAC 0a:00:00:00:00:02 is already used by peer node2',
      'node4: backend-data has no VtepMAC string: {"VNI":1}',
    ]);
    expect(p.route.create).toHaveLength(1);
  });
});

describe('planVxlan next to other backends (foreign routes)', () => {
  const hostGw2: Route = { family: AF_INET, dst: '10.244.2.0/24', gateway: '198.18.0.2', oif: EXT };
  it('neither wants nor removes a route another backend of the node programs; a moving peer keeps its neighbour and fdb entry', () => {
    const p = planVxlan({ ...input([peer(2), peer(3)], { neighs: [neigh(2), neigh(3)], fdbs: [fdb(2), fdb(3)], routes: [hostGw2, route(3), route(9)] }), foreign: new Set(['10.244.2.0/24']) });
    expect(p.route.create).toEqual([]);
    expect(p.route.replace).toEqual([]);
    expect(p.route.remove).toEqual([route(9)]);
    expect(p.neigh.unchanged + p.fdb.unchanged).toBe(4);
  });
  it('the same with DirectRouting: no direct route to a foreign destination', () => {
    const p = planVxlan({ ...input([peer(2)], {}, ['198.18.0.2']), foreign: new Set(['10.244.2.0/24']) });
    expect(p.route.create).toEqual([]);
  });
  it('a route on flannel.1 to a peer another backend now routes is left for that backend to replace', () => {
    const p = planVxlan({ ...input([], { routes: [route(2)] }), foreign: new Set(['10.244.2.0/24']) });
    expect(p.route.remove).toEqual([]);
  });
});

describe('planVxlan for flannel-v6.N (the IPv6 half)', () => {
  const DEV6 = 8;
  const scope6 = { family: 'ipv6' as const, network: parseCidr6('fd00:10:244::/56')!, own: parseCidr6('fd00:10:244:1::/64')! };
  /** A dual-stack vxlan peer: its IPv6 half has its own VtepMAC (of flannel-v6.1) and public IPv6. */
  function peer6(n: number, v6 = true): [string, Lease] {
    const [key, lease] = peer(n);
    if (!v6) return [key, lease];
    return [key, { ...lease, ipv6Subnet: parseCidr6(`fd00:10:244:${n}::/64`)!, attrs: { ...lease.attrs, publicIpv6: `fd00:198:18::${n}`, backendV6Data: formatVxlanBackendData(1, `0a:00:00:00:00:1${n}`) } }];
  }
  const input6 = (peers: [string, Lease][], have: Partial<VxlanKernelState> = {}, onLink?: string[]): VxlanPlanInput => ({
    ...input(peers, have, onLink),
    scope: scope6,
    deviceIndex: DEV6,
  });
  const neigh6 = (n: number): Neigh => ({ index: DEV6, family: AF_INET6, ip: `fd00:10:244:${n}::`, mac: `0a:00:00:00:00:1${n}`, state: NUD_PERMANENT });
  const fdb6 = (n: number): Neigh => ({ index: DEV6, family: AF_BRIDGE, ip: `fd00:198:18::${n}`, mac: `0a:00:00:00:00:1${n}`, state: NUD_PERMANENT, flags: NTF_SELF });
  const route6 = (n: number): Route => ({ family: AF_INET6, dst: `fd00:10:244:${n}::/64`, gateway: `fd00:10:244:${n}::`, oif: DEV6, onlink: true });

  it('wants the IPv6 neighbour, fdb entry to the public IPv6 and onlink route, keyed by the peer', () => {
    const p = planVxlan(input6([peer6(2)]));
    expect(p.neigh.create.map((w) => w.obj)).toEqual([neigh6(2)]);
    expect(p.fdb.create.map((w) => w.obj)).toEqual([fdb6(2)]);
    expect(p.route.create.map((w) => w.obj)).toEqual([route6(2)]);
    expect(p.route.create[0]).toMatchObject({ subnet: '10.244.2.0/24', node: 'node2' });
  });

  it('leaves a peer without an IPv6 half out of the IPv6 plan without calling it invalid', () => {
    const p = planVxlan(input6([peer6(2), peer6(3, false)]));
    expect(p.route.create.map((w) => w.obj.dst)).toEqual(['fd00:10:244:2::/64']);
    expect(p.invalid).toEqual([]);
  });

  it('owns only IPv6 entries: IPv4 neighbours and routes in the input are not its business', () => {
    const p = planVxlan(input6([peer6(2)], { neighs: [neigh6(2), neigh6(9), neigh(3)], fdbs: [fdb6(2)], routes: [route6(2), route6(9), route(3)] }));
    expect(p.neigh.remove).toEqual([neigh6(9)]);
    expect(p.route.remove).toEqual([route6(9)]);
    expect(p.neigh.unchanged + p.fdb.unchanged + p.route.unchanged).toBe(3);
  });

  it('routes an on-link peer directly by its public IPv6 with DirectRouting', () => {
    const p = planVxlan(input6([peer6(2)], {}, ['fd00:198:18::2']));
    expect(p.route.create.map((w) => w.obj)).toEqual([{ family: AF_INET6, dst: 'fd00:10:244:2::/64', gateway: 'fd00:198:18::2', oif: EXT }]);
    expect(p.neigh.create).toEqual([]);
  });

  it('names backend-v6-data in what it reports', () => {
    const [key, lease] = peer6(2);
    const p = planVxlan(input6([[key, { ...lease, attrs: { ...lease.attrs, backendV6Data: '{"VNI":1}' } }]]));
    expect(p.invalid.map((i) => i.reason)).toEqual(['backend-v6-data has no VtepMAC string: {"VNI":1}']);
  });
});

describe('vxlan backend data', () => {
  it('is byte-exact and round-trips', () => {
    expect(formatVxlanBackendData(1, 'aa:bb:cc:dd:ee:ff')).toBe('{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}');
    expect(peerVtepMac('{"VNI":1,"VtepMAC":"AA:BB:CC:DD:EE:FE"}')).toEqual({ mac: 'aa:bb:cc:dd:ee:fe' });
    expect(peerVtepMac('{"VNI":1,"VtepMAC":"01:00:5e:00:00:01"}')).toEqual({ error: 'backend-data VtepMAC 01:00:5e:00:00:01 is not a unicast address' });
    expect(peerVtepMac('nope')).toMatchObject({ error: expect.stringContaining('not JSON') });
  });
  it('random MACs are locally administered unicast', () => {
    for (let i = 0; i < 50; i++) expect(parseInt(randomMac().slice(0, 2), 16) & 3).toBe(2);
  });
});
