/**
 * What the node should look like, derived from the gathered facts: the Network and backend
 * (the daemon's view, else net-conf.json), the own lease (daemon, else the API, else
 * subnet.env), the peers as their annotations say (the API; in etcd mode their etcd leases; else
 * the daemon's list), the external interface and the MTU the backend needs.
 */
import { errorText } from '../util/errors.ts';
import type { ExternalInterface } from '../backends/backend.ts';
import type { BackendConfig, VxlanConfig } from '../config/types.ts';
import { VXLAN_OVERHEAD } from '../backends/vxlan/backend.ts';
import type { Families, IpFamily } from '../ip/cidr.ts';
import { cidrEquals, networkOf, parseCidr, type Ipv4Cidr } from '../ip/ipv4.ts';
import { networkOf6, parseCidr6, type Ipv6Cidr } from '../ip/ipv6.ts';
import { annotationKeys, type AnnotationKeys } from '../subnet/kube/annotations.ts';
import type { NodeView } from '../subnet/kube/api.ts';
import { isFlannelNode, nodeToLease, podCidrs } from '../subnet/kube/node-lease.ts';
import { decodeLeaseValue, parseSubnetKey, subnetKeyName, subnetsPrefix } from '../subnet/etcd/lease-value.ts';
import type { Lease } from '../subnet/lease.ts';
import type { LeaseView } from './daemon-state.ts';
import type { Gathered } from './facts.ts';

/** udp: outer IPv4 20 + UDP 8 (upstream's udp backend). */
export const UDP_OVERHEAD = 28;

export interface Model {
  /** The families the cluster runs (the daemon's networks, else net-conf.json; IPv4 when neither is known). */
  readonly families: Families;
  readonly network: Ipv4Cidr | undefined;
  readonly ipv6Network: Ipv6Cidr | undefined;
  readonly backend: BackendConfig | undefined;
  /** Where network and backend came from (etcd mode's `<prefix>/config` counts as net-conf.json). */
  readonly configSource: 'daemon' | 'net-conf.json' | undefined;
  readonly enableNFTables: boolean;
  readonly keys: AnnotationKeys | undefined;
  readonly nodeName: string | undefined;
  readonly ownNode: NodeView | undefined;
  readonly own: { readonly subnet: Ipv4Cidr; readonly source: OwnSource } | undefined;
  readonly ownV6: { readonly subnet: Ipv6Cidr; readonly source: OwnSource } | undefined;
  /** Flannel peers (other nodes with a lease), from their annotations: each lease whole, sorted by node. */
  readonly leases: readonly Lease[];
  readonly peersSource: 'API' | 'etcd' | 'daemon' | 'none';
  /** etcd mode: the key the own subnets name, and what etcd holds there (undefined: no such key). */
  readonly etcdOwn: { readonly key: string; readonly value: string | undefined } | undefined;
  /** Nodes whose annotations cannot become a lease. */
  readonly malformed: readonly { readonly node: string; readonly problem: string }[];
  readonly ext: ExternalInterface | undefined;
  /** The MTU the backend needs over this external interface (what subnet.env should say). */
  readonly backendMtu: number | undefined;
  /** flannel.<VNI>, flannel0; undefined for host-gw or without IPv4. */
  readonly device: string | undefined;
  /** flannel-v6.<VNI> with IPv6 and vxlan. */
  readonly device6: string | undefined;
}

type OwnSource = 'daemon' | 'API' | 'subnet.env';

