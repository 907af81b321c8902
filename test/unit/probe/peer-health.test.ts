import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../../src/probe/icmp.ts';
import { PeerHealth } from '../../../src/probe/peer-health.ts';
import type { PeerTarget } from '../../../src/probe/targets.ts';
import { pino } from 'pino';

/** A logger that keeps `LEVEL msg` lines. */
function captureLogger() {
  const lines: string[] = [];
  const names: Record<number, string> = { 30: 'INFO', 40: 'WARN', 50: 'ERROR' };
  const log = pino({ level: 'info', base: undefined }, { write: (s: string) => void lines.push(((r) => `${names[r.level] ?? r.level} ${r.msg}`)(JSON.parse(s) as { level: number; msg: string })) });
  return { log, lines };
}

/** Fake time: sleeping advances the clock at once, so a round runs without waiting. */
function fakeTime() {
  let t = 0;
  return {
    clock: () => t,
    now: () => 1_800_000_000_000 + t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
}

const peers = (n: number): PeerTarget[] => Array.from({ length: n }, (_, i) => ({ subnet: `10.244.${i + 2}.0/24`, node: `node${i + 2}`, addr: `10.244.${i + 2}.0`, backendType: 'vxlan', publicIp: `198.18.0.${i + 12}` }));

function setup(targets: PeerTarget[], opts: { intervalMs?: number; maxPerSecond?: number } = {}) {
  const time = fakeTime();
  const down = new Set<string>();
  const sent: { addr: string; at: number }[] = [];
  const { log, lines } = captureLogger();
  const rtts: number[] = [];
  const health = new PeerHealth({
    intervalMs: opts.intervalMs ?? 60_000,
    maxPerSecond: opts.maxPerSecond ?? 100,
    timeoutMs: 1000,
    attempts: 3,
    probe: async (addr, size): Promise<ProbeResult> => {
      sent.push({ addr, at: time.clock() });
      return down.has(addr) ? { ok: false, size, reason: 'timeout', detail: 'no answer within 1000 ms' } : { ok: true, size, rttMs: 0.5 };
    },
    targets: () => targets,
    log,
    onRtt: (s) => rtts.push(s),
    ...time,
  });
  return { health, down, sent, lines, rtts, signal: new AbortController().signal };
}

describe('PeerHealth', () => {
  it('probes every peer once a round and counts answers', async () => {
    const t = setup(peers(3));
    await t.health.round(t.signal);
    expect(t.sent.map((s) => s.addr)).toEqual(['10.244.2.0', '10.244.3.0', '10.244.4.0']);
    expect(t.health.stats()).toEqual({ peersProbed: 3, unreachable: 0, probes: { answered: 3, unanswered: 0 }, transitions: { unreachable: 0, reachable: 0 }, rounds: 1 });
    expect(t.rtts).toEqual([0.0005, 0.0005, 0.0005]);
    expect(t.lines).toEqual([]);
  });

  it('spreads a round over the interval and never sends faster than the limit, retries included', async () => {
    const t = setup(peers(5), { intervalMs: 10_000, maxPerSecond: 100 });
    await t.health.round(t.signal);
    // 80% of 10 s over 5 peers: one every 1.6 s.
    expect(t.sent.map((s) => s.at)).toEqual([0, 1600, 3200, 4800, 6400]);
    const many = setup(peers(300), { intervalMs: 1000, maxPerSecond: 100 });
    many.down.add('10.244.5.0');
    await many.health.round(many.signal);
    expect(many.sent).toHaveLength(302);
    const gaps = many.sent.slice(1).map((s, i) => s.at - many.sent[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(10);
  });

  it('a peer is unreachable after 3 unanswered probes in a row, logged once by name, and back at the first answer', async () => {
    const t = setup(peers(2));
    t.down.add('10.244.3.0');
    await t.health.round(t.signal);
    await t.health.round(t.signal);
    expect(t.sent.filter((s) => s.addr === '10.244.3.0')).toHaveLength(6);
    expect(t.health.unreachable()).toEqual([
      { node: 'node3', subnet: '10.244.3.0/24', addr: '10.244.3.0', sinceMs: expect.any(Number), reason: 'no answer within 1000 ms' },
    ]);
    expect(t.health.stats()).toMatchObject({ unreachable: 1, transitions: { unreachable: 1, reachable: 0 }, probes: { answered: 2, unanswered: 6 } });
    t.down.clear();
    await t.health.round(t.signal);
    await t.health.round(t.signal);
    expect(t.health.unreachable()).toEqual([]);
    expect(t.health.stats().transitions).toEqual({ unreachable: 1, reachable: 1 });
    expect(t.lines).toEqual([
      'WARN peer node3 (10.244.3.0/24, overlay address 10.244.3.0) is unreachable through the overlay: no answer within 1000 ms (3 probes in a row)',
      'INFO peer node3 (10.244.3.0/24, overlay address 10.244.3.0) is reachable through the overlay again',
    ]);
  });

  it('one lost probe is not a transition; a peer that leaves is forgotten without a log line', async () => {
    const targets = peers(2);
    const t = setup(targets);
    let lose = 1;
    const inner = t.down;
    // Lose exactly the first probe to node2.
    const origHas = inner.has.bind(inner);
    inner.has = (a: string) => (a === '10.244.2.0' && lose-- > 0) || origHas(a);
    await t.health.round(t.signal);
    expect(t.health.stats()).toMatchObject({ unreachable: 0, transitions: { unreachable: 0, reachable: 0 }, probes: { answered: 2, unanswered: 1 } });
    t.down.add('10.244.3.0');
    await t.health.round(t.signal);
    expect(t.health.stats().unreachable).toBe(1);
    targets.pop();
    await t.health.round(t.signal);
    expect(t.health.unreachable()).toEqual([]);
    expect(t.health.stats()).toMatchObject({ peersProbed: 1, transitions: { unreachable: 1, reachable: 0 } });
    expect(t.lines).toHaveLength(1);
  });

  it('refuses nonsense limits', () => {
    expect(() => setupWith({ maxPerSecond: 0 })).toThrow(/maxPerSecond/);
  });
});

function setupWith(over: { maxPerSecond: number }) {
  const { log } = captureLogger();
  return new PeerHealth({ intervalMs: 1000, timeoutMs: 1000, attempts: 3, probe: async () => ({ ok: true, size: 84, rttMs: 1 }), targets: () => [], log, ...over });
}
