import { addressOf, familyName, formatAnyCidr, isAddressOf, type IpFamily } from '../../ip/cidr.ts';
import { leaseHalf, type Lease } from '../../subnet/lease.ts';
import type { Neigh, Route } from '../../netlink/types.ts';
import { AF_BRIDGE, NTF_SELF, NUD_PERMANENT } from '../../netlink/types.ts';
import type { FamilyScope } from '../backend.ts';
import type { ForPeer, KeyedDiff } from '../reconcile/keyed-diff.ts';
import { diffKeyed } from '../reconcile/keyed-diff.ts';
import { afOf, isForeign, isOurKindOfRoute, isPeerRouteOn, routeKey, sameRoute, separateDeviceMoves } from '../reconcile/peer-routes.ts';
import type { SkippedPeers } from '../reconcile/warn-once.ts';
import { peerVtepMac } from './mac.ts';

export interface VxlanKernelState {
  /** Neighbours of the scope's family on the vxlan device. */
  readonly neighs: readonly Neigh[];
  /** AF_BRIDGE entries on the vxlan device. */
  readonly fdbs: readonly Neigh[];
  /** Routes of the scope's family, every table and device (filtered here). */
  readonly routes: readonly Route[];
}

export interface VxlanPlanInput {
  /** The family planned (flannel.N for IPv4, flannel-v6.N for IPv6), its network and the own subnet. */
  readonly scope: FamilyScope;
  readonly peers: ReadonlyMap<string, Lease>;
  readonly deviceIndex: number;
  readonly extIndex: number;
  /** DirectRouting on: the peer public IPs that are on-link via the external interface. */
  readonly onLink: ReadonlySet<string> | undefined;
  readonly have: VxlanKernelState;
  /** Route destinations another backend of this node programs (Desired.foreignRoutes): neither wanted nor owned here. */
  readonly foreign?: ReadonlySet<string>;
  /**
   * A plan for some peers only: who (outside `peers`) already uses a VtepMAC, if anyone. Such a
   * MAC counts as taken, as if that peer came first in `peers`.
   */
  readonly macClaimedBy?: (mac: string) => string | undefined;
}

/** `invalid` here: bad backend data, or a VtepMAC another peer already uses. */
export interface VxlanPlan extends SkippedPeers {
  readonly neigh: KeyedDiff<ForPeer<Neigh>, Neigh>;
  readonly fdb: KeyedDiff<ForPeer<Neigh>, Neigh>;
  readonly route: KeyedDiff<ForPeer<Route>, Route>;
  /** What was diffed, by the keys of VXLAN_KEYS: the wanted objects and the owned ones found. */
  readonly wanted: { readonly neigh: ReadonlyMap<string, ForPeer<Neigh>>; readonly fdb: ReadonlyMap<string, ForPeer<Neigh>>; readonly route: ReadonlyMap<string, ForPeer<Route>> };
  readonly owned: { readonly neigh: ReadonlyMap<string, Neigh>; readonly fdb: ReadonlyMap<string, Neigh>; readonly route: ReadonlyMap<string, Route> };
  /** Peers (keys) among the `invalid` ones whose only problem is a VtepMAC another peer holds. */
  readonly macClashes: readonly string[];
}

/** How the kernel tells our objects apart (the keys of the plan's maps). */
export const VXLAN_KEYS = {
  neigh: (n: Neigh): string => n.ip ?? '',
  fdb: (f: Neigh): string => fdbKey(f.mac ?? '', f.ip ?? ''),
  route: routeKey,
};

