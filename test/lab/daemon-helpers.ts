/**
 * Helpers for the lab tests of the running daemon (daemon-*.test.ts): the kernel state a node
 * holds, the state the backend should hold for a set of peers, Prometheus text, the daemon log,
 * and bounded polling.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pingMatrix, type Matrix } from '../../lab/connectivity.ts';
import type { Lab, LabNode, LabPod } from '../../lab/lab.ts';
import { waitFor } from '../../lab/processes.ts';

export const METRICS_PORT = 9862;
export const HEALTH_PORT = 8081;
export const PREFIX = 'flannel.alpha.coreos.com/';

export interface Link {
  readonly ifindex: number;
  readonly address: string;
}

type JsonRecord = Record<string, unknown>;

export async function ipJson(node: LabNode, argv: readonly string[]): Promise<JsonRecord[]> {
  const out = (await node.exec(argv)).stdout.trim();
  return out === '' ? [] : (JSON.parse(out) as JsonRecord[]);
}

export async function link(node: LabNode, dev: string): Promise<Link> {
  const [l] = await ipJson(node, ['ip', '-j', 'link', 'show', 'dev', dev]);
  if (l === undefined) throw new Error(`${node.name} has no ${dev}`);
  return { ifindex: l['ifindex'] as number, address: l['address'] as string };
}

/** What `ip -j route`, `ip -j neigh show dev flannel.1` and `bridge -j fdb show dev flannel.1` print, each sorted. */
export interface VxlanKernel {
  readonly routes: JsonRecord[];
  readonly neigh: JsonRecord[];
  readonly fdb: JsonRecord[];
}

const byKey = (k: string) => (a: JsonRecord, b: JsonRecord): number => String(a[k]).localeCompare(String(b[k]));

export async function vxlanKernel(node: LabNode): Promise<VxlanKernel> {
  return {
    routes: (await ipJson(node, ['ip', '-j', 'route'])).sort(byKey('dst')),
    neigh: (await ipJson(node, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'])).sort(byKey('dst')),
    fdb: (await ipJson(node, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])).sort(byKey('dst')),
  };
}

/** The first address of a /24 pod subnet: 10.244.3.0/24 → 10.244.3.0 / 10.244.3.1. */
function net(cidr: string): string {
  return cidr.split('/')[0]!;
}
function gw(cidr: string): string {
  return net(cidr).replace(/\.0$/, '.1');
}

/** The node's own routes (cni0 and the underlay), as the kernel prints them. */
function baseRoutes(node: LabNode): JsonRecord[] {
  return [
    { dst: node.podCidr, dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: gw(node.podCidr), flags: [] },
    { dst: '198.18.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: node.underlayIp, flags: [] },
  ];
}

/**
 * Exactly what a vxlan node must hold for these peers (upstream's pkg/backend/vxlan/vxlan_network.go): per peer an onlink route via the
 * peer subnet's network address on flannel.1, a permanent neighbour to the peer's VtepMAC and a
 * permanent self FDB entry to its underlay address; nothing else.
 */
export function expectedVxlan(node: LabNode, peers: readonly { node: LabNode; mac: string }[]): VxlanKernel {
  return {
    routes: [
      ...baseRoutes(node),
      ...peers.map((p) => ({ dst: p.node.podCidr, gateway: net(p.node.podCidr), dev: 'flannel.1', flags: ['onlink'] })),
    ].sort(byKey('dst')),
    neigh: peers.map((p) => ({ dst: net(p.node.podCidr), lladdr: p.mac, state: ['PERMANENT'] })).sort(byKey('dst')),
    fdb: peers.map((p) => ({ mac: p.mac, dst: p.node.underlayIp, flags: ['self'], state: 'permanent' })).sort(byKey('dst')),
  };
}

/** host-gw (upstream's pkg/backend/hostgw and route_network.go): per peer `<subnet> via <peer underlay IP> dev eth0`, nothing else. */
export function expectedHostGwRoutes(node: LabNode, peers: readonly LabNode[]): JsonRecord[] {
  return [...baseRoutes(node), ...peers.map((p) => ({ dst: p.podCidr, gateway: p.underlayIp, dev: 'eth0', flags: [] }))].sort(byKey('dst'));
}

/** Each node with its flannel.1 MAC. */
export async function vxlanPeers(lab: Lab, indices: readonly number[]): Promise<{ node: LabNode; mac: string }[]> {
  return Promise.all(indices.map(async (i) => ({ node: lab.node(i), mac: (await link(lab.node(i), 'flannel.1')).address })));
}

/** Polls until `probe` passes (returns without throwing) or the time is up; then throws its last error. */
export async function eventually(probe: () => Promise<void> | void, timeoutMs = 15_000): Promise<void> {
  let last: unknown;
  try {
    await waitFor(
      async () => {
        try {
          await probe();
          return true;
        } catch (e) {
          last = e;
          return undefined;
        }
      },
      timeoutMs,
      () => 'timed out',
    );
  } catch {
    throw last instanceof Error ? last : new Error(String(last));
  }
}

// ---- Prometheus text ----

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The one sample of `name` with exactly these labels; 0 when a labelled counter has not appeared yet. */
export function sample(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (hits.length > 1) throw new Error(`${name}${want}: ${hits.length} samples`);
  return hits[0]?.value ?? 0;
}

export async function scrape(node: LabNode): Promise<{ text: string; samples: Sample[] }> {
  const r = await node.http('/metrics', METRICS_PORT);
  if (r.status !== 200) throw new Error(`${node.name} /metrics: HTTP ${r.status} ${r.body}`);
  return { text: r.body, samples: parseMetrics(r.body) };
}

// ---- the daemon's log (JSON lines) ----

export function logRecords(node: LabNode): JsonRecord[] {
  const out: JsonRecord[] = [];
  for (const line of readFileSync(node.logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as JsonRecord);
    } catch {
      // a line cut short by a kill
    }
  }
  return out;
}

// ---- pods ----

/** Every pod of these nodes pings every other (repeated until all answer or the time is up). */
export async function connectivityAmong(lab: Lab, nodes: readonly number[], timeoutMs = 30_000): Promise<Matrix> {
  const pods: LabPod[] = lab.pods().filter((p) => nodes.includes(p.node));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await pingMatrix(pods);
    if (m.failures.length === 0 || Date.now() >= deadline) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The Node object from the API server double. */
export async function getNode(lab: Lab, name: string): Promise<{ metadata: { annotations?: Record<string, string> }; spec: JsonRecord; status: { conditions?: JsonRecord[] } }> {
  const r = await lab.api('GET', `/api/v1/nodes/${name}`);
  if (r.status !== 200) throw new Error(`GET node ${name}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as never;
}

// ---- watching the kernel ----

export interface Monitor {
  /** Stops the monitor and returns every line it printed. */
  stop(): Promise<string[]>;
}

/**
 * Runs a kernel event monitor (`ip monitor …`, `bridge monitor …`) in a node namespace; what it
 * prints is every change the kernel reported meanwhile. Resolves once it runs.
 */
export async function monitor(node: LabNode, argv: readonly string[]): Promise<Monitor> {
  const child = spawn('ip', ['netns', 'exec', node.netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => out.push(b));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  // Give it time to open its netlink socket and join the groups.
  await new Promise((r) => setTimeout(r, 300));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return Buffer.concat(out).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    },
  };
}

/** iptables-save without comments and packet counters: the rules themselves. */
export async function iptablesRules(node: LabNode): Promise<string[]> {
  const out = (await node.exec(['iptables-save'])).stdout;
  return out
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'));
}
