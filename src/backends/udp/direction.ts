/**
 * What the forwarder's two directions (tun-to-udp.ts, udp-to-tun.ts) share: the options they
 * are built from, how long one readiness callback may run, and the state both read per packet.
 */
import type { DatapathNative } from '../../native/datapath-native.ts';
import type { Logger } from '../../observe/log.ts';
import type { UdpCounters } from './counters.ts';
import { RouteTable } from './route-table.ts';

export interface ForwarderOptions {
  readonly nat: DatapathNative;
  readonly log: Logger;
  readonly tunFd: number;
  /** The TUN was opened with IFF_VNET_HDR and TSO offload: segment and coalesce. */
  readonly vnetHdr: boolean;
  readonly tunMtu: number;
  readonly udpFd: number;
  readonly gso: boolean;
  readonly gro: boolean;
  /** UDP port of peers (upstream assumes every node uses the same one). */
  readonly port: number;
  /** ICMP unreachables per second at most. */
  readonly icmpPerSecond?: number;
  /** Non-TCP datagrams delivered in one round after which the loop yields the CPU; 0 never (benches: A/B). */
  readonly yieldAfter?: number;
}

/** Rounds per readiness callback: bounded so timers and the API watch still run under load. */
export const ROUNDS = 8;

/**
 * One direction of the packet loop. The counters object is shared by both directions (the
 * metrics read it whole); the route table is swapped whole when leases change, never edited.
 */
export abstract class Direction {
  protected readonly counters: UdpCounters;
  protected readonly nat: DatapathNative;
  protected tunFd: number;
  protected readonly udpFd: number;
  protected readonly vnet: boolean;
  protected routes: RouteTable = RouteTable.empty;

  constructor(o: ForwarderOptions, counters: UdpCounters) {
    this.counters = counters;
    this.nat = o.nat;
    this.tunFd = o.tunFd;
    this.udpFd = o.udpFd;
    this.vnet = o.vnetHdr;
  }

  /** Swap in a table built from the current leases. */
  setRoutes(t: RouteTable): void {
    this.routes = t;
  }

  /** Continue on a freshly opened TUN fd (the same offload mode). */
  setTun(fd: number): void {
    this.tunFd = fd;
  }
}
