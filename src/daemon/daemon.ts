import { access } from 'node:fs/promises';
import type { Options } from '../cli/flags.ts';
import { ConfigError } from '../config/config-error.ts';
import { readNetConf } from '../config/netconf.ts';
import type { NetConf } from '../config/types.ts';
import { InterfaceSelectionError, selectInterface } from '../ifaces/select.ts';
import { formatCidr } from '../ip/ipv4.ts';
import { openNetlink } from '../netlink/index.ts';
import { AF_INET, RTN_BLACKHOLE, type NetlinkHandle } from '../netlink/types.ts';
import { HealthState } from '../observe/health.ts';
import { serveHealth, serveMetrics, type HttpListener } from '../observe/http.ts';
import type { Logger } from '../observe/log.ts';
import { createMetrics, type Metrics, type SubnetStats } from '../observe/metrics.ts';
import type { Lease } from '../subnet/lease.ts';
import type { SubnetManager } from '../subnet/manager.ts';
import { readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from '../subnet/subnet-env.ts';
import { createTrafficManager } from '../traffic/index.ts';
import { VERSION } from '../version.ts';
import { NetworkRunner } from './network-runner.ts';
import { UdpBackend } from '../backend/udp/udp-backend.ts';
import { udpStatsOf } from './udp-stats.ts';
import { PeerSet } from './peer-set.ts';

/** A startup failure upstream exits 1 for; the message is the one line the operator reads. */
export class FatalError extends Error {
  override readonly name = 'FatalError';
}

/** Liveness: a loop silent longer than this is stuck (the resync period is 10 s, watch heartbeats on bookmarks). */
const RECONCILE_STALL_MS = 60_000;

export interface DaemonDeps {
  readonly opts: Options;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** Builds the subnet manager once the config is known (kube mode; etcd later). */
  readonly createSubnetManager: (conf: NetConf) => Promise<{ readonly manager: SubnetManager; readonly stats?: () => Omit<SubnetStats, 'peersByBackend'> }>;
}

/**
 * The daemon, in upstream's startup order (§0): config, subnet manager, health, interface,
 * backend + lease, traffic rules, subnet.env, then the reconcile loop and the lease watch.
 * Shutdown leaves every kernel object in place, so a restart drops no packet.
 */
export class Daemon {
  private readonly deps: DaemonDeps;
  private readonly health = new HealthState();
  private readonly metrics: Metrics;
  private readonly peers = new PeerSet();
  private readonly listeners: HttpListener[] = [];
  private nl: NetlinkHandle | undefined;
  private runner: NetworkRunner | undefined;

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.metrics = createMetrics({ version: VERSION });
  }

  /** Runs until `signal` aborts; throws FatalError for a startup failure (exit 1). */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.start(signal);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      this.deps.log.info('Waiting for all goroutines to exit');
    } finally {
      await this.shutdown();
    }
  }

  private async start(signal: AbortSignal): Promise<void> {
    const { opts, log } = this.deps;

    // §0 step 8 (kube mode reads the file once, at start; a bad file is fatal).
    const conf = await this.loadConfig();
    log.info(`Found network config - Backend type: ${conf.backend.type}`);
    if (conf.backendDefaulted) {
      log.warn(`${opts.netConfigPath}: no "Backend" given, so the udp backend is used (upstream's default); set "Backend": {"Type": "vxlan"} for the usual kernel VXLAN`);
    }
    this.metrics.setConfig({ network: formatCidr(conf.network), backend: conf.backend.type, enableNFTables: conf.enableNFTables });

    // §0 step 6.
    let sm: SubnetManager;
    let subnetStats: (() => Omit<SubnetStats, 'peersByBackend'>) | undefined;
    try {
      ({ manager: sm, stats: subnetStats } = await this.deps.createSubnetManager(conf));
    } catch (e) {
      throw new FatalError(`Failed to create SubnetManager: ${(e as Error).message}`);
    }
    log.info(`Created subnet manager: ${sm.name}`);

    // §0 step 7: health and metrics listen from here on.
    if (opts.healthzPort > 0) {
      this.listeners.push(await serveHealth(this.health, { host: opts.healthzIP, port: opts.healthzPort }, log));
    }
    if (opts.metricsPort > 0) {
      this.listeners.push(await serveMetrics(this.metrics, { host: opts.metricsIP, port: opts.metricsPort }, log));
    }

    // §0 step 10.
    if (!conf.enableNFTables) await this.checkBrNetfilter();

    // §0 step 11: node-public-ip overrides --public-ip.
    this.health.setReady('reading the node object');
    const stored = await sm.storedNodeInfo(signal);
    const publicIp = stored.publicIp !== undefined && stored.publicIp !== '' ? stored.publicIp : opts.publicIP;

    // §0 step 12.
    const nl = openNetlink();
    this.nl = nl;
    let ext;
    try {
      ext = await selectInterface(
        nl,
        { ifaces: opts.iface, ifaceRegexes: opts.ifaceRegex, ifaceCanReach: opts.ifaceCanReach, publicIp },
        (msg) => log.info(msg),
      );
    } catch (e) {
      if (e instanceof InterfaceSelectionError) throw new FatalError(`Failed to find any valid interface to use: ${e.message}`);
      throw e;
    }

    // §0 steps 13–14.
    const runner = new NetworkRunner({
      conf,
      nl,
      ext,
      stored,
      sm,
      peers: this.peers,
      log,
      onReport: (loop) => {
        this.health.heartbeat('reconcile');
        const r = loop.report;
        if (r !== undefined) this.metrics.observeReconcileDuration(r.ms / 1000);
      },
    });
    this.runner = runner;
    this.health.setReady(`acquiring the lease for node (waiting for the API server or for spec.podCIDR)`);
    let lease: Lease;
    try {
      lease = await runner.register(signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw new FatalError(`Error registering network: ${(e as Error).message}`);
    }
    this.metrics.setLease({ subnet: formatCidr(lease.subnet), backend: conf.backend.type, publicIp: lease.attrs.publicIp, node: lease.node ?? '' });

    // §0 steps 15–18: traffic rules, read the old subnet.env first so stale rules are replaced.
    const prev = await readSubnetEnv(opts.subnetFile);
    for (const w of prev?.warnings ?? []) log.error(w);
    await this.setUpTraffic(conf, lease, prev, signal);
    if (opts.ipBlackholeRoute) this.keepBlackholeRoute(nl, lease, signal);

    // §0 step 19.
    const text = renderSubnetEnv({ ipv4: { network: conf.network, subnet: lease.subnet }, mtu: runner.backend.mtu, ipMasq: opts.ipMasq });
    try {
      await writeSubnetEnv(opts.subnetFile, text);
      log.info(`Wrote subnet file to ${opts.subnetFile}`);
    } catch (e) {
      log.warn(`Failed to write subnet file: ${(e as Error).message}`);
    }

    // §0 step 20: the reconcile loop, fed by the lease watch. Unlike upstream, ready only when
    // every peer known at startup is programmed.
    log.info('Running backend.');
    this.health.setReady('waiting for the list of other nodes');
    const loop = runner.run();
    this.health.watchdog('reconcile', RECONCILE_STALL_MS);
    this.metrics.addSource('reconcile', () => loop.stats());
    const backend = runner.backend;
    if (backend instanceof UdpBackend) this.metrics.addSource('udp', () => udpStatsOf(backend.counters));
    const readSubnet = subnetStats;
    this.metrics.addSource('subnet', () => ({
      ...(readSubnet?.() ?? { watchRestarts: 0, relists: 0, peersSkipped: {} }),
      peersByBackend: Object.fromEntries(this.peers.countByBackend()),
    }));
    let first = true;
    sm.watchLeases((events) => {
      this.peers.apply(events);
      if (first) {
        first = false;
        this.health.setReady(`programming ${this.peers.size} peers known at startup`);
        loop.markStartupComplete();
      } else {
        loop.kick('lease');
      }
    }, signal);
    void loop.settled.then(() => {
      if (signal.aborted) return;
      this.health.setReady(null);
      log.info({ peers: this.peers.size }, 'flannel is ready');
    });

    // §0 step 22.
    await sm.completeLease(signal);
  }

  private async loadConfig(): Promise<NetConf> {
    try {
      return await readNetConf(this.deps.opts.netConfigPath);
    } catch (e) {
      if (e instanceof ConfigError) throw new FatalError(e.message);
      throw e;
    }
  }

  private async checkBrNetfilter(): Promise<void> {
    const p = '/proc/sys/net/bridge/bridge-nf-call-iptables';
    try {
      await access(p);
    } catch {
      throw new FatalError(`Failed to check br_netfilter: ${p} does not exist (load the module: modprobe br_netfilter)`);
    }
  }

  private async setUpTraffic(conf: NetConf, lease: Lease, prev: Awaited<ReturnType<typeof readSubnetEnv>>, signal: AbortSignal): Promise<void> {
    const { opts, log } = this.deps;
    const traffic = createTrafficManager({
      mode: conf.enableNFTables ? 'nftables' : 'iptables',
      log,
      resyncSeconds: opts.iptablesResync,
      fullyRandom: !opts.ipMasqFullyRandomDisable,
    });
    await traffic.cleanupOtherMode();
    if (opts.ipMasq) {
      try {
        await traffic.ensureMasq(conf.network, lease.subnet, { ...(prev?.network ? { network: prev.network } : {}), ...(prev?.subnet ? { subnet: prev.subnet } : {}) });
      } catch (e) {
        throw new FatalError(`Failed to setup masq rules, ${(e as Error).message}`);
      }
    }
    if (opts.iptablesForwardRules) {
      try {
        await traffic.ensureForward(conf.network);
      } catch (e) {
        throw new FatalError(`Failed to setup forward rules, ${(e as Error).message}`);
      }
    }
    if (opts.ipMasq || opts.iptablesForwardRules) {
      void traffic.runResync(signal);
      this.metrics.addSource('traffic', () => {
        const s = traffic.stats();
        return { resyncs: s.resyncs, ruleRepairs: s.repairs };
      });
    }
  }

  /** --ip-blackhole-route: keep `blackhole <own subnet>` (for Canal), first after one period as upstream. */
  private keepBlackholeRoute(nl: NetlinkHandle, lease: Lease, signal: AbortSignal): void {
    const { opts, log } = this.deps;
    const timer = setInterval(() => {
      nl.routeReplace({ family: AF_INET, dst: formatCidr(lease.subnet), type: RTN_BLACKHOLE }).catch((e: unknown) =>
        log.error(`Failed to add blackhole route for ${formatCidr(lease.subnet)}: ${(e as Error).message}`),
      );
    }, opts.iptablesResync * 1000);
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  private async shutdown(): Promise<void> {
    await this.runner?.close(false).catch((e: unknown) => this.deps.log.warn(`closing backend: ${(e as Error).message}`));
    for (const l of this.listeners.splice(0)) await l.close();
    this.nl?.close();
  }
}
