/**
 * What the node should look like, derived from the gathered facts: the Network and backend
 * (the daemon's view, else net-conf.json), the own lease (daemon, else the API, else
 * subnet.env), the peers as their annotations say (the API, else the daemon's list), the
 * external interface and the MTU the backend needs.
 */
import { errorText } from '../util/errors.ts';
import type { ExternalInterface } from '../backends/backend.ts';
import type { BackendConfig } from '../config/types.ts';
import { networkOf, parseCidr, type Ipv4Cidr } from '../ip/ipv4.ts';
import { annotationKeys, type AnnotationKeys } from '../subnet/kube/annotations.ts';
import type { NodeView } from '../subnet/kube/api.ts';
import { isFlannelNode, nodeToLease, podCidrs } from '../subnet/kube/node-lease.ts';
import type { Lease, LeaseAttrs } from '../subnet/lease.ts';
import type { Gathered } from './facts.ts';

/** VXLAN: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 (upstream's vxlan_network.go). */
export const VXLAN_OVERHEAD = 50;
/** udp: outer IPv4 20 + UDP 8 (upstream's udp backend). */
export const UDP_OVERHEAD = 28;

/**
 * The doctor checks the IPv4 datapath (an IPv6-only or dual-stack node's IPv6 half is not checked
 * yet): a peer's IPv4 half, with the public IP and backend data it publishes for it.
 */
export interface V4Lease extends Lease {
  readonly subnet: Ipv4Cidr;
  readonly attrs: LeaseAttrs & { readonly publicIp: string; readonly backendData: string };
}

export function v4Half(l: Lease): V4Lease | undefined {
  if (l.subnet === undefined || l.attrs.publicIp === undefined) return undefined;
  return { ...l, subnet: l.subnet, attrs: { ...l.attrs, publicIp: l.attrs.publicIp, backendData: l.attrs.backendData ?? 'null' } };
}

/** The node's IPv4 podCIDR, as the kube subnet manager picks it. */
export function ipv4PodCidr(node: NodeView): { kind: 'ok'; cidr: Ipv4Cidr } | { kind: 'missing' } | { kind: 'invalid'; reason: string } {
  const r = podCidrs(node);
  if (r.kind !== 'ok') return r;
  return r.ipv4 === undefined ? { kind: 'invalid', reason: 'missing IPv4 address on n.Spec.PodCIDRs' } : { kind: 'ok', cidr: r.ipv4 };
}

export interface Model {
  readonly network: Ipv4Cidr | undefined;
  readonly backend: BackendConfig | undefined;
  /** Where network and backend came from. */
  readonly configSource: 'daemon' | 'net-conf.json' | undefined;
  readonly enableNFTables: boolean;
  readonly keys: AnnotationKeys | undefined;
  readonly nodeName: string | undefined;
  readonly ownNode: NodeView | undefined;
  readonly own: { readonly subnet: Ipv4Cidr; readonly source: 'daemon' | 'API' | 'subnet.env' } | undefined;
  /** Flannel peers (other nodes with a lease), from their annotations. */
  readonly peers: readonly V4Lease[];
  readonly peersSource: 'API' | 'daemon' | 'none';
  /** Nodes whose annotations cannot become a lease. */
  readonly malformed: readonly { readonly node: string; readonly problem: string }[];
  readonly ext: ExternalInterface | undefined;
  /** The MTU the backend needs over this external interface (what subnet.env should say). */
  readonly backendMtu: number | undefined;
  /** flannel.<VNI>, flannel0; undefined for host-gw. */
  readonly device: string | undefined;
}

export function deriveModel(g: Gathered): Model {
  const d = g.daemon.ok ? g.daemon.value : undefined;
  let network: Ipv4Cidr | undefined;
  let backend: BackendConfig | undefined;
  let configSource: Model['configSource'];
  let enableNFTables = false;
  if (d?.config !== undefined) {
    network = parseCidr(d.config.network);
    backend = d.config.backend as unknown as BackendConfig;
    enableNFTables = d.config.enableNFTables;
    configSource = 'daemon';
  } else if (g.netConf.ok) {
    network = g.netConf.value.conf.network;
    backend = g.netConf.value.conf.backend;
    enableNFTables = g.netConf.value.conf.enableNFTables;
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

  let own: Model['own'];
  const fromDaemon = d?.lease === undefined ? undefined : parseCidr(d.lease.subnet);
  if (fromDaemon !== undefined) own = { subnet: fromDaemon, source: 'daemon' };
  const fromApi = ownNode === undefined ? undefined : ipv4PodCidr(ownNode);
  if (own === undefined && fromApi?.kind === 'ok') own = { subnet: fromApi.cidr, source: 'API' };
  else if (own === undefined && g.subnetEnv.ok) {
    const c = parseCidr(g.subnetEnv.value.vars.get('FLANNEL_SUBNET') ?? '');
    if (c !== undefined) own = { subnet: networkOf(c), source: 'subnet.env' };
  }

  const peers: V4Lease[] = [];
  const malformed: { node: string; problem: string }[] = [];
  let peersSource: Model['peersSource'] = 'none';
  if (g.api.ok && keys !== undefined) {
    peersSource = 'API';
    for (const n of nodes) {
      if (n.name === nodeName || !isFlannelNode(n, keys)) continue;
      try {
        const v = v4Half(nodeToLease(n, keys).lease);
        if (v !== undefined) peers.push(v);
      } catch (e) {
        malformed.push({ node: n.name, problem: errorText(e) });
      }
    }
  } else if (d !== undefined) {
    peersSource = 'daemon';
    for (const p of d.peers) {
      const subnet = parseCidr(p.subnet);
      if (subnet === undefined) continue;
      peers.push({ subnet, attrs: { publicIp: p.publicIp, backendType: p.backendType, backendData: p.backendData }, ...(p.node !== undefined ? { node: p.node } : {}) });
    }
  }
  peers.sort((a, b) => (a.subnet.ip >>> 0) - (b.subnet.ip >>> 0));

  const ext = g.ext.ok ? g.ext.value : undefined;
  let backendMtu: number | undefined;
  let device: string | undefined;
  if (backend !== undefined) {
    if (backend.type === 'vxlan') device = `flannel.${backend.vni}`;
    if (backend.type === 'udp') device = 'flannel0';
    if (d?.backend !== undefined && d.backend.type === backend.type) backendMtu = d.backend.mtu;
    else if (ext !== undefined) {
      if (backend.type === 'vxlan') backendMtu = (backend.mtu > 0 ? backend.mtu : ext.mtu) - VXLAN_OVERHEAD;
      else if (backend.type === 'udp') backendMtu = ext.mtu - UDP_OVERHEAD;
      else backendMtu = ext.mtu;
    }
  }
  return { network, backend, configSource, enableNFTables, keys, nodeName, ownNode, own, peers, peersSource, malformed, ext, backendMtu, device };
}
