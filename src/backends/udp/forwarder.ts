/**
 * The udp backend's packet loop: TUN ⇄ UDP, driven by uv_poll readiness in the addon. Wire
 * format as upstream flanneld's (pkg/backend/udp/proxy_amd64.c): each datagram is exactly one
 * raw IPv4 packet. Each direction is its own class with its own slab (tun-to-udp.ts,
 * udp-to-tun.ts, their common base in direction.ts); this one builds them on one set of
 * counters, hands both the route table and a re-opened TUN fd, and polls both fds.
 */
import type { DatapathNative, PollHandle } from '../../native/datapath-native.ts';
import { POLL_READABLE } from '../../native/datapath-native.ts';
import { UdpCounters } from './counters.ts';
import type { ForwarderOptions } from './direction.ts';
import type { RouteTable } from './route-table.ts';
import { TunToUdp } from './tun-to-udp.ts';
import { UdpToTun } from './udp-to-tun.ts';

export class UdpForwarder {
  readonly counters = new UdpCounters();
  private readonly nat: DatapathNative;
  private tunFd: number;
  private readonly udpFd: number;
  private readonly vnet: boolean;
  private readonly egress: TunToUdp;
  private readonly ingress: UdpToTun;
  private tunPoll: PollHandle | undefined;
  private udpPoll: PollHandle | undefined;
  private readonly onTun: () => void;
  private readonly onUdp: () => void;

  constructor(o: ForwarderOptions) {
    this.nat = o.nat;
    this.tunFd = o.tunFd;
    this.udpFd = o.udpFd;
    this.vnet = o.vnetHdr;
    this.egress = new TunToUdp(o, this.counters);
    this.ingress = new UdpToTun(o, this.counters);
    // Bound once: uv_poll calls these for every readiness, without a closure per call.
    this.onTun = this.egress.onTunReadable.bind(this.egress);
    this.onUdp = this.ingress.onUdpReadable.bind(this.ingress);
  }

  /** Our own lease: datagrams are accepted only for destinations inside it. `icmpSrc` sources unreachables. */
  setOwn(subnetIp: number, prefixLen: number, icmpSrc: number): void {
    this.ingress.setOwn(subnetIp, prefixLen);
    this.egress.setIcmpSource(icmpSrc);
  }

  /** Swap in a table built from the current leases. */
  setRoutes(t: RouteTable): void {
    this.egress.setRoutes(t);
    this.ingress.setRoutes(t);
  }

  /** Which datapath is active, for the startup log. */
  get path(): { tunOffload: boolean; udpGso: boolean; udpGro: boolean } {
    return { tunOffload: this.vnet, udpGso: this.egress.usesGso, udpGro: this.ingress.usesGro };
  }

  start(): void {
    if (this.tunPoll !== undefined) return;
    this.tunPoll = this.nat.pollStart(this.tunFd, POLL_READABLE, this.onTun);
    this.udpPoll = this.nat.pollStart(this.udpFd, POLL_READABLE, this.onUdp);
  }

  /** Stops reading the TUN fd (it is about to be closed); the UDP side keeps running. */
  stopTun(): void {
    if (this.tunPoll !== undefined) this.nat.pollStop(this.tunPoll);
    this.tunPoll = undefined;
  }

  /** Continues on a freshly opened TUN fd (same offload mode), keeping counters and routes. */
  replaceTun(fd: number): void {
    this.stopTun();
    this.tunFd = fd;
    this.egress.setTun(fd);
    this.ingress.setTun(fd);
    if (this.udpPoll !== undefined) this.tunPoll = this.nat.pollStart(fd, POLL_READABLE, this.onTun);
  }

  /** Stops polling; the fds stay open (their owner closes them). */
  stop(): void {
    if (this.tunPoll !== undefined) this.nat.pollStop(this.tunPoll);
    if (this.udpPoll !== undefined) this.nat.pollStop(this.udpPoll);
    this.tunPoll = undefined;
    this.udpPoll = undefined;
  }
}
