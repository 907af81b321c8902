/**
 * The udp backend's packet loop: TUN ⇄ UDP, driven by uv_poll readiness in the addon.
 * Wire format as upstream flanneld (flannel-compat.md §8): each datagram is exactly one raw
 * IPv4 packet. Everything per packet works on two preallocated slabs and typed arrays —
 * no allocation, no closures, no logging (drops are counted).
 *
 * Slab layout, TUN → UDP ("up"):   [ read slots | segment regions | send runs | ICMP scratch ]
 * Slab layout, UDP → TUN ("down"): [ recv slots | TUN write region ]
 * Offsets passed to sendmmsg/write point anywhere into one slab, so a packet that needs no
 * rewriting beyond TTL is sent from where it was read.
 */
import type { Logger } from 'pino';
import type { DatapathNative, PollHandle } from '../../native/datapath-native.ts';
import { POLL_READABLE } from '../../native/datapath-native.ts';
import { UdpCounters } from './counters.ts';
import { RateLimiter, writeNetUnreachable, wantsUnreachable, ICMP_UNREACH_MAX } from './icmp.ts';
import { decrementTtl, readAddr, validIpv4Length, IP_DST, IP_PROTO, IPPROTO_TCP } from './ipv4.ts';
import { completeChecksum, TcpCoalescer, TcpSegmenter, VnetHeader, writeVnetHeader, VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, type SumFn } from './offload.ts';
import { RouteTable } from './route-table.ts';
import { UdpCoalescer } from './udp-coalesce.ts';

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
const ROUNDS = 8;
/** A TUN read with a vnet header: 10 + 65535 bytes, rounded. */
const VNET_SLOT = 65552;
/** Per super-packet output room: payload + one header (≤ 120 B) per segment at mss ≥ 536. */
const SEG_REGION = 65536 + 128 * 124;
/** UDP messages per udpSend; sendmmsg is called in chunks of 64 by the addon. */
const MAX_MSGS = 256;
/** UDP_MAX_SEGMENTS is 64 on older kernels; the payload of one GSO send stays < 64 KiB. */
const GSO_MAX_SEGS = 64;
const GSO_MAX_BYTES = 65000;
/** UDP payloads with GRO can reach 64 KiB; without it, allow jumbo-frame peers. */
const GRO_SLOT = 65536;
const PLAIN_RX_SLOT = 9216;
const MAX_WRITES = 2048;
/**
 * Datagrams written into the TUN in one round after which the forwarder yields the CPU
 * (sched_yield). Writing into the TUN delivers them, in this thread's softirq, straight into the
 * receiving pod's socket and wakes the pod; without a yield the forwarder keeps its CPU for the
 * rest of its time slice (milliseconds — thousands of batched datagrams) while the pod waits to
 * run and its socket (a few hundred small datagrams at the default rmem) overflows. Measured with a 64 B
 * flood on 2 vCPUs (bench/udp-flood.ts): the receiving pod's RcvbufErrors fell from about half
 * of what we delivered to 5–25%, and the received rate rose by ~40%. Below this count (light load)
 * nobody is overrun and the syscall is not spent. TCP segments are not counted: TCP's window
 * already paces its sender, and a yield per round of TCP cost ~20% of TCP throughput (measured,
 * FLOOD_MODE=tcp). Yielding on the sending side (after sendmmsg)
 * was measured too and hurts: it hands the CPU to the unpaced sender pod, which then floods
 * flannel0 harder.
 */
const YIELD_AFTER = 64;
const EIO = 5;
const EINVAL = 22;

export class UdpForwarder {
  readonly counters = new UdpCounters();
  private readonly nat: DatapathNative;
  private readonly log: Logger;
  private tunFd: number;
  private readonly udpFd: number;
  private readonly vnet: boolean;
  private gso: boolean;
  private readonly port: number;
  private readonly yieldAfter: number;
  private routes: RouteTable = RouteTable.empty;
  private ownNet = 0;
  private ownMask = -1;
  private tunAddr = 0;

