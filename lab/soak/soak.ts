/**
 * The chaos soak: a lab (lab.ts) with N nodes, a continuous all-pairs ping matrix and one TCP
 * stream, and a fault injector driven by a seeded RNG — one fault at a time, each followed by a
 * pause — while an independent checker (checker.ts) verifies after every fault that each node's
 * kernel state is what the API objects say within a deadline, no daemon exits unless the soak
 * killed it, and no ping is lost to a fault that does not cut the path. Memory and event-loop
 * lag of every daemon are sampled from /metrics.
 *
 *   const result = await runSoak({ minutes: 3, nodes: 3, backend: 'vxlan', seed: 42 });
 *   console.log(formatResult(result));
 *
 * bench/soak.ts is the command line; test/lab/soak.test.ts the short CI variant.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLab, type Lab } from '../lab.ts';
import { netConfJson } from '../daemon.ts';
import { isAlive, logTail } from '../processes.ts';
import { runIn } from '../harness/exec.ts';
import { errorText } from '../../src/util/errors.ts';
import { compareNode, expectedState, LeaseModel, readKernel, toApiNode, type ApiNode, type Backend, type CheckedNode } from './checker.ts';
import { FAULTS, RARE_WEIGHT, secondaryIp, type ConvergeOptions, type Fault, type FaultEnv, type FaultTimings, type NodeModel } from './faults.ts';
import { UnderlayHttp } from './http.ts';
import { formatTable, kindRows, lagSummary, memorySummary, repairTime, type FaultRecord, type KindRow, type LagSummary, type MemorySummary, type MetricSample, type ProcessMemory } from './report.ts';
import { Rng } from './rng.ts';
import { PingMatrix, TcpStream, type PingMatrixStats, type TcpStreamStats } from './traffic.ts';

export interface SoakOptions {
  readonly minutes: number;
  readonly nodes: number;
  readonly backend: Backend;
  readonly seed: number;
  /** Default 2. */
  readonly podsPerNode?: number;
  /** Only these fault kinds (default: every kind that applies to the backend). */
  readonly faults?: readonly string[];
  /** Stop after this many faults even when time is left. */
  readonly maxFaults?: number;
  /**
   * 'random' (default): a kind drawn for every fault until the time is up. 'each-once': every
   * applicable kind exactly once, in a seeded random order (the CI variant), then stop.
   */
  readonly schedule?: 'random' | 'each-once';
  readonly timings?: Partial<FaultTimings>;
  /** Pause after each fault, drawn uniformly from [min, max] ms; default [1000, 3000]. */
  readonly pauseMs?: readonly [number, number];
  /** Deadline for the invariants after kernel, process and config faults; default 10 s. */
  readonly deadlineMs?: number;
  /** Deadline after the API is back (API faults); default 30 s. */
  readonly apiDeadlineMs?: number;
  /** How often each daemon's /metrics is scraped; default 10 s. */
  readonly sampleEveryMs?: number;
  /** The TCP stream's rate (iperf3 -b); default 10M. */
  readonly tcpRate?: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Ends the run after the fault in progress (the figures so far are returned, the lab removed). */
  readonly signal?: AbortSignal;
}

export interface UnexpectedExit {
  readonly node: number;
  readonly t: number;
  readonly fault: string;
  readonly logTail: string;
}

export interface SoakResult {
  readonly backend: Backend;
  readonly nodes: number;
  readonly podsPerNode: number;
  readonly seed: number;
  readonly minutes: number;
  readonly timings: FaultTimings;
  readonly pauseMs: readonly [number, number];
  readonly schedule: 'random' | 'each-once';
  readonly durationS: number;
  readonly faults: readonly FaultRecord[];
  readonly rows: readonly KindRow[];
  /** Invariant violations outside any fault (the baseline before the first one). */
  readonly baselineViolations: readonly string[];
  readonly baselineLost: number;
  readonly exits: readonly UnexpectedExit[];
  readonly pings: PingMatrixStats;
  readonly tcp: TcpStreamStats | undefined;
  readonly memory: MemorySummary | undefined;
  readonly lag: LagSummary;
  /** The machine's 1-minute load average over the run (the lab shares the machine): mean and max of the samples. */
  readonly load: { readonly mean: number; readonly max: number };
  readonly violations: number;
  /** Every /metrics sample, for a closer look at memory and lag (--json). */
  readonly samples: readonly MetricSample[];
}

