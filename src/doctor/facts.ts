/**
 * Everything `flanneld doctor` looks at, read once: the daemon's /debug/state, the files, the
 * API server's nodes (in etcd mode etcd's leases and config), the kernel (through src/netlink, never `ip`), sysctls and the firewall
 * rules (iptables-save and nft, the accepted way to read them). Each source is read on its
 * own and a failure is kept as data, so one broken source never hides the others.
 */
import { errorText } from '../util/errors.ts';
import type { Families, IpFamily } from '../ip/cidr.ts';
import { unicastKind } from '../ifaces/address.ts';
import { readdir, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ExternalInterface } from '../backends/backend.ts';
import type { Options } from '../cli/flags.ts';
import { parseNetConf } from '../config/netconf.ts';
import type { NetConf } from '../config/types.ts';
import { selectInterface } from '../ifaces/select.ts';
import { runningKernel, type KernelVersion } from '../kernel/release.ts';
import { openNetlink } from '../netlink/index.ts';
import { ipv4NeighThresholds, type NeighTableThresholds } from '../netlink/neigh-table.ts';
import { AF_BRIDGE, AF_INET, AF_INET6, type Addr, type Link, type Neigh, type Route } from '../netlink/types.ts';
import { annotationKeys } from '../subnet/kube/annotations.ts';
import type { NodeView } from '../subnet/kube/api.ts';
import type { EtcdClient, KeyValue } from '../subnet/etcd/client.ts';
import { parseDotenv } from '../subnet/subnet-env.ts';
import { runCommand, type CommandResult } from '../traffic/exec.ts';
import type { DaemonDebugState, DaemonSettings } from './daemon-state.ts';

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const bad = <T>(error: string): Result<T> => ({ ok: false, error });

/** The doctor's own flags (the rest are flanneld's, parsed by parseFlags). */
export interface DoctorFlags {
  readonly json: boolean;
  readonly bundle: string | undefined;
  readonly probe: boolean;
  readonly probeTimeoutMs: number;
  readonly cniConfDir: string;
  readonly cniBinDir: string;
  readonly nodeName: string | undefined;
}

/** Where the daemon's settings came from, for the evidence lines. */
export type SettingSource = 'flag' | 'daemon' | 'default';

type EtcdSettingKey = 'etcdEndpoints' | 'etcdPrefix' | 'etcdCAFile' | 'etcdCertFile' | 'etcdKeyFile' | 'etcdUsername';

/** The settings the checks use: the daemon's own, unless a flag given to the doctor overrides them. */
export interface Settings extends Omit<DaemonSettings, 'vxlanCsumOffload' | 'peerHealthInterval' | 'subnetManager' | EtcdSettingKey> {
  readonly source: SettingSource;
  /** kube unless the daemon says etcd, or the doctor is given --kube-subnet-mgr=false or --etcd-* flags. */
  readonly subnetManager: 'kube' | 'etcd';
  readonly etcd: { readonly [K in EtcdSettingKey]: string };
}

/** etcd mode: what `<prefix>/subnets/` and `<prefix>/config` hold. */
export interface EtcdFacts {
  readonly endpoints: string;
  readonly prefix: string;
  readonly kvs: readonly KeyValue[];
  /** `<prefix>/config`, parsed as the daemon parses it. */
  readonly config: Result<{ readonly conf: NetConf; readonly text: string }>;
}

export interface KernelFacts {
  readonly version: KernelVersion | undefined;
  readonly links: readonly Link[];
  readonly addrs: readonly Addr[];
  /** Routes of every table, both families (each carries its family). */
  readonly routes: readonly Route[];
  /** AF_INET and AF_INET6 neighbours of every device. */
  readonly neighs: readonly Neigh[];
  /** AF_BRIDGE entries of every device (vxlan FDB, bridge ports). */
  readonly fdb: readonly Neigh[];
  /** The IPv4 neighbour table's gc thresholds (host-wide). */
  readonly neighTable: NeighTableThresholds | undefined;
}

/**
 * A device's addresses of one family, without the IPv6 link-local one (fe80::/10) the kernel
 * gives every interface: those are what flannel and the bridge plugin put there.
 */
export function deviceAddrs(k: KernelFacts, index: number, family: IpFamily): Addr[] {
  const af = family === 'ipv4' ? AF_INET : AF_INET6;
  return k.addrs.filter((a) => a.index === index && a.family === af && !(family === 'ipv6' && unicastKind('ipv6', a.address) === 'link-local'));
}

