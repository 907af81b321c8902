import type { VxlanConfig } from '../../config/types.ts';
import { formatAnyCidr, isAddressOf, type IpCidr, type IpFamily } from '../../ip/cidr.ts';
import type { Link, Neigh, NetlinkChange, NetlinkHandle, Route } from '../../netlink/types.ts';
import { AF_BRIDGE, NUD_PERMANENT, RT_TABLE_MAIN } from '../../netlink/types.ts';
import { WarnOnce } from '../../observe/warn-once.ts';
import { leaseHalf, leaseSubnets, type Lease, type LeaseAttrs } from '../../subnet/lease.ts';
import { extAddrs, familyScopes, networkFamilies, type Backend, type Desired, type ExternalInterface, type FamilyScope, type ReconcileReport } from '../backend.ts';
import type { BackendContext } from '../context.ts';
import { applyGroups, applyOps, type PlannedOp } from '../reconcile/apply-ops.ts';
import { OwnedIndex } from '../reconcile/owned-index.ts';
import { DriftWatch } from '../reconcile/drift.ts';
import { linkDeleteKey, neighDeleteKey } from '../reconcile/expected-deletes.ts';
import { afOf, deletePeerRoutes, isOurKindOfRoute, isPeerRouteOn, routeDeleteOps, routeSetOps } from '../reconcile/peer-routes.ts';
import { SkippedPeerLog } from '../reconcile/warn-once.ts';
import { setSysctl } from '../sysctl.ts';
import { ensureAddress, ensureDevice, VXLAN_DEFAULT_PORT, type VxlanDeviceSpec } from './device.ts';
import { normalizeMac } from '../../ip/mac.ts';
import { formatVxlanBackendData, randomMac } from './mac.ts';
import { planVxlan, VXLAN_KEYS, type VxlanPlan, type VxlanPlanInput } from './plan.ts';
import { keepTxCsum } from '../../kernel/tx-csum.ts';

/**
 * What encapsulation adds: outer IP header + UDP (8) + VXLAN (8) + inner Ethernet (14). Upstream
 * subtracts 50 for both devices; over IPv6 the outer header is 40 bytes, not 20, so the IPv6
 * device gets 70 and a pod's full-size IPv6 packet is not dropped for being 20 bytes too big.
 */
/** Outer IP header (20 or 40) + UDP 8 + VXLAN 8 + inner Ethernet 14, as upstream's vxlan_network.go. */
export const VXLAN_OVERHEAD: Record<IpFamily, number> = { ipv4: 50, ipv6: 70 };

/** One family's VXLAN device: flannel.<VNI> carries IPv4 over an IPv4 underlay, flannel-v6.<VNI> IPv6 over IPv6. */
interface FamilyDevice {
  readonly family: IpFamily;
  readonly name: string;
  readonly mtu: number;
  mac: string;
  link: Link | undefined;
  /** What it owns on and for the device, so a run for a few changed peers lists nothing (OwnedIndex). */
  readonly index: OwnedIndex<'neigh' | 'fdb' | 'route'>;
  /** VtepMAC → the peer that holds it on this device (its key, and the name a clash message shows). */
  macOwner: Map<string, { readonly key: string; readonly who: string }>;
  /** The other way round: peer key → the VtepMAC it holds (a run for a few peers frees theirs without a pass over all). */
  macOf: Map<string, string>;
  /** Peers skipped because another peer holds their VtepMAC: planned again with every change, as it may be free now. */
  macClashes: Set<string>;
}

/** A plan and the device it is for. */
interface DevicePlan {
  readonly d: FamilyDevice;
  readonly plan: VxlanPlan;
}

const NO_STATE = { neighs: [], fdbs: [], routes: [] } as const;

