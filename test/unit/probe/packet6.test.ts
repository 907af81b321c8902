import { describe, expect, it } from 'vitest';
import { describeIcmp6Error, parseIcmp6Message, writeEcho6Request } from '../../../src/probe/packet6.ts';

/** The 40-byte IPv6 header an ICMPv6 error quotes, for a probe to `dst` (32 hex digits). */
function quotedHeader(dst: string, payloadLen: number): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payloadLen, 4);
  h[6] = 58; // next header: ICMPv6
  h[7] = 64;
  Buffer.from('fd000010024400010000000000000000', 'hex').copy(h, 8);
  Buffer.from(dst, 'hex').copy(h, 24);
  return h;
}

const PEER = 'fd000010024400020000000000000000'; // fd00:10:244:2::

describe('ICMPv6 echo packets', () => {
  it('writes an echo request whose IPv6 packet is exactly the probe size; the checksum is left to the kernel', () => {
    const buf = Buffer.alloc(2000);
    const len = writeEcho6Request(buf, 0xbeef, 7, 1430);
    expect(len).toBe(1390);
    expect([buf[0], buf[1], buf.readUInt16BE(2), buf.readUInt16BE(4), buf.readUInt16BE(6)]).toEqual([128, 0, 0, 0xbeef, 7]);
    expect(() => writeEcho6Request(buf, 1, 1, 47)).toThrow(/probe size 47 outside 48\.\.65535/);
  });

  it('reads an echo reply by id and sequence', () => {
    const reply = Buffer.from('81000000beef0007', 'hex');
    expect(parseIcmp6Message(reply, reply.length)).toEqual({ kind: 'reply', id: 0xbeef, seq: 7 });
  });

  it('reads a packet-too-big about one of our probes: its MTU and the probe it quotes', () => {
    const probe = Buffer.alloc(8 + 8);
    writeEcho6Request(probe, 0xbeef, 9, 56);
    const head = Buffer.from('0200000000000500', 'hex'); // type 2, code 0, MTU 1280
    const msg = Buffer.concat([head, quotedHeader(PEER, 16), probe.subarray(0, 8)]);
    expect(parseIcmp6Message(msg, msg.length)).toEqual({ kind: 'error', type: 2, code: 0, mtu: 1280, id: 0xbeef, seq: 9, dst: PEER });
    expect(describeIcmp6Error(2, 0, 1280)).toBe('packet too big: mtu=1280');
    expect(describeIcmp6Error(1, 3, 0)).toBe('destination unreachable: address unreachable');
  });

  it('ignores what is not about an echo request of ours: other types, truncated or foreign quotes', () => {
    const ns = Buffer.from('87000000000000000000000000000000', 'hex'); // a neighbour solicitation
    expect(parseIcmp6Message(ns, ns.length)).toBeUndefined();
    const quotedUdp = quotedHeader(PEER, 8);
    quotedUdp[6] = 17;
    const aboutUdp = Buffer.concat([Buffer.from('0103000000000000', 'hex'), quotedUdp, Buffer.alloc(8)]);
    expect(parseIcmp6Message(aboutUdp, aboutUdp.length)).toBeUndefined();
    const truncated = Buffer.concat([Buffer.from('0103000000000000', 'hex'), quotedHeader(PEER, 8)]);
    expect(parseIcmp6Message(truncated, truncated.length)).toBeUndefined();
    expect(parseIcmp6Message(Buffer.from('8100', 'hex'), 2)).toBeUndefined();
  });
});
