import type { PeerFailure, ReconcileReport } from '../backends/backend.ts';
import type { HealthState } from '../observe/health.ts';
import type { Logger } from '../observe/log.ts';
import type { ReadinessStats } from '../observe/metrics.ts';
import { isErrno } from '../util/errors.ts';

/** Why the daemon is not ready yet (null: ready); a function when the reason changes while waiting. */
export type Phase = string | null | (() => string);

/**
 * What /readyz says. Not ready while any of these stands, first one wins: a rejected net-conf.json
 * change (the daemon keeps running the previous config, and an operator should see why their
 * change did nothing), a failure of the node's own datapath (subnet.env not written), the phase
 * the daemon is in. Below the verdict the body lists what needs attention but holds nothing: the
 * notes (lost API contact, peers that cannot be programmed, net-conf.json problems upstream
 * accepts). All of it is read at each probe.
 *
 * What holds readiness and what does not: readiness gates a DaemonSet rollout (the next node
 * waits for this pod), so it waits only for what this node can fix by itself. A peer the kernel
 * refuses (its public IP not on-link for host-gw, a route or neighbour refused for that peer
 * alone) stays a peer problem however long it lasts; the API server being away does not touch
 * the datapath.
 */
export class Readiness {
  private readonly health: HealthState;
  private phase: Phase = 'starting';
  private configProblem: string | undefined;
  private readonly holds = new Map<string, string>();
  private readonly noteSources = new Map<string, () => readonly string[]>();

  constructor(health: HealthState) {
    this.health = health;
    health.setNotes(() => [...this.noteSources.values()].flatMap((f) => f()));
  }

  setPhase(phase: Phase): void {
    this.phase = phase;
    this.publish();
  }

  /** A rejected net-conf.json change, shown until a good one arrives; undefined clears it. */
  setConfigProblem(problem: string | undefined): void {
    this.configProblem = problem;
    this.publish();
  }

  /** A failure of the node's own datapath, by what failed ('subnet.env'); undefined clears it. */
  setHold(what: string, problem: string | undefined): void {
    if (problem === undefined) this.holds.delete(what);
    else this.holds.set(what, problem);
    this.publish();
  }

  /** Lines for /readyz's body that do not hold readiness; a second call with the same name replaces the first. */
  setNotes(name: string, notes: () => readonly string[]): void {
    this.noteSources.set(name, notes);
  }

  private publish(): void {
    this.health.setReady(() => {
      if (this.configProblem !== undefined) return this.configProblem;
      const hold = this.holds.values().next();
      if (hold.done !== true) return hold.value;
      return typeof this.phase === 'function' ? this.phase() : this.phase;
    });
  }
}

/**
 * Kernel answers that mean the node's own datapath is broken (its device vanished or went down,
 * no permission, no memory), whichever peer's object hit them first.
 */
const DATAPATH_ERRNOS: ReadonlySet<string> = new Set(['ENODEV', 'ENETDOWN', 'EPERM', 'EACCES', 'ENOMEM', 'ENOBUFS']);

/**
 * Failing runs in a row after which a peer's own failure stops holding readiness: the loop retries
 * after 1 s and 2 s, so a passing hiccup (a neighbour table briefly full) still counts, and a
 * peer that is refused for good frees the node about three seconds after its first try.
 */
export const PEER_FAILURE_GRACE_RUNS = 3;

/** The reconcile loop's readiness hook: whether this failure of a startup peer keeps the node unready. */
export function peerFailureHoldsReadiness(f: PeerFailure, failingRuns: number): boolean {
  return isDatapathFailure(f.error) || failingRuns < PEER_FAILURE_GRACE_RUNS;
}

function isDatapathFailure(e: Error): boolean {
  return isErrno(e) && DATAPATH_ERRNOS.has(e.code);
}

/** A metrics label and log word: the errno name for kernel errors, else the error class. */
function reasonOf(e: Error): string {
  return isErrno(e) ? e.code : e.name;
}

/** How many peers /readyz names; the rest are counted. */
const NOTES_SHOWN = 10;

/**
 * Peers the reconcile loop cannot program, from each run's report: logged once per peer and
 * reason (and once more when it works again), counted by reason for the metrics, and listed in
 * /readyz's body. host-gw peers that are not on-link are listed too (their backend logs them).
 */
export class PeerProblems {
  private readonly log: Logger;
  /** Whether a subnet is still a peer (a failure that ends because the peer left is no news). */
  private readonly isPeer: (subnet: string) => boolean;
  private failing = new Map<string, { readonly who: string; readonly reason: string; readonly message: string }>();
  private notOnLink: readonly string[] = [];

  constructor(log: Logger, isPeer: (subnet: string) => boolean) {
    this.log = log;
    this.isPeer = isPeer;
  }

  /** After every completed run. */
  observe(report: ReconcileReport): void {
    const now = new Map<string, { who: string; reason: string; message: string }>();
    for (const f of report.failed) {
      if (!this.isPeer(f.subnet)) continue; // a stale object being deleted: the loop's own log has it
      const reason = reasonOf(f.error);
      const entry = { who: f.node ?? f.subnet, reason, message: f.error.message };
      now.set(f.subnet, entry);
      if (this.failing.get(f.subnet)?.reason === reason) continue;
      const holds = isDatapathFailure(f.error) ? 'this node’s datapath is failing' : 'it does not hold readiness';
      this.log.warn(
        { node: entry.who, subnet: f.subnet, reason },
        `cannot program peer ${entry.who} (${f.subnet}): ${f.error.message}; retrying on every resync (${holds})`,
      );
    }
    for (const [subnet, was] of this.failing) {
      if (!now.has(subnet) && this.isPeer(subnet)) this.log.info({ node: was.who, subnet }, `peer ${was.who} (${subnet}) is programmed now`);
    }
    this.failing = now;
    this.notOnLink = report.notOnLink ?? [];
  }

  /** For /readyz's body. */
  notes(): string[] {
    const lines = [
      ...[...this.failing].map(([subnet, f]) => `peer ${f.who} (${subnet}) is not programmed: ${f.message}`),
      ...this.notOnLink.map((who) => `host-gw peer ${who} is not on-link: its public IP is not on a directly connected network, so no route to it exists`),
    ];
    if (lines.length <= NOTES_SHOWN) return lines;
    return [...lines.slice(0, NOTES_SHOWN), `… and ${lines.length - NOTES_SHOWN} more peers (see flannel_peers_unprogrammed and flannel_hostgw_peers_not_on_link)`];
  }

  /** Peers failing now, by reason. */
  byReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.failing.values()) out[f.reason] = (out[f.reason] ?? 0) + 1;
    return out;
  }
}

/** The readiness source of the metrics, from its parts. */
export function readinessStats(peers: PeerProblems | undefined, configWarnings: Readonly<Record<string, number>>): ReadinessStats {
  return { peersUnprogrammed: peers?.byReason() ?? {}, configWarnings };
}
