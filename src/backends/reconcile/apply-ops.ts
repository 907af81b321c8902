import type { KernelError } from '../../netlink/errors.ts';
import type { NetlinkBatch, NetlinkHandle } from '../../netlink/types.ts';
import type { PeerFailure } from '../backend.ts';
import type { Logger } from '../../observe/log.ts';
import type { ExpectedDeletes } from './expected-deletes.ts';
import { logAppliedOp } from './log-ops.ts';

export type OpAction = 'create' | 'replace' | 'delete';

/** One kernel change of a reconcile, tagged for counting and for per-peer failure reports. */
export interface PlannedOp {
  readonly action: OpAction;
  /** 'route', 'neigh', 'fdb'. */
  readonly type: string;
  /** The peer this object serves; undefined for a stale object being deleted. */
  readonly subnet: string | undefined;
  readonly node: string | undefined;
  readonly queue: (b: NetlinkBatch) => void;
  /** Deletes: the key the drift monitor will see for it (ExpectedDeletes). */
  readonly deleteKey?: string;
  /** Creates and replaces: the key of the object written, so its notification is not taken for drift. */
  readonly writeKey?: string;
  /** The kernel object it sets or deletes, for a backend that keeps an index of what it owns (OwnedIndex). */
  readonly obj?: unknown;
}

export interface AppliedOps {
  readonly created: number;
  readonly replaced: number;
  readonly deleted: number;
  readonly changedByType: Record<string, number>;
  readonly failed: PeerFailure[];
  /** Per op, in order: null or the error. */
  readonly results: readonly (KernelError | null)[];
}

/**
 * Sends every op in one batch (the netlink layer splits it into as few sendmsg calls as the
 * socket buffers allow) and tallies the acks. Deleting what is already gone counts as done.
 * With `expected`, the run's deletes and writes are expected, so the drift monitor does not
 * answer them with another run. With `log`, each change made is logged (log-ops.ts).
 */
export async function applyOps(nl: NetlinkHandle, ops: readonly PlannedOp[], opts: { readonly expected?: ExpectedDeletes; readonly log?: Logger } = {}): Promise<AppliedOps> {
  const { expected, log } = opts;
  if (expected !== undefined) {
    for (const op of ops) {
      if (op.deleteKey !== undefined) expected.expect(op.deleteKey);
      if (op.writeKey !== undefined) expected.expectWrite(op.writeKey);
    }
  }
  const out = { created: 0, replaced: 0, deleted: 0, changedByType: {} as Record<string, number>, failed: [] as PeerFailure[], results: [] as (KernelError | null)[] };
  if (ops.length === 0) return out;
  const b = nl.batch();
  for (const op of ops) op.queue(b);
  const results = await b.run();
  out.results = results;
  const failedSubnets = new Set<string>();
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const err = results[i] ?? null;
    if (err !== null && !opSucceeded(op, err)) {
      const subnet = op.subnet ?? `stale ${op.type}`;
      // One failure per peer is enough for the report; the log line names the object.
      if (op.subnet === undefined || !failedSubnets.has(subnet)) {
        failedSubnets.add(subnet);
        out.failed.push(op.node === undefined ? { subnet, error: err } : { subnet, node: op.node, error: err });
      }
      continue;
    }
    if (log !== undefined) logAppliedOp(log, op);
    if (op.action === 'create') out.created++;
    else if (op.action === 'replace') out.replaced++;
    else out.deleted++;
    if (op.action !== 'delete') out.changedByType[op.type] = (out.changedByType[op.type] ?? 0) + 1;
  }
  return out;
}

/** Ops whose results go to one owned index (a device's, a family's). */
export interface OpGroup {
  readonly ops: readonly PlannedOp[];
  readonly index: { record(ops: readonly PlannedOp[], results: readonly (KernelError | null)[]): void };
}

/** applyOps for several groups in one batch; each group's results are recorded in its own index. */
export async function applyGroups(nl: NetlinkHandle, groups: readonly OpGroup[], opts: { readonly expected?: ExpectedDeletes; readonly log?: Logger } = {}): Promise<AppliedOps> {
  const applied = await applyOps(nl, groups.flatMap((g) => g.ops), opts);
  let at = 0;
  for (const g of groups) {
    g.index.record(g.ops, applied.results.slice(at, at + g.ops.length));
    at += g.ops.length;
  }
  return applied;
}

/** Whether an op of a batch took effect (a delete of what was already gone did). */
export function opSucceeded(op: PlannedOp, err: KernelError | null | undefined): boolean {
  return err === null || err === undefined || (op.action === 'delete' && (err.code === 'ENOENT' || err.code === 'ESRCH'));
}