export interface RulesFacts {
  /** `iptables-save` (the alternative this image's iptables points at), what the daemon programs. */
  readonly iptablesSave: Result<string>;
  /** `iptables-save --version`: names the backend, e.g. "(nf_tables)" or "(legacy)". */
  readonly iptablesVariant: string;
  readonly legacySave: Result<string>;
  readonly nftSave: Result<string>;
  /** `nft list ruleset`. */
  readonly nftRuleset: Result<string>;
  /** The same three for IPv6: ip6tables-save, ip6tables-legacy-save, ip6tables-nft-save. */
  readonly ip6tablesSave: Result<string>;
  readonly ip6LegacySave: Result<string>;
  readonly ip6NftSave: Result<string>;
}

export interface CniFacts {
  readonly confDir: string;
  readonly binDir: string;
  /** Config files libcni would consider (.conf, .conflist, .json), sorted by name as it does. */
  readonly confFiles: Result<readonly { readonly name: string; readonly text: Result<string> }[]>;
  /** Each plugin the flannel setup needs: present and executable, or why not. */
  readonly bins: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
}

export interface Gathered {
  readonly at: Date;
  readonly doctor: DoctorFlags;
  readonly daemonUrl: string;
  readonly daemon: Result<DaemonDebugState>;
  readonly settings: Settings;
  readonly nodeName: Result<string>;
  readonly netConf: Result<{ readonly conf: NetConf; readonly text: string }>;
  readonly subnetEnv: Result<{ readonly text: string; readonly vars: ReadonlyMap<string, string> }>;
  readonly api: Result<{ readonly server: string; readonly nodes: readonly NodeView[] }>;
  /** Read in etcd mode only. */
  readonly etcd: Result<EtcdFacts> | undefined;
  readonly kernel: Result<KernelFacts>;
  readonly ext: Result<ExternalInterface>;
  readonly sysctl: Readonly<Record<string, string | undefined>>;
  readonly rules: RulesFacts;
  readonly cni: CniFacts;
}

/** The CNI plugins a flannel node needs: flannel's own, and what its delegate and the manifest's conflist call. */
export const CNI_PLUGINS = ['flannel', 'bridge', 'host-local', 'portmap'] as const;

export const SYSCTLS = ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', 'net/bridge/bridge-nf-call-iptables'] as const;

const API_TIMEOUT_MS = 10_000;
const DAEMON_TIMEOUT_MS = 5_000;

