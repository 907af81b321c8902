import type { NetlinkChange } from '../../netlink/types.ts';
import { AF_BRIDGE } from '../../netlink/types.ts';

/**
 * Deletions a reconcile made itself, so the drift monitor does not answer our own cleanup
 * with another run. Each expected key is consumed by the first matching notification;
 * the set is cleared before every apply, so a missed notification cannot hide a later one
 * for long.
 */
export class ExpectedDeletes {
  private readonly keys = new Set<string>();

  clear(): void {
    this.keys.clear();
  }

  expect(key: string): void {
    this.keys.add(key);
  }

  /** True (and forgets the key) when `c` is a deletion we made. */
  consume(c: NetlinkChange): boolean {
    if (!c.deleted) return false;
    const key = changeKey(c);
    return key !== undefined && this.keys.delete(key);
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
