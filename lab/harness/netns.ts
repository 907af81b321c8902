/**
 * Network namespaces and the wires between them, for the lab, the kernel tests and the benches
 * (test tooling: drives `ip netns` and `ip link` on purpose). Every namespace name carries its
 * run's prefix, so removal finds them all even when whoever made them lost count (a set-up that
 * failed half-way, a lost state file).
 */
import { randomBytes } from 'node:crypto';
import { run, runIn, type RunResult } from './exec.ts';

/** Kernel tests and benches need root (namespaces, devices); tests skip or fail loudly without it. */
export const isRoot = process.getuid?.() === 0;

export async function createNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'add', name]);
  // Loopback up: pods and daemons expect 127.0.0.1, and ping to a local address needs it.
  await runIn(name, ['ip', 'link', 'set', 'lo', 'up']);
}

/** Names of all namespaces that start with `prefix-` (or equal `prefix`). */
export async function listNetns(prefix: string): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name === prefix || name.startsWith(`${prefix}-`));
}

/** Pids of the processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', name], { allowFailure: true });
  return stdout
    .split('\n')
    .filter((s) => /^\d+$/.test(s.trim()))
    .map(Number);
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'delete', name], { allowFailure: true });
}

/** Sets a sysctl inside a namespace (`net.*` keys are per namespace). */
export async function sysctlIn(netns: string, key: string, value: string): Promise<void> {
  await runIn(netns, ['sysctl', '-q', '-w', `${key}=${value}`]);
}

/**
 * The namespaces of one test or bench run, named `<tag>-<pid>-<hex>-<name>`. removeAll() kills
 * whatever still runs in them and deletes every namespace with the prefix, also those a failed
 * set-up left half-built; call it from afterAll or finally, so a failing test leaves nothing.
 */
export class NetnsSet {
  readonly prefix: string;

  constructor(tag: string) {
    this.prefix = `${tag}-${process.pid}-${randomBytes(2).toString('hex')}`;
  }

  /** The full name of namespace `name` of this set (it need not exist yet). */
  name(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** Creates namespace `name` of this set, loopback up; returns its full name. */
  async add(name: string): Promise<string> {
    const ns = this.name(name);
    await createNetns(ns);
    return ns;
  }

  async removeAll(): Promise<void> {
    for (const ns of await listNetns(this.prefix)) {
      // Only processes this run started can be in a namespace only this run made; never this one.
      for (const pid of await netnsPids(ns)) {
        if (pid === process.pid) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await deleteNetns(ns);
    }
    const left = await listNetns(this.prefix);
    if (left.length > 0) throw new Error(`namespaces still present after removal: ${left.join(', ')}`);
  }
}

/** One end of a veth pair. */
export interface VethEnd {
  /** Its namespace; the root namespace when absent. */
  readonly netns?: string;
  readonly name: string;
  /** An address with its prefix length, e.g. 198.18.0.2/24. */
  readonly address?: string;
  /** An IPv6 address with its prefix length, e.g. fd00:198:18::2/64; usable at once (no duplicate address detection). */
  readonly address6?: string;
  /** A bridge in the same namespace that this end becomes a port of. */
  readonly master?: string;
}

/** A veth pair between two namespaces (or within one), both ends up. */
export async function addVeth(a: VethEnd, b: VethEnd): Promise<void> {
  const where = (e: VethEnd): string[] => (e.netns === undefined ? [] : ['netns', e.netns]);
  await run(['ip', 'link', 'add', a.name, ...where(a), 'type', 'veth', 'peer', 'name', b.name, ...where(b)]);
  for (const e of [a, b]) {
    if (e.master !== undefined) await ipIn(e.netns, 'link', 'set', e.name, 'master', e.master);
    if (e.address !== undefined) await ipIn(e.netns, 'addr', 'add', e.address, 'dev', e.name);
    if (e.address6 !== undefined) await ipIn(e.netns, 'addr', 'add', e.address6, 'dev', e.name, 'nodad');
    await ipIn(e.netns, 'link', 'set', e.name, 'up');
  }
}

/** A bridge in `netns`, up, with `address` (e.g. 198.18.0.254/24) and `address6` (without DAD) when given. */
export async function addBridge(netns: string, name: string, address?: string, address6?: string): Promise<void> {
  await runIn(netns, ['ip', 'link', 'add', name, 'type', 'bridge']);
  if (address !== undefined) await runIn(netns, ['ip', 'addr', 'add', address, 'dev', name]);
  if (address6 !== undefined) await runIn(netns, ['ip', 'addr', 'add', address6, 'dev', name, 'nodad']);
  await runIn(netns, ['ip', 'link', 'set', name, 'up']);
}

function ipIn(netns: string | undefined, ...args: string[]): Promise<RunResult> {
  return netns === undefined ? run(['ip', ...args]) : runIn(netns, ['ip', ...args]);
}
