import { IP_DST, IP_FRAG, IP_OFFMASK, IP_PROTO, IP_SRC, IPPROTO_ICMP, headerLength, sum16, writeHeaderChecksum } from './ipv4.ts';

/** ICMP destination unreachable / net unreachable (RFC 792). */
export const ICMP_DEST_UNREACH = 3;
export const ICMP_NET_UNREACH = 0;

/** Upstream's proxy (pkg/backend/udp/proxy_amd64.c, send_net_unreachable) sends these with TTL 8. */
const ICMP_TTL = 8;

/** Room an unreachable needs: IPv4 (20) + ICMP (8) + offending header (≤ 60) + 8 bytes. */
export const ICMP_UNREACH_MAX = 20 + 8 + 60 + 8;

/**
 * True when an offending packet deserves an unreachable: it is not ICMP itself (no errors
 * about errors) and it is the first fragment — the same rule as upstream's proxy.
 */
export function wantsUnreachable(pkt: Buffer, off: number): boolean {
  if (pkt[off + IP_PROTO] === IPPROTO_ICMP) return false;
  const frag = (pkt[off + IP_FRAG]! << 8) | pkt[off + IP_FRAG + 1]!;
  return (frag & IP_OFFMASK) === 0;
}

/**
 * Writes an ICMP net-unreachable for the (validated) packet at pkt[off, off+len) into
 * out[o…]: from `src` (the TUN address, int32) to the offending packet's source, quoting
 * its IP header and the first 8 bytes after it. Returns the packet length.
 */
export function writeNetUnreachable(out: Buffer, o: number, pkt: Buffer, off: number, len: number, src: number): number {
  const hl = headerLength(pkt, off);
  const quoted = Math.min(len, hl + 8);
  const total = 20 + 8 + quoted;
  out[o] = 0x45;
  out[o + 1] = 0;
  out.writeUInt16BE(total, o + 2);
  out.writeUInt32BE(0, o + 4); // id 0, no flags: matches upstream
  out[o + 8] = ICMP_TTL;
  out[o + IP_PROTO] = IPPROTO_ICMP;
  out.writeInt32BE(src | 0, o + IP_SRC);
  pkt.copy(out, o + IP_DST, off + IP_SRC, off + IP_SRC + 4);
  writeHeaderChecksum(out, o);
  const ic = o + 20;
  out[ic] = ICMP_DEST_UNREACH;
  out[ic + 1] = ICMP_NET_UNREACH;
  out.writeUInt32BE(0, ic + 2); // checksum, then 4 unused bytes below
  out.writeUInt16BE(0, ic + 6);
  pkt.copy(out, ic + 8, off, off + quoted);
  const c = ~sum16(out, ic, 8 + quoted, 0) & 0xffff;
  out.writeUInt16BE(c, ic + 2);
  return total;
}

/**
 * A token bucket for ICMP errors: `perSecond` tokens, bursts up to the same number. Keeps a
 * flood to unroutable addresses from turning the forwarder into a reflector at line rate.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly perSecond: number;
  private readonly now: () => number;

  constructor(perSecond: number, now: () => number = performance.now.bind(performance)) {
    this.perSecond = perSecond;
    this.now = now;
    this.tokens = perSecond;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
