import { randomUUID } from 'node:crypto';
import { clone, isObject, type JsonObject } from './patch.ts';

export interface StoreSnapshot {
  readonly revision: number;
  readonly nodes: readonly JsonObject[];
  readonly pods: readonly (readonly [string, JsonObject])[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly type: WatchEventType;
  /** The object as of this event, resourceVersion included (a deleted object carries the deletion's). */
  readonly object: JsonObject;
  readonly resourceVersion: number;
}

/**
 * Objects of all kinds share one resourceVersion counter, as they share etcd's revision in a real
 * cluster. Nodes keep a bounded event history for watches; pods are stored but not watchable.
 */
export class ObjectStore {
  /** The last resourceVersion handed out. */
  revision = 0;
  readonly nodes = new Map<string, JsonObject>();
  readonly pods = new Map<string, JsonObject>();
  /** Node events with resourceVersion > historyStart, oldest first. */
  private history: WatchEvent[] = [];
  /** A watch may start at any resourceVersion ≥ this; older ones get 410 Gone. */
  historyStart = 0;
  /** Revisions before this one are compacted away: a paged list begun before it cannot continue. */
  compactedRevision = 0;
  private readonly historyLimit: number;
  private readonly listeners = new Set<(ev: WatchEvent) => void>();

  constructor(historyLimit: number) {
    this.historyLimit = historyLimit;
  }

  /** Stamps name, uid, creationTimestamp and a fresh resourceVersion onto a copy of `obj`. */
  private stamp(obj: JsonObject, previous?: JsonObject): JsonObject {
    const out = clone(obj);
    const meta = isObject(out['metadata']) ? out['metadata'] : {};
    const prevMeta = previous !== undefined && isObject(previous['metadata']) ? previous['metadata'] : undefined;
    meta['uid'] = prevMeta?.['uid'] ?? meta['uid'] ?? randomUUID();
    meta['creationTimestamp'] = prevMeta?.['creationTimestamp'] ?? meta['creationTimestamp'] ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta['resourceVersion'] = String(++this.revision);
    out['metadata'] = meta;
    return out;
  }

  putNode(name: string, obj: JsonObject): JsonObject {
    const previous = this.nodes.get(name);
    const stored = this.stamp({ kind: 'Node', apiVersion: 'v1', ...obj }, previous);
    this.nodes.set(name, stored);
    this.record(previous === undefined ? 'ADDED' : 'MODIFIED', stored);
    return clone(stored);
  }

  deleteNode(name: string): JsonObject | undefined {
    const previous = this.nodes.get(name);
    if (previous === undefined) return undefined;
    this.nodes.delete(name);
    const last = this.stamp(previous, previous);
    this.record('DELETED', last);
    return clone(last);
  }

  putPod(namespace: string, name: string, obj: JsonObject): JsonObject {
    const key = `${namespace}/${name}`;
    const stored = this.stamp({ kind: 'Pod', apiVersion: 'v1', ...obj }, this.pods.get(key));
    this.pods.set(key, stored);
    return clone(stored);
  }

  private record(type: WatchEventType, object: JsonObject): void {
    const ev: WatchEvent = { type, object, resourceVersion: this.revision };
    this.history.push(ev);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.shift()!;
      this.historyStart = dropped.resourceVersion;
    }
    for (const l of this.listeners) l(ev);
  }

  /** Events after `rv`, or undefined when some of them are no longer kept (410 Gone). */
  eventsSince(rv: number): WatchEvent[] | undefined {
    if (rv < this.historyStart) return undefined;
    return this.history.filter((e) => e.resourceVersion > rv);
  }

  /** Forgets all history: every watch from an older resourceVersion now gets 410 Gone. */
  expireHistory(): void {
    this.history = [];
    this.historyStart = this.revision;
  }

  /**
   * What an etcd compaction does to watchers: the revision moves on and the history is gone, so
   * every watch that resumes from the resourceVersion it last saw (even the newest) gets 410 Gone.
   */
  compactAll(): void {
    this.revision++;
    this.expireHistory();
    this.compact(this.revision);
  }

  /** Compacts up to `revision` (never backwards). */
  compact(revision: number): void {
    this.compactedRevision = Math.max(this.compactedRevision, Math.min(revision, this.revision));
  }

  /** Every object and the revision, for a restart of the standalone double that keeps its data (as etcd would). */
  snapshot(): StoreSnapshot {
    return { revision: this.revision, nodes: [...this.nodes.values()].map((n) => clone(n)), pods: [...this.pods.entries()].map(([k, v]) => [k, clone(v)]) };
  }

  /**
   * Loads a snapshot into an empty store. The event history starts empty at the snapshot's
   * revision, as a restarted API server's watch cache does: a watch from an older
   * resourceVersion gets 410 Gone and the client relists.
   */
  restore(s: StoreSnapshot): void {
    this.revision = s.revision;
    this.nodes.clear();
    this.pods.clear();
    for (const n of s.nodes) {
      const meta = isObject(n['metadata']) ? n['metadata'] : {};
      if (typeof meta['name'] === 'string') this.nodes.set(meta['name'], clone(n));
    }
    for (const [k, v] of s.pods) this.pods.set(k, clone(v));
    this.expireHistory();
  }

  subscribe(listener: (ev: WatchEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
