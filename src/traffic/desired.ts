/**
 * What the rules should say, independent of iptables or nftables. CIDRs are kept as text in
 * network form ("10.244.1.0/24", "fd00:10:244:1::/64"), so the same shape serves both families.
 */

/** Address family of one rule set: iptables and table `ip flannel-ipv4`, or ip6tables and table `ip6 flannel-ipv6`. */
export type RuleFamily = 'ipv4' | 'ipv6';

export interface MasqSpec {
  /** The cluster Network, e.g. 10.244.0.0/16. */
  readonly network: string;
  /** This node's lease subnet in network form, e.g. 10.244.1.0/24. */
  readonly podSubnet: string;
  /** MASQUERADE --random-fully / masquerade fully-random. */
  readonly fullyRandom: boolean;
}

export interface ForwardSpec {
  readonly network: string;
}

/** The rule groups a manager owns. An absent group is not managed (never touched). */
export interface DesiredRules {
  readonly masq?: MasqSpec;
  readonly forward?: ForwardSpec;
}

export type RuleGroup = 'masq' | 'forward';

/** The range never masqueraded (multicast), per family. */
export const MULTICAST: Record<RuleFamily, string> = { ipv4: '224.0.0.0/4', ipv6: 'ff00::/8' };

/**
 * Why a check found the kernel different from the wanted rules. `kind` is a small fixed set
 * (safe as a metric label); `where` names the table/chain for logs.
 */
export interface Discrepancy {
  readonly kind: DiscrepancyKind;
  readonly where: string;
}

export type DiscrepancyKind =
  | 'chain-missing' // our chain (or nft table) does not exist
  | 'rules-differ' // our chain exists but its rules are not exactly ours
  | 'jump-missing' // POSTROUTING/FORWARD has no jump to our chain
  | 'jump-duplicate' // more than one jump to our chain
  | 'stale-rule' // a rule with our comment outside our chain (old layout, old network)
  | 'unverified'; // nft: nothing to compare with yet (first apply by this process)

export function describeDiscrepancies(ds: readonly Discrepancy[]): string {
  return ds.map((d) => `${d.kind} ${d.where}`).join(', ');
}
