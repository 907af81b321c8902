import { writeFile } from 'node:fs/promises';
import type { Result } from './facts.ts';
import type { Gathered } from './facts.ts';
import type { Model } from './model.ts';
import type { PeerProbe } from './checks/reach.ts';
import { renderTable, type Report } from './report.ts';
import { tarGz, type TarEntry } from './tar.ts';

/*
 * `flanneld doctor --bundle FILE`: the evidence an issue needs, in one tar.gz — the report,
 * routes, neighbours, FDB, links and addresses, the rules of both iptables backends and nft,
 * subnet.env, net-conf.json, the CNI config files and plugin list, the daemon's state and last
 * log lines, the probe results. Never a kubeconfig or a token: the kubeconfig is only ever
 * named by path, node objects are reduced to flannel's annotations and podCIDRs, and every
 * text passes through redact() on the way in.
 */

/** Values that must never leave the node, whatever file they turn up in. */
const SECRET_KEYS = /("?(?:token|password|passwd|secret|client-key-data|client-certificate-data|id-token|refresh-token|access-token|bearer)"?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,}]+)/gi;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;
/** A JSON Web Token (service-account tokens are these). */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;

export function redact(text: string): string {
  return text
    .replace(PEM_KEY, '<redacted private key>')
    .replace(JWT, '<redacted token>')
    .replace(BEARER, '$1<redacted>')
    .replace(SECRET_KEYS, '$1"<redacted>"');
}

export interface BundleInput {
  readonly g: Gathered;
  readonly m: Model;
  readonly report: Report;
  readonly probes: readonly PeerProbe[];
}

/** The files of the bundle, under one directory named after the node and the time. */
export function bundleEntries(i: BundleInput): TarEntry[] {
  const { g, m, report } = i;
  const stamp = report.at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const dir = `flannel-doctor-${(m.nodeName ?? 'node').replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}`;
  const files: [string, string][] = [];
  const add = (name: string, text: string): void => {
    files.push([`${dir}/${name}`, redact(text)]);
  };
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  const result = (r: Result<string>): string => (r.ok ? r.value : `# not available: ${r.error}\n`);

  add('report.txt', renderTable(report));
  add('report.json', json(report));
  add('probes.json', json(i.probes));

  if (g.daemon.ok) {
    const { logTail, ...state } = g.daemon.value;
    add('daemon/state.json', json(state));
    add('daemon/log.txt', logTail.join('\n') + '\n');
  } else {
    add('daemon/state.json', json({ error: g.daemon.error, url: g.daemonUrl }));
  }
  add('daemon/settings.json', json(g.settings));

  add('files/subnet.env', g.subnetEnv.ok ? g.subnetEnv.value.text : `# not available: ${g.subnetEnv.error}\n`);
  // In etcd mode the config is <prefix>/config's value, and the leases are etcd's keys.
  add('files/net-conf.json', g.netConf.ok ? g.netConf.value.text : `# not available: ${g.netConf.error}\n`);
  if (g.etcd !== undefined) {
    add('etcd/subnets.txt', g.etcd.ok ? g.etcd.value.kvs.map((kv) => `${kv.key} ${kv.value} (etcd lease ${kv.lease})`).join('\n') + '\n' : `# not available: ${g.etcd.error}\n`);
  }
  if (g.cni.confFiles.ok) {
    for (const f of g.cni.confFiles.value) add(`cni/net.d/${f.name}`, f.text.ok ? f.text.value : `# not readable: ${f.text.error}\n`);
  } else {
    add('cni/net.d.txt', `# not available: ${g.cni.confFiles.error}\n`);
  }
  add('cni/bin.txt', g.cni.bins.map((b) => `${b.ok ? 'ok     ' : 'MISSING'} ${b.name}: ${b.detail}`).join('\n') + '\n');

  if (g.kernel.ok) {
    const k = g.kernel.value;
    add('kernel/version.txt', `${k.version?.text ?? 'unknown'}\n`);
    add('kernel/links.json', json(k.links));
    add('kernel/addresses.json', json(k.addrs));
    add('kernel/routes.json', json(k.routes));
    add('kernel/neighbours.json', json(k.neighs));
    add('kernel/fdb.json', json(k.fdb));
  } else {
    add('kernel/error.txt', `${g.kernel.error}\n`);
  }
  const thresholds = g.kernel.ok && g.kernel.value.neighTable !== undefined ? g.kernel.value.neighTable : undefined;
  const sysctls = Object.entries(g.sysctl).map(([k, v]) => `${k.replace(/\//g, '.')} = ${v ?? '(absent)'}`);
  if (thresholds !== undefined) sysctls.push(...[1, 2, 3].map((n) => `net.ipv4.neigh.default.gc_thresh${n} = ${thresholds[`thresh${n}` as 'thresh1']}`));
  add('kernel/sysctl.txt', sysctls.join('\n') + '\n');

  add('rules/iptables-save.txt', `# iptables-save (${g.rules.iptablesVariant})\n${result(g.rules.iptablesSave)}`);
  add('rules/iptables-legacy-save.txt', result(g.rules.legacySave));
  add('rules/iptables-nft-save.txt', result(g.rules.nftSave));
  add('rules/nft-ruleset.txt', result(g.rules.nftRuleset));
  add('rules/ip6tables-save.txt', result(g.rules.ip6tablesSave));
  add('rules/ip6tables-legacy-save.txt', result(g.rules.ip6LegacySave));
  add('rules/ip6tables-nft-save.txt', result(g.rules.ip6NftSave));

  if (g.api.ok) {
    const prefix = m.keys?.prefix ?? 'flannel.alpha.coreos.com/';
    const nodes = g.api.value.nodes.map((n) => ({
      name: n.name,
      podCIDR: n.podCIDR ?? null,
      podCIDRs: n.podCIDRs,
      annotations: Object.fromEntries(Object.entries(n.annotations).filter(([k]) => k.startsWith(prefix))),
    }));
    add('api/nodes.json', json({ server: g.api.value.server, nodes }));
  } else if (g.etcd === undefined) {
    add('api/error.txt', `${g.api.error}\n`);
  }
  return files.map(([name, data]) => ({ name, data }));
}

export async function writeBundle(path: string, i: BundleInput): Promise<string[]> {
  const entries = bundleEntries(i);
  await writeFile(path, tarGz(entries, i.g.at), { mode: 0o600 });
  return entries.map((e) => e.name);
}
