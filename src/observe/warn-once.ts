import type { Logger } from './log.ts';

/**
 * Logs each distinct problem once, by key: a problem that persists (a peer that stays broken,
 * a node that still has no podCIDR) is not logged again at every resync or retry.
 */
export class WarnOnce {
  private readonly seen = new Set<string>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  warn(key: string, message: string, fields?: object): void {
    if (!this.first(key)) return;
    if (fields === undefined) this.log.warn(message);
    else this.log.warn(fields, message);
  }

  error(key: string, message: string, fields?: object): void {
    if (!this.first(key)) return;
    if (fields === undefined) this.log.error(message);
    else this.log.error(fields, message);
  }

  private first(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}
