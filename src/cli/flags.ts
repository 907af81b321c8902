import { isIP, isIPv4, isIPv6 } from 'node:net';
import { parseGoBool, parseGoInt } from './go-values.ts';
import { errorText } from '../util/errors.ts';
import { IPTABLES_MODE_SETTINGS, type IptablesModeSetting } from '../traffic/iptables-mode.ts';

/**
 * flanneld's command line (the flags of upstream's main.go init()) with Go `flag` semantics and
 * the FLANNELD_* environment fallback (flagutil.SetFlagsFromEnv in main.go), plus flannel-ts's
 * own --metrics-*, --logging-format (alias --log-format) and --iptables-mode. Pure: argv and env in,
 * options or a UsageError out; the caller prints and exits.
 */

export interface Options {
  readonly etcdEndpoints: string;
  readonly etcdPrefix: string;
  readonly etcdKeyfile: string;
  readonly etcdCertfile: string;
  readonly etcdCAFile: string;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  /** Interface names or IPs, tried in order. */
  readonly iface: readonly string[];
  /** Patterns tried after every --iface; compiled as JavaScript RegExp. */
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string;
  readonly subnetFile: string;
  readonly publicIP: string;
  readonly publicIPv6: string;
  /** Minutes, 1..1439. */
  readonly subnetLeaseRenewMargin: number;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly kubeSubnetMgr: boolean;
  readonly kubeApiUrl: string;
  readonly kubeAnnotationPrefix: string;
  readonly kubeconfigFile: string;
  readonly healthzIP: string;
  /** 0 disables the health server. */
  readonly healthzPort: number;
  /** Seconds; also the blackhole-route period. */
  readonly iptablesResync: number;
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly netConfigPath: string;
  readonly setNodeNetworkUnavailable: boolean;
  /** klog verbosity as given. */
  readonly v: number;
  readonly vmodule: string;
  readonly logBacktraceAt: string;
  readonly metricsIP: string;
  /** 0 disables the metrics listener. */
  readonly metricsPort: number;
  readonly logFormat: 'json' | 'text';
  /** Which iptables backend the rules go to: detect (auto), or force legacy / nft. */
  readonly iptablesMode: IptablesModeSetting;
  /** vxlan: tx checksum offload of flannel.N; auto = off on kernels < 5.7 (see src/kernel/tx-csum.ts). */
  readonly vxlanCsumOffload: 'auto' | 'off' | 'on';
  /** Seconds between rounds of overlay probes to every peer; 0 turns peer health off. */
  readonly peerHealthInterval: number;
  /** Seconds a node keeps receiving over its previous backend after advertising a new one. */
  readonly migrationGrace: number;
  /** pino level from -v: 0 info, 1–3 debug, 4+ trace. */
  readonly logLevel: 'info' | 'debug' | 'trace';
  /** Names of the flags given on the command line or through FLANNELD_* (e.g. 'ip-masq'). */
  readonly set: ReadonlySet<string>;
  /** Flags that were set but whose subsystem flannel-ts lacks; the daemon says so at start. */
  readonly unsupported: readonly { readonly flag: string; readonly reason: string }[];
}

export type FlagsResult =
  | { readonly kind: 'run'; readonly options: Options; readonly warnings: readonly string[] }
  /** -h / --help: print `text` to stderr, exit 0 (as upstream). */
  | { readonly kind: 'help'; readonly text: string }
  /** --version: print the version to stderr, exit 0 (as upstream). */
  | { readonly kind: 'version' };

/**
 * A command line that cannot be used. `exitCode` 2 means "print the message and usage()";
 * 1 is upstream's validation failure after parsing (subnet-lease-renew-margin), message only.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode: 1 | 2;

  constructor(message: string, exitCode: 1 | 2 = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

type FlagKind = 'string' | 'bool' | 'int' | 'list';

interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default: string | boolean | number;
  readonly help: string;
  /** Checks a parsed value; returns what was expected when it is not acceptable. */
  readonly checkInt?: (v: number) => string | undefined;
  readonly checkText?: (v: string) => string | undefined;
  /** Set only when flannel-ts lacks the subsystem the flag configures. */
  readonly unsupported?: string;
  /** klog's -v takes base-10 only. */
  readonly decimalOnly?: boolean;
}

