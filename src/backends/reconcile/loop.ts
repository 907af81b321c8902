import type { Logger } from '../../observe/log.ts';
import type { ReconcileStats } from '../../observe/metrics.ts';
import type { Backend, Desired, PeerFailure, ReconcileReport } from '../backend.ts';
import { errorText, isErrno } from '../../util/errors.ts';
import { backoffDelay } from '../../util/retry.ts';

export interface ReconcileLoopOptions {
  readonly backend: Pick<Backend, 'reconcile'>;
  /**
   * The desired state, read when a run starts (level, not edge); undefined = not yet known.
   * `full` is false when only lease events asked for the run: the state may then name the peers
   * that changed (Desired.changed), so the backend can work on those alone.
   */
  readonly desired: (run: { readonly full: boolean }) => Desired | undefined;
  readonly log?: Logger;
  /**
   * Full resync period even when nothing kicks, drawn anew each time from [resyncMs,
   * resyncMs·(1 + resyncJitter)).
   */
  readonly resyncMs?: number;
  /** Default 0.5. */
  readonly resyncJitter?: number;
  /** How long a run asked for by lease events alone waits for more of them (default COALESCE_MS). */
  readonly coalesceMs?: number;
  /** Backoff for runs with failed peers: base, doubling up to max, at most maxAttempts in a row. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly retryMaxAttempts?: number;
  /** While the last run reported peers not on-link, a full run after this long (default NOT_ON_LINK_RECHECK_MS). */
  readonly notOnLinkRecheckMs?: number;
  /** Called after every completed run (metrics: duration histogram, health heartbeat). */
  readonly onReport?: (r: ReconcileReport) => void;
  /**
   * Whether a startup peer's failure keeps `settled` unresolved; `failingRuns` counts this run
   * and the failing runs right before it. Default: every failure does.
   */
  readonly holdsReadiness?: (f: PeerFailure, failingRuns: number) => boolean;
}

/**
 * The full resync is a backstop: lease events program their peers, and the netlink monitor wakes
 * the loop within a second of a change to anything it owns. It covers what neither sees (an
 * underlay route change that moves a DirectRouting peer on- or off-link, a notification lost
 * without an overflow). At 10,000 peers one costs ~0.2 s of CPU (three kernel dumps per
 * family), so every few minutes, not every 10 s as upstream's host-gw check.
 */
const RESYNC_MS = 5 * 60_000;
const RESYNC_JITTER = 0.5;
/**
 * Nodes joining or leaving come as one watch event each, often tens a second (a scale-up, a
 * rolling replacement); a run per event pays the run's fixed cost every time. Waiting this long
 * after a lease event gathers them into one batch; a new node's route is 50 ms later at worst.
 */
const COALESCE_MS = 50;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** After this many failing runs in a row only the resync timer retries (kindnet drops after 15). */
const RETRY_MAX_ATTEMPTS = 8;
/**
 * While a host-gw peer is not on-link, a full run every this often looks again (upstream's host-gw
 * check period): the peer becomes reachable when the underlay changes in ways the monitor does
 * not report as ours (a route added on another interface, a peer moved). No backoff: this is a
 * topology fact, not a transient failure, and the run costs only while such a peer exists.
 */
const NOT_ON_LINK_RECHECK_MS = 10_000;

/**
 * Runs `backend.reconcile` whenever something kicks it — lease events, netlink drift notices,
 * the resync timer, retries — and never two at once: kicks that arrive during a run coalesce
 * into exactly one more run, which reads the desired state afresh. A run is full unless every
 * kick since the last one was a `peers` kick (lease events) and no peer is failing: those let the
 * backend work on the changed peers alone.
 */
export class ReconcileLoop {
  private readonly opts: ReconcileLoopOptions;
  private running = false;
  private again = false;
  /** A full run is owed: the first run, and any kick but a `peers` one, asks for one. */
  private fullPending = true;
  private runStartedMs = 0;
  private started = false;
  private stopped = false;
  private signal: AbortSignal = new AbortController().signal;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private onLinkTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private lastWhy: string[] = [];

  // Readiness: every peer of the first desired state (the complete lease list) is programmed.
  private startupPeers: ReadonlySet<string> | undefined;
  private startupGeneration = -1;
  private resolveSettled: () => void = () => {};
  /**
   * Resolves once a run covered every peer of the first desired state without failing any of
   * them, failures that do not hold readiness (`holdsReadiness`) aside.
   */
  readonly settled: Promise<void>;

