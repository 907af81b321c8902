import { formatCidr, formatIpv4 } from '../ip/ipv4.ts';
import type { Lease } from '../subnet/lease.ts';

/** A peer to probe through the overlay. */
export interface PeerTarget {
  /** The peer's subnet, '10.244.2.0/24': the key (a node name can be absent or reused). */
  readonly subnet: string;
  /** The node name, or the subnet when the lease has none. */
  readonly node: string;
  /** The overlay address that answers for the peer. */
  readonly addr: string;
}

/**
 * The address of a peer that answers through the overlay, or undefined when this node cannot
 * reach it that way. With `ownBackendType` only peers of that backend (what a node running one
 * backend programs); without it every peer of a backend flannel-ts implements (the daemon
 * reaches each peer the way it advertises). By the peer's backend:
 *  - vxlan and udp: the peer's subnet network address, which the peer holds as /32 on flannel.N
 *    or flannel0, so its own kernel answers whether or not it runs pods;
 *  - host-gw: the peer's cni0 gateway (the subnet's first address), which exists once the
 *    peer runs a pod; the route to it is the one host-gw installs.
 */
export function overlayTarget(lease: Lease, ownBackendType?: string): PeerTarget | undefined {
  const peerType = lease.attrs.backendType === '' ? 'udp' : lease.attrs.backendType;
  const own = ownBackendType === '' ? 'udp' : ownBackendType;
  // Probes go over IPv4; an IPv6-only peer is not probed.
  if (own !== undefined ? peerType !== own : !['vxlan', 'udp', 'host-gw'].includes(peerType)) return undefined;
  if (lease.subnet === undefined) return undefined;
  const subnet = formatCidr(lease.subnet);
  const ip = peerType === 'host-gw' ? (lease.subnet.ip + 1) >>> 0 : lease.subnet.ip;
  return { subnet, node: lease.node ?? subnet, addr: formatIpv4(ip) };
}

/** Targets for every peer this node can reach (through `ownBackendType` alone, when given), sorted by node name. */
export function overlayTargets(peers: Iterable<Lease>, ownBackendType?: string): PeerTarget[] {
  const out: PeerTarget[] = [];
  for (const l of peers) {
    const t = overlayTarget(l, ownBackendType);
    if (t !== undefined) out.push(t);
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
