/**
 * Whether the daemon is in contact with the API server, and the few events about that contact an
 * operator must see: contact lost, contact restored (with how long it was gone), a watch whose
 * resourceVersion expired (410 Gone) and the relist after it (what changed meanwhile). Each is
 * logged once, counted for /metrics and, while contact is lost, shown in /readyz's body.
 *
 * Losing the API server does not touch the datapath: routes, neighbours and FDB entries stay as
 * programmed and pods keep talking; only changes to other nodes wait. So it never makes the node
 * unready, and silence is the only sign of a blackholed connection (no RST, no error for minutes),
 * hence the silence limit: a healthy watch receives an event or a bookmark at least about once a
 * minute (the API server's watch cache sends bookmarks at that rate to watches that allow them).
 *
 * Fed by the client (transport.ts: every chunk of bytes from the server, every request that got no
 * response) and the node reflector (410, relist); cheap on the hot path: received() is a clock read
 * and a comparison.
 */
import type { Logger } from '../../observe/log.ts';
import type { KubeApiStats } from '../../observe/metrics.ts';

/** A bit over the API server's bookmark interval (one minute), so one late bookmark is no outage. */
export const DEFAULT_API_SILENCE_MS = 75_000;

/** Overrides the silence limit, in seconds (tests and labs use a few seconds). */
export const API_SILENCE_ENV = 'FLANNEL_API_SILENCE_SECONDS';

/** Requests without any response in a row that count as lost contact (one refused connect may be a blip). */
const FAILED_REQUESTS_FOR_LOSS = 2;

/** The silence limit from the environment; a bad value is an error for the operator. */
export function apiSilenceMs(env: NodeJS.ProcessEnv): number {
  const text = env[API_SILENCE_ENV];
  if (text === undefined || text === '') return DEFAULT_API_SILENCE_MS;
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`${API_SILENCE_ENV}=${JSON.stringify(text)}: expected a number of seconds above 0`);
  return Math.round(s * 1000);
}

/** What a relist found against the peers known before it. */
export interface RelistCounts {
  /** Nodes in the fresh list. */
  readonly nodes: number;
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
}

export interface ApiContactOptions {
  /** The API server URL, for messages; '' until known. */
  readonly server?: string;
  readonly log: Logger;
  readonly silenceMs?: number;
  /** Wall clock in ms (injectable for tests). */
  readonly now?: () => number;
}

type State = 'waiting' | 'ok' | 'lost';

export class ApiContact {
  readonly silenceMs: number;
  /** The API server URL, for messages (set once the client has read the kubeconfig). */
  server: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly startedMs: number;
  private state: State = 'waiting';
  private lastContactMs = 0;
  private failuresInARow = 0;
  /** Why contact was lost and since when there was none, while it is. */
  private lost: { readonly why: string; readonly sinceMs: number } | undefined;
  private losses = 0;
  private lastOutageMs = 0;
  private expiredCount = 0;
  private pendingRelistReason: string | undefined;
  private readonly relistChanges = { added: 0, removed: 0, changed: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: ApiContactOptions) {
    this.server = opts.server ?? '';
    this.log = opts.log;
    this.silenceMs = opts.silenceMs ?? DEFAULT_API_SILENCE_MS;
    this.now = opts.now ?? Date.now;
    this.startedMs = this.now();
  }

  /** Watches for silence until `signal` aborts. */
  start(signal: AbortSignal): void {
    if (this.timer !== undefined || signal.aborted) return;
    // Checked a few times per limit: the loss is logged at most a fifth of the limit late.
    this.timer = setInterval(() => this.checkSilence(), Math.max(100, Math.min(5000, this.silenceMs / 5)));
    this.timer.unref();
    signal.addEventListener('abort', () => clearInterval(this.timer), { once: true });
  }

  /** Bytes arrived from the API server (response headers, a body chunk, a watch event or bookmark). */
  received(): void {
    this.lastContactMs = this.now();
    this.failuresInARow = 0;
    if (this.state !== 'ok') this.restore();
  }

  /** A request ended without any response (refused, reset, timed out, TLS failure). */
  requestFailed(error: string): void {
    this.failuresInARow++;
    if (this.state !== 'lost' && this.failuresInARow >= FAILED_REQUESTS_FOR_LOSS) this.lose(`requests fail without an answer: ${error}`);
  }

  /** Looks for silence beyond the limit; the timer calls it, tests may too. */
  checkSilence(): void {
    if (this.state === 'lost') return;
    const since = this.lastContactMs || this.startedMs;
    const silent = this.now() - since;
    if (silent < this.silenceMs) return;
    this.lose(
      this.state === 'waiting'
        ? `no answer since start ${seconds(silent)} ago`
        : `nothing received for ${seconds(silent)} (no event, no bookmark; limit ${seconds(this.silenceMs)})`,
    );
  }

  /** The node watch's resourceVersion is too old for the server (410 Gone); a relist follows. */
  expired(resourceVersion: string): void {
    this.expiredCount++;
    this.pendingRelistReason = '410 Gone';
    this.log.info({ resourceVersion }, 'node watch expired (410 Gone); relisting');
  }

  /** A list after the first one replaced the cache; `c` is what it changed among the peers. */
  relisted(c: RelistCounts): void {
    this.relistChanges.added += c.added;
    this.relistChanges.removed += c.removed;
    this.relistChanges.changed += c.changed;
    const after = this.pendingRelistReason ?? 'a failed watch';
    this.pendingRelistReason = undefined;
    this.log.info(
      { nodes: c.nodes, added: c.added, removed: c.removed, changed: c.changed },
      `relisted ${c.nodes} nodes after ${after}: ${c.added} added, ${c.removed} removed, ${c.changed} changed among the peers`,
    );
  }

  /** True while the loss is reported: retries need not log each failure again. */
  get isLost(): boolean {
    return this.state === 'lost';
  }

  get stats(): KubeApiStats {
    return {
      inContact: this.state === 'ok',
      lastContactMs: this.lastContactMs,
      losses: this.losses,
      lastOutageMs: this.lastOutageMs,
      expired: this.expiredCount,
      relistChanges: { ...this.relistChanges },
    };
  }

  /** For /readyz's body while contact is lost; undefined otherwise. */
  note(): string | undefined {
    if (this.lost === undefined) return undefined;
    const last = this.lastContactMs === 0 ? 'never reached since start' : `last contact ${seconds(this.now() - this.lastContactMs)} ago`;
    return `lost contact with the API server ${this.server} (${last}; ${this.lost.why}); routes stay as programmed, changes to other nodes wait until it is back`;
  }

  private lose(why: string): void {
    this.state = 'lost';
    this.losses++;
    this.lost = { why, sinceMs: this.lastContactMs || this.startedMs };
    this.log.warn(
      { server: this.server, ...(this.lastContactMs > 0 ? { lastContact: new Date(this.lastContactMs).toISOString() } : {}) },
      `Lost contact with the API server ${this.server}: ${why}; routes stay as programmed, changes to other nodes wait until it is back`,
    );
  }

  private restore(): void {
    const was = this.state;
    this.state = 'ok';
    const lost = this.lost;
    this.lost = undefined;
    if (was !== 'lost' || lost === undefined) return; // the first contact is not news
    const outage = this.lastContactMs - lost.sinceMs;
    this.lastOutageMs = outage;
    this.log.info({ server: this.server, outageSeconds: Math.round(outage / 100) / 10 }, `Contact with the API server ${this.server} restored after ${seconds(outage)} without contact`);
  }
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}
