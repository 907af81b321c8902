/**
 * The native csum (32-bit words in host order, folded and byte-swapped at the end) against the
 * plain big-endian 16-bit reference (ipv4.ts sum16): odd offsets and lengths, all-ones data
 * (carry-heavy), initial sums. The segmenter's TCP checksums rest on it.
 */
import { describe, expect, it } from 'vitest';
import { loadDatapath } from '../../src/native/datapath-native.ts';
import { sum16 } from '../../src/backends/udp/ipv4.ts';

describe('native csum', () => {
  it('equals the 16-bit reference for any offset, length and initial sum', () => {
    const nat = loadDatapath();
    const buf = Buffer.alloc(70_000);
    let seed = 12345;
    const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed; };
    for (let t = 0; t < 4000; t++) {
      if (t % 200 === 0) for (let i = 0; i < buf.length; i++) buf[i] = rnd() & 0xff;
      if (t % 200 === 100) buf.fill(0xff, 0, 70_000);
      if (t % 200 === 150) buf.fill(0, 0, 70_000);
      const off = rnd() % 64;
      const len = t % 8 === 0 ? rnd() % 65_536 : rnd() % 48;
      const initial = [0, 0xffff, rnd() & 0xffff][t % 3]!;
      expect(nat.csum(buf, off, len, initial), `off ${off} len ${len} initial ${initial}`).toBe(sum16(buf, off, len, initial));
    }
  });
});
