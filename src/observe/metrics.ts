import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { replaceEventLoopLag } from './event-loop-lag.ts';

/*
 * Prometheus metrics for flanneld, on a registry of their own (never prom-client's global one,
 * so tests and a library user can create several).
 *
 * Subsystems do not call into this module per event. Each keeps a plain object of integers
 * (the udp forwarder bumps `packetsIn` per packet; a counter object with labels would cost a
 * Map lookup and a string join each time) and registers a function that returns it. The
 * metrics read those objects when Prometheus scrapes. Counters mirror the cumulative values
 * by adding the difference since the last scrape, so they stay monotonic even when a
 * subsystem is replaced by a fresh one whose counts start at zero again (a backend switch).
 *
 * Rare daemon-level events (lease acquired, config reloaded, one reconcile's duration) are
 * plain method calls.
 */

/** Counts the subnet manager (kube or etcd) keeps. */
export interface SubnetStats {
  /**
   * Times the API watch was re-opened, by reason: 'expiry' (the server ended it at its timeout,
   * or its resourceVersion expired and the list was read again) and 'error'.
   */
  readonly watchRestarts: Readonly<Record<string, number>>;
  /** Full lists of nodes (first sync, 410 Gone, restarts). */
  readonly relists: number;
  /** Peers ignored because their annotations are malformed, by reason (e.g. 'backend-data'). */
  readonly peersSkipped: Readonly<Record<string, number>>;
  /** Peers currently known (not counting this node), by the backend type they announce. */
  readonly peersByBackend: Readonly<Record<string, number>>;
}

/** Counts and gauges the reconcile loop and the active backend keep. */
export interface ReconcileStats {
  readonly runs: number;
  /** Failed runs or failed peers within a run, by reason ('netlink', 'device-missing', …). */
  readonly errors: Readonly<Record<string, number>>;
  /** Kernel objects put back after someone else changed or removed them, by object type. */
  readonly driftRepairs: Readonly<Record<string, number>>;
  /** Kernel entries this backend owns now, by type: 'route', 'neigh', 'fdb'. */
  readonly kernelEntries: Readonly<Record<string, number>>;
  /** host-gw peers whose public IP is not on a directly connected network (no route made). */
  readonly peersNotOnLink: number;
  /** Wall clock (ms since the epoch) of the last run that finished without errors; 0 = never. */
  readonly lastSuccessMs: number;
}

/** Counts the masquerade/forward rule manager keeps (src/traffic/manager.ts adds details of its own). */
export interface TrafficStats {
  /** Periodic checks of the rule tables. */
  readonly resyncs: number;
  /** Of those, the checks the nf_tables generation answered: no commit since a clean check, nothing read. */
  readonly unchanged: number;
  /** Checks that found rules missing or changed and wrote them back. */
  readonly repairs: number;
}

/** Counts the udp datapath keeps; 'in' is underlay → TUN, 'out' is TUN → underlay. */
export interface UdpStats {
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Packets dropped, by reason ('no-route', 'too-short', 'send-error', …). */
  readonly drops: Readonly<Record<string, number>>;
}

/** Counts the peer health prober keeps (src/probe/peer-health.ts); never per peer. */
export interface PeerHealthMetricStats {
  /** Peers in the last complete round. */
  readonly peersProbed: number;
  readonly unreachable: number;
  readonly probesAnswered: number;
  readonly probesUnanswered: number;
  readonly toUnreachable: number;
  readonly toReachable: number;
}

/** Contact with the Kubernetes API server (src/subnet/kube/api-contact.ts). */
export interface KubeApiStats {
  /** False before the first byte from the server and while contact is lost. */
  readonly inContact: boolean;
  /** Wall clock (ms since the epoch) of the last bytes from the API server; 0 = never. */
  readonly lastContactMs: number;
  /** Times contact was lost (silence beyond the limit, or requests without an answer). */
  readonly losses: number;
  /** How long the last outage that ended lasted, in ms; 0 = none yet. */
  readonly lastOutageMs: number;
  /** Node watches whose resourceVersion expired (410 Gone). */
  readonly expired: number;
  /** Peers that relists found added, removed or changed. */
  readonly relistChanges: { readonly added: number; readonly removed: number; readonly changed: number };
}

/** What /readyz reports without holding readiness (src/daemon/readiness.ts). */
export interface ReadinessStats {
  /** Peers the last reconcile run could not program, by reason (errno or error class). */
  readonly peersUnprogrammed: Readonly<Record<string, number>>;
  /** Problems of the net-conf.json in effect that upstream accepts, so flannel-ts does too, by check. */
  readonly configWarnings: Readonly<Record<string, number>>;
}

