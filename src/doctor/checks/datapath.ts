import { errorText } from '../../util/errors.ts';
import { planHostGw } from '../../backends/hostgw/plan.ts';
import type { KeyedDiff } from '../../backends/reconcile/keyed-diff.ts';
import { planVxlan } from '../../backends/vxlan/plan.ts';
import type { ForPeer } from '../../backends/reconcile/keyed-diff.ts';
import { addressOf, enabledFamilies, familyName, formatAnyCidr, isAddressOf, type IpCidr, type IpFamily } from '../../ip/cidr.ts';
import type { BackendConfig } from '../../config/types.ts';
import { CSUM_FIXED_IN, kernelHasCsumBug } from '../../kernel/tx-csum.ts';
import { AF_INET, AF_INET6, RT_TABLE_MAIN, type Link, type Neigh, type Route } from '../../netlink/types.ts';
import { leaseHalf, leaseKey, leaseSubnets, type Lease } from '../../subnet/lease.ts';
import { overlayTargets } from '../../probe/targets.ts';
import { partitionPeers } from '../../backends/multi/partition.ts';
import { count, fail, listNames, ok, skip, warn, type Check } from '../check.ts';
import { deviceAddrs, type Gathered, type KernelFacts } from '../facts.ts';
import { vxlanDeviceMtu, type Model } from '../model.ts';

/** What the datapath checks ask the kernel beyond the gathered lists (injectable for tests). */
export interface DatapathIo {
  /** `ip route get IP`: for DirectRouting, which peers are on-link. */
  routeGet(ip: string): Promise<Route[]>;
  /** Tx checksum offload of a device (ETHTOOL_GTXCSUM); throws when it cannot be read. */
  txCsum(dev: string): boolean;
}

/** The kernel state of the overlay: the device, every peer's entries, MTUs, sysctls, the neighbour table. */
export async function checkDatapath(g: Gathered, m: Model, io: DatapathIo): Promise<Check[]> {
  if (!g.kernel.ok) return [skip('datapath.device', g.kernel.error)];
  const k = g.kernel.value;
  // Asked once, for both the entries and the lookups that depend on it.
  const direct = await directPeers(m, io);
  return [
    device(k, m),
    ...(await peers(k, m, direct)),
    await paths(k, m, io, direct),
    mtu(k, m),
    ipForward(g, m),
    brNetfilter(g),
    neighThresholds(k, m),
    csumOffload(g, k, m, io),
  ];
}

function device(k: KernelFacts, m: Model): Check {
  const id = 'datapath.device';
  const b = m.backend;
  if (b === undefined) return skip(id, 'backend unknown (no daemon answer and no readable net-conf.json)');
  if (m.ext === undefined) return fail(id, 'no external interface (as flanneld would choose it)', 'check --iface / --iface-regex / --public-ip against the interfaces on this node');
  const ext = k.links.find((l) => l.index === m.ext!.index);
  if (b.type === 'host-gw') {
    if (ext === undefined || !ext.up) return fail(id, `external interface ${m.ext.name} is ${ext === undefined ? 'gone' : 'down'}`, `ip link set ${m.ext.name} up`);
    const addrs = [m.ext.extAddr, m.ext.extV6Addr].filter((a) => a !== undefined && a !== '');
    return ok(id, `host-gw over ${m.ext.name} (${addrs.join(', ')}, mtu ${m.ext.mtu})`);
  }
  // One device per family: flannel.N (or flannel0) for IPv4, flannel-v6.N for IPv6.
  const devices: DeviceWant[] = [
    { name: m.device, family: 'ipv4' as const, own: m.own?.subnet, local: m.ext.extAddr },
    { name: m.device6, family: 'ipv6' as const, own: m.ownV6?.subnet, local: m.ext.extV6Addr },
  ].flatMap((d) => (d.name === undefined ? [] : [{ ...d, name: d.name }]));
  const results = devices.map((want) => oneDevice(k, m, b, want));
  const failures = results.flatMap((r) => ('failure' in r ? [r.failure] : []));
  if (failures.length > 0) {
    const gone = failures.every((f) => f.endsWith('does not exist'));
    return gone
      ? fail(id, failures.join('; '), 'flanneld creates it at start and re-creates it within a second when it is deleted: is flanneld running?')
      : fail(id, failures.join('; '), 'flanneld corrects or re-creates the device on its next reconcile (10 s); if it stays wrong, read its log', { problems: failures });
  }
  return ok(id, results.map((r) => ('detail' in r ? r.detail : '')).join('; '));
}

