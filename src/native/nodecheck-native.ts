import { loadNative } from './load.ts';

/**
 * The node-check half of the native addon (native/src/nodecheck.c), typed: the ethtool ioctl
 * for tx checksum offload and raw ICMP and ICMPv6 sockets for probes. Every call returns a result or
 * -errno; wrong argument types throw TypeError. A netns path (e.g. /run/netns/NAME) is entered
 * only while the socket is created; null means this process's namespace.
 */
export interface NodecheckNative {
  /** ETHTOOL_GTXCSUM, and ETHTOOL_STXCSUM when `want` is 0 or 1 and differs; returns the state after (1 on, 0 off). */
  ethtoolTxCsum(netnsPath: string | null, ifname: string, want: -1 | 0 | 1): number;
  /** A non-blocking raw ICMP socket: DF on every packet (PMTU probe mode), only echo replies and errors received. */
  icmpOpen(netnsPath: string | null): number;
  /** Sends one ICMP message (the kernel adds the IP header) to dst, an IPv4 address as uint32. */
  icmpSend(fd: number, dst: number, packet: Buffer, len: number): number;
  /** Receives one IP packet (header included); 0 when none is waiting. */
  icmpRecv(fd: number, buf: Buffer): number;
  /** A non-blocking raw ICMPv6 socket: no fragments, PMTU probe mode, only echo replies and errors received. */
  icmp6Open(netnsPath: string | null): number;
  /** Sends one ICMPv6 message (the kernel adds the IPv6 header and the checksum) to dst, 16 bytes. */
  icmp6Send(fd: number, dst: Buffer, packet: Buffer, len: number): number;
  /** Receives one ICMPv6 message, the sender's address into `from` (16 bytes); 0 when none is waiting. */
  icmp6Recv(fd: number, buf: Buffer, from: Buffer): number;
}

export function loadNodecheck(): NodecheckNative {
  const addon = loadNative() as Partial<NodecheckNative>;
  if (typeof addon.ethtoolTxCsum !== 'function' || typeof addon.icmpOpen !== 'function') {
    throw new Error('native addon has no node-check functions (ethtoolTxCsum, icmpOpen); rebuild it with "npm run build:native"');
  }
  return addon as NodecheckNative;
}
