import type { Logger } from '../observe/log.ts';
import type { DesiredRules, Discrepancy, RuleFamily, RuleGroup } from './desired.ts';
import type { DriverPlan, ModeDriver } from './driver.ts';
import { RuleCommandError, isNotInstalled, type CommandRunner } from './exec.ts';
import { ALL_NFT_TABLES, NFT_FAMILY, NFT_PROBE_ADDRESS, NFT_TABLE, nftForwardChain, nftMasqChain, parseNftChains, renderNftTransaction, type NftChainSpec } from './nft-rules.ts';

export interface NftDriverOptions {
  readonly exec: CommandRunner;
  readonly log: Logger;
  readonly nftBin?: string;
  /** Table `ip flannel-ipv4` (default) or `ip6 flannel-ipv6`. */
  readonly family?: RuleFamily;
}

const ALL_GROUPS: readonly RuleGroup[] = ['masq', 'forward'];

function chainsFor(want: DesiredRules, groups: readonly RuleGroup[], family: RuleFamily): NftChainSpec[] {
  const out: NftChainSpec[] = [];
  if (groups.includes('masq') && want.masq !== undefined) out.push(nftMasqChain(want.masq, family));
  if (groups.includes('forward') && want.forward !== undefined) out.push(nftForwardChain(want.forward, family));
  return out;
}

/**
 * nftables mode. Upstream never re-checks its nftables rules; we do. nft prints rules in its own
 * normal form (`meta mark 0x00004000`), which differs between nft versions, so a check compares
 * each chain with how nft printed it right after our own apply, not with our input text.
 */
export class NftDriver implements ModeDriver {
  readonly mode = 'nftables' as const;
  private readonly exec: CommandRunner;
  private readonly log: Logger;
  private readonly nftBin: string;
  private readonly family: RuleFamily;
  private fullyRandom: Promise<boolean> | undefined;
  /** chain → { the script lines we applied, the chain as nft listed it afterwards }. */
  private readonly applied = new Map<string, { readonly want: string; readonly listed: string }>();

  constructor(opts: NftDriverOptions) {
    this.exec = opts.exec;
    this.log = opts.log;
    this.nftBin = opts.nftBin ?? 'nft';
    this.family = opts.family ?? 'ipv4';
  }

  private get tableRef(): string {
    return `${NFT_FAMILY[this.family]} ${NFT_TABLE[this.family]}`;
  }

  /** The table's chains as listed, or undefined when the table does not exist. */
  private async listChains(): Promise<Map<string, string> | undefined> {
    const r = await this.exec(this.nftBin, ['list', 'table', ...this.tableRef.split(' ')]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new RuleCommandError(`${this.nftBin} list table ${this.tableRef}`, r.code, r.stderr);
    }
    return parseNftChains(r.stdout);
  }

  async plan(want: DesiredRules, groups: readonly RuleGroup[]): Promise<DriverPlan> {
    const specs = chainsFor(want, groups, this.family);
    if (specs.length === 0) return { discrepancies: [], payload: '', groups };
    const listed = await this.listChains();
    const discrepancies: Discrepancy[] = [];
    for (const s of specs) {
      const where = `${this.tableRef}/${s.name}`;
      const have = listed?.get(s.name);
      const known = this.applied.get(s.name);
      if (have === undefined) discrepancies.push({ kind: 'chain-missing', where });
      else if (known === undefined || known.want !== specText(s)) discrepancies.push({ kind: 'unverified', where });
      else if (known.listed !== have) discrepancies.push({ kind: 'rules-differ', where });
    }
    // Every wanted chain is re-created in the one transaction, not only the checked ones: nft lists
    // chains in creation order, so this keeps the listing in upstream's order (postrtg, forward).
    const all = chainsFor(want, ALL_GROUPS, this.family);
    return { discrepancies, payload: discrepancies.length === 0 ? '' : renderNftTransaction(this.family, all), groups: ALL_GROUPS };
  }

  async apply(plan: DriverPlan, want: DesiredRules): Promise<void> {
    if (plan.payload === '') return;
    await this.run(plan.payload);
    const listed = await this.listChains();
    for (const s of chainsFor(want, plan.groups, this.family)) {
      const have = listed?.get(s.name);
      if (have === undefined) this.applied.delete(s.name);
      else this.applied.set(s.name, { want: specText(s), listed: have });
    }
  }

  private async run(script: string): Promise<void> {
    const r = await this.exec(this.nftBin, ['-f', '-'], script);
    if (r.code !== 0) throw new RuleCommandError(`${this.nftBin} -f -`, r.code, r.stderr, `; script:\n${script}`);
  }

  async removeAll(): Promise<void> {
    let r;
    try {
      r = await this.exec(this.nftBin, ['list', 'tables']);
    } catch (e) {
      if (isNotInstalled(e)) return; // no nft binary: none of our tables can have been made by it
      throw e;
    }
    if (r.code !== 0) {
      // No nf_tables in this kernel: there is nothing of ours to remove.
      this.log.debug({ stderr: r.stderr.trim() }, 'nft list tables failed; skipping nftables cleanup');
      return;
    }
    const present = new Set(r.stdout.split('\n').map((l) => l.trim()));
    const doomed = ALL_NFT_TABLES.filter((t) => present.has(`table ${t.family} ${t.name}`));
    if (doomed.length === 0) return;
    this.log.info({ tables: doomed.map((t) => `${t.family} ${t.name}`) }, 'removing nftables tables of nftables mode');
    await this.run(doomed.map((t) => `delete table ${t.family} ${t.name}`).join('\n') + '\n');
    this.applied.clear();
  }

  supportsFullyRandom(): Promise<boolean> {
    // `nft -c` sends the transaction to the kernel for validation and never commits it, as
    // upstream's dry run of chain masqueradeTest.
    const t = this.tableRef;
    const probe = [
      `add table ${t}`,
      `add chain ${t} masqueradeTest { type nat hook postrouting priority srcnat; }`,
      `add rule ${t} masqueradeTest ${NFT_FAMILY[this.family]} saddr != ${NFT_PROBE_ADDRESS[this.family]} masquerade fully-random`,
    ].join('\n');
    this.fullyRandom ??= this.exec(this.nftBin, ['-c', '-f', '-'], probe + '\n').then(
      (r) => {
        if (r.code !== 0) this.log.warn({ stderr: r.stderr.trim() }, 'nftables: masquerade fully-random unsupported');
        return r.code === 0;
      },
      () => false,
    );
    return this.fullyRandom;
  }
}

function specText(s: NftChainSpec): string {
  return `${s.declaration}\n${s.rules.join('\n')}`;
}