function range(min: number, max: number): (v: number) => string | undefined {
  return (v) => (v >= min && v <= max ? undefined : `expected an integer ${min}..${max}`);
}
const ipLiteral = (v: string): string | undefined => (v === '' || isIP(v) !== 0 ? undefined : 'expected an IP address');
const ipv4Literal = (v: string): string | undefined => (v === '' || isIPv4(v) ? undefined : 'expected an IPv4 address');
const ipv6Literal = (v: string): string | undefined => (v === '' || isIPv6(v) ? undefined : 'expected an IPv6 address');

/** Every flag, upstream's first in main.go's order, then klog's three, then ours. */
const FLAGS: readonly FlagSpec[] = [
  { name: 'etcd-endpoints', kind: 'string', default: 'http://127.0.0.1:4001,http://127.0.0.1:2379', help: 'a comma-delimited list of etcd endpoints' },
  { name: 'etcd-prefix', kind: 'string', default: '/coreos.com/network', help: 'etcd prefix' },
  { name: 'etcd-keyfile', kind: 'string', default: '', help: 'SSL key file used to secure etcd communication' },
  { name: 'etcd-certfile', kind: 'string', default: '', help: 'SSL certification file used to secure etcd communication' },
  { name: 'etcd-cafile', kind: 'string', default: '', help: 'SSL Certificate Authority file used to secure etcd communication' },
  { name: 'etcd-username', kind: 'string', default: '', help: 'username for BasicAuth to etcd' },
  { name: 'etcd-password', kind: 'string', default: '', help: 'password for BasicAuth to etcd' },
  { name: 'iface', kind: 'list', default: '', help: 'interface to use (IP or name) for inter-host communication; tried in order, first match wins' },
  { name: 'iface-regex', kind: 'list', default: '', help: 'regex matching the interface (IP or name) for inter-host communication; tried in order after every --iface', checkText: regexSyntax },
  { name: 'iface-can-reach', kind: 'string', default: '', help: "use the interface (and source IP) 'ip route get <ip>' picks for this IP", checkText: ipLiteral },
  { name: 'subnet-file', kind: 'string', default: '/run/flannel/subnet.env', help: 'filename where env variables (subnet, MTU, ... ) will be written to' },
  { name: 'public-ip', kind: 'string', default: '', help: 'IP accessible by other nodes for inter-host communication', checkText: ipv4Literal },
  { name: 'public-ipv6', kind: 'string', default: '', help: 'IPv6 accessible by other nodes for inter-host communication', checkText: ipv6Literal },
  { name: 'subnet-lease-renew-margin', kind: 'int', default: 60, help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439' },
  { name: 'ip-masq', kind: 'bool', default: false, help: 'setup IP masquerade rule for traffic destined outside of overlay network' },
  { name: 'ip-masq-fully-random-disable', kind: 'bool', default: false, help: 'disable fully-random mode for MASQUERADE' },
  { name: 'kube-subnet-mgr', kind: 'bool', default: false, help: 'contact the Kubernetes API for subnet assignment instead of etcd' },
  { name: 'kube-api-url', kind: 'string', default: '', help: 'Kubernetes API server URL; not needed when running in a pod' },
  { name: 'kube-annotation-prefix', kind: 'string', default: 'flannel.alpha.coreos.com', help: 'Kubernetes annotation prefix; may contain a single "/", otherwise one is appended' },
  { name: 'kubeconfig-file', kind: 'string', default: '', help: 'kubeconfig file location; not needed when running in a pod' },
  { name: 'version', kind: 'bool', default: false, help: 'print version and exit' },
  { name: 'healthz-ip', kind: 'string', default: '0.0.0.0', help: 'the IP address for healthz server to listen', checkText: ipLiteral },
  { name: 'healthz-port', kind: 'int', default: 0, help: 'the port for healthz server to listen (0 to disable)', checkInt: range(0, 65535) },
  // Upper bound: setInterval's limit, 2^31-1 ms.
  { name: 'iptables-resync', kind: 'int', default: 5, help: 'resync period for iptables rules, in seconds', checkInt: range(1, 2147483) },
  { name: 'iptables-forward-rules', kind: 'bool', default: true, help: 'add default accept rules to FORWARD chain in iptables' },
  { name: 'ip-blackhole-route', kind: 'bool', default: false, help: 'add a blackhole route on the node for the local podCIDR' },
  { name: 'net-config-path', kind: 'string', default: '/etc/kube-flannel/net-conf.json', help: 'path to the network configuration file' },
  { name: 'set-node-network-unavailable', kind: 'bool', default: true, help: 'set NodeNetworkUnavailable after ready' },
  { name: 'v', kind: 'int', default: 0, help: 'log verbosity: 0 info, 1-3 debug, 4 and above trace', checkInt: range(0, 2147483647), decimalOnly: true },
  { name: 'vmodule', kind: 'string', default: '', help: 'comma-separated list of pattern=N settings for file-filtered logging (accepted, not applied)', checkText: vmoduleSyntax, unsupported: 'per-file verbosity is not supported by flannel-ts; -v applies to everything' },
  { name: 'log_backtrace_at', kind: 'string', default: '', help: 'when logging hits line file:N, emit a stack trace (accepted, not applied)', checkText: backtraceSyntax, unsupported: 'log backtraces are not supported by flannel-ts' },
  { name: 'metrics-ip', kind: 'string', default: '0.0.0.0', help: 'the IP address for the Prometheus metrics listener (flannel-ts)', checkText: ipLiteral },
  { name: 'metrics-port', kind: 'int', default: 9862, help: 'the port for the Prometheus metrics listener (0 to disable) (flannel-ts)', checkInt: range(0, 65535) },
  {
    name: 'iptables-mode', kind: 'string', default: 'auto',
    help: 'iptables backend for the masquerade and forward rules: auto (the one the kubelet and kube-proxy use, as iptables-wrapper), legacy or nft (flannel-ts)',
    checkText: (v: string) => ((IPTABLES_MODE_SETTINGS as readonly string[]).includes(v) ? undefined : `expected ${IPTABLES_MODE_SETTINGS.join(', ')}`),
  },
  // Kubernetes components' flag: klog text lines unless json is asked for.
  { name: 'logging-format', kind: 'string', default: 'text', help: 'log format: text (klog lines, as upstream) or json (one object per line) (flannel-ts)', checkText: logFormat },
  { name: 'log-format', kind: 'string', default: '', help: 'the same as --logging-format (flannel-ts)', checkText: logFormat },
  { name: 'vxlan-csum-offload', kind: 'string', default: 'auto', help: 'tx checksum offload on the vxlan device: auto (off on kernels older than 5.7, whose VXLAN checksums break with MASQUERADE --random-fully), off or on (flannel-ts)', checkText: (v: string) => (v === 'auto' || v === 'off' || v === 'on' ? undefined : 'expected auto, off or on') },
  { name: 'peer-health-interval', kind: 'int', default: 60, help: 'seconds between ICMP probes of every peer through the overlay, at most 100 per second; 0 turns peer health off (flannel-ts)', checkInt: range(0, 86400) },
  { name: 'migration-grace', kind: 'int', default: 60, help: 'seconds the previous backend keeps receiving after a backend switch, for peers that have not yet seen the new annotation (flannel-ts)', checkInt: range(0, 86400) },
];

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

function logFormat(v: string): string | undefined {
  return v === 'json' || v === 'text' ? undefined : 'expected text or json';
}

function regexSyntax(v: string): string | undefined {
  try {
    new RegExp(v);
    return undefined;
  } catch (e) {
    return `expected a regular expression (${errorText(e)})`;
  }
}

/** klog: pattern=N[,pattern=N...] */
function vmoduleSyntax(v: string): string | undefined {
  if (v === '' || v.split(',').every((p) => /^[^=]+=\d+$/.test(p))) return undefined;
  return 'expected pattern=N[,pattern=N...]';
}

/** klog: file.go:N */
function backtraceSyntax(v: string): string | undefined {
  return v === '' || /^[^:]*\.[^:]*:\d+$/.test(v) ? undefined : 'expected file.go:N';
}

type Value = string | number | boolean | string[];

/** Parses a value for `spec`; returns the problem text when it is not acceptable. */
function convert(spec: FlagSpec, raw: string): { value: Value } | { problem: string } {
  switch (spec.kind) {
    case 'bool': {
      const b = parseGoBool(raw);
      return b === undefined ? { problem: 'parse error' } : { value: b };
    }
    case 'int': {
      const n = parseGoInt(raw, spec.decimalOnly);
      if (n === undefined) return { problem: 'parse error' };
      const problem = spec.checkInt?.(n);
      return problem === undefined ? { value: n } : { problem };
    }
    case 'string':
    case 'list': {
      const problem = spec.checkText?.(raw);
      return problem === undefined ? { value: raw } : { problem };
    }
  }
}

/**
 * Parses flanneld's argv (without node and script) and the environment. Throws UsageError.
 * Go `flag` rules: `-x` and `--x` alike; `--x=v` or `--x v` for non-booleans; booleans only
 * `--x` or `--x=false`; `--` ends the flags; a repeated flag overrides, except the repeatable
 * --iface and --iface-regex. Unlike upstream, a positional argument is an error: Go stops at the
 * first one and silently ignores every flag after it.
 */
export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv, argv0 = 'flanneld'): FlagsResult {
  const values = new Map<string, Value>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument ${JSON.stringify(argv[i + 1])}: flanneld takes only flags`);
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: flanneld takes only flags`);
    const body = arg.slice(arg[1] === '-' ? 2 : 1);
    if (body === '' || body[0] === '-' || body[0] === '=') throw new UsageError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    let raw = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = BY_NAME.get(name);
    if (spec === undefined) {
      if (name === 'h' || name === 'help') return { kind: 'help', text: usage(argv0) };
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === 'bool') {
      raw ??= 'true';
    } else if (raw === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      raw = argv[++i]!;
    }
    const r = convert(spec, raw);
    if ('problem' in r) {
      const what = spec.kind === 'bool' ? `invalid boolean value ${JSON.stringify(raw)} for -${name}` : `invalid value ${JSON.stringify(raw)} for flag -${name}`;
      throw new UsageError(`${what}: ${r.problem}`);
    }
    store(values, spec, r.value);
  }
  // Upstream checks --version before reading the environment, so FLANNELD_VERSION never applies.
  if (values.get('version') === true) return { kind: 'version' };

  const warnings = applyEnv(values, env);
  const lf = values.get('logging-format');
  const alias = values.get('log-format');
  if (lf !== undefined && alias !== undefined && lf !== alias) {
    throw new UsageError(`--logging-format=${String(lf)} and --log-format=${String(alias)} disagree; --log-format is an alias, give one of them`);
  }
  const options = buildOptions(values);
  if (options.subnetLeaseRenewMargin < 1 || options.subnetLeaseRenewMargin > 1439) {
    throw new UsageError(
      `Invalid subnet-lease-renew-margin option, out of acceptable range: ${options.subnetLeaseRenewMargin} (expected 1..1439 minutes)`,
      1,
    );
  }
  return { kind: 'run', options, warnings };
}

