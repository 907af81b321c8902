/**
 * The soak's figures: per fault kind (injected, repaired, repair p50/p99/max, pings lost,
 * violations), memory (RSS start/end and the slope of the longest-lived daemon process) and
 * event-loop lag. Pure functions over what the run recorded.
 */
import type { FaultCategory } from './faults.ts';

export interface FaultRecord {
  readonly index: number;
  readonly kind: string;
  readonly title: string;
  readonly category: FaultCategory;
  readonly cutsPath: boolean;
  readonly start: number;
  end: number;
  /** Repair time per phase (ms); undefined: not within the deadline. */
  phases: (number | undefined)[];
  readonly violations: string[];
  lost: number;
  readonly notes: string[];
}

export interface MetricSample {
  readonly t: number;
  readonly node: number;
  readonly pid: number;
  readonly rssBytes: number;
  /** nodejs_heap_size_used_bytes: the JS heap in use, which a leak in our code grows. */
  readonly heapUsedBytes: number;
  readonly lagMaxS: number;
  readonly lagP99S: number;
  /** The first sample of a daemon process: its window holds the start-up (module loading). */
  readonly startup: boolean;
  /** The window held a SIGSTOP of this daemon, so its lag says nothing about the daemon. */
  readonly stopped: boolean;
}

/** Nearest-rank percentile of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The fault's repair time: its slowest phase; undefined when a phase did not converge. */
export function repairTime(r: FaultRecord): number | undefined {
  if (r.phases.length === 0 || r.phases.some((p) => p === undefined)) return undefined;
  return Math.max(...(r.phases as number[]));
}

export interface KindRow {
  readonly kind: string;
  readonly title: string;
  readonly category: FaultCategory;
  readonly cutsPath: boolean;
  readonly injected: number;
  readonly repaired: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly max?: number;
  readonly lost: number;
  readonly violations: number;
}

export function kindRows(records: readonly FaultRecord[]): KindRow[] {
  const byKind = new Map<string, FaultRecord[]>();
  for (const r of records) byKind.set(r.kind, [...(byKind.get(r.kind) ?? []), r]);
  const rows: KindRow[] = [];
  for (const [kind, rs] of byKind) {
    const times = rs.map(repairTime).filter((t): t is number => t !== undefined);
    rows.push({
      kind,
      title: rs[0]!.title,
      category: rs[0]!.category,
      cutsPath: rs[0]!.cutsPath,
      injected: rs.length,
      repaired: times.length,
      ...(times.length > 0 ? { p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times) } : {}),
      lost: rs.reduce((a, r) => a + r.lost, 0),
      violations: rs.reduce((a, r) => a + r.violations.length, 0),
    });
  }
  const order: FaultCategory[] = ['kernel', 'process', 'api', 'config'];
  return rows.sort((a, b) => order.indexOf(a.category) - order.indexOf(b.category) || a.kind.localeCompare(b.kind));
}

function ms(v: number | undefined): string {
  if (v === undefined) return '—';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

/** The per-kind table as Markdown (it goes into the README as it is printed). */
export function formatTable(rows: readonly KindRow[]): string {
  const head = '| fault | category | injected | repaired | repair p50 | p99 | max | pings lost | violations |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map((r) =>
    `| ${r.title}${r.cutsPath ? ' †' : ''} | ${r.category} | ${r.injected} | ${r.repaired} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.lost} | ${r.violations} |`,
  );
  const total = rows.reduce(
    (a, r) => ({ injected: a.injected + r.injected, repaired: a.repaired + r.repaired, lost: a.lost + r.lost, violations: a.violations + r.violations }),
    { injected: 0, repaired: 0, lost: 0, violations: 0 },
  );
  lines.push(`| **all** | | ${total.injected} | ${total.repaired} | | | | ${total.lost} | ${total.violations} |`);
  return [head, sep, ...lines].join('\n');
}

/** One daemon process's RSS over the time it was sampled. */
export interface ProcessMemory {
  readonly node: number;
  readonly spanMinutes: number;
  readonly firstMiB: number;
  readonly lastMiB: number;
  /** Least-squares slope, MiB per 10 minutes, after the warm-up (WARM_UP_MS) when sampled for 4 minutes or more. */
  readonly slopeMiBPer10Min: number;
  /** Where the fit starts, in minutes of the process's life. */
  readonly fittedFromMinutes: number;
  /** The same for the JS heap in use. */
  readonly heapSlopeMiBPer10Min: number;
}

