import { openDrift } from '../reconcile/drift.ts';
import { warnInvalidPeers, WarnOnce } from '../reconcile/warn-once.ts';
import { formatCidr } from '../../ip/ipv4.ts';
import type { NetlinkChange } from '../../netlink/types.ts';
import { AF_INET, RT_TABLE_MAIN } from '../../netlink/types.ts';
import type { Lease, LeaseAttrs } from '../../subnet/lease.ts';
import { applyOps, type PlannedOp } from '../reconcile/apply-ops.ts';
import type { Backend, Desired, ExternalInterface, PeerFailure, ReconcileReport } from '../backend.ts';
import type { BackendContext, DriftMonitor } from '../context.ts';
import { ExpectedDeletes, routeDeleteKey } from '../reconcile/expected-deletes.ts';
import { isPeerRouteOn } from '../reconcile/peer-routes.ts';
import { planHostGw, type HostGwPlan } from './plan.ts';

/** Upstream's refusal, word for word (hostgw.go), so operators' searches find it. */
export const HOSTGW_NAT_REFUSAL = "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

export class HostGwRefusedError extends Error {
  override readonly name = 'HostGwRefusedError';
}

/**
 * host-gw (§7): one route per peer, `<subnet> via <public ip> dev <ext>`. A peer whose public
 * IP is not on a directly connected network makes the kernel answer ENETUNREACH; it is then
 * logged once by name, listed in `notOnLink`, and tried again only on later runs (no backoff
 * storm: it is not a transient failure).
 */
export class HostGwBackend implements Backend {
  readonly type = 'host-gw';
  readonly mtu: number;
  private readonly ctx: BackendContext;
  private ext: ExternalInterface;
  private own: Lease | undefined;
  private monitor: DriftMonitor | undefined;
  private readonly expected = new ExpectedDeletes();
  private readonly warnOnce: WarnOnce;
  /** Peers (subnet → node name) the kernel refused as not on-link, as of the last run. */
  private readonly notOnLink = new Map<string, string>();

  constructor(ctx: BackendContext) {
    this.ctx = ctx;
    this.ext = ctx.ext;
    this.mtu = ctx.ext.mtu;
    this.warnOnce = new WarnOnce(ctx.log);
  }

  async prepare(): Promise<LeaseAttrs> {
    if (this.ext.extAddr !== this.ext.ifaceAddr) {
      throw new HostGwRefusedError(`${HOSTGW_NAT_REFUSAL} (public IP ${this.ext.extAddr}, ${this.ext.name} has ${this.ext.ifaceAddr})`);
    }
    return { publicIp: this.ext.extAddr, backendType: 'host-gw', backendData: 'null' };
  }

  async configure(own: Lease): Promise<void> {
    this.own = own;
  }

