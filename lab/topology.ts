/**
 * The lab's addressing plan on the shared underlay (harness/topology.ts): the API server double
 * on the underlay bridge, node i at 198.18.0.(10+i) forwarding for its pods in 10.244.(i+1).0/24.
 * Names inside a namespace need no prefix; only the namespaces themselves carry it.
 */
import { createNode as wireNode, createUnderlay as wireUnderlay } from './harness/topology.ts';

export { NODE_UPLINK, nodeUnderlayIp, UNDERLAY_BRIDGE } from './harness/topology.ts';

/** Where the API server double listens, on the underlay bridge. */
export const API_SERVER_IP = '198.18.0.254';
export const API_SERVER_PORT = 6443;
export const POD_NETWORK = '10.244.0.0/16';

export function nodePodCidr(index: number): string {
  return `10.244.${index + 1}.0/24`;
}

export async function createUnderlay(netns: string): Promise<void> {
  await wireUnderlay(netns, `${API_SERVER_IP}/24`);
}

/** A node namespace on the underlay at 198.18.0.(10+index)/24, forwarding enabled. */
export async function createNode(netns: string, underlayNetns: string, index: number): Promise<void> {
  // A node routes between its pods (cni0) and the overlay; a Kubernetes node has this on.
  await wireNode(netns, underlayNetns, { index, port: `node${index}`, forwarding: true });
}
