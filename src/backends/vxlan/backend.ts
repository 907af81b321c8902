import type { VxlanConfig } from '../../config/types.ts';
import { formatCidr, parseIpv4 } from '../../ip/ipv4.ts';
import type { Link, Neigh, NetlinkChange, NetlinkHandle } from '../../netlink/types.ts';
import { AF_BRIDGE, AF_INET, NUD_PERMANENT, RT_TABLE_MAIN } from '../../netlink/types.ts';
import type { Lease, LeaseAttrs } from '../../subnet/lease.ts';
import type { Backend, Desired, ExternalInterface, ReconcileReport } from '../backend.ts';
import type { BackendContext } from '../context.ts';
import { applyOps, type AppliedOps, type PlannedOp } from '../reconcile/apply-ops.ts';
import { DriftWatch } from '../reconcile/drift.ts';
import { linkDeleteKey, neighDeleteKey } from '../reconcile/expected-deletes.ts';
import { deletePeerRoutes, isOurKindOfRoute, isPeerRouteOn, routeDeleteOps, routeSetOps } from '../reconcile/peer-routes.ts';
import { SkippedPeerLog } from '../reconcile/warn-once.ts';
import { ensureAddress, ensureDevice, VXLAN_DEFAULT_PORT, type VxlanDeviceSpec } from './device.ts';
import { normalizeMac } from '../../ip/mac.ts';
import { formatVxlanBackendData, randomMac } from './mac.ts';
import { planVxlan, type VxlanPlan } from './plan.ts';

/** VXLAN adds 50 bytes: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
const VXLAN_OVERHEAD = 50;

/**
 * The vxlan backend (upstream: pkg/backend/vxlan/vxlan.go, device.go, vxlan_network.go):
 * flannel.<VNI>, and per peer a permanent neighbour, a permanent self fdb entry and an onlink
 * route — or, with DirectRouting and an on-link peer, a plain route via its public IP. Unlike
 * upstream's event handlers, every reconcile lists what it owns, diffs, and applies the
 * difference in one batch; see plan.ts for ownership.
 */
export class VxlanBackend implements Backend {
  readonly type = 'vxlan';
  readonly mtu: number;
  private readonly ctx: BackendContext;
  private readonly cfg: VxlanConfig;
  private readonly name: string;
  private ext: ExternalInterface;
  private mac = '';
  private device: Link | undefined;
  private own: Lease | undefined;
  private readonly drift: DriftWatch;
  private readonly skipped: SkippedPeerLog;

