/**
 * Daemon footprint: resident memory at steady state with N peers (default 5000) and the time
 * from process start to subnet.env written when the lease already exists, for the daemon as the
 * container image runs it (the bundle from scripts/build-image.sh, through its launcher) and
 * from the source tree (bin/flanneld), next to a reference measured the same way in the same
 * run (`node -e` that writes a file and stays up), so the machine's noise is visible.
 *
 *   node_modules/.bin/node bench/daemon-footprint.ts [--peers 5000] [--runs 5] [--settle-ms 12000]
 *     [--variants bundle,source] [--timeline] [--node-flags='--v8-flag …'] [--api in-cluster|kubeconfig]   (needs root)
 *
 * --api in-cluster (the default) runs the daemons as in a pod: HTTPS to the double with a service
 * account token and CA at the pod path, no kubeconfig (lab/harness/in-cluster.ts); kubeconfig runs
 * them with --kubeconfig-file over HTTP, as the lab does (client-node's KubeConfig is loaded then).
 *
 * --timeline prints the last run's log with ms since spawn and the largest mappings at idle (where
 * the time and the memory go); --node-flags runs the bundle with other node/V8 flags than the
 * launcher's, to try flags without rebuilding.
 *
 * Set-up (all in one throwaway namespace `dfp-<pid>-<hex>-node`, removed on exit, on failure too):
 * - a veth `eth0` with 198.18.0.10/24 (peers' public IPs repeat over 198.18.0.20-249);
 * - the API server double (lab/apiserver/main.ts) on 127.0.0.1:6443 inside the namespace (HTTPS
 *   with a self-signed certificate and a bearer token in-cluster),
 *   started from a state file this bench writes (lab/harness/kube-nodes.ts): the own node
 *   (podCIDR 10.244.255.248/29) and N peer Node objects with /29 podCIDRs inside 10.244.0.0/16
 *   (/30 and SubnetLen 30 above 8190 peers, which do not fit as /29s),
 *   flannel vxlan annotations, and a kubelet-like status (conditions, addresses, nodeInfo,
 *   images) so the initial list has the size of a real one;
 * - net-conf.json: Network 10.244.0.0/16, SubnetLen 29, vxlan.
 * A warm-up run per variant publishes the own node's annotations and programs the peers, so the
 * measured runs find the lease existing (annotations equal, podCIDR set) and adopt the kernel
 * state, as a restarted pod does.
 *
 * Per run: subnet.env is kept from the run before (as /run/flannel across a pod restart), the process spawned with `ip netns exec` (the reference too);
 * start→subnet.env is the file's mtime minus the wall clock just before spawn; RSS is VmRSS and
 * VmHWM from /proc/<pid>/status `--settle-ms` after the daemon logged "flannel is ready" (every
 * peer programmed, reconcile loop idle).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopChild, waitForLine } from '../lab/harness/child-line.ts';
import { outputIn } from '../lab/harness/exec.ts';
import { inClusterCommand, inClusterEnv, serviceAccount } from '../lab/harness/in-cluster.ts';
import { apiState } from '../lab/harness/kube-nodes.ts';
import { addVeth, isRoot, NetnsSet } from '../lab/harness/netns.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
/** Run as a process, as the lab runs it, so the bench imports only src/ and lab/harness/. */
const APISERVER = join(ROOT, 'lab/apiserver/main.ts');
const OWN_NODE = 'bench-node';

await main();

// ---------------------------------------------------------------- the bench (root mode)

interface Variant {
  readonly name: string;
  /** argv before the daemon's flags (the reference ignores the flags). */
  readonly command: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The reference: writes the subnet file itself, never logs "ready". */
  readonly reference?: boolean;
}

