import { formatCidr } from '../../ip/ipv4.ts';
import type { WarnOnce } from '../../observe/warn-once.ts';
import type { Lease } from '../../subnet/lease.ts';

/** One line per peer a backend cannot program (bad backend data, bad public IP), once each. */
export function warnInvalidPeers(w: WarnOnce, invalid: readonly { readonly lease: Lease; readonly reason: string }[]): void {
  for (const { lease, reason } of invalid) {
    const subnet = formatCidr(lease.subnet);
    w.warn(`${subnet} ${reason}`, `cannot program peer ${lease.node ?? subnet} (${subnet}): ${reason}`);
  }
}