export function deriveModel(g: Gathered): Model {
  const d = g.daemon.ok ? g.daemon.value : undefined;
  let network: Ipv4Cidr | undefined;
  let ipv6Network: Ipv6Cidr | undefined;
  let families: Families = { ipv4: true, ipv6: false };
  let backend: BackendConfig | undefined;
  let configSource: Model['configSource'];
  let enableNFTables = false;
  if (d?.config !== undefined) {
    // "10.244.0.0/16", "fd00:10:244::/56" or both, comma-separated (IPv4 first).
    const texts = d.config.network.split(',');
    network = texts.map((t) => parseCidr(t)).find((c) => c !== undefined);
    ipv6Network = texts.map((t) => parseCidr6(t)).find((c) => c !== undefined);
    families = { ipv4: network !== undefined, ipv6: ipv6Network !== undefined };
    backend = d.config.backend as unknown as BackendConfig;
    enableNFTables = d.config.enableNFTables;
    configSource = 'daemon';
  } else if (g.netConf.ok) {
    const conf = g.netConf.value.conf;
    network = conf.network;
    ipv6Network = conf.ipv6Network;
    families = { ipv4: conf.enableIPv4, ipv6: conf.enableIPv6 };
    backend = conf.backend;
    enableNFTables = conf.enableNFTables;
    configSource = 'net-conf.json';
  }

  let keys: AnnotationKeys | undefined;
  try {
    keys = annotationKeys(g.settings.kubeAnnotationPrefix);
  } catch {
    keys = undefined;
  }
  const nodeName = g.nodeName.ok ? g.nodeName.value : undefined;
  const nodes = g.api.ok ? g.api.value.nodes : [];
  const ownNode = nodeName === undefined ? undefined : nodes.find((n) => n.name === nodeName);

  // The own subnets: the daemon's lease, else the node's podCIDRs, else subnet.env.
  const ownLease = d?.lease === undefined ? undefined : leaseOfView(d.lease);
  const fromApi = ownNode === undefined ? undefined : podCidrs(ownNode, { ipv4: false, ipv6: false });
  const env = g.subnetEnv.ok ? g.subnetEnv.value.vars : new Map<string, string>();
  const ownOf = <C>(wanted: boolean, daemon: C | undefined, api: C | undefined, file: C | undefined): { subnet: C; source: OwnSource } | undefined => {
    if (!wanted) return undefined;
    if (daemon !== undefined) return { subnet: daemon, source: 'daemon' };
    if (api !== undefined) return { subnet: api, source: 'API' };
    return file === undefined ? undefined : { subnet: file, source: 'subnet.env' };
  };
  const envV4 = parseCidr(env.get('FLANNEL_SUBNET') ?? '');
  const envV6 = parseCidr6(env.get('FLANNEL_IPV6_SUBNET') ?? '');
  const apiCidrs = fromApi?.kind === 'ok' ? fromApi : undefined;
  const own = ownOf(families.ipv4, ownLease?.subnet, apiCidrs?.ipv4, envV4 === undefined ? undefined : networkOf(envV4));
  const ownV6 = ownOf(families.ipv6, ownLease?.ipv6Subnet, apiCidrs?.ipv6, envV6 === undefined ? undefined : networkOf6(envV6));

  const leases: Lease[] = [];
  const malformed: { node: string; problem: string }[] = [];
  let peersSource: Model['peersSource'] = 'none';
  if (g.api.ok && keys !== undefined) {
    peersSource = 'API';
    for (const n of nodes) {
      if (n.name === nodeName || !isFlannelNode(n, keys)) continue;
      try {
        // As the daemon: a peer lacking one enabled family's half is programmed for the other.
        const { lease, missing } = nodeToLease(n, keys, families);
        leases.push(lease);
        for (const x of missing) malformed.push({ node: n.name, problem: errorText(x.error) });
      } catch (e) {
        malformed.push({ node: n.name, problem: errorText(e) });
      }
    }
  } else if (g.etcd?.ok === true) {
    peersSource = 'etcd';
    for (const kv of g.etcd.value.kvs) {
      const got = etcdLease(kv.key, kv.value);
      if (typeof got === 'string') malformed.push({ node: kv.key, problem: `etcd key ${kv.key}: ${got}` });
      else if (!(own !== undefined && got.subnet !== undefined && cidrEquals(got.subnet, own.subnet))) leases.push(got);
    }
  } else if (d !== undefined) {
    peersSource = 'daemon';
    for (const p of d.peers) {
      const lease = leaseOfView(p);
      if (lease !== undefined) leases.push(lease);
    }
  }
  leases.sort((a, b) => (a.node ?? '').localeCompare(b.node ?? ''));

  const ext = g.ext.ok ? g.ext.value : undefined;
  let backendMtu: number | undefined;
  let device: string | undefined;
  let device6: string | undefined;
  if (backend !== undefined) {
    if (backend.type === 'vxlan' && families.ipv4) device = `flannel.${backend.vni}`;
    if (backend.type === 'vxlan' && families.ipv6) device6 = `flannel-v6.${backend.vni}`;
    if (backend.type === 'udp') device = 'flannel0';
    if (d?.backend !== undefined && d.backend.type === backend.type) backendMtu = d.backend.mtu;
    else if (ext !== undefined) {
      // The pods' MTU is the smallest device's: flannel-v6.N's when IPv6 runs.
      if (backend.type === 'vxlan') backendMtu = vxlanDeviceMtu(backend, ext.mtu, families.ipv6 ? 'ipv6' : 'ipv4');
      else if (backend.type === 'udp') backendMtu = ext.mtu - UDP_OVERHEAD;
      else backendMtu = ext.mtu;
    }
  }
  let etcdOwn: Model['etcdOwn'];
  if (g.etcd?.ok === true && own !== undefined) {
    const key = subnetsPrefix(g.etcd.value.prefix) + subnetKeyName(own.subnet, ownV6?.subnet);
    etcdOwn = { key, value: g.etcd.value.kvs.find((kv) => kv.key === key)?.value };
  }
  return { families, network, ipv6Network, backend, configSource, enableNFTables, keys, nodeName, ownNode, own, ownV6, leases, peersSource, etcdOwn, malformed, ext, backendMtu, device, device6 };
}

