import { addressOf, formatAnyCidr, gatewayOf, IP_FAMILIES, type IpFamily } from '../ip/cidr.ts';
import { leaseHalf, type Lease } from '../subnet/lease.ts';

/** A peer to probe through the overlay. */
export interface PeerTarget {
  /** The peer's subnet of the family, '10.244.2.0/24': the key (a node name can be absent or reused). */
  readonly subnet: string;
  /** The node name, or the subnet when the lease has none. */
  readonly node: string;
  /** The overlay address that answers for the peer. */
  readonly addr: string;
  /** The backend the peer advertises ('udp' for upstream's empty type): how this node reaches it. */
  readonly backendType: string;
  /** The public address the peer advertises for the family. */
  readonly publicIp: string | undefined;
}

/**
 * The address of a peer that answers through the overlay, in one family (IPv4 unless given), or
 * undefined when this node cannot reach it that way. With `ownBackendType` only peers of that backend (what a node running one
 * backend programs); without it every peer of a backend flannel-ts implements (the daemon
 * reaches each peer the way it advertises). By the peer's backend:
 *  - vxlan and udp: the peer's subnet network address, which the peer holds as /32 on flannel.N
 *    or flannel0, so its own kernel answers whether or not it runs pods;
 *  - host-gw: the peer's cni0 gateway (the subnet's first address), which exists once the
 *    peer runs a pod; the route to it is the one host-gw installs.
 */
export function overlayTarget(lease: Lease, ownBackendType?: string, family: IpFamily = 'ipv4'): PeerTarget | undefined {
  const peerType = lease.attrs.backendType === '' ? 'udp' : lease.attrs.backendType;
  const own = ownBackendType === '' ? 'udp' : ownBackendType;
  if (own !== undefined ? peerType !== own : !['vxlan', 'udp', 'host-gw'].includes(peerType)) return undefined;
  // udp carries IPv4 alone (upstream's too).
  const half = family === 'ipv6' && peerType === 'udp' ? undefined : leaseHalf(lease, family);
  if (half === undefined) return undefined;
  const subnet = formatAnyCidr(half.subnet);
  const addr = peerType !== 'host-gw' ? addressOf(half.subnet) : gatewayOf(half.subnet);
  return { subnet, node: lease.node ?? subnet, addr, backendType: peerType, publicIp: half.publicIp };
}

/** Targets of one family (IPv4 unless given) for every peer this node can reach (through `ownBackendType` alone, when given), sorted by node name. */
export function overlayTargets(peers: Iterable<Lease>, ownBackendType?: string, family: IpFamily = 'ipv4'): PeerTarget[] {
  const out: PeerTarget[] = [];
  for (const l of peers) {
    const t = overlayTarget(l, ownBackendType, family);
    if (t !== undefined) out.push(t);
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/**
 * Targets for continuous health: every peer in each family it has, IPv4 first. The halves of a
 * dual-stack peer go through different devices (flannel.N and flannel-v6.N), routes and underlay
 * addresses, so either can fail alone: each is probed, and each is a probe of the budget.
 */
export function healthTargets(peers: Iterable<Lease>): PeerTarget[] {
  const out: PeerTarget[] = [];
  for (const l of peers) {
    for (const family of IP_FAMILIES) {
      const t = overlayTarget(l, undefined, family);
      if (t !== undefined) out.push(t);
    }
  }
  // Stable: a peer's IPv4 target stays before its IPv6 one.
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