/** The backends running on this node and why (docs/migration.md). */
export interface BackendStats {
  /** Per running backend, its roles: 'advertised', 'peers' (peers advertise it), 'draining'. */
  readonly roles: Readonly<Record<string, readonly string[]>>;
}

export interface StatsSources {
  readonly subnet: SubnetStats;
  readonly backends: BackendStats;
  readonly reconcile: ReconcileStats;
  readonly traffic: TrafficStats;
  readonly udp: UdpStats;
  readonly peerHealth: PeerHealthMetricStats;
  readonly kubeApi: KubeApiStats;
  readonly readiness: ReadinessStats;
}

export type SourceKind = keyof StatsSources;

export interface LeaseInfo {
  readonly subnet: string;
  readonly backend: string;
  readonly publicIp: string;
  readonly node: string;
}

export interface ConfigInfo {
  readonly network: string;
  readonly backend: string;
  readonly enableNFTables: boolean;
  /** vxlan: 'off' when the daemon turns tx checksum offload off on flannel.N, 'on' otherwise; '' for other backends. */
  readonly vxlanCsumOffload?: string;
}

export interface Metrics {
  readonly registry: Registry;
  /**
   * Registers the function that returns a subsystem's current stats. One source per kind: a
   * second call replaces the first. Returns a function that removes this source (and only
   * this one, so a late dispose of an old backend does not remove its successor).
   */
  addSource<K extends SourceKind>(kind: K, read: () => StatsSources[K]): () => void;
  /** The own lease; null removes the info series (lease lost, backend being switched). */
  setLease(lease: LeaseInfo | null): void;
  /** The net-conf.json in effect. */
  setConfig(config: ConfigInfo): void;
  /** The iptables backend the rules use: 'legacy', 'nft', or 'none' (nftables mode). */
  setIptablesBackend(backend: string): void;
  /** A changed net-conf.json was rejected; the previous one stays in effect. */
  configReloadFailed(): void;
  /** One reconcile run took this long (called once per run by the loop, not per peer). */
  observeReconcileDuration(seconds: number): void;
  /** One answered peer health probe's round trip (at most 10 a second, see src/daemon/peer-health.ts). */
  observePeerProbeRtt(seconds: number): void;
  /** The text exposition of every metric. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

type MetricType = 'counter' | 'gauge' | 'histogram';

interface MetricDoc {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
}

/**
 * Every flannel_* metric. The metrics are built from this table and docs/metrics.md quotes it
 * (a test checks they agree), so names, labels and help texts live in one place.
 */
export const METRIC_DOCS = [
  { name: 'flannel_build_info', type: 'gauge', labels: ['version', 'nodejs'], help: 'Always 1; the labels name the flanneld version and the Node.js runtime.' },
  { name: 'flannel_lease_info', type: 'gauge', labels: ['subnet', 'backend', 'public_ip', 'node'], help: "Always 1 while this node holds a lease; the labels describe it (a dual-stack lease lists both subnets and public IPs, IPv4 first, comma-separated)." },
  { name: 'flannel_config_info', type: 'gauge', labels: ['network', 'backend', 'nftables', 'iptables', 'vxlan_csum_offload'], help: "Always 1; the labels describe the net-conf.json in effect (`network`: Network and IPv6Network, comma-separated), the iptables backend the rules use ('legacy' or 'nft', detected or set by --iptables-mode; 'none' with EnableNFTables; empty until the rules are set up), and vxlan_csum_offload whether flannel.N keeps tx checksum offload ('on', 'off'; '' for other backends)." },
  { name: 'flannel_config_reload_errors_total', type: 'counter', labels: [], help: 'Changed net-conf.json files that were rejected (the previous config stays in effect).' },
  { name: 'flannel_peers', type: 'gauge', labels: ['backend'], help: 'Other nodes with a lease, by the backend type they announce.' },
  { name: 'flannel_backend_active', type: 'gauge', labels: ['backend', 'role'], help: "Backends running on this node, one series per reason: role 'advertised' (net-conf.json configures it; the node's annotations say it), 'peers' (peers advertise it, so this node sends with it), 'draining' (this node advertised it before; kept to receive until no peer may still send with it)." },
  { name: 'flannel_peers_skipped_total', type: 'counter', labels: ['reason'], help: 'Peer updates ignored because the node annotations were malformed (reason `malformed`), or programmed without one family because its half was missing (`missing-ipv4-half`, `missing-ipv6-half`).' },
  { name: 'flannel_kube_watch_restarts_total', type: 'counter', labels: ['reason'], help: "Restarts of the API watch (in etcd mode: of the etcd watch, all counted as 'error'), by reason: 'expiry' (the server ended the watch at its timeout, or its resourceVersion expired; normal, about one per 5-10 minutes) or 'error' (a failed request, a broken connection, a silent stream)." },
  { name: 'flannel_kube_relists_total', type: 'counter', labels: [], help: 'Full lists of nodes from the API server (in etcd mode: full reads of the subnet leases after the watch fell behind).' },
  { name: 'flannel_kernel_entries', type: 'gauge', labels: ['type'], help: "Kernel entries owned by this node's backends, by type (route, neigh, fdb)." },
  { name: 'flannel_reconcile_runs_total', type: 'counter', labels: [], help: 'Reconcile runs of the kernel state against the desired state.' },
  { name: 'flannel_reconcile_duration_seconds', type: 'histogram', labels: [], help: 'Time one reconcile run took.' },
  { name: 'flannel_reconcile_errors_total', type: 'counter', labels: ['reason'], help: 'Reconcile errors, by reason.' },
  { name: 'flannel_last_reconcile_success_timestamp_seconds', type: 'gauge', labels: [], help: 'Unix time the kernel last matched the desired state: the end of the last run without errors, or the scrape while the loop is idle after one; 0 before the first.' },
  { name: 'flannel_drift_repairs_total', type: 'counter', labels: ['object'], help: 'Kernel objects restored after something else changed or removed them, by object type.' },
  { name: 'flannel_hostgw_peers_not_on_link', type: 'gauge', labels: [], help: 'host-gw peers whose public IP is not on a directly connected network, so no route to them exists.' },
  { name: 'flannel_iptables_resyncs_total', type: 'counter', labels: [], help: 'Periodic checks of the masquerade and forward rules.' },
  {
    name: 'flannel_iptables_resyncs_unchanged_total',
    type: 'counter',
    labels: [],
    help: 'Periodic checks answered by the nf_tables ruleset generation alone: no commit to nf_tables since a check found every rule in place, so no iptables-save or nft was run.',
  },
  { name: 'flannel_iptables_rule_repairs_total', type: 'counter', labels: [], help: 'Masquerade or forward rules found missing or changed and written back.' },
  { name: 'flannel_udp_packets_total', type: 'counter', labels: ['direction'], help: "Packets through the udp backend: direction 'in' is underlay to TUN, 'out' is TUN to underlay." },
  { name: 'flannel_udp_bytes_total', type: 'counter', labels: ['direction'], help: 'Bytes of inner IP packets through the udp backend, by direction.' },
  { name: 'flannel_udp_dropped_packets_total', type: 'counter', labels: ['reason'], help: 'Packets the udp backend dropped, by reason.' },
  { name: 'flannel_peer_health_peers_probed', type: 'gauge', labels: [], help: 'Peer addresses probed through the overlay in the last complete round of peer health (one per peer and IP family).' },
  { name: 'flannel_peer_health_unreachable_peers', type: 'gauge', labels: [], help: 'Peer addresses (one per peer and IP family) that answered none of the last probes; /debug/state and the log name them.' },
  { name: 'flannel_peer_health_probes_total', type: 'counter', labels: ['result'], help: "Peer health probes sent, by result ('answered', 'unanswered')." },
  { name: 'flannel_peer_health_rtt_seconds', type: 'histogram', labels: [], help: 'Round-trip time of answered peer health probes.' },
  { name: 'flannel_peer_health_transitions_total', type: 'counter', labels: ['to'], help: "Peers that became 'unreachable', or 'reachable' again." },
  { name: 'flannel_kube_api_contact', type: 'gauge', labels: [], help: 'Whether the daemon is in contact with the API server: 1 while bytes arrive from it, 0 before the first answer and after contact was lost (no data for longer than the limit, about a minute, or requests without an answer).' },
  { name: 'flannel_kube_api_last_contact_timestamp_seconds', type: 'gauge', labels: [], help: 'Unix time of the last bytes received from the API server (any response, watch event or bookmark); 0 before the first.' },
  { name: 'flannel_kube_api_contact_losses_total', type: 'counter', labels: [], help: 'Times contact with the API server was lost.' },
  { name: 'flannel_kube_api_last_outage_seconds', type: 'gauge', labels: [], help: 'How long the last loss of contact with the API server lasted, once contact was back; 0 before the first.' },
  { name: 'flannel_kube_watch_expired_total', type: 'counter', labels: [], help: "Node watches whose resourceVersion had expired (410 Gone), each followed by a relist." },
  { name: 'flannel_kube_relist_peer_changes_total', type: 'counter', labels: ['change'], help: "Peers that relists found changed since the last watch event, by change: 'added', 'removed', 'changed'." },
  { name: 'flannel_peers_unprogrammed', type: 'gauge', labels: ['reason'], help: 'Peers the last reconcile run could not program, by reason (the kernel errno or error class). A failure of one peer does not hold readiness; host-gw peers that are not on-link are in flannel_hostgw_peers_not_on_link instead.' },
  { name: 'flannel_config_warnings', type: 'gauge', labels: ['check'], help: 'Problems in the net-conf.json in effect that upstream flanneld accepts, so flannel-ts accepts them too (with a warning), by check.' },
] as const satisfies readonly MetricDoc[];

type MetricName = (typeof METRIC_DOCS)[number]['name'];

/** The reconcile duration buckets: a few ms for a no-op run up to tens of seconds for thousands of peers. */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Overlay round trips: 0.1 ms within a rack up to the 1 s probe timeout. */
const RTT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface MetricsOptions {
  readonly version: string;
  /** Process and Node.js runtime metrics (process_*, nodejs_*); on by default. */
  readonly defaultMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) {
    // Its event loop histogram is replaced (event-loop-lag.ts): sampled once a second, it costs nothing.
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
    replaceEventLoopLag(registry);
  }
  const sources = new Sources();
  const make = new MetricMaker(registry, sources);
  // Registration order is the order of the exposition text (and of METRIC_DOCS).
  const daemon = daemonMetrics(make, opts.version);
  subnetMetrics(make);
  const reconcileDuration = reconcileMetrics(make, sources);
  trafficMetrics(make);
  udpMetrics(make);
  const peerRtt = peerHealthMetrics(make);
  kubeApiMetrics(make);
  readinessMetrics(make);
  // flannel_config_info joins two facts that arrive at different times (net-conf.json, then the
  // iptables backend once the rules are set up); each update re-renders it from both.
  let lastConfig: ConfigInfo | undefined;
  let iptablesBackend = '';
  return {
    registry,
    contentType: registry.contentType,
    addSource: (kind, read) => sources.add(kind, read),
    setLease(lease) {
      daemon.leaseInfo.reset();
      if (lease !== null) daemon.leaseInfo.set({ subnet: lease.subnet, backend: lease.backend, public_ip: lease.publicIp, node: lease.node }, 1);
    },
    setConfig(config) {
      lastConfig = config;
      daemon.configInfo.reset();
      daemon.configInfo.set({ network: config.network, backend: config.backend, nftables: String(config.enableNFTables), iptables: iptablesBackend, vxlan_csum_offload: config.vxlanCsumOffload ?? '' }, 1);
    },
    setIptablesBackend(backend) {
      iptablesBackend = backend;
      if (lastConfig !== undefined) this.setConfig(lastConfig);
    },
    configReloadFailed() {
      daemon.configReloadErrors.inc();
    },
    observePeerProbeRtt(seconds) {
      peerRtt.observe(seconds);
    },
    observeReconcileDuration(seconds) {
      reconcileDuration.observe(seconds);
    },
    scrape: () => registry.metrics(),
  };
}

