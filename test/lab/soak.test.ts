/**
 * The short CI variant of bench/soak.ts: a 3-node vxlan lab under a ping matrix and a TCP
 * stream takes every fault kind once (seeded order, shortened outages), and after each one the
 * independent checker must find every node's kernel state equal to what the API objects say.
 * Asserts behaviour only — no invariant violated, no daemon exiting on its own, no ping lost to
 * a fault that keeps the path, the TCP stream unbroken — never how fast: the deadlines are wide
 * so a loaded machine passes.
 */
import { describe, expect, it } from 'vitest';
import { sweepStaleLabs } from '../../lab/teardown.ts';
import { FAULTS } from '../../lab/soak/faults.ts';
import { formatResult, runSoak } from '../../lab/soak/soak.ts';
import { daemonLabSkip } from './harness.ts';

const { skip, why } = daemonLabSkip;

describe.skipIf(skip)(`chaos soak, CI variant${skip ? ` (skipped: ${why})` : ''}`, () => {
  it('vxlan: every fault kind once, no violation, no unexpected exit', async () => {
    await sweepStaleLabs();
    const result = await runSoak({
      minutes: 0,
      nodes: 3,
      podsPerNode: 1,
      backend: 'vxlan',
      seed: 20240615,
      schedule: 'each-once',
      timings: { apiOutageMs: 3000, sigstopMs: 2000, underlayDownMs: 1000, churnNodes: 20, churnPerSecond: 20 },
      pauseMs: [300, 800],
      deadlineMs: 30_000,
      apiDeadlineMs: 30_000,
      sampleEveryMs: 5000,
      tcpRate: '2M',
    });
    console.log(formatResult(result));
    const applicable = FAULTS.filter((f) => f.applies('vxlan')).map((f) => f.kind).sort();
    expect(result.rows.map((r) => r.kind).sort()).toEqual(applicable);
    expect(result.rows.filter((r) => r.repaired !== r.injected).map((r) => r.kind)).toEqual([]);
    expect(result.faults.flatMap((f) => f.violations.map((v) => `#${f.index} ${f.kind}: ${v}`))).toEqual([]);
    expect(result.baselineViolations).toEqual([]);
    expect(result.exits).toEqual([]);
    expect(result.tcp?.broke).toBeUndefined();
    expect(result.pings.transmitted).toBeGreaterThan(0);
  }, 240_000);
});
