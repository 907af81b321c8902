import type { BackendConfig } from '../../config/types.ts';
import type { UdpStats } from '../../observe/metrics.ts';
import { WarnOnce } from '../../observe/warn-once.ts';
import { leaseKey, leaseSubnets, type Lease, type LeaseAttrs } from '../../subnet/lease.ts';
import { errorText } from '../../util/errors.ts';
import type { Backend, Desired, PeerFailure, ReconcileReport } from '../backend.ts';
import type { BackendContext } from '../context.ts';
import { drainsOnSwitch, expiredDrains, nextDeadline, wantedBackends, type LifecycleInput, type Role } from './lifecycle.ts';
import { advertisedBackend, BACKEND_TYPES, countByType, foreignRoutesFor, leavingPeers, partitionPeers, type BackendType, type Partition } from './partition.ts';
import { strictRpFilter } from './rp-filter.ts';
import { sameBackendConfig, senderConfig, vxlanConfigOfDevice } from './sender-config.ts';

export interface MultiBackendOptions {
  readonly ctx: BackendContext;
  /** net-conf.json's Backend: what the node advertises. */
  readonly configured: BackendConfig;
  /** --migration-grace: how long a previous backend keeps receiving after the node advertised another. */
  readonly graceMs: number;
  /** Builds one backend (registry.ts's createBackend; tests inject fakes). */
  readonly create: (cfg: BackendConfig, ctx: BackendContext) => Backend;
  readonly now?: () => number;
  /** A udp datapath appeared (its counters, read at scrape time) or went away (undefined). */
  readonly onUdpStats?: (read: (() => UdpStats) | undefined) => void;
}

/** One backend running on this node. */
interface Instance {
  readonly type: BackendType;
  readonly cfg: BackendConfig;
  readonly backend: Backend;
  /** What prepare returned: published when this backend is (or becomes) the advertised one. */
  readonly attrs: LeaseAttrs;
  configured: boolean;
  /** Aborted when the instance is retired: stops its drift monitor. */
  readonly stop: AbortController;
  /** The peers its last completed run programmed (their leases as they were then). */
  served: ReadonlyMap<string, Lease>;
  /** Peers that moved to another backend, kept here (old lease) until `until` (ms): make before break. */
  readonly leaving: Map<string, { readonly lease: Lease; readonly until: number }>;
}

/** What runs on the node and why, for /readyz, /debug/state and the metrics. */
export interface MultiBackendView {
  readonly advertised: BackendType;
  readonly backends: readonly {
    readonly type: BackendType;
    readonly roles: readonly Role[];
    /** Peers advertising it. */
    readonly peers: number;
    /** Draining: when its grace period ends (ms since the epoch); absent until it starts. */
    readonly drainEndsAt?: number;
  }[];
}

const NO_PEERS: ReadonlyMap<string, Lease> = new Map();
const NO_ROUTES: ReadonlySet<string> = new Set();

/**
 * How long the backend a peer left keeps programming it after the peer moved to another one.
 * The new way is in place within the same run; the old one stays a moment longer for packets
 * already on their way into it (the udp forwarder reads its TUN queue asynchronously).
 */
const MOVE_HOLD_MS = 1000;

/**
 * The order instances run in. Within a run a peer that moved is added by its new backend and
 * held by its old one (MOVE_HOLD_MS), so any order is safe then; but a restarted daemon does not
 * know which peers moved while it was down. host-gw before vxlan: a peer moving either way gets
 * its route replaced before vxlan removes its neighbour and fdb entry, and vxlan replaces
 * host-gw's route itself. udp before vxlan: a peer moving to udp is in the forwarder's table
 * before vxlan removes its route.
 */
const RUN_ORDER: readonly BackendType[] = ['host-gw', 'udp', 'vxlan'];

/**
 * The node's datapath as one Backend for the reconcile loop: one backend instance per type in
 * use (its own device or forwarder, drift monitor and expected deletes), each peer programmed
 * by the instance of the backend it advertises, and the node's previous backend kept receiving
 * for a grace period after a switch. See docs/migration.md.
 */