export async function gather(opts: Options, doctor: DoctorFlags, env: NodeJS.ProcessEnv): Promise<Gathered> {
  const at = new Date();
  const port = opts.set.has('healthz-port') ? opts.healthzPort : opts.healthzPort > 0 ? opts.healthzPort : 8081;
  const host = opts.healthzIP === '0.0.0.0' || opts.healthzIP === '::' || opts.healthzIP === '' ? '127.0.0.1' : opts.healthzIP;
  const daemonUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/debug/state`;
  const daemon = await readDaemonState(daemonUrl);
  const settings = resolveSettings(opts, daemon.ok ? daemon.value : undefined, port);

  const etcd = settings.subnetManager === 'etcd' ? await readEtcd(settings, opts.etcdPassword) : undefined;
  const [netConf, subnetEnv, kernel, sysctl, rules, cni] = await Promise.all([
    // etcd mode reads its config from <prefix>/config, not from the file.
    etcd === undefined ? readNetConfFile(settings.netConfigPath) : Promise.resolve(etcd.ok ? etcd.value.config : bad<{ conf: NetConf; text: string }>(etcd.error)),
    readSubnetEnvFile(settings.subnetFile),
    readKernel(),
    readSysctls(),
    readRules(),
    readCni(doctor.cniConfDir, doctor.cniBinDir),
  ]);
  const inferred = inferFromFiles(settings, opts, daemon.ok, subnetEnv);
  const api = etcd === undefined ? await listNodes(inferred) : bad<{ server: string; nodes: readonly NodeView[] }>('etcd mode: the leases are in etcd, not in the Kubernetes API');
  const nodeName = etcd === undefined ? await resolveNode(doctor, daemon, env, settings) : ok(doctor.nodeName ?? hostname());
  const families = netConf.ok ? { ipv4: netConf.value.conf.enableIPv4, ipv6: netConf.value.conf.enableIPv6 } : undefined;
  const ext = await externalInterface(daemon, settings, api, nodeName, families);
  return { at, doctor, daemonUrl, daemon, settings: inferred, nodeName, netConf, subnetEnv, api, etcd, kernel, ext, sysctl, rules, cni };
}

/** etcd mode: one list of `<prefix>/subnets/` and one read of `<prefix>/config`, with the daemon's etcd flags. */
async function readEtcd(s: Settings, password: string): Promise<Result<EtcdFacts>> {
  let client: EtcdClient | undefined;
  const endpoints = s.etcd.etcdEndpoints;
  try {
    // Loaded only here, as the kube client is: most nodes run the kube subnet manager.
    const { etcdClientFrom } = await import('../subnet/etcd/mode.ts');
    const { subnetsPrefix, configKey } = await import('../subnet/etcd/lease-value.ts');
    const f = s.etcd;
    client = etcdClientFrom({ endpoints, keyfile: f.etcdKeyFile, certfile: f.etcdCertFile, cafile: f.etcdCAFile, username: f.etcdUsername, password }, API_TIMEOUT_MS);
    const key = configKey(s.etcd.etcdPrefix);
    const [leases, conf] = await Promise.all([client.range(subnetsPrefix(s.etcd.etcdPrefix), { prefix: true }), client.range(key)]);
    const text = conf.kvs[0]?.value;
    let config: EtcdFacts['config'];
    if (text === undefined) config = bad(`no key ${key}`);
    else {
      try {
        config = ok({ conf: parseNetConf(text, `etcd key ${key}`, { subnetManager: 'etcd' }), text });
      } catch (e) {
        config = bad(errorText(e));
      }
    }
    return ok({ endpoints, prefix: s.etcd.etcdPrefix, kvs: leases.kvs, config });
  } catch (e) {
    const user = s.etcd.etcdUsername;
    const auth = user !== '' && password === '' ? ` (the daemon authenticates as "${user}"; give the doctor --etcd-password or FLANNELD_ETCD_PASSWORD)` : '';
    return bad(`${endpoints}: ${errorText(e)}${auth}`);
  } finally {
    client?.close();
  }
}

/** Without the daemon, --ip-masq is what it last wrote to subnet.env (FLANNEL_IPMASQ), unless given to the doctor. */
function inferFromFiles(s: Settings, opts: Options, daemonAnswered: boolean, env: Gathered['subnetEnv']): Settings {
  if (daemonAnswered || opts.set.has('ip-masq') || !env.ok) return s;
  const v = env.value.vars.get('FLANNEL_IPMASQ');
  return v === undefined ? s : { ...s, ipMasq: v === 'true' };
}

function resolveSettings(opts: Options, d: DaemonDebugState | undefined, healthzPort: number): Settings {
  const s = d?.settings;
  const pick = <K extends keyof Settings & keyof Options>(key: K, flag: string): Options[K] =>
    (opts.set.has(flag) || s === undefined ? opts[key] : (s[key as keyof typeof s] as Options[K]));
  return {
    subnetFile: pick('subnetFile', 'subnet-file'),
    netConfigPath: pick('netConfigPath', 'net-config-path'),
    kubeconfigFile: pick('kubeconfigFile', 'kubeconfig-file'),
    kubeApiUrl: pick('kubeApiUrl', 'kube-api-url'),
    kubeAnnotationPrefix: pick('kubeAnnotationPrefix', 'kube-annotation-prefix'),
    iface: pick('iface', 'iface'),
    ifaceRegex: pick('ifaceRegex', 'iface-regex'),
    publicIP: pick('publicIP', 'public-ip'),
    ipMasq: pick('ipMasq', 'ip-masq'),
    ipMasqFullyRandomDisable: pick('ipMasqFullyRandomDisable', 'ip-masq-fully-random-disable'),
    iptablesForwardRules: pick('iptablesForwardRules', 'iptables-forward-rules'),
    healthzIP: pick('healthzIP', 'healthz-ip'),
    healthzPort: s?.healthzPort ?? healthzPort,
    source: s !== undefined ? 'daemon' : opts.set.size > 0 ? 'flag' : 'default',
    subnetManager: subnetManagerOf(opts, s),
    etcd: {
      etcdEndpoints: pickEtcd(opts, s, 'etcdEndpoints', 'etcd-endpoints', opts.etcdEndpoints),
      etcdPrefix: pickEtcd(opts, s, 'etcdPrefix', 'etcd-prefix', opts.etcdPrefix),
      etcdCAFile: pickEtcd(opts, s, 'etcdCAFile', 'etcd-cafile', opts.etcdCAFile),
      etcdCertFile: pickEtcd(opts, s, 'etcdCertFile', 'etcd-certfile', opts.etcdCertfile),
      etcdKeyFile: pickEtcd(opts, s, 'etcdKeyFile', 'etcd-keyfile', opts.etcdKeyfile),
      etcdUsername: pickEtcd(opts, s, 'etcdUsername', 'etcd-username', opts.etcdUsername),
    },
  };
}

/**
 * The daemon's subnet manager; without a daemon, kube (the manifest's) unless the doctor is given
 * --kube-subnet-mgr=false or an --etcd-* flag. Daemons before etcd mode report none: kube.
 */
function subnetManagerOf(opts: Options, s: DaemonSettings | undefined): 'kube' | 'etcd' {
  if (opts.set.has('kube-subnet-mgr')) return opts.kubeSubnetMgr ? 'kube' : 'etcd';
  if (s !== undefined) return s.subnetManager ?? 'kube';
  return [...opts.set].some((f) => f.startsWith('etcd-')) ? 'etcd' : 'kube';
}

function pickEtcd(opts: Options, s: DaemonSettings | undefined, key: EtcdSettingKey, flag: string, given: string): string {
  return opts.set.has(flag) ? given : (s?.[key] ?? given);
}

/** GET /debug/state with a deadline; the error says how to make it answer. */
export function readDaemonState(url: string, timeoutMs = DAEMON_TIMEOUT_MS): Promise<Result<DaemonDebugState>> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(bad(`${url}: HTTP ${res.statusCode} ${body.trim()}`));
        try {
          resolve(ok(JSON.parse(body) as DaemonDebugState));
        } catch (e) {
          resolve(bad(`${url}: not JSON: ${errorText(e)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(bad(`${url}: ${e.code ?? e.message}`)));
    req.end();
  });
}

