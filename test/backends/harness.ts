import { pino, type Logger } from 'pino';
import type { BackendConfig, VxlanConfig } from '../../src/config/types.ts';
import type { Backend, Desired } from '../../src/backends/backend.ts';
import { createBackend, driftMonitorFor } from '../../src/backends/registry.ts';
import { selectInterface } from '../../src/ifaces/select.ts';
import { parseCidr } from '../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../src/ip/ipv6.ts';
import { leaseKey, type Lease } from '../../src/subnet/lease.ts';
import type { StoredNodeInfo } from '../../src/subnet/manager.ts';
import { addBridge } from '../../lab/harness/netns.ts';
import type { TestNode, Topology } from '../../lab/harness/topology.ts';

export const NETWORK = parseCidr('10.244.0.0/16')!;
export const NETWORK6 = parseCidr6('fd00:10:244::/56')!;

/** Which families a test node runs: its lease has 10.244.<i>.0/24 and/or fd00:10:244:<i>::/64. */
export type TestFamilies = 'ipv4' | 'dual' | 'ipv6';

export const vxlanConfig = (over: Partial<VxlanConfig> = {}): VxlanConfig => ({
  type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false, ...over,
});

export interface RunningNode {
  readonly node: TestNode;
  readonly backend: Backend;
  readonly lease: Lease;
  readonly lines: string[];
}

/** Builds a backend for node i in-process (as the daemon would), through prepare and configure. */
export async function startNode(
  topo: Topology,
  i: number,
  config: BackendConfig,
  opts: { stored?: StoredNodeInfo; publicIp?: string; monitor?: boolean; families?: TestFamilies } = {},
): Promise<RunningNode> {
  const node = topo.node(i);
  const { log, lines } = captureLogger();
  const v4 = opts.families !== 'ipv6';
  const v6 = opts.families === 'dual' || opts.families === 'ipv6';
  const ext = await selectInterface(node.nl, { ifaces: ['eth0'], families: { ipv4: v4, ipv6: v6 }, ...(opts.publicIp === undefined ? {} : { publicIp: opts.publicIp }) });
  const backend = createBackend(config, {
    nl: node.nl,
    ext,
    ...(v4 ? { network: NETWORK } : {}),
    ...(v6 ? { ipv6Network: NETWORK6 } : {}),
    stored: opts.stored ?? {},
    log,
    ...(opts.monitor === true ? { openMonitor: driftMonitorFor(node.nsPath) } : {}),
  });
  const signal = new AbortController().signal;
  const attrs = await backend.prepare(signal);
  const lease: Lease = {
    ...(v4 ? { subnet: parseCidr(`10.244.${i}.0/24`)! } : {}),
    ...(v6 ? { ipv6Subnet: parseCidr6(`fd00:10:244:${i}::/64`)! } : {}),
    attrs,
    node: `node${i}`,
  };
  await backend.configure(lease, signal);
  return { node, backend, lease, lines };
}

let generation = 0;
export function desiredFor(self: RunningNode, peers: readonly (RunningNode | Lease)[]): Desired {
  const map = new Map<string, Lease>();
  for (const p of peers) {
    const l = 'lease' in p ? p.lease : p;
    map.set(leaseKey(l), l);
  }
  return {
    generation: ++generation,
    ...(self.lease.subnet !== undefined ? { network: NETWORK } : {}),
    ...(self.lease.ipv6Subnet !== undefined ? { ipv6Network: NETWORK6 } : {}),
    own: self.lease,
    peers: map,
  };
}

/** A pod-side address on a port-less bridge (like cni0), so pings have a source and a target in the subnet. */
export async function addPodAddress(n: RunningNode): Promise<string> {
  const addr = `10.244.${n.node.i}.1`;
  await addBridge(n.node.ns, 'pods', `${addr}/24`); // this kernel has no dummy module
  return addr;
}

/** Pod-side addresses of the families the node runs, on a port-less bridge: 10.244.<i>.1/24, fd00:10:244:<i>::1/64. */
export async function addPodAddresses(n: RunningNode): Promise<{ v4?: string; v6?: string }> {
  const v4 = n.lease.subnet !== undefined ? `10.244.${n.node.i}.1` : undefined;
  const v6 = n.lease.ipv6Subnet !== undefined ? `fd00:10:244:${n.node.i}::1` : undefined;
  await addBridge(n.node.ns, 'pods', v4 === undefined ? undefined : `${v4}/24`, v6 === undefined ? undefined : `${v6}/64`);
  return { ...(v4 !== undefined ? { v4 } : {}), ...(v6 !== undefined ? { v6 } : {}) };
}

/** A pino logger that keeps messages in memory. */
export function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push((JSON.parse(s) as { msg: string }).msg) });
  return { log, lines };
}

/** Polls `cond` until true or `limitMs` passes (a correctness wait, not a timing assertion). */
export async function waitFor(cond: () => boolean | Promise<boolean>, limitMs = 5_000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + limitMs;
  const check = async (): Promise<boolean> => {
    try {
      return await cond();
    } catch {
      return false; // e.g. `ip` on a device that is not back yet
    }
  };
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}