interface RunResult {
  /** The daemon's log lines of this run, each prefixed with ms since spawn (from its `time` field). */
  readonly timeline: readonly string[];
  readonly startToSubnetEnvMs: number;
  readonly startToReadyMs: number | undefined;
  readonly rssKiB: number;
  readonly hwmKiB: number;
  /** VmRSS split: anonymous (heap, malloc, JIT code) and file-backed (the node binary, the addon). */
  readonly anonKiB: number;
  readonly fileKiB: number;
  /** The largest mappings by Rss (from /proc/<pid>/smaps), for --timeline. */
  readonly topMappings: readonly string[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '5000' },
      runs: { type: 'string', default: '5' },
      // Long enough for V8 to finish collecting after the busy start (its memory reducer).
      'settle-ms': { type: 'string', default: '12000' },
      /** in-cluster: as in a pod (HTTPS, service account token and CA); kubeconfig: --kubeconfig-file, as the lab runs it. */
      api: { type: 'string', default: 'in-cluster' },
      variants: { type: 'string', default: 'bundle,source' },
      timeline: { type: 'boolean', default: false },
      /** Extra node flags for the bundle (through FLANNEL_NODE), to try V8 flags without rebuilding. */
      'node-flags': { type: 'string', default: '' },
    },
  });
  const peers = Number(values.peers);
  const runs = Number(values.runs);
  const settleMs = Number(values['settle-ms']);
  if (!isRoot) throw new Error('daemon-footprint needs root (network namespaces)');

  const nets = new NetnsSet('dfp');
  const ns = nets.name('node');
  const dir = mkdtempSync(join(tmpdir(), `${nets.prefix}-`));
  const children = new Set<ChildProcess>();
  const cleanup = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    // Anything still running in the namespace (it is ours) goes before the namespace does.
    await nets.removeAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  process.on('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

  try {
    // The bundle as the image has it.
    const image = join(dir, 'image');
    const tb = performance.now();
    execFileSync(join(ROOT, 'scripts/build-image.sh'), ['--out', image], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const buildMs = performance.now() - tb;
    const bundleBytes = statSync(join(image, 'opt/flannel-ts/flanneld.mjs')).size;

    await nets.add('node');
    // A veth pair inside the namespace (the dummy module may be missing); eth0 is the uplink.
    await addVeth({ netns: ns, name: 'eth0', address: '198.18.0.10/24' }, { netns: ns, name: 'eth0-peer' });

    const kubeconfig = join(dir, 'kubeconfig');
    const stateFile = join(dir, 'apiserver-state.json');
    const prefixLen = peers > 8190 ? 30 : 29;
    const { snapshot, listBytes } = apiState(OWN_NODE, peers, prefixLen);
    writeFileSync(stateFile, snapshot);
    if (values.api !== 'in-cluster' && values.api !== 'kubeconfig') throw new Error(`--api must be in-cluster or kubeconfig, got ${values.api}`);
    const sa = values.api === 'in-cluster' ? serviceAccount(dir) : undefined;
    const tls = sa === undefined ? [] : ['--tls-cert', sa.certFile, '--tls-key', sa.keyFile, '--token', sa.token];
    const api = spawn('ip', ['netns', 'exec', ns, NODE, APISERVER, '--listen', '127.0.0.1:6443', '--kubeconfig-out', kubeconfig, '--state-file', stateFile, ...tls], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(api);
    await waitForLine(api, 'stdout', /^listening /, 120_000);

    const netConf = join(dir, 'net-conf.json');
    writeFileSync(netConf, JSON.stringify({ Network: '10.244.0.0/16', SubnetLen: prefixLen, Backend: { Type: 'vxlan' } }) + '\n');
    const subnetFile = join(dir, 'run/subnet.env');
    const flags = [
      '--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081', '--logging-format=json',
      ...(sa === undefined ? ['--kubeconfig-file', kubeconfig] : []), '--iface', 'eth0', '--net-config-path', netConf, '--subnet-file', subnetFile,
    ];
    const pod = (command: string[]): string[] => (sa === undefined ? command : inClusterCommand(sa, command));
    const podEnv = sa === undefined ? {} : inClusterEnv('127.0.0.1', 6443);
    // The reference rewrites the file with its own content, so the daemon's next run reads a valid previous subnet.env.
    const refScript = `const fs=require('fs'),f=${JSON.stringify(subnetFile)};fs.mkdirSync(require('path').dirname(f),{recursive:true});` +
      `fs.writeFileSync(f,fs.existsSync(f)?fs.readFileSync(f):'');setInterval(()=>{},1e6)`;
    let nodeWithFlags = NODE;
    if (values['node-flags'] !== '') {
      nodeWithFlags = join(dir, 'node-with-flags');
      writeFileSync(nodeWithFlags, `#!/bin/sh\nexec ${NODE} ${values['node-flags']} "$@"\n`, { mode: 0o755 });
    }
    const all: Variant[] = [
      { name: 'reference: node -e (write file)', command: [NODE, '-e', refScript], reference: true },
      { name: 'bundle (image launcher)', command: pod([join(image, 'opt/bin/flanneld')]), env: { ...podEnv, FLANNEL_NODE: nodeWithFlags } },
      { name: 'source (bin/flanneld)', command: pod([join(ROOT, 'bin/flanneld')]), env: podEnv },
    ];
    const wanted = new Set(values.variants.split(','));
    const variants = all.filter((v) => v.reference || [...wanted].some((w) => v.name.startsWith(w)));

    const results = new Map<string, RunResult[]>();
    for (const v of variants) results.set(v.name, []);
    // Warm-up: publishes annotations, creates flannel.1, programs every peer (not measured).
    for (const v of variants) if (!v.reference) await runOnce(v, { ns, flags, subnetFile, settleMs: 0, children });
    // Interleaved, so drift of the machine spreads over every variant alike.
    for (let r = 0; r < runs; r++) {
      for (const v of variants) results.get(v.name)!.push(await runOnce(v, { ns, flags, subnetFile, settleMs, children }));
    }

    const peersProgrammed = (await outputIn(ns, ['ip', 'route', 'show', 'dev', 'flannel.1'])).split('\n').filter((l) => l.includes('onlink')).length;
    console.log(`\ndaemon footprint (${sa === undefined ? 'kubeconfig, HTTP' : 'in-cluster: HTTPS, service account'}): ${peers} peers (${peersProgrammed} routes on flannel.1), initial list ${(listBytes / 1048576).toFixed(1)} MiB JSON, ` +
      `${runs} runs each after one warm-up, RSS ${settleMs} ms after ready;${values['node-flags'] ? ` bundle run with extra node flags ${values['node-flags']};` : ''} bundle ${(bundleBytes / 1048576).toFixed(2)} MiB (built in ${(buildMs / 1000).toFixed(1)} s); node ${execFileSync(NODE, ['-v'], { encoding: 'utf8' }).trim()}\n`);
    const rows = variants.map((v) => {
      const rs = results.get(v.name)!;
      const col = (f: (r: RunResult) => number | undefined): number[] => rs.map(f).filter((x): x is number => x !== undefined);
      return [
        v.name,
        fmtStat(col((r) => r.startToSubnetEnvMs), 'ms'),
        v.reference ? '—' : fmtStat(col((r) => r.startToReadyMs), 'ms'),
        fmtStat(col((r) => r.rssKiB / 1024), 'MiB'),
        fmtStat(col((r) => r.hwmKiB / 1024), 'MiB'),
        `${fmtStat(col((r) => r.anonKiB / 1024), 'MiB').split(' [')[0]} + ${fmtStat(col((r) => r.fileKiB / 1024), 'MiB').split(' [')[0]}`,
      ];
    });
    printTable(['process', 'start→subnet.env (mean [min–max])', 'start→ready', 'VmRSS at idle', 'VmHWM', 'RssAnon + RssFile'], rows);
    if (values.timeline) {
      for (const v of variants) {
        if (v.reference) continue;
        console.log(`\ntimeline of the last run, ${v.name}:`);
        const last = results.get(v.name)!.at(-1)!;
        for (const l of last.timeline) console.log(`  ${l}`);
        console.log(`largest mappings at idle:`);
        for (const l of last.topMappings) console.log(`  ${l}`);
      }
    }
    console.log('\ngoals (issue 9): VmRSS at idle ≤ 56 MiB with 3 peers, ≤ 64 MiB with 5,000, ≤ 90 MiB with 10,000; start→subnet.env ≤ 200 ms at 5,000 peers (lease existing)');
  } finally {
    await cleanup();
  }
}

async function runOnce(
  v: Variant,
  ctx: { ns: string; flags: readonly string[]; subnetFile: string; settleMs: number; children: Set<ChildProcess> },
): Promise<RunResult> {
  // subnet.env stays from the run before, as /run/flannel does across a pod restart; the run
  // counts once the file's mtime is past the spawn.
  const fresh = (): boolean => existsSync(ctx.subnetFile) && statSync(ctx.subnetFile).mtimeMs >= t0;
  const argv = ['netns', 'exec', ctx.ns, ...v.command, ...(v.reference ? [] : ctx.flags)];
  await new Promise((r) => setTimeout(r, 20)); // mtime granularity: the last write is well before t0
  const t0 = Date.now();
  const child = spawn('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...v.env, NODE_NAME: OWN_NODE } });
  ctx.children.add(child);
  const log: string[] = [];
  child.stdout!.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => log.push(b.toString()));
  try {
    let readyAt: number | undefined;
    if (v.reference) {
      await waitFor(fresh, 10_000, 'the reference to write its file', child, log);
    } else {
      await waitForLine(child, 'stderr', /flannel is ready/, 120_000);
      readyAt = Date.now();
    }
    await waitFor(fresh, 10_000, 'subnet.env', child, log);
    const mtime = statSync(ctx.subnetFile).mtimeMs;
    await new Promise((r) => setTimeout(r, ctx.settleMs));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const topMappings = topMappingsOf(readFileSync(`/proc/${child.pid}/smaps`, 'utf8'));
    const exe = readlinkSync(`/proc/${child.pid}/exe`);
    if (!exe.endsWith('/node')) throw new Error(`pid ${child.pid} is ${exe}, not node: the launcher did not exec`);
    const timeline = log.join('').split('\n').flatMap((line) => {
      try {
        const rec = JSON.parse(line) as { time?: string; msg?: string };
        return rec.time === undefined ? [] : [`${String(Date.parse(rec.time) - t0).padStart(6)} ms  ${rec.msg ?? ''}`];
      } catch {
        return line.trim() === '' ? [] : [`         ${line}`]; // not ours (e.g. --trace-gc)
      }
    });
    return {
      timeline,
      startToSubnetEnvMs: mtime - t0,
      startToReadyMs: readyAt === undefined ? undefined : readyAt - t0,
      rssKiB: kib(status, 'VmRSS'),
      hwmKiB: kib(status, 'VmHWM'),
      topMappings,
      anonKiB: kib(status, 'RssAnon'),
      fileKiB: kib(status, 'RssFile'),
    };
  } finally {
    await stopChild(child);
    ctx.children.delete(child);
  }
}

/** Rss per mapping, summed by name ([heap], [anon], the node binary …), largest first. */
function topMappingsOf(smaps: string): string[] {
  const byName = new Map<string, number>();
  let name = '';
  for (const line of smaps.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[2] === '' ? '[anon]' : head[2]!.startsWith('/') ? `${head[2]} (${head[1]})` : head[2]!;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, k]) => `${(k / 1024).toFixed(1).padStart(6)} MiB  ${n}`);
}

function kib(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/<pid>/status`);
  return Number(m[1]);
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string, child: ChildProcess, log: string[]): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before ${what}:\n${log.join('').slice(-3000)}`);
    if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms:\n${log.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function fmtStat(xs: readonly number[], unit: string): string {
  if (xs.length === 0) return '—';
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const digits = unit === 'ms' ? 0 : 1;
  return `${mean.toFixed(digits)} ${unit} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`;
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}
