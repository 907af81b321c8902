import { describe, expect, it } from 'vitest';
import type { ProbeFn, ProbeResult } from '../../../src/probe/icmp.ts';
import { checkPath, mapLimit } from '../../../src/probe/path-mtu.ts';

/** A path that passes up to `mtu` bytes; above, it answers like a router (frag needed) or not at all. */
function path(mtu: number, opts: { fragNeeded?: boolean; down?: boolean; lose?: number } = {}): { probe: ProbeFn; sizes: number[] } {
  const sizes: number[] = [];
  let lose = opts.lose ?? 0;
  const probe: ProbeFn = async (_dst, size): Promise<ProbeResult> => {
    sizes.push(size);
    if (lose > 0) {
      lose--;
      return { ok: false, size, reason: 'timeout', detail: 'no answer within 10 ms' };
    }
    if (opts.down === true) return { ok: false, size, reason: 'timeout', detail: 'no answer within 10 ms' };
    if (size <= mtu) return { ok: true, size, rttMs: 0.2 };
    return opts.fragNeeded === true
      ? { ok: false, size, reason: 'icmp-error', detail: `frag needed and DF set (mtu = ${mtu}) from 198.18.0.1`, mtu }
      : { ok: false, size, reason: 'timeout', detail: 'no answer within 10 ms' };
  };
  return { probe, sizes };
}

const opts = { timeoutMs: 10, attempts: 2 };

describe('checkPath', () => {
  it('a path that carries the pod MTU: one echo, one DF probe', async () => {
    const p = path(1450);
    expect(await checkPath(p.probe, '10.244.2.0', 1450, opts)).toEqual({ dst: '10.244.2.0', reachable: true, rttMs: 0.2, mtu: 1450, mtuPasses: true, largest: 1450 });
    expect(p.sizes).toEqual([84, 1450]);
  });

  it('a smaller path: finds the largest size that passes by bisection', async () => {
    const p = path(1377);
    const r = await checkPath(p.probe, '10.244.2.0', 1450, opts);
    expect(r).toMatchObject({ reachable: true, mtuPasses: false, largest: 1377, detail: 'no answer within 10 ms' });
  });

  it('a router that says frag needed: its MTU is tried first', async () => {
    const p = path(1400, { fragNeeded: true });
    const r = await checkPath(p.probe, '10.244.2.0', 1450, opts);
    expect(r).toMatchObject({ mtuPasses: false, largest: 1400, detail: 'frag needed and DF set (mtu = 1400) from 198.18.0.1' });
    expect(p.sizes.slice(0, 3)).toEqual([84, 1450, 1400]);
  });

  it('one lost packet is retried; a peer that never answers is unreachable', async () => {
    expect(await checkPath(path(1450, { lose: 1 }).probe, 'x', 1450, opts)).toMatchObject({ reachable: true, mtuPasses: true });
    expect(await checkPath(path(1450, { down: true }).probe, '10.244.3.0', 1450, opts)).toEqual({
      dst: '10.244.3.0', reachable: false, mtu: 1450, mtuPasses: false, detail: 'no answer within 10 ms',
    });
  });

  it('mapLimit keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});
