/**
 * TCP segmentation (TUN → wire) and coalescing (wire → TUN) for a TUN opened with
 * IFF_VNET_HDR — the technique wireguard-go uses. The kernel hands us TSO super-packets of
 * up to 64 KiB; we cut them into MTU-sized IPv4 packets so every datagram on the wire stays
 * one ordinary IPv4 packet (upstream flanneld peers interoperate), and on receive we join
 * consecutive segments of one TCP flow back into a super-packet, so the kernel's stack runs
 * once per ~40 segments instead of once per segment.
 *
 * Classes keep their results in fields so the packet loop allocates nothing.
 */
import { IP_CSUM, IP_DST, IP_FRAG, IP_ID, IP_MF, IP_OFFMASK, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL, IPPROTO_TCP, writeHeaderChecksum } from './ipv4.ts';

/** struct virtio_net_hdr (linux/virtio_net.h), host-endian (little on the targets we build). */
export const VNET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

const TCP_SEQ = 4;
const TCP_ACK = 8;
const TCP_DOFF = 12;
const TCP_FLAGS = 13;
const TCP_CSUM = 16;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_ACK_FLAG = 0x10;
const TCP_CWR = 0x80;

/** Largest IPv4 packet (the total-length field is 16 bits). */
const IP_MAX = 0xffff;

/** Ones'-complement sum as in ipv4.ts `sum16`; the forwarder passes the native one. */
export type SumFn = (b: Buffer, off: number, len: number, initial: number) => number;

/** Reads a struct virtio_net_hdr at b[o]. */
export class VnetHeader {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;

  read(b: Buffer, o: number): void {
    this.flags = b[o]!;
    this.gsoType = b[o + 1]!;
    this.hdrLen = b.readUInt16LE(o + 2);
    this.gsoSize = b.readUInt16LE(o + 4);
    this.csumStart = b.readUInt16LE(o + 6);
    this.csumOffset = b.readUInt16LE(o + 8);
  }
}

export function writeVnetHeader(b: Buffer, o: number, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): void {
  b[o] = flags;
  b[o + 1] = gsoType;
  b.writeUInt16LE(hdrLen, o + 2);
  b.writeUInt16LE(gsoSize, o + 4);
  b.writeUInt16LE(csumStart, o + 6);
  b.writeUInt16LE(csumOffset, o + 8);
}

