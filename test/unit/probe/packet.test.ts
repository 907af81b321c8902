import { describe, expect, it } from 'vitest';
import { describeIcmpError, internetChecksum, parseIcmpPacket, writeEchoRequest } from '../../../src/probe/packet.ts';

/** An IPv4 packet around `icmp`, as the raw socket hands it over. */
function ipv4(src: string, dst: string, icmp: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + icmp.length, 2);
  h[8] = 64;
  h[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  h.writeUInt16BE(internetChecksum(h, 0, 20), 10);
  return Buffer.concat([h, icmp]);
}

describe('ICMP echo packets', () => {
  it('computes the RFC 1071 checksum (its worked example)', () => {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2; the checksum is its complement.
    expect(internetChecksum(Buffer.from('0001f203f4f5f6f7', 'hex'), 0, 8)).toBe(0x220d);
    // An odd length pads with a zero byte.
    expect(internetChecksum(Buffer.from('0001f2', 'hex'), 0, 3)).toBe(~(0x0001 + 0xf200) & 0xffff);
  });

  it('writes an echo request whose IP packet is exactly the probe size, with a valid checksum', () => {
    const buf = Buffer.alloc(2000);
    const len = writeEchoRequest(buf, 0xbeef, 7, 1450);
    expect(len).toBe(1430);
    expect([buf[0], buf[1], buf.readUInt16BE(4), buf.readUInt16BE(6)]).toEqual([8, 0, 0xbeef, 7]);
    // A correct checksum makes the whole message sum to zero.
    expect(internetChecksum(buf, 0, len)).toBe(0);
    expect(writeEchoRequest(buf, 1, 1, 28)).toBe(8);
    expect(() => writeEchoRequest(buf, 1, 1, 27)).toThrow('probe size 27 outside 28..65535 bytes');
    expect(() => writeEchoRequest(Buffer.alloc(100), 1, 1, 1450)).toThrow('probe buffer of 100 bytes is too small for 1430');
  });

  it('parses an echo reply', () => {
    const icmp = Buffer.alloc(64);
    writeEchoRequest(icmp, 0x1234, 99, 84);
    icmp[0] = 0; // reply
    expect(parseIcmpPacket(ipv4('10.244.2.0', '10.244.1.0', icmp), 84)).toEqual({ kind: 'reply', from: 0x0af40200, id: 0x1234, seq: 99 });
  });

  it('parses a fragmentation-needed error that quotes one of our echo requests', () => {
    const probe = Buffer.alloc(1430);
    writeEchoRequest(probe, 0x1234, 5, 1450);
    const quoted = ipv4('10.244.1.0', '10.244.2.0', probe).subarray(0, 28);
    const err = Buffer.alloc(8);
    err[0] = 3;
    err[1] = 4;
    err.writeUInt16BE(1400, 6);
    const pkt = ipv4('198.18.0.1', '10.244.1.0', Buffer.concat([err, quoted]));
    expect(parseIcmpPacket(pkt, pkt.length)).toEqual({ kind: 'error', from: 0xc6120001, type: 3, code: 4, mtu: 1400, id: 0x1234, seq: 5, dst: 0x0af40200 });
    expect(describeIcmpError(3, 4, 1400)).toBe('frag needed and DF set (mtu = 1400)');
    expect(describeIcmpError(3, 1, 0)).toBe('destination host unreachable');
    expect(describeIcmpError(11, 0, 0)).toBe('time to live exceeded');
  });

  it('ignores what is not ours or is cut short', () => {
    const echo = Buffer.alloc(8);
    writeEchoRequest(echo, 1, 1, 28); // a request, not a reply
    const pkt = ipv4('10.0.0.1', '10.0.0.2', echo);
    expect(parseIcmpPacket(pkt, pkt.length)).toBeUndefined();
    const reply = Buffer.from(echo);
    reply[0] = 0;
    const ok = ipv4('10.0.0.1', '10.0.0.2', reply);
    for (let n = 0; n < ok.length; n++) expect(parseIcmpPacket(ok, n)).toBeUndefined();
    // An error quoting a UDP packet (someone else's traffic).
    const udp = ipv4('10.0.0.2', '10.0.0.3', Buffer.alloc(8));
    udp[9] = 17;
    const err = Buffer.concat([Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), udp.subarray(0, 28)]);
    const e = ipv4('10.0.0.9', '10.0.0.2', err);
    expect(parseIcmpPacket(e, e.length)).toBeUndefined();
  });
});