/**
 * The functions that return each subsystem's stats, one per kind. Counters that follow a source
 * register a catch-up here, which runs just before their source is replaced or removed, so the
 * counts a source made after the last scrape are not lost with it.
 */
class Sources {
  private readonly reads: { [K in SourceKind]?: () => StatsSources[K] } = {};
  private readonly catchUps: Record<SourceKind, Array<() => void>> = { subnet: [], backends: [], reconcile: [], traffic: [], udp: [], peerHealth: [], kubeApi: [], readiness: [] };

  read<K extends SourceKind>(kind: K): StatsSources[K] | undefined {
    return this.reads[kind]?.();
  }

  onChange(kind: SourceKind, catchUp: () => void): void {
    this.catchUps[kind].push(catchUp);
  }

  add<K extends SourceKind>(kind: K, fn: () => StatsSources[K]): () => void {
    this.settle(kind);
    (this.reads as Record<K, () => StatsSources[K]>)[kind] = fn;
    return () => {
      if (this.reads[kind] !== fn) return;
      this.settle(kind);
      delete this.reads[kind];
    };
  }

  private settle(kind: SourceKind): void {
    for (const catchUp of this.catchUps[kind]) catchUp();
  }
}

/** Builds metrics from METRIC_DOCS on one registry, plain or read from a source at scrape time. */
class MetricMaker {
  private readonly registry: Registry;
  private readonly sources: Sources;

