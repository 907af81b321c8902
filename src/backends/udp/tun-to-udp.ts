/**
 * The forwarder's TUN → UDP direction: reads packets the kernel routed into flannel0, finds
 * the peer whose subnet holds the destination, and sends each as one UDP datagram to that
 * peer's public IP (upstream's wire format, pkg/backend/udp/proxy_amd64.c: the datagram is
 * the raw IPv4 packet). With TUN offloads it segments TSO super-packets; with UDP GSO it sends
 * runs of equal-size packets to one peer as one message. Per packet: no allocation, no
 * closures, no logging (drops are counted).
 *
 * Slab layout: [ read slots | segment regions | send runs | ICMP scratch ]. Offsets passed to
 * sendmmsg point anywhere into the slab, so a packet that needs no rewriting beyond TTL is
 * sent from where it was read.
 */
import { constants as osConstants } from 'node:os';
import type { Logger } from '../../observe/log.ts';
import type { UdpCounters } from './counters.ts';
import { Direction, ROUNDS, type ForwarderOptions } from './direction.ts';
import { RateLimiter, writeNetUnreachable, wantsUnreachable, ICMP_UNREACH_MAX } from './icmp.ts';
import { decrementTtl, readAddr, validIpv4Length, IP_DST } from './ipv4.ts';
import { completeChecksum, TcpSegmenter, VnetHeader, writeVnetHeader, VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, type SumFn } from './offload.ts';

/** A TUN read with a vnet header: 10 + 65535 bytes, rounded. */
const VNET_SLOT = 65552;
/** Per super-packet output room: payload + one header (≤ 120 B) per segment at mss ≥ 536. */
const SEG_REGION = 65536 + 128 * 124;
/** UDP messages per udpSend; sendmmsg is called in chunks of 64 by the addon. */
const MAX_MSGS = 256;
/** UDP_MAX_SEGMENTS is 64 on older kernels; the payload of one GSO send stays < 64 KiB. */
const GSO_MAX_SEGS = 64;
const GSO_MAX_BYTES = 65000;
const { EIO, EINVAL } = osConstants.errno;

export class TunToUdp extends Direction {
  private readonly log: Logger;
  private gso: boolean;
  private readonly port: number;
  private tunAddr = 0;

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

  constructor(o: ForwarderOptions, counters: UdpCounters) {
    super(o, counters);
    this.log = o.log;
    this.gso = o.gso;
    this.port = o.port;
    this.sum = o.nat.csum;
    this.segmenter = new TcpSegmenter(this.sum);
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
  }

  /** The source of the ICMP unreachables this direction writes back into the TUN (int32). */
  setIcmpSource(src: number): void {
    this.tunAddr = src | 0;
  }

  /** Whether sends still use UDP GSO (off after the route's device refused it). */
  get usesGso(): boolean {
    return this.gso;
  }

  /** Called by uv_poll when the TUN is readable (tests may call it directly). */
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
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
