import { access } from 'node:fs/promises';
import { keepBlackholeRoute } from '../backends/blackhole-route.ts';
import { ConfigError } from '../config/config-error.ts';
import { parseNetConf, readNetConfText } from '../config/netconf.ts';
import { BackendSwitch } from './backend-switch.ts';
import type { DaemonConfig } from './config.ts';
import { watchConfigFile } from './config-watcher.ts';
import type { NetConf } from '../config/types.ts';
import { InterfaceSelectionError, selectInterface } from '../ifaces/select.ts';
import { formatCidr } from '../ip/ipv4.ts';
import { openNetlink } from '../netlink/index.ts';
import type { NetlinkHandle } from '../netlink/types.ts';
import { HealthState } from '../observe/health.ts';
import { serveHealth, serveMetrics, type HttpListener } from '../observe/http.ts';
import type { Logger } from '../observe/log.ts';
import { createMetrics, type KubeApiStats, type Metrics, type SubnetStats } from '../observe/metrics.ts';
import { WarnOnce } from '../observe/warn-once.ts';
import { countByCheck, type ConfigWarning } from '../config/upstream-accepts.ts';
import type { Lease } from '../subnet/lease.ts';
import type { StoredNodeInfo, SubnetManager } from '../subnet/manager.ts';
import type { ExternalInterface } from '../backends/backend.ts';
import { readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from '../subnet/subnet-env.ts';
import { createTrafficManager } from '../traffic/index.ts';
import { VERSION } from '../version.ts';
import { NetworkRunner } from './network-runner.ts';
import { PeerSet } from './peer-set.ts';
import { errorText } from '../util/errors.ts';
import { PeerProblems, peerFailureHoldsReadiness, Readiness, readinessStats } from './readiness.ts';
import { sleep } from '../util/retry.ts';
import { logLeaseChange } from '../observe/events.ts';

/** A startup failure upstream exits 1 for; the message is the one line the operator reads. */
export class FatalError extends Error {
  override readonly name = 'FatalError';
}

/** Liveness: a loop silent longer than this is stuck (the resync period is 10 s, watch heartbeats on bookmarks). */
const RECONCILE_STALL_MS = 60_000;
/** How often a subnet.env that could not be written is tried again (readiness waits for it). */
const SUBNET_FILE_RETRY_MS = 5_000;

export interface DaemonDeps {
  readonly config: DaemonConfig;
  readonly log: Logger;
  /** Builds the subnet manager once the config is known (kube mode; etcd later). */
  readonly createSubnetManager: (conf: NetConf) => Promise<CreatedSubnetManager>;
}

export interface CreatedSubnetManager {
  readonly manager: SubnetManager;
  /** Counts for the metrics layer (the daemon adds peers by backend). */
  readonly stats?: () => Omit<SubnetStats, 'peersByBackend'>;
  /** While acquireLease waits: what for (e.g. a podCIDR), for /readyz; undefined = not waiting on the node. */
  readonly waitingFor?: () => string | undefined;
  /** Contact with the API server (kube mode): metrics, and a /readyz note while it is lost. */
  readonly contact?: { readonly stats: KubeApiStats; note(): string | undefined };
}

/**
 * The daemon, in the startup order of upstream's main.go: config, subnet manager, health,
 * interface, backend + lease, traffic rules, subnet.env, then the reconcile loop and the lease
 * watch. Shutdown leaves every kernel object in place, so a restart drops no packet.
 */
export class Daemon {
  private readonly deps: DaemonDeps;
  private readonly health = new HealthState();
  private readonly readiness = new Readiness(this.health);
  private readonly metrics: Metrics;
  private readonly peers = new PeerSet();
  private readonly listeners: HttpListener[] = [];
  private nl: NetlinkHandle | undefined;
  private runner: NetworkRunner | undefined;
  private sm: SubnetManager | undefined;
  private ext: ExternalInterface | undefined;
  private stored: StoredNodeInfo = {};
  /** The text of the net-conf.json read at start (the watcher compares against it). */
  private confText = '';
  private trafficUp = false;
  private waitingFor: (() => string | undefined) | undefined;
  private removeUdpSource: (() => void) | undefined;
  /** Peers the kernel refuses: reported, never held against readiness (readiness.ts). */
  private readonly peerProblems: PeerProblems;
  /** The net-conf.json in effect: problems upstream accepts (upstream-accepts.ts). */
  private configWarnings: readonly ConfigWarning[] = [];
  private readonly configWarned: WarnOnce;
  /** The subnet.env text last asked for; a retry of an older one stops. */
  private subnetEnvText = '';

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.metrics = createMetrics({ version: VERSION });
    this.peerProblems = new PeerProblems(deps.log, (subnet) => this.peers.has(subnet));
    this.configWarned = new WarnOnce(deps.log);
    this.readiness.setNotes('config', () => this.configWarnings.map((w) => w.message));
    this.readiness.setNotes('peers', () => this.peerProblems.notes());
    this.metrics.addSource('readiness', () => readinessStats(this.peerProblems, countByCheck(this.configWarnings)));
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
    const { config, log } = this.deps;

    // Upstream's getConfig (main.go). Kube mode reads the file at start; a bad file is fatal
    // then, and only then: later changes are validated and applied live (or rejected, keeping what runs).
    const conf = await this.loadConfig();
    log.info(`Found network config - Backend type: ${conf.backend.type}`);
    if (conf.backendDefaulted) {
      log.warn(`${config.netConfigPath}: no "Backend" given, so the udp backend is used (upstream's default); set "Backend": {"Type": "vxlan"} for the usual kernel VXLAN`);
    }
    this.setConfigWarnings(conf);
    this.metrics.setConfig({ network: formatCidr(conf.network), backend: conf.backend.type, enableNFTables: conf.enableNFTables });

    // main.go: "Failed to create SubnetManager" exits 1.
    let sm: SubnetManager;
    let subnetStats: (() => Omit<SubnetStats, 'peersByBackend'>) | undefined;
    let contact: CreatedSubnetManager['contact'];
    try {
      ({ manager: sm, stats: subnetStats, waitingFor: this.waitingFor, contact } = await this.deps.createSubnetManager(conf));
    } catch (e) {
      throw new FatalError(`Failed to create SubnetManager: ${errorText(e)}`);
    }
    if (contact !== undefined) {
      this.metrics.addSource('kubeApi', () => contact.stats);
      this.readiness.setNotes('api', () => {
        const note = contact.note();
        return note === undefined ? [] : [note];
      });
    }
    this.sm = sm;
    log.info(`Created subnet manager: ${sm.name}`);
    this.metrics.addSource('subnet', () => ({
      ...(subnetStats?.() ?? { watchRestarts: 0, relists: 0, peersSkipped: {} }),
      peersByBackend: Object.fromEntries(this.peers.countByBackend()),
    }));

    // Health and metrics listen from here on, as upstream's healthz server does (main.go).
    if (config.healthz !== undefined) {
      this.listeners.push(await serveHealth(this.health, config.healthz, log));
    }
    if (config.metrics !== undefined) {
      this.listeners.push(await serveMetrics(this.metrics, config.metrics, log));
    }

    // main.go checks br_netfilter unless nftables is used: the iptables rules depend on it.
    if (!conf.enableNFTables) await this.checkBrNetfilter();

    // The node's node-public-ip annotation overrides --public-ip (main.go, GetStoredPublicIP).
    this.readiness.setPhase('reading the node object from the API server');
    const stored = await sm.storedNodeInfo(signal);
    this.stored = stored;
    const publicIp = stored.publicIp !== undefined && stored.publicIp !== '' ? stored.publicIp : config.publicIp;

    // The external interface (main.go, pkg/ipmatch/match.go).
    const nl = openNetlink();
    this.nl = nl;
    try {
      this.ext = await selectInterface(nl, { ...config.iface, publicIp }, (msg) => log.info(msg));
    } catch (e) {
      if (e instanceof InterfaceSelectionError) throw new FatalError(`Failed to find any valid interface to use: ${e.message}`);
      throw e;
    }

    // main.go from GetBackend to bn.Run: backend, lease, rules, subnet.env, reconcile loop.
    let lease: Lease;
    try {
      lease = await this.bringUp(conf, signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw e instanceof FatalError ? e : new FatalError(`Error registering network: ${errorText(e)}`);
    }
    if (config.blackholeRoute) keepBlackholeRoute(nl, lease.subnet, config.resyncSeconds * 1000, log, signal);

    // The lease watch outlives backend switches; its first batch is the complete list of peers.
    sm.watchLeases((events) => {
      const first = !this.peers.listed;
      this.peers.apply(events, (type, lease) => logLeaseChange(log, type, lease));
      if (first) this.readiness.setPhase(`programming ${this.peers.size} peers known at startup`);
      this.runner?.reconcileLoop?.kick(first ? 'startup-complete' : 'lease');
    }, signal);
    const switcher = new BackendSwitch(
      {
        path: config.netConfigPath,
        log,
        metrics: this.metrics,
        readiness: this.readiness,
        tearDown: () => this.tearDownBackend(),
        bringUp: (next, s) => this.bringUp(next, s),
        inEffect: (c) => this.setConfigWarnings(c),
      },
      conf,
    );
    watchConfigFile(config.netConfigPath, this.confText, (text) => switcher.offer(text, signal), signal);

    // Upstream's CompleteLease (main.go); kube mode sets NetworkUnavailable=False on the node.
    await sm.completeLease(signal);
  }

  /**
   * main.go from GetBackend to bn.Run, for one backend: build it, publish its lease attributes,
   * configure it, program the rules (once), write subnet.env and start its reconcile loop. Also
   * the second half of a backend switch.
   */
  private async bringUp(conf: NetConf, signal: AbortSignal): Promise<Lease> {
    const { config, log } = this.deps;
    const runner = new NetworkRunner({
      conf,
      nl: this.nl!,
      ext: this.ext!,
      stored: this.stored,
      sm: this.sm!,
      peers: this.peers,
      log,
      onReport: (loop) => {
        this.health.heartbeat('reconcile');
        const r = loop.report;
        if (r !== undefined) {
          this.metrics.observeReconcileDuration(r.ms / 1000);
          this.peerProblems.observe(r);
        }
      },
      holdsReadiness: peerFailureHoldsReadiness,
    });
    this.runner = runner;
    this.readiness.setPhase(() => this.waitingFor?.() ?? `acquiring the lease (waiting for the API server)`);
    const lease = await runner.register(signal);
    this.metrics.setLease({ subnet: formatCidr(lease.subnet), backend: conf.backend.type, publicIp: lease.attrs.publicIp, node: lease.node ?? '' });

    // Masquerade and forward rules (main.go), first start only: the Network cannot change live,
    // so the rules stay.
    if (!this.trafficUp) {
      const prev = await readSubnetEnv(config.subnetFile);
      for (const w of prev?.warnings ?? []) log.error(w);
      await this.setUpTraffic(conf, lease, prev, signal);
      this.trafficUp = true;
    }

    // subnet.env (main.go, HandleSubnetFile): a failure is a warning, as upstream, but the CNI
    // plugin cannot set up a pod without the file, so the node is not ready until a retry writes it.
    const text = renderSubnetEnv({ ipv4: { network: conf.network, subnet: lease.subnet }, mtu: runner.backend.mtu, ipMasq: config.ipMasq });
    this.subnetEnvText = text;
    if (!(await this.writeSubnetFile(text))) void this.retrySubnetFile(text, signal);

    // main.go logs this and starts bn.Run. Unlike upstream, ready only when every peer known at
    // startup is programmed, or fails for a reason of its own (readiness.ts).
    log.info('Running backend.');
    this.readiness.setPhase(this.peers.listed ? `programming ${this.peers.size} peers` : 'waiting for the list of other nodes');
    const loop = runner.run();
    this.health.watchdog('reconcile', RECONCILE_STALL_MS);
    this.metrics.addSource('reconcile', () => loop.stats());
    this.removeUdpSource?.();
    const backend = runner.backend;
    const stats = backend.stats?.bind(backend);
    this.removeUdpSource = stats === undefined ? undefined : this.metrics.addSource('udp', stats);
    void loop.settled.then(() => {
      if (signal.aborted || this.runner !== runner) return;
      this.readiness.setPhase(null);
      log.info({ peers: this.peers.size, backend: conf.backend.type }, 'flannel is ready');
    });
    return lease;
  }

  /** Writes subnet.env; a failure holds readiness (with the reason) until a write succeeds. */
  private async writeSubnetFile(text: string, retry = false): Promise<boolean> {
    const { config, log } = this.deps;
    try {
      await writeSubnetEnv(config.subnetFile, text);
    } catch (e) {
      const err = errorText(e);
      // Once as upstream's warning; the retries say it again only at -v 1 (/readyz has the reason).
      if (retry) log.debug(`Failed to write subnet file: ${err}`);
      else log.warn(`Failed to write subnet file: ${err}`);
      this.readiness.setHold('subnet.env', `cannot write ${config.subnetFile}: ${err}; retrying every ${SUBNET_FILE_RETRY_MS / 1000} s`);
      return false;
    }
    log.info(`Wrote subnet file to ${config.subnetFile}`);
    this.readiness.setHold('subnet.env', undefined);
    return true;
  }

  private async retrySubnetFile(text: string, signal: AbortSignal): Promise<void> {
    while (await sleep(SUBNET_FILE_RETRY_MS, signal)) {
      if (this.subnetEnvText !== text) return; // a backend switch wrote (or retries) a newer one
      if (await this.writeSubnetFile(text, true)) return;
    }
  }

  /** The config in effect changed (start, or an accepted net-conf.json): its problems upstream accepts, each logged once. */
  private setConfigWarnings(conf: NetConf): void {
    this.configWarnings = conf.warnings;
    for (const w of conf.warnings) this.configWarned.warn(w.message, w.message, { check: w.check });
  }

  /** Stops the running backend, if any, and removes its kernel state (a backend switch). */
  private async tearDownBackend(): Promise<void> {
    const old = this.runner;
    this.runner = undefined;
    await old?.close(true);
  }

  private async loadConfig(): Promise<NetConf> {
    const path = this.deps.config.netConfigPath;
    try {
      this.confText = await readNetConfText(path);
      return parseNetConf(this.confText, path);
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
    const { config, log } = this.deps;
    const traffic = createTrafficManager({
      mode: conf.enableNFTables ? 'nftables' : 'iptables',
      log,
      resyncSeconds: config.resyncSeconds,
      fullyRandom: config.masqFullyRandom,
      iptablesMode: config.iptablesMode,
    });
    await traffic.cleanupOtherMode();
    this.metrics.setIptablesBackend(traffic.iptablesBackend ?? '');
    if (config.ipMasq) {
      try {
        await traffic.ensureMasq(conf.network, lease.subnet, { ...(prev?.network ? { network: prev.network } : {}), ...(prev?.subnet ? { subnet: prev.subnet } : {}) });
      } catch (e) {
        throw new FatalError(`Failed to setup masq rules, ${errorText(e)}`);
      }
    }
    if (config.forwardRules) {
      try {
        await traffic.ensureForward(conf.network);
      } catch (e) {
        throw new FatalError(`Failed to setup forward rules, ${errorText(e)}`);
      }
    }
    if (config.ipMasq || config.forwardRules) {
      void traffic.runResync(signal);
      this.metrics.addSource('traffic', () => traffic.stats());
    }
  }

  private async shutdown(): Promise<void> {
    await this.runner?.close(false).catch((e: unknown) => this.deps.log.warn(`closing backend: ${errorText(e)}`));
    this.sm?.close();
    for (const l of this.listeners.splice(0)) await l.close();
    this.nl?.close();
  }
}
