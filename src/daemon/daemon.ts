import { access } from 'node:fs/promises';
import { keepBlackholeRoute } from '../backends/blackhole-route.ts';
import { ConfigError } from '../config/config-error.ts';
import { parseNetConf, readNetConfText } from '../config/netconf.ts';
import { BackendSwitch } from './backend-switch.ts';
import type { DaemonConfig } from './config.ts';
import { watchConfigFile } from './config-watcher.ts';
import type { NetConf } from '../config/types.ts';
import { InterfaceSelectionError, selectInterface } from '../ifaces/select.ts';
import { enabledFamilies } from '../ip/cidr.ts';
import { openNetlink } from '../netlink/index.ts';
import type { NetlinkHandle } from '../netlink/types.ts';
import { HealthState } from '../observe/health.ts';
import { serveHealth, serveMetrics, type HttpListener } from '../observe/http.ts';
import type { Logger } from '../observe/log.ts';
import { createMetrics, type KubeApiStats, type Metrics, type SubnetStats } from '../observe/metrics.ts';
import { leaseSubnets, type Lease } from '../subnet/lease.ts';
import { WarnOnce } from '../observe/warn-once.ts';
import { countByCheck, type ConfigWarning } from '../config/upstream-accepts.ts';
import type { StoredNodeInfo, SubnetManager } from '../subnet/manager.ts';
import type { ExternalInterface } from '../backends/backend.ts';
import { readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from '../subnet/subnet-env.ts';
import { VERSION } from '../version.ts';
import { NetworkRunner, networksText } from './network-runner.ts';
import { migrationNote } from './migration-note.ts';
import { PeerSet } from './peer-set.ts';
import { errorText } from '../util/errors.ts';
import { PeerProblems, peerFailureHoldsReadiness, Readiness, readinessStats } from './readiness.ts';
import { sleep } from '../util/retry.ts';
import { logLeaseChange } from '../observe/events.ts';
import { csumLabel, csumPolicy, type CsumPolicy } from '../kernel/tx-csum.ts';
import { runningKernel } from '../kernel/release.ts';
import { startPeerHealth, type PeerHealthHandle } from './peer-health.ts';
import { buildDebugState } from './debug-state.ts';
import { FatalError } from './fatal.ts';
import { setUpTraffic } from './traffic-setup.ts';
import type { DaemonDebugState } from '../doctor/daemon-state.ts';


/**
 * Liveness: a reconcile run that has not finished after this long is stuck. Runs are rare on a
 * quiet node (the full resync comes every few minutes), so the loop is checked every
 * RECONCILE_CHECK_MS and counts as alive while no run has been going on for longer.
 */
const RECONCILE_STALL_MS = 60_000;
const RECONCILE_CHECK_MS = 10_000;
/** How often a subnet.env that could not be written is tried again (readiness waits for it). */
const SUBNET_FILE_RETRY_MS = 5_000;

export interface DaemonDeps {
  readonly config: DaemonConfig;
  readonly log: Logger;
  /** Builds the subnet manager once the config is known (kube or etcd mode). */
  readonly createSubnetManager: (conf: NetConf) => Promise<CreatedSubnetManager>;
  /**
   * Where the network config comes from when it is not the --net-config-path file (etcd mode:
   * `<prefix>/config`, retried until valid). `source` names it in messages. Such a config is
   * read once: only the file is watched for live changes.
   */
  readonly loadNetConf?: (signal: AbortSignal) => Promise<{ conf: NetConf; source: string }>;
  /** The last log lines, for /debug/state. */
  readonly logTail?: () => readonly string[];
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
  /** --vxlan-csum-offload resolved against the running kernel. */
  private readonly csum: CsumPolicy;
  private peerHealth: PeerHealthHandle | undefined;
  private readonly startedAt = new Date();
  /** The network config in effect (for /debug/state). */
  private conf: NetConf | undefined;
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
    this.csum = csumPolicy(deps.config.vxlanCsumOffload, runningKernel());
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
    const { conf, source } = this.deps.loadNetConf ? await this.deps.loadNetConf(signal) : { conf: await this.loadConfig(), source: config.netConfigPath };
    log.info(`Found network config - Backend type: ${conf.backend.type}`);
    if (conf.backendDefaulted) {
      log.warn(`${source}: no "Backend" given, so the udp backend is used (upstream's default); set "Backend": {"Type": "vxlan"} for the usual kernel VXLAN`);
    }
    this.configApplied(conf);
    if (conf.backend.type === 'vxlan') log.info(`vxlan tx checksum offload: ${this.csum.want ?? 'left as the kernel set it'} (${this.csum.reason})`);

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
      ...(subnetStats?.() ?? { watchRestarts: {}, relists: 0, peersSkipped: {} }),
      peersByBackend: Object.fromEntries(this.peers.countByBackend()),
    }));

    // Health and metrics listen from here on, as upstream's healthz server does (main.go).
    if (config.healthz !== undefined) {
      this.listeners.push(await serveHealth(this.health, config.healthz, log, { debugState: () => this.debugState() }));
    }
    if (config.metrics !== undefined) {
      this.listeners.push(await serveMetrics(this.metrics, config.metrics, log));
    }

    // main.go checks br_netfilter unless nftables is used: the iptables rules depend on it.
    if (!conf.enableNFTables) await this.checkBrNetfilter(conf);

    // The node's node-public-ip(v6) annotations override --public-ip(v6) (main.go, GetStoredPublicIP).
    this.readiness.setPhase("reading this node's stored public IPs and VtepMACs (kube: the node object; etcd: its lease)");
    const stored = await sm.storedNodeInfo(signal);
    this.stored = stored;
    const publicIp = stored.publicIp !== undefined && stored.publicIp !== '' ? stored.publicIp : config.publicIp;
    const publicIpv6 = stored.publicIpv6 !== undefined && stored.publicIpv6 !== '' ? stored.publicIpv6 : config.publicIpv6;

    // The external interface (main.go, pkg/ipmatch/match.go).
    const nl = openNetlink();
    this.nl = nl;
    try {
      this.ext = await selectInterface(nl, { ...config.iface, publicIp, publicIpv6, families: { ipv4: conf.enableIPv4, ipv6: conf.enableIPv6 } }, (msg) => log.info(msg));
    } catch (e) {
      if (e instanceof InterfaceSelectionError) throw new FatalError(`Failed to find any valid interface to use: ${e.message}`);
      throw e;
    }

    // main.go from GetBackend to bn.Run: backend, lease, rules, subnet.env, reconcile loop.
    let lease: Lease;
    try {
      lease = await this.startNetwork(conf, signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw e instanceof FatalError ? e : new FatalError(`Error registering network: ${errorText(e)}`);
    }
    if (config.blackholeRoute) {
      for (const subnet of [lease.subnet, lease.ipv6Subnet]) if (subnet !== undefined) keepBlackholeRoute(nl, subnet, config.resyncSeconds * 1000, log, signal);
    }

    // The lease watch outlives backend switches; its first batch is the complete list of peers.
    sm.watchLeases((events) => {
      const first = !this.peers.listed;
      this.peers.apply(events, (type, lease) => logLeaseChange(log, type, lease));
      if (first) this.readiness.setPhase(`programming ${this.peers.size} peers known at startup`);
      // Lease events let the run cover the changed peers alone; the complete list starts a full one.
      this.runner?.reconcileLoop?.kick(first ? 'startup-complete' : 'lease', first ? 'full' : 'peers');
    }, signal);
    this.peerHealth = startPeerHealth({
      intervalSeconds: config.peerHealthIntervalSeconds,
      peers: () => this.peers.snapshot().values(),
      backendType: () => this.runner?.backend.type,
      log,
      metrics: this.metrics,
      signal,
    });
    // etcd mode reads its config once, as upstream: only the file is watched for live changes.
    if (this.deps.loadNetConf === undefined) this.watchNetConf(conf, signal);

    // Upstream's CompleteLease (main.go); kube mode sets NetworkUnavailable=False on the node.
    await sm.completeLease(signal);
  }

  /** The network config now in effect: for the metrics' config_info and /debug/state. */
  private configApplied(conf: NetConf): void {
    this.conf = conf;
    this.setConfigWarnings(conf);
    const csum = csumLabel(conf.backend.type === 'vxlan' ? this.csum : undefined);
    this.metrics.setConfig({ network: networksText(conf), backend: conf.backend.type, enableNFTables: conf.enableNFTables, vxlanCsumOffload: csum });
  }

  /** GET /debug/state (from the node itself only): what `flanneld doctor` compares the node against. */
  private debugState(): DaemonDebugState {
    return buildDebugState({
      config: this.deps.config,
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

  /** Applies changes of the net-conf.json file live (BackendSwitch). */
  private watchNetConf(conf: NetConf, signal: AbortSignal): void {
    const { config, log } = this.deps;
    const switcher = new BackendSwitch(
      {
        path: config.netConfigPath,
        log,
        metrics: this.metrics,
        applied: (next) => this.configApplied(next),
        readiness: this.readiness,
        switchTo: (next, s) => this.switchBackend(next, s),
      },
      conf,
    );
    watchConfigFile(config.netConfigPath, this.confText, (text) => switcher.offer(text, signal), signal);
  }

  /**
   * main.go from GetBackend to bn.Run: build the node's datapath, publish the configured
   * backend's lease attributes, configure it, program the rules, write subnet.env and start the
   * reconcile loop. Once per daemon: a backend switch goes through switchBackend.
   */
  private async startNetwork(conf: NetConf, signal: AbortSignal): Promise<Lease> {
    const { config, log } = this.deps;
    const runner = new NetworkRunner({
      conf,
      nl: this.nl!,
      ext: this.ext!,
      stored: this.stored,
      sm: this.sm!,
      peers: this.peers,
      log,
      ...(this.csum.want !== undefined ? { txChecksum: this.csum.want } : {}),
      migrationGraceMs: config.migrationGraceSeconds * 1000,
      onReport: (loop) => {
        this.health.heartbeat('reconcile');
        const r = loop.report;
        if (r !== undefined) {
          this.metrics.observeReconcileDuration(r.ms / 1000);
          this.peerProblems.observe(r);
        }
      },
      holdsReadiness: peerFailureHoldsReadiness,
      onUdpStats: (read) => {
        this.removeUdpSource?.();
        this.removeUdpSource = read === undefined ? undefined : this.metrics.addSource('udp', read);
      },
    });
    this.runner = runner;
    this.readiness.setPhase(() => this.waitingFor?.() ?? `acquiring the lease (waiting for the API server)`);
    const lease = await runner.register(signal);
    this.setLeaseMetric(lease, conf);

    // Masquerade and forward rules (main.go): the Network cannot change live, so the rules stay.
    if (!this.trafficUp) {
      const prev = await readSubnetEnv(config.subnetFile);
      for (const w of prev?.warnings ?? []) log.error(w);
      await setUpTraffic({ conf, lease, prev, config: this.deps.config, log: this.deps.log, metrics: this.metrics, signal });
      this.trafficUp = true;
    }

    await this.writeSubnetFile(conf, lease, runner.backend.mtu, signal);

    // main.go logs this and starts bn.Run. Unlike upstream, ready only when every peer known at
    // startup is programmed, or fails for a reason of its own (readiness.ts).
    log.info('Running backend.');
    this.readiness.setPhase(this.peers.listed ? `programming ${this.peers.size} peers` : 'waiting for the list of other nodes');
    const loop = runner.run();
    this.health.watchdog('reconcile', RECONCILE_STALL_MS);
    const beat = setInterval(() => {
      if (signal.aborted) return clearInterval(beat);
      if (loop.busyForMs() < RECONCILE_STALL_MS) this.health.heartbeat('reconcile');
    }, RECONCILE_CHECK_MS);
    beat.unref();
    this.metrics.addSource('reconcile', () => loop.stats());
    this.metrics.addSource('backends', () => ({ roles: Object.fromEntries(runner.backend.view().backends.map((b) => [b.type, b.roles])) }));
    this.health.setNote(() => migrationNote(runner.backend.view(), Date.now()));
    void loop.settled.then(() => {
      if (signal.aborted) return;
      this.readiness.setPhase(null);
      log.info({ peers: this.peers.size, backend: runner.backend.type }, 'flannel is ready');
    });
    return lease;
  }

  /**
   * A live backend switch (BackendSwitch): the runner brings the new backend up, publishes it
   * and keeps the old one while peers may use it; then subnet.env follows the new backend's MTU.
   */
  private async switchBackend(next: NetConf, signal: AbortSignal): Promise<void> {
    const runner = this.runner;
    if (runner === undefined) throw new Error('no backend is running yet');
    const lease = await runner.switchTo(next, signal);
    this.setLeaseMetric(lease, next);
    await this.writeSubnetFile(next, lease, runner.backend.mtu, signal);
  }

  private setLeaseMetric(lease: Lease, conf: NetConf): void {
    const publicIps = [lease.attrs.publicIp, lease.attrs.publicIpv6].filter((ip) => ip !== undefined).join(',');
    this.metrics.setLease({ subnet: leaseSubnets(lease), backend: conf.backend.type, publicIp: publicIps, node: lease.node ?? '' });
  }

  /**
   * subnet.env (main.go, HandleSubnetFile) for the backend in effect: a failure is a warning, as
   * upstream, but the CNI plugin cannot set up a pod without the file, so the node is not ready
   * until a retry writes it.
   */
  private async writeSubnetFile(conf: NetConf, lease: Lease, mtu: number, signal: AbortSignal): Promise<void> {
    const text = renderSubnetEnv({
      ...(conf.network !== undefined && lease.subnet !== undefined ? { ipv4: { network: conf.network, subnet: lease.subnet } } : {}),
      ...(conf.ipv6Network !== undefined && lease.ipv6Subnet !== undefined ? { ipv6: { network: conf.ipv6Network, subnet: lease.ipv6Subnet } } : {}),
      mtu,
      ipMasq: this.deps.config.ipMasq,
    });
    this.subnetEnvText = text;
    if (!(await this.tryWriteSubnetFile(text))) void this.retrySubnetFile(text, signal);
  }

  /** Writes subnet.env; a failure holds readiness (with the reason) until a write succeeds. */
  private async tryWriteSubnetFile(text: string, retry = false): Promise<boolean> {
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
      if (await this.tryWriteSubnetFile(text, true)) return;
    }
  }

  /** The config in effect changed (start, or an accepted net-conf.json): its problems upstream accepts, each logged once. */
  private setConfigWarnings(conf: NetConf): void {
    this.configWarnings = conf.warnings;
    for (const w of conf.warnings) this.configWarned.warn(w.message, w.message, { check: w.check });
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

  /** Per enabled family, as main.go: bridge-nf-call-iptables for IPv4, bridge-nf-call-ip6tables for IPv6. */
  private async checkBrNetfilter(conf: NetConf): Promise<void> {
    for (const family of enabledFamilies({ ipv4: conf.enableIPv4, ipv6: conf.enableIPv6 })) {
      const p = `/proc/sys/net/bridge/bridge-nf-call-${family === 'ipv4' ? 'iptables' : 'ip6tables'}`;
      try {
        await access(p);
      } catch {
        throw new FatalError(`Failed to check br_netfilter: ${p} does not exist (load the module: modprobe br_netfilter)`);
      }
    }
  }

  private async shutdown(): Promise<void> {
    await this.runner?.close(false).catch((e: unknown) => this.deps.log.warn(`closing backend: ${errorText(e)}`));
    this.sm?.close();
    for (const l of this.listeners.splice(0)) await l.close();
    this.nl?.close();
  }
}
