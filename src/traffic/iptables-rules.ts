import { MULTICAST, type ForwardSpec, type MasqSpec, type RuleFamily } from './desired.ts';

/**
 * flanneld's iptables rules (upstream's pkg/trafficmngr/iptables/iptables.go), as rule bodies in iptables-save form: the text after
 * `-A <chain> `. The order of options is upstream's, which is also the order iptables-save
 * prints them in, so a body compares equal to the saved line.
 */

export const MASQ_COMMENT = 'flanneld masq';
export const FORWARD_COMMENT = 'flanneld forward';

/** kube-proxy's masquerade mark: traffic it marked is NATed by kube-proxy, not by us (no double NAT). */
const KUBE_PROXY_MARK = '0x4000/0x4000';

/** One chain we own plus the single jump into it from a built-in chain. */
export interface IptablesChainSpec {
  readonly table: 'nat' | 'filter';
  readonly chain: string;
  /** The built-in chain that jumps to ours; the jump is appended (after KUBE-* rules), as upstream. */
  readonly parent: string;
  readonly jump: string;
  /** Our chain's rules, in order. */
  readonly rules: readonly string[];
  /** The comment every rule carries; in `parent`, any other rule with it is ours and stale. */
  readonly comment: string;
}

function comment(text: string): string {
  return `-m comment --comment "${text}"`;
}

export function masqChain(m: MasqSpec, family: RuleFamily): IptablesChainSpec {
  const c = comment(MASQ_COMMENT);
  const masquerade = m.fullyRandom ? '-j MASQUERADE --random-fully' : '-j MASQUERADE';
  const { network: cluster, podSubnet: pod } = m;
  return {
    table: 'nat',
    chain: 'FLANNEL-POSTRTG',
    parent: 'POSTROUTING',
    jump: `${c} -j FLANNEL-POSTRTG`,
    comment: MASQ_COMMENT,
    rules: [
      // Traffic kube-proxy marked for masquerade is left to kube-proxy (double-NAT bug, flannel PR #1681).
      `-m mark --mark ${KUBE_PROXY_MARK} ${c} -j RETURN`,
      // Pod-to-pod traffic inside the overlay keeps its source.
      `-s ${pod} -d ${cluster} ${c} -j RETURN`,
      `-s ${cluster} -d ${pod} ${c} -j RETURN`,
      // External traffic arriving for a pod on this node keeps its source.
      `! -s ${cluster} -d ${pod} ${c} -j RETURN`,
      // Pods leaving the cluster are masqueraded, except multicast.
      `-s ${cluster} ! -d ${MULTICAST[family]} ${c} ${masquerade}`,
      // The host talking into the overlay is masqueraded, so replies come back through it.
      `! -s ${cluster} -d ${cluster} ${c} ${masquerade}`,
    ],
  };
}

export function forwardChain(f: ForwardSpec): IptablesChainSpec {
  const c = comment(FORWARD_COMMENT);
  return {
    table: 'filter',
    chain: 'FLANNEL-FWD',
    parent: 'FORWARD',
    jump: `${c} -j FLANNEL-FWD`,
    comment: FORWARD_COMMENT,
    rules: [`-s ${f.network} ${c} -j ACCEPT`, `-d ${f.network} ${c} -j ACCEPT`],
  };
}

/** Every chain flanneld ever creates, for cleaning up when nftables mode is chosen. */
export const ALL_IPTABLES_CHAINS: readonly { table: 'nat' | 'filter'; chain: string; parent: string; comment: string }[] = [
  { table: 'nat', chain: 'FLANNEL-POSTRTG', parent: 'POSTROUTING', comment: MASQ_COMMENT },
  { table: 'filter', chain: 'FLANNEL-FWD', parent: 'FORWARD', comment: FORWARD_COMMENT },
];
