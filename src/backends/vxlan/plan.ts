import type { Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatCidr, formatIpv4, parseIpv4 } from '../../ip/ipv4.ts';
import type { Lease } from '../../subnet/lease.ts';
import type { Neigh, Route } from '../../netlink/types.ts';
import { AF_BRIDGE, AF_INET, NTF_SELF, NUD_PERMANENT } from '../../netlink/types.ts';
import type { ForPeer, KeyedDiff } from '../reconcile/keyed-diff.ts';
import { diffKeyed } from '../reconcile/keyed-diff.ts';
import { isOurKindOfRoute, isPeerRouteOn, routeKey, sameRoute } from '../reconcile/peer-routes.ts';
import type { SkippedPeers } from '../reconcile/warn-once.ts';
import { peerVtepMac } from './mac.ts';

export interface VxlanKernelState {
  /** AF_INET neighbours on the vxlan device. */
  readonly neighs: readonly Neigh[];
  /** AF_BRIDGE entries on the vxlan device. */
  readonly fdbs: readonly Neigh[];
  /** IPv4 routes of every table and device (filtered here). */
  readonly routes: readonly Route[];
}

export interface VxlanPlanInput {
  readonly network: Ipv4Cidr;
  readonly own: Ipv4Cidr;
  readonly peers: ReadonlyMap<string, Lease>;
  readonly deviceIndex: number;
  readonly extIndex: number;
  /** DirectRouting on: the peer public IPs that are on-link via the external interface. */
  readonly onLink: ReadonlySet<string> | undefined;
  readonly have: VxlanKernelState;
}

/** `invalid` here: bad backend data, or a VtepMAC another peer already uses. */
export interface VxlanPlan extends SkippedPeers {
  readonly neigh: KeyedDiff<ForPeer<Neigh>, Neigh>;
  readonly fdb: KeyedDiff<ForPeer<Neigh>, Neigh>;
  readonly route: KeyedDiff<ForPeer<Route>, Route>;
}

/**
 * Ownership (what reconcile may delete):
 * - neighbours and fdb entries on flannel.N in state PERMANENT: we create no other kind, and
 *   the rest (incomplete ARP, learned fdb with `learning`) is the kernel's cache;
 * - main-table IPv4 routes on flannel.N not made by the kernel;
 * - main-table routes on the external interface to peer subnets inside Network (DirectRouting).
 *
 * Desired per vxlan peer: neighbour (subnet network address → VtepMAC), fdb (VtepMAC → public
 * IP, self permanent) and `<subnet> via <subnet addr> dev flannel.N onlink`; or, when
 * DirectRouting finds the peer on-link, only `<subnet> via <public ip> dev <ext>`.
 */
