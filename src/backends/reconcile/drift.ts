import type { DriftMonitor, OpenDriftMonitor } from '../context.ts';
import type { NetlinkChange } from '../../netlink/types.ts';
import { ExpectedDeletes } from './expected-deletes.ts';

/**
 * A backend's drift wiring: the netlink monitor that kicks a reconcile when something of ours
 * changed behind our back, and the deletions our own runs made, which must not kick one.
 */
export class DriftWatch {
  /** Deletions of our own runs (applyOps records them); the monitor skips their notifications. */
  readonly expected = new ExpectedDeletes();
  private readonly open: OpenDriftMonitor | undefined;
  private monitor: DriftMonitor | undefined;

  /** `open` undefined: the backend runs without a monitor (the periodic resync still repairs). */
  constructor(open: OpenDriftMonitor | undefined) {
    this.open = open;
  }

  /**
   * Opens the monitor (once): every notification `reasonOf` recognises as ours kicks with that
   * reason; an overflow (notifications lost) kicks too. Closes it when `signal` aborts.
   */
  start(reasonOf: (c: NetlinkChange) => string | undefined, kick: (why: string) => void, signal: AbortSignal): void {
    if (this.monitor !== undefined || this.open === undefined) return;
    this.monitor = this.open(
      (c) => {
        if (this.expected.consume(c)) return;
        const why = reasonOf(c);
        if (why !== undefined) kick(why);
      },
      () => kick('netlink monitor overflow'),
    );
    signal.addEventListener('abort', () => this.close(), { once: true });
  }

  close(): void {
    this.monitor?.close();
    this.monitor = undefined;
  }
}
