import type { RuleFamily } from './desired.ts';
import type { CommandRunner } from './exec.ts';

/**
 * Which iptables backend the host uses: the legacy x_tables kernel interface or nf_tables.
 * Both can hold rules at once, and the kernel runs both, but kube-proxy and the kubelet use
 * one of them; masquerade rules written to the other still run, yet rules that must order
 * against kube-proxy's (the 0x4000 mark, KUBE-POSTROUTING first) do not see each other, and
 * an operator reading `iptables-save` with the host's tool does not see ours. Upstream's image
 * answers this with kubernetes-sigs/iptables-wrappers, which inspects both backends on the
 * first iptables call; this is the same decision, made once at start and logged.
 */
export type IptablesBackend = 'legacy' | 'nft';

/** --iptables-mode: `auto` detects; the others force a backend. */
export type IptablesModeSetting = 'auto' | IptablesBackend;

export const IPTABLES_MODE_SETTINGS: readonly IptablesModeSetting[] = ['auto', 'legacy', 'nft'];

export interface IptablesChoice {
  readonly backend: IptablesBackend;
  /** One sentence: what was found (or set) that decided it. */
  readonly reason: string;
  readonly restoreBin: string;
  readonly saveBin: string;
  /**
   * Backends that hold FLANNEL-POSTRTG or FLANNEL-FWD now. Such chains in the backend not chosen
   * (an earlier run that chose differently, or nftables mode) are removed at start.
   */
  readonly flannelChainsIn: readonly IptablesBackend[];
}

/** Chains the kubelet (1.17+) creates in the mangle table of the backend it uses. */
const KUBELET_CHAIN = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;
/** Any kube-proxy or kubelet chain (KUBE-SERVICES, KUBE-POSTROUTING, …). */
const KUBE_CHAIN = /^:(KUBE-[A-Z0-9-]+) /m;
const FLANNEL_CHAIN = /^:FLANNEL-(POSTRTG|FWD) /m;

export function bins(backend: IptablesBackend, family: RuleFamily = 'ipv4'): { restoreBin: string; saveBin: string } {
  const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
  return { restoreBin: `${tool}-${backend}-restore`, saveBin: `${tool}-${backend}-save` };
}

/** One backend's full dump: IPv4 and IPv6, all tables. Empty when the tool is missing or fails. */
interface Dump {
  readonly v4: string;
  readonly v6: string;
}

/** What the detection reads: both backends' dumps, both families. */
export interface IptablesDumps {
  readonly nft: Dump;
  readonly legacy: Dump;
}

/**
 * Reads both backends, the four tools at once (they only read). One read serves both families'
 * decisions at start: the daemon passes the same promise to its IPv4 and IPv6 rule managers.
 */
export async function readIptablesDumps(exec: CommandRunner): Promise<IptablesDumps> {
  const [nft, legacy] = await Promise.all([dump(exec, 'nft'), dump(exec, 'legacy')]);
  return { nft, legacy };
}

async function dump(exec: CommandRunner, backend: IptablesBackend): Promise<Dump> {
  // Every table, never `-t mangle` on legacy: naming a legacy table makes the kernel create it
  // (iptables-wrappers avoids it for the same reason). Errors count as "no rules": the wrapper
  // is best-effort too, and a missing ip6tables must not decide anything.
  const read = async (file: string): Promise<string> => {
    try {
      const r = await exec(file, []);
      return r.code === 0 ? r.stdout : '';
    } catch {
      return '';
    }
  };
  const [v4, v6] = await Promise.all([read(`iptables-${backend}-save`), read(`ip6tables-${backend}-save`)]);
  return { v4, v6 };
}

function ruleCount(d: Dump): number {
  return (d.v4.match(/^-A /gm)?.length ?? 0) + (d.v6.match(/^-A /gm)?.length ?? 0);
}

function firstMatch(re: RegExp, d: Dump): { chain: string; family: string } | undefined {
  const v4 = re.exec(d.v4);
  if (v4 !== null) return { chain: v4[1]!, family: 'iptables' };
  const v6 = re.exec(d.v6);
  return v6 === null ? undefined : { chain: v6[1]!, family: 'ip6tables' };
}

/** The decision alone, from both dumps; pure, so it is tested without a kernel. */
export function decide(setting: IptablesModeSetting, nft: Dump, legacy: Dump): { backend: IptablesBackend; reason: string } {
  if (setting !== 'auto') return { backend: setting, reason: `set by --iptables-mode=${setting}` };
  // iptables-wrappers' order: the kubelet's hint chain, nft first (the common case), then legacy.
  for (const [backend, d] of [['nft', nft], ['legacy', legacy]] as const) {
    const m = firstMatch(KUBELET_CHAIN, d);
    if (m !== undefined) return { backend, reason: `the kubelet's ${m.chain} chain is in ${m.family}-${backend}` };
  }
  // Older kubelets make no hint chain; kube-proxy's chains tell the same.
  for (const [backend, d] of [['nft', nft], ['legacy', legacy]] as const) {
    const m = firstMatch(KUBE_CHAIN, d);
    if (m !== undefined) return { backend, reason: `kube-proxy's ${m.chain} chain is in ${m.family}-${backend}` };
  }
  // The wrapper's original fallback: whichever backend holds more rules.
  const nl = ruleCount(legacy);
  const nn = ruleCount(nft);
  if (nl > nn) return { backend: 'legacy', reason: `no Kubernetes chains; iptables-legacy holds ${nl} rules, iptables-nft ${nn}` };
  if (nn > 0) return { backend: 'nft', reason: `no Kubernetes chains; iptables-nft holds ${nn} rules, iptables-legacy ${nl}` };
  return { backend: 'nft', reason: 'no rules in either backend; nft is the default (as iptables-wrappers)' };
}

/**
 * Picks a backend from both backends' dumps (`dumps`, or read now: four forks, once at start).
 * Never throws: a host without the legacy tools simply has no legacy rules.
 */
export async function detectIptablesMode(exec: CommandRunner, setting: IptablesModeSetting, family: RuleFamily = 'ipv4', dumps?: Promise<IptablesDumps>): Promise<IptablesChoice> {
  const { nft, legacy } = await (dumps ?? readIptablesDumps(exec));
  const { backend, reason } = decide(setting, nft, legacy);
  const flannelChainsIn = (['nft', 'legacy'] as const).filter((b) => FLANNEL_CHAIN.test((b === 'nft' ? nft : legacy)[family === 'ipv4' ? 'v4' : 'v6']));
  return { backend, reason, ...bins(backend, family), flannelChainsIn };
}
