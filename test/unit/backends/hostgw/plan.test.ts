import { describe, expect, it } from 'vitest';
import { planHostGw } from '../../../../src/backends/hostgw/plan.ts';
import { isPeerRouteOn } from '../../../../src/backends/reconcile/peer-routes.ts';
import { parseCidrOf, type IpFamily } from '../../../../src/ip/cidr.ts';
import { parseCidr6 } from '../../../../src/ip/ipv6.ts';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import type { Route } from '../../../../src/netlink/types.ts';
import { AF_INET, AF_INET6, RTPROT_KERNEL } from '../../../../src/netlink/types.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';

const EXT = 2;
const scope = (family: IpFamily) =>
  family === 'ipv4'
    ? { family, network: parseCidrOf('ipv4', '10.244.0.0/16')!, own: parseCidrOf('ipv4', '10.244.1.0/24')! }
    : { family, network: parseCidrOf('ipv6', 'fd00:10:244::/56')!, own: parseCidrOf('ipv6', 'fd00:10:244:1::/64')! };

/** A dual-stack host-gw peer n, or one without its IPv6 half. */
function peer(n: number, halves: 'dual' | 'v4' | 'v6' = 'dual', type = 'host-gw'): [string, Lease] {
  const v4 = halves !== 'v6';
  const v6 = halves !== 'v4';
  const lease: Lease = {
    ...(v4 ? { subnet: parseCidr(`10.244.${n}.0/24`)! } : {}),
    ...(v6 ? { ipv6Subnet: parseCidr6(`fd00:10:244:${n}::/64`)! } : {}),
    attrs: { backendType: type, ...(v4 ? { publicIp: `198.18.0.${n}`, backendData: 'null' } : {}), ...(v6 ? { publicIpv6: `fd00:198:18::${n}`, backendV6Data: 'null' } : {}) },
    node: `node${n}`,
  };
  return [v4 ? `10.244.${n}.0/24` : `fd00:10:244:${n}::/64`, lease];
}
const route6 = (n: number, over: Partial<Route> = {}): Route => ({ family: AF_INET6, dst: `fd00:10:244:${n}::/64`, gateway: `fd00:198:18::${n}`, oif: EXT, ...over });

describe('planHostGw per family', () => {
  it('wants one IPv6 route per peer via its public IPv6, keyed by the peer', () => {
    const p = planHostGw({ scope: scope('ipv6'), peers: new Map([peer(2), peer(3)]), extIndex: EXT, routes: [] });
    expect(p.route.create.map((w) => [w.subnet, w.obj])).toEqual([
      ['10.244.2.0/24', route6(2)],
      ['10.244.3.0/24', route6(3)],
    ]);
    const p4 = planHostGw({ scope: scope('ipv4'), peers: new Map([peer(2)]), extIndex: EXT, routes: [] });
    expect(p4.route.create.map((w) => w.obj)).toEqual([{ family: AF_INET, dst: '10.244.2.0/24', gateway: '198.18.0.2', oif: EXT }]);
  });

  it('programs a peer without its IPv6 half for IPv4 only, and an IPv6-only peer for IPv6 only', () => {
    const peers = new Map([peer(2, 'v4'), peer(3, 'v6')]);
    expect(planHostGw({ scope: scope('ipv6'), peers, extIndex: EXT, routes: [] }).route.create.map((w) => w.obj.dst)).toEqual(['fd00:10:244:3::/64']);
    expect(planHostGw({ scope: scope('ipv4'), peers, extIndex: EXT, routes: [] }).route.create.map((w) => w.obj.dst)).toEqual(['10.244.2.0/24']);
    expect(planHostGw({ scope: scope('ipv6'), peers, extIndex: EXT, routes: [] }).invalid).toEqual([]);
  });

  it('adopts, replaces a changed gateway, and removes IPv6 routes of peers that are gone, leaving the host’s routes alone', () => {
    const host: Route[] = [
      { family: AF_INET6, dst: 'fd00:198:18::/64', oif: EXT, protocol: RTPROT_KERNEL },
      { family: AF_INET6, gateway: 'fe80::1', oif: EXT },
      { family: AF_INET6, dst: 'fd00:10:244::/56', gateway: 'fd00:198:18::1', oif: EXT },
      { family: AF_INET6, dst: 'fd00:10:244:1:8000::/65', gateway: 'fd00:198:18::1', oif: EXT },
    ];
    const p = planHostGw({
      scope: scope('ipv6'),
      peers: new Map([peer(2), peer(3)]),
      extIndex: EXT,
      routes: [...host, route6(2), route6(3, { gateway: 'fd00:198:18::99' }), route6(9)],
    });
    expect(p.route.unchanged).toBe(1);
    expect(p.route.replace.map(([w]) => w.obj.gateway)).toEqual(['fd00:198:18::3']);
    expect(p.route.remove).toEqual([route6(9)]);
  });

  it('neither wants nor removes routes another backend of the node programs (a peer reached over vxlan)', () => {
    const vxlanRoute: Route = { family: AF_INET, dst: '10.244.3.0/24', gateway: '198.18.0.3', oif: EXT };
    const p = planHostGw({ scope: scope('ipv4'), peers: new Map([peer(2, 'v4'), peer(3, 'v4')]), extIndex: EXT, routes: [vxlanRoute], foreign: new Set(['10.244.3.0/24']) });
    expect(p.route.create.map((w) => w.obj.dst)).toEqual(['10.244.2.0/24']);
    expect(p.route.remove).toEqual([]);
    expect(p.route.unchanged).toBe(0);
  });

  it('reports a peer whose public IPv6 is not IPv6', () => {
    const [key, lease] = peer(2);
    const bad: Lease = { ...lease, attrs: { ...lease.attrs, publicIpv6: '198.18.0.2' } };
    expect(planHostGw({ scope: scope('ipv6'), peers: new Map([[key, bad]]), extIndex: EXT, routes: [] }).invalid.map((i) => i.reason)).toEqual(['public IP "198.18.0.2" is not IPv6']);
  });

  it('route ownership is per family: an IPv4 network never owns an IPv6 route and back', () => {
    expect(isPeerRouteOn(route6(2), EXT, scope('ipv4').network, scope('ipv4').own)).toBe(false);
    expect(isPeerRouteOn(route6(2), EXT, scope('ipv6').network, scope('ipv6').own)).toBe(true);
    expect(isPeerRouteOn(route6(1), EXT, scope('ipv6').network, scope('ipv6').own)).toBe(false);
    expect(isPeerRouteOn({ family: AF_INET, dst: '10.244.2.0/24', gateway: '198.18.0.2', oif: EXT }, EXT, scope('ipv6').network, scope('ipv6').own)).toBe(false);
  });
});
