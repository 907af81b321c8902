import { cidrEqualsAny, formatAnyCidr, isIpv6Cidr, type IpCidr } from '../ip/cidr.ts';
import { networkOf } from '../ip/ipv4.ts';
import { networkOf6 } from '../ip/ipv6.ts';
import type { Logger } from '../observe/log.ts';
import type { TrafficStats } from '../observe/metrics.ts';
import { describeDiscrepancies, type DesiredRules, type RuleFamily, type RuleGroup } from './desired.ts';
import type { ModeDriver, TrafficMode } from './driver.ts';
import { runCommand, type CommandRunner } from './exec.ts';
import { IptablesDriver } from './iptables-driver.ts';
import { bins, detectIptablesMode, type IptablesBackend, type IptablesDumps, type IptablesModeSetting } from './iptables-mode.ts';
import { NftDriver } from './nft-driver.ts';
import { errorText } from '../util/errors.ts';
import { sleep } from '../util/retry.ts';

export type { TrafficMode } from './driver.ts';

export interface TrafficManagerOptions {
  /** 'nftables' when net-conf.json has EnableNFTables. */
  readonly mode: TrafficMode;
  /** The family whose rules this manager keeps (iptables or ip6tables; table ip or ip6); default IPv4. */
  readonly family?: RuleFamily;
  /** Runs iptables-restore/iptables-save/nft; tests inject `ip netns exec NS …` and count forks. */
  readonly exec?: CommandRunner;
  readonly log: Logger;
  /** --iptables-resync: seconds between checks (both modes; upstream checks only iptables). */
  readonly resyncSeconds: number;
  /** false with --ip-masq-fully-random-disable; also off where the tools cannot do it. */
  readonly fullyRandom: boolean;
  /** Seconds iptables-restore waits for the xtables lock; default 10. */
  readonly lockWaitSeconds?: number;
  /**
   * --iptables-mode. Given (the daemon always gives it), the first operation detects which
   * iptables backend the host uses (iptables-mode.ts), logs the choice and uses that backend's
   * iptables-legacy-* or iptables-nft-* tools. Absent: the plain iptables-restore/iptables-save
   * as installed, without detection (tests of the rules themselves).
   */
  readonly iptablesMode?: IptablesModeSetting;
  /** The dumps the detection decides from, when another manager's read serves this one too (readIptablesDumps). */
  readonly iptablesDumps?: Promise<IptablesDumps>;
  /**
   * The nf_tables ruleset generation (src/netlink/nft-generation.ts). Given, a periodic check
   * whose rules live in nf_tables (nftables mode, or the iptables nft backend) is skipped while
   * the generation is the one seen when the last check found every rule in place: no commit to
   * the ruleset since means nothing to repair, and no iptables-save or nft process to run.
   */
  readonly nftGeneration?: () => Promise<number>;
}

/** The network and lease of the previous run, from the old subnet.env (FLANNEL_NETWORK, FLANNEL_SUBNET, or the IPV6 ones). */
export interface PreviousLease {
  readonly network?: IpCidr;
  readonly subnet?: IpCidr;
}

/** The metrics layer's TrafficStats (read at scrape time), plus what tests and diagnostics read. */
export interface RuleManagerStats extends TrafficStats {
  /** Differences found by checks, by kind (chain-missing, rules-differ, jump-missing, …). */
  readonly repairsByReason: Readonly<Record<string, number>>;
  /** ensureMasq/ensureForward calls that changed the kernel. */
  readonly changes: number;
  /** Failed checks, ensures and cleanups. */
  readonly errors: number;
  readonly lastError: string | undefined;
  /** Unix ms of the last error; 0 if none. */
  readonly lastErrorTime: number;
}

export interface TrafficManager {
  readonly mode: TrafficMode;
  /**
   * Installs the masquerade rules for `network` and this node's lease `podSubnet` (main.go, --ip-masq)
   * and keeps them under resync. Rules of `prev` need no separate delete: our chain is rewritten
   * wholesale in the same transaction. Throws (naming the tool's output) when rules can't be set.
   */
  ensureMasq(network: IpCidr, podSubnet: IpCidr, prev?: PreviousLease): Promise<void>;
  /** Installs FLANNEL-FWD / chain forward accepting traffic from and to `network` (main.go, --iptables-forward-rules). */
  ensureForward(network: IpCidr): Promise<void>;
  /** One check now: read each table once, repair if different. Never throws; errors go to stats. */
  resync(): Promise<void>;
  /** Checks every resyncSeconds until `signal` aborts. The first check runs one period after the call. */
  runResync(signal: AbortSignal): Promise<void>;
  /**
   * As main.go does before setting up rules: removes what the *other* mode installs (its chains and jumps, or its tables),
   * and our chains from the iptables backend not in use.
   */
  cleanupOtherMode(): Promise<void>;
  /**
   * The iptables backend in use once the first operation has run: 'legacy' or 'nft', 'none' in
   * nftables mode, undefined before (or without iptablesMode).
   */
  readonly iptablesBackend: IptablesBackend | 'none' | undefined;
  stats(): RuleManagerStats;
}