export class MultiBackend implements Backend {
  private readonly opts: MultiBackendOptions;
  private readonly ctx: BackendContext;
  private readonly now: () => number;
  private configuredCfg: BackendConfig;
  /** A switch in progress: its backend is up and about to be advertised. */
  private pendingCfg: BackendConfig | undefined;
  private readonly instances = new Map<BackendType, Instance>();
  /** The node's previous backends: when their grace period ends, undefined until it starts. */
  private readonly draining = new Map<BackendType, number | undefined>();
  /** The config each backend last ran with on this node (for running it again to reach peers). */
  private readonly remembered = new Map<BackendType, BackendConfig>();
  private roles = new Map<BackendType, Role[]>();
  private peerCounts = new Map<BackendType, number>();
  private partition: Partition = { byType: new Map(), unsupported: [] };
  private own: Lease | undefined;
  private kick: ((why: string) => void) | undefined;
  private driftSignal: AbortSignal | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bumps on every change of what runs, so the loop does not count its kernel changes as drift repairs. */
  private epoch = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly once: WarnOnce;

  constructor(opts: MultiBackendOptions) {
    this.opts = opts;
    this.ctx = opts.ctx;
    this.now = opts.now ?? Date.now;
    this.configuredCfg = opts.configured;
    this.once = new WarnOnce(opts.ctx.log);
  }

  /** The advertised backend's type. */
  get type(): string {
    return this.configuredCfg.type;
  }

  /** FLANNEL_MTU follows the advertised backend (pods created before a switch keep theirs). */
  get mtu(): number {
    return this.instances.get(this.configuredCfg.type)?.backend.mtu ?? 0;
  }

  /** The configured backend's config (net-conf.json's Backend in effect). */
  get configured(): BackendConfig {
    return this.configuredCfg;
  }

  view(): MultiBackendView {
    const backends: MultiBackendView['backends'][number][] = [];
    for (const t of BACKEND_TYPES) {
      const roles = this.roles.get(t) ?? (this.instances.has(t) ? this.rolesBeforeFirstRun(t) : undefined);
      if (roles === undefined || !this.instances.has(t)) continue;
      const end = this.draining.get(t);
      backends.push({ type: t, roles, peers: this.peerCounts.get(t) ?? 0, ...(end !== undefined && roles.includes('draining') ? { drainEndsAt: end } : {}) });
    }
    return { advertised: this.configuredCfg.type, backends };
  }

  private rolesBeforeFirstRun(t: BackendType): Role[] {
    const roles: Role[] = [];
    if (t === this.configuredCfg.type || t === this.pendingCfg?.type) roles.push('advertised');
    if (this.draining.has(t)) roles.push('draining');
    return roles;
  }

  /** One thing at a time: runs, switches and shutdown never interleave their awaits. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Startup: the configured backend's device or forwarder (created or adopted), and the
   * backends peers may still send with: the one the node's own annotation still names, and a
   * `flannel.<VNI>` left by an earlier run. Returns the configured backend's attributes.
   */
  prepare(signal: AbortSignal): Promise<LeaseAttrs> {
    return this.exclusive(async () => {
      await this.adoptEarlierBackends();
      const inst = await this.ensureInstance(this.configuredCfg, signal, false);
      for (const t of [...this.draining.keys()]) {
        const cfg = senderConfig(t, this.remembered.get(t), []);
        try {
          await this.ensureInstance(cfg, signal, false);
          this.ctx.log.info(`keeping ${t} up to receive from peers that may still send with it (this node ran it before); it goes when no peer advertises it and the grace period of ${this.opts.graceMs / 1000} s is over`);
        } catch (e) {
          this.draining.delete(t);
          this.ctx.log.warn(`cannot keep ${t} up for peers that may still send with it: ${errorText(e)}`);
        }
      }
      return inst.attrs;
    });
  }