export const DEFAULT_TIMINGS: FaultTimings = { apiOutageMs: 60_000, sigstopMs: 20_000, underlayDownMs: 2000, churnNodes: 100, churnPerSecond: 20 };

/** Long enough for the ping matrix to show a fault's losses apart from the next one's. */
const DEFAULT_PAUSE_MS: readonly [number, number] = [1000, 3000];

/** How long a fault that did not converge by its deadline may take to recover before the soak moves on. */
const RECOVERY_MS = 60_000;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const runner = new SoakRunner(opts);
  return runner.run();
}

class SoakRunner implements FaultEnv {
  readonly rng: Rng;
  readonly timings: FaultTimings;
  readonly backend: Backend;
  readonly model: NodeModel[] = [];
  private readonly opts: SoakOptions;
  private readonly log: (line: string) => void;
  private lab!: Lab;
  private agent!: UnderlayHttp;
  private readonly leases = new LeaseModel();
  private lastNodes: ApiNode[] = [];
  private current: FaultRecord | undefined;
  private readonly baseline: string[] = [];
  private readonly records: FaultRecord[] = [];
  private readonly exits: UnexpectedExit[] = [];
  private readonly samples: MetricSample[] = [];
  private readonly loads: number[] = [];
  private readonly seenPids = new Set<number>();
  /** Daemons the soak is stopping or starting itself: the exit monitor leaves them alone. */
  private readonly managed = new Set<number>();
  private readonly paused = new Set<number>();
  /** Nodes whose next metrics window held a SIGSTOP. */
  private readonly stoppedWindow = new Set<number>();
  private t0 = 0;

  constructor(opts: SoakOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.backend = opts.backend;
    this.log = opts.log ?? (() => undefined);
  }

  get http(): UnderlayHttp {
    return this.agent;
  }

  get nodeCount(): number {
    return this.lab.nodeCount;
  }

  node(i: number) {
    return this.lab.node(i);
  }

