/**
 * The flanneld command: parse flags as upstream does, then run the daemon until SIGINT/SIGTERM.
 * Exit codes as upstream: 0 after a clean shutdown, 1 for a startup failure, 2 for a bad
 * command line (upstream exits 0 there; see README "Differences").
 */
import { parseFlags, usage, UsageError, type Options } from './flags.ts';
import { createLogger, type Logger } from '../observe/log.ts';
import type { DaemonConfig } from '../daemon/config.ts';
import { Daemon, FatalError } from '../daemon/daemon.ts';
import type { NetConf } from '../config/types.ts';
import { VERSION } from '../version.ts';

async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
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
  const log = createLogger({ level: opts.logLevel, format: opts.logFormat });
  for (const w of parsed.warnings) log.warn(w);
  log.info({ version: VERSION, flags: redact(opts) }, 'CLI flags config');
  for (const u of opts.unsupported) log.warn(`--${u.flag}: ${u.reason}`);
  if (!opts.kubeSubnetMgr) {
    log.fatal('Failed to create SubnetManager: etcd mode is not supported by flannel-ts yet; run with --kube-subnet-mgr');
    return 1;
  }

  const stop = new AbortController();
  const onSignal = (sig: string): void => {
    if (stop.signal.aborted) return;
    log.info({ signal: sig }, 'shutting down; kernel state, rules and subnet.env stay in place');
    stop.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const daemon = new Daemon({ config: daemonConfig(opts), log, createSubnetManager: (conf) => kubeSubnetManager(opts, conf, log, env) });
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
    ipMasq: opts.ipMasq,
    masqFullyRandom: !opts.ipMasqFullyRandomDisable,
    forwardRules: opts.iptablesForwardRules,
    iptablesMode: opts.iptablesMode,
    resyncSeconds: opts.iptablesResync,
    blackholeRoute: opts.ipBlackholeRoute,
  };
}

async function kubeSubnetManager(opts: Options, conf: NetConf, log: Logger, env: NodeJS.ProcessEnv) {
  const { createKubeSubnetManager } = await import('../subnet/kube/manager.ts');
  const manager = await createKubeSubnetManager({
    kubeconfigFile: opts.kubeconfigFile,
    apiUrl: opts.kubeApiUrl,
    annotationPrefix: opts.kubeAnnotationPrefix,
    network: conf.network,
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
      return { watchRestarts: s.watchRestarts, relists: s.relists, peersSkipped: { malformed: s.malformedPeersSkipped } };
    },
  };
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
