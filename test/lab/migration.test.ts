/**
 * Backend migration without a lost packet (docs/migration.md), one 3-node lab with 2 pods per
 * node and a 3 s --migration-grace:
 *  (a) a rolling migration vxlan → host-gw → udp → vxlan, nodes one at a time after seeded
 *      random delays (MIGRATION_SEED, MIGRATION_MAX_DELAY_MS), while every pod pings every other at 20/s and a TCP stream runs: no ping
 *      lost, the stream completes; (d) then nothing of host-gw or udp is left on any node;
 *  (c) restarts in the middle of a migration (vxlan → host-gw) lose nothing, with one node whose
 *      daemon is down meanwhile (it ignores its peers' switch, as upstream flanneld does), and
 *      no vxlan device is left once every node has switched;
 *  (b) a permanently mixed cluster (one node per backend): every pod reaches every other, the
 *      exact kernel state of each node, drift repair, /readyz and metrics.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Lab, LabNode, LabPod } from '../../lab/lab.ts';
import type { BackendType } from '../../lab/state.ts';
import {
  connectivityAmong,
  eventually,
  expectedHostGwRoutes,
  expectedVxlan,
  HEALTH_PORT,
  ipJson,
  link,
  sample,
  scrape,
  vxlanKernel,
  vxlanPeers,
} from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

const GRACE_S = 3;
const PINGS_PER_SECOND = 20;
/**
 * Random delays between two nodes' switches: 0–3 s by default, to keep CI short (the kubelets
 * of a real cluster: up to a minute or more); MIGRATION_MAX_DELAY_MS=10000 for the long run.
 */
const MAX_DELAY_MS = Number(process.env['MIGRATION_MAX_DELAY_MS'] ?? 3000);
const SEED = Number(process.env['MIGRATION_SEED'] ?? 20261130);

/** mulberry32: the same delays and order for the same seed. */
function seeded(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PairResult {
  readonly from: string;
  readonly to: string;
  readonly transmitted: number;
  readonly received: number;
}

/** Every pod pings every other pod, `seconds` long at 20/s; resolves with each pair's totals. */
function pingEveryPair(lab: Lab, seconds: number): Promise<PairResult[]> {
  const pods = lab.pods();
  const count = Math.ceil(seconds * PINGS_PER_SECOND);
  return Promise.all(
    pods.flatMap((a) => pods.filter((b) => b !== a).map(async (b) => ({ from: a.name, to: b.name, ...(await lab.pingStream(a, b, count, 1 / PINGS_PER_SECOND)) }))),
  );
}

function printPairs(title: string, results: readonly PairResult[]): void {
  const lost = results.reduce((n, r) => n + r.transmitted - r.received, 0);
  const lines = results.map((r) => `  ${r.from} -> ${r.to}: ${r.received}/${r.transmitted}`);
  console.log(`${title} (seed ${SEED}): ${lost} of ${results.reduce((n, r) => n + r.transmitted, 0)} pings lost\n${lines.join('\n')}`);
}

/** The pings outlive the scenario (checked), so every switch happened under them. */
async function underPings(lab: Lab, seconds: number, scenario: () => Promise<void>): Promise<PairResult[]> {
  const pings = pingEveryPair(lab, seconds);
  const t0 = Date.now();
  await sleep(1000);
  await scenario();
  const took = (Date.now() - t0) / 1000;
  const results = await pings;
  expect(took, `the scenario took ${took} s, longer than the ${seconds} s of pings meant to cover it`).toBeLessThan(seconds);
  return results;
}

async function readyz(node: LabNode): Promise<string> {
  const r = await node.http('/readyz', HEALTH_PORT);
  return `${r.status} ${r.body}`;
}

/** The names of the node's flannel devices. */
async function flannelLinks(node: LabNode): Promise<string[]> {
  return (await ipJson(node, ['ip', '-j', 'link', 'show'])).map((l) => String(l['ifname'])).filter((n) => n.startsWith('flannel')).sort();
}

/** UDP ports the node listens on (vxlan's 8472 is the kernel's; udp's 8285 is the forwarder's). */
async function udpPorts(node: LabNode): Promise<number[]> {
  const out = (await node.exec(['ss', '-Hulnp'])).stdout;
  return [...out.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1])).filter((p) => p === 8285 || p === 8472).sort();
}