/**
 * One family's plan; the IPv4 one is for flannel.N, the IPv6 one for flannel-v6.N, which
 * upstream's vxlan_network.go programs the same way from the lease's IPv6 half (public-ipv6,
 * backend-v6-data). Ownership (what reconcile may delete):
 * - neighbours and fdb entries on the device in state PERMANENT: we create no other kind, and
 *   the rest (incomplete ARP/NDP, learned fdb with `learning`) is the kernel's cache;
 * - main-table routes of the family on the device not made by the kernel;
 * - main-table routes on the external interface to peer subnets inside the family's network
 *   (DirectRouting).
 *
 * Desired per vxlan peer with a half of the family: neighbour (subnet network address →
 * VtepMAC), fdb (VtepMAC → public IP, self permanent) and `<subnet> via <subnet addr> dev
 * <device> onlink`; or, when DirectRouting finds the peer on-link, only `<subnet> via <public
 * ip> dev <ext>`. A destination in `foreign` is another backend's route: the peer keeps its
 * neighbour and fdb entry here (it is moving to that backend) and its route is left alone.
 */
export function planVxlan(input: VxlanPlanInput): VxlanPlan {
  const { deviceIndex, extIndex, foreign } = input;
  const { family, network, own } = input.scope;
  const af = afOf(family);
  const wantNeigh = new Map<string, ForPeer<Neigh>>();
  const wantFdb = new Map<string, ForPeer<Neigh>>();
  const wantRoute = new Map<string, ForPeer<Route>>();
  const otherBackend: Lease[] = [];
  const invalid: { lease: Lease; reason: string }[] = [];
  const macClashes: string[] = [];
  const macOwner = new Map<string, string>();

  for (const [subnet, lease] of input.peers) {
    if (lease.attrs.backendType !== 'vxlan') {
      otherBackend.push(lease);
      continue;
    }
    const facts = peerFacts(lease, family, subnet, deviceIndex, extIndex);
    if (facts === undefined) continue; // no half of this family: the subnet manager reported it
    if ('reason' in facts) {
      invalid.push({ lease, reason: facts.reason });
      continue;
    }
    const foreignRoute = foreign?.has(facts.route.obj.dst!) === true;
    if (input.onLink?.has(facts.publicIp) === true) {
      if (!foreignRoute) wantRoute.set(routeKey(facts.direct.obj), facts.direct);
      continue;
    }
    if (facts.neigh === undefined || facts.fdb === undefined) {
      invalid.push({ lease, reason: facts.macError ?? 'no VtepMAC' });
      continue;
    }
    const mac = facts.neigh.obj.mac!;
    const clash = input.macClaimedBy?.(mac) ?? macOwner.get(mac);
    if (clash !== undefined) {
      invalid.push({ lease, reason: `VtepMAC ${mac} is already used by peer ${clash}` });
      macClashes.push(subnet);
      continue;
    }
    macOwner.set(mac, lease.node ?? subnet);
    wantNeigh.set(VXLAN_KEYS.neigh(facts.neigh.obj), facts.neigh);
    wantFdb.set(facts.fdbKey, facts.fdb);
    if (!foreignRoute) wantRoute.set(routeKey(facts.route.obj), facts.route);
  }

  const haveNeigh = new Map<string, Neigh>();
  for (const n of input.have.neighs) {
    if (n.index === deviceIndex && n.family === af && n.ip !== undefined && isPermanent(n)) haveNeigh.set(VXLAN_KEYS.neigh(n), n);
  }
  // A wanted address held by a non-permanent (kernel-cache) entry must still be replaced.
  for (const n of input.have.neighs) {
    if (n.index === deviceIndex && n.ip !== undefined && !isPermanent(n) && wantNeigh.has(n.ip)) haveNeigh.set(VXLAN_KEYS.neigh(n), n);
  }
  const haveFdb = new Map<string, Neigh>();
  for (const f of input.have.fdbs) {
    if (f.index === deviceIndex && f.family === AF_BRIDGE && f.mac !== undefined && isPermanent(f)) haveFdb.set(VXLAN_KEYS.fdb(f), f);
  }
  const haveRoute = new Map<string, Route>();
  for (const r of input.have.routes) {
    if (r.family !== af) continue;
    const ours = (r.oif === deviceIndex && isOurKindOfRoute(r)) || isPeerRouteOn(r, extIndex, network, own);
    if (ours && !isForeign(r, foreign)) haveRoute.set(routeKey(r), r);
  }

  return {
    neigh: diffKeyed(wantNeigh, haveNeigh, (w, h) => h.mac === w.obj.mac && isPermanent(h)),
    // Keyed by mac+dst: a changed public IP or VtepMAC is a delete of the old entry plus a new one.
    fdb: diffKeyed(wantFdb, haveFdb, () => true),
    route: separateDeviceMoves(diffKeyed(wantRoute, haveRoute, (w, h) => sameRoute(w.obj, h))),
    wanted: { neigh: wantNeigh, fdb: wantFdb, route: wantRoute },
    owned: { neigh: haveNeigh, fdb: haveFdb, route: haveRoute },
    otherBackend,
    invalid,
    macClashes,
  };
}

