/**
 * Programs N VXLAN peers (ARP entry + FDB entry + onlink route each, as flannel's vxlan backend
 * does) in a throwaway netns, once through one NetlinkBatch and once through `ip -batch` +
 * `bridge -batch` doing the same operations, and prints both times and the ratio.
 *
 *   node_modules/.bin/node bench/netlink-batch.ts [N ...]     (default 1000 5000; needs root)
 */
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openNetlink, AF_INET, AF_BRIDGE, NUD_PERMANENT, NTF_SELF, type NetlinkHandle } from '../src/netlink/index.ts';
import { run } from '../lab/harness/exec.ts';
import { NetnsSet } from '../lab/harness/netns.ts';

const nets = new NetnsSet('ftnl');
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1000, 5000);

async function ipns(ns: string, ...args: string[]): Promise<string> {
  return (await run(['ip', '-n', ns, ...args])).stdout;
}

interface Peer { subnet: string; gw: string; mac: string; vtep: string }
function peers(n: number): Peer[] {
  const out: Peer[] = [];
  for (let i = 0; i < n; i++) {
    // 10.244.0.0/16 holds 256 /24s; use /29s so 5000 distinct peers stay inside it.
    const a = (i >> 5) & 0xff, b = (i & 31) << 3;
    const gw = `10.244.${a}.${b}`;
    const mac = `0a:58:0a:f4:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    out.push({ subnet: `${gw}/29`, gw, mac, vtep: `198.18.0.${10 + (i % 240)}` });
  }
  return out;
}

async function freshVxlan(h: NetlinkHandle, underlay: number): Promise<number> {
  const old = await h.linkByName('flannel.1');
  if (old !== undefined) await h.linkDel(old.index);
  await h.linkAdd({ name: 'flannel.1', kind: 'vxlan', vxlan: { vni: 1, local: '198.18.0.2', underlayIndex: underlay, port: 8472, learning: false } });
  const l = (await h.linkByName('flannel.1'))!;
  await h.linkSet(l.index, { up: true });
  return l.index;
}

async function count(ns: string): Promise<{ neigh: number; fdb: number; routes: number }> {
  const neigh = (await ipns(ns, 'neigh', 'show', 'dev', 'flannel.1')).split('\n').filter((l) => l.includes('PERMANENT')).length;
  const fdb = (await run(['bridge', '-n', ns, 'fdb', 'show', 'dev', 'flannel.1'])).stdout.split('\n').filter((l) => l.includes(' dst ')).length;
  const routes = (await ipns(ns, 'route', 'show', 'dev', 'flannel.1')).split('\n').filter((l) => l.includes('onlink')).length;
  return { neigh, fdb, routes };
}

const dir = mkdtempSync(join(tmpdir(), 'ftnl-bench-'));
try {
  const ns = await nets.add('bench');
  const h = openNetlink({ netns: ns });
  await h.linkAdd({ name: 'ul0', kind: 'veth', peerName: 'ul0p' });
  const ul = (await h.linkByName('ul0'))!;
  await h.linkSet(ul.index, { up: true });
  await h.addrAdd({ index: ul.index, family: AF_INET, address: '198.18.0.2', prefixLen: 24 });

  for (const n of sizes) {
    const ps = peers(n);
    // ---- ours: one batch ----
    let dev = await freshVxlan(h, ul.index);
    const t0 = process.hrtime.bigint();
    const b = h.batch();
    for (const p of ps) {
      b.neighSet({ index: dev, family: AF_INET, ip: p.gw, mac: p.mac, state: NUD_PERMANENT });
      b.neighSet({ index: dev, family: AF_BRIDGE, ip: p.vtep, mac: p.mac, state: NUD_PERMANENT, flags: NTF_SELF });
      b.routeReplace({ family: AF_INET, dst: p.subnet, gateway: p.gw, oif: dev, onlink: true });
    }
    const t0b = process.hrtime.bigint();
    const res = await b.run();
    const runMs = Number(process.hrtime.bigint() - t0b) / 1e6;
    const oursMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const failed = res.filter((r) => r !== null);
    const got1 = await count(ns);

    // ---- the same through ip -batch and bridge -batch ----
    dev = await freshVxlan(h, ul.index);
    const ipLines = ps.flatMap((p) => [
      `neigh replace ${p.gw} lladdr ${p.mac} dev flannel.1 nud permanent`,
      `route replace ${p.subnet} via ${p.gw} dev flannel.1 onlink`,
    ]);
    const brLines = ps.map((p) => `fdb replace ${p.mac} dev flannel.1 dst ${p.vtep} self permanent`);
    writeFileSync(join(dir, 'ip.batch'), ipLines.join('\n') + '\n');
    writeFileSync(join(dir, 'bridge.batch'), brLines.join('\n') + '\n');
    const t1 = process.hrtime.bigint();
    await run(['ip', '-n', ns, '-batch', join(dir, 'ip.batch')]);
    await run(['bridge', '-n', ns, '-batch', join(dir, 'bridge.batch')]);
    const ipMs = Number(process.hrtime.bigint() - t1) / 1e6;
    const got2 = await count(ns);

    console.log(`N=${n} peers (${3 * n} requests)`);
    console.log(`  netlink batch : ${oursMs.toFixed(1)} ms  (encode ${(oursMs - runMs).toFixed(1)} + send/ack ${runMs.toFixed(1)}; ${failed.length} failed; kernel holds ${got1.neigh} neigh, ${got1.fdb} fdb, ${got1.routes} routes)`);
    console.log(`  ip/bridge -batch: ${ipMs.toFixed(1)} ms  (kernel holds ${got2.neigh} neigh, ${got2.fdb} fdb, ${got2.routes} routes)`);
    console.log(`  ratio ip/ours : ${(ipMs / oursMs).toFixed(2)}x`);
    if (failed.length > 0) console.log(`  first failure: ${String(failed[0])}`);
  }
  h.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
  await nets.removeAll();
}
