import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observe/log.ts';
import type { ProbeFn } from './icmp.ts';
import { ECHO_BYTES } from './path-mtu.ts';
import type { PeerTarget } from './targets.ts';

/*
 * Continuous peer health: every peer is sent an ICMP echo through the overlay once per
 * interval, spread evenly over the interval and never faster than `maxPerSecond` (retries
 * included), so 5000 peers once a minute are 84 small packets a second. A peer is unreachable
 * after `attempts` probes in a row went unanswered, and reachable again at the first answer.
 * Each change is logged once, naming the node. The counts (never per-peer labels, so 5000
 * peers add no series) go to the metrics; the list of unreachable peers to /debug/state.
 */

export interface PeerHealthOptions {
  /** One round per interval; each peer once per round. */
  readonly intervalMs: number;
  /** Upper bound on probes per second, retries included. */
  readonly maxPerSecond: number;
  readonly timeoutMs: number;
  /** Unanswered probes in a row before a peer counts as unreachable. */
  readonly attempts: number;
  readonly probe: ProbeFn;
  /** The peers to probe now; read at the start of every round. */
  readonly targets: () => readonly PeerTarget[];
  readonly log: Logger;
  /** Each answered probe's round-trip time, in seconds. */
  readonly onRtt?: (seconds: number) => void;
  /** Injectable for tests: waiting, the wall clock (ms since the epoch) and a monotonic clock (ms). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly now?: () => number;
  readonly clock?: () => number;
}

export interface PeerHealthStats {
  /** Peers in the last complete round. */
  readonly peersProbed: number;
  /** Peers unreachable now. */
  readonly unreachable: number;
  /** Probes sent, by result. */
  readonly probes: { readonly answered: number; readonly unanswered: number };
  /** State changes: to 'unreachable' and back to 'reachable'. */
  readonly transitions: { readonly unreachable: number; readonly reachable: number };
  readonly rounds: number;
}

export interface UnreachablePeer {
  readonly node: string;
  readonly subnet: string;
  readonly addr: string;
  /** Wall clock (ms since the epoch) of the round that found it unreachable. */
  readonly sinceMs: number;
  /** The last probe's failure, in ping's words. */
  readonly reason: string;
}

interface PeerState {
  target: PeerTarget;
  reachable: boolean | undefined;
  sinceMs: number;
  reason: string;
}

export class PeerHealth {
  private readonly opts: PeerHealthOptions;
  private readonly state = new Map<string, PeerState>();
  private readonly minGapMs: number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly clock: () => number;
  /** Serialises every send (first probes and retries) through the rate limit. */
  private gate: Promise<void> = Promise.resolve();
  private lastSend = -Infinity;
  private counts = { peersProbed: 0, answered: 0, unanswered: 0, toUnreachable: 0, toReachable: 0, rounds: 0 };

