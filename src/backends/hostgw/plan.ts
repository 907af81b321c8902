import type { Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatCidr, parseIpv4 } from '../../ip/ipv4.ts';
import type { Route } from '../../netlink/types.ts';
import { AF_INET } from '../../netlink/types.ts';
import type { Lease } from '../../subnet/lease.ts';
import type { ForPeer, KeyedDiff } from '../reconcile/keyed-diff.ts';
import { diffKeyed } from '../reconcile/keyed-diff.ts';
import { isPeerRouteOn, routeKey, sameRoute } from '../reconcile/peer-routes.ts';
import type { SkippedPeers } from '../reconcile/warn-once.ts';

export interface HostGwPlanInput {
  readonly network: Ipv4Cidr;
  readonly own: Ipv4Cidr;
  readonly peers: ReadonlyMap<string, Lease>;
  readonly extIndex: number;
  readonly routes: readonly Route[];
}

export interface HostGwPlan extends SkippedPeers {
  readonly route: KeyedDiff<ForPeer<Route>, Route>;
}

/**
 * Desired: `<subnet> via <public ip> dev <ext>` per host-gw peer (upstream's
 * pkg/backend/hostgw/hostgw.go builds the same route). Owned: main-table routes on the
 * external interface to peer subnets inside Network (see peer-routes.ts), so routes of peers
 * deleted while we were down are removed too — upstream's route_network.go never removes them.
 */
export function planHostGw(input: HostGwPlanInput): HostGwPlan {
  const want = new Map<string, ForPeer<Route>>();
  const otherBackend: Lease[] = [];
  const invalid: { lease: Lease; reason: string }[] = [];
  for (const [subnet, lease] of input.peers) {
    if (lease.attrs.backendType !== 'host-gw') {
      otherBackend.push(lease);
      continue;
    }
    if (parseIpv4(lease.attrs.publicIp) === undefined) {
      invalid.push({ lease, reason: `public IP ${JSON.stringify(lease.attrs.publicIp)} is not IPv4` });
      continue;
    }
    const dst = formatCidr(lease.subnet);
    want.set(dst, { subnet, node: lease.node, obj: { family: AF_INET, dst, gateway: lease.attrs.publicIp, oif: input.extIndex } });
  }
  const have = new Map<string, Route>();
  for (const r of input.routes) if (r.family === AF_INET && isPeerRouteOn(r, input.extIndex, input.network, input.own)) have.set(routeKey(r), r);
  return { route: diffKeyed(want, have, (w, h) => sameRoute(w.obj, h)), otherBackend, invalid };
}
