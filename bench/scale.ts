/**
 * Scale: what one node's daemon costs at N peers, through the life of a cluster, against the
 * API server double with Node objects the size of real ones (lab/harness/kube-nodes.ts):
 *
 *   start    N peers present; the daemon starts on a fresh node: start → subnet.env, start →
 *            "flannel is ready" (every peer programmed), and what it took;
 *   quiet    a quiet period (a minute; --quiet-s shortens it while developing): what an idle
 *            daemon costs, and the API requests it makes, per hour at the rate of its watch;
 *   delete   every peer deleted at the API as fast as the bench can send the DELETEs, until the
 *            kernel has no peer entry left;
 *   re-add   every peer created again at --add-rate per second (100), until the kernel has them all.
 *
 * Per phase: wall time, the daemon's CPU time (user+sys, from /proc/<pid>/stat; its children —
 * iptables-save for the --ip-masq checks — apart), reconcile runs (flannel_reconcile_runs_total),
 * the daemon's API requests by verb (the double counts them by client), and VmRSS at the end.
 * After the last phase the kernel must hold exactly the N peers' routes, neighbours and fdb
 * entries; the reference, in the same run, is `ip -batch` + `bridge -batch` writing that same
 * final state into a fresh namespace with the same flannel.1 (the bench checks both dumps agree).
 *
 *   node_modules/.bin/node bench/scale.ts [--peers 1000,5000,10000] [--runs 1] [--quiet-s 60]
 *     [--add-rate 100] [--variant bundle|source] [--node-flags='--v8-flag …'] [--rules false]
 *     [--daemon-flags='--peer-health-interval=0 …']   (needs root)
 *
 * Set-up per run (removed after it, on failure too): one namespace `scl-<pid>-<hex>-node` with
 * a veth eth0 198.18.0.10/24; the API double (lab/apiserver/main.ts) inside it on
 * 127.0.0.1:6443 (HTTPS, a bearer token) and on a unix socket the bench drives it through; the
 * daemon as in a pod (service account token and CA, KUBERNETES_SERVICE_HOST/PORT:
 * lab/harness/in-cluster.ts); net-conf.json Network
 * 10.244.0.0/16 with SubnetLen 30 (10,000 peers do not fit as /29s), vxlan; the daemon as the
 * image runs it (the bundle from scripts/build-image.sh, through its launcher) or bin/flanneld,
 * with --ip-masq and the forward rules like the manifest (--rules false: neither).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopChild, waitForLine } from '../lab/harness/child-line.ts';
import { outputIn, run, runIn } from '../lab/harness/exec.ts';
import { inClusterCommand, inClusterEnv, serviceAccount } from '../lab/harness/in-cluster.ts';
import { apiState, ownPodCidr, peerNode, peerSpec } from '../lab/harness/kube-nodes.ts';
import { addVeth, isRoot, NetnsSet } from '../lab/harness/netns.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const APISERVER = join(ROOT, 'lab/apiserver/main.ts');
const OWN_NODE = 'bench-node';
const PREFIX_LEN = 30;
const METRICS_PORT = 9862;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Sample {
  readonly atMs: number;
  /** The daemon's own CPU and its waited-for children's, ms. */
  readonly cpuMs: number;
  readonly childCpuMs: number;
  readonly runs: number;
  readonly requests: Readonly<Record<string, number>>;
  readonly rssKiB: number;
}

interface Phase {
  readonly name: string;
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly childCpuMs: number;
  readonly runs: number;
  readonly requests: Readonly<Record<string, number>>;
  readonly rssKiB: number;
}