/** Backends running on the node with their roles, from flannel_backend_active. */
async function activeBackends(node: LabNode): Promise<string[]> {
  const { samples } = await scrape(node);
  return samples.filter((s) => s.name === 'flannel_backend_active').map((s) => `${s.labels['backend']}:${s.labels['role']}`).sort();
}

/** Exactly the state an all-vxlan node holds, and nothing of host-gw or udp. */
async function expectPureVxlan(lab: Lab, i: number): Promise<void> {
  const n = lab.node(i);
  const peers = await vxlanPeers(lab, [0, 1, 2].filter((j) => j !== i));
  expect(await vxlanKernel(n)).toEqual(expectedVxlan(n, peers));
  expect(await flannelLinks(n)).toEqual(['flannel.1']);
  expect(await udpPorts(n)).toEqual([8472]);
  expect(await readyz(n)).toBe('200 flanneld is ready');
  expect(await activeBackends(n)).toEqual(['vxlan:advertised', 'vxlan:peers']);
}

/** Exactly the state an all-host-gw node holds, and no vxlan device. */
async function expectPureHostGw(lab: Lab, i: number): Promise<void> {
  const n = lab.node(i);
  const routes = (await ipJson(n, ['ip', '-j', 'route'])).sort((a, b) => String(a['dst']).localeCompare(String(b['dst'])));
  expect(routes).toEqual(expectedHostGwRoutes(n, [0, 1, 2].filter((j) => j !== i).map((j) => lab.node(j))));
  expect(await flannelLinks(n)).toEqual([]);
  expect(await udpPorts(n)).toEqual([]);
  expect(await readyz(n)).toBe('200 flanneld is ready');
}

