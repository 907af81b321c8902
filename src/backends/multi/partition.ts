import type { BackendConfig } from '../../config/types.ts';
import { formatAnyCidr } from '../../ip/cidr.ts';
import type { Lease } from '../../subnet/lease.ts';

/** The backends flannel-ts implements, by the name net-conf.json and the annotations use. */
export type BackendType = BackendConfig['type'];

/** In the order a node's instances are listed (logs, metrics, /readyz). */
export const BACKEND_TYPES: readonly BackendType[] = ['vxlan', 'host-gw', 'udp'];

/** Backends that program a route per peer subnet (vxlan's onlink or direct route, host-gw's route); udp routes the whole Network. */
const ROUTED: ReadonlySet<BackendType> = new Set<BackendType>(['vxlan', 'host-gw']);

/**
 * The backend a lease advertises: its backend-type, where '' is udp (upstream's udp lease has
 * no BackendType); undefined for a type flannel-ts does not implement (ipip, wireguard, …).
 */
export function advertisedBackend(lease: Lease): BackendType | undefined {
  const t = lease.attrs.backendType === '' ? 'udp' : lease.attrs.backendType;
  return (BACKEND_TYPES as readonly string[]).includes(t) ? (t as BackendType) : undefined;
}

/**
 * The peers by the backend they advertise, and those advertising one flannel-ts does not
 * implement. The per-type maps are the owner's to update in place (MultiBackend does so for
 * lease events that keep every peer on its backend).
 */
export interface Partition {
  readonly byType: ReadonlyMap<BackendType, Map<string, Lease>>;
  readonly unsupported: readonly Lease[];
}

export function partitionPeers(peers: ReadonlyMap<string, Lease>): Partition {
  const byType = new Map<BackendType, Map<string, Lease>>();
  const unsupported: Lease[] = [];
  for (const [key, lease] of peers) {
    const t = advertisedBackend(lease);
    if (t === undefined) {
      unsupported.push(lease);
      continue;
    }
    let m = byType.get(t);
    if (m === undefined) byType.set(t, (m = new Map()));
    m.set(key, lease);
  }
  return { byType, unsupported };
}

/** How many peers advertise each backend. */
export function countByType(p: Partition): Map<BackendType, number> {
  return new Map([...p.byType].map(([t, m]) => [t, m.size]));
}

/**
 * The route destinations (both families' subnets, as the kernel prints them) that the other
 * running routed backends program for their peers: `foreignRoutes` of `type`'s Desired.
 */
export function foreignRoutesFor(type: BackendType, byType: ReadonlyMap<BackendType, ReadonlyMap<string, Lease>>, running: ReadonlySet<BackendType>): Set<string> {
  const out = new Set<string>();
  for (const [t, peers] of byType) {
    if (t === type || !ROUTED.has(t) || !running.has(t)) continue;
    for (const l of peers.values()) for (const dst of routeDestinations(l)) out.add(dst);
  }
  return out;
}

/** A peer's subnets as route destinations: '10.244.2.0/24', 'fd00:10:244:2::/64'. */
export function routeDestinations(l: Lease): string[] {
  return [l.subnet, l.ipv6Subnet].filter((c) => c !== undefined).map(formatAnyCidr);
}

/**
 * Make before break: the peers `type`'s instance served in its last run that now advertise
 * another running backend. The instance keeps their last leases for one more pass while their
 * new backend adds them, so the old way is removed only once the new one is in place.
 */
export function leavingPeers(
  type: BackendType,
  served: ReadonlyMap<string, Lease>,
  byType: ReadonlyMap<BackendType, ReadonlyMap<string, Lease>>,
  running: ReadonlySet<BackendType>,
): Map<string, Lease> {
  const out = new Map<string, Lease>();
  for (const [key, old] of served) {
    if (byType.get(type)?.has(key) === true) continue;
    for (const [t, peers] of byType) {
      if (t !== type && running.has(t) && peers.has(key)) {
        out.set(key, old);
        break;
      }
    }
  }
  return out;
}