  constructor(ctx: BackendContext, cfg: VxlanConfig) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.ext = ctx.ext;
    this.name = `flannel.${cfg.vni}`;
    this.mtu = (cfg.mtu > 0 ? cfg.mtu : ctx.ext.mtu) - VXLAN_OVERHEAD;
    this.drift = new DriftWatch(ctx.openMonitor);
    this.skipped = new SkippedPeerLog(ctx.log, (l) => `ignoring non-vxlan v4Subnet(${formatCidr(l.subnet)}) of node ${l.node ?? '?'}: type=${l.attrs.backendType || 'udp'}`);
  }

  private get nl(): NetlinkHandle {
    return this.ctx.nl;
  }

  private spec(): VxlanDeviceSpec {
    return {
      name: this.name,
      vni: this.cfg.vni,
      local: this.ext.extAddr,
      underlayIndex: this.ext.index,
      port: this.cfg.port === 0 ? VXLAN_DEFAULT_PORT : this.cfg.port,
      learning: this.cfg.learning,
      gbp: this.cfg.gbp,
      mtu: this.mtu,
      mac: this.mac,
    };
  }

  /** MAC: the existing device's, else the one this node published before, else random. */
  async prepare(): Promise<LeaseAttrs> {
    const existing = await this.nl.linkByName(this.name);
    const stored = this.ctx.stored.vtepMac === undefined ? undefined : normalizeMac(this.ctx.stored.vtepMac);
    this.mac = (existing?.mac ? normalizeMac(existing.mac) : undefined) ?? stored ?? randomMac();
    await this.ensureDevice();
    return { publicIp: this.ext.extAddr, backendType: 'vxlan', backendData: formatVxlanBackendData(this.cfg.vni, this.mac) };
  }

  async configure(own: Lease): Promise<void> {
    this.own = own;
    const dev = this.device ?? (await this.ensureDevice());
    for (const c of await ensureAddress(this.nl, dev, own.subnet, this.ctx.network)) this.ctx.log.info(`${this.name}: ${c}`);
    this.device = { ...dev, up: true };
  }

  private async ensureDevice(): Promise<Link> {
    const d = await ensureDevice(this.nl, this.spec());
    const log = this.ctx.log;
    if (d.action === 'created') log.info(`Interface ${this.name} mac address set to: ${this.mac}`);
    if (d.action === 'recreated') {
      if (this.device !== undefined) this.drift.expected.expect(linkDeleteKey(this.device.index));
      log.warn(`${this.name} already exists with incompatible configuration (${d.reason}); recreating device`);
    }
    for (const f of d.fixed) log.warn(`${this.name}: corrected ${f}`);
    this.device = d.link;
    return d.link;
  }

  async reconcile(desired: Desired): Promise<ReconcileReport> {
    const t0 = performance.now();
    await this.followUnderlay();
    const { dev, changedByType } = await this.ensureDeviceFor(desired);
    const plan = await this.plan(desired, dev.index);
    this.skipped.log(plan);
    const ops = this.opsOf(plan);
    const applied = await this.apply(plan, ops);
    for (const [k, v] of Object.entries(applied.changedByType)) changedByType[k] = (changedByType[k] ?? 0) + v;
    return {
      generation: desired.generation,
      created: applied.created,
      replaced: applied.replaced,
      deleted: applied.deleted,
      unchanged: plan.neigh.unchanged + plan.fdb.unchanged + plan.route.unchanged,
      failed: applied.failed,
      ms: performance.now() - t0,
      changedByType,
      owned: ownedAfter(plan, ops, applied.results),
    };
  }

  /** The underlay may have been re-created (VLAN, bond, WireGuard restart) with a new index. */
  private async followUnderlay(): Promise<void> {
    const ext = await this.nl.linkByName(this.ext.name);
    if (ext === undefined) throw new Error(`external interface ${this.ext.name} is gone; ${this.name} waits for it`);
    if (ext.index !== this.ext.index) {
      this.ctx.log.warn(`external interface ${this.ext.name} changed index ${this.ext.index} → ${ext.index}`);
      this.ext = { ...this.ext, index: ext.index };
    }
  }

  /** flannel.N present, compatible, addressed with the own subnet and up; counts what that changed. */
  private async ensureDeviceFor(desired: Desired): Promise<{ dev: Link; changedByType: Record<string, number> }> {
    const changedByType: Record<string, number> = {};
    const before = this.device?.index;
    const dev = await this.ensureDevice();
    if (dev.index !== before) {
      changedByType['device'] = 1;
      if (before !== undefined) this.ctx.log.warn(`${this.name} was missing or replaced; re-created it and replaying every peer`);
    }
    const addrChanges = await ensureAddress(this.nl, dev, desired.own.subnet, desired.network);
    if (addrChanges.length > 0) {
      changedByType['addr'] = addrChanges.length;
      for (const c of addrChanges) this.ctx.log.info(`${this.name}: ${c}`);
    }
    this.device = { ...dev, up: true };
    this.own = desired.own;
    return { dev, changedByType };
  }

  /** Lists what the kernel has (neighbours, fdb, routes) and plans it against the peers. */
  private async plan(desired: Desired, deviceIndex: number): Promise<VxlanPlan> {
    const [neighs, fdbs, routes] = await Promise.all([
      this.nl.neighList({ family: AF_INET, index: deviceIndex }),
      this.nl.neighList({ family: AF_BRIDGE, index: deviceIndex }),
      this.nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN }),
    ]);
    const onLink = this.cfg.directRouting ? await this.onLinkPeers(desired.peers) : undefined;
    return planVxlan({
      network: desired.network,
      own: desired.own.subnet,
      peers: desired.peers,
      deviceIndex,
      extIndex: this.ext.index,
      onLink,
      have: { neighs, fdbs, routes },
    });
  }

  /**
   * Applies the ops in one batch. Never leaves a route without its neighbour and fdb entry:
   * traffic would vanish into a gateway that no one answers for. So the route of any peer
   * whose neigh/fdb failed is removed again.
   */
  private async apply(plan: VxlanPlan, ops: readonly PlannedOp[]): Promise<AppliedOps> {
    const applied = await applyOps(this.nl, ops, this.drift.expected);
    const broken = new Set(applied.failed.map((f) => f.subnet));
    const orphanRoutes = ops.length === 0 || broken.size === 0 ? [] : this.orphanRouteOps(plan, broken);
    if (orphanRoutes.length > 0) await applyOps(this.nl, orphanRoutes);
    return applied;
  }

  /** Deletes first (route → fdb → neigh), then adds (neigh → fdb → route): a route only ever points at a resolvable gateway. */
  private opsOf(plan: VxlanPlan): PlannedOp[] {
    const ops = routeDeleteOps(plan.route.remove);
    for (const n of [...plan.fdb.remove, ...plan.neigh.remove]) {
      const type = n.family === AF_BRIDGE ? 'fdb' : 'neigh';
      ops.push({ action: 'delete', type, subnet: undefined, node: undefined, queue: (b) => b.neighDel(n), deleteKey: neighDeleteKey(n.family, n.index, n.ip, n.mac) });
    }
    const written = (n: Neigh): string => neighDeleteKey(n.family, n.index, n.ip, n.mac);
    for (const w of plan.neigh.create) ops.push({ action: 'create', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj) });
    for (const [w] of plan.neigh.replace) ops.push({ action: 'replace', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj) });
    for (const w of plan.fdb.create) ops.push({ action: 'create', type: 'fdb', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj) });
    ops.push(...routeSetOps(plan.route));
    return ops;
  }

  private orphanRouteOps(plan: VxlanPlan, broken: ReadonlySet<string>): PlannedOp[] {
    const dev = this.device?.index;
    const wanted = [...plan.route.create, ...plan.route.replace.map(([w]) => w)];
    return wanted
      .filter((w) => broken.has(w.subnet) && w.obj.oif === dev)
      .map((w): PlannedOp => ({ action: 'delete', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeDel(w.obj) }));
  }

  /** DirectRouting: peers whose public IP the kernel reaches without a gateway over the external interface. */
  private async onLinkPeers(peers: ReadonlyMap<string, Lease>): Promise<Set<string>> {
    const ips = new Set<string>();
    for (const l of peers.values()) if (l.attrs.backendType === 'vxlan' && parseIpv4(l.attrs.publicIp) !== undefined) ips.add(l.attrs.publicIp);
    const onLink = new Set<string>();
    await Promise.all(
      [...ips].map(async (ip) => {
        try {
          const rs = await this.nl.routeGet(ip);
          if (rs.length === 1 && rs[0]!.gateway === undefined && rs[0]!.oif === this.ext.index) onLink.add(ip);
        } catch {
          // Unreachable: not on-link; the vxlan path will be used.
        }
      }),
    );
    return onLink;
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    this.drift.start((c) => this.driftReason(c), kick, signal);
  }

  /** Which notifications mean something of ours changed behind our back. */
  private driftReason(c: NetlinkChange): string | undefined {
    const dev = this.device;
    switch (c.kind) {
      case 'link':
        if (c.link.name === this.name || c.link.index === dev?.index) {
          if (c.deleted) return `${this.name} deleted`;
          if (c.link.mtu !== this.mtu || (c.link.mac !== '' && c.link.mac !== this.mac) || !c.link.up) return `${this.name} changed`;
          return undefined;
        }
        return c.link.index === this.ext.index && c.deleted ? `external interface ${this.ext.name} deleted` : undefined;
      case 'addr':
        return c.addr.index === dev?.index && c.deleted ? `address ${c.addr.address} removed from ${this.name}` : undefined;
      // Additions and in-place changes count as much as deletions: a stale route or a neighbour
      // pointing at the wrong MAC blackholes traffic until the next resync otherwise. Our own
      // writes are recognised (ExpectedDeletes) and do not kick.
      case 'route': {
        if (c.route.family !== AF_INET) return undefined;
        const what = `route ${c.route.dst} ${c.deleted ? 'deleted' : 'added or changed'}`;
        if (c.route.oif === dev?.index && (c.deleted || isOurKindOfRoute(c.route))) return what;
        const own = this.own?.subnet;
        if (own !== undefined && isPeerRouteOn(c.route, this.ext.index, this.ctx.network, own)) return what;
        return undefined;
      }
      case 'neigh': {
        // No state filter on deletes: `ip neigh del` marks the entry FAILED before it announces
        // the delete. New entries only when permanent: the rest is the kernel's own cache.
        if (c.neigh.index !== dev?.index || (!c.deleted && (c.neigh.state & NUD_PERMANENT) === 0)) return undefined;
        const verb = c.deleted ? 'deleted' : 'added or changed';
        return c.neigh.family === AF_BRIDGE ? `fdb ${c.neigh.mac} ${verb}` : `neighbour ${c.neigh.ip} ${verb}`;
      }
    }
  }

  /** Backend switch only: the device (and with it every neigh/fdb/route on it) and our direct routes. */
  async teardown(): Promise<void> {
    const dev = await this.nl.linkByName(this.name);
    if (dev !== undefined) await this.nl.linkDel(dev.index);
    this.device = undefined;
    const own = this.own?.subnet;
    if (own !== undefined) await deletePeerRoutes(this.nl, this.ext.index, this.ctx.network, own);
  }

  async close(): Promise<void> {
    this.drift.close();
  }
}

/** Desired objects in the kernel after the run, by type. */
function ownedAfter(plan: VxlanPlan, ops: readonly PlannedOp[], results: readonly unknown[]): Record<string, number> {
  return {
    neigh: countInPlace(plan.neigh.unchanged, ops, results, 'neigh'),
    fdb: countInPlace(plan.fdb.unchanged, ops, results, 'fdb'),
    route: countInPlace(plan.route.unchanged, ops, results, 'route'),
  };
}

/** Desired objects of a type that are in the kernel after the run: unchanged plus successful adds. */
function countInPlace(unchanged: number, ops: readonly PlannedOp[], results: readonly unknown[], type: string): number {
  let n = unchanged;
  for (let i = 0; i < ops.length; i++) if (ops[i]!.type === type && ops[i]!.action !== 'delete' && results[i] === null) n++;
  return n;
}
