/**
 * The soak's invariant checker, independent of the daemon's code: it computes what each node's
 * kernel must hold from the Node objects in the API (and the net-conf.json the soak wrote),
 * following upstream flanneld's behaviour (pkg/backend/vxlan/vxlan_network.go,
 * pkg/backend/hostgw/hostgw.go with pkg/backend/route_network.go, pkg/backend/udp/udp_network_amd64.go,
 * pkg/subnet/kube/kube.go), and compares it with what `ip -j` and `bridge -j` print. It imports
 * nothing from src/backends, so a planner bug cannot hide itself.
 *
 * What flannel owns on a node, and therefore what must equal the expectation exactly:
 * - every IPv4 main-table route inside the pod network that the kernel did not make itself (the
 *   node's own cni0 route is the kernel's), on any device;
 * - PERMANENT neighbours on flannel.1, permanent FDB entries on flannel.1;
 * - the devices flannel.1 (vxlan) and flannel0 (udp tun) with their parameters and IPv4 addresses;
 * - the node's own annotations (a VtepMAC that is not flannel.1's MAC breaks every peer);
 * - subnet.env's four variables.
 * Routes the soak planted on purpose as "not flannel's" are passed in as `keptRoutes`.
 */
import { runIn } from '../harness/exec.ts';

export type Backend = 'vxlan' | 'host-gw' | 'udp';

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';
export const A_KSM = `${ANNOTATION_PREFIX}kube-subnet-manager`;
export const A_TYPE = `${ANNOTATION_PREFIX}backend-type`;
export const A_DATA = `${ANNOTATION_PREFIX}backend-data`;
export const A_PUBLIC_IP = `${ANNOTATION_PREFIX}public-ip`;

export const POD_NETWORK = '10.244.0.0/16';
export const UNDERLAY_MTU = 1500;
export const VNI = 1;
export const VXLAN_PORT = 8472;

/** The MTU each backend gives its device and writes to subnet.env (upstream: iface MTU minus the encapsulation). */
export function backendMtu(b: Backend): number {
  return b === 'vxlan' ? UNDERLAY_MTU - 50 : b === 'udp' ? UNDERLAY_MTU - 28 : UNDERLAY_MTU;
}

/** What a backend publishes as backend-type (upstream's udp backend sets none). */
export function publishedType(b: Backend): string {
  return b === 'udp' ? '' : b;
}

/** A Node object as the checker needs it. */
export interface ApiNode {
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly podCIDR?: string;
  readonly podCIDRs: readonly string[];
}

export function toApiNode(obj: unknown): ApiNode {
  const o = obj as { metadata?: { name?: string; annotations?: Record<string, string> | null }; spec?: { podCIDR?: string; podCIDRs?: string[] | null } };
  return {
    name: o.metadata?.name ?? '',
    annotations: { ...(o.metadata?.annotations ?? {}) },
    ...(o.spec?.podCIDR ? { podCIDR: o.spec.podCIDR } : {}),
    podCIDRs: [...(o.spec?.podCIDRs ?? [])],
  };
}

/** A peer's lease as every flannel node reads it from the peer's Node object. */
export interface PeerLease {
  readonly name: string;
  /** a.b.c.d/n, the network address. */
  readonly subnet: string;
  readonly publicIp: string;
  /** The published backend-type ('' is udp). */
  readonly backendType: string;
  readonly backendData: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The network address form of an IPv4 CIDR, or undefined when it is not one. */
export function normalizeCidr(text: string): string | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (m === null || !IPV4.test(m[1]!) || Number(m[2]) > 32) return undefined;
  const len = Number(m[2]);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return `${intToIp((ipToInt(m[1]!) & mask) >>> 0)}/${len}`;
}

/** Whether `inner` (a CIDR) lies inside `outer` (a CIDR), both IPv4. */
export function cidrInside(inner: string, outer: string): boolean {
  const [ia, il] = inner.split('/');
  const [oa, ol] = outer.split('/');
  const ilen = Number(il ?? 32);
  const olen = Number(ol);
  if (ilen < olen) return false;
  const mask = olen === 0 ? 0 : (0xffffffff << (32 - olen)) >>> 0;
  return ((ipToInt(ia!) & mask) >>> 0) === ((ipToInt(oa!) & mask) >>> 0);
}

/** The IPv4 pod subnet of a node: the last IPv4 entry of podCIDRs, else podCIDR. */
function podSubnet(n: ApiNode): string | undefined {
  const list = n.podCIDRs.length > 0 ? n.podCIDRs : n.podCIDR !== undefined ? [n.podCIDR] : [];
  let found: string | undefined;
  for (const c of list) {
    const v4 = normalizeCidr(c);
    if (v4 !== undefined) found = v4;
  }
  return found;
}