  async run(): Promise<SoakResult> {
    const { nodes, backend } = this.opts;
    if (!Number.isInteger(nodes) || nodes < 2 || nodes > 40) throw new Error(`--nodes must be 2..40, got ${nodes}`);
    const podsPerNode = this.opts.podsPerNode ?? 2;
    const kinds = FAULTS.filter((f) => f.applies(backend) && (this.opts.faults === undefined || this.opts.faults.includes(f.kind)));
    const unknown = (this.opts.faults ?? []).filter((k) => !FAULTS.some((f) => f.kind === k));
    if (unknown.length > 0) throw new Error(`unknown fault kinds: ${unknown.join(', ')} (known: ${FAULTS.map((f) => f.kind).join(', ')})`);
    if (kinds.length === 0) throw new Error(`no fault kind applies to ${backend}`);

    this.say(`building a lab: ${nodes} nodes × ${podsPerNode} pods, ${backend}, seed ${this.opts.seed}`);
    // A backend switch keeps the previous backend for --migration-grace after every peer moved
    // (docs/migration.md); 2 s keeps the switch fault's repair time about the switch itself.
    this.lab = await createLab({ nodes, backend, podsPerNode, daemonArgs: ['--migration-grace=2'] });
    let pings: PingMatrix | undefined;
    let tcp: TcpStream | undefined;
    const timers: NodeJS.Timeout[] = [];
    try {
      this.agent = new UnderlayHttp(this.lab.state.underlayNetns);
      for (let i = 0; i < nodes; i++) {
        const n = this.lab.node(i);
        this.model.push({ backend, publicIp: n.underlayIp, keptRoutes: [], annotationOverrides: {} });
        await runIn(n.netns, ['ip', 'addr', 'add', `${secondaryIp(i)}/24`, 'dev', 'eth0']);
      }
      const matrix = await this.lab.waitForFullConnectivity(60_000);
      if (matrix.failures.length > 0) throw new Error(`the lab never reached full connectivity: ${matrix.failures.join(', ')}`);
      const ready = await this.converge(Date.now(), 'baseline', { deadlineMs: 60_000, ready: this.model.map((_, i) => i) });
      if (ready === undefined) throw new Error(`the lab's initial state is not what the API says: ${this.baseline.join('; ')}`);

      pings = new PingMatrix(this.lab.pods());
      pings.start();
      tcp = new TcpStream();
      await tcp.start(this.lab.pod(0, 0), this.lab.pod(1, 0), this.opts.minutes * 60 + 120, this.opts.tcpRate ?? '10M');
      timers.push(setInterval(() => this.watchExits(), 500));
      timers.push(setInterval(() => void this.sampleMetrics(), this.opts.sampleEveryMs ?? 10_000));
      this.t0 = Date.now();
      const endAt = this.t0 + this.opts.minutes * 60_000;
      await this.sleep(3000);
      const baselineEnd = Date.now();
      void this.sampleMetrics();

      let index = 0;
      if (this.opts.schedule === 'each-once') {
        const order = [...kinds];
        for (let k = order.length - 1; k > 0; k--) {
          const m = this.rng.int(0, k);
          [order[k], order[m]] = [order[m]!, order[k]!];
        }
        for (const fault of order) {
          if (this.opts.signal?.aborted) break;
          await this.runFault(fault, ++index);
        }
      } else {
        while (Date.now() < endAt && !this.opts.signal?.aborted && (this.opts.maxFaults === undefined || index < this.opts.maxFaults)) {
          const fault = this.rng.pickWeighted(kinds, (f) => (f.long === true ? RARE_WEIGHT : 1));
          await this.runFault(fault, ++index);
        }
      }
      // Let the last echoes settle inside no fault's window.
      await this.sleep(3500);
      await pings.stop();
      const tcpStats = tcp.stats();
      await tcp.stop();
      for (const r of this.records) {
        r.lost = pings.lostBetween(r.start, r.end);
        if (r.lost > 0 && !r.cutsPath) r.violations.push(`${r.lost} pings lost (this fault does not cut the path)`);
      }
      const baselineLost = pings.lostBetween(this.t0 - 60_000, baselineEnd);
      if (baselineLost > 0) this.baseline.push(`${baselineLost} pings lost before the first fault`);
      const rows = kindRows(this.records);
      const violations = rows.reduce((a, r) => a + r.violations, 0) + this.baseline.length;
      return {
        backend, nodes, podsPerNode, seed: this.opts.seed, minutes: this.opts.minutes, timings: this.timings,
        pauseMs: this.opts.pauseMs ?? DEFAULT_PAUSE_MS, schedule: this.opts.schedule ?? 'random',
        durationS: (Date.now() - this.t0) / 1000,
        faults: this.records, rows,
        baselineViolations: this.baseline, baselineLost,
        exits: this.exits,
        pings: pings.stats(),
        tcp: tcpStats,
        memory: memorySummary(this.samples, nodes),
        lag: lagSummary(this.samples),
        samples: this.samples,
        load: { mean: this.loads.reduce((a, b) => a + b, 0) / Math.max(1, this.loads.length), max: Math.max(0, ...this.loads) },
        violations,
      };
    } finally {
      for (const t of timers) clearInterval(t);
      await pings?.stop().catch(() => undefined);
      await tcp?.stop().catch(() => undefined);
      await this.agent?.close().catch(() => undefined);
      for (const i of this.paused) this.continueDaemon(i);
      await this.lab.destroy();
    }
  }

  private async runFault(fault: Fault, index: number): Promise<void> {
    const r: FaultRecord = {
      index, kind: fault.kind, title: fault.title, category: fault.category, cutsPath: fault.cutsPath(this.backend),
      start: Date.now(), end: 0, phases: [], violations: [], lost: 0, notes: [],
    };
    this.records.push(r);
    this.current = r;
    try {
      r.phases = await fault.run(this);
    } catch (e) {
      this.violation(`the fault itself failed: ${errorText(e)}`);
    }
    const repaired = repairTime(r);
    this.say(`#${index} ${fault.kind}: ${repaired === undefined ? 'NOT REPAIRED' : `repaired in ${repaired} ms`} [${r.phases.map((p) => p ?? '—').join(', ')}]`);
    const [lo, hi] = this.opts.pauseMs ?? DEFAULT_PAUSE_MS;
    await this.sleep(this.rng.int(lo, hi));
    // The repaired state must still hold after the pause: nothing may drift back.
    await this.converge(Date.now(), 'after the pause', { deadlineMs: 1 });
    r.end = Date.now();
    this.current = undefined;
  }

