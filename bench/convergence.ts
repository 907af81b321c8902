/**
 * Convergence: time from "N lease events in memory" to "kernel state complete" through the
 * real backends (PeerSet → Desired → backend.reconcile: list, diff, one batch), for vxlan and
 * host-gw, next to `ip -batch` (+ `bridge -batch` for fdb) applying the same operations to an
 * identical fresh namespace in the same run. Also: a no-op resync at N (everything adopted),
 * a resync after 1% of the entries were deleted by hand, and RSS after the run.
 *
 *   node_modules/.bin/node bench/convergence.ts [N ...]     (default 1000 5000; needs root)
 *
 * Where the time goes (measured on kernel 6.18): vxlan at N=5000 is ~80% kernel time inserting
 * 5000 onlink routes with 5000 distinct gateways on one device — ~0.38 s with `ip -batch` too,
 * against ~0.04 s when the gateways are equal, because the kernel's fib_info hash leaves the
 * gateway out and every insert scans one long bucket. Both sides pay it; the shape of the
 * route (each peer's subnet via its own network address, onlink) is upstream's
 * (handleSubnetEvents in pkg/backend/vxlan/vxlan_network.go), so we keep it.
 *
 * Peers use /29 subnets so 5000 of them fit in 10.244.0.0/16; public IPs repeat over
 * 198.18.0.20-249 (the underlay /24), which costs the kernel the same as distinct ones.
 *
 * `dual` is vxlan in a dual-stack cluster: each peer also has an IPv6 half (fd00:10:244:<i>::/64
 * in IPv6Network fd00:10:244::/48, its flannel-v6.1 MAC, a public IPv6 on fd00:198:18::/64), so
 * both devices get a neighbour, an fdb entry and a route per peer — twice the entries of vxlan,
 * in one reconcile, against `ip -batch` and `bridge -batch` doing the same IPv4 and IPv6 lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, Desired } from '../src/backends/backend.ts';
import { createBackend } from '../src/backends/registry.ts';
import { formatVxlanBackendData } from '../src/backends/vxlan/mac.ts';
import type { BackendConfig } from '../src/config/types.ts';
import { PeerSet } from '../src/daemon/peer-set.ts';
import { selectInterface } from '../src/ifaces/select.ts';
import { formatIpv4, parseCidr } from '../src/ip/ipv4.ts';
import { formatIpv6, parseCidr6 } from '../src/ip/ipv6.ts';
import { silentLogger } from '../src/observe/log.ts';
import type { Lease, LeaseEvent } from '../src/subnet/lease.ts';
import { AF_BRIDGE, AF_INET, AF_INET6, NUD_PERMANENT, RTPROT_KERNEL } from '../src/netlink/types.ts';
import { run as runTool } from '../lab/harness/exec.ts';
import { Topology } from '../lab/harness/topology.ts';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1000, 5000);
const NETWORK = parseCidr('10.244.0.0/16')!;
const OWN = parseCidr('10.244.255.248/29')!;
const NETWORK6 = parseCidr6('fd00:10:244::/48')!;
const OWN6 = parseCidr6('fd00:10:244:ffff::/64')!;

/** vxlan and host-gw over IPv4, and vxlan in a dual-stack cluster. */
type Case = 'vxlan' | 'host-gw' | 'dual';
const backendOf = (c: Case): 'vxlan' | 'host-gw' => (c === 'host-gw' ? 'host-gw' : 'vxlan');
/** Peer i's IPv6 half: its /64, and the network address that is its gateway. */
const v6Net = (i: number): string => formatIpv6(NETWORK6.ip + (BigInt(i) << 64n));
const signal = new AbortController().signal;

