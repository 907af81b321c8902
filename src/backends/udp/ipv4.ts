/**
 * IPv4 header helpers for the udp datapath. All work in place on a Buffer at an offset, and
 * none allocates: they run once per packet.
 */

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Offsets inside the IPv4 header (RFC 791). */
export const IP_TOTLEN = 2;
export const IP_ID = 4;
export const IP_FRAG = 6;
export const IP_TTL = 8;
export const IP_PROTO = 9;
export const IP_CSUM = 10;
export const IP_SRC = 12;
export const IP_DST = 16;

/** Flag and offset bits of the fragment field. */
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

/**
 * Ones'-complement sum of b[off, off+len) added to `initial`, folded to 16 bits, not
 * complemented. Reads 16 bits at a time; an odd last byte is padded with zero (RFC 1071).
 */
export function sum16(b: Buffer, off: number, len: number, initial: number): number {
  let sum = initial;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if ((len & 1) !== 0) sum += b[end]! << 8;
  // At most 32k additions of 0xffff fit in a double exactly; two folds bring it to 16 bits.
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Header length in bytes from the IHL nibble. */
export function headerLength(b: Buffer, off: number): number {
  return (b[off]! & 0x0f) << 2;
}

/**
 * Checks that b[off, off+len) starts with a well-formed IPv4 header: version 4, IHL ≥ 5,
 * header within the data, total length within [IHL·4, len], and a correct header checksum.
 * Returns the total length to use (trailing bytes beyond it are padding), or 0 if malformed.
 */
export function validIpv4Length(b: Buffer, off: number, len: number): number {
  if (len < 20) return 0;
  const v = b[off]!;
  if (v >> 4 !== 4) return 0;
  const hl = (v & 0x0f) << 2;
  if (hl < 20 || hl > len) return 0;
  const total = (b[off + 2]! << 8) | b[off + 3]!;
  if (total < hl || total > len) return 0;
  if (sum16(b, off, hl, 0) !== 0xffff) return 0;
  return total;
}

/** Writes a fresh header checksum (for headers we built or rewrote wholesale). */
export function writeHeaderChecksum(b: Buffer, off: number): void {
  b[off + IP_CSUM] = 0;
  b[off + IP_CSUM + 1] = 0;
  const c = ~sum16(b, off, headerLength(b, off), 0) & 0xffff;
  b[off + IP_CSUM] = c >> 8;
  b[off + IP_CSUM + 1] = c & 0xff;
}

/**
 * TTL − 1 in place with the header checksum patched incrementally (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m'), where the 16-bit word holding TTL drops by 0x0100). The same
 * arithmetic as the kernel's ip_decrease_ttl. Returns false, changing nothing, when
 * TTL ≤ 1: the packet must be dropped.
 */
export function decrementTtl(b: Buffer, off: number): boolean {
  const ttl = b[off + IP_TTL]!;
  if (ttl <= 1) return false;
  b[off + IP_TTL] = ttl - 1;
  const sum = ((b[off + IP_CSUM]! << 8) | b[off + IP_CSUM + 1]!) + 0x0100;
  // End-around carry; a result of 0xffff becomes 0, as full recomputation would give.
  const c = (sum + (sum >= 0xffff ? 1 : 0)) & 0xffff;
  b[off + IP_CSUM] = c >> 8;
  b[off + IP_CSUM + 1] = c & 0xff;
  return true;
}

/** The address at b[off] as an int32 (the key type of the route table). */
export function readAddr(b: Buffer, off: number): number {
  return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}
