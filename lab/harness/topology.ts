/**
 * The underlay every multi-node set-up shares: one namespace holds bridge `br0`, and each node
 * namespace joins it by a veth whose node end is `eth0` with 198.18.0.(10+i). The lab builds its
 * cluster on it (lab/topology.ts); Topology is the throwaway version for backend tests and
 * benches, with a netlink handle per node. Tests may run `ip`/`bridge`; src/ never does.
 */
import { openNetlink } from '../../src/netlink/index.ts';
import type { NetlinkHandle } from '../../src/netlink/types.ts';
import { run, runIn } from './exec.ts';
import { addBridge, addVeth, createNetns, NetnsSet, sysctlIn } from './netns.ts';

export const UNDERLAY_BRIDGE = 'br0';
/** The underlay interface inside every node namespace (what `--iface` names). */
export const NODE_UPLINK = 'eth0';

export function nodeUnderlayIp(index: number): string {
  return `198.18.0.${10 + index}`;
}

/** The underlay namespace: bridge br0, up, with `address` (e.g. 198.18.0.254/24) when given. */
export async function createUnderlay(netns: string, address?: string): Promise<void> {
  await createNetns(netns);
  await addBridge(netns, UNDERLAY_BRIDGE, address);
}

export interface NodeWiring {
  /** The node's number: its underlay address is 198.18.0.(10+index). */
  readonly index: number;
  /** The name of its bridge port in the underlay namespace. */
  readonly port: string;
  /** Of the underlay address; default 24 (25 puts 198.18.0.200 off-link). */
  readonly prefixLen?: number;
  /** net.ipv4.ip_forward=1: a node that routes between its pods and the overlay. */
  readonly forwarding?: boolean;
}

/** A node namespace on the underlay: `eth0` with 198.18.0.(10+index)/prefixLen, its peer a port of br0. */
export async function createNode(netns: string, underlayNetns: string, w: NodeWiring): Promise<void> {
  await createNetns(netns);
  await addVeth(
    { netns, name: NODE_UPLINK, address: `${nodeUnderlayIp(w.index)}/${w.prefixLen ?? 24}` },
    { netns: underlayNetns, name: w.port, master: UNDERLAY_BRIDGE },
  );
  if (w.forwarding === true) await sysctlIn(netns, 'net.ipv4.ip_forward', '1');
}

export interface TestNode {
  readonly i: number;
  readonly ns: string;
  readonly nsPath: string;
  /** Underlay address, e.g. 198.18.0.11. */
  readonly ip: string;
  readonly nl: NetlinkHandle;
}

/**
 * Nodes 1..n on a fresh underlay (namespaces `<tag>-<pid>-<hex>-ul` and `…-n<i>`), each with a
 * netlink handle into its namespace. destroy() removes everything and is safe to call twice.
 */
export class Topology {
  readonly netns: NetnsSet;
  readonly underlay: string;
  readonly nodes: TestNode[] = [];

  private constructor(tag: string) {
    this.netns = new NetnsSet(tag);
    this.underlay = this.netns.name('ul');
  }

  get prefix(): string {
    return this.netns.prefix;
  }

  /** Nodes 1..n; `prefixLen` of the underlay addresses (24, or 25 to put .200 off-link). */
  static async create(n: number, prefixLen = 24, tag = 'ftbe'): Promise<Topology> {
    const t = new Topology(tag);
    try {
      await createUnderlay(t.underlay);
      for (let i = 1; i <= n; i++) {
        const ns = t.netns.name(`n${i}`);
        await createNode(ns, t.underlay, { index: i, port: `v${i}`, prefixLen });
        const nsPath = `/run/netns/${ns}`;
        t.nodes.push({ i, ns, nsPath, ip: nodeUnderlayIp(i), nl: openNetlink({ netns: nsPath }) });
      }
    } catch (e) {
      await t.destroy();
      throw e;
    }
    return t;
  }

  node(i: number): TestNode {
    return this.nodes[i - 1]!;
  }

  /** Runs `ip …` in a namespace; returns stdout. */
  async ip(ns: string, ...args: string[]): Promise<string> {
    return (await run(['ip', '-n', ns, ...args])).stdout;
  }

  /** `ip -j …` parsed. */
  async ipJson<T = Record<string, unknown>[]>(ns: string, ...args: string[]): Promise<T> {
    const out = (await this.ip(ns, '-j', ...args)).trim();
    return (out === '' ? [] : JSON.parse(out)) as T;
  }

  /** Runs `bridge …` in a namespace. */
  async bridge(ns: string, ...args: string[]): Promise<string> {
    return (await run(['bridge', '-n', ns, ...args])).stdout;
  }

  /** `bridge -j fdb show dev DEV` parsed. */
  async fdbJson(ns: string, dev: string): Promise<Record<string, unknown>[]> {
    const out = (await this.bridge(ns, '-j', 'fdb', 'show', 'dev', dev)).trim();
    return out === '' ? [] : (JSON.parse(out) as Record<string, unknown>[]);
  }

  /** One ping from `src` to `dst` inside a node namespace; true when answered. */
  async ping(ns: string, src: string, dst: string): Promise<boolean> {
    return (await runIn(ns, ['ping', '-c', '1', '-W', '2', '-I', src, dst], { allowFailure: true })).code === 0;
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes.splice(0)) n.nl.close();
    await this.netns.removeAll();
  }
}
