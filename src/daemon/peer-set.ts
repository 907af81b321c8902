import { leaseKey, leaseSubnets, sameLeaseAttrs, type Lease, type LeaseEvent } from '../subnet/lease.ts';

/**
 * The other nodes' leases as the daemon knows them, keyed by leaseKey (the IPv4 subnet, else the
 * IPv6 one). Applying lease events bumps `generation`; the reconcile loop reads the set at run
 * time (level, not edge), and with it which peers changed since its last run, so that a run
 * after a few lease events does work for those peers only.
 */
export class PeerSet {
  private readonly leases = new Map<string, Lease>();
  private gen = 0;
  private complete = false;
  /** Keys added, changed or removed since the last takeChanged(). */
  private changed = new Set<string>();

  /**
   * The first batch of events has been applied: SubnetManager.watchLeases delivers the complete
   * list of other nodes first, so from here on the set is the desired state. Before it there is
   * none: a run against an empty set would delete every peer's entries on a restart.
   */
  get listed(): boolean {
    return this.complete;
  }

  get generation(): number {
    return this.gen;
  }

  get size(): number {
    return this.leases.size;
  }

  /** Whether a peer holds this subnet ('10.244.2.0/24'). */
  has(subnet: string): boolean {
    return this.leases.has(subnet);
  }

  /**
   * Applies events in order; returns true when anything changed. `onChange` hears each
   * effective change (not repeats of a known lease), e.g. to log it.
   */
  apply(events: readonly LeaseEvent[], onChange?: (type: LeaseEvent['type'], lease: Lease) => void): boolean {
    this.complete = true;
    let changed = false;
    for (const ev of events) {
      const key = leaseKey(ev.lease);
      if (ev.type === 'added') {
        const prev = this.leases.get(key);
        if (prev === undefined || !sameLease(prev, ev.lease)) {
          this.leases.set(key, ev.lease);
          this.changed.add(key);
          changed = true;
          onChange?.('added', ev.lease);
        }
      } else {
        const prev = this.leases.get(key);
        if (prev !== undefined && this.leases.delete(key)) {
          this.changed.add(key);
          changed = true;
          onChange?.('removed', prev);
        }
      }
    }
    if (changed) this.gen++;
    return changed;
  }

  /** A copy, for a caller that holds on to it across awaits (tests, benches). */
  snapshot(): ReadonlyMap<string, Lease> {
    return new Map(this.leases);
  }

  /**
   * The set itself, not a copy (copying 10,000 leases for every run of a few changes is the
   * cost this avoids). Events applied later show through: a reader that awaits in between sees
   * newer leases, which a level-triggered reconcile wants anyway; the keys of those changes are
   * taken by the next run.
   */
  get live(): ReadonlyMap<string, Lease> {
    return this.leases;
  }

  /** The keys that changed since the previous call (added, changed or removed), and forgets them. */
  takeChanged(): ReadonlySet<string> {
    const out = this.changed;
    this.changed = new Set();
    return out;
  }

  /** Counts peers by published backend type ('' is udp). */
  countByBackend(): Map<string, number> {
    const out = new Map<string, number>();
    for (const l of this.leases.values()) {
      const t = l.attrs.backendType === '' ? 'udp' : l.attrs.backendType;
      out.set(t, (out.get(t) ?? 0) + 1);
    }
    return out;
  }
}

function sameLease(a: Lease, b: Lease): boolean {
  return a.node === b.node && leaseSubnets(a) === leaseSubnets(b) && sameLeaseAttrs(a.attrs, b.attrs);
}
