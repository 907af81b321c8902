import type { Logger } from '../../observe/log.ts';
import { WarnOnce } from '../../observe/warn-once.ts';
import { leaseSubnets, type Lease } from '../../subnet/lease.ts';

/** The peers a backend's plan leaves out. */
export interface SkippedPeers {
  /** Peers running another backend: skipped, as upstream does. */
  readonly otherBackend: readonly Lease[];
  /** Peers this backend cannot program (bad backend data, bad public IP), with the reason. */
  readonly invalid: readonly { readonly lease: Lease; readonly reason: string }[];
}

/**
 * One log line per skipped peer, once each. Upstream words the "other backend" line
 * differently per backend (operators grep for it), so the backend supplies that text.
 */
export class SkippedPeerLog {
  private readonly once: WarnOnce;
  private readonly otherBackend: (l: Lease) => string;

  constructor(log: Logger, otherBackend: (l: Lease) => string) {
    this.once = new WarnOnce(log);
    this.otherBackend = otherBackend;
  }

  log(skipped: SkippedPeers): void {
    for (const l of skipped.otherBackend) this.once.warn(`${leaseSubnets(l)} ${l.attrs.backendType}`, this.otherBackend(l));
    for (const { lease, reason } of skipped.invalid) {
      const subnet = leaseSubnets(lease);
      this.once.warn(`${subnet} ${reason}`, `cannot program peer ${lease.node ?? subnet} (${subnet}): ${reason}`);
    }
  }
}