interface DeviceWant {
  readonly name: string;
  readonly family: IpFamily;
  /** The own subnet of the family: the device holds its network address as /32 or /128. */
  readonly own: IpCidr | undefined;
  /** The VXLAN device's local address: the external interface's address of the family. */
  readonly local: string | undefined;
}

/** One overlay device against what flanneld makes of it: a line of evidence, or what is wrong. */
function oneDevice(k: KernelFacts, m: Model, b: BackendConfig, want: DeviceWant): { failure: string } | { detail: string } {
  const ext = m.ext!;
  const link = k.links.find((l) => l.name === want.name);
  if (link === undefined) return { failure: `${want.name} does not exist` };
  const problems: string[] = [];
  const v = link.vxlan;
  if (b.type === 'vxlan') {
    if (link.kind !== 'vxlan' || v === undefined) problems.push(`kind ${link.kind || 'none'}, want vxlan`);
    else {
      const port = b.port === 0 ? 8472 : b.port;
      if (v.vni !== b.vni) problems.push(`vni ${v.vni}, want ${b.vni}`);
      if ((v.port ?? 8472) !== port) problems.push(`dstport ${v.port ?? 8472}, want ${port}`);
      if ((v.local ?? '') !== (want.local ?? '')) problems.push(`local ${v.local ?? 'none'}, want ${want.local ?? 'none'}`);
      if ((v.underlayIndex ?? 0) !== ext.index) problems.push(`dev index ${v.underlayIndex ?? 'none'}, want ${ext.index} (${ext.name})`);
      if ((v.learning ?? true) !== b.learning) problems.push(`${v.learning ?? true ? 'learning' : 'nolearning'}, want ${b.learning ? 'learning' : 'nolearning'}`);
    }
  } else if (link.kind !== 'tun') {
    problems.push(`kind ${link.kind || 'none'}, want tun`);
  }
  const wantMtu = deviceMtu(m, want.family);
  if (wantMtu !== undefined && link.mtu !== wantMtu) problems.push(`mtu ${link.mtu}, want ${wantMtu}`);
  if (!link.up) problems.push('down');
  const hostLen = want.family === 'ipv4' ? 32 : 128;
  if (want.own !== undefined) {
    const addr = addressOf(want.own);
    const addrs = deviceAddrs(k, link.index, want.family);
    if (!addrs.some((a) => a.address === addr && a.prefixLen === hostLen)) problems.push(`no address ${addr}/${hostLen}`);
    const others = addrs.filter((a) => !(a.address === addr && a.prefixLen === hostLen)).map((a) => `${a.address}/${a.prefixLen}`);
    if (others.length > 0) problems.push(`also has ${others.join(', ')}`);
  }
  if (problems.length > 0) return { failure: `${want.name}: ${problems.join('; ')}` };
  const detail = v !== undefined ? `vni ${v.vni} dstport ${v.port ?? 8472} local ${v.local} dev ${ext.name} ${v.learning ? 'learning' : 'nolearning'} ` : '';
  return { detail: `${want.name}: ${detail}mtu ${link.mtu}, up${want.own !== undefined ? `, ${addressOf(want.own)}/${hostLen}` : ''}` };
}

/** The MTU flanneld gives the family's device: the backend's, except vxlan's, which differs per family. */
function deviceMtu(m: Model, family: IpFamily): number | undefined {
  const b = m.backend;
  if (b?.type !== 'vxlan' || m.ext === undefined) return m.backendMtu;
  return vxlanDeviceMtu(b, m.ext.mtu, family);
}

type Entry = ForPeer<Route> | ForPeer<Neigh>;

