/**
 * Throwaway kernel topology for backend tests: an underlay namespace holding bridge `br0`,
 * and N "node" namespaces, each joined to it by a veth whose node end is `eth0` with
 * 198.18.0.(10+i)/<prefix>. Names carry a per-run prefix; destroy() removes everything and
 * is safe to call twice. Tests may run `ip`/`bridge`; src/ never does.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { openNetlink } from '../../src/netlink/index.ts';
import type { NetlinkHandle } from '../../src/netlink/types.ts';

export const isRoot = process.getuid?.() === 0;

export interface TestNode {
  readonly i: number;
  readonly ns: string;
  readonly nsPath: string;
  /** Underlay address, e.g. 198.18.0.11. */
  readonly ip: string;
  readonly nl: NetlinkHandle;
}

export class Topology {
  readonly prefix = `ftbe-${process.pid}-${randomBytes(2).toString('hex')}`;
  readonly underlay = `${this.prefix}-ul`;
  readonly nodes: TestNode[] = [];
  private readonly created: string[] = [];

  /** Nodes 1..n; `prefixLen` of the underlay addresses (24, or 25 to put .200 off-link). */
  static create(n: number, prefixLen = 24): Topology {
    const t = new Topology();
    try {
      t.addNs(t.underlay);
      t.ip(t.underlay, 'link', 'add', 'br0', 'type', 'bridge');
      t.ip(t.underlay, 'link', 'set', 'br0', 'up');
      for (let i = 1; i <= n; i++) t.addNode(i, prefixLen);
    } catch (e) {
      t.destroy();
      throw e;
    }
    return t;
  }

  private addNs(name: string): void {
    execFileSync('ip', ['netns', 'add', name]);
    this.created.push(name);
    this.ip(name, 'link', 'set', 'lo', 'up');
  }

  private addNode(i: number, prefixLen: number): void {
    const ns = `${this.prefix}-n${i}`;
    this.addNs(ns);
    const ipAddr = `198.18.0.${10 + i}`;
    this.ip(this.underlay, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    this.ip(this.underlay, 'link', 'set', `v${i}`, 'master', 'br0', 'up');
    this.ip(ns, 'link', 'set', 'eth0', 'up');
    this.ip(ns, 'addr', 'add', `${ipAddr}/${prefixLen}`, 'dev', 'eth0');
    const nsPath = `/run/netns/${ns}`;
    this.nodes.push({ i, ns, nsPath, ip: ipAddr, nl: openNetlink({ netns: nsPath }) });
  }

  node(i: number): TestNode {
    return this.nodes[i - 1]!;
  }

  /** Runs `ip …` in a namespace; returns stdout. */
  ip(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** `ip -j …` parsed. */
  ipJson<T = Record<string, unknown>[]>(ns: string, ...args: string[]): T {
    const out = this.ip(ns, '-j', ...args).trim();
    return (out === '' ? [] : JSON.parse(out)) as T;
  }

  /** Runs `bridge …` in a namespace. */
  bridge(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, 'bridge', ...args], { encoding: 'utf8' });
  }

  /** `bridge -j fdb show dev DEV` parsed. */
  fdbJson(ns: string, dev: string): Record<string, unknown>[] {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev], { encoding: 'utf8' }).trim();
    return out === '' ? [] : (JSON.parse(out) as Record<string, unknown>[]);
  }

  /** One ping from `src` to `dst` inside a node namespace; true when answered. */
  ping(ns: string, src: string, dst: string): boolean {
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', '-I', src, dst], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  destroy(): void {
    for (const n of this.nodes.splice(0)) n.nl.close();
    for (const ns of this.created.splice(0).reverse()) {
      try {
        execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
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
