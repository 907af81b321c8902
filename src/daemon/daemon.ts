import { access } from 'node:fs/promises';
import type { Options } from '../cli/flags.ts';
import { ConfigError } from '../config/config-error.ts';
import { parseNetConf, readNetConfText } from '../config/netconf.ts';
import { restartOnlyChanges } from './config-diff.ts';
import { watchConfigFile } from './config-watcher.ts';
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
import type { StoredNodeInfo, SubnetManager } from '../subnet/manager.ts';
import type { ExternalInterface } from '../backends/backend.ts';
import { readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from '../subnet/subnet-env.ts';
import { createTrafficManager } from '../traffic/index.ts';
import { VERSION } from '../version.ts';
import { NetworkRunner } from './network-runner.ts';
import { UdpBackend } from '../backends/udp/backend.ts';
import { udpStatsOf } from './udp-stats.ts';
import { PeerSet } from './peer-set.ts';
import { csumLabel, csumPolicy, type CsumPolicy } from '../kernel/tx-csum.ts';
import { runningKernel } from '../kernel/release.ts';
import { startPeerHealth, type PeerHealthHandle } from './peer-health.ts';
import { buildDebugState } from './debug-state.ts';
import type { DaemonDebugState } from '../doctor/daemon-state.ts';

/** A startup failure upstream exits 1 for; the message is the one line the operator reads. */
export class FatalError extends Error {
  override readonly name = 'FatalError';
}

/** Why the daemon is not ready yet (null: ready); a function when the reason changes while waiting. */
type Phase = string | null | (() => string);

/** Liveness: a loop silent longer than this is stuck (the resync period is 10 s, watch heartbeats on bookmarks). */
const RECONCILE_STALL_MS = 60_000;

export interface DaemonDeps {
  readonly opts: Options;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** Builds the subnet manager once the config is known (kube mode; etcd later). */
  readonly createSubnetManager: (conf: NetConf) => Promise<CreatedSubnetManager>;
  /** The last log lines, for /debug/state. */
  readonly logTail?: () => readonly string[];
}

export interface CreatedSubnetManager {
  readonly manager: SubnetManager;
  /** Counts for the metrics layer (the daemon adds peers by backend). */
  readonly stats?: () => Omit<SubnetStats, 'peersByBackend'>;
  /** While acquireLease waits: what for (e.g. a podCIDR), for /readyz; undefined = not waiting on the node. */
  readonly waitingFor?: () => string | undefined;
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
  private sm: SubnetManager | undefined;
  private ext: ExternalInterface | undefined;
  private stored: StoredNodeInfo = {};
  /** The net-conf.json in effect, and the text it came from (the watcher compares against it). */
  private conf: NetConf | undefined;
  private confText = '';
  /** The first list of other nodes has arrived (defines the peers readiness waits for). */
  private listed = false;
  private trafficUp = false;
  /** Config changes apply one after another. */
  private switching: Promise<void> = Promise.resolve();
  private phase: Phase = 'starting';
  /** A rejected net-conf.json change; shown by /readyz until a good one arrives. */
  private configProblem: string | undefined;
  private waitingFor: (() => string | undefined) | undefined;
  private removeUdpSource: (() => void) | undefined;
  /** --vxlan-csum-offload resolved against the running kernel. */
  private readonly csum: CsumPolicy;
  private peerHealth: PeerHealthHandle | undefined;
  private readonly startedAt = new Date();

  constructor(deps: DaemonDeps) {
    this.deps = deps;
    this.metrics = createMetrics({ version: VERSION });
    this.csum = csumPolicy(deps.opts.vxlanCsumOffload, runningKernel());
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

    // §0 step 8. Kube mode reads the file at start; a bad file is fatal then, and only then:
    // later changes are validated and applied live (or rejected, keeping what runs).
    const conf = await this.loadConfig();
    log.info(`Found network config - Backend type: ${conf.backend.type}`);
    if (conf.backendDefaulted) {
      log.warn(`${opts.netConfigPath}: no "Backend" given, so the udp backend is used (upstream's default); set "Backend": {"Type": "vxlan"} for the usual kernel VXLAN`);
    }
    this.conf = conf;
    this.metrics.setConfig(this.configInfo(conf));
    if (conf.backend.type === 'vxlan') log.info(`vxlan tx checksum offload: ${this.csum.want ?? 'left as the kernel set it'} (${this.csum.reason})`);

    // §0 step 6.
    let sm: SubnetManager;
    let subnetStats: (() => Omit<SubnetStats, 'peersByBackend'>) | undefined;
    try {
      ({ manager: sm, stats: subnetStats, waitingFor: this.waitingFor } = await this.deps.createSubnetManager(conf));
    } catch (e) {
      throw new FatalError(`Failed to create SubnetManager: ${(e as Error).message}`);
    }
    this.sm = sm;
    log.info(`Created subnet manager: ${sm.name}`);
    this.metrics.addSource('subnet', () => ({
      ...(subnetStats?.() ?? { watchRestarts: 0, relists: 0, peersSkipped: {} }),
      peersByBackend: Object.fromEntries(this.peers.countByBackend()),
    }));

    // §0 step 7: health and metrics listen from here on.
    if (opts.healthzPort > 0) {
      this.listeners.push(await serveHealth(this.health, { host: opts.healthzIP, port: opts.healthzPort }, log, { debugState: () => this.debugState() }));
    }
    if (opts.metricsPort > 0) {
      this.listeners.push(await serveMetrics(this.metrics, { host: opts.metricsIP, port: opts.metricsPort }, log));
    }

    // §0 step 10.
    if (!conf.enableNFTables) await this.checkBrNetfilter();

    // §0 step 11: node-public-ip overrides --public-ip.
    this.setPhase('reading the node object from the API server');
    const stored = await sm.storedNodeInfo(signal);
    this.stored = stored;
    const publicIp = stored.publicIp !== undefined && stored.publicIp !== '' ? stored.publicIp : opts.publicIP;

    // §0 step 12.
    const nl = openNetlink();
    this.nl = nl;
    try {
      this.ext = await selectInterface(
        nl,
        { ifaces: opts.iface, ifaceRegexes: opts.ifaceRegex, ifaceCanReach: opts.ifaceCanReach, publicIp },
        (msg) => log.info(msg),
      );
    } catch (e) {
      if (e instanceof InterfaceSelectionError) throw new FatalError(`Failed to find any valid interface to use: ${e.message}`);
      throw e;
    }

    // §0 steps 13–20.
    let lease: Lease;
    try {
      lease = await this.bringUp(conf, signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw e instanceof FatalError ? e : new FatalError(`Error registering network: ${(e as Error).message}`);
    }
    if (opts.ipBlackholeRoute) this.keepBlackholeRoute(nl, lease, signal);

    // The lease watch outlives backend switches; the first list defines "peers known at startup".
    sm.watchLeases((events) => {
      this.peers.apply(events);
      const loop = this.runner?.reconcileLoop;
      if (!this.listed) {
        this.listed = true;
        this.setPhase(`programming ${this.peers.size} peers known at startup`);
        loop?.markStartupComplete();
      } else {
        loop?.kick('lease');
      }
    }, signal);
    this.peerHealth = startPeerHealth({
      intervalSeconds: opts.peerHealthInterval,
      peers: () => this.peers.snapshot().values(),
      backendType: () => this.runner?.backend.type,
      log,
      metrics: this.metrics,
      signal,
    });
    watchConfigFile(opts.netConfigPath, this.confText, (text) => {
      this.switching = this.switching.then(() => this.applyConfigText(text, signal));
    }, signal);

    // §0 step 22.
    await sm.completeLease(signal);
  }

  /**
   * §0 steps 13–20 for one backend: build it, publish its lease attributes, configure it,
   * program the rules (once), write subnet.env and start its reconcile loop. Also the second
   * half of a backend switch.
   */
  private async bringUp(conf: NetConf, signal: AbortSignal): Promise<Lease> {
    const { opts, log } = this.deps;
    const runner = new NetworkRunner({
      conf,
      nl: this.nl!,
      ext: this.ext!,
      stored: this.stored,
      sm: this.sm!,
      peers: this.peers,
      peersListed: () => this.listed,
      log,
      ...(conf.backend.type === 'vxlan' && this.csum.want !== undefined ? { txChecksum: this.csum.want } : {}),
      onReport: (loop) => {
        this.health.heartbeat('reconcile');
        const r = loop.report;
        if (r !== undefined) this.metrics.observeReconcileDuration(r.ms / 1000);
      },
    });
    this.runner = runner;
    this.setPhase(() => this.waitingFor?.() ?? `acquiring the lease (waiting for the API server)`);
    const lease = await runner.register(signal);
    this.metrics.setLease({ subnet: formatCidr(lease.subnet), backend: conf.backend.type, publicIp: lease.attrs.publicIp, node: lease.node ?? '' });

    // §0 steps 15–18, first start only: the Network cannot change live, so the rules stay.
    if (!this.trafficUp) {
      const prev = await readSubnetEnv(opts.subnetFile);
      for (const w of prev?.warnings ?? []) log.error(w);
      await this.setUpTraffic(conf, lease, prev, signal);
      this.trafficUp = true;
    }

    // §0 step 19.
    const text = renderSubnetEnv({ ipv4: { network: conf.network, subnet: lease.subnet }, mtu: runner.backend.mtu, ipMasq: opts.ipMasq });
    try {
      await writeSubnetEnv(opts.subnetFile, text);
      log.info(`Wrote subnet file to ${opts.subnetFile}`);
    } catch (e) {
      log.warn(`Failed to write subnet file: ${(e as Error).message}`);
    }

    // §0 step 20. Unlike upstream, ready only when every peer known at startup is programmed.
    log.info('Running backend.');
    this.setPhase(this.listed ? `programming ${this.peers.size} peers` : 'waiting for the list of other nodes');
    const loop = runner.run();
    this.health.watchdog('reconcile', RECONCILE_STALL_MS);
    this.metrics.addSource('reconcile', () => loop.stats());
    this.removeUdpSource?.();
    const backend = runner.backend;
    this.removeUdpSource = backend instanceof UdpBackend ? this.metrics.addSource('udp', () => udpStatsOf(backend.counters)) : undefined;
    if (this.listed) loop.markStartupComplete();
    void loop.settled.then(() => {
      if (signal.aborted || this.runner !== runner) return;
      this.setPhase(null);
      log.info({ peers: this.peers.size, backend: conf.backend.type }, 'flannel is ready');
    });
    return lease;
  }

  /**
   * A changed net-conf.json (the kubelet swapped the ConfigMap volume): a valid backend change
   * is applied live — old backend torn down, new one up, node re-annotated, subnet.env
   * rewritten. Anything invalid, or a change that needs a restart, keeps the running config
   * and says why in the log, the metrics and /readyz.
   */
  private async applyConfigText(text: string, signal: AbortSignal): Promise<void> {
    const { opts, log } = this.deps;
    if (signal.aborted) return;
    const running = this.conf!;
    let next: NetConf;
    try {
      next = parseNetConf(text, opts.netConfigPath);
    } catch (e) {
      const msg = e instanceof ConfigError ? e.message : `${opts.netConfigPath}: ${(e as Error).message}`;
      this.rejectConfig(`net-conf.json invalid: ${msg}`);
      return;
    }
    const needsRestart = restartOnlyChanges(running, next);
    if (needsRestart.length > 0) {
      this.rejectConfig(`net-conf.json changed ${needsRestart.join(', ')}, which takes a restart of flanneld; still running the previous config`);
      return;
    }
    this.configProblem = undefined;
    if (JSON.stringify(running.backend) === JSON.stringify(next.backend)) {
      this.setPhase(this.phase);
      return;
    }
    log.info({ from: running.backend, to: next.backend }, `net-conf.json changed: switching backend ${running.backend.type} → ${next.backend.type}`);
    this.setPhase(`switching backend ${running.backend.type} → ${next.backend.type}`);
    const old = this.runner;
    this.runner = undefined;
    await old?.close(true).catch((e: unknown) => log.warn(`tearing down the ${running.backend.type} backend: ${(e as Error).message}`));
    try {
      await this.bringUp(next, signal);
      this.conf = next;
      this.metrics.setConfig(this.configInfo(next));
    } catch (e) {
      if (signal.aborted) return;
      // bringUp may have created the new backend's device before failing: remove it.
      await (this.runner as NetworkRunner | undefined)?.close(true).catch(() => undefined);
      this.rejectConfig(`switching to the ${next.backend.type} backend failed: ${(e as Error).message}; restoring ${running.backend.type}`);
      try {
        await this.bringUp(running, signal);
      } catch (e2) {
        this.rejectConfig(`restoring the ${running.backend.type} backend failed: ${(e2 as Error).message}`);
      }
    }
  }

  private configInfo(conf: NetConf) {
    const csum = csumLabel(conf.backend.type === 'vxlan' ? this.csum : undefined);
    return { network: formatCidr(conf.network), backend: conf.backend.type, enableNFTables: conf.enableNFTables, vxlanCsumOffload: csum };
  }

  /** GET /debug/state (loopback only): what `flanneld doctor` compares the node against. */
  private debugState(): DaemonDebugState {
    return buildDebugState({
      opts: this.deps.opts,
      startedAt: this.startedAt,
      ready: this.health.readiness(),
      live: this.health.liveness(),
      conf: this.conf,
      ext: this.ext,
      lease: this.runner?.lease,
      backend: this.runner?.backend,
      csum: this.csum,
      peers: this.peers.snapshot().values(),
      peerHealth: this.peerHealth?.view(),
      logTail: this.deps.logTail?.() ?? [],
    });
  }

  private rejectConfig(problem: string): void {
    this.deps.log.error(problem);
    this.metrics.configReloadFailed();
    this.configProblem = problem;
    this.setPhase(this.phase);
  }

  /** Readiness = the config problem if any, else the startup phase (null = ready). */
  private setPhase(phase: Phase): void {
    this.phase = phase;
    this.health.setReady(() => this.configProblem ?? (typeof this.phase === 'function' ? this.phase() : this.phase));
  }

  private async loadConfig(): Promise<NetConf> {
    const path = this.deps.opts.netConfigPath;
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
    this.sm?.close();
    for (const l of this.listeners.splice(0)) await l.close();
    this.nl?.close();
  }
}