  // ---- FaultEnv ----

  say(line: string): void {
    const t = this.t0 === 0 ? '--:--' : `${String(Math.floor((Date.now() - this.t0) / 60_000)).padStart(2, '0')}:${String(Math.floor(((Date.now() - this.t0) / 1000) % 60)).padStart(2, '0')}`;
    this.log(`[${t}] ${line}`);
  }

  note(text: string): void {
    this.current?.notes.push(text);
    this.say(`   ${text}`);
  }

  violation(text: string): void {
    const where = this.current !== undefined ? `#${this.current.index} ${this.current.kind}` : 'baseline';
    this.say(`   VIOLATION (${where}): ${text}`);
    if (this.current !== undefined) this.current.violations.push(text);
    else this.baseline.push(text);
  }

  async converge(t0: number, phase: string, opts: ConvergeOptions = {}): Promise<number | undefined> {
    const category = this.current?.category;
    const deadline = opts.deadlineMs ?? (category === 'api' ? (this.opts.apiDeadlineMs ?? 30_000) : (this.opts.deadlineMs ?? 10_000));
    let problems: string[] = [];
    for (;;) {
      problems = await this.check(opts.ready ?? []);
      if (problems.length === 0) return Date.now() - t0;
      if (Date.now() - t0 >= deadline) break;
      await sleep(20);
    }
    this.violation(`${phase}: invariants do not hold after ${deadline} ms: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? ` (+${problems.length - 8} more)` : ''}`);
    const until = Date.now() + RECOVERY_MS;
    while (Date.now() < until) {
      await sleep(250);
      if ((await this.check(opts.ready ?? [])).length === 0) {
        this.note(`${phase}: converged after ${Date.now() - t0} ms`);
        return undefined;
      }
    }
    this.note(`${phase}: still not converged after ${Date.now() - t0} ms`);
    return undefined;
  }

  /** One pass of the invariant checker over every node; the problems found. */
  private async check(ready: readonly number[]): Promise<string[]> {
    try {
      const r = await this.agent.api('GET', '/api/v1/nodes');
      if (r.status === 200) this.lastNodes = ((JSON.parse(r.body) as { items: unknown[] }).items).map(toApiNode);
    } catch {
      // The API is down on purpose: nothing in it can have changed, so the last list stands.
    }
    const nodes = this.lastNodes;
    const leases = this.leases.update(nodes);
    const perNode = await Promise.all(
      this.model.map(async (m, i) => {
        const n = this.lab.node(i);
        const checked: CheckedNode = { name: n.name, netns: n.netns, underlayIp: n.underlayIp, podCidr: n.podCidr, backend: m.backend, publicIp: m.publicIp, keptRoutes: m.keptRoutes, annotationOverrides: m.annotationOverrides };
        let kernel;
        try {
          kernel = await readKernel(n.netns);
        } catch (e) {
          return [`${n.name}: cannot read its kernel state: ${errorText(e)}`];
        }
        let env: string | undefined;
        try {
          env = readFileSync(n.subnetFile, 'utf8');
        } catch {
          env = undefined;
        }
        const own = nodes.find((x) => x.name === n.name);
        const problems = compareNode(checked, expectedState(checked, leases), kernel, own?.annotations, env);
        if (ready.includes(i)) {
          const r = await this.agent.request('GET', `http://${n.underlayIp}:8081/readyz`, undefined, { timeoutMs: 2000 }).catch((e: Error) => ({ status: 0, body: e.message }));
          if (r.status !== 200) problems.push(`${n.name}: /readyz ${r.status} ${r.body}`);
        }
        if (m.backend === 'udp') problems.push(...(await this.udpPeers(i, leases.size - (leases.has(n.name) ? 1 : 0))));
        return problems;
      }),
    );
    return perNode.flat();
  }