/** The lease a Node object announces; undefined when it is not a flannel node; 'malformed' when a flannel node announces garbage. */
export function leaseOf(n: ApiNode): PeerLease | 'malformed' | undefined {
  const a = n.annotations;
  if (a[A_KSM] !== 'true') return undefined;
  const publicIp = a[A_PUBLIC_IP];
  const data = a[A_DATA];
  const subnet = podSubnet(n);
  if (publicIp === undefined || !IPV4.test(publicIp) || data === undefined || subnet === undefined) return 'malformed';
  try {
    JSON.parse(data);
  } catch {
    return 'malformed';
  }
  return { name: n.name, subnet, publicIp, backendType: a[A_TYPE] ?? '', backendData: data };
}

/**
 * Every flannel node's current lease. A node whose annotations turn malformed keeps its last
 * valid lease, as the README promises ("bad peers are skipped, not fatal"); the model remembers
 * what it saw across calls to `update`.
 */
export class LeaseModel {
  private readonly lastValid = new Map<string, PeerLease>();

  update(nodes: readonly ApiNode[]): Map<string, PeerLease> {
    const out = new Map<string, PeerLease>();
    const present = new Set<string>();
    for (const n of nodes) {
      present.add(n.name);
      const l = leaseOf(n);
      if (l === undefined) {
        this.lastValid.delete(n.name);
        continue;
      }
      if (l === 'malformed') {
        const last = this.lastValid.get(n.name);
        if (last !== undefined) out.set(n.name, last);
        continue;
      }
      this.lastValid.set(n.name, l);
      out.set(n.name, l);
    }
    for (const name of [...this.lastValid.keys()]) if (!present.has(name)) this.lastValid.delete(name);
    return out;
  }
}

/** What the soak knows about one lab node. */
export interface CheckedNode {
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  /** a.b.c.0/24 */
  readonly podCidr: string;
  /** The backend its net-conf.json selects. */
  readonly backend: Backend;
  /** The public-ip annotation it must carry (the soak may have changed it on purpose). */
  readonly publicIp: string;
  /** Routes inside the pod network the soak planted as someone else's; flannel must leave them. */
  readonly keptRoutes: readonly string[];
  /** Own annotations the soak has overwritten on purpose (the daemon leaves its own node's alone until it restarts). */
  readonly annotationOverrides?: Readonly<Record<string, string>>;
}

export interface DeviceState {
  readonly kind: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly mac: string;
  /** vxlan only: `id 1 local 198.18.0.10 dev eth0 port 8472 nolearning`. */
  readonly vxlan?: string;
  readonly addrs: readonly string[];
}

/** A node's flannel-relevant kernel state, each entry as a short canonical string. */
export interface KernelState {
  readonly devices: Readonly<Record<string, DeviceState>>;
  readonly routes: readonly string[];
  readonly neigh: readonly string[];
  readonly fdb: readonly string[];
}

/** The expected state, minus facts only the kernel knows (flannel.1's MAC comes from the node's own annotation). */
export interface ExpectedState {
  readonly devices: Readonly<Record<string, Omit<DeviceState, 'mac'>>>;
  readonly routes: readonly string[];
  readonly neigh: readonly string[];
  readonly fdb: readonly string[];
  /** The node's own annotations that must hold (undefined value: must be absent). */
  readonly annotations: Readonly<Record<string, string>>;
  readonly subnetEnv: Readonly<Record<string, string>>;
}

const FLANNEL_DEVICES = ['flannel.1', 'flannel0'];

function networkAddress(cidr: string): string {
  return cidr.split('/')[0]!;
}

function firstHost(cidr: string): string {
  const [ip, len] = cidr.split('/');
  return `${intToIp((ipToInt(ip!) + 1) >>> 0)}/${len}`;
}

