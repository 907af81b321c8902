/*
 * What /healthz and /readyz report. Upstream's server (mustRunHealthz in main.go) answers 200 on
 * /healthz always and on /readyz once subnet.env exists, before any route does. Here:
 *  - liveness fails when a loop the daemon watches (reconcile, API watch) has not reported
 *    progress for longer than its limit, and says which loop and for how long, so the
 *    kubelet restarts a wedged daemon instead of leaving a node without routes;
 *  - readiness is whatever the daemon last said: not ready with a reason until it reports
 *    none (after subnet.env is written and every peer known at startup is programmed), and
 *    again whenever it has a new reason (an invalid net-conf.json). Below the verdict, one
 *    `warning: …` line per note: what an operator should see that does not hold readiness.
 */

export const LIVE_BODY = 'flanneld is running';
export const READY_BODY = 'flanneld is ready';

export interface Verdict {
  readonly ok: boolean;
  /** The response body: upstream's fixed text when ok, the reason otherwise. */
  readonly body: string;
}

interface Watchdog {
  readonly maxStallMs: number;
  lastBeatMs: number;
}

export interface HealthOptions {
  /** The clock, in ms; injectable so tests need no waiting. */
  readonly now?: () => number;
  /** The reason reported before the daemon first calls setReady. */
  readonly initialReason?: string;
}

export class HealthState {
  readonly #now: () => number;
  readonly #watchdogs = new Map<string, Watchdog>();
  #notReady: string | null | (() => string | null);
  #notes: () => readonly string[] = () => [];
  #note: () => string | undefined = () => undefined;

  constructor(opts: HealthOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#notReady = opts.initialReason ?? 'starting';
  }

  /**
   * null: ready. A string: not ready, and why (`waiting for podCIDR on node "x"`). A function is
   * asked at each probe, for reasons that change while a step waits.
   */
  setReady(reason: string | null | (() => string | null)): void {
    this.#notReady = reason;
  }

  /**
   * Lines shown below the verdict in /readyz's body, ready or not: what needs an operator's
   * attention without making the node unready (asked at each probe).
   */
  setNotes(notes: () => readonly string[]): void {
    this.#notes = notes;
  }

  /**
   * While ready, something worth seeing that does not make the node unready (a backend
   * migration in progress): appended to the 200 body as `flanneld is ready; <note>`.
   */
  setNote(note: () => string | undefined): void {
    this.#note = note;
  }

  /**
   * Watch a loop: liveness fails when `heartbeat(name)` has not been called for more than
   * `maxStallMs`. The clock starts now, so a loop that never beats counts as stuck too.
   * Calling it again for the same name changes the limit and restarts the clock.
   */
  watchdog(name: string, maxStallMs: number): void {
    if (!(maxStallMs > 0)) throw new RangeError(`watchdog ${JSON.stringify(name)}: maxStallMs must be > 0, got ${maxStallMs}`);
    this.#watchdogs.set(name, { maxStallMs, lastBeatMs: this.#now() });
  }

  /** Stop watching a loop (it was shut down on purpose, e.g. the old backend during a switch). */
  unwatch(name: string): void {
    this.#watchdogs.delete(name);
  }

  /** The loop made progress. Cheap: one Map lookup; unknown names are ignored. */
  heartbeat(name: string): void {
    const w = this.#watchdogs.get(name);
    if (w !== undefined) w.lastBeatMs = this.#now();
  }

  liveness(): Verdict {
    const now = this.#now();
    const stuck: string[] = [];
    for (const [name, w] of this.#watchdogs) {
      const stalled = now - w.lastBeatMs;
      if (stalled > w.maxStallMs) {
        stuck.push(`${name} made no progress for ${seconds(stalled)} (limit ${seconds(w.maxStallMs)})`);
      }
    }
    return stuck.length === 0 ? { ok: true, body: LIVE_BODY } : { ok: false, body: `flanneld is stuck: ${stuck.join('; ')}` };
  }

  readiness(): Verdict {
    const reason = typeof this.#notReady === 'function' ? this.#notReady() : this.#notReady;
    const notes = this.#notes().map((n) => `\nwarning: ${n}`).join('');
    if (reason !== null) return { ok: false, body: `not ready: ${reason}${notes}` };
    const note = this.#note();
    return { ok: true, body: (note === undefined ? READY_BODY : `${READY_BODY}; ${note}`) + notes };
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