async function peers(k: KernelFacts, m: Model, direct: DirectPeers): Promise<Check[]> {
  const id = 'datapath.peers';
  const staleId = 'datapath.stale';
  const b = m.backend;
  // Each family the node runs, with its Network and the own subnet (the planners' scope).
  const scopes = [
    ...(m.network !== undefined && m.own !== undefined ? [{ family: 'ipv4' as const, network: m.network, own: m.own.subnet }] : []),
    ...(m.ipv6Network !== undefined && m.ownV6 !== undefined ? [{ family: 'ipv6' as const, network: m.ipv6Network, own: m.ownV6.subnet }] : []),
  ];
  if (b === undefined || scopes.length === 0 || m.ext === undefined) {
    return [skip(id, 'no backend, Network, lease or external interface to compare with'), skip(staleId, 'nothing to compare with')];
  }
  if (m.peersSource === 'none') return [skip(id, 'no peer list (the API, or etcd, and the daemon did not answer)'), skip(staleId, 'no peer list')];
  const want = new Map<string, Lease>(m.leases.map((p) => [leaseKey(p), p]));
  // flanneld reaches each peer the way it advertises (docs/migration.md): vxlan peers through
  // flannel.N, host-gw peers by a route via their public IP, udp peers through flannel0.
  const part = partitionPeers(want);
  const vxlanPeers = part.byType.get('vxlan') ?? new Map<string, Lease>();
  const hostGwPeers = part.byType.get('host-gw') ?? new Map<string, Lease>();
  const udpPeers = part.byType.get('udp')?.size ?? 0;
  if (b.type === 'udp' && vxlanPeers.size === 0 && hostGwPeers.size === 0) {
    return [ok(id, 'udp keeps its peers in the daemon, not in kernel tables (the reachability probes test them)'), ok(staleId, 'nothing per peer in the kernel')];
  }
  const missing: string[] = [];
  const differ: string[] = [];
  const stale = new Set<string>();
  let staleRoutes = 0;
  const invalid: { lease: Lease; reason: string }[] = [];
  const otherBackend: readonly Lease[] = part.unsupported;
  const name = (w: Entry): string => `"${w.node ?? w.subnet}"`;
  const collect = <H>(diff: KeyedDiff<Entry, H>, what: string, show: (o: Entry['obj'] | H) => string): void => {
    for (const w of diff.create) missing.push(`${name(w)}: ${what} ${show(w.obj)} missing`);
    for (const [w, h] of diff.replace) differ.push(`${name(w)}: ${what} is ${show(h)}, annotations want ${show(w.obj)}`);
  };
  const staleRoute = (r: Route): void => {
    const text = `route ${describeRoute(r, k.links)}`;
    if (!stale.has(text)) staleRoutes++;
    stale.add(text);
  };
  const entries = new Set<string>();
  let onLinkCount = 0;
  // Subnets of the family, for the other backend's planner to leave alone.
  const subnetsOf = (peers: Map<string, Lease>, family: IpFamily): Set<string> =>
    new Set([...peers.values()].map((l) => leaseHalf(l, family)).filter((h) => h !== undefined).map((h) => formatAnyCidr(h.subnet)));
  for (const scope of scopes) {
    const mainRoutes = k.routes.filter((r) => r.family === (scope.family === 'ipv4' ? AF_INET : AF_INET6) && (r.table ?? RT_TABLE_MAIN) === RT_TABLE_MAIN);
    if (b.type === 'vxlan' || vxlanPeers.size > 0) {
      // A node configured for another backend sends to vxlan peers through the flannel.N it made for them.
      const dev = vxlanDevice(k, m, scope.family);
      const devName = b.type === 'vxlan' ? (scope.family === 'ipv4' ? m.device : m.device6) : scope.family === 'ipv4' ? 'flannel.<VNI>' : 'flannel-v6.<VNI>';
      if (dev === undefined) return [fail(id, `${devName} does not exist, so no vxlan peer has its ${familyName(scope.family)} entries`, 'see datapath.device'), skip(staleId, `no ${devName}`)];
      const onLink = direct.get(scope.family);
      onLinkCount += onLink?.size ?? 0;
      const plan = planVxlan({
        scope,
        peers: vxlanPeers,
        deviceIndex: dev.index,
        extIndex: m.ext.index,
        onLink,
        have: { neighs: k.neighs.filter((n) => n.index === dev.index), fdbs: k.fdb.filter((n) => n.index === dev.index), routes: mainRoutes },
        foreign: subnetsOf(hostGwPeers, scope.family),
      });
      collect(plan.route, 'route', (r) => describeRoute(r as Route, k.links));
      collect(plan.neigh, 'neighbour', (n) => `${(n as Neigh).ip} lladdr ${(n as Neigh).mac}`);
      collect(plan.fdb, 'fdb', (n) => `${(n as Neigh).mac} dst ${(n as Neigh).ip}`);
      for (const r of plan.route.remove) staleRoute(r);
      for (const n of plan.neigh.remove) stale.add(`neighbour ${n.ip} lladdr ${n.mac}`);
      for (const n of plan.fdb.remove) stale.add(`fdb ${n.mac} dst ${n.ip}`);
      invalid.push(...plan.invalid);
      if (vxlanPeers.size > 0) entries.add(onLinkCount > 0 ? 'route (direct or via flannel), neighbour and FDB entry' : 'route, neighbour and FDB entry');
    }
    if (b.type === 'host-gw' || hostGwPeers.size > 0) {
      const plan = planHostGw({ scope, peers: hostGwPeers, extIndex: m.ext.index, routes: mainRoutes, foreign: subnetsOf(vxlanPeers, scope.family) });
      collect(plan.route, 'route', (r) => describeRoute(r as Route, k.links));
      for (const r of plan.route.remove) staleRoute(r);
      invalid.push(...plan.invalid);
      if (hostGwPeers.size > 0) entries.add('route via its public IP');
    }
  }
  if (udpPeers > 0) entries.add(`${count(udpPeers, 'udp peer')} in flanneld's forwarder`);
  const kinds = [...entries];
  const perFamily = scopes.length > 1 ? ' per family' : '';
  const entriesPerPeer =
    kinds.length === 0 ? `${b.type === 'host-gw' ? 'route via its public IP' : 'route, neighbour and FDB entry'}${perFamily}`
    : kinds.length === 1 ? `${kinds[0]!}${perFamily}`
    : `entries for the backend it advertises${perFamily} (${kinds.join('; ')})`;
  const out: Check[] = [];
  const notes: string[] = [];
  // A peer invalid for both families is named (and counted) once.
  const invalidPeers = [...new Map(invalid.map((x) => [x.lease, x])).values()];
  for (const x of invalidPeers) notes.push(`"${x.lease.node ?? leaseSubnets(x.lease)}" cannot be programmed: ${x.reason}`);
  for (const l of otherBackend) notes.push(`"${l.node ?? leaseSubnets(l)}" runs ${l.attrs.backendType}, which flannel-ts does not implement`);
  const programmable = want.size - invalidPeers.length - otherBackend.length;
  if (missing.length + differ.length > 0) {
    const problems = [...missing, ...differ];
    out.push(
      fail(
        id,
        `${count(problems.length, 'entry', 'entries')} for ${count(programmable, 'peer')} ${problems.length === 1 ? 'is' : 'are'} wrong: ${listNames(problems, 4)}`,
        'flanneld puts them back within a second while it runs; if they stay wrong, it is not running or cannot program the kernel (see its log)',
        { missing, differ },
      ),
    );
  } else if (notes.length > 0) {
    out.push(warn(id, `${count(programmable, 'peer')} programmed; ${listNames(notes, 3)}`, 'peers running a backend flannel-ts does not implement or with broken annotations are unreachable from this node: fix their net-conf.json or annotations'));
  } else {
    const said = m.peersSource === 'etcd' ? 'as their etcd leases say' : `as their annotations say (from the ${m.peersSource})`;
    out.push(ok(id, `${count(programmable, 'peer')}, each with its ${entriesPerPeer}, ${said}`));
  }
  if (stale.size > 0) {
    const text = `${count(stale.size, 'entry', 'entries')} ${stale.size === 1 ? 'belongs' : 'belong'} to no peer: ${listNames([...stale], 4)}`;
    const fix = 'flanneld removes them on its next reconcile; entries that stay mean it is not running (delete them by hand: ip route del / ip neigh del / bridge fdb del)';
    // A stale route steers traffic for a subnet somewhere it does not live; a stale neighbour or FDB entry only wastes a slot.
    out.push(staleRoutes > 0 ? fail(staleId, text, fix, [...stale]) : warn(staleId, text, fix, [...stale]));
  } else {
    out.push(ok(staleId, `no entries for peers that are gone`));
  }
  return out;
}

