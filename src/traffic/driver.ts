import type { DesiredRules, Discrepancy, RuleGroup } from './desired.ts';

export type TrafficMode = 'iptables' | 'nftables';

/** What a check found and the one payload that would fix it. */
export interface DriverPlan {
  readonly discrepancies: readonly Discrepancy[];
  /** iptables-restore input or an `nft -f -` script; applied in one fork, atomically per table. */
  readonly payload: string;
  readonly groups: readonly RuleGroup[];
}

/** One rule backend (iptables or nftables) for one address family. */
export interface ModeDriver {
  readonly mode: TrafficMode;
  /** Reads the kernel (one fork per table involved) and compares it with `want` for `groups`. */
  plan(want: DesiredRules, groups: readonly RuleGroup[]): Promise<DriverPlan>;
  /** Applies a plan with a single fork, then remembers how the kernel printed the result. */
  apply(plan: DriverPlan, want: DesiredRules): Promise<void>;
  /** Removes everything flanneld (ours or upstream) installs in this mode; for the other mode's start-up. */
  removeAll(): Promise<void>;
  /** Whether fully-random masquerade works here; probed once, without changing anything. */
  supportsFullyRandom(): Promise<boolean>;
}