  /** udp peers live in the daemon, not the kernel: its flannel_peers must count every other lease. */
  private async udpPeers(i: number, want: number): Promise<string[]> {
    const n = this.lab.node(i);
    const r = await this.agent.request('GET', `http://${n.underlayIp}:9862/metrics`, undefined, { timeoutMs: 2000 }).catch(() => undefined);
    if (r?.status !== 200) return [`${n.name}: /metrics unreachable`];
    let have = 0;
    for (const m of r.body.matchAll(/^flannel_peers\{[^}]*\} (\S+)$/gm)) have += Number(m[1]);
    return have === want ? [] : [`${n.name}: flannel_peers ${have}, want ${want}`];
  }

  async exec(i: number, argv: readonly string[]): Promise<string> {
    return (await runIn(this.lab.node(i).netns, argv)).stdout;
  }

  async execUnderlay(argv: readonly string[]): Promise<string> {
    return (await runIn(this.lab.state.underlayNetns, argv)).stdout;
  }

  async killDaemon(i: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const n = this.lab.state.nodes[i]!;
    const pid = n.daemonPid;
    if (pid === undefined) throw new Error(`node${i} runs no daemon`);
    this.managed.add(i);
    const t0 = Date.now();
    process.kill(pid, signal);
    const limit = signal === 'SIGTERM' ? 10_000 : 5000;
    while (isAlive(pid) && Date.now() - t0 < limit) await sleep(20);
    if (isAlive(pid)) {
      this.violation(`node${i}: the daemon did not exit within ${limit / 1000} s of ${signal}`);
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
    } else if (signal === 'SIGTERM') {
      this.note(`node${i}: exited ${Date.now() - t0} ms after SIGTERM`);
    }
    delete n.daemonPid;
  }

  async startDaemon(i: number): Promise<void> {
    try {
      await this.lab.startDaemon(i);
    } finally {
      this.managed.delete(i);
    }
  }

  pauseDaemon(i: number): void {
    const pid = this.lab.state.nodes[i]!.daemonPid!;
    this.paused.add(i);
    this.stoppedWindow.add(i);
    process.kill(pid, 'SIGSTOP');
  }

  continueDaemon(i: number): void {
    const pid = this.lab.state.nodes[i]?.daemonPid;
    this.paused.delete(i);
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
  }

  stopApiServer(): Promise<void> {
    return this.lab.stopApiServer();
  }

  startApiServer(): Promise<void> {
    return this.lab.startApiServer();
  }

  writeNetConf(text: string): void {
    for (const n of this.lab.state.nodes) writeFileSync(n.netConfFile, text);
  }

  netConfOf(b: Backend): string {
    return netConfJson(b, false);
  }

  async sleep(ms: number): Promise<void> {
    await sleep(ms);
  }

  // ---- monitors ----

  private watchExits(): void {
    for (const [i, n] of this.lab.state.nodes.entries()) {
      if (this.managed.has(i) || n.daemonPid === undefined || isAlive(n.daemonPid)) continue;
      const fault = this.current?.kind ?? 'between faults';
      const tail = logTail(n.logFile, 15);
      this.exits.push({ node: i, t: Date.now(), fault, logTail: tail });
      this.violation(`node${i}: the daemon (pid ${n.daemonPid}) exited on its own:\n${tail}`);
      this.managed.add(i);
      delete n.daemonPid;
      this.lab.startDaemon(i, { wait: false }).catch((e: unknown) => this.say(`restarting node${i}: ${errorText(e)}`)).finally(() => this.managed.delete(i));
    }
  }

  private async sampleMetrics(): Promise<void> {
    this.loads.push(loadavg()[0]!);
    await Promise.all(
      this.lab.state.nodes.map(async (n, i) => {
        const pid = n.daemonPid;
        if (pid === undefined || this.paused.has(i) || this.managed.has(i)) return;
        const r = await this.agent.request('GET', `http://${n.underlayIp}:9862/metrics`, undefined, { timeoutMs: 3000 }).catch(() => undefined);
        if (r?.status !== 200 || n.daemonPid !== pid) return;
        const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(r.body)?.[1] ?? NaN);
        const startup = !this.seenPids.has(pid);
        this.seenPids.add(pid);
        const stopped = this.stoppedWindow.delete(i);
        this.samples.push({
          t: Date.now(), node: i, pid,
          rssBytes: num('process_resident_memory_bytes'),
          heapUsedBytes: num('nodejs_heap_size_used_bytes'),
          lagMaxS: num('nodejs_eventloop_lag_max_seconds'),
          lagP99S: num('nodejs_eventloop_lag_p99_seconds'),
          startup, stopped,
        });
      }),
    );
  }
}

