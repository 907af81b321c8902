/**
 * `flannel-lab up --kubeconfig FILE`: a real Kubernetes API server instead of the double.
 * Best effort and not covered by tests (CI has no cluster). The lab
 * - creates the Node objects with their podCIDRs there (and deletes them on down);
 * - makes the server reachable from the node namespaces: a veth `<prefix>-up` joins the root
 *   namespace to the underlay bridge as 198.18.0.1/24, every node routes the server's address
 *   via 198.18.0.1, and the root namespace forwards and masquerades that traffic (one iptables
 *   rule with the comment `flannel-lab:<prefix>`, removed on down; ip_forward is switched on and
 *   left on). Because that puts 198.18.0.0/24 in the root namespace, run one such lab at a time.
 * Test tooling: runs `ip` and `iptables` on purpose.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { run, runIn } from './harness/exec.ts';
import { addVeth } from './harness/netns.ts';
import { NODE_UPLINK, UNDERLAY_BRIDGE } from './topology.ts';
import { errorText } from '../src/util/errors.ts';

export const UPLINK_ROOT_IP = '198.18.0.1';

interface KubeClient {
  createNode(name: string, podCidrs: readonly string[]): Promise<void>;
  deleteNode(name: string): Promise<void>;
}

async function kubeClient(kubeconfig: string): Promise<KubeClient> {
  // Loaded only here: importing client-node costs ~0.5 s and ~90 MB, needed on this path only.
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async createNode(name, podCidrs) {
      await api.createNode({ body: { metadata: { name }, spec: { podCIDR: podCidrs[0]!, podCIDRs: [...podCidrs] } } });
    },
    async deleteNode(name) {
      await api.deleteNode({ name });
    },
  };
}

export async function createRealNodes(kubeconfig: string, nodes: readonly { name: string; podCidrs: readonly string[] }[]): Promise<void> {
  const client = await kubeClient(kubeconfig);
  for (const n of nodes) {
    try {
      await client.createNode(n.name, n.podCidrs);
    } catch (e) {
      throw new Error(`creating Node ${n.name} (podCIDRs ${n.podCidrs.join(',')}) through ${kubeconfig} failed: ${errorText(e)}`);
    }
  }
}

export async function deleteRealNodes(kubeconfig: string, names: readonly string[]): Promise<void> {
  const client = await kubeClient(kubeconfig);
  for (const name of names) await client.deleteNode(name).catch(() => {});
}

/** The API server's IPv4 address, from the kubeconfig's current cluster. */
export async function apiServerAddress(kubeconfig: string): Promise<string> {
  const text = readFileSync(kubeconfig, 'utf8');
  // YAML or JSON (the double writes JSON).
  const m = /"?server"?\s*:\s*["']?(https?:\/\/[^\s"',]+)/.exec(text);
  if (m === null) throw new Error(`${kubeconfig}: no cluster server URL found`);
  const host = new URL(m[1]!).hostname.replace(/^\[|\]$/g, '');
  const { address, family } = await lookup(host, { family: 4 }).catch(() => ({ address: '', family: 0 }));
  if (family !== 4) throw new Error(`${kubeconfig}: the server ${host} has no IPv4 address`);
  if (address.startsWith('127.')) {
    throw new Error(`${kubeconfig}: the server is on loopback (${address}), which node namespaces cannot reach; use an address of another interface`);
  }
  return address;
}

export interface Uplink {
  readonly rootLink: string;
  readonly serverIp: string;
  readonly masqRule: readonly string[];
}

export async function createUplink(prefix: string, underlayNetns: string, nodeNetnses: readonly string[], serverIp: string): Promise<Uplink> {
  const rootLink = `${prefix}-up`.slice(0, 15);
  await addVeth(
    { name: rootLink, address: `${UPLINK_ROOT_IP}/24` },
    { netns: underlayNetns, name: 'uplink', master: UNDERLAY_BRIDGE },
  );
  await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const masqRule = ['-t', 'nat', 'POSTROUTING', '-s', '198.18.0.0/24', '-d', `${serverIp}/32`, '-m', 'comment', '--comment', `flannel-lab:${prefix}`, '-j', 'MASQUERADE'];
  await run(['iptables', masqRule[0]!, masqRule[1]!, '-A', ...masqRule.slice(2)]);
  for (const ns of nodeNetnses) await runIn(ns, ['ip', 'route', 'add', `${serverIp}/32`, 'via', UPLINK_ROOT_IP, 'dev', NODE_UPLINK]);
  return { rootLink, serverIp, masqRule };
}

export async function removeUplink(uplink: Uplink): Promise<void> {
  const r = uplink.masqRule;
  await run(['iptables', r[0]!, r[1]!, '-D', ...r.slice(2)], { allowFailure: true });
  await run(['ip', 'link', 'del', uplink.rootLink], { allowFailure: true });
}
