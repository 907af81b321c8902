import { MULTICAST, type ForwardSpec, type MasqSpec, type RuleFamily } from './desired.ts';

/** flanneld's nftables objects (upstream's pkg/trafficmngr/nftables, written with knftables), as nft script text. */

export const NFT_FAMILY: Record<RuleFamily, string> = { ipv4: 'ip', ipv6: 'ip6' };
export const NFT_TABLE: Record<RuleFamily, string> = { ipv4: 'flannel-ipv4', ipv6: 'flannel-ipv6' };
/** An address of the family that is never a pod's, for the fully-random probe rule. */
export const NFT_PROBE_ADDRESS: Record<RuleFamily, string> = { ipv4: '127.0.0.1', ipv6: '::1' };
/** Every table upstream's nftables mode creates (it always makes both), for cleanup. */
export const ALL_NFT_TABLES: readonly { family: string; name: string }[] = [
  { family: 'ip', name: 'flannel-ipv4' },
  { family: 'ip6', name: 'flannel-ipv6' },
];

export interface NftChainSpec {
  readonly name: string;
  /** The chain declaration body: comment, type, hook, priority, policy. */
  readonly declaration: string;
  readonly rules: readonly string[];
}

export function nftMasqChain(m: MasqSpec, family: RuleFamily): NftChainSpec {
  const f = NFT_FAMILY[family];
  const masquerade = m.fullyRandom ? 'masquerade fully-random' : 'masquerade';
  const { network: cluster, podSubnet: pod } = m;
  return {
    name: 'postrtg',
    declaration: 'comment "chain to manage traffic masquerading by flannel"; type nat hook postrouting priority srcnat; policy accept;',
    rules: [
      // Exactly kube-proxy's mark value, not a mask test: upstream's rule, kept as is.
      'meta mark 0x4000 return',
      `${f} saddr ${pod} ${f} daddr ${cluster} return`,
      `${f} saddr ${cluster} ${f} daddr ${pod} return`,
      // Differs from the iptables rule (`! -s cluster -d pod`); upstream's text, kept for compatibility.
      `${f} saddr != ${pod} ${f} daddr ${cluster} return`,
      `${f} saddr ${cluster} ${f} daddr != ${MULTICAST[family]} ${masquerade}`,
      `${f} saddr != ${cluster} ${f} daddr ${cluster} ${masquerade}`,
    ],
  };
}

/** Never give this chain a drop policy: it would cut the node off (upstream's warning). */
export function nftForwardChain(fw: ForwardSpec, family: RuleFamily): NftChainSpec {
  const f = NFT_FAMILY[family];
  return {
    name: 'forward',
    declaration: 'comment "chain to accept flannel traffic"; type filter hook forward priority filter; policy accept;',
    rules: [`${f} saddr ${fw.network} accept`, `${f} daddr ${fw.network} accept`],
  };
}

/**
 * One transaction that makes the given chains exactly as specified. Each chain is created if
 * missing, deleted and re-created with its rules: all in one `nft -f -` run, which the kernel
 * commits as one generation, so packets see either the old or the new rules, never an empty
 * chain. Re-creating (rather than upstream's flush) also repairs a chain whose type, hook or
 * policy someone changed. Chains not listed are left alone.
 */
export function renderNftTransaction(family: RuleFamily, chains: readonly NftChainSpec[]): string {
  const t = `${NFT_FAMILY[family]} ${NFT_TABLE[family]}`;
  const lines = [`add table ${t} { comment "rules for ${NFT_TABLE[family]}"; }`];
  for (const c of chains) {
    lines.push(`add chain ${t} ${c.name}`, `delete chain ${t} ${c.name}`, `add chain ${t} ${c.name} { ${c.declaration} }`);
    for (const r of c.rules) lines.push(`add rule ${t} ${c.name} ${r}`);
  }
  return lines.join('\n') + '\n';
}

/** Splits `nft list table` output into chain name → the chain's lines (trimmed), in order. */
export function parseNftChains(listing: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  let body: string[] = [];
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const start = /^chain (\S+) \{$/.exec(line);
    if (start !== null) {
      name = start[1]!;
      body = [];
    } else if (name !== undefined && line === '}') {
      out.set(name, body.join('\n'));
      name = undefined;
    } else if (name !== undefined && line !== '') {
      body.push(line);
    }
  }
  return out;
}
