import { describe, expect, it } from 'vitest';
import { sum16, validIpv4Length, writeHeaderChecksum } from '../../../../src/backends/udp/ipv4.ts';
import { completeChecksum, TcpCoalescer, TcpSegmenter, VnetHeader, VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 } from '../../../../src/backends/udp/offload.ts';

const PSH = 0x08, ACK = 0x10, FIN = 0x01, CWR = 0x80;

/** IPv4 + TCP (with a 12-byte timestamp option) + payload, checksums left as the kernel leaves TSO packets. */
function tcpPacket(payload: Buffer, seq: number, flags: number, id = 0x100): Buffer {
  const b = Buffer.alloc(20 + 32 + payload.length);
  b[0] = 0x45; b.writeUInt16BE(b.length, 2); b.writeUInt16BE(id, 4); b[6] = 0x40; b[8] = 63; b[9] = 6;
  Buffer.from([10, 244, 1, 5]).copy(b, 12); Buffer.from([10, 244, 2, 9]).copy(b, 16);
  writeHeaderChecksum(b, 0);
  b.writeUInt16BE(40000, 20); b.writeUInt16BE(5201, 22); b.writeUInt32BE(seq, 24); b.writeUInt32BE(777, 28);
  b[32] = 8 << 4; b[33] = flags; b.writeUInt16BE(512, 34);
  Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).copy(b, 40);
  payload.copy(b, 52);
  return b;
}

function tcpChecksumOk(b: Buffer, p: number): boolean {
  const len = b.readUInt16BE(p + 2) - 20;
  let ps = 6 + len;
  for (let i = 12; i < 20; i += 2) ps += b.readUInt16BE(p + i);
  return sum16(b, p + 20, len, ps % 0xffff) === 0xffff;
}

function setTcpChecksum(b: Buffer): void {
  b.writeUInt16BE(0, 36);
  let ps = 6 + b.length - 20;
  for (let i = 12; i < 20; i += 2) ps += b.readUInt16BE(i);
  b.writeUInt16BE(~sum16(b, 20, b.length - 20, ps % 0xffff) & 0xffff, 36);
}

const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 255));

describe('TcpSegmenter', () => {
  it('cuts a TSO packet into mss-sized segments with valid headers and checksums', () => {
    const tso = tcpPacket(payload, 0xfffff000, ACK | PSH | FIN | CWR);
    const out = Buffer.alloc(20_000);
    const s = new TcpSegmenter(sum16);
    const n = s.segment(tso, 0, tso.length, 1400, out, 16);
    expect(n).toBe(8);
    expect(s.segLen).toBe(52 + 1400);
    expect(s.lastLen).toBe(52 + 10_000 - 7 * 1400);
    const joined: Buffer[] = [];
    for (let k = 0; k < n; k++) {
      const o = 16 + k * s.segLen;
      const len = k === n - 1 ? s.lastLen : s.segLen;
      expect(validIpv4Length(out, o, len)).toBe(len);
      expect(tcpChecksumOk(out, o)).toBe(true);
      expect(out.readUInt16BE(o + 4)).toBe(0x100 + k);
      expect(out.readUInt32BE(o + 24)).toBe((0xfffff000 + k * 1400) >>> 0);
      const f = out[o + 33]!;
      expect(f & (PSH | FIN)).toBe(k === n - 1 ? PSH | FIN : 0);
      expect(f & CWR).toBe(k === 0 ? CWR : 0);
      expect(out.subarray(o + 40, o + 52).equals(tso.subarray(40, 52))).toBe(true);
      joined.push(out.subarray(o + 52, o + len));
    }
    expect(Buffer.concat(joined).equals(payload)).toBe(true);
  });

  it('refuses non-TCP packets and mss 0', () => {
    const udp = tcpPacket(payload.subarray(0, 100), 1, ACK); udp[9] = 17;
    const s = new TcpSegmenter(sum16);
    expect(s.segment(udp, 0, udp.length, 1400, Buffer.alloc(4000), 0)).toBe(0);
    const tcp = tcpPacket(payload.subarray(0, 100), 1, ACK);
    expect(s.segment(tcp, 0, tcp.length, 0, Buffer.alloc(4000), 0)).toBe(0);
  });
});