async function readNetConfFile(path: string): Promise<Gathered['netConf']> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return bad(`${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
  }
  try {
    return ok({ conf: parseNetConf(text, path), text });
  } catch (e) {
    return bad(errorText(e));
  }
}

async function readSubnetEnvFile(path: string): Promise<Gathered['subnetEnv']> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return bad(`${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
  }
  const vars = parseDotenv(text);
  return typeof vars === 'string' ? bad(`${path}: ${vars}`) : ok({ text, vars });
}

async function readKernel(): Promise<Result<KernelFacts>> {
  let nl;
  try {
    nl = openNetlink();
  } catch (e) {
    return bad(`netlink: ${errorText(e)}`);
  }
  try {
    const [links, addrs, addrs6, routes, routes6, neighs, neighs6, fdb, neighTable] = await Promise.all([
      nl.linkList(),
      nl.addrList({ family: AF_INET }),
      nl.addrList({ family: AF_INET6 }),
      nl.routeList({ family: AF_INET }),
      nl.routeList({ family: AF_INET6 }),
      nl.neighList({ family: AF_INET }),
      nl.neighList({ family: AF_INET6 }),
      nl.neighList({ family: AF_BRIDGE }),
      ipv4NeighThresholds().catch(() => undefined),
    ]);
    return ok({ version: runningKernel(), links, addrs: [...addrs, ...addrs6], routes: [...routes, ...routes6], neighs: [...neighs, ...neighs6], fdb, neighTable });
  } catch (e) {
    return bad(`netlink: ${errorText(e)}`);
  } finally {
    nl.close();
  }
}

async function readSysctls(): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  await Promise.all(
    SYSCTLS.map(async (k) => {
      try {
        out[k] = (await readFile(`/proc/sys/${k}`, 'utf8')).trim();
      } catch {
        out[k] = undefined;
      }
    }),
  );
  return out;
}

async function tool(file: string, args: readonly string[]): Promise<Result<string>> {
  let r: CommandResult;
  try {
    r = await runCommand(file, args);
  } catch (e) {
    return bad(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : errorText(e)}`);
  }
  return r.code === 0 ? ok(r.stdout) : bad(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || '(no output)'}`);
}

