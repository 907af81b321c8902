import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/observe/log.ts';
import { KubeApiError, type KubeApi, type ListOptions, type NodeList, type NodeView, type NodeWatchEvent, type WatchEnd, type WatchHandle } from '../../../../src/subnet/kube/api.ts';
import { NodeReflector, type NodeDelta } from '../../../../src/subnet/kube/node-reflector.ts';

/*
 * The reflector's decisions against a scripted API: which request comes next, and how long it
 * waits before it (the waits are recorded, not slept). Backoff 100 ms doubling up to 800 ms.
 */

const node = (name: string, rv: string): NodeView => ({ name, resourceVersion: rv, annotations: {}, podCIDRs: [] });

/** What one watch request does: events, then how it ends. After the last step the run is aborted. */
interface WatchScript {
  readonly events?: readonly NodeWatchEvent[];
  readonly end: WatchEnd;
}

type Step =
  | { readonly list: NodeList | KubeApiError | Error }
  | { readonly watch: WatchScript | Error };

class ScriptedApi implements Pick<KubeApi, 'listNodes' | 'watchNodes'> {
  /** The requests made and the waits between them, in order: `list`, `list continue=…`, `watch rv=…`, `wait 100`. */
  readonly log: string[] = [];
  private readonly steps: Step[];
  private readonly stop: AbortController;

  constructor(steps: Step[], stop: AbortController) {
    this.steps = steps;
    this.stop = stop;
  }

  private next(kind: 'list' | 'watch'): Step {
    const step = this.steps.shift();
    if (step === undefined) {
      this.stop.abort();
      throw new Error('script finished');
    }
    if (!(kind in step)) throw new Error(`script expected ${Object.keys(step)[0]}, the reflector made a ${kind} request`);
    return step;
  }

  async listNodes(opts: ListOptions = {}): Promise<NodeList> {
    const step = this.next('list') as { list: NodeList | Error };
    this.log.push(`list${opts.continue ? ` continue=${opts.continue}` : ''} limit=${opts.limit ?? 0}`);
    if (step.list instanceof Error) throw step.list;
    return step.list;
  }

  async watchNodes(rv: string, opts: { timeoutSeconds?: number }, onEvent: (ev: NodeWatchEvent) => void, onDone: (end: WatchEnd) => void): Promise<WatchHandle> {
    const step = this.next('watch') as { watch: WatchScript | Error };
    this.log.push(`watch rv=${rv} timeout=${opts.timeoutSeconds}`);
    // The client reports a failed request through onDone, as client.ts does.
    const script: WatchScript = step.watch instanceof Error ? { end: { kind: 'error', error: step.watch } } : step.watch;
    let stopped = false;
    setImmediate(() => {
      for (const ev of script.events ?? []) if (!stopped) onEvent(ev);
      if (!stopped) onDone(script.end);
    });
    return {
      stop: () => {
        if (stopped) return;
        stopped = true;
        setImmediate(() => onDone({ kind: 'stopped' }));
      },
    };
  }
}

function run(steps: Step[]): Promise<{ log: string[]; deltas: string[]; reflector: NodeReflector }> {
  const stop = new AbortController();
  const api = new ScriptedApi(steps, stop);
  const deltas: string[] = [];
  const onDeltas = (ds: readonly NodeDelta[]): void => {
    for (const d of ds) deltas.push(`${d.type} ${d.node.name}`);
  };
  const reflector = new NodeReflector(api as unknown as KubeApi, silentLogger(), onDeltas, {
    backoff: { initialMs: 100, maxMs: 800 },
    pageSize: 2,
    watchTimeoutSeconds: () => 333,
    sleep: async (ms) => {
      api.log.push(`wait ${ms}`);
    },
  });
  return reflector.run(stop.signal).then(() => ({ log: api.log, deltas, reflector }));
}

/** A page of nodes that never change (each keeps resourceVersion 1). */
const page = (rv: string, names: string[], next = ''): NodeList => ({ resourceVersion: rv, nodes: names.map((n) => node(n, '1')), continue: next });
const closed: WatchEnd = { kind: 'closed' };
const broken: WatchEnd = { kind: 'error', error: new Error('ECONNRESET') };
const refused = new KubeApiError('watch nodes: connect ECONNREFUSED', 0);
const bookmark = (rv: string): NodeWatchEvent => ({ type: 'BOOKMARK', resourceVersion: rv });