/**
 * `ip route get` for every peer's overlay address: the kernel's actual choice, after every table
 * and policy rule, must be the backend's device (or, host-gw and DirectRouting, the external
 * interface via the peer's public IP). A more specific route or a rule elsewhere shows here
 * even when flannel's own route is in place.
 */
async function paths(k: KernelFacts, m: Model, io: DatapathIo, direct: DirectPeers): Promise<Check> {
  const id = 'datapath.path';
  const b = m.backend;
  if (b === undefined || m.ext === undefined || m.peersSource === 'none') return skip(id, 'nothing to compare with');
  const ext = m.ext;
  const wrong: string[] = [];
  const picked: string[] = [];
  for (const family of enabledFamilies(m.families)) {
    if ((family === 'ipv4' ? m.own : m.ownV6) === undefined) continue;
    // Every peer the node reaches, each the way it advertises (docs/migration.md): vxlan peers
    // through the family's flannel.N (a node configured for another backend made one for them),
    // host-gw peers via their public IP on the external interface, udp peers through flannel0.
    const vxlanDev = vxlanDevice(k, m, family);
    const flannel0 = k.links.find((l) => l.name === 'flannel0');
    const targets = overlayTargets(m.leases, undefined, family);
    const onLink = direct.get(family) ?? new Set<string>();
    const ways: Way[] = [];
    await Promise.all(
      targets.map(async (t) => {
        const publicIp = t.publicIp ?? '';
        const direct = t.backendType === 'host-gw' || (t.backendType === 'vxlan' && onLink.has(publicIp));
        const dev = direct ? undefined : t.backendType === 'udp' ? flannel0 : vxlanDev;
        const devName = t.backendType === 'udp' ? 'flannel0' : (vxlanDev?.name ?? (family === 'ipv4' ? 'flannel.<VNI>' : 'flannel-v6.<VNI>'));
        ways.push({ type: t.backendType, way: direct ? `${ext.name} via ${t.backendType === 'host-gw' ? 'their public IPs' : 'its public IP'}` : devName, direct });
        let got: Route | undefined;
        try {
          got = (await io.routeGet(t.addr))[0];
        } catch (e) {
          wrong.push(`"${t.node}" (${t.addr}): ${errorText(e)}`);
          return;
        }
        const ok = got !== undefined && (direct ? got.oif === ext.index && got.gateway === publicIp : dev !== undefined && got.oif === dev.index);
        if (!ok) wrong.push(`"${t.node}" (${t.addr}) goes ${got === undefined ? 'nowhere' : describeRoute({ ...got, dst: undefined }, k.links).replace(/^default ?/, '') || 'nowhere'}, not ${direct ? `via ${publicIp} dev ${ext.name}` : `dev ${devName}`}`);
      }),
    );
    const ownWay = b.type === 'host-gw' ? `${ext.name} via each peer's public IP` : b.type === 'udp' ? 'flannel0' : (vxlanDev?.name ?? (family === 'ipv4' ? m.device : m.device6) ?? '');
    picked.push(`${waysText(ways, { type: b.type, way: ownWay }, ext.name)}${family === 'ipv6' && m.families.ipv4 ? ' (IPv6)' : ''}`);
  }
  if (picked.length === 0) return skip(id, 'no lease to compare with');
  if (wrong.length > 0) {
    return fail(id, `ip route get: ${listNames(wrong.sort(), 4)}`, 'a more specific route or a policy rule (ip rule) takes the traffic elsewhere: find it with ip route get <address> and remove it', wrong);
  }
  return ok(id, `ip route get picks ${picked.join('; ')}`);
}