/**
 * The vxlan backend (upstream: pkg/backend/vxlan/vxlan.go, device.go, vxlan_network.go): per
 * enabled family a device (flannel.<VNI>, flannel-v6.<VNI>), and per peer a permanent
 * neighbour, a permanent self fdb entry and an onlink route on it — or, with DirectRouting and
 * an on-link peer, a plain route via its public IP. Unlike upstream's event handlers, a full
 * reconcile lists what it owns, diffs, and applies the difference of both families in one batch
 * (see plan.ts for ownership); a run for a few changed peers plans and applies those alone
 * against the index of what it owns (OwnedIndex), so a lease event costs work for its peer, not
 * for all of them.
 */
export class VxlanBackend implements Backend {
  readonly type = 'vxlan';
  /** FLANNEL_MTU: the smallest device MTU, since a pod has one MTU for both families. */
  readonly mtu: number;
  private readonly ctx: BackendContext;
  private readonly cfg: VxlanConfig;
  private ext: ExternalInterface;
  private readonly devices: FamilyDevice[];
  private own: Lease | undefined;
  private readonly drift: DriftWatch;
  private readonly skipped: SkippedPeerLog;
  /** Problems of a device that persist across runs (accept_ra, tx checksum offload), logged once. */
  private readonly warnOnce: WarnOnce;

