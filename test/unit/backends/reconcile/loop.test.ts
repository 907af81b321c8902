import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KernelError } from '../../../../src/netlink/errors.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';
import type { Desired, ReconcileReport } from '../../../../src/backends/backend.ts';
import { ReconcileLoop } from '../../../../src/backends/reconcile/loop.ts';
import type { Logger } from '../../../../src/observe/log.ts';

const lease = (subnet: string): Lease => ({
  subnet: { ip: 0, prefixLen: 24 },
  attrs: { publicIp: '198.18.0.2', backendType: 'vxlan', backendData: 'null' },
  node: `node-${subnet}`,
});

function desiredOf(generation: number, subnets: string[]): Desired {
  return {
    generation,
    network: { ip: 0, prefixLen: 16 },
    own: lease('own'),
    peers: new Map(subnets.map((s) => [s, lease(s)])),
  };
}

function report(d: Desired, over: Partial<ReconcileReport> = {}): ReconcileReport {
  return { generation: d.generation, created: 0, replaced: 0, deleted: 0, unchanged: 0, failed: [], ms: 1, ...over };
}

const failure = (subnet: string) => ({ subnet, error: new KernelError(105, 'RTM_NEWNEIGH', `fdb for ${subnet}`) });

describe('ReconcileLoop', () => {
  let ac: AbortController;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date'] });
    ac = new AbortController();
  });
  afterEach(() => {
    ac.abort();
    vi.useRealTimers();
  });

  it('coalesces kicks during a run into one more run that reads the newest desired state', async () => {
    let current = desiredOf(1, ['a']);
    const seen: number[] = [];
    let release: () => void = () => {};
    const backend = {
      reconcile: vi.fn(async (d: Desired) => {
        seen.push(d.generation);
        if (seen.length === 1) await new Promise<void>((r) => (release = r));
        return report(d);
      }),
    };
    const loop = new ReconcileLoop({ backend, desired: () => current });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([1]);
    for (let g = 2; g <= 10; g++) {
      current = desiredOf(g, ['a']);
      loop.kick('lease');
    }
    release();
    await vi.advanceTimersByTimeAsync(0);
    await loop.idle();
    expect(seen).toEqual([1, 10]);
    expect(loop.stats().runs).toBe(2);
  });

  it('retries failed peers with doubling backoff, stops after the cap, and keeps the periodic resync', async () => {
    const d = desiredOf(1, ['a']);
    const at: number[] = [];
    const backend = {
      reconcile: vi.fn(async () => {
        at.push(Date.now());
        return report(d, { failed: [failure('a')] });
      }),
    };
    const t0 = Date.now();
    const loop = new ReconcileLoop({ backend, desired: () => d, resyncMs: 60_000, resyncJitter: 0, retryBaseMs: 100, retryMaxMs: 250, retryMaxAttempts: 3 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(59_000);
    // Gaps: 100, 200, then capped at 250 ms; +1 each for the faked setImmediate that starts a run.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps).toEqual([101, 201, 251]);
    expect(loop.stats().errors).toEqual({ ENOBUFS: 4 });
    await vi.advanceTimersByTimeAsync(1_010); // the resync at 60 s still runs
    expect(at.length).toBe(5);
    expect(at[4]! - t0).toBe(60_001);
    expect(loop.stats().lastSuccessMs).toBe(0);
  });

  it('runs for lease events alone are not full, gather the events of 50 ms, and any other kick makes the next run full', async () => {
    const runs: { full: boolean; at: number }[] = [];
    const d = desiredOf(1, ['a']);
    const backend = { reconcile: vi.fn(async (x: Desired) => report(x)) };
    const t0 = Date.now();
    const loop = new ReconcileLoop({
      backend,
      desired: ({ full }) => {
        runs.push({ full, at: Date.now() - t0 });
        return d;
      },
    });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    loop.kick('lease', 'peers');
    await vi.advanceTimersByTimeAsync(20);
    loop.kick('lease', 'peers');
    await vi.advanceTimersByTimeAsync(40);
    expect(runs).toEqual([{ full: true, at: 0 }, { full: false, at: 50 }]);
    loop.kick('lease', 'peers');
    loop.kick('route 10.244.3.0/24 deleted');
    await vi.advanceTimersByTimeAsync(60);
    expect(runs.slice(2)).toEqual([{ full: true, at: 110 }]);
    expect(backend.reconcile).toHaveBeenCalledTimes(3);
  });

  it('while a peer fails, runs for lease events are full ones, so their reports say which peers still fail', async () => {
    const d = desiredOf(1, ['a', 'b']);
    const runs: boolean[] = [];
    let failing = true;
    const backend = { reconcile: vi.fn(async (x: Desired) => report(x, { failed: failing ? [failure('a')] : [] })) };
    const loop = new ReconcileLoop({
      backend,
      desired: ({ full }) => {
        runs.push(full);
        return d;
      },
      retryBaseMs: 10_000,
    });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    loop.kick('lease', 'peers');
    await vi.advanceTimersByTimeAsync(100);
    failing = false;
    await vi.advanceTimersByTimeAsync(30_000); // the retry
    loop.kick('lease', 'peers');
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toEqual([true, true, true, false]);
  });

  it('the full resync comes at a jittered period, and an idle loop after a clean run reads as converged now', async () => {
    const d = desiredOf(1, []);
    const at: number[] = [];
    const backend = {
      reconcile: vi.fn(async (x: Desired) => {
        at.push(Date.now());
        return report(x);
      }),
    };
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const t0 = Date.now();
    const loop = new ReconcileLoop({ backend, desired: () => d, resyncMs: 1_000, resyncJitter: 0.5 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(2_600);
    vi.mocked(Math.random).mockRestore();
    expect(at.map((t) => t - t0)).toEqual([0, 1_251, 2_501]); // 1.25 s apart, +1 for the faked setImmediate that starts a run
    expect(loop.stats().lastSuccessMs).toBe(Date.now());
    expect(loop.busyForMs()).toBe(0);
  });

  it('while peers are not on-link, runs a full run every 10 s to look again, and stops when none is left', async () => {
    const d = desiredOf(1, ['a', 'b']);
    const at: number[] = [];
    let notOnLink = ['node-b'];
    const backend = {
      reconcile: vi.fn(async (x: Desired) => {
        at.push(Date.now());
        return report(x, { notOnLink });
      }),
    };
    const t0 = Date.now();
    const loop = new ReconcileLoop({ backend, desired: () => d, resyncMs: 3_600_000 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(20_500);
    expect(at.map((t) => t - t0)).toEqual([0, 10_001, 20_002]); // +1 per run for the faked setImmediate that starts it
    expect(loop.stats().peersNotOnLink).toBe(1);
    notOnLink = [];
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at.map((t) => t - t0)).toEqual([0, 10_001, 20_002, 30_003]);
    expect(loop.stats().peersNotOnLink).toBe(0);
  });

  it('counts a whole-run error by errno and runs again after backoff', async () => {
    const d = desiredOf(1, []);
    let n = 0;
    const backend = {
      reconcile: vi.fn(async () => {
        if (n++ === 0) throw new KernelError(19, 'RTM_GETLINK', 'flannel.1');
        return report(d);
      }),
    };
    const loop = new ReconcileLoop({ backend, desired: () => d, retryBaseMs: 50 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(100);
    expect(loop.stats()).toMatchObject({ runs: 2, errors: { ENODEV: 1 }, failingAttempts: 0 });
    expect(loop.stats().lastSuccessMs).toBeGreaterThan(0);
  });

  it('does not run before the desired state exists', async () => {
    let d: Desired | undefined;
    const backend = { reconcile: vi.fn(async (x: Desired) => report(x)) };
    const loop = new ReconcileLoop({ backend, desired: () => d });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(backend.reconcile).not.toHaveBeenCalled();
    d = desiredOf(1, []);
    loop.kick('own lease');
    await vi.advanceTimersByTimeAsync(0);
    expect(backend.reconcile).toHaveBeenCalledTimes(1);
  });

  it('settles only after a run in which no peer of the first desired state failed', async () => {
    const d = desiredOf(3, ['a', 'b']);
    let failing = ['b'];
    const backend = { reconcile: vi.fn(async () => report(d, { failed: failing.map(failure) })) };
    const loop = new ReconcileLoop({ backend, desired: () => d, retryBaseMs: 1_000 });
    let settled = false;
    void loop.settled.then(() => (settled = true));
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(500);
    expect(settled).toBe(false);
    failing = [];
    await vi.advanceTimersByTimeAsync(1_000);
    expect(settled).toBe(true);
  });

  it('settles despite failures the readiness hook excuses, and not despite the ones it holds', async () => {
    const d = desiredOf(1, ['a', 'b']);
    const calls: number[] = [];
    const excused = (errno: number) => {
      const backend = { reconcile: vi.fn(async () => report(d, { failed: [{ subnet: 'b', error: new KernelError(errno, 'RTM_NEWROUTE', 'b') }] })) };
      // The hook sees each failure with the number of failing runs so far; here it excuses EINVAL from the third on.
      const loop = new ReconcileLoop({
        backend,
        desired: () => d,
        retryBaseMs: 100,
        holdsReadiness: (f, runs) => {
          calls.push(runs);
          return (f.error as KernelError).code !== 'EINVAL' || runs < 3;
        },
      });
      let settled = false;
      void loop.settled.then(() => (settled = true));
      loop.start(ac.signal);
      return { loop, settled: () => settled };
    };
    const einval = excused(22);
    await vi.advanceTimersByTimeAsync(150);
    expect(einval.settled()).toBe(false); // two failing runs
    await vi.advanceTimersByTimeAsync(250);
    expect(einval.settled()).toBe(true);
    expect(calls).toEqual([1, 2, 3]);
    const enodev = excused(19);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(enodev.loop.stats().runs).toBeGreaterThan(5);
    expect(enodev.settled()).toBe(false);
  });

  it('warns about the same failing peers once, not at every retry', async () => {
    const d = desiredOf(1, ['a']);
    const warned: string[] = [];
    const log = { warn: (_f: object, m: string) => warned.push(m), debug: () => undefined, error: () => undefined } as unknown as Logger;
    let failing = ['a'];
    const backend = { reconcile: vi.fn(async () => report(d, { failed: failing.map(failure) })) };
    const loop = new ReconcileLoop({ backend, desired: () => d, log, retryBaseMs: 100, retryMaxAttempts: 20 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(backend.reconcile.mock.calls.length).toBeGreaterThan(4);
    expect(warned).toEqual(['reconcile left peers unprogrammed; retrying with backoff']);
    failing = [];
    loop.kick('lease');
    await vi.advanceTimersByTimeAsync(0);
    failing = ['a'];
    loop.kick('lease');
    await vi.advanceTimersByTimeAsync(0);
    expect(warned).toHaveLength(2);
  });

  it('takes the peers to settle on from the first desired state, not from runs before it exists', async () => {
    let d: Desired | undefined;
    let failing: string[] = [];
    const backend = { reconcile: vi.fn(async (x: Desired) => report(x, { failed: failing.map(failure) })) };
    const loop = new ReconcileLoop({ backend, desired: () => d, retryBaseMs: 1_000 });
    let settled = false;
    void loop.settled.then(() => (settled = true));
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    d = desiredOf(1, ['a', 'b']);
    failing = ['b'];
    loop.kick('lease');
    await vi.advanceTimersByTimeAsync(500);
    expect(backend.reconcile).toHaveBeenCalledTimes(1);
    expect(settled).toBe(false);
    failing = [];
    await vi.advanceTimersByTimeAsync(1_000);
    expect(settled).toBe(true);
  });

  it('counts changes made while the desired state stood still as drift repairs, and reports entries', async () => {
    const d = desiredOf(1, ['a']);
    let n = 0;
    const backend = {
      reconcile: vi.fn(async () =>
        report(d, n++ === 0 ? { created: 3, changedByType: { route: 1, neigh: 1, fdb: 1 } } : { created: 1, changedByType: { route: 1 }, owned: { route: 1 }, notOnLink: ['n2'] }),
      ),
    };
    const loop = new ReconcileLoop({ backend, desired: () => d });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(0);
    loop.kick('route deleted');
    await vi.advanceTimersByTimeAsync(0);
    expect(loop.stats()).toMatchObject({ runs: 2, driftRepairs: { route: 1 }, kernelEntries: { route: 1 }, peersNotOnLink: 1 });
  });

  it('stops on abort', async () => {
    const d = desiredOf(1, []);
    const backend = { reconcile: vi.fn(async () => report(d)) };
    const loop = new ReconcileLoop({ backend, desired: () => d, resyncMs: 1_000, resyncJitter: 0 });
    loop.start(ac.signal);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(backend.reconcile).toHaveBeenCalledTimes(3);
    ac.abort();
    loop.kick('late');
    await vi.advanceTimersByTimeAsync(5_000);
    expect(backend.reconcile).toHaveBeenCalledTimes(3);
  });
});
