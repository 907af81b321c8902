import { openDrift } from '../reconcile/drift.ts';
import { warnInvalidPeers, WarnOnce } from '../reconcile/warn-once.ts';
import type { VxlanConfig } from '../../config/types.ts';
import { formatCidr, parseIpv4 } from '../../ip/ipv4.ts';
import type { Link, NetlinkChange, NetlinkHandle } from '../../netlink/types.ts';
import { AF_BRIDGE, AF_INET, RT_TABLE_MAIN } from '../../netlink/types.ts';
import type { Lease, LeaseAttrs } from '../../subnet/lease.ts';
import { applyOps, type PlannedOp } from '../reconcile/apply-ops.ts';
import type { Backend, Desired, ExternalInterface, ReconcileReport } from '../backend.ts';
import type { BackendContext, DriftMonitor } from '../context.ts';
import { ExpectedDeletes, linkDeleteKey, neighDeleteKey, routeDeleteKey } from '../reconcile/expected-deletes.ts';
import { isPeerRouteOn } from '../reconcile/peer-routes.ts';
import { ensureAddress, ensureDevice, VXLAN_DEFAULT_PORT, type VxlanDeviceSpec } from './device.ts';
import { formatVxlanBackendData, normalizeMac, randomMac } from './mac.ts';
import { planVxlan, type VxlanPlan } from './plan.ts';
import { keepTxCsum } from '../../kernel/tx-csum.ts';

