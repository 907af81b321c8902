/**
 * The one backoff, retry loop and abort-aware sleep the daemon waits with (Kubernetes API
 * retries, the node watch, the reconcile loop's retries, the rule resync). Fake timers: the
 * tests check which waits are asked for and what aborting does, not how long anything takes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { errorText } from '../../../src/util/errors.ts';
import { Backoff, backoffDelay, retry, sleep } from '../../../src/util/retry.ts';

const KUBE = { initialMs: 200, maxMs: 5000 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay and Backoff', () => {
  it('doubles from the initial wait up to the cap, and stays there', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, KUBE))).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(backoffDelay(5000, KUBE)).toBe(5000); // 2 ** 5000 is Infinity: still the cap, not NaN
    expect(backoffDelay(0, KUBE)).toBe(200);
  });

  it('counts failures itself: delayMs shows the wait next() returns, reset() starts over', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 30_000 });
    expect(b.delayMs).toBe(1000);
    expect([b.next(), b.next(), b.next()]).toEqual([1000, 2000, 4000]);
    expect(b.delayMs).toBe(8000);
    b.reset();
    expect(b.next()).toBe(1000);
  });
});

describe('sleep', () => {
  it('resolves true once the time has passed', async () => {
    let done: boolean | undefined;
    void sleep(500).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('resolves false as soon as the signal aborts, and at once when it already has', async () => {
    const stop = new AbortController();
    let done: boolean | undefined;
    void sleep(60_000, stop.signal).then((v) => (done = v));
    await vi.advanceTimersByTimeAsync(10);
    stop.abort(new Error('shutting down'));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    expect(vi.getTimerCount()).toBe(0); // its timer is gone too
    await expect(sleep(60_000, stop.signal)).resolves.toBe(false);
  });

  it('stops listening to the signal when it resolves', async () => {
    const stop = new AbortController();
    const remove = vi.spyOn(stop.signal, 'removeEventListener');
    const p = sleep(100, stop.signal);
    await vi.advanceTimersByTimeAsync(100);
    await expect(p).resolves.toBe(true);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });
});

/** An attempt that fails `failures` times ("refused 1", "refused 2", …), then resolves 'patched'. */
function failing(failures: number) {
  let calls = 0;
  return vi.fn(async () => {
    calls++;
    if (calls <= failures) throw new Error(`refused ${calls}`);
    return 'patched';
  });
}

describe('retry', () => {
  it('waits with backoff between failures and resolves with the first success', async () => {
    const waits: number[] = [];
    const fn = failing(3);
    const p = retry(fn, { backoff: KUBE, signal: new AbortController().signal, onRetry: (_e, _attempt, delay) => waits.push(delay) });
    await vi.advanceTimersByTimeAsync(200 + 400 + 800);
    await expect(p).resolves.toBe('patched');
    expect(fn).toHaveBeenCalledTimes(4);
    expect(waits).toEqual([200, 400, 800]);
  });

  it('tells onRetry the error and attempt number, and rejects with the last error when attempts run out', async () => {
    const seen: string[] = [];
    const fn = failing(Infinity);
    const p = retry(fn, { backoff: KUBE, signal: new AbortController().signal, attempts: 3, onRetry: (e, attempt) => seen.push(`${attempt}: ${errorText(e)}`) });
    const settled = expect(p).rejects.toThrow('refused 3');
    await vi.advanceTimersByTimeAsync(10_000);
    await settled;
    expect(fn).toHaveBeenCalledTimes(3);
    expect(seen).toEqual(['1: refused 1', '2: refused 2']);
  });

  it('rejects with the abort reason when aborted during a wait, without another attempt', async () => {
    const stop = new AbortController();
    const fn = failing(Infinity);
    const settled = expect(retry(fn, { backoff: KUBE, signal: stop.signal })).rejects.toThrow('shutting down');
    await vi.advanceTimersByTimeAsync(100); // inside the first 200 ms wait
    stop.abort(new Error('shutting down'));
    await settled;
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not call fn at all when the signal has already aborted', async () => {
    const stop = new AbortController();
    stop.abort(new Error('shutting down'));
    const fn = failing(0);
    await expect(retry(fn, { backoff: KUBE, signal: stop.signal })).rejects.toThrow('shutting down');
    expect(fn).not.toHaveBeenCalled();
  });
});
