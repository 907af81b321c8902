import type { Ipv4Cidr } from '../../ip/ipv4.ts';
import { cidrEquals, containsCidr, maskOf, parseCidr } from '../../ip/ipv4.ts';
import type { NetlinkHandle, Route } from '../../netlink/types.ts';
import { AF_INET, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTN_UNICAST, RTPROT_KERNEL } from '../../netlink/types.ts';
import type { PlannedOp } from './apply-ops.ts';
import { routeDeleteKey } from './expected-deletes.ts';
import type { ForPeer, KeyedDiff } from './keyed-diff.ts';

/**
 * Route identity as the kernel sees it within one table: destination and metric. A route we
 * want has metric 0, so a same-destination route with another metric is a different object
 * (and, if we own it, a stale one).
 */
export function routeKey(r: Route): string {
  const metric = r.priority ?? 0;
  return metric === 0 ? (r.dst ?? '0.0.0.0/0') : `${r.dst ?? '0.0.0.0/0'} metric ${metric}`;
}

/** The fields our routes set; everything else (protocol, preferred source) is left alone. */
export function sameRoute(want: Route, have: Route): boolean {
  return (
    (want.gateway ?? '') === (have.gateway ?? '') &&
    want.oif === have.oif &&
    (want.onlink ?? false) === (have.onlink ?? false) &&
    (have.type ?? RTN_UNICAST) === RTN_UNICAST &&
    (have.scope ?? RT_SCOPE_UNIVERSE) === RT_SCOPE_UNIVERSE
  );
}

/**
 * Ownership of routes on the external interface, shared by host-gw and vxlan DirectRouting:
 * main-table IPv4 routes that the kernel did not make, whose destination lies strictly inside
 * the flannel Network (a peer's subnet, never the Network itself) and does not overlap the own
 * subnet. Anything else on that interface (the default route, the underlay's connected route)
 * is the host's.
 */
export function isPeerRouteOn(r: Route, oif: number, network: Ipv4Cidr, own: Ipv4Cidr): boolean {
  if (r.oif !== oif || !isOurKindOfRoute(r) || r.dst === undefined) return false;
  const dst = parseCidr(r.dst);
  if (dst === undefined || dst.prefixLen <= network.prefixLen || !containsCidr(network, dst)) return false;
  return !overlaps(dst, own);
}

/** Main table, not a kernel-made connected/local route. */
export function isOurKindOfRoute(r: Route): boolean {
  return (r.table ?? RT_TABLE_MAIN) === RT_TABLE_MAIN && r.protocol !== RTPROT_KERNEL;
}

/** Deletes of routes we own and no peer wants; the drift monitor is told to expect each. */
export function routeDeleteOps(stale: readonly Route[]): PlannedOp[] {
  return stale.map((r) => ({ action: 'delete', type: 'route', subnet: undefined, node: undefined, queue: (b) => b.routeDel(r), deleteKey: routeDeleteKey(r.dst, r.oif) }));
}

/** The wanted routes that are missing or differ, as `ip route replace` (idempotent either way). */
export function routeSetOps(diff: KeyedDiff<ForPeer<Route>, Route>): PlannedOp[] {
  const ops: PlannedOp[] = [];
  for (const w of diff.create) ops.push({ action: 'create', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj), writeKey: routeDeleteKey(w.obj.dst, w.obj.oif) });
  for (const [w] of diff.replace) ops.push({ action: 'replace', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj), writeKey: routeDeleteKey(w.obj.dst, w.obj.oif) });
  return ops;
}

/** Backend switch: removes every peer route we own on the external interface (see isPeerRouteOn). */
export async function deletePeerRoutes(nl: NetlinkHandle, extIndex: number, network: Ipv4Cidr, own: Ipv4Cidr): Promise<void> {
  const routes = await nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN });
  const b = nl.batch();
  for (const r of routes) if (isPeerRouteOn(r, extIndex, network, own)) b.routeDel(r);
  if (b.size > 0) await b.run();
}

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const m = maskOf(Math.min(a.prefixLen, b.prefixLen));
  return ((a.ip & m) >>> 0) === ((b.ip & m) >>> 0) || cidrEquals(a, b);
}