/** An etcd lease key and value as a peer lease, or why it is none. Unnamed: etcd has no node names, so checks name it by its subnets. */
function etcdLease(key: string, value: string): Lease | string {
  const subnets = parseSubnetKey(key);
  if (typeof subnets === 'string') return `key ${subnets}`;
  try {
    return { ...subnets, attrs: decodeLeaseValue(value) };
  } catch (e) {
    return errorText(e);
  }
}

/** The MTU flanneld gives a family's VXLAN device: net-conf.json's MTU, else the external interface's, less the family's overhead. */
export function vxlanDeviceMtu(b: VxlanConfig, extMtu: number, family: IpFamily): number {
  return (b.mtu > 0 ? b.mtu : extMtu) - VXLAN_OVERHEAD[family];
}

/** The lease a /debug/state view describes (its first half is IPv6's on an IPv6-only node). */
export function leaseOfView(v: LeaseView): Lease | undefined {
  const v4 = parseCidr(v.subnet);
  const v6 = parseCidr6(v.ipv6Subnet ?? (v4 === undefined ? v.subnet : ''));
  if (v4 === undefined && v6 === undefined) return undefined;
  const v6Ip = v.ipv6Subnet !== undefined ? v.publicIpv6 : v.publicIp;
  const v6Data = v.ipv6Subnet !== undefined ? v.backendV6Data : v.backendData;
  return {
    ...(v4 !== undefined ? { subnet: networkOf(v4) } : {}),
    ...(v6 !== undefined ? { ipv6Subnet: networkOf6(v6) } : {}),
    attrs: {
      backendType: v.backendType,
      ...(v4 !== undefined ? { publicIp: v.publicIp, backendData: v.backendData } : {}),
      ...(v6 !== undefined ? { publicIpv6: v6Ip ?? '', backendV6Data: v6Data ?? 'null' } : {}),
    },
    ...(v.node !== undefined ? { node: v.node } : {}),
  };
}