/** Pseudo-header sum (RFC 793) of the IPv4 packet at b[p] for an L4 length, not folded/complemented. */
function pseudoSum(b: Buffer, p: number, proto: number, l4len: number): number {
  let s = proto + l4len;
  for (let i = p + IP_SRC; i < p + IP_DST + 4; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  return s;
}

function fold(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/**
 * Finishes a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at
 * csumStart+csumOffset holds the pseudo-header sum; sum from csumStart to the end over it.
 * Offsets are relative to the packet start p. Returns false if they point outside.
 */
export function completeChecksum(b: Buffer, p: number, len: number, csumStart: number, csumOffset: number, sum: SumFn): boolean {
  const field = csumStart + csumOffset;
  if (field + 2 > len || csumStart >= len) return false;
  const c = ~sum(b, p + csumStart, len - csumStart, 0) & 0xffff;
  b[p + field] = c >> 8;
  b[p + field + 1] = c & 0xff;
  return true;
}

/**
 * Cuts a TSO super-packet (IPv4 + TCP, checksums not yet computed) into packets of at most
 * `mss` payload bytes, written back to back at out[o…]. Segment k starts at o + k·segLen;
 * all have length segLen except the last (lastLen). IP ids count up from the original,
 * sequence numbers advance by mss, FIN/PSH stay only on the last segment and CWR only on
 * the first, and every header and TCP checksum is computed in full.
 */
export class TcpSegmenter {
  segLen = 0;
  lastLen = 0;
  count = 0;
  private readonly sum: SumFn;

  constructor(sum: SumFn) {
    this.sum = sum;
  }

  /** Returns the number of segments, or 0 when the packet is not IPv4/TCP or mss is 0. */
  segment(src: Buffer, p: number, len: number, mss: number, out: Buffer, o: number): number {
    const ihl = (src[p]! & 0x0f) << 2;
    if (src[p + IP_PROTO] !== IPPROTO_TCP || mss <= 0 || ihl + 20 > len) return (this.count = 0);
    const t = p + ihl;
    const doff = (src[t + TCP_DOFF]! >> 4) << 2;
    const hdrLen = ihl + doff;
    if (doff < 20 || hdrLen > len) return (this.count = 0);
    const payload = len - hdrLen;
    const n = payload === 0 ? 1 : Math.ceil(payload / mss);
    const seq0 = src.readUInt32BE(t + TCP_SEQ);
    const id0 = src.readUInt16BE(p + IP_ID);
    const flags = src[t + TCP_FLAGS]!;
    const segLen = hdrLen + mss;
    const ps = pseudoSum(src, p, IPPROTO_TCP, 0);
    for (let k = 0; k < n; k++) {
      const so = o + k * segLen;
      const pay = k === n - 1 ? payload - k * mss : mss;
      src.copy(out, so, p, p + hdrLen);
      src.copy(out, so + hdrLen, p + hdrLen + k * mss, p + hdrLen + k * mss + pay);
      out.writeUInt16BE(hdrLen + pay, so + IP_TOTLEN);
      out.writeUInt16BE((id0 + k) & 0xffff, so + IP_ID);
      writeHeaderChecksum(out, so);
      const st = so + ihl;
      out.writeUInt32BE((seq0 + k * mss) >>> 0, st + TCP_SEQ);
      let f = flags;
      if (k !== n - 1) f &= ~(TCP_FIN | TCP_PSH);
      if (k !== 0) f &= ~TCP_CWR;
      out[st + TCP_FLAGS] = f;
      out[st + TCP_CSUM] = 0;
      out[st + TCP_CSUM + 1] = 0;
      const l4 = doff + pay;
      const c = ~this.sum(out, st, l4, fold(ps + l4)) & 0xffff;
      out[st + TCP_CSUM] = c >> 8;
      out[st + TCP_CSUM + 1] = c & 0xff;
    }
    this.segLen = segLen;
    this.lastLen = hdrLen + payload - (n - 1) * mss;
    this.count = n;
    return n;
  }
}

/**
 * Joins consecutive in-order segments of one TCP flow into a super-packet with a vnet
 * header (GSO_TCPV4, checksum left partial for the kernel), written at out[o…]:
 *
 *   if (!co.append(pkt, p, len)) { emit(co.finish()); co.start(out, o, pkt, p, len); }
 *
 * A segment joins when: same addresses, ports, TOS, TTL, DF, ack, window and TCP options
 * as the first; sequence number continues the run; payload ≤ the first's (the mss); only
 * ACK (and PSH, which closes the run) set; the run has not been closed by a short segment;
 * and the result stays ≤ 65535 bytes. Everything else starts a new run — the kernel gets
 * exactly the bytes the sender sent, only in fewer pieces.
 */
export class TcpCoalescer {
  active = false;
  private out: Buffer = Buffer.alloc(0);
  private o = 0; // where the vnet header goes
  private len = 0; // IP packet bytes so far
  private count = 0;
  private mss = 0;
  private hdrLen = 0;
  private nextSeq = 0;
  private closed = false;

  /** True for a packet that may start or join a run: TCP, no IP options, not a fragment, ACK with payload. */
  static eligible(b: Buffer, p: number, len: number): boolean {
    if (b[p] !== 0x45 || b[p + IP_PROTO] !== IPPROTO_TCP || len < 40) return false;
    if ((b.readUInt16BE(p + IP_FRAG) & (IP_MF | IP_OFFMASK)) !== 0) return false;
    const doff = (b[p + 20 + TCP_DOFF]! >> 4) << 2;
    if (doff < 20 || 20 + doff >= len) return false;
    const f = b[p + 20 + TCP_FLAGS]!;
    return (f & ~TCP_PSH) === TCP_ACK_FLAG;
  }

  /** Begins a run with an eligible packet; the caller reserves VNET_HDR_LEN + 65535 bytes at out[o]. */
  start(out: Buffer, o: number, b: Buffer, p: number, len: number): void {
    this.out = out;
    this.o = o;
    b.copy(out, o + VNET_HDR_LEN, p, p + len);
    this.len = len;
    this.count = 1;
    this.hdrLen = 20 + ((b[p + 20 + TCP_DOFF]! >> 4) << 2);
    this.mss = len - this.hdrLen;
    this.nextSeq = (b.readUInt32BE(p + 20 + TCP_SEQ) + this.mss) >>> 0;
    this.closed = (b[p + 20 + TCP_FLAGS]! & TCP_PSH) !== 0;
    this.active = true;
  }

  /** Appends an eligible packet to the run if it continues it; false (and no change) otherwise. */
  append(b: Buffer, p: number, len: number): boolean {
    if (!this.active || this.closed) return false;
    const h = this.o + VNET_HDR_LEN;
    const out = this.out;
    const hl = this.hdrLen;
    const pay = len - hl;
    if (pay <= 0 || pay > this.mss || this.len + pay > IP_MAX) return false;
    if (b.readUInt32BE(p + 20 + TCP_SEQ) !== this.nextSeq) return false;
    if (b[p + 1] !== out[h + 1] || b[p + IP_TTL] !== out[h + IP_TTL] || (b[p + IP_FRAG]! ^ out[h + IP_FRAG]!) !== 0) return false;
    // addresses (12..19), then ports, ack (skip seq), offset/flags-free compare of window and options
    if (b.compare(out, h + IP_SRC, h + 20 + TCP_SEQ, p + IP_SRC, p + 20 + TCP_SEQ) !== 0) return false;
    if (b.readUInt32BE(p + 20 + TCP_ACK) !== out.readUInt32BE(h + 20 + TCP_ACK)) return false;
    if (b[p + 20 + TCP_DOFF] !== out[h + 20 + TCP_DOFF]) return false;
    if (b.readUInt16BE(p + 20 + 14) !== out.readUInt16BE(h + 20 + 14)) return false; // window
    if (hl > 40 && b.compare(out, h + 40, h + hl, p + 40, p + hl) !== 0) return false; // options
    b.copy(out, h + this.len, p + hl, p + len);
    this.len += pay;
    this.count++;
    this.nextSeq = (this.nextSeq + pay) >>> 0;
    if (pay < this.mss) this.closed = true;
    if ((b[p + 20 + TCP_FLAGS]! & TCP_PSH) !== 0) {
      out[h + 20 + TCP_FLAGS] = out[h + 20 + TCP_FLAGS]! | TCP_PSH;
      this.closed = true;
    }
    return true;
  }

  /**
   * Ends the run and returns the bytes written at out[o] (vnet header + packet). A run of
   * one is the original packet with an empty vnet header; a longer run gets its total
   * length, a fresh IP checksum and the pseudo-header sum in the TCP checksum field.
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
    out.writeUInt16BE(this.len, h + IP_TOTLEN);
    out[h + IP_CSUM] = 0;
    writeHeaderChecksum(out, h);
    out.writeUInt16BE(fold(pseudoSum(out, h, IPPROTO_TCP, this.len - 20)), h + 20 + TCP_CSUM);
    writeVnetHeader(out, o, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, this.hdrLen, this.mss, 20, TCP_CSUM);
    return VNET_HDR_LEN + this.len;
  }
}
