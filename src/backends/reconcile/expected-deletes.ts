import type { NetlinkChange } from '../../netlink/types.ts';
import { AF_BRIDGE } from '../../netlink/types.ts';

/**
 * Deletions and writes a reconcile made itself, so the drift monitor does not answer our own
 * changes with another run. Each expected key is consumed by the first matching notification;
 * the sets are cleared before every apply, so a missed notification cannot hide a later one
 * for long.
 */
export class ExpectedDeletes {
  private readonly keys = new Set<string>();
  private readonly writes = new Set<string>();

  clear(): void {
    this.keys.clear();
    this.writes.clear();
  }

  expect(key: string): void {
    this.keys.add(key);
  }

  /** A create or replace about to be sent (same key form as the deletes). */
  expectWrite(key: string): void {
    this.writes.add(key);
  }

  /** True (and forgets the key) when `c` is a deletion or a write we made. */
  consume(c: NetlinkChange): boolean {
    const key = changeKey(c);
    if (key === undefined) return false;
    return c.deleted ? this.keys.delete(key) : this.writes.delete(key);
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