  constructor(opts: PeerHealthOptions) {
    if (!(opts.intervalMs > 0) || !(opts.maxPerSecond > 0) || !(opts.timeoutMs > 0) || !(opts.attempts >= 1)) {
      throw new RangeError(`peer health: intervalMs, maxPerSecond, timeoutMs must be > 0 and attempts ≥ 1, got ${JSON.stringify({ ...opts, probe: undefined, targets: undefined, log: undefined })}`);
    }
    this.opts = opts;
    this.minGapMs = 1000 / opts.maxPerSecond;
    this.sleep = opts.sleep ?? ((ms, signal) => sleep(ms, undefined, { signal, ref: false }).catch(() => undefined));
    this.now = opts.now ?? Date.now;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /**
   * Runs rounds until `signal` aborts. The first round starts after `firstDelayMs` (a random
   * part of the interval by default, so nodes restarted together do not probe in step).
   */
  async run(signal: AbortSignal, firstDelayMs = Math.random() * this.opts.intervalMs): Promise<void> {
    await this.sleep(firstDelayMs, signal);
    while (!signal.aborted) {
      const started = this.now();
      await this.round(signal);
      const left = this.opts.intervalMs - (this.now() - started);
      if (left > 0) await this.sleep(left, signal);
    }
  }

  /** One round: every target once (plus retries), spread over 80% of the interval. */
  async round(signal: AbortSignal): Promise<void> {
    const targets = this.opts.targets();
    const spread = targets.length === 0 ? 0 : (this.opts.intervalMs * 0.8) / targets.length;
    const start = this.clock();
    const checks: Promise<void>[] = [];
    for (let i = 0; i < targets.length && !signal.aborted; i++) {
      // The spread is waited outside the rate gate, so retries of earlier peers go in between.
      const due = start + i * spread - this.clock();
      if (due > 0) await this.sleep(due, signal);
      await this.slot(this.minGapMs, signal);
      checks.push(this.check(targets[i]!, signal));
    }
    await Promise.all(checks);
    if (signal.aborted) return;
    const live = new Set(targets.map((t) => t.subnet));
    // Peers that left the cluster are forgotten without a log line: that is not a change of health.
    for (const k of [...this.state.keys()]) if (!live.has(k)) this.state.delete(k);
    this.counts.peersProbed = targets.length;
    this.counts.rounds++;
  }

  stats(): PeerHealthStats {
    const c = this.counts;
    return {
      peersProbed: c.peersProbed,
      unreachable: this.unreachable().length,
      probes: { answered: c.answered, unanswered: c.unanswered },
      transitions: { unreachable: c.toUnreachable, reachable: c.toReachable },
      rounds: c.rounds,
    };
  }

  /** Peers unreachable now, by node name. */
  unreachable(): UnreachablePeer[] {
    const out: UnreachablePeer[] = [];
    for (const s of this.state.values()) {
      if (s.reachable === false) out.push({ node: s.target.node, subnet: s.target.subnet, addr: s.target.addr, sinceMs: s.sinceMs, reason: s.reason });
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  private async check(t: PeerTarget, signal: AbortSignal): Promise<void> {
    let reason = '';
    for (let i = 0; i < this.opts.attempts; i++) {
      if (i > 0) await this.slot(this.minGapMs, signal);
      if (signal.aborted) return;
      const r = await this.opts.probe(t.addr, ECHO_BYTES, this.opts.timeoutMs);
      if (r.ok) {
        this.counts.answered++;
        this.opts.onRtt?.(r.rttMs / 1000);
        this.mark(t, true, '');
        return;
      }
      this.counts.unanswered++;
      reason = r.detail;
    }
    if (!signal.aborted) this.mark(t, false, reason);
  }

  private mark(t: PeerTarget, reachable: boolean, reason: string): void {
    const s = this.state.get(t.subnet);
    const log = this.opts.log;
    const what = `peer ${t.node} (${t.subnet}, overlay address ${t.addr})`;
    if (s === undefined || s.reachable !== reachable) {
      const now = this.now();
      if (!reachable) {
        this.counts.toUnreachable++;
        log.warn({ peer: t.node, subnet: t.subnet, addr: t.addr }, `${what} is unreachable through the overlay: ${reason} (${this.opts.attempts} probes in a row)`);
      } else if (s?.reachable === false) {
        this.counts.toReachable++;
        log.info({ peer: t.node, subnet: t.subnet, addr: t.addr }, `${what} is reachable through the overlay again`);
      }
      this.state.set(t.subnet, { target: t, reachable, sinceMs: now, reason });
    } else {
      s.target = t;
      s.reason = reason;
    }
  }

  /** Waits until `gap` ms after the previous send; callers queue in order. */
  private slot(gap: number, signal: AbortSignal): Promise<void> {
    const next = this.gate.then(async () => {
      const wait = this.lastSend + gap - this.clock();
      if (wait > 0) await this.sleep(wait, signal);
      this.lastSend = this.clock();
    });
    this.gate = next;
    return next;
  }
}
