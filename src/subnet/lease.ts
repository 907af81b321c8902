import type { Ipv4Cidr } from '../ip/ipv4.ts';

/**
 * What a node publishes about itself: flannel's LeaseAttrs. In kube mode these are the node
 * annotations `<prefix>public-ip`, `backend-type`, `backend-data` (pkg/subnet/kube/annotations.go);
 * in etcd mode the lease value.
 */
export interface LeaseAttrs {
  /** Dotted IPv4 other nodes send encapsulated traffic to (or route via, for host-gw). */
  readonly publicIp: string;
  readonly publicIpv6?: string;
  /** 'vxlan', 'host-gw'; '' for udp (upstream's udp lease has no BackendType). */
  readonly backendType: string;
  /** The backend data exactly as published: `{"VNI":1,"VtepMAC":"…"}` for vxlan, `null` otherwise. */
  readonly backendData: string;
  readonly backendV6Data?: string;
}

/** A node's subnet and what it published. */
export interface Lease {
  /** The pod subnet in network form, e.g. 10.244.1.0/24. */
  readonly subnet: Ipv4Cidr;
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
