import type { Ipv4Cidr } from '../../ip/ipv4.ts';
import { cidrEquals, containsCidr, maskOf, parseCidr } from '../../ip/ipv4.ts';
import type { Route } from '../../netlink/types.ts';
import { RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTN_UNICAST, RTPROT_KERNEL } from '../../netlink/types.ts';

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

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const m = maskOf(Math.min(a.prefixLen, b.prefixLen));
  return ((a.ip & m) >>> 0) === ((b.ip & m) >>> 0) || cidrEquals(a, b);
}
