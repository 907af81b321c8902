import type { Lease, LeaseAttrs, LeaseEvent } from './lease.ts';

/**
 * Hints a node stored about itself, read before the backend starts: main.go reads the stored
 * public IP (GetStoredPublicIP), and pkg/backend/vxlan reuses the stored VtepMAC.
 */
export interface StoredNodeInfo {
  /** `<prefix>node-public-ip`: overrides --public-ip. */
  readonly publicIp?: string;
  readonly publicIpv6?: string;
  /** VtepMAC parsed from the node's own backend-data, so a re-created flannel.N keeps its MAC. */
  readonly vtepMac?: string;
  readonly vtepMacV6?: string;
  /**
   * The backend-type the node's own annotation says ('' for udp): what peers may still send
   * with after a restart in the middle of a backend switch.
   */
  readonly backendType?: string;
}

/**
 * Where leases come from: the Kubernetes API (kube mode) or etcd. The seam between the daemon
 * core and the backends: an own lease, and a stream of the other nodes' leases.
 */
export interface SubnetManager {
  /** For the startup log: `Kubernetes Subnet Manager - <node>`. */
  readonly name: string;
  storedNodeInfo(signal: AbortSignal): Promise<StoredNodeInfo>;
  /**
   * Publishes `attrs` (kube: annotations, patched only if they differ) and resolves with the own
   * lease. Waits, without crashing, until the node has a podCIDR.
   */
  acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease>;
  /**
   * Streams the other nodes' leases until `signal` aborts: first every known lease as `added`,
   * then changes. The own subnet is never reported. Never ends on API errors; it retries.
   */
  watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, signal: AbortSignal): void;
  /** After the backend runs: kube mode sets NetworkUnavailable=False (CompleteLease in pkg/subnet/kube/kube.go). */
  completeLease(signal: AbortSignal): Promise<void>;
  /** Stops watches and timers (shutdown); publishes nothing. */
  close(): void;
}