  // TUN → UDP
  private readonly up: Buffer;
  private readonly readSlot: number;
  private readonly readBatch: number;
  private readonly segBase: number;
  private readonly stageBase: number;
  private readonly icmpBase: number;
  /** Largest packet that may join a send run (one that fits the TUN MTU). */
  private readonly stageMax: number;
  // The send run in progress: consecutive packets to one peer, all `runSize` bytes but a
  // shorter last one, sent as one UDP_SEGMENT message. Its first packet stays in its read
  // slot until a second joins; then the run is copied into the staging region.
  private runCount = 0;
  private runHop = 0;
  private runSize = 0;
  private runOff = 0;
  private runBytes = 0;
  private runStaged = false;
  private runClosed = false;
  private stageCursor = 0;
  private readonly readLens: Int32Array;
  private readonly sOffs = new Int32Array(MAX_MSGS);
  private readonly sLens = new Int32Array(MAX_MSGS);
  private readonly sDst = new Uint32Array(MAX_MSGS);
  private readonly sSeg = new Int32Array(MAX_MSGS);
  private readonly vh = new VnetHeader();
  private readonly segmenter: TcpSegmenter;
  private readonly sum: SumFn;
  private readonly icmpLimit: RateLimiter;
  private readonly icmpOffs = new Int32Array(1);
  private readonly icmpLens = new Int32Array(1);

  // UDP → TUN
  private readonly down: Buffer;
  private readonly recvSlot: number;
  private readonly recvBatch: number;
  private readonly writeBase: number;
  private readonly rLens: Int32Array;
  private readonly rSrc: Uint32Array;
  private readonly rSeg: Int32Array;
  private readonly wOffs = new Int32Array(MAX_WRITES);
  private readonly wLens = new Int32Array(MAX_WRITES);
  private wCount = 0;
  private wCursor = 0;
  private readonly coalescer = new TcpCoalescer();
  private readonly udpCoalescer: UdpCoalescer;

  private tunPoll: PollHandle | undefined;
  private udpPoll: PollHandle | undefined;
  private readonly onTun: () => void;
  private readonly onUdp: () => void;

  constructor(o: ForwarderOptions) {
    this.nat = o.nat;
    this.log = o.log;
    this.tunFd = o.tunFd;
    this.udpFd = o.udpFd;
    this.vnet = o.vnetHdr;
    this.gso = o.gso;
    this.port = o.port;
    this.yieldAfter = o.yieldAfter ?? YIELD_AFTER;
    this.sum = o.nat.csum;
    this.segmenter = new TcpSegmenter(this.sum);
    this.udpCoalescer = new UdpCoalescer(this.sum);
    this.icmpLimit = new RateLimiter(o.icmpPerSecond ?? 100);

    this.readSlot = o.vnetHdr ? VNET_SLOT : align(Math.max(2048, o.tunMtu + 64), 64);
    this.readBatch = o.vnetHdr ? 16 : 64;
    this.segBase = this.readSlot * this.readBatch;
    this.stageBase = this.segBase + (o.vnetHdr ? SEG_REGION * this.readBatch : 0);
    this.stageMax = o.tunMtu;
    this.stageCursor = this.stageBase;
    this.icmpBase = this.stageBase + this.readBatch * o.tunMtu;
    this.up = Buffer.alloc(this.icmpBase + VNET_HDR_LEN + ICMP_UNREACH_MAX);
    this.readLens = new Int32Array(this.readBatch);

    this.recvSlot = o.gro ? GRO_SLOT : PLAIN_RX_SLOT;
    this.recvBatch = o.gro ? 16 : 64;
    this.writeBase = this.recvSlot * this.recvBatch;
    // Each datagram grows by at most a vnet header when written; twice the recv region is ample.
    this.down = Buffer.alloc(this.writeBase + (o.vnetHdr ? this.writeBase * 2 : 0));
    this.rLens = new Int32Array(this.recvBatch);
    this.rSrc = new Uint32Array(this.recvBatch);
    this.rSeg = new Int32Array(this.recvBatch);
    this.wCursor = this.writeBase;

    this.onTun = this.onTunReadable.bind(this);
    this.onUdp = this.onUdpReadable.bind(this);
  }

  /** Our own lease: datagrams are accepted only for destinations inside it. `icmpSrc` sources unreachables. */
  setOwn(subnetIp: number, prefixLen: number, icmpSrc: number): void {
    this.ownMask = prefixLen === 0 ? 0 : -1 << (32 - prefixLen);
    this.ownNet = subnetIp & this.ownMask;
    this.tunAddr = icmpSrc | 0;
  }

