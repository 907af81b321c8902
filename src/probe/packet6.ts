/**
 * ICMPv6 echo packets for the overlay probes of IPv6 peers (RFC 4443), the twin of packet.ts.
 * A raw ICMPv6 socket sends and receives the ICMPv6 message alone: the kernel adds the IPv6
 * header and computes the checksum (RFC 3542 §3.1), and hands over the sender's address
 * beside the message instead of in a header. Sizes are IP packet sizes, as an MTU is: a probe
 * of 1430 bytes is 40 bytes of IPv6 header, 8 of ICMPv6 and 1382 of payload.
 */
import { ICMP_HEADER_BYTES, MAX_PROBE_BYTES } from './packet.ts';

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

export const IPV6_HEADER_BYTES = 40;
/** The smallest IPv6 probe: headers only. */
export const MIN_PROBE6_BYTES = IPV6_HEADER_BYTES + ICMP_HEADER_BYTES;
const NEXT_HEADER_ICMPV6 = 58;

/** Writes an echo request into `buf` for an IPv6 packet of `totalBytes`; returns the ICMPv6 length. */
export function writeEcho6Request(buf: Buffer, id: number, seq: number, totalBytes: number): number {
  if (!Number.isInteger(totalBytes) || totalBytes < MIN_PROBE6_BYTES || totalBytes > MAX_PROBE_BYTES) {
    throw new RangeError(`probe size ${totalBytes} outside ${MIN_PROBE6_BYTES}..${MAX_PROBE_BYTES} bytes`);
  }
  const len = totalBytes - IPV6_HEADER_BYTES;
  if (buf.length < len) throw new RangeError(`probe buffer of ${buf.length} bytes is too small for ${len}`);
  buf[0] = ICMP6_ECHO_REQUEST;
  buf[1] = 0;
  buf.writeUInt16BE(0, 2); // the kernel's to fill
  buf.writeUInt16BE(id & 0xffff, 4);
  buf.writeUInt16BE(seq & 0xffff, 6);
  for (let i = ICMP_HEADER_BYTES; i < len; i++) buf[i] = i & 0xff;
  return len;
}

/** What arrived on the raw ICMPv6 socket, as far as the probes care; addresses as 16-byte hex. */
export type Icmp6In =
  | { readonly kind: 'reply'; readonly id: number; readonly seq: number }
  | {
      readonly kind: 'error';
      readonly type: number;
      readonly code: number;
      /** The MTU a packet-too-big reports, else 0. */
      readonly mtu: number;
      readonly id: number;
      readonly seq: number;
      /** The destination of the probe it is about, 32 hex digits. */
      readonly dst: string;
    };

/**
 * Parses one ICMPv6 message. Returns an echo reply, or an error that quotes one of our echo
 * requests (its IPv6 header and the first 8 bytes after it); undefined for anything else.
 */
export function parseIcmp6Message(buf: Buffer, len: number): Icmp6In | undefined {
  if (len < ICMP_HEADER_BYTES) return undefined;
  const type = buf[0]!;
  const code = buf[1]!;
  if (type === ICMP6_ECHO_REPLY) return { kind: 'reply', id: buf.readUInt16BE(4), seq: buf.readUInt16BE(6) };
  if (type !== ICMP6_DEST_UNREACH && type !== ICMP6_PACKET_TOO_BIG && type !== ICMP6_TIME_EXCEEDED) return undefined;
  const inner = ICMP_HEADER_BYTES;
  if (len < inner + IPV6_HEADER_BYTES + ICMP_HEADER_BYTES || buf[inner]! >> 4 !== 6) return undefined;
  if (buf[inner + 6] !== NEXT_HEADER_ICMPV6 || buf[inner + IPV6_HEADER_BYTES] !== ICMP6_ECHO_REQUEST) return undefined;
  return {
    kind: 'error',
    type,
    code,
    mtu: type === ICMP6_PACKET_TOO_BIG ? buf.readUInt32BE(4) : 0,
    id: buf.readUInt16BE(inner + IPV6_HEADER_BYTES + 4),
    seq: buf.readUInt16BE(inner + IPV6_HEADER_BYTES + 6),
    dst: buf.toString('hex', inner + 24, inner + 40),
  };
}

/** Words for an ICMPv6 error, as ping prints them. */
export function describeIcmp6Error(type: number, code: number, mtu: number): string {
  if (type === ICMP6_PACKET_TOO_BIG) return `packet too big: mtu=${mtu}`;
  if (type === ICMP6_TIME_EXCEEDED) return 'time exceeded: hop limit';
  switch (code) {
    case 0:
      return 'destination unreachable: no route';
    case 1:
      return 'destination unreachable: administratively prohibited';
    case 3:
      return 'destination unreachable: address unreachable';
    case 4:
      return 'destination unreachable: port unreachable';
    default:
      return `destination unreachable, code ${code}`;
  }
}
