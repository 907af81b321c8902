import { familyName, type IpFamily } from '../../ip/cidr.ts';
import type { NetlinkChange, Route } from '../../netlink/types.ts';
import { RT_TABLE_MAIN } from '../../netlink/types.ts';
import { leaseSubnets, type Lease, type LeaseAttrs } from '../../subnet/lease.ts';
import { extAddrs, familyScopes, networkFamilies, type Backend, type Desired, type ExternalInterface, type PeerFailure, type ReconcileReport } from '../backend.ts';
import type { BackendContext } from '../context.ts';
import { applyGroups } from '../reconcile/apply-ops.ts';
import { OwnedIndex } from '../reconcile/owned-index.ts';
import { DriftWatch } from '../reconcile/drift.ts';
import { afOf, deletePeerRoutes, isPeerRouteOn, routeDeleteOps, routeSetOps } from '../reconcile/peer-routes.ts';
import { SkippedPeerLog } from '../reconcile/warn-once.ts';
import { HOSTGW_KEYS, planHostGw, type HostGwPlan } from './plan.ts';
import { isErrno } from '../../util/errors.ts';

/** Upstream's refusal, word for word (pkg/backend/hostgw/hostgw.go), so operators' searches find it. */
export const HOSTGW_NAT_REFUSAL = "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

export class HostGwRefusedError extends Error {
  override readonly name = 'HostGwRefusedError';
}

/**
 * host-gw (upstream: pkg/backend/hostgw/hostgw.go and the route loop in
 * pkg/backend/route_network.go): one route per peer and family, `<subnet> via <public ip> dev
 * <ext>`; a full run lists the main table, a run for a few changed peers works on those alone
 * (OwnedIndex). A peer whose public IP is not on a directly connected network makes the kernel answer
 * ENETUNREACH; it is then logged once by name, listed in `notOnLink`, and tried again by a full
 * run every 10 s while any such peer exists (ReconcileLoop; no backoff storm: it is not a
 * transient failure).
 */
export class HostGwBackend implements Backend {
  readonly type = 'host-gw';
  readonly mtu: number;
  private readonly ctx: BackendContext;
  private ext: ExternalInterface;
  private own: Lease | undefined;
  private readonly drift: DriftWatch;
  private readonly skipped: SkippedPeerLog;
  /** Peers (subnet → node name) the kernel refused as not on-link, as of the last run. */
  private readonly notOnLink = new Map<string, string>();
  /** Per family, the routes it owns, so a run for a few changed peers lists nothing (see OwnedIndex). */
  private readonly index: Record<IpFamily, OwnedIndex<'route'>> = { ipv4: new OwnedIndex(HOSTGW_KEYS), ipv6: new OwnedIndex(HOSTGW_KEYS) };

  constructor(ctx: BackendContext) {
    this.ctx = ctx;
    this.ext = ctx.ext;
    this.mtu = ctx.ext.mtu;
    this.drift = new DriftWatch(ctx.openMonitor);
    this.skipped = new SkippedPeerLog(ctx.log, (l) => `Ignoring non-host-gw subnet: type=${l.attrs.backendType || 'udp'} subnet=${leaseSubnets(l)} node=${l.node ?? '?'}`);
  }

  /** Refuses NAT per family (upstream checks IPv4 only); publishes `null` backend data for each family. */
  async prepare(): Promise<LeaseAttrs> {
    let attrs: LeaseAttrs = { backendType: 'host-gw' };
    for (const family of networkFamilies(this.ctx)) {
      const a = extAddrs(this.ext, family);
      if (a.ext === undefined || a.ext !== a.iface) {
        throw new HostGwRefusedError(`${HOSTGW_NAT_REFUSAL} (public ${familyName(family)} ${a.ext ?? 'none'}, ${this.ext.name} has ${a.iface ?? 'none'})`);
      }
      attrs = family === 'ipv4' ? { ...attrs, publicIp: a.ext, backendData: 'null' } : { ...attrs, publicIpv6: a.ext, backendV6Data: 'null' };
    }
    return attrs;
  }

  async configure(own: Lease): Promise<void> {
    this.own = own;
  }

  async reconcile(desired: Desired): Promise<ReconcileReport> {
    const t0 = performance.now();
    try {
      const changed = desired.changed;
      if (changed !== undefined && this.indexed(desired)) return await this.finish(desired, this.planPeers(desired, changed), changed, t0);
      return await this.finish(desired, await this.planAll(desired), undefined, t0);
    } catch (e) {
      this.invalidate(); // what the batch did is unknown: the next run lists the kernel
      throw e;
    }
  }

  /** Whether the indexes are good for a run of changed peers: built, and for the same own subnets. */
  private indexed(desired: Desired): boolean {
    const scopes = familyScopes(desired, desired.own);
    return this.own !== undefined && leaseSubnets(this.own) === leaseSubnets(desired.own) && scopes.every((s) => this.index[s.family].valid);
  }

  private invalidate(): void {
    this.index.ipv4.invalidate();
    this.index.ipv6.invalidate();
  }