async function readRules(): Promise<RulesFacts> {
  const [iptablesSave, version, legacySave, nftSave, nftRuleset, ip6tablesSave, ip6LegacySave, ip6NftSave] = await Promise.all([
    tool('iptables-save', []),
    tool('iptables-save', ['--version']),
    tool('iptables-legacy-save', []),
    tool('iptables-nft-save', []),
    tool('nft', ['list', 'ruleset']),
    tool('ip6tables-save', []),
    tool('ip6tables-legacy-save', []),
    tool('ip6tables-nft-save', []),
  ]);
  const variant = version.ok ? (/\((\w+)\)/.exec(version.value)?.[1] ?? version.value.trim()) : 'unknown';
  return { iptablesSave, iptablesVariant: variant === 'nf_tables' ? 'nft' : variant, legacySave, nftSave, nftRuleset, ip6tablesSave, ip6LegacySave, ip6NftSave };
}

async function readCni(confDir: string, binDir: string): Promise<CniFacts> {
  let confFiles: CniFacts['confFiles'];
  try {
    // libcni's ConfFiles: these extensions, sorted by file name; the runtime uses the first.
    const names = (await readdir(confDir)).filter((n) => /\.(conf|conflist|json)$/.test(n)).sort();
    confFiles = ok(
      await Promise.all(
        names.map(async (name) => {
          try {
            return { name, text: ok(await readFile(join(confDir, name), 'utf8')) };
          } catch (e) {
            return { name, text: bad<string>((e as NodeJS.ErrnoException).code ?? errorText(e)) };
          }
        }),
      ),
    );
  } catch (e) {
    confFiles = bad(`${confDir}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
  }
  const bins = await Promise.all(
    CNI_PLUGINS.map(async (name) => {
      const path = join(binDir, name);
      try {
        const st = await stat(path);
        if (!st.isFile()) return { name, ok: false, detail: `${path} is not a file` };
        if ((st.mode & 0o111) === 0) return { name, ok: false, detail: `${path} is not executable` };
        return { name, ok: true, detail: `${path} (${st.size} bytes)` };
      } catch (e) {
        return { name, ok: false, detail: `${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}` };
      }
    }),
  );
  return { confDir, binDir, confFiles, bins };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function listNodes(s: Settings): Promise<Gathered['api']> {
  try {
    // Loaded only here: the client is the heavy part of the image's code.
    const { createKubeApi } = await import('../subnet/kube/client.ts');
    const api = await createKubeApi({ kubeconfigFile: s.kubeconfigFile, apiUrl: s.kubeApiUrl });
    const list = await withTimeout(api.listNodes(), API_TIMEOUT_MS, `listing nodes from ${api.server}`);
    return ok({ server: api.server, nodes: list.nodes });
  } catch (e) {
    return bad(errorText(e));
  }
}

async function resolveNode(doctor: DoctorFlags, daemon: Result<DaemonDebugState>, env: NodeJS.ProcessEnv, s: Settings): Promise<Result<string>> {
  if (doctor.nodeName !== undefined) return ok(doctor.nodeName);
  if (daemon.ok && daemon.value.lease?.node !== undefined) return ok(daemon.value.lease.node);
  try {
    const { createKubeApi } = await import('../subnet/kube/client.ts');
    const { resolveNodeName } = await import('../subnet/kube/node-name.ts');
    if ((env['NODE_NAME'] ?? '') !== '') return ok(env['NODE_NAME']!);
    const api = await createKubeApi({ kubeconfigFile: s.kubeconfigFile, apiUrl: s.kubeApiUrl });
    return ok(await withTimeout(resolveNodeName(env, api), API_TIMEOUT_MS, 'finding this node'));
  } catch (e) {
    return bad(`${errorText(e)} (set NODE_NAME or pass --node-name)`);
  }
}

async function externalInterface(daemon: Result<DaemonDebugState>, s: Settings, api: Gathered['api'], node: Result<string>, families: Families | undefined): Promise<Result<ExternalInterface>> {
  if (daemon.ok && daemon.value.external !== undefined) return ok(daemon.value.external);
  // As the daemon chooses it: node-public-ip annotation over --public-ip, then the interface flags.
  let publicIp = s.publicIP;
  if (api.ok && node.ok) {
    const own = api.value.nodes.find((n) => n.name === node.value);
    try {
      const annotated = own?.annotations[annotationKeys(s.kubeAnnotationPrefix).nodePublicIp];
      if (annotated !== undefined && annotated !== '') publicIp = annotated;
    } catch {
      // A bad prefix is reported by the lease checks.
    }
  }
  const nl = openNetlink();
  try {
    return ok(await selectInterface(nl, { ifaces: s.iface, ifaceRegexes: s.ifaceRegex, publicIp, ...(families !== undefined ? { families } : {}) }));
  } catch (e) {
    return bad(errorText(e));
  } finally {
    nl.close();
  }
}