  constructor(registry: Registry, sources: Sources) {
    this.registry = registry;
    this.sources = sources;
  }

  /** Name, help and labels from METRIC_DOCS. */
  base(name: MetricName) {
    const d: MetricDoc | undefined = METRIC_DOCS.find((m) => m.name === name);
    if (d === undefined) throw new Error(`metric ${name} is not in METRIC_DOCS`);
    return { name: d.name, help: d.help, labelNames: [...d.labels], registers: [this.registry] };
  }

  /** A gauge set from a source at scrape time; series vanish when the source does. */
  sourcedGauge<K extends SourceKind>(name: MetricName, kind: K, fill: (g: Gauge, stats: StatsSources[K]) => void): void {
    const sources = this.sources;
    new Gauge({
      ...this.base(name),
      collect() {
        this.reset();
        const stats = sources.read(kind);
        if (stats !== undefined) fill(this, stats);
      },
    });
  }

  /** A counter that follows a cumulative value from a source (see the note at the top). */
  sourcedCounter<K extends SourceKind>(
    name: MetricName,
    kind: K,
    values: (stats: StatsSources[K]) => Iterable<readonly [Record<string, string>, number]>,
  ): void {
    const last = new Map<string, number>();
    const catchUp = (): void => {
      const stats = this.sources.read(kind);
      if (stats === undefined) return;
      for (const [labels, value] of values(stats)) {
        const key = JSON.stringify(labels);
        const prev = last.get(key) ?? 0;
        // A smaller value means the source restarted its counts in place.
        const delta = value >= prev ? value - prev : value;
        last.set(key, value);
        // inc by 0 still creates the series, so dashboards see it exists.
        counter.inc(labels, delta);
      }
    };
    const counter = new Counter({ ...this.base(name), collect: catchUp });
    this.sources.onChange(kind, () => {
      catchUp();
      // The next source counts from zero.
      last.clear();
    });
  }
}

