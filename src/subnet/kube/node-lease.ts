/**
 * Pure translations between Node objects and flannel leases (pkg/subnet/kube/kube.go): which podCIDR is the node's
 * IPv4 subnet, what a peer published, what the own node must publish, and the two PATCH bodies.
 */
import { formatIpv4, networkOf, parseCidr, parseIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { vtepMacOf } from '../../ip/mac.ts';
import type { Lease, LeaseAttrs } from '../lease.ts';
import type { StoredNodeInfo } from '../manager.ts';
import type { AnnotationKeys } from './annotations.ts';
import type { NodeView } from './api.ts';

export type PodCidrResult =
  | { readonly kind: 'ok'; readonly cidr: Ipv4Cidr }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * The node's IPv4 pod subnet, as upstream picks it: spec.podCIDR when podCIDRs is empty, else the
 * last IPv4 entry of podCIDRs (1–2 entries; 3 or more is an error).
 */
export function ipv4PodCidr(node: NodeView): PodCidrResult {
  const list = node.podCIDRs.length > 0 ? node.podCIDRs : node.podCIDR ? [node.podCIDR] : [];
  if (list.length === 0) return { kind: 'missing' };
  if (list.length > 2) return { kind: 'invalid', reason: 'pod cidrs should be IPv4/IPv6 only or dualstack' };
  let found: Ipv4Cidr | undefined;
  for (const text of list) {
    const c = parseCidr(text);
    if (c !== undefined) found = c;
    else if (!text.includes(':')) return { kind: 'invalid', reason: `pod cidr ${JSON.stringify(text)} is not a valid CIDR` };
  }
  if (found === undefined) return { kind: 'invalid', reason: 'missing IPv4 address on n.Spec.PodCIDRs' };
  return { kind: 'ok', cidr: networkOf(found) };
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

/** A peer node's lease, as upstream's nodeToLease, but validating what upstream takes raw. */
export function nodeToLease(node: NodeView, keys: AnnotationKeys): Lease {
  const a = node.annotations;
  const publicIpText = a[keys.publicIp];
  if (publicIpText === undefined) throw new MalformedNodeError(node.name, keys.publicIp, 'missing');
  const publicIp = parseIpv4(publicIpText);
  if (publicIp === undefined) throw new MalformedNodeError(node.name, keys.publicIp, `${JSON.stringify(publicIpText)} is not an IPv4 address`);
  const backendData = a[keys.backendData];
  if (backendData === undefined) throw new MalformedNodeError(node.name, keys.backendData, 'missing');
  try {
    JSON.parse(backendData);
  } catch {
    throw new MalformedNodeError(node.name, keys.backendData, `${JSON.stringify(backendData)} is not JSON`);
  }
  const cidr = ipv4PodCidr(node);
  if (cidr.kind === 'missing') throw new MalformedNodeError(node.name, 'spec.podCIDR', 'missing');
  if (cidr.kind === 'invalid') throw new MalformedNodeError(node.name, 'spec.podCIDRs', cidr.reason);
  const attrs: LeaseAttrs = {
    publicIp: formatIpv4(publicIp),
    backendType: a[keys.backendType] ?? '',
    backendData,
    ...(a[keys.publicIpv6] !== undefined ? { publicIpv6: a[keys.publicIpv6] } : {}),
    ...(a[keys.backendV6Data] !== undefined ? { backendV6Data: a[keys.backendV6Data] } : {}),
  };
  return { subnet: cidr.cidr, attrs, node: node.name };
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
  };
}

/** The public IP the node publishes: the `public-ip-overwrite` value when set (NAT), else ours. */
export function publishedPublicIp(node: NodeView, keys: AnnotationKeys, attrs: LeaseAttrs): string {
  const overwrite = node.annotations[keys.publicIpOverwrite];
  return overwrite ? overwrite : attrs.publicIp;
}

/**
 * The annotations that differ from what the own node must publish, sorted by key (Go marshals
 * maps sorted, so this is the byte order of upstream's two-way merge patch). Empty: no PATCH.
 */
export function annotationChanges(node: NodeView, keys: AnnotationKeys, attrs: LeaseAttrs): Record<string, string> {
  const want: Record<string, string> = {
    [keys.backendData]: attrs.backendData,
    [keys.backendType]: attrs.backendType,
    [keys.publicIp]: publishedPublicIp(node, keys, attrs),
    [keys.kubeSubnetManager]: 'true',
  };
  if (attrs.backendV6Data !== undefined) want[keys.backendV6Data] = attrs.backendV6Data;
  if (attrs.publicIpv6 !== undefined) {
    const overwrite6 = node.annotations[keys.publicIpv6Overwrite];
    want[keys.publicIpv6] = overwrite6 ? overwrite6 : attrs.publicIpv6;
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
