/**
 * Encoding cost alone (no kernel): N peers × (ARP + FDB + route) into one batch buffer.
 *   node_modules/.bin/node bench/netlink-encode.ts
 */
import { NlWriter } from '../src/netlink/writer.ts';
import { encodeNeigh } from '../src/netlink/neigh.ts';
import { encodeRoute } from '../src/netlink/route.ts';

const N = 5000;
const gw: string[] = [], mac: string[] = [], dst: string[] = [];
for (let i = 0; i < N; i++) {
  gw.push(`10.244.${(i >> 5) & 0xff}.${(i & 31) << 3}`);
  dst.push(`${gw[i]}/29`);
  mac.push(`0a:58:0a:f4:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`);
}
const w = new NlWriter();
for (let round = 0; round < 8; round++) {
  w.reset();
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    encodeNeigh(w, i, 'set', { index: 5, family: 2, ip: gw[i]!, mac: mac[i]!, state: 0x80 });
    encodeNeigh(w, i, 'set', { index: 5, family: 7, ip: '198.18.0.3', mac: mac[i]!, state: 0x80, flags: 2 });
    encodeRoute(w, i, 'replace', { family: 2, dst: dst[i]!, gateway: gw[i]!, oif: 5, onlink: true });
  }
  const ms = performance.now() - t;
  console.log(`round ${round}: ${3 * N} requests encoded in ${ms.toFixed(2)} ms (${((ms * 1e6) / (3 * N)).toFixed(0)} ns each, ${w.length} bytes)`);
}