export function vtepMacOf(backendData: string): string | undefined {
  try {
    const v = JSON.parse(backendData) as { VtepMAC?: unknown } | null;
    return typeof v?.VtepMAC === 'string' && MAC.test(v.VtepMAC.toLowerCase()) ? v.VtepMAC.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What `node` must hold given every node's lease (its own excluded here). Peers announcing
 * another backend get nothing (upstream's vxlan and host-gw networks ignore them; the udp
 * backend's peer table lives in the daemon, so udp peers leave no kernel trace).
 */
export function expectedState(node: CheckedNode, leases: ReadonlyMap<string, PeerLease>): ExpectedState {
  const own = normalizeCidr(node.podCidr)!;
  const routes: string[] = [...node.keptRoutes];
  const neigh: string[] = [];
  const fdb: string[] = [];
  const devices: Record<string, Omit<DeviceState, 'mac'>> = {};
  const mtu = backendMtu(node.backend);
  const peers = [...leases.values()].filter((l) => l.name !== node.name && l.subnet !== own);
  if (node.backend === 'vxlan') {
    devices['flannel.1'] = {
      kind: 'vxlan', mtu, up: true,
      vxlan: `id ${VNI} local ${node.underlayIp} dev eth0 port ${VXLAN_PORT} nolearning`,
      addrs: [`${networkAddress(own)}/32`],
    };
    for (const p of peers) {
      if (p.backendType !== 'vxlan') continue;
      const mac = vtepMacOf(p.backendData);
      if (mac === undefined) continue;
      routes.push(`${p.subnet} via ${networkAddress(p.subnet)} dev flannel.1 onlink`);
      neigh.push(`${networkAddress(p.subnet)} lladdr ${mac}`);
      fdb.push(`${mac} dst ${p.publicIp}`);
    }
  } else if (node.backend === 'host-gw') {
    for (const p of peers) {
      if (p.backendType !== 'host-gw') continue;
      routes.push(`${p.subnet} via ${p.publicIp} dev eth0`);
    }
  } else {
    devices['flannel0'] = { kind: 'tun', mtu, up: true, addrs: [`${networkAddress(own)}/32`] };
    routes.push(`${POD_NETWORK} dev flannel0`);
  }
  const annotations: Record<string, string> = {
    [A_KSM]: 'true',
    [A_TYPE]: publishedType(node.backend),
    [A_PUBLIC_IP]: node.publicIp,
  };
  if (node.backend !== 'vxlan') annotations[A_DATA] = 'null';
  Object.assign(annotations, node.annotationOverrides);
  return {
    devices,
    routes: routes.sort(),
    neigh: neigh.sort(),
    fdb: fdb.sort(),
    annotations,
    subnetEnv: {
      FLANNEL_NETWORK: POD_NETWORK,
      FLANNEL_SUBNET: firstHost(own),
      FLANNEL_MTU: String(mtu),
      FLANNEL_IPMASQ: 'true',
    },
  };
}

type Json = Record<string, unknown>;

/** Turns `ip -4 -d -j` link/addr/route/neigh dumps and a `bridge -j fdb` dump into KernelState. */
export function parseKernel(dumps: { link: Json[]; addr: Json[]; route: Json[]; neigh: Json[]; fdb: Json[] }): KernelState {
  const devices: Record<string, DeviceState> = {};
  for (const l of dumps.link) {
    const name = l['ifname'] as string;
    if (!FLANNEL_DEVICES.includes(name)) continue;
    const info = (l['linkinfo'] ?? {}) as { info_kind?: string; info_data?: Json };
    const kind = info.info_kind ?? (l['link_type'] === 'none' ? 'tun' : '');
    const d = info.info_data ?? {};
    const addrEntry = dumps.addr.find((a) => a['ifname'] === name);
    const addrs = ((addrEntry?.['addr_info'] ?? []) as Json[])
      .filter((a) => a['family'] === 'inet')
      .map((a) => `${a['local'] as string}/${a['prefixlen'] as number}`)
      .sort();
    devices[name] = {
      kind,
      mtu: l['mtu'] as number,
      up: ((l['flags'] ?? []) as string[]).includes('UP'),
      mac: String(l['address'] ?? ''),
      ...(kind === 'vxlan'
        ? { vxlan: `id ${String(d['id'])} local ${String(d['local'])} dev ${String(d['link'])} port ${String(d['port'])}${d['learning'] === false ? ' nolearning' : ' learning'}` }
        : {}),
      addrs,
    };
  }
  const routes: string[] = [];
  for (const r of dumps.route) {
    const dst = r['dst'] as string;
    const cidr = dst === 'default' ? '0.0.0.0/0' : dst.includes('/') ? dst : `${dst}/32`;
    if (r['protocol'] === 'kernel' || !cidrInside(cidr, POD_NETWORK)) continue;
    routes.push(routeText(r, cidr));
  }
  const neigh = dumps.neigh
    .filter((n) => n['dev'] === 'flannel.1' && ((n['state'] ?? []) as string[]).includes('PERMANENT'))
    .map((n) => `${n['dst'] as string} lladdr ${n['lladdr'] as string}`);
  const fdb = dumps.fdb
    .filter((f) => f['ifname'] === 'flannel.1' && f['state'] === 'permanent')
    .map((f) => `${f['mac'] as string} dst ${f['dst'] as string}`);
  return { devices, routes: routes.sort(), neigh: neigh.sort(), fdb: fdb.sort() };
}

function routeText(r: Json, cidr: string): string {
  const type = r['type'] as string | undefined;
  const parts = [type !== undefined && type !== 'unicast' ? `${type} ${cidr}` : cidr];
  if (r['gateway'] !== undefined) parts.push(`via ${r['gateway'] as string}`);
  if (r['dev'] !== undefined) parts.push(`dev ${r['dev'] as string}`);
  if (((r['flags'] ?? []) as string[]).includes('onlink')) parts.push('onlink');
  if (r['scope'] !== undefined && r['scope'] !== 'global' && r['scope'] !== 'universe') parts.push(`scope ${r['scope'] as string}`);
  if (r['metric'] !== undefined) parts.push(`metric ${String(r['metric'])}`);
  if (r['table'] !== undefined && r['table'] !== 'main') parts.push(`table ${String(r['table'])}`);
  return parts.join(' ');
}

function diffLists(what: string, want: readonly string[], have: readonly string[], out: string[]): void {
  const h = new Set(have);
  const w = new Set(want);
  for (const x of want) if (!h.has(x)) out.push(`missing ${what} ${x}`);
  for (const x of have) if (!w.has(x)) out.push(`unexpected ${what} ${x}`);
}

/** Parses subnet.env as flannel's CNI plugin does (KEY=VALUE lines). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * Every difference between what node must hold and what it holds, as one line each naming the
 * node and the object; empty when the node is as it must be.
 */
export function compareNode(
  node: CheckedNode,
  want: ExpectedState,
  have: KernelState,
  ownAnnotations: Readonly<Record<string, string>> | undefined,
  subnetEnvText: string | undefined,
): string[] {
  const out: string[] = [];
  for (const name of FLANNEL_DEVICES) {
    const w = want.devices[name];
    const h = have.devices[name];
    if (w === undefined && h !== undefined) out.push(`unexpected device ${name} (${h.kind})`);
    if (w !== undefined && h === undefined) out.push(`missing device ${name}`);
    if (w === undefined || h === undefined) continue;
    if (h.kind !== w.kind) out.push(`${name}: kind ${h.kind}, want ${w.kind}`);
    if (h.mtu !== w.mtu) out.push(`${name}: mtu ${h.mtu}, want ${w.mtu}`);
    if (!h.up) out.push(`${name}: down`);
    if (w.vxlan !== undefined && h.vxlan !== w.vxlan) out.push(`${name}: ${h.vxlan ?? '?'}, want ${w.vxlan}`);
    diffLists(`${name} address`, w.addrs, h.addrs, out);
  }
  diffLists('route', want.routes, have.routes, out);
  diffLists('neighbour', want.neigh, have.neigh, out);
  diffLists('fdb entry', want.fdb, have.fdb, out);
  if (ownAnnotations === undefined) {
    out.push('its Node object is missing');
  } else {
    for (const [k, v] of Object.entries(want.annotations)) {
      if (ownAnnotations[k] !== v) out.push(`annotation ${k.slice(ANNOTATION_PREFIX.length)} is ${JSON.stringify(ownAnnotations[k] ?? null)}, want ${JSON.stringify(v)}`);
    }
    const dev = have.devices['flannel.1'];
    if (node.backend === 'vxlan' && dev !== undefined && node.annotationOverrides?.[A_DATA] === undefined) {
      const wantData = JSON.stringify({ VNI, VtepMAC: dev.mac });
      if (ownAnnotations[A_DATA] !== wantData) out.push(`annotation backend-data is ${JSON.stringify(ownAnnotations[A_DATA] ?? null)}, want ${JSON.stringify(wantData)} (flannel.1's MAC)`);
    }
  }
  if (subnetEnvText === undefined) {
    out.push('subnet.env is missing');
  } else {
    const env = parseEnvFile(subnetEnvText);
    for (const [k, v] of Object.entries(want.subnetEnv)) if (env[k] !== v) out.push(`subnet.env ${k}=${env[k] ?? '(absent)'}, want ${v}`);
  }
  return out.map((s) => `${node.name}: ${s}`);
}

/** Reads a node's kernel state: one `ip -batch` and one `bridge` process. */
export async function readKernel(netns: string): Promise<KernelState> {
  const batch = 'link show\naddr show\nroute show table main\nneigh show nud permanent\n';
  const [ip, br] = await Promise.all([
    runIn(netns, ['ip', '-4', '-d', '-j', '-batch', '-'], { input: batch, timeoutMs: 20_000 }),
    runIn(netns, ['bridge', '-j', 'fdb', 'show'], { timeoutMs: 20_000 }),
  ]);
  const arrays = ip.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Json[]);
  if (arrays.length !== 4) throw new Error(`ip -batch in ${netns} printed ${arrays.length} dumps, expected 4: ${ip.stdout.slice(0, 300)}`);
  const fdbText = br.stdout.trim();
  return parseKernel({ link: arrays[0]!, addr: arrays[1]!, route: arrays[2]!, neigh: arrays[3]!, fdb: fdbText === '' ? [] : (JSON.parse(fdbText) as Json[]) });
}