function peerLeases(n: number, c: Case): Lease[] {
  const type = backendOf(c);
  const out: Lease[] = [];
  for (let i = 0; i < n; i++) {
    const ip = (NETWORK.ip + i * 8) >>> 0;
    const mac = `0a:58:0a:f4:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    const publicIp = `198.18.0.${20 + (i % 230)}`;
    const attrs = { publicIp, backendType: type, backendData: type === 'vxlan' ? formatVxlanBackendData(1, mac) : 'null' };
    const v6 = { publicIpv6: `fd00:198:18::${(20 + (i % 230)).toString(16)}`, backendV6Data: formatVxlanBackendData(1, `0e${mac.slice(2)}`) };
    out.push({
      subnet: { ip, prefixLen: 29 },
      ...(c === 'dual' ? { ipv6Subnet: { ip: NETWORK6.ip + (BigInt(i) << 64n), prefixLen: 64 } } : {}),
      node: `node-${i}`,
      attrs: c === 'dual' ? { ...attrs, ...v6 } : attrs,
    });
  }
  return out;
}

function batchFiles(leases: readonly Lease[], c: Case): { ip: string; bridge: string } {
  const type = backendOf(c);
  const ip: string[] = [];
  const bridge: string[] = [];
  for (const l of leases) {
    const gw = formatIpv4(l.subnet!.ip);
    const dst = `${gw}/29`;
    if (type === 'host-gw') {
      ip.push(`route replace ${dst} via ${l.attrs.publicIp} dev eth0`);
      continue;
    }
    const mac = (JSON.parse(l.attrs.backendData!) as { VtepMAC: string }).VtepMAC;
    ip.push(`neigh replace ${gw} lladdr ${mac} dev flannel.1 nud permanent`);
    bridge.push(`fdb replace ${mac} dev flannel.1 dst ${l.attrs.publicIp} self permanent`);
  }
  if (type === 'vxlan') for (const l of leases) ip.push(`route replace ${formatIpv4(l.subnet!.ip)}/29 via ${formatIpv4(l.subnet!.ip)} dev flannel.1 onlink`);
  if (c === 'dual') {
    leases.forEach((l, i) => {
      const mac6 = (JSON.parse(l.attrs.backendV6Data!) as { VtepMAC: string }).VtepMAC;
      ip.push(`neigh replace ${v6Net(i)} lladdr ${mac6} dev flannel-v6.1 nud permanent`);
      bridge.push(`fdb replace ${mac6} dev flannel-v6.1 dst ${l.attrs.publicIpv6} self permanent`);
    });
    leases.forEach((_, i) => ip.push(`route replace ${v6Net(i)}/64 via ${v6Net(i)} dev flannel-v6.1 onlink`));
  }
  return { ip: ip.join('\n') + '\n', bridge: bridge.join('\n') + '\n' };
}

async function prepared(topo: Topology, config: BackendConfig, c: Case): Promise<{ backend: Backend; own: Lease }> {
  const node = topo.node(1);
  const dual = c === 'dual';
  const ext = await selectInterface(node.nl, { ifaces: ['eth0'], families: { ipv4: true, ipv6: dual } });
  const backend = createBackend(config, { nl: node.nl, ext, network: NETWORK, ...(dual ? { ipv6Network: NETWORK6 } : {}), stored: {}, log: silentLogger() });
  const attrs = await backend.prepare(signal);
  const own: Lease = { subnet: OWN, ...(dual ? { ipv6Subnet: OWN6 } : {}), attrs, node: 'bench' };
  await backend.configure(own, signal);
  return { backend, own };
}

async function countEntries(topo: Topology): Promise<{ route: number; neigh: number; fdb: number }> {
  const nl = topo.node(1).nl;
  const count = { route: 0, neigh: 0, fdb: 0 };
  const routes = (await nl.routeList({ family: AF_INET, table: 254 })).filter((r) => r.dst?.startsWith('10.244.') === true && r.dst !== '10.244.255.248/29');
  const routes6 = (await nl.routeList({ family: AF_INET6, table: 254 })).filter((r) => r.dst?.startsWith('fd00:10:244:') === true && r.protocol !== RTPROT_KERNEL && r.dst !== 'fd00:10:244:ffff::/64');
  count.route = routes.length + routes6.length;
  for (const [name, family] of [['flannel.1', AF_INET], ['flannel-v6.1', AF_INET6]] as const) {
    const dev = await nl.linkByName(name);
    if (dev === undefined) continue;
    count.neigh += (await nl.neighList({ family, index: dev.index })).filter((x) => (x.state & NUD_PERMANENT) !== 0).length;
    count.fdb += (await nl.neighList({ family: AF_BRIDGE, index: dev.index })).length;
  }
  return count;
}

const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function run(n: number, c: Case): Promise<void> {
  const type = backendOf(c);
  const topology = (): Promise<Topology> => Topology.create(1, 24, 'ftbe', { ipv6: c === 'dual' });
  const config: BackendConfig = type === 'vxlan'
    ? { type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false }
    : { type: 'host-gw' };
  const leases = peerLeases(n, c);
  const events: LeaseEvent[] = leases.map((lease) => ({ type: 'added', lease }));

  // Ours.
  const ours = await topology();
  let oursMs: number, noopMs: number, repairMs: number, entries: { route: number; neigh: number; fdb: number };
  try {
    const { backend, own } = await prepared(ours, config, c);
    const t0 = performance.now();
    const peers = new PeerSet();
    peers.apply(events);
    const desired: Desired = { generation: peers.generation, network: NETWORK, ...(c === 'dual' ? { ipv6Network: NETWORK6 } : {}), own, peers: peers.snapshot() };
    const report = await backend.reconcile(desired, signal);
    oursMs = performance.now() - t0;
    if (report.failed.length > 0) throw new Error(`${report.failed.length} peers failed: ${report.failed[0]!.error.message}`);
    entries = await countEntries(ours);
    const t1 = performance.now();
    const noop = await backend.reconcile(desired, signal);
    noopMs = performance.now() - t1;
    if (noop.created + noop.deleted + noop.replaced !== 0) throw new Error('no-op resync changed something');
    // Drift: delete 1% of the routes by hand, then resync.
    const victims = leases.filter((_, i) => i % 100 === 0).map((l) => `route del ${formatIpv4(l.subnet!.ip)}/29`);
    const dir = mkdtempSync(join(tmpdir(), 'ftbench-'));
    writeFileSync(join(dir, 'del'), victims.join('\n') + '\n');
    await runTool(['ip', '-n', ours.node(1).ns, '-batch', join(dir, 'del')]);
    rmSync(dir, { recursive: true });
    const t2 = performance.now();
    const repair = await backend.reconcile(desired, signal);
    repairMs = performance.now() - t2;
    if (repair.created !== victims.length) throw new Error(`repair created ${repair.created}, want ${victims.length}`);
    await backend.close();
  } finally {
    await ours.destroy();
  }

  // ip -batch (+ bridge -batch) on an identical fresh namespace.
  const theirs = await topology();
  const dir = mkdtempSync(join(tmpdir(), 'ftbench-'));
  let ipMs: number, theirEntries: { route: number; neigh: number; fdb: number };
  try {
    await prepared(theirs, config, c); // same devices and addresses, made the same way
    const files = batchFiles(leases, c);
    writeFileSync(join(dir, 'ip'), files.ip);
    writeFileSync(join(dir, 'bridge'), files.bridge);
    const ns = theirs.node(1).ns;
    const t0 = performance.now();
    await runTool(['ip', '-n', ns, '-batch', join(dir, 'ip')]);
    if (type === 'vxlan') await runTool(['bridge', '-n', ns, '-batch', join(dir, 'bridge')]);
    ipMs = performance.now() - t0;
    theirEntries = await countEntries(theirs);
  } finally {
    await theirs.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  if (JSON.stringify(entries) !== JSON.stringify(theirEntries)) throw new Error(`entry counts differ: ours ${JSON.stringify(entries)} vs ip ${JSON.stringify(theirEntries)}`);
  const rss = process.memoryUsage().rss / 2 ** 20;
  console.log(
    `${c.padEnd(7)} N=${String(n).padStart(5)}  ours ${ms(oursMs).padStart(9)}  ip-batch ${ms(ipMs).padStart(9)}  ratio ${(ipMs / oursMs).toFixed(2)}x  ` +
      `| no-op resync ${ms(noopMs)}  repair 1% ${ms(repairMs)}  | entries ${JSON.stringify(entries)}  rss ${rss.toFixed(0)} MiB`,
  );
}

for (const n of sizes) {
  for (const c of ['vxlan', 'host-gw', 'dual'] as const) await run(n, c);
}
