import type { Discrepancy } from './desired.ts';
import type { IptablesChainSpec } from './iptables-rules.ts';
import type { SavedTable } from './iptables-save.ts';

/** Lines for one table of an iptables-restore payload (without `*table` and `COMMIT`). */
export interface TableChange {
  readonly table: string;
  readonly lines: readonly string[];
}

export interface ChainPlan {
  readonly discrepancies: readonly Discrepancy[];
  readonly change: TableChange;
}

function jumpsTo(body: string, chain: string): boolean {
  return body === `-j ${chain}` || body.endsWith(` -j ${chain}`) || body.includes(` -j ${chain} `);
}

function hasComment(body: string, comment: string): boolean {
  return body.includes(`--comment "${comment}"`) || body.includes(`--comment ${comment}`);
}

/**
 * Compares one of our chains and its jump with what iptables-save printed, and returns the
 * restore lines that make it exact. Pure.
 *
 * - Our chain's content is replaced wholesale by declaring it (`:CHAIN - [0:0]`, which under
 *   --noflush flushes an existing chain) followed by every rule, inside the same COMMIT: the
 *   table swaps in one step, so packets never see an empty chain, and rules of an old Network
 *   or lease disappear with the old content. That is all upstream's "recycling" achieves.
 * - The jump is network-independent, so an old network's jump *is* the current jump. Upstream's
 *   recycle deletes it and re-appends it; we keep a single existing jump where it is, delete
 *   duplicates, and append one only when none exists.
 * - Any other rule in the parent chain that carries our comment or jumps to our chain is stale
 *   (flannel before FLANNEL-POSTRTG put its masq rules straight into POSTROUTING) and deleted.
 *
 * `printed` is how iptables-save printed our rules right after we applied them, if that differed
 * from our text (another iptables version may normalise options); it is accepted as equal, so a
 * printing difference cannot make every resync "repair" (rewrite) the rules forever.
 */
export function planChain(saved: SavedTable, spec: IptablesChainSpec, printed?: readonly string[]): ChainPlan {
  const discrepancies: Discrepancy[] = [];
  const lines: string[] = [];
  const where = `${spec.table}/${spec.chain}`;
  const have = saved.rules.get(spec.chain) ?? [];
  const chainOk = saved.chains.has(spec.chain) && (sameRules(have, spec.rules) || (printed !== undefined && sameRules(have, printed)));
  if (!chainOk) {
    discrepancies.push({ kind: saved.chains.has(spec.chain) ? 'rules-differ' : 'chain-missing', where });
    lines.push(`:${spec.chain} - [0:0]`);
    for (const r of spec.rules) lines.push(`-A ${spec.chain} ${r}`);
  }

  const parentWhere = `${spec.table}/${spec.parent}`;
  let jumps = 0;
  for (const body of saved.rules.get(spec.parent) ?? []) {
    if (body === spec.jump) {
      if (++jumps > 1) {
        discrepancies.push({ kind: 'jump-duplicate', where: parentWhere });
        lines.push(`-D ${spec.parent} ${body}`);
      }
    } else if (hasComment(body, spec.comment) || jumpsTo(body, spec.chain)) {
      discrepancies.push({ kind: 'stale-rule', where: `${parentWhere}: ${body}` });
      lines.push(`-D ${spec.parent} ${body}`);
    }
  }
  if (jumps === 0) {
    discrepancies.push({ kind: 'jump-missing', where: parentWhere });
    lines.push(`-A ${spec.parent} ${spec.jump}`);
  }
  return { discrepancies, change: { table: spec.table, lines } };
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

/**
 * Lines that remove one of our chains: every rule in any chain that jumps to it, every rule in
 * its parent with our comment, then the chain itself (flush, delete). Empty when nothing exists.
 */
export function planChainRemoval(saved: SavedTable, c: { table: string; chain: string; parent: string; comment: string }): TableChange {
  const lines: string[] = [];
  for (const [chain, bodies] of saved.rules) {
    if (chain === c.chain) continue;
    for (const body of bodies) {
      if (jumpsTo(body, c.chain) || (chain === c.parent && hasComment(body, c.comment))) lines.push(`-D ${chain} ${body}`);
    }
  }
  if (saved.chains.has(c.chain)) lines.push(`-F ${c.chain}`, `-X ${c.chain}`);
  return { table: c.table, lines };
}

/** The iptables-restore payload: one `*table … COMMIT` block per table that has lines. */
export function renderRestorePayload(changes: readonly TableChange[]): string {
  const byTable = new Map<string, string[]>();
  for (const ch of changes) {
    if (ch.lines.length === 0) continue;
    let l = byTable.get(ch.table);
    if (l === undefined) byTable.set(ch.table, (l = []));
    l.push(...ch.lines);
  }
  let out = '';
  for (const [table, lines] of byTable) out += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return out;
}
