import { formatAnyCidr, type IpCidr, type IpFamily } from '../../ip/cidr.ts';
import { masqChain } from '../../traffic/iptables-rules.ts';
import { parseSavedTable } from '../../traffic/iptables-save.ts';
import { NFT_FAMILY, NFT_TABLE, parseNftChains } from '../../traffic/nft-rules.ts';
import { fail, ok, skip, warn, type Check } from '../check.ts';
import type { Gathered, Result } from '../facts.ts';
import type { Model } from '../model.ts';

/** The firewall: does FORWARD let pod traffic through, and are flannel's masquerade rules in place? Each family the node runs. */
export function checkRules(g: Gathered, m: Model): Check[] {
  const sides = familySides(g, m);
  return [merged(sides.map((f) => forward(g, m, f))), merged(sides.map((f) => masquerade(g, m, f)))];
}

/** What one family's rule checks read: its Network and pod subnet, its save tools' outputs, its nftables table. */
interface FamilySide {
  readonly family: IpFamily;
  readonly network: IpCidr | undefined;
  readonly pod: IpCidr | undefined;
  /** 'iptables' or 'ip6tables'. */
  readonly tool: string;
  readonly save: Result<string>;
  readonly legacySave: Result<string>;
  readonly nftSave: Result<string>;
}

function familySides(g: Gathered, m: Model): FamilySide[] {
  const r = g.rules;
  const sides: FamilySide[] = [];
  if (m.families.ipv4) sides.push({ family: 'ipv4', network: m.network, pod: m.own?.subnet, tool: 'iptables', save: r.iptablesSave, legacySave: r.legacySave, nftSave: r.nftSave });
  if (m.families.ipv6) sides.push({ family: 'ipv6', network: m.ipv6Network, pod: m.ownV6?.subnet, tool: 'ip6tables', save: r.ip6tablesSave, legacySave: r.ip6LegacySave, nftSave: r.ip6NftSave });
  return sides;
}

/** One check from the families' verdicts: the worst status; each family's evidence, IPv6's marked on a dual-stack node. */
function merged(checks: readonly Check[]): Check {
  if (checks.length === 1) return checks[0]!;
  const rank = { fail: 3, warn: 2, ok: 1, skip: 0 } as const;
  const worst = checks.reduce((a, b) => (rank[b.status] > rank[a.status] ? b : a));
  const evidence = checks.map((c, i) => (i === 0 ? c.evidence : `IPv6: ${c.evidence}`)).join('; ');
  return { ...worst, evidence };
}

interface Variant {
  readonly name: string;
  readonly text: string;
}

/**
 * The iptables backends that hold rules. Both hook the same netfilter points and a DROP in
 * either drops, so both are checked; the plain `iptables-save` stands in when the two
 * variant tools are missing.
 */
function variants(g: Gathered, f: FamilySide): Variant[] {
  const out: Variant[] = [];
  const add = (name: string, r: Result<string>): void => {
    if (r.ok && /^\*filter|^\*nat/m.test(r.value)) out.push({ name, text: r.value });
  };
  add(`${f.tool}-legacy`, f.legacySave);
  add(`${f.tool}-nft`, f.nftSave);
  if (out.length === 0) add(`${f.tool} (${g.rules.iptablesVariant})`, f.save);
  return out;
}

/** `:FORWARD DROP [0:0]` in the filter table → 'DROP'. */
function policyOf(text: string, table: string, chain: string): string | undefined {
  let inTable = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) inTable = line.slice(1).trim() === table;
    else if (inTable && line.startsWith(`:${chain} `)) return line.split(' ')[1];
  }
  return undefined;
}

/** Whether FORWARD (or a chain it jumps to) accepts both `-s net` and `-d net`. */
function acceptsNetwork(text: string, net: string): { accepts: boolean; via: string } {
  const t = parseSavedTable(text, 'filter');
  const forwardRules = t.rules.get('FORWARD') ?? [];
  const chains = ['FORWARD', ...forwardRules.map((r) => /-j (\S+)/.exec(r)?.[1]).filter((c): c is string => c !== undefined && t.chains.has(c))];
  const rules = chains.flatMap((c) => (t.rules.get(c) ?? []).map((r) => ({ chain: c, r })));
  const esc = net.replace(/[./]/g, (c) => `\\${c}`);
  const src = rules.find((x) => new RegExp(`(^| )-s ${esc}( |$)`).test(x.r) && / -j ACCEPT( |$)/.test(x.r));
  const dst = rules.find((x) => new RegExp(`(^| )-d ${esc}( |$)`).test(x.r) && / -j ACCEPT( |$)/.test(x.r));
  return { accepts: src !== undefined && dst !== undefined, via: src?.chain ?? dst?.chain ?? '' };
}

