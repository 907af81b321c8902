import { describe, expect, it } from 'vitest';
import { envName, parseFlags, usage, UsageError, type Options } from '../../../src/cli/flags.ts';
import { parseGoBool, parseGoInt } from '../../../src/cli/go-values.ts';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): { options: Options; warnings: readonly string[] } {
  const r = parseFlags(argv, env);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r;
}

function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): UsageError {
  try {
    parseFlags(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error(`no UsageError for ${argv.join(' ')}`);
}

describe('parseFlags defaults', () => {
  it('every upstream default, plus ours', () => {
    const { options, warnings } = run([]);
    const { set, unsupported, ...rest } = options;
    expect(rest).toEqual({
      etcdEndpoints: 'http://127.0.0.1:4001,http://127.0.0.1:2379',
      etcdPrefix: '/coreos.com/network',
      etcdKeyfile: '',
      etcdCertfile: '',
      etcdCAFile: '',
      etcdUsername: '',
      etcdPassword: '',
      iface: [],
      ifaceRegex: [],
      ifaceCanReach: '',
      subnetFile: '/run/flannel/subnet.env',
      publicIP: '',
      publicIPv6: '',
      subnetLeaseRenewMargin: 60,
      ipMasq: false,
      ipMasqFullyRandomDisable: false,
      kubeSubnetMgr: false,
      kubeApiUrl: '',
      kubeAnnotationPrefix: 'flannel.alpha.coreos.com',
      kubeconfigFile: '',
      healthzIP: '0.0.0.0',
      healthzPort: 0,
      iptablesResync: 5,
      iptablesForwardRules: true,
      ipBlackholeRoute: false,
      netConfigPath: '/etc/kube-flannel/net-conf.json',
      setNodeNetworkUnavailable: true,
      v: 0,
      vmodule: '',
      logBacktraceAt: '',
      metricsIP: '0.0.0.0',
      metricsPort: 9862,
      logFormat: 'text',
      iptablesMode: 'auto',
      vxlanCsumOffload: 'auto',
      peerHealthInterval: 60,
      migrationGrace: 60,
      logLevel: 'info',
    });
    expect([...set]).toEqual([]);
    expect(unsupported).toEqual([]);
    expect(warnings).toEqual([]);
  });
});

describe('parseFlags Go flag syntax', () => {
  it('the kube-flannel manifest command line', () => {
    const { options } = run(['--ip-masq', '--kube-subnet-mgr']);
    expect(options.ipMasq).toBe(true);
    expect(options.kubeSubnetMgr).toBe(true);
    expect([...options.set].sort()).toEqual(['ip-masq', 'kube-subnet-mgr']);
  });

  it('flannel-ts’s --vxlan-csum-offload and --peer-health-interval', () => {
    const { options } = run(['--vxlan-csum-offload=off', '--peer-health-interval', '0']);
    expect(options.vxlanCsumOffload).toBe('off');
    expect(options.peerHealthInterval).toBe(0);
    expect(run([], { FLANNELD_VXLAN_CSUM_OFFLOAD: 'on' }).options.vxlanCsumOffload).toBe('on');
  });

  it('-flag and --flag, =value and separate value', () => {
    const { options } = run(['-healthz-port=8080', '--healthz-ip', '127.0.0.1', '-subnet-file', '/tmp/s.env', '--kube-api-url=https://a:6443']);
    expect(options.healthzPort).toBe(8080);
    expect(options.healthzIP).toBe('127.0.0.1');
    expect(options.subnetFile).toBe('/tmp/s.env');
    expect(options.kubeApiUrl).toBe('https://a:6443');
  });

  it('a separate value may start with a dash, as in Go', () => {
    expect(run(['--kube-annotation-prefix', '-x']).options.kubeAnnotationPrefix).toBe('-x');
  });

  it('booleans: --x, --x=false, Go spellings', () => {
    expect(run(['--iptables-forward-rules=false']).options.iptablesForwardRules).toBe(false);
    expect(run(['--set-node-network-unavailable=F']).options.setNodeNetworkUnavailable).toBe(false);
    expect(run(['--ip-masq=1']).options.ipMasq).toBe(true);
    expect(run(['--ip-masq=TRUE']).options.ipMasq).toBe(true);
  });

  it('a boolean does not take the next argument', () => {
    expect(usageError(['--ip-masq', 'false']).message).toBe('unexpected argument "false": flanneld takes only flags');
  });

  it('--iface and --iface-regex repeat, in order; other flags: last wins', () => {
    const { options } = run(['--iface', 'eth0', '-iface=10.0.0.1', '--iface-regex', '^en', '--iface-regex=^eth', '--healthz-port=1', '--healthz-port=2']);
    expect(options.iface).toEqual(['eth0', '10.0.0.1']);
    expect(options.ifaceRegex).toEqual(['^en', '^eth']);
    expect(options.healthzPort).toBe(2);
  });

  it('-- ends the flags', () => {
    expect(run(['--ip-masq', '--']).options.ipMasq).toBe(true);
    expect(usageError(['--', '--ip-masq']).message).toBe('unexpected argument "--ip-masq": flanneld takes only flags');
  });

  it('an empty value is allowed for strings', () => {
    expect(run(['--public-ip=']).options.publicIP).toBe('');
  });

  it('Go integer syntax: hex, octal, underscores', () => {
    expect(run(['--healthz-port=0x1f90']).options.healthzPort).toBe(8080);
    expect(run(['--iptables-resync=010']).options.iptablesResync).toBe(8);
    expect(run(['--metrics-port=9_862']).options.metricsPort).toBe(9862);
  });

  it('-h, --help, -help return the usage text, even before a bad flag', () => {
    for (const h of ['-h', '--help', '-help', '--h']) {
      expect(parseFlags([h, '--nonsense'], {})).toEqual({ kind: 'help', text: usage() });
    }
  });

  it('an error before -h wins, as Go parses in order', () => {
    expect(usageError(['--nonsense', '-h']).message).toBe('flag provided but not defined: -nonsense');
  });

  it('--version', () => {
    expect(parseFlags(['--version'], {})).toEqual({ kind: 'version' });
    expect(parseFlags(['-version=true', '--ip-masq'], {})).toEqual({ kind: 'version' });
    expect(run(['--version=false']).options.kubeSubnetMgr).toBe(false);
  });

  it('FLANNELD_VERSION is ignored, as upstream checks --version before the environment', () => {
    expect(parseFlags([], { FLANNELD_VERSION: 'true' }).kind).toBe('run');
  });
});

describe('parseFlags errors', () => {
  it.each([
    [['--nonsense'], 'flag provided but not defined: -nonsense'],
    [['-x=1'], 'flag provided but not defined: -x'],
    [['---ip-masq'], 'bad flag syntax: ---ip-masq'],
    [['-=1'], 'bad flag syntax: -=1'],
    [['-'], 'unexpected argument "-": flanneld takes only flags'],
    [['eth0'], 'unexpected argument "eth0": flanneld takes only flags'],
    [['--iface'], 'flag needs an argument: -iface'],
    [['--healthz-port'], 'flag needs an argument: -healthz-port'],
    [['--ip-masq=yes'], 'invalid boolean value "yes" for -ip-masq: parse error'],
    [['--healthz-port=abc'], 'invalid value "abc" for flag -healthz-port: parse error'],
    [['--healthz-port=08080'], 'invalid value "08080" for flag -healthz-port: parse error'],
    [['--healthz-port=65536'], 'invalid value "65536" for flag -healthz-port: expected an integer 0..65535'],
    [['--metrics-port=-1'], 'invalid value "-1" for flag -metrics-port: expected an integer 0..65535'],
    [['--iptables-resync=0'], 'invalid value "0" for flag -iptables-resync: expected an integer 1..2147483'],
    [['--subnet-lease-renew-margin=1e3'], 'invalid value "1e3" for flag -subnet-lease-renew-margin: parse error'],
    [['-v', 'debug'], 'invalid value "debug" for flag -v: parse error'],
    [['-v=0x2'], 'invalid value "0x2" for flag -v: parse error'],
    [['-v=-1'], 'invalid value "-1" for flag -v: expected an integer 0..2147483647'],
    [['--public-ip=node1'], 'invalid value "node1" for flag -public-ip: expected an IPv4 address'],
    [['--public-ip=fc00::1'], 'invalid value "fc00::1" for flag -public-ip: expected an IPv4 address'],
    [['--public-ipv6=10.0.0.1'], 'invalid value "10.0.0.1" for flag -public-ipv6: expected an IPv6 address'],
    [['--healthz-ip=localhost'], 'invalid value "localhost" for flag -healthz-ip: expected an IP address'],
    [['--iface-can-reach=8.8.8'], 'invalid value "8.8.8" for flag -iface-can-reach: expected an IP address'],
    [['--log-format=yaml'], 'invalid value "yaml" for flag -log-format: expected text or json'],
    [['--logging-format=klog'], 'invalid value "klog" for flag -logging-format: expected text or json'],
    [['--logging-format=json', '--log-format=text'], '--logging-format=json and --log-format=text disagree; --log-format is an alias, give one of them'],
    [['--iptables-mode=iptables'], 'invalid value "iptables" for flag -iptables-mode: expected auto, legacy, nft'],
    [['--vxlan-csum-offload=false'], 'invalid value "false" for flag -vxlan-csum-offload: expected auto, off or on'],
    [['--peer-health-interval=-1'], 'invalid value "-1" for flag -peer-health-interval: expected an integer 0..86400'],
    [['--migration-grace=-1'], 'invalid value "-1" for flag -migration-grace: expected an integer 0..86400'],
    [['--vmodule=foo'], 'invalid value "foo" for flag -vmodule: expected pattern=N[,pattern=N...]'],
    [['--log_backtrace_at=main:12'], 'invalid value "main:12" for flag -log_backtrace_at: expected file.go:N'],
  ])('%j → %s', (argv, message) => {
    const err = usageError(argv);
    expect(err.message).toBe(message);
    expect(err.exitCode).toBe(2);
  });

  it('an invalid --iface-regex names the regex error', () => {
    expect(usageError(['--iface-regex=(eth']).message).toBe(
      'invalid value "(eth" for flag -iface-regex: expected a regular expression (Invalid regular expression: /(eth/: Unterminated group)',
    );
  });

  it.each([['0'], ['1440'], ['-5']])('subnet-lease-renew-margin %s exits 1 with upstream message', (m) => {
    const err = usageError([`--subnet-lease-renew-margin=${m}`]);
    expect(err.message).toBe(`Invalid subnet-lease-renew-margin option, out of acceptable range: ${m} (expected 1..1439 minutes)`);
    expect(err.exitCode).toBe(1);
  });

  it('subnet-lease-renew-margin bounds 1 and 1439 pass', () => {
    expect(run(['--subnet-lease-renew-margin=1']).options.subnetLeaseRenewMargin).toBe(1);
    expect(run(['--subnet-lease-renew-margin=1439']).options.subnetLeaseRenewMargin).toBe(1439);
  });
});

describe('FLANNELD_* environment', () => {
  it('names: upper-case, - and . become _', () => {
    expect(envName('ip-masq')).toBe('FLANNELD_IP_MASQ');
    expect(envName('log_backtrace_at')).toBe('FLANNELD_LOG_BACKTRACE_AT');
    expect(envName('v')).toBe('FLANNELD_V');
    expect(envName('a.b-c')).toBe('FLANNELD_A_B_C');
  });

  it('fills flags not given on the command line', () => {
    const { options } = run(['--healthz-port=1'], {
      FLANNELD_IP_MASQ: 'true',
      FLANNELD_KUBE_SUBNET_MGR: '1',
      FLANNELD_HEALTHZ_PORT: '2',
      FLANNELD_V: '4',
      FLANNELD_PUBLIC_IP: '198.18.0.2',
    });
    expect(options.ipMasq).toBe(true);
    expect(options.kubeSubnetMgr).toBe(true);
    expect(options.healthzPort).toBe(1);
    expect(options.v).toBe(4);
    expect(options.logLevel).toBe('trace');
    expect(options.publicIP).toBe('198.18.0.2');
    expect(options.set.has('ip-masq')).toBe(true);
  });

  it('empty values are ignored', () => {
    expect(run([], { FLANNELD_HEALTHZ_IP: '' }).options.healthzIP).toBe('0.0.0.0');
  });

  it('a repeatable flag takes the whole value as one entry (no comma split)', () => {
    expect(run([], { FLANNELD_IFACE: 'eth0,eth1' }).options.iface).toEqual(['eth0,eth1']);
    expect(run(['--iface=eth2'], { FLANNELD_IFACE: 'eth0' }).options.iface).toEqual(['eth2']);
  });

  it('a bad value is a warning and the default stays', () => {
    const { options, warnings } = run([], { FLANNELD_HEALTHZ_PORT: 'x', FLANNELD_IP_MASQ: 'yes' });
    expect(options.healthzPort).toBe(0);
    expect(options.ipMasq).toBe(false);
    expect(warnings).toEqual([
      'Failed to set flag FLANNELD from env: invalid value "yes" for FLANNELD_IP_MASQ: parse error; keeping the default',
      'Failed to set flag FLANNELD from env: invalid value "x" for FLANNELD_HEALTHZ_PORT: parse error; keeping the default',
    ]);
    expect(options.set.has('healthz-port')).toBe(false);
  });

  it('a renew margin out of range from the environment still exits 1', () => {
    expect(usageError([], { FLANNELD_SUBNET_LEASE_RENEW_MARGIN: '0' }).exitCode).toBe(1);
  });
});

describe('verbosity and unsupported flags', () => {
  it.each([
    ['0', 'info'],
    ['1', 'debug'],
    ['3', 'debug'],
    ['4', 'trace'],
    ['10', 'trace'],
  ])('-v %s → %s', (v, level) => {
    expect(run(['-v', v]).options.logLevel).toBe(level);
  });

  it('reports vmodule, log_backtrace_at when set; the etcd flags and --public-ipv6 are supported', () => {
    const { options } = run(['--etcd-endpoints=http://e:2379', '--public-ipv6=fc00::2', '--vmodule=kube=4'], { FLANNELD_ETCD_PREFIX: '/x' });
    expect(options.unsupported).toEqual([
      { flag: 'vmodule', reason: 'per-file verbosity is not supported by flannel-ts; -v applies to everything' },
    ]);
    expect(options.etcdEndpoints).toBe('http://e:2379');
    expect(options.etcdPrefix).toBe('/x');
    expect(options.publicIPv6).toBe('fc00::2');
  });
});

describe('--logging-format and its alias --log-format', () => {
  it('defaults to klog text; json is opt-in by either name, also through FLANNELD_*', () => {
    expect(run([]).options.logFormat).toBe('text');
    expect(run(['--logging-format=json']).options.logFormat).toBe('json');
    expect(run(['--log-format', 'json']).options.logFormat).toBe('json');
    expect(run(['--log-format=json', '--logging-format=json']).options.logFormat).toBe('json');
    expect(run([], { FLANNELD_LOGGING_FORMAT: 'json' }).options.logFormat).toBe('json');
    expect(run([], { FLANNELD_LOG_FORMAT: 'json' }).options.logFormat).toBe('json');
  });
});

describe('--iptables-mode', () => {
  it('detects by default and takes legacy or nft, also as FLANNELD_IPTABLES_MODE', () => {
    expect(run([]).options.iptablesMode).toBe('auto');
    expect(run(['--iptables-mode=legacy']).options.iptablesMode).toBe('legacy');
    expect(run([], { FLANNELD_IPTABLES_MODE: 'nft' }).options.iptablesMode).toBe('nft');
  });
});

describe('usage', () => {
  const text = usage('/usr/bin/flanneld');

  it('starts like upstream and lists every flag with its default', () => {
    expect(text.startsWith('Usage: /usr/bin/flanneld [OPTION]...\n')).toBe(true);
    expect(text).toContain('  -etcd-endpoints string\n    \ta comma-delimited list of etcd endpoints (default "http://127.0.0.1:4001,http://127.0.0.1:2379")\n');
    expect(text).toContain('  -iptables-forward-rules\n    \tadd default accept rules to FORWARD chain in iptables (default true)\n');
    expect(text).toContain('  -metrics-port int\n    \tthe port for the Prometheus metrics listener (0 to disable) (flannel-ts) (default 9862)\n');
    expect(text).toContain('  -healthz-port int\n    \tthe port for healthz server to listen (0 to disable)\n');
    expect(text).toContain('  -iface value\n');
    const names = [...text.matchAll(/^ {2}-(\S+)/gm)].map((m) => m[1]);
    expect(names).toEqual([...names].sort());
    expect(names).toHaveLength(39);
    expect(text).toContain('  -logging-format string\n    \tlog format: text (klog lines, as upstream) or json (one object per line) (flannel-ts) (default "text")\n');
    for (const n of ['etcd-prefix', 'etcd-keyfile', 'etcd-certfile', 'etcd-cafile', 'etcd-username', 'etcd-password', 'iface-regex', 'iface-can-reach', 'subnet-file', 'public-ip', 'public-ipv6', 'subnet-lease-renew-margin', 'ip-masq', 'ip-masq-fully-random-disable', 'kube-subnet-mgr', 'kube-api-url', 'kube-annotation-prefix', 'kubeconfig-file', 'version', 'healthz-ip', 'iptables-resync', 'ip-blackhole-route', 'net-config-path', 'set-node-network-unavailable', 'v', 'vmodule', 'log_backtrace_at', 'metrics-ip', 'log-format', 'logging-format', 'iptables-mode', 'vxlan-csum-offload', 'peer-health-interval', 'migration-grace']) {
      expect(names).toContain(n);
    }
  });
});

describe('Go value syntax', () => {
  it('parseGoBool', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(f)).toBe(false);
    for (const x of ['', 'yes', 'tRUE', ' true']) expect(parseGoBool(x)).toBeUndefined();
  });

  it('parseGoInt', () => {
    expect(parseGoInt('42')).toBe(42);
    expect(parseGoInt('+42')).toBe(42);
    expect(parseGoInt('-42')).toBe(-42);
    expect(parseGoInt('0')).toBe(0);
    expect(parseGoInt('017')).toBe(15);
    expect(parseGoInt('0o17')).toBe(15);
    expect(parseGoInt('0b101')).toBe(5);
    expect(parseGoInt('0x_1F')).toBe(31);
    expect(parseGoInt('1_000')).toBe(1000);
    expect(parseGoInt('017', true)).toBe(17);
    for (const bad of ['', ' 1', '1.0', '1e3', '08', '1__0', '_1', '1_', '0x', '9223372036854775808']) expect(parseGoInt(bad)).toBeUndefined();
    expect(parseGoInt('-9223372036854775808')).toBe(-9223372036854775808);
  });
});