/** One lookup's expectation, counted: the peer's backend, the way its traffic should go, whether directly. */
interface Way {
  readonly type: string;
  readonly way: string;
  readonly direct: boolean;
}

/**
 * What the lookups found, in words: "flannel.1 for all 2 peers" when every peer is of the node's
 * own backend (DirectRouting's direct peers named apart), else each way with its peers' backend.
 */
function waysText(ways: readonly Way[], own: { readonly type: string; readonly way: string }, extName: string): string {
  if (ways.length === 0) return 'nothing: no peers';
  if (ways.every((w) => w.type === own.type)) {
    const direct = own.type === 'vxlan' ? ways.filter((w) => w.direct).length : 0;
    return `${own.way}${direct > 0 ? ` (or ${extName} for ${count(direct, 'direct peer')})` : ''} for all ${count(ways.length, 'peer')}`;
  }
  const counts = new Map<string, { w: Way; n: number }>();
  for (const w of ways) {
    const key = `${w.type} ${w.way}`;
    counts.set(key, { w, n: (counts.get(key)?.n ?? 0) + 1 });
  }
  return [...counts.values()].map(({ w, n }) => `${w.way} for ${count(n, `${w.type} peer`)}`).join(', ');
}

/**
 * The family's VXLAN device: the configured flannel.N (flannel-v6.N), or on a node configured for
 * another backend the one it made for its vxlan peers.
 */