  constructor(ctx: BackendContext, cfg: VxlanConfig) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.ext = ctx.ext;
    const base = cfg.mtu > 0 ? cfg.mtu : ctx.ext.mtu;
    this.devices = networkFamilies(ctx).map((family) => ({
      family,
      name: family === 'ipv4' ? `flannel.${cfg.vni}` : `flannel-v6.${cfg.vni}`,
      mtu: base - VXLAN_OVERHEAD[family],
      mac: '',
      link: undefined,
      index: new OwnedIndex(VXLAN_KEYS),
      macOwner: new Map(),
      macOf: new Map(),
      macClashes: new Set(),
    }));
    this.mtu = Math.min(...this.devices.map((d) => d.mtu));
    this.drift = new DriftWatch(ctx.openMonitor);
    // Upstream's line names both subnets; an IPv4-only cluster's keeps the IPv4 part alone, as before.
    const text = (c: IpCidr | undefined): string => (c === undefined ? '' : formatAnyCidr(c));
    const v6 = (l: Lease): string => (ctx.ipv6Network === undefined ? '' : ` v6Subnet(${text(l.ipv6Subnet)})`);
    this.skipped = new SkippedPeerLog(ctx.log, (l) => `ignoring non-vxlan v4Subnet(${text(l.subnet)})${v6(l)} of node ${l.node ?? '?'}: type=${l.attrs.backendType || 'udp'}`);
    this.warnOnce = new WarnOnce(ctx.log);
  }

  private get nl(): NetlinkHandle {
    return this.ctx.nl;
  }

  private spec(d: FamilyDevice): VxlanDeviceSpec {
    return {
      name: d.name,
      vni: this.cfg.vni,
      local: extAddrs(this.ext, d.family).ext!,
      underlayIndex: this.ext.index,
      port: this.cfg.port === 0 ? VXLAN_DEFAULT_PORT : this.cfg.port,
      learning: this.cfg.learning,
      gbp: this.cfg.gbp,
      mtu: d.mtu,
      mac: d.mac,
    };
  }

  /**
   * Per device, the MAC: the existing device's, else the one this node published before (the
   * IPv6 device's from backend-v6-data, so a re-created flannel-v6.N keeps it too), else random.
   */
  async prepare(): Promise<LeaseAttrs> {
    let attrs: LeaseAttrs = { backendType: 'vxlan' };
    for (const d of this.devices) {
      const existing = await this.nl.linkByName(d.name);
      const storedText = d.family === 'ipv4' ? this.ctx.stored.vtepMac : this.ctx.stored.vtepMacV6;
      const stored = storedText === undefined ? undefined : normalizeMac(storedText);
      d.mac = (existing?.mac ? normalizeMac(existing.mac) : undefined) ?? stored ?? randomMac();
      await this.ensureDevice(d);
      const data = formatVxlanBackendData(this.cfg.vni, d.mac);
      const ext = extAddrs(this.ext, d.family).ext!;
      attrs = d.family === 'ipv4' ? { ...attrs, publicIp: ext, backendData: data } : { ...attrs, publicIpv6: ext, backendV6Data: data };
    }
    return attrs;
  }

  async configure(own: Lease): Promise<void> {
    this.own = own;
    for (const scope of familyScopes(this.ctx, own)) {
      const d = this.device(scope.family);
      const dev = d.link ?? (await this.ensureDevice(d));
      for (const c of await ensureAddress(this.nl, dev, scope.own, scope.network)) this.ctx.log.info(`${d.name}: ${c}`);
      d.link = { ...dev, up: true };
    }
  }

  private device(family: IpFamily): FamilyDevice {
    const d = this.devices.find((x) => x.family === family);
    if (d === undefined) throw new Error(`vxlan: no ${family} device (the family is not enabled)`);
    return d;
  }

  private async ensureDevice(d: FamilyDevice): Promise<Link> {
    const r = await ensureDevice(this.nl, this.spec(d));
    const log = this.ctx.log;
    if (r.action === 'created') log.info(`Interface ${d.name} mac address set to: ${d.mac}`);
    if (r.action === 'recreated') {
      if (d.link !== undefined) this.drift.expected.expect(linkDeleteKey(d.link.index));
      log.warn(`${d.name} already exists with incompatible configuration (${r.reason}); recreating device`);
    }
    for (const f of r.fixed) log.warn(`${d.name}: corrected ${f}`);
    // Upstream (device.go) turns router advertisements off on the device it made; a vxlan device
    // must never take a default route or address from an RA that reaches it through a peer.
    if (r.action !== 'adopted') {
      const sysctl = setSysctl(`net/ipv6/conf/${d.name}/accept_ra`, '0');
      if (sysctl !== 'ok' && sysctl !== 'absent') this.warnOnce.warn(`${d.name} ${sysctl}`, `${d.name}: cannot set net.ipv6.conf.${d.name}.accept_ra=0 (${sysctl}); continuing`);
    }
    if (this.ctx.txChecksum !== undefined) keepTxCsum(d.name, this.ctx.txChecksum, log, this.warnOnce);
    d.link = r.link;
    return r.link;
  }

  async reconcile(desired: Desired): Promise<ReconcileReport> {
    const t0 = performance.now();
    try {
      const changed = desired.changed;
      if (changed !== undefined && this.indexed(desired)) return await this.finish(desired, await this.planPeers(desired, changed), {}, t0);
      return await this.reconcileAll(desired, t0);
    } catch (e) {
      for (const d of this.devices) d.index.invalidate(); // what the batch did is unknown: the next run lists the kernel
      throw e;
    }
  }

  /** Whether the indexes are good for a run of changed peers: built, for the same own subnets and devices. */
  private indexed(desired: Desired): boolean {
    if (this.own === undefined || leaseSubnets(this.own) !== leaseSubnets(desired.own)) return false;
    return familyScopes(desired, desired.own).every((s) => {
      const d = this.device(s.family);
      return d.link !== undefined && d.index.valid;
    });
  }

  /** Everything: the devices, their addresses, and every peer against a listing of the kernel. */
  private async reconcileAll(desired: Desired, t0: number): Promise<ReconcileReport> {
    await this.followUnderlay();
    const changedByType: Record<string, number> = {};
    const plans: DevicePlan[] = [];
    for (const scope of familyScopes(desired, desired.own)) {
      const d = this.device(scope.family);
      const dev = await this.ensureDeviceFor(d, scope, changedByType);
      const plan = await this.plan(desired, scope, dev.index);
      d.index.reset(plan.owned, plan.wanted);
      trackMacs(d, plan, undefined);
      plans.push({ d, plan });
    }
    this.own = desired.own;
    return this.finish(desired, plans, changedByType, t0);
  }

  /**
   * The changed peers alone (and those waiting for a VtepMAC), per family: planned against the
   * objects the index says they own and the keys they now want. The devices are left alone: the
   * drift monitor asks for a full run when one changes.
   */
  private async planPeers(desired: Desired, changed: ReadonlySet<string>): Promise<DevicePlan[]> {
    const plans: DevicePlan[] = [];
    for (const scope of familyScopes(desired, desired.own)) {
      const d = this.device(scope.family);
      const keys = new Set(changed);
      for (const k of d.macClashes) keys.add(k);
      const peers = new Map<string, Lease>();
      for (const k of keys) {
        const lease = desired.peers.get(k);
        if (lease !== undefined) peers.set(k, lease);
      }
      const onLink = this.cfg.directRouting ? await this.onLinkPeers(peers, scope.family) : undefined;
      const input: Omit<VxlanPlanInput, 'have'> = {
        scope,
        peers,
        deviceIndex: d.link!.index,
        extIndex: this.ext.index,
        onLink,
        foreign: desired.foreignRoutes,
        macClaimedBy: (mac) => {
          const owner = d.macOwner.get(mac);
          return owner !== undefined && !keys.has(owner.key) ? owner.who : undefined;
        },
      };
      const owned = d.index.ownedFor(keys, planVxlan({ ...input, have: NO_STATE }).wanted);
      const plan = planVxlan({ ...input, have: { neighs: owned.neigh as Neigh[], fdbs: owned.fdb as Neigh[], routes: owned.route as Route[] } });
      d.index.setWanted(keys, plan.wanted);
      trackMacs(d, plan, keys);
      plans.push({ d, plan });
    }
    return plans;
  }

  /** Applies the plans of both families in one batch and reports. */
  private async finish(desired: Desired, plans: readonly DevicePlan[], changedByType: Record<string, number>, t0: number): Promise<ReconcileReport> {
    for (const p of plans) this.skipped.log(p.plan);
    const perDevice = plans.map((p) => ({ ...p, ops: this.opsOf(p.plan), index: p.d.index }));
    const applied = await applyGroups(this.nl, perDevice, { expected: this.drift.expected, log: this.ctx.log });
    // Never leave a route without its neighbour and fdb entry: traffic would vanish into a
    // gateway that no one answers for. So the route of any peer whose neigh/fdb failed goes again.
    const broken = new Set(applied.failed.map((f) => f.subnet));
    for (const p of broken.size === 0 ? [] : perDevice) {
      const orphans = orphanRouteOps(p.plan, p.d.link?.index, broken);
      if (orphans.length > 0) p.d.index.record(orphans, (await applyOps(this.nl, orphans, { log: this.ctx.log })).results);
    }
    for (const [k, v] of Object.entries(applied.changedByType)) changedByType[k] = (changedByType[k] ?? 0) + v;
    let unchanged = 0;
    for (const { plan } of plans) unchanged += plan.neigh.unchanged + plan.fdb.unchanged + plan.route.unchanged;
    const owned = (kind: 'neigh' | 'fdb' | 'route'): number => this.devices.reduce((n, d) => n + d.index.size(kind), 0);
    return {
      generation: desired.generation,
      created: applied.created,
      replaced: applied.replaced,
      deleted: applied.deleted,
      unchanged,
      failed: applied.failed,
      ms: performance.now() - t0,
      changedByType,
      owned: { neigh: owned('neigh'), fdb: owned('fdb'), route: owned('route') },
    };
  }

  /** The underlay may have been re-created (VLAN, bond, WireGuard restart) with a new index. */
  private async followUnderlay(): Promise<void> {
    const ext = await this.nl.linkByName(this.ext.name);
    if (ext === undefined) throw new Error(`external interface ${this.ext.name} is gone; ${this.devices.map((d) => d.name).join(' and ')} wait for it`);
    if (ext.index !== this.ext.index) {
      this.ctx.log.warn(`external interface ${this.ext.name} changed index ${this.ext.index} → ${ext.index}`);
      this.ext = { ...this.ext, index: ext.index };
    }
  }

  /** The family's device present, compatible, addressed with the own subnet and up; counts what that changed. */
  private async ensureDeviceFor(d: FamilyDevice, scope: FamilyScope, changedByType: Record<string, number>): Promise<Link> {
    const before = d.link?.index;
    const dev = await this.ensureDevice(d);
    if (dev.index !== before) {
      changedByType['device'] = (changedByType['device'] ?? 0) + 1;
      if (before !== undefined) this.ctx.log.warn(`${d.name} was missing or replaced; re-created it and replaying every peer`);
    }
    const addrChanges = await ensureAddress(this.nl, dev, scope.own, scope.network);
    if (addrChanges.length > 0) {
      changedByType['addr'] = (changedByType['addr'] ?? 0) + addrChanges.length;
      for (const c of addrChanges) this.ctx.log.info(`${d.name}: ${c}`);
    }
    d.link = { ...dev, up: true };
    return dev;
  }

  /** Lists what the kernel has (neighbours, fdb, routes) for one family and plans it against the peers. */
  private async plan(desired: Desired, scope: FamilyScope, deviceIndex: number): Promise<VxlanPlan> {
    const af = afOf(scope.family);
    const [neighs, fdbs, routes] = await Promise.all([
      this.nl.neighList({ family: af, index: deviceIndex }),
      this.nl.neighList({ family: AF_BRIDGE, index: deviceIndex }),
      this.nl.routeList({ family: af, table: RT_TABLE_MAIN }),
    ]);
    const onLink = this.cfg.directRouting ? await this.onLinkPeers(desired.peers, scope.family) : undefined;
    return planVxlan({ scope, peers: desired.peers, deviceIndex, extIndex: this.ext.index, onLink, have: { neighs, fdbs, routes }, foreign: desired.foreignRoutes });
  }

  /** Deletes first (route → fdb → neigh), then adds (neigh → fdb → route): a route only ever points at a resolvable gateway. */
  private opsOf(plan: VxlanPlan): PlannedOp[] {
    const ops = routeDeleteOps(plan.route.remove);
    for (const n of [...plan.fdb.remove, ...plan.neigh.remove]) {
      const type = n.family === AF_BRIDGE ? 'fdb' : 'neigh';
      ops.push({ action: 'delete', type, subnet: undefined, node: undefined, queue: (b) => b.neighDel(n), deleteKey: neighDeleteKey(n.family, n.index, n.ip, n.mac), obj: n });
    }
    const written = (n: Neigh): string => neighDeleteKey(n.family, n.index, n.ip, n.mac);
    for (const w of plan.neigh.create) ops.push({ action: 'create', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj), obj: w.obj });
    for (const [w] of plan.neigh.replace) ops.push({ action: 'replace', type: 'neigh', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj), obj: w.obj });
    for (const w of plan.fdb.create) ops.push({ action: 'create', type: 'fdb', subnet: w.subnet, node: w.node, queue: (b) => b.neighSet(w.obj), writeKey: written(w.obj), obj: w.obj });
    ops.push(...routeSetOps(plan.route));
    return ops;
  }

  /** DirectRouting: peers whose public IP of the family the kernel reaches without a gateway over the external interface. */
  private async onLinkPeers(peers: ReadonlyMap<string, Lease>, family: IpFamily): Promise<Set<string>> {
    const ips = new Set<string>();
    for (const l of peers.values()) {
      const ip = l.attrs.backendType === 'vxlan' ? leaseHalf(l, family)?.publicIp : undefined;
      if (ip !== undefined && isAddressOf(family, ip)) ips.add(ip);
    }
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
    switch (c.kind) {
      case 'link': {
        const d = this.devices.find((x) => c.link.name === x.name || c.link.index === x.link?.index);
        if (d !== undefined) {
          if (c.deleted) return `${d.name} deleted`;
          if (c.link.mtu !== d.mtu || (c.link.mac !== '' && c.link.mac !== d.mac) || !c.link.up) return `${d.name} changed`;
          // A change of offload features is announced as a link change with nothing to show for
          // it; when the daemon keeps tx checksum offload one way, every such change is checked.
          // (Its own correction causes one more notification, and the run after it changes nothing.)
          if (this.ctx.txChecksum !== undefined) return `${d.name} changed (features?)`;
          return undefined;
        }
        return c.link.index === this.ext.index && c.deleted ? `external interface ${this.ext.name} deleted` : undefined;
      }
      case 'addr': {
        const d = this.devices.find((x) => x.link?.index === c.addr.index);
        return d !== undefined && c.deleted ? `address ${c.addr.address} removed from ${d.name}` : undefined;
      }
      // Additions and in-place changes count as much as deletions: a stale route or a neighbour
      // pointing at the wrong MAC blackholes traffic until the next resync otherwise. Our own
      // writes are recognised (ExpectedDeletes) and do not kick.
      case 'route': {
        const what = `route ${c.route.dst} ${c.deleted ? 'deleted' : 'added or changed'}`;
        const d = this.devices.find((x) => x.link?.index !== undefined && x.link.index === c.route.oif && afOf(x.family) === c.route.family);
        if (d !== undefined && (c.deleted || isOurKindOfRoute(c.route))) return what;
        if (familyScopes(this.ctx, this.own).some((s) => isPeerRouteOn(c.route, this.ext.index, s.network, s.own))) return what;
        return undefined;
      }
      case 'neigh': {
        // No state filter on deletes: `ip neigh del` marks the entry FAILED before it announces
        // the delete. New entries only when permanent: the rest is the kernel's own cache.
        if (!this.devices.some((x) => x.link?.index === c.neigh.index) || (!c.deleted && (c.neigh.state & NUD_PERMANENT) === 0)) return undefined;
        const verb = c.deleted ? 'deleted' : 'added or changed';
        return c.neigh.family === AF_BRIDGE ? `fdb ${c.neigh.mac} ${verb}` : `neighbour ${c.neigh.ip} ${verb}`;
      }
    }
  }

  /** Retiring the backend: the devices (and with them every neigh/fdb/route on them) and our direct routes. */
  async teardown(foreignRoutes?: ReadonlySet<string>): Promise<void> {
    for (const d of this.devices) {
      const dev = await this.nl.linkByName(d.name);
      if (dev !== undefined) await this.nl.linkDel(dev.index);
      d.link = undefined;
      d.index.invalidate();
    }
    for (const s of familyScopes(this.ctx, this.own)) await deletePeerRoutes(this.nl, this.ext.index, s.network, s.own, foreignRoutes);
  }

  async close(): Promise<void> {
    this.drift.close();
  }
}

