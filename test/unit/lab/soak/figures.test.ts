/**
 * The soak's bookkeeping: lost echoes from `ping -O` output (lab/soak/traffic.ts), the per-kind
 * table, memory slope and lag (lab/soak/report.ts), and the seeded RNG that makes a run
 * replayable (lab/soak/rng.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatTable, kindRows, lagSummary, memorySummary, percentile, type FaultRecord, type MetricSample } from '../../../../lab/soak/report.ts';
import { Rng } from '../../../../lab/soak/rng.ts';
import { PingLedger, type Loss } from '../../../../lab/soak/traffic.ts';

describe('PingLedger', () => {
  const reply = (seq: number): string => `64 bytes from 10.244.2.2: icmp_seq=${seq} ttl=62 time=0.321 ms`;

  it('charges each unanswered echo to the time it was mentioned, and a failed send at once', () => {
    const lost: Loss[] = [];
    const l = new PingLedger('a -> b', (x) => lost.push(x));
    l.line('PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.', 0);
    l.line(reply(1), 1000);
    l.line(reply(2), 1100);
    l.line('no answer yet for icmp_seq=3', 1300);
    l.line('From 10.244.1.1 icmp_seq=4 Destination Net Unreachable', 1350);
    l.line(reply(6), 1600);
    l.line('ping: sendmsg: Network is unreachable', 1700);
    for (let s = 7; s <= 60; s++) l.line(reply(s), 1600 + (s - 6) * 100);
    l.settle(20_000);
    // 5 was never mentioned: it gets its predecessor's time.
    expect(lost).toEqual([{ t: 1700, pair: 'a -> b' }, { t: 1300, pair: 'a -> b' }, { t: 1350, pair: 'a -> b' }, { t: 1350, pair: 'a -> b' }]);
    expect(l.answered).toBe(l.transmitted - lost.length);
  });

  it('waits for late replies before calling an echo lost, and settles everything at the end', () => {
    const lost: Loss[] = [];
    const l = new PingLedger('a -> b', (x) => lost.push(x));
    l.line('no answer yet for icmp_seq=1', 100);
    for (let s = 2; s <= 40; s++) l.line(reply(s), s * 100);
    l.settle(1000);
    expect(lost).toEqual([]);
    l.line(reply(1), 1500);
    l.line('no answer yet for icmp_seq=41', 4200);
    l.settle(10_000, true);
    expect(lost).toEqual([{ t: 4200, pair: 'a -> b' }]);
    expect(l.transmitted).toBe(41);
  });
});

function record(kind: string, phases: (number | undefined)[], over: Partial<FaultRecord> = {}): FaultRecord {
  return { index: 1, kind, title: kind, category: 'kernel', cutsPath: false, start: 0, end: 1, phases, violations: [], lost: 0, notes: [], ...over };
}

describe('report', () => {
  it('percentile is nearest-rank', () => {
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile(Array.from({ length: 200 }, (_, i) => i + 1), 99)).toBe(198);
  });

  it('one row per kind: the slowest phase is the repair time, a phase past its deadline is not repaired', () => {
    const rows = kindRows([
      record('route-deleted', [30]),
      record('route-deleted', [50], { lost: 2, cutsPath: true }),
      record('api-stop', [900, 10], { category: 'api' }),
      record('api-stop', [undefined, 10], { category: 'api', violations: ['x'] }),
    ]);
    expect(rows.map((r) => [r.kind, r.injected, r.repaired, r.p50, r.max, r.lost, r.violations])).toEqual([
      ['route-deleted', 2, 2, 30, 50, 2, 0],
      ['api-stop', 2, 1, 900, 900, 0, 1],
    ]);
    expect(formatTable(rows).split('\n')).toEqual([
      '| fault | category | injected | repaired | repair p50 | p99 | max | pings lost | violations |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
      '| route-deleted | kernel | 2 | 2 | 30 ms | 50 ms | 50 ms | 2 | 0 |',
      '| api-stop | api | 2 | 1 | 900 ms | 900 ms | 900 ms | 0 | 1 |',
      '| **all** | | 4 | 3 | | | | 2 | 1 |',
    ]);
  });

  const sample = (over: Partial<MetricSample>): MetricSample => ({ t: 0, node: 0, pid: 1, rssBytes: 100 * 2 ** 20, heapUsedBytes: 50 * 2 ** 20, lagMaxS: 0.01, lagP99S: 0.005, startup: false, stopped: false, ...over });

  it('RSS slope: the least-squares fit over each node’s longest-lived process, per 10 minutes', () => {
    const grow = Array.from({ length: 11 }, (_, k) => sample({ t: k * 60_000, rssBytes: (100 + k) * 2 ** 20 }));
    const restarted = [sample({ node: 1, pid: 7, t: 0 }), sample({ node: 1, pid: 8, t: 60_000, startup: true, rssBytes: 300 * 2 ** 20 }), sample({ node: 1, pid: 8, t: 120_000 })];
    const m = memorySummary([...grow, ...restarted], 2)!;
    expect(m.longest).toEqual({ node: 0, spanMinutes: 10, firstMiB: 100, lastMiB: 110, slopeMiBPer10Min: expect.closeTo(10, 6), heapSlopeMiBPer10Min: 0, fittedFromMinutes: expect.closeTo(10 / 3, 6) });
    expect(m.steepest.node).toBe(0);
    // node1's longest-lived process is one of the two (one sample each: no slope).
    expect(m.perNode.map((p) => p.node)).toEqual([0]);
    expect(m.rssStartMiB).toBe(100);
    expect(m.rssEndMiB).toBe((110 + 100) / 2);
  });

  it('RSS slope: the first 2 minutes of a process sampled for 4 or more are its warm-up, not a leak', () => {
    const warm = Array.from({ length: 21 }, (_, k) => sample({ t: k * 30_000, rssBytes: (k <= 4 ? 100 + 5 * k : 120) * 2 ** 20 }));
    expect(memorySummary(warm, 1)!.longest.slopeMiBPer10Min).toBe(0);
    expect(memorySummary(warm.slice(0, 7), 1)!.longest.slopeMiBPer10Min).toBeGreaterThan(50);
  });

  it('RSS slope of a long life: the first third is its warm-up; a leak that keeps growing is still seen', () => {
    // 30 minutes, a sample a minute: +4 MiB a minute for 6 minutes, then flat.
    const levelled = Array.from({ length: 31 }, (_, k) => sample({ t: k * 60_000, rssBytes: (100 + 4 * Math.min(k, 6)) * 2 ** 20 }));
    expect(memorySummary(levelled, 1)!.longest).toMatchObject({ slopeMiBPer10Min: 0, fittedFromMinutes: 10 });
    const leak = Array.from({ length: 31 }, (_, k) => sample({ t: k * 60_000, rssBytes: (100 + 0.2 * k) * 2 ** 20 }));
    expect(memorySummary(leak, 1)!.longest.slopeMiBPer10Min).toBeCloseTo(2, 5);
  });

  it('lag: start-up and SIGSTOP windows are reported apart', () => {
    const lag = lagSummary([
      sample({ lagMaxS: 0.05, node: 2, t: 5 }),
      sample({ lagMaxS: 2, startup: true }),
      sample({ lagMaxS: 20, stopped: true }),
      sample({ lagMaxS: 0.01, lagP99S: 0.02 }),
    ]);
    expect(lag).toEqual({ maxS: 0.05, maxNode: 2, maxAt: 5, p99S: 0.02, startupMaxS: 2 });
  });
});

describe('Rng', () => {
  it('replays the same sequence from the same seed, and another from another', () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 20 }, () => r.int(0, 1000));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('stays in range and covers it; MACs are locally administered unicast', () => {
    const r = new Rng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(3, 7);
      expect(v >= 3 && v <= 7).toBe(true);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7]);
    expect(r.mac()).toMatch(/^0a(:[0-9a-f]{2}){5}$/);
    expect(() => new Rng(-1)).toThrow('seed must be an integer 0..4294967295, got -1');
  });

  it('draws by weight: a long fault a quarter as often as a short one', () => {
    const r = new Rng(7);
    const counts = { short: 0, long: 0 };
    for (let i = 0; i < 8000; i++) counts[r.pickWeighted(['short', 'long'] as const, (k) => (k === 'long' ? 0.25 : 1))]++;
    expect(counts.long / counts.short).toBeGreaterThan(0.2);
    expect(counts.long / counts.short).toBeLessThan(0.3);
  });
});
