import { formatAnyCidr, type IpCidr, type IpFamily } from '../ip/cidr.ts';
import type { Ipv4Cidr } from '../ip/ipv4.ts';
import type { Ipv6Cidr } from '../ip/ipv6.ts';

/**
 * What a node publishes about itself: flannel's LeaseAttrs. In kube mode these are the node
 * annotations `<prefix>public-ip`, `backend-type`, `backend-data` and their IPv6 twins
 * `public-ipv6`, `backend-v6-data` (pkg/subnet/kube/annotations.go); in etcd mode the lease value.
 * A family's two fields are present when the node publishes that family.
 */
export interface LeaseAttrs {
  /** Dotted IPv4 other nodes send encapsulated traffic to (or route via, for host-gw). */
  readonly publicIp?: string;
  /** Canonical IPv6 (RFC 5952), the IPv6 twin of publicIp. */
  readonly publicIpv6?: string;
  /** 'vxlan', 'host-gw'; '' for udp (upstream's udp lease has no BackendType). */
  readonly backendType: string;
  /** The backend data exactly as published: `{"VNI":1,"VtepMAC":"…"}` for vxlan, `null` otherwise. */
  readonly backendData?: string;
  /** The same for the IPv6 device (vxlan's flannel-v6.<VNI>); `null` for host-gw. */
  readonly backendV6Data?: string;
}

/**
 * A node's subnets and what it published. Each enabled family has its half: the IPv4 subnet with
 * publicIp and backendData, the IPv6 subnet with publicIpv6 and backendV6Data. The own lease has
 * every enabled family; a peer may lack one (it is then programmed for the other and reported).
 */
export interface Lease {
  /** The IPv4 pod subnet in network form, e.g. 10.244.1.0/24. */
  readonly subnet?: Ipv4Cidr;
  /** The IPv6 pod subnet in network form, e.g. fd00:10:244:1::/64. */
  readonly ipv6Subnet?: Ipv6Cidr;
  readonly attrs: LeaseAttrs;
  /** The Kubernetes node name, where known; for logs and metrics, never for identity. */
  readonly node?: string;
}

export type LeaseEventType = 'added' | 'removed';

/** A change to another node's lease. An `added` for a known subnet replaces it (an update). */
export interface LeaseEvent {
  readonly type: LeaseEventType;
  readonly lease: Lease;
}

/** Whether two nodes published the same thing (every field of LeaseAttrs). */
export function sameLeaseAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return (
    a.publicIp === b.publicIp &&
    a.backendType === b.backendType &&
    a.backendData === b.backendData &&
    a.publicIpv6 === b.publicIpv6 &&
    a.backendV6Data === b.backendV6Data
  );
}

/** One family's half of a lease: its subnet, and the public address and backend data for it. */
export interface LeaseHalf {
  readonly family: IpFamily;
  readonly subnet: IpCidr;
  readonly publicIp: string | undefined;
  readonly backendData: string | undefined;
}

/** The lease's half of `family`, or undefined when the lease has no subnet of that family. */
export function leaseHalf(l: Lease, family: IpFamily): LeaseHalf | undefined {
  if (family === 'ipv4') {
    return l.subnet === undefined ? undefined : { family, subnet: l.subnet, publicIp: l.attrs.publicIp, backendData: l.attrs.backendData };
  }
  return l.ipv6Subnet === undefined ? undefined : { family, subnet: l.ipv6Subnet, publicIp: l.attrs.publicIpv6, backendData: l.attrs.backendV6Data };
}

/**
 * A lease's identity among peers: its IPv4 subnet, or its IPv6 subnet when it has none (IPv6-only).
 * Upstream keys leases by subnet too (pkg/lease/lease.go).
 */
export function leaseKey(l: Lease): string {
  if (l.subnet !== undefined) return formatAnyCidr(l.subnet);
  if (l.ipv6Subnet !== undefined) return formatAnyCidr(l.ipv6Subnet);
  throw new Error(`lease of node ${l.node ?? '?'} has no subnet`);
}

/** Every subnet of the lease, IPv4 first: `10.244.1.0/24,fd00:10:244:1::/64`, for logs and labels. */
export function leaseSubnets(l: Lease): string {
  return [l.subnet, l.ipv6Subnet].filter((c) => c !== undefined).map(formatAnyCidr).join(',');
}

/** Whether two leases claim a common subnet in either family. */
export function sameSubnetAnyFamily(a: Lease, b: Lease): boolean {
  const eq = (x: IpCidr | undefined, y: IpCidr | undefined): boolean => x !== undefined && y !== undefined && x.ip === y.ip && x.prefixLen === y.prefixLen;
  return eq(a.subnet, b.subnet) || eq(a.ipv6Subnet, b.ipv6Subnet);
}