const byLabel = (label: string, record: Readonly<Record<string, number>>) => Object.entries(record).map(([k, v]) => [{ [label]: k }, v] as const);
const single = (value: number) => [[{}, value] as const];
const direction = (inValue: number, outValue: number) => [[{ direction: 'in' }, inValue] as const, [{ direction: 'out' }, outValue] as const];

/** Build, lease and config info, set by the daemon's method calls. */
function daemonMetrics(make: MetricMaker, version: string) {
  new Gauge({ ...make.base('flannel_build_info') }).set({ version, nodejs: process.versions.node }, 1);
  return {
    leaseInfo: new Gauge({ ...make.base('flannel_lease_info') }),
    configInfo: new Gauge({ ...make.base('flannel_config_info') }),
    configReloadErrors: new Counter({ ...make.base('flannel_config_reload_errors_total') }),
  };
}

function subnetMetrics(make: MetricMaker): void {
  make.sourcedGauge('flannel_peers', 'subnet', (g, s) => {
    for (const [backend, n] of Object.entries(s.peersByBackend)) g.set({ backend }, n);
  });
  make.sourcedGauge('flannel_backend_active', 'backends', (g, b) => {
    for (const [backend, roles] of Object.entries(b.roles)) for (const role of roles) g.set({ backend, role }, 1);
  });
  make.sourcedCounter('flannel_peers_skipped_total', 'subnet', (s) => byLabel('reason', s.peersSkipped));
  make.sourcedCounter('flannel_kube_watch_restarts_total', 'subnet', (s) => byLabel('reason', s.watchRestarts));
  make.sourcedCounter('flannel_kube_relists_total', 'subnet', (s) => single(s.relists));
}