export function createTrafficManager(opts: TrafficManagerOptions): TrafficManager {
  return new RuleManager(opts);
}

function makeDriver(mode: TrafficMode, family: RuleFamily, exec: CommandRunner, log: Logger, lockWaitSeconds: number, backend?: IptablesBackend): ModeDriver {
  return mode === 'iptables'
    ? new IptablesDriver({ exec, log, lockWaitSeconds, family, ...(backend !== undefined ? bins(backend, family) : {}) })
    : new NftDriver({ exec, log, family });
}

class RuleManager implements TrafficManager {
  readonly mode: TrafficMode;
  private readonly log: Logger;
  private readonly exec: CommandRunner;
  private readonly lockWait: number;
  private readonly family: RuleFamily;
  private readonly iptablesMode: IptablesModeSetting | undefined;
  private readonly iptablesDumps: Promise<IptablesDumps> | undefined;
  private driver: ModeDriver;
  /** What cleanupOtherMode removes: the other mode, and our chains in the iptables backend not in use. */
  private others: ModeDriver[];
  private detected: Promise<void> | undefined;
  iptablesBackend: IptablesBackend | 'none' | undefined;
  private readonly resyncMs: number;
  private readonly fullyRandom: boolean;
  private want: DesiredRules = {};
  /** Every kernel operation runs after the previous one: ensures and resyncs never interleave. */
  private tail: Promise<unknown> = Promise.resolve();
  private resyncs = 0;
  private unchanged = 0;
  private readonly nftGeneration: (() => Promise<number>) | undefined;
  /** Whether asking nf_tables failed once: then every check reads the rules. */
  private generationFailed = false;
  /** The nf_tables generation when the last check found every rule in place; undefined: check. */
  private cleanAt: number | undefined;
  private repairs = 0;
  private readonly repairsByReason: Record<string, number> = {};
  private changes = 0;
  private errors = 0;
  private lastError: string | undefined = undefined;
  private lastErrorTime = 0;

  constructor(opts: TrafficManagerOptions) {
    const exec = opts.exec ?? runCommand;
    const lockWait = opts.lockWaitSeconds ?? 10;
    this.mode = opts.mode;
    this.log = opts.log;
    this.exec = exec;
    this.lockWait = lockWait;
    this.family = opts.family ?? 'ipv4';
    this.iptablesMode = opts.iptablesMode;
    this.iptablesDumps = opts.iptablesDumps;
    this.driver = makeDriver(opts.mode, this.family, exec, opts.log, lockWait);
    this.others = [makeDriver(opts.mode === 'iptables' ? 'nftables' : 'iptables', this.family, exec, opts.log, lockWait)];
    // --iptables-resync=0 would spin; treat it as one second.
    this.resyncMs = opts.resyncSeconds > 0 ? opts.resyncSeconds * 1000 : 1000;
    this.fullyRandom = opts.fullyRandom;
    this.nftGeneration = opts.nftGeneration;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const go = async (): Promise<T> => {
      await this.detect();
      return fn();
    };
    const run = this.tail.then(go, go);
    this.tail = run.catch(() => {});
    return run;
  }

  /** Once, before the first operation: which iptables backend, and what to clean elsewhere. */
  private detect(): Promise<void> {
    const setting = this.iptablesMode;
    if (setting === undefined) return Promise.resolve();
    this.detected ??= (async () => {
      const choice = await detectIptablesMode(this.exec, setting, this.family, this.iptablesDumps);
      const stray = choice.flannelChainsIn.filter((b) => this.mode === 'nftables' || b !== choice.backend);
      const strayDrivers = stray.map((b) => makeDriver('iptables', this.family, this.exec, this.log, this.lockWait, b));
      if (this.mode === 'nftables') {
        this.iptablesBackend = 'none';
        this.others = [...strayDrivers];
        this.log.info({ strayChainsIn: stray }, 'Using nftables mode (EnableNFTables), so iptables is not used');
        return;
      }
      this.iptablesBackend = choice.backend;
      this.driver = makeDriver('iptables', this.family, this.exec, this.log, this.lockWait, choice.backend);
      this.others = [makeDriver('nftables', this.family, this.exec, this.log, this.lockWait), ...strayDrivers];
      this.log.info({ backend: choice.backend, restore: choice.restoreBin, save: choice.saveBin, strayChainsIn: stray }, `Using iptables ${choice.backend} mode: ${choice.reason}`);
    })();
    return this.detected;
  }

  ensureMasq(network: IpCidr, podSubnet: IpCidr, prev?: PreviousLease): Promise<void> {
    return this.serial(async () => {
      const net = masked(network);
      const pod = masked(podSubnet);
      if (prev !== undefined && !(sameCidr(prev.network, net) && sameCidr(prev.subnet, pod))) {
        this.log.info(
          { network: formatAnyCidr(net), subnet: formatAnyCidr(pod), prevNetwork: fmt(prev.network), prevSubnet: fmt(prev.subnet) },
          'Current network or subnet is not equal to previous one; old masq rules are replaced with the chain',
        );
      }
      const fullyRandom = this.fullyRandom && (await this.driver.supportsFullyRandom());
      this.cleanAt = undefined;
      this.want = { ...this.want, masq: { network: formatAnyCidr(net), podSubnet: formatAnyCidr(pod), fullyRandom } };
      this.log.info({ mode: this.mode, network: formatAnyCidr(net), subnet: formatAnyCidr(pod), fullyRandom }, 'Setting up masking rules');
      await this.converge(['masq'], `masq rules for network ${formatAnyCidr(net)} lease ${formatAnyCidr(pod)}`);
    });
  }

