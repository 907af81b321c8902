import { BACKEND_TYPES, type BackendType } from './partition.ts';

/**
 * Why a backend runs on this node:
 * - `advertised`: net-conf.json configures it; the node's annotations say it (once published);
 * - `peers`: peers advertise it, so this node sends with it (and a peer running upstream
 *   flanneld with it keeps sending with it to every node it once knew as such);
 * - `draining`: this node advertised it before; peers that have not seen the new annotation
 *   may still send with it, until the grace period is over.
 */
export type Role = 'advertised' | 'peers' | 'draining';

export interface LifecycleInput {
  readonly configured: BackendType;
  /** Peers per advertised backend. */
  readonly peers: ReadonlyMap<BackendType, number>;
  /** The node's previous backends: when their grace period ends (ms), undefined while it has not started. */
  readonly draining: ReadonlyMap<BackendType, number | undefined>;
  readonly now: number;
}

/** The backends the node must run now, each with its roles, in BACKEND_TYPES order. */
export function wantedBackends(i: LifecycleInput): Map<BackendType, Role[]> {
  const out = new Map<BackendType, Role[]>();
  for (const t of BACKEND_TYPES) {
    const roles: Role[] = [];
    if (t === i.configured) roles.push('advertised');
    if ((i.peers.get(t) ?? 0) > 0) roles.push('peers');
    if (t !== i.configured && i.draining.has(t) && isDraining(i.draining.get(t), i.now)) roles.push('draining');
    if (roles.length > 0) out.set(t, roles);
  }
  return out;
}

function isDraining(deadline: number | undefined, now: number): boolean {
  return deadline === undefined || now < deadline;
}

/** Draining backends whose grace period is over (or that are configured again): drop them from the set. */
export function expiredDrains(i: LifecycleInput): BackendType[] {
  return [...i.draining].filter(([t, d]) => t === i.configured || !isDraining(d, i.now)).map(([t]) => t);
}

/** The next of these moments after `now` (a run must come then), or undefined. */
export function nextDeadline(deadlines: Iterable<number | undefined>, now: number): number | undefined {
  let next: number | undefined;
  for (const d of deadlines) if (d !== undefined && d > now && (next === undefined || d < next)) next = d;
  return next;
}

/**
 * host-gw receives through the kernel's forwarding of what arrives on the external interface:
 * there is nothing to keep up for peers that still route to this node directly.
 */
export function drainsOnSwitch(type: BackendType): boolean {
  return type !== 'host-gw';
}
