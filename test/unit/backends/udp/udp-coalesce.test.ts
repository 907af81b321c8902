import { describe, expect, it } from 'vitest';
import { sum16, validIpv4Length, writeHeaderChecksum } from '../../../../src/backends/udp/ipv4.ts';
import { VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VnetHeader } from '../../../../src/backends/udp/offload.ts';
import { UdpCoalescer, UDP_COALESCE_MAX_SEGS, VIRTIO_NET_HDR_GSO_UDP_L4 } from '../../../../src/backends/udp/udp-coalesce.ts';

/** IPv4 + UDP 10.244.1.5:40000 → 10.244.2.9:5201 with a correct UDP checksum. */
function udp(payload: Buffer, id: number, o: { ttl?: number; sport?: number; tos?: number } = {}): Buffer {
  const b = Buffer.alloc(28 + payload.length);
  b[0] = 0x45; b[1] = o.tos ?? 0; b.writeUInt16BE(b.length, 2); b.writeUInt16BE(id & 0xffff, 4); b[6] = 0x40; b[8] = o.ttl ?? 63; b[9] = 17;
  Buffer.from([10, 244, 1, 5]).copy(b, 12); Buffer.from([10, 244, 2, 9]).copy(b, 16);
  writeHeaderChecksum(b, 0);
  b.writeUInt16BE(o.sport ?? 40000, 20); b.writeUInt16BE(5201, 22); b.writeUInt16BE(8 + payload.length, 24);
  payload.copy(b, 28);
  setUdpChecksum(b);
  return b;
}

function pseudo(b: Buffer, ulen: number): number {
  let ps = 17 + ulen;
  for (let i = 12; i < 20; i += 2) ps += b.readUInt16BE(i);
  return ps % 0xffff;
}

function setUdpChecksum(b: Buffer): void {
  b.writeUInt16BE(0, 26);
  const c = ~sum16(b, 20, b.length - 20, pseudo(b, b.length - 20)) & 0xffff;
  b.writeUInt16BE(c === 0 ? 0xffff : c, 26);
}

/**
 * What the kernel's __udp_gso_segment + inet_gso_segment make of a GSO_UDP_L4 write: segments
 * of gsoSize payload with the first header, IP id + k, lengths and both checksums fixed.
 */
function kernelSegments(w: Buffer, len: number): Buffer[] {
  const vh = new VnetHeader();
  vh.read(w, 0);
  const pkt = w.subarray(VNET_HDR_LEN, len);
  if (vh.gsoType === 0) return [Buffer.from(pkt)];
  expect(vh.gsoType).toBe(VIRTIO_NET_HDR_GSO_UDP_L4);
  expect(vh.flags).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
  expect([vh.hdrLen, vh.csumStart, vh.csumOffset]).toEqual([28, 20, 6]);
  // The partial checksum holds the pseudo-header sum over the whole UDP length.
  expect(pkt.readUInt16BE(26)).toBe(pseudo(pkt, pkt.length - 20) || 0xffff);
  const out: Buffer[] = [];
  const id0 = pkt.readUInt16BE(4);
  for (let k = 0, off = 28; off < pkt.length; k++, off += vh.gsoSize) {
    const pay = pkt.subarray(off, Math.min(off + vh.gsoSize, pkt.length));
    const s = Buffer.concat([pkt.subarray(0, 28), pay]);
    s.writeUInt16BE(s.length, 2); s.writeUInt16BE((id0 + k) & 0xffff, 4);
    writeHeaderChecksum(s, 0);
    s.writeUInt16BE(8 + pay.length, 24);
    setUdpChecksum(s);
    out.push(s);
  }
  return out;
}

/** Feeds packets through the coalescer as the forwarder does; returns every write's segments. */
function run(pkts: Buffer[]): { writes: number; segments: Buffer[] } {
  const co = new UdpCoalescer(sum16);
  const out = Buffer.alloc(1 << 20);
  let o = 0, writes = 0;
  const segments: Buffer[] = [];
  const emit = () => { if (!co.active) return; const n = co.finish(); segments.push(...kernelSegments(out.subarray(o), n)); o += n; writes++; };
  for (const p of pkts) {
    expect(validIpv4Length(p, 0, p.length)).toBe(p.length);
    if (co.accepts(p, 0, p.length) && co.append(p, 0, p.length)) continue;
    emit();
    if (co.accepts(p, 0, p.length)) co.start(out, o, p, 0, p.length);
    else { segments.push(Buffer.from(p)); writes++; }
  }
  emit();
  return { writes, segments };
}

