/**
 * The lab's wires (DESIGN.md "Test topology"): one namespace holds the underlay bridge, each
 * node namespace joins it by a veth whose node end is `eth0`. Test tooling: it runs `ip` on
 * purpose. Names inside a namespace need no prefix; only the namespaces themselves carry it.
 */
import { runIn } from './harness/exec.ts';
import { createNetns, sysctlIn } from './harness/netns.ts';

export const UNDERLAY_BRIDGE = 'br0';
/** The underlay interface inside every node namespace (what `--iface` names). */
export const NODE_UPLINK = 'eth0';
/** Where the API server double listens, on the underlay bridge. */
export const API_SERVER_IP = '198.18.0.254';
export const API_SERVER_PORT = 6443;
export const POD_NETWORK = '10.244.0.0/16';

export function nodeUnderlayIp(index: number): string {
  return `198.18.0.${10 + index}`;
}

export function nodePodCidr(index: number): string {
  return `10.244.${index + 1}.0/24`;
}

export async function createUnderlay(netns: string): Promise<void> {
  await createNetns(netns);
  await runIn(netns, ['ip', 'link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  await runIn(netns, ['ip', 'addr', 'add', `${API_SERVER_IP}/24`, 'dev', UNDERLAY_BRIDGE]);
  await runIn(netns, ['ip', 'link', 'set', UNDERLAY_BRIDGE, 'up']);
}

/** A node namespace on the underlay at 198.18.0.(10+index)/24, forwarding enabled. */
export async function createNode(netns: string, underlayNetns: string, index: number): Promise<void> {
  await createNetns(netns);
  const port = `node${index}`;
  await runIn(netns, ['ip', 'link', 'add', NODE_UPLINK, 'type', 'veth', 'peer', 'name', port, 'netns', underlayNetns]);
  await runIn(underlayNetns, ['ip', 'link', 'set', port, 'master', UNDERLAY_BRIDGE, 'up']);
  await runIn(netns, ['ip', 'addr', 'add', `${nodeUnderlayIp(index)}/24`, 'dev', NODE_UPLINK]);
  await runIn(netns, ['ip', 'link', 'set', NODE_UPLINK, 'up']);
  // A node routes between its pods (cni0) and the overlay; a Kubernetes node has this on.
  await sysctlIn(netns, 'net.ipv4.ip_forward', '1');
}