function forward(g: Gathered, m: Model, f: FamilySide): Check {
  const id = 'datapath.forward';
  if (f.network === undefined) return skip(id, `${f.family === 'ipv4' ? 'Network' : 'IPv6Network'} unknown`);
  const net = formatAnyCidr(f.network);
  const vs = variants(g, f);
  if (vs.length === 0) return skip(id, `no ${f.tool} rules readable (${f.save.ok ? 'empty' : f.save.error})`);
  const seen: string[] = [];
  const dropped: string[] = [];
  let fwdMissing = false;
  for (const v of vs) {
    const policy = policyOf(v.text, 'filter', 'FORWARD');
    if (policy === undefined) continue;
    const a = acceptsNetwork(v.text, net);
    const flannel = parseSavedTable(v.text, 'filter').chains.has('FLANNEL-FWD');
    if (!flannel) fwdMissing = true;
    seen.push(`${v.name} FORWARD policy ${policy}${a.accepts ? `, ${a.via} accepts ${net}` : ''}`);
    if (policy !== 'ACCEPT' && !a.accepts) dropped.push(`${v.name} FORWARD policy ${policy} and no rule accepts ${net}${flannel ? '' : ' (no FLANNEL-FWD chain)'}`);
  }
  if (seen.length === 0) return ok(id, `no ${f.tool} filter table: FORWARD accepts`);
  if (dropped.length > 0) {
    return fail(
      id,
      `${dropped.join('; ')}: pod traffic between nodes is dropped`,
      `run flanneld with --iptables-forward-rules=true (the default; it installs FLANNEL-FWD), or add -A FORWARD -s ${net} -j ACCEPT and -A FORWARD -d ${net} -j ACCEPT`,
    );
  }
  if (m.enableNFTables && g.settings.iptablesForwardRules) {
    const chains = flannelNftChains(g, f.family);
    if (chains !== undefined && !chains.has('forward')) {
      return warn(id, `${seen.join('; ')}; nftables table ${NFT_FAMILY[f.family]} ${NFT_TABLE[f.family]} has no forward chain`, 'flanneld (EnableNFTables) creates it; restart it if it stays missing');
    }
  }
  if (fwdMissing && g.settings.iptablesForwardRules && !m.enableNFTables) {
    return warn(id, `${seen.join('; ')}; FLANNEL-FWD is missing (traffic passes meanwhile)`, 'flanneld installs it within --iptables-resync seconds; if it stays missing, flanneld is not running');
  }
  return ok(id, seen.join('; '));
}

function flannelNftChains(g: Gathered, family: IpFamily): Map<string, string> | undefined {
  if (!g.rules.nftRuleset.ok) return undefined;
  const text = g.rules.nftRuleset.value;
  const head = `table ${NFT_FAMILY[family]} ${NFT_TABLE[family]} {`;
  const start = text.indexOf(head);
  if (start < 0) return new Map();
  const end = text.indexOf('\n}', start);
  return parseNftChains(text.slice(start + head.length, end < 0 ? undefined : end));
}