function store(values: Map<string, Value>, spec: FlagSpec, value: Value): void {
  if (spec.kind === 'list') {
    const list = (values.get(spec.name) as string[] | undefined) ?? [];
    list.push(value as string);
    values.set(spec.name, list);
  } else {
    values.set(spec.name, value);
  }
}

/** FLANNELD_<FLAG> name: upper-cased, `-` and `.` → `_` (coreos/pkg flagutil). */
export function envName(flag: string): string {
  return `FLANNELD_${flag.replace(/[-.]/g, '_').toUpperCase()}`;
}

/**
 * Fills flags not given on the command line from non-empty FLANNELD_* variables. A bad value is
 * a warning and the flag keeps its default, as upstream (`Failed to set flag FLANNELD from env`).
 * A repeatable flag takes the whole value as one entry: upstream does not split on commas.
 */
function applyEnv(values: Map<string, Value>, env: NodeJS.ProcessEnv): string[] {
  const warnings: string[] = [];
  for (const spec of FLAGS) {
    if (spec.name === 'version' || values.has(spec.name)) continue;
    const key = envName(spec.name);
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    const r = convert(spec, raw);
    if ('problem' in r) {
      warnings.push(`Failed to set flag FLANNELD from env: invalid value ${JSON.stringify(raw)} for ${key}: ${r.problem}; keeping the default`);
      continue;
    }
    store(values, spec, r.value);
  }
  return warnings;
}