export function planVxlan(input: VxlanPlanInput): VxlanPlan {
  const { deviceIndex, extIndex } = input;
  const wantNeigh = new Map<string, ForPeer<Neigh>>();
  const wantFdb = new Map<string, ForPeer<Neigh>>();
  const wantRoute = new Map<string, ForPeer<Route>>();
  const otherBackend: Lease[] = [];
  const invalid: { lease: Lease; reason: string }[] = [];
  const macOwner = new Map<string, string>();

  for (const [subnet, lease] of input.peers) {
    if (lease.attrs.backendType !== 'vxlan') {
      otherBackend.push(lease);
      continue;
    }
    const facts = peerFacts(lease, subnet, deviceIndex, extIndex);
    if ('reason' in facts) {
      invalid.push({ lease, reason: facts.reason });
      continue;
    }
    if (input.onLink?.has(lease.attrs.publicIp) === true) {
      wantRoute.set(subnet, facts.direct);
      continue;
    }
    if (facts.neigh === undefined || facts.fdb === undefined) {
      invalid.push({ lease, reason: facts.macError ?? 'no VtepMAC' });
      continue;
    }
    const mac = facts.neigh.obj.mac!;
    const clash = macOwner.get(mac);
    if (clash !== undefined) {
      invalid.push({ lease, reason: `VtepMAC ${mac} is already used by peer ${clash}` });
      continue;
    }
    macOwner.set(mac, lease.node ?? subnet);
    wantNeigh.set(facts.neigh.obj.ip!, facts.neigh);
    wantFdb.set(facts.fdbKey, facts.fdb);
    wantRoute.set(subnet, facts.route);
  }

  const haveNeigh = new Map<string, Neigh>();
  for (const n of input.have.neighs) {
    if (n.index === deviceIndex && n.family === AF_INET && n.ip !== undefined && isPermanent(n)) haveNeigh.set(n.ip, n);
  }
  // A wanted address held by a non-permanent (kernel-cache) entry must still be replaced.
  for (const n of input.have.neighs) {
    if (n.index === deviceIndex && n.ip !== undefined && !isPermanent(n) && wantNeigh.has(n.ip)) haveNeigh.set(n.ip, n);
  }
  const haveFdb = new Map<string, Neigh>();
  for (const f of input.have.fdbs) {
    if (f.index === deviceIndex && f.family === AF_BRIDGE && f.mac !== undefined && isPermanent(f)) haveFdb.set(fdbKey(f.mac, f.ip ?? ''), f);
  }
  const haveRoute = new Map<string, Route>();
  for (const r of input.have.routes) {
    if (r.family !== AF_INET) continue;
    const ours = (r.oif === deviceIndex && isOurKindOfRoute(r)) || isPeerRouteOn(r, extIndex, input.network, input.own);
    if (ours) haveRoute.set(routeKey(r), r);
  }

  return {
    neigh: diffKeyed(wantNeigh, haveNeigh, (w, h) => h.mac === w.obj.mac && isPermanent(h)),
    // Keyed by mac+dst: a changed public IP or VtepMAC is a delete of the old entry plus a new one.
    fdb: diffKeyed(wantFdb, haveFdb, () => true),
    route: diffKeyed(wantRoute, haveRoute, (w, h) => sameRoute(w.obj, h)),
    otherBackend,
    invalid,
  };
}

/** Everything about one peer lease that does not depend on kernel state; computed once per lease. */
type PeerFacts =
  | { readonly reason: string }
  | {
      readonly deviceIndex: number;
      readonly extIndex: number;
      readonly direct: ForPeer<Route>;
      readonly route: ForPeer<Route>;
      readonly neigh: ForPeer<Neigh> | undefined;
      readonly fdb: ForPeer<Neigh> | undefined;
      readonly fdbKey: string;
      readonly macError: string | undefined;
    };

/**
 * Leases are immutable and the daemon keeps the same Lease objects across snapshots, so the
 * parsing (backend-data JSON, MAC, addresses) and the wanted objects are cached per lease:
 * a resync of 5000 unchanged peers then costs map lookups, not 5000 JSON.parse calls.
 */
const factsCache = new WeakMap<Lease, PeerFacts>();

function peerFacts(lease: Lease, subnet: string, deviceIndex: number, extIndex: number): PeerFacts {
  const cached = factsCache.get(lease);
  if (cached !== undefined && ('reason' in cached || (cached.deviceIndex === deviceIndex && cached.extIndex === extIndex))) return cached;
  const facts = computeFacts(lease, subnet, deviceIndex, extIndex);
  factsCache.set(lease, facts);
  return facts;
}

function computeFacts(lease: Lease, subnet: string, deviceIndex: number, extIndex: number): PeerFacts {
  const node = lease.node;
  const publicIp = lease.attrs.publicIp;
  if (parseIpv4(publicIp) === undefined) return { reason: `public IP ${JSON.stringify(publicIp)} is not IPv4` };
  const dst = formatCidr(lease.subnet);
  const gw = formatIpv4(lease.subnet.ip);
  const direct: ForPeer<Route> = { subnet, node, obj: { family: AF_INET, dst, gateway: publicIp, oif: extIndex } };
  const route: ForPeer<Route> = { subnet, node, obj: { family: AF_INET, dst, gateway: gw, oif: deviceIndex, onlink: true } };
  const parsed = peerVtepMac(lease.attrs.backendData);
  if ('error' in parsed) return { deviceIndex, extIndex, direct, route, neigh: undefined, fdb: undefined, fdbKey: '', macError: parsed.error };
  const { mac } = parsed;
  return {
    deviceIndex,
    extIndex,
    direct,
    route,
    neigh: { subnet, node, obj: { index: deviceIndex, family: AF_INET, ip: gw, mac, state: NUD_PERMANENT } },
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