/** Everything about one peer lease that does not depend on kernel state; computed once per lease. */
type PeerFacts =
  | { readonly reason: string }
  | {
      readonly deviceIndex: number;
      readonly extIndex: number;
      readonly publicIp: string;
      readonly direct: ForPeer<Route>;
      readonly route: ForPeer<Route>;
      readonly neigh: ForPeer<Neigh> | undefined;
      readonly fdb: ForPeer<Neigh> | undefined;
      readonly fdbKey: string;
      readonly macError: string | undefined;
    };

/**
 * Leases are immutable and the daemon keeps the same Lease objects across snapshots, so the
 * parsing (backend-data JSON, MAC, addresses) and the wanted objects are cached per lease and
 * family: a resync of 5000 unchanged peers then costs map lookups, not 5000 JSON.parse calls.
 */
const factsCache: Record<IpFamily, WeakMap<Lease, PeerFacts | undefined>> = { ipv4: new WeakMap(), ipv6: new WeakMap() };

/** Undefined when the lease has no half of the family. */
function peerFacts(lease: Lease, family: IpFamily, subnet: string, deviceIndex: number, extIndex: number): PeerFacts | undefined {
  const cache = factsCache[family];
  const cached = cache.get(lease);
  if (cache.has(lease) && (cached === undefined || 'reason' in cached || (cached.deviceIndex === deviceIndex && cached.extIndex === extIndex))) return cached;
  const facts = computeFacts(lease, family, subnet, deviceIndex, extIndex);
  cache.set(lease, facts);
  return facts;
}

function computeFacts(lease: Lease, family: IpFamily, subnet: string, deviceIndex: number, extIndex: number): PeerFacts | undefined {
  const half = leaseHalf(lease, family);
  if (half === undefined) return undefined;
  const node = lease.node;
  const af = afOf(family);
  const publicIp = half.publicIp;
  if (publicIp === undefined || !isAddressOf(family, publicIp)) return { reason: `public IP ${JSON.stringify(publicIp)} is not ${familyName(family)}` };
  const dst = formatAnyCidr(half.subnet);
  const gw = addressOf(half.subnet);
  const direct: ForPeer<Route> = { subnet, node, obj: { family: af, dst, gateway: publicIp, oif: extIndex } };
  const route: ForPeer<Route> = { subnet, node, obj: { family: af, dst, gateway: gw, oif: deviceIndex, onlink: true } };
  const parsed = peerVtepMac(half.backendData ?? 'null', family === 'ipv6' ? 'backend-v6-data' : 'backend-data');
  if ('error' in parsed) return { deviceIndex, extIndex, publicIp, direct, route, neigh: undefined, fdb: undefined, fdbKey: '', macError: parsed.error };
  const { mac } = parsed;
  return {
    deviceIndex,
    extIndex,
    publicIp,
    direct,
    route,
    neigh: { subnet, node, obj: { index: deviceIndex, family: af, ip: gw, mac, state: NUD_PERMANENT } },
    fdb: { subnet, node, obj: { index: deviceIndex, family: AF_BRIDGE, ip: publicIp, mac, state: NUD_PERMANENT, flags: NTF_SELF } },
    fdbKey: fdbKey(mac, publicIp),
    macError: undefined,
  };
}

function fdbKey(mac: string, dst: string): string {
  return `${mac} ${dst}`;
}

function isPermanent(n: Neigh): boolean {
  return (n.state & NUD_PERMANENT) !== 0;
}
