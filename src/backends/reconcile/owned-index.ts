import type { KernelError } from '../../netlink/errors.ts';
import { opSucceeded, type PlannedOp } from './apply-ops.ts';
import type { ForPeer } from './keyed-diff.ts';

/** Per kind, the plan's objects by their keys. */
export type ByKind<K extends string, V> = Readonly<Record<K, ReadonlyMap<string, V>>>;

/**
 * What a backend owns in the kernel and which peer wants which object, kept between runs so
 * that a run for a few changed peers plans and applies those peers alone: it looks up the
 * objects at their keys here instead of listing every route, neighbour and fdb entry of the
 * node. Built from the listing of a full run (the plan's owned and wanted maps), then kept
 * current from the acks of every batch; a failed op leaves the belief as it was, which is what
 * the kernel then holds (a replace is atomic, a failed delete leaves the object).
 *
 * It is a belief, not the truth: a change made behind the backend's back shows up through the
 * drift monitor (which asks for a full run) or the periodic full resync, and both rebuild it.
 * A run that throws half-way must invalidate() it.
 *
 * Kinds are the PlannedOp types ('route', 'neigh', 'fdb'); each has the key function its
 * planner uses for its maps, so the objects an op carries land at the planner's keys.
 */
export class OwnedIndex<K extends string> {
  private readonly keyOf: Readonly<Record<K, (obj: never) => string>>;
  private readonly kinds: readonly K[];
  private have: Record<K, Map<string, unknown>>;
  /**
   * Per kind, per peer: the key of the object it wants (planners want one object of a kind per
   * peer; more become an array). One map per kind, not a list per peer: ~80 bytes a peer less.
   */
  private byPeer: Record<K, Map<string, string | string[]>>;
  private ready = false;

  constructor(keyOf: Readonly<Record<K, (obj: never) => string>>) {
    this.keyOf = keyOf;
    this.kinds = Object.keys(keyOf) as K[];
    this.have = this.emptyMaps();
    this.byPeer = this.emptyMaps();
  }

  /** True after a full run built it and nothing invalidated it since. */
  get valid(): boolean {
    return this.ready;
  }

  invalidate(): void {
    this.ready = false;
    this.have = this.emptyMaps();
    this.byPeer = this.emptyMaps();
  }

  /** After a full listing: every owned object the plan started from, and every wanted one. */
  reset(owned: ByKind<K, unknown>, wanted: ByKind<K, ForPeer<unknown>>): void {
    this.have = this.emptyMaps();
    for (const k of this.kinds) for (const [key, obj] of owned[k]) this.have[k].set(key, obj);
    this.byPeer = this.emptyMaps();
    this.addWanted(wanted);
    this.ready = true;
  }

  /**
   * The owned objects a plan for `peers` must see: those at the keys these peers wanted at the
   * last run (to delete or keep) and at the keys they want now (`wantedNow`, a plan of the
   * same peers against nothing).
   */
  ownedFor(peers: Iterable<string>, wantedNow: ByKind<K, ForPeer<unknown>>): Record<K, unknown[]> {
    const keys = this.emptyKeySets();
    for (const s of peers) {
      for (const k of this.kinds) {
        const old = this.byPeer[k].get(s);
        if (typeof old === 'string') keys[k].add(old);
        else if (old !== undefined) for (const key of old) keys[k].add(key);
      }
    }
    for (const k of this.kinds) for (const key of wantedNow[k].keys()) keys[k].add(key);
    const out = {} as Record<K, unknown[]>;
    for (const k of this.kinds) {
      out[k] = [];
      for (const key of keys[k]) {
        const obj = this.have[k].get(key);
        if (obj !== undefined) out[k].push(obj);
      }
    }
    return out;
  }

  /** What the `peers` want now replaces what they wanted (a removed peer wants nothing). */
  setWanted(peers: Iterable<string>, wanted: ByKind<K, ForPeer<unknown>>): void {
    for (const s of peers) for (const k of this.kinds) this.byPeer[k].delete(s);
    this.addWanted(wanted);
  }

  /** Follows a batch's acks: a set puts its object at its key, a delete removes the key. */
  record(ops: readonly PlannedOp[], results: readonly (KernelError | null)[]): void {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const kind = op.type as K;
      if (op.obj === undefined || !(kind in this.keyOf) || !opSucceeded(op, results[i])) continue;
      const key = this.keyOf[kind](op.obj as never);
      if (op.action === 'delete') this.have[kind].delete(key);
      else this.have[kind].set(key, op.obj);
    }
  }

  /** Owned objects of a kind believed in the kernel now. */
  size(kind: K): number {
    return this.have[kind].size;
  }

  private addWanted(wanted: ByKind<K, ForPeer<unknown>>): void {
    for (const k of this.kinds) {
      const byPeer = this.byPeer[k];
      for (const [key, w] of wanted[k]) {
        const old = byPeer.get(w.subnet);
        byPeer.set(w.subnet, old === undefined ? key : [...(typeof old === 'string' ? [old] : old), key]);
      }
    }
  }

  private emptyMaps<V>(): Record<K, Map<string, V>> {
    const out = {} as Record<K, Map<string, V>>;
    for (const k of this.kinds) out[k] = new Map();
    return out;
  }

  private emptyKeySets(): Record<K, Set<string>> {
    const out = {} as Record<K, Set<string>>;
    for (const k of this.kinds) out[k] = new Set();
    return out;
  }
}
