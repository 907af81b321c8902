/**
 * A list+watch loop over nodes that never gives up. client-node's informer stops on any watch
 * error other than 410 or a client-side timeout (ListWatch.doneHandler in its dist/cache.js); this loop instead re-watches from the last resourceVersion
 * after a dropped connection or timeout, relists after 410 Gone or an ERROR event, and backs off
 * exponentially (capped) while the API server is unreachable. After a relist it reports the
 * difference to the cache it had, so a node deleted while disconnected becomes a `delete`.
 */
import type { Logger } from '../../observe/log.ts';
import type { KubeApi, NodeView, NodeWatchEvent } from './api.ts';
import { errorText as textOf } from '../../util/errors.ts'; // watchOnce has a local named errorText
import { Backoff, sleep, type BackoffOptions } from '../../util/retry.ts';

export type NodeDelta =
  | { readonly type: 'upsert'; readonly node: NodeView }
  | { readonly type: 'delete'; readonly node: NodeView };

export interface ReflectorStats {
  /** Watch streams re-opened after they ended (drops, timeouts, errors). */
  watchRestarts: number;
  /** Full lists after the first (410 Gone, ERROR events). */
  relists: number;
  /** Failed list or watch requests. */
  apiErrors: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 5000 };

/** Who hears of expired watches and whether failures are already reported (api-contact.ts). */
export interface ReflectorHooks {
  expired(resourceVersion: string): void;
  /** True while lost contact is reported: each retry's failure is then logged at debug only. */
  readonly isLost: boolean;
}

/** A watch that ends cleanly sooner than this without delivering anything counts as a failure. */
const SHORT_WATCH_MS = 1000;

export class NodeReflector {
  /** The current view of every node, by name. */
  readonly nodes = new Map<string, NodeView>();
  readonly stats: ReflectorStats = { watchRestarts: 0, relists: 0, apiErrors: 0 };
  private synced = false;
  private readonly api: KubeApi;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  /** `relist`: the deltas of a list after the first (called also when it changed nothing). */
  private readonly onDeltas: (deltas: readonly NodeDelta[], relist: boolean) => void;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly hooks: ReflectorHooks | undefined;