describe('completeChecksum', () => {
  it('turns a partial (pseudo-header) TCP checksum into the full one', () => {
    const p = tcpPacket(payload.subarray(0, 333), 5, ACK);
    let ps = 6 + p.length - 20;
    for (let i = 12; i < 20; i += 2) ps += p.readUInt16BE(i);
    p.writeUInt16BE(sum16(Buffer.alloc(0), 0, 0, ps), 36);
    expect(completeChecksum(p, 0, p.length, 20, 16, sum16)).toBe(true);
    expect(tcpChecksumOk(p, 0)).toBe(true);
    expect(completeChecksum(p, 0, p.length, p.length - 1, 16, sum16)).toBe(false);
  });
});

describe('TcpCoalescer', () => {
  function segments(): Buffer[] {
    const segs: Buffer[] = [];
    for (let k = 0; k < 8; k++) {
      const last = k === 7;
      const s = tcpPacket(payload.subarray(k * 1200, last ? 9000 : (k + 1) * 1200), 1000 + k * 1200, last ? ACK | PSH : ACK, 50 + k);
      setTcpChecksum(s);
      segs.push(s);
    }
    return segs;
  }

  it('joins in-order segments of one flow into a GSO_TCPV4 super-packet', () => {
    const segs = segments();
    const out = Buffer.alloc(80_000);
    const co = new TcpCoalescer();
    for (const s of segs) expect(TcpCoalescer.eligible(s, 0, s.length)).toBe(true);
    co.start(out, 8, segs[0]!, 0, segs[0]!.length);
    for (const s of segs.slice(1)) expect(co.append(s, 0, s.length)).toBe(true);
    const n = co.finish();
    expect(n).toBe(VNET_HDR_LEN + 52 + 9000);
    const vh = new VnetHeader(); vh.read(out, 8);
    expect([vh.flags, vh.gsoType, vh.hdrLen, vh.gsoSize, vh.csumStart, vh.csumOffset]).toEqual([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 52, 1200, 20, 16]);
    const p = 8 + VNET_HDR_LEN;
    expect(validIpv4Length(out, p, n - VNET_HDR_LEN)).toBe(n - VNET_HDR_LEN);
    expect(out[p + 33]).toBe(ACK | PSH);
    expect(out.readUInt32BE(p + 24)).toBe(1000);
    expect(out.subarray(p + 52, p + 52 + 9000).equals(payload.subarray(0, 9000))).toBe(true);
    // Completing the partial checksum as the kernel would yields a valid TCP checksum.
    expect(completeChecksum(out, p, n - VNET_HDR_LEN, 20, 16, sum16)).toBe(true);
    expect(tcpChecksumOk(out, p)).toBe(true);
  });

  it('breaks the run on a gap, another flow, a different ack, or after PSH; a run of one stays as it was', () => {
    const segs = segments();
    const out = Buffer.alloc(80_000);
    const co = new TcpCoalescer();
    co.start(out, 0, segs[0]!, 0, segs[0]!.length);
    expect(co.append(segs[2]!, 0, segs[2]!.length)).toBe(false); // gap
    const other = Buffer.from(segs[1]!); other.writeUInt16BE(40001, 20);
    expect(co.append(other, 0, other.length)).toBe(false);
    const ack = Buffer.from(segs[1]!); ack.writeUInt32BE(778, 28);
    expect(co.append(ack, 0, ack.length)).toBe(false);
    const n = co.finish();
    expect(n).toBe(VNET_HDR_LEN + segs[0]!.length);
    expect(out.subarray(0, VNET_HDR_LEN).equals(Buffer.alloc(VNET_HDR_LEN))).toBe(true);
    expect(out.subarray(VNET_HDR_LEN, n).equals(segs[0]!)).toBe(true);
    co.start(out, 0, segs[7]!, 0, segs[7]!.length); // PSH closes the run
    const after = tcpPacket(payload.subarray(0, 10), 1000 + 7 * 1200 + 600, ACK);
    expect(co.append(after, 0, after.length)).toBe(false);
  });

  it('finds SYN, FIN, fragments, IP options and bare ACKs ineligible', () => {
    const base = segments()[0]!;
    const mod = (f: (b: Buffer) => void) => { const b = Buffer.from(base); f(b); return b; };
    expect(TcpCoalescer.eligible(mod((b) => (b[33] = 0x02)), 0, base.length)).toBe(false);
    expect(TcpCoalescer.eligible(mod((b) => (b[33] = ACK | FIN)), 0, base.length)).toBe(false);
    expect(TcpCoalescer.eligible(mod((b) => b.writeUInt16BE(0x2000, 6)), 0, base.length)).toBe(false);
    expect(TcpCoalescer.eligible(mod((b) => (b[0] = 0x46)), 0, base.length)).toBe(false);
    expect(TcpCoalescer.eligible(base, 0, 52)).toBe(false);
  });
});
