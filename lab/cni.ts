/**
 * Attaches pods to a node's cni0 bridge the way flannel's CNI plugin does on a real node: derive
 * the delegate from subnet.env, save it under the data dir by container id, and run the
 * delegated plugin (Debian's reference `bridge`, which calls `host-local`) inside the node's
 * namespace with the CNI_* environment a runtime sets. Test tooling: it runs plugins on purpose.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runIn } from './harness/exec.ts';
import { flannelDelegateConfig, type FlannelNetConf, type JsonObject } from './cni-delegate.ts';
import type { FlannelSubnetEnv } from './subnet-env.ts';

export const CNI_PATH = '/usr/lib/cni';

export interface CniCall {
  /** The node namespace the plugin runs in (where cni0 lives). */
  readonly nodeNetns: string;
  /** The pod namespace, as a name under /run/netns. */
  readonly podNetns: string;
  readonly containerId: string;
  /** Where the flannel plugin keeps the delegate per container (upstream: /var/lib/cni/flannel). */
  readonly dataDir: string;
}

export interface PodAttachment {
  /** The pod's first address with prefix, for example `10.244.1.2/24` (IPv4 when it has one). */
  readonly cidr: string;
  readonly ip: string;
  readonly gateway?: string;
  /** Its IPv6 address, when the delegate had an IPv6 range (dual-stack, IPv6-only). */
  readonly ip6?: string;
}

/** CNI ADD through the delegate flannel's plugin would build; returns the pod's address. */
export async function cniAdd(call: CniCall, conf: FlannelNetConf, env: FlannelSubnetEnv): Promise<PodAttachment> {
  const delegate = flannelDelegateConfig(conf, env);
  await mkdir(call.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(join(call.dataDir, call.containerId), JSON.stringify(delegate), { mode: 0o600 });
  const { stdout } = await invokePlugin('ADD', call, delegate);
  return attachmentOf(stdout, call.containerId);
}

/** CNI DEL with the saved delegate; a container without one counts as already removed. */
export async function cniDel(call: CniCall): Promise<void> {
  const file = join(call.dataDir, call.containerId);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  await invokePlugin('DEL', call, JSON.parse(text) as JsonObject);
  await rm(file, { force: true });
}

function invokePlugin(command: 'ADD' | 'DEL', call: CniCall, delegate: JsonObject) {
  const type = String(delegate['type']);
  return runIn(call.nodeNetns, [join(CNI_PATH, type)], {
    input: JSON.stringify(delegate),
    env: {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: `/run/netns/${call.podNetns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH,
    },
  });
}

function attachmentOf(resultText: string, containerId: string): PodAttachment {
  const result = JSON.parse(resultText) as { ips?: { address?: string; gateway?: string }[] };
  const v4 = result.ips?.find((ip) => ip.address !== undefined && !ip.address.includes(':'));
  const v6 = result.ips?.find((ip) => ip.address !== undefined && ip.address.includes(':'));
  const first = v4 ?? v6;
  if (first?.address === undefined) throw new Error(`CNI ADD for ${containerId} returned no address: ${resultText}`);
  return {
    cidr: first.address,
    ip: first.address.split('/')[0]!,
    ...(first.gateway !== undefined ? { gateway: first.gateway } : {}),
    ...(v6?.address !== undefined ? { ip6: v6.address.split('/')[0]! } : {}),
  };
}
