/**
 * Stands in for upstream flanneld's udp proxy on a TUN device someone else created: attaches
 * to it (IFF_TUN|IFF_NO_PI, as upstream opens flannel%d) and prints the first IPv4 packet to
 * the given destination as `<src> > <dst> proto <n>`, then exits.
 *   node test/udp/tun-reader.ts <device> <dst-ip>
 */
import { loadDatapath } from '../../src/native/datapath-native.ts';

const [device, want] = process.argv.slice(2);
const nat = loadDatapath();
const { fd } = nat.tunOpen(device!, false);
const slab = Buffer.alloc(4 * 2048);
const lens = new Int32Array(4);
const ip = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');
process.stdout.write('attached\n');
const timer = setInterval(() => {
  const n = nat.tunRead(fd, slab, 2048, lens, 4);
  for (let i = 0; i < n; i++) {
    const off = i * 2048;
    if (lens[i]! >= 20 && slab[off]! >> 4 === 4 && ip(slab, off + 16) === want) {
      process.stdout.write(`${ip(slab, off + 12)} > ${ip(slab, off + 16)} proto ${slab[off + 9]}\n`);
      clearInterval(timer);
      nat.closeFd(fd);
      process.exit(0);
    }
  }
}, 20);
setTimeout(() => process.exit(1), 20_000).unref();