  /** Swap in a table built from the current leases. */
  setRoutes(t: RouteTable): void {
    this.routes = t;
  }

  get routeTable(): RouteTable {
    return this.routes;
  }

  /** Which datapath is active, for the startup log. */
  get path(): { tunOffload: boolean; udpGso: boolean; udpGro: boolean } {
    return { tunOffload: this.vnet, udpGso: this.gso, udpGro: this.recvSlot === GRO_SLOT };
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
    if (this.udpPoll !== undefined) this.tunPoll = this.nat.pollStart(fd, POLL_READABLE, this.onTun);
  }

  /** Stops polling; the fds stay open (their owner closes them). */
  stop(): void {
    if (this.tunPoll !== undefined) this.nat.pollStop(this.tunPoll);
    if (this.udpPoll !== undefined) this.nat.pollStop(this.udpPoll);
    this.tunPoll = undefined;
    this.udpPoll = undefined;
  }

  /** TUN → UDP. Public for tests that drive the loop without uv_poll. */
  onTunReadable(): void {
    const nat = this.nat;
    const b = this.up;
    const c = this.counters;
    const vh = this.vh;
    const slot = this.readSlot;
    const batch = this.readBatch;
    for (let round = 0; round < ROUNDS; round++) {
      const n = nat.tunRead(this.tunFd, b, slot, this.readLens, batch);
      if (n <= 0) {
        if (n < 0) c.readErrors++;
        return;
      }
      c.tunReads += n;
      const routes = this.routes;
      let m = 0;
      for (let i = 0; i < n; i++) {
        let p = i * slot;
        let len = this.readLens[i]!;
        if (this.vnet) {
          if (len < VNET_HDR_LEN) { c.dropMalformed++; continue; }
          vh.read(b, p);
          p += VNET_HDR_LEN;
          len -= VNET_HDR_LEN;
        }
        const total = validIpv4Length(b, p, len);
        if (total === 0) {
          // The kernel writes only well-formed packets into the TUN; what fails here is its own
          // IPv6 traffic on flannel0 (IPv6 could not be disabled there), counted apart from peers'.
          if (len > 0 && b[p]! >> 4 !== 4) c.dropTunNotIpv4++;
          else c.dropMalformed++;
          continue;
        }
        const hop = routes.lookup(readAddr(b, p + IP_DST));
        if (hop === 0) {
          c.dropNoRoute++;
          this.unreachable(b, p, total);
          continue;
        }
        if (!decrementTtl(b, p)) { c.dropTtlExpired++; continue; }
        if (this.vnet && vh.gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
          m = this.endSendRun(m);
          m = this.segmentInto(p, total, hop, i, m);
          if (m < 0) return;
          continue;
        }
        if (this.vnet && (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 &&
            !completeChecksum(b, p, total, vh.csumStart, vh.csumOffset, this.sum)) {
          c.dropMalformed++;
          continue;
        }
        m = this.queuePacket(p, total, hop, m);
        c.txPackets++;
        c.txBytes += total;
      }
      m = this.endSendRun(m);
      if (m > 0) this.send(m);
      this.stageCursor = this.stageBase;
      if (n < batch) return;
    }
  }

  /**
   * Queues one packet for `hop`: it joins the send run when the run goes to the same peer, is
   * still open, has room (64 segments, 64 KiB) and the packet is no longer than the run's
   * first; a shorter packet closes the run, as UDP_SEGMENT allows only the last segment to be
   * short. Otherwise the run is queued and this packet starts the next. Returns m.
   */
  private queuePacket(p: number, total: number, hop: number, m: number): number {
    if (this.runCount > 0 && hop === this.runHop && !this.runClosed && total <= this.runSize &&
        this.runCount < GSO_MAX_SEGS && this.runBytes + total <= GSO_MAX_BYTES) {
      const b = this.up;
      if (!this.runStaged) {
        b.copy(b, this.stageCursor, this.runOff, this.runOff + this.runBytes);
        this.runOff = this.stageCursor;
        this.stageCursor += this.runBytes;
        this.runStaged = true;
      }
      b.copy(b, this.stageCursor, p, p + total);
      this.stageCursor += total;
      this.runBytes += total;
      this.runCount++;
      if (total < this.runSize) this.runClosed = true;
      return m;
    }
    m = this.endSendRun(m);
    if (!this.gso || total > this.stageMax) {
      if (m === MAX_MSGS) m = this.send(m);
      this.sOffs[m] = p;
      this.sLens[m] = total;
      this.sDst[m] = hop;
      this.sSeg[m] = 0;
      return m + 1;
    }
    this.runCount = 1;
    this.runHop = hop;
    this.runSize = total;
    this.runOff = p;
    this.runBytes = total;
    this.runStaged = false;
    this.runClosed = false;
    return m;
  }

  /** Queues the send run in progress, if any, as one message (UDP_SEGMENT when it has several packets). */
  private endSendRun(m: number): number {
    if (this.runCount === 0) return m;
    if (m === MAX_MSGS) m = this.send(m);
    this.sOffs[m] = this.runOff;
    this.sLens[m] = this.runBytes;
    this.sDst[m] = this.runHop;
    this.sSeg[m] = this.runCount > 1 ? this.runSize : 0;
    if (this.runCount > 1) {
      this.counters.sendRuns++;
      this.counters.sendRunPackets += this.runCount;
    }
    this.runCount = 0;
    return m + 1;
  }

  /** Segments the TSO packet from read slot i into its region and queues GSO messages. Returns m. */
  private segmentInto(p: number, total: number, hop: number, i: number, m: number): number {
    const c = this.counters;
    const gsoType = this.vh.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
    const mss = this.vh.gsoSize;
    // We offer only TSO4; anything else, or an mss so small the region cannot hold it, is refused.
    if (gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 || mss < 64 || total + Math.ceil(total / mss) * 124 > SEG_REGION) {
      c.dropMalformed++;
      return m;
    }
    const base = this.segBase + i * SEG_REGION;
    const s = this.segmenter;
    const n = s.segment(this.up, p, total, mss, this.up, base);
    if (n === 0) { c.dropMalformed++; return m; }
    const per = this.gso ? Math.min(GSO_MAX_SEGS, Math.floor(GSO_MAX_BYTES / s.segLen)) : 1;
    for (let k = 0; k < n; ) {
      const g = Math.min(per, n - k);
      if (m === MAX_MSGS) m = this.send(m);
      const last = k + g === n;
      this.sOffs[m] = base + k * s.segLen;
      this.sLens[m] = (g - 1) * s.segLen + (last ? s.lastLen : s.segLen);
      this.sDst[m] = hop;
      this.sSeg[m] = g > 1 ? s.segLen : 0;
      c.txBytes += this.sLens[m]!;
      m++;
      k += g;
    }
    c.txPackets += n;
    return m;
  }

  /** Sends queued messages; returns 0 (the new queue length). */
  private send(m: number): number {
    const sent = this.nat.udpSend(this.udpFd, this.up, this.sOffs, this.sLens, this.sDst, this.sSeg, m, this.port);
    if (sent >= m) return 0;
    if (sent < 0 && this.gso && (sent === -EIO || sent === -EINVAL) && this.hasGsoMessage(m)) {
      // The route's device cannot segment UDP (or refuses the size): stop using GSO.
      this.gso = false;
      this.log.warn({ errno: -sent }, 'udp backend: UDP GSO send failed; falling back to one datagram per packet');
    }
    this.counters.dropSend += m - Math.max(sent, 0);
    return 0;
  }

  private hasGsoMessage(m: number): boolean {
    for (let i = 0; i < m; i++) if (this.sSeg[i]! > 0) return true;
    return false;
  }

  /** ICMP net-unreachable back into the TUN for a packet no lease covers (as upstream). */
  private unreachable(b: Buffer, p: number, len: number): void {
    if (!wantsUnreachable(b, p)) return;
    if (!this.icmpLimit.take()) { this.counters.icmpUnreachableRateLimited++; return; }
    const o = this.icmpBase;
    let q = o;
    if (this.vnet) {
      writeVnetHeader(b, o, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
      q += VNET_HDR_LEN;
    }
    const l = writeNetUnreachable(b, q, b, p, len, this.tunAddr);
    this.icmpOffs[0] = o;
    this.icmpLens[0] = q - o + l;
    if (this.nat.tunWrite(this.tunFd, b, this.icmpOffs, this.icmpLens, 1) === 1) this.counters.icmpUnreachableSent++;
    else this.counters.dropTunWrite++;
  }

  /** UDP → TUN. Public for tests that drive the loop without uv_poll. */
  onUdpReadable(): void {
    const nat = this.nat;
    const d = this.down;
    const c = this.counters;
    const slot = this.recvSlot;
    const batch = this.recvBatch;
    const co = this.coalescer;
    const uco = this.udpCoalescer;
    const vnet = this.vnet;
    for (let round = 0; round < ROUNDS; round++) {
      const n = nat.udpRecv(this.udpFd, d, slot, this.rLens, this.rSrc, this.rSeg, batch);
      if (n <= 0) {
        if (n < 0) c.readErrors++;
        return;
      }
      let unpaced = 0; // non-TCP packets delivered this round (see YIELD_AFTER)
      const routes = this.routes;
      const ownMask = this.ownMask;
      const ownNet = this.ownNet;
      for (let i = 0; i < n; i++) {
        const base = i * slot;
        const mlen = this.rLens[i]!;
        if (mlen < 0) { c.dropMalformed++; continue; }
        const step = this.rSeg[i]! > 0 ? this.rSeg[i]! : Math.max(mlen, 1);
        if (!routes.isPeer(this.rSrc[i]! | 0)) {
          c.dropUnknownSource += Math.max(1, Math.ceil(mlen / step));
          continue;
        }
        const end = base + mlen;
        for (let p = base; p < end || p === base; p += step) {
          const dl = Math.min(step, end - p);
          const total = validIpv4Length(d, p, dl);
          if (total === 0) { c.dropMalformed++; continue; }
          if ((readAddr(d, p + IP_DST) & ownMask) !== ownNet) { c.dropNotForUs++; continue; }
          if (!decrementTtl(d, p)) { c.dropTtlExpired++; continue; }
          c.rxPackets++;
          if (d[p + IP_PROTO] !== IPPROTO_TCP) unpaced++;
          c.rxBytes += total;
          if (!vnet) {
            if (this.wCount === MAX_WRITES) this.flushWrites();
            this.wOffs[this.wCount] = p;
            this.wLens[this.wCount++] = total;
            continue;
          }
          if (TcpCoalescer.eligible(d, p, total)) {
            if (co.append(d, p, total)) continue;
            this.endRun();
            this.reserve();
            co.start(d, this.wCursor, d, p, total);
            continue;
          }
          if (uco.accepts(d, p, total)) {
            if (uco.append(d, p, total)) continue;
            this.endRun();
            this.reserve();
            uco.start(d, this.wCursor, d, p, total);
            continue;
          }
          this.endRun();
          this.reserve();
          writeVnetHeader(d, this.wCursor, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
          d.copy(d, this.wCursor + VNET_HDR_LEN, p, p + total);
          this.queueWrite(VNET_HDR_LEN + total);
        }
        // Runs span recvmmsg messages (a flood arrives one datagram per message); each
        // datagram was checked on its own, sender included, before it joined.
      }
      this.endRun();
      this.flushWrites();
      if (unpaced >= this.yieldAfter && this.yieldAfter > 0) {
        c.yields++;
        nat.schedYield();
      }
      if (n < batch) return;
    }
  }

  /** Queues the TCP or UDP run in progress, if any, as one TUN write. */
  private endRun(): void {
    if (this.coalescer.active) {
      this.queueWrite(this.coalescer.finish());
    } else if (this.udpCoalescer.active) {
      this.counters.udpRuns++;
      this.counters.udpCoalesced += this.udpCoalescer.count;
      this.queueWrite(this.udpCoalescer.finish());
    }
  }

  /** Makes room at the write cursor for a maximal packet, writing out what is queued if needed. */
  private reserve(): void {
    if (this.wCount === MAX_WRITES || this.wCursor + VNET_HDR_LEN + 65535 > this.down.length) this.flushWrites();
  }

  private queueWrite(len: number): void {
    this.wOffs[this.wCount] = this.wCursor;
    this.wLens[this.wCount++] = len;
    this.wCursor += len;
  }

  private flushWrites(): void {
    const w = this.wCount;
    if (w > 0) {
      const done = this.nat.tunWrite(this.tunFd, this.down, this.wOffs, this.wLens, w);
      const ok = Math.max(done, 0);
      this.counters.tunWrites += ok;
      this.counters.dropTunWrite += w - ok;
    }
    this.wCount = 0;
    this.wCursor = this.writeBase;
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
