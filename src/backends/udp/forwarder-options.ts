import type { DatapathNative } from '../../native/datapath-native.ts';
import type { Logger } from '../../observe/log.ts';

/** What the forwarder and both of its directions are built from. */
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