  async reconcile(desired: Desired): Promise<ReconcileReport> {
    const t0 = performance.now();
    this.own = desired.own;
    const ext = await this.ctx.nl.linkByName(this.ext.name);
    if (ext === undefined) throw new Error(`external interface ${this.ext.name} is gone; host-gw routes wait for it`);
    if (ext.index !== this.ext.index) this.ext = { ...this.ext, index: ext.index };
    const routes = await this.ctx.nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN });
    const plan = planHostGw({ network: desired.network, own: desired.own.subnet, peers: desired.peers, extIndex: this.ext.index, routes });
    this.logSkipped(plan);

    const ops: PlannedOp[] = [];
    for (const r of plan.route.remove) ops.push({ action: 'delete', type: 'route', subnet: undefined, node: undefined, queue: (b) => b.routeDel(r), deleteKey: routeDeleteKey(r.dst, r.oif) });
    for (const w of plan.route.create) ops.push({ action: 'create', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj) });
    for (const [w] of plan.route.replace) ops.push({ action: 'replace', type: 'route', subnet: w.subnet, node: w.node, queue: (b) => b.routeReplace(w.obj) });
    this.expected.clear();
    for (const op of ops) if (op.deleteKey !== undefined) this.expected.expect(op.deleteKey);
    const applied = await applyOps(this.ctx.nl, ops, this.ctx.log);

    // Split "not on-link" (a topology fact) from transient failures (retried with backoff).
    const failed: PeerFailure[] = [];
    const stillUnreachable = new Set<string>();
    for (const f of applied.failed) {
      if (f.error instanceof Error && (f.error as { code?: string }).code === 'ENETUNREACH' && desired.peers.has(f.subnet)) {
        stillUnreachable.add(f.subnet);
        if (!this.notOnLink.has(f.subnet)) {
          const lease = desired.peers.get(f.subnet)!;
          const who = f.node ?? f.subnet;
          this.notOnLink.set(f.subnet, who);
          this.ctx.log.warn(
            `host-gw peer ${who} (${f.subnet}) is not on-link: its public IP ${lease.attrs.publicIp} is not on a network directly connected to ${this.ext.name}; ` +
              'host-gw needs layer-2 adjacency (use vxlan with DirectRouting for mixed topologies). No route to it exists.',
          );
        }
      } else {
        failed.push(f);
      }
    }
    for (const [subnet, who] of [...this.notOnLink]) {
      if (stillUnreachable.has(subnet)) continue;
      this.notOnLink.delete(subnet);
      if (desired.peers.has(subnet)) this.ctx.log.info(`host-gw peer ${who} (${subnet}) is reachable on-link now`);
    }
    const inPlace = plan.route.unchanged + applied.created + applied.replaced;
    return {
      generation: desired.generation,
      created: applied.created,
      replaced: applied.replaced,
      deleted: applied.deleted,
      unchanged: plan.route.unchanged,
      failed,
      ms: performance.now() - t0,
      changedByType: applied.changedByType,
      owned: { route: inPlace },
      notOnLink: [...this.notOnLink.values()],
    };
  }

  /** Peers the kernel refused as not on-link, by node name (or subnet). */
  peersNotOnLink(): string[] {
    return [...this.notOnLink.values()];
  }

  private logSkipped(plan: HostGwPlan): void {
    for (const l of plan.otherBackend) {
      this.warnOnce.warn(`${formatCidr(l.subnet)} ${l.attrs.backendType}`, `Ignoring non-host-gw subnet: type=${l.attrs.backendType || 'udp'} subnet=${formatCidr(l.subnet)} node=${l.node ?? '?'}`);
    }
    warnInvalidPeers(this.warnOnce, plan.invalid);
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    if (this.monitor !== undefined) return;
    this.monitor = openDrift(this.ctx.openMonitor, (c) => this.driftReason(c), kick);
    signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  private driftReason(c: NetlinkChange): string | undefined {
    if (this.expected.consume(c)) return undefined;
    const own = this.own?.subnet;
    if (c.kind === 'route' && c.deleted && own !== undefined && isPeerRouteOn(c.route, this.ext.index, this.ctx.network, own)) return `route ${c.route.dst} deleted`;
    if (c.kind === 'link' && c.link.index === this.ext.index && (c.deleted || !c.link.up)) return `external interface ${this.ext.name} changed`;
    // The external interface came back (a new index) or came up: routes must be re-added.
    if (c.kind === 'link' && !c.deleted && c.link.name === this.ext.name && c.link.up) return `external interface ${this.ext.name} up`;
    if (c.kind === 'addr' && c.addr.index === this.ext.index) return `address change on ${this.ext.name}`;
    return undefined;
  }

  async teardown(): Promise<void> {
    const own = this.own?.subnet;
    if (own === undefined) return;
    const routes = await this.ctx.nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN });
    const b = this.ctx.nl.batch();
    for (const r of routes) if (isPeerRouteOn(r, this.ext.index, this.ctx.network, own)) b.routeDel(r);
    if (b.size > 0) await b.run();
  }

  async close(): Promise<void> {
    this.monitor?.close();
    this.monitor = undefined;
  }
}