  private runs = 0;
  private readonly errors: Record<string, number> = {};
  private readonly driftRepairs: Record<string, number> = {};
  private kernelEntries: Readonly<Record<string, number>> = {};
  private peersNotOnLink = 0;
  private lastSuccessMs = 0;
  private lastDurationMs = 0;
  private lastCleanGeneration = -1;
  private lastReport: ReconcileReport | undefined;
  /** The failures of the last run, as text: a peer that keeps failing is not warned about at every retry. */
  private lastFailedKey = '';

  constructor(opts: ReconcileLoopOptions) {
    this.opts = opts;
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  /** Begins running: one run now, then on kicks and every resync period, until `signal` aborts. */
  start(signal: AbortSignal): void {
    if (this.started) return;
    this.started = true;
    this.signal = signal;
    this.scheduleResync();
    signal.addEventListener('abort', () => this.stop(), { once: true });
    this.kick('start');
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    const base = this.opts.resyncMs ?? RESYNC_MS;
    const ms = base * (1 + Math.random() * (this.opts.resyncJitter ?? RESYNC_JITTER));
    this.resyncTimer = setTimeout(() => {
      this.kick('resync');
      this.scheduleResync();
    }, ms);
    this.resyncTimer.unref();
  }

  /**
   * Asks for a run. Cheap and safe from any callback; bursts become one run. `peers`: only
   * lease events changed (the run may cover the changed peers alone); `full` (the default):
   * anything else, such as drift, a retry or the resync.
   */
  kick(why: string, scope: 'full' | 'peers' = 'full'): void {
    if (this.stopped) return;
    if (scope === 'full') this.fullPending = true;
    if (this.lastWhy.length < 8) this.lastWhy.push(why);
    if (!this.started) return; // start() runs once anyway
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.runStartedMs = performance.now();
    // A synchronous burst of kicks (a list of 5000 lease events) becomes one run; lease events
    // also wait a moment for the next ones. Drift, retries and the resync run at once.
    const wait = scope === 'peers' ? (this.opts.coalesceMs ?? COALESCE_MS) : 0;
    if (wait > 0) setTimeout(() => void this.drain(), wait).unref();
    else setImmediate(() => void this.drain());
  }

  /** Resolves when no run is in progress or queued (tests and benchmarks). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get report(): ReconcileReport | undefined {
    return this.lastReport;
  }

  /** How long the run in progress has taken so far; 0 when none is (liveness: a run that never ends is stuck). */
  busyForMs(now = performance.now()): number {
    return this.running ? now - this.runStartedMs : 0;
  }

  /**
   * For the metrics layer (ReconcileStats) plus the last run's duration. While the loop is idle
   * after a clean run, the kernel is known to match (any change to it or to the leases would
   * have woken the loop), so lastSuccessMs is now: runs are rare on a quiet node, and an alert
   * on the age of the last success must not fire for that.
   */
  stats(): ReconcileStats & { readonly lastDurationMs: number; readonly failingAttempts: number } {
    const converged = !this.running && this.attempts === 0 && this.lastSuccessMs > 0;
    return {
      runs: this.runs,
      errors: { ...this.errors },
      driftRepairs: { ...this.driftRepairs },
      kernelEntries: this.kernelEntries,
      peersNotOnLink: this.peersNotOnLink,
      lastSuccessMs: converged ? Date.now() : this.lastSuccessMs,
      lastDurationMs: this.lastDurationMs,
      failingAttempts: this.attempts,
    };
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.resyncTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.onLinkTimer);
  }

