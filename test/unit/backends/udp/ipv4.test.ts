import { describe, expect, it } from 'vitest';
import { decrementTtl, sum16, validIpv4Length, writeHeaderChecksum } from '../../../../src/backends/udp/ipv4.ts';

/** A random but valid IPv4 header (IHL 5..15) at b[0], with a correct checksum. */
function randomHeader(rand: () => number): Buffer {
  const ihl = 5 + Math.floor(rand() * 11);
  const b = Buffer.alloc(ihl * 4);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
  b[0] = 0x40 | ihl;
  b.writeUInt16BE(b.length, 2);
  writeHeaderChecksum(b, 0);
  return b;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('decrementTtl', () => {
  it('matches a full checksum recompute on 200k random headers', () => {
    const rand = lcg(7);
    let checked = 0;
    for (let n = 0; n < 200_000; n++) {
      const b = randomHeader(rand);
      const ttl = b[8]!;
      const ok = decrementTtl(b, 0);
      if (ttl <= 1) {
        expect(ok).toBe(false);
        expect(b[8]).toBe(ttl);
        continue;
      }
      const fast = b.readUInt16BE(10);
      writeHeaderChecksum(b, 0);
      if (fast !== b.readUInt16BE(10)) expect.fail(`ttl ${ttl}: incremental ${fast.toString(16)} != full ${b.readUInt16BE(10).toString(16)}`);
      checked++;
    }
    expect(checked).toBeGreaterThan(190_000);
  });

  it('refuses TTL 1 and 0 without touching the packet', () => {
    for (const ttl of [0, 1]) {
      const b = randomHeader(lcg(ttl));
      b[8] = ttl;
      writeHeaderChecksum(b, 0);
      const before = Buffer.from(b);
      expect(decrementTtl(b, 0)).toBe(false);
      expect(b.equals(before)).toBe(true);
    }
  });
});

describe('validIpv4Length', () => {
  const good = randomHeader(lcg(1));
  const pkt = Buffer.concat([good, Buffer.alloc(8)]);
  pkt.writeUInt16BE(pkt.length, 2);
  writeHeaderChecksum(pkt, 0);

  it('accepts a well-formed packet and returns its total length, ignoring padding', () => {
    expect(validIpv4Length(Buffer.concat([pkt, Buffer.alloc(6)]), 0, pkt.length + 6)).toBe(pkt.length);
  });
  it('rejects truncation, wrong version, short IHL and a bad checksum', () => {
    expect(validIpv4Length(pkt, 0, pkt.length - 1)).toBe(0);
    expect(validIpv4Length(pkt, 0, 19)).toBe(0);
    const v6 = Buffer.from(pkt); v6[0] = 0x60 | (v6[0]! & 15);
    expect(validIpv4Length(v6, 0, v6.length)).toBe(0);
    const ihl4 = Buffer.from(pkt); ihl4[0] = 0x44; writeHeaderChecksum(ihl4, 0);
    expect(validIpv4Length(ihl4, 0, ihl4.length)).toBe(0);
    const bad = Buffer.from(pkt); bad[15] = bad[15]! ^ 1;
    expect(validIpv4Length(bad, 0, bad.length)).toBe(0);
  });
});

describe('sum16', () => {
  it('folds odd lengths with a zero pad (RFC 1071 example)', () => {
    const b = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(sum16(b, 0, 8, 0)).toBe(0xddf2);
    expect(sum16(Buffer.from([0xab]), 0, 1, 0)).toBe(0xab00);
  });
});
