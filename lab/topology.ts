/**
 * The lab's addressing plan on the shared underlay (harness/topology.ts): the API server double
 * on the underlay bridge, node i at 198.18.0.(10+i) forwarding for its pods in 10.244.(i+1).0/24.
 * Names inside a namespace need no prefix; only the namespaces themselves carry it.
 */
import { createNode as wireNode, createUnderlay as wireUnderlay } from './harness/topology.ts';

export { NODE_UPLINK, nodeUnderlayIp, nodeUnderlayIpv6, UNDERLAY_BRIDGE } from './harness/topology.ts';

/** Where the API server double listens, on the underlay bridge. */
export const API_SERVER_IP = '198.18.0.254';
export const API_SERVER_PORT = 6443;
export const POD_NETWORK = '10.244.0.0/16';
/** The IPv6 pod network, a ULA range that exists only inside the lab's namespaces. */
export const POD_NETWORK6 = 'fd00:10:244::/56';
/** The underlay bridge's IPv6 address (the API server double stays on IPv4 in every mode). */
export const UNDERLAY_BRIDGE_IP6 = 'fd00:198:18::fe';

export function nodePodCidr(index: number): string {
  return `10.244.${index + 1}.0/24`;
}

/** The IPv6 podCIDR of node i: fd00:10:244:(i+1)::/64, the same digits as its IPv4 one. */
export function nodePodCidr6(index: number): string {
  return `fd00:10:244:${index + 1}::/64`;
}

export async function createUnderlay(netns: string, ipv6 = false): Promise<void> {
  await wireUnderlay(netns, `${API_SERVER_IP}/24`, ipv6 ? `${UNDERLAY_BRIDGE_IP6}/64` : undefined);
}

/** A node namespace on the underlay at 198.18.0.(10+index)/24 (and fd00:198:18::(10+index)/64), forwarding enabled. */
export async function createNode(netns: string, underlayNetns: string, index: number, ipv6 = false): Promise<void> {
  // A node routes between its pods (cni0) and the overlay; a Kubernetes node has this on.
  await wireNode(netns, underlayNetns, { index, port: `node${index}`, forwarding: true, ipv6 });
}