  private async adoptEarlierBackends(): Promise<void> {
    const configured = this.configuredCfg.type;
    const stored = this.ctx.stored.backendType;
    const before = stored === undefined ? undefined : advertisedBackend({ attrs: { backendType: stored } });
    if (before !== undefined && before !== configured && drainsOnSwitch(before)) this.draining.set(before, undefined);
    if (configured === 'vxlan') return;
    for (const link of await this.ctx.nl.linkList()) {
      const cfg = vxlanConfigOfDevice(link, this.ctx.ext.mtu);
      if (cfg === undefined) continue;
      if (!this.remembered.has('vxlan')) this.remembered.set('vxlan', cfg);
      this.draining.set('vxlan', undefined);
    }
  }

  configure(own: Lease, signal: AbortSignal): Promise<void> {
    return this.exclusive(async () => {
      this.own = own;
      for (const inst of this.instances.values()) {
        if (inst.configured) continue;
        await inst.backend.configure(own, signal);
        inst.configured = true;
      }
    });
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    this.kick = kick;
    this.driftSignal = signal;
    for (const inst of this.instances.values()) inst.backend.watchDrift(kick, AbortSignal.any([signal, inst.stop.signal]));
    signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }

  /**
   * A backend switch, first half: brings `next` up (receive side first: its device with its
   * MAC, or its socket and forwarder) and returns the attributes to publish. The node keeps
   * advertising the previous backend until `advertised` is called.
   */
  switchTo(next: BackendConfig, signal: AbortSignal): Promise<LeaseAttrs> {
    return this.exclusive(async () => {
      const existing = this.instances.get(next.type);
      if (existing !== undefined && !sameBackendConfig(existing.cfg, next)) {
        // Another VNI, port, …: that is another device; only a change of Type is hitless.
        await this.retire(existing, `its config changes to ${JSON.stringify(next)}`);
      }
      this.pendingCfg = next;
      try {
        const inst = await this.ensureInstance(next, signal, existing === undefined);
        return inst.attrs;
      } catch (e) {
        this.pendingCfg = undefined;
        throw e;
      }
    });
  }

  /**
   * A backend switch, second half: the node's annotations now say `next`. The previous backend
   * drains: it stays while peers advertise it, and until the grace period is over.
   */
  advertised(next: BackendConfig): void {
    const prev = this.configuredCfg;
    this.configuredCfg = next;
    this.pendingCfg = undefined;
    this.remembered.set(prev.type, prev);
    this.draining.delete(next.type);
    if (prev.type !== next.type && drainsOnSwitch(prev.type)) this.draining.set(prev.type, this.now() + this.opts.graceMs);
    this.epoch++;
    this.kick?.('backend switch');
  }

  /** A switch that did not get published (aborted): its backend goes unless something else needs it. */
  abandon(): void {
    this.pendingCfg = undefined;
    this.kick?.('backend switch abandoned');
  }

  reconcile(desired: Desired, signal: AbortSignal): Promise<ReconcileReport> {
    return this.exclusive(() => this.run(desired, signal));
  }

  private async run(desired: Desired, signal: AbortSignal): Promise<ReconcileReport> {
    const t0 = performance.now();
    const alone = desired.changed === undefined ? undefined : this.changedAlone(desired, desired.changed);
    if (alone !== undefined) {
      const report = await this.runInstance(alone.inst, { ...desired, changed: alone.changed }, alone.peers, NO_ROUTES, signal);
      return merge(desired.generation + this.epoch, t0, [report]);
    }
    return this.runAll(desired.changed === undefined ? desired : withoutChanged(desired), signal, t0);
  }

