import type { Logger } from '../observe/log.ts';
import { errorText } from '../util/errors.ts';
import type { LeaseEvent } from './lease.ts';

export type LeaseListener = (events: readonly LeaseEvent[]) => void;

/** The watchLeases callers of a subnet manager, each until its signal aborts. */
export class LeaseSubscribers {
  private readonly listeners = new Set<LeaseListener>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  add(listener: LeaseListener, signal: AbortSignal): void {
    this.listeners.add(listener);
    signal.addEventListener('abort', () => this.listeners.delete(listener), { once: true });
  }

  /** Hands a non-empty batch to every listener; a listener's bug must not kill the watch loop. */
  emit(events: readonly LeaseEvent[]): void {
    if (events.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch (e) {
        this.log.error({ err: errorText(e) }, 'lease event consumer threw');
      }
    }
  }
}