/** Returns the run-duration histogram, which the daemon feeds once per run. */
function reconcileMetrics(make: MetricMaker, sources: Sources): Histogram {
  make.sourcedGauge('flannel_kernel_entries', 'reconcile', (g, r) => {
    for (const [type, n] of Object.entries(r.kernelEntries)) g.set({ type }, n);
  });
  make.sourcedCounter('flannel_reconcile_runs_total', 'reconcile', (r) => single(r.runs));
  const duration = new Histogram({ ...make.base('flannel_reconcile_duration_seconds'), buckets: RECONCILE_BUCKETS });
  make.sourcedCounter('flannel_reconcile_errors_total', 'reconcile', (r) => byLabel('reason', r.errors));
  // Kept across a backend switch: the time of the last success does not reset with the source.
  let lastSuccessMs = 0;
  new Gauge({
    ...make.base('flannel_last_reconcile_success_timestamp_seconds'),
    collect() {
      lastSuccessMs = Math.max(lastSuccessMs, sources.read('reconcile')?.lastSuccessMs ?? 0);
      this.set(lastSuccessMs / 1000);
    },
  });
  make.sourcedCounter('flannel_drift_repairs_total', 'reconcile', (r) => byLabel('object', r.driftRepairs));
  make.sourcedGauge('flannel_hostgw_peers_not_on_link', 'reconcile', (g, r) => g.set(r.peersNotOnLink));
  return duration;
}

function trafficMetrics(make: MetricMaker): void {
  make.sourcedCounter('flannel_iptables_resyncs_total', 'traffic', (t) => single(t.resyncs));
  make.sourcedCounter('flannel_iptables_resyncs_unchanged_total', 'traffic', (t) => single(t.unchanged));
  make.sourcedCounter('flannel_iptables_rule_repairs_total', 'traffic', (t) => single(t.repairs));
}

function udpMetrics(make: MetricMaker): void {
  make.sourcedCounter('flannel_udp_packets_total', 'udp', (u) => direction(u.packetsIn, u.packetsOut));
  make.sourcedCounter('flannel_udp_bytes_total', 'udp', (u) => direction(u.bytesIn, u.bytesOut));
  make.sourcedCounter('flannel_udp_dropped_packets_total', 'udp', (u) => byLabel('reason', u.drops));
}

function kubeApiMetrics(make: MetricMaker): void {
  make.sourcedGauge('flannel_kube_api_contact', 'kubeApi', (g, k) => g.set(k.inContact ? 1 : 0));
  make.sourcedGauge('flannel_kube_api_last_contact_timestamp_seconds', 'kubeApi', (g, k) => g.set(k.lastContactMs / 1000));
  make.sourcedCounter('flannel_kube_api_contact_losses_total', 'kubeApi', (k) => single(k.losses));
  make.sourcedGauge('flannel_kube_api_last_outage_seconds', 'kubeApi', (g, k) => g.set(k.lastOutageMs / 1000));
  make.sourcedCounter('flannel_kube_watch_expired_total', 'kubeApi', (k) => single(k.expired));
  make.sourcedCounter('flannel_kube_relist_peer_changes_total', 'kubeApi', (k) => byLabel('change', k.relistChanges));
}

function readinessMetrics(make: MetricMaker): void {
  make.sourcedGauge('flannel_peers_unprogrammed', 'readiness', (g, r) => {
    for (const [reason, n] of Object.entries(r.peersUnprogrammed)) g.set({ reason }, n);
  });
  make.sourcedGauge('flannel_config_warnings', 'readiness', (g, r) => {
    for (const [check, n] of Object.entries(r.configWarnings)) g.set({ check }, n);
  });
}

/** The metrics table in Markdown, as docs/metrics.md quotes it. */
export function metricsTableMarkdown(): string {
  const rows = METRIC_DOCS.map((m) => `| \`${m.name}\` | ${m.type} | ${m.labels.map((l) => `\`${l}\``).join(', ') || '—'} | ${m.help} |`);
  return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

/** Peer health (src/probe/peer-health.ts): counts without per-peer labels; returns the RTT histogram the prober feeds. */
function peerHealthMetrics(make: MetricMaker): Histogram {
  make.sourcedGauge('flannel_peer_health_peers_probed', 'peerHealth', (g, p) => g.set(p.peersProbed));
  make.sourcedGauge('flannel_peer_health_unreachable_peers', 'peerHealth', (g, p) => g.set(p.unreachable));
  make.sourcedCounter('flannel_peer_health_probes_total', 'peerHealth', (p) => [[{ result: 'answered' }, p.probesAnswered] as const, [{ result: 'unanswered' }, p.probesUnanswered] as const]);
  const rtt = new Histogram({ ...make.base('flannel_peer_health_rtt_seconds'), buckets: RTT_BUCKETS });
  make.sourcedCounter('flannel_peer_health_transitions_total', 'peerHealth', (p) => [[{ to: 'unreachable' }, p.toUnreachable] as const, [{ to: 'reachable' }, p.toReachable] as const]);
  return rtt;
}
