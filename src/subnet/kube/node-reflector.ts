/**
 * A list+watch loop over nodes that never gives up, with the manners of client-go's reflector
 * (tools/cache/reflector.go, pager.go) so that thousands of nodes running it are cheap for the
 * API server:
 * - the list comes in pages of 500 (`limit`/`continue`); when a continue token expires (410, the
 *   store was compacted between two pages) the list starts over at once;
 * - each watch asks the server to end it after 5–10 minutes (jittered, so the nodes' watches do
 *   not all come back at the same moment) and allows bookmarks, so a quiet cluster still moves
 *   the resourceVersion on; the next watch resumes from the last event or bookmark;
 * - a watch the server ended cleanly is re-opened at once (an expiry, not an error); a 410 Gone
 *   relists at once; only failures wait, with exponential backoff that any success resets.
 * client-node's informer, unlike this loop, stops for good on watch errors other than 410 or a
 * client-side timeout (ListWatch.doneHandler in its dist/cache.js). After a relist the loop reports
 * the difference to the cache it had, so a node deleted while disconnected becomes a `delete`.
 */
import type { Logger } from '../../observe/log.ts';
import { KubeApiError, type KubeApi, type NodeView, type NodeWatchEvent, type WatchEnd } from './api.ts';
import { errorText } from '../../util/errors.ts';
import { Backoff, sleep, type BackoffOptions } from '../../util/retry.ts';

export type NodeDelta =
  | { readonly type: 'upsert'; readonly node: NodeView }
  | { readonly type: 'delete'; readonly node: NodeView };

/** Why a watch was re-opened: the server ended it or its resourceVersion expired (normal), or it failed. */
export type WatchRestartReason = 'expiry' | 'error';

export interface ReflectorStats {
  /** Watch streams re-opened after they ended, by reason. */
  readonly watchRestarts: Record<WatchRestartReason, number>;
  /** Full lists after the first (410 Gone, ERROR events). */
  relists: number;
  /** Lists started over because a continue token expired between pages. */
  listRestarts: number;
  /** Failed list or watch requests. */
  apiErrors: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 5000 };
/** Items per list page: client-go's pager default. */
export const LIST_PAGE_SIZE = 500;
/** Watch timeouts are drawn from [min, 2·min), as client-go's reflector does with its 5 minutes. */
export const MIN_WATCH_TIMEOUT_S = 300;

/** Who hears of expired watches and whether failures are already reported (api-contact.ts). */
export interface ReflectorHooks {
  expired(resourceVersion: string): void;
  /** True while lost contact is reported: each retry's failure is then logged at debug only. */
  readonly isLost: boolean;
}

export interface NodeReflectorOptions {
  readonly backoff?: BackoffOptions;
  readonly hooks?: ReflectorHooks;
  readonly pageSize?: number;
  /** The timeoutSeconds of each watch request; default uniform in [300, 600). */
  readonly watchTimeoutSeconds?: () => number;
  /** Waits between failed attempts (tests record the delays instead of waiting). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
}

/** How one watch ended, as far as the loop cares. */
type WatchOutcome =
  /** The server ended the stream cleanly; continue from `resourceVersion`. */
  | { readonly kind: 'expired'; readonly resourceVersion: string; readonly progressed: boolean }
  /** 410 Gone: the resourceVersion left the server's window; relist. */
  | { readonly kind: 'gone'; readonly progressed: boolean }
  | { readonly kind: 'failed'; readonly resourceVersion: string | undefined; readonly error: string; readonly progressed: boolean }
  | { readonly kind: 'stopped' };

export class NodeReflector {
  /** The current view of every node, by name. */
  readonly nodes = new Map<string, NodeView>();
  readonly stats: ReflectorStats = { watchRestarts: { expiry: 0, error: 0 }, relists: 0, listRestarts: 0, apiErrors: 0 };
  private synced = false;
  private readonly api: KubeApi;
  private readonly log: Logger;
  private readonly opts: NodeReflectorOptions;
  /** `relist`: the deltas of a list after the first (called also when it changed nothing). */
  private readonly onDeltas: (deltas: readonly NodeDelta[], relist: boolean) => void;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(api: KubeApi, log: Logger, onDeltas: (deltas: readonly NodeDelta[], relist: boolean) => void, opts: NodeReflectorOptions = {}) {
    this.api = api;
    this.log = log;
    this.onDeltas = onDeltas;
    this.opts = opts;
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
    const backoff = new Backoff(this.opts.backoff ?? DEFAULT_BACKOFF);
    const wait = async (): Promise<void> => {
      await (this.opts.sleep ?? sleep)(backoff.next(), signal);
    };
    let resourceVersion: string | undefined;
    let listed = false;
    while (!signal.aborted) {
      const fromList = resourceVersion === undefined;
      if (resourceVersion === undefined) {
        let list: { resourceVersion: string; nodes: NodeView[] } | undefined;
        try {
          list = await this.listAll(signal);
        } catch (e) {
          if (signal.aborted) return;
          this.stats.apiErrors++;
          this.retryLog()({ err: errorText(e), retryInMs: backoff.delayMs }, 'listing nodes failed; retrying');
          await wait();
          continue;
        }
        if (list === undefined || signal.aborted) return;
        if (listed) this.stats.relists++;
        listed = true;
        backoff.reset();
        this.replace(list.nodes);
        resourceVersion = list.resourceVersion;
      }
      const outcome = await this.watchOnce(resourceVersion, signal);
      if (signal.aborted || outcome.kind === 'stopped') return;
      switch (outcome.kind) {
        case 'expired':
          // The server's timeoutSeconds ran out: the normal end of every watch. Re-open at once —
          // unless the stream carried nothing at all (not even a bookmark), which no healthy
          // 5-minute watch does: something in the way ends watches at once; do not hammer it.
          this.stats.watchRestarts.expiry++;
          resourceVersion = outcome.resourceVersion;
          if (outcome.progressed) backoff.reset();
          else await wait();
          break;
        case 'gone':
          // The resourceVersion is too old (the server restarted, or we were away too long): relist
          // now; any backoff from the outage before it is stale.
          this.stats.watchRestarts.expiry++;
          // api-contact.ts logs it (once per 410, with what the relist changed) when it listens.
          if (this.opts.hooks !== undefined) this.opts.hooks.expired(resourceVersion);
          else this.log.info({ resourceVersion }, 'node watch expired (410 Gone); relisting');
          resourceVersion = undefined;
          // Unless the list just read is already too old for the server's watch: no hot loop of lists.
          if (fromList && !outcome.progressed) await wait();
          break;
        case 'failed':
          this.stats.watchRestarts.error++;
          this.stats.apiErrors++;
          // A watch that delivered something worked: this failure starts a fresh backoff.
          if (outcome.progressed) backoff.reset();
          resourceVersion = outcome.resourceVersion;
          this.retryLog()({ err: outcome.error, resourceVersion: resourceVersion ?? 'relist', retryInMs: backoff.delayMs }, 'node watch ended; restarting');
          await wait();
          break;
      }
    }
  }