describe.skipIf(skip)(`backend migration without a lost packet${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, podsPerNode: 2, backend: 'vxlan', daemonArgs: [`--migration-grace=${GRACE_S}`] });

  it('(a) rolls vxlan → host-gw → udp → vxlan node by node under pings and a TCP stream, losing nothing; (d) then leaves nothing of the old backends', async () => {
    const l = lab();
    expect((await l.waitForFullConnectivity(30_000)).failures).toEqual([]);
    const rand = seeded(SEED);
    const plan: { node: number; to: BackendType; delayMs: number }[] = [];
    for (const to of ['host-gw', 'udp', 'vxlan'] as const) {
      const order = [0, 1, 2].map((i) => ({ i, r: rand() })).sort((x, y) => x.r - y.r).map((x) => x.i);
      for (const node of order) plan.push({ node, to, delayMs: Math.round(rand() * MAX_DELAY_MS) });
    }
    const switching = plan.reduce((n, p) => n + p.delayMs, 0) / 1000;
    // After the last switch the pings go on past the grace period, so the old backends' removal happens under them too.
    const seconds = 1 + switching + GRACE_S + 5;

    // A TCP stream from a pod on node0 to one on node2 for the whole migration (pods keep the vxlan MTU they were created with).
    const server: LabPod = l.pod(2, 1);
    const client: LabPod = l.pod(0, 0);
    const iperfServer = server.exec(['iperf3', '-s', '-1', '-B', server.ip], { allowFailure: true });
    await sleep(300);
    const tcp = client.exec(['iperf3', '-c', server.ip, '-t', String(Math.floor(seconds)), '-b', '20M', '-J'], { allowFailure: true });

    const results = await underPings(l, seconds, async () => {
      for (const p of plan) {
        await sleep(p.delayMs);
        l.setBackend(p.node, p.to);
      }
    });
    printPairs(`rolling migration ${plan.map((p) => `node${p.node}→${p.to}+${p.delayMs}ms`).join(' ')}`, results);
    const tcpResult = await tcp;
    await iperfServer;
    const report = JSON.parse(tcpResult.stdout) as { error?: string; end?: { sum_received?: { bytes: number; seconds: number }; sum_sent?: { bytes: number; retransmits: number } } };
    console.log(`TCP across the migration: ${report.end?.sum_received?.bytes ?? 0} bytes in ${report.end?.sum_received?.seconds?.toFixed(1)} s, ${report.end?.sum_sent?.retransmits} retransmits`);
    expect(report.error).toBeUndefined();
    expect(tcpResult.code).toBe(0);
    expect(report.end?.sum_received?.bytes).toBeGreaterThan(0);
    expect(results.filter((r) => r.received !== r.transmitted)).toEqual([]);

    // (d) By now the grace period after the last switch is over: every node is a plain vxlan
    // node again, nothing of host-gw (routes via eth0) or udp (flannel0, its route, port 8285).
    for (const i of [0, 1, 2]) await eventually(() => expectPureVxlan(l, i), 10_000);
    for (const i of [0, 1, 2]) expect(l.node(i).subnetEnv().mtu).toBe(1450);
  }, 180_000);

  it('(c) restarts in the middle of a migration lose nothing, a peer ignoring the switch keeps working, and no vxlan device is left', async () => {
    const l = lab();
    expect((await l.waitForFullConnectivity(30_000)).failures).toEqual([]);
    const results = await underPings(l, 40, async () => {
      // node2 stops reacting (its daemon is down, its kernel state stays): like upstream flanneld,
      // it ignores peers that move to another backend and keeps sending to them with vxlan.
      await l.stopDaemon(2);
      l.setBackend(0, 'host-gw');
      await eventually(async () => expect((await l.node(1).exec(['ip', 'route', 'show', l.node(0).podCidr])).stdout.trim()).toBe(`${l.node(0).podCidr} via ${l.node(0).underlayIp} dev eth0`));
      await l.stopDaemon(0);
      await l.startDaemon(0);
      l.setBackend(1, 'host-gw');
      await eventually(async () => expect((await l.node(0).exec(['ip', 'route', 'show', l.node(1).podCidr])).stdout.trim()).toBe(`${l.node(1).podCidr} via ${l.node(1).underlayIp} dev eth0`));
      await l.stopDaemon(1);
      await l.startDaemon(1);
      // node0 and node1 keep flannel.1 and reach node2 through it: node2 still advertises vxlan.
      for (const i of [0, 1]) {
        await eventually(async () => expect(await readyz(l.node(i))).toBe('200 flanneld is ready; backend host-gw; also vxlan (1 peer advertises it)'));
      }
      // node2 comes back configured for host-gw.
      l.setBackend(2, 'host-gw');
      await l.startDaemon(2);
    });
    printPairs('vxlan → host-gw with restarts and a peer ignoring the switch', results);
    expect(results.filter((r) => r.received !== r.transmitted)).toEqual([]);
    for (const i of [0, 1, 2]) await eventually(() => expectPureHostGw(l, i), 10_000);
  }, 180_000);

  it('(b) a permanently mixed cluster, one node per backend: full connectivity, exact kernel state, drift repair; pods keep their MTU', async () => {
    const l = lab();
    // Pods created while the nodes run host-gw get its MTU, 1500, and keep it.
    for (const i of [0, 1, 2]) l.setBackend(i, 'host-gw');
    for (const i of [1, 2]) await eventually(() => expect(l.node(i).subnetEnv().mtu).toBe(1500));
    await l.addPods(1, 1);
    await l.addPods(2, 1);
    l.setBackend(0, 'vxlan');
    l.setBackend(2, 'udp');
    const [n0, n1, n2] = [l.node(0), l.node(1), l.node(2)];
    const base = (n: LabNode) => [
      { dst: n.podCidr, dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: n.podCidr.replace(/\.0\/24$/, '.1'), flags: [] },
      { dst: '198.18.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: n.underlayIp, flags: [] },
    ];
    const viaUdp = { dst: '10.244.0.0/16', dev: 'flannel0', flags: [] };
    const hostGw = (to: LabNode) => ({ dst: to.podCidr, gateway: to.underlayIp, dev: 'eth0', flags: [] });
    const sorted = <T extends Record<string, unknown>>(xs: T[]) => xs.sort((a, b) => String(a['dst']).localeCompare(String(b['dst'])));

    const expectMixed = async () => {
      const mac0 = (await link(n0, 'flannel.1')).address;
      const onlink0 = { dst: n0.podCidr, gateway: '10.244.1.0', dev: 'flannel.1', flags: ['onlink'] };
      // node0 advertises vxlan; it reaches node1 by a host-gw route and node2 through flannel0.
      expect(await vxlanKernel(n0)).toEqual({ routes: sorted([...base(n0), hostGw(n1), viaUdp]), neigh: [], fdb: [] });
      // node1 advertises host-gw; it reaches node0 through flannel.1 and node2 through flannel0.
      const toNode0 = { neigh: [{ dst: '10.244.1.0', lladdr: mac0, state: ['PERMANENT'] }], fdb: [{ mac: mac0, dst: n0.underlayIp, flags: ['self'], state: 'permanent' }] };
      expect(await vxlanKernel(n1)).toEqual({ routes: sorted([...base(n1), onlink0, viaUdp]), ...toNode0 });
      // node2 advertises udp; it reaches node0 through flannel.1 and node1 by a host-gw route.
      expect(await vxlanKernel(n2)).toEqual({ routes: sorted([...base(n2), onlink0, hostGw(n1), viaUdp]), ...toNode0 });
      for (const n of [n0, n1, n2]) {
        expect(await flannelLinks(n)).toEqual(['flannel.1', 'flannel0']);
        expect(await udpPorts(n)).toEqual([8285, 8472]);
        expect((await n.exec(['ip', '-4', '-br', 'addr', 'show', 'dev', 'flannel0'])).stdout).toContain(`${n.podCidr.replace(/\/24$/, '/32')}`);
      }
    };
    await eventually(expectMixed, 20_000);
    expect((await connectivityAmong(l, [0, 1, 2])).failures).toEqual([]);
    // Once the grace periods of the switches are over, each backend runs for its reason alone.
    await eventually(async () => {
      expect(await readyz(n1)).toBe('200 flanneld is ready; backend host-gw; also vxlan (1 peer advertises it), udp (1 peer advertises it)');
      expect(await activeBackends(n1)).toEqual(['host-gw:advertised', 'udp:peers', 'vxlan:peers']);
    });
    const { samples } = await scrape(n2);
    expect(['vxlan', 'host-gw', 'udp'].map((backend) => sample(samples, 'flannel_peers', { backend }))).toEqual([1, 1, 0]);
    expect([n0, n1, n2].map((n) => n.subnetEnv().mtu)).toEqual([1450, 1500, 1472]);

    // Two of those 1500-byte pods, node1's to node2's: node1 sends over udp (flannel0, MTU 1472).
    // A full-size packet with DF gets "fragmentation needed" from node1, and TCP adapts to it
    // (path-MTU discovery); the transfer completes.
    const [from, to] = [l.pods().filter((p) => p.node === 1).at(-1)!, l.pods().filter((p) => p.node === 2).at(-1)!];
    expect((await from.exec(['ip', '-o', 'link', 'show', 'dev', 'eth0'])).stdout).toContain(' mtu 1500 ');
    const big = await from.exec(['ping', '-n', '-c', '1', '-M', 'do', '-s', '1472', to.ip], { allowFailure: true });
    expect(big.stdout).toContain(`From ${n1.podCidr.replace(/\.0\/24$/, '.1')} icmp_seq=1 Frag needed and DF set (mtu = 1472)`);
    const server = to.exec(['iperf3', '-s', '-1', '-B', to.ip], { allowFailure: true });
    await sleep(300);
    const tcp = await from.exec(['iperf3', '-c', to.ip, '-n', '20M', '-J'], { allowFailure: true });
    await server;
    const report = JSON.parse(tcp.stdout) as { error?: string; end?: { sum_received?: { bytes: number }; sum_sent?: { bytes: number; retransmits: number } } };
    console.log(`TCP between 1500-byte pods over udp (flannel0 1472): ${report.end?.sum_sent?.bytes} bytes sent, ${report.end?.sum_received?.bytes} received by the end, ${report.end?.sum_sent?.retransmits} retransmits`);
    // iperf3 -n sends at least that much (its last block may overshoot).
    expect([tcp.code, report.error]).toEqual([0, undefined]);
    expect(report.end?.sum_sent?.bytes).toBeGreaterThanOrEqual(20 * 1024 * 1024);
    expect(report.end?.sum_received?.bytes).toBeGreaterThan(0);

    // Drift: what each backend put in the kernel comes back when removed by hand.
    await n0.exec(['ip', 'route', 'del', n1.podCidr]);
    await n1.exec(['ip', 'neigh', 'del', '10.244.1.0', 'dev', 'flannel.1']);
    await n1.exec(['ip', 'route', 'del', '10.244.0.0/16', 'dev', 'flannel0']);
    await n2.exec(['ip', 'link', 'del', 'flannel.1']);
    await n2.exec(['ip', 'link', 'del', 'flannel0']);
    await eventually(expectMixed, 20_000);
    expect((await connectivityAmong(l, [0, 1, 2])).failures).toEqual([]);
    await sleep(200);
  }, 120_000);
});