/** VXLAN adds 50 bytes: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
const VXLAN_OVERHEAD = 50;

/**
 * The vxlan backend (§6): flannel.<VNI>, and per peer a permanent neighbour, a permanent
 * self fdb entry and an onlink route — or, with DirectRouting and an on-link peer, a plain
 * route via its public IP. Every reconcile lists what it owns, diffs, and applies the
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
  private monitor: DriftMonitor | undefined;
  private readonly expected = new ExpectedDeletes();
  /** Log-once keys for peers we skip (other backend, bad data). */
  private readonly warnOnce: WarnOnce;

  constructor(ctx: BackendContext, cfg: VxlanConfig) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.ext = ctx.ext;
    this.name = `flannel.${cfg.vni}`;
    this.mtu = (cfg.mtu > 0 ? cfg.mtu : ctx.ext.mtu) - VXLAN_OVERHEAD;
    this.warnOnce = new WarnOnce(ctx.log);
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
      if (this.device !== undefined) this.expected.expect(linkDeleteKey(this.device.index));
      log.warn(`${this.name} already exists with incompatible configuration (${d.reason}); recreating device`);
    }
    for (const f of d.fixed) log.warn(`${this.name}: corrected ${f}`);
    if (this.ctx.txChecksum !== undefined) keepTxCsum(this.name, this.ctx.txChecksum, log, this.warnOnce);
    this.device = d.link;
    return d.link;
  }

  async reconcile(desired: Desired): Promise<ReconcileReport> {
    const t0 = performance.now();
    const changedByType: Record<string, number> = {};
    // The underlay may have been re-created (VLAN, bond, WireGuard restart) with a new index.
    const ext = await this.nl.linkByName(this.ext.name);
    if (ext === undefined) throw new Error(`external interface ${this.ext.name} is gone; ${this.name} waits for it`);
    if (ext.index !== this.ext.index) {
      this.ctx.log.warn(`external interface ${this.ext.name} changed index ${this.ext.index} → ${ext.index}`);
      this.ext = { ...this.ext, index: ext.index };
    }
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

    const [neighs, fdbs, routes] = await Promise.all([
      this.nl.neighList({ family: AF_INET, index: dev.index }),
      this.nl.neighList({ family: AF_BRIDGE, index: dev.index }),
      this.nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN }),
    ]);
    const onLink = this.cfg.directRouting ? await this.onLinkPeers(desired.peers) : undefined;
    const plan = planVxlan({
      network: desired.network,
      own: desired.own.subnet,
      peers: desired.peers,
      deviceIndex: dev.index,
      extIndex: this.ext.index,
      onLink,
      have: { neighs, fdbs, routes },
    });
    this.logSkipped(plan);

    const ops = this.opsOf(plan);
    this.expected.clear();
    for (const op of ops) if (op.deleteKey !== undefined) this.expected.expect(op.deleteKey);
    const applied = await applyOps(this.nl, ops);
    // Never leave a route without its neighbour and fdb entry: traffic would vanish into a
    // gateway that no one answers for. Remove the route of any peer whose neigh/fdb failed.
    const broken = new Set(applied.failed.map((f) => f.subnet));
    const orphanRoutes = ops.length === 0 || broken.size === 0 ? [] : this.orphanRouteOps(plan, broken);
    if (orphanRoutes.length > 0) await applyOps(this.nl, orphanRoutes);
    for (const [k, v] of Object.entries(applied.changedByType)) changedByType[k] = (changedByType[k] ?? 0) + v;

    const owned = {
      neigh: countInPlace(plan.neigh.unchanged, ops, applied.results, 'neigh'),
      fdb: countInPlace(plan.fdb.unchanged, ops, applied.results, 'fdb'),
      route: countInPlace(plan.route.unchanged, ops, applied.results, 'route'),
    };
    return {
      generation: desired.generation,
      created: applied.created,
      replaced: applied.replaced,
      deleted: applied.deleted,
      unchanged: plan.neigh.unchanged + plan.fdb.unchanged + plan.route.unchanged,
      failed: applied.failed,
      ms: performance.now() - t0,
      changedByType,
      owned,
    };
  }

  /** Deletes first (route → fdb → neigh), then adds (neigh → fdb → route): a route only ever points at a resolvable gateway. */
  private opsOf(plan: VxlanPlan): PlannedOp[] {
    const ops: PlannedOp[] = [];
    for (const r of plan.route.remove) {
      ops.push({ action: 'delete', type: 'route', subnet: undefined, node: undefined, queue: (b) => b.routeDel(r), deleteKey: routeDeleteKey(r.dst, r.oif) });
    }
    for (const n of [...plan.fdb.remove, ...plan.neigh.remove]) {
      const type = n.family === AF_BRIDGE ? 'fdb' : 'neigh';
      ops.push({ action: 'delete', type, subnet: undefined, node: undefined, queue: (b) => b.neighDel(n), deleteKey: neighDeleteKey(n.family, n.index, n.ip, n.mac) });
    }
    for (const w of plan.neigh.create) ops.push({ action: 'create', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj) });
    for (const [w] of plan.neigh.replace) ops.push({ action: 'replace', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj) });
    for (const w of plan.fdb.create) ops.push({ action: 'create', type: 'fdb', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj) });
    for (const w of plan.route.create) ops.push({ action: 'create', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj) });
    for (const [w] of plan.route.replace) ops.push({ action: 'replace', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj) });
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

  private logSkipped(plan: VxlanPlan): void {
    for (const l of plan.otherBackend) {
      this.warnOnce.warn(`${formatCidr(l.subnet)} ${l.attrs.backendType}`, `ignoring non-vxlan v4Subnet(${formatCidr(l.subnet)}) of node ${l.node ?? '?'}: type=${l.attrs.backendType || 'udp'}`);
    }
    warnInvalidPeers(this.warnOnce, plan.invalid);
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    if (this.monitor !== undefined) return;
    this.monitor = openDrift(this.ctx.openMonitor, (c) => this.driftReason(c), kick);
    signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Which notifications mean something of ours changed behind our back. */
  private driftReason(c: NetlinkChange): string | undefined {
    const dev = this.device;
    if (this.expected.consume(c)) return undefined;
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
      case 'route': {
        if (!c.deleted || c.route.family !== AF_INET) return undefined;
        if (c.route.oif === dev?.index) return `route ${c.route.dst} deleted`;
        const own = this.own?.subnet;
        if (own !== undefined && isPeerRouteOn(c.route, this.ext.index, this.ctx.network, own)) return `route ${c.route.dst} deleted`;
        return undefined;
      }
      case 'neigh':
        // No state filter: `ip neigh del` marks the entry FAILED before it announces the delete.
        if (!c.deleted || c.neigh.index !== dev?.index) return undefined;
        return c.neigh.family === AF_BRIDGE ? `fdb ${c.neigh.mac} deleted` : `neighbour ${c.neigh.ip} deleted`;
    }
  }

  /** Backend switch only: the device (and with it every neigh/fdb/route on it) and our direct routes. */
  async teardown(): Promise<void> {
    const dev = await this.nl.linkByName(this.name);
    if (dev !== undefined) await this.nl.linkDel(dev.index);
    this.device = undefined;
    const own = this.own?.subnet;
    if (own === undefined) return;
    const routes = await this.nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN });
    const b = this.nl.batch();
    for (const r of routes) if (isPeerRouteOn(r, this.ext.index, this.ctx.network, own)) b.routeDel(r);
    if (b.size > 0) await b.run();
  }

  async close(): Promise<void> {
    this.monitor?.close();
    this.monitor = undefined;
  }
}

/** Desired objects of a type that are in the kernel after the run: unchanged plus successful adds. */
function countInPlace(unchanged: number, ops: readonly PlannedOp[], results: readonly unknown[], type: string): number {
  let n = unchanged;
  for (let i = 0; i < ops.length; i++) if (ops[i]!.type === type && ops[i]!.action !== 'delete' && results[i] === null) n++;
  return n;
}