interface RunResult {
  readonly phases: readonly Phase[];
  /** The quiet phase's two halves. */
  readonly quietHalves: readonly [Phase, Phase];
  readonly startToSubnetEnvMs: number;
  /** From the quiet phase: API requests per node per hour at the rate of the open watch's timeout. */
  readonly requestsPerHour: number;
  readonly watchTimeoutS: number;
  readonly ipBatchMs: number;
  readonly entries: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '1000,5000,10000' },
      runs: { type: 'string', default: '1' },
      'quiet-s': { type: 'string', default: '60' },
      'add-rate': { type: 'string', default: '100' },
      variant: { type: 'string', default: 'bundle' },
      'node-flags': { type: 'string', default: '' },
      /**
       * The manifest passes --ip-masq and keeps the forward rules; their check (iptables-save every
       * 5 s) is part of the idle cost. false: neither (--iptables-forward-rules=false), to see the rest.
       */
      rules: { type: 'string', default: 'true' },
      /** More flanneld flags, to see what a feature costs (e.g. --peer-health-interval=0). */
      'daemon-flags': { type: 'string', default: '' },
    },
  });
  if (!isRoot) throw new Error('scale needs root (network namespaces)');
  const sizes = values.peers.split(',').map(Number);
  const runs = Number(values.runs);
  const daemonFlags = values['daemon-flags'].split(/\s+/).filter((f) => f !== '');
  const opts = { quietMs: Number(values['quiet-s']) * 1000, addRate: Number(values['add-rate']), rules: values.rules !== 'false', daemonFlags };
  const dir = mkdtempSync(join(tmpdir(), 'scale-bench-'));
  try {
    let command: string[];
    let env: NodeJS.ProcessEnv = {};
    if (values.variant === 'bundle') {
      execFileSync(join(ROOT, 'scripts/build-image.sh'), ['--out', join(dir, 'image')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
      command = [join(dir, 'image/opt/bin/flanneld')];
      let node = NODE;
      if (values['node-flags'] !== '') {
        node = join(dir, 'node-with-flags');
        writeFileSync(node, `#!/bin/sh\nexec ${NODE} ${values['node-flags']} "$@"\n`, { mode: 0o755 });
      }
      env = { FLANNEL_NODE: node };
    } else if (values.variant === 'source') {
      command = [join(ROOT, 'bin/flanneld')];
    } else {
      throw new Error(`--variant must be bundle or source, got ${values.variant}`);
    }
    console.log(`scale: ${values.variant} daemon${opts.rules ? ' with --ip-masq' : ' without masquerade or forward rules'}${daemonFlags.length > 0 ? ` and ${daemonFlags.join(' ')}` : ''}, peers ${sizes.join('/')}, ${runs} run(s) each, quiet ${opts.quietMs / 1000} s, re-add at ${opts.addRate}/s; node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} CPUs, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    for (const n of sizes) {
      const results: RunResult[] = [];
      for (let r = 0; r < runs; r++) results.push(await runOnce(n, command, env, opts));
      report(n, results);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- one run

async function runOnce(n: number, command: readonly string[], env: NodeJS.ProcessEnv, opts: { quietMs: number; addRate: number; rules: boolean; daemonFlags: readonly string[] }): Promise<RunResult> {
  const nets = new NetnsSet('scl');
  const dir = mkdtempSync(join(tmpdir(), `${nets.prefix}-`));
  const children = new Set<ChildProcess>();
  const clients = new Set<DoubleClient>();
  const cleanup = async (): Promise<void> => {
    for (const c of clients) c.close();
    for (const c of children) await stopChild(c);
    await nets.removeAll();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const ns = await nets.add('node');
    await addVeth({ netns: ns, name: 'eth0', address: '198.18.0.10/24' }, { netns: ns, name: 'eth0-peer' });
    const kubeconfig = join(dir, 'kubeconfig');
    const stateFile = join(dir, 'apiserver-state.json');
    const socket = join(dir, 'api.sock');
    writeFileSync(stateFile, apiState(OWN_NODE, n, PREFIX_LEN).snapshot);
    // As in a pod: HTTPS, the service account's token and CA (lab/harness/in-cluster.ts).
    const sa = serviceAccount(dir);
    const api = spawn('ip', ['netns', 'exec', ns, NODE, APISERVER, '--listen', '127.0.0.1:6443', '--kubeconfig-out', kubeconfig, '--state-file', stateFile,
      '--unix-socket', socket, '--tls-cert', sa.certFile, '--tls-key', sa.keyFile, '--token', sa.token], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(api);
    await waitForLine(api, 'stdout', /^listening /, 180_000);
    const client = new DoubleClient(socket, sa.token);
    clients.add(client);

    const netConf = join(dir, 'net-conf.json');
    writeFileSync(netConf, JSON.stringify({ Network: '10.244.0.0/16', SubnetLen: PREFIX_LEN, Backend: { Type: 'vxlan' } }) + '\n');
    const subnetFile = join(dir, 'run/subnet.env');
    const flags = [
      ...(opts.rules ? ['--ip-masq'] : ['--iptables-forward-rules=false']), '--kube-subnet-mgr', '--healthz-port=8081', `--metrics-port=${METRICS_PORT}`,
      '--iface', 'eth0', '--net-config-path', netConf, '--subnet-file', subnetFile, ...opts.daemonFlags,
    ];
    const t0 = Date.now();
    const daemon = spawn('ip', ['netns', 'exec', ns, ...inClusterCommand(sa, [...command, ...flags])], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env, ...inClusterEnv('127.0.0.1', 6443), NODE_NAME: OWN_NODE },
    });
    children.add(daemon);
    const pid = daemon.pid!;
    await waitForLine(daemon, 'stderr', /flannel is ready/, 600_000);
    const readyAt = Date.now();
    const startToSubnetEnvMs = statSync(subnetFile).mtimeMs - t0;
    const sample = async (): Promise<Sample> => ({ atMs: Date.now(), ...cpuOf(pid), runs: await reconcileRuns(ns), requests: (await client.counts())['flannel-ts'] ?? {}, rssKiB: rssOf(pid) });
    const phases: Phase[] = [];
    const zero: Sample = { atMs: t0, cpuMs: 0, childCpuMs: 0, runs: 0, requests: {}, rssKiB: 0 };
    let last = await sample();
    phases.push(phase('start → ready', zero, { ...last, atMs: readyAt }));
    await expectKernel(ns, n, 'after start');

    // Quiet: nothing changes; the watch's bookmarks and the rule checks are all there is. Halves
    // apart: V8 collects garbage for a while after the busy start (its memory reducer), which
    // the first half carries and a node idle for hours does not.
    await sleep(opts.quietMs / 2);
    const mid = await sample();
    await sleep(opts.quietMs / 2);
    let next = await sample();
    phases.push(phase(`quiet ${opts.quietMs / 1000} s`, last, next));
    const quietHalves = [phase('1st half', last, mid), phase('2nd half', mid, next)] as const;
    const watches = (await client.requests()).filter((r) => r.userAgent.startsWith('flannel-ts/') && r.query['watch'] === 'true');
    const watchTimeoutS = Number(watches.at(-1)?.query['timeoutSeconds'] ?? NaN);
    // A minute sees a 5-10 minute watch end only by chance: one watch per its timeout, plus
    // every other request the quiet period measured, per hour.
    const others = Object.entries(phases.at(-1)!.requests).filter(([verb]) => verb !== 'watch').reduce((a, [, c]) => a + c, 0);
    const requestsPerHour = 3600 / watchTimeoutS + (others * 3_600_000) / opts.quietMs;
    last = next;

    // Delete every peer as fast as the double takes it.
    const tDel = Date.now();
    await parallel(n, 32, (i) => client.request('DELETE', `/api/v1/nodes/${peerSpec(i, PREFIX_LEN).name}`));
    await waitForKernel(ns, 0);
    const delDone = Date.now();
    await sleep(1000); // trailing work of the last run
    next = await sample();
    phases.push(phase('delete all', last, { ...next, atMs: delDone }, tDel));
    last = next;

    // Re-add at the given rate.
    const tAdd = Date.now();
    await parallel(n, 32, async (i) => {
      const due = tAdd + (i * 1000) / opts.addRate;
      if (due > Date.now()) await sleep(due - Date.now());
      await client.request('POST', '/api/v1/nodes', JSON.stringify({ kind: 'Node', apiVersion: 'v1', ...peerNode(i, PREFIX_LEN) }));
    });
    await waitForKernel(ns, n);
    const addDone = Date.now();
    await sleep(1000);
    next = await sample();
    phases.push(phase(`re-add at ${opts.addRate}/s`, last, { ...next, atMs: addDone }, tAdd));
    const final = await expectKernel(ns, n, 'after re-adding every peer');

    await stopChild(daemon);
    children.delete(daemon);
    client.close();
    await stopChild(api);
    children.delete(api);
    const ref = await ipBatchReference(nets, dir, n, final);
    return { phases, quietHalves, startToSubnetEnvMs, requestsPerHour, watchTimeoutS, ipBatchMs: ref, entries: final.length };
  } finally {
    process.off('SIGINT', onSignal);
    await cleanup();
  }
}

function phase(name: string, a: Sample, b: Sample, fromMs = a.atMs): Phase {
  const requests: Record<string, number> = {};
  for (const [verb, count] of Object.entries(b.requests)) {
    const d = count - (a.requests[verb] ?? 0);
    if (d > 0) requests[verb] = d;
  }
  return { name, wallMs: b.atMs - fromMs, cpuMs: b.cpuMs - a.cpuMs, childCpuMs: b.childCpuMs - a.childCpuMs, runs: b.runs - a.runs, requests, rssKiB: b.rssKiB };
}

// ---------------------------------------------------------------- kernel state

/** The peers' kernel entries on flannel.1, one normalised line each, sorted. */
async function kernelLines(ns: string): Promise<string[]> {
  const routes = (await outputIn(ns, ['ip', '-4', 'route', 'show', 'dev', 'flannel.1'])).split('\n')
    .filter((l) => l.includes(' via ')).map((l) => `route ${l.replace(/ proto \S+/, '').trim()}`);
  const neighs = (await outputIn(ns, ['ip', '-4', 'neigh', 'show', 'dev', 'flannel.1'])).split('\n')
    .filter((l) => l.trim() !== '').map((l) => `neigh ${l.trim()}`);
  const fdbs = (await outputIn(ns, ['bridge', 'fdb', 'show', 'dev', 'flannel.1'])).split('\n')
    .filter((l) => l.includes(' dst ')).map((l) => `fdb ${l.trim()}`);
  return [...routes, ...neighs, ...fdbs].sort();
}

function expectedLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = peerSpec(i, PREFIX_LEN);
    out.push(`route ${p.podCidr} via ${p.gateway} onlink`, `neigh ${p.gateway} lladdr ${p.mac} PERMANENT`, `fdb ${p.mac} dst ${p.publicIp} self permanent`);
  }
  return out.sort();
}

async function expectKernel(ns: string, n: number, when: string): Promise<string[]> {
  const have = await kernelLines(ns);
  const want = expectedLines(n);
  if (have.length !== want.length || have.some((l, i) => l !== want[i])) {
    const missing = want.filter((l) => !have.includes(l)).slice(0, 3);
    const extra = have.filter((l) => !want.includes(l)).slice(0, 3);
    throw new Error(`kernel state ${when}: ${have.length} entries, want ${want.length}; missing e.g. ${JSON.stringify(missing)}, unexpected e.g. ${JSON.stringify(extra)}`);
  }
  return have;
}

/** Waits until flannel.1 carries `routes` peer routes. */
async function waitForKernel(ns: string, routes: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const out = await outputIn(ns, ['ip', '-4', 'route', 'show', 'dev', 'flannel.1']);
    let count = 0;
    for (let i = out.indexOf(' via '); i >= 0; i = out.indexOf(' via ', i + 1)) count++;
    if (count === routes) return;
    if (Date.now() > deadline) throw new Error(`flannel.1 has ${count} routes after 10 min, want ${routes}`);
    await sleep(100);
  }
}

/**
 * `ip -batch` and `bridge -batch` writing the same final state into a fresh namespace with the
 * same flannel.1; returns their wall time, after checking the result equals the daemon's.
 */
async function ipBatchReference(nets: NetnsSet, dir: string, n: number, daemonLines: readonly string[]): Promise<number> {
  const ns = await nets.add('ref');
  await addVeth({ netns: ns, name: 'eth0', address: '198.18.0.10/24' }, { netns: ns, name: 'eth0-peer' });
  await runIn(ns, ['ip', 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'local', '198.18.0.10', 'dev', 'eth0', 'dstport', '8472', 'nolearning']);
  await runIn(ns, ['ip', 'addr', 'add', `${ownPodCidr(PREFIX_LEN).split('/')[0]}/32`, 'dev', 'flannel.1']);
  await runIn(ns, ['ip', 'link', 'set', 'flannel.1', 'up']);
  const ip: string[] = [];
  const bridge: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = peerSpec(i, PREFIX_LEN);
    ip.push(`neigh replace ${p.gateway} lladdr ${p.mac} dev flannel.1 nud permanent`);
    bridge.push(`fdb replace ${p.mac} dev flannel.1 dst ${p.publicIp} self permanent`);
  }
  for (let i = 0; i < n; i++) {
    const p = peerSpec(i, PREFIX_LEN);
    ip.push(`route replace ${p.podCidr} via ${p.gateway} dev flannel.1 onlink`);
  }
  writeFileSync(join(dir, 'ip.batch'), ip.join('\n') + '\n');
  writeFileSync(join(dir, 'bridge.batch'), bridge.join('\n') + '\n');
  const t0 = performance.now();
  await run(['ip', '-n', ns, '-batch', join(dir, 'ip.batch')]);
  await run(['bridge', '-n', ns, '-batch', join(dir, 'bridge.batch')]);
  const ms = performance.now() - t0;
  const theirs = await kernelLines(ns);
  if (theirs.join('\n') !== daemonLines.join('\n')) throw new Error(`ip -batch produced ${theirs.length} entries that differ from the daemon's ${daemonLines.length}`);
  return ms;
}

// ---------------------------------------------------------------- the daemon and the double

function cpuOf(pid: number): { cpuMs: number; childCpuMs: number } {
  // Fields after the command name (which is in parentheses and may contain spaces).
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const tick = (k: number): number => (Number(f[k]) * 1000) / CLK_TCK;
  return { cpuMs: tick(11) + tick(12), childCpuMs: tick(13) + tick(14) };
}

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

async function reconcileRuns(ns: string): Promise<number> {
  const text = await outputIn(ns, ['curl', '-sf', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
  const m = /^flannel_reconcile_runs_total (\d+)/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The API double through its unix socket, from outside its namespace. */
class DoubleClient {
  private readonly agent: http.Agent;
  private readonly socketPath: string;
  private readonly token: string;

  constructor(socketPath: string, token: string) {
    this.socketPath = socketPath;
    this.token = token;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  /** Drops the kept-alive connections (before the double stops, so none is reset under us). */
  close(): void {
    this.agent.destroy();
  }

  request(method: string, path: string, body?: string): Promise<string> {
    return new Promise((resolveBody, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'scale-bench', Authorization: `Bearer ${this.token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const req = http.request({ socketPath: this.socketPath, agent: this.agent, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolveBody(text);
        });
      });
      req.on('error', reject);
      // A kept-alive connection the double resets between requests must not be an uncaught error.
      req.on('socket', (sock) => {
        if (sock.listenerCount('error') === 0) sock.on('error', () => undefined);
      });
      req.end(body);
    });
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    return (JSON.parse(await this.request('GET', '/lab/request-counts')) as { counts: Record<string, Record<string, number>> }).counts;
  }

  async requests(): Promise<{ userAgent: string; query: Record<string, string> }[]> {
    return (JSON.parse(await this.request('GET', '/lab/requests')) as { requests: { userAgent: string; query: Record<string, string> }[] }).requests;
  }
}

async function parallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

// ---------------------------------------------------------------- report

function report(n: number, results: readonly RunResult[]): void {
  const first = results[0]!;
  console.log(`\nN = ${n} peers (${first.entries} kernel entries), ${results.length} run(s); medians [min–max]`);
  const rows = first.phases.map((p, k) => {
    const col = (f: (x: Phase) => number): number[] => results.map((r) => f(r.phases[k]!));
    const verbs = new Set(results.flatMap((r) => Object.keys(r.phases[k]!.requests)));
    const requests = [...verbs].sort().map((v) => `${v} ${stat(col((x) => x.requests[v] ?? 0), 0)}`).join(', ') || '—';
    return [
      p.name,
      `${stat(col((x) => x.wallMs / 1000), 2)} s`,
      `${stat(col((x) => x.cpuMs / 1000), 2)} s`,
      `${stat(col((x) => x.childCpuMs / 1000), 2)} s`,
      stat(col((x) => x.runs), 0),
      requests,
      `${stat(col((x) => x.rssKiB / 1024), 1)} MiB`,
    ];
  });
  printTable(['phase', 'wall', 'daemon CPU', 'children CPU', 'reconcile runs', 'API requests (daemon)', 'VmRSS at end'], rows);
  const quiet = first.phases.find((p) => p.name.startsWith('quiet'))!;
  const perMin = (p: (r: RunResult) => Phase): string => stat(results.map((r) => (p(r).cpuMs / p(r).wallMs) * 60), 3);
  console.log(`start → subnet.env ${stat(results.map((r) => r.startToSubnetEnvMs), 0)} ms`);
  console.log(`idle: ${perMin((r) => r.phases[1]!)} s of daemon CPU per minute (1st half ${perMin((r) => r.quietHalves[0])}, 2nd half ${perMin((r) => r.quietHalves[1])}; goal ≤ 0.1 at 10,000 peers); API requests per node per hour on a quiet cluster ${stat(results.map((r) => r.requestsPerHour), 1)} ` +
    `(one watch per its timeoutSeconds, ${stat(results.map((r) => r.watchTimeoutS), 0)} s, plus the other requests of the quiet period: ${JSON.stringify(quiet.requests)}; goal ≤ 15)`);
  console.log(`reference: ip -batch + bridge -batch writing the same final state: ${stat(results.map((r) => r.ipBatchMs / 1000), 2)} s`);
}

function stat(xs: readonly number[], digits: number): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return s.length === 1 ? med.toFixed(digits) : `${med.toFixed(digits)} [${s[0]!.toFixed(digits)}–${s.at(-1)!.toFixed(digits)}]`;
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

// ---------------------------------------------------------------- processes

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// Last: the classes above must be initialised before main() runs.
await main();