  /** Every backend and every peer: what runs, who moves, what drains. */
  private async runAll(desired: Desired, signal: AbortSignal, t0: number): Promise<ReconcileReport> {
    this.own = desired.own;
    const now = this.now();
    // A previous backend adopted at startup starts its grace period once the peers are known.
    for (const [t, end] of this.draining) if (end === undefined) this.draining.set(t, now + this.opts.graceMs);
    const part = partitionPeers(desired.peers);
    this.partition = part;
    this.logUnsupported(part.unsupported);
    const input: LifecycleInput = { configured: this.configuredCfg.type, peers: countByType(part), draining: this.draining, now };
    for (const t of expiredDrains(input)) this.draining.delete(t);
    const wanted = wantedBackends(input);
    const pending = this.pendingCfg?.type;
    if (pending !== undefined && !wanted.has(pending)) wanted.set(pending, ['advertised']);
    this.roles = wanted;
    this.peerCounts = input.peers as Map<BackendType, number>;

    for (const [t, roles] of wanted) {
      if (this.instances.has(t)) continue;
      const cfg = t === this.configuredCfg.type ? this.configuredCfg : senderConfig(t, this.remembered.get(t), part.byType.get(t)?.values() ?? []);
      try {
        await this.ensureInstance(cfg, signal, true);
        if (roles.includes('peers')) {
          const names = [...(part.byType.get(t)?.values() ?? [])].map((l) => l.node ?? leaseSubnets(l));
          this.ctx.log.info(`peers advertise ${t} (${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … ${names.length} in all` : ''}): brought up ${t} to reach them`);
        }
      } catch (e) {
        // Like a host-gw peer that is not on-link: a fact about this node, said once and tried
        // again on later runs; readiness does not wait for peers this node cannot reach.
        const msg = errorText(e);
        const names = [...(part.byType.get(t)?.values() ?? [])].map((l) => l.node ?? leaseSubnets(l));
        this.once.error(`${t} ${msg}`, `cannot bring up the ${t} backend to reach the peers that advertise it (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}): ${msg}; no route to them exists`);
      }
    }
    const running = new Set([...this.instances.keys()].filter((t) => wanted.has(t)));
    if (running.size > 1) this.warnRpFilter();

    // Make before break: the peers that moved from an instance to another running one are
    // added there in this run, and the old one keeps them (and stays up for them) until
    // MOVE_HOLD_MS has passed.
    const active = new Set(running);
    for (const inst of this.instances.values()) {
      this.updateLeaving(inst, part, running, now);
      if (inst.leaving.size > 0 && !active.has(inst.type)) {
        active.add(inst.type);
        wanted.set(inst.type, ['peers']);
      }
    }
    const reports: ReconcileReport[] = [];
    for (const t of RUN_ORDER) {
      const inst = this.instances.get(t);
      if (inst === undefined || !active.has(t)) continue;
      const mine = part.byType.get(t) ?? NO_PEERS;
      const peers = inst.leaving.size === 0 ? mine : new Map([...mine, ...[...inst.leaving].map(([k, v]) => [k, v.lease] as const)]);
      reports.push(await this.runInstance(inst, desired, peers, foreignRoutesFor(t, part.byType, running), signal));
    }

    for (const t of BACKEND_TYPES) {
      const inst = this.instances.get(t);
      if (inst !== undefined && !active.has(t)) await this.retire(inst, this.retireReason(t));
    }
    this.schedule();
    return merge(desired.generation + this.epoch, t0, reports);
  }

  /**
   * The common case of lease events on a settled node: one backend runs, nothing drains or is
   * held, and every changed peer advertises that backend before and after. Its peer map is
   * then brought up to date in place and the instance works on the changed peers alone, with
   * no pass over all peers. Anything else (a peer changing backend, a new backend, a grace
   * period) returns undefined: a full run sorts it out.
   */
  private changedAlone(desired: Desired, changed: ReadonlySet<string>): { inst: Instance; peers: ReadonlyMap<string, Lease>; changed: ReadonlySet<string> } | undefined {
    if (this.instances.size !== 1 || this.pendingCfg !== undefined || this.draining.size > 0) return undefined;
    const inst = this.instances.get(this.configuredCfg.type);
    const mine = this.partition.byType.get(this.configuredCfg.type);
    if (inst === undefined || mine === undefined || inst.leaving.size > 0) return undefined;
    for (const key of changed) {
      const lease = desired.peers.get(key);
      if (lease !== undefined && advertisedBackend(lease) !== inst.type) return undefined;
      if (!mine.has(key) && this.partition.byType.size + this.partition.unsupported.length > 1 && this.elsewhere(key)) return undefined;
    }
    for (const key of changed) {
      const lease = desired.peers.get(key);
      if (lease === undefined) mine.delete(key);
      else mine.set(key, lease);
    }
    this.peerCounts.set(inst.type, mine.size);
    return { inst, peers: mine, changed };
  }

  /** Whether the last full run filed a peer under another backend or as unsupported. */
  private elsewhere(key: string): boolean {
    for (const [t, peers] of this.partition.byType) if (t !== this.configuredCfg.type && peers.has(key)) return true;
    return this.partition.unsupported.some((l) => leaseKey(l) === key);
  }

  /** Peers that left `inst` for another running backend: held (old lease) until their hold is over. */
  private updateLeaving(inst: Instance, part: Partition, running: ReadonlySet<BackendType>, now: number): void {
    const moved = leavingPeers(inst.type, inst.served, part.byType, running);
    const over = new Set<string>();
    for (const [key, v] of [...inst.leaving]) {
      if (moved.has(key) && v.until > now) continue;
      inst.leaving.delete(key);
      over.add(key);
    }
    for (const [key, lease] of moved) if (!inst.leaving.has(key) && !over.has(key)) inst.leaving.set(key, { lease, until: now + MOVE_HOLD_MS });
  }

  private retireReason(t: BackendType): string {
    const parts = [t === this.configuredCfg.type ? '' : 'net-conf.json configures another backend', 'no peer advertises it'];
    if (drainsOnSwitch(t)) parts.push('the grace period after this node stopped advertising it is over');
    return parts.filter((p) => p !== '').join(', ');
  }

  private async runInstance(inst: Instance, desired: Desired, peers: ReadonlyMap<string, Lease>, foreignRoutes: ReadonlySet<string>, signal: AbortSignal): Promise<ReconcileReport> {
    const t0 = performance.now();
    try {
      const r = await inst.backend.reconcile({ ...desired, peers, foreignRoutes, senders: desired.peers }, signal);
      inst.served = peers;
      return r;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      const hit = desired.changed === undefined ? peers : new Map([...desired.changed].flatMap((k) => (peers.has(k) ? [[k, peers.get(k)!] as const] : [])));
      return { generation: desired.generation, created: 0, replaced: 0, deleted: 0, unchanged: 0, failed: failuresOf(hit, error, inst.type), ms: performance.now() - t0 };
    }
  }

  /** Builds, prepares and (with the own lease known) configures a backend; the instance is kept once up. */
  private async ensureInstance(cfg: BackendConfig, signal: AbortSignal, teardownOnFailure: boolean): Promise<Instance> {
    const existing = this.instances.get(cfg.type);
    if (existing !== undefined) return existing;
    const backend = this.opts.create(cfg, this.ctx);
    let attrs: LeaseAttrs;
    try {
      attrs = await backend.prepare(signal);
      if (this.own !== undefined) await backend.configure(this.own, signal);
    } catch (e) {
      // A half-made device of a backend nobody ran before goes again; at startup an adopted one stays.
      if (teardownOnFailure) await backend.teardown(this.routedDestinations(cfg.type)).catch(() => undefined);
      await backend.close().catch(() => undefined);
      throw e;
    }
    const inst: Instance = { type: cfg.type, cfg, backend, attrs, configured: this.own !== undefined, stop: new AbortController(), served: NO_PEERS, leaving: new Map() };
    this.instances.set(cfg.type, inst);
    this.epoch++;
    if (this.kick !== undefined && this.driftSignal !== undefined) backend.watchDrift(this.kick, AbortSignal.any([this.driftSignal, inst.stop.signal]));
    if (backend.stats !== undefined) this.opts.onUdpStats?.(backend.stats.bind(backend));
    return inst;
  }

  /** Every route destination the other running routed backends program. */
  private routedDestinations(except: BackendType): Set<string> {
    const running = new Set([...this.instances.keys()].filter((t) => t !== except));
    return foreignRoutesFor(except, this.partition.byType, running);
  }

  private async retire(inst: Instance, why: string): Promise<void> {
    inst.stop.abort();
    try {
      await inst.backend.teardown(this.routedDestinations(inst.type));
    } catch (e) {
      // Kept: the next run tries again.
      this.ctx.log.warn(`retiring the ${inst.type} backend: ${errorText(e)}; trying again on the next run`);
      return;
    }
    await inst.backend.close().catch(() => undefined);
    this.instances.delete(inst.type);
    this.epoch++;
    if (inst.backend.stats !== undefined) this.opts.onUdpStats?.(undefined);
    this.ctx.log.info(`backend ${inst.type} retired (${why}): removed its devices and routes`);
  }

  /** A run when the next grace period or move hold ends. */
  private schedule(): void {
    clearTimeout(this.timer);
    const now = this.now();
    const holds = [...this.instances.values()].flatMap((inst) => [...inst.leaving.values()].map((v) => v.until));
    const next = nextDeadline([...this.draining.values(), ...holds], now);
    if (next === undefined || this.kick === undefined) return;
    this.timer = setTimeout(() => this.kick?.('migration grace period or move hold over'), next - now + 5);
    this.timer.unref();
  }

  private logUnsupported(peers: readonly Lease[]): void {
    for (const l of peers) {
      const subnets = leaseSubnets(l);
      this.once.warn(
        `${subnets} ${l.attrs.backendType}`,
        `cannot reach peer ${l.node ?? subnets} (${subnets}): it advertises backend-type ${JSON.stringify(l.attrs.backendType)}, which flannel-ts does not implement`,
      );
    }
  }

  private warnRpFilter(): void {
    const strict = strictRpFilter(this.ctx.ext.name);
    if (strict === undefined) return;
    this.once.warn(
      'rp_filter',
      `${strict} is 1 (strict reverse-path filtering): with peers on several backends a reply may arrive on another device than the request left by, and is dropped; set it to 2 (loose)`,
    );
  }

  /** Removes every backend's kernel state (not used by restarts, which keep it). */
  teardown(): Promise<void> {
    return this.exclusive(async () => {
      for (const inst of [...this.instances.values()]) await this.retire(inst, 'the daemon tears everything down');
    });
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    return this.exclusive(async () => {
      for (const inst of this.instances.values()) {
        inst.stop.abort();
        await inst.backend.close();
      }
    });
  }
}

/** The same desired state for a run of every peer. */
function withoutChanged(desired: Desired): Desired {
  const { changed: _changed, ...all } = desired;
  return all;
}

function failuresOf(peers: ReadonlyMap<string, Lease>, error: Error, type: BackendType): PeerFailure[] {
  if (peers.size === 0) return [{ subnet: `backend ${type}`, error }];
  return [...peers].map(([subnet, l]) => (l.node === undefined ? { subnet, error } : { subnet, node: l.node, error }));
}

/** One report for the loop: the sum of the instances' reports. */
function merge(generation: number, t0: number, reports: readonly ReconcileReport[]): ReconcileReport {
  const sum = (f: (r: ReconcileReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const add = (into: Record<string, number>, from: Readonly<Record<string, number>> | undefined): void => {
    for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
  };
  const changedByType: Record<string, number> = {};
  const owned: Record<string, number> = {};
  for (const r of reports) {
    add(changedByType, r.changedByType);
    add(owned, r.owned);
  }
  const failed = new Map<string, PeerFailure>();
  for (const f of reports.flatMap((r) => r.failed)) if (!failed.has(f.subnet)) failed.set(f.subnet, f);
  return {
    generation,
    created: sum((r) => r.created),
    replaced: sum((r) => r.replaced),
    deleted: sum((r) => r.deleted),
    unchanged: sum((r) => r.unchanged),
    failed: [...failed.values()],
    ms: performance.now() - t0,
    changedByType,
    owned,
    notOnLink: reports.flatMap((r) => r.notOnLink ?? []),
  };
}