function vxlanDevice(k: KernelFacts, m: Model, family: IpFamily): Link | undefined {
  if (m.backend?.type === 'vxlan') return k.links.find((l) => l.name === (family === 'ipv4' ? m.device : m.device6));
  const pattern = family === 'ipv4' ? /^flannel\.\d+$/ : /^flannel-v6\.\d+$/;
  return k.links.find((l) => l.kind === 'vxlan' && pattern.test(l.name));
}

/** Per family, the public IPs of the vxlan peers DirectRouting reaches directly; none without DirectRouting. */
type DirectPeers = ReadonlyMap<IpFamily, ReadonlySet<string>>;

async function directPeers(m: Model, io: DatapathIo): Promise<DirectPeers> {
  const b = m.backend;
  if (b?.type !== 'vxlan' || !b.directRouting || m.ext === undefined) return new Map();
  const families = enabledFamilies(m.families);
  return new Map(await Promise.all(families.map(async (f) => [f, await onLinkPeers(m, io, f)] as const)));
}

/** DirectRouting, as the vxlan backend decides it: vxlan peers whose public IP of the family the kernel reaches without a gateway on the external interface. */
async function onLinkPeers(m: Model, io: DatapathIo, family: IpFamily): Promise<Set<string>> {
  const onLink = new Set<string>();
  await Promise.all(
    m.leases.map(async (l) => {
      const ip = l.attrs.backendType === 'vxlan' ? leaseHalf(l, family)?.publicIp : undefined;
      if (ip === undefined || !isAddressOf(family, ip)) return;
      try {
        const rs = await io.routeGet(ip);
        if (rs.length === 1 && rs[0]!.gateway === undefined && rs[0]!.oif === m.ext!.index) onLink.add(ip);
      } catch {
        // Not reachable directly: the vxlan path applies.
      }
    }),
  );
  return onLink;
}

function describeRoute(r: Route, links: readonly Link[]): string {
  const dev = r.oif === undefined ? '' : ` dev ${links.find((l) => l.index === r.oif)?.name ?? `#${r.oif}`}`;
  return `${r.dst ?? 'default'}${r.gateway !== undefined ? ` via ${r.gateway}` : ''}${dev}${r.onlink ? ' onlink' : ''}`;
}