  /** Every peer against a listing of the main table, per family. */
  private async planAll(desired: Desired): Promise<FamilyPlan[]> {
    this.own = desired.own;
    const ext = await this.ctx.nl.linkByName(this.ext.name);
    if (ext === undefined) throw new Error(`external interface ${this.ext.name} is gone; host-gw routes wait for it`);
    if (ext.index !== this.ext.index) this.ext = { ...this.ext, index: ext.index };
    return Promise.all(
      familyScopes(desired, desired.own).map(async (scope) => {
        const routes = await this.ctx.nl.routeList({ family: afOf(scope.family), table: RT_TABLE_MAIN });
        const plan = planHostGw({ scope, peers: desired.peers, extIndex: this.ext.index, routes, foreign: desired.foreignRoutes });
        this.index[scope.family].reset(plan.owned, plan.wanted);
        return { family: scope.family, plan };
      }),
    );
  }

  /** The changed peers alone, against the routes the index says they own and the ones they now want. */
  private planPeers(desired: Desired, changed: ReadonlySet<string>): FamilyPlan[] {
    const peers = new Map<string, Lease>();
    for (const key of changed) {
      const lease = desired.peers.get(key);
      if (lease !== undefined) peers.set(key, lease);
    }
    return familyScopes(desired, desired.own).map((scope) => {
      const index = this.index[scope.family];
      const input = { scope, peers, extIndex: this.ext.index, foreign: desired.foreignRoutes };
      const owned = index.ownedFor(changed, planHostGw({ ...input, routes: [] }).wanted);
      const plan = planHostGw({ ...input, routes: owned.route as Route[] });
      index.setWanted(changed, plan.wanted);
      return { family: scope.family, plan };
    });
  }

  /** Applies the families' plans in one batch; `scope` is the peers they covered (undefined: all). */
  private async finish(desired: Desired, plans: readonly FamilyPlan[], scope: ReadonlySet<string> | undefined, t0: number): Promise<ReconcileReport> {
    for (const { plan } of plans) this.skipped.log(plan);
    const perFamily = plans.map(({ family, plan }) => ({ ops: [...routeDeleteOps(plan.route.remove), ...routeSetOps(plan.route)], index: this.index[family] }));
    const applied = await applyGroups(this.ctx.nl, perFamily, { expected: this.drift.expected, log: this.ctx.log });

    // Split "not on-link" (a topology fact) from transient failures (retried with backoff).
    const failed: PeerFailure[] = [];
    const stillUnreachable = new Set<string>();
    for (const f of applied.failed) {
      if (isErrno(f.error, 'ENETUNREACH') && desired.peers.has(f.subnet)) {
        stillUnreachable.add(f.subnet);
        if (!this.notOnLink.has(f.subnet)) {
          const lease = desired.peers.get(f.subnet)!;
          const who = f.node ?? f.subnet;
          this.notOnLink.set(f.subnet, who);
          const ips = [lease.attrs.publicIp, lease.attrs.publicIpv6].filter((ip) => ip !== undefined).join(', ');
          this.ctx.log.warn(
            `host-gw peer ${who} (${f.subnet}) is not on-link: its public IP ${ips} is not on a network directly connected to ${this.ext.name}; ` +
              'host-gw needs layer-2 adjacency (use vxlan with DirectRouting for mixed topologies). No route to it exists.',
          );
        }
      } else {
        failed.push(f);
      }
    }
    for (const [subnet, who] of [...this.notOnLink]) {
      if (stillUnreachable.has(subnet) || (scope !== undefined && !scope.has(subnet))) continue;
      this.notOnLink.delete(subnet);
      if (desired.peers.has(subnet)) this.ctx.log.info(`host-gw peer ${who} (${subnet}) is reachable on-link now`);
    }
    const unchanged = plans.reduce((n, { plan }) => n + plan.route.unchanged, 0);
    return {
      generation: desired.generation,
      created: applied.created,
      replaced: applied.replaced,
      deleted: applied.deleted,
      unchanged,
      failed,
      ms: performance.now() - t0,
      changedByType: applied.changedByType,
      owned: { route: this.index.ipv4.size('route') + this.index.ipv6.size('route') },
      notOnLink: [...this.notOnLink.values()],
    };
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    this.drift.start((c) => this.driftReason(c), kick, signal);
  }

  private driftReason(c: NetlinkChange): string | undefined {
    // Added or changed routes too (a stale or hijacked route into the pod network); our own writes do not kick (ExpectedDeletes).
    if (c.kind === 'route' && familyScopes(this.ctx, this.own).some((s) => isPeerRouteOn(c.route, this.ext.index, s.network, s.own))) {
      return `route ${c.route.dst} ${c.deleted ? 'deleted' : 'added or changed'}`;
    }
    if (c.kind === 'link' && c.link.index === this.ext.index && (c.deleted || !c.link.up)) return `external interface ${this.ext.name} changed`;
    // The external interface came back (a new index) or came up: routes must be re-added.
    if (c.kind === 'link' && !c.deleted && c.link.name === this.ext.name && c.link.up) return `external interface ${this.ext.name} up`;
    if (c.kind === 'addr' && c.addr.index === this.ext.index) return `address change on ${this.ext.name}`;
    return undefined;
  }

  async teardown(foreignRoutes?: ReadonlySet<string>): Promise<void> {
    this.invalidate();
    for (const s of familyScopes(this.ctx, this.own)) await deletePeerRoutes(this.ctx.nl, this.ext.index, s.network, s.own, foreignRoutes);
  }

  async close(): Promise<void> {
    this.drift.close();
  }
}

interface FamilyPlan {
  readonly family: IpFamily;
  readonly plan: HostGwPlan;
}
