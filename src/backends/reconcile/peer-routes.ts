import { containsAnyCidr, familyOf, overlapsCidr, parseCidrOf, type IpCidr, type IpFamily } from '../../ip/cidr.ts';
import type { NetlinkHandle, Route } from '../../netlink/types.ts';
import { AF_INET, AF_INET6, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTN_UNICAST, RTPROT_KERNEL } from '../../netlink/types.ts';
import type { PlannedOp } from './apply-ops.ts';
import { routeDeleteKey } from './expected-deletes.ts';
import type { ForPeer, KeyedDiff } from './keyed-diff.ts';

/** The metric the kernel gives an IPv6 route added without one (IP6_RT_PRIO_USER); IPv4's is 0. */
const IPV6_DEFAULT_METRIC = 1024;

/**
 * Route identity as the kernel sees it within one table: destination and metric. A route we
 * want has the family's default metric (0, or 1024 for IPv6, which the kernel sets), so a
 * same-destination route with another metric is a different object (and, if we own it, a
 * stale one).
 */
export function routeKey(r: Route): string {
  const metric = r.priority ?? 0;
  const dst = r.dst ?? (r.family === AF_INET6 ? '::/0' : '0.0.0.0/0');
  return metric === 0 || (metric === IPV6_DEFAULT_METRIC && r.family === AF_INET6) ? dst : `${dst} metric ${metric}`;
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

/** The netlink address family of an IP family. */
export function afOf(family: IpFamily): typeof AF_INET | typeof AF_INET6 {
  return family === 'ipv4' ? AF_INET : AF_INET6;
}

/**
 * Ownership of routes on the external interface, shared by host-gw and vxlan DirectRouting, per
 * family: main-table routes of the network's family that the kernel did not make, whose
 * destination lies strictly inside the flannel Network (or IPv6Network; a peer's subnet, never
 * the network itself) and does not overlap the own subnet. Anything else on that interface (the
 * default route, the underlay's connected route) is the host's.
 */
export function isPeerRouteOn(r: Route, oif: number, network: IpCidr, own: IpCidr): boolean {
  if (r.oif !== oif || !isOurKindOfRoute(r) || r.dst === undefined) return false;
  const family = familyOf(network);
  if (r.family !== afOf(family)) return false;
  const dst = parseCidrOf(family, r.dst);
  if (dst === undefined || dst.prefixLen <= network.prefixLen || !containsAnyCidr(network, dst)) return false;
  return !overlapsCidr(dst, own);
}

/** A route to a destination another backend of this node programs (Desired.foreignRoutes). */
export function isForeign(r: Route, foreign: ReadonlySet<string> | undefined): boolean {
  return foreign !== undefined && r.dst !== undefined && foreign.has(r.dst);
}

/** Main table, not a kernel-made connected/local route. */
export function isOurKindOfRoute(r: Route): boolean {
  return (r.table ?? RT_TABLE_MAIN) === RT_TABLE_MAIN && r.protocol !== RTPROT_KERNEL;
}

/** Deletes of routes we own and no peer wants; the drift monitor is told to expect each. */
export function routeDeleteOps(stale: readonly Route[]): PlannedOp[] {
  return stale.map((r) => ({ action: 'delete', type: 'route', subnet: undefined, node: undefined, queue: (b) => b.routeDel(r), deleteKey: routeDeleteKey(r.dst, r.oif), obj: r }));
}

/**
 * A wanted route that moves to another device (a host-gw route on eth0 becoming vxlan's onlink
 * route on flannel-v6.1, after a backend change while the daemon was down) is deleted and added,
 * not replaced: the kernel refuses an IPv6 onlink route whose gateway it still routes through
 * another device ("Nexthop has invalid gateway or device mismatch"), which is the route being
 * replaced. Deletes go first in every run, so the add finds the way clear.
 */
export function separateDeviceMoves<W extends ForPeer<Route>>(diff: KeyedDiff<W, Route>): KeyedDiff<W, Route> {
  const moved = diff.replace.filter(([w, h]) => w.obj.oif !== h.oif);
  if (moved.length === 0) return diff;
  return {
    create: [...diff.create, ...moved.map(([w]) => w)],
    replace: diff.replace.filter(([w, h]) => w.obj.oif === h.oif),
    remove: [...diff.remove, ...moved.map(([, h]) => h)],
    unchanged: diff.unchanged,
  };
}

/** The wanted routes that are missing or differ, as `ip route replace` (idempotent either way). */
export function routeSetOps(diff: KeyedDiff<ForPeer<Route>, Route>): PlannedOp[] {
  const ops: PlannedOp[] = [];
  for (const w of diff.create) ops.push({ action: 'create', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj), writeKey: routeDeleteKey(w.obj.dst, w.obj.oif), obj: w.obj });
  for (const [w] of diff.replace) ops.push({ action: 'replace', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj), writeKey: routeDeleteKey(w.obj.dst, w.obj.oif), obj: w.obj });
  return ops;
}

/**
 * Retiring a backend: removes every peer route of the network's family we own on the external
 * interface (see isPeerRouteOn), except those to `foreign` destinations (another backend's).
 */
export async function deletePeerRoutes(nl: NetlinkHandle, extIndex: number, network: IpCidr, own: IpCidr, foreign?: ReadonlySet<string>): Promise<void> {
  const routes = await nl.routeList({ family: afOf(familyOf(network)), table: RT_TABLE_MAIN });
  const b = nl.batch();
  for (const r of routes) if (isPeerRouteOn(r, extIndex, network, own) && !isForeign(r, foreign)) b.routeDel(r);
  if (b.size > 0) await b.run();
}