  constructor(
    api: KubeApi,
    log: Logger,
    onDeltas: (deltas: readonly NodeDelta[], relist: boolean) => void,
    backoff: BackoffOptions = DEFAULT_BACKOFF,
    hooks?: ReflectorHooks,
  ) {
    this.api = api;
    this.log = log;
    this.onDeltas = onDeltas;
    this.backoff = backoff;
    this.hooks = hooks;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first successful list. */
  waitForSync(signal: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let resourceVersion: string | undefined;
    const backoff = new Backoff(this.backoff);
    let listed = false;
    // No watch has delivered anything since the last list: a 410 now means a server that cannot
    // serve the version it just listed, and relisting at once would spin.
    let freshList = false;
    while (!signal.aborted) {
      if (resourceVersion === undefined) {
        try {
          const list = await this.api.listNodes();
          if (signal.aborted) return;
          if (listed) this.stats.relists++;
          listed = true;
          freshList = true;
          this.replace(list.nodes);
          resourceVersion = list.resourceVersion;
        } catch (e) {
          this.stats.apiErrors++;
          this.retryLog()({ err: textOf(e), retryInMs: backoff.delayMs }, 'listing nodes failed; retrying');
          await sleep(backoff.next(), signal);
          continue;
        }
      }
      const started = Date.now();
      const outcome = await this.watchOnce(resourceVersion, signal);
      if (signal.aborted) return;
      this.stats.watchRestarts++;
      resourceVersion = outcome.resourceVersion;
      // A watch that delivered anything shows the server is back: the next failure starts the
      // backoff afresh instead of waiting as long as the last outage made it (a connection cut
      // after an hour of events is retried in 200 ms, not in 5 s).
      if (outcome.progressed) {
        backoff.reset();
        freshList = false;
      }
      if (outcome.error !== undefined) {
        this.stats.apiErrors++;
        this.retryLog()({ err: outcome.error, resourceVersion: resourceVersion ?? 'relist', retryInMs: backoff.delayMs }, 'node watch ended; restarting');
        await sleep(backoff.next(), signal);
        continue;
      }
      // 410 Gone (compaction, a restarted server): the relist is the cure, so no wait before it.
      if (outcome.expired && !freshList) continue;
      // A watch that ran a while and ended cleanly (server timeout, our idle timeout) is normal:
      // watch again at once. One that ended at once with nothing is treated as a failure, as
      // client-go's reflector does with its "very short watch".
      if (!outcome.expired && (outcome.progressed || Date.now() - started >= SHORT_WATCH_MS)) continue;
      await sleep(backoff.next(), signal);
    }
  }

  /**
   * One watch stream. Resolves with the resourceVersion to continue from (undefined: relist), the
   * error that ended it, and whether it delivered anything (a healthy stream resets the backoff).
   */
  private async watchOnce(
    from: string,
    signal: AbortSignal,
  ): Promise<{ resourceVersion: string | undefined; error?: string; progressed: boolean; expired: boolean }> {
    let rv: string | undefined = from;
    let progressed = false;
    let expired = false;
    let errorText: string | undefined;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const onEvent = (ev: NodeWatchEvent): void => {
      if (rv === undefined) return; // an ERROR already asked for a relist; ignore the rest
      if (ev.type === 'ERROR') {
        errorText = `watch ERROR event: HTTP ${ev.code}: ${ev.message}`;
        if (ev.code === 410) {
          errorText = undefined; // expected; the relist is the cure
          this.hooks?.expired(rv);
          expired = true;
        }
        rv = undefined;
        handle?.stop();
        return;
      }
      progressed = true;
      if (ev.type === 'BOOKMARK') {
        if (ev.resourceVersion !== '') rv = ev.resourceVersion;
        return;
      }
      if (ev.node.resourceVersion !== '') rv = ev.node.resourceVersion;
      if (ev.type === 'DELETED') {
        const known = this.nodes.get(ev.node.name);
        this.nodes.delete(ev.node.name);
        this.onDeltas([{ type: 'delete', node: known ?? ev.node }], false);
      } else {
        this.nodes.set(ev.node.name, ev.node);
        this.onDeltas([{ type: 'upsert', node: ev.node }], false);
      }
    };
    let handle: { stop(): void } | undefined;
    const onAbort = (): void => handle?.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      handle = await this.api.watchNodes(from, onEvent, (err) => {
        // client-node ends idle watches after 30 s with a TimeoutError: not worth a warning.
        if (err !== undefined && err.name !== 'TimeoutError' && errorText === undefined) errorText = err.message;
        finish();
      });
      if (signal.aborted) handle.stop();
      await done;
    } catch (e) {
      errorText = textOf(e);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return { resourceVersion: rv, progressed, expired, ...(errorText !== undefined ? { error: errorText } : {}) };
  }

  /** Swaps in a fresh list and reports what changed against the cache. */
  private replace(nodes: readonly NodeView[]): void {
    const deltas: NodeDelta[] = [];
    const fresh = new Map(nodes.map((n) => [n.name, n]));
    for (const [name, old] of this.nodes) {
      if (!fresh.has(name)) deltas.push({ type: 'delete', node: old });
    }
    for (const n of nodes) {
      const old = this.nodes.get(n.name);
      if (old === undefined || old.resourceVersion !== n.resourceVersion) deltas.push({ type: 'upsert', node: n });
    }
    this.nodes.clear();
    for (const [k, v] of fresh) this.nodes.set(k, v);
    const relist = this.synced;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    if (deltas.length > 0 || relist) this.onDeltas(deltas, relist);
  }

  /** Failures while lost contact is already reported would repeat that report at every retry. */
  private retryLog(): (fields: object, msg: string) => void {
    return this.hooks?.isLost === true ? (f, m) => this.log.debug(f, m) : (f, m) => this.log.warn(f, m);
  }
}