const pay = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

describe('UdpCoalescer', () => {
  it('joins a run of equal datagrams (and a shorter last one) that the kernel cuts back into the same bytes', () => {
    const pkts = [...Array.from({ length: 10 }, (_, k) => udp(pay(64, k), 0xfffa + k)), udp(pay(20, 99), 0xfffa + 10)];
    const r = run(pkts);
    expect(r.writes).toBe(1);
    expect(r.segments).toEqual(pkts);
  });

  it('writes a lone datagram untouched behind an empty vnet header', () => {
    const p = udp(pay(64, 1), 7);
    const co = new UdpCoalescer(sum16);
    const out = Buffer.alloc(2048);
    expect(co.accepts(p, 0, p.length)).toBe(true);
    co.start(out, 0, p, 0, p.length);
    const n = co.finish();
    expect(out.subarray(0, VNET_HDR_LEN)).toEqual(Buffer.alloc(VNET_HDR_LEN));
    expect(out.subarray(VNET_HDR_LEN, n)).toEqual(p);
  });

  it('starts a new run when the id does not follow, TTL/TOS/ports differ, a payload grows, or after a short one', () => {
    const base = (k: number) => udp(pay(64, k), 100 + k);
    const cases: Buffer[][] = [
      [base(0), udp(pay(64, 1), 105)],
      [base(0), udp(pay(64, 1), 101, { ttl: 62 })],
      [base(0), udp(pay(64, 1), 101, { tos: 0x10 })],
      [base(0), udp(pay(64, 1), 101, { sport: 40001 })],
      [base(0), udp(pay(65, 1), 101)],
      [base(0), udp(pay(10, 1), 101), udp(pay(10, 2), 102)],
    ];
    const writes = [2, 2, 2, 2, 2, 2];
    cases.forEach((pkts, i) => {
      const r = run(pkts);
      expect(r.writes, `case ${i}`).toBe(writes[i]);
      expect(r.segments, `case ${i}`).toEqual(pkts);
    });
  });

  it('never joins a datagram whose UDP checksum is wrong or absent, so the receiver still drops it', () => {
    const bad = udp(pay(64, 1), 101);
    bad[40] = bad[40]! ^ 1;
    const none = udp(pay(64, 2), 102);
    none.writeUInt16BE(0, 26);
    const co = new UdpCoalescer(sum16);
    expect(co.accepts(bad, 0, bad.length)).toBe(false);
    expect(co.accepts(none, 0, none.length)).toBe(false);
    const pkts = [udp(pay(64, 0), 100), bad, none, udp(pay(64, 3), 103)];
    const r = run(pkts);
    expect(r.writes).toBe(4);
    expect(r.segments).toEqual(pkts);
  });

  it('refuses fragments and packets with IP options', () => {
    const frag = udp(pay(64, 0), 1);
    frag[6] = 0x20; // MF
    writeHeaderChecksum(frag, 0);
    const co = new UdpCoalescer(sum16);
    expect(co.accepts(frag, 0, frag.length)).toBe(false);
    const opt = Buffer.concat([udp(pay(64, 0), 1).subarray(0, 20), Buffer.alloc(4), udp(pay(64, 0), 1).subarray(20)]);
    opt[0] = 0x46;
    expect(co.accepts(opt, 0, opt.length)).toBe(false);
  });

  it(`caps a run at ${UDP_COALESCE_MAX_SEGS} datagrams`, () => {
    const pkts = Array.from({ length: UDP_COALESCE_MAX_SEGS + 1 }, (_, k) => udp(pay(32, k), k));
    const r = run(pkts);
    expect(r.writes).toBe(2);
    expect(r.segments).toEqual(pkts);
  });

  it('verifies checksums of long datagrams with the native-sized path too', () => {
    const pkts = Array.from({ length: 3 }, (_, k) => udp(pay(1400, k), k));
    const r = run(pkts);
    expect(r.writes).toBe(1);
    expect(r.segments).toEqual(pkts);
  });
});
