/**
 * Sends crafted datagrams to a udp forwarder, as a (mis)behaving peer would:
 *   node test/udp/inject.ts <bindIp> <dstIp> <port> <kind> [count]
 * kinds: ttl1 | truncated | non-ipv4 | other-subnet | valid | fuzz (count random datagrams,
 * 0–1500 bytes, fixed seed). Paced so the receiver's socket buffer is not the one dropping.
 */
import { createSocket } from 'node:dgram';
import { writeHeaderChecksum } from '../../src/backends/udp/ipv4.ts';

const [bindIp, dstIp, portText, kind, countText] = process.argv.slice(2);
const port = Number(portText);

/** ICMP echo request (IPv4), header checksums correct. */
export function echo(src: string, dst: string, ttl: number): Buffer {
  const b = Buffer.alloc(20 + 8 + 16, 0x5a);
  b[0] = 0x45; b[1] = 0; b.writeUInt16BE(b.length, 2); b.writeUInt32BE(0x43210000, 4); b[8] = ttl; b[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  writeHeaderChecksum(b, 0);
  b[20] = 8; b[21] = 0; b.writeUInt16BE(0, 22); b.writeUInt32BE(0x12340001, 24);
  return b;
}

function datagrams(): Buffer[] {
  switch (kind) {
    case 'valid': return [echo('10.244.1.2', '10.244.2.2', 64)];
    case 'ttl1': return [echo('10.244.1.2', '10.244.2.2', 1)];
    case 'other-subnet': return [echo('10.244.1.2', '10.244.3.5', 64)];
    case 'truncated': return [echo('10.244.1.2', '10.244.2.2', 64).subarray(0, 30)];
    case 'non-ipv4': { const b = Buffer.alloc(60); b[0] = 0x60; b.writeUInt16BE(20, 4); b[6] = 58; b[7] = 64; return [b]; }
    case 'fuzz': {
      let s = 12345;
      const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8);
      const out: Buffer[] = [];
      for (let i = 0; i < Number(countText ?? 100000); i++) {
        const b = Buffer.alloc(rnd() % 1501);
        for (let j = 0; j < b.length; j++) b[j] = rnd() & 255;
        // Every 4th looks like IPv4 so validation beyond the version nibble is exercised too.
        if (i % 4 === 0 && b.length > 0) b[0] = 0x45;
        out.push(b);
      }
      return out;
    }
    default: throw new Error(`unknown kind ${kind}`);
  }
}

const sock = createSocket('udp4');
await new Promise<void>((r) => sock.bind({ address: bindIp, port: 0 }, r));
const all = datagrams();
for (let i = 0; i < all.length; i++) {
  await new Promise<void>((r, j) => sock.send(all[i]!, port, dstIp, (e) => (e ? j(e) : r())));
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 1));
}
sock.close();
process.stdout.write(`${all.length}\n`);
