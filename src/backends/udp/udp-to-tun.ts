/**
 * The forwarder's UDP → TUN direction: receives datagrams from peers, accepts those from a
 * known peer's public IP whose packet is for our own subnet, and writes the packets into
 * flannel0 for the kernel to deliver. With TUN offloads, runs of TCP segments and of UDP
 * datagrams of one flow are coalesced into one write (GRO in reverse). Per packet: no
 * allocation, no closures, no logging (drops are counted).
 *
 * Slab layout: [ recv slots | TUN write region ]. A packet written without a vnet header is
 * written from where it was received.
 */
import type { UdpCounters } from './counters.ts';
import { Direction, ROUNDS, type ForwarderOptions } from './direction.ts';
import { decrementTtl, readAddr, validIpv4Length, IP_DST, IP_PROTO, IPPROTO_TCP } from './ipv4.ts';
import { TcpCoalescer, writeVnetHeader, VNET_HDR_LEN, VIRTIO_NET_HDR_GSO_NONE } from './offload.ts';
import { UdpCoalescer } from './udp-coalesce.ts';

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

export class UdpToTun extends Direction {
  private readonly yieldAfter: number;
  private ownNet = 0;
  private ownMask = -1;

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

  constructor(o: ForwarderOptions, counters: UdpCounters) {
    super(o, counters);
    this.yieldAfter = o.yieldAfter ?? YIELD_AFTER;
    this.udpCoalescer = new UdpCoalescer(o.nat.csum);

    this.recvSlot = o.gro ? GRO_SLOT : PLAIN_RX_SLOT;
    this.recvBatch = o.gro ? 16 : 64;
    this.writeBase = this.recvSlot * this.recvBatch;
    // Each datagram grows by at most a vnet header when written; twice the recv region is ample.
    this.down = Buffer.alloc(this.writeBase + (o.vnetHdr ? this.writeBase * 2 : 0));
    this.rLens = new Int32Array(this.recvBatch);
    this.rSrc = new Uint32Array(this.recvBatch);
    this.rSeg = new Int32Array(this.recvBatch);
    this.wCursor = this.writeBase;
  }

  /** Our own lease: datagrams are accepted only for destinations inside it. */
  setOwn(subnetIp: number, prefixLen: number): void {
    this.ownMask = prefixLen === 0 ? 0 : -1 << (32 - prefixLen);
    this.ownNet = subnetIp & this.ownMask;
  }

  /** Whether the socket receives GRO super-datagrams. */
  get usesGro(): boolean {
    return this.recvSlot === GRO_SLOT;
  }

  /** Called by uv_poll when the UDP socket is readable (tests may call it directly). */
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
