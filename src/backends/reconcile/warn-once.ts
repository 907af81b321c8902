import { formatCidr } from '../../ip/ipv4.ts';
import type { Logger } from '../../observe/log.ts';
import type { Lease } from '../../subnet/lease.ts';

/** Logs each distinct problem once (a peer that stays broken is not re-logged every resync). */
export class WarnOnce {
  private readonly seen = new Set<string>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  warn(key: string, message: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.log.warn(message);
  }
}

/** One line per peer a backend cannot program (bad backend data, bad public IP), once each. */
export function warnInvalidPeers(w: WarnOnce, invalid: readonly { readonly lease: Lease; readonly reason: string }[]): void {
  for (const { lease, reason } of invalid) {
    const subnet = formatCidr(lease.subnet);
    w.warn(`${subnet} ${reason}`, `cannot program peer ${lease.node ?? subnet} (${subnet}): ${reason}`);
  }
}