function masquerade(g: Gathered, m: Model, f: FamilySide): Check {
  const id = 'datapath.masquerade';
  if (!g.settings.ipMasq) return ok(id, '--ip-masq is off: flannel installs no masquerade rules (the CNI bridge plugin masquerades instead)');
  if (f.network === undefined || f.pod === undefined) return skip(id, `${f.family === 'ipv4' ? 'Network' : 'IPv6Network'} or lease unknown`);
  const net = formatAnyCidr(f.network);
  const pod = formatAnyCidr(f.pod);
  const table = `${NFT_FAMILY[f.family]} ${NFT_TABLE[f.family]}`;
  if (m.enableNFTables) {
    const chains = flannelNftChains(g, f.family);
    if (chains === undefined) return skip(id, `nft list ruleset: ${g.rules.nftRuleset.ok ? '' : g.rules.nftRuleset.error}`);
    const body = chains.get('postrtg');
    if (body === undefined) return fail(id, `nftables table ${table} has no postrtg chain`, 'flanneld (EnableNFTables) creates it at start and on every resync: is it running?');
    const rules = body.split('\n').filter((l) => /\b(return|masquerade)\b/.test(l));
    if (rules.length !== 6 || !body.includes(pod) || !body.includes(net)) {
      return fail(id, `nftables ${NFT_TABLE[f.family]}/postrtg has ${rules.length} rules${body.includes(pod) ? '' : `, none for ${pod}`}`, 'flanneld rewrites the chain on its next resync; if it stays wrong, restart it');
    }
    return ok(id, `nftables ${NFT_TABLE[f.family]}/postrtg: 6 rules for ${pod} in ${net}`);
  }
  if (!f.save.ok) return skip(id, f.save.error);
  const text = f.save.value;
  const want = masqChain({ network: net, podSubnet: pod, fullyRandom: !g.settings.ipMasqFullyRandomDisable }, f.family);
  const nat = parseSavedTable(text, 'nat');
  const have = nat.rules.get('FLANNEL-POSTRTG') ?? [];
  const jump = (nat.rules.get('POSTROUTING') ?? []).some((r) => r === want.jump);
  const where = `${f.tool} (${g.rules.iptablesVariant})`;
  const problems: string[] = [];
  if (!nat.chains.has('FLANNEL-POSTRTG')) problems.push('no FLANNEL-POSTRTG chain');
  else {
    const missing = want.rules.filter((r) => !have.includes(r));
    if (missing.length > 0) problems.push(`FLANNEL-POSTRTG lacks ${missing.length} of its ${want.rules.length} rules (e.g. "${missing[0]}")`);
    const extra = have.filter((r) => !want.rules.includes(r));
    if (extra.length > 0) problems.push(`FLANNEL-POSTRTG has ${extra.length} rules flanneld did not write (e.g. "${extra[0]}")`);
  }
  if (!jump) problems.push('POSTROUTING does not jump to FLANNEL-POSTRTG');
  if (problems.length > 0) {
    return fail(id, `${where}: ${problems.join('; ')}: pods reaching outside the cluster are not masqueraded`, 'flanneld restores the rules within --iptables-resync seconds; if they stay wrong, it is not running');
  }
  const mixed = f.family === 'ipv4' ? kubeProxyElsewhere(g) : undefined;
  if (mixed !== undefined) {
    return warn(id, `${where}: FLANNEL-POSTRTG as flanneld writes it, but ${mixed}`, 'run flanneld and kube-proxy on the same iptables backend (the image\'s iptables alternative, or EnableNFTables with kube-proxy in nftables mode)');
  }
  return ok(id, `${where}: FLANNEL-POSTRTG has its ${want.rules.length} rules for ${pod}${want.rules.some((r) => r.includes('--random-fully')) ? ' (--random-fully)' : ''}, POSTROUTING jumps to it`);
}

/** kube-proxy's chains living in the other iptables backend than flannel's: masquerade then silently misses kube-proxy's traffic. */
function kubeProxyElsewhere(g: Gathered): string | undefined {
  const has = (r: Result<string>, chain: string): boolean => r.ok && new RegExp(`^:${chain} `, 'm').test(r.value);
  const legacyKube = has(g.rules.legacySave, 'KUBE-SERVICES');
  const nftKube = has(g.rules.nftSave, 'KUBE-SERVICES');
  const legacyFlannel = has(g.rules.legacySave, 'FLANNEL-POSTRTG');
  const nftFlannel = has(g.rules.nftSave, 'FLANNEL-POSTRTG');
  if (legacyKube && !nftKube && nftFlannel && !legacyFlannel) return "kube-proxy's chains are in iptables-legacy while flannel's are in iptables-nft";
  if (nftKube && !legacyKube && legacyFlannel && !nftFlannel) return "kube-proxy's chains are in iptables-nft while flannel's are in iptables-legacy";
  return undefined;
}
