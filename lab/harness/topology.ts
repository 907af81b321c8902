/**
 * The underlay every multi-node set-up shares: one namespace holds bridge `br0`, and each node
 * namespace joins it by a veth whose node end is `eth0` with 198.18.0.(10+i), and with IPv6 also
 * fd00:198:18::(10+i)/64 (a ULA range, only inside these namespaces). The lab builds its
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

/** The IPv6 underlay: fd00:198:18::/64, node i at fd00:198:18::(10+i) (the same digits as its IPv4, read as hex). */
export const UNDERLAY6 = 'fd00:198:18::/64';
export function nodeUnderlayIpv6(index: number): string {
  return `fd00:198:18::${10 + index}`;
}

/** The underlay namespace: bridge br0, up, with `address` (e.g. 198.18.0.254/24) and `address6` when given. */
export async function createUnderlay(netns: string, address?: string, address6?: string): Promise<void> {
  await createNetns(netns);
  if (address6 !== undefined) await disableDad(netns);
  await addBridge(netns, UNDERLAY_BRIDGE, address, address6);
}

/**
 * No duplicate address detection on the namespace's interfaces made from now on (veths, bridges,
 * flannel-v6.N, cni0, pods' eth0): until DAD of a fresh interface's link-local address is over
 * (about a second), neighbour discovery on it stalls, and a ping right after set-up times out.
 * Nothing in a lab namespace can collide.
 */
export async function disableDad(netns: string): Promise<void> {
  await sysctlIn(netns, 'net.ipv6.conf.default.accept_dad', '0');
  await sysctlIn(netns, 'net.ipv6.conf.all.accept_dad', '0');
}

export interface NodeWiring {
  /** The node's number: its underlay address is 198.18.0.(10+index). */
  readonly index: number;
  /** The name of its bridge port in the underlay namespace. */
  readonly port: string;
  /** Of the underlay address; default 24 (25 puts 198.18.0.200 off-link). */
  readonly prefixLen?: number;
  /** net.ipv4.ip_forward=1 (and IPv6 forwarding with `ipv6`): a node that routes between its pods and the overlay. */
  readonly forwarding?: boolean;
  /** Also fd00:198:18::(10+index)/64 on eth0. */
  readonly ipv6?: boolean;
}

/** A node namespace on the underlay: `eth0` with 198.18.0.(10+index)/prefixLen (and its IPv6), its peer a port of br0. */
export async function createNode(netns: string, underlayNetns: string, w: NodeWiring): Promise<void> {
  await createNetns(netns);
  if (w.ipv6 === true) await disableDad(netns);
  await addVeth(
    { netns, name: NODE_UPLINK, address: `${nodeUnderlayIp(w.index)}/${w.prefixLen ?? 24}`, ...(w.ipv6 === true ? { address6: `${nodeUnderlayIpv6(w.index)}/64` } : {}) },
    { netns: underlayNetns, name: w.port, master: UNDERLAY_BRIDGE },
  );
  if (w.forwarding === true) await sysctlIn(netns, 'net.ipv4.ip_forward', '1');
  if (w.forwarding === true && w.ipv6 === true) await sysctlIn(netns, 'net.ipv6.conf.all.forwarding', '1');
}

export interface TestNode {
  readonly i: number;
  readonly ns: string;
  readonly nsPath: string;
  /** Underlay address, e.g. 198.18.0.11. */
  readonly ip: string;
  /** IPv6 underlay address (fd00:198:18::11) when the topology has IPv6. */
  readonly ip6?: string;
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

  /** Nodes 1..n; `prefixLen` of the underlay addresses (24, or 25 to put .200 off-link); `ipv6` adds the IPv6 underlay. */
  static async create(n: number, prefixLen = 24, tag = 'ftbe', opts: { ipv6?: boolean } = {}): Promise<Topology> {
    const t = new Topology(tag);
    const ipv6 = opts.ipv6 === true;
    try {
      await createUnderlay(t.underlay);
      for (let i = 1; i <= n; i++) {
        const ns = t.netns.name(`n${i}`);
        await createNode(ns, t.underlay, { index: i, port: `v${i}`, prefixLen, ipv6, forwarding: ipv6 });
        const nsPath = `/run/netns/${ns}`;
        t.nodes.push({ i, ns, nsPath, ip: nodeUnderlayIp(i), ...(ipv6 ? { ip6: nodeUnderlayIpv6(i) } : {}), nl: openNetlink({ netns: nsPath }) });
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

  /** One ping from `src` to `dst` inside a node namespace (IPv4 or IPv6, by `dst`); true when answered. */
  async ping(ns: string, src: string, dst: string): Promise<boolean> {
    return (await runIn(ns, ['ping', ...(dst.includes(':') ? ['-6'] : []), '-c', '1', '-W', '2', '-I', src, dst], { allowFailure: true })).code === 0;
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes.splice(0)) n.nl.close();
    await this.netns.removeAll();
  }
}