  /**
   * The whole node list, page by page, all pages from one snapshot. A continue token that expired
   * between pages (410) starts the list over at once, as client-go's pager does. Undefined when
   * aborted.
   */
  private async listAll(signal: AbortSignal): Promise<{ resourceVersion: string; nodes: NodeView[] } | undefined> {
    const limit = this.opts.pageSize ?? LIST_PAGE_SIZE;
    for (;;) {
      const nodes: NodeView[] = [];
      let token = '';
      let resourceVersion = '';
      let expired = false;
      do {
        let page;
        try {
          page = await this.api.listNodes({ limit, ...(token !== '' ? { continue: token } : {}) });
        } catch (e) {
          if (token === '' || !(e instanceof KubeApiError) || e.code !== 410) throw e;
          expired = true;
          break;
        }
        if (signal.aborted) return undefined;
        for (const n of page.nodes) nodes.push(n);
        // Every page carries the first page's resourceVersion; the watch continues from it.
        resourceVersion = page.resourceVersion;
        token = page.continue;
      } while (token !== '');
      if (!expired) return { resourceVersion, nodes };
      this.stats.listRestarts++;
      this.log.info({ pages: Math.ceil(nodes.length / limit), nodes: nodes.length }, 'the node list expired between pages (410); listing again from the start');
    }
  }

  /** One watch stream, from `from` until it ends; see WatchOutcome. */
  private async watchOnce(from: string, signal: AbortSignal): Promise<WatchOutcome> {
    let rv = from;
    let progressed = false;
    let gone = false;
    let errorEvent: string | undefined;
    let finish!: (end: WatchEnd) => void;
    const done = new Promise<WatchEnd>((resolve) => (finish = resolve));
    let handle: { stop(): void } | undefined;
    let stopAfterError = false;
    const onEvent = (ev: NodeWatchEvent): void => {
      if (gone || errorEvent !== undefined) return; // an ERROR ended this stream for us; ignore the rest
      if (ev.type === 'ERROR') {
        if (ev.code === 410) gone = true;
        else errorEvent = `watch ERROR event: HTTP ${ev.code}: ${ev.message}`;
        stopAfterError = true;
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
    const onAbort = (): void => handle?.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    let end: WatchEnd;
    try {
      const timeoutSeconds = this.opts.watchTimeoutSeconds?.() ?? Math.floor(MIN_WATCH_TIMEOUT_S * (1 + Math.random()));
      handle = await this.api.watchNodes(from, { timeoutSeconds }, onEvent, finish);
      if (signal.aborted || stopAfterError) handle.stop();
      end = await done;
    } catch (e) {
      end = { kind: 'error', error: e instanceof Error ? e : new Error(errorText(e)) };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (gone || (end.kind === 'error' && end.error instanceof KubeApiError && end.error.code === 410)) return { kind: 'gone', progressed };
    // Any other ERROR event: the server cannot continue this watch; relist, after the backoff.
    if (errorEvent !== undefined) return { kind: 'failed', resourceVersion: undefined, error: errorEvent, progressed };
    if (end.kind === 'stopped') return signal.aborted ? { kind: 'stopped' } : { kind: 'failed', resourceVersion: rv, error: 'the watch stopped', progressed };
    if (end.kind === 'closed') return { kind: 'expired', resourceVersion: rv, progressed };
    return { kind: 'failed', resourceVersion: rv, error: errorText(end.error), progressed };
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
    return this.opts.hooks?.isLost === true ? (f, m) => this.log.debug(f, m) : (f, m) => this.log.warn(f, m);
  }
}