function mtu(k: KernelFacts, m: Model): Check {
  const id = 'datapath.mtu';
  if (m.backend === undefined || m.ext === undefined || m.backendMtu === undefined) return skip(id, 'backend or external interface unknown');
  const podMtu = m.backendMtu;
  const overhead = m.ext.mtu - podMtu;
  const math = `${m.ext.name} ${m.ext.mtu}${overhead > 0 ? ` − ${overhead} (${m.backend.type})` : ''} = ${podMtu}`;
  const cni0 = k.links.find((l) => l.name === 'cni0');
  const problems: string[] = [];
  if (m.backend.type === 'vxlan' && m.backend.mtu > m.ext.mtu) problems.push(`net-conf.json MTU ${m.backend.mtu} is above ${m.ext.name}'s ${m.ext.mtu}`);
  if (cni0 !== undefined && cni0.mtu > podMtu) problems.push(`cni0 mtu ${cni0.mtu}`);
  const ports = cni0 === undefined ? [] : k.links.filter((l) => l.masterIndex === cni0.index);
  const tooBig = ports.filter((l) => l.mtu > podMtu);
  for (const p of tooBig) problems.push(`pod interface ${p.name}${podIpOf(k, p, cni0!)} mtu ${p.mtu}`);
  if (problems.length > 0) {
    return fail(
      id,
      `pod MTU must be ≤ ${math}: ${problems.join(', ')}`,
      'packets above the pod MTU are dropped once encapsulated: recreate those pods (the CNI plugin takes FLANNEL_MTU from subnet.env), or lower the MTU in net-conf.json',
      { podMtu, extMtu: m.ext.mtu, problems },
    );
  }
  return ok(id, `${math}; ${cni0 === undefined ? 'no cni0 yet' : `cni0 ${cni0.mtu} and ${ports.length} pod interface${ports.length === 1 ? '' : 's'} within it`}`);
}

/** The pod address behind a cni0 port: the port's learned MAC, matched to cni0's ARP entries. */
function podIpOf(k: KernelFacts, port: Link, cni0: Link): string {
  const macs = new Set(k.fdb.filter((f) => f.index === port.index && f.mac !== undefined && f.mac !== port.mac).map((f) => f.mac));
  const ip = k.neighs.find((n) => n.index === cni0.index && n.mac !== undefined && macs.has(n.mac))?.ip;
  return ip === undefined ? '' : ` (pod ${ip})`;
}

