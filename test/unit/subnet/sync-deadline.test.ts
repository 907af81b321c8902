import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observe/log.ts';
import { continueWhenCacheNotReady, NODE_SYNC_TIMEOUT_MS, waitForNodeSync } from '../../../src/subnet/kube/sync-deadline.ts';

const never = () => new Promise<void>(() => {});
const signal = new AbortController().signal;

describe('CONT_WHEN_CACHE_NOT_READY', () => {
  it('is on only for exactly "true", as upstream compares it', () => {
    expect(continueWhenCacheNotReady({ CONT_WHEN_CACHE_NOT_READY: 'true' })).toBe(true);
    for (const v of ['false', 'TRUE', '1', '', undefined]) expect(continueWhenCacheNotReady({ CONT_WHEN_CACHE_NOT_READY: v })).toBe(false);
    expect(NODE_SYNC_TIMEOUT_MS).toBe(600_000);
  });

  it('waitForNodeSync: returns once synced, fails at the deadline, or keeps waiting when told to', async () => {
    await waitForNodeSync(() => Promise.resolve(), { timeoutMs: 10, continueWhenNotReady: false, log: silentLogger() }, signal);
    await expect(waitForNodeSync(never, { timeoutMs: 10, continueWhenNotReady: false, log: silentLogger() }, signal)).rejects.toThrow(/^error waiting for nodeController to sync state: .* within 10 ms/);
    let calls = 0;
    const late = () => (++calls === 1 ? never() : Promise.resolve());
    await waitForNodeSync(late, { timeoutMs: 10, continueWhenNotReady: true, log: silentLogger() }, signal);
    expect(calls).toBe(2);
  });
});