/** The routes of peers whose neigh/fdb failed, on the plan's device: removed again. */
function orphanRouteOps(plan: VxlanPlan, dev: number | undefined, broken: ReadonlySet<string>): PlannedOp[] {
  const wanted = [...plan.route.create, ...plan.route.replace.map(([w]) => w)];
  return wanted
    .filter((w) => broken.has(w.subnet) && w.obj.oif === dev)
    .map((w): PlannedOp => ({ action: 'delete', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeDel(w.obj), obj: w.obj }));
}

/** Who holds which VtepMAC on the device after a plan of `keys` (undefined: of every peer). */
function trackMacs(d: FamilyDevice, plan: VxlanPlan, keys: ReadonlySet<string> | undefined): void {
  if (keys === undefined) {
    d.macOwner = new Map();
    d.macOf = new Map();
    d.macClashes = new Set();
  } else {
    for (const k of keys) {
      const mac = d.macOf.get(k);
      if (mac !== undefined && d.macOwner.get(mac)?.key === k) d.macOwner.delete(mac);
      d.macOf.delete(k);
      d.macClashes.delete(k);
    }
  }
  for (const w of plan.wanted.fdb.values()) {
    d.macOwner.set(w.obj.mac!, { key: w.subnet, who: w.node ?? w.subnet });
    d.macOf.set(w.subnet, w.obj.mac!);
  }
  for (const k of plan.macClashes) d.macClashes.add(k);
}
