import type { Lease, LeaseAttrs } from '../subnet/lease.ts';
import type { IpCidr, IpFamily } from '../ip/cidr.ts';
import type { Ipv4Cidr } from '../ip/ipv4.ts';
import type { Ipv6Cidr } from '../ip/ipv6.ts';
import type { UdpStats } from '../observe/metrics.ts';

/**
 * The interface flannel carries traffic over, chosen as upstream's main.go does (--iface,
 * --iface-regex, --iface-can-reach, else the public IP's or the default route's interface).
 */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** The IPv4 address on the interface (dotted); absent when IPv4 is off. */
  readonly ifaceAddr?: string;
  /** The IPv4 address advertised to peers: --public-ip, node-public-ip, or ifaceAddr. */
  readonly extAddr?: string;
  /** The IPv6 address on the interface (canonical); absent when IPv6 is off. */
  readonly ifaceV6Addr?: string;
  /** The IPv6 address advertised to peers: --public-ipv6, node-public-ipv6, or ifaceV6Addr. */
  readonly extV6Addr?: string;
}

/** The interface's own and advertised address of one family (both undefined when the family is off). */
export function extAddrs(ext: ExternalInterface, family: IpFamily): { readonly iface: string | undefined; readonly ext: string | undefined } {
  return family === 'ipv4' ? { iface: ext.ifaceAddr, ext: ext.extAddr } : { iface: ext.ifaceV6Addr, ext: ext.extV6Addr };
}

/** Everything the kernel state of a backend is a pure function of; built fresh for each run. */
export interface Desired extends Networks {
  /** Bumps on any lease or config change. */
  readonly generation: number;
  readonly own: Lease;
  /**
   * Other nodes' leases keyed by leaseKey (IPv4 subnet text '10.244.2.0/24', else IPv6); never
   * the own lease. May be the daemon's live set: read what a run needs without awaiting in
   * between, or expect newer leases.
   */
  readonly peers: ReadonlyMap<string, Lease>;
  /**
   * The peers (keys of `peers`) whose lease was added, changed or removed since the previous
   * run, when only lease events asked for this run. A backend that knows what it programmed may
   * then plan and apply those peers alone; the kernel must end up as a full run would leave it.
   * Absent: reconcile everything (start, periodic resync, drift, retries).
   */
  readonly changed?: ReadonlySet<string>;
  /**
   * A node running several backends (each peer reached the way it advertises): destinations
   * ('10.244.2.0/24', 'fd00:10:244:2::/64') of routes another backend of this node programs.
   * This backend neither programs nor removes a route to them, although its ownership rule
   * (routes to peer subnets on the external interface) would cover them. Absent: none.
   */
  readonly foreignRoutes?: ReadonlySet<string>;
  /**
   * Every peer that may send to this node over this backend: peers send the way this node
   * advertises, whatever they advertise themselves. Absent: `peers`. (udp accepts datagrams
   * only from these peers' public IPs.)
   */
  readonly senders?: ReadonlyMap<string, Lease>;
}

/** The flannel networks of net-conf.json; a family's is present when the family is enabled. */
export interface Networks {
  readonly network?: Ipv4Cidr;
  readonly ipv6Network?: Ipv6Cidr;
}

/** One enabled family's part of the desired state: its network and the own subnet in it. */
export interface FamilyScope {
  readonly family: IpFamily;
  readonly network: IpCidr;
  readonly own: IpCidr;
}

/** The scopes of the enabled families the own lease has a subnet in, IPv4 first. */
export function familyScopes(networks: Networks, own: Lease | undefined): FamilyScope[] {
  const out: FamilyScope[] = [];
  if (networks.network !== undefined && own?.subnet !== undefined) out.push({ family: 'ipv4', network: networks.network, own: own.subnet });
  if (networks.ipv6Network !== undefined && own?.ipv6Subnet !== undefined) out.push({ family: 'ipv6', network: networks.ipv6Network, own: own.ipv6Subnet });
  return out;
}

/** The enabled families of the networks, IPv4 first. */
export function networkFamilies(networks: Networks): IpFamily[] {
  return [...(networks.network !== undefined ? ['ipv4' as const] : []), ...(networks.ipv6Network !== undefined ? ['ipv6' as const] : [])];
}

export interface PeerFailure {
  readonly subnet: string;
  readonly node?: string;
  readonly error: Error;
}

/** What one reconcile run did. Partial failure is data, not an exception. */
export interface ReconcileReport {
  readonly generation: number;
  readonly created: number;
  readonly replaced: number;
  readonly deleted: number;
  readonly unchanged: number;
  readonly failed: readonly PeerFailure[];
  readonly ms: number;
  /** Objects created or replaced in this run, by type ('route', 'neigh', 'fdb', 'device', 'addr'). */
  readonly changedByType?: Readonly<Record<string, number>>;
  /** Kernel entries the backend owns after the run, by type. */
  readonly owned?: Readonly<Record<string, number>>;
  /** Peers that cannot be reached directly (host-gw without L2 adjacency), by node name or subnet. */
  readonly notOnLink?: readonly string[];
}

/**
 * A backend owns some kernel state (devices, routes, neighbours, fdb) and makes it match a
 * Desired. Level-triggered: a full reconcile lists what it owns, diffs, and applies the
 * difference; one for changed peers may work on those alone (Desired.changed).
 */
export interface Backend {
  readonly type: string;
  /** The MTU written to subnet.env as FLANNEL_MTU (upstream: each backend's MTU()). */
  readonly mtu: number;
  /** Create or adopt the local device (never flush). Returns the attributes to publish. */
  prepare(signal: AbortSignal): Promise<LeaseAttrs>;
  /** The own lease is known: address the device and bring it up. */
  configure(own: Lease, signal: AbortSignal): Promise<void>;
  /** Make the kernel match `desired`. */
  reconcile(desired: Desired, signal: AbortSignal): Promise<ReconcileReport>;
  /** Calls `kick` whenever something it owns changed behind its back (netlink monitor). */
  watchDrift(kick: (why: string) => void, signal: AbortSignal): void;
  /**
   * Remove every kernel object this backend owns, except routes to `foreignRoutes` (another
   * backend of this node programs them; see Desired). Retiring a backend only; restart never calls it.
   */
  teardown(foreignRoutes?: ReadonlySet<string>): Promise<void>;
  /** Release sockets and fds; leaves kernel state in place (a restart must not drop a packet). */
  close(): Promise<void>;
  /**
   * Packet counters of a datapath in this process (udp), read at scrape time. Kernel
   * datapaths (vxlan, host-gw) have none: the kernel counts their packets.
   */
  stats?(): UdpStats;
}
