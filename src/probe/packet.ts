/**
 * ICMP echo packets for the overlay probes, built and parsed here so that the native side only
 * moves bytes (native/src/nodecheck.c). Sizes are IP packet sizes, as an MTU is: a probe of
 * 1450 bytes is 20 bytes of IPv4 header (the kernel adds it), 8 of ICMP and 1422 of payload —
 * what `ping -M do -s 1422` sends.
 */

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
/** Destination-unreachable code 4: fragmentation needed and DF set. */
export const ICMP_FRAG_NEEDED = 4;

export const IPV4_HEADER_BYTES = 20;
export const ICMP_HEADER_BYTES = 8;
/** The smallest probe: headers only. */
export const MIN_PROBE_BYTES = IPV4_HEADER_BYTES + ICMP_HEADER_BYTES;
export const MAX_PROBE_BYTES = 65535;

/**
 * Writes an echo request into `buf` for an IP packet of `totalBytes`; returns the ICMP length
 * (what goes to the socket). The payload is a fixed pattern, so a truncated or altered reply
 * is visible in a capture.
 */
export function writeEchoRequest(buf: Buffer, id: number, seq: number, totalBytes: number): number {
  if (!Number.isInteger(totalBytes) || totalBytes < MIN_PROBE_BYTES || totalBytes > MAX_PROBE_BYTES) {
    throw new RangeError(`probe size ${totalBytes} outside ${MIN_PROBE_BYTES}..${MAX_PROBE_BYTES} bytes`);
  }
  const len = totalBytes - IPV4_HEADER_BYTES;
  if (buf.length < len) throw new RangeError(`probe buffer of ${buf.length} bytes is too small for ${len}`);
  buf[0] = ICMP_ECHO_REQUEST;
  buf[1] = 0;
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(id & 0xffff, 4);
  buf.writeUInt16BE(seq & 0xffff, 6);
  for (let i = ICMP_HEADER_BYTES; i < len; i++) buf[i] = i & 0xff;
  buf.writeUInt16BE(internetChecksum(buf, 0, len), 2);
  return len;
}

/** RFC 1071 checksum of buf[off, off+len), complemented, ready to store. */
export function internetChecksum(buf: Buffer, off: number, len: number): number {
  let sum = 0;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** What arrived on the raw socket, as far as the probes care. */
export type IcmpIn =
  | { readonly kind: 'reply'; readonly from: number; readonly id: number; readonly seq: number }
  | {
      readonly kind: 'error';
      /** Who sent the error (a router, or this node for a local refusal). */
      readonly from: number;
      readonly type: number;
      readonly code: number;
      /** The next-hop MTU of a fragmentation-needed error, else 0. */
      readonly mtu: number;
      /** The probe it is about. */
      readonly id: number;
      readonly seq: number;
      readonly dst: number;
    };

/**
 * Parses one IPv4 packet from the raw ICMP socket. Returns an echo reply, or an error that
 * quotes one of our echo requests; undefined for anything else (other ICMP, truncated data).
 */
export function parseIcmpPacket(buf: Buffer, len: number): IcmpIn | undefined {
  if (len < IPV4_HEADER_BYTES || buf[0]! >> 4 !== 4) return undefined;
  const ihl = (buf[0]! & 0x0f) * 4;
  if (ihl < IPV4_HEADER_BYTES || len < ihl + ICMP_HEADER_BYTES || buf[9] !== 1) return undefined;
  const from = buf.readUInt32BE(12);
  const type = buf[ihl]!;
  const code = buf[ihl + 1]!;
  if (type === ICMP_ECHO_REPLY) return { kind: 'reply', from, id: buf.readUInt16BE(ihl + 4), seq: buf.readUInt16BE(ihl + 6) };
  if (type !== ICMP_DEST_UNREACH && type !== ICMP_TIME_EXCEEDED) return undefined;
  // The error quotes the offending packet's IP header and at least 8 bytes after it.
  const inner = ihl + ICMP_HEADER_BYTES;
  if (len < inner + IPV4_HEADER_BYTES || buf[inner]! >> 4 !== 4) return undefined;
  const innerIhl = (buf[inner]! & 0x0f) * 4;
  if (innerIhl < IPV4_HEADER_BYTES || len < inner + innerIhl + ICMP_HEADER_BYTES) return undefined;
  if (buf[inner + 9] !== 1 || buf[inner + innerIhl] !== ICMP_ECHO_REQUEST) return undefined;
  return {
    kind: 'error',
    from,
    type,
    code,
    mtu: type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED ? buf.readUInt16BE(ihl + 6) : 0,
    id: buf.readUInt16BE(inner + innerIhl + 4),
    seq: buf.readUInt16BE(inner + innerIhl + 6),
    dst: buf.readUInt32BE(inner + 16),
  };
}

/** Words for an ICMP error, as ping prints them. */
export function describeIcmpError(type: number, code: number, mtu: number): string {
  if (type === ICMP_TIME_EXCEEDED) return 'time to live exceeded';
  switch (code) {
    case 0:
      return 'destination net unreachable';
    case 1:
      return 'destination host unreachable';
    case 3:
      return 'destination port unreachable';
    case ICMP_FRAG_NEEDED:
      return `frag needed and DF set (mtu = ${mtu})`;
    case 9:
    case 10:
    case 13:
      return 'communication administratively prohibited';
    default:
      return `destination unreachable, code ${code}`;
  }
}
