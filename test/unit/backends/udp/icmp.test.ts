import { describe, expect, it } from 'vitest';
import { RateLimiter, wantsUnreachable, writeNetUnreachable } from '../../../../src/backends/udp/icmp.ts';
import { sum16, validIpv4Length, writeHeaderChecksum } from '../../../../src/backends/udp/ipv4.ts';

function udpPacket(src: string, dst: string, payload: number): Buffer {
  const b = Buffer.alloc(28 + payload, 0xaa);
  b[0] = 0x45; b[1] = 0; b.writeUInt16BE(b.length, 2); b.writeUInt32BE(0x12340000, 4);
  b[8] = 64; b[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  writeHeaderChecksum(b, 0);
  return b;
}

describe('writeNetUnreachable', () => {
  it('builds type 3 code 0 from the TUN address with TTL 8, quoting header + 8 bytes', () => {
    const pkt = udpPacket('10.244.1.5', '10.244.99.7', 100);
    const out = Buffer.alloc(200);
    const n = writeNetUnreachable(out, 4, pkt, 0, pkt.length, (10 << 24) | (244 << 16) | (1 << 8));
    expect(n).toBe(20 + 8 + 28);
    const icmp = out.subarray(4, 4 + n);
    expect(validIpv4Length(icmp, 0, n)).toBe(n);
    expect(icmp[8]).toBe(8);
    expect(icmp[9]).toBe(1);
    expect([...icmp.subarray(12, 16)]).toEqual([10, 244, 1, 0]);
    expect([...icmp.subarray(16, 20)]).toEqual([10, 244, 1, 5]);
    expect(icmp[20]).toBe(3);
    expect(icmp[21]).toBe(0);
    expect(icmp.readUInt32BE(24)).toBe(0);
    expect(sum16(icmp, 20, n - 20, 0)).toBe(0xffff);
    expect(icmp.subarray(28).equals(pkt.subarray(0, 28))).toBe(true);
  });

  it('quotes less when the packet is shorter than header + 8', () => {
    const pkt = udpPacket('10.244.1.5', '10.244.99.7', 0).subarray(0, 24);
    pkt.writeUInt16BE(24, 2); writeHeaderChecksum(pkt, 0);
    expect(writeNetUnreachable(Buffer.alloc(100), 0, pkt, 0, 24, 1)).toBe(20 + 8 + 24);
  });
});

describe('wantsUnreachable', () => {
  it('skips ICMP and non-first fragments, as upstream', () => {
    const p = udpPacket('10.244.1.5', '10.244.99.7', 8);
    expect(wantsUnreachable(p, 0)).toBe(true);
    const icmp = Buffer.from(p); icmp[9] = 1;
    expect(wantsUnreachable(icmp, 0)).toBe(false);
    const frag = Buffer.from(p); frag.writeUInt16BE(0x2000 | 185, 6);
    expect(wantsUnreachable(frag, 0)).toBe(false);
    const first = Buffer.from(p); first.writeUInt16BE(0x2000, 6);
    expect(wantsUnreachable(first, 0)).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('allows a burst of perSecond, then refills with time', () => {
    let t = 0;
    const r = new RateLimiter(10, () => t);
    let ok = 0;
    for (let i = 0; i < 50; i++) if (r.take()) ok++;
    expect(ok).toBe(10);
    t += 500;
    ok = 0;
    for (let i = 0; i < 50; i++) if (r.take()) ok++;
    expect(ok).toBe(5);
  });
});
