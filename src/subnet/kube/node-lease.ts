/**
 * Pure translations between Node objects and flannel leases (pkg/subnet/kube/kube.go): which podCIDR is the node's
 * subnets, what a peer published, what the own node must publish, and the two PATCH bodies.
 */
import { familyName, IPV4_ONLY, type Families, type IpFamily } from '../../ip/cidr.ts';
import { formatIpv4, networkOf, parseCidr, parseIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatIpv6, networkOf6, parseCidr6, parseIpv6, type Ipv6Cidr } from '../../ip/ipv6.ts';
import { vtepMacOf } from '../../ip/mac.ts';
import type { Lease, LeaseAttrs } from '../lease.ts';
import type { StoredNodeInfo } from '../manager.ts';
import type { AnnotationKeys } from './annotations.ts';
import type { NodeView } from './api.ts';

export type PodCidrResult =
  | { readonly kind: 'ok'; readonly ipv4?: Ipv4Cidr; readonly ipv6?: Ipv6Cidr }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * The node's pod subnets, one per family, as upstream picks them (AcquireLease and nodeToLease in
 * pkg/subnet/kube/kube.go): spec.podCIDR when podCIDRs is empty, else the entries of podCIDRs
 * (1–2 of them; 3 or more is an error). Every family in `want` must be there, with upstream's
 * text when it is not; the result holds every family found.
 */
export function podCidrs(node: NodeView, want: Families = IPV4_ONLY): PodCidrResult {
  const list = node.podCIDRs.length > 0 ? node.podCIDRs : node.podCIDR ? [node.podCIDR] : [];
  if (list.length === 0) return { kind: 'missing' };
  if (list.length > 2) return { kind: 'invalid', reason: 'pod cidrs should be IPv4/IPv6 only or dualstack' };
  let ipv4: Ipv4Cidr | undefined;
  let ipv6: Ipv6Cidr | undefined;
  for (const text of list) {
    const c4 = parseCidr(text);
    const c6 = c4 === undefined ? parseCidr6(text) : undefined;
    if (c4 !== undefined) ipv4 = networkOf(c4);
    else if (c6 !== undefined) ipv6 = networkOf6(c6);
    else return { kind: 'invalid', reason: `pod cidr ${JSON.stringify(text)} is not a valid CIDR` };
  }
  if (want.ipv4 && ipv4 === undefined) return { kind: 'invalid', reason: 'missing IPv4 address on n.Spec.PodCIDRs' };
  if (want.ipv6 && ipv6 === undefined) return { kind: 'invalid', reason: 'missing IPv6 address on n.Spec.PodCIDRs' };
  return { kind: 'ok', ...(ipv4 !== undefined ? { ipv4 } : {}), ...(ipv6 !== undefined ? { ipv6 } : {}) };
}

/** A peer's annotations cannot be turned into a lease; names the node and the field at fault. */
export class MalformedNodeError extends Error {
  readonly node: string;
  /** The annotation key, or `spec.podCIDR`. */
  readonly field: string;
  constructor(node: string, field: string, problem: string) {
    super(`node "${node}": ${field}: ${problem}`);
    this.name = 'MalformedNodeError';
    this.node = node;
    this.field = field;
  }
}

/** True when the node runs a flannel in kube mode (its `<prefix>kube-subnet-manager` is "true"). */
export function isFlannelNode(node: NodeView, keys: AnnotationKeys): boolean {
  return node.annotations[keys.kubeSubnetManager] === 'true';
}

/** A peer's lease, and the enabled families it cannot be programmed for (each names its field). */
export interface PeerLease {
  readonly lease: Lease;
  readonly missing: readonly { readonly family: IpFamily; readonly error: MalformedNodeError }[];
}

/**
 * A peer node's lease, as upstream's nodeToLease, but validating what upstream takes raw, and
 * per family: a half that is missing or malformed (no IPv6 podCIDR, no public-ipv6 yet) leaves
 * the peer with its other half and is listed in `missing`, where upstream drops the node whole.
 * Throws MalformedNodeError, naming the field, only when no enabled family is usable.
 */
export function nodeToLease(node: NodeView, keys: AnnotationKeys, families: Families = IPV4_ONLY): PeerLease {
  const cidrs = podCidrs(node, { ipv4: false, ipv6: false });
  if (cidrs.kind === 'missing') throw new MalformedNodeError(node.name, 'spec.podCIDR', 'missing');
  if (cidrs.kind === 'invalid') throw new MalformedNodeError(node.name, 'spec.podCIDRs', cidrs.reason);
  const missing: { family: IpFamily; error: MalformedNodeError }[] = [];
  const half = <C>(family: IpFamily, cidr: C | undefined, ipKey: string, dataKey: string): { cidr: C; publicIp: string; data: string } | undefined => {
    try {
      const publicIp = publicAddress(node, ipKey, family);
      const data = jsonAnnotation(node, dataKey);
      if (cidr === undefined) throw new MalformedNodeError(node.name, 'spec.podCIDRs', `missing ${familyName(family)} address on n.Spec.PodCIDRs`);
      return { cidr, publicIp, data };
    } catch (e) {
      if (!(e instanceof MalformedNodeError)) throw e;
      missing.push({ family, error: e });
      return undefined;
    }
  };
  const v4 = families.ipv4 ? half('ipv4', cidrs.ipv4, keys.publicIp, keys.backendData) : undefined;
  const v6 = families.ipv6 ? half('ipv6', cidrs.ipv6, keys.publicIpv6, keys.backendV6Data) : undefined;
  if (v4 === undefined && v6 === undefined) throw missing[0]!.error;
  const attrs: LeaseAttrs = {
    backendType: node.annotations[keys.backendType] ?? '',
    ...(v4 === undefined ? {} : { publicIp: v4.publicIp, backendData: v4.data }),
    ...(v6 === undefined ? {} : { publicIpv6: v6.publicIp, backendV6Data: v6.data }),
  };
  const lease: Lease = {
    ...(v4 === undefined ? {} : { subnet: v4.cidr }),
    ...(v6 === undefined ? {} : { ipv6Subnet: v6.cidr }),
    attrs,
    node: node.name,
  };
  return { lease, missing };
}

