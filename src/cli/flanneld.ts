/**
 * The flanneld command: parse flags as upstream does, then run the daemon until SIGINT/SIGTERM.
 * Exit codes as upstream: 0 after a clean shutdown, 1 for a startup failure, 2 for a bad
 * command line (upstream exits 0 there; see README "Differences").
 */
import { parseFlags, usage, UsageError, type Options } from './flags.ts';
import { createLogger, type Logger } from '../observe/log.ts';
import type { DaemonConfig } from '../daemon/config.ts';
import { Daemon } from '../daemon/daemon.ts';
import { FatalError } from '../daemon/fatal.ts';
import type { NetConf } from '../config/types.ts';
import type { EtcdMode } from '../subnet/etcd/mode.ts';
import { errorText } from '../util/errors.ts';
import { VERSION } from '../version.ts';
import { LogRing } from '../observe/log-ring.ts';

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // `flanneld doctor …`: diagnose this node (src/doctor/main.ts), loaded only when asked for.
  if (argv[0] === 'doctor') return (await import('../doctor/main.ts')).doctorMain(argv.slice(1), env);
  let parsed;
  try {
    parsed = parseFlags(argv, env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n`);
    if (e.exitCode === 2) process.stderr.write(usage());
    return e.exitCode;
  }
  if (parsed.kind === 'help') {
    process.stderr.write(parsed.text);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stderr.write(`${VERSION}\n`);
    return 0;
  }
  const opts = parsed.options;
  const ring = new LogRing();
  const log = createLogger({ level: opts.logLevel, format: opts.logFormat, destination: ring.tee(2) });
  for (const w of parsed.warnings) log.warn(w);
  log.info({ version: VERSION, flags: redact(opts) }, 'CLI flags config');
  for (const u of opts.unsupported) log.warn(`--${u.flag}: ${u.reason}`);
  const stop = new AbortController();
  const onSignal = (sig: string): void => {
    if (stop.signal.aborted) return;
    log.info({ signal: sig }, 'shutting down; kernel state, rules and subnet.env stay in place');
    stop.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let etcd: EtcdMode | undefined;
  if (!opts.kubeSubnetMgr) {
    try {
      // A deleted own lease stops the daemon (exit 0), as upstream's CompleteLease "interrupted".
      etcd = await etcdMode(opts, log, () => stop.abort());
    } catch (e) {
      log.fatal(`Failed to create SubnetManager: ${errorText(e)}`);
      return 1;
    }
  }

  const config = daemonConfig(opts);
  const daemon = new Daemon(
    etcd !== undefined
      ? { config, log, loadNetConf: etcd.loadNetConf, createSubnetManager: etcd.createSubnetManager, logTail: () => ring.tail() }
      : { config, log, createSubnetManager: (conf) => kubeSubnetManager(opts, conf, log, env), logTail: () => ring.tail() },
  );
  try {
    await daemon.run(stop.signal);
  } catch (e) {
    if (stop.signal.aborted && !(e instanceof FatalError)) {
      log.info('Exiting cleanly...');
      return 0;
    }
    log.fatal(e instanceof FatalError ? e.message : `unexpected error: ${(e as Error).stack ?? String(e)}`);
    return 1;
  }
  log.info('Exiting cleanly...');
  return 0;
}

/** The flags the daemon acts on, in its terms; a port of 0 turns its listener off, as upstream. */
function daemonConfig(opts: Options): DaemonConfig {
  return {
    netConfigPath: opts.netConfigPath,
    subnetFile: opts.subnetFile,
    ...(opts.healthzPort > 0 ? { healthz: { host: opts.healthzIP, port: opts.healthzPort } } : {}),
    ...(opts.metricsPort > 0 ? { metrics: { host: opts.metricsIP, port: opts.metricsPort } } : {}),
    iface: { ifaces: opts.iface, ifaceRegexes: opts.ifaceRegex, ifaceCanReach: opts.ifaceCanReach },
    publicIp: opts.publicIP,
    publicIpv6: opts.publicIPv6,
    ipMasq: opts.ipMasq,
    masqFullyRandom: !opts.ipMasqFullyRandomDisable,
    forwardRules: opts.iptablesForwardRules,
    iptablesMode: opts.iptablesMode,
    resyncSeconds: opts.iptablesResync,
    vxlanCsumOffload: opts.vxlanCsumOffload,
    peerHealthIntervalSeconds: opts.peerHealthInterval,
    migrationGraceSeconds: opts.migrationGrace,
    settings: {
      subnetFile: opts.subnetFile,
      netConfigPath: opts.netConfigPath,
      kubeconfigFile: opts.kubeconfigFile,
      kubeApiUrl: opts.kubeApiUrl,
      kubeAnnotationPrefix: opts.kubeAnnotationPrefix,
      iface: opts.iface,
      ifaceRegex: opts.ifaceRegex,
      publicIP: opts.publicIP,
      ipMasq: opts.ipMasq,
      ipMasqFullyRandomDisable: opts.ipMasqFullyRandomDisable,
      iptablesForwardRules: opts.iptablesForwardRules,
      healthzIP: opts.healthzIP,
      healthzPort: opts.healthzPort,
      vxlanCsumOffload: opts.vxlanCsumOffload,
      peerHealthInterval: opts.peerHealthInterval,
      subnetManager: opts.kubeSubnetMgr ? 'kube' : 'etcd',
      ...(opts.kubeSubnetMgr
        ? {}
        : { etcdEndpoints: opts.etcdEndpoints, etcdPrefix: opts.etcdPrefix, etcdCAFile: opts.etcdCAFile, etcdCertFile: opts.etcdCertfile, etcdKeyFile: opts.etcdKeyfile, etcdUsername: opts.etcdUsername }),
    },
    blackholeRoute: opts.ipBlackholeRoute,
  };
}

async function kubeSubnetManager(opts: Options, conf: NetConf, log: Logger, env: NodeJS.ProcessEnv) {
  const { createKubeSubnetManager } = await import('../subnet/kube/manager.ts');
  const manager = await createKubeSubnetManager({
    kubeconfigFile: opts.kubeconfigFile,
    apiUrl: opts.kubeApiUrl,
    annotationPrefix: opts.kubeAnnotationPrefix,
    ...(conf.network !== undefined ? { network: conf.network } : {}),
    ...(conf.ipv6Network !== undefined ? { ipv6Network: conf.ipv6Network } : {}),
    setNodeNetworkUnavailable: opts.setNodeNetworkUnavailable,
    log,
    env,
  });
  const node = manager.nodeName;
  return {
    manager,
    ...(manager.contact !== undefined ? { contact: manager.contact } : {}),
    waitingFor: () => {
      switch (manager.state) {
        case 'waiting-for-node':
          return `waiting for node "${node}" to be registered in the API server`;
        case 'waiting-for-pod-cidr':
          return `waiting for a podCIDR on node "${node}" (kube-controller-manager --allocate-node-cidrs=true with --cluster-cidr, or set spec.podCIDR)`;
        case 'starting':
          return 'waiting for the first list of nodes from the API server';
        case 'ready':
          return undefined;
      }
    },
    stats: () => {
      const s = manager.stats;
      return {
        watchRestarts: s.watchRestarts,
        relists: s.relists,
        peersSkipped: { malformed: s.malformedPeersSkipped, 'missing-ipv4-half': s.incompletePeersSkipped.ipv4, 'missing-ipv6-half': s.incompletePeersSkipped.ipv6 },
      };
    },
  };
}

/** Without --kube-subnet-mgr: config and leases in etcd. Throws one line for an unusable flag. */
async function etcdMode(opts: Options, log: Logger, onLeaseRevoked: () => void): Promise<EtcdMode> {
  const { createEtcdMode } = await import('../subnet/etcd/mode.ts');
  return createEtcdMode(
    {
      endpoints: opts.etcdEndpoints,
      prefix: opts.etcdPrefix,
      keyfile: opts.etcdKeyfile,
      certfile: opts.etcdCertfile,
      cafile: opts.etcdCAFile,
      username: opts.etcdUsername,
      password: opts.etcdPassword,
      renewMarginMinutes: opts.subnetLeaseRenewMargin,
      subnetFile: opts.subnetFile,
    },
    log,
    onLeaseRevoked,
  );
}

/** Upstream logs the etcd password here; we do not. */
function redact(opts: Options): Record<string, unknown> {
  const { set: _set, unsupported: _u, ...rest } = opts;
  return { ...rest, etcdPassword: opts.etcdPassword === '' ? '' : '<redacted>' };
}

const code = await main(process.argv.slice(2), process.env);
process.exitCode = code;
// Stray handles (a watch mid-reconnect) must not keep a stopped daemon alive.
setTimeout(() => process.exit(code), 3000).unref();
