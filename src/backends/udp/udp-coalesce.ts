/**
 * UDP coalescing on the way into the TUN (wire → TUN), the UDP twin of TcpCoalescer: a run of
 * datagrams of one UDP flow becomes one write with a vnet header of type GSO_UDP_L4, and the
 * kernel cuts it back into the very same datagrams (__udp_gso_segment). A flood of small
 * datagrams then costs one TUN write per run (up to 64 datagrams) instead of one per datagram,
 * and the forwarding path of the kernel runs once per run too.
 *
 * The kernel's segmentation fixes what it can derive — per-segment total length, UDP length,
 * IP id (first + k), both checksums — and copies everything else from the first header. So a
 * datagram joins only when those derived fields are exactly what the sender had: the IP id is
 * the previous one + 1, and TOS, DF, TTL, addresses and ports equal the first's. Payloads are
 * all gso_size long except a shorter last one. Datagrams whose UDP checksum does not verify (or
 * is 0, "none") are never joined: the kernel would otherwise hand them on with a fresh checksum
 * and the receiver could not drop them as it does now.
 */
import { IP_CSUM, IP_DST, IP_FRAG, IP_ID, IP_MF, IP_OFFMASK, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL, IPPROTO_UDP, sum16, writeHeaderChecksum } from './ipv4.ts';
import { VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, writeVnetHeader, type SumFn } from './offload.ts';

/** linux/virtio_net.h */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** UDP_MAX_SEGMENTS on kernels before 6.x (64); newer ones allow 128. */
export const UDP_COALESCE_MAX_SEGS = 64;
const UDP_LEN = 4;
const UDP_CSUM = 6;
const IP_MAX = 0xffff;
/** Below this the JS sum beats the cost of a native call (bench/udp-throughput.ts, 64 B floods). */
const JS_SUM_MAX = 256;

export class UdpCoalescer {
  active = false;
  /** Datagrams in the current run. */
  count = 0;
  private out: Buffer = Buffer.alloc(0);
  private o = 0; // where the vnet header goes
  private len = 0; // IPv4 bytes so far
  private gsoSize = 0; // payload bytes of every datagram but a shorter last one
  private nextId = 0;
  private closed = false;
  private readonly sum: SumFn;

  constructor(sum: SumFn) {
    this.sum = sum;
  }

  /**
   * True for a datagram that may start or join a run: IPv4 without options, not a fragment, UDP
   * whose length field matches the packet, a payload of at least one byte, and a UDP checksum
   * that is present and verifies.
   */
  accepts(b: Buffer, p: number, len: number): boolean {
    if (b[p] !== 0x45 || b[p + IP_PROTO] !== IPPROTO_UDP || len < 29) return false;
    if ((((b[p + IP_FRAG]! << 8) | b[p + IP_FRAG + 1]!) & (IP_MF | IP_OFFMASK)) !== 0) return false;
    const u = p + 20;
    const ulen = (b[u + UDP_LEN]! << 8) | b[u + UDP_LEN + 1]!;
    if (ulen !== len - 20 || (b[u + UDP_CSUM]! | b[u + UDP_CSUM + 1]!) === 0) return false;
    let ps = IPPROTO_UDP + ulen;
    for (let i = p + IP_SRC; i < p + IP_DST + 4; i += 2) ps += (b[i]! << 8) | b[i + 1]!;
    ps = (ps & 0xffff) + (ps >>> 16);
    const s = ulen < JS_SUM_MAX ? sum16(b, u, ulen, ps) : this.sum(b, u, ulen, ps);
    return s === 0xffff;
  }

  /** Begins a run with an accepted datagram; the caller reserves VNET_HDR_LEN + 65535 bytes at out[o]. */
  start(out: Buffer, o: number, b: Buffer, p: number, len: number): void {
    this.out = out;
    this.o = o;
    b.copy(out, o + VNET_HDR_LEN, p, p + len);
    this.len = len;
    this.count = 1;
    this.gsoSize = len - 28;
    this.nextId = (((b[p + IP_ID]! << 8) | b[p + IP_ID + 1]!) + 1) & 0xffff;
    this.closed = false;
    this.active = true;
  }

  /** Appends an accepted datagram if it continues the run; false (and no change) otherwise. */
  append(b: Buffer, p: number, len: number): boolean {
    if (!this.active || this.closed || this.count === UDP_COALESCE_MAX_SEGS) return false;
    const pay = len - 28;
    if (pay > this.gsoSize || this.len + pay > IP_MAX) return false;
    const out = this.out;
    const h = this.o + VNET_HDR_LEN;
    if (((b[p + IP_ID]! << 8) | b[p + IP_ID + 1]!) !== this.nextId) return false;
    if (b[p + 1] !== out[h + 1] || b[p + IP_FRAG] !== out[h + IP_FRAG] || b[p + IP_TTL] !== out[h + IP_TTL]) return false;
    // addresses and ports: bytes 12..23 of the packet
    for (let i = IP_SRC; i < 24; i++) if (b[p + i] !== out[h + i]) return false;
    b.copy(out, h + this.len, p + 28, p + len);
    this.len += pay;
    this.count++;
    this.nextId = (this.nextId + 1) & 0xffff;
    if (pay < this.gsoSize) this.closed = true;
    return true;
  }

  /**
   * Ends the run; returns the bytes written at out[o] (vnet header + packet). A run of one is
   * the original datagram, untouched, behind an empty vnet header. A longer run gets the total
   * lengths, a fresh IP header checksum, and in the UDP checksum field the pseudo-header sum
   * the kernel completes per segment (CHECKSUM_PARTIAL).
   */
  finish(): number {
    if (!this.active) return 0;
    this.active = false;
    const out = this.out;
    const o = this.o;
    const h = o + VNET_HDR_LEN;
    if (this.count === 1) {
      writeVnetHeader(out, o, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
      return VNET_HDR_LEN + this.len;
    }
    const ulen = this.len - 20;
    out[h + IP_TOTLEN] = this.len >> 8;
    out[h + IP_TOTLEN + 1] = this.len & 0xff;
    out[h + IP_CSUM] = 0;
    writeHeaderChecksum(out, h);
    out[h + 20 + UDP_LEN] = ulen >> 8;
    out[h + 20 + UDP_LEN + 1] = ulen & 0xff;
    let ps = IPPROTO_UDP + ulen;
    for (let i = h + IP_SRC; i < h + IP_DST + 4; i += 2) ps += (out[i]! << 8) | out[i + 1]!;
    ps = (ps & 0xffff) + (ps >>> 16);
    ps = (ps & 0xffff) + (ps >>> 16);
    out[h + 20 + UDP_CSUM] = ps >> 8;
    out[h + 20 + UDP_CSUM + 1] = ps & 0xff;
    writeVnetHeader(out, o, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, 28, this.gsoSize, 20, UDP_CSUM);
    return VNET_HDR_LEN + this.len;
  }
}