/** The run's report: the per-kind table and the figures around it. */
export function formatResult(r: SoakResult): string {
  const mib = (v: number): string => `${v.toFixed(1)} MiB`;
  const lines = [
    `soak: ${r.backend}, ${r.nodes} nodes × ${r.podsPerNode} pods, ${(r.durationS / 60).toFixed(1)} min, ${r.faults.length} faults, seed ${r.seed}`,
    `replay: node_modules/.bin/node bench/soak.ts --backend ${r.backend} --nodes ${r.nodes} --pods-per-node ${r.podsPerNode} --minutes ${r.minutes} --seed ${r.seed} --api-outage-s ${r.timings.apiOutageMs / 1000} --sigstop-s ${r.timings.sigstopMs / 1000} --churn ${r.timings.churnNodes} --pause-s ${r.pauseMs[0] / 1000}-${r.pauseMs[1] / 1000}${r.schedule === 'each-once' ? ' --each-once' : ''}`,
    `timings: API outages ${r.timings.apiOutageMs / 1000} s, SIGSTOP ${r.timings.sigstopMs / 1000} s, underlay down ${r.timings.underlayDownMs / 1000} s, churn ${r.timings.churnNodes} nodes at ${r.timings.churnPerSecond}/s`,
    '',
    formatTable(r.rows),
    '',
    '† cuts the data path by design: pings lost there are reported, not violations.',
    `pings: ${r.pings.pairs} pairs at 10/s, ${r.pings.transmitted} sent, ${r.pings.lost} lost (${r.baselineLost} before the first fault), ping restarts ${r.pings.restarts}`,
    r.tcp === undefined
      ? 'tcp: no stream'
      : `tcp: ${r.tcp.megabytes.toFixed(0)} MiB in ${r.tcp.seconds} s, ${r.tcp.stalledSeconds} s without progress (longest ${r.tcp.longestStallSeconds} s)${r.tcp.broke !== undefined ? `, BROKE: ${r.tcp.broke}` : ', unbroken'}`,
    r.memory === undefined
      ? 'rss: no samples'
      : `rss: start ${mib(r.memory.rssStartMiB)}, end ${mib(r.memory.rssEndMiB)} (mean per daemon); slope ${slopeText(r.memory.longest)} for the longest-lived daemon (process faults spare node0), steepest ${slopeText(r.memory.steepest)}`,
    `event-loop lag: max ${(r.lag.maxS * 1000).toFixed(0)} ms (node${r.lag.maxNode}), worst window p99 ${(r.lag.p99S * 1000).toFixed(0)} ms; start-up windows up to ${(r.lag.startupMaxS * 1000).toFixed(0)} ms`,
    `machine load (1-min average, ${r.load.mean.toFixed(1)} mean, ${r.load.max.toFixed(1)} max, on ${availableParallelism()} cores): repair and lag figures include waiting for a CPU`,
    `unexpected daemon exits: ${r.exits.length}`,
    `invariant violations: ${r.violations}`,
  ];
  const detail = [
    ...r.baselineViolations.map((v) => `  baseline: ${v}`),
    ...r.faults.flatMap((f) => f.violations.map((v) => `  #${f.index} ${f.kind}: ${v.split('\n')[0]}`)),
  ];
  if (detail.length > 0) lines.push(...detail);
  return lines.join('\n');
}

function slopeText(p: ProcessMemory): string {
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  return `${signed(p.slopeMiBPer10Min)} MiB/10 min (JS heap in use ${signed(p.heapSlopeMiBPer10Min)}; node${p.node}, ${p.spanMinutes.toFixed(1)} min, ${p.firstMiB.toFixed(0)} → ${p.lastMiB.toFixed(0)} MiB, fitted from minute ${p.fittedFromMinutes.toFixed(0)})`;
}