  private async drain(): Promise<void> {
    try {
      do {
        this.again = false;
        // While peers fail, every run is full: its report then says which still fail (readiness,
        // the warnings and the backoff read it as the whole truth).
        const full = this.fullPending || this.attempts > 0;
        this.fullPending = false;
        this.runStartedMs = performance.now();
        const desired = this.opts.desired({ full });
        if (desired === undefined || this.stopped) {
          this.fullPending ||= full;
          break; // no own lease or no peer list yet
        }
        if (this.startupGeneration < 0) {
          this.startupPeers = new Set(desired.peers.keys());
          this.startupGeneration = desired.generation;
        }
        const why = this.lastWhy.join(',');
        this.lastWhy = [];
        this.opts.log?.debug({ why, generation: desired.generation, peers: desired.changed?.size ?? 'all' }, 'reconcile run');
        await this.runOnce(desired);
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async runOnce(desired: Desired): Promise<void> {
    const t0 = performance.now();
    this.runs++;
    let report: ReconcileReport;
    try {
      report = await this.opts.backend.reconcile(desired, this.signal);
    } catch (e) {
      this.lastDurationMs = performance.now() - t0;
      this.count(reasonOf(e));
      this.opts.log?.error({ err: e }, `reconcile failed: ${errorText(e)}`);
      this.scheduleRetry();
      return;
    }
    this.lastDurationMs = report.ms;
    this.lastReport = report;
    this.kernelEntries = report.owned ?? this.kernelEntries;
    this.peersNotOnLink = report.notOnLink?.length ?? 0;
    this.scheduleOnLinkRecheck();
    const clean = report.failed.length === 0;
    // A change made while the desired state stood still, after a clean run, is a repair of drift.
    if (report.generation === this.lastCleanGeneration) {
      for (const [type, n] of Object.entries(report.changedByType ?? {})) this.driftRepairs[type] = (this.driftRepairs[type] ?? 0) + n;
    }
    for (const f of report.failed) this.count(reasonOf(f.error));
    if (clean) {
      this.attempts = 0;
      this.lastSuccessMs = Date.now();
      this.lastCleanGeneration = report.generation;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    } else {
      const fields = { failed: report.failed.length, first: report.failed.slice(0, 3).map((f) => `${f.node ?? f.subnet}: ${f.error.message}`) };
      if (failedKey(report) !== this.lastFailedKey) this.opts.log?.warn(fields, 'reconcile left peers unprogrammed; retrying with backoff');
      else this.opts.log?.debug(fields, 'reconcile left the same peers unprogrammed');
      this.scheduleRetry();
    }
    this.lastFailedKey = clean ? '' : failedKey(report);
    this.checkSettled(report);
    this.opts.onReport?.(report);
  }

  private checkSettled(report: ReconcileReport): void {
    const startup = this.startupPeers;
    if (startup === undefined || report.generation < this.startupGeneration) return;
    const holds = this.opts.holdsReadiness ?? (() => true);
    if (report.failed.some((f) => startup.has(f.subnet) && holds(f, this.attempts))) return;
    this.startupPeers = undefined;
    this.resolveSettled();
  }

  private scheduleRetry(): void {
    this.attempts++;
    const max = this.opts.retryMaxAttempts ?? RETRY_MAX_ATTEMPTS;
    if (this.attempts > max) {
      if (this.attempts === max + 1) this.opts.log?.warn(`reconcile failed ${max} times in a row; retrying only on the periodic resync`);
      return;
    }
    if (this.retryTimer !== undefined || this.stopped) return;
    const base = this.opts.retryBaseMs ?? RETRY_BASE_MS;
    const delay = backoffDelay(this.attempts, { initialMs: base, maxMs: this.opts.retryMaxMs ?? RETRY_MAX_MS });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick('retry');
    }, delay);
    this.retryTimer.unref();
  }

  private scheduleOnLinkRecheck(): void {
    if (this.peersNotOnLink === 0) {
      clearTimeout(this.onLinkTimer);
      this.onLinkTimer = undefined;
      return;
    }
    if (this.onLinkTimer !== undefined || this.stopped) return;
    this.onLinkTimer = setTimeout(() => {
      this.onLinkTimer = undefined;
      this.kick('peers not on-link: looking again');
    }, this.opts.notOnLinkRecheckMs ?? NOT_ON_LINK_RECHECK_MS);
    this.onLinkTimer.unref();
  }

  private count(reason: string): void {
    this.errors[reason] = (this.errors[reason] ?? 0) + 1;
  }
}

function failedKey(report: ReconcileReport): string {
  return report.failed.map((f) => `${f.subnet} ${reasonOf(f.error)}`).sort().join(',');
}

/** A metrics label: the errno name for kernel errors, else the error class. */
function reasonOf(e: unknown): string {
  if (isErrno(e)) return e.code;
  return e instanceof Error ? e.name : 'unknown';
}
