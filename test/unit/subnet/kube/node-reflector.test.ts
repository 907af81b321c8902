/**
 * The node watch's waits, on a scripted API and fake timers (found by bench/soak.ts: after an
 * API outage, a later watch cut waited the outage's 5 s backoff, and a forced 410 then waited
 * again before relisting — 10 s before a new node was programmed).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../../src/observe/log.ts';
import type { KubeApi, NodeList, NodeView, NodeWatchEvent, WatchHandle } from '../../../../src/subnet/kube/api.ts';
import { NodeReflector } from '../../../../src/subnet/kube/node-reflector.ts';

interface OpenWatch {
  readonly rv: string;
  event(ev: NodeWatchEvent): void;
  end(err?: Error): void;
}

/** An API whose watches the test opens, feeds and ends by hand. */
class ScriptedApi implements KubeApi {
  readonly server = 'scripted';
  lists = 0;
  readonly watches: OpenWatch[] = [];
  /** Watches that fail at once (connection refused), before the next one works. */
  failWatches = 0;
  private rv = 1;

  getNode(): Promise<NodeView> {
    return Promise.reject(new Error('not scripted'));
  }

  listNodes(): Promise<NodeList> {
    this.lists++;
    return Promise.resolve({ resourceVersion: String(this.rv), nodes: [] });
  }

  watchNodes(resourceVersion: string, onEvent: (ev: NodeWatchEvent) => void, onDone: (err?: Error) => void): Promise<WatchHandle> {
    let done = false;
    const end = (err?: Error): void => {
      if (done) return;
      done = true;
      onDone(err);
    };
    this.watches.push({ rv: resourceVersion, event: onEvent, end });
    if (this.failWatches > 0) {
      this.failWatches--;
      queueMicrotask(() => end(new Error('connect ECONNREFUSED')));
    }
    return Promise.resolve({ stop: () => end() });
  }

  patchNodeStatus(): Promise<NodeView> {
    return Promise.reject(new Error('not scripted'));
  }

  getPodNodeName(): Promise<string> {
    return Promise.reject(new Error('not scripted'));
  }

  /** An ADDED event: the watch made progress. */
  added(w: OpenWatch): void {
    this.rv++;
    w.event({ type: 'ADDED', node: { name: `n${this.rv}`, resourceVersion: String(this.rv), annotations: {}, podCIDRs: [] } });
  }

  get last(): OpenWatch {
    return this.watches[this.watches.length - 1]!;
  }
}

const BACKOFF = { initialMs: 100, maxMs: 60_000 };

describe('node reflector waits', () => {
  let api: ScriptedApi;
  let ac: AbortController;

  beforeEach(() => {
    vi.useFakeTimers();
    api = new ScriptedApi();
    ac = new AbortController();
    void new NodeReflector(api, silentLogger(), () => undefined, BACKOFF).run(ac.signal);
  });
  afterEach(() => {
    ac.abort();
    vi.useRealTimers();
  });

  /** Lets promises settle and timers up to `ms` fire. */
  const advance = async (ms: number): Promise<void> => {
    await vi.advanceTimersByTimeAsync(ms);
  };

  /** An outage of eight failed watches (backoff up to 12.8 s), then a watch that works and delivers an event. */
  async function afterOutage(): Promise<OpenWatch> {
    await advance(0);
    expect(api.lists).toBe(1);
    api.last.end(new Error('connect ECONNREFUSED'));
    api.failWatches = 7;
    while (api.watches.length < 9) await advance(1000);
    const healthy = api.last;
    api.added(healthy);
    await advance(0);
    return healthy;
  }

  it('retries a watch cut after it delivered events with the initial backoff, not the outage’s', async () => {
    const healthy = await afterOutage();
    healthy.end(new Error('read ECONNRESET'));
    await advance(BACKOFF.initialMs);
    expect(api.watches).toHaveLength(10);
    expect(api.last.rv).toBe('2');
  });

  it('relists at once after a 410, also when the watch that got it had delivered nothing', async () => {
    const healthy = await afterOutage();
    healthy.end(new Error('read ECONNRESET'));
    await advance(BACKOFF.initialMs);
    api.last.event({ type: 'ERROR', code: 410, message: 'too old resource version: 2 (3)' });
    await advance(0);
    expect(api.lists).toBe(2);
    expect(api.watches).toHaveLength(11);
  });

  it('does not relist in a loop when the watch right after a list gets 410', async () => {
    await advance(0);
    api.last.event({ type: 'ERROR', code: 410, message: 'too old resource version' });
    await advance(0);
    expect(api.lists).toBe(1);
    await advance(BACKOFF.initialMs);
    expect(api.lists).toBe(2);
  });

  it('watches again at once after a clean end of a watch that ran a while, and backs off after one that ended at once', async () => {
    await advance(0);
    await advance(5000);
    api.last.end();
    await advance(0);
    expect(api.watches).toHaveLength(2);
    api.last.end();
    await advance(0);
    expect(api.watches).toHaveLength(2);
    await advance(BACKOFF.initialMs);
    expect(api.watches).toHaveLength(3);
  });
});