/** A public-ip or public-ipv6 annotation: present, of the family, in canonical form. */
function publicAddress(node: NodeView, key: string, family: IpFamily): string {
  const text = node.annotations[key];
  if (text === undefined) throw new MalformedNodeError(node.name, key, 'missing');
  if (family === 'ipv4') {
    const ip = parseIpv4(text);
    if (ip === undefined) throw new MalformedNodeError(node.name, key, `${JSON.stringify(text)} is not an IPv4 address`);
    return formatIpv4(ip);
  }
  const ip = parseIpv6(text);
  if (ip === undefined) throw new MalformedNodeError(node.name, key, `${JSON.stringify(text)} is not an IPv6 address`);
  return formatIpv6(ip);
}

/** backend-data or backend-v6-data: present and JSON, kept as published. */
function jsonAnnotation(node: NodeView, key: string): string {
  const data = node.annotations[key];
  if (data === undefined) throw new MalformedNodeError(node.name, key, 'missing');
  try {
    JSON.parse(data);
  } catch {
    throw new MalformedNodeError(node.name, key, `${JSON.stringify(data)} is not JSON`);
  }
  return data;
}

/**
 * What the own node remembers about itself. Reads the normalised keys (upstream builds the
 * backend-data key from the raw prefix, which misses for prefixes like `org.com/x`).
 */
export function storedInfoOf(node: NodeView, keys: AnnotationKeys): StoredNodeInfo {
  const a = node.annotations;
  const vtepMac = vtepMacOf(a[keys.backendData]);
  const vtepMacV6 = vtepMacOf(a[keys.backendV6Data]);
  return {
    ...(a[keys.nodePublicIp] ? { publicIp: a[keys.nodePublicIp] } : {}),
    ...(a[keys.nodePublicIpv6] ? { publicIpv6: a[keys.nodePublicIpv6] } : {}),
    ...(vtepMac !== undefined ? { vtepMac } : {}),
    ...(vtepMacV6 !== undefined ? { vtepMacV6 } : {}),
    ...(a[keys.backendType] !== undefined ? { backendType: a[keys.backendType] } : {}),
  };
}

/** The public IPs the node publishes: the `public-ip(v6)-overwrite` value when set (NAT), else ours. */
export function publishedAttrs(node: NodeView, keys: AnnotationKeys, attrs: LeaseAttrs): LeaseAttrs {
  const overwrite = node.annotations[keys.publicIpOverwrite];
  const overwrite6 = node.annotations[keys.publicIpv6Overwrite];
  return {
    ...attrs,
    ...(attrs.publicIp !== undefined && overwrite ? { publicIp: overwrite } : {}),
    ...(attrs.publicIpv6 !== undefined && overwrite6 ? { publicIpv6: overwrite6 } : {}),
  };
}

/**
 * The annotations that differ from what the own node must publish, sorted by key (Go marshals
 * maps sorted, so this is the byte order of upstream's two-way merge patch). Empty: no PATCH.
 * Which keys, as upstream's AcquireLease: backend-data and public-ip unless this is vxlan without
 * an IPv4 device (IPv6-only; host-gw then writes `null` and `0.0.0.0`, as upstream's zero IPv4);
 * backend-v6-data and public-ipv6 when IPv6 is published (host-gw's v6 data is `null`).
 */
export function annotationChanges(node: NodeView, keys: AnnotationKeys, attrs: LeaseAttrs): Record<string, string> {
  const pub = publishedAttrs(node, keys, attrs);
  const want: Record<string, string> = {
    [keys.backendType]: attrs.backendType,
    [keys.kubeSubnetManager]: 'true',
  };
  if (attrs.backendType !== 'vxlan' || attrs.backendData !== undefined) {
    want[keys.backendData] = attrs.backendData ?? 'null';
    want[keys.publicIp] = pub.publicIp ?? '0.0.0.0';
  }
  if (pub.publicIpv6 !== undefined) {
    want[keys.backendV6Data] = attrs.backendV6Data ?? 'null';
    want[keys.publicIpv6] = pub.publicIpv6;
  }
  const changes: Record<string, string> = {};
  for (const key of Object.keys(want).sort()) {
    if (node.annotations[key] !== want[key]) changes[key] = want[key]!;
  }
  return changes;
}

export function annotationPatch(changes: Record<string, string>): object {
  return { metadata: { annotations: changes } };
}

/** RFC 3339, UTC, second precision, as Go's metav1.Time marshals. */
export function kubeTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Upstream's CompleteLease body; field order follows Go's NodeCondition struct. */
export function networkAvailablePatch(now: Date): object {
  const t = kubeTime(now);
  return {
    status: {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          lastHeartbeatTime: t,
          lastTransitionTime: t,
          reason: 'FlannelIsUp',
          message: 'Flannel is running on this node',
        },
      ],
    },
  };
}