  ensureForward(network: IpCidr): Promise<void> {
    return this.serial(async () => {
      const net = formatAnyCidr(masked(network));
      this.cleanAt = undefined;
      this.want = { ...this.want, forward: { network: net } };
      this.log.info({ mode: this.mode, network: net }, 'Setting up forward rules');
      await this.converge(['forward'], `forward rules for network ${net}`);
    });
  }

  private async converge(groups: readonly RuleGroup[], what: string): Promise<void> {
    try {
      const plan = await this.driver.plan(this.want, groups);
      if (plan.discrepancies.length === 0) {
        this.log.debug({ what }, 'rules already in place');
        return;
      }
      this.log.info({ what, found: describeDiscrepancies(plan.discrepancies) }, 'writing rules');
      await this.driver.apply(plan, this.want);
      this.changes++;
    } catch (e) {
      // The wanted state stays recorded, so the next resync retries it.
      throw this.recordError(new Error(`failed to set up ${what} (${this.mode}): ${errorText(e)}`, { cause: e }));
    }
  }

  resync(): Promise<void> {
    return this.serial(async () => {
      const groups = (['masq', 'forward'] as const).filter((g) => this.want[g] !== undefined);
      if (groups.length === 0) return;
      this.resyncs++;
      // Read before the check: a commit during the check moves it, and the next check runs.
      const generation = await this.generation();
      if (generation !== undefined && generation === this.cleanAt) {
        this.unchanged++;
        return;
      }
      this.cleanAt = undefined;
      try {
        const plan = await this.driver.plan(this.want, groups);
        if (plan.discrepancies.length === 0) {
          this.cleanAt = generation;
          return;
        }
        // pkg/trafficmngr/iptables/iptables.go's words, which runbooks grep for; `found` says what.
        const what = this.mode === 'iptables' ? 'Some iptables rules are missing; deleting and recreating rules' : 'Some nftables rules are missing; recreating rules';
        this.log.warn({ mode: this.mode, found: describeDiscrepancies(plan.discrepancies) }, what);
        await this.driver.apply(plan, this.want);
        this.repairs++;
        for (const d of plan.discrepancies) this.repairsByReason[d.kind] = (this.repairsByReason[d.kind] ?? 0) + 1;
      } catch (e) {
        const err = this.recordError(e);
        this.log.error({ mode: this.mode, err: err.message }, 'Failed to ensure rules');
      }
    });
  }

  /** The nf_tables generation, when this manager's rules live in nf_tables and it can be read. */
  private async generation(): Promise<number | undefined> {
    if (this.nftGeneration === undefined || this.generationFailed) return undefined;
    if (this.mode !== 'nftables' && this.iptablesBackend !== 'nft') return undefined;
    try {
      return await this.nftGeneration();
    } catch (e) {
      this.generationFailed = true;
      this.log.info({ err: errorText(e) }, `cannot read the nf_tables generation (${errorText(e)}); the rules are read at every check instead`);
      return undefined;
    }
  }

  async runResync(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await sleep(this.resyncMs, signal))) return; // aborted: rules stay installed (never flushed on shutdown)
      await this.resync();
    }
  }

  cleanupOtherMode(): Promise<void> {
    return this.serial(async () => {
      for (const other of this.others) {
        try {
          await other.removeAll();
        } catch (e) {
          // Leftovers of the other mode are untidy but do not stop this mode from working.
          const err = this.recordError(e);
          this.log.warn({ other: other.mode, err: err.message }, 'could not clean up rules of the other mode');
        }
      }
    });
  }

  stats(): RuleManagerStats {
    return {
      resyncs: this.resyncs,
      unchanged: this.unchanged,
      repairs: this.repairs,
      repairsByReason: { ...this.repairsByReason },
      changes: this.changes,
      errors: this.errors,
      lastError: this.lastError,
      lastErrorTime: this.lastErrorTime,
    };
  }

  private recordError(e: unknown): Error {
    const err = e instanceof Error ? e : new Error(String(e));
    this.errors++;
    this.lastError = err.message;
    this.lastErrorTime = Date.now();
    return err;
  }
}

function masked(c: IpCidr): IpCidr {
  return isIpv6Cidr(c) ? networkOf6(c) : networkOf(c);
}

function sameCidr(a: IpCidr | undefined, b: IpCidr): boolean {
  return a !== undefined && cidrEqualsAny(masked(a), b);
}

function fmt(c: IpCidr | undefined): string {
  return c === undefined ? '' : formatAnyCidr(c);
}