describe('NodeReflector', () => {
  it('lists in pages, then watches from the list’s resourceVersion with the timeout it draws', async () => {
    const { log, deltas } = await run([
      { list: page('10', ['a', 'b'], 'tok1') },
      { list: page('10', ['c']) },
      { watch: { events: [{ type: 'ADDED', node: node('d', '11') }], end: closed } },
      { watch: { end: closed } },
    ]);
    expect(log).toEqual(['list limit=2', 'list continue=tok1 limit=2', 'watch rv=10 timeout=333', 'watch rv=11 timeout=333', 'wait 100']);
    expect(deltas).toEqual(['upsert a', 'upsert b', 'upsert c', 'upsert d']);
  });

  it('starts a list over at once when a continue token expires, and keeps nothing of the broken one', async () => {
    const { log, deltas, reflector } = await run([
      { list: page('10', ['a', 'b'], 'tok1') },
      { list: new KubeApiError('list nodes (next page): HTTP 410: The provided continue parameter is too old', 410) },
      { list: page('12', ['a', 'x'], 'tok2') },
      { list: page('12', ['y']) },
      { watch: { end: closed } },
    ]);
    expect(log.slice(0, 5)).toEqual(['list limit=2', 'list continue=tok1 limit=2', 'list limit=2', 'list continue=tok2 limit=2', 'watch rv=12 timeout=333']);
    expect(deltas).toEqual(['upsert a', 'upsert x', 'upsert y']);
    expect(reflector.stats).toMatchObject({ listRestarts: 1, relists: 0, apiErrors: 0 });
  });

  it('re-opens a watch the server ended at once, from the last bookmark, counting an expiry', async () => {
    const { log, reflector } = await run([
      { list: page('10', []) },
      { watch: { events: [bookmark('15')], end: closed } },
      { watch: { events: [bookmark('20'), bookmark('21')], end: closed } },
      { watch: { events: [bookmark('22')], end: broken } },
    ]);
    expect(log.slice(0, 5)).toEqual(['list limit=2', 'watch rv=10 timeout=333', 'watch rv=15 timeout=333', 'watch rv=21 timeout=333', 'wait 100']);
    expect(reflector.stats.watchRestarts).toEqual({ expiry: 2, error: 1 });
  });

  it('after an outage, relists at once on the 410 and starts a fresh backoff after the relist', async () => {
    const { log, deltas, reflector } = await run([
      { list: page('10', ['a', 'b']) },
      { watch: { events: [bookmark('12')], end: broken } },
      { watch: refused },
      { watch: refused },
      { watch: refused },
      { watch: refused },
      // The server is back with a fresh watch cache: our resourceVersion is gone.
      { watch: { events: [{ type: 'ERROR', code: 410, message: 'too old resource version: 12 (40)' }], end: closed } },
      { list: page('41', ['a']) },
      { watch: refused },
    ]);
    expect(log).toEqual([
      'list limit=2',
      'watch rv=10 timeout=333',
      'wait 100', // the broken watch had delivered a bookmark: a fresh backoff
      'watch rv=12 timeout=333',
      'wait 200',
      'watch rv=12 timeout=333',
      'wait 400',
      'watch rv=12 timeout=333',
      'wait 800',
      'watch rv=12 timeout=333',
      'wait 800',
      'watch rv=12 timeout=333',
      'list limit=2', // no wait: a 410 relists at once
      'watch rv=41 timeout=333',
      'wait 100', // the list succeeded: the backoff starts over
    ]);
    expect(deltas).toEqual(['upsert a', 'upsert b', 'delete b']);
    expect(reflector.stats).toMatchObject({ relists: 1, apiErrors: 6 });
    expect(reflector.stats.watchRestarts).toEqual({ expiry: 1, error: 6 });
  });

  it('treats HTTP 410 on the watch request like the 410 event; other ERROR events, and a 410 right after a list, relist after a wait', async () => {
    const { log, reflector } = await run([
      { list: page('10', []) },
      { watch: { events: [bookmark('11')], end: closed } },
      { watch: new KubeApiError('watch nodes: HTTP 410: Gone', 410) },
      { list: page('20', []) },
      { watch: { events: [{ type: 'ERROR', code: 500, message: 'internal error' }], end: closed } },
      { list: page('30', []) },
      // The list just read is already too old for the server's watch: no hot loop of lists.
      { watch: { events: [{ type: 'ERROR', code: 410, message: 'too old resource version' }], end: closed } },
      { list: page('40', []) },
    ]);
    expect(log).toEqual([
      'list limit=2', 'watch rv=10 timeout=333', 'watch rv=11 timeout=333', 'list limit=2',
      'watch rv=20 timeout=333', 'wait 100', 'list limit=2', 'watch rv=30 timeout=333', 'wait 100', 'list limit=2',
    ]);
    expect(reflector.stats).toMatchObject({ relists: 3, apiErrors: 1 });
  });

  it('waits before re-opening a watch that ended cleanly without delivering anything', async () => {
    const { log } = await run([{ list: page('10', []) }, { watch: { end: closed } }, { watch: { end: closed } }]);
    expect(log).toEqual(['list limit=2', 'watch rv=10 timeout=333', 'wait 100', 'watch rv=10 timeout=333', 'wait 200']);
  });

  it('backs off on failed lists and reports a relist’s difference as deltas', async () => {
    const { log, deltas } = await run([
      { list: new KubeApiError('list nodes: HTTP 500', 500) },
      { list: new KubeApiError('list nodes: HTTP 500', 500) },
      { list: page('10', ['a', 'b']) },
      { watch: { events: [{ type: 'ERROR', code: 410, message: 'gone' }], end: closed } },
      { list: page('20', ['b', 'c']) },
    ]);
    expect(log.slice(0, 6)).toEqual(['list limit=2', 'wait 100', 'list limit=2', 'wait 200', 'list limit=2', 'watch rv=10 timeout=333']);
    expect(deltas).toEqual(['upsert a', 'upsert b', 'delete a', 'upsert c']);
  });
});