function buildOptions(values: ReadonlyMap<string, Value>): Options {
  const get = (name: string): Value => {
    const spec = BY_NAME.get(name)!;
    return values.get(name) ?? (spec.kind === 'list' ? [] : spec.default);
  };
  const str = (name: string) => get(name) as string;
  const int = (name: string) => get(name) as number;
  const bool = (name: string) => get(name) as boolean;
  const v = int('v');
  return {
    etcdEndpoints: str('etcd-endpoints'),
    etcdPrefix: str('etcd-prefix'),
    etcdKeyfile: str('etcd-keyfile'),
    etcdCertfile: str('etcd-certfile'),
    etcdCAFile: str('etcd-cafile'),
    etcdUsername: str('etcd-username'),
    etcdPassword: str('etcd-password'),
    iface: get('iface') as string[],
    ifaceRegex: get('iface-regex') as string[],
    ifaceCanReach: str('iface-can-reach'),
    subnetFile: str('subnet-file'),
    publicIP: str('public-ip'),
    publicIPv6: str('public-ipv6'),
    subnetLeaseRenewMargin: int('subnet-lease-renew-margin'),
    ipMasq: bool('ip-masq'),
    ipMasqFullyRandomDisable: bool('ip-masq-fully-random-disable'),
    kubeSubnetMgr: bool('kube-subnet-mgr'),
    kubeApiUrl: str('kube-api-url'),
    kubeAnnotationPrefix: str('kube-annotation-prefix'),
    kubeconfigFile: str('kubeconfig-file'),
    healthzIP: str('healthz-ip'),
    healthzPort: int('healthz-port'),
    iptablesResync: int('iptables-resync'),
    iptablesForwardRules: bool('iptables-forward-rules'),
    ipBlackholeRoute: bool('ip-blackhole-route'),
    netConfigPath: str('net-config-path'),
    setNodeNetworkUnavailable: bool('set-node-network-unavailable'),
    v,
    vmodule: str('vmodule'),
    logBacktraceAt: str('log_backtrace_at'),
    metricsIP: str('metrics-ip'),
    metricsPort: int('metrics-port'),
    logFormat: (values.get('logging-format') ?? values.get('log-format') ?? 'text') as 'json' | 'text',
    iptablesMode: str('iptables-mode') as IptablesModeSetting,
    vxlanCsumOffload: str('vxlan-csum-offload') as 'auto' | 'off' | 'on',
    peerHealthInterval: int('peer-health-interval'),
    migrationGrace: int('migration-grace'),
    logLevel: v === 0 ? 'info' : v <= 3 ? 'debug' : 'trace',
    set: new Set(values.keys()),
    unsupported: FLAGS.filter((f) => f.unsupported !== undefined && values.has(f.name)).map((f) => ({ flag: f.name, reason: f.unsupported! })),
  };
}

/**
 * The help text in the layout of Go's flag.PrintDefaults, flags sorted by name, after upstream's
 * `Usage: <argv0> [OPTION]...` line.
 */
export function usage(argv0 = 'flanneld'): string {
  const lines = [`Usage: ${argv0} [OPTION]...`];
  for (const f of [...FLAGS].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const type = f.kind === 'bool' ? '' : f.kind === 'int' ? ' int' : f.kind === 'list' ? ' value' : ' string';
    let help = f.help;
    if (f.kind === 'list') help += ' (repeatable)';
    else if (f.kind === 'string' && f.default !== '') help += ` (default ${JSON.stringify(f.default)})`;
    // Go leaves out zero defaults (false, 0, "").
    else if (f.kind !== 'string' && f.default !== false && f.default !== 0) help += ` (default ${String(f.default)})`;
    lines.push(`  -${f.name}${type}`, `    \t${help}`);
  }
  return `${lines.join('\n')}\n`;
}