function ipForward(g: Gathered, m: Model): Check {
  const id = 'datapath.ip-forward';
  // Each family the node routes needs its forwarding switch.
  const keys = [...(m.families.ipv4 ? ['net/ipv4/ip_forward'] : []), ...(m.families.ipv6 ? ['net/ipv6/conf/all/forwarding'] : [])] as const;
  const shown = keys.map((k) => `${k.replace(/\//g, '.')} = ${g.sysctl[k] ?? '(unreadable)'}`);
  const off = keys.filter((k) => g.sysctl[k] !== '1');
  if (off.length === 0) return ok(id, shown.join(', '));
  return fail(id, `${shown.join(', ')}: the node does not route between pods and the overlay`, `${off.map((k) => `sysctl -w ${k.replace(/\//g, '.')}=1`).join('; ')} (and persist it in /etc/sysctl.d)`);
}

function brNetfilter(g: Gathered): Check {
  const id = 'datapath.br-netfilter';
  const v = g.sysctl['net/bridge/bridge-nf-call-iptables'];
  if (v === undefined) {
    return fail(id, 'br_netfilter is not loaded (no net.bridge.bridge-nf-call-iptables): Service traffic between pods on this node skips kube-proxy', 'modprobe br_netfilter, and list it in /etc/modules-load.d');
  }
  if (v !== '1') {
    return fail(id, `net.bridge.bridge-nf-call-iptables = ${v}: traffic between pods on cni0 skips iptables, so Services whose backend is on this node break`, 'sysctl -w net.bridge.bridge-nf-call-iptables=1 (and persist it in /etc/sysctl.d)');
  }
  return ok(id, 'br_netfilter loaded, net.bridge.bridge-nf-call-iptables = 1');
}

function neighThresholds(k: KernelFacts, m: Model): Check {
  const id = 'datapath.neigh-table';
  if (k.neighTable === undefined) return skip(id, 'the kernel listed no arp_cache neighbour table (RTM_GETNEIGHTBL)');
  const t2 = k.neighTable.thresh2;
  const t3 = k.neighTable.thresh3;
  const cni0 = k.links.find((l) => l.name === 'cni0');
  const pods = cni0 === undefined ? 0 : k.links.filter((l) => l.masterIndex === cni0.index).length;
  // Each peer's public IP is resolved on the underlay (vxlan and host-gw alike) and each pod on
  // cni0: those entries are garbage-collectable and count against gc_thresh; flannel's own
  // permanent entries on flannel.N do not (kernels since 4.20).
  const peers = m.leases.filter((l) => l.subnet !== undefined).length; // IPv4 peers: the ARP table's
  const need = peers + pods;
  const text = `${count(peers, 'peer')} + ${count(pods, 'pod')} ≈ ${count(need, 'ARP entry', 'ARP entries')}; gc_thresh2 ${t2}, gc_thresh3 ${t3}`;
  const fix = `raise net.ipv4.neigh.default.gc_thresh1/2/3 (for example ${pow2(need)}, ${pow2(need * 2)}, ${pow2(need * 4)}): a full table drops packets with "neighbour table overflow"`;
  if (need >= t3) return fail(id, text, fix);
  if (need >= t2) return warn(id, text, fix);
  return ok(id, text);
}

function pow2(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
}

function csumOffload(g: Gathered, k: KernelFacts, m: Model, io: DatapathIo): Check {
  const id = 'datapath.csum-offload';
  if (m.backend === undefined) return skip(id, 'backend unknown');
  const device = m.device ?? m.device6;
  if (m.backend.type !== 'vxlan' || device === undefined) return ok(id, `not affected: the bug is in the kernel's VXLAN device, and this node runs ${m.backend.type}`);
  const kernel = k.version;
  let on: boolean;
  try {
    on = io.txCsum(device);
  } catch (e) {
    return skip(id, `cannot read tx checksum offload of ${device}: ${errorText(e)}`);
  }
  const d = g.daemon.ok ? g.daemon.value.csumOffload : undefined;
  const daemonText = d === undefined ? '' : `; flanneld --vxlan-csum-offload=${d.mode}${d.want === null ? ' leaves it' : ` keeps it ${d.want}`}`;
  const state = `${device} tx-checksum-ip-generic ${on ? 'on' : 'off'}`;
  const kernelText = `kernel ${kernel?.text ?? 'unknown'}`;
  if (d?.want !== undefined && d.want !== null && (d.want === 'on') !== on) {
    return fail(id, `${state}, but flanneld wants it ${d.want}${daemonText}`, 'flanneld sets it on each reconcile; see its log for why the ethtool call fails');
  }
  if (!kernelHasCsumBug(kernel)) return ok(id, `${kernelText} has the VXLAN checksum fix (${CSUM_FIXED_IN.major}.${CSUM_FIXED_IN.minor}+); ${state}${daemonText}`);
  if (!on) return ok(id, `${kernelText} has the VXLAN checksum bug, worked around: ${state}${daemonText}`);
  const randomFully = usesRandomFully(g);
  const fix = `run flanneld with --vxlan-csum-offload=auto (the default) or off, or: ethtool -K ${device} tx-checksum-ip-generic off`;
  if (randomFully) {
    return fail(id, `${kernelText} (< 5.7) with ${state} while masquerade rules use --random-fully: cross-node Service traffic loses packets to bad UDP checksums (~63 s stalls)`, fix);
  }
  return warn(id, `${kernelText} (< 5.7) with ${state}; no --random-fully rule yet, but kube-proxy 1.17+ adds one`, fix);
}

function usesRandomFully(g: Gathered): boolean {
  const texts = [g.rules.iptablesSave, g.rules.legacySave, g.rules.nftSave, g.rules.nftRuleset];
  return texts.some((t) => t.ok && (t.value.includes('--random-fully') || t.value.includes('fully-random')));
}

