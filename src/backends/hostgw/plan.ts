import { formatAnyCidr, isAddressOf } from '../../ip/cidr.ts';
import type { Route } from '../../netlink/types.ts';
import { leaseHalf, type Lease } from '../../subnet/lease.ts';
import type { FamilyScope } from '../backend.ts';
import type { ForPeer, KeyedDiff } from '../reconcile/keyed-diff.ts';
import { diffKeyed } from '../reconcile/keyed-diff.ts';
import { afOf, isForeign, isPeerRouteOn, routeKey, sameRoute } from '../reconcile/peer-routes.ts';
import type { SkippedPeers } from '../reconcile/warn-once.ts';

export interface HostGwPlanInput {
  /** The family planned, its network and the own subnet. */
  readonly scope: FamilyScope;
  readonly peers: ReadonlyMap<string, Lease>;
  readonly extIndex: number;
  /** Routes of the scope's family. */
  readonly routes: readonly Route[];
  /** Route destinations another backend of this node programs (Desired.foreignRoutes): neither wanted nor owned here. */
  readonly foreign?: ReadonlySet<string>;
}

export interface HostGwPlan extends SkippedPeers {
  readonly route: KeyedDiff<ForPeer<Route>, Route>;
  /** What was diffed, by the keys of HOSTGW_KEYS: the wanted routes and the owned ones found. */
  readonly wanted: { readonly route: ReadonlyMap<string, ForPeer<Route>> };
  readonly owned: { readonly route: ReadonlyMap<string, Route> };
}

/** How the kernel tells our routes apart (the keys of the plan's maps). */
export const HOSTGW_KEYS = { route: routeKey };

/**
 * Desired, for one family: `<subnet> via <public ip> dev <ext>` per host-gw peer with a half of
 * that family (upstream's pkg/backend/hostgw/hostgw.go builds the same route, GetV6Route with the
 * public IPv6). Owned: main-table routes on the external interface to peer subnets inside the
 * family's network (see peer-routes.ts), so routes of peers deleted while we were down are
 * removed too — upstream's route_network.go never removes them. Destinations in `foreign` are
 * another backend's (a peer reached over vxlan): neither wanted nor owned here.
 */
export function planHostGw(input: HostGwPlanInput): HostGwPlan {
  const { family, network, own } = input.scope;
  const af = afOf(family);
  const want = new Map<string, ForPeer<Route>>();
  const otherBackend: Lease[] = [];
  const invalid: { lease: Lease; reason: string }[] = [];
  for (const [subnet, lease] of input.peers) {
    if (lease.attrs.backendType !== 'host-gw') {
      otherBackend.push(lease);
      continue;
    }
    const half = leaseHalf(lease, family);
    if (half === undefined) continue; // no half of this family: the subnet manager reported it
    if (half.publicIp === undefined || !isAddressOf(family, half.publicIp)) {
      invalid.push({ lease, reason: `public IP ${JSON.stringify(half.publicIp)} is not ${family === 'ipv4' ? 'IPv4' : 'IPv6'}` });
      continue;
    }
    const dst = formatAnyCidr(half.subnet);
    if (input.foreign?.has(dst) === true) continue;
    const obj: Route = { family: af, dst, gateway: half.publicIp, oif: input.extIndex };
    want.set(routeKey(obj), { subnet, node: lease.node, obj });
  }
  const have = new Map<string, Route>();
  for (const r of input.routes) if (r.family === af && isPeerRouteOn(r, input.extIndex, network, own) && !isForeign(r, input.foreign)) have.set(routeKey(r), r);
  return { route: diffKeyed(want, have, (w, h) => sameRoute(w.obj, h)), wanted: { route: want }, owned: { route: have }, otherBackend, invalid };
}
