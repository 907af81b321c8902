import { leaseKey, leaseSubnets, sameLeaseAttrs, type Lease, type LeaseEvent } from '../subnet/lease.ts';

/**
 * The other nodes' leases as the daemon knows them, keyed by leaseKey (the IPv4 subnet, else the IPv6 one). Applying lease events
 * bumps `generation`; the reconcile loop reads the whole set at run time (level, not edge).
 */
export class PeerSet {
  private readonly leases = new Map<string, Lease>();
  private gen = 0;
  private complete = false;

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
          changed = true;
          onChange?.('added', ev.lease);
        }
      } else {
        const prev = this.leases.get(key);
        if (prev !== undefined && this.leases.delete(key)) {
          changed = true;
          onChange?.('removed', prev);
        }
      }
    }
    if (changed) this.gen++;
    return changed;
  }

  /** A snapshot; the reconcile run must not see later events half-applied. */
  snapshot(): ReadonlyMap<string, Lease> {
    return new Map(this.leases);
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