export interface MemorySummary {
  /** Mean over nodes of each node's first and last sample. */
  readonly rssStartMiB: number;
  readonly rssEndMiB: number;
  /** Each node's longest-lived process. */
  readonly perNode: readonly ProcessMemory[];
  /** The longest-lived of them (node0's: process faults spare it), the one to judge a leak by. */
  readonly longest: ProcessMemory;
  readonly steepest: ProcessMemory;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Left out of the RSS fit of a process sampled for at least twice as long: 2 minutes, or the
 * first third of a longer life. A fresh daemon's RSS climbs for about 5 minutes (V8 growing its
 * heap spaces and compiled code; sampled per minute from /proc/PID/smaps in a 30-minute udp run:
 * +25 MiB by minute 6, then +0.8 MiB in the next 17), so a 2-minute warm-up fits that climb as
 * if it were a leak.
 */
export const WARM_UP_MS = 120_000;

export function memorySummary(samples: readonly MetricSample[], nodes: number): MemorySummary | undefined {
  const starts: number[] = [];
  const ends: number[] = [];
  const perNode: ProcessMemory[] = [];
  for (let i = 0; i < nodes; i++) {
    const mine = samples.filter((s) => s.node === i);
    if (mine.length === 0) continue;
    starts.push(mine[0]!.rssBytes);
    ends.push(mine[mine.length - 1]!.rssBytes);
    const byPid = new Map<number, MetricSample[]>();
    for (const s of mine) if (!s.startup) byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s]);
    let longest: MetricSample[] = [];
    for (const ss of byPid.values()) {
      const span = ss[ss.length - 1]!.t - ss[0]!.t;
      if (longest.length === 0 || span > longest[longest.length - 1]!.t - longest[0]!.t) longest = ss;
    }
    if (longest.length < 2) continue;
    const span = (longest[longest.length - 1]!.t - longest[0]!.t) / 60_000;
    // A fresh process grows for a while (JIT, lazily built state) before it levels off; a leak
    // keeps growing. So a process sampled long enough is fitted after its warm-up.
    const warmUp = Math.max(WARM_UP_MS, (span * 60_000) / 3);
    const from = longest[0]!.t + (span >= 2 * WARM_UP_MS / 60_000 ? warmUp : 0);
    const fitted = longest.filter((x) => x.t >= from);
    perNode.push({
      node: i,
      spanMinutes: span,
      firstMiB: longest[0]!.rssBytes / 2 ** 20,
      lastMiB: longest[longest.length - 1]!.rssBytes / 2 ** 20,
      slopeMiBPer10Min: slope(fitted.map((x) => [x.t, x.rssBytes] as const)) * 600_000 / 2 ** 20,
      fittedFromMinutes: (from - longest[0]!.t) / 60_000,
      heapSlopeMiBPer10Min: slope(fitted.map((x) => [x.t, x.heapUsedBytes] as const)) * 600_000 / 2 ** 20,
    });
  }
  if (starts.length === 0 || perNode.length === 0) return undefined;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length / 2 ** 20;
  return {
    rssStartMiB: mean(starts),
    rssEndMiB: mean(ends),
    perNode,
    longest: perNode.reduce((a, b) => (b.spanMinutes > a.spanMinutes ? b : a)),
    steepest: perNode.reduce((a, b) => (b.slopeMiBPer10Min > a.slopeMiBPer10Min ? b : a)),
  };
}

export interface LagSummary {
  /** Largest nodejs_eventloop_lag_max_seconds of a running daemon (start-up and SIGSTOP windows excluded). */
  readonly maxS: number;
  readonly maxNode: number;
  readonly maxAt: number;
  /** The largest p99 of any window. */
  readonly p99S: number;
  /** The largest lag of a start-up window (module loading, the first list). */
  readonly startupMaxS: number;
}

export function lagSummary(samples: readonly MetricSample[]): LagSummary {
  let maxS = 0;
  let maxNode = -1;
  let maxAt = 0;
  let p99S = 0;
  let startupMaxS = 0;
  for (const s of samples) {
    if (s.stopped) continue;
    if (s.startup) {
      startupMaxS = Math.max(startupMaxS, s.lagMaxS);
      continue;
    }
    if (s.lagMaxS > maxS) {
      maxS = s.lagMaxS;
      maxNode = s.node;
      maxAt = s.t;
    }
    p99S = Math.max(p99S, s.lagP99S);
  }
  return { maxS, maxNode, maxAt, p99S, startupMaxS };
}
