import type { Logger } from '../observe/log.ts';
import type { DesiredRules, Discrepancy, RuleFamily, RuleGroup } from './desired.ts';
import type { DriverPlan, ModeDriver } from './driver.ts';
import { RuleCommandError, isNotInstalled, type CommandRunner } from './exec.ts';
import { planChain, planChainRemoval, renderRestorePayload, type TableChange } from './iptables-plan.ts';
import { ALL_IPTABLES_CHAINS, forwardChain, masqChain, type IptablesChainSpec } from './iptables-rules.ts';
import { parseSavedTable, type SavedTable } from './iptables-save.ts';

export interface IptablesDriverOptions {
  readonly exec: CommandRunner;
  readonly log: Logger;
  /**
   * Seconds iptables-restore waits for the xtables lock (/run/xtables.lock, shared with kube-proxy
   * through the DaemonSet's mount). Bounded: a holder that never lets go must not stall resync,
   * which simply retries next period.
   */
  readonly lockWaitSeconds: number;
  /** iptables (default) or ip6tables: the binaries, and the multicast range never masqueraded. */
  readonly family?: RuleFamily;
  /** Binary names, when not the family's iptables-restore/iptables-save or ip6tables-restore/ip6tables-save. */
  readonly restoreBin?: string;
  readonly saveBin?: string;
}

function chainsFor(want: DesiredRules, groups: readonly RuleGroup[], family: RuleFamily): IptablesChainSpec[] {
  const out: IptablesChainSpec[] = [];
  if (groups.includes('masq') && want.masq !== undefined) out.push(masqChain(want.masq, family));
  if (groups.includes('forward') && want.forward !== undefined) out.push(forwardChain(want.forward));
  return out;
}

/**
 * iptables mode: reads each table with one `iptables-save -t <table>`, writes every change with
 * one `iptables-restore --noflush`. Never one fork per rule: on a node with thousands of
 * kube-proxy rules each fork waits for the xtables lock, and the resync would take seconds.
 */
export class IptablesDriver implements ModeDriver {
  readonly mode = 'iptables' as const;
  private readonly exec: CommandRunner;
  private readonly log: Logger;
  private readonly lockWaitSeconds: number;
  private readonly restoreBin: string;
  private readonly saveBin: string;
  private readonly family: RuleFamily;
  private fullyRandom: Promise<boolean> | undefined;
  /** chain → how iptables-save printed our rules after we applied them, when that differed from our text. */
  private readonly printed = new Map<string, { readonly want: string; readonly rules: readonly string[] }>();

  constructor(opts: IptablesDriverOptions) {
    this.exec = opts.exec;
    this.log = opts.log;
    this.lockWaitSeconds = opts.lockWaitSeconds;
    this.family = opts.family ?? 'ipv4';
    const tool = this.family === 'ipv4' ? 'iptables' : 'ip6tables';
    this.restoreBin = opts.restoreBin ?? `${tool}-restore`;
    this.saveBin = opts.saveBin ?? `${tool}-save`;
  }

  /**
   * iptables-save takes no lock option (1.8.x rejects -w): a read is one atomic snapshot
   * (legacy: one getsockopt; nft: one netlink dump), so it needs none.
   */
  private async readTable(table: string): Promise<SavedTable> {
    const r = await this.exec(this.saveBin, ['-t', table]);
    if (r.code !== 0) throw new RuleCommandError(`${this.saveBin} -t ${table}`, r.code, r.stderr);
    return parseSavedTable(r.stdout, table);
  }

  async plan(want: DesiredRules, groups: readonly RuleGroup[]): Promise<DriverPlan> {
    const specs = chainsFor(want, groups, this.family);
    const tables = new Map<string, SavedTable>();
    for (const s of specs) if (!tables.has(s.table)) tables.set(s.table, await this.readTable(s.table));
    const discrepancies: Discrepancy[] = [];
    const changes: TableChange[] = [];
    for (const s of specs) {
      const p = planChain(tables.get(s.table)!, s, this.printedFor(s));
      discrepancies.push(...p.discrepancies);
      changes.push(p.change);
    }
    return { discrepancies, payload: renderRestorePayload(changes), groups };
  }

  private printedFor(s: IptablesChainSpec): readonly string[] | undefined {
    const p = this.printed.get(s.chain);
    return p !== undefined && p.want === s.rules.join('\n') ? p.rules : undefined;
  }

  async apply(plan: DriverPlan, want: DesiredRules): Promise<void> {
    if (plan.payload === '') return;
    await this.restore(plan.payload);
    // Read back what iptables-save now prints for our chains. If a different iptables version
    // normalises our options, remember its form so the next check does not see a difference.
    for (const s of chainsFor(want, plan.groups, this.family)) {
      const saved = await this.readTable(s.table);
      const have = saved.rules.get(s.chain) ?? [];
      const want = s.rules.join('\n');
      if (have.join('\n') !== want) {
        this.log.warn({ chain: s.chain, wanted: s.rules, printed: have }, 'iptables-save prints our rules differently; comparing against the printed form');
        this.printed.set(s.chain, { want, rules: have });
      } else {
        this.printed.delete(s.chain);
      }
    }
  }

  private async restore(payload: string): Promise<void> {
    const args = ['--noflush', `--wait=${this.lockWaitSeconds}`];
    const r = await this.exec(this.restoreBin, args, payload);
    if (r.code !== 0) {
      throw new RuleCommandError(`${this.restoreBin} ${args.join(' ')}`, r.code, r.stderr, failingLine(r.stderr, payload));
    }
  }

  async removeAll(): Promise<void> {
    const changes: TableChange[] = [];
    const tables = new Map<string, SavedTable>();
    try {
      for (const c of ALL_IPTABLES_CHAINS) {
        if (!tables.has(c.table)) tables.set(c.table, await this.readTable(c.table));
        changes.push(planChainRemoval(tables.get(c.table)!, c));
      }
    } catch (e) {
      // No iptables at all (nftables-only hosts): nothing of ours can exist.
      if (isNotInstalled(e)) return;
      throw e;
    }
    const payload = renderRestorePayload(changes);
    if (payload === '') return;
    this.log.info({ tool: this.restoreBin, payload }, 'removing flanneld iptables rules');
    await this.restore(payload);
  }

  supportsFullyRandom(): Promise<boolean> {
    // A --test run parses and validates a throwaway chain and commits nothing. Old iptables
    // (1.4.21) rejects the option; masquerading must then go on without it.
    this.fullyRandom ??= this.exec(this.restoreBin, ['--noflush', '--test', `--wait=${this.lockWaitSeconds}`], '*nat\n:FLANNEL-PROBE - [0:0]\n-A FLANNEL-PROBE -j MASQUERADE --random-fully\nCOMMIT\n').then(
      (r) => {
        if (r.code !== 0) this.log.warn({ stderr: r.stderr.trim() }, 'iptables does not support --random-fully; masquerading without it');
        return r.code === 0;
      },
      () => false,
    );
    return this.fullyRandom;
  }
}

/** iptables-restore names the failing line ("line 3 failed", "Error occurred at line: 3"); quote it. */
function failingLine(stderr: string, payload: string): string {
  const m = /line:? (\d+)/.exec(stderr);
  if (m === null) return '';
  const line = payload.split('\n')[Number(m[1]) - 1];
  return line === undefined ? '' : ` (payload line ${m[1]}: ${line})`;
}
