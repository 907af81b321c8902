import type { NetlinkChange } from '../../netlink/types.ts';
import { AF_BRIDGE } from '../../netlink/types.ts';

/** How long a change of ours waits for its notification. */
const EXPECT_MS = 10_000;

/**
 * Deletions and writes a reconcile made itself, so the drift monitor does not answer our own
 * changes with another run. Each expected key is consumed by the first matching notification.
 * Keys outlive the run that made them: during a burst of lease events the notifications of one
 * run arrive while the next run applies, and each one taken for drift would cost a full run. A
 * key whose notification never came (lost in a monitor overflow, which kicks a full run anyway)
 * is forgotten after EXPECT_MS, so it cannot hide a later change for long.
 */
export class ExpectedDeletes {
  /** Key → until when (performance.now() ms) it is expected; oldest first. */
  private readonly keys = new Map<string, number>();
  private readonly writes = new Map<string, number>();
  private nextPrune = 0;

  clear(): void {
    this.keys.clear();
    this.writes.clear();
  }

  expect(key: string, now = performance.now()): void {
    this.add(this.keys, key, now);
  }

  /** A create or replace about to be sent (same key form as the deletes). */
  expectWrite(key: string, now = performance.now()): void {
    this.add(this.writes, key, now);
  }

  /** True (and forgets the key) when `c` is a deletion or a write we made, still expected. */
  consume(c: NetlinkChange, now = performance.now()): boolean {
    const key = changeKey(c);
    if (key === undefined) return false;
    const from = c.deleted ? this.keys : this.writes;
    const until = from.get(key);
    if (until === undefined) return false;
    from.delete(key);
    return until >= now;
  }

  private add(into: Map<string, number>, key: string, now: number): void {
    into.delete(key); // re-inserted at the end, so the oldest stay first
    into.set(key, now + EXPECT_MS);
    if (now < this.nextPrune) return;
    this.nextPrune = now + EXPECT_MS;
    for (const m of [this.keys, this.writes]) {
      for (const [k, until] of m) {
        if (until >= now) break;
        m.delete(k);
      }
    }
  }
}

export function routeDeleteKey(dst: string | undefined, oif: number | undefined): string {
  return `route ${dst ?? 'default'} ${oif ?? 0}`;
}

export function neighDeleteKey(family: number, index: number, ip: string | undefined, mac: string | undefined): string {
  return family === AF_BRIDGE ? `fdb ${index} ${mac ?? ''} ${ip ?? ''}` : `neigh ${index} ${ip ?? ''}`;
}

export function linkDeleteKey(index: number): string {
  return `link ${index}`;
}

function changeKey(c: NetlinkChange): string | undefined {
  switch (c.kind) {
    case 'route':
      return routeDeleteKey(c.route.dst, c.route.oif);
    case 'neigh':
      return neighDeleteKey(c.neigh.family, c.neigh.index, c.neigh.ip, c.neigh.mac);
    case 'link':
      return linkDeleteKey(c.link.index);
    case 'addr':
      return undefined;
  }
}
